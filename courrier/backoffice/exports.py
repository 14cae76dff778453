"""The signature exports (signatures/exports.py) as files for a campaign's managers, each one audited."""

import datetime

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from courrier.accounts import audit
from courrier.backoffice.scoping import managed_campaign
from courrier.campaigns.models import Campaign
from courrier.signatures import exports


def attachment(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def export_filename(campaign: Campaign, extension: str) -> str:
    return f"signatures-{campaign.slug}-{datetime.date.today().isoformat()}.{extension}"


def export(request: HttpRequest, campaign_id: int, extension: str) -> HttpResponse:
    """The file for a campaign's manager, recorded in the audit log."""
    campaign = managed_campaign(request, campaign_id)
    build, content_type = EXPORTS[extension]
    content, rows = build(campaign)
    audit.record(
        request.user, audit.EXPORT, campaign, organisation=campaign.organisation, summary=f"{extension}, {rows} rows"
    )
    return attachment(content, content_type, export_filename(campaign, extension))


EXPORTS = {
    "csv": (exports.signatures_csv, "text/csv; charset=utf-8"),
    "pdf": (exports.signatures_pdf, "application/pdf"),
}


# POST only: an export is an act recorded in the audit log, not a page a browser may prefetch.
@require_POST
def export_csv(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return export(request, campaign_id, "csv")


@require_POST
def export_pdf(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return export(request, campaign_id, "pdf")
