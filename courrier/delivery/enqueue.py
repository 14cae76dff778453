"""Turn signatures into outbox rows: the worker's queueing of confirmations and letters.

The signing request writes one row and nothing else; the worker calls these functions to find what is
due (the messages themselves are made in messages.py). Each batch (on SQLite, each slice of a batch) creates
its outbox rows and marks its signatures in one transaction, so a signature is queued exactly once even if
the worker dies half-way; on SQLite that transaction holds nothing but the writing (queue_batch).
"""

import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from django.db import connection, transaction
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from courrier.campaigns.models import Campaign, DirectoryEntry, ModelLetter, Target
from courrier.db.locking import locks_rows
from courrier.db.rows import insert_prepared, prepare_rows
from courrier.delivery.addressees import ensure_directory_targets
from courrier.delivery.daily_cap import schedule_within_daily_cap
from courrier.delivery.messages import Confirmations, digest_entries, letter_messages
from courrier.delivery.models import DigestEntry, OutboxMessage, Recipient
from courrier.delivery.recipients import recipient_rows
from courrier.signatures import moderation
from courrier.signatures.models import Signature

BATCH = 200
# On SQLite: how long a slice of a batch may hold the database's one write lock (a signature waits behind it),
# and the size of the first slice of each kind, before its writing has been timed.
WRITE_SLICE_SECONDS = 0.008
FIRST_SQLITE_BATCH = 20
# How long one pass of the worker queues a kind of message before it goes on to sending.
PASS_SECONDS = 1.0
_write_sizes: dict[type, int] = {}
logger = logging.getLogger(__name__)


def durable_commit() -> None:
    """Inside a transaction: commit only once it is on disk, whatever the session prefers."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO ON")


def stamped(messages: list[OutboxMessage], now: datetime.datetime) -> list[OutboxMessage]:
    """Created and due at the worker's `now`, so the same pass can send them (and a test clock rules)."""
    for message in messages:
        message.created_at = message.next_attempt_at = now
    return messages


# The campaign of a batch's signatures, loaded once for the batch rather than joined to each row: without its
# public list of organisations, which is long on a large campaign and encrypted (decrypted for every row).
BATCH_CAMPAIGNS = Prefetch("campaign", queryset=Campaign.objects.defer("tally_organisations"))
BATCH_RELATIONS = (BATCH_CAMPAIGNS, "campaign__targets", "campaign__letters", "campaign__directory")


class Batch(Protocol):
    """What a batch of signatures queues: composed by `prepare` (no writing), written by `write`; `relations`
    are prefetched with its rows."""

    relations: tuple = BATCH_RELATIONS

    def prepare(self, signatures: list[Signature]) -> None: ...

    def write(self, signatures: list[Signature]) -> None:
        """Write what was prepared for these signatures (all those prepared, or fewer) and mark them queued;
        called once for each slice of the prepared signatures on SQLite."""


def queue_due(due: QuerySet, new_batch: Callable[[], Batch]) -> list[Signature]:
    """Queue `due` signatures batch after batch, until none is left or the pass has had PASS_SECONDS: each
    batch commits on its own, so signing goes on between two."""
    deadline = time.monotonic() + PASS_SECONDS
    queued: list[Signature] = []
    while written := queue_batch(due, new_batch()):
        queued += written
        if time.monotonic() > deadline:
            break
    return queued


def queue_batch(due: QuerySet, batch: Batch) -> list[Signature]:
    """Take a batch of `due` signatures, prepare and write what they queue; returns the signatures written.

    On PostgreSQL, row locks: the batch is claimed first (FOR UPDATE SKIP LOCKED), so that several workers
    share the work, and prepared and written in the same transaction. On SQLite, one writer locks the whole
    database for as long as its transaction lasts, and every signature posted meanwhile waits behind it: the
    batch is read and its messages composed outside any transaction, and only the writing takes the lock, in
    short slices (write_slices), for the signatures still due by then (`write` is given those only).
    """
    if locks_rows():
        with transaction.atomic():
            durable_commit()
            locked = due.select_for_update(skip_locked=True, of=("self",))[:BATCH]
            signatures = list(locked.prefetch_related(*batch.relations))
            if signatures:
                batch.prepare(signatures)
                batch.write(signatures)
            return signatures
    signatures = list(due[:BATCH].prefetch_related(*batch.relations))
    if not signatures:
        return []
    batch.prepare(signatures)
    return write_slices(due, batch, signatures)


