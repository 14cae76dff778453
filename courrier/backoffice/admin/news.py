"""Updates to supporters in the back office: write per language, preview, then send after a confirmation.

For the site's operators; organisers write, preview and send their updates in
the studio (courrier/studio/updates.py), over the same functions of news/sending.py.
"""

from email import policy
from email.parser import BytesParser
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from courrier.accounts.roles import can_manage
from courrier.backoffice.scoping import AuditedAdmin
from courrier.delivery.compose import compose
from courrier.news.models import NewsUpdate
from courrier.news.sending import preview, reach_counts, send_updates

SHOWN_HEADERS = ["From", "Reply-To", "To", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post"]


@admin.register(NewsUpdate)
class NewsUpdateAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["subject", "campaign", "language", "created_at", "sent_at", "recipients_count"]
    list_filter = ["campaign", "language", ("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["subject"]
    fields = [
        "campaign",
        "language",
        "subject",
        "body",
        "publish_on_timeline",
        "person",
        "timeline_text",
        "created_by",
        "created_at",
        "sent_at",
        "sent_by",
        "recipients_count",
    ]
    actions = ["send_selected"]
    change_form_template = "news/change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj: NewsUpdate | None = None) -> list[str]:
        bookkeeping = ["created_by", "created_at", "sent_at", "sent_by", "recipients_count"]
        if obj is not None and obj.is_sent:
            return [*self.fields[:6], *bookkeeping]  # what went out stays as it went
        return bookkeeping

    def has_delete_permission(self, request: HttpRequest, obj: NewsUpdate | None = None) -> bool:
        if obj is not None and obj.is_sent:
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        """The bulk action too keeps what was sent: it is the record of what supporters received."""
        super().delete_queryset(request, queryset.filter(sent_at__isnull=True))

    def save_model(self, request: HttpRequest, obj: NewsUpdate, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        update = self.get_object(request, object_id)
        can_send = update is not None and not update.is_sent and can_manage(request.user, update.campaign)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "can_send": can_send})

    def get_urls(self):
        own = [
            path("<int:pk>/preview/", self.admin_site.admin_view(self.preview_view), name="news_newsupdate_preview"),
            path("send/", self.admin_site.admin_view(self.send_view), name="news_newsupdate_send"),
        ]
        return own + super().get_urls()

    @admin.action(description=_("Send the selected updates…"))
    def send_selected(self, request: HttpRequest, queryset) -> HttpResponse:
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(reverse("admin:news_newsupdate_send") + "?" + urlencode({"ids": ids}))

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The e-mail exactly as a supporter receives it: the composed bytes, parsed back as a mail client would."""
        update = self.get_queryset(request).select_related("campaign").filter(pk=pk).first()
        if update is None:
            raise Http404
        message = BytesParser(policy=policy.default).parsebytes(compose(preview(update)))
        headers = [(name, message[name]) for name in SHOWN_HEADERS if message[name]]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Preview: %(subject)s") % {"subject": update.subject},
            "update": update,
            "headers": headers,
            "body": message.get_content(),
            "reach": reach_counts([update])[0][1],
            "can_send": not update.is_sent and can_manage(request.user, update.campaign),
        }
        return TemplateResponse(request, "news/preview.html", context)

    def send_view(self, request: HttpRequest) -> HttpResponse:
        """A confirmation page for the chosen updates; its POST sends those not sent yet."""
        source = request.POST if request.method == "POST" else request.GET
        ids = [int(pk) for pk in source.get("ids", "").split(",") if pk.strip().isdigit()]
        updates = list(self.get_queryset(request).select_related("campaign").filter(pk__in=ids).order_by("pk"))
        changelist = reverse("admin:news_newsupdate_changelist")
        if not updates:
            self.message_user(request, _("Choose the updates to send."), level=messages.WARNING)
            return HttpResponseRedirect(changelist)
        if not all(can_manage(request.user, update.campaign) for update in updates):
            raise PermissionDenied(_("Only the campaign's managers may send updates to its supporters."))
        unsent = [update for update in updates if not update.is_sent]
        if request.method == "POST" and unsent:
            sent = send_updates(unsent, request.user, other_languages=bool(request.POST.get("other_languages")))
            for item in sent:
                message = ngettext(
                    "“%(subject)s” is queued for %(count)d supporter.",
                    "“%(subject)s” is queued for %(count)d supporters.",
                    item.recipients,
                ) % {"subject": item.update.subject, "count": item.recipients}
                self.message_user(request, message, level=messages.SUCCESS)
            return HttpResponseRedirect(changelist)
        counts = reach_counts(unsent)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Send updates to supporters"),
            "ids": ",".join(str(update.pk) for update in unsent),
            "counts": counts,
            "already_sent": [update for update in updates if update.is_sent],
            "offer_other_languages": any(alone != widened for _update, alone, widened in counts),
            "languages": dict(settings.LANGUAGES),
        }
        return TemplateResponse(request, "news/send_confirm.html", context)
