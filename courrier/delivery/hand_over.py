"""A campaign's end date and its final hand-over.

A live or paused campaign whose end date has come closes itself (campaigns/lifecycle.py: the page shows its
closing message). Then each of its targets marked "receives the final hand-over" gets one message: how many
letters it was sent, the organisations that signed, and the PDF of those letters' signatures and words
(signatures/exports.py, in parts of PDF_PART_SIZE: a message per part), asking for an answer, which comes back
to the campaign through its own Reply-To (delivery/answers.py, record_hand_over_answer). A target receives
only the names of the supporters whose letter was addressed to it and not cancelled.

The PDFs are built before the write, and the write claims the campaign (hand_over_queued_at), so that two
workers never hand over twice and the SQLite write lock is held only for the rows.
"""

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.template.loader import render_to_string
from django.utils import formats, translation
from django.utils.translation import gettext as _

from courrier.campaigns import lifecycle
from courrier.campaigns.models import Campaign, Target
from courrier.delivery.messages import digest_language, target_mail
from courrier.delivery.models import DigestEntry, OutboxMessage, Recipient
from courrier.delivery.recipients import recipient_rows
from courrier.delivery.verp import hand_over_reply_address
from courrier.signatures import exports
from courrier.signatures.tallies import refresh_tallies

RUNNING = (Campaign.Status.LIVE, Campaign.Status.PAUSED)


def run(now: datetime.datetime) -> int:
    """Close the campaigns whose end date has come; hand over those it closed. Returns the messages queued.

    A campaign reopened after its end date (its hand-over done) is not closed again; one closed by hand before
    its end date gets no hand-over: the organisers closed it, perhaps cancelling letters, for a reason of theirs.
    """
    for campaign in Campaign.objects.filter(status__in=RUNNING, ends_at__lte=now, hand_over_queued_at__isnull=True):
        lifecycle.close(campaign, None, summary="its end date came")
    queued = 0
    due = Campaign.objects.filter(
        status=Campaign.Status.CLOSED,
        ends_at__lte=now,
        closed_at__gte=F("ends_at"),
        hand_over_queued_at__isnull=True,
        anonymised_at__isnull=True,
    )
    for campaign in due:
        queued += queue_hand_over(campaign, now)
    return queued


def handed_over_to(target: Target) -> QuerySet:
    """The letters the target was sent, one by one or in its digest, and not cancelled: only what their supporters
    agreed to send it (a directory's entry gets its country's, a target added late those written since)."""
    # The campaign's own letters: a follow-up's carries nothing of the supporter's words the hand-over holds.
    letters = (
        OutboxMessage.objects.first_letters()
        .filter(signature=OuterRef("pk"), targets=target)
        .exclude(status=OutboxMessage.Status.CANCELLED)
    )
    in_digest = DigestEntry.objects.filter(
        signature=OuterRef("pk"), target=target, cancelled_at__isnull=True, follow_up__isnull=True
    )
    return exports.exported_signatures(target.campaign).filter(Exists(letters) | Exists(in_digest))


def queue_hand_over(campaign: Campaign, now: datetime.datetime) -> int:
    """The hand-over messages of one ended campaign, a message per target and PDF part; 0 if already done."""
    refresh_tallies([campaign.pk], now)  # the organisations as they stand at the end
    campaign.refresh_from_db()
    messages = []
    for target in campaign.targets.filter(hand_over=True).order_by("pk"):
        target.campaign = campaign
        letters = handed_over_to(target)
        count = letters.count()
        parts = exports.pdf_parts(count) if count else []
        for number, _first, _last in parts:
            pdf, _rows = exports.signatures_pdf(campaign, number, among=letters)
            messages.append((target, hand_over_message(campaign, target, count, number, len(parts), pdf, now)))
    with transaction.atomic():
        if not Campaign.objects.filter(pk=campaign.pk, hand_over_queued_at__isnull=True).update(
            hand_over_queued_at=now
        ):
            return 0  # another worker did it
        for target, message in messages:
            message.save()
            Recipient.objects.bulk_create(recipient_rows(message, [target]))
    return len(messages)


def hand_over_message(
    campaign: Campaign, target: Target, letters: int, part: int, parts: int, pdf: bytes, now: datetime.datetime
) -> OutboxMessage:
    language = digest_language(target)
    with translation.override(language):
        subject = _("The letters of “%(title)s”, handed over") % {"title": campaign.title}
        if parts > 1:
            subject += " " + _("(part %(part)d of %(parts)d)") % {"part": part, "parts": parts}
        body = render_to_string(
            "emails/hand-over-body-text.txt",
            {
                "target": target,
                "campaign": campaign,
                "count": formats.number_format(letters, force_grouping=True),
                "letters": letters,
                "organisations": campaign.organisations_shown(),
                "more_organisations": campaign.more_organisations(),
                "part": part,
                "parts": parts,
                "site_name": settings.SITE_NAME,
            },
        )
    filename = f"letters-{campaign.slug}-{part}.pdf" if parts > 1 else f"letters-{campaign.slug}.pdf"
    return target_mail(
        OutboxMessage.Kind.HAND_OVER,
        target,
        subject,
        body,
        filename,
        pdf,
        now,
        reply_to=hand_over_reply_address(target.pk),
        reply_to_name=campaign.organisation.name,
    )
