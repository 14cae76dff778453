"""Keeping supporters' data no longer than it is needed, run by the delivery worker.

The schedule (README, "Retention and erasure"):
- a signature not confirmed within CONFIRMATION_MAX_AGE_DAYS is deleted, with its mail not sent yet; the
  row kept for an "already signed" notice goes too, once its notice is out;
- the personal parts of mail sent (or failed, or cancelled) more than OUTBOX_ERASE_AFTER_DAYS ago are erased:
  bodies, attachments, a letter's sender name, subject and reply address, a supporter's own address, staff
  alerts' and test letters' texts; and the message's copy in the sandbox mailbox, if it went there;
- a campaign closed or archived for more than its `anonymise_after_days` is anonymised: every signature keeps
  only what the counts need (dates, languages, source, consents, moderation), its mail is erased, its public
  list of organisations emptied;
- a supporter may erase their own signature at any time (erase_signatures, from the "my data" page).

Every step works in batches and is idempotent: a worker that dies half-way leaves rows that the next pass
finishes, and a pass with nothing to do costs a few indexed queries.
"""

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext

from courrier.campaigns.models import Campaign
from courrier.delivery.models import Answer, AnswerAttachment, Bounce, DeliveryEvent, DigestEntry, OutboxMessage
from courrier.delivery.transports import MaildirTransport
from courrier.signatures.models import SUPPORTER_FIELDS, Signature
from courrier.signatures.tallies import refresh_tallies

Kind = OutboxMessage.Kind
Status = OutboxMessage.Status
BATCH = 500
# A pass does at most this many batches per step, so a backlog never holds up sending for long.
MAX_BATCHES = 20

SUPPORTER_KINDS = OutboxMessage.SUPPORTER_KINDS
# Staff alerts and test letters may quote supporters too (a failed message's reply, a sample supporter).
PERSONAL_KINDS = [kind for kinds, _parts in OutboxMessage.PERSONAL_PARTS for kind in kinds]
NOT_SENT = OutboxMessage.NOT_SENT

# Those, and what was derived from them: the country picked, a moderation reason that may quote the sentence.
PERSONAL_FIELDS = [*SUPPORTER_FIELDS, "directory_country", "moderation_reason"]


def signature_erased_values(now: datetime.datetime) -> dict:
    values = {name: "" for name in PERSONAL_FIELDS}
    if any(field.name == "email_digest" for field in Signature._meta.concrete_fields):
        values["email_digest"] = None
    return {**values, "anonymised_at": now}


def run(now: datetime.datetime | None = None) -> None:
    """Everything on the schedule that is due at `now` (the worker's periodic work)."""
    now = now or timezone.now()
    stamp_closures(now)
    delete_unconfirmed(now)
    erase_old_mail(now)
    anonymise_closed_campaigns(now)


def batches(step) -> int:
    """Run `step` (which handles one batch and returns its size) until a batch is not full; returns the total."""
    total = 0
    for _ in range(MAX_BATCHES):
        done = step()
        total += done
        if done < BATCH:
            break
    return total


# Outbox


def erase_messages(ids: list[int], now: datetime.datetime) -> None:
    """Blank the personal parts of these messages (whatever their kind: the kind decides what goes)."""
    if not ids:
        return
    messages = OutboxMessage.objects.filter(pk__in=ids)
    messages.erase(now)
    # The sandbox's copies: what was written to the local mailbox instead of being sent.
    MaildirTransport().erase(list(messages.filter(sandbox=True).values_list("message_id", flat=True)))
    supporter_mail = Q(message_id__in=ids, message__kind__in=SUPPORTER_KINDS)
    DeliveryEvent.objects.filter(supporter_mail).exclude(reply="").update(reply="")
    # Each bounce keeps a digest of its own id: the address's digest goes, and two bounces of one message
    # (one status) never end up with the same value, which their unique constraint would refuse.
    erased_digest = Concat(Value("erased:"), Cast("pk", output_field=CharField()))
    Bounce.objects.filter(supporter_mail).update(recipient="", recipient_digest=erased_digest, diagnostic="")


def cancel_messages(messages, now: datetime.datetime, note: str) -> list[int]:
    """Stop these messages for good, each with its event. A message being sent right now may still leave:
    its worker marks it sent if the server took it, and never retries it otherwise."""
    ids = list(messages.filter(status__in=OutboxMessage.TRANSITIONS["cancel"][0]).values_list("pk", flat=True))
    OutboxMessage.objects.filter(pk__in=ids).cancel(note, now)
    return ids


