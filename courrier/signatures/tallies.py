"""The public counter and list of organisations, kept on the campaign row.

Recounted in one query per campaign by the worker (after it queues letters, and every minute for the public
campaigns, which catches moderation decisions and erasures), never by the signing request: one hot counter
row updated per signature is what brought petition sites down. Who counts is Signature.objects.counted().
"""

from collections.abc import Iterable

from django.utils import timezone

from courrier.campaigns.models import LISTED_ORGANISATIONS, Campaign
from courrier.signatures.models import Signature

# At most this many signatures are read (and decrypted) to find the organisations the page lists: one union
# may sign thousands of times, and the refresh must cost the same at a million signatures as at ten thousand.
SCANNED_FOR_ORGANISATIONS = 20_000


def first_organisations(campaign_id: int) -> list[str]:
    """The first organisations listed, in the order they signed, each once whatever its case; one more than the
    page lists when there are more (Campaign.more_organisations)."""
    listed = Signature.objects.filter(campaign_id=campaign_id).listed_organisations().order_by("created_at", "pk")
    names, seen = [], set()
    for name in listed.values_list("organisation", flat=True)[:SCANNED_FOR_ORGANISATIONS].iterator(chunk_size=1000):
        if name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
            if len(names) > LISTED_ORGANISATIONS:
                break
    return names


def refresh_tallies(campaign_ids: Iterable[int]) -> None:
    """Recount in one query per campaign, instead of touching a counter per signature."""
    for campaign_id in campaign_ids:
        # Held, quarantined or rejected letters count only once a moderator approves them.
        counted = Signature.objects.filter(campaign_id=campaign_id).counted()
        Campaign.objects.filter(pk=campaign_id).update(
            tally_letters=counted.count(),
            tally_organisations=first_organisations(campaign_id),
            tally_updated_at=timezone.now(),
        )


def recount_public_campaigns(now=None) -> None:
    """The safety net (a periodic job): drafts and archives have no public counter to keep right."""
    refresh_tallies(Campaign.objects.public().values_list("pk", flat=True))
