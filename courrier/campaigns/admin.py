from django.contrib import admin

from courrier.campaigns.models import Campaign, ModelLetter, Organisation, Target


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "website"]
    search_fields = ["name"]


class TargetInline(admin.TabularInline):
    model = Target
    extra = 0
    fields = ["role", "name", "email", "language", "active"]


class ModelLetterInline(admin.StackedInline):
    model = ModelLetter
    extra = 0


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["title", "organisation", "status", "real_delivery", "tally_letters"]
    list_filter = ["status", "real_delivery", "organisation"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["tally_letters", "tally_organisations", "tally_updated_at"]
    inlines = [TargetInline, ModelLetterInline]
