"""Digest mode: a target receives one e-mail per period listing every new letter, with a PDF of them all.

A digest lists the letters in the order the worker wrote them (the
signature's letters_queued_at, then its id), not in signing order: a
supporter who confirms late, or whose letter is approved by a moderator
after a digest went, still comes in the next one. The target remembers the
last (time, id) included (digest_cursor_at, digest_cursor); the digest row and
the new cursor are written in one transaction, so a letter is in exactly one
digest.

On PostgreSQL several workers write letters concurrently: a letter stamped
at 12:00:00 may commit after a digest taken at 12:00:01 has moved past it.
So a digest there only lists letters written at least DIGEST_SETTLE earlier,
far longer than any such transaction. SQLite runs one writer at a time, so
whatever is stamped before the digest's own transaction has committed.
"""

import datetime
import io
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import formats, translation
from django.utils.translation import ngettext
from fpdf import FPDF

from courrier.campaigns.letters import render_letter
from courrier.campaigns.models import Target
from courrier.delivery.enqueue import durable_commit, is_sandboxed, new_message_id, signer_of
from courrier.delivery.models import OutboxMessage
from courrier.lib.headers import header_text
from courrier.signatures.models import Signature

FONT = Path(__file__).parent / "fonts" / "DejaVuSans.ttf"  # covers Cyrillic and Kazakh letters
MAX_LETTERS = 5000
DIGEST_SETTLE = datetime.timedelta(minutes=1)


def queue_due_digests(now: datetime.datetime) -> int:
    due = Target.objects.filter(
        delivery_mode=Target.Mode.DIGEST,
        active=True,
        paused_at__isnull=True,
        campaign__status__in=["live", "paused", "closed"],
    ).select_related("campaign")
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
            .filter(pk=target_id)
            .first()
        )
        if target is None:
            return 0
        written_before = now if connection.vendor == "sqlite" else now - DIGEST_SETTLE
        after_cursor = Q(letters_queued_at__gt=target.digest_cursor_at) | Q(
            letters_queued_at=target.digest_cursor_at, pk__gt=target.digest_cursor
        )
        signatures = list(
            Signature.objects.filter(
                campaign_id=target.campaign_id,
                is_duplicate=False,
                anonymised_at__isnull=True,  # erased by the supporter before their digest: not listed
                letters_queued_at__isnull=False,
                letters_queued_at__lte=written_before,
            )
            .filter(after_cursor if target.digest_cursor_at else Q())
            .order_by("letters_queued_at", "pk")[:MAX_LETTERS]
        )
        if signatures:
            # The period runs from the last digest sent: an empty pass does not restart it.
            target.last_digest_at = now
            target.digest_cursor_at = signatures[-1].letters_queued_at
            target.digest_cursor = signatures[-1].pk
            message = digest_message(target, signatures, now)
            message.save()
            message.targets.add(target)
            target.save(update_fields=["last_digest_at", "digest_cursor_at", "digest_cursor"])
    return 1 if signatures else 0


def digest_language(target: Target) -> str:
    available = {letter.language for letter in target.campaign.letters.all()}
    return target.language if target.language in available else target.campaign.language


def digest_message(target: Target, signatures: list[Signature], now: datetime.datetime) -> OutboxMessage:
    campaign = target.campaign
    language = digest_language(target)
    model = campaign.letter_for(language)
    with translation.override(language):
        entries = [signer_of(s) for s in signatures]
        subject = ngettext("%(count)s letter: %(subject)s", "%(count)s letters: %(subject)s", len(entries)) % {
            "count": len(entries),
            "subject": model.subject,
        }
        body = render_to_string(
            "emails/digest-body-text.txt",
            {
                "target": target,
                "campaign": campaign,
                "entries": entries,
                "site_name": settings.SITE_NAME,
                "letter": render_letter(model, entries[0])[1] if entries else "",
            },
        )
        pdf = digest_pdf(campaign.title, model, entries, now)
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


def digest_pdf(title: str, model, entries, now: datetime.datetime) -> bytes:
    """Every letter of the digest, one after the other, in a PDF that prints Cyrillic and Kazakh."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_title(title)
    for signer in entries:
        subject, body = render_letter(model, signer)
        pdf.add_page()
        pdf.set_font("DejaVu", size=12)
        pdf.multi_cell(0, 7, subject, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        pdf.set_font("DejaVu", size=10)
        pdf.multi_cell(0, 5, body, new_x="LMARGIN", new_y="NEXT")
    output = io.BytesIO()
    pdf.output(output)
    return output.getvalue()
