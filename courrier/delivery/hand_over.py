"""A campaign's end date and its final hand-over.

A live or paused campaign whose end date has come closes itself (campaigns/lifecycle.py: the page shows its
closing message). Then each of its targets marked "receives the final hand-over" gets one message: how many
letters were sent, the organisations that signed, and the PDF of every letter (signatures/exports.py, in
parts of PDF_PART_SIZE: a message per part), asking for an answer, which comes back to the campaign through
its own Reply-To (delivery/answers.py, record_hand_over_answer).

The PDFs are built before the write, and the write claims the campaign (hand_over_queued_at), so that two
workers never hand over twice and the SQLite write lock is held only for the rows.
"""

import datetime

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import formats, translation
from django.utils.translation import gettext as _

from courrier.campaigns import lifecycle
from courrier.campaigns.models import Campaign, Target
from courrier.delivery.messages import digest_language, target_mail
from courrier.delivery.models import OutboxMessage, Recipient
from courrier.delivery.recipients import recipient_rows
from courrier.delivery.verp import hand_over_reply_address
from courrier.signatures import exports
from courrier.signatures.tallies import refresh_tallies

RUNNING = (Campaign.Status.LIVE, Campaign.Status.PAUSED)
ENDED = (Campaign.Status.CLOSED, Campaign.Status.ARCHIVED)


def run(now: datetime.datetime) -> int:
    """Close the campaigns whose end date has come; hand over those closed so. Returns the messages queued."""
    for campaign in Campaign.objects.filter(status__in=RUNNING, ends_at__lte=now):
        lifecycle.close(campaign, None, summary="its end date came")
    queued = 0
    due = Campaign.objects.filter(
        status__in=ENDED, ends_at__lte=now, hand_over_queued_at__isnull=True, targets__hand_over=True
    ).distinct()
    for campaign in due:
        queued += queue_hand_over(campaign, now)
    return queued


def queue_hand_over(campaign: Campaign, now: datetime.datetime) -> int:
    """The hand-over messages of one ended campaign, a message per target and PDF part; 0 if already done."""
    refresh_tallies([campaign.pk], now)  # the count and the organisations as they stand at the end
    campaign.refresh_from_db()
    targets = list(campaign.targets.filter(hand_over=True).order_by("pk"))
    parts = exports.pdf_parts(exports.exported_signatures(campaign).count())
    pdfs = [exports.signatures_pdf(campaign, number)[0] for number, _first, _last in parts]
    messages = [
        (target, hand_over_message(campaign, target, number, len(parts), pdf, now))
        for target in targets
        for number, pdf in enumerate(pdfs, start=1)
    ]
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
    campaign: Campaign, target: Target, part: int, parts: int, pdf: bytes, now: datetime.datetime
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
                "count": formats.number_format(campaign.tally_letters, force_grouping=True),
                "letters": campaign.tally_letters,
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
