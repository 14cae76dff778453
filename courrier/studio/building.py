"""A campaign in the studio: its overview, and the building steps that save on their own (letter, people).

An edit to a live or paused campaign is checked as going live is: if it would
add something that blocks (a misspelt name, an unknown placeholder), nothing
of it is kept and the organiser sees why, with what they typed
(lifecycle.blockers_before_edit / refuse_new_blockers).
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from courrier.accounts.roles import can_manage
from courrier.campaigns import letter_checker, lifecycle
from courrier.campaigns.letters import PLACEHOLDERS
from courrier.campaigns.models import Campaign, ModelLetter, Person
from courrier.studio.access import EDITOR, campaign_for, studio_page
from courrier.studio.findings import review

LANGUAGES = dict(settings.LANGUAGES)
# What each placeholder becomes, for the list the organiser picks from.
PLACEHOLDER_HELP = {
    "signatory": gettext_lazy("who signs: the supporter, or their organisation"),
    "full_name": gettext_lazy("the supporter's first and last name"),
    "personal_sentence": gettext_lazy("the sentence the supporter may add"),
    "place_and_date": gettext_lazy("the supporter's town and the date"),
    "signature": gettext_lazy("the signature: name, and organisation and role if given"),
    "city": gettext_lazy("the supporter's town"),
    "date": gettext_lazy("the date the letter is sent"),
}


def steps(campaign: Campaign, current: str) -> dict:
    """The campaign's pages in the studio, for its navigation; `current` is the one shown."""
    letters = [campaign.language, *(code for code in LANGUAGES if code != campaign.language)]
    items = [
        {"name": "overview", "label": _("Overview"), "url": reverse("studio:campaign", args=[campaign.pk])},
        {"name": "people", "label": _("People"), "url": reverse("studio:people", args=[campaign.pk])},
        *(
            {
                "name": f"letter-{code}",
                "label": _("Letter (%(language)s)") % {"language": LANGUAGES[code]},
                "url": reverse("studio:letter", args=[campaign.pk, code]),
            }
            for code in letters
        ),
    ]
    return {"items": items, "current": current}


@studio_page
def overview(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, EDITOR)
    to_targets, cc_targets = campaign.recipients()
    context = {
        "campaign": campaign,
        "nav": steps(campaign, "overview"),
        "review": review(campaign, request.user),
        "to_targets": to_targets,
        "cc_targets": cc_targets,
        "letters": list(campaign.letters.order_by("language")),
        "people": list(campaign.people.all()),
        "is_manager": can_manage(request.user, campaign),
        "languages": LANGUAGES,
    }
    return render(request, "studio/campaign.html", context)


class LetterForm(forms.ModelForm):
    class Meta:
        model = ModelLetter
        fields = ["subject", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 20, "spellcheck": "true"})}


def save_checked(request: HttpRequest, campaign: Campaign, save) -> bool:
    """Run `save()`; on a live campaign, keep it only if it adds nothing that blocks. Says which."""
    before = lifecycle.blockers_before_edit(campaign.pk)
    try:
        with transaction.atomic():
            save()
            lifecycle.refuse_new_blockers(campaign.pk, before)
    except lifecycle.EditRefused as refused:
        messages.error(
            request,
            _("The campaign is live: this change was not kept, because it would add what blocks it: %(what)s")
            % {"what": " ".join(str(finding) for finding in refused.findings)},
        )
        return False
    return True


@studio_page
def letter(request: HttpRequest, campaign_id: int, language: str) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, EDITOR)
    if language not in LANGUAGES:
        raise Http404
    existing = campaign.letters.filter(language=language).first()
    original = campaign.letters.filter(language=campaign.language).first() if language != campaign.language else None
    instance = existing or ModelLetter(
        campaign=campaign,
        language=language,
        is_translation=language != campaign.language,
        subject=original.subject if original else campaign.title,
    )
    form = LetterForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        if save_checked(request, campaign, form.save):
            messages.success(request, _("The letter is saved."))
            return redirect("studio:letter", campaign_id=campaign.pk, language=language)
    findings = [
        finding
        for finding in letter_checker.check_campaign(campaign)
        if finding.language == language and finding.field in ("subject", "body")
    ]
    context = {
        "campaign": campaign,
        "nav": steps(campaign, f"letter-{language}"),
        "form": form,
        "language": language,
        "language_name": LANGUAGES[language],
        "original": original,
        "findings": findings,
        "placeholders": [(name, PLACEHOLDER_HELP.get(name, "")) for name in PLACEHOLDERS],
        "is_new": existing is None,
    }
    return render(request, "studio/letter.html", context)


class PersonForm(forms.ModelForm):
    class Meta:
        model = Person
        fields = ["name", "other_spellings", "status"]


PeopleFormSet = forms.modelformset_factory(Person, form=PersonForm, extra=1, can_delete=True)


@studio_page
def people(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, EDITOR)
    queryset = campaign.people.all()
    formset = PeopleFormSet(request.POST or None, queryset=queryset, prefix="people")
    if request.method == "POST" and formset.is_valid():

        def save() -> None:
            for position, person in enumerate(formset.save(commit=False), start=queryset.count()):
                if person.pk is None:
                    person.campaign, person.position = campaign, position
                person.save()
            for person in formset.deleted_objects:
                person.delete()

        if save_checked(request, campaign, save):
            messages.success(request, _("The people concerned are saved."))
            return redirect("studio:people", campaign_id=campaign.pk)
    name_findings = [f for f in letter_checker.check_campaign(campaign) if f.code == "name_near_miss"]
    context = {
        "campaign": campaign,
        "nav": steps(campaign, "people"),
        "formset": formset,
        "name_findings": name_findings,
    }
    return render(request, "studio/people.html", context)
