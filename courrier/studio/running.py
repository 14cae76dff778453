"""Running a campaign, for its managers: progress and exports, the moderation queue, delivery per target,
and the campaign's state (pause signing, close, archive).

Each page calls what the admin and the worker call: backoffice/progress.py and
exports.py for the figures and files, signatures/moderation.py for decisions,
delivery/target_pauses.py for pausing a target, campaigns/lifecycle.py and
delivery/cancellation.py for the campaign's state. No rule is written here.
"""

import re

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from courrier.accounts import audit
from courrier.backoffice.exports import csv_export, pdf_export
from courrier.backoffice.progress import per_target, progress_context
from courrier.campaigns import lifecycle
from courrier.campaigns.models import BlockedWords
from courrier.delivery import cancellation
from courrier.delivery.progress import progress_for
from courrier.delivery.target_pauses import cancel_held, pause_target, resume_target
from courrier.signatures import moderation
from courrier.signatures.models import Signature
from courrier.studio.access import MANAGER, campaign_for, studio_page
from courrier.studio.building import LANGUAGES, steps

QUEUE_PAGE = 25
# What the audit log says of each delivery button (the admin's target actions say the same).
TARGET_ACTIONS_DONE = {
    "pause": gettext_lazy("paused"),
    "resume": gettext_lazy("resumed"),
    "cancel": gettext_lazy("held letters cancelled"),
}


@studio_page
def progress(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, MANAGER)
    context = {**progress_context(campaign), "nav": steps(request, campaign, "progress")}
    return render(request, "studio/progress.html", context)


@require_POST
@studio_page
def export_csv(request: HttpRequest, campaign_id: int) -> HttpResponseBase:
    return csv_export(request, campaign_for(request, campaign_id, MANAGER))


@require_POST
@studio_page
def export_pdf(request: HttpRequest, campaign_id: int) -> HttpResponseBase:
    campaign = campaign_for(request, campaign_id, MANAGER)
    return pdf_export(request, campaign) or redirect("studio:progress", campaign_id=campaign.pk)