def erase_old_mail(now: datetime.datetime) -> int:
    """Mail sent, failed or cancelled more than the grace ago loses its personal parts, then its digest."""
    cutoff = now - datetime.timedelta(days=settings.OUTBOX_ERASE_AFTER_DAYS)
    old = Q(status=Status.SENT, sent_at__lt=cutoff) | Q(
        status__in=[Status.FAILED, Status.CANCELLED], next_attempt_at__lt=cutoff
    )
    due = OutboxMessage.objects.filter(old, kind__in=PERSONAL_KINDS, personal_data_erased_at__isnull=True)

    def step() -> int:
        with transaction.atomic():
            ids = list(due.order_by().values_list("pk", flat=True)[:BATCH])
            erase_messages(ids, now)
        return len(ids)

    erased = batches(step)
    # The digest of a recipient's address serves the cap on mails a day: past the grace it has no use.
    digested = OutboxMessage.objects.filter(old).exclude(recipient_digest="")

    def forget_digests() -> int:
        ids = list(digested.order_by().values_list("pk", flat=True)[:BATCH])
        return OutboxMessage.objects.filter(pk__in=ids).update(recipient_digest="")

    batches(forget_digests)
    return erased


# Signatures


def delete_unconfirmed(now: datetime.datetime) -> int:
    """Signatures never confirmed, once their link has expired: deleted with their mail not sent yet.

    The rows kept for an "already signed" notice go at the same age, once their notice is out.
    """
    cutoff = now - datetime.timedelta(days=settings.CONFIRMATION_MAX_AGE_DAYS)
    pending_mail = OutboxMessage.objects.filter(signature_id=OuterRef("pk"), status__in=[*NOT_SENT, Status.SENDING])
    being_sent = OutboxMessage.objects.filter(signature_id=OuterRef("pk"), status=Status.SENDING)
    stale = (
        Signature.objects.filter(confirmed_at__isnull=True, created_at__lt=cutoff)
        .exclude(Q(is_duplicate=True) & (Q(confirmation_queued_at__isnull=True) | Exists(pending_mail)))
        .exclude(Exists(being_sent))
    )

    def step() -> int:
        with transaction.atomic():
            ids = list(stale.order_by().select_for_update(skip_locked=True).values_list("pk", flat=True)[:BATCH])
            if not ids:
                return 0
            OutboxMessage.objects.filter(signature_id__in=ids, status__in=NOT_SENT).delete()
            erase_messages(
                list(
                    OutboxMessage.objects.filter(signature_id__in=ids, personal_data_erased_at__isnull=True)
                    .exclude(status=Status.SENDING)
                    .values_list("pk", flat=True)
                ),
                now,
            )
            # Conditional: a confirmation that came in meanwhile keeps its signature.
            Signature.objects.filter(pk__in=ids, confirmed_at__isnull=True).delete()
        return len(ids)

    return batches(step)


def erase_signatures(ids: list[int], now: datetime.datetime, note: str) -> None:
    """Erase these signatures now: their mail not sent yet is cancelled, all their mail erased, their
    personal fields blanked. What the counts need stays. Call inside a transaction."""
    if not ids:
        return
    cancel_messages(OutboxMessage.objects.filter(signature_id__in=ids), now, note)
    erase_messages(
        list(
            OutboxMessage.objects.filter(signature_id__in=ids, personal_data_erased_at__isnull=True).values_list(
                "pk", flat=True
            )
        ),
        now,
    )
    # What was written for a target's digest: never listed now, and its copy of their words goes.
    DigestEntry.objects.filter(signature_id__in=ids).delete()
    # The targets' answers to their letters may name or quote them: what they say goes, that they came stays.
    erase_answers(Answer.objects.filter(signature_id__in=ids))
    signatures = Signature.objects.filter(pk__in=ids)
    # Marked as done, so that the worker never writes a confirmation, letter or digest from a blank row.
    signatures.filter(confirmation_queued_at__isnull=True).update(confirmation_queued_at=now)
    signatures.filter(letters_queued_at__isnull=True).update(letters_queued_at=now)
    signatures.filter(anonymised_at__isnull=True).update(**signature_erased_values(now))


