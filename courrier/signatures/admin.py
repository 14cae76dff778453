from django.contrib import admin

from courrier.signatures.models import OwnMailboxClick, Signature


@admin.register(Signature)
class SignatureAdmin(admin.ModelAdmin):
    """What supporters entered is shown, never edited: it is what they agreed to send."""

    list_display = [
        "pk",
        "campaign",
        "full_name",
        "organisation",
        "language",
        "is_duplicate",
        "created_at",
        "confirmed_at",
    ]
    list_filter = ["campaign", "is_duplicate", "language"]
    search_fields = ["email", "last_name", "organisation"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Signature._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(OwnMailboxClick)
class OwnMailboxClickAdmin(admin.ModelAdmin):
    """How many supporters chose to write from their own mailbox: clicks, not letters."""

    list_display = ["clicked_on", "campaign", "channel"]
    list_filter = ["campaign", "channel", "clicked_on"]
    date_hierarchy = "clicked_on"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
