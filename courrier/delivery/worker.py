"""The delivery worker: claim due outbox rows with a lease, send them, record the answer.

The window in which a letter can be sent twice is between the receiving
server's "250" after DATA and the commit of the UPDATE that marks the row
sent. A second thread (sent_marks.SentMarker) commits those UPDATEs, with the
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

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from courrier.campaigns.models import Target
from courrier.db.locking import locks_rows
from courrier.delivery import bounces, pacing, recipients
from courrier.delivery.compose import compose
from courrier.delivery.dkim import dkim_sign
from courrier.delivery.enqueue import Lease
from courrier.delivery.models import DeliveryEvent, OutboxMessage, Recipient
from courrier.delivery.sent_marks import SentMarker
from courrier.delivery.transports import MaildirTransport, SendResult, SmtpTransport
from courrier.delivery.verp import verp_address
from courrier.lib.periodic import Schedule

log = logging.getLogger(__name__)
Status = OutboxMessage.Status
# Wall-clock seconds, not the worker's clock: tests that simulate days must not run it every simulated minute.
STATISTICS_SECONDS = 600
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
        # Every app's periodic jobs (queueing, digests, alerts, retention, tallies), collected from the apps.
        self.schedule = Schedule(job for app in apps.get_app_configs() for job in getattr(app, "periodic_jobs", list)())
        self.reclaimed_at: datetime.datetime | None = None
        self.statistics_at: float | None = None
        self.pending_events: list[DeliveryEvent] = []
        self.marker = SentMarker(self.name, prepare_connection=prefer_fast_commits)
        self.paused_targets: set[int] = set()  # paused during the current batch
        self.paused_report: dict[int, Target] = {}  # and told to staff once, after it
        self.paused_reply = ""
        # Letters and digests tried before: the recipients to try in this batch (recipients.due_recipients).
        self.due: dict[int, list[Recipient]] = {}
        # The relay could not be used: no mail for it before this time (doubling while it stays so).
        self.relay_retry_at: datetime.datetime | None = None
        self.relay_failures = 0
        # A full batch's successor, claimed while its last letter was with the server: (batch, due, claimed at).
        self.next_batch: tuple[list[OutboxMessage], dict[int, list[Recipient]], datetime.datetime] | None = None

    def run_once(self) -> int:
        """Do everything that is due now; returns how many messages were handled."""
        now = self.clock()
        # What the jobs make and lease to this worker as they write it (new confirmations), sent in this pass.
        fresh = Lease(self.name, now, now + self.lease, room=self.batch_size)
        self.schedule.run_due(now, fresh)
        if self.reclaimed_at is None or now - self.reclaimed_at >= self.lease / 4:
            self.reclaimed_at = now
            self.reclaim_expired_leases(now)
        prefer_fast_commits()
        self.paused_targets = set()
        if self.next_batch is not None:
            batch, self.due, claimed_at = self.next_batch
            self.next_batch = None
        else:
            batch, claimed_at = self.claim(now), now
        # After the claim's: paced letters first, as the claim orders them.
        batch += fresh.numbered()
        deadline = claimed_at + self.lease * 0.8
        try:
            self.send_batch(batch, deadline)
        finally:
            self.marker.wait()
            self.flush_events()
            self.report_pauses()
        if not batch:
            # Kept a while, so that letters spread out by pacing share a session; then closed.
            self.smtp.close_if_idle(settings.EMAIL_IDLE_SECONDS)
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
            OutboxMessage.objects.reclaim_expired(now, self.name)

    def claim(self, now: datetime.datetime) -> list[OutboxMessage]:
        batch, self.due = self.claim_batch(now)
        return batch

    def claim_batch(self, now: datetime.datetime) -> tuple[list[OutboxMessage], dict[int, list[Recipient]]]:
        """Lease the messages due now; with, for letters tried before, the recipients to try now."""
        if not locks_rows() and not OutboxMessage.objects.due(now).exists():
            # On SQLite the claim's transaction takes the database's one write lock, which a signature posted
            # meanwhile waits for: a read first, outside any transaction, when most passes find nothing due
            # (the new confirmations are handed over by the pass that queued them).
            return [], {}
        with transaction.atomic():
            due = OutboxMessage.objects.due(now)
            if self.relay_retry_at is not None and now < self.relay_retry_at:
                due = due.filter(sandbox=True)  # the relay is resting: the sandbox still works
            # Paced letters first: they take few places, and a backlog of supporter
            # mail must not make a target miss its slots.
            ids = self.claim_paced_letters(due.filter(kind=OutboxMessage.Kind.LETTER), now, self.batch_size)
            unpaced = due.filter(kind__in=UNPACED_KINDS).order_by("next_attempt_at", "pk")
            ids += list(
                unpaced.select_for_update(skip_locked=True).values_list("pk", flat=True)[: self.batch_size - len(ids)]
            )
            if not ids:
                return [], {}
            OutboxMessage.objects.lease(ids, self.name, now, until=now + self.lease)
        batch = list(OutboxMessage.objects.filter(pk__any_of=ids, claimed_by=self.name).order_by("pk"))
        return batch, recipients.due_recipients(batch, now)

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
        OutboxMessage.objects.give_back([m.pk for m in messages], self.name)

    def send_batch(self, batch: list[OutboxMessage], deadline: datetime.datetime) -> None:
        """Send the claimed messages in turn, each one prepared while the server reads the one before."""
        prepared: dict[int, Prepared] = {}
        for index, message in enumerate(batch):
            if self.clock() > deadline:
                # Give the rest back rather than send after our lease could have been taken over.
                self.release(batch[index:])
                return
            if not message.sandbox and self.relay_retry_at is not None and self.clock() < self.relay_retry_at:
                self.defer_for_the_relay(message)  # the relay failed a moment ago: not once more a letter
                continue
            upcoming = batch[index + 1] if index + 1 < len(batch) else None
            last_of_a_full_batch = upcoming is None and len(batch) >= self.batch_size

            def prepare_upcoming(upcoming: OutboxMessage | None = upcoming, claim_next: bool = last_of_a_full_batch):
                if upcoming is not None:
                    with contextlib.suppress(Exception):  # it fails again, in its own turn, where it is handled
                        prepared[upcoming.pk] = self.prepare(upcoming)
                elif claim_next:
                    self.claim_ahead()

            self.deliver(message, prepared.pop(message.pk, None), meanwhile=prepare_upcoming)

    def claim_ahead(self) -> None:
        """While the server reads a full batch's last letter, lease the next batch: the claim's time (reading and
        decrypting the rows) then overlaps the server's, instead of leaving the connection idle."""
        now = self.clock()
        try:
            batch, due = self.claim_batch(now)
        except Exception:  # the next run_once claims again, and meets the error in its own turn
            log.exception("claiming the next batch ahead failed")
            return
        if batch:
            self.next_batch = (batch, due, now)

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
        tried = self.recipients_to_try(message)
        if not tried:
            # Every recipient has an answer already (a lease taken over after the marks): nothing to send.
            recipients.settle(message, list(message.recipients_of.all()), self.clock(), self.name, leased=True)
            return None
        prepared = prepared or self.prepare(message)
        if prepared.data is None:
            result = SendResult("failed", None, prepared.problem)
        else:
            transport = self.sandbox if message.sandbox else self.smtp
            result = transport.send(prepared.envelope_from, tried, prepared.data, meanwhile)
        self.record(message, result, tried)
        return result

    def recipients_to_try(self, message: OutboxMessage) -> list[str]:
        """Every recipient on a first attempt; on a retry of a letter, those due now that have not taken it."""
        if message.pk in self.due:
            return [row.address for row in self.due[message.pk]]
        return message.recipients()

    def record(self, message: OutboxMessage, result: SendResult, tried: list[str] | None = None) -> None:
        """One UPDATE per message: the row's status is the record of truth.

        A message that every recipient took at once is marked, and its event
        logged, by the SentMarker thread while the next ones are being sent. A
        letter whose recipients answered differently, or a retry, is recorded
        recipient by recipient (delivery/recipients.py). The events of other
        moves are written with the batch's others (flush_events): if the worker
        dies first, the row still holds the status and last reply.
        """
        now = self.clock()
        reply = result.reply[:2000]
        if result.relay_failed:
            self.relay_down(now)
            if not message.is_too_old_to_retry(now):
                self.defer_for_the_relay(message, reply)
                return
        elif not message.sandbox:
            self.relay_failures, self.relay_retry_at = 0, None  # the relay answered
        answered = result.code is not None or bool(result.refused)  # a server's word, per recipient
        one_answer = result.outcome == "sent" and not result.refused and message.pk not in self.due
        if message.kind in recipients.WITH_RECIPIENTS and answered and not one_answer and not result.relay_failed:
            self.record_per_recipient(message, result, tried or message.recipients(), now)
            return
        if result.outcome == "sent":
            # Sent is the truth even if our lease was taken over meanwhile. The marker logs the event too.
            self.marker.mark(message.pk, now, result.code, reply)
            return
        if result.outcome == "deferred" and not message.is_too_old_to_retry(now):
            self.leased(message).defer(now + message.retry_delay(), reply, now, **self.logged(result.code))
        else:
            if result.outcome == "deferred":
                reply = f"gave up after {message.attempts} attempts: {reply}"[:2000]
            self.leased(message).fail(reply, now, **self.logged(result.code))
            # The message could not go at all (it cannot be written, or the relay never took it in five days):
            # each recipient still waiting failed with it.
            recipients.fail_pending(message, reply)
            # The reply may quote an address: log the message id and code only, never personal data.
            log.warning("outbox message %s failed (SMTP %s)", message.pk, result.code)
            if message.kind == OutboxMessage.Kind.LETTER:
                self.paused(bounces.record_rejection(message, reply, now, alert=False), reply)

    def record_per_recipient(self, message: OutboxMessage, result: SendResult, tried: list[str], now) -> None:
        """Each recipient's own answer, then the letter's state; policy refusals count against their domain."""
        _status, failed_now = recipients.record_attempt(
            message, tried, result.outcome, result.code, result.reply[:2000], result.refused, now, worker=self.name
        )
        if message.kind == OutboxMessage.Kind.LETTER:
            for row in failed_now:
                paused = bounces.record_rejection(message, row.last_reply, now, recipient=row.address, alert=False)
                self.paused(paused, row.last_reply)
        if _status == Status.FAILED:
            log.warning("outbox message %s failed (SMTP %s)", message.pk, result.code)

    def paused(self, targets: list[Target], reply: str) -> None:
        """Targets just paused for policy refusals: their letters in this batch are held, staff told after it."""
        self.paused_targets |= {target.pk for target in targets}
        self.paused_report.update({target.pk: target for target in targets})
        if targets:
            self.paused_reply = reply

    def report_pauses(self) -> None:
        if self.paused_report:
            bounces.alert_paused(list(self.paused_report.values()), self.paused_reply, self.clock())
            self.paused_report, self.paused_reply = {}, ""

    def relay_down(self, now: datetime.datetime) -> None:
        """The relay could not be used: rest it, the longer the more it fails, as a message's retries."""
        self.relay_failures += 1
        self.relay_retry_at = now + OutboxMessage.retry_delay_after(self.relay_failures)

    def defer_for_the_relay(self, message: OutboxMessage, reply: str = "") -> None:
        """Back to the queue until the relay has rested: not an attempt of the message's own."""
        until = self.relay_retry_at or self.clock()
        reply = reply or "not tried: the relay failed a moment ago"
        self.leased(message).defer(until, reply, self.clock(), **self.logged())

    def leased(self, message: OutboxMessage):
        """The message's row while our lease on it holds.

        Only built when a message is not sent: building it for every letter was a fifth of the loop's time.
        """
        return OutboxMessage.objects.filter(pk=message.pk).leased_by(self.name)

    def logged(self, smtp_code: int | None = None) -> dict:
        """How this worker's moves are logged: by its name, with its batch's events (flush_events)."""
        return {"worker": self.name, "events": self.pending_events, "smtp_code": smtp_code}

    def hold(self, message: OutboxMessage) -> None:
        """A target of this claimed letter was paused during the batch: keep the letter, do not send it."""
        self.leased(message).hold(
            "held: a target of this letter was paused while it waited to be sent", self.clock(), **self.logged()
        )

    def flush_events(self) -> None:
        if self.pending_events:
            DeliveryEvent.objects.bulk_create(self.pending_events)
            self.pending_events = []

    def close(self) -> None:
        if self.next_batch is not None:
            self.release(self.next_batch[0])  # claimed ahead, never started: back to the queue at once
            self.next_batch = None
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
