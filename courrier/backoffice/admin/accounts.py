from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from courrier.accounts import audit
from courrier.accounts.models import AuditEntry, Membership, TOTPDevice
from courrier.backoffice.scoping import AuditedAdmin


class MembershipInline(admin.TabularInline):
    """On the user's page and on the organisation's page (managers invite and remove members in the studio)."""

    model = Membership
    extra = 0


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class CourrierUserAdmin(UserAdmin):
    """Django's user admin, with the user's organisations and their second factor."""

    inlines = [MembershipInline]
    list_display = [*UserAdmin.list_display, "has_second_factor"]
    actions = ["reset_second_factor"]

    @admin.display(description=_("second factor"), boolean=True)
    def has_second_factor(self, user) -> bool:
        return TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()

    @admin.action(description=_("Reset their second factor (a lost phone): they set up a new one at next login"))
    def reset_second_factor(self, request, queryset):
        reset = 0
        for user in queryset:
            if TOTPDevice.objects.filter(user=user).delete()[0]:
                audit.record(request.user, audit.SECOND_FACTOR_RESET, user)
                reset += 1
        message = ngettext("%(count)d second factor reset.", "%(count)d second factors reset.", reset)
        self.message_user(request, message % {"count": reset})


@admin.register(AuditEntry)
class AuditEntryAdmin(AuditedAdmin, admin.ModelAdmin):
    """Read by operators (managers read their organisations' entries in the studio); changed or deleted by nobody."""

    list_display = ["created_at", "username", "organisation", "action", "object_type", "object_id", "summary"]
    list_filter = ["action", "organisation", "object_type"]
    search_fields = ["username", "object_id"]  # the summary is encrypted: not searchable
    sortable_by = ["created_at", "username", "organisation", "action", "object_type", "object_id"]
    date_hierarchy = "created_at"
    fields = ["created_at", "username", "user", "organisation", "action", "object_type", "object_id", "summary"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
