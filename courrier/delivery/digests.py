"""Digest mode: a target receives one e-mail per period listing every new letter, with a PDF of them all.

When the worker queues a supporter's letter (enqueue.queue_letters), it writes a DigestEntry for each
digest target among that letter's own recipients, with the letter as written (edited or bilingual) and
what the digest lists of the signer. A digest lists exactly its target's pending entries: so a target
added, re-addressed or switched to digests later never receives the names of people who signed before
it was listed to them, and a supporter who picked their country is listed to that country's entry only.

The digest row is created, and its entries claimed (their `digest` set), in one transaction that takes
only entries still pending and locked by nobody else: an entry is in exactly one digest, and an entry
written by another worker's transaction that has not committed yet simply waits for the next one.
"""

import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef

from courrier.campaigns.models import FollowUp, Target
from courrier.delivery.enqueue import durable_commit
from courrier.delivery.messages import (
    digest_message,
)
from courrier.delivery.models import DigestEntry, Recipient
from courrier.delivery.recipients import recipient_rows

MAX_LETTERS = 5000


def queue_due_digests(now: datetime.datetime) -> int:
    """A digest for every target whose period has passed and that has letters waiting (whatever its mode
    now: a target switched back to one e-mail per letter still gets what was written for its digest)."""
    waiting = DigestEntry.objects.pending().filter(target=OuterRef("pk"))
    due = Target.objects.filter(Exists(waiting), paused_at__isnull=True).select_related("campaign")
    queued = 0
    for target in due:
        if target.last_digest_at and now - target.last_digest_at < datetime.timedelta(hours=target.digest_period_hours):
            continue
        queued += queue_digest(target.pk, now)
    return queued


def queue_digest(target_id: int, now: datetime.datetime) -> int:
    with transaction.atomic():
        durable_commit()
        target = (
            Target.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("campaign")
            .filter(pk=target_id, paused_at__isnull=True)
            .first()
        )
        if target is None:
            return 0
        entries = list(
            DigestEntry.objects.pending()
            .filter(target=target)
            .order_by("queued_at", "pk")
            .select_for_update(skip_locked=True)[:MAX_LETTERS]
        )
        if not entries:
            return 0
        # One digest per letter of the campaign (its own, each follow-up): each lists the supporters who sent
        # that letter, under that letter's subject, and no one under a letter they did not sign.
        by_letter: dict[int | None, list[DigestEntry]] = {}
        for entry in entries:
            by_letter.setdefault(entry.follow_up_id, []).append(entry)
        follow_ups = FollowUp.objects.prefetch_related("letters").in_bulk([pk for pk in by_letter if pk])
        for follow_up_id, listed in by_letter.items():
            follow_up = follow_ups.get(follow_up_id)
            if follow_up is not None:
                follow_up.campaign = target.campaign
            message = digest_message(target, listed, now, follow_up)
            message.save()
            Recipient.objects.bulk_create(recipient_rows(message, [target]))
            # Claimed by this digest; their personal parts now live in it, and are erased with it on schedule.
            DigestEntry.objects.filter(pk__in=[entry.pk for entry in listed], digest__isnull=True).update(
                digest=message, listing={}, subject="", body=""
            )
        # The period runs from the last digest sent: an empty pass does not restart it.
        Target.objects.filter(pk=target.pk).update(last_digest_at=now)
    return len(by_letter)
