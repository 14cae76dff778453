"""Turn signatures into outbox rows, and keep the public tallies current.

The signing request writes one row and nothing else; the worker calls these
functions to find what is due. Each batch creates its outbox rows and marks
its signatures in one transaction, so a signature is queued exactly once
even if the worker dies half-way.
"""

import datetime
import logging
import uuid
from collections import defaultdict

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet, prefetch_related_objects
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from courrier.campaigns.letters import Signer, render_bilingual_letter, render_letter, versions_for_targets
from courrier.campaigns.models import Campaign, DirectoryEntry, ModelLetter, Target
from courrier.delivery.models import DeliveryEvent, DigestEntry, OutboxMessage, Recipient, UndeliverableAddress
from courrier.delivery.recipients import recipient_rows
from courrier.lib import emails
from courrier.lib.crypto import email_digest
from courrier.signatures import moderation
from courrier.signatures.models import Signature
from courrier.signatures.tokens import confirmation_token, my_data_request_url, my_data_url

BATCH = 200
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


def new_message_id(sender: str) -> str:
    return f"<{uuid.uuid4().hex}@{sender.rsplit('@', 1)[1]}>"


def is_sandboxed(campaign: Campaign) -> bool:
    """Real mail needs both an operator (SMTP configured) and staff (campaign switched to real)."""
    return not (settings.EMAIL_HOST and campaign.real_delivery)


def supporter_message(kind: str, signature: Signature, subject: str, body: str) -> OutboxMessage:
    sender = settings.SENDER_EMAIL
    return OutboxMessage(
        kind=kind,
        campaign=signature.campaign,
        signature=signature,
        message_id=new_message_id(sender),
        sandbox=is_sandboxed(signature.campaign),
        from_name=settings.SITE_NAME,
        from_email=sender,
        envelope_from=sender,
        to=[signature.email],
        subject=subject,
        body=body,
        auto_submitted=True,
        recipient_digest=email_digest(signature.email),
    )


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
    recent = OutboxMessage.objects.filter(recipient_digest__in=capped, kind__in=CAPPED_KINDS).filter(
        Q(next_attempt_at__gt=now - DAY)
        | Q(kind=OutboxMessage.Kind.ALREADY_SIGNED, created_at__gt=now - ALREADY_SIGNED_NOTICE_PERIOD)
    )
    due: dict[tuple[str, bool], list[datetime.datetime]] = defaultdict(list)  # (digest, confirmation?) -> times
    noticed: set[tuple[str, int | None]] = set()
    for digest, kind, campaign_id, due_at, created_at in recent.values_list(
        "recipient_digest", "kind", "campaign_id", "next_attempt_at", "created_at"
    ):
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


def absolute_url(path: str) -> str:
    return settings.SITE_ROOT + path


def recipients_phrase(campaign: Campaign, language: str, signature: Signature | None = None) -> str:
    """Who receives the letter, for the supporter's e-mails: with a directory, the entry of their country."""
    to_targets, cc_targets = letter_recipients(signature) if signature is not None else campaign.recipients()
    with translation.override(language):
        names = ", ".join(t.name for t in to_targets)
        if cc_targets:
            return _("%(to)s, with a copy to %(cc)s") % {"to": names, "cc": ", ".join(t.name for t in cc_targets)}
        return names


def confirmation_message(signature: Signature) -> OutboxMessage:
    campaign = signature.campaign
    with translation.override(signature.language):
        if signature.is_duplicate:
            subject, body = emails.already_signed(
                signature.language,
                campaign,
                absolute_url(campaign.get_absolute_url()),
                duplicate_data_url(signature),
            )
            return supporter_message(OutboxMessage.Kind.ALREADY_SIGNED, signature, subject, body)
        url = absolute_url(reverse("confirm", args=[confirmation_token(signature.pk)]))
    subject, body = emails.confirmation(
        signature.language,
        campaign,
        url,
        recipients_phrase(campaign, signature.language, signature),
        my_data_url(signature, signature.language),
    )
    return supporter_message(OutboxMessage.Kind.CONFIRMATION, signature, subject, body)


