"""The letters of follow-ups: written by the worker for each supporter who pressed "send it in my name".

A press is one FollowUpSignature row (signatures/follow_ups.py); the worker writes its letter to the
campaign's targets as it writes a first letter (enqueue.Letters, messages.letter_messages), with the
follow-up's text and the supporter's name, city and organisation: the same pacing, digests, caps and
relay Reply-To, so the targets receive the second letter as carefully as the first. No moderation: the
letter holds no words of the supporter's. Each batch writes its rows and marks its presses in one
transaction (enqueue.queue_batch), so a press gives exactly one letter.
"""

import datetime

from django.db.models import Exists, OuterRef, Prefetch, Q
from django.utils import timezone

from courrier.campaigns.models import Campaign, FollowUp, FollowUpLetter
from courrier.delivery.addressees import ensure_directory_targets
from courrier.delivery.enqueue import addressed, count_capped, queue_due, stamped
from courrier.delivery.messages import digest_entries, letter_messages
from courrier.delivery.models import DigestEntry, OutboxMessage, Recipient
from courrier.delivery.recipients import recipient_rows
from courrier.signatures.models import FollowUpSignature

RELATIONS = (
    "signature",
    Prefetch("signature__campaign", queryset=Campaign.objects.defer("tally_organisations")),
    "signature__campaign__targets",
    "signature__campaign__letters",
    "signature__campaign__directory",
    "follow_up__letters",
)


class FollowUpLetters:
    """The letters of a batch of presses, their recipients, and their lines in the targets' digests."""

    relations = RELATIONS

    def __init__(self, now: datetime.datetime):
        self.now = now
        self.messages: dict[int, list[OutboxMessage]] = {}
        self.entries: dict[int, list[DigestEntry]] = {}
        self.targets: dict[int, list] = {}
        self.follow_ups: set[int] = set()

    def prepare(self, presses: list[FollowUpSignature]) -> None:
        signatures = [press.signature for press in presses]
        ensure_directory_targets(signatures)
        count_capped(signatures)
        for press in presses:
            press.follow_up.campaign = press.signature.campaign
            queued, targets = letter_messages(press.signature, press.follow_up)
            self.messages[press.pk] = stamped(queued, self.now)
            self.targets[press.pk] = targets
            self.entries[press.pk] = digest_entries(press.signature, self.now, targets, press.follow_up)

    def write(self, presses: list[FollowUpSignature]) -> None:
        OutboxMessage.objects.queue([m for p in presses for m in self.messages[p.pk]], self.now)
        DigestEntry.objects.bulk_create([e for p in presses for e in self.entries[p.pk]])
        Recipient.objects.bulk_create(
            row
            for p in presses
            if self.targets[p.pk]
            for row in recipient_rows(self.messages[p.pk][0], self.targets[p.pk])
        )
        FollowUpSignature.objects.filter(pk__in=[p.pk for p in presses]).update(letters_queued_at=self.now)
        self.follow_ups |= {p.follow_up_id for p in presses}


def queue_follow_up_letters(now: datetime.datetime | None = None) -> set[int]:
    """Write the letters of the presses due, then count their follow-ups again; returns the follow-ups touched."""
    now = now or timezone.now()
    # A follow-up whose letters were all removed keeps its presses waiting rather than stopping the worker.
    due = (
        FollowUpSignature.objects.letters_due()
        .filter(follow_up_id__in=FollowUpLetter.objects.values("follow_up_id"))
        .filter(follow_up_id__in=FollowUp.objects.filter(addressed("campaign_id")).values("pk"))
    )
    batches: list[FollowUpLetters] = []

    def next_batch() -> FollowUpLetters:
        batches.append(FollowUpLetters(now))
        return batches[-1]

    queue_due(due.order_by("signed_at"), next_batch)
    touched = {pk for batch in batches for pk in batch.follow_ups}
    count_follow_ups(touched)
    return touched


def count_follow_ups(follow_up_ids: set[int]) -> None:
    """Each follow-up's counter: the letters written for it."""
    for pk in follow_up_ids:
        FollowUp.objects.filter(pk=pk).update(
            tally_letters=FollowUpSignature.objects.filter(follow_up_id=pk).counted().count()
        )


def first_letter_went() -> Q:
    """The signatures whose own letter went to a target, one by one or in a digest, and was not cancelled: a
    closing with cancellation marks letters "written" that never were, and a follow-up must not speak for them."""
    letters = (
        OutboxMessage.objects.first_letters()
        .filter(signature=OuterRef("pk"))
        .exclude(status=OutboxMessage.Status.CANCELLED)
    )
    in_digest = DigestEntry.objects.filter(signature=OuterRef("pk"), follow_up__isnull=True, cancelled_at__isnull=True)
    return Q(Exists(letters)) | Q(Exists(in_digest))


def follow_up_figures(follow_up: FollowUp) -> dict[str, int]:
    """A follow-up's progress: invited, sent by supporters (pressed), letters written, letters sent (the
    sandbox's included)."""
    letters = OutboxMessage.objects.filter(follow_up=follow_up, kind=OutboxMessage.Kind.LETTER)
    return {
        "invited": follow_up.invitees_count,
        "pressed": FollowUpSignature.objects.filter(follow_up=follow_up).count(),
        "letters": follow_up.tally_letters,
        "sent": letters.filter(status=OutboxMessage.Status.SENT).count(),
    }
