"""Follow-up letters: a second letter on the same campaign when the case changes, sent by its supporters.

An organiser names it, writes its letter and what changed in each language (the letter checker reads it
as it reads the first letter), then a manager opens it: the supporters who asked for news are each sent
their own link (news/follow_ups.py), and its counter stands apart on the campaign page and the progress
page. Opening and closing are news/follow_ups.py's; nothing here decides who is invited or what is sent.
"""

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from courrier.accounts.roles import can_manage
from courrier.backoffice.previews import placeholder_help, sample_signature
from courrier.campaigns import letter_checker
from courrier.campaigns.models import FollowUp, FollowUpLetter
from courrier.delivery.follow_ups import follow_up_figures
from courrier.news.follow_ups import close_follow_up, invitees, letter_as_sent, open_follow_up, problems_before_opening
from courrier.studio.access import EDITOR, MANAGER, campaign_for, studio_page
from courrier.studio.building import LANGUAGES, languages_in_order, steps


class NewFollowUpForm(forms.ModelForm):
    class Meta:
        model = FollowUp
        fields = ["name"]


class FollowUpLetterForm(forms.Form):
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=200, required=False)
    body = forms.CharField(
        label=gettext_lazy("Letter"),
        max_length=20000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "true"}),
    )
    invitation = forms.CharField(
        label=FollowUpLetter._meta.get_field("invitation").verbose_name,
        help_text=FollowUpLetter._meta.get_field("invitation").help_text,
        max_length=3000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["body"].help_text = placeholder_help()

    @property
    def written(self) -> bool:
        return any((self.cleaned_data.get(name) or "").strip() for name in ("subject", "body", "invitation"))

    def clean(self):
        data = super().clean()
        if self.written:
            for name in ("subject", "body", "invitation"):
                if not (data.get(name) or "").strip():
                    self.add_error(name, _("Fill this in too, or empty the others for this language."))
        return data


@studio_page
def follow_ups(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, EDITOR)
    form = NewFollowUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        follow_up = form.save(commit=False)
        follow_up.campaign = campaign
        follow_up.save()
        messages.success(request, _("The follow-up is a draft: write its letter, then open it."))
        return redirect("studio:follow_up", campaign_id=campaign.pk, follow_up_id=follow_up.pk)
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "follow_ups"),
        "form": form,
        "rows": [(follow_up, follow_up_figures(follow_up)) for follow_up in campaign.follow_ups.all()],
        "reach": invitees(campaign.pk).count(),
    }
    return render(request, "studio/follow_ups.html", context)


def follow_up_of(request: HttpRequest, campaign_id: int, follow_up_id: int, role: str) -> FollowUp:
    campaign = campaign_for(request, campaign_id, role)
    follow_up = get_object_or_404(campaign.follow_ups, pk=follow_up_id)
    follow_up.campaign = campaign
    return follow_up


@studio_page
def follow_up(request: HttpRequest, campaign_id: int, follow_up_id: int) -> HttpResponse:
    follow_up = follow_up_of(request, campaign_id, follow_up_id, EDITOR)
    campaign = follow_up.campaign
    existing = {letter.language: letter for letter in follow_up.letters.all()}
    posted = request.POST if request.method == "POST" else None
    if posted is not None and follow_up.status != FollowUp.Status.DRAFT:
        messages.error(request, _("Its supporters are invited: the letter they were shown can no longer change."))
        return redirect("studio:follow_up", campaign_id=campaign.pk, follow_up_id=follow_up.pk)
    codes = languages_in_order(campaign)
    name_form = NewFollowUpForm(posted, instance=follow_up, prefix="follow-up")
    texts = {
        code: FollowUpLetterForm(
            posted,
            prefix=code,
            initial={
                "subject": existing[code].subject if code in existing else "",
                "body": existing[code].body if code in existing else "",
                "invitation": existing[code].invitation if code in existing else "",
            },
        )
        for code in codes
    }
    if posted is not None and name_form.is_valid() and all(form.is_valid() for form in texts.values()):
        if save_letters(follow_up, name_form, texts):
            messages.success(request, _("The follow-up is saved."))
        else:
            messages.error(request, _("Its supporters are invited: the letter they were shown can no longer change."))
        return redirect("studio:follow_up", campaign_id=campaign.pk, follow_up_id=follow_up.pk)
    tabs = []
    for code in codes:
        letter = existing.get(code)
        findings = []
        reading = None
        if letter is not None:
            findings = [
                finding
                for finding in letter_checker.check_letter(campaign, code, letter.subject, letter.body)
                if finding.language == code and finding.field in ("subject", "body")
            ]
            reading = letter_as_sent(follow_up, sample_signature(campaign, code))
        tabs.append(
            {"code": code, "name": LANGUAGES[code], "form": texts[code], "findings": findings, "reading": reading}
        )
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "follow_ups"),
        "follow_up": follow_up,
        "name_form": name_form,
        "tabs": tabs,
        "figures": follow_up_figures(follow_up),
        "problems": problems_before_opening(follow_up) if follow_up.status == FollowUp.Status.DRAFT else [],
        "reach": invitees(campaign.pk).count(),
        "may_manage": can_manage(request.user, campaign),
    }
    return render(request, "studio/follow_up.html", context)


def save_letters(follow_up: FollowUp, name_form: NewFollowUpForm, texts: dict[str, FollowUpLetterForm]) -> bool:
    """Save its name and letters while it is a draft; False (nothing saved) if a manager opened it meanwhile."""
    with transaction.atomic():
        # Locked as a draft, so that opening it waits for this save, or this save finds it open and gives up.
        if not FollowUp.objects.select_for_update().filter(pk=follow_up.pk, status=FollowUp.Status.DRAFT).exists():
            return False
        # Its name only: the status and the invitations' cursor are news/follow_ups.py's.
        FollowUp.objects.filter(pk=follow_up.pk).update(name=name_form.cleaned_data["name"])
        for code, form in texts.items():
            if form.written:
                FollowUpLetter.objects.update_or_create(
                    follow_up=follow_up,
                    language=code,
                    defaults={name: form.cleaned_data[name].strip() for name in ("subject", "body", "invitation")},
                )
            else:
                follow_up.letters.filter(language=code).delete()
    return True


@require_POST
@studio_page
def follow_up_state(request: HttpRequest, campaign_id: int, follow_up_id: int) -> HttpResponse:
    """Open it (inviting its supporters) or close it: a manager's act, since it mails supporters."""
    follow_up = follow_up_of(request, campaign_id, follow_up_id, MANAGER)
    action = request.POST.get("action")
    if action == "open":
        problems = problems_before_opening(follow_up)
        if problems:
            for problem in problems:
                messages.error(request, problem)
        elif request.POST.get("confirm") != "on":
            messages.error(request, _("Tick the box to confirm: the invitations cannot be taken back."))
        else:
            count = open_follow_up(follow_up, request.user)
            if count is None:
                messages.error(request, _("It was opened, or changed, meanwhile: see it as it is now."))
            else:
                messages.success(
                    request,
                    ngettext(
                        "The follow-up is open: %(count)d supporter is invited, the e-mails leave in the next minutes.",
                        "The follow-up is open: %(count)d supporters are invited, the e-mails leave in the next "
                        "minutes.",
                        count,
                    )
                    % {"count": count},
                )
    elif action == "close":
        if close_follow_up(follow_up, request.user):
            messages.success(request, _("The follow-up is closed: its links no longer send letters."))
    else:
        raise Http404
    return redirect("studio:follow_up", campaign_id=follow_up.campaign_id, follow_up_id=follow_up.pk)
