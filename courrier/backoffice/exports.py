"""The signature exports (signatures/exports.py) as files for a campaign's managers, each one audited."""

import datetime
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
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


def export_filename(campaign: Campaign, extension: str) -> str:
    return f"signatures-{campaign.slug}-{datetime.date.today().isoformat()}.{extension}"


def export(request: HttpRequest, campaign_id: int, extension: str) -> HttpResponseBase:
    """The file for a campaign's manager, recorded in the audit log."""
    campaign = managed_campaign(request, campaign_id)
    build, content_type = EXPORTS[extension]
    content, rows = build(campaign)
    audit.record(
        request.user, audit.EXPORT, campaign, organisation=campaign.organisation, summary=f"{extension}, {rows} rows"
    )
    return attachment(content, content_type, export_filename(campaign, extension))


def streamed_csv(campaign: Campaign) -> tuple[Iterator[bytes], int]:
    return exports.csv_chunks(campaign), exports.exported_signatures(campaign).count()


EXPORTS = {
    "csv": (streamed_csv, "text/csv; charset=utf-8"),
    "pdf": (exports.signatures_pdf, "application/pdf"),
}


# POST only: an export is an act recorded in the audit log, not a page a browser may prefetch.
@require_POST
def export_csv(request: HttpRequest, campaign_id: int) -> HttpResponseBase:
    return export(request, campaign_id, "csv")


@require_POST
def export_pdf(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return export(request, campaign_id, "pdf")
