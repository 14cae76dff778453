"""Where a supporter's letter went, recipient by recipient: what their data page shows them."""

import datetime
from dataclasses import dataclass

from courrier.campaigns.models import Target
from courrier.delivery.addressees import letter_recipients
from courrier.delivery.models import DigestEntry, OutboxMessage, Recipient
from courrier.signatures.models import Signature

Status = OutboxMessage.Status


@dataclass
class Destination:
    """One recipient of the supporter's letter, and what became of the letter there."""

    target: Target
    state: str
    at: datetime.datetime | None = None


def destinations(signature: Signature) -> list[Destination]:
    """Each recipient of the letter, with what became of it there (sent, listed in a digest, waiting...).

    Once the letter is written, its recipients are those it was written for (its outbox rows and digest
    entries), not the campaign's targets as they are today; before that, the targets it will go to.
    """
    if not signature.consent_send or not signature.is_confirmed or signature.letters_queued_at is None:
        to_targets, cc_targets = letter_recipients(signature)
        state = "queued" if signature.consent_send and signature.is_confirmed else "not_sent"
        return [Destination(target, state) for target in [*to_targets, *cc_targets]]
    found = []
    letters = OutboxMessage.objects.first_letters().filter(signature=signature)
    for letter in letters.prefetch_related("recipients_of__target"):
        found += [letter_destination(row, letter) for row in letter.recipients_of.all()]
    entries = DigestEntry.objects.filter(signature=signature, follow_up__isnull=True)
    for entry in entries.select_related("target", "digest"):
        found.append(digest_destination(entry))
    return found


def digest_destination(entry: DigestEntry) -> Destination:
    if entry.cancelled_at is not None:
        return Destination(entry.target, "cancelled")
    if entry.digest is not None and entry.digest.status == Status.SENT:
        return Destination(entry.target, "sandbox" if entry.digest.sandbox else "digest", entry.digest.sent_at)
    return Destination(entry.target, "queued")


def letter_destination(row: Recipient, letter: OutboxMessage) -> Destination:
    """What became of the letter at one of its recipients: that recipient's own answer, or, while it waits,
    the letter's (cancelled, or failed as a whole)."""
    if row.status == Recipient.Status.SENT:
        return Destination(row.target, "sandbox" if letter.sandbox else "sent", row.sent_at)
    if row.status == Recipient.Status.FAILED:
        return Destination(row.target, "failed")
    if letter.status in (Status.FAILED, Status.CANCELLED):
        return Destination(row.target, letter.status)
    return Destination(row.target, "queued")
