"""A fixed-window counter per client, kept in the cache, never in the database.

The client's address is keyed-hashed before it is used as a cache key, so
the cache never holds an IP address in clear.
"""

import hashlib
import hmac
import ipaddress
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


def network_of(address: str, ipv4_prefix: int = 32, ipv6_prefix: int = 64) -> str:
    """The network an address is counted under: by default the address itself for IPv4, its /64 for IPv6.

    One IPv6 client is given a whole /64 (a phone on a mobile network, a home line), and picks a new
    address inside it whenever it likes: counting single addresses would let it escape every limit.
    """
    octets = address.split(".")
    if len(octets) == 4 and all(octet.isdigit() and len(octet) <= 3 and int(octet) <= 255 for octet in octets):
        # The common case, without the ipaddress module (which cost more than the rest of the count).
        if ipv4_prefix == 32:
            return ".".join(str(int(octet)) for octet in octets)
        if ipv4_prefix == 24:
            return f"{int(octets[0])}.{int(octets[1])}.{int(octets[2])}.0/24"
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address  # not an address (a misconfigured proxy): counted as it is
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    prefix = ipv4_prefix if ip.version == 4 else ipv6_prefix
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def parse_rate(rate: str) -> tuple[int, int]:
    count, seconds = rate.split("/")
    return int(count), int(seconds)


def is_over_limit(scope: str, request: HttpRequest, rate: str) -> bool:
    """Count this request and say whether the client went over `rate` ("count/seconds")."""
    limit, window = parse_rate(rate)
    return count_hit(scope, network_of(client_address(request)), window) > limit


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
