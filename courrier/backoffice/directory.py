"""Importing and exporting a campaign's target directory (campaigns/directory.py), in the back office.

Wired in CampaignAdmin.get_urls, behind the admin's login; any editor of the campaign, and a manager once it
has gone live (the directory decides where supporters' names go).
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from courrier.accounts import audit
from courrier.backoffice.scoping import editable_campaign
from courrier.campaigns import directory
from courrier.campaigns.models import Campaign
from courrier.campaigns.permissions import can_change_recipients


def import_upload(request: HttpRequest, campaign: Campaign) -> list[str]:
    """Import the uploaded CSV (audited, said in a message); the reasons it was refused, if it was."""
    upload = request.FILES.get("file")
    if upload is None:
        return [_("Choose the CSV file to import.")]
    if upload.size > directory.MAX_BYTES:
        return [_("The file is too large: a directory file is at most 2 MB.")]
    try:
        result = directory.import_directory(campaign, upload.read())
    except directory.DirectoryImportError as refusal:
        return refusal.errors
    summary = result.summary()
    audit.record(request.user, audit.DIRECTORY_IMPORT, campaign, summary=summary)
    messages.success(request, _("The directory is imported: %(summary)s.") % {"summary": summary})
    return []


def import_view(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = editable_campaign(request, campaign_id)
    if not can_change_recipients(request.user, campaign):
        raise PermissionDenied  # the directory decides where supporters' names go: a manager's act once live
    errors: list[str] = []
    if request.method == "POST":
        errors = import_upload(request, campaign)
        if not errors:
            return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    context = {
        **admin.site.each_context(request),
        "title": _("Import the target directory"),
        "campaign": campaign,
        "opts": Campaign._meta,
        "columns": ", ".join(directory.COLUMNS),
        "entries": campaign.directory.count(),
        "errors": errors,
    }
    return render(request, "admin/campaigns/directory_import.html", context, status=400 if errors else 200)


def export_view(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return export_response(request, editable_campaign(request, campaign_id))


def export_response(request: HttpRequest, campaign: Campaign) -> HttpResponse:
    content = directory.export_csv(campaign)
    audit.record(request.user, audit.EXPORT, campaign, summary=_("target directory, CSV"))
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="directory-{campaign.slug}.csv"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
