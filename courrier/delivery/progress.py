"""A campaign's progress in figures: its signatures (signatures/figures.py) and its mail (counted here), kept.

Counting them reads every signature and every letter of the campaign: a few milliseconds for most campaigns,
about three seconds at a million signatures and their million letters on two cores. So they are kept
(ProgressFigures) with what counting them cost. A campaign counted in under LIVE_SECONDS is counted again
whenever its progress page is asked for; a larger one is counted by the worker (refresh_progress, every minute),
at most once per REFRESH_FACTOR times its cost, and its page says when. The page answers at once at any size,
and the worker spends at most a thirtieth of its time on it.
"""

import datetime
import time
from dataclasses import dataclass, field

from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from courrier.campaigns.models import Campaign
from courrier.delivery.models import Bounce, DigestEntry, OutboxMessage, ProgressFigures, Recipient
from courrier.signatures.figures import Figures, count_figures

LIVE_SECONDS = 0.25
REFRESH_FACTOR = 30
SMALLEST_REFRESH = datetime.timedelta(minutes=1)

Status = OutboxMessage.Status
MAIL_KINDS = [OutboxMessage.Kind.LETTER, OutboxMessage.Kind.DIGEST]
WAITING_MESSAGE = [Status.QUEUED, Status.DEFERRED, Status.SENDING, Status.HELD]


@dataclass
class Mail:
    """The campaign's letters by state, and each target's deliveries and bounces."""

    letters: dict[str, int] = field(default_factory=dict)  # "status sandbox" ("sent 1") -> letters
    targets: dict[int, dict[str, int]] = field(default_factory=dict)  # target id -> sent, in_sandbox, waiting…
    other_bounces: dict[str, int] | None = None  # bounces from addresses that are not (or no longer) a target

    def letters_in(self, *statuses: str, sandbox: bool | None = None) -> int:
        total = 0
        for key, count in self.letters.items():
            status, in_sandbox = key.split()
            if status in statuses and (sandbox is None or in_sandbox == str(int(sandbox))):
                total += count
        return total


@dataclass
class Progress:
    signatures: Figures
    mail: Mail
    counted_at: datetime.datetime | None = None  # when it was not counted for this page view

    def as_json(self) -> dict:
        return {
            "signatures": self.signatures.as_json(),
            "letters": self.mail.letters,
            "targets": {str(pk): row for pk, row in self.mail.targets.items()},
            "other_bounces": self.mail.other_bounces,
        }

    @classmethod
    def from_json(cls, data: dict, counted_at: datetime.datetime) -> "Progress":
        mail = Mail(
            letters=data["letters"],
            targets={int(pk): row for pk, row in data["targets"].items()},
            other_bounces=data["other_bounces"],
        )
        return cls(Figures.from_json(data["signatures"]), mail, counted_at)


def count_letters(campaign_id: int) -> dict[str, int]:
    rows = (
        # The campaign's own letters: each follow-up's are counted apart (delivery/follow_ups.py).
        OutboxMessage.objects.first_letters()
        .filter(campaign_id=campaign_id)
        .values("status", "sandbox")
        .annotate(count=Count("id"))
        .order_by()
    )
    return {f"{row['status']} {int(row['sandbox'])}": row["count"] for row in rows}


