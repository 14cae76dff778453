"""What organisers see before supporters and targets do.

- The page preview renders the public campaign page with its real template, in any language and in
  any status (a draft too), for the campaign's editors only, marked as a preview and never indexed.
- The letter preview builds the outgoing letter of a sample supporter with the worker's own code
  (messages.letter_messages, then compose), so the headers and text shown are those a target receives.
- "Send a test" queues that same letter to the organiser's own address, as an outbox row of kind TEST:
  through the worker, the sandbox rule and the audit log like any other mail, never to the targets.
- The placeholder list shown under each model letter's body, with what each placeholder becomes.
"""

import email
import email.policy
import functools

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from courrier.accounts import audit
from courrier.accounts.roles import can_edit
from courrier.backoffice import directory
from courrier.backoffice.scoping import editable_campaign
from courrier.campaigns.directory import is_valid_address
from courrier.campaigns.letters import PLACEHOLDERS, Signer, placeholder_values
from courrier.campaigns.models import Campaign, ModelLetter
from courrier.delivery.compose import compose
from courrier.delivery.messages import letter_messages, test_letter
from courrier.delivery.models import OutboxMessage
from courrier.signatures.models import Signature
from courrier.web.campaign_pages import render_campaign_page, signature_form

# Reply-To of a previewed letter: the supporter's own address, for which this stands.
SAMPLE_EMAIL = "supporter@example.org"

PLACEHOLDER_DESCRIPTIONS = {
    "signatory": gettext_lazy("who demands: the organisation the supporter signs for, or else their name"),
    "full_name": gettext_lazy("the supporter's first and last name"),
    "personal_sentence": gettext_lazy("the supporter's personal sentence; when they write none, its line disappears"),
    "place_and_date": gettext_lazy("the supporter's city and the date, written as in a letter"),
    "signature": gettext_lazy("the signature: the name, or “For” the organisation, then the name and role"),
    "city": gettext_lazy("the supporter's city"),
    "date": gettext_lazy("the date the supporter confirmed the letter"),
}


class TestRefused(Exception):
    """A test cannot be sent; the message says why, in the active language."""


# Access


def chosen_language(request: HttpRequest, campaign: Campaign) -> str:
    codes = [code for code, _name in settings.LANGUAGES]
    language = request.GET.get("lang") or request.POST.get("lang") or campaign.language
    return language if language in codes else campaign.language


# The sample supporter and their letter


def sample_signature(campaign: Campaign, language: str, address: str = SAMPLE_EMAIL, user=None, country: str = ""):
    """A confirmed, unsaved signature with every field filled in, so every placeholder shows."""
    with translation.override(language):
        return Signature(
            campaign=campaign,
            first_name=(getattr(user, "first_name", "") or _("Camille"))[:100],
            last_name=(getattr(user, "last_name", "") or _("Martin"))[:100],
            email=address,
            city=_("Lyon"),
            organisation=_("Trade Union of Example Workers"),
            organisation_role=_("secretary"),
            personal_sentence=_("Here comes the supporter's personal sentence, when they write one."),
            language=language,
            letter_language=language,
            directory_country=country,
            consent_send=True,
            # An organiser's test is answered to them; the preview shows the campaign's relay address.
            consent_reply_direct=address != SAMPLE_EMAIL,
            confirmed_at=timezone.now(),
        )


def outgoing_letter(campaign: Campaign, language: str, address: str = SAMPLE_EMAIL, user=None, country: str = ""):
    """The outbox row the worker would queue for a sample supporter (unsaved), or None if it would queue none."""
    if not campaign.letters.exists():
        return None
    signature = sample_signature(campaign, language, address, user, country)
    queued, _targets = letter_messages(signature)
    letters = [message for message in queued if message.kind == "letter"]
    return letters[0] if letters else None


