"""The outbox: one row per outgoing message, the record of truth for delivery.

A row moves queued -> sending (leased to one worker) -> sent, or to deferred
(retried at next_attempt_at) or failed (permanent, with the server's answer).
A letter to a paused target is held (kept, never sent) until an organiser
resumes it (back to queued) or cancels it. Every move is a DeliveryEvent.
A signature waiting for its supporter's confirmation has no outbox row yet:
that state lives on the signature, so signing stays one INSERT.
A worker that dies leaves its rows in "sending"; once the lease expires any
worker claims them again, so a letter may go out twice but never zero times.
Its Message-ID is fixed when the row is created, so a duplicate is
recognisable as the same letter.
"""

import datetime
import random

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from courrier.campaigns.models import Campaign
from courrier.db.fields import (
    EmailDigestField,
    EncryptedBinaryField,
    EncryptedCharField,
    EncryptedEmailField,
    EncryptedJSONField,
    EncryptedTextField,
)
from courrier.db.lookups import AnyOf
from courrier.lib.crypto import email_digest

# The worker claims and reads back its batches by id: `pk__any_of=ids` (see courrier/db/lookups.py).
models.BigAutoField.register_lookup(AnyOf)


class OutboxQuerySet(models.QuerySet):
    """Every move of an outbox row's status, each in one place.

    A move changes only the rows that are, in the same UPDATE, in a state it may leave (TRANSITIONS), and writes
    one DeliveryEvent per row it moved; it returns how many it moved. Rows in any other state are left as
    they are: a letter cancelled while a worker sent it is not queued again by that worker. The worker
    gives its own events (`events=`) to write them with its batch instead of one statement each.

    The moves: queue (creating rows), lease (a worker claims due rows), mark_sent (the server took it),
    defer (try again later), fail (for good), hold (a target paused), release (resumed, or a lease given
    back or expired), cancel (never to be sent), and erase (the personal parts blanked on schedule).
    """

    def first_letters(self) -> "OutboxQuerySet":
        """The campaign's own letters, not its follow-ups'."""
        return self.filter(kind=OutboxMessage.Kind.LETTER, follow_up__isnull=True)

    def not_sent_yet(self) -> "OutboxQuerySet":
        """Waiting for its turn, a retry or a paused target: what a cancellation stops (besides "sending")."""
        return self.filter(status__in=OutboxMessage.NOT_SENT)

    def due(self, now: datetime.datetime) -> "OutboxQuerySet":
        return self.filter(status__in=OutboxMessage.DUE, next_attempt_at__lte=now)

    def leased_by(self, worker: str) -> "OutboxQuerySet":
        """The rows this worker holds a lease on: its only rows to move from "sending"."""
        return self.filter(status=OutboxMessage.Status.SENDING, claimed_by=worker)

    def _move(
        self,
        transition: str,
        note: str,
        now: datetime.datetime,
        status: str | None = None,
        worker: str = "",
        events: list | None = None,
        smtp_code: int | None = None,
        **changes,
    ) -> int:
        sources, reached = OutboxMessage.TRANSITIONS[transition]
        status = reached or status
        with transaction.atomic():
            rows = self.filter(status__in=sources)
            if connection.features.has_select_for_update:
                rows = rows.select_for_update()  # the ids read are the rows moved (SQLite: one writer anyway)
            ids = list(rows.values_list("pk", flat=True))
            if not ids:
                return 0
            OutboxMessage.objects.filter(pk__in=ids, status__in=sources).update(status=status, **changes)
            made = [
                DeliveryEvent(
                    message_id=pk, at=now, worker=worker, status=status, smtp_code=smtp_code, reply=note[:2000]
                )
                for pk in ids
            ]
            if events is None:
                DeliveryEvent.objects.bulk_create(made)
            else:
                events += made
        return len(ids)

    def queue(self, messages: list["OutboxMessage"], now: datetime.datetime) -> list["OutboxMessage"]:
        """Write new messages (queued, or held when a target of theirs is paused, with an event saying so)."""
        created = self.bulk_create(messages)
        DeliveryEvent.objects.bulk_create(
            DeliveryEvent(message=message, at=now, status=message.status, reply="a target of this letter is paused")
            for message in created
            if message.status == OutboxMessage.Status.HELD
        )
        return created

    def lease(self, ids: list[int], worker: str, now: datetime.datetime, until: datetime.datetime) -> int:
        """Claim these due rows for `worker` until `until`: one more attempt, dated at the first one.

        No event: a lease is not an outcome, and its attempt's outcome is the event (DeliveryEvent's docs).
        """
        return self.filter(pk__any_of=ids, status__in=OutboxMessage.TRANSITIONS["lease"][0]).update(
            status=OutboxMessage.Status.SENDING,
            lease_expires_at=until,
            claimed_by=worker,
            attempts=F("attempts") + 1,
            # The Date header: the first attempt's time, kept for every retry (same bytes each time).
            dated_at=Coalesce("dated_at", Value(now)),
        )

    @staticmethod
    def lease_unsaved(
        messages: list["OutboxMessage"], worker: str, now: datetime.datetime, until: datetime.datetime, limit: int
    ) -> list["OutboxMessage"]:
        """Lease new messages, before they are written, to the worker that will send them in this pass, as
        `lease` would lease them once written (enqueue.Lease): at most `limit` of those due now, the others
        staying queued."""
        leased: list[OutboxMessage] = []
        for message in messages:
            if message.pk is not None:
                raise ValueError("only a message not written yet is leased as it is written")
            if len(leased) >= limit:
                break
            if message.status in OutboxMessage.TRANSITIONS["lease"][0] and message.next_attempt_at <= now:
                message.status = OutboxMessage.Status.SENDING
                message.lease_expires_at, message.claimed_by = until, worker
                message.attempts += 1
                message.dated_at = message.dated_at or now
                leased.append(message)
        return leased

    def give_back(self, ids: list[int], worker: str) -> int:
        """A worker returns rows it leased and did not try (its lease was running out): not an attempt."""
        return (
            self.filter(pk__any_of=ids)
            .leased_by(worker)
            .update(
                status=OutboxMessage.Status.QUEUED, lease_expires_at=None, claimed_by="", attempts=F("attempts") - 1
            )
        )

    def reclaim_expired(self, now: datetime.datetime, worker: str, limit: int = 1000) -> int:
        """Rows left "sending" by a worker that died go back to the queue, in their turn."""
        expired = self.filter(status=OutboxMessage.Status.SENDING, lease_expires_at__lt=now)
        with transaction.atomic():  # the rows locked are the rows moved; another worker skips them
            ids = list(expired.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
            return OutboxMessage.objects.filter(pk__any_of=ids)._move(
                "reclaim",
                "lease expired: the worker sending it stopped",
                now,
                worker=worker,
                next_attempt_at=now,
                lease_expires_at=None,
                claimed_by="",
            )

    def mark_sent(self, marks: list[tuple[int, datetime.datetime, int | None, str]], worker: str) -> None:
        """The server took these messages (id, when, SMTP code, reply): sent, with every recipient, and logged.

        Sent is the truth whatever the row's state meanwhile (a lease taken over, a cancellation too late).
        """
        # Imported here: sent_marks writes its statements from this module's models.
        from courrier.delivery import sent_marks

        sent_marks.mark_sent(marks, worker)

    def defer(self, until: datetime.datetime, reply: str, now: datetime.datetime, **options) -> int:
        return self._move(
            "defer",
            reply,
            now,
            next_attempt_at=until,
            lease_expires_at=None,
            last_reply=reply[:2000],
            **options,
        )

    def fail(self, reply: str, now: datetime.datetime, **options) -> int:
        return self._move("fail", reply, now, lease_expires_at=None, last_reply=reply[:2000], **options)

    def hold(self, note: str, now: datetime.datetime, **options) -> int:
        return self._move("hold", note, now, lease_expires_at=None, **options)

    def release(self, note: str, now: datetime.datetime, **options) -> int:
        """Held letters back to the queue, due now."""
        return self._move("release", note, now, next_attempt_at=now, **options)

    def cancel(self, note: str, now: datetime.datetime, **options) -> int:
        """Never to be sent. One being sent right now may still leave: its worker marks it sent if the server
        took it, and cannot retry it otherwise (it is no longer "sending")."""
        return self._move("cancel", note, now, lease_expires_at=None, **options)

    def settle(self, status: str, reply: str, now: datetime.datetime, **options) -> int:
        """To the state its recipients make (sent, deferred or failed: delivery/recipients.py decides)."""
        return self._move(
            "settle", reply, now, status=status, lease_expires_at=None, last_reply=reply[:2000], **options
        )

    def log(self, reply: str, now: datetime.datetime, worker: str = "") -> int:
        """No move: what a server said of these messages (a bounce for one recipient while others wait)."""
        ids = list(self.values_list("pk", flat=True))
        OutboxMessage.objects.filter(pk__in=ids).update(last_reply=reply[:2000])
        DeliveryEvent.objects.bulk_create(
            DeliveryEvent(message_id=pk, at=now, worker=worker, status=status, reply=reply[:2000])
            for pk, status in OutboxMessage.objects.filter(pk__in=ids).values_list("pk", "status")
        )
        return len(ids)

    def erase(self, now: datetime.datetime) -> int:
        """Blank the personal parts of these messages, as their kind decides (PERSONAL_PARTS)."""
        erased = 0
        for kinds, parts in OutboxMessage.PERSONAL_PARTS:
            erased += self.filter(kind__in=kinds).update(**parts, personal_data_erased_at=now)
        return erased


class OutboxMessage(models.Model):
    class Kind(models.TextChoices):
        CONFIRMATION = "confirmation", _("Confirmation request")
        ALREADY_SIGNED = "already_signed", _("Already signed notice")
        LETTER = "letter", _("Letter to the targets")
        COPY = "copy", _("Copy to the supporter")
        DIGEST = "digest", _("Digest of letters to a target")
        STAFF_ALERT = "staff_alert", _("Alert to staff")
        NEWS = "news", _("News to supporters")
        TEST = "test", _("Test letter to an organiser")
        DATA_LINK = "data_link", _("Link to see and erase one's data")
        INVITATION = "invitation", _("Invitation to an organisation's team")
        ANSWER = "answer", _("A recipient's answer, passed on to the supporter")
        HAND_OVER = "hand_over", _("Final hand-over of the letters to a target")
        FOLLOW_UP_INVITATION = "follow_up", _("Invitation to send a follow-up letter")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending (leased)")
        SENT = "sent", _("Sent")
        DEFERRED = "deferred", _("Deferred (will retry)")
        HELD = "held", _("Held (target paused)")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    NOT_SENT = (Status.QUEUED, Status.DEFERRED, Status.HELD)
    DUE = (Status.QUEUED, Status.DEFERRED)
    # Each move of OutboxQuerySet: the statuses it may leave (checked in its UPDATE), and the one it reaches.
    TRANSITIONS = {
        "lease": (DUE, Status.SENDING),
        "give_back": ((Status.SENDING,), Status.QUEUED),  # a lease its worker did not use
        "reclaim": ((Status.SENDING,), Status.QUEUED),  # a lease its worker did not live to finish
        "defer": ((Status.SENDING,), Status.DEFERRED),
        "fail": ((Status.SENDING, Status.SENT), Status.FAILED),  # a bounce after the server took it
        "hold": ((Status.QUEUED, Status.DEFERRED, Status.SENDING), Status.HELD),
        "release": ((Status.HELD,), Status.QUEUED),
        "cancel": ((*NOT_SENT, Status.SENDING), Status.CANCELLED),
        # The state a letter's recipients make (delivery/recipients.py): whatever it is, never once cancelled.
        "settle": ((*NOT_SENT, Status.SENDING, Status.SENT, Status.FAILED), None),
    }
    # Sent to targets, each with its own Recipient row (delivery/recipients.py): what the worker paces, retries
    # per recipient and reports on.
    TARGET_KINDS = (Kind.LETTER, Kind.DIGEST, Kind.HAND_OVER)
    SUPPORTER_KINDS = (
        Kind.CONFIRMATION,
        Kind.ALREADY_SIGNED,
        Kind.COPY,
        Kind.NEWS,
        Kind.DATA_LINK,
        Kind.ANSWER,
        Kind.FOLLOW_UP_INVITATION,
    )
    # What erasing a message blanks, by kind. A letter's To and Cc are its targets (public institutions):
    # kept, so the statistics per target stay right. A supporter's mail loses its recipient and any server
    # reply, which may quote the address.
    PERSONAL_PARTS = (
        (
            SUPPORTER_KINDS,
            {"to": [], "cc": [], "reply_to": "", "subject": "", "body": "", "list_unsubscribe": "", "last_reply": ""},
        ),
        (
            (Kind.LETTER,),
            {"from_name": "", "reply_to": "", "reply_to_name": "", "subject": "", "body": "", "attachment": None},
        ),
        ((Kind.DIGEST, Kind.HAND_OVER), {"body": "", "attachment": None}),
        ((Kind.STAFF_ALERT, Kind.TEST), {"subject": "", "body": "", "last_reply": ""}),
    )

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="outbox")
    signature = models.ForeignKey(
        "signatures.Signature", null=True, blank=True, on_delete=models.SET_NULL, related_name="outbox"
    )
    # What belongs to a follow-up (delivery/follow_ups.py): its letters, their copies, digests and invitations;
    # None for the campaign's own letter and everything else.
    follow_up = models.ForeignKey(
        "campaigns.FollowUp", null=True, blank=True, on_delete=models.PROTECT, related_name="outbox"
    )
    message_id = models.CharField(_("Message-ID"), max_length=200, unique=True)
    sandbox = models.BooleanField(_("sandbox"), default=True, help_text=_("Written to the local mailbox, never sent."))
    # What may carry a supporter's data is encrypted at rest (courrier/db/fields.py): the sender's name
    # (a letter goes "from" the supporter), the addresses, the subject and body, the attachment, and what
    # servers answered (a refusal quotes the address). The database cannot filter on these.
    from_name = EncryptedCharField(_("sender name"), max_length=250)
    from_email = models.EmailField(_("sender address"))
    envelope_from = models.EmailField(_("envelope sender"))
    to = EncryptedJSONField(_("to"), default=list)
    cc = EncryptedJSONField(_("cc"), default=list, blank=True)
    reply_to = EncryptedEmailField(_("reply to"), blank=True)
    # A letter's Reply-To shows the supporter's name before the campaign's relay address (delivery/answers.py).
    reply_to_name = EncryptedCharField(_("reply-to name"), max_length=250, blank=True)
    subject = EncryptedCharField(_("subject"), max_length=300)
    body = EncryptedTextField(_("body"))
    auto_submitted = models.BooleanField(default=False)
    # News only: the one-click unsubscribe address (RFC 8058), sent as List-Unsubscribe.
    list_unsubscribe = models.URLField(_("unsubscribe address"), max_length=500, blank=True)
    # And the signed address a mail client may write to instead (news/subscriptions.py).
    list_unsubscribe_mailto = models.CharField(max_length=254, blank=True)
    attachment_name = models.CharField(max_length=100, blank=True)
    attachment = EncryptedBinaryField(null=True, blank=True)
    # Letters and digests: the targets they go to, each a Recipient with what happened to the message there;
    # and those targets' ids as one string, so the worker can pace each group of targets without a join.
    targets = models.ManyToManyField(
        "campaigns.Target",
        blank=True,
        related_name="outbox",
        through="Recipient",
        through_fields=("outboxmessage", "target"),
    )
    pacing_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # The Date header: stamped at the first attempt (a letter may wait hours behind pacing, and a Date hours
    # in the past reads as spam), then kept, so that every retry sends the same bytes.
    dated_at = models.DateTimeField(_("dated"), null=True, blank=True)

    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)
    claimed_by = models.CharField(_("worker"), max_length=100, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    last_reply = EncryptedTextField(_("last server reply"), blank=True)
    failure_reported = models.BooleanField(default=False, editable=False)
    # Told to staff because it kept waiting for a relay that deferred it for DELIVERY_DEFERRED_ALERT_SECONDS.
    deferral_reported = models.BooleanField(default=False, editable=False)
    # Mail to a supporter: a keyed digest of their address, so the worker can cap the mails one
    # address receives a day without keeping the address readable.
    recipient_digest = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    # When the personal parts of the message (body, addresses) were erased after delivery.
    personal_data_erased_at = models.DateTimeField(_("personal data erased"), null=True, blank=True)

    objects = OutboxQuerySet.as_manager()

    class Meta:
        verbose_name = _("outgoing message")
        verbose_name_plural = _("outbox")
        ordering = ["-id"]
        # Plain composite indexes, not partial ones: SQLite uses a partial index only
        # when the query repeats its condition literally, and Django binds parameters.
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due"),
            models.Index(fields=["status", "lease_expires_at"], name="outbox_leased"),
            models.Index(fields=["kind", "status", "next_attempt_at"], name="outbox_due_by_kind"),
            models.Index(fields=["pacing_key", "status", "next_attempt_at"], name="outbox_due_by_targets"),
            models.Index(fields=["status", "failure_reported"], name="outbox_failures"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.message_id}"

    def recipients(self) -> list[str]:
        return [*self.to, *self.cc]

    def target_ids(self) -> set[int]:
        """The targets of a letter, read from its pacing key (no query)."""
        return {int(pk) for pk in self.pacing_key.split("-") if pk}

    def retry_delay(self) -> datetime.timedelta:
        """About a minute after the first failure, doubling, at most about an hour (jittered)."""
        return self.retry_delay_after(self.attempts)

    @staticmethod
    def retry_delay_after(attempts: int) -> datetime.timedelta:
        """The wait after `attempts` failed tries (of a message, or of one of its recipients)."""
        base = settings.DELIVERY_RETRY_BASE_SECONDS * 2 ** min(max(attempts - 1, 0), 20)
        seconds = min(base, settings.DELIVERY_RETRY_MAX_SECONDS)
        return datetime.timedelta(seconds=seconds * random.uniform(0.9, 1.1))

    def is_too_old_to_retry(self, now: datetime.datetime) -> bool:
        return now - self.created_at > datetime.timedelta(days=settings.DELIVERY_MAX_AGE_DAYS)


class Recipient(models.Model):
    """One address of a letter or digest (a target), and what became of the message there.

    A letter goes To the embassy with a copy to the campaign's allies in one message, yet each of them
    answers on its own: accepted (2xx), refused for now (4xx: that recipient alone is tried again later, on
    its own backoff, with the same Message-ID and bytes), refused for good (5xx, or a bounce later). The
    message is sent once every recipient has accepted it; when none is left to try, its state follows its To
    recipients: sent if they all accepted it, failed otherwise (a refused copy is recorded on its recipient).
    delivery/recipients.py owns these moves.

    The table was the plain many-to-many link of OutboxMessage.targets: its two columns keep their names.
    Mail to a supporter has no Recipient rows: its one recipient's state is the message's.
    """

    class Role(models.TextChoices):
        TO = "to", _("To")
        CC = "cc", _("Copy (Cc)")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        DEFERRED = "deferred", _("Deferred (will retry)")
        FAILED = "failed", _("Failed")

    outboxmessage = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="recipients_of")
    target = models.ForeignKey("campaigns.Target", on_delete=models.CASCADE, related_name="deliveries")
    # The target's address when the message was written (a target may be re-addressed later): a public
    # institution's, in clear.
    address = models.CharField(_("address"), max_length=254, blank=True)
    role = models.CharField(_("role"), max_length=2, choices=Role.choices, default=Role.TO)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    smtp_code = models.IntegerField(_("SMTP code"), null=True, blank=True)
    last_reply = EncryptedTextField(_("last server reply"), blank=True)

    class Meta:
        db_table = "delivery_outboxmessage_targets"
        unique_together = [("outboxmessage", "target")]
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")

    def __str__(self) -> str:
        return f"{self.address} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.DEFERRED)