@studio_page
def queue(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The letters held for review, oldest first, a page at a time (only that page is decrypted)."""
    campaign = campaign_for(request, campaign_id, MANAGER)
    waiting = Signature.objects.filter(moderation.awaiting_decision(), campaign=campaign)
    # A filter by the rule that held them: the links of one spammer, the words of one list…
    rules = [
        (rule, name, count)
        for rule, name in moderation.RULE_NAMES.items()
        if (count := waiting.filter(moderation.held_by(rule)).count())
    ]
    rule = request.GET.get("rule", "")
    shown = waiting.filter(moderation.held_by(rule)) if rule in moderation.RULE_NAMES else waiting
    page = Paginator(shown.order_by("created_at", "pk"), QUEUE_PAGE).get_page(request.GET.get("page"))
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "queue"),
        "page": page,
        "count": page.paginator.count,
        "rules": rules,
        "rule": rule if rule in moderation.RULE_NAMES else "",
    }
    return render(request, "studio/queue.html", context)


@require_POST
@studio_page
def decide(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, MANAGER)
    # Numbers a database can hold: an id of twenty digits would overflow SQLite's integers.
    chosen = [value for value in request.POST.getlist("signature") if re.fullmatch(r"[0-9]{1,18}", value)]
    signatures = Signature.objects.filter(campaign=campaign, pk__in=chosen)
    decision = request.POST.get("decision")
    if not chosen:
        messages.error(request, _("Tick the letters to approve or reject first."))
    elif decision == "approve":
        count = moderation.approve(request.user, signatures)
        messages.success(
            request,
            ngettext("%(count)d letter approved: it goes out.", "%(count)d letters approved: they go out.", count)
            % {"count": count},
        )
    elif decision == "reject":
        count = moderation.reject(request.user, signatures)
        messages.success(
            request,
            ngettext(
                "%(count)d letter rejected: it will never be sent.",
                "%(count)d letters rejected: they will never be sent.",
                count,
            )
            % {"count": count},
        )
    return redirect("studio:queue", campaign_id=campaign.pk)


@studio_page
def delivery(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, MANAGER)
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "delivery"),
        "targets": per_target(campaign, progress_for(campaign)),
        "pending": cancellation.pending_count(campaign),
        "moves": lifecycle.reachable_statuses(campaign.status),
    }
    return render(request, "studio/delivery.html", context)


@require_POST
@studio_page
def target_action(request: HttpRequest, campaign_id: int, target_id: int) -> HttpResponse:
    """Pause a target (its pending letters held), resume it, or cancel its held letters; in the audit log."""
    campaign = campaign_for(request, campaign_id, MANAGER)
    target = get_object_or_404(campaign.targets, pk=target_id)
    action = request.POST.get("action")
    if action == "pause":
        count = pause_target(target, _("paused by %(user)s") % {"user": request.user})
        done = ngettext("%(count)d letter held.", "%(count)d letters held.", count)
    elif action == "resume":
        count = resume_target(target)
        done = ngettext("%(count)d letter queued again.", "%(count)d letters queued again.", count)
    elif action == "cancel":
        count = cancel_held(target)
        done = ngettext("%(count)d held letter cancelled.", "%(count)d held letters cancelled.", count)
    else:
        return redirect("studio:delivery", campaign_id=campaign.pk)
    audit.record(request.user, audit.TARGET_CHANGE, target, summary=f"{target}: {TARGET_ACTIONS_DONE[action]}")
    messages.success(request, done % {"count": count})
    return redirect("studio:delivery", campaign_id=campaign.pk)


# The buttons of the delivery page, each a move of lifecycle (which checks that it is allowed now).
STATE_MOVES = {
    "pause": lifecycle.pause,
    "live": lifecycle.go_live,
    "close": lifecycle.close,
    "archive": lifecycle.archive,
}


@require_POST
@studio_page
def change_state(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, MANAGER)
    move = request.POST.get("move", "")
    try:
        if move == "close_and_cancel" and request.POST.get("confirmed") != "yes":
            # Letters cancelled are never sent: the organiser says so twice, knowing how many.
            context = {"campaign": campaign, "pending": cancellation.pending_count(campaign)}
            return render(request, "studio/close_and_cancel.html", context)
        if move == "close_and_cancel":
            cancelled = cancellation.close_and_cancel(campaign, request.user)
            messages.success(
                request,
                ngettext(
                    "The campaign is closed; %(count)d letter not sent yet is cancelled.",
                    "The campaign is closed; %(count)d letters not sent yet are cancelled.",
                    cancelled,
                )
                % {"count": cancelled},
            )
        elif move in STATE_MOVES:
            STATE_MOVES[move](campaign, request.user)
            messages.success(request, _("The campaign is now: %(status)s.") % {"status": campaign.get_status_display()})
    except lifecycle.TransitionRefused as refusal:
        for reason in refusal.reasons:
            messages.error(request, reason)
    return redirect("studio:delivery", campaign_id=campaign.pk)


@studio_page
def review_rules(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The words that hold a supporter's own sentence for review, one list per language."""
    campaign = campaign_for(request, campaign_id, MANAGER)
    existing = {entry.language: entry for entry in campaign.blocked_words.all()}
    if request.method == "POST":
        for code in LANGUAGES:
            words = "\n".join(
                line.strip() for line in request.POST.get(f"words-{code}", "").splitlines() if line.strip()
            )
            entry = existing.get(code) or BlockedWords(campaign=campaign, language=code)
            if words != entry.words:
                entry.words = words
                entry.save()
        messages.success(request, _("The review rules are saved."))
        return redirect("studio:review_rules", campaign_id=campaign.pk)
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "queue"),
        "lists": [(code, name, existing[code].words if code in existing else "") for code, name in LANGUAGES.items()],
    }
    return render(request, "studio/review_rules.html", context)
