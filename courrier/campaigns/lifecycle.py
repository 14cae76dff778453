"""A campaign's life: draft, live, paused, closed, archived; and a new draft duplicated from a campaign.

- Going live needs the pre-publish checklist to pass (checklist.py), from a draft, a pause or a closure.
- Paused: the page stays with a notice, without the form; no new signature, no confirmation. Letters
  already confirmed keep going out: the worker queues and sends them whatever the campaign's status.
- Closed: the page shows the closing message; no new signature. Queued letters still go out, unless the
  organiser closes with "cancel the queued letters" (cancel_pending_letters).
- Archived: not listed, and its page is a short notice (410 Gone); every row is kept.
- Closing or archiving starts the retention clock (closed_at): the supporters' data is anonymised
  anonymise_after_days later (signatures/retention.py). Reopening stops it.

Every transition is written to the audit log (accounts.audit), with who made it. This module owns them:
the admin's form, its actions and any other interface call change_status (or go_live, pause...), never
write the status themselves.

Edits to a live or paused campaign (whose letters are being written) are checked too: one that would add a
blocking finding to the checklist is refused (EditRefused), inside the transaction of the edit, so that
nothing of it is kept (blockers_before_edit, then refuse_new_blockers once the edit is saved).
"""

import datetime

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import transaction
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from courrier.campaigns.checklist import blocking, run_checklist
from courrier.campaigns.models import Campaign, CampaignText, DirectoryEntry, ModelLetter, Person, PersonUpdate, Target

Status = Campaign.Status

# For each status, the statuses a campaign may reach it from.
TRANSITIONS = {
    Status.LIVE: {Status.DRAFT, Status.PAUSED, Status.CLOSED},
    Status.PAUSED: {Status.LIVE},
    Status.CLOSED: {Status.LIVE, Status.PAUSED},
    Status.ARCHIVED: {Status.DRAFT, Status.LIVE, Status.PAUSED, Status.CLOSED},
}

# Copied by duplicate(): everything an organiser wrote. Not the slug (unique), the status (a copy starts as a
# draft), the closing message (it was about the other campaign's end), the tallies, nor real delivery: a copy
# is tried in the sandbox first, and its organisers switch real mail on when it is ready.
DUPLICATED_FIELDS = [
    "organisation",
    "language",
    "title",
    "summary",
    "article",
    "photo",
    "photo_static",
    "photo_alt",
    "photo_caption",
    "photo_credit",
    "use_directory",
    "goal",
    "allow_letter_editing",
    "bilingual_letters",
    "embed_origins",
]
# A target's delivery bookkeeping starts afresh in the copy (no pause, no pacing clock, no digest sent).
TARGET_BOOKKEEPING = {
    "paused_at": None,
    "pause_reason": "",
    "next_send_at": None,
    "last_digest_at": None,
}


# Statuses in which the campaign's letters are being written: its edits must keep the checklist passing.
CHECKED_STATUSES = {Status.LIVE, Status.PAUSED}


def reachable_statuses(current: str) -> list[str]:
    """The statuses a campaign in `current` may be moved to, `current` first (a form's choices)."""
    return [current, *(status for status, sources in TRANSITIONS.items() if current in sources)]


class TransitionRefused(Exception):
    """The campaign cannot move to that status now; `reasons` say why, in the active language."""

    def __init__(self, reasons: list[str]):
        super().__init__(" ".join(reasons))
        self.reasons = reasons


def forget_cached_campaigns() -> None:
    """The signing request keeps campaigns in memory for a few seconds: this process forgets them now."""
    from courrier.signatures.signable import forget

    forget()


def check_transition(campaign: Campaign, status: str) -> None:
    if status not in TRANSITIONS or campaign.status not in TRANSITIONS[status]:
        raise TransitionRefused(
            [
                _("A campaign that is “%(current)s” cannot become “%(new)s”.")
                % {"current": campaign.get_status_display(), "new": Status(status).label}
            ]
        )


ENDED = {Status.CLOSED, Status.ARCHIVED}


def closure_changes(campaign: Campaign, status: str) -> dict:
    """The retention clock (signatures/retention.py) runs from the closure: closing or archiving starts it
    (archiving a closed campaign keeps its date), reopening stops it."""
    if status in ENDED and campaign.closed_at is None:
        return {"closed_at": timezone.now()}
    if status not in ENDED and campaign.closed_at is not None:
        return {"closed_at": None, "anonymised_at": None}
    return {}


