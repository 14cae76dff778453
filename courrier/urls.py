from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve

from courrier.backoffice import exports, progress
from courrier.backoffice import sandbox as delivery_views
from courrier.backoffice.login import OperatorsLoginForm
from courrier.web import campaign_pages as campaign_views
from courrier.web import embed as embed_views
from courrier.web import follow_ups as follow_up_views
from courrier.web import my_data, own_mailbox, sharing
from courrier.web import news as news_views
from courrier.web import signing as signature_views

admin.site.site_header = settings.SITE_NAME
admin.site.site_title = settings.SITE_NAME
admin.site.login_form = OperatorsLoginForm  # superusers only; repeated failures lock the username for a while

# Error pages built without the request's address, query or exception text (courrier/http/error_pages.py).
handler400 = "courrier.http.error_pages.bad_request"
handler403 = "courrier.http.error_pages.permission_denied"
handler404 = "courrier.http.error_pages.page_not_found"

# The public pages first: a signature during a spike is resolved without trying the back office's routes.
# (A language prefix never looks like admin/, i18n/, pow/ or media/, so the order changes nothing else.)
urlpatterns = i18n_patterns(
    path("", campaign_views.campaign_list, name="campaign_list"),
    path("c/<slug:slug>/", campaign_views.campaign_detail, name="campaign"),
    path("c/<slug:slug>/sign/", signature_views.sign, name="sign"),
    path("c/<slug:slug>/check-your-inbox/", signature_views.check_inbox, name="check_inbox"),
    path("confirm/<str:token>/", signature_views.confirm, name="confirm"),
    # See and erase one's data: the public form, the page once erased, the page a link opens.
    # A follow-up letter sent in a supporter's name, by their own link (one press, POST only).
    path("follow-up/<str:token>/", follow_up_views.follow_up, name="follow_up"),
    path("my-data/", my_data.request_link, name="my_data_request"),
    path("my-data/erased/", my_data.erased, name="my_data_erased"),
    path("my-data/<str:token>/", my_data.my_data, name="my_data"),
    path("c/<slug:slug>/own-mailbox/", own_mailbox.own_mailbox, name="own_mailbox"),
    path("c/<slug:slug>/own-mailbox/go/<str:channel>/", own_mailbox.go, name="own_mailbox_go"),
    path("c/<slug:slug>/og.png", sharing.og_image, name="campaign_og"),
    path("c/<slug:slug>/qr.svg", sharing.qr_svg, name="campaign_qr_svg"),
    path("c/<slug:slug>/qr.png", sharing.qr_png, name="campaign_qr_png"),
    path("embed/<slug:slug>/", embed_views.embed_form, name="embed"),
    path("embed/<slug:slug>/sign/", embed_views.embed_sign, name="embed_sign"),
    path("embed/<slug:slug>/thanks/", embed_views.embed_thanks, name="embed_thanks"),
    # One-click unsubscribe (RFC 8058): the exact address of List-Unsubscribe, POSTed to without a cookie.
    path("news/unsubscribe/<str:token>/", news_views.unsubscribe, name="news_unsubscribe"),
    # The organisers' studio, in their language (courrier/studio/).
    path("studio/", include("courrier.studio.urls")),
)

urlpatterns += [
    # The sandbox Maildir holds every organisation's mail: managers read only their campaigns' messages.
    path("admin/sandbox/", admin.site.admin_view(delivery_views.sandbox_mailbox), name="sandbox"),
    path("admin/sandbox/<str:key>/", admin.site.admin_view(delivery_views.sandbox_mailbox), name="sandbox_message"),
    path("admin/second-factor/", include("courrier.backoffice.second_factor_urls")),
    # A campaign's progress and exports, for its managers (before the admin's own campaign pages).
    path(
        "admin/campaigns/campaign/<int:campaign_id>/progress/",
        admin.site.admin_view(progress.progress),
        name="campaign_progress",
    ),
    path(
        "admin/campaigns/campaign/<int:campaign_id>/export.csv",
        admin.site.admin_view(exports.export_csv),
        name="campaign_export_csv",
    ),
    path(
        "admin/campaigns/campaign/<int:campaign_id>/export.pdf",
        admin.site.admin_view(exports.export_pdf),
        name="campaign_export_pdf",
    ),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # The signing forms' proof-of-work challenge: the same for every language, fetched by the script.
    path("pow/challenge/", signature_views.proof_challenge, name="proof_challenge"),
    # Uploaded campaign photos: public by nature, re-encoded on upload.
    path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", serve, {"document_root": settings.MEDIA_ROOT}),
]
