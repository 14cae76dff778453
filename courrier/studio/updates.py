"""News to supporters: one text per language, sent to those who asked for news, in the language they signed in.

Sending is news/sending.py's, as in the admin: the request marks the updates
sent and the worker queues their e-mails a batch at a time. Here the organiser
sees how many supporters each language reaches, is told when a language with
supporters has no text (they get nothing unless the original's text goes to
them), and writes the case file's timeline entry apart from the e-mail.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from courrier.news.models import NewsUpdate
from courrier.news.sending import send_updates, subscribers
from courrier.studio.access import MANAGER, campaign_for, studio_page
from courrier.studio.building import LANGUAGES, languages_in_order, steps


class TextForm(forms.Form):
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=200, required=False)
    body = forms.CharField(
        label=gettext_lazy("Text"),
        max_length=20000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text=NewsUpdate._meta.get_field("body").help_text,
    )

    @property
    def written(self) -> bool:
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return bool((data.get("subject") or "").strip() or (data.get("body") or "").strip())

    def clean(self):
        data = super().clean()
        subject, body = (data.get("subject") or "").strip(), (data.get("body") or "").strip()
        if subject and not body:
            self.add_error("body", _("Write the text of this update, or empty its subject."))
        if body and not subject:
            self.add_error("subject", _("Give this update a subject."))
        return data


class SendingForm(forms.Form):
    other_languages = forms.BooleanField(
        label=gettext_lazy("Send the text in the campaign's language to supporters of the languages left empty"),
        required=False,
    )
    publish_on_timeline = forms.BooleanField(label=gettext_lazy("Also publish on the case file"), required=False)
    person = forms.ModelChoiceField(label=gettext_lazy("Whose timeline"), queryset=None, required=False)
    timeline_text = forms.CharField(
        label=NewsUpdate._meta.get_field("timeline_text").verbose_name,
        help_text=NewsUpdate._meta.get_field("timeline_text").help_text,
        max_length=NewsUpdate._meta.get_field("timeline_text").max_length,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    confirm = forms.BooleanField(
        label=gettext_lazy("I have read it again: send it now (it cannot be taken back)"),
        error_messages={"required": gettext_lazy("Tick the box to confirm the sending.")},
    )

    def __init__(self, *args, campaign, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = campaign.people.all()
        self.fields["person"].label_from_instance = lambda person: person.name


@studio_page
def updates(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, MANAGER)
    codes = languages_in_order(campaign)
    posted = request.POST if request.method == "POST" else None
    texts = {code: TextForm(posted, prefix=code) for code in codes}
    sending = SendingForm(posted, campaign=campaign, prefix="send")
    reach = dict(subscribers(campaign.pk).values_list("language").annotate(count=Count("pk")))
    if posted is not None and sending.is_valid() and all(form.is_valid() for form in texts.values()):
        written = [code for code in codes if texts[code].written]
        if not written:
            sending.add_error(None, _("Write the update in at least one language."))
        else:
            sent = send_written(request, campaign, written, texts, sending)
            if sent is not None:
                return redirect("studio:updates", campaign_id=campaign.pk)
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "updates"),
        "tabs": [
            {"code": code, "name": LANGUAGES[code], "form": texts[code], "reach": reach.get(code, 0)} for code in codes
        ],
        "sending": sending,
        "sent": campaign.news.filter(sent_at__isnull=False).order_by("-sent_at")[:20],
    }
    return render(request, "studio/updates.html", context)


def send_written(request: HttpRequest, campaign, written: list[str], texts: dict, sending: SendingForm) -> int | None:
    """Make and send the updates written; None (with the errors on the form) when one is refused."""
    options = sending.cleaned_data
    updates = []
    for index, code in enumerate(written):
        update = NewsUpdate(
            campaign=campaign,
            language=code,
            subject=texts[code].cleaned_data["subject"].strip(),
            body=texts[code].cleaned_data["body"].strip(),
            created_by=request.user,
        )
        if index == 0 and options["publish_on_timeline"]:
            # One entry on the timeline, in the first language written.
            update.publish_on_timeline, update.person = True, options["person"]
            update.timeline_text = options["timeline_text"].strip()
        try:
            update.full_clean()
        except ValidationError as refusal:
            for field, errors in refusal.message_dict.items():
                sending.add_error(field if field in sending.fields else None, errors)
            return None
        updates.append(update)
    for update in updates:
        update.save()
    sent = send_updates(updates, request.user, other_languages=options["other_languages"])
    total = sum(item.recipients for item in sent)
    messages.success(
        request,
        ngettext(
            "The update is sent to %(count)d supporter: the e-mails leave in the next minutes.",
            "The update is sent to %(count)d supporters: the e-mails leave in the next minutes.",
            total,
        )
        % {"count": total},
    )
    return total
