"""A campaign's life: draft, live, paused, closed, archived; and a new draft duplicated from a campaign.

- Going live needs the pre-publish checklist to pass (checklist.py), from a draft, a pause or a closure.
- Paused: the page stays with a notice, without the form; no new signature, no confirmation. Letters
  already confirmed keep going out: the worker queues and sends them whatever the campaign's status.
- Closed: the page shows the closing message; no new signature. Queued letters still go out, unless the
  organiser closes with "cancel the queued letters" (cancel_pending_letters).
- Archived: not listed, and its page is a short notice (410 Gone); every row is kept.
- Closing or archiving starts the retention clock (closed_at): the supporters' data is anonymised
  anonymise_after_days later (delivery/retention.py). Reopening stops it.

Every transition is written to the audit log (accounts.audit), with who made it. This module owns them:
the admin's form, its actions and any other interface call change_status (or go_live, pause...), never
write the status themselves.

Edits to a live or paused campaign (whose letters are being written) are checked too: one that would add a
blocking finding to the checklist is refused (EditRefused), inside the transaction of the edit, so that
nothing of it is kept (blockers_before_edit, then refuse_new_blockers once the edit is saved).
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from courrier.accounts import audit
from courrier.campaigns import open_campaigns
from courrier.campaigns.checklist import blocking, run_checklist
from courrier.campaigns.models import (
    BlockedWords,
    Campaign,
    CampaignText,
    DirectoryEntry,
    ModelLetter,
    Person,
    PersonUpdate,
    Target,
)

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
# The action written to the audit log when a campaign reaches a status (back to draft: a plain status change).
STATUS_ACTIONS = {
    Status.LIVE: audit.GO_LIVE,
    Status.PAUSED: audit.PAUSE,
    Status.CLOSED: audit.CLOSE,
    Status.ARCHIVED: audit.ARCHIVE,
}

CHECKED_STATUSES = {Status.LIVE, Status.PAUSED}


def reachable_statuses(current: str) -> list[str]:
    """The statuses a campaign in `current` may be moved to, `current` first (a form's choices)."""
    return [current, *(status for status, sources in TRANSITIONS.items() if current in sources)]


class TransitionRefused(Exception):
    """The campaign cannot move to that status now; `reasons` say why, in the active language."""

    def __init__(self, reasons: list[str]):
        super().__init__(" ".join(reasons))
        self.reasons = reasons


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
    """The retention clock (delivery/retention.py) runs from the closure: closing or archiving starts it
    (archiving a closed campaign keeps its date), reopening stops it."""
    if status in ENDED and campaign.closed_at is None:
        return {"closed_at": timezone.now()}
    if status not in ENDED and campaign.closed_at is not None:
        return {"closed_at": None, "anonymised_at": None}
    return {}


@transaction.atomic
def set_status(campaign: Campaign, status: str, user, summary: str = "") -> None:
    """Move the campaign to `status`, if that transition is allowed, and write it to the audit log."""
    check_transition(campaign, status)
    previous = campaign.status
    # Conditional on the status read, so that two organisers acting at once cannot both move it.
    changes = {"status": status, **closure_changes(campaign, status)}
    if not Campaign.objects.filter(pk=campaign.pk, status=previous).update(**changes):
        raise TransitionRefused([_("The campaign was changed meanwhile: reload the page and try again.")])
    for name, value in changes.items():
        setattr(campaign, name, value)
    # One entry per transition, with what else happened (letters cancelled) in its summary.
    change = f"{Status(previous).label} → {campaign.get_status_display()}" + (f": {summary}" if summary else "")
    audit.record(user, STATUS_ACTIONS.get(status, audit.STATUS_CHANGE), campaign, summary=change)
    transaction.on_commit(open_campaigns.forget)  # this process at once; the others within its TTL


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


def set_real_delivery(campaign: Campaign, real: bool, user) -> None:
    """Real mail on (letters go to the targets, through the site's SMTP server) or off (to the sandbox), from
    the next message queued; written to the audit log. Going live leaves it as it is: a campaign starts in the
    sandbox, and its managers decide when real letters leave. Refused on a site with no mail server."""
    if real and not settings.EMAIL_HOST:
        raise TransitionRefused([_("This site sends no real mail yet: its operator must set up its mail server.")])
    Campaign.objects.filter(pk=campaign.pk).update(real_delivery=real)
    campaign.real_delivery = real
    summary = _("real mail on: letters go to the targets") if real else _("real mail off: letters go to the sandbox")
    audit.record(user, audit.STATUS_CHANGE, campaign, summary=summary)


def archive(campaign: Campaign, user) -> None:
    set_status(campaign, Status.ARCHIVED, user)


def close(campaign: Campaign, user, summary: str = "") -> None:
    """Close the campaign: no new signature; its letters not sent yet still go (delivery/cancellation.py
    closes and cancels them)."""
    set_status(campaign, Status.CLOSED, user, summary=summary)


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
    audit.record(user, audit.DUPLICATE, new, summary=summary)
    return new
