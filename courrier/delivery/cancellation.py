"""Closing a campaign and cancelling its letters that have not left yet: the organiser's word that they never go.

The campaign's status is lifecycle's (campaigns/lifecycle.py); what is cancelled is the outbox's.
"""

import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from courrier.campaigns import lifecycle
from courrier.campaigns.models import Campaign, FollowUp
from courrier.delivery.models import DigestEntry, OutboxMessage
from courrier.signatures.models import FollowUpSignature, Signature


def pending_letters(campaign: Campaign) -> QuerySet:
    return OutboxMessage.objects.filter(campaign=campaign, kind=OutboxMessage.Kind.LETTER).not_sent_yet()


def unqueued_signatures(campaign: Campaign) -> QuerySet:
    """Confirmed signatures whose letters the worker has not written yet (held for review included)."""
    return Signature.objects.filter(campaign=campaign).awaiting_letters()


def pending_digest_entries(campaign: Campaign) -> QuerySet:
    """Letters written for the campaign's digest targets and not in a digest yet."""
    return DigestEntry.objects.pending().filter(target__campaign=campaign)


def unqueued_follow_ups(campaign: Campaign) -> QuerySet:
    """Follow-up letters its supporters sent that the worker would still write."""
    return FollowUpSignature.objects.filter(follow_up__campaign=campaign).letters_due()


def pending_count(campaign: Campaign) -> int:
    """How many letters closing with cancellation would stop: queued, deferred, held, waiting for a digest,
    or not written yet (follow-ups' included)."""
    return (
        pending_letters(campaign).count()
        + pending_digest_entries(campaign).count()
        + unqueued_signatures(campaign).count()
        + unqueued_follow_ups(campaign).count()
    )


@transaction.atomic
def cancel_pending_letters(campaign: Campaign, user, now: datetime.datetime | None = None) -> int:
    """The campaign's letters that have not left yet are never sent; returns how many were stopped.

    - letter rows queued, deferred or held become cancelled (OutboxQuerySet.cancel, with a delivery event
      saying who did it); a letter being sent right now (leased) may still go;
    - confirmed signatures whose letters the worker has not written yet are marked as done, so it never
      writes them (also those held for review: approving them later sends nothing);
    - letters waiting for a target's digest are cancelled, and erased: they will never be listed;
    - its open follow-ups close (their links send nothing more), and the follow-up letters pressed but not
      written yet are cancelled.
    Supporters' copies and other mail are left alone.
    """
    now = now or timezone.now()
    # Signatures first: once marked, the worker cannot turn them into new queued rows behind our back.
    unqueued = unqueued_signatures(campaign).update(letters_queued_at=now)
    for follow_up in campaign.follow_ups.filter(status=FollowUp.Status.OPEN):
        follow_up.move("close", closed_at=now)
    unqueued += unqueued_follow_ups(campaign).update(cancelled_at=now)
    # Invitations not sent yet would only lead to a closed page.
    OutboxMessage.objects.filter(campaign=campaign, kind=OutboxMessage.Kind.FOLLOW_UP_INVITATION).not_sent_yet().cancel(
        f"cancelled: campaign closed by {user}", now=now
    )
    in_digests = pending_digest_entries(campaign).update(cancelled_at=now, listing={}, subject="", body="")
    cancelled = pending_letters(campaign).cancel(f"cancelled: campaign closed by {user}", now=now)
    return cancelled + in_digests + unqueued


@transaction.atomic
def close_and_cancel(campaign: Campaign, user) -> int:
    """Close the campaign and cancel its letters not sent yet, in one audit entry; returns how many."""
    lifecycle.check_transition(campaign, Campaign.Status.CLOSED)
    cancelled = cancel_pending_letters(campaign, user)
    summary = _("closed, and %(count)d letters not sent yet cancelled") % {"count": cancelled}
    lifecycle.close(campaign, user, summary=summary)
    return cancelled
