"""The site's URLs plus /bare/ and /bare/page/, the benchmark's reference views, behind the site's middleware."""

from django.urls import path

from bench.bare_view import checked_insert, page
from courrier.urls import handler400, handler403, handler404  # noqa: F401
from courrier.urls import urlpatterns as site_urlpatterns

urlpatterns = [path("bare/", checked_insert), path("bare/page/", page), *site_urlpatterns]
