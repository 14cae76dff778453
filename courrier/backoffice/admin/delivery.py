from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from courrier.backoffice.scoping import AuditedAdmin
from courrier.delivery.models import Bounce, DeliveryEvent, OutboxMessage, Recipient
from courrier.lib.crypto import email_digest


class DeliveryEventInline(AuditedAdmin, admin.TabularInline):
    model = DeliveryEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = ["at", "worker", "status", "smtp_code", "reply"]

    def has_add_permission(self, request, obj=None):
        return False


class RecipientInline(AuditedAdmin, admin.TabularInline):
    """What each recipient of a letter or digest answered (delivery/recipients.py)."""

    model = Recipient
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "address",
        "role",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "smtp_code",
        "last_reply",
    ]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(AuditedAdmin, admin.ModelAdmin):
    """The record of truth for delivery: read it, never rewrite it by hand. Letters carry supporters' data."""

    list_display = ["pk", "kind", "campaign", "status", "sandbox", "attempts", "next_attempt_at", "sent_at"]
    list_filter = ["status", "kind", "sandbox", "campaign"]
    search_fields = ["message_id"]
    search_help_text = _("A Message-ID, or the exact e-mail address of a supporter the mail went to.")
    exclude = ["attachment", "targets"]

    def get_search_results(self, request, queryset, search_term):
        """By Message-ID, or by a supporter's address through its digest (the addresses are encrypted)."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if "@" in search_term and not search_term.strip().startswith("<"):
            found = found | queryset.filter(recipient_digest=email_digest(search_term))
        return found, may_have_duplicates

    inlines = [RecipientInline, DeliveryEventInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in OutboxMessage._meta.fields if field.name != "attachment"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Bounce)
class BounceAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["at", "status", "recipient", "domain", "message"]
    sortable_by = ["at", "status", "domain", "message"]  # the recipient is encrypted
    list_filter = ["status", "domain"]
    readonly_fields = ["message", "at", "recipient", "domain", "status", "diagnostic"]

    def has_add_permission(self, request):
        return False
