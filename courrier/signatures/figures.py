"""A campaign's signatures in figures, for its progress page: per day, by language and source, by state.

All of them come from one grouped query over the campaign's first signatures (by hour signed, languages,
source, confirmed, moderation, consent to send, erased), folded here, where six queries and a date function
called per row took six seconds at a million signatures. It still reads every row (about a second and a half at
a million on two cores): delivery/progress.py keeps the figures of large campaigns and has the worker count them.
"""

import datetime
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import BooleanField, Count, ExpressionWrapper, Q
from django.utils import timezone

from courrier.db.functions import HOUR_FORMAT, MINUTE_FORMAT, UTCBucket
from courrier.signatures.models import Signature

Moderation = Signature.Moderation
# The rows of the page's "by state" table a confirmed signature may also count in.
CONFIRMED_STATES = {Moderation.HELD: "held", Moderation.REJECTED: "rejected", Moderation.BURST: "quarantined"}


@dataclass
class Figures:
    """What the progress page shows of the signatures."""

    days: dict[datetime.date, list[int]] = field(default_factory=dict)  # day -> [signed, confirmed]
    page_languages: dict[str, list[int]] = field(default_factory=dict)  # code -> [signed, confirmed]
    letter_languages: dict[str, list[int]] = field(default_factory=dict)
    sources: dict[str, list[int]] = field(default_factory=dict)
    states: dict[str, int] = field(default_factory=dict)  # waiting, confirmed, held, rejected, quarantined
    awaiting_decision: int = 0  # the moderation queue (signatures/moderation.awaiting_decision)
    exportable: int = 0  # the rows of an export (SignatureQuerySet.exportable)
    # The letters that go (SignatureQuerySet.deliverable); of those signed since it is recorded, how many say
    # whether they are the model letter word for word, and how many are: targets file identical mail as bulk.
    delivered: int = 0
    classified: int = 0
    model_letters: int = 0

    def as_json(self) -> dict:
        return {
            "days": [[day.isoformat(), *counts] for day, counts in sorted(self.days.items())],
            "page_languages": self.page_languages,
            "letter_languages": self.letter_languages,
            "sources": self.sources,
            "states": self.states,
            "awaiting_decision": self.awaiting_decision,
            "exportable": self.exportable,
            "delivered": self.delivered,
            "classified": self.classified,
            "model_letters": self.model_letters,
        }

    @classmethod
    def from_json(cls, data: dict) -> "Figures":
        return cls(
            days={datetime.date.fromisoformat(day): counts for day, *counts in data["days"]},
            page_languages=data["page_languages"],
            letter_languages=data["letter_languages"],
            sources=data["sources"],
            states=data["states"],
            awaiting_decision=data["awaiting_decision"],
            exportable=data["exportable"],
            # Figures kept before these were counted: none known until the worker counts them again.
            delivered=data.get("delivered", 0),
            classified=data.get("classified", 0),
            model_letters=data.get("model_letters", 0),
        )


def whole_hour_zone(zone: datetime.tzinfo) -> bool:
    """Whether the zone has been a whole number of hours from UTC, summer and winter, over the last ten years
    (Paris has; Kolkata, +5:30, has not; Pyongyang was +8:30 until 2018): campaigns of those years are counted."""
    year = timezone.now().year
    instants = [
        datetime.datetime(past, month, 1, tzinfo=datetime.UTC)
        for past in range(year - 10, year + 1)
        for month in (1, 4, 7, 10)
    ]
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
            "bucket",
            "language",
            "letter_language",
            "source",
            "is_confirmed",
            "moderation",
            "consent_send",
            "is_erased",
            "is_model_letter",
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
        if row["consent_send"] and moderation in Signature.DELIVERED_MODERATION:
            figures.delivered += count
            figures.classified += count if row["is_model_letter"] is not None else 0
            figures.model_letters += count if row["is_model_letter"] else 0
            if not row["is_erased"]:
                figures.exportable += count
    figures.days, figures.page_languages = dict(days), dict(languages)
    figures.letter_languages, figures.sources = dict(letters), dict(sources)
    return figures
