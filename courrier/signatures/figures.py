"""A campaign's signatures in figures, for its progress page: per day, by language and source, by state.

All of them come from one grouped query over the campaign's first signatures (by hour signed, languages,
source, confirmed, moderation, consent to send, erased), folded here. That query reads every row: about a second
and a half at a million signatures on two cores. So the figures are kept (SignatureFigures) with what they cost:
a campaign counted in under LIVE_SECONDS is counted again whenever its page is asked for; a larger one is counted
by the worker (refresh_figures, every minute), at most once per REFRESH_FACTOR times its cost, and its page says
when they were counted. The page answers at once at any size, and the worker spends at most a thirtieth of its
time on it.
"""

import datetime
import time
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import BooleanField, Count, ExpressionWrapper, Q
from django.utils import timezone

from courrier.campaigns.models import Campaign
from courrier.db.functions import HOUR_FORMAT, MINUTE_FORMAT, UTCBucket
from courrier.signatures.models import Signature, SignatureFigures

LIVE_SECONDS = 0.25
REFRESH_FACTOR = 30
SMALLEST_REFRESH = datetime.timedelta(minutes=1)

Moderation = Signature.Moderation
# The rows of the page's "by state" table a confirmed signature may also count in.
CONFIRMED_STATES = {Moderation.HELD: "held", Moderation.REJECTED: "rejected", Moderation.BURST: "quarantined"}


@dataclass
class Figures:
    """What the progress page shows of the signatures; `counted_at` None when counted for this page view."""

    days: dict[datetime.date, list[int]] = field(default_factory=dict)  # day -> [signed, confirmed]
    page_languages: dict[str, list[int]] = field(default_factory=dict)  # code -> [signed, confirmed]
    letter_languages: dict[str, list[int]] = field(default_factory=dict)
    sources: dict[str, list[int]] = field(default_factory=dict)
    states: dict[str, int] = field(default_factory=dict)  # waiting, confirmed, held, rejected, quarantined
    awaiting_decision: int = 0  # the moderation queue (signatures/moderation.awaiting_decision)
    exportable: int = 0  # the rows of an export (SignatureQuerySet.exportable)
    counted_at: datetime.datetime | None = None

    def as_json(self) -> dict:
        return {
            "days": [[day.isoformat(), *counts] for day, counts in sorted(self.days.items())],
            "page_languages": self.page_languages,
            "letter_languages": self.letter_languages,
            "sources": self.sources,
            "states": self.states,
            "awaiting_decision": self.awaiting_decision,
            "exportable": self.exportable,
        }

    @classmethod
    def from_json(cls, data: dict, counted_at: datetime.datetime) -> "Figures":
        return cls(
            days={datetime.date.fromisoformat(day): counts for day, *counts in data["days"]},
            page_languages=data["page_languages"],
            letter_languages=data["letter_languages"],
            sources=data["sources"],
            states=data["states"],
            awaiting_decision=data["awaiting_decision"],
            exportable=data["exportable"],
            counted_at=counted_at,
        )


def whole_hour_zone(zone: datetime.tzinfo) -> bool:
    """Whether the zone is a whole number of hours from UTC all year (Paris is; Kolkata, +5:30, is not)."""
    year = timezone.now().year
    instants = [datetime.datetime(year, month, 1, tzinfo=datetime.UTC) for month in range(1, 13)]
    return all(
        instant.astimezone(zone).utcoffset() % datetime.timedelta(hours=1) == datetime.timedelta(0)
        for instant in instants
    )


def count_figures(campaign_id: int) -> Figures:
    """The figures, counted now: one grouped query, folded in Python."""
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    minutes = not whole_hour_zone(zone)
    rows = (
        Signature.objects.filter(campaign_id=campaign_id)
        .first_signatures()
        .annotate(
            bucket=UTCBucket("created_at", minutes=minutes),
            is_confirmed=ExpressionWrapper(Q(confirmed_at__isnull=False), output_field=BooleanField()),
            is_erased=ExpressionWrapper(Q(anonymised_at__isnull=False), output_field=BooleanField()),
        )
        .values(
            "bucket", "language", "letter_language", "source", "is_confirmed", "moderation", "consent_send", "is_erased"
        )
        .annotate(count=Count("pk"))
        .order_by()
    )
    figures = Figures(states={"waiting": 0, "confirmed": 0, "held": 0, "rejected": 0, "quarantined": 0})
    days: dict[datetime.date, list[int]] = defaultdict(lambda: [0, 0])
    languages: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    letters: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    sources: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    local_days: dict[str, datetime.date] = {}
    for row in rows:
        count, confirmed = row["count"], bool(row["is_confirmed"])
        bucket = row["bucket"]
        if bucket not in local_days:
            instant = datetime.datetime.strptime(bucket, MINUTE_FORMAT if minutes else HOUR_FORMAT)
            local_days[bucket] = instant.replace(tzinfo=datetime.UTC).astimezone(zone).date()
        for totals in (
            days[local_days[bucket]],
            languages[row["language"]],
            letters[row["letter_language"]],
            sources[row["source"]],
        ):
            totals[0] += count
            totals[1] += count if confirmed else 0
        moderation = row["moderation"]
        # The moderation queue (moderation.awaiting_decision): held by a rule, or quarantined and confirmed.
        if moderation == Moderation.HELD or (moderation == Moderation.BURST and confirmed):
            figures.awaiting_decision += count
        if not confirmed:
            figures.states["waiting"] += count
            continue
        figures.states["confirmed"] += count
        if moderation in CONFIRMED_STATES:
            figures.states[CONFIRMED_STATES[moderation]] += count
        if row["consent_send"] and moderation in Signature.DELIVERED_MODERATION and not row["is_erased"]:
            figures.exportable += count
    figures.days, figures.page_languages = dict(days), dict(languages)
    figures.letter_languages, figures.sources = dict(letters), dict(sources)
    return figures


def count_and_keep(campaign_id: int, now: datetime.datetime | None = None) -> Figures:
    started = time.perf_counter()
    figures = count_figures(campaign_id)
    kept = SignatureFigures(
        campaign_id=campaign_id,
        figures=figures.as_json(),
        counted_at=now or timezone.now(),
        seconds=time.perf_counter() - started,
    )
    # One INSERT … ON CONFLICT: two page views counting at once both keep theirs, neither fails.
    SignatureFigures.objects.bulk_create(
        [kept], update_conflicts=True, unique_fields=["campaign"], update_fields=["figures", "counted_at", "seconds"]
    )
    return figures


def figures_for(campaign: Campaign) -> Figures:
    """The progress page's figures: counted now when that is quick, else as the worker last counted them."""
    kept = SignatureFigures.objects.filter(campaign=campaign).first()
    if kept is not None and kept.seconds >= LIVE_SECONDS:
        return Figures.from_json(kept.figures, kept.counted_at)
    return count_and_keep(campaign.pk)


def refresh_figures(now: datetime.datetime) -> None:
    """The worker's job: count again the public campaigns whose figures are too costly to count on each page
    view (or were never counted), each when a REFRESH_FACTOR of its cost has passed since."""
    kept = {row.campaign_id: row for row in SignatureFigures.objects.all()}
    for campaign_id in Campaign.objects.public().values_list("pk", flat=True):
        row = kept.get(campaign_id)
        if row is not None and row.seconds < LIVE_SECONDS:
            continue  # its page counts it
        if row is None or now - row.counted_at >= max(
            SMALLEST_REFRESH, REFRESH_FACTOR * datetime.timedelta(seconds=row.seconds)
        ):
            count_and_keep(campaign_id, now)
