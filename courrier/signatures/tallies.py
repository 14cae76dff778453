"""The public counter and list of organisations, kept on the campaign row.

Recounted in one query per campaign by the worker (after it queues letters, and every minute for the public
campaigns, which catches moderation decisions and erasures), never by the signing request: one hot counter
row updated per signature is what brought petition sites down. Who counts is Signature.objects.counted().
"""

from collections.abc import Iterable

from django.utils import timezone

from courrier.campaigns.models import Campaign
from courrier.signatures.models import Signature


def refresh_tallies(campaign_ids: Iterable[int]) -> None:
    """Recount in one query per campaign, instead of touching a counter per signature."""
    for campaign_id in campaign_ids:
        # Held, quarantined or rejected letters count only once a moderator approves them.
        counted = Signature.objects.filter(campaign_id=campaign_id).counted()
        listed = Signature.objects.filter(campaign_id=campaign_id).listed_organisations().order_by("confirmed_at")
        organisations, seen = [], set()
        for name in listed.values_list("organisation", flat=True).iterator():
            if name.casefold() not in seen:
                seen.add(name.casefold())
                organisations.append(name)
        Campaign.objects.filter(pk=campaign_id).update(
            tally_letters=counted.count(), tally_organisations=organisations, tally_updated_at=timezone.now()
        )


def recount_public_campaigns(now=None) -> None:
    """The safety net (a periodic job): drafts and archives have no public counter to keep right."""
    refresh_tallies(Campaign.objects.public().values_list("pk", flat=True))
