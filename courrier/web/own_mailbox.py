"""Send the model letter from one's own mailbox instead of through the site.

The site never sees such a letter, so it is never counted as one: the only
thing recorded is a click on a link (one INSERT, no personal data), which is
why every link goes through the counting endpoint before the 302 to the mail
app or webmail, and why counting needs no JavaScript.

Mail clients and webmails cut or refuse long URLs (a mailto: body over about
2,000 characters breaks in some clients, Gmail's web composer near 1,600), so
every link is kept under MAX_LINK_LENGTH: a letter too long for it is
shortened in the link, with a note asking to paste the whole letter, copied
from the page.
"""

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import quote, urlencode

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from courrier.campaigns.letters import sample_letter
from courrier.campaigns.models import Campaign, ModelLetter
from courrier.http.shared_cache import public_page
from courrier.lib.ratelimit import is_over_limit
from courrier.signatures.models import OwnMailboxClick

MAX_LINK_LENGTH = 1900
# Clicks counted per client and hour at most: past it the link still works, it just is not counted.
CLICK_RATE_LIMIT = "30/3600"

Channel = OwnMailboxClick.Channel
WEBMAILS = {
    Channel.GMAIL: ("https://mail.google.com/mail/", {"to": "to", "cc": "cc", "subject": "su", "body": "body"}),
    Channel.OUTLOOK: (
        "https://outlook.live.com/mail/0/deeplink/compose",
        {"to": "to", "cc": "cc", "subject": "subject", "body": "body"},
    ),
    Channel.YAHOO: ("https://compose.mail.yahoo.com/", {"to": "to", "cc": "cc", "subject": "subject", "body": "body"}),
}
LINK_CHANNELS = [Channel.MAILTO, *WEBMAILS]


@dataclass
class Draft:
    """The letter as the supporter sends it themselves: the model with its blanks left to fill in."""

    to: list[str]
    cc: list[str]
    subject: str
    body: str
    language: str


@dataclass
class ComposeLink:
    channel: str
    label: str
    url: str
    shortened: bool  # the body in the link is only the beginning of the letter


def draft_for(campaign: Campaign, letter: ModelLetter) -> Draft:
    to_targets, cc_targets = campaign.recipients()
    # The subject gets the same named blanks as the body, should it hold a placeholder.
    subject = sample_letter(SimpleNamespace(language=letter.language, body=letter.subject))
    return Draft(
        to=[target.email for target in to_targets],
        cc=[target.email for target in cc_targets],
        subject=" ".join(subject.split()),
        body=sample_letter(letter),
        language=letter.language,
    )


def mailto_url(draft: Draft, body: str) -> str:
    """RFC 6068: addresses in the path, every other character percent-encoded, line breaks as %0D%0A."""
    fields = {"cc": ",".join(draft.cc), "subject": draft.subject, "body": crlf(body)}
    query = "&".join(f"{name}={quote(value, safe='')}" for name, value in fields.items() if value)
    return f"mailto:{','.join(quote(address, safe='@') for address in draft.to)}?{query}"


def webmail_url(channel: str, draft: Draft, body: str) -> str:
    base, names = WEBMAILS[channel]
    fields = {"to": ",".join(draft.to), "cc": ",".join(draft.cc), "subject": draft.subject, "body": body}
    params = [(names[field], value) for field, value in fields.items() if value]
    if channel == Channel.GMAIL:
        params = [("view", "cm"), ("fs", "1"), *params]
    # quote, not quote_plus: some webmails show a "+" where a space was.
    return f"{base}?{urlencode(params, quote_via=quote, safe='')}"


def crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def shortened_body(body: str, keep: int) -> str:
    """The note first (it is what the supporter sees on opening), then the letter's first `keep` characters."""
    note = _("[This link cannot carry the whole letter. Replace this text with the full letter, copied from the page.]")
    head = body[:keep]
    if keep < len(body) and " " in head:
        head = head[: head.rindex(" ")]  # never cut a word
    return f"{note}\n\n{head.rstrip()} […]"