def duplicate_data_url(duplicate: Signature) -> str:
    """For the "already signed" notice: the link to the first signature of the address, which the notice's
    reader owns; the public form when there is none left (erased meanwhile)."""
    digest = getattr(duplicate, "email_digest", None)
    original = (
        Signature.objects.filter(
            campaign_id=duplicate.campaign_id, email_digest=digest, is_duplicate=False, anonymised_at=None
        ).first()
        if digest
        else None
    )
    if original is None:
        return my_data_request_url(duplicate.language)
    return my_data_url(original, duplicate.language)


def signer_of(signature: Signature) -> Signer:
    return Signer(
        first_name=signature.first_name,
        last_name=signature.last_name,
        organisation=signature.organisation,
        organisation_role=signature.organisation_role,
        city=signature.city,
        personal_sentence=signature.personal_sentence,
        signed_on=timezone.localdate(signature.confirmed_at),
    )


def pacing_key(targets: list[Target]) -> str:
    # (A preview's directory target may be unsaved: its key is never stored.)
    return "-".join(str(t.pk) for t in sorted(targets, key=lambda t: t.pk or 0))


# The target directory (campaign.use_directory): the supporter picks their country, and the letter goes
# To that country's DirectoryEntry instead of the campaign's To targets, still with a copy to the Cc targets.
#
# A directory entry is delivered through a Target row of the campaign with the same address, so that
# everything the delivery knows about a recipient works for it unchanged: pacing (its letters per hour
# and office hours), pausing and cancelling its letters, bounces and automatic pauses, the per-target
# statistics. That row is the campaign's target with the entry's address if there is one (an embassy
# that is both a To target and a directory entry is one mailbox, paced once). Otherwise the worker
# creates it when it queues the first letter to the entry (ensure_directory_targets): role To,
# **inactive**, so that it never receives the campaign's other letters (campaign.recipients() and the
# checklist only count active targets). Organisers set its pace, or pause it, under Targets like any
# other. Creating it lazily rather than at import keeps one path for the CSV, the admin inline and
# later address changes. Two workers on PostgreSQL may both create it for a new address: the letters
# then use the first (lowest id), and the other stays unused.


def directory_entry(signature: Signature) -> DirectoryEntry | None:
    """The directory entry the supporter's letter goes to, or None: no directory, or "my country is not listed"."""
    campaign = signature.campaign
    if not (campaign.use_directory and signature.directory_country):
        return None
    return next((entry for entry in campaign.directory.all() if entry.country == signature.directory_country), None)


def directory_target(campaign: Campaign, entry: DirectoryEntry) -> Target:
    """The target a directory entry's letters are paced through; unsaved if the worker has not created it yet."""
    address = entry.email.strip().lower()
    for target in campaign.targets.all():
        if target.email.strip().lower() == address:
            return target
    return Target(
        campaign=campaign,
        role=Target.Role.TO,
        name=entry.name[:200],
        email=entry.email.strip(),
        language=entry.language,
        active=False,
    )


def letter_recipients(signature: Signature) -> tuple[list[Target], list[Target]]:
    """The (To, Cc) targets of one supporter's letter: the campaign's, or their country's entry and the Cc."""
    campaign = signature.campaign
    to_targets, cc_targets = campaign.recipients()
    entry = directory_entry(signature)
    if entry is None:
        return to_targets, cc_targets
    target = directory_target(campaign, entry)
    return [target], [t for t in cc_targets if t.pk != target.pk]


def ensure_directory_targets(signatures: list[Signature]) -> None:
    """Create the (inactive) targets of the directory entries these letters go to, where none exists yet."""
    missing: dict[tuple[int, str], Target] = {}
    for signature in signatures:
        entry = directory_entry(signature)
        if entry is not None:
            target = directory_target(signature.campaign, entry)
            if target.pk is None:
                missing.setdefault((signature.campaign_id, target.email.lower()), target)
    if not missing:
        return
    Target.objects.bulk_create(missing.values())
    campaigns = [signature.campaign for signature in signatures]
    for campaign in campaigns:
        getattr(campaign, "_prefetched_objects_cache", {}).pop("targets", None)
    prefetch_related_objects(campaigns, "targets")


