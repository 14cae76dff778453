from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve

from courrier.campaigns import views as campaign_views
from courrier.delivery import views as delivery_views
from courrier.signatures import views as signature_views

admin.site.site_header = settings.SITE_NAME
admin.site.site_title = settings.SITE_NAME

urlpatterns = [
    path("admin/sandbox/", admin.site.admin_view(delivery_views.sandbox_mailbox), name="sandbox"),
    path("admin/sandbox/<str:key>/", admin.site.admin_view(delivery_views.sandbox_mailbox), name="sandbox_message"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # Uploaded campaign photos: public by nature, re-encoded on upload.
    path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", serve, {"document_root": settings.MEDIA_ROOT}),
]

urlpatterns += i18n_patterns(
    path("", campaign_views.campaign_list, name="campaign_list"),
    path("c/<slug:slug>/", campaign_views.campaign_detail, name="campaign"),
    path("c/<slug:slug>/sign/", signature_views.sign, name="sign"),
    path("c/<slug:slug>/check-your-inbox/", signature_views.check_inbox, name="check_inbox"),
    path("confirm/<str:token>/", signature_views.confirm, name="confirm"),
)
