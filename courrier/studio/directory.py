"""The directory: one recipient per country, for campaigns whose supporters write to their own country's
embassy or minister; imported and exported as CSV (campaigns/directory.py decides, backoffice/directory.py
records and answers for the admin and for the studio alike)."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from courrier.backoffice.directory import export_response, import_upload
from courrier.campaigns import directory as campaign_directory
from courrier.campaigns.permissions import can_change_recipients
from courrier.studio.access import EDITOR, campaign_for, studio_page
from courrier.studio.building import steps


@studio_page
def directory(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, EDITOR)
    may_change = can_change_recipients(request.user, campaign)
    errors: list[str] = []
    if request.method == "POST":
        if not may_change:
            raise PermissionDenied  # the directory decides where supporters' names go: a manager's act once live
        errors = import_upload(request, campaign)
        if not errors:
            return redirect("studio:directory", campaign_id=campaign.pk)
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "recipients"),
        "entries": campaign.directory.order_by("country"),
        "columns": ", ".join(campaign_directory.COLUMNS),
        "errors": errors,
        "may_change": may_change,
    }
    return render(request, "studio/directory.html", context, status=400 if errors else 200)


@require_POST
@studio_page
def directory_export(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return export_response(request, campaign_for(request, campaign_id, EDITOR))