def write_slices(due: QuerySet, batch: Batch, prepared: list[Signature]) -> list[Signature]:
    """On SQLite: write the first of these prepared signatures, as many as about WRITE_SLICE_SECONDS allows
    (sized by time, not count, from the last slice of this kind), each slice a transaction of its own, so that
    a signature posted meanwhile waits at most one slice. Returns the signatures written."""
    written: list[Signature] = []
    while prepared:
        size = _write_sizes.get(type(batch), FIRST_SQLITE_BATCH)
        slice_, prepared = prepared[:size], prepared[size:]
        with transaction.atomic():
            # Timed from the BEGIN on: the wait for the lock, behind signatures, is not writing, and counting
            # it would shrink the slices, each of which pays for a query and a commit, just when signing is busy.
            started = time.perf_counter()
            still_due = set(due.filter(pk__in=[s.pk for s in slice_]).values_list("pk", flat=True))
            slice_ = [s for s in slice_ if s.pk in still_due]
            if slice_:
                batch.write(slice_)
        if slice_:
            per_signature = (time.perf_counter() - started) / len(slice_)
            _write_sizes[type(batch)] = max(1, min(BATCH, int(WRITE_SLICE_SECONDS / max(per_signature, 1e-6))))
        written += slice_
    return written


@dataclass
class Lease:
    """A worker's pass: the new messages it will send in that pass, leased to it as they are written.

    The worker's claim would lease them in a write of its own, then read them back from the database and
    decrypt them again; handed over from memory, they cost only a look-up of their ids. That took a
    confirmation from 7.13 to 6.67 million instructions of the worker (callgrind, 2,000 of them; 6.5 %).
    At most `room` of them: no more than one claim would take, so the pass still sends them within the lease.
    """

    worker: str
    now: datetime.datetime
    until: datetime.datetime
    room: int
    messages: list[OutboxMessage] = field(default_factory=list)
    promised: int = 0  # leased in memory, perhaps not written (a signature erased before its slice)

    def take(self, messages: list[OutboxMessage]) -> None:
        """Lease those of these unsaved messages that are due now, while there is room."""
        leased = OutboxMessage.objects.lease_unsaved(
            messages, self.worker, self.now, self.until, self.room - self.promised
        )
        self.promised += len(leased)

    def written(self, messages: list[OutboxMessage]) -> None:
        self.messages += [m for m in messages if m.claimed_by == self.worker]

    def numbered(self) -> list[OutboxMessage]:
        """The messages written, each with its id (the fast INSERT of db/rows.py does not read them back)."""
        unnumbered = {m.message_id: m for m in self.messages if m.pk is None}
        if not unnumbered:
            return self.messages
        found = OutboxMessage.objects.filter(message_id__in=unnumbered).values_list("message_id", "pk")
        for message_id, pk in found:
            unnumbered[message_id].pk = pk
        return [m for m in self.messages if m.pk is not None]


class ConfirmationBatch:
    """The confirmation request (or "already signed" notice) of each new signature."""

    relations = BATCH_RELATIONS

    def __init__(self, now: datetime.datetime, lease: Lease | None = None):
        self.now = now
        self.lease = lease
        self.rows = prepare_rows(OutboxMessage, [])

    def prepare(self, signatures: list[Signature]) -> None:
        # Beyond the address's daily cap the mail waits for its turn (a repeated notice is not queued). Counted
        # for the whole batch: a signature erased before its slice is written leaves the others scheduled as if
        # its mail went, later than they need at worst, never twice.
        composer = Confirmations()
        composed = stamped([composer.message(s) for s in signatures], self.now)
        scheduled = schedule_within_daily_cap(composed, self.now)
        if self.lease is not None:
            self.lease.take(scheduled)
        # Encrypted and adapted here, so that the write holds SQLite's lock for the INSERT alone.
        self.rows = prepare_rows(OutboxMessage, scheduled)

    def write(self, signatures: list[Signature]) -> None:
        ids = {s.pk for s in signatures}
        insert_prepared(self.rows, keep=lambda message: message.signature_id in ids)
        Signature.objects.filter(pk__in=ids).update(confirmation_queued_at=self.now)
        if self.lease is not None:
            self.lease.written([message for message, _values in self.rows.rows if message.signature_id in ids])


# What a confirmation or an "already signed" notice reads of a signature: the supporter's name, organisation,
# letter and the rest are not read, so not decrypted, for it.
CONFIRMATION_FIELDS = (
    "campaign",
    "language",
    "email",
    "email_digest",
    "directory_country",
    "is_duplicate",
    "created_at",
)