@transaction.atomic
def set_status(campaign: Campaign, status: str, user, summary: str = "") -> None:
    """Move the campaign to `status`, if that transition is allowed, and write it to the audit log."""
    from courrier.accounts import audit

    check_transition(campaign, status)
    previous = campaign.status
    # Conditional on the status read, so that two organisers acting at once cannot both move it.
    changes = {"status": status, **closure_changes(campaign, status)}
    if not Campaign.objects.filter(pk=campaign.pk, status=previous).update(**changes):
        raise TransitionRefused([_("The campaign was changed meanwhile: reload the page and try again.")])
    for name, value in changes.items():
        setattr(campaign, name, value)
    if summary:
        # One entry per transition, with what else happened (letters cancelled) in its summary.
        change = f"{Status(previous).label} → {campaign.get_status_display()}: {summary}"
        audit.record(user, audit.STATUS_ACTIONS.get(status, audit.STATUS_CHANGE), campaign, summary=change)
    else:
        audit.record_status_change(user, campaign, previous)
    transaction.on_commit(forget_cached_campaigns)


def change_status(campaign: Campaign, status: str, user) -> None:
    """Move the campaign to `status` the way that status is reached: going live passes the checklist first."""
    if status == campaign.status:
        return
    moves = {Status.LIVE: go_live, Status.PAUSED: pause, Status.CLOSED: close, Status.ARCHIVED: archive}
    if status not in moves:
        check_transition(campaign, status)  # raises: no campaign goes back to draft
    moves[status](campaign, user)


class EditRefused(Exception):
    """An edit would add these blocking findings to a live or paused campaign: nothing of it is kept."""

    def __init__(self, findings: list):
        super().__init__(" ".join(str(finding) for finding in findings))
        self.findings = findings


def finding_key(finding) -> tuple[str, str, str, str]:
    return (finding.code, finding.language, finding.field, finding.subject)


def blockers_before_edit(campaign_id: int) -> set | None:
    """What already blocks the campaign as saved, when it is live or paused; None when its edits are free."""
    saved = Campaign.objects.filter(pk=campaign_id).first()
    if saved is None or saved.status not in CHECKED_STATUSES:
        return None
    return {finding_key(finding) for finding in blocking(run_checklist(saved))}


def refuse_new_blockers(campaign_id: int, before: set | None) -> None:
    """Raise EditRefused if the campaign, as now saved, has blocking findings it did not have before the edit.

    Call inside the edit's transaction, so that raising throws the edit away. Findings that were already
    there (a site setting changed meanwhile) do not stop an unrelated edit.
    """
    if before is None:
        return
    saved = Campaign.objects.get(pk=campaign_id)
    added = [finding for finding in blocking(run_checklist(saved)) if finding_key(finding) not in before]
    if added:
        raise EditRefused(added)


def go_live(campaign: Campaign, user) -> None:
    """Publish the campaign, if the pre-publish checklist has nothing that blocks it."""
    check_transition(campaign, Status.LIVE)
    found = blocking(run_checklist(campaign))
    if found:
        raise TransitionRefused(
            [_("The pre-publish checklist blocks going live:"), *(str(finding) for finding in found)]
        )
    set_status(campaign, Status.LIVE, user)


def pause(campaign: Campaign, user) -> None:
    set_status(campaign, Status.PAUSED, user)


def archive(campaign: Campaign, user) -> None:
    set_status(campaign, Status.ARCHIVED, user)


@transaction.atomic
def close(campaign: Campaign, user, cancel_queued: bool = False) -> int:
    """Close the campaign; with cancel_queued, its letters not sent yet never will be. Returns how many."""
    check_transition(campaign, Status.CLOSED)
    cancelled = cancel_pending_letters(campaign, user) if cancel_queued else 0
    summary = ""
    if cancel_queued:
        summary = _("closed, and %(count)d letters not sent yet cancelled") % {"count": cancelled}
    set_status(campaign, Status.CLOSED, user, summary=summary)
    return cancelled


def pending_letters(campaign: Campaign):
    from courrier.delivery.models import OutboxMessage

    return OutboxMessage.objects.filter(
        campaign=campaign,
        kind=OutboxMessage.Kind.LETTER,
        status__in=[OutboxMessage.Status.QUEUED, OutboxMessage.Status.DEFERRED, OutboxMessage.Status.HELD],
    )


