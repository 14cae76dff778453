"""News of a campaign, written by its organisers and sent to the supporters who asked for it."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from courrier.campaigns.models import Campaign, Person, PersonUpdate

# The case file's timeline keeps entries short.
TIMELINE_MAX_LENGTH = PersonUpdate._meta.get_field("text").max_length


class NewsUpdate(models.Model):
    """One update in one language. Sent once, to the supporters who signed in that language."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="news", verbose_name=_("campaign"))
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(
        _("text"),
        max_length=20000,
        help_text=_(
            "Plain text, sent as written: leave a blank line between paragraphs, *stars* and links are shown "
            "as they are. The unsubscribe link is added at the end."
        ),
    )
    publish_on_timeline = models.BooleanField(
        _("also publish on the case file"),
        default=False,
        help_text=_(
            "When it is sent, the short text below is added, dated today, to the timeline of the person chosen."
        ),
    )
    timeline_text = models.TextField(
        _("short text for the case file"),
        max_length=TIMELINE_MAX_LENGTH,
        blank=True,
        help_text=_("What the public timeline says, in a sentence or two: not the e-mail, which greets supporters."),
    )
    person = models.ForeignKey(
        Person,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="news",
        verbose_name=_("person concerned"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
        related_name="+",
        verbose_name=_("written by"),
    )
    created_at = models.DateTimeField(_("written"), default=timezone.now, editable=False)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True, editable=False)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
        related_name="+",
        verbose_name=_("sent by"),
    )
    recipients_count = models.PositiveIntegerField(_("recipients"), default=0, editable=False)
    # Set when it is sent, for the worker to queue it (news/sending.py): the page languages it reaches, the
    # last signature that may receive it then, how far the worker has queued, and when it finished.
    audience_languages = models.JSONField(default=list, editable=False)
    recipients_until = models.BigIntegerField(null=True, editable=False)
    queued_through = models.BigIntegerField(default=0, editable=False)
    queued_at = models.DateTimeField(null=True, editable=False)

    class Meta:
        verbose_name = _("update to supporters")
        verbose_name_plural = _("updates to supporters")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.subject

    @property
    def is_sent(self) -> bool:
        return self.sent_at is not None

    def clean(self) -> None:
        errors = {}
        if self.person_id and self.campaign_id and self.person.campaign_id != self.campaign_id:
            errors["person"] = _("Choose a person of this campaign's case file.")
        if self.publish_on_timeline:
            if not self.person_id:
                errors["person"] = _("Choose whose timeline shows this update.")
            if not self.timeline_text.strip():
                errors["timeline_text"] = _("Write the short text the case file's timeline shows.")
        if errors:
            raise ValidationError(errors)