def queue_confirmations(now: datetime.datetime | None = None, lease: Lease | None = None) -> int:
    """Queue the mail of new signatures; returns how many. Given the worker's `lease`, those it can send in
    this pass are written leased to it and handed over (lease.messages), the others queued as usual."""
    now = now or timezone.now()
    due = (
        Signature.objects.filter(confirmation_queued_at__isnull=True).only(*CONFIRMATION_FIELDS).order_by("created_at")
    )
    return len(queue_due(due, lambda: ConfirmationBatch(now, lease)))


class Letters:
    """The letters of newly confirmed signatures, their recipients, and their lines in the targets' digests;
    or, for those a moderation rule holds, the hold."""

    relations = BATCH_RELATIONS

    def __init__(self, now: datetime.datetime):
        self.now = now
        self.held: dict[int, dict[str, str]] = {}
        self.messages: dict[int, list[OutboxMessage]] = {}
        self.targets: dict[int, list[Target]] = {}
        self.entries: dict[int, list[DigestEntry]] = {}
        self.campaigns_queued: set[int] = set()

    def prepare(self, signatures: list[Signature]) -> None:
        # The directory's targets the letters name, where none exists yet (a short write of its own on SQLite).
        ensure_directory_targets(signatures)
        self.held = moderation.screen(signatures)
        count_capped(signatures)
        for signature in signatures:
            if signature.pk not in self.held:
                queued, targets = letter_messages(signature)
                self.messages[signature.pk] = stamped(queued, self.now)
                self.targets[signature.pk] = targets
                self.entries[signature.pk] = digest_entries(signature, self.now, targets)

    def write(self, signatures: list[Signature]) -> None:
        moderation.hold(signatures, self.held)
        sent = [s for s in signatures if s.pk not in self.held]
        messages = [m for s in sent for m in self.messages[s.pk]]
        OutboxMessage.objects.queue(messages, self.now)
        DigestEntry.objects.bulk_create([e for s in sent for e in self.entries[s.pk]])
        Recipient.objects.bulk_create(
            row
            for s in sent
            if self.targets[s.pk]
            for row in recipient_rows(self.messages[s.pk][0], self.targets[s.pk])
        )
        Signature.objects.filter(pk__in=[s.pk for s in sent]).update(letters_queued_at=self.now)
        self.campaigns_queued |= {s.campaign_id for s in sent}


def count_capped(signatures: list[Signature]) -> None:
    """On the targets with a cap of letters one by one: how many more they take (one query, only when a
    campaign of the batch has such a target); letter_messages counts down as it writes."""
    capped = {
        id(target): target
        for signature in signatures
        for target in signature.campaign.targets.all()
        if target.letters_cap is not None
    }
    if not capped:
        return
    had = dict(
        Recipient.objects.filter(
            target__in=[t.pk for t in capped.values()], outboxmessage__kind=OutboxMessage.Kind.LETTER
        )
        .exclude(outboxmessage__status=OutboxMessage.Status.CANCELLED)
        .order_by()
        .values_list("target_id")
        .annotate(count=Count("pk"))
    )
    for target in capped.values():
        target.one_by_one_left = target.letters_cap - had.get(target.pk, 0)


def addressed(campaign_field: str) -> Q:
    """The rows whose campaign (at `campaign_field`) has someone to send a letter To: an active To target, or
    a directory's entries. Letters of other campaigns wait, rather than go to copies alone."""
    with_targets = Target.objects.filter(role=Target.Role.TO, active=True).values("campaign_id")
    # With a directory, a campaign may have no To target of its own: its entries are the addressees.
    with_directory = DirectoryEntry.objects.filter(campaign__use_directory=True).values("campaign_id")
    return Q(**{f"{campaign_field}__in": with_targets}) | Q(**{f"{campaign_field}__in": with_directory})


def queue_letters(now: datetime.datetime | None = None) -> set[int]:
    """Queue the letters of newly confirmed signatures; returns the campaigns touched."""
    now = now or timezone.now()
    # A campaign whose model letters were all removed keeps its confirmed signatures
    # waiting (nothing to send yet) rather than stopping the worker.
    with_letters = ModelLetter.objects.values("campaign_id")
    due = (
        # Held for review: queued once an organiser approves (rejected: never).
        Signature.objects.letters_due()
        .filter(addressed("campaign_id"))
        .filter(campaign_id__in=with_letters)
        .order_by("confirmed_at")
    )
    batches: list[Letters] = []

    def next_batch() -> Letters:
        batches.append(Letters(now))
        return batches[-1]

    queue_due(due, next_batch)
    return {campaign_id for batch in batches for campaign_id in batch.campaigns_queued}
