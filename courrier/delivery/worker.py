"""The delivery worker: claim due outbox rows with a lease, send them, record the answer.

The window in which a letter can be sent twice is between the receiving
server's "250" after DATA and the UPDATE that marks the row sent: each row
is marked in its own short transaction right after its own reply, so a
crash re-sends at most the messages in flight, with the same Message-ID.
"""

import datetime
import logging
import os
import socket
import time
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from courrier.delivery import enqueue
from courrier.delivery.compose import compose
from courrier.delivery.models import DeliveryAttempt, OutboxMessage
from courrier.delivery.transports import MaildirTransport, SendResult, SmtpTransport

log = logging.getLogger(__name__)
Status = OutboxMessage.Status
TALLY_REFRESH_SECONDS = 60


class Worker:
    def __init__(self, batch_size: int | None = None, lease_seconds: int | None = None):
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.batch_size = batch_size or settings.DELIVERY_BATCH_SIZE
        self.lease = datetime.timedelta(seconds=lease_seconds or settings.DELIVERY_LEASE_SECONDS)
        self.smtp = SmtpTransport()
        self.sandbox = MaildirTransport()
        self.tallies_refreshed_at = 0.0

    def run_once(self) -> int:
        """Do everything that is due now; returns how many messages were handled."""
        enqueue.queue_confirmations()
        touched = enqueue.queue_letters()
        if time.monotonic() - self.tallies_refreshed_at > TALLY_REFRESH_SECONDS:
            from courrier.campaigns.models import Campaign

            touched |= set(Campaign.objects.values_list("pk", flat=True))
            self.tallies_refreshed_at = time.monotonic()
        enqueue.refresh_tallies(touched)
        batch = self.claim()
        deadline = timezone.now() + self.lease * 0.8
        for index, message in enumerate(batch):
            if timezone.now() > deadline:
                # Give the rest back rather than send after our lease could have been taken over.
                self.release(batch[index:])
                break
            self.deliver(message)
        if not batch:
            self.smtp.close()  # do not hold an idle connection open between bursts
        return len(batch)

    def claim(self) -> list[OutboxMessage]:
        now = timezone.now()
        with transaction.atomic():
            expired = OutboxMessage.objects.filter(status=Status.SENDING, lease_expires_at__lt=now)
            due = OutboxMessage.objects.filter(status__in=[Status.QUEUED, Status.DEFERRED], next_attempt_at__lte=now)
            ids = list(expired.select_for_update(skip_locked=True).values_list("pk", flat=True)[: self.batch_size])
            if len(ids) < self.batch_size:
                due = due.order_by("next_attempt_at", "pk").select_for_update(skip_locked=True)
                ids += list(due.values_list("pk", flat=True)[: self.batch_size - len(ids)])
            if not ids:
                return []
            OutboxMessage.objects.filter(pk__in=ids).update(
                status=Status.SENDING,
                lease_expires_at=now + self.lease,
                claimed_by=self.name,
                attempts=F("attempts") + 1,
            )
        return list(OutboxMessage.objects.filter(pk__in=ids, claimed_by=self.name).order_by("pk"))

    def release(self, messages: list[OutboxMessage]) -> None:
        OutboxMessage.objects.filter(
            pk__in=[m.pk for m in messages], claimed_by=self.name, status=Status.SENDING
        ).update(status=Status.QUEUED, lease_expires_at=None, claimed_by="", attempts=F("attempts") - 1)

    def deliver(self, message: OutboxMessage) -> SendResult:
        transport = self.sandbox if message.sandbox else self.smtp
        try:
            data = compose(message)
        except (ValueError, TypeError) as exc:  # a header that cannot be written: retrying will not help
            result = SendResult("failed", None, f"could not compose: {exc}")
        else:
            result = transport.send(message.envelope_from, message.recipients(), data)
        self.record(message, result)
        return result

    def record(self, message: OutboxMessage, result: SendResult) -> None:
        now = timezone.now()
        mine = OutboxMessage.objects.filter(pk=message.pk, claimed_by=self.name, status=Status.SENDING)
        with transaction.atomic():
            if result.outcome == "sent":
                # Sent is the truth even if our lease was taken over meanwhile.
                OutboxMessage.objects.filter(pk=message.pk).exclude(status=Status.SENT).update(
                    status=Status.SENT, sent_at=now, lease_expires_at=None, last_reply=result.reply[:2000]
                )
            elif result.outcome == "deferred" and not message.is_too_old_to_retry(now):
                mine.update(
                    status=Status.DEFERRED,
                    next_attempt_at=now + message.retry_delay(),
                    lease_expires_at=None,
                    last_reply=result.reply[:2000],
                )
            else:
                if result.outcome == "deferred":
                    result = SendResult(
                        "failed", result.code, f"gave up after {message.attempts} attempts: {result.reply}"
                    )
                mine.update(status=Status.FAILED, lease_expires_at=None, last_reply=result.reply[:2000])
                log.warning("outbox message %s failed: %s", message.pk, result.reply[:200])
            DeliveryAttempt.objects.create(
                message=message,
                at=now,
                worker=self.name,
                outcome=result.outcome,
                smtp_code=result.code,
                reply=result.reply[:2000],
            )

    def close(self) -> None:
        self.smtp.close()