def fitting_link(build: Callable[[str], str], body: str) -> tuple[str, bool]:
    """The link with the whole body if it fits in MAX_LINK_LENGTH, else with as much of it as fits."""
    url = build(body)
    if len(url) <= MAX_LINK_LENGTH:
        return url, False
    low, high = 0, len(body)
    while low < high:
        middle = (low + high + 1) // 2
        if len(build(shortened_body(body, middle))) <= MAX_LINK_LENGTH:
            low = middle
        else:
            high = middle - 1
    return build(shortened_body(body, low)), True


def compose_link(draft: Draft, channel: str) -> ComposeLink:
    if channel == Channel.MAILTO:
        url, shortened = fitting_link(lambda body: mailto_url(draft, body), draft.body)
        return ComposeLink(str(channel), _("My mail app"), url, shortened)
    url, shortened = fitting_link(lambda body: webmail_url(channel, draft, body), draft.body)
    labels = {Channel.GMAIL: "Gmail", Channel.OUTLOOK: "Outlook.com", Channel.YAHOO: "Yahoo Mail"}
    return ComposeLink(str(channel), labels[channel], url, shortened)


def compose_links(draft: Draft) -> list[ComposeLink]:
    return [compose_link(draft, channel) for channel in LINK_CHANNELS]


def chosen_letter(campaign: Campaign, request: HttpRequest) -> ModelLetter | None:
    """?letter=xx if the campaign has that letter, else the page language's, else the original."""
    letters = {letter.language: letter for letter in campaign.letters.all()}
    asked = letter_asked(request.GET.get("letter", ""))
    return letters.get(asked) or campaign.letter_for(get_language())


def campaign_with_letters(slug: str) -> Campaign:
    return get_object_or_404(Campaign.objects.public().prefetch_related("letters", "targets", "texts"), slug=slug)


def letter_asked(value: str) -> str:
    """?letter=xx as the page reads it: one of the site's languages, or nothing."""
    return value if value in dict(settings.LANGUAGES) else ""


@public_page(query={"letter": letter_asked})
def own_mailbox(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = campaign_with_letters(slug)
    if not campaign.is_open:
        return redirect("campaign", slug=slug)
    letter = chosen_letter(campaign, request)
    if letter is None:
        raise Http404
    draft = draft_for(campaign, letter)
    links = compose_links(draft)
    query = f"?letter={letter.language}"  # the links send the letter shown, whatever the page language
    to_targets, cc_targets = campaign.recipients()
    context = {
        "campaign": campaign,
        "text": campaign.text_for(get_language()),
        "letter": letter,
        "letter_languages": [(code, name) for code, name in settings.LANGUAGES if code in campaign.letter_languages()],
        "draft": draft,
        "to_targets": to_targets,
        "cc_targets": cc_targets,
        "links": [
            {"link": link, "href": reverse("own_mailbox_go", args=[slug, link.channel]) + query} for link in links
        ],
        "shortened": any(link.shortened for link in links),
        "copy_count_url": reverse("own_mailbox_go", args=[slug, Channel.COPY.value]) + query,
    }
    response = render(request, "signatures/own_mailbox.html", context)
    response["X-Robots-Tag"] = "noindex"
    return response


class ComposeRedirect(HttpResponseRedirect):
    allowed_schemes = ["mailto", "https"]


@never_cache
@require_GET
def go(request: HttpRequest, slug: str, channel: str) -> HttpResponse:
    """Count one click (one INSERT) and send the browser on to the mail app or the webmail."""
    if channel not in Channel.values:
        raise Http404
    campaign = campaign_with_letters(slug)
    if not campaign.is_open:
        return redirect("campaign", slug=slug)
    letter = chosen_letter(campaign, request)
    if letter is None:
        raise Http404
    if not is_over_limit("own-mailbox", request, CLICK_RATE_LIMIT):
        OwnMailboxClick.objects.create(campaign_id=campaign.pk, channel=channel)
    if channel == Channel.COPY:
        # Copying happens on the page: this only counts it (copy.js calls it once), then goes back there.
        return redirect(reverse("own_mailbox", args=[slug]) + f"?letter={letter.language}")
    response = ComposeRedirect(compose_link(draft_for(campaign, letter), channel).url)
    response["X-Robots-Tag"] = "noindex"
    return response
