from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.files.uploadedfile import UploadedFile
from django.db import models
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import escape, format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from courrier.accounts import audit
from courrier.accounts.models import Organisation
from courrier.backoffice import campaign_actions, previews
from courrier.backoffice.admin.accounts import MembershipInline
from courrier.backoffice.admin_checks import CheckedEditsAdmin, RefusalForm, RefusalInline
from courrier.backoffice.scoping import AuditedAdmin
from courrier.campaigns import lifecycle
from courrier.campaigns.checklist import BLOCKING, WARNING, blocking, run_checklist
from courrier.campaigns.models import Campaign, CampaignText, DirectoryEntry, ModelLetter, Person, PersonUpdate, Target
from courrier.delivery.retention import erasure_notice
from courrier.delivery.target_pauses import cancel_held, pause_target, resume_target
from courrier.lib.images import clean_uploaded_image
from courrier.signatures.moderation import awaiting_decision
from courrier.web.embed import embed_snippet


@admin.register(Organisation)
class OrganisationAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["name", "website"]
    search_fields = ["name"]
    inlines = [MembershipInline]
    # A website typed without its scheme is an https one (Django 6's default, chosen now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


Status = Campaign.Status


class TargetInline(RefusalInline, AuditedAdmin, admin.TabularInline):
    model = Target
    extra = 0
    fields = ["role", "name", "email", "language", "active", "delivery_mode", "pace_per_hour"]
    show_change_link = True


class DirectoryEntryInline(RefusalInline, AuditedAdmin, admin.TabularInline):
    """Where each supporter's letter goes when the campaign lets them pick their country (CSV: campaigns/directory.py).

    The letters to an entry are paced and paused through the campaign's target with the same address,
    which the worker adds, inactive, with the first letter (courrier/delivery/addressees.py).
    """

    model = DirectoryEntry
    extra = 0
    fields = ["country", "country_name", "name", "email", "language"]
    classes = ["collapse"]


class ModelLetterInline(RefusalInline, AuditedAdmin, admin.StackedInline):
    model = ModelLetter
    form = previews.ModelLetterForm  # the placeholders listed under the body, inserted by a click
    extra = 0

    class Media:
        js = ["js/placeholders.js"]
        css = {"all": ["css/building.css"]}


class CampaignTextInline(RefusalInline, AuditedAdmin, admin.StackedInline):
    model = CampaignText
    extra = 0


class PersonInline(RefusalInline, AuditedAdmin, admin.TabularInline):
    model = Person
    extra = 0
    show_change_link = True


class PersonUpdateInline(RefusalInline, AuditedAdmin, admin.TabularInline):
    model = PersonUpdate
    extra = 1


@admin.register(Person)
class PersonAdmin(CheckedEditsAdmin, AuditedAdmin, admin.ModelAdmin):
    list_display = ["name", "campaign", "status"]
    list_filter = ["campaign", "status"]
    inlines = [PersonUpdateInline]


class CampaignAdminForm(RefusalForm, forms.ModelForm):
    """The campaign's form. Its status field offers the moves lifecycle allows from the saved status, and
    never writes the status itself: CampaignAdmin.save_related asks lifecycle, once everything is saved."""

    class Meta:
        model = Campaign
        fields = "__all__"  # noqa: DJ007 (the admin chooses the fields it shows)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "anonymise_after_days" in self.fields:
            self.fields["anonymise_after_days"].required = False  # left empty: the default period
        if "status" in self.fields:
            reachable = lifecycle.reachable_statuses(self.instance.status if self.instance.pk else Status.DRAFT)
            self.fields["status"].choices = [(value, label) for value, label in Status.choices if value in reachable]

    def clean_anonymise_after_days(self):
        value = self.cleaned_data.get("anonymise_after_days")
        return Campaign._meta.get_field("anonymise_after_days").default if value is None else value

    def clean_photo(self):
        """A new upload is stored as its pixels only: no GPS position, camera serial or author."""
        photo = self.cleaned_data.get("photo")
        if isinstance(photo, UploadedFile):
            return clean_uploaded_image(photo)
        return photo


