"""A fixed-window counter per client, kept in the cache, never in the database.

The client's address is keyed-hashed before it is used as a cache key, so
the cache never holds an IP address in clear.
"""

import hashlib
import hmac
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def parse_rate(rate: str) -> tuple[int, int]:
    count, seconds = rate.split("/")
    return int(count), int(seconds)


def is_over_limit(scope: str, request: HttpRequest, rate: str) -> bool:
    """Count this request and say whether the client went over `rate` ("count/seconds")."""
    limit, window = parse_rate(rate)
    return count_hit(scope, client_address(request), window) > limit


def count_hit(scope: str, identity: str, window: int) -> int:
    """Count one hit for `identity` (an address, a network) in the current window of `window` seconds.

    The cache key holds an HMAC of the identity, never the identity; it expires with its window.
    """
    digest = hmac.new(settings.SECRET_KEY.encode(), identity.encode(), hashlib.sha256).hexdigest()
    key = f"rl:{scope}:{digest[:32]}:{int(time.time() // window)}"
    # Counting is one cache operation for every request but a window's first (which costs two or three).
    try:
        hits = cache.incr(key)
    except ValueError:  # the window's first request, or the key was evicted
        if cache.add(key, 1, timeout=window):
            hits = 1
        else:  # another request created it between our incr and add
            hits = cache.incr(key)
    return hits