def count_targets(campaign: Campaign) -> tuple[dict[int, dict[str, int]], dict[str, int] | None]:
    """For each target: its letters and digests sent, waiting (letters for its next digest included) and
    failed, and the bounces from its address; and the bounces from other addresses.

    Counted per recipient (delivery.Recipient): a letter To the embassy and Cc an ally may reach one and
    not the other. A recipient still waiting counts as its message stands: waiting while the message is
    queued, deferred, being sent or held; failed if the message failed as a whole; not at all if cancelled.
    A bounce names the address that refused it, so it counts for the target with that address.
    """
    recipient = Recipient.Status
    still_waiting = Q(deliveries__status__in=[recipient.QUEUED, recipient.DEFERRED])
    mail = Q(deliveries__outboxmessage__kind__in=MAIL_KINDS)
    delivered = mail & Q(deliveries__status=recipient.SENT)
    # Letters written for the target's next digest: a subquery, since a second join would multiply the counts.
    for_digest = (
        DigestEntry.objects.pending()
        .filter(target=OuterRef("pk"))
        .order_by()
        .values("target")
        .annotate(count=Count("pk"))
        .values("count")
    )
    targets = campaign.targets.annotate(
        # Sent as the campaign's "Letters sent" counts it: really sent, the sandbox's copies apart.
        sent=Count("deliveries", filter=delivered & Q(deliveries__outboxmessage__sandbox=False)),
        in_sandbox=Count("deliveries", filter=delivered & Q(deliveries__outboxmessage__sandbox=True)),
        waiting=Count(
            "deliveries",
            filter=mail & still_waiting & Q(deliveries__outboxmessage__status__in=WAITING_MESSAGE),
        ),
        failed=Count(
            "deliveries",
            filter=mail
            & (
                Q(deliveries__status=recipient.FAILED)
                | (still_waiting & Q(deliveries__outboxmessage__status=Status.FAILED))
            ),
        ),
        for_digest=Coalesce(Subquery(for_digest), 0),
    )
    # Counted here, not grouped by the database: the recipient column is encrypted.
    bounces: dict[str, dict[str, int]] = {}
    for address, status in Bounce.objects.filter(message__campaign=campaign).values_list("recipient", "status"):
        row = bounces.setdefault(address.casefold(), {"bounces": 0, "refusals": 0})
        row["bounces"] += 1
        row["refusals"] += status.startswith("5.")
    rows = {}
    for target in targets:
        bounced = bounces.pop(target.email.casefold(), {"bounces": 0, "refusals": 0})
        rows[target.pk] = {
            "sent": target.sent,
            "in_sandbox": target.in_sandbox,
            "waiting": target.waiting + target.for_digest,
            "failed": target.failed,
            **bounced,
        }
    others = None
    if bounces:
        others = {key: sum(row[key] for row in bounces.values()) for key in ("bounces", "refusals")}
    return rows, others


def count_progress(campaign: Campaign) -> Progress:
    targets, other_bounces = count_targets(campaign)
    return Progress(count_figures(campaign.pk), Mail(count_letters(campaign.pk), targets, other_bounces))


def count_and_keep(campaign: Campaign, now: datetime.datetime | None = None) -> Progress:
    started = time.perf_counter()
    progress = count_progress(campaign)
    kept = ProgressFigures(
        campaign_id=campaign.pk,
        figures=progress.as_json(),
        counted_at=now or timezone.now(),
        seconds=time.perf_counter() - started,
    )
    # One INSERT … ON CONFLICT: two page views counting at once both keep theirs, neither fails.
    ProgressFigures.objects.bulk_create(
        [kept], update_conflicts=True, unique_fields=["campaign"], update_fields=["figures", "counted_at", "seconds"]
    )
    return progress


def refresh_interval(seconds: float) -> datetime.timedelta:
    """How long the worker lets kept figures that took `seconds` to count stand before counting them again."""
    return max(SMALLEST_REFRESH, datetime.timedelta(seconds=REFRESH_FACTOR * seconds))


def progress_for(campaign: Campaign, now: datetime.datetime | None = None) -> Progress:
    """The progress page's figures: as the worker last counted them when counting is slow and the worker keeps
    them up to date (a public campaign, counted lately), else counted now."""
    now = now or timezone.now()
    kept = ProgressFigures.objects.filter(campaign=campaign).only("counted_at", "seconds").first()
    if (
        kept is not None
        and kept.seconds >= LIVE_SECONDS
        and campaign.is_public
        # Three of the worker's intervals: if it stopped, the page counts rather than show old figures.
        and now - kept.counted_at <= 3 * refresh_interval(kept.seconds)
    ):
        kept.refresh_from_db(fields=["figures"])
        return Progress.from_json(kept.figures, kept.counted_at)
    return count_and_keep(campaign, now)


def refresh_progress(now: datetime.datetime) -> None:
    """The worker's job: count again the public campaigns whose figures are too costly to count on each page
    view (or were never counted), each when REFRESH_FACTOR times its cost has passed since."""
    kept = {row.campaign_id: row for row in ProgressFigures.objects.only("campaign_id", "counted_at", "seconds")}
    for campaign in Campaign.objects.public().defer("tally_organisations"):
        row = kept.get(campaign.pk)
        if row is not None and row.seconds < LIVE_SECONDS:
            continue  # its page counts it
        if row is None or now - row.counted_at >= refresh_interval(row.seconds):
            count_and_keep(campaign, now)
