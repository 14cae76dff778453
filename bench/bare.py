"""The bare view alone: Django with no middleware, no template, no form and no model.

Served by gunicorn exactly like the real site (`gunicorn bench.bare ...`), on
the same database (DATABASES comes from courrier.settings, so from the same
environment): what is left is the cost of gunicorn, Django's request handling
and one row. The benchmark's main reference is the same view inside the site
(bench/site_urls.py); this one shows what the site's middleware adds.

`python -m bench.bare` creates the table with raw SQL, so no migration is
needed. The benchmark runs it once before starting the servers, because
gunicorn workers racing on CREATE TABLE IF NOT EXISTS can collide on PostgreSQL.
"""

import django
from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.urls import path

from courrier import settings as courrier_settings

settings.configure(
    DEBUG=False,
    SECRET_KEY=courrier_settings.SECRET_KEY,
    ALLOWED_HOSTS=courrier_settings.ALLOWED_HOSTS,
    DATABASES=courrier_settings.DATABASES,  # same engine, options and connection reuse as the site
    USE_TZ=True,
    TIME_ZONE=courrier_settings.TIME_ZONE,
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
)
django.setup()

from bench.bare_view import create_table, insert  # noqa: E402  (after settings.configure())

urlpatterns = [path("bare/", insert)]
application = get_wsgi_application()

if __name__ == "__main__":
    create_table()
