"""Who enters the studio, and which campaigns each member sees there: every studio view goes through here.

What a member may do is decided once, in courrier/accounts/roles.py (`can_edit`,
`can_manage`); this module applies it to the studio's requests:

- `studio_page`: signed in, with the second factor typed in this session, and
  an e-mail address of one's own (for tests and alerts); otherwise the page
  that is missing comes first, and the one asked for after it;
- `campaign_for`: a campaign of another organisation is "not found" (404), so
  that its existence is not told; a manager's page asked for by an editor is
  refused (403);
- `my_campaigns`: the campaigns of the member's organisations, for every list.
"""

import functools
from collections.abc import Callable
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from courrier.accounts.roles import EDITOR, MANAGER, has_role, is_back_office_user, organisation_ids
from courrier.backoffice.middleware import confirmed_device, is_verified
from courrier.campaigns.models import Campaign

__all__ = ["EDITOR", "MANAGER", "campaign_for", "my_campaigns", "studio_page"]


def next_step(request: HttpRequest) -> str | None:
    """The name of the page a member must see before any other, or None when they may go on."""
    user = request.user
    if not is_back_office_user(user):
        return "studio:sign_in"
    if not is_verified(request):
        return "studio:second_factor_verify" if confirmed_device(user) else "studio:second_factor_setup"
    if not user.email:
        return "studio:my_address"
    return None


def studio_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        step = next_step(request)
        if step is not None:
            return HttpResponseRedirect(f"{reverse(step)}?{urlencode({'next': request.get_full_path()})}")
        # For the studio's menu: the test mailbox is for managers (it holds supporters' names).
        request.studio_member, request.studio_manager = True, can_manage_any(request.user)
        return view(request, *args, **kwargs)

    return wrapped


def my_campaigns(user) -> QuerySet[Campaign]:
    return Campaign.objects.filter(organisation_id__in=organisation_ids(user)).select_related("organisation")


def campaign_for(request: HttpRequest, campaign_id: int, role: str = EDITOR) -> Campaign:
    """The campaign, if the member's organisation runs it (404 otherwise) and their role there is `role`
    or above (403 otherwise)."""
    campaign = my_campaigns(request.user).filter(pk=campaign_id).first()
    if campaign is None:
        raise Http404
    if not has_role(request.user, campaign.organisation_id, role):
        raise PermissionDenied
    return campaign


def can_manage_any(user) -> bool:
    return bool(organisation_ids(user, MANAGER))
