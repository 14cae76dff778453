"""Pausing a target holds its pending letters; resuming queues them again; cancelling ends them.

Nothing is ever dropped silently: every change is a DeliveryEvent.
"""

import datetime

from django.db import transaction
from django.utils import timezone

from courrier.campaigns.models import Target
from courrier.delivery.models import DigestEntry, OutboxMessage

Status = OutboxMessage.Status


@transaction.atomic
def pause_target(target: Target, reason: str, now: datetime.datetime | None = None) -> int:
    """Pause a target and hold its pending letters; returns how many were held."""
    now = now or timezone.now()
    Target.objects.filter(pk=target.pk).update(paused_at=now, pause_reason=reason[:300])
    target.paused_at, target.pause_reason = now, reason[:300]
    pending = OutboxMessage.objects.filter(targets=target, status__in=OutboxMessage.DUE)
    return pending.hold(f"held: {target.email} paused ({reason})", now)


@transaction.atomic
def resume_target(target: Target, now: datetime.datetime | None = None) -> int:
    """Resume a target; its held letters go back to the queue unless another of their targets is paused."""
    now = now or timezone.now()
    Target.objects.filter(pk=target.pk).update(paused_at=None, pause_reason="")
    target.paused_at, target.pause_reason = None, ""
    held = OutboxMessage.objects.filter(targets=target, status=Status.HELD).exclude(targets__paused_at__isnull=False)
    return held.release(f"resumed: {target.email}", now)


@transaction.atomic
def cancel_held(target: Target, now: datetime.datetime | None = None) -> int:
    """Cancel the letters held for a target, and those waiting for its digest (the organiser's word: they
    will never be sent); returns how many."""
    now = now or timezone.now()
    held = OutboxMessage.objects.filter(targets=target, status=Status.HELD)
    waiting = DigestEntry.objects.pending().filter(target=target)
    cancelled = waiting.update(cancelled_at=now, listing={}, subject="", body="")
    return cancelled + held.cancel(f"cancelled by an organiser: {target.email}", now)
