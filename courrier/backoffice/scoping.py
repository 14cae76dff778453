"""The back office's side of the roles (courrier/accounts/roles.py): scoped admins, views and audit entries."""

import functools
from collections.abc import Callable

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db import models, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.text import capfirst
from django.utils.translation import gettext

from courrier.accounts import audit
from courrier.accounts.roles import (
    EDITOR,
    can_edit,
    can_manage,
    has_role,
    is_back_office_user,
    organisation_id_of,
    organisation_ids,
    organisation_lookup,
    organisation_path,
)
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


def superuser_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For staff pages that cannot be scoped to an organisation (the sandbox Maildir holds every campaign's mail)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_superuser:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


class ScopedAdmin:
    """Admin mixin (for ModelAdmin and inlines): rows, choices and permissions limited by memberships and roles.

    Put it first: `class TargetAdmin(ScopedAdmin, admin.ModelAdmin)`. Class attributes:
    - `organisation_field`: the lookup to the organisation, e.g. "campaign__organisation" (found when None);
    - `view_role`, `edit_role` (add and change), `delete_role`: the least role each needs.
    Staff users need no Django model permission. Every deletion through the admin is audited, and so is every
    change to targets and directory entries, whether on their own page or in the campaign's form.
    """

    organisation_field: str | None = None
    view_role: str = EDITOR
    edit_role: str = EDITOR
    delete_role: str = EDITOR

    def scope_path(self) -> str | None:
        return organisation_path(self.model) if self.organisation_field is None else self.organisation_field

    def scoped(self, request: HttpRequest, queryset: models.QuerySet, role: str) -> models.QuerySet:
        if request.user.is_superuser and is_back_office_user(request.user):
            return queryset
        path = organisation_path(queryset.model) if queryset.model is not self.model else self.scope_path()
        if path is None:
            return queryset.none()
        return queryset.filter(**{organisation_lookup(path): organisation_ids(request.user, role)})

    def get_queryset(self, request):
        return self.scoped(request, super().get_queryset(request), self.view_role)

    def allowed(self, request: HttpRequest, role: str, obj: models.Model | None = None) -> bool:
        """With no object: whether the user has `role` somewhere. With one (for an inline, its parent): there."""
        user = request.user
        if not is_back_office_user(user):
            return False
        if user.is_superuser:
            return True
        if obj is None:
            return bool(organisation_ids(user, role))
        path = self.scope_path() if isinstance(obj, self.model) else None
        return has_role(user, organisation_id_of(obj, path), role)

    def has_module_permission(self, request):
        return self.allowed(request, self.view_role)

    def has_view_permission(self, request, obj=None):
        return self.allowed(request, self.view_role, obj)

    def has_add_permission(self, request, obj=None):
        return self.allowed(request, self.edit_role, obj)

    def has_change_permission(self, request, obj=None):
        return self.allowed(request, self.edit_role, obj)

    def has_delete_permission(self, request, obj=None):
        return self.allowed(request, self.delete_role, obj)

    def get_object(self, request, object_id, from_field=None):
        """Another organisation's object is "not found" (404), never shown nor confirmed to exist."""
        obj = super().get_object(request, object_id, from_field)
        if obj is None and not request.user.is_superuser:
            raise Http404
        return obj

    def get_field_queryset(self, db, db_field, request):
        """Foreign-key and many-to-many choices: only the user's organisations' rows, where the user may write."""
        queryset = super().get_field_queryset(db, db_field, request)
        related = db_field.remote_field.model
        if request.user.is_superuser or organisation_path(related) is None:
            return queryset
        if queryset is None:
            queryset = related._default_manager.using(db).all()
        return self.scoped(request, queryset, self.edit_role)

    def get_list_filter(self, request):
        """A filter on a campaign (or organisation…) lists only the ones the user sees, not every title on the site."""
        filters = super().get_list_filter(request)
        if request.user.is_superuser:
            return filters
        return [self.scoped_list_filter(item) for item in filters]

    def scoped_list_filter(self, item):
        if not isinstance(item, str):
            return item
        try:
            field = get_fields_from_path(self.model, item)[-1]
        except (FieldDoesNotExist, admin.utils.NotRelationField):
            return item
        if field.is_relation and organisation_path(field.related_model) is not None:
            return (item, admin.RelatedOnlyFieldListFilter)
        return item

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
