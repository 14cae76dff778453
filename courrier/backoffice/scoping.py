"""The back office's side of the roles (courrier/accounts/roles.py): campaigns by role, and audit entries."""

from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db import models, transaction
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.text import capfirst
from django.utils.translation import gettext

from courrier.accounts import audit
from courrier.accounts.roles import can_edit, can_manage
from courrier.campaigns.models import Campaign

# Changes to these are where letters go: each add, change and deletion is audited as a target change.
TARGET_MODELS = {"campaigns.target", "campaigns.directoryentry"}


def managed_campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    """The campaign if the user manages it (its supporters' data); refused (403) otherwise."""
    campaign = get_object_or_404(Campaign.objects.select_related("organisation"), pk=campaign_id)
    if not can_manage(request.user, campaign):
        raise PermissionDenied
    return campaign


def editable_campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    """The campaign if the user may edit it; another organisation's campaign is "not found"."""
    campaign = get_object_or_404(Campaign.objects.select_related("organisation"), pk=campaign_id)
    if not can_edit(request.user, campaign):
        raise Http404
    return campaign


class AuditedAdmin:
    """Admin mixin (for ModelAdmin and inlines): every deletion is audited, and so is every change to targets and
    directory entries, whether on their own page or in the campaign's form.

    Put it first: `class TargetAdmin(AuditedAdmin, admin.ModelAdmin)`. The admin is the operators' (superusers,
    courrier/backoffice/site.py), who see every organisation's rows; organisers work in the studio, which asks
    courrier/accounts/roles.py for each of their acts.
    """

    # The audit log: deletions of anything, changes to targets.

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if obj._meta.label_lower in TARGET_MODELS:
            record_target_change(request, obj, changed_fields(form) if change else None)

    def delete_model(self, request, obj):
        record_deletion(request, obj)  # first: the object still has its id and its organisation
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic(using=queryset.db):
            for obj in queryset:
                record_deletion(request, obj)
            super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        for deleted in formset.deleted_forms:
            if deleted.instance.pk is not None:
                record_deletion(request, deleted.instance)
        super().save_formset(request, form, formset, change)
        if formset.model._meta.label_lower in TARGET_MODELS:
            for obj in formset.new_objects:
                record_target_change(request, obj, None)
            for obj, fields in formset.changed_objects:
                record_target_change(request, obj, [verbose_field_name(obj, name) for name in fields])


def verbose_field_name(obj: models.Model, name: str) -> str:
    try:
        return str(obj._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name


def changed_fields(form) -> list[str]:
    return [verbose_field_name(form.instance, name) for name in form.changed_data]


def record_target_change(request: HttpRequest, obj: models.Model, fields: list[str] | None) -> None:
    """`fields` None: added; otherwise the names of the changed fields."""
    kind = capfirst(obj._meta.verbose_name)
    if fields is None:
        summary = gettext("%(kind)s “%(object)s” added") % {"kind": kind, "object": obj}
    else:
        summary = gettext("%(kind)s “%(object)s” changed: %(fields)s") % {
            "kind": kind,
            "object": obj,
            "fields": ", ".join(fields),
        }
    audit.record(request.user, audit.TARGET_CHANGE, obj, summary=summary)


def record_deletion(request: HttpRequest, obj: models.Model) -> None:
    """Deleting a target or a directory entry is a target change; anything else, a deletion."""
    action = audit.TARGET_CHANGE if obj._meta.label_lower in TARGET_MODELS else audit.DELETION
    summary = gettext("%(kind)s “%(object)s” deleted") % {"kind": capfirst(obj._meta.verbose_name), "object": obj}
    audit.record(request.user, action, obj, summary=summary)
