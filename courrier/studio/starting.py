"""Starting a campaign: from a published call, from a blank page, or as a copy of another.

Each makes a draft in sandbox mode: nothing is published and nothing is sent
until an organiser publishes it (courrier/campaigns/lifecycle.py).
"""

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from courrier.accounts.models import Organisation
from courrier.accounts.roles import EDITOR, organisation_ids
from courrier.campaigns import appeals, lifecycle
from courrier.campaigns.models import Campaign
from courrier.studio.access import campaign_for, my_campaigns, studio_page


class OrganisationField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Organisation) -> str:
        return obj.name


class StartForm(forms.Form):
    organisation = OrganisationField(
        label=gettext_lazy("Organisation running the campaign"), queryset=Organisation.objects.none()
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["organisation"]
        field.queryset = Organisation.objects.filter(pk__in=organisation_ids(user, EDITOR)).order_by("name")
        if field.queryset.count() == 1:
            field.initial = field.queryset.first()
            field.widget = forms.HiddenInput()
        field.error_messages["invalid_choice"] = _("Choose one of your organisations.")
        field.error_messages["required"] = _("Choose the organisation running the campaign.")


class FromCallForm(StartForm):
    text = forms.CharField(
        label=gettext_lazy("The call, as published"),
        help_text=gettext_lazy(
            "Paste the whole text: its title, the story, the addresses to write to and the letter. "
            "You review everything before anything is published or sent."
        ),
        max_length=appeals.MAX_APPEAL_CHARACTERS,
        widget=forms.Textarea(attrs={"rows": 16}),
        error_messages={"required": gettext_lazy("Paste the text of the call.")},
    )


class BlankForm(StartForm):
    title = forms.CharField(
        label=gettext_lazy("Title of the campaign"),
        max_length=appeals.TITLE_MAX,
        error_messages={"required": gettext_lazy("Give the campaign a title; you can change it later.")},
    )


class CopyForm(forms.Form):
    campaign = forms.ModelChoiceField(label=gettext_lazy("Campaign to copy"), queryset=Campaign.objects.none())

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["campaign"]
        field.queryset = my_campaigns(user).filter(organisation_id__in=organisation_ids(user, EDITOR))
        field.label_from_instance = lambda campaign: campaign.title
        field.error_messages["invalid_choice"] = _("Choose one of your campaigns.")
        field.error_messages["required"] = _("Choose the campaign to copy.")


@studio_page
def new(request: HttpRequest) -> HttpResponse:
    user = request.user
    forms_by_way = {
        "from-call": FromCallForm(user=user, prefix="call"),
        "blank": BlankForm(user=user, prefix="blank"),
        "copy": CopyForm(user=user, prefix="copy"),
    }
    way = request.POST.get("way", "")
    if request.method == "POST" and way in forms_by_way:
        form = type(forms_by_way[way])(request.POST, user=user, prefix=forms_by_way[way].prefix)
        forms_by_way[way] = form
        if form.is_valid():
            campaign = STARTS[way](request, form)
            return redirect("studio:campaign", campaign_id=campaign.pk)
    return render(
        request,
        "studio/new.html",
        {
            # Template variables cannot hold a dash.
            "forms": {name.replace("-", "_"): form for name, form in forms_by_way.items()},
            "has_organisation": bool(organisation_ids(user, EDITOR)),
        },
    )


def start_from_call(request: HttpRequest, form: FromCallForm) -> Campaign:
    draft = appeals.read_appeal(form.cleaned_data["text"])
    campaign = appeals.create_draft(draft, form.cleaned_data["organisation"], request.user)
    respelt = [person for person in draft.people if person.variants]
    if respelt:
        # The spellings the call uses for one person: the letter checker flags them where they stand.
        spellings = "; ".join(f"{person.name} ({', '.join(person.variants)})" for person in respelt)
        messages.warning(
            request,
            _("The call writes some names in more than one way; the case file keeps the first: %(names)s")
            % {"names": spellings},
        )
    if draft.found_letter:
        messages.success(
            request,
            _(
                "The draft is ready. Check each part against the call: the letter, the addresses and the people "
                "named. Nothing is published or sent until you publish it."
            ),
        )
    else:
        messages.warning(
            request,
            _(
                "The draft is ready, but no letter was found in the text (a letter between « » or starting with "
                "“Monsieur”, “Madame”, “Dear”…). Write it in the letter step."
            ),
        )
    return campaign


def start_blank(request: HttpRequest, form: BlankForm) -> Campaign:
    title = form.cleaned_data["title"]
    with transaction.atomic():
        campaign = Campaign.objects.create(
            organisation=form.cleaned_data["organisation"],
            slug=appeals.available_slug(title),
            language=request.LANGUAGE_CODE,
            title=title,
            summary="",
            status=Campaign.Status.DRAFT,
            real_delivery=False,
        )
    messages.success(request, _("The draft is ready. Write its story, its letter and its recipients, step by step."))
    return campaign


def start_copy(request: HttpRequest, form: CopyForm) -> Campaign:
    original = campaign_for(request, form.cleaned_data["campaign"].pk, EDITOR)
    campaign = lifecycle.duplicate(original, request.user)
    messages.success(request, _("This is a copy, as a draft: nothing of its supporters was copied."))
    return campaign


STARTS = {"from-call": start_from_call, "blank": start_blank, "copy": start_copy}
