"""The team of an organisation, for its managers: invite a member by e-mail, choose their role, remove them;
the audit log. And the page where an invited person joins (accounts/invitations.py decides)."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from courrier.accounts import invitations
from courrier.accounts.models import AuditEntry, Invitation, Membership, Organisation
from courrier.accounts.roles import MANAGER, has_role, organisation_ids
from courrier.delivery import emails
from courrier.delivery.messages import invitation_message
from courrier.delivery.models import OutboxMessage
from courrier.studio.access import studio_page
from courrier.studio.signing_in import go_on

Role = Membership.Role
AUDIT_PAGE = 50


def managed_organisation(request: HttpRequest, organisation_id: int) -> Organisation:
    """Another organisation's team is "not found"; an editor of this one is refused."""
    if organisation_id not in organisation_ids(request.user):
        raise Http404
    if not has_role(request.user, organisation_id, MANAGER):
        raise PermissionDenied
    return get_object_or_404(Organisation, pk=organisation_id)


class InviteForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("Their e-mail address"), max_length=254)
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices, initial=Role.EDITOR)


def send_invitation(request: HttpRequest, invitation: Invitation, token: str) -> OutboxMessage:
    # The site's own address, as in every e-mail, never the request's Host header.
    url = settings.SITE_ROOT + reverse("studio:join", args=[token])
    subject, body = emails.invitation(
        translation.get_language(),
        invitation.organisation.name,
        invitation.get_role_display(),
        url,
        invitation.expires_at,
    )
    now = timezone.now()
    (message,) = OutboxMessage.objects.queue([invitation_message(invitation.email, subject, body, now)], now)
    if message.sandbox:
        # No real mail leaves this site yet: the manager hands the link over themselves.
        messages.warning(
            request,
            _("This site sends no real mail yet: give %(email)s this link yourself (it works once): %(url)s")
            % {"email": invitation.email, "url": url},
        )
    else:
        messages.success(request, _("The invitation is sent to %(email)s.") % {"email": invitation.email})
    return message


@studio_page
def team(request: HttpRequest, organisation_id: int) -> HttpResponse:
    organisation = managed_organisation(request, organisation_id)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        invitation, token = invitations.invite(organisation, data["email"], data["role"], request.user)
        send_invitation(request, invitation, token)
        return redirect("studio:team", organisation_id=organisation.pk)
    context = {
        "organisation": organisation,
        "members": organisation.memberships.select_related("user").order_by("user__username"),
        "pending": organisation.invitations.filter(accepted_at__isnull=True, expires_at__gt=timezone.now()),
        "form": form,
        "roles": Role.choices,
    }
    return render(request, "studio/team.html", context)


@require_POST
@studio_page
def member(request: HttpRequest, organisation_id: int, membership_id: int) -> HttpResponse:
    """Change a member's role, or remove them; never so that the organisation is left without a manager."""
    organisation = managed_organisation(request, organisation_id)
    membership = get_object_or_404(organisation.memberships.select_related("user"), pk=membership_id)
    action = request.POST.get("action", "")
    try:
        if action == "remove":
            invitations.remove(membership, request.user)
            messages.success(request, _("%(name)s is no longer in the team.") % {"name": membership.user})
        elif action in Role.values:
            invitations.change_role(membership, action, request.user)
            messages.success(
                request, _("%(name)s is now: %(role)s") % {"name": membership.user, "role": Role(action).label}
            )
    except invitations.TeamRefused:
        messages.error(request, _("The organisation needs at least one manager: name another one first."))
    return redirect("studio:team", organisation_id=organisation.pk)


@require_POST
@studio_page
def withdraw(request: HttpRequest, organisation_id: int, invitation_id: int) -> HttpResponse:
    organisation = managed_organisation(request, organisation_id)
    invitation = get_object_or_404(organisation.invitations, pk=invitation_id)
    invitations.withdraw(invitation, request.user)
    messages.success(
        request, _("The invitation of %(email)s is withdrawn: its link no longer works.") % {"email": invitation.email}
    )
    return redirect("studio:team", organisation_id=organisation.pk)


@studio_page
def audit_log(request: HttpRequest, organisation_id: int) -> HttpResponse:
    organisation = managed_organisation(request, organisation_id)
    entries = AuditEntry.objects.filter(organisation_id=organisation.pk).order_by("-created_at", "-pk")
    page = Paginator(entries, AUDIT_PAGE).get_page(request.GET.get("page"))
    return render(request, "studio/audit_log.html", {"organisation": organisation, "page": page})


class JoinForm(forms.Form):
    username = forms.RegexField(
        label=gettext_lazy("Your name in the studio"),
        regex=r"^[\w.@+-]{2,150}$",
        help_text=gettext_lazy("Letters, digits and . @ + - _ only; you sign in with it."),
        error_messages={"invalid": gettext_lazy("Letters, digits and . @ + - _ only, 2 characters at least.")},
    )
    password = forms.CharField(
        label=gettext_lazy("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password_again = forms.CharField(
        label=gettext_lazy("The same password again"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password_again") and data["password"] != data["password_again"]:
            self.add_error("password_again", _("The two passwords differ."))
        return data


def join(request: HttpRequest, token: str) -> HttpResponse:
    """An invited person chooses a name and a password; then the second factor, as at any first sign-in."""
    invitation = invitations.open_invitation(token)
    if invitation is None:
        return render(request, "studio/join_bad_link.html", status=404)
    form = JoinForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitations.accept(invitation, form.cleaned_data["username"], form.cleaned_data["password"])
        except ValidationError as weak:
            form.add_error("password", weak)
        except invitations.AcceptRefused as refused:
            if str(refused) != "username":
                return render(request, "studio/join_bad_link.html", status=404)
            form.add_error("username", _("This name is taken: choose another one."))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return go_on(request)
    return render(request, "studio/join.html", {"form": form, "invitation": invitation})
