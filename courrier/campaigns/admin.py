from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from courrier.campaigns.models import Campaign, CampaignText, ModelLetter, Organisation, Person, PersonUpdate, Target


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "website"]
    search_fields = ["name"]


class TargetInline(admin.TabularInline):
    model = Target
    extra = 0
    fields = ["role", "name", "email", "language", "active", "delivery_mode", "pace_per_hour"]
    show_change_link = True


class ModelLetterInline(admin.StackedInline):
    model = ModelLetter
    extra = 0


class CampaignTextInline(admin.StackedInline):
    model = CampaignText
    extra = 0


class PersonInline(admin.TabularInline):
    model = Person
    extra = 0
    show_change_link = True


class PersonUpdateInline(admin.TabularInline):
    model = PersonUpdate
    extra = 1


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["name", "campaign", "status"]
    list_filter = ["campaign", "status"]
    inlines = [PersonUpdateInline]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["title", "organisation", "status", "real_delivery", "tally_letters"]
    list_filter = ["status", "real_delivery", "organisation"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["tally_letters", "tally_organisations", "tally_updated_at"]
    inlines = [TargetInline, ModelLetterInline, CampaignTextInline, PersonInline]


@admin.register(Target)
class TargetAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "campaign", "role", "delivery_mode", "pace_per_hour", "paused_at", "pause_reason"]
    list_filter = ["campaign", "delivery_mode"]
    readonly_fields = ["paused_at", "pause_reason", "next_send_at", "last_digest_at"]
    actions = ["pause", "resume", "cancel_held"]

    @admin.action(description=_("Pause: hold their pending letters"))
    def pause(self, request, queryset):
        from courrier.delivery.holds import pause_target

        held = sum(pause_target(t, _("paused by %(user)s") % {"user": request.user}) for t in queryset)
        self.message_user(
            request, ngettext("%(count)d letter held.", "%(count)d letters held.", held) % {"count": held}
        )

    @admin.action(description=_("Resume: send their held letters"))
    def resume(self, request, queryset):
        from courrier.delivery.holds import resume_target

        resumed = sum(resume_target(t) for t in queryset)
        message = ngettext("%(count)d letter queued again.", "%(count)d letters queued again.", resumed)
        self.message_user(request, message % {"count": resumed})

    @admin.action(description=_("Cancel their held letters (they will never be sent)"))
    def cancel_held(self, request, queryset):
        from courrier.delivery.holds import cancel_held

        cancelled = sum(cancel_held(t) for t in queryset)
        message = ngettext("%(count)d held letter cancelled.", "%(count)d held letters cancelled.", cancelled)
        self.message_user(request, message % {"count": cancelled})
