"""The public counter and list of organisations, kept on the campaign row.

Counted by the worker (after it queues letters, and every minute for the public campaigns), never by the
signing request: one hot counter row updated per signature is what brought petition sites down. Who counts is
Signature.objects.counted().

Counting a million signatures takes a quarter of a second, and the worker counts after every pass that queued
letters: so the counter has a settled part. A signature made more than SETTLED_AFTER ago can no longer change
on its own (its confirmation link has expired, and an unconfirmed one is deleted): those are counted once and
kept (Campaign.tally_settled); each refresh counts only the signatures of the last days. What changes old
signatures calls forget_settled() (a moderation decision, a deletion in the back office), and the whole campaign
is counted again every FULL_RECOUNT in any case, which mends whatever was missed.
"""

import datetime
from collections.abc import Iterable

from django.conf import settings
from django.db.models import F
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


FULL_RECOUNT = datetime.timedelta(hours=1)


def settled_after() -> datetime.timedelta:
    """How old a signature is when nothing but an organiser can change it: its confirmation link's age, and a
    day for a confirmation e-mail that waited its turn."""
    return datetime.timedelta(days=settings.CONFIRMATION_MAX_AGE_DAYS + 1)


def letters_counted(campaign: Campaign, now: datetime.datetime) -> tuple[int, dict]:
    """The counter, and what to keep of its settled part: its count since the last refresh's, or all of it."""
    # Held, quarantined or rejected letters count only once a moderator approves them.
    counted = Signature.objects.filter(campaign_id=campaign.pk).counted()
    until = now - settled_after()
    previous = campaign.tally_settled_until
    full = (
        previous is None
        or until < previous  # a clock set back (the tests' worker travels in time): nothing kept is trusted
        or campaign.tally_recounted_at is None
        or now - campaign.tally_recounted_at >= FULL_RECOUNT
    )
    if full:
        settled, recounted_at = counted.filter(created_at__lt=until).count(), now
    else:
        newly = counted.filter(created_at__gte=previous, created_at__lt=until).count()
        settled, recounted_at = campaign.tally_settled + newly, campaign.tally_recounted_at
    recent = counted.filter(created_at__gte=until).count()
    kept = {"tally_settled": settled, "tally_settled_until": until, "tally_recounted_at": recounted_at}
    return settled + recent, kept


def refresh_tallies(campaign_ids: Iterable[int], now: datetime.datetime | None = None) -> None:
    """Count each campaign's letters (the last days' only, mostly) and its first organisations."""
    now = now or timezone.now()
    for campaign_id in campaign_ids:
        campaign = (
            Campaign.objects.only("tally_settled", "tally_settled_until", "tally_recounted_at", "tally_version")
            .filter(pk=campaign_id)
            .first()
        )
        if campaign is None:
            continue  # deleted since its letters were queued
        letters, kept = letters_counted(campaign, now)
        organisations = first_organisations(campaign_id)
        # Kept only if no old signature changed while this counted (forget_settled raises the version).
        unchanged = Campaign.objects.filter(pk=campaign_id, tally_version=campaign.tally_version)
        if not unchanged.update(tally_letters=letters, tally_organisations=organisations, tally_updated_at=now, **kept):
            Campaign.objects.filter(pk=campaign_id).update(
                tally_letters=letters, tally_organisations=organisations, tally_updated_at=now
            )


def forget_settled(campaign_ids: Iterable[int]) -> None:
    """Old signatures of these campaigns changed: their next refresh counts them all again."""
    Campaign.objects.filter(pk__in=list(campaign_ids)).update(
        tally_settled_until=None, tally_version=F("tally_version") + 1
    )


def recount_public_campaigns(now: datetime.datetime | None = None) -> None:
    """The safety net (a periodic job): drafts and archives have no public counter to keep right."""
    refresh_tallies(Campaign.objects.public().values_list("pk", flat=True), now)
