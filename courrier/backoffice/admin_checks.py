"""The back office's side of a campaign's checked edits (campaigns/lifecycle.py): admin mixins, no rule.

- An edit that would add a blocking finding to a live or paused campaign makes lifecycle.refuse_new_blockers
  raise EditRefused inside the admin's transaction: the whole save is thrown away, and the form is shown
  again as it was typed, the findings listed at the top and each also next to its field (the model letter
  of its language, the page text of its language, the targets). Nothing typed is lost, and nothing of a
  refused edit reaches a letter.
- A deletion that would (the only To target of a live campaign), on its own page or from the list, is refused
  the same way, with a message.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from courrier.campaigns import lifecycle
from courrier.campaigns.models import Campaign

REFUSAL = "courrier_edit_refused"  # the request's attribute holding the findings of a refused save
BEFORE = "courrier_blockers_before"  # the blocking findings of the campaign as it was before the save
DELETION_REFUSED = "courrier_deletion_refused"
PAGE_FIELDS = ("title", "summary", "article")
# The findings about an inline's rows as a whole (Finding.field), by the inline's model.
ROWS_FINDINGS = {"target": "targets", "modelletter": "letters"}


def refusal_intro() -> str:
    return _(
        "Nothing was saved: the campaign is live, and this change would stop its letters from passing the "
        "pre-publish checklist. Fix what is listed, or undo the change:"
    )


def finding_errors(findings, language: str, fields) -> list[tuple[str, str]]:
    """(field, message) for the findings about these fields in this language."""
    return [(f.field, f.message) for f in findings if f.language == language and f.field in fields]


class RefusalForm:
    """For an admin form: shows the findings of a refused save (the class attribute, set by get_form)."""

    edit_refusal: list | None = None

    def clean(self):
        cleaned_data = super().clean()
        if self.edit_refusal:
            self.add_error(None, ValidationError([refusal_intro(), *(str(f) for f in self.edit_refusal)]))
            if isinstance(self.instance, Campaign):
                language = cleaned_data.get("language") or self.instance.language
                for field, message in finding_errors(self.edit_refusal, language, PAGE_FIELDS):
                    if field in self.fields:
                        self.add_error(field, message)
        return cleaned_data


class CheckedModelForm(RefusalForm, forms.ModelForm):
    """The default form of a CheckedEditsAdmin."""


class RefusalInlineFormSet(BaseInlineFormSet):
    """An inline's rows, with each finding of a refused save next to the field of its language."""

    edit_refusal: list | None = None

    def clean(self):
        super().clean()
        if not self.edit_refusal:
            return
        for form in self.forms:
            language = getattr(form, "cleaned_data", {}).get("language")
            if language:
                for field, message in finding_errors(self.edit_refusal, language, form.fields):
                    form.add_error(field, message)
        about_rows = ROWS_FINDINGS.get(self.model._meta.model_name)
        found = [str(f) for f in self.edit_refusal if f.field == about_rows]
        if found:
            raise ValidationError(found)  # above the inline's rows


class RefusalInline:
    """For an inline of the campaign form: its formset shows the findings of a refused save."""

    formset = RefusalInlineFormSet

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.edit_refusal = getattr(request, REFUSAL, None)
        return formset


class CheckedEditsAdmin:
    """For the admin of a model that belongs to one campaign (the campaign itself, a target, a person).

    Its saves and deletions are checked against the campaign's checklist when the campaign is live or paused.
    """

    form = CheckedModelForm

    @staticmethod
    def campaign_id_of(obj) -> int | None:
        return obj.pk if isinstance(obj, Campaign) else getattr(obj, "campaign_id", None)

    def remember_blockers(self, request, obj, change: bool) -> None:
        campaign_id = self.campaign_id_of(obj)
        setattr(request, BEFORE, lifecycle.blockers_before_edit(campaign_id) if change and campaign_id else None)

    def check_edit(self, request, obj) -> None:
        campaign_id = self.campaign_id_of(obj)
        if campaign_id:
            lifecycle.refuse_new_blockers(campaign_id, getattr(request, BEFORE, None))

    def save_model(self, request, obj, form, change):
        self.remember_blockers(request, obj, change)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        self.check_edit(request, form.instance)

    def delete_model(self, request, obj):
        self.remember_blockers(request, obj, change=True)
        campaign_id = self.campaign_id_of(obj)
        super().delete_model(request, obj)
        if campaign_id and not isinstance(obj, Campaign):
            lifecycle.refuse_new_blockers(campaign_id, getattr(request, BEFORE, None))

    def delete_queryset(self, request, queryset):
        """The list's "delete selected": all of them, or none if that would block a live campaign."""
        campaigns = {self.campaign_id_of(obj) for obj in queryset} - {None}
        before = {} if self.model is Campaign else {pk: lifecycle.blockers_before_edit(pk) for pk in campaigns}
        try:
            with transaction.atomic(using=queryset.db):
                super().delete_queryset(request, queryset)
                for campaign_id, blockers in before.items():
                    lifecycle.refuse_new_blockers(campaign_id, blockers)
        except lifecycle.EditRefused as refusal:
            setattr(request, DELETION_REFUSED, True)
            message = _("Not deleted: the campaign is live, and without them the checklist finds: %(findings)s")
            self.message_user(request, message % {"findings": str(refusal)}, messages.ERROR)

    def message_user(self, request, message, level=messages.INFO, *args, **kwargs):
        if level == messages.SUCCESS and getattr(request, DELETION_REFUSED, False):
            return  # "Successfully deleted", which Django's action says after delete_queryset whatever happened
        super().message_user(request, message, level, *args, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.edit_refusal = getattr(request, REFUSAL, None)
        return form

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except lifecycle.EditRefused as refusal:
            # The admin's transaction is rolled back: show the form again, as typed, with the findings.
            setattr(request, REFUSAL, refusal.findings)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except lifecycle.EditRefused as refusal:
            message = _("Not deleted: the campaign is live, and without it the checklist finds: %(findings)s")
            self.message_user(request, message % {"findings": str(refusal)}, messages.ERROR)
            opts = self.model._meta
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id]))
