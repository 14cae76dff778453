"""The people step: the case file, whose names the letter checker compares with every text."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from courrier.backoffice.scoping import record_deletion
from courrier.campaigns import letter_checker
from courrier.campaigns.models import Person, PersonUpdate
from courrier.studio.access import EDITOR, campaign_for, studio_page
from courrier.studio.building import save_checked, steps


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
                record_deletion(request, person)
                person.delete()

        if save_checked(request, campaign, save):
            messages.success(request, _("The people concerned are saved."))
            return redirect("studio:people", campaign_id=campaign.pk)
    name_findings = [f for f in letter_checker.check_campaign(campaign) if f.code == "name_near_miss"]
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "people"),
        "formset": formset,
        "name_findings": name_findings,
    }
    return render(request, "studio/people.html", context)


class TimelineForm(forms.ModelForm):
    class Meta:
        model = PersonUpdate
        fields = ["date", "language", "text"]
        widgets = {"date": forms.DateInput(attrs={"type": "date"}), "text": forms.Textarea(attrs={"rows": 3})}


@studio_page
def timeline(request: HttpRequest, campaign_id: int, person_id: int) -> HttpResponse:
    """A person's timeline on the public page: dated entries, each in one language."""
    campaign = campaign_for(request, campaign_id, EDITOR)
    person = get_object_or_404(campaign.people, pk=person_id)
    form = TimelineForm(
        request.POST if request.method == "POST" and "remove" not in request.POST else None,
        initial={"date": timezone.localdate(), "language": campaign.language},
    )
    if request.method == "POST" and "remove" in request.POST:
        chosen = request.POST["remove"]
        entry = person.updates.filter(pk=chosen).first() if chosen.isascii() and chosen.isdigit() else None
        if entry is not None:
            record_deletion(request, entry)
            entry.delete()
            messages.success(request, _("The entry is removed from the timeline."))
        return redirect("studio:timeline", campaign_id=campaign.pk, person_id=person.pk)
    if request.method == "POST" and form.is_valid():
        entry = form.save(commit=False)
        entry.person = person
        entry.save()
        messages.success(request, _("The entry is added to the timeline."))
        return redirect("studio:timeline", campaign_id=campaign.pk, person_id=person.pk)
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "people"),
        "person": person,
        "entries": person.updates.all(),
        "form": form,
    }
    return render(request, "studio/timeline.html", context)
