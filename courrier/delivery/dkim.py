"""DKIM signing of outgoing messages, when the operator configures a key.

Most relays sign for you; set DKIM_PRIVATE_KEY_FILE, DKIM_SELECTOR and
DKIM_DOMAIN only if yours does not, and publish the public key at
SELECTOR._domainkey.DOMAIN (see README).
"""

import functools
from pathlib import Path

import dkim
from django.conf import settings

SIGNED_HEADERS = [
    # From twice (over-signing): a second From added on the way would break the signature, not pass beside it.
    b"from",
    b"from",
    b"to",
    b"cc",
    b"reply-to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
    # RFC 8058: one-click unsubscribe counts only when the signature covers both headers.
    b"list-unsubscribe",
    b"list-unsubscribe-post",
]


@functools.cache
def _private_key(path: str) -> bytes:
    return Path(path).read_bytes()


def dkim_sign(data: bytes) -> bytes:
    if not (settings.DKIM_PRIVATE_KEY_FILE and settings.DKIM_DOMAIN):
        return data
    header = dkim.sign(
        data,
        selector=settings.DKIM_SELECTOR.encode(),
        domain=settings.DKIM_DOMAIN.encode(),
        privkey=_private_key(settings.DKIM_PRIVATE_KEY_FILE),
        include_headers=SIGNED_HEADERS,
        # Relaxed for the body too: a relay that re-wraps trailing white space must not break the signature.
        canonicalize=(b"relaxed", b"relaxed"),
        linesep=b"\r\n",
    )
    return header + data
