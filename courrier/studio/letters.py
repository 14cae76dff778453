"""The letter step: the model letter in one language, beside the original, with the letter checker's findings."""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from courrier.backoffice.previews import placeholder_help, sample_signature
from courrier.campaigns import letter_checker
from courrier.campaigns.letters import render_letter
from courrier.campaigns.models import ModelLetter
from courrier.delivery.messages import signer_of
from courrier.studio.access import EDITOR, campaign_for, studio_page
from courrier.studio.building import LANGUAGES, save_checked, steps


class LetterForm(forms.ModelForm):
    class Meta:
        model = ModelLetter
        fields = ["subject", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 20, "spellcheck": "true"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The placeholders, each a button that inserts it at the cursor (js/placeholders.js), or read and typed.
        self.fields["body"].help_text = placeholder_help()


def as_read(campaign, language: str, subject: str, body: str) -> dict[str, str]:
    """The letter being written as a target will read it, signed by the previews' sample supporter."""
    letter = ModelLetter(campaign=campaign, language=language, subject=subject, body=body)
    read_subject, read_body = render_letter(letter, signer_of(sample_signature(campaign, language)))
    return {"subject": read_subject, "body": read_body}


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
        "nav": steps(request, campaign, f"letter-{language}"),
        "form": form,
        "language": language,
        "language_name": LANGUAGES[language],
        "original": original,
        "findings": findings,
        "is_new": existing is None,
        "reading": as_read(
            campaign,
            language,
            form["subject"].value() or "",
            form["body"].value() or "",
        ),
    }
    return render(request, "studio/letter.html", context)


@require_POST
@studio_page
def check(request: HttpRequest, campaign_id: int, language: str) -> JsonResponse:
    """The letter checker's findings for the text being typed, and the letter as it reads (nothing saved), for
    js/letter-checker.js."""
    campaign = campaign_for(request, campaign_id, EDITOR)
    if language not in LANGUAGES:
        raise Http404
    subject, body = request.POST.get("subject", "")[:1000], request.POST.get("body", "")[:50_000]
    findings = letter_checker.check_letter(campaign, language, subject, body)
    return JsonResponse(
        {
            "findings": [{"blocks": finding.blocks, "text": str(finding)} for finding in findings],
            "reading": as_read(campaign, language, subject, body),
        },
        headers={"Cache-Control": "no-store"},
    )