def letter_messages(signature: Signature) -> tuple[list[OutboxMessage], list[Target]]:
    """The letter to the targets that take one e-mail per letter, and the supporter's copy.

    Targets in digest mode get this signature in their next digest instead.
    Returns the messages and the targets of the letter (none when every target takes digests).
    """
    campaign = signature.campaign
    to_targets, cc_targets = letter_recipients(signature)
    each = [t for t in [*to_targets, *cc_targets] if t.delivery_mode == Target.Mode.EACH]
    model = campaign.letter_for(signature.letter_language)
    signer = signer_of(signature)
    subject, body = render_letter(model, signer, signature.letter_body)
    messages = []
    if each:
        sender = settings.LETTERS_SENDER_EMAIL
        with translation.override(model.language):
            from_name = _("%(name)s via %(site)s") % {"name": signature.full_name, "site": settings.SITE_NAME}
        addressees = [t for t in each if t.role == Target.Role.TO] or each
        to = [t.email for t in addressees]
        if campaign.bilingual_letters:
            # The To and Cc targets share one message, so its languages follow the addressees (the To
            # targets, such as an embassy): the copies go to the campaign's allies, who can read the
            # supporter's version. The supporter's copy below shows the letter exactly as sent.
            versions = versions_for_targets(campaign.letters.all(), model.language, [t.language for t in addressees])
            subject, body = render_bilingual_letter(model, signer, signature.letter_body, versions)
        letter = OutboxMessage(
            kind=OutboxMessage.Kind.LETTER,
            campaign=campaign,
            signature=signature,
            message_id=new_message_id(sender),
            sandbox=is_sandboxed(campaign),
            from_name=from_name,
            from_email=sender,
            envelope_from=settings.BOUNCE_EMAIL,
            to=to,
            cc=[t.email for t in each if t.email not in to],
            reply_to=signature.email,
            subject=subject,
            body=body,
            pacing_key=pacing_key(each),
            status=OutboxMessage.Status.HELD if any(t.is_paused for t in each) else OutboxMessage.Status.QUEUED,
        )
        messages.append(letter)
    copy_subject, copy_body = emails.letter_copy(
        signature.language,
        campaign,
        signature.first_name,
        recipients_phrase(campaign, signature.language, signature),
        subject,
        body,
        my_data_url(signature, signature.language),
    )
    messages.append(supporter_message(OutboxMessage.Kind.COPY, signature, copy_subject, copy_body))
    return messages, each


# What a digest lists of each signer (DigestEntry.listing), and whether they rewrote the model letter.
DIGEST_LISTING = ("full_name", "organisation", "organisation_role", "city", "personal_sentence")


def digest_entries(signature: Signature, now: datetime.datetime) -> list[DigestEntry]:
    """One entry for each target in digest mode among this letter's own recipients (see DigestEntry)."""
    to_targets, cc_targets = letter_recipients(signature)
    digest_targets = [t for t in [*to_targets, *cc_targets] if t.delivery_mode == Target.Mode.DIGEST]
    signer = signer_of(signature)
    return [digest_entry(signature, signer, target, now) for target in digest_targets]


def digest_entry(signature: Signature, signer: Signer, target: Target, now: datetime.datetime) -> DigestEntry:
    """The supporter's letter as this digest target receives it: their version in their letter's language,
    followed, for bilingual letters, by the model letter in the target's own language."""
    campaign = signature.campaign
    model = campaign.letter_for(signature.letter_language)
    if campaign.bilingual_letters:
        versions = versions_for_targets(campaign.letters.all(), model.language, [target.language])
        subject, body = render_bilingual_letter(model, signer, signature.letter_body, versions)
    else:
        subject, body = render_letter(model, signer, signature.letter_body)
    listing = {name: getattr(signer, name) for name in DIGEST_LISTING}
    return DigestEntry(
        target=target,
        signature=signature,
        queued_at=now,
        listing={**listing, "edited": bool(signature.letter_body)},
        subject=subject,
        body=body,
    )


def durable_commit() -> None:
    """Inside a transaction: commit only once it is on disk, whatever the session prefers."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO ON")


def stamped(messages: list[OutboxMessage], now: datetime.datetime) -> list[OutboxMessage]:
    """Created and due at the worker's `now`, so the same pass can send them (and a test clock rules)."""
    for message in messages:
        message.created_at = message.next_attempt_at = now
    return messages


def _claim_signatures(queryset: QuerySet) -> list[Signature]:
    # skip_locked lets several workers on PostgreSQL share the work; on SQLite
    # the IMMEDIATE transaction already makes this the only writer.
    locked = queryset.select_related("campaign").select_for_update(skip_locked=True, of=("self",))[:BATCH]
    return list(locked.prefetch_related("campaign__targets", "campaign__letters", "campaign__directory"))