class DeliveryEvent(models.Model):
    """One move of a message: an attempt and the server's reply, a hold, a bounce, a cancellation."""

    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(_("at"), default=timezone.now)
    worker = models.CharField(_("by"), max_length=100, blank=True)
    status = models.CharField(_("new status"), max_length=10, choices=OutboxMessage.Status.choices)
    smtp_code = models.IntegerField(_("SMTP code"), null=True, blank=True)
    reply = EncryptedTextField(_("server reply or note"), blank=True)

    class Meta:
        verbose_name = _("delivery event")
        verbose_name_plural = _("delivery events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.status} {self.smtp_code or ''}"


class Bounce(models.Model):
    """A receiving server's later refusal of a letter, read from a bounce message sent to its VERP address."""

    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="bounces")
    at = models.DateTimeField(_("at"), default=timezone.now)
    # The refused address may be a supporter's (a confirmation that bounced): encrypted, and told apart
    # from the others by its digest. The domain stays readable: policy blocks are counted per domain.
    recipient = EncryptedCharField(_("recipient"), max_length=254, blank=True)
    # "" without an address, not NULL: a report read twice must still meet the unique constraint.
    recipient_digest = EmailDigestField(source="recipient", max_length=64, null=False, default="")
    domain = models.CharField(_("domain"), max_length=254, blank=True, db_index=True)
    status = models.CharField(_("status code"), max_length=16)
    diagnostic = EncryptedTextField(_("diagnostic"), blank=True)

    class Meta:
        verbose_name = _("bounce")
        verbose_name_plural = _("bounces")
        constraints = [
            models.UniqueConstraint(
                fields=["message", "recipient_digest", "status"], name="one_bounce_per_recipient_status"
            )
        ]

    def __str__(self) -> str:
        return f"{self.status} {self.recipient}"

    @property
    def is_policy_block(self) -> bool:
        return self.status.startswith("5.7.")