def shown_message(message) -> dict:
    """The message as its receiver's mail program shows it: decoded headers, the text, and the raw source."""
    raw = compose(message)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    names = ["From", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID"]
    return {
        "headers": [(name, str(parsed[name])) for name in names if parsed[name] is not None],
        "body": parsed.get_content().replace("\r\n", "\n"),
        "raw": raw.decode("ascii", errors="replace").replace("\r\n", "\n"),
    }


def preview_countries(campaign: Campaign) -> list[tuple[str, str]]:
    """The countries the letter preview can show it for, "not listed" last when the campaign has To targets."""
    if not campaign.use_directory:
        return []
    choices = [(entry.country, f"{entry.country_name} ({entry.country})") for entry in campaign.directory.all()]
    to_targets, _cc = campaign.recipients()
    if choices and to_targets:
        choices.append(("", _("Country not listed: the To targets")))
    return choices


def chosen_country(request: HttpRequest, choices: list[tuple[str, str]]) -> str:
    if not choices:
        return ""
    codes = [code for code, _name in choices]
    wanted = request.GET.get("country", request.POST.get("country"))
    return wanted if wanted in codes else codes[0]


# "Send a test to my own address"


def send_test(campaign: Campaign, user, language: str, country: str = ""):
    """Queue the letter as a target would receive it, To the organiser alone, subject marked [TEST]."""
    address = (getattr(user, "email", "") or "").strip()
    if not address:
        raise TestRefused(
            _(
                "Your account has no e-mail address, so there is nowhere to send the test. "
                "Ask an administrator to add one."
            )
        )
    if not is_valid_address(address):
        raise TestRefused(_("The e-mail address of your account, “%(email)s”, is not valid.") % {"email": address})
    # The organiser stands in for the supporter, and their test is answered to them (sample_signature).
    letter = outgoing_letter(campaign, language, address, user, country)
    if letter is None:
        raise TestRefused(_("There is no letter to test yet: add a model letter and at least one target."))
    letter = test_letter(letter, address, timezone.now())
    OutboxMessage.objects.queue([letter], letter.created_at)
    summary = _("test letter in %(language)s to %(email)s") % {"language": language, "email": address}
    audit.record(user, audit.TEST_SENT, campaign, summary=summary)
    return letter


# Placeholders


@functools.lru_cache(maxsize=8)
def _placeholder_help(language: str, today) -> str:
    signer = Signer(
        first_name=_("Camille"),
        last_name=_("Martin"),
        organisation=_("Trade Union of Example Workers"),
        organisation_role=_("secretary"),
        city=_("Lyon"),
        personal_sentence=_("Here comes the supporter's personal sentence, when they write one."),
        signed_on=today,
    )
    examples = placeholder_values(signer)
    for_example = _("for example:")
    items = format_html_join(
        "",
        '<li><code class="placeholder" data-placeholder="{0}">{0}</code> {1}; {2} <q>{3}</q></li>',
        (
            ("{" + name + "}", PLACEHOLDER_DESCRIPTIONS[name], for_example, examples[name].replace("\n", " / "))
            for name in PLACEHOLDERS
        ),
    )
    return format_html(
        '<div class="placeholder-help" data-hint="{}"><p>{}</p><ul class="placeholder-list">{}</ul></div>',
        _("Click a placeholder to insert it where the cursor is in the letter."),
        _(
            "Placeholders: each is replaced, in every letter, by what the supporter entered. "
            "For example, for a supporter signing for a union:"
        ),
        items,
    )


def placeholder_help() -> str:
    """The list of placeholders with what each becomes, as HTML for the model letter's help text."""
    return _placeholder_help(translation.get_language() or settings.LANGUAGE_CODE, timezone.localdate())


# Views (wired in CampaignAdmin.get_urls, behind the admin's login)


def language_links(url: str, params: dict, campaign: Campaign, current: str) -> list[dict]:
    names = dict(settings.LANGUAGES)
    written = campaign.letter_languages()
    return [
        {
            "code": code,
            "name": names[code],
            "url": f"{url}?{urlencode({**params, 'lang': code})}",
            "absolute_url": settings.SITE_ROOT + f"{url}?{urlencode({**params, 'lang': code})}",
            "current": code == current,
            "has_letter": code in written,
        }
        for code, _name in settings.LANGUAGES
    ]


def page_preview(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The public page as it will look, in one language, whatever the campaign's status."""
    campaign = editable_campaign(request, campaign_id)
    language = chosen_language(request, campaign)
    url = reverse("admin:campaigns_campaign_preview", args=[campaign.pk])
    with translation.override(language):
        # The form shows as it will once live; a paused or closed campaign shows its notice instead.
        shown = campaign.status in (Campaign.Status.DRAFT, Campaign.Status.LIVE)
        form = signature_form(campaign) if shown else None
        context = {
            "preview": True,
            "languages": language_links(url, {}, campaign, language),
            "letter_preview_url": reverse("admin:campaigns_campaign_letter_preview", args=[campaign.pk])
            + "?"
            + urlencode({"lang": language}),
            "change_url": reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        }
        response = render_campaign_page(
            request, campaign, form, template="admin/campaigns/preview_page.html", extra=context
        )
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def letter_preview(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The letter exactly as a target receives it, for a sample supporter, in one language."""
    campaign = editable_campaign(request, campaign_id)
    language = chosen_language(request, campaign)
    countries = preview_countries(campaign)
    country = chosen_country(request, countries)
    letter = outgoing_letter(campaign, language, country=country)
    url = reverse("admin:campaigns_campaign_letter_preview", args=[campaign.pk])
    params = {"country": country} if countries else {}
    context = {
        **admin.site.each_context(request),
        "title": _("The letter as a target receives it"),
        "campaign": campaign,
        "opts": Campaign._meta,
        "language": language,
        "language_links": language_links(url, params, campaign, language),
        "countries": countries,
        "country": country,
        "message": shown_message(letter) if letter else None,
        "has_letter": language in campaign.letter_languages(),
        "user_email": request.user.email,
        "sandboxed": letter.sandbox if letter else True,
        "page_preview_url": reverse("admin:campaigns_campaign_preview", args=[campaign.pk])
        + "?"
        + urlencode({"lang": language}),
    }
    response = render(request, "admin/campaigns/letter_preview.html", context)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_POST
def send_test_view(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = editable_campaign(request, campaign_id)
    language = chosen_language(request, campaign)
    country = chosen_country(request, preview_countries(campaign))
    try:
        letter = send_test(campaign, request.user, language, country)
    except TestRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, test_sent_message(letter))
    url = reverse("admin:campaigns_campaign_letter_preview", args=[campaign.pk])
    return HttpResponseRedirect(f"{url}?{urlencode({'lang': language, 'country': country})}")


def test_sent_message(letter) -> str:
    if letter.sandbox:
        return _(
            "A test letter is queued to %(email)s. This campaign's mail goes to the sandbox mailbox: "
            "read it there in a moment."
        ) % {"email": letter.to[0]}
    return _("A test letter is queued to %(email)s: it arrives in a moment.") % {"email": letter.to[0]}


@admin.action(description=gettext_lazy("Send a test of the letter to my own address"))
def send_test_action(modeladmin, request, queryset):
    """The letter in each selected campaign's original language, To the organiser alone."""
    for campaign in queryset.select_related("organisation"):
        if not can_edit(request.user, campaign):
            continue
        try:
            letter = send_test(campaign, request.user, campaign.language)
        except TestRefused as refusal:
            modeladmin.message_user(request, f"{campaign.title}: {refusal}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"{campaign.title}: {test_sent_message(letter)}", messages.SUCCESS)


class ModelLetterForm(forms.ModelForm):
    """A model letter in the admin, with the placeholders listed under its body."""

    class Meta:
        model = ModelLetter
        fields = "__all__"  # noqa: DJ007 (the inline chooses the fields it shows)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "body" in self.fields:
            self.fields["body"].help_text = placeholder_help()


def admin_urls(admin_site) -> list:
    """The campaign's previews, test sending and directory CSV, under /admin/campaigns/campaign/<id>/."""

    def view(function):
        return admin_site.admin_view(function)

    return [
        path("<int:campaign_id>/preview/", view(page_preview), name="campaigns_campaign_preview"),
        path("<int:campaign_id>/preview/letter/", view(letter_preview), name="campaigns_campaign_letter_preview"),
        path("<int:campaign_id>/send-test/", view(send_test_view), name="campaigns_campaign_send_test"),
        path(
            "<int:campaign_id>/directory/import/",
            view(directory.import_view),
            name="campaigns_campaign_directory_import",
        ),
        path(
            "<int:campaign_id>/directory/export/",
            view(directory.export_view),
            name="campaigns_campaign_directory_export",
        ),
    ]
