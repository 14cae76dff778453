"""A campaign's progress for its managers: signatures per day, by language, source and delivery state,
and how each target's mail fares.

The signatures' figures come from signatures/figures.py: counted for the page when that is quick, else as the
worker last counted them (the page says when). The mail's are aggregate queries (GROUP BY in the database) on
the outbox. The chart is an SVG drawn here, on the server, with the same numbers in a table next to it for
screen readers and for copying.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.contrib import admin
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from courrier.backoffice.scoping import managed_campaign
from courrier.campaigns.models import Campaign
from courrier.delivery.models import Bounce, DigestEntry, OutboxMessage, Recipient
from courrier.signatures import exports
from courrier.signatures.figures import Figures, figures_for
from courrier.signatures.models import Signature

# The chart shows at most this many days, the most recent; the table lists them all.
CHART_DAYS = 120
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 32
X_LABELS = 6

Status = OutboxMessage.Status
MAIL_KINDS = [OutboxMessage.Kind.LETTER, OutboxMessage.Kind.DIGEST]


@dataclass
class Day:
    day: datetime.date
    signed: int
    confirmed: int

    @property
    def waiting(self) -> int:
        return self.signed - self.confirmed


@dataclass
class Row:
    label: str
    count: int
    confirmed: int | None = None


def signatures_per_day(figures: Figures) -> list[Day]:
    """Signatures by the day they were made (in the site's time zone), with the days between filled in."""
    if not figures.days:
        return []
    first, last = min(figures.days), max(max(figures.days), timezone.localdate())
    days = []
    for offset in range((last - first).days + 1):
        day = first + datetime.timedelta(days=offset)
        signed, confirmed = figures.days.get(day, (0, 0))
        days.append(Day(day, signed, confirmed))
    return days


def round_up(value: int) -> int:
    """A round top for the axis, at least the value: 1, 2, 5, 10, 20, 50, 100…"""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= value:
                return step * magnitude
        magnitude *= 10


def chart(days: list[Day]) -> dict | None:
    """The geometry of the bar chart: each bar split into confirmed and waiting, a y axis with three marks."""
    shown = days[-CHART_DAYS:]
    if not shown:
        return None
    top = round_up(max(day.signed for day in shown) or 1)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / len(shown)
    width = max(slot * 0.8, 1)
    bars = []
    for index, day in enumerate(shown):
        x = LEFT + index * slot + (slot - width) / 2
        confirmed_height = plot_height * day.confirmed / top
        waiting_height = plot_height * day.waiting / top
        base = TOP + plot_height
        bars.append(
            {
                "x": round(x, 2),
                "width": round(width, 2),
                "confirmed_y": round(base - confirmed_height, 2),
                "confirmed_height": round(confirmed_height, 2),
                "waiting_y": round(base - confirmed_height - waiting_height, 2),
                "waiting_height": round(waiting_height, 2),
                "title": day_title(day),
            }
        )
    every = max(1, -(-len(shown) // X_LABELS))
    x_labels = [
        {"x": round(LEFT + index * slot + slot / 2, 2), "text": formats.date_format(day.day, "MONTH_DAY_FORMAT")}
        for index, day in enumerate(shown)
        if index % every == 0
    ]
    y_marks = [
        {"y": round(TOP + plot_height * (1 - share), 2), "text": formats.number_format(top * share, 0)}
        for share in (0, 0.5, 1)
        if share == 0 or top * share == int(top * share)
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "baseline": TOP + plot_height,
        "label_y": HEIGHT - 10,
        "bars": bars,
        "x_labels": x_labels,
        "y_marks": y_marks,
        "days_shown": len(shown),
        "days_total": len(days),
    }


def day_title(day: Day) -> str:
    signed = ngettext("%(count)d signature", "%(count)d signatures", day.signed) % {"count": day.signed}
    return _("%(day)s: %(signed)s, %(confirmed)d confirmed") % {
        "day": formats.date_format(day.day, "DATE_FORMAT"),
        "signed": signed,
        "confirmed": day.confirmed,
    }


def rows_of(counts: dict[str, list[int]], labels: dict[str, str]) -> list[Row]:
    """Rows of the page's tables, the largest first."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1][0], item[0]))
    return [Row(str(labels.get(key, key)), signed, confirmed) for key, (signed, confirmed) in ordered]


def by_language(figures: Figures) -> dict[str, list[Row]]:
    names = dict(settings.LANGUAGES)
    return {"page": rows_of(figures.page_languages, names), "letter": rows_of(figures.letter_languages, names)}


def by_source(figures: Figures) -> list[Row]:
    return rows_of(figures.sources, dict(Signature.Source.choices))


def by_state(campaign: Campaign, figures: Figures) -> list[Row]:
    """Where each signature (the figures) and letter (one aggregate query) stands."""
    signatures = figures.states
    letters = {
        (row["status"], row["sandbox"]): row["count"]
        for row in OutboxMessage.objects.filter(campaign=campaign, kind=OutboxMessage.Kind.LETTER)
        .values("status", "sandbox")
        .annotate(count=Count("id"))
        .order_by()
    }

    def letters_in(*statuses: str, sandbox: bool | None = None) -> int:
        return sum(
            count
            for (status, in_sandbox), count in letters.items()
            if status in statuses and (sandbox is None or in_sandbox == sandbox)
        )

    return [
        Row(_("Waiting for the supporter's confirmation"), signatures["waiting"]),
        Row(_("Confirmed"), signatures["confirmed"]),
        Row(_("Held for review (moderation)"), signatures["held"]),
        Row(_("Rejected in review"), signatures["rejected"]),
        Row(_("Quarantined: a burst from one network, waiting for review"), signatures["quarantined"]),
        Row(_("Letters queued"), letters_in(Status.QUEUED, Status.DEFERRED, Status.SENDING)),
        Row(_("Letters held (a target is paused)"), letters_in(Status.HELD)),
        Row(_("Letters sent"), letters_in(Status.SENT, sandbox=False)),
        Row(_("Letters kept in the sandbox mailbox"), letters_in(Status.SENT, sandbox=True)),
        Row(_("Letters failed"), letters_in(Status.FAILED)),
        Row(_("Letters cancelled"), letters_in(Status.CANCELLED)),
    ]


def per_target(campaign: Campaign) -> list[dict]:
    """For each target: its letters and digests sent, waiting (letters for its next digest included) and
    failed, and the bounces from its address.

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
    waiting_message = [Status.QUEUED, Status.DEFERRED, Status.SENDING, Status.HELD]
    targets = (
        campaign.targets.annotate(
            # Sent as the campaign's "Letters sent" counts it: really sent, the sandbox's copies apart.
            sent=Count("deliveries", filter=delivered & Q(deliveries__outboxmessage__sandbox=False)),
            in_sandbox=Count("deliveries", filter=delivered & Q(deliveries__outboxmessage__sandbox=True)),
            waiting=Count(
                "deliveries",
                filter=mail & still_waiting & Q(deliveries__outboxmessage__status__in=waiting_message),
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
        ).order_by("-role", "name")  # "to" before "cc"
    )
    # Counted here, not grouped by the database: the recipient column is encrypted.
    bounces: dict[str, dict] = {}
    for recipient, status in Bounce.objects.filter(message__campaign=campaign).values_list("recipient", "status"):
        row = bounces.setdefault(recipient.casefold(), {"recipient": recipient, "count": 0, "refused": 0})
        row["count"] += 1
        row["refused"] += status.startswith("5.")
    rows = []
    for target in targets:
        bounced = bounces.pop(target.email.casefold(), {"count": 0, "refused": 0})
        rows.append(
            {
                "target": target,
                "sent": target.sent,
                "in_sandbox": target.in_sandbox,
                "waiting": target.waiting + target.for_digest,
                "failed": target.failed,
                "bounces": bounced["count"],
                "refusals": bounced["refused"],
            }
        )
    # Bounces from addresses that are no longer (or never were) a target: shown, not lost.
    others = list(bounces.values())
    if others:
        rows.append(
            {
                "target": None,
                "sent": None,
                "in_sandbox": None,
                "waiting": None,
                "failed": None,
                "bounces": sum(row["count"] for row in others),
                "refusals": sum(row["refused"] for row in others),
            }
        )
    return rows


def progress(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The progress page, for the campaign's managers (reached from the campaign's change page)."""
    campaign = managed_campaign(request, campaign_id)
    figures = figures_for(campaign)
    days = signatures_per_day(figures)
    context = {
        **admin.site.each_context(request),
        "title": _("Progress: %(campaign)s") % {"campaign": campaign.title},
        "campaign": campaign,
        "opts": Campaign._meta,
        "counted_at": figures.counted_at,
        "days": days,
        "chart": chart(days),
        "languages": by_language(figures),
        "sources": by_source(figures),
        "states": by_state(campaign, figures),
        "targets": per_target(campaign),
        "held": figures.awaiting_decision,
        "pdf_parts": [
            (part, formats.number_format(first, force_grouping=True), formats.number_format(last, force_grouping=True))
            for part, first, last in exports.pdf_parts(figures.exportable)
        ],
    }
    return TemplateResponse(request, "admin/courrier/progress.html", context)