class DigestEntryQuerySet(models.QuerySet):
    def pending(self) -> "DigestEntryQuerySet":
        """Waiting for their target's next digest: not in one yet, not cancelled."""
        return self.filter(digest__isnull=True, cancelled_at__isnull=True)


class DigestEntry(models.Model):
    """One supporter's letter to a target in digest mode, written when the letter is queued.

    The worker writes an entry for each digest target among the letter's own recipients (the campaign's
    active targets then, or the supporter's directory entry), never for a target added or switched to
    digests later: a target's digests list exactly the letters addressed to it since it took them,
    as they were written (edited, bilingual), not the model letter as it reads on the day of the
    digest. The digest that lists it claims it by setting `digest`, in the transaction that creates
    the digest, so an entry is in exactly one digest; the entry's personal parts are then erased,
    since the digest now holds them (and is erased on the outbox's schedule).
    """

    target = models.ForeignKey("campaigns.Target", on_delete=models.CASCADE, related_name="digest_entries")
    signature = models.ForeignKey("signatures.Signature", on_delete=models.CASCADE, related_name="digest_entries")
    # The follow-up whose letter this is; None for the campaign's own letter.
    follow_up = models.ForeignKey(
        "campaigns.FollowUp", null=True, blank=True, on_delete=models.CASCADE, related_name="digest_entries"
    )
    queued_at = models.DateTimeField(default=timezone.now)
    # Who signed, as the digest lists them: name, organisation and role, city, personal sentence.
    listing = EncryptedJSONField(default=dict, blank=True)
    subject = EncryptedCharField(max_length=300, blank=True)
    body = EncryptedTextField(blank=True)
    digest = models.ForeignKey(
        OutboxMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="digest_entries"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)

    objects = DigestEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("letter waiting for a digest")
        verbose_name_plural = _("letters waiting for a digest")
        indexes = [models.Index(fields=["target", "digest", "cancelled_at"], name="digest_entries_pending")]
        constraints = [
            models.UniqueConstraint(
                fields=["target", "signature"], condition=Q(follow_up__isnull=True), name="one_digest_entry_per_letter"
            ),
            models.UniqueConstraint(
                fields=["target", "signature", "follow_up"],
                condition=Q(follow_up__isnull=False),
                name="one_digest_entry_per_follow_up_letter",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} → {self.target_id}"


class UndeliverableAddress(models.Model):
    """A supporter's address that bounced for good (no such mailbox): no more news or notices go to it.

    Kept by the keyed digest of the address only, like the daily cap's counts: the address itself is not.
    """

    email_digest = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("undeliverable address")
        verbose_name_plural = _("undeliverable addresses")

    def __str__(self) -> str:
        return f"{self.email_digest[:8]}… {self.status}"

    @classmethod
    def record(cls, address: str, status: str, at: datetime.datetime) -> None:
        cls.objects.update_or_create(email_digest=email_digest(address), defaults={"status": status[:16], "at": at})

    @classmethod
    def digests_among(cls, digests) -> set[str]:
        return set(cls.objects.filter(email_digest__in=list(digests)).values_list("email_digest", flat=True))


class ProgressFigures(models.Model):
    """A campaign's progress page in figures as last counted, and what counting them cost (delivery/progress.py)."""

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="+")
    figures = models.JSONField()
    counted_at = models.DateTimeField()
    seconds = models.FloatField()

    class Meta:
        verbose_name = _("figures of a campaign's progress")
        verbose_name_plural = _("figures of campaigns' progress")

    def __str__(self) -> str:
        return f"{self.campaign_id} ({self.counted_at:%Y-%m-%d %H:%M})"


