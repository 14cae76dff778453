"""The people step: the case file, whose names the letter checker compares with every text."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from courrier.campaigns import letter_checker
from courrier.campaigns.models import Person
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
