import json

from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import translate_url
from django.utils import formats
from django.utils.translation import get_language, get_language_info
from django.utils.translation import gettext as _

from courrier.campaigns.letters import preview_data, sample_letter
from courrier.campaigns.models import Campaign, FollowUp
from courrier.campaigns.open_campaigns import open_campaign_of
from courrier.delivery.answers import answered_targets
from courrier.delivery.models import Answer
from courrier.http.shared_cache import public_page
from courrier.lib.form_tokens import issue_form_token
from courrier.signatures.forms import signing_form
from courrier.signatures.models import Signature

# Everything the campaign page reads, fetched in one query each rather than one per person or letter.
PAGE_PREFETCH = ("texts", "letters", "targets", "people__updates")


# What Django's json_script escapes, so that the data cannot close its <script> element.
_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


def script_json(value) -> str:
    """JSON for a <script type="application/json"> element, like json_script but with letters kept as
    they are: the model letters in Cyrillic would otherwise weigh three times as much on a phone."""
    return json.dumps(value, ensure_ascii=False).translate(_SCRIPT_ESCAPES)


@public_page()
def campaign_list(request: HttpRequest) -> HttpResponse:
    campaigns = Campaign.objects.public().select_related("organisation").prefetch_related("texts")
    language = get_language()
    entries = [(campaign, campaign.text_for(language)) for campaign in campaigns]
    return render(request, "campaigns/list.html", {"entries": entries})


def signature_form(campaign: Campaign):
    """The campaign page's signing form, as the organisers' preview shows it too."""
    if campaign.use_directory:
        prefetch_related_objects([campaign], "directory")
    return signing_form(open_campaign_of(campaign), editable_letters=campaign.editable_letters())


def bilingual_notices(campaign: Campaign, to_targets) -> list[dict]:
    """For each To target with its own language: who also receives the model letter in that language."""
    if not campaign.bilingual_letters:
        return []
    available = {letter.language for letter in campaign.letters.all()}
    return [
        {"target": target.name, "language_name": get_language_info(target.language)["name_translated"]}
        for target in to_targets
        if target.language in available
    ]


def render_campaign_page(
    request: HttpRequest,
    campaign: Campaign,
    form,
    status: int = 200,
    template: str = "campaigns/detail.html",
    extra: dict | None = None,
) -> HttpResponse:
    """The campaign page; `template` and `extra` serve the organisers' preview (backoffice/previews.py)."""
    prefetch_related_objects([campaign], *PAGE_PREFETCH)
    language = get_language()
    to_targets, cc_targets = campaign.recipients()
    letter_language = language
    if form is not None and form.is_bound:
        letter_language = str(form["letter_language"].value() or language)
    letter = campaign.letter_for(letter_language)
    text = campaign.text_for(language)
    if form is not None and form.is_bound and form.editable_letters is not None and not form.data.get("letter_body"):
        # The script leaves an unchanged letter out of the POST: offer the model letter again.
        form.data = form.data.copy()
        form.data["letter_body"] = form.editable_letters.get(letter.language, "") if letter else ""
    goal = campaign.goal or 0
    to_names = ", ".join(t.name for t in to_targets)
    directory = []
    if campaign.use_directory:
        prefetch_related_objects([campaign], "directory")
        directory = list(campaign.directory.all())
        if directory:
            to_names = _("the recipient for the country you choose")
    context = {
        "campaign": campaign,
        "text": text,
        "page_language": language,
        # The campaign's own address, not request.path: after a failed POST that is the signing URL.
        "original_url": translate_url(campaign.get_absolute_url(), campaign.language),
        "people": [(person, person.timeline(language)) for person in campaign.people.all()],
        # The targets' answers: how many answered, and what the organisers chose to publish (delivery/answers.py).
        "answered": answered_targets(campaign),
        "published_answers": list(
            Answer.objects.published().filter(campaign=campaign).select_related("target").order_by("received_at")
        ),
        # Each follow-up letter since opened, with its own counter: shown apart from the campaign's.
        "follow_ups": [
            (follow_up, formats.number_format(follow_up.tally_letters, force_grouping=True))
            for follow_up in campaign.follow_ups.exclude(status=FollowUp.Status.DRAFT)
        ],
        "goal_display": formats.number_format(goal, force_grouping=True) if goal else "",
        "tally_display": formats.number_format(campaign.tally_letters, force_grouping=True),
        "goal_progress": min(campaign.tally_letters, goal),
        "form": form,
        # ?src=qr or ?src=share: where the signature will say it came from (any other value says nothing).
        "page_source": Signature.Source.from_page_address(request.GET.get("src", "")),
        # The signing form's token, in place of a CSRF cookie: the page sets no cookie (http/public_forms.py).
        "form_token": issue_form_token(campaign.pk) if form is not None else "",
        "letter": letter,
        "letter_text": sample_letter(letter).strip() if letter else "",
        "letters_json": script_json(preview_data(campaign.letters.all())) if form is not None else "",
        "bilingual_notices": bilingual_notices(campaign, to_targets),
        "to_targets": to_targets,
        "cc_targets": cc_targets,
        "to_names": to_names,
        "directory": directory,
        "cc_names": ", ".join(t.name for t in cc_targets),
    }
    return render(request, template, {**context, **(extra or {})}, status=status)


@public_page(query={"src": Signature.Source.from_page_address})
def campaign_detail(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = Campaign.objects.public().prefetch_related(*PAGE_PREFETCH).filter(slug=slug).first()
    if campaign is None:
        # An archived campaign keeps its data but not its page: old links get a short notice, not a 404.
        archived = get_object_or_404(Campaign, slug=slug, status=Campaign.Status.ARCHIVED)
        text = archived.text_for(get_language())
        return render(request, "campaigns/archived.html", {"campaign": archived, "text": text}, status=410)
    form = signature_form(campaign) if campaign.is_open else None
    return render_campaign_page(request, campaign, form)
