"""The public campaigns a signing request may sign, kept in memory for a few seconds.

During a spike every POST would otherwise read the campaign and its letters again. The price: closing a
campaign or adding a letter takes up to TTL seconds to reach every web process (lifecycle forgets them at
once in its own process).
"""

import threading
import time
from dataclasses import dataclass

from courrier.campaigns.models import Campaign

TTL = 5.0
_cache: dict[str, tuple[float, "SignableCampaign | None"]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class SignableCampaign:
    pk: int
    slug: str
    is_open: bool
    letter_languages: list[str]  # the original language first
    # With a target directory: the (country code, country name) choices, and whether the campaign
    # has To targets of its own for "my country is not listed". None without a directory.
    directory: tuple[tuple[str, str], ...] | None = None
    directory_fallback: bool = False
    allow_letter_editing: bool = False


def open_campaign_of(campaign: Campaign) -> SignableCampaign:
    """What the signing form needs of a campaign (with its letters, and its directory if it has one)."""
    directory, fallback = directory_choices(campaign) if campaign.use_directory else (None, False)
    return SignableCampaign(
        campaign.pk,
        campaign.slug,
        campaign.is_open,
        campaign.letter_languages(),
        directory,
        fallback,
        campaign.allow_letter_editing,
    )


def signable_campaign(slug: str) -> SignableCampaign | None:
    """The public campaign with this slug (live, paused or closed), or None."""
    now = time.monotonic()
    with _lock:
        cached = _cache.get(slug)
    if cached and now - cached[0] < TTL:
        return cached[1]
    campaign = Campaign.objects.public().filter(slug=slug).prefetch_related("letters").first()
    found = open_campaign_of(campaign) if campaign is not None else None
    with _lock:
        _cache[slug] = (now, found)
    return found


def directory_choices(campaign: Campaign) -> tuple[tuple[tuple[str, str], ...], bool]:
    """The countries a supporter can pick, and whether "my country is not listed" has To targets to go to."""
    entries = tuple((entry.country, entry.country_name) for entry in campaign.directory.all())
    to_targets, _cc = campaign.recipients()
    return entries, bool(to_targets)


def forget() -> None:
    """Drop what is cached (tests, and after an organiser changes a campaign in this process)."""
    with _lock:
        _cache.clear()
