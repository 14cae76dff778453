from django.contrib import admin
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from courrier.backoffice.scoping import AuditedAdmin
from courrier.campaigns.models import BlockedWords, Campaign
from courrier.lib.crypto import email_digest
from courrier.signatures import moderation, tallies
from courrier.signatures.models import HeldSignature, OwnMailboxClick, Signature


class AddressSearch:
    """Search by an exact e-mail address (or a signature's number): names, organisations and sentences are
    encrypted, so the database can neither search nor sort them; the address is found by its keyed digest."""

    # Not searched as such (get_search_results below): a non-empty list is what shows the search box.
    search_fields = ["email_digest"]
    search_help_text = _("An exact e-mail address, or a signature's number. Names and words are encrypted.")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.lstrip("#").isdigit():
            return queryset.filter(pk=int(term.lstrip("#"))), False
        return queryset.filter(email_digest=email_digest(term)), False


@admin.register(Signature)
class SignatureAdmin(AddressSearch, AuditedAdmin, admin.ModelAdmin):
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
    # By date as ranges (today, the past 7 days, this month), not a date hierarchy: listing a campaign's days
    # runs a function for every one of its rows on SQLite, seconds at a million signatures.
    list_filter = ["campaign", "is_duplicate", "moderation", "source", "language", "created_at"]
    # Encrypted columns sort as ciphertext: only the others can be sorted by.
    sortable_by = ["pk", "campaign", "language", "is_duplicate", "created_at", "confirmed_at"]
    # A filtered list says how many it found, not also how many there are in all: a second count of every
    # signature of the site, which at a million is most of the page's time.
    show_full_result_count = False

    def get_queryset(self, request):
        # Each row shows its campaign's title: not its list of organisations, encrypted and read for nothing.
        return super().get_queryset(request).select_related("campaign").defer("campaign__tally_organisations")

    def get_ordering(self, request):
        # The newest first, in the order an index already holds them: within one campaign its (campaign, date)
        # index, across campaigns the primary key. Sorting a million rows by another order took seconds.
        if request.GET.get("campaign__id__exact") or request.GET.get("campaign"):
            return ["-created_at", "-pk"]
        return ["-pk"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Signature._meta.fields]

    def has_add_permission(self, request):
        return False

    # A deleted signature leaves the counter, however old it was: its settled part is counted again.
    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        tallies.forget_settled([obj.campaign_id])

    def delete_queryset(self, request, queryset):
        campaign_ids = set(queryset.values_list("campaign_id", flat=True))
        super().delete_queryset(request, queryset)
        tallies.forget_settled(campaign_ids)


@admin.register(OwnMailboxClick)
class OwnMailboxClickAdmin(AuditedAdmin, admin.ModelAdmin):
    """How many supporters chose to write from their own mailbox: clicks, not letters."""

    list_display = ["clicked_on", "campaign", "channel"]
    list_filter = ["campaign", "channel", "clicked_on"]
    date_hierarchy = "clicked_on"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class HeldCampaignFilter(admin.SimpleListFilter):
    """The campaigns with letters held for review (not every campaign of the site)."""

    title = _("campaign")
    parameter_name = "campaign"

    def lookups(self, request, model_admin):
        held = model_admin.get_queryset(request).order_by().values("campaign_id")
        return list(Campaign.objects.filter(pk__in=held).order_by("title").values_list("pk", "title"))

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(campaign_id=int(self.value()))
        return queryset


@admin.register(HeldSignature)
class HeldSignatureAdmin(AddressSearch, AuditedAdmin, admin.ModelAdmin):
    """The moderation queue: what the supporter wrote and why a rule held it; managers approve or reject.

    Everything is read-only: the supporter's words are sent as written or not at all.
    """

    # The words and the reason first: on a phone the rest of the row scrolls out of sight.
    list_display = ["own_words", "moderation_reason", "full_name", "organisation", "campaign", "created_at"]
    list_display_links = ["own_words"]
    list_filter = [HeldCampaignFilter]
    sortable_by = ["campaign", "created_at"]
    actions = ["approve", "reject"]
    change_form_template = "admin/courrier/moderation_change_form.html"
    fields = [
        "campaign",
        "moderation_reason",
        "personal_sentence",
        "letter_body",
        "first_name",
        "last_name",
        "organisation",
        "organisation_role",
        "city",
        "country",
        "language",
        "letter_language",
        "source",
        "created_at",
        "confirmed_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(moderation.awaiting_decision()).select_related("campaign")

    @admin.display(description=_("personal sentence"))
    def own_words(self, signature: Signature) -> str:
        text = signature.personal_sentence or signature.letter_body or "—"  # a link even with no words of their own
        return text if len(text) <= 200 else text[:200] + "…"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # decisions go through approve and reject, never through a form

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        decide = [
            path(
                "<path:object_id>/approve/",
                self.admin_site.admin_view(self.decision_view(moderation.approve)),
                name="signatures_heldsignature_approve",
            ),
            path(
                "<path:object_id>/reject/",
                self.admin_site.admin_view(self.decision_view(moderation.reject)),
                name="signatures_heldsignature_reject",
            ),
        ]
        return decide + super().get_urls()

    def decision_view(self, decide):
        @require_POST
        def view(request, object_id):
            held = self.get_queryset(request).filter(pk=object_id).select_related("campaign")
            signature = held.first()
            if signature is None:
                raise Http404
            self.report(request, decide, decide(request.user, held))
            return redirect("admin:signatures_heldsignature_changelist")

        return view

    def report(self, request, decide, count: int) -> None:
        if decide is moderation.approve:
            message = ngettext(
                "%(count)d letter approved: it goes with the next pass of the delivery worker.",
                "%(count)d letters approved: they go with the next pass of the delivery worker.",
                count,
            )
        else:
            message = ngettext(
                "%(count)d letter rejected: it will never be sent.",
                "%(count)d letters rejected: they will never be sent.",
                count,
            )
        self.message_user(request, message % {"count": count})

    @admin.action(description=_("Approve: send the selected letters"))
    def approve(self, request, queryset):
        self.report(request, moderation.approve, moderation.approve(request.user, queryset))

    @admin.action(description=_("Reject: never send the selected letters"))
    def reject(self, request, queryset):
        self.report(request, moderation.reject, moderation.reject(request.user, queryset))


@admin.register(BlockedWords)
class BlockedWordsAdmin(AuditedAdmin, admin.ModelAdmin):
    """Each campaign's words that hold a personal sentence for review, one list per language (the studio's review
    rules page is where managers edit them)."""

    list_display = ["campaign", "language", "word_count"]
    list_filter = ["campaign", "language"]

    @admin.display(description=_("words"))
    def word_count(self, entry: BlockedWords) -> int:
        return len(entry.word_list())
