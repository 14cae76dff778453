"""Per-letter return paths (VERP), signed so that a forged bounce cannot fail a letter.

A letter with outbox id 123 leaves with the envelope sender
bounces+123-k3j9x2qa@example.org: a bounce comes back to that address, and
its id and signature tell which letter bounced.
"""

import base64
import hashlib
import hmac
import re

from django.conf import settings

_VERP = re.compile(r"^(?P<local>[^@+]+)\+(?P<id>\d+)-(?P<sig>[a-z2-7]{10})@(?P<domain>[^@]+)$", re.IGNORECASE)


def _signature(message_pk: int) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"verp:{message_pk}".encode(), hashlib.sha256).digest()
    # 10 characters of base32 are the first 50 bits: encoding the first 10 bytes gives the same ones, faster.
    return base64.b32encode(digest[:10]).decode().lower()[:10]


def verp_address(message) -> str:
    """The envelope sender for one message: its own address for letters, the plain one otherwise."""
    base = message.envelope_from
    if message.kind != "letter" or message.pk is None:
        return base
    local, domain = base.rsplit("@", 1)
    return f"{local}+{message.pk}-{_signature(message.pk)}@{domain}"


def message_pk_from(address: str) -> int | None:
    """The outbox id in a VERP address, or None if the address is not one of ours or is forged."""
    match = _VERP.match(address.strip().strip("<>"))
    if not match:
        return None
    pk = int(match["id"])
    return pk if hmac.compare_digest(match["sig"].lower(), _signature(pk)) else None