def unqueued_signatures(campaign: Campaign):
    """Confirmed signatures whose letters the worker has not written yet (held for review included)."""
    from courrier.signatures.models import Signature

    return Signature.objects.filter(
        campaign=campaign, confirmed_at__isnull=False, letters_queued_at__isnull=True, is_duplicate=False
    )


def pending_digest_entries(campaign: Campaign):
    """Letters written for the campaign's digest targets and not in a digest yet."""
    from courrier.delivery.models import DigestEntry

    return DigestEntry.objects.pending().filter(target__campaign=campaign)


def pending_count(campaign: Campaign) -> int:
    """How many letters closing with cancellation would stop: queued, deferred, held, waiting for a digest,
    or not written yet."""
    return (
        pending_letters(campaign).count()
        + pending_digest_entries(campaign).count()
        + unqueued_signatures(campaign).count()
    )


@transaction.atomic
def cancel_pending_letters(campaign: Campaign, user, now: datetime.datetime | None = None) -> int:
    """The organiser's word: the campaign's letters that have not left yet are never sent.

    - letter rows queued, deferred or held become cancelled, each with a delivery event saying who did it
      (the pattern of delivery/holds.py); a letter being sent right now (leased) may still go;
    - confirmed signatures whose letters the worker has not written yet are marked as done, so it never
      writes them (also those held for review: approving them later sends nothing);
    - letters waiting for a target's digest are cancelled, and erased: they will never be listed.
    Supporters' copies and other mail are left alone. Returns how many letters were stopped.
    """
    from courrier.delivery.models import DeliveryEvent, OutboxMessage

    now = now or timezone.now()
    # Signatures first: once marked, the worker cannot turn them into new queued rows behind our back.
    unqueued = unqueued_signatures(campaign).update(letters_queued_at=now)
    in_digests = pending_digest_entries(campaign).update(cancelled_at=now, listing={}, subject="", body="")
    ids = list(pending_letters(campaign).select_for_update().values_list("pk", flat=True))
    OutboxMessage.objects.filter(pk__in=ids).update(status=OutboxMessage.Status.CANCELLED)
    note = f"cancelled: campaign closed by {user}"[:2000]
    DeliveryEvent.objects.bulk_create(
        DeliveryEvent(message_id=pk, at=now, status=OutboxMessage.Status.CANCELLED, reply=note) for pk in ids
    )
    return len(ids) + in_digests + unqueued


def free_slug(slug: str) -> str:
    """<slug>-copy-N with the first N not taken, within the slug's 80 characters."""
    number = 1
    while True:
        suffix = f"-copy-{number}"
        candidate = slug[: 80 - len(suffix)] + suffix
        if not Campaign.objects.filter(slug=candidate).exists():
            return candidate
        number += 1


def copied(obj, **changes):
    """An unsaved copy of a row, with some fields changed."""
    obj.pk = None
    obj._state.adding = True
    for name, value in changes.items():
        setattr(obj, name, value)
    return obj


@transaction.atomic
def duplicate(campaign: Campaign, user) -> Campaign:
    """A new draft with the campaign's texts, letters, targets, case file (with its timeline) and directory.

    Nothing personal is copied: no signature, no outbox row, no tally, no click. Written to the audit log.
    """
    from courrier.accounts import audit
    from courrier.signatures.models import BlockedWords

    new = Campaign(
        slug=free_slug(campaign.slug),
        status=Status.DRAFT,
        real_delivery=False,
        **{name: getattr(campaign, name) for name in DUPLICATED_FIELDS},
    )
    new.save()
    CampaignText.objects.bulk_create(
        copied(text, campaign=new) for text in CampaignText.objects.filter(campaign=campaign)
    )
    ModelLetter.objects.bulk_create(copied(letter, campaign=new) for letter in campaign.letters.all())
    Target.objects.bulk_create(copied(target, campaign=new, **TARGET_BOOKKEEPING) for target in campaign.targets.all())
    DirectoryEntry.objects.bulk_create(copied(entry, campaign=new) for entry in campaign.directory.all())
    BlockedWords.objects.bulk_create(copied(words, campaign=new) for words in campaign.blocked_words.all())
    for person in Person.objects.filter(campaign=campaign).prefetch_related("updates"):
        updates = list(person.updates.all())
        new_person = copied(person, campaign=new)
        new_person.save()
        PersonUpdate.objects.bulk_create(copied(update, person=new_person) for update in updates)
    summary = _("copy of “%(title)s” (%(slug)s)") % {"title": campaign.title, "slug": campaign.slug}
    audit.record(user, "duplicate", new, summary=summary)
    return new


