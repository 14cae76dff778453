"""Digest mode: a target receives one e-mail per period listing every new letter, with a PDF of them all.

When the worker queues a supporter's letter (enqueue.queue_letters), it writes a DigestEntry for each
digest target among that letter's own recipients, with the letter as written (edited or bilingual) and
what the digest lists of the signer. A digest lists exactly its target's pending entries: so a target
added, re-addressed or switched to digests later never receives the names of people who signed before
it was listed to them, and a supporter who picked their country is listed to that country's entry only.

The digest row is created, and its entries claimed (their `digest` set), in one transaction that takes
only entries still pending and locked by nobody else: an entry is in exactly one digest, and an entry
written by another worker's transaction that has not committed yet simply waits for the next one.
"""

import datetime
import io
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.utils import formats, translation
from django.utils.translation import ngettext
from fpdf import FPDF

from courrier.campaigns.models import Target
from courrier.delivery.enqueue import durable_commit, is_sandboxed, new_message_id
from courrier.delivery.models import DigestEntry, OutboxMessage, Recipient
from courrier.delivery.recipients import recipient_rows
from courrier.lib.headers import header_text

FONT = Path(__file__).parent / "fonts" / "DejaVuSans.ttf"  # covers Cyrillic and Kazakh letters
MAX_LETTERS = 5000


def queue_due_digests(now: datetime.datetime) -> int:
    """A digest for every target whose period has passed and that has letters waiting (whatever its mode
    now: a target switched back to one e-mail per letter still gets what was written for its digest)."""
    waiting = DigestEntry.objects.pending().filter(target=OuterRef("pk"))
    due = Target.objects.filter(Exists(waiting), paused_at__isnull=True).select_related("campaign")
    queued = 0
    for target in due:
        if target.last_digest_at and now - target.last_digest_at < datetime.timedelta(hours=target.digest_period_hours):
            continue
        queued += queue_digest(target.pk, now)
    return queued


def queue_digest(target_id: int, now: datetime.datetime) -> int:
    with transaction.atomic():
        durable_commit()
        target = (
            Target.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("campaign")
            .filter(pk=target_id, paused_at__isnull=True)
            .first()
        )
        if target is None:
            return 0
        entries = list(
            DigestEntry.objects.pending()
            .filter(target=target)
            .order_by("queued_at", "pk")
            .select_for_update(skip_locked=True)[:MAX_LETTERS]
        )
        if not entries:
            return 0
        message = digest_message(target, entries, now)
        message.save()
        Recipient.objects.bulk_create(recipient_rows(message, [target]))
        # Claimed by this digest; their personal parts now live in it, and are erased with it on schedule.
        DigestEntry.objects.filter(pk__in=[entry.pk for entry in entries], digest__isnull=True).update(
            digest=message, listing={}, subject="", body=""
        )
        # The period runs from the last digest sent: an empty pass does not restart it.
        Target.objects.filter(pk=target.pk).update(last_digest_at=now)
    return 1


def digest_language(target: Target) -> str:
    available = {letter.language for letter in target.campaign.letters.all()}
    return target.language if target.language in available else target.campaign.language


def digest_message(target: Target, entries: list[DigestEntry], now: datetime.datetime) -> OutboxMessage:
    campaign = target.campaign
    language = digest_language(target)
    with translation.override(language):
        subject = ngettext("%(count)s letter: %(subject)s", "%(count)s letters: %(subject)s", len(entries)) % {
            "count": len(entries),
            "subject": campaign.letter_for(language).subject,
        }
        body = render_to_string(
            "emails/digest-body-text.txt",
            {
                "target": target,
                "campaign": campaign,
                "entries": [entry.listing for entry in entries],
                "site_name": settings.SITE_NAME,
                "letter": shown_letter(entries),
            },
        )
        pdf = digest_pdf(campaign.title, entries)
        filename = f"letters-{campaign.slug}-{formats.date_format(now, 'Y-m-d')}.pdf"
    sender = settings.LETTERS_SENDER_EMAIL
    return OutboxMessage(
        kind=OutboxMessage.Kind.DIGEST,
        campaign=campaign,
        message_id=new_message_id(sender),
        sandbox=is_sandboxed(campaign),
        from_name=settings.SITE_NAME,
        from_email=sender,
        envelope_from=settings.BOUNCE_EMAIL,
        to=[target.email],
        subject=header_text(subject, 250),
        body=body.strip() + "\n",
        attachment_name=filename,
        attachment=pdf,
        created_at=now,
        next_attempt_at=now,
    )


def shown_letter(entries: list[DigestEntry]) -> str:
    """The letter quoted in the digest's text: the first one its writer did not rewrite (each is in the PDF)."""
    return next((entry.body for entry in entries if not entry.listing.get("edited")), entries[0].body)


def digest_pdf(title: str, entries: list[DigestEntry]) -> bytes:
    """Every letter of the digest as its supporter sent it, one after the other, in a PDF that prints
    Cyrillic and Kazakh."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_title(title)
    for entry in entries:
        pdf.add_page()
        pdf.set_font("DejaVu", size=12)
        pdf.multi_cell(0, 7, entry.subject, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        pdf.set_font("DejaVu", size=10)
        pdf.multi_cell(0, 5, entry.body, new_x="LMARGIN", new_y="NEXT")
    output = io.BytesIO()
    pdf.output(output)
    return output.getvalue()
