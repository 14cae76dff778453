"""The recipients step: who receives the letters (To) and a copy (Cc), in which language, at what pace.

Where letters go is who receives supporters' names: an editor changes it
while the campaign is a draft, a manager once it went live
(campaigns/permissions.can_change_recipients), and every change is written
to the audit log as the admin writes it (backoffice/scoping.py).
"""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from courrier.backoffice.scoping import changed_fields, record_deletion, record_target_change
from courrier.campaigns.models import Target
from courrier.campaigns.permissions import can_change_recipients
from courrier.studio.access import EDITOR, campaign_for, studio_page
from courrier.studio.building import save_checked, steps


class TargetForm(forms.ModelForm):
    class Meta:
        model = Target
        fields = [
            "role",
            "name",
            "email",
            "language",
            "active",
            "delivery_mode",
            "digest_period_hours",
            "pace_per_hour",
            "letters_cap",
            "model_letters_in_digest",
            "on_answer",
            "hand_over",
            "office_hours_only",
            "timezone",
            "office_opens",
            "office_closes",
        ]


TargetFormSet = forms.modelformset_factory(Target, form=TargetForm, extra=1, can_delete=True)


@studio_page
def recipients(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, EDITOR)
    may_change = can_change_recipients(request.user, campaign)
    queryset = campaign.targets.order_by("-role", "pk")
    formset = TargetFormSet(
        request.POST if may_change and request.method == "POST" else None, queryset=queryset, prefix="targets"
    )
    if may_change and request.method == "POST" and formset.is_valid():

        def save() -> None:
            for form in formset.forms:
                if form in formset.deleted_forms or not form.has_changed():
                    continue
                target = form.save(commit=False)
                added = target.pk is None
                target.campaign = campaign
                target.save()
                record_target_change(request, target, None if added else changed_fields(form))
            for form in formset.deleted_forms:
                if form.instance.pk is not None:
                    record_deletion(request, form.instance)
                    form.instance.delete()

        if save_checked(request, campaign, save):
            messages.success(request, _("The recipients are saved."))
            return redirect("studio:recipients", campaign_id=campaign.pk)
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "recipients"),
        "formset": formset,
        "may_change": may_change,
    }
    return render(request, "studio/recipients.html", context)