class AnswerQuerySet(models.QuerySet):
    def from_targets(self) -> "AnswerQuerySet":
        """Written by a person at one of the letter's recipients: not automatic, not held as a stranger's."""
        return self.filter(automatic=False, target__isnull=False)

    def published(self) -> "AnswerQuerySet":
        return self.from_targets().filter(published_at__isnull=False).exclude(published_text="")


class Answer(models.Model):
    """What came back to the Reply-To of a supporter's letter or of a hand-over (delivery/answers.py records it).

    Matched to its letter through the signed reply address, kept once per Message-ID. An answer from an
    address that is not one of the letter's recipients has no target: it is held for an organiser, never
    passed on. What it says is encrypted like everything a supporter's letter touches; the excerpt an
    organiser publishes on the campaign page is public by their choice.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="answers")
    signature = models.ForeignKey(
        "signatures.Signature", null=True, blank=True, on_delete=models.SET_NULL, related_name="answers"
    )
    target = models.ForeignKey(
        "campaigns.Target", null=True, blank=True, on_delete=models.SET_NULL, related_name="answers"
    )
    message_id = models.CharField(_("Message-ID"), max_length=300)
    # Which of our reply addresses it came to ("r<signature id>", "h<target id>"): one answer sent to several
    # (a reply to many letters at once) is kept once for each.
    address_key = models.CharField(max_length=24, default="")
    sender = EncryptedEmailField(_("from"))
    subject = EncryptedCharField(_("subject"), max_length=300, blank=True)
    body = EncryptedTextField(_("text"), blank=True)
    automatic = models.BooleanField(_("automatic answer"), default=False)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    # The supporter asked for the answers: the outbox message that passed this one on.
    forwarded = models.ForeignKey(OutboxMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    published_text = models.TextField(_("published on the campaign page"), blank=True)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)

    objects = AnswerQuerySet.as_manager()

    class Meta:
        verbose_name = _("answer from a recipient")
        verbose_name_plural = _("answers from the recipients")
        indexes = [models.Index(fields=["campaign", "target", "received_at"], name="answer_by_target")]
        constraints = [models.UniqueConstraint(fields=["message_id", "address_key"], name="one_answer_per_address")]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.received_at:%Y-%m-%d %H:%M}"

    @property
    def is_held(self) -> bool:
        """From an address the letter was not sent to: an organiser looks before anything is done with it."""
        return self.target_id is None

    @property
    def in_person(self) -> bool:
        """Written by one of the letter's recipients (AnswerQuerySet.from_targets, for one answer)."""
        return not self.automatic and not self.is_held


class AnswerAttachment(models.Model):
    """A file that came with an answer: kept, encrypted, while the answer's files stay within
    ANSWER_ATTACHMENTS_MAX_BYTES; past it, only its name and size (content None)."""

    answer = models.ForeignKey(Answer, on_delete=models.CASCADE, related_name="attachments")
    filename = EncryptedCharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    content = EncryptedBinaryField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.answer_id}: {self.size} bytes"
