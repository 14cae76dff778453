"""Per-message return paths (VERP), signed so that a forged bounce cannot fail a message.

A message with outbox id 123 leaves with the envelope sender
bounces+<123, hidden>-k3j9x2qa@example.org: a bounce comes back to that address, and
its id and signature tell which message bounced. The id is written through a keyed permutation
(lib/opaque_ids.py), so the addresses a target reads tell nothing of how many letters there are. Letters and digests use
BOUNCE_EMAIL's local part; mail to supporters SENDER_EMAIL's, so the MTA must
deliver the plus-addresses of both to `manage.py ingestbounces`.
"""

import base64
import functools
import hashlib
import hmac
import re

from django.conf import settings

from courrier.lib import opaque_ids

_SIGNED = re.compile(
    r"^(?P<local>[^@+]+)\+(?P<purpose>[a-z]?)(?P<id>\d+)-(?P<sig>[a-z2-7]{10})@(?P<domain>[^@]+)$", re.IGNORECASE
)
# What a signed address is for, by the letter before its id: none for a message's return path; "u" a news
# message's unsubscribe mailto (a signature's id); "r" the Reply-To of a supporter's letter (a signature's id);
# "h" the Reply-To of a campaign's final hand-over to a target (the target's id).
RETURN_PATH, UNSUBSCRIBE, REPLY, HAND_OVER = "", "u", "r", "h"


@functools.lru_cache(maxsize=4)
def _keyed(secret_key: str) -> hmac.HMAC:
    """Keyed once, copied for each address (lib/opaque_ids.py does the same)."""
    return hmac.new(secret_key.encode(), digestmod=hashlib.sha256)


def _signature(pk: int, purpose: str = RETURN_PATH) -> str:
    message = f"verp:{pk}" if purpose == RETURN_PATH else f"verp-{purpose}:{pk}"
    keyed = _keyed(settings.SECRET_KEY).copy()
    keyed.update(message.encode())
    digest = keyed.digest()
    # 10 characters of base32 are the first 50 bits: encoding the first 10 bytes gives the same ones, faster.
    return base64.b32encode(digest[:10]).decode().lower()[:10]


def signed_address(base: str, pk: int, purpose: str = RETURN_PATH) -> str:
    """base's local part + the purpose, the id as the outside sees it (lib/opaque_ids.py) and its signature:
    local+u8071249315-k3j9x2qa7m@domain."""
    local, domain = base.rsplit("@", 1)
    return f"{local}+{purpose}{opaque_ids.hide(pk)}-{_signature(pk, purpose)}@{domain}"


def read_signed_address(address: str) -> tuple[str, int] | None:
    """(purpose, id) of one of our signed addresses; None if it is not one, or is forged."""
    match = _SIGNED.match(address.strip().strip("<>"))
    if not match or len(match["id"]) > 20:
        return None
    purpose, shown = match["purpose"].lower(), int(match["id"])
    # The id as addresses write it; or as they wrote it before they hid it (mail sent then still comes back).
    for pk in (opaque_ids.reveal(shown), shown):
        if pk is not None and hmac.compare_digest(match["sig"].lower(), _signature(pk, purpose)):
            return purpose, pk
    return None


def reply_address(signature_pk: int) -> str:
    """The Reply-To of a supporter's letter: REPLY_EMAIL's local part + r<signature id>-<signature>."""
    return signed_address(settings.REPLY_EMAIL, signature_pk, REPLY)


def hand_over_reply_address(target_pk: int) -> str:
    """The Reply-To of the final hand-over to one target: its answer comes back to the campaign too."""
    return signed_address(settings.REPLY_EMAIL, target_pk, HAND_OVER)


def verp_address(message) -> str:
    """The envelope sender for one message: its own signed address, whatever its kind."""
    if message.pk is None:
        return message.envelope_from
    return signed_address(message.envelope_from, message.pk)


def message_pk_from(address: str) -> int | None:
    """The outbox id in a return path of ours, or None if the address is not one or is forged."""
    found = read_signed_address(address)
    return found[1] if found and found[0] == RETURN_PATH else None
