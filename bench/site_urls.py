"""The site's URLs plus /bare/, the benchmark's reference view, served by the site's middleware stack."""

from django.urls import path

from bench.bare_view import checked_insert
from courrier.urls import handler400, handler403, handler404  # noqa: F401
from courrier.urls import urlpatterns as site_urlpatterns

urlpatterns = [path("bare/", checked_insert), *site_urlpatterns]
