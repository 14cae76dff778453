"""What the signing request needs to know about a campaign, kept in memory for a few seconds.

During a spike every POST would otherwise read the campaign and its letters
again; with this, a signature costs the INSERT and nothing else. The price:
closing a campaign or adding a letter takes up to TTL seconds to reach every
web process.
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


def signable_campaign(slug: str) -> SignableCampaign | None:
    """The public campaign with this slug (live or closed), or None."""
    now = time.monotonic()
    with _lock:
        cached = _cache.get(slug)
    if cached and now - cached[0] < TTL:
        return cached[1]
    campaign = (
        Campaign.objects.filter(slug=slug, status__in=[Campaign.Status.LIVE, Campaign.Status.CLOSED])
        .prefetch_related("letters")
        .first()
    )
    found = None
    if campaign is not None:
        languages = sorted(
            (letter.language for letter in campaign.letters.all()), key=lambda code: code != campaign.language
        )
        found = SignableCampaign(campaign.pk, campaign.slug, campaign.is_open, languages)
    with _lock:
        _cache[slug] = (now, found)
    return found


def forget() -> None:
    """Drop what is cached (tests, and after an organiser changes a campaign in this process)."""
    with _lock:
        _cache.clear()
