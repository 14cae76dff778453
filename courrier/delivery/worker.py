"""The delivery worker: claim due outbox rows with a lease, send them, record the answer.

The window in which a letter can be sent twice is between the receiving
server's "250" after DATA and the commit of the UPDATE that marks the row
sent. A second thread (marks.SentMarker) commits those UPDATEs, with the
events that log them, a few milliseconds' worth of letters at a time, so a
crash re-sends at most the letters of those few milliseconds, with the same
Message-ID.
"""

import contextlib
import datetime
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from courrier.campaigns.models import Campaign, Target
from courrier.delivery import alerts, bounces, digests, enqueue, pacing
from courrier.delivery.compose import compose
from courrier.delivery.dkim import dkim_sign
from courrier.delivery.marks import SentMarker
from courrier.delivery.models import DeliveryEvent, OutboxMessage
from courrier.delivery.transports import MaildirTransport, SendResult, SmtpTransport
from courrier.delivery.verp import verp_address
from courrier.signatures import my_data, retention

log = logging.getLogger(__name__)
Status = OutboxMessage.Status
PERIODIC_SECONDS = 60
# Wall-clock seconds, not the worker's clock: tests that simulate days must not run it every simulated minute.
STATISTICS_SECONDS = 600
# Retention (signatures/retention.py) by the worker's clock: its dates are days, so every ten minutes is plenty.
RETENTION_SECONDS = 600
UNPACED_KINDS = [kind for kind in OutboxMessage.Kind.values if kind != OutboxMessage.Kind.LETTER]


@dataclass(frozen=True)
class Prepared:
    """A message ready to go: its return path and its bytes, or why it could not be composed."""

    envelope_from: str
    data: bytes | None
    problem: str = ""


