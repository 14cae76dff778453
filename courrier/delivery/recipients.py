"""What happened to a letter at each of its recipients, and what that makes of the letter (see Recipient).

The SMTP server answers each RCPT on its own, then the message as a whole (DATA) for the recipients it took:
- a recipient it took, and whose message it then accepted, is sent: never written to again;
- a 4xx for a recipient (at RCPT, or at DATA for those it took) defers that recipient alone, on its own
  backoff: the message goes again later to the deferred recipients only, with the same Message-ID and bytes;
- a 5xx fails that recipient alone; a policy refusal (5.7.x) also counts against its domain, like a bounce.
Once no recipient is left to try, the letter's state follows its To recipients: sent if every one of them
took it, failed if any refused it (a refused copy stays recorded on its Cc recipient). A message given up
after DELIVERY_MAX_AGE_DAYS fails the recipients still waiting.
"""

import datetime
from collections.abc import Iterable

from django.db import transaction

from courrier.campaigns.models import Target
from courrier.delivery.models import OutboxMessage, Recipient

Status = OutboxMessage.Status
RecipientStatus = Recipient.Status
# Messages whose recipients are targets, each with its own Recipient row.
WITH_RECIPIENTS = OutboxMessage.TARGET_KINDS


def recipient_rows(message: OutboxMessage, targets: Iterable[Target]) -> list[Recipient]:
    """The Recipient rows of a new letter or digest, one per target it goes to (unsaved)."""
    to = {address.lower() for address in message.to}
    return [
        Recipient(
            outboxmessage_id=message.pk,
            target_id=target.pk,
            address=target.email,
            role=Recipient.Role.TO if target.email.lower() in to else Recipient.Role.CC,
        )
        for target in targets
    ]


def due_recipients(messages: list[OutboxMessage], now: datetime.datetime) -> dict[int, list[Recipient]]:
    """For the claimed letters and digests tried before, the recipients to try now (one query for them all).

    Those still waiting whose own next try has come; if none has (the message was made due by hand, or by a
    target's resumption), every one still waiting. A first attempt goes to every recipient: it needs no query.
    """
    retried = [m.pk for m in messages if m.kind in WITH_RECIPIENTS and m.attempts > 1]
    if not retried:
        return {}
    waiting: dict[int, list[Recipient]] = {pk: [] for pk in retried}
    pending = Recipient.objects.filter(
        outboxmessage_id__in=retried, status__in=[RecipientStatus.QUEUED, RecipientStatus.DEFERRED]
    ).order_by("pk")
    for row in pending:
        waiting[row.outboxmessage_id].append(row)
    due = {}
    for pk, rows in waiting.items():
        ready = [row for row in rows if row.next_attempt_at is None or row.next_attempt_at <= now]
        due[pk] = ready or rows
    return due


def recipient_outcome(address: str, refused: dict[str, tuple[int, str]], outcome: str, code, reply: str):
    """(status, code, reply) of one recipient after an attempt: its own RCPT refusal, or the DATA answer."""
    if address in refused:
        rcpt_code, rcpt_reply = refused[address]
        status = RecipientStatus.FAILED if rcpt_code >= 500 else RecipientStatus.DEFERRED
        return status, rcpt_code, f"{rcpt_code} {rcpt_reply}"
    status = {"sent": RecipientStatus.SENT, "deferred": RecipientStatus.DEFERRED}.get(outcome, RecipientStatus.FAILED)
    return status, code, reply


@transaction.atomic
def record_attempt(
    message: OutboxMessage,
    tried: list[str],
    outcome: str,
    code: int | None,
    reply: str,
    refused: dict[str, tuple[int, str]],
    now: datetime.datetime,
    worker: str = "",
) -> tuple[str, list[Recipient]]:
    """Record what each tried recipient of a letter or digest answered, then settle the message.

    Returns the message's new status and the recipients refused for good in this attempt (for the policy
    count). Only the rows of the tried recipients change; the message row only while this worker's lease holds.
    """
    rows = list(Recipient.objects.select_for_update().filter(outboxmessage=message).order_by("pk"))
    tried_lower = {address.lower() for address in tried}
    failed_now = []
    for row in rows:
        if row.address.lower() not in tried_lower or not row.is_pending:
            continue
        status, row_code, row_reply = recipient_outcome(row.address, refused, outcome, code, reply)
        row.attempts += 1
        row.status, row.smtp_code, row.last_reply = status, row_code, row_reply[:2000]
        if status == RecipientStatus.SENT:
            row.sent_at, row.next_attempt_at = now, None
        elif status == RecipientStatus.DEFERRED:
            row.next_attempt_at = now + message.retry_delay_after(row.attempts)
        else:
            row.next_attempt_at = None
            failed_now.append(row)
        row.save(update_fields=["attempts", "status", "smtp_code", "last_reply", "sent_at", "next_attempt_at"])
    status = settle(message, rows, now, worker=worker, leased=True, code=code)
    return status, failed_now


def settle(
    message: OutboxMessage,
    rows: list[Recipient],
    now: datetime.datetime,
    worker: str = "",
    leased: bool = False,
    code: int | None = None,
) -> str:
    """Give the message the state its recipients make (see the module's text); returns it.

    `leased`: the message is this worker's, being sent (its row is updated only while the lease holds);
    otherwise (a bounce read later) the row changes only once no recipient waits any more, unless cancelled.
    """
    pending = [row for row in rows if row.is_pending]
    if pending and message.is_too_old_to_retry(now):
        for row in pending:
            row.status = RecipientStatus.FAILED
            row.last_reply = f"gave up after {row.attempts} attempts: {row.last_reply}"[:2000]
            row.save(update_fields=["status", "last_reply"])
        pending = []
    if pending and not leased:
        # A bounce read while other recipients still wait: the letter is still on its way, as it stands;
        # what was said is logged.
        reply = summary(rows)
        OutboxMessage.objects.filter(pk=message.pk).log(reply, now, worker=worker or "bounces")
        message.last_reply = reply
        return message.status
    changes: dict = {}
    if pending:
        status = Status.DEFERRED
        changes["next_attempt_at"] = min(row.next_attempt_at or now for row in pending)
    else:
        addressees = [row for row in rows if row.role == Recipient.Role.TO] or rows
        if all(row.status == RecipientStatus.SENT for row in addressees):
            status = Status.SENT
            changes["sent_at"] = max(row.sent_at or now for row in addressees)
        else:
            status = Status.FAILED
    reply = summary(rows)
    target = OutboxMessage.objects.filter(pk=message.pk)
    if leased:
        # Only while the lease holds: this worker's, still being sent.
        target = target.leased_by(worker) if worker else target.filter(status=Status.SENDING)
    target.settle(status, reply, now, worker=worker or "bounces", smtp_code=code, **changes)
    message.status, message.last_reply, message.lease_expires_at = status, reply[:2000], None
    for name, value in changes.items():
        setattr(message, name, value)
    return status


def summary(rows: list[Recipient]) -> str:
    """The message's last reply: the answer, when every recipient had the same; else each recipient's."""
    replies = {row.last_reply for row in rows}
    if len(replies) == 1:
        return replies.pop()[:2000]
    return " | ".join(f"{row.address}: {row.status} {row.last_reply}".strip() for row in rows)[:2000]


def fail_pending(message: OutboxMessage, reply: str) -> int:
    """The message failed as a whole: every recipient still waiting failed with it."""
    return Recipient.objects.filter(
        outboxmessage=message, status__in=[RecipientStatus.QUEUED, RecipientStatus.DEFERRED]
    ).update(status=RecipientStatus.FAILED, last_reply=reply[:2000])
