"""The site's own settings, with the bare reference view added to its URLs (bench/site_urls.py).

Only the benchmark's reference server uses these: the bare view never exists on a real site.
"""

from courrier.settings import *  # noqa: F403

ROOT_URLCONF = "bench.site_urls"
