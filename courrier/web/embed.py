"""The signing form embedded in an organisation's own website, in an iframe.

Inside a third-party iframe the browser sends none of the site's cookies
(SameSite=Lax), so nothing here reads or sets one: no session, no CSRF
cookie, no language cookie (the language is in the URL). The form carries a
signed, time-limited token instead (see form_tokens.py).

Every response carries the campaign's own Content-Security-Policy, whose
frame-ancestors lists the origins the organiser allowed, and no
X-Frame-Options (it would forbid them all). A campaign with no allowed origin
cannot be framed, and its embed page only points to the campaign page.

The signing POST reads the campaign once (the main form's in-memory cache
holds no origins); the INSERT is the same as on the campaign page.
"""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.html import format_html
from django.utils.translation import get_language
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from courrier.campaigns.letters import sample_letter
from courrier.campaigns.models import Campaign
from courrier.campaigns.open_campaigns import open_campaign_of, signable_campaign
from courrier.http.csp import CSP_HEADER, policy_for_frame_ancestors
from courrier.http.public_forms import public_form
from courrier.http.shared_cache import public_page
from courrier.lib.form_tokens import issue_form_token
from courrier.signatures import signing as signing_flow
from courrier.signatures.forms import SignatureForm, signing_form
from courrier.signatures.models import Signature
from courrier.signatures.signing import Result


def embeddable_campaign(slug: str) -> Campaign:
    return get_object_or_404(Campaign.objects.public().prefetch_related("letters", "targets", "texts"), slug=slug)


def render_embed(
    request: HttpRequest, campaign: Campaign, template: str, context: dict | None = None, status: int = 200
) -> HttpResponse:
    """An embed page, frameable by the campaign's allowed origins only."""
    language = get_language()
    response = render(
        request,
        template,
        {"campaign": campaign, "text": campaign.text_for(language), **(context or {})},
        status=status,
    )
    response[CSP_HEADER] = policy_for_frame_ancestors(campaign.allowed_embed_origins())
    return response


def render_notice(request: HttpRequest, campaign: Campaign, notice: str, status: int = 200) -> HttpResponse:
    """A short page in place of the form: not embeddable, closed, or too many signatures."""
    return render_embed(request, campaign, "signatures/embed.html", {"notice": notice}, status=status)


def render_form(request: HttpRequest, campaign: Campaign, form: SignatureForm, status: int = 200) -> HttpResponse:
    to_targets, cc_targets = campaign.recipients()
    letter = campaign.letter_for(get_language())
    context = {
        "form": form,
        "form_token": issue_form_token(campaign.pk),
        "letter": letter,
        "letter_text": sample_letter(letter) if letter else "",
        "to_names": ", ".join(t.name for t in to_targets),
        "cc_names": ", ".join(t.name for t in cc_targets),
        "cc_targets": cc_targets,
    }
    return render_embed(request, campaign, "signatures/embed.html", context, status=status)


def unavailable(request: HttpRequest, campaign: Campaign) -> HttpResponse | None:
    """The notice to show instead of the form, if the form cannot be used."""
    if not campaign.allowed_embed_origins():
        return render_notice(request, campaign, "not_embeddable", status=403)
    if not campaign.is_open:
        return render_notice(request, campaign, "closed", status=410)
    return None


@require_GET
@xframe_options_exempt
@public_page()
def embed_form(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = embeddable_campaign(slug)
    notice = unavailable(request, campaign)
    if notice:
        return notice
    return render_form(request, campaign, signing_form(open_campaign_of(campaign)))


@public_form  # the frame gets no cookie at all; the signed form token and the Origin check instead
@require_http_methods(["GET", "POST"])
@xframe_options_exempt
@sensitive_post_parameters()  # an error report shows no value the supporter typed
def embed_sign(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = embeddable_campaign(slug)
    if request.method == "GET":
        # The address of a refused form, opened again: back to the form.
        return embed_redirect("embed", campaign)
    notice = unavailable(request, campaign)
    if notice:
        return notice
    signable = signable_campaign(campaign.slug)
    if signable is None:
        raise Http404
    outcome = signing_flow.sign(request, signable, Signature.Source.EMBED, letter_editing=False)
    if outcome.result is Result.SLOW_DOWN:
        return render_notice(request, campaign, "slow_down", status=outcome.status)
    if outcome.result is Result.CLOSED:
        return render_notice(request, campaign, "closed", status=410)
    if outcome.result is Result.REFUSED:
        return render_form(request, campaign, outcome.form, status=outcome.status)
    return embed_redirect("embed_thanks", campaign)


def embed_redirect(view: str, campaign: Campaign) -> HttpResponse:
    """A redirect that stays inside the frame, with the same frame permission as the pages."""
    response = redirect(view, slug=campaign.slug)
    response[CSP_HEADER] = policy_for_frame_ancestors(campaign.allowed_embed_origins())
    response.xframe_options_exempt = True
    return response


@require_GET
@xframe_options_exempt
def embed_thanks(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = embeddable_campaign(slug)
    return render_embed(request, campaign, "signatures/embed_thanks.html")


def embed_snippet(campaign: Campaign, language: str) -> str:
    """The one line an organiser pastes into their website to show the form in `language`."""
    with translation.override(language):
        url = settings.SITE_ROOT + reverse("embed", args=[campaign.slug])
    title = campaign.text_for(language).title
    return format_html('<iframe src="{}" title="{}" width="100%" height="900" loading="lazy"></iframe>', url, title)