def erase_answers(answers) -> None:
    """What these answers say, their files and their published excerpts (which may name the supporter) go;
    that a target answered, and when, stays for the counts."""
    AnswerAttachment.objects.filter(answer__in=answers).delete()
    answers.update(sender="", subject="", body="", published_text="", published_at=None)


@transaction.atomic
def erase_signature(signature: Signature, now: datetime.datetime | None = None) -> None:
    """The supporter's own "erase my data now": effective when this returns, public list included."""
    now = now or timezone.now()
    erase_signatures([signature.pk], now, "cancelled: the supporter erased their data")
    transaction.on_commit(lambda: refresh_tallies([signature.campaign_id]))


# Campaigns


def stamp_closures(now: datetime.datetime) -> None:
    """Keep the closure clock right whatever path changed the status (lifecycle sets it exactly)."""
    ended = [Campaign.Status.CLOSED, Campaign.Status.ARCHIVED]
    Campaign.objects.filter(status__in=ended, closed_at__isnull=True).update(closed_at=now)
    Campaign.objects.exclude(status__in=ended).filter(closed_at__isnull=False).update(
        closed_at=None, anonymised_at=None
    )


def erasure_date(campaign: Campaign) -> datetime.datetime | None:
    """When the campaign's supporters' data is (or was) anonymised; None while it is not closed."""
    if campaign.closed_at is None:
        return None
    return campaign.closed_at + datetime.timedelta(days=campaign.anonymise_after_days)


def erasure_notice(campaign: Campaign) -> str:
    """When the supporters' data is erased, said as a date an organiser reads (not as a rule to work out)."""
    if campaign.anonymised_at:
        return gettext("Erased on %(date)s: only the counts are kept.") % {
            "date": date_format(timezone.localtime(campaign.anonymised_at), "DATE_FORMAT")
        }
    when = erasure_date(campaign) if campaign.pk else None
    if when is None:
        return gettext("%(days)d days after the campaign closes (set above); it is not closed.") % {
            "days": campaign.anonymise_after_days
        }
    return gettext("%(date)s, %(days)d days after the campaign closed. Only the counts will be kept.") % {
        "date": date_format(timezone.localtime(when), "DATE_FORMAT"),
        "days": campaign.anonymise_after_days,
    }


def anonymise_closed_campaigns(now: datetime.datetime) -> int:
    ended = Campaign.objects.filter(
        status__in=[Campaign.Status.CLOSED, Campaign.Status.ARCHIVED],
        closed_at__isnull=False,
        anonymised_at__isnull=True,
    ).only("pk", "closed_at", "anonymise_after_days")
    done = 0
    for campaign in ended:
        if erasure_date(campaign) <= now and anonymise_campaign(campaign, now):
            done += 1
    return done


def anonymise_campaign(campaign: Campaign, now: datetime.datetime) -> bool:
    """Anonymise one campaign, a batch at a time; True once nothing personal is left and it is marked."""
    note = "cancelled: the campaign's retention period ended"
    signatures = Signature.objects.filter(campaign_id=campaign.pk, anonymised_at__isnull=True)
    mail = OutboxMessage.objects.filter(campaign_id=campaign.pk, personal_data_erased_at__isnull=True)

    def signatures_step() -> int:
        with transaction.atomic():
            ids = list(signatures.order_by().values_list("pk", flat=True)[:BATCH])
            erase_signatures(ids, now, note)
        return len(ids)

    def mail_step() -> int:
        with transaction.atomic():
            cancel_messages(mail.filter(kind__in=PERSONAL_KINDS), now, note)
            ids = list(mail.order_by().filter(kind__in=PERSONAL_KINDS).values_list("pk", flat=True)[:BATCH])
            erase_messages(ids, now)
        return len(ids)

    batches(signatures_step)
    batches(mail_step)
    # Every answer of the campaign, those to its hand-over and strangers' included.
    erase_answers(Answer.objects.filter(campaign_id=campaign.pk))
    if signatures.exists() or mail.filter(kind__in=PERSONAL_KINDS).exists():
        return False  # a backlog: the next pass goes on
    Campaign.objects.filter(pk=campaign.pk, anonymised_at__isnull=True).update(
        anonymised_at=now, tally_organisations=[]
    )
    return True
