"""The studio's home: the campaigns of my organisations, each with what it needs from me today."""

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from courrier.accounts.models import Organisation
from courrier.accounts.roles import MANAGER, organisation_ids
from courrier.campaigns.checklist import blocking, is_operators_matter, run_checklist
from courrier.campaigns.models import Campaign
from courrier.delivery.models import OutboxMessage
from courrier.delivery.progress import progress_for
from courrier.studio.access import my_campaigns, studio_page


@dataclass
class CampaignLine:
    campaign: Campaign
    letters: int  # the public counter
    signed_today: int
    awaiting_decision: int  # letters held for review
    failures: int
    blockers: int  # what the checklist still wants before it can go live (or take an edit)


def campaign_line(campaign: Campaign) -> CampaignLine:
    progress = progress_for(campaign)
    today = progress.signatures.days.get(timezone.localdate(), [0, 0])
    wanted = [finding for finding in blocking(run_checklist(campaign)) if not is_operators_matter(finding)]
    return CampaignLine(
        campaign=campaign,
        letters=campaign.tally_letters,
        signed_today=today[0],
        awaiting_decision=progress.signatures.awaiting_decision,
        failures=progress.mail.letters_in(OutboxMessage.Status.FAILED),
        blockers=len(wanted),
    )


@studio_page
def home(request: HttpRequest) -> HttpResponse:
    campaigns = my_campaigns(request.user).exclude(status=Campaign.Status.ARCHIVED).order_by("-created_at")
    archived = my_campaigns(request.user).filter(status=Campaign.Status.ARCHIVED).order_by("-created_at")
    teams = Organisation.objects.filter(pk__in=organisation_ids(request.user, MANAGER)).order_by("name")
    return render(
        request,
        "studio/home.html",
        {"lines": [campaign_line(c) for c in campaigns], "archived": list(archived), "teams": teams},
    )