class Worker:
    def __init__(
        self,
        batch_size: int | None = None,
        lease_seconds: int | None = None,
        clock: Callable[[], datetime.datetime] = timezone.now,
    ):
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.batch_size = batch_size or settings.DELIVERY_BATCH_SIZE
        self.lease = datetime.timedelta(seconds=lease_seconds or settings.DELIVERY_LEASE_SECONDS)
        self.clock = clock
        self.smtp = SmtpTransport()
        self.sandbox = MaildirTransport()
        self.periodic_done_at: datetime.datetime | None = None
        self.reclaimed_at: datetime.datetime | None = None
        self.statistics_at: float | None = None
        self.retention_done_at: datetime.datetime | None = None
        self.pending_events: list[DeliveryEvent] = []
        self.marker = SentMarker(self.name, prepare_connection=prefer_fast_commits)
        self.paused_targets: set[int] = set()  # paused during the current batch

    def run_once(self) -> int:
        """Do everything that is due now; returns how many messages were handled."""
        now = self.clock()
        enqueue.queue_confirmations(now)
        my_data.queue_data_links(now)  # someone asked for their links on the site: mail them promptly
        touched = enqueue.queue_letters(now)
        if self.periodic_done_at is None or now - self.periodic_done_at >= datetime.timedelta(seconds=PERIODIC_SECONDS):
            self.periodic_done_at = now
            touched |= set(Campaign.objects.values_list("pk", flat=True))
            digests.queue_due_digests(now)
            alerts.report_failures(now)
            if self.retention_done_at is None or now - self.retention_done_at >= datetime.timedelta(
                seconds=RETENTION_SECONDS
            ):
                self.retention_done_at = now
                retention.run(now)
        enqueue.refresh_tallies(touched)
        if self.reclaimed_at is None or now - self.reclaimed_at >= self.lease / 4:
            self.reclaimed_at = now
            self.reclaim_expired_leases(now)
        prefer_fast_commits()
        self.paused_targets = set()
        batch = self.claim(now)
        deadline = now + self.lease * 0.8
        try:
            self.send_batch(batch, deadline)
        finally:
            self.marker.wait()
            self.flush_events()
        if not batch:
            self.smtp.close()  # do not hold an idle connection open between bursts
        self.refresh_planner_statistics()
        return len(batch)

    def refresh_planner_statistics(self) -> None:
        """On SQLite, now and then, let the query planner learn how selective the indexes are.

        PostgreSQL's autovacuum does this by itself. Without statistics, SQLite
        looked for newly confirmed signatures through the campaign index, so
        every pass of the worker read every signature of the campaign (26 ms
        at 80,000 signatures, 2 ms once it knew). PRAGMA optimize analyses only
        the tables that this connection's queries used and that need it, as
        SQLite advises for long-lived connections: hence after a pass.
        """
        if connection.vendor != "sqlite":
            return
        started = time.monotonic()
        if self.statistics_at is not None and started - self.statistics_at < STATISTICS_SECONDS:
            return
        self.statistics_at = started
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA optimize")

    def reclaim_expired_leases(self, now: datetime.datetime) -> None:
        """Rows left "sending" by a worker that died go back to the queue, in their turn."""
        with transaction.atomic():
            expired = OutboxMessage.objects.filter(status=Status.SENDING, lease_expires_at__lt=now)
            ids = list(expired.select_for_update(skip_locked=True).values_list("pk", flat=True)[:1000])
            if ids:
                OutboxMessage.objects.filter(pk__any_of=ids).update(
                    status=Status.QUEUED, next_attempt_at=now, lease_expires_at=None, claimed_by=""
                )
                DeliveryEvent.objects.bulk_create(
                    DeliveryEvent(
                        message_id=pk,
                        at=now,
                        worker=self.name,
                        status=Status.QUEUED,
                        reply="lease expired: the worker sending it stopped",
                    )
                    for pk in ids
                )

    def claim(self, now: datetime.datetime) -> list[OutboxMessage]:
        with transaction.atomic():
            due = OutboxMessage.objects.filter(status__in=[Status.QUEUED, Status.DEFERRED], next_attempt_at__lte=now)
            # Paced letters first: they take few places, and a backlog of supporter
            # mail must not make a target miss its slots.
            ids = self.claim_paced_letters(due.filter(kind=OutboxMessage.Kind.LETTER), now, self.batch_size)
            unpaced = due.filter(kind__in=UNPACED_KINDS).order_by("next_attempt_at", "pk")
            ids += list(
                unpaced.select_for_update(skip_locked=True).values_list("pk", flat=True)[: self.batch_size - len(ids)]
            )
            if not ids:
                return []
            OutboxMessage.objects.filter(pk__any_of=ids).update(
                status=Status.SENDING,
                lease_expires_at=now + self.lease,
                claimed_by=self.name,
                attempts=F("attempts") + 1,
            )
        return list(OutboxMessage.objects.filter(pk__any_of=ids, claimed_by=self.name).order_by("pk"))

    def claim_paced_letters(self, due, now: datetime.datetime, room: int) -> list[int]:
        """For each group of targets with letters due, take as many as its pace allows now."""
        if room <= 0:
            return []
        keys = list(due.order_by().values_list("pacing_key", flat=True).distinct()[:200])
        target_ids = {int(pk) for key in keys for pk in key.split("-") if pk}
        # Locking the targets makes two workers take distinct slots.
        targets = {t.pk: t for t in Target.objects.select_for_update(skip_locked=True).filter(pk__in=target_ids)}
        ids: list[int] = []
        for key in keys:
            group = [targets.get(int(pk)) for pk in key.split("-") if pk]
            if None in group:
                continue  # locked by another worker, or gone
            count = pacing.slots_available(group, now, room - len(ids))
            if count <= 0:
                continue
            letters = due.filter(pacing_key=key).order_by("next_attempt_at", "pk").select_for_update(skip_locked=True)
            taken = list(letters.values_list("pk", flat=True)[:count])
            if taken:
                Target.objects.bulk_update(pacing.take_slots(group, now, len(taken)), ["next_send_at"])
                ids += taken
            if len(ids) >= room:
                break
        return ids

    def release(self, messages: list[OutboxMessage]) -> None:
        OutboxMessage.objects.filter(
            pk__any_of=[m.pk for m in messages], claimed_by=self.name, status=Status.SENDING
        ).update(status=Status.QUEUED, lease_expires_at=None, claimed_by="", attempts=F("attempts") - 1)

    def send_batch(self, batch: list[OutboxMessage], deadline: datetime.datetime) -> None:
        """Send the claimed messages in turn, each one prepared while the server reads the one before."""
        prepared: dict[int, Prepared] = {}
        for index, message in enumerate(batch):
            if self.clock() > deadline:
                # Give the rest back rather than send after our lease could have been taken over.
                self.release(batch[index:])
                return
            upcoming = batch[index + 1] if index + 1 < len(batch) else None

            def prepare_upcoming(upcoming: OutboxMessage | None = upcoming) -> None:
                if upcoming is not None:
                    with contextlib.suppress(Exception):  # it fails again, in its own turn, where it is handled
                        prepared[upcoming.pk] = self.prepare(upcoming)

            self.deliver(message, prepared.pop(message.pk, None), meanwhile=prepare_upcoming)

    def prepare(self, message: OutboxMessage) -> Prepared:
        envelope_from = verp_address(message)
        try:
            return Prepared(envelope_from, dkim_sign(compose(message)))
        except (ValueError, TypeError) as exc:  # a header that cannot be written: retrying will not help
            return Prepared(envelope_from, None, f"could not compose: {exc}")

    def deliver(
        self, message: OutboxMessage, prepared: Prepared | None = None, meanwhile: Callable[[], None] | None = None
    ) -> SendResult | None:
        if self.paused_targets & message.target_ids():
            self.hold(message)
            return None
        prepared = prepared or self.prepare(message)
        if prepared.data is None:
            result = SendResult("failed", None, prepared.problem)
        else:
            transport = self.sandbox if message.sandbox else self.smtp
            result = transport.send(prepared.envelope_from, message.recipients(), prepared.data, meanwhile)
        self.record(message, result)
        return result

    def record(self, message: OutboxMessage, result: SendResult) -> None:
        """One UPDATE per message: the row's status is the record of truth.

        A sent letter is marked, and its event logged, by the SentMarker thread
        while the next ones are being sent. The events of other moves are
        written with the batch's others (flush_events): if the worker dies
        first, the row still holds the status and last reply.
        """
        now = self.clock()
        reply = result.reply[:2000]
        if result.outcome == "sent":
            # Sent is the truth even if our lease was taken over meanwhile. The marker logs the event too.
            self.marker.mark(message.pk, now, result.code, reply)
            return
        if result.outcome == "deferred" and not message.is_too_old_to_retry(now):
            self.leased(message).update(
                status=Status.DEFERRED,
                next_attempt_at=now + message.retry_delay(),
                lease_expires_at=None,
                last_reply=reply,
            )
            status = Status.DEFERRED
        else:
            if result.outcome == "deferred":
                reply = f"gave up after {message.attempts} attempts: {reply}"[:2000]
            self.leased(message).update(status=Status.FAILED, lease_expires_at=None, last_reply=reply)
            status = Status.FAILED
            # The reply may quote an address: log the message id and code only, never personal data.
            log.warning("outbox message %s failed (SMTP %s)", message.pk, result.code)
            if message.kind == OutboxMessage.Kind.LETTER:
                self.paused_targets |= {t.pk for t in bounces.record_rejection(message, reply, now)}
        self.pending_events.append(
            DeliveryEvent(
                message_id=message.pk, at=now, worker=self.name, status=status, smtp_code=result.code, reply=reply
            )
        )

    def leased(self, message: OutboxMessage):
        """The message's row while our lease on it holds.

        Only built when a message is not sent: building it for every letter was a fifth of the loop's time.
        """
        return OutboxMessage.objects.filter(pk=message.pk, claimed_by=self.name, status=Status.SENDING)

    def hold(self, message: OutboxMessage) -> None:
        """A target of this claimed letter was paused during the batch: keep the letter, do not send it."""
        OutboxMessage.objects.filter(pk=message.pk, claimed_by=self.name).update(
            status=Status.HELD, lease_expires_at=None
        )
        self.pending_events.append(
            DeliveryEvent(
                message_id=message.pk,
                at=self.clock(),
                worker=self.name,
                status=Status.HELD,
                reply="held: a target of this letter was paused while it waited to be sent",
            )
        )

    def flush_events(self) -> None:
        if self.pending_events:
            DeliveryEvent.objects.bulk_create(self.pending_events)
            self.pending_events = []

    def close(self) -> None:
        self.marker.close()
        self.smtp.close()


def prefer_fast_commits() -> None:
    """On PostgreSQL, let this worker's commits return before their WAL is flushed.

    Marking a letter sent can then be lost in a database crash, and the letter
    goes again with the same Message-ID: at-least-once, as promised. It saves
    a disk flush per letter. Queueing, whose loss would mint new Message-IDs,
    insists on durable commits (enqueue.durable_commit).
    """
    if connection.vendor != "postgresql":
        return
    connection.ensure_connection()
    raw = connection.connection
    if not getattr(raw, "courrier_fast_commits", False):
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO OFF")
        raw.courrier_fast_commits = True
