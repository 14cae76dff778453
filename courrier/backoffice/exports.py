"""The signature exports (signatures/exports.py) as files for a campaign's managers, each one audited."""

import datetime
import re
from collections.abc import Iterator

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from courrier.accounts import audit
from courrier.backoffice.scoping import managed_campaign
from courrier.campaigns.models import Campaign
from courrier.signatures import exports


def attachment(content: bytes | Iterator[bytes], content_type: str, filename: str) -> HttpResponseBase:
    """The file to download; sent as it is written when `content` comes in chunks."""
    if isinstance(content, bytes):
        response = HttpResponse(content, content_type=content_type)
    else:
        response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def export_filename(campaign: Campaign, extension: str, suffix: str = "") -> str:
    return f"signatures-{campaign.slug}-{datetime.date.today().isoformat()}{suffix}.{extension}"


# POST only: an export is an act recorded in the audit log, not a page a browser may prefetch.
@require_POST
def export_csv(request: HttpRequest, campaign_id: int) -> HttpResponseBase:
    """The CSV, written as it is read, recorded in the audit log."""
    return csv_export(request, managed_campaign(request, campaign_id))


def csv_export(request: HttpRequest, campaign: Campaign) -> HttpResponseBase:
    rows = exports.exported_signatures(campaign).count()
    audit.record(request.user, audit.EXPORT, campaign, organisation=campaign.organisation, summary=f"csv, {rows} rows")
    return attachment(exports.csv_chunks(campaign), "text/csv; charset=utf-8", export_filename(campaign, "csv"))


@require_POST
def export_pdf(request: HttpRequest, campaign_id: int) -> HttpResponseBase:
    """A part of the PDF (the form names it; the first when it does not), recorded in the audit log."""
    campaign = managed_campaign(request, campaign_id)
    return pdf_export(request, campaign) or redirect("campaign_progress", campaign_id=campaign.pk)


def pdf_export(request: HttpRequest, campaign: Campaign) -> HttpResponseBase | None:
    """The part of the PDF the form names; None (and a message saying so) when there is no such part."""
    # ASCII digits only, up to a number of parts a database can skip to (a million parts is 2.5 billion
    # signatures): "²" is a digit to str.isdigit() and not to int().
    given = request.POST.get("part", "1")
    part = int(given) if re.fullmatch(r"[0-9]{1,7}", given) else 0
    content, rows = exports.signatures_pdf(campaign, part) if part >= 1 else (b"", 0)
    if not rows and part != 1:
        # A part past the end (the campaign shrank since the page was shown, or a hand-made form): said, not a 500.
        messages.error(request, _("There is no such part of the PDF: choose one from the list again."))
        return None
    summary = f"pdf, {rows} rows" if part == 1 else f"pdf part {part}, {rows} rows"
    audit.record(request.user, audit.EXPORT, campaign, organisation=campaign.organisation, summary=summary)
    suffix = "" if part == 1 else f"-part-{part}"
    return attachment(content, "application/pdf", export_filename(campaign, "pdf", suffix))
