"""A campaign's progress for its managers: signatures per day, by language, source and delivery state,
and how each target's mail fares.

The figures come from delivery/progress.py: counted for the page when that is quick, else as the worker last
counted them (the page says when). The chart is an SVG drawn here, on the server, with the same numbers in a
table next to it for screen readers and for copying.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.contrib import admin
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from courrier.backoffice.scoping import managed_campaign
from courrier.campaigns.models import Campaign, FollowUp
from courrier.delivery.follow_ups import follow_up_figures
from courrier.delivery.models import OutboxMessage
from courrier.delivery.progress import Progress, progress_for
from courrier.signatures import exports
from courrier.signatures.figures import Figures
from courrier.signatures.models import OwnMailboxClick, Signature

# The chart shows at most this many days, the most recent; the table lists them all.
CHART_DAYS = 120
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 32
X_LABELS = 6

Status = OutboxMessage.Status


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


# Below this many letters, a share of identical ones says little.
IDENTICAL_LETTERS_MINIMUM = 20


def identical_letters_percent(figures: Figures) -> int | None:
    """The share of the letters that go that are the model letter word for word, as a percentage, when it is
    above IDENTICAL_LETTERS_SHARE; None otherwise."""
    if figures.classified < IDENTICAL_LETTERS_MINIMUM:
        return None  # letters signed before it was recorded say nothing either way
    share = figures.model_letters / figures.classified
    return round(share * 100) if share > settings.IDENTICAL_LETTERS_SHARE else None


def own_mailbox_clicks(campaign: Campaign) -> list[Row]:
    """The "send from my own mailbox" links opened, by channel: clicks, never letters (nobody sees what is sent)."""
    counts = dict(
        OwnMailboxClick.objects.filter(campaign=campaign).order_by().values_list("channel").annotate(count=Count("pk"))
    )
    return [Row(str(label), counts[code]) for code, label in OwnMailboxClick.Channel.choices if counts.get(code)]


def by_state(progress: Progress) -> list[Row]:
    """Where each signature and letter stands."""
    signatures, letters_in = progress.signatures.states, progress.mail.letters_in
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


def each_letter(campaign: Campaign, progress: Progress) -> list[dict]:
    """The campaign's letter and each follow-up apart: who sent it, and the letters that went."""
    letters_in = progress.mail.letters_in
    rows = [
        {
            "name": _("The campaign's letter"),
            "supporters": progress.signatures.delivered,
            "sent": letters_in(Status.SENT),
        }
    ]
    for follow_up in campaign.follow_ups.exclude(status=FollowUp.Status.DRAFT):
        figures = follow_up_figures(follow_up)
        rows.append({"name": follow_up.name, "supporters": figures["pressed"], "sent": figures["sent"]})
    return rows


def per_target(campaign: Campaign, progress: Progress) -> list[dict]:
    """Each target (as it is now: its name, whether it is paused) with its figures, and a row for the bounces
    from other addresses."""
    empty = {"sent": 0, "in_sandbox": 0, "waiting": 0, "failed": 0, "bounces": 0, "refusals": 0}
    rows = [
        {"target": target, **progress.mail.targets.get(target.pk, empty)}
        for target in campaign.targets.order_by("-role", "name")  # "to" before "cc"
    ]
    # Bounces from addresses that are no longer (or never were) a target: shown, not lost.
    if progress.mail.other_bounces:
        rows.append(
            {"target": None, "sent": None, "in_sandbox": None, "waiting": None, "failed": None}
            | progress.mail.other_bounces
        )
    return rows


def progress_context(campaign: Campaign) -> dict:
    """What templates/progress/figures.html shows, and the parts of the PDF, for the admin and the studio."""
    progress = progress_for(campaign)
    figures = progress.signatures
    days = signatures_per_day(figures)
    return {
        "campaign": campaign,
        "counted_at": progress.counted_at,
        "days": days,
        "chart": chart(days),
        "language_rows": by_language(figures),  # not "languages": the site's language switcher is
        "sources": by_source(figures),
        "states": by_state(progress),
        "targets": per_target(campaign, progress),
        "held": figures.awaiting_decision,
        "own_mailbox": own_mailbox_clicks(campaign),
        "identical_percent": identical_letters_percent(figures),
        "each_letter": each_letter(campaign, progress),
        "pdf_parts": [
            (part, formats.number_format(first, force_grouping=True), formats.number_format(last, force_grouping=True))
            for part, first, last in exports.pdf_parts(figures.exportable)
        ],
    }


def progress(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The progress page, for the campaign's managers (reached from the campaign's change page)."""
    campaign = managed_campaign(request, campaign_id)
    context = {
        **admin.site.each_context(request),
        **progress_context(campaign),
        "title": _("Progress: %(campaign)s") % {"campaign": campaign.title},
        "opts": Campaign._meta,
    }
    return TemplateResponse(request, "admin/courrier/progress.html", context)
