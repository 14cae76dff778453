"""Turn signatures into outbox rows: the worker's queueing of confirmations and letters.

The signing request writes one row and nothing else; the worker calls these functions to find what is
due (the messages themselves are made in messages.py). Each batch creates its outbox rows and marks its
signatures in one transaction, so a signature is queued exactly once even if the worker dies half-way.
"""

import datetime
import logging

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from courrier.campaigns.models import DirectoryEntry, ModelLetter, Target
from courrier.delivery.addressees import ensure_directory_targets
from courrier.delivery.daily_cap import (
    schedule_within_daily_cap,
)
from courrier.delivery.messages import (
    confirmation_message,
    digest_entries,
    letter_messages,
)
from courrier.delivery.models import DigestEntry, OutboxMessage, Recipient
from courrier.delivery.recipients import recipient_rows
from courrier.signatures import moderation
from courrier.signatures.models import Signature

BATCH = 200
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


def _claim_signatures(queryset: QuerySet) -> list[Signature]:
    # skip_locked lets several workers on PostgreSQL share the work; on SQLite
    # the IMMEDIATE transaction already makes this the only writer.
    locked = queryset.select_related("campaign").select_for_update(skip_locked=True, of=("self",))[:BATCH]
    return list(locked.prefetch_related("campaign__targets", "campaign__letters", "campaign__directory"))


def queue_confirmations(now: datetime.datetime | None = None) -> int:
    now = now or timezone.now()
    with transaction.atomic():
        durable_commit()
        due = Signature.objects.filter(confirmation_queued_at__isnull=True).order_by("created_at")
        signatures = _claim_signatures(due)
        if not signatures:
            return 0
        # Beyond the address's daily cap the mail waits for its turn (a repeated notice is not queued).
        messages = schedule_within_daily_cap(stamped([confirmation_message(s) for s in signatures], now), now)
        OutboxMessage.objects.bulk_create(messages)
        Signature.objects.filter(pk__in=[s.pk for s in signatures]).update(confirmation_queued_at=now)
    return len(signatures)


def queue_letters(now: datetime.datetime | None = None) -> set[int]:
    """Queue the letters of newly confirmed signatures; returns the campaigns touched."""
    now = now or timezone.now()
    with_targets = Target.objects.filter(role=Target.Role.TO, active=True).values("campaign_id")
    # With a directory, a campaign may have no To target of its own: its entries are the addressees.
    with_directory = DirectoryEntry.objects.filter(campaign__use_directory=True).values("campaign_id")
    # A campaign whose model letters were all removed keeps its confirmed signatures
    # waiting (nothing to send yet) rather than stopping the worker.
    with_letters = ModelLetter.objects.values("campaign_id")
    with transaction.atomic():
        durable_commit()
        due = (
            # Held for review: queued once an organiser approves (rejected: never).
            Signature.objects.letters_due()
            .filter(Q(campaign_id__in=with_targets) | Q(campaign_id__in=with_directory))
            .filter(campaign_id__in=with_letters)
            .order_by("confirmed_at")
        )
        signatures = _claim_signatures(due)
        if not signatures:
            return set()
        held = moderation.screen(signatures)
        if held:
            moderation.hold(signatures, held)
            signatures = [s for s in signatures if s.pk not in held]
            if not signatures:
                return set()
        ensure_directory_targets(signatures)
        messages, links, entries = [], [], []
        for signature in signatures:
            queued, targets = letter_messages(signature)
            messages += queued
            if targets:
                links.append((queued[0], targets))
            entries += digest_entries(signature, now)
        OutboxMessage.objects.queue(stamped(messages, now), now)
        DigestEntry.objects.bulk_create(entries)
        Recipient.objects.bulk_create(row for message, targets in links for row in recipient_rows(message, targets))
        Signature.objects.filter(pk__in=[s.pk for s in signatures]).update(letters_queued_at=now)
    return {s.campaign_id for s in signatures}
