"""Exports of a campaign's signatures for its managers: a CSV for spreadsheets, a PDF for hand delivery.

Both hold only what each supporter agreed to send to the targets, and only
letters that go: confirmed, not a repeat address, not held for review and
not rejected (a held letter appears once an organiser approves it). The
columns are those of the letter: name, organisation and role, city, country,
personal sentence as written, date of confirmation, letter language. The
e-mail address is there only for supporters who agreed to receive news of the
campaign and have not stopped them since; the PDF, which is handed to the
targets, never has it.

Every export is written to the audit log ("export"), with its format and
number of rows, and is never cached by a browser or proxy.

Both list the letters in the order they were signed, the order the (campaign, date) index holds them: sorting
a million rows by another order took seconds before the first one was written. The CSV is written as it is
read; the PDF comes in parts of PDF_PART_SIZE signatures, each built in under a second.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from fpdf import FPDF

from courrier.campaigns.models import Campaign
from courrier.lib.spreadsheets import neutralised
from courrier.lib.typefaces import DEJAVU_SANS
from courrier.signatures.models import SUPPORTER_FIELDS, Signature


def exported_signatures(campaign: Campaign) -> QuerySet:
    """The letters that go, in the order they were signed."""
    return (
        Signature.objects.filter(campaign=campaign)
        .exportable()
        .order_by("created_at", "pk")
        .only(
            *SUPPORTER_FIELDS,
            "letter_language",
            "consent_news",
            "news_unsubscribed_at",
            "confirmed_at",
        )
    )


def shares_email(signature: Signature) -> bool:
    """The address goes to the organisers only if the supporter asked for news and has not stopped them."""
    return signature.consent_news and signature.news_unsubscribed_at is None


@dataclass
class Column:
    heading: str
    value: object  # Signature -> str


def columns() -> list[Column]:
    """The exported columns, headed in the active language."""
    return [
        Column(_("Date"), lambda s: timezone.localdate(s.confirmed_at).isoformat()),
        Column(_("First name"), lambda s: s.first_name),
        Column(_("Last name"), lambda s: s.last_name),
        Column(_("Organisation"), lambda s: s.organisation),
        Column(_("Role in the organisation"), lambda s: s.organisation_role),
        Column(_("City"), lambda s: s.city),
        Column(_("Country"), lambda s: s.country),
        Column(_("Personal sentence"), lambda s: s.personal_sentence),
        Column(_("Language of the letter"), lambda s: s.letter_language),
        Column(_("E-mail address (supporters who asked for news)"), lambda s: s.email if shares_email(s) else ""),
    ]


# Rows read from the database, and written out, at a time: the export's memory does not grow with the campaign.
CSV_CHUNK = 500


def csv_chunks(campaign: Campaign) -> Iterator[bytes]:
    """The CSV (UTF-8 with a byte order mark, so that spreadsheets read Cyrillic), CSV_CHUNK rows at a time."""
    chosen = columns()  # now, in the request's language: the rows may be written after the view returned

    def chunks() -> Iterator[bytes]:
        out = io.StringIO()
        writer = csv.writer(out)
        out.write("\ufeff")
        writer.writerow([column.heading for column in chosen])
        for number, signature in enumerate(exported_signatures(campaign).iterator(chunk_size=CSV_CHUNK), start=1):
            writer.writerow([neutralised(str(column.value(signature))) for column in chosen])
            if number % CSV_CHUNK == 0:
                yield out.getvalue().encode("utf-8")
                out.seek(0)
                out.truncate()
        yield out.getvalue().encode("utf-8")

    return chunks()


def signatures_csv(campaign: Campaign) -> tuple[bytes, int]:
    """The whole CSV at once, and its number of rows (the site streams it: csv_chunks)."""
    return b"".join(csv_chunks(campaign)), exported_signatures(campaign).count()


# Signatures per part of the PDF: a part is built in under a second, far into a campaign of a million, and
# prints about two hundred pages.
PDF_PART_SIZE = 2500


def pdf_parts(exportable: int) -> list[tuple[int, int, int]]:
    """The parts of the PDF for `exportable` signatures: (part, first, last), the first and last numbered 1 on."""
    return [
        (number, first, min(first + PDF_PART_SIZE - 1, exportable))
        for number, first in enumerate(range(1, max(exportable, 1) + 1, PDF_PART_SIZE), start=1)
    ]


def signatures_pdf(campaign: Campaign, part: int = 1, among: QuerySet | None = None) -> tuple[bytes, int]:
    """A part of the signatures (the first PDF_PART_SIZE, the next…), one after the other, numbered from the first
    signature, for printing and handing over; in DejaVu Sans (Cyrillic, Kazakh). Returns the PDF and its rows.

    `among`: those of exported_signatures(campaign) to print (the hand-over to one target prints its own)."""
    start = (part - 1) * PDF_PART_SIZE
    signatures = list((exported_signatures(campaign) if among is None else among)[start : start + PDF_PART_SIZE])
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("DejaVu", fname=str(DEJAVU_SANS))
    pdf.set_title(campaign.title)
    pdf.set_creator("Courrier")
    pdf.add_page()
    pdf.set_font("DejaVu", size=16)
    pdf.multi_cell(0, 8, campaign.title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("DejaVu", size=10)
    today = formats.date_format(timezone.localdate(), "DATE_FORMAT")
    if part == 1 and len(signatures) < PDF_PART_SIZE:
        count = ngettext("%(count)d signature", "%(count)d signatures", len(signatures)) % {"count": len(signatures)}
        heading = _("%(count)s, as of %(date)s.") % {"count": count, "date": today}
    else:
        heading = _("Signatures %(first)s to %(last)s, as of %(date)s.") % {
            "first": formats.number_format(start + 1, force_grouping=True),
            "last": formats.number_format(start + len(signatures), force_grouping=True),
            "date": today,
        }
    write_lines(pdf, 5, [heading])
    pdf.ln(4)
    for number, signature in enumerate(signatures, start=start + 1):
        pdf.set_font("DejaVu", size=11)
        write_lines(pdf, 6, [f"{number}. {signature.full_name}"])
        pdf.set_font("DejaVu", size=9)
        write_lines(pdf, 4.5, entry_lines(signature))
        pdf.ln(3)
    output = io.BytesIO()
    pdf.output(output)
    return output.getvalue(), len(signatures)


def write_lines(pdf: FPDF, height: float, lines: list[str]) -> None:
    """Each line on its own, wrapped only when it is too long for the page: fpdf's line breaking measures the
    text again for each character, five times the cost of the whole PDF, and most lines are a name or a town."""
    room = pdf.epw - 2 * pdf.c_margin
    for line in lines:
        if "\n" not in line and pdf.get_string_width(line) <= room:
            pdf.cell(0, height, line, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.multi_cell(0, height, line, new_x="LMARGIN", new_y="NEXT")


def entry_lines(signature: Signature) -> list[str]:
    lines = []
    if signature.organisation:
        lines.append(
            _("%(role)s, %(organisation)s")
            % {"role": signature.organisation_role, "organisation": signature.organisation}
            if signature.organisation_role
            else signature.organisation
        )
    place = ", ".join(part for part in (signature.city, signature.country) if part)
    signed = formats.date_format(timezone.localdate(signature.confirmed_at), "DATE_FORMAT")
    lines.append(" · ".join(part for part in (place, signed) if part))
    if signature.personal_sentence:
        lines.append(f"« {signature.personal_sentence} »")
    return lines
