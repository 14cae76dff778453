"""The daily cap on mail a stranger can trigger to one address: beyond it a message waits for its turn,
never dropped (a repeated notice is simply not sent).
"""

import datetime
import logging
from collections import defaultdict

from django.conf import settings
from django.db.models import Q, QuerySet

from courrier.delivery.models import OutboxMessage, UndeliverableAddress

logger = logging.getLogger(__name__)

# Mails a stranger can trigger by typing someone's address: at most SUPPORTER_MAILS_PER_DAY of them
# reach one address in 24 hours, so the platform cannot be used to fill an inbox (schedule_within_daily_cap).
CAPPED_KINDS = (OutboxMessage.Kind.CONFIRMATION, OutboxMessage.Kind.ALREADY_SIGNED, OutboxMessage.Kind.DATA_LINK)
# An address hears at most once in this period that it signed a campaign again: more would only serve
# someone who types it over and over to fill its inbox (or the daily cap, and so delay a real confirmation).
ALREADY_SIGNED_NOTICE_PERIOD = datetime.timedelta(days=7)
# Notices: what an address is told without having asked for it just now.
NOTICE_KINDS = (OutboxMessage.Kind.ALREADY_SIGNED, OutboxMessage.Kind.DATA_LINK)
DAY = datetime.timedelta(hours=24)


def schedule_within_daily_cap(messages: list[OutboxMessage], now: datetime.datetime) -> list[OutboxMessage]:
    """The messages to queue, each due when its address's daily cap allows it; nothing capped is dropped.

    For the mails a stranger can trigger (CAPPED_KINDS), at most SUPPORTER_MAILS_PER_DAY leave for one
    address in any 24 hours: one beyond waits, queued with a later next_attempt_at, until the window
    has room. A confirmation takes precedence: only confirmations count against it, so that "already
    signed" notices and data links typed by a stranger cannot delay a supporter's own confirmation.
    "Already signed" notices are sent at most once per address and campaign in
    ALREADY_SIGNED_NOTICE_PERIOD; the ones beyond that are not queued at all.
    The others (news, the copy of one's letter) pass at once: the supporter asked for them.
    One query for the batch, by the keyed digest of the address.
    """
    capped = {m.recipient_digest for m in messages if m.kind in CAPPED_KINDS and m.recipient_digest}
    if not capped:
        return messages
    # An address that bounced for good gets no more notices (a confirmation still goes: a new signature asks).
    dead = UndeliverableAddress.digests_among(capped)
    recent = recent_capped_mail(capped, now)
    due: dict[tuple[str, bool], list[datetime.datetime]] = defaultdict(list)  # (digest, confirmation?) -> times
    noticed: set[tuple[str, int | None]] = set()
    for digest, kind, campaign_id, due_at, created_at in recent.values_list(
        "recipient_digest", "kind", "campaign_id", "next_attempt_at", "created_at"
    ):
        if kind not in CAPPED_KINDS:
            continue  # an address's other mail (news, the copy of a letter): read, not counted (recent_capped_mail)
        if due_at > now - DAY:
            due[digest, kind == OutboxMessage.Kind.CONFIRMATION].append(due_at)
        if kind == OutboxMessage.Kind.ALREADY_SIGNED and created_at > now - ALREADY_SIGNED_NOTICE_PERIOD:
            noticed.add((digest, campaign_id))
    kept, dropped, delayed = [], 0, 0
    for message in messages:
        digest = message.recipient_digest
        if message.kind not in CAPPED_KINDS or not digest:
            kept.append(message)
            continue
        if message.kind in NOTICE_KINDS and digest in dead:
            dropped += 1
            continue
        if message.kind == OutboxMessage.Kind.ALREADY_SIGNED:
            if (digest, message.campaign_id) in noticed:
                dropped += 1
                continue
            noticed.add((digest, message.campaign_id))
        confirmation = message.kind == OutboxMessage.Kind.CONFIRMATION
        counted = sorted(due[digest, True] if confirmation else [*due[digest, True], *due[digest, False]])
        message.next_attempt_at = next_free_time(counted, message.next_attempt_at or now)
        delayed += message.next_attempt_at > now
        due[digest, confirmation].append(message.next_attempt_at)
        kept.append(message)
    if dropped or delayed:
        logger.info(
            "supporter mails: %d notices not queued (repeated, or to an address that bounced), %d waiting for the cap",
            dropped,
            delayed,
        )
    return kept


def recent_capped_mail(digests: set[str], now: datetime.datetime) -> QuerySet:
    """The mail of these addresses that may count now: due in the last day, or a recent notice; the caller
    keeps the CAPPED_KINDS.

    Only the addresses' index can serve it, whatever SQLite's statistics say, and a spike grows the outbox
    faster than they are refreshed. Ordered as the outbox is (newest first), SQLite read the whole outbox in
    that order (70 ms a batch of 200 at 20,000 messages, 3 ms by the index); asked for the capped kinds too,
    it read every confirmation by the index of kinds until its statistics were made (18 ms at 8,000 rows, in
    the benchmark's spike, 2 ms by the addresses). An address's other mail in a day is a few rows.
    """
    return (
        OutboxMessage.objects.filter(recipient_digest__in=digests)
        .filter(
            Q(next_attempt_at__gt=now - DAY)
            | Q(kind=OutboxMessage.Kind.ALREADY_SIGNED, created_at__gt=now - ALREADY_SIGNED_NOTICE_PERIOD)
        )
        .order_by()
    )


def next_free_time(taken: list[datetime.datetime], earliest: datetime.datetime) -> datetime.datetime:
    """The first moment from `earliest` when one more mail keeps every 24 hours within the cap.

    `taken` (sorted) are the times the address's counted mails went or will go. The new one goes last,
    so only the window that ends with it can be too full: it waits until the oldest of that window is
    a day old.
    """
    limit = settings.SUPPORTER_MAILS_PER_DAY
    if len(taken) < limit:
        return earliest  # fewer than the cap from a day ago on: no window can be full
    return max(earliest, taken[-1], taken[-limit] + DAY)
