"""Send an update to the supporters who asked for news: one outbox row each, queued in bulk, once.

Who receives an update: the confirmed, non-duplicate signatures of its
campaign that ticked "news of the campaign", have not unsubscribed, were not
rejected by moderation, and whose page language is the update's language.
Supporters of a language that has no update are left out, unless the
organiser sends the update in the campaign's original language with "also to
the other languages": it then reaches every supporter whose language has no
update among those sent together.

Sending marks the update sent, for the supporters it reaches at that moment,
with the case-file entry and the audit line, in one short transaction; the
mark is a conditional UPDATE, so a second press of "Send", in another tab or
another process, finds the update already sent and sends nothing. The worker
then queues one outbox row per supporter, CHUNK at a time, each chunk in a
transaction of its own that moves the update's cursor (queue_news): however
many supporters there are, no request and no transaction writes them all, and
signing goes on meanwhile.
"""

import datetime
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone, translation

from courrier.accounts import audit
from courrier.campaigns.models import Campaign, PersonUpdate
from courrier.delivery import emails
from courrier.delivery.enqueue import PASS_SECONDS, durable_commit, stamped
from courrier.delivery.messages import absolute_url, supporter_message
from courrier.delivery.models import OutboxMessage, UndeliverableAddress
from courrier.news.models import NewsUpdate
from courrier.news.subscriptions import unsubscribe_mailto
from courrier.news.tokens import unsubscribe_token
from courrier.signatures.models import Signature
from courrier.signatures.tokens import my_data_url

CHUNK = 500
_SLOT = "SLOT"  # stands for the token in the unsubscribe path, built once per language


def subscribers(campaign_id: int) -> QuerySet[Signature]:
    """Every supporter of the campaign who may receive its news, whatever their language."""
    return (
        Signature.objects.filter(campaign_id=campaign_id)
        .news_recipients()
        # An address that bounced for good: news would only bounce again, and hurt the sender's reputation.
        .exclude(email_digest__in=UndeliverableAddress.objects.values("email_digest"))
    )


def audience(update: NewsUpdate, sent_together: list[NewsUpdate], other_languages: bool) -> list[str]:
    """The page languages the update reaches, among the updates sent together."""
    if other_languages and update.language == update.campaign.language:
        covered = {u.language for u in sent_together if u.campaign_id == update.campaign_id} - {update.language}
        return [code for code, _name in settings.LANGUAGES if code not in covered]
    return [update.language]


@dataclass
class Sent:
    update: NewsUpdate
    recipients: int


def send_updates(updates: list[NewsUpdate], user, other_languages: bool = False, now=None) -> list[Sent]:
    """Send each update not sent yet; returns those this call sent. Permissions are the caller's business."""
    now = now or timezone.now()
    sent = []
    for update in updates:
        count = send_update(update, audience(update, updates, other_languages), user, now)
        if count is not None:
            sent.append(Sent(update, count))
    return sent


def recipients_of(update: NewsUpdate) -> QuerySet[Signature]:
    return subscribers(update.campaign_id).filter(language__in=update.audience_languages)


def send_update(update: NewsUpdate, languages: list[str], user, now: datetime.datetime) -> int | None:
    """Mark the update sent, for the supporters it reaches now; None when it was already sent.

    The worker queues their e-mails afterwards, a batch at a time (queue_news): a request never writes a
    hundred thousand rows, nor holds the database while it does.
    """
    update.audience_languages = languages
    # Everyone who signed until now, whatever the campaign: the highest number is one look-up in the primary key,
    # and the worker reads the campaign's recipients up to it. Counted before the transaction, not inside it: on
    # SQLite a transaction that writes holds every signing request back, and counting a million rows takes a
    # good part of a second. The count is what the organiser is told; the worker queues whoever is due by then.
    last = Signature.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    count = recipients_of(update).filter(pk__lte=last).count()
    with transaction.atomic():
        durable_commit()
        claimed = NewsUpdate.objects.filter(pk=update.pk, sent_at__isnull=True).update(
            sent_at=now, sent_by=user, audience_languages=languages, recipients_until=last, recipients_count=count
        )
        if not claimed:
            return None
        campaign = Campaign.objects.select_related("organisation").get(pk=update.campaign_id)
        # The timeline shows the short text written for it, never the e-mail (which greets supporters).
        if update.publish_on_timeline and update.person_id and update.timeline_text.strip():
            PersonUpdate.objects.create(
                person_id=update.person_id,
                date=timezone.localdate(now),
                language=update.language,
                text=update.timeline_text.strip(),
            )
        record_in_audit_log(user, update, campaign, count)
    update.sent_at, update.sent_by, update.recipients_count, update.recipients_until = now, user, count, last
    return count


