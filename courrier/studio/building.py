"""A campaign in the studio: its overview, and the building steps that save on their own (letter, people).

An edit to a live or paused campaign is checked as going live is: if it would
add something that blocks (a misspelt name, an unknown placeholder), nothing
of it is kept and the organiser sees why, with what they typed
(lifecycle.blockers_before_edit / refuse_new_blockers).
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from courrier.accounts.roles import can_manage
from courrier.campaigns import lifecycle
from courrier.campaigns.models import Campaign
from courrier.campaigns.permissions import can_change_recipients
from courrier.delivery.retention import erasure_notice
from courrier.lib.images import clean_uploaded_image
from courrier.lib.markdown import render_markdown
from courrier.studio.access import EDITOR, campaign_for, studio_page
from courrier.studio.findings import review

LANGUAGES = dict(settings.LANGUAGES)


def languages_in_order(campaign: Campaign) -> list[str]:
    """The campaign's original language first, then the others."""
    return [campaign.language, *(code for code in LANGUAGES if code != campaign.language)]


def steps(request: HttpRequest, campaign: Campaign, current: str) -> dict:
    """The campaign's pages in the studio, for its navigation (building, then running it for its managers);
    `current` is the one shown."""
    letters = languages_in_order(campaign)
    items = [
        {"name": "overview", "label": _("Overview"), "url": reverse("studio:campaign", args=[campaign.pk])},
        {"name": "story", "label": _("Story"), "url": reverse("studio:story", args=[campaign.pk])},
        {"name": "people", "label": _("People"), "url": reverse("studio:people", args=[campaign.pk])},
        *(
            {
                "name": f"letter-{code}",
                "label": _("Letter (%(language)s)") % {"language": LANGUAGES[code]},
                "url": reverse("studio:letter", args=[campaign.pk, code]),
            }
            for code in letters
        ),
        {"name": "recipients", "label": _("Recipients"), "url": reverse("studio:recipients", args=[campaign.pk])},
        {"name": "options", "label": _("Form options"), "url": reverse("studio:options", args=[campaign.pk])},
        {"name": "publish", "label": _("Review and publish"), "url": reverse("studio:publish", args=[campaign.pk])},
        {
            "name": "follow_ups",
            "label": _("Follow-up letters"),
            "url": reverse("studio:follow_ups", args=[campaign.pk]),
        },
    ]
    running = []
    if can_manage(request.user, campaign):
        running = [
            {
                "name": "progress",
                "label": _("Progress and exports"),
                "url": reverse("studio:progress", args=[campaign.pk]),
            },
            {"name": "queue", "label": _("Held for review"), "url": reverse("studio:queue", args=[campaign.pk])},
            {"name": "delivery", "label": _("Delivery"), "url": reverse("studio:delivery", args=[campaign.pk])},
            {"name": "updates", "label": _("News to supporters"), "url": reverse("studio:updates", args=[campaign.pk])},
            {"name": "answers", "label": _("Answers"), "url": reverse("studio:answers", args=[campaign.pk])},
        ]
    return {"items": items, "running": running, "current": current}


@studio_page
def overview(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, EDITOR)
    to_targets, cc_targets = campaign.recipients()
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "overview"),
        "review": review(campaign, request.user),
        "to_targets": to_targets,
        "cc_targets": cc_targets,
        "letters": list(campaign.letters.order_by("language")),
        "people": list(campaign.people.all()),
    }
    return render(request, "studio/campaign.html", context)


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


class StoryForm(forms.ModelForm):
    """The page in the campaign's original language: what supporters read before they sign."""

    class Meta:
        model = Campaign
        fields = ["title", "summary", "article", "photo", "photo_alt", "photo_caption", "photo_credit"]
        widgets = {
            "summary": forms.Textarea(attrs={"rows": 4}),
            "article": forms.Textarea(attrs={"rows": 16}),
            "photo": forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
        }

    def clean_photo(self):
        """A new upload is stored as its pixels only: no GPS position, camera serial or author."""
        photo = self.cleaned_data.get("photo")
        if isinstance(photo, UploadedFile):
            return clean_uploaded_image(photo)
        return photo


@studio_page
def story(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, EDITOR)
    # The form's own copy: the page's header keeps the saved title while a refused edit is shown.
    form = StoryForm(request.POST or None, request.FILES or None, instance=Campaign.objects.get(pk=campaign.pk))
    preview = None
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            preview = render_markdown(form.cleaned_data["article"])
        elif save_checked(request, campaign, form.save):
            messages.success(request, _("The story is saved."))
            return redirect("studio:story", campaign_id=campaign.pk)
    written = set(campaign.texts.values_list("language", flat=True))
    translations = [(code, name, code in written) for code, name in LANGUAGES.items() if code != campaign.language]
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "story"),
        "form": form,
        "preview": preview,
        "translations": translations,
    }
    return render(request, "studio/story.html", context)


class OptionsForm(forms.ModelForm):
    """What the signing form asks and allows, and what becomes of the supporters' data."""

    class Meta:
        model = Campaign
        fields = [
            "goal",
            "allow_letter_editing",
            "bilingual_letters",
            "use_directory",
            "embed_origins",
            "closing_message",
            "ends_at",
            "anonymise_after_days",
        ]
        widgets = {
            # The browser's own date and time picker; typed without JavaScript as 2026-12-31T18:00.
            "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "embed_origins": forms.Textarea(attrs={"rows": 3}),
            "closing_message": forms.Textarea(attrs={"rows": 3}),
        }

    def clean_ends_at(self):
        """A new end date is to come: a past one would close the campaign and hand it over within a minute."""
        ends_at = self.cleaned_data.get("ends_at")
        if ends_at is not None and ends_at != self.instance.ends_at and ends_at <= timezone.now():
            raise forms.ValidationError(
                _("Choose a date to come: on that date the campaign closes and its letters are handed over.")
            )
        return ends_at


@studio_page
def options(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, EDITOR)
    form = OptionsForm(request.POST or None, instance=Campaign.objects.get(pk=campaign.pk))
    if not can_change_recipients(request.user, campaign):
        # With the directory on or off, letters go to other recipients: a manager's decision once live.
        form.fields["use_directory"].disabled = True
        form.fields["use_directory"].help_text = _(
            "The campaign is live: only its managers may change where the letters go."
        )
    if request.method == "POST" and form.is_valid():
        if save_checked(request, campaign, form.save):
            messages.success(request, _("The form options are saved."))
            return redirect("studio:options", campaign_id=campaign.pk)
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "options"),
        "form": form,
        "erasure": erasure_notice(campaign),
    }
    return render(request, "studio/options.html", context)
