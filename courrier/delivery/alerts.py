"""Telling staff what needs a human: letters that failed for good, targets paused automatically.

Failures are reported in one message per period, not one per letter, so a
blocked target cannot flood the staff's inbox. An alert names targets (public
institutions), never a supporter: mail to a supporter is listed by its number
and kind, its reply without any address in it. Alerts are erased on the outbox's
schedule like any other mail (delivery/retention.py).
"""

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from courrier.delivery.messages import staff_alert
from courrier.delivery.models import OutboxMessage
from courrier.lib.redact import without_addresses

Kind = OutboxMessage.Kind
TARGET_KINDS = OutboxMessage.TARGET_KINDS


def alert_staff(subject: str, body: str, now: datetime.datetime) -> OutboxMessage | None:
    """Queue a message to STAFF_ALERT_EMAIL; without one, the admin's outbox is the report."""
    if not settings.STAFF_ALERT_EMAIL:
        return None
    (message,) = OutboxMessage.objects.queue([staff_alert(subject, body, now)], now)
    return message


def report_failures(now: datetime.datetime) -> int:
    with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
        failed = OutboxMessage.objects.filter(status=OutboxMessage.Status.FAILED, failure_reported=False).exclude(
            kind=Kind.STAFF_ALERT
        )
        rows = list(failed.select_for_update(skip_locked=True).values_list("pk", "kind", "to", "last_reply")[:500])
        if not rows:
            return 0
        lines = [failure_line(pk, kind, to, reply) for pk, kind, to, reply in rows]
        alert_staff(
            ngettext("%(count)d message could not be delivered", "%(count)d messages could not be delivered", len(rows))
            % {"count": len(rows)},
            _("These messages failed for good (see the outbox in the admin):") + "\n\n" + "\n".join(lines) + "\n",
            now,
        )
        OutboxMessage.objects.filter(pk__in=[row[0] for row in rows]).update(failure_reported=True)
    return len(rows)


def failure_line(pk: int, kind: str, to: list[str], reply: str) -> str:
    """One failed message in an alert: the targets a letter or digest went to; a supporter, never by address."""
    if kind in TARGET_KINDS:
        return f"#{pk} {kind} to {', '.join(to)}: {reply[:300]}"
    return f"#{pk} {kind}: {without_addresses(reply)[:300]}"


def report_long_deferrals(now: datetime.datetime) -> int:
    """Tell staff, once, of the mail deferred for longer than DELIVERY_DEFERRED_ALERT_SECONDS.

    A relay that refuses every connection (a wrong CA, a password changed) or a target's server that keeps
    answering 4xx would otherwise be noticed only when the letters fail, five days later.
    """
    since = now - datetime.timedelta(seconds=settings.DELIVERY_DEFERRED_ALERT_SECONDS)
    with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
        waiting = OutboxMessage.objects.filter(
            status=OutboxMessage.Status.DEFERRED, deferral_reported=False, dated_at__lt=since
        ).exclude(kind=Kind.STAFF_ALERT)
        rows = list(waiting.select_for_update(skip_locked=True).values_list("pk", "kind", "to", "last_reply")[:500])
        if not rows:
            return 0
        lines = [failure_line(pk, kind, to, reply) for pk, kind, to, reply in rows]
        minutes = settings.DELIVERY_DEFERRED_ALERT_SECONDS // 60
        alert_staff(
            ngettext("%(count)d message is still waiting", "%(count)d messages are still waiting", len(rows))
            % {"count": len(rows)},
            ngettext(
                "These messages have been deferred for more than %(minutes)d minute: the relay or the receiving "
                "server keeps answering that it cannot take them now. They are retried and not lost, but check "
                "the worker's log and the relay (its address, certificate and password):",
                "These messages have been deferred for more than %(minutes)d minutes: the relay or the receiving "
                "server keeps answering that it cannot take them now. They are retried and not lost, but check "
                "the worker's log and the relay (its address, certificate and password):",
                minutes,
            )
            % {"minutes": minutes}
            + "\n\n"
            + "\n".join(lines)
            + "\n",
            now,
        )
        OutboxMessage.objects.filter(pk__in=[row[0] for row in rows]).update(deferral_reported=True)
    return len(rows)