def queue_news(now: datetime.datetime | None = None) -> int:
    """The worker's job: queue the e-mails of the updates sent, CHUNK supporters at a time, each chunk composed
    before its short write; returns how many were queued."""
    now = now or timezone.now()
    deadline = time.monotonic() + PASS_SECONDS
    queued = 0
    for update in NewsUpdate.objects.filter(sent_at__isnull=False, queued_at__isnull=True).order_by("sent_at"):

        def composer(update: NewsUpdate = update) -> NewsComposer:
            campaign = Campaign.objects.select_related("organisation").prefetch_related("texts")
            return NewsComposer(update, campaign.get(pk=update.campaign_id))

        recipients = recipients_of(update).only("pk", "email", "language", "campaign_id", "created_at")
        queued += queue_in_chunks(
            update, ("queued_through", "recipients_until", "queued_at"), recipients, composer, now, deadline
        )
    return queued


def queue_in_chunks(
    row, fields: tuple[str, str, str], recipients: QuerySet, composer, now: datetime.datetime, deadline: float
) -> int:
    """Queue one e-mail per recipient of `row` (an update, a follow-up's invitations), CHUNK at a time, until
    done or the deadline; returns how many were queued.

    `fields` name row's cursor (the last signature queued), its last signature to reach, and when it was done.
    Each chunk is composed (by `composer()`'s `message`, made once) before a short transaction that moves the
    cursor from where this worker read it: if another worker moved it meanwhile, nothing is written twice.
    """
    cursor, until, done = fields
    made = None
    queued = 0
    while time.monotonic() < deadline:
        start = getattr(row, cursor)
        chunk = list(recipients.filter(pk__gt=start, pk__lte=getattr(row, until) or 0).order_by("pk")[:CHUNK])
        if not chunk:
            type(row).objects.filter(pk=row.pk).update(**{done: now})
            break
        made = made or composer()
        messages = stamped([made.message(s) for s in chunk], now)
        with transaction.atomic():
            durable_commit()
            if type(row).objects.filter(pk=row.pk, **{cursor: start}).update(**{cursor: chunk[-1].pk}):
                OutboxMessage.objects.bulk_create(messages)
                queued += len(messages)
        row.refresh_from_db(fields=[cursor])
    return queued


def record_in_audit_log(user, update: NewsUpdate, campaign: Campaign, count: int) -> None:
    summary = f"{update.get_language_display()}: {count} recipients"
    audit.record(user, audit.NEWS_SENT, update, organisation=campaign.organisation, summary=summary)


class NewsComposer:
    """The update's e-mail, rendered once; each supporter's copy differs only by its unsubscribe link."""

    def __init__(self, update: NewsUpdate, campaign: Campaign):
        self.campaign = campaign
        self.marker = f"unsubscribe-{uuid.uuid4().hex}"
        self.data_marker = f"my-data-{uuid.uuid4().hex}"
        with translation.override(update.language):
            campaign_url = absolute_url(campaign.get_absolute_url())
        self.subject, self.body = emails.news(
            update.language,
            campaign.text_for(update.language).title,
            campaign_url,
            update.subject,
            update.body,
            self.marker,
            self.data_marker,
        )
        self.paths: dict[str, str] = {}

    def unsubscribe_url(self, signature: Signature) -> str:
        """In the supporter's own language: the page they see when they open it."""
        if signature.language not in self.paths:
            with translation.override(signature.language):
                self.paths[signature.language] = reverse("news_unsubscribe", args=[_SLOT])
        path = self.paths[signature.language].replace(_SLOT, unsubscribe_token(signature.pk))
        return absolute_url(path)

    def message(self, signature: Signature) -> OutboxMessage:
        signature.campaign = self.campaign
        url = self.unsubscribe_url(signature)
        data_url = my_data_url(signature, signature.language)  # a preview's unsaved sample: the public form
        body = self.body.replace(self.marker, url).replace(self.data_marker, data_url)
        message = supporter_message(OutboxMessage.Kind.NEWS, signature, self.subject, body)
        message.list_unsubscribe = url
        message.list_unsubscribe_mailto = unsubscribe_mailto(signature.pk) if signature.pk else ""
        # Replies go to the organisers, not to the platform's unattended address.
        message.reply_to = self.campaign.organisation.contact_email
        return message


def preview(update: NewsUpdate) -> OutboxMessage:
    """The update as a supporter who signed in its language receives it (unsaved; its link leads nowhere)."""
    campaign = update.campaign
    sample = Signature(campaign=campaign, email="supporter@example.org", language=update.language)
    message = NewsComposer(update, campaign).message(sample)
    return stamped([message], timezone.now())[0]


def reach_counts(updates: list[NewsUpdate]) -> list[tuple[NewsUpdate, int, int]]:
    """For each update: how many supporters it reaches alone, and with "also to the other languages"."""
    return [
        (
            update,
            subscribers(update.campaign_id).filter(language__in=audience(update, updates, False)).count(),
            subscribers(update.campaign_id).filter(language__in=audience(update, updates, True)).count(),
        )
        for update in updates
    ]
