"""The campaign list's actions in the back office, over lifecycle (campaigns/lifecycle.py) and cancellation.

Each acts on the selected campaigns the user may act on, and says which it left alone and why: an editor
duplicates; a manager changes a campaign's status.
"""

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from courrier.accounts.roles import can_edit, can_manage
from courrier.campaigns import lifecycle
from courrier.campaigns.models import Campaign
from courrier.delivery import cancellation


def allowed_campaigns(modeladmin, request, queryset, manage: bool) -> list[Campaign]:
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
        except lifecycle.TransitionRefused as refusal:
            modeladmin.message_user(request, f"{campaign.title}: {refusal}", messages.ERROR)
        else:
            modeladmin.message_user(request, done % {"title": campaign.title}, messages.SUCCESS)


@admin.action(description=gettext_lazy("Duplicate: a new draft with the same texts, letters, targets and directory"))
def duplicate_campaigns(modeladmin, request, queryset):
    for campaign in allowed_campaigns(modeladmin, request, queryset, manage=False):
        new = lifecycle.duplicate(campaign, request.user)
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
    run_transition(modeladmin, request, queryset, lifecycle.go_live, _("“%(title)s” is live."))


@admin.action(description=gettext_lazy("Pause signing (letters already confirmed keep going)"))
def pause_campaigns(modeladmin, request, queryset):
    run_transition(
        modeladmin, request, queryset, lifecycle.pause, _("“%(title)s” is paused: its page no longer takes signatures.")
    )


@admin.action(description=gettext_lazy("Close (letters not sent yet still go)"))
def close_campaigns(modeladmin, request, queryset):
    run_transition(modeladmin, request, queryset, lifecycle.close, _("“%(title)s” is closed."))


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
            "campaigns": [(campaign, cancellation.pending_count(campaign)) for campaign in campaigns],
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/campaigns/close_and_cancel.html", context)
    for campaign in campaigns:
        try:
            cancelled = cancellation.close_and_cancel(campaign, request.user)
        except lifecycle.TransitionRefused as refusal:
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
    run_transition(modeladmin, request, queryset, lifecycle.archive, _("“%(title)s” is archived."))


ADMIN_ACTIONS = [
    duplicate_campaigns,
    go_live_campaigns,
    pause_campaigns,
    close_campaigns,
    close_and_cancel,
    archive_campaigns,
]