@admin.register(Campaign)
class CampaignAdmin(CheckedEditsAdmin, AuditedAdmin, admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = ["title", "organisation", "status", "real_delivery", "tally_letters"]
    list_filter = ["status", "real_delivery", "organisation"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = [
        "checklist",
        "tally_letters",
        "tally_organisations",
        "tally_updated_at",
        "embed_snippets",
        "running",
        "data_erasure",
    ]
    inlines = [TargetInline, DirectoryEntryInline, ModelLetterInline, CampaignTextInline, PersonInline]
    # Previews, test sending and the directory's CSV: links at the top of the page, views in previews.py.
    change_form_template = "admin/campaigns/campaign_change_form.html"
    actions = [*campaign_actions.ADMIN_ACTIONS, previews.send_test_action]

    def get_urls(self):
        return previews.admin_urls(self.admin_site) + super().get_urls()

    @admin.display(description=_("pre-publish checklist"))
    def checklist(self, campaign: Campaign) -> str:
        if not campaign.pk:
            return _("Save the campaign first.")
        findings = run_checklist(campaign)
        if not findings:
            return _("Nothing to fix: the campaign can go live.")
        if blocking(findings):
            summary = _("Going live is blocked until every finding marked “Blocks going live” is fixed.")
        else:
            summary = _("Nothing blocks going live; the warnings are for you to judge.")
        labels = {BLOCKING: _("Blocks going live:"), WARNING: _("To check:")}
        items = format_html_join(
            "", "<li><strong>{}</strong> {}</li>", ((labels[f.severity], str(f)) for f in findings)
        )
        return format_html('<p class="help">{}</p><ul class="checklist">{}</ul>', summary, items)

    def save_model(self, request, obj, form, change):
        """Saved with the status it had: the one asked for is reached through lifecycle in save_related."""
        request.courrier_requested_status = obj.status
        obj.status = Campaign.objects.get(pk=obj.pk).status if change else Status.DRAFT
        super().save_model(request, obj, form, change)

    def check_edit(self, request, obj) -> None:
        # An edit that also takes the campaign out of live or paused (closing it) needs no checklist.
        if request.courrier_requested_status in lifecycle.CHECKED_STATUSES:
            super().check_edit(request, obj)

    def save_related(self, request, form, formsets, change):
        """Letters, targets and the case file saved (and the edit checked), the status changes last, so that
        going live reads the fixes typed in the same save."""
        super().save_related(request, form, formsets, change)
        campaign = form.instance
        requested = request.courrier_requested_status
        if requested == campaign.status:
            return
        try:
            lifecycle.change_status(campaign, requested, request.user)
        except lifecycle.TransitionRefused as refusal:
            message = _("Saved, but the campaign is still “%(status)s”: %(reasons)s") % {
                "status": campaign.get_status_display(),
                "reasons": " ".join(refusal.reasons),
            }
            self.message_user(request, message, level=messages.ERROR)
            request.checklist_refused = True

    def response_change(self, request, obj):
        if getattr(request, "checklist_refused", False):
            return HttpResponseRedirect(request.path)  # back to the change page and its checklist
        return super().response_change(request, obj)

    @admin.display(description=_("progress, moderation and exports"))
    def running(self, campaign: Campaign) -> str:
        """For the campaign's managers: the progress page, which also leads to the held letters and the exports."""
        if not campaign.pk:
            return _("Save the campaign first.")
        held = campaign.signatures.filter(awaiting_decision()).count()  # held for review, or quarantined
        return format_html(
            '<a href="{}">{}</a> {}',
            reverse("campaign_progress", args=[campaign.pk]),
            _("Signatures per day, by language, source and delivery state; exports (managers only)"),
            ngettext("· %(count)d letter held for review", "· %(count)d letters held for review", held)
            % {"count": held}
            if held
            else "",
        )

    @admin.display(description=_("supporters' data erased on"))
    def data_erasure(self, campaign: Campaign) -> str:
        return erasure_notice(campaign)

    @admin.display(description=_("form to embed in your website"))
    def embed_snippets(self, campaign: Campaign) -> str:
        if not campaign.pk:
            return _("Save the campaign first.")
        note = _("Paste one of these lines into a page of a website listed above, in the language of that page.")
        if not campaign.allowed_embed_origins():
            note = _("List the websites allowed to embed the form above: until then, the form cannot be embedded.")
        snippets = format_html_join(
            "",
            '<p><label for="embed-{0}">{1}</label><br>'
            '<textarea id="embed-{0}" class="vLargeTextField" rows="3" readonly>{2}</textarea></p>',
            ((code, name, escape(embed_snippet(campaign, code))) for code, name in settings.LANGUAGES),
        )
        return format_html("<p>{}</p>{}", note, snippets)


@admin.register(Target)
class TargetAdmin(CheckedEditsAdmin, AuditedAdmin, admin.ModelAdmin):
    list_display = ["name", "email", "campaign", "role", "delivery_mode", "pace_per_hour", "paused_at", "pause_reason"]
    list_filter = ["campaign", "delivery_mode"]
    readonly_fields = ["paused_at", "pause_reason", "next_send_at", "last_digest_at"]
    actions = ["pause", "resume", "cancel_held"]

    def record_targets(self, request, targets, what: str) -> None:
        for target in targets:
            audit.record(request.user, audit.TARGET_CHANGE, target, summary=f"{target}: {what}")

    @admin.action(description=_("Pause: hold their pending letters"))
    def pause(self, request, queryset):
        held = sum(pause_target(t, _("paused by %(user)s") % {"user": request.user}) for t in queryset)
        self.record_targets(request, queryset, _("paused"))
        self.message_user(
            request, ngettext("%(count)d letter held.", "%(count)d letters held.", held) % {"count": held}
        )

    @admin.action(description=_("Resume: send their held letters"))
    def resume(self, request, queryset):
        resumed = sum(resume_target(t) for t in queryset)
        self.record_targets(request, queryset, _("resumed"))
        message = ngettext("%(count)d letter queued again.", "%(count)d letters queued again.", resumed)
        self.message_user(request, message % {"count": resumed})

    @admin.action(description=_("Cancel their held letters (they will never be sent)"))
    def cancel_held(self, request, queryset):
        cancelled = sum(cancel_held(t) for t in queryset)
        self.record_targets(request, queryset, _("held letters cancelled"))
        message = ngettext("%(count)d held letter cancelled.", "%(count)d held letters cancelled.", cancelled)
        self.message_user(request, message % {"count": cancelled})