def queue_confirmations(now: datetime.datetime | None = None) -> int:
    now = now or timezone.now()
    with transaction.atomic():
        durable_commit()
        due = Signature.objects.filter(confirmation_queued_at__isnull=True).order_by("created_at")
        signatures = _claim_signatures(due)
        if not signatures:
            return 0
        # Beyond the address's daily cap the mail waits for its turn (a repeated notice is not queued).
        messages = schedule_within_daily_cap(stamped([confirmation_message(s) for s in signatures], now), now)
        OutboxMessage.objects.bulk_create(messages)
        Signature.objects.filter(pk__in=[s.pk for s in signatures]).update(confirmation_queued_at=now)
    return len(signatures)


def queue_letters(now: datetime.datetime | None = None) -> set[int]:
    """Queue the letters of newly confirmed signatures; returns the campaigns touched."""
    now = now or timezone.now()
    with_targets = Target.objects.filter(role=Target.Role.TO, active=True).values("campaign_id")
    # With a directory, a campaign may have no To target of its own: its entries are the addressees.
    with_directory = DirectoryEntry.objects.filter(campaign__use_directory=True).values("campaign_id")
    # A campaign whose model letters were all removed keeps its confirmed signatures
    # waiting (nothing to send yet) rather than stopping the worker.
    with_letters = ModelLetter.objects.values("campaign_id")
    with transaction.atomic():
        durable_commit()
        due = (
            Signature.objects.filter(
                confirmed_at__isnull=False,
                letters_queued_at__isnull=True,
                is_duplicate=False,
            )
            .filter(Q(campaign_id__in=with_targets) | Q(campaign_id__in=with_directory))
            .filter(campaign_id__in=with_letters)
            # Held for review: queued once an organiser approves (rejected: never).
            .filter(moderation__in=[Signature.Moderation.NONE, Signature.Moderation.APPROVED])
            .order_by("confirmed_at")
        )
        signatures = _claim_signatures(due)
        if not signatures:
            return set()
        held = moderation.screen(signatures)
        if held:
            moderation.hold(signatures, held)
            signatures = [s for s in signatures if s.pk not in held]
            if not signatures:
                return set()
        ensure_directory_targets(signatures)
        messages, links, entries = [], [], []
        for signature in signatures:
            queued, targets = letter_messages(signature)
            messages += queued
            if targets:
                links.append((queued[0], targets))
            entries += digest_entries(signature, now)
        OutboxMessage.objects.bulk_create(stamped(messages, now))
        DigestEntry.objects.bulk_create(entries)
        Recipient.objects.bulk_create(row for message, targets in links for row in recipient_rows(message, targets))
        DeliveryEvent.objects.bulk_create(
            DeliveryEvent(message=message, at=now, status=message.status, reply="a target of this letter is paused")
            for message in messages
            if message.status == OutboxMessage.Status.HELD
        )
        Signature.objects.filter(pk__in=[s.pk for s in signatures]).update(letters_queued_at=now)
    return {s.campaign_id for s in signatures}


def refresh_tallies(campaign_ids) -> None:
    """Recount in one query per campaign, instead of touching a counter per signature."""
    for campaign_id in campaign_ids:
        # Quarantined letters (a burst from one network) count only once a moderator approves them.
        confirmed = Signature.objects.filter(
            campaign_id=campaign_id, is_duplicate=False, confirmed_at__isnull=False
        ).exclude(moderation__in=[Signature.Moderation.REJECTED, Signature.Moderation.BURST])
        # An organisation is listed publicly only once its letter may go: not while held for review.
        listed = (
            confirmed.filter(consent_list_organisation=True)
            .exclude(organisation="")
            .exclude(moderation=Signature.Moderation.HELD)
            .order_by("confirmed_at")
        )
        organisations, seen = [], set()
        for name in listed.values_list("organisation", flat=True).iterator():
            if name.casefold() not in seen:
                seen.add(name.casefold())
                organisations.append(name)
        Campaign.objects.filter(pk=campaign_id).update(
            tally_letters=confirmed.count(), tally_organisations=organisations, tally_updated_at=timezone.now()
        )
