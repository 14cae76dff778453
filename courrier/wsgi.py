import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courrier.settings")
application = get_wsgi_application()

# After Django is set up: the fast path reads the settings and the apps' modules.
from courrier.web.fast_signing import with_fast_signing  # noqa: E402

application = with_fast_signing(application)