# Admin actions (CampaignAdmin.actions). Each acts on the selected campaigns the user may act on, and says
# which it left alone and why: an editor duplicates; a manager changes a campaign's status.


def allowed_campaigns(modeladmin, request, queryset, manage: bool) -> list[Campaign]:
    from courrier.accounts.scoping import can_edit, can_manage

    allowed = can_manage if manage else can_edit
    campaigns = list(queryset.select_related("organisation"))
    refused = [campaign for campaign in campaigns if not allowed(request.user, campaign)]
    if refused:
        message = (
            _("Only the managers of its organisation may do this: %(titles)s")
            if manage
            else _("Only the editors of its organisation may do this: %(titles)s")
        )
        titles = ", ".join(campaign.title for campaign in refused)
        modeladmin.message_user(request, message % {"titles": titles}, messages.WARNING)
    return [campaign for campaign in campaigns if campaign not in refused]


def run_transition(modeladmin, request, queryset, move, done: str) -> None:
    for campaign in allowed_campaigns(modeladmin, request, queryset, manage=True):
        try:
            move(campaign, request.user)
        except TransitionRefused as refusal:
            modeladmin.message_user(request, f"{campaign.title}: {refusal}", messages.ERROR)
        else:
            modeladmin.message_user(request, done % {"title": campaign.title}, messages.SUCCESS)


@admin.action(description=gettext_lazy("Duplicate: a new draft with the same texts, letters, targets and directory"))
def duplicate_campaigns(modeladmin, request, queryset):
    for campaign in allowed_campaigns(modeladmin, request, queryset, manage=False):
        new = duplicate(campaign, request.user)
        url = reverse("admin:campaigns_campaign_change", args=[new.pk])
        modeladmin.message_user(
            request,
            format_html(
                '{} <a href="{}">{}</a>',
                _("“%(title)s” is duplicated, as a draft:") % {"title": campaign.title},
                url,
                new.slug,
            ),
            messages.SUCCESS,
        )


@admin.action(description=gettext_lazy("Go live (if the pre-publish checklist passes)"))
def go_live_campaigns(modeladmin, request, queryset):
    run_transition(modeladmin, request, queryset, go_live, _("“%(title)s” is live."))


@admin.action(description=gettext_lazy("Pause signing (letters already confirmed keep going)"))
def pause_campaigns(modeladmin, request, queryset):
    run_transition(
        modeladmin, request, queryset, pause, _("“%(title)s” is paused: its page no longer takes signatures.")
    )


@admin.action(description=gettext_lazy("Close (letters not sent yet still go)"))
def close_campaigns(modeladmin, request, queryset):
    run_transition(modeladmin, request, queryset, close, _("“%(title)s” is closed."))


@admin.action(description=gettext_lazy("Close and cancel the letters not sent yet"))
def close_and_cancel(modeladmin, request, queryset):
    """Asks first, showing how many letters each campaign would lose; the confirmation comes back here."""
    campaigns = allowed_campaigns(modeladmin, request, queryset, manage=True)
    if not campaigns:
        return None
    if request.POST.get("confirmed") != "yes":
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": _("Close and cancel the letters not sent yet"),
            "opts": Campaign._meta,
            "campaigns": [(campaign, pending_count(campaign)) for campaign in campaigns],
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/campaigns/close_and_cancel.html", context)
    for campaign in campaigns:
        try:
            cancelled = close(campaign, request.user, cancel_queued=True)
        except TransitionRefused as refusal:
            modeladmin.message_user(request, f"{campaign.title}: {refusal}", messages.ERROR)
        else:
            message = ngettext(
                "“%(title)s” is closed; %(count)d letter not sent yet is cancelled.",
                "“%(title)s” is closed; %(count)d letters not sent yet are cancelled.",
                cancelled,
            )
            modeladmin.message_user(request, message % {"title": campaign.title, "count": cancelled}, messages.SUCCESS)
    return None


@admin.action(description=gettext_lazy("Archive (no longer listed; the page becomes a short notice; data kept)"))
def archive_campaigns(modeladmin, request, queryset):
    run_transition(modeladmin, request, queryset, archive, _("“%(title)s” is archived."))


ADMIN_ACTIONS = [
    duplicate_campaigns,
    go_live_campaigns,
    pause_campaigns,
    close_campaigns,
    close_and_cancel,
    archive_campaigns,
]
