"""The page in another language, beside the original: what supporters of that language read before they sign.

Adding a language publishes the page in it (the checklist then asks for its
letter); removing it stops that. Edits to a live campaign are checked like
every other (building.save_checked).
"""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from courrier.backoffice.scoping import record_deletion
from courrier.campaigns.models import CampaignText
from courrier.studio.access import EDITOR, campaign_for, studio_page
from courrier.studio.building import LANGUAGES, save_checked, steps


class TranslationForm(forms.ModelForm):
    class Meta:
        model = CampaignText
        fields = ["title", "summary", "article", "photo_alt", "photo_caption", "photo_credit", "translation_note"]
        widgets = {"summary": forms.Textarea(attrs={"rows": 4}), "article": forms.Textarea(attrs={"rows": 16})}


@studio_page
def translation(request: HttpRequest, campaign_id: int, language: str) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, EDITOR)
    if language not in LANGUAGES or language == campaign.language:
        raise Http404
    existing = campaign.texts.filter(language=language).first()
    form = TranslationForm(
        request.POST or None, instance=existing or CampaignText(campaign=campaign, language=language)
    )
    if request.method == "POST" and "remove" in request.POST:
        # Pressed twice, or in a second tab: the page is already withdrawn, and stays so.
        if existing is not None:

            def remove() -> None:
                record_deletion(request, existing)
                existing.delete()

            if not save_checked(request, campaign, remove):
                return redirect("studio:translation", campaign_id=campaign.pk, language=language)
        withdrawn = _("The page is no longer published in %(language)s.") % {"language": LANGUAGES[language]}
        messages.success(request, withdrawn)
        return redirect("studio:story", campaign_id=campaign.pk)
    if request.method == "POST" and form.is_valid():
        if save_checked(request, campaign, form.save):
            messages.success(request, _("The page in %(language)s is saved.") % {"language": LANGUAGES[language]})
            return redirect("studio:translation", campaign_id=campaign.pk, language=language)
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "story"),
        "form": form,
        "language": language,
        "language_name": LANGUAGES[language],
        "original": campaign.original_text(),
        "exists": existing is not None,
    }
    return render(request, "studio/translation.html", context)
