"""Pausing a target holds its pending letters; resuming queues them again; cancelling ends them.

Nothing is ever dropped silently: every change is a DeliveryEvent.
"""

import datetime

from django.db import transaction
from django.utils import timezone

from courrier.campaigns.models import Target
from courrier.delivery.models import DeliveryEvent, DigestEntry, OutboxMessage

Status = OutboxMessage.Status


def _move(messages, status: str, note: str, now: datetime.datetime, **changes) -> int:
    ids = list(messages.values_list("pk", flat=True))
    OutboxMessage.objects.filter(pk__in=ids).update(status=status, **changes)
    DeliveryEvent.objects.bulk_create(DeliveryEvent(message_id=pk, at=now, status=status, reply=note) for pk in ids)
    return len(ids)


@transaction.atomic
def pause_target(target: Target, reason: str, now: datetime.datetime | None = None) -> int:
    """Pause a target and hold its pending letters; returns how many were held."""
    now = now or timezone.now()
    Target.objects.filter(pk=target.pk).update(paused_at=now, pause_reason=reason[:300])
    target.paused_at, target.pause_reason = now, reason[:300]
    pending = OutboxMessage.objects.filter(targets=target, status__in=[Status.QUEUED, Status.DEFERRED])
    return _move(pending, Status.HELD, f"held: {target.email} paused ({reason})"[:2000], now)


@transaction.atomic
def resume_target(target: Target, now: datetime.datetime | None = None) -> int:
    """Resume a target; its held letters go back to the queue unless another of their targets is paused."""
    now = now or timezone.now()
    Target.objects.filter(pk=target.pk).update(paused_at=None, pause_reason="")
    target.paused_at, target.pause_reason = None, ""
    held = OutboxMessage.objects.filter(targets=target, status=Status.HELD).exclude(targets__paused_at__isnull=False)
    return _move(held, Status.QUEUED, f"resumed: {target.email}", now, next_attempt_at=now)


@transaction.atomic
def cancel_held(target: Target, now: datetime.datetime | None = None) -> int:
    """Cancel the letters held for a target, and those waiting for its digest (the organiser's word: they
    will never be sent); returns how many."""
    now = now or timezone.now()
    held = OutboxMessage.objects.filter(targets=target, status=Status.HELD)
    waiting = DigestEntry.objects.pending().filter(target=target)
    cancelled = waiting.update(cancelled_at=now, listing={}, subject="", body="")
    return cancelled + _move(held, Status.CANCELLED, f"cancelled by an organiser: {target.email}", now)
