"""Review and publish: the checklist, previews of the page and of the letter, a test to oneself, going live.

Previews and tests are the back office's own (backoffice/previews.py): the
page rendered with its real template, the letter composed by the worker's
code, the test queued through the outbox to the organiser's address only.
Going live is lifecycle.go_live, which the checklist guards, for managers.
"""

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from courrier.accounts.roles import can_manage
from courrier.backoffice import previews
from courrier.campaigns import lifecycle
from courrier.campaigns.models import Campaign
from courrier.studio.access import EDITOR, MANAGER, campaign_for, studio_page
from courrier.studio.building import LANGUAGES, steps
from courrier.studio.findings import review
from courrier.web.campaign_pages import render_campaign_page, signature_form
from courrier.web.embed import embed_snippet
from courrier.web.sharing import campaign_share


def preview_links(campaign: Campaign) -> list[dict]:
    links = []
    for code, name in settings.LANGUAGES:
        links.append(
            {
                "code": code,
                "name": name,
                "page": reverse("studio:page_preview", args=[campaign.pk]) + "?" + urlencode({"lang": code}),
                "letter": reverse("studio:letter_preview", args=[campaign.pk]) + "?" + urlencode({"lang": code}),
                "has_letter": code in campaign.letter_languages(),
            }
        )
    return links


@studio_page
def publish(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, EDITOR)
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "publish"),
        "review": review(campaign, request.user),
        "previews": preview_links(campaign),
        "is_manager": can_manage(request.user, campaign),
        "languages_with_letters": [(code, LANGUAGES[code]) for code in campaign.letter_languages()],
    }
    return render(request, "studio/publish.html", context)


@studio_page
def page_preview(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The public page as it will look, in one language, whatever the campaign's status."""
    campaign = campaign_for(request, campaign_id, EDITOR)
    language = previews.chosen_language(request, campaign)
    with translation.override(language):
        shown = campaign.status in (Campaign.Status.DRAFT, Campaign.Status.LIVE)
        context = {
            "preview": True,
            "languages": previews.language_links(
                reverse("studio:page_preview", args=[campaign.pk]), {}, campaign, language
            ),
            "letter_preview_url": reverse("studio:letter_preview", args=[campaign.pk])
            + "?"
            + urlencode({"lang": language}),
            "change_url": reverse("studio:publish", args=[campaign.pk]),
        }
        response = render_campaign_page(
            request,
            campaign,
            signature_form(campaign) if shown else None,
            template="admin/campaigns/preview_page.html",
            extra=context,
        )
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@studio_page
def letter_preview(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The letter exactly as a target receives it, for a sample supporter, in one language."""
    campaign = campaign_for(request, campaign_id, EDITOR)
    language = previews.chosen_language(request, campaign)
    # A campaign writing to each supporter's own country: the letter for the country chosen.
    countries = previews.preview_countries(campaign)
    country = previews.chosen_country(request, countries)
    letter = previews.outgoing_letter(campaign, language, country=country)
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "publish"),
        "language": language,
        "language_name": LANGUAGES[language],
        "language_links": previews.language_links(
            reverse("studio:letter_preview", args=[campaign.pk]),
            {"country": country} if countries else {},
            campaign,
            language,
        ),
        "countries": countries,
        "country": country,
        "message": previews.shown_message(letter) if letter else None,
        "has_letter": language in campaign.letter_languages(),
        "user_email": request.user.email,
    }
    response = render(request, "studio/letter_preview.html", context)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_POST
@studio_page
def send_test(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, EDITOR)
    language = previews.chosen_language(request, campaign)
    try:
        letter = previews.send_test(campaign, request.user, language)
    except previews.TestRefused as refusal:
        messages.error(request, str(refusal))
    else:
        if letter.sandbox and can_manage(request.user, campaign):
            messages.success(
                request,
                _(
                    "A test letter is queued to %(email)s. This campaign is in test mode: read it in the test "
                    "mailbox in a moment."
                )
                % {"email": letter.to[0]},
            )
        elif letter.sandbox:
            # Editors do not read the test mailbox: it holds supporters' names.
            messages.success(
                request,
                _(
                    "A test letter is queued to %(email)s. This campaign is in test mode: a manager of the "
                    "organisation reads it in the test mailbox."
                )
                % {"email": letter.to[0]},
            )
        else:
            messages.success(request, previews.test_sent_message(letter))
    return redirect("studio:publish", campaign_id=campaign.pk)


@require_POST
@studio_page
def go_live(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, MANAGER)
    try:
        lifecycle.go_live(campaign, request.user)
    except lifecycle.TransitionRefused as refusal:
        for reason in refusal.reasons:
            messages.error(request, reason)
        return redirect("studio:publish", campaign_id=campaign.pk)
    return redirect("studio:published", campaign_id=campaign.pk)


@studio_page
def published(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Where a campaign that went live is found: its address, its QR code, its embed snippets, share links."""
    campaign = campaign_for(request, campaign_id, EDITOR)
    with translation.override(campaign.language):
        share = campaign_share(campaign)
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "publish"),
        "share": share,
        "embeds": [(code, name, embed_snippet(campaign, code)) for code, name in settings.LANGUAGES],
        "embeddable": bool(campaign.allowed_embed_origins()),
        "is_public": campaign.status in (Campaign.Status.LIVE, Campaign.Status.PAUSED, Campaign.Status.CLOSED),
        "is_manager": can_manage(request.user, campaign),
        "site_sends_mail": bool(settings.EMAIL_HOST),
    }
    return render(request, "studio/published.html", context)


@require_POST
@studio_page
def real_mail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """A manager's decision: letters to the targets for real, or to the test mailbox."""
    campaign = campaign_for(request, campaign_id, MANAGER)
    real = request.POST.get("real") == "on"
    try:
        lifecycle.set_real_delivery(campaign, real, request.user)
    except lifecycle.TransitionRefused as refusal:
        for reason in refusal.reasons:
            messages.error(request, reason)
    else:
        if real:
            messages.success(request, _("Real mail is on: the letters of this campaign go to its recipients."))
        else:
            messages.success(request, _("Test mode: the letters of this campaign go to the test mailbox."))
    return redirect("studio:published", campaign_id=campaign.pk)
