"""Row ids as the outside world sees them in our addresses: a keyed permutation, so that they tell nothing.

A letter's return path and Reply-To name a row (bounces+<id>-…@, replies+r<id>-…@). Written as they are,
sequential ids would tell every recipient, the embassy included, how many letters and signatures the site
has, and how fast they come. `hide` maps an id below 2**48 to another number below 2**48 through a
four-round Feistel network keyed by SECRET_KEY (a bijection: `reveal` undoes it); the address's own HMAC
still proves the id was ours.
"""

import functools
import hashlib
import hmac

from django.conf import settings

_HALF_BITS = 24
_HALF = (1 << _HALF_BITS) - 1
LIMIT = 1 << (2 * _HALF_BITS)
_ROUNDS = 4


def _round(key: "hmac.HMAC", number: int, value: int) -> int:
    keyed = key.copy()
    keyed.update(f"{number}:{value}".encode())
    return int.from_bytes(keyed.digest()[:3], "big")


def _key() -> "hmac.HMAC":
    """The keyed HMAC, copied for each round rather than keyed again (a return path: 14 µs, now 12)."""
    return _keyed(settings.SECRET_KEY)


@functools.lru_cache(maxsize=4)
def _keyed(secret_key: str) -> "hmac.HMAC":
    return hmac.new(hashlib.sha256(b"courrier.opaque-ids:" + secret_key.encode()).digest(), digestmod=hashlib.sha256)


def hide(pk: int) -> int:
    """The number that stands for `pk` (0 <= pk < LIMIT) in an address."""
    if not 0 <= pk < LIMIT:
        raise ValueError("id out of range")
    key, left, right = _key(), pk >> _HALF_BITS, pk & _HALF
    for number in range(_ROUNDS):
        left, right = right, left ^ _round(key, number, right)
    return (left << _HALF_BITS) | right


def reveal(shown: int) -> int | None:
    """The id a number from `hide` stands for; None if it cannot be one."""
    if not 0 <= shown < LIMIT:
        return None
    key, left, right = _key(), shown >> _HALF_BITS, shown & _HALF
    for number in reversed(range(_ROUNDS)):
        left, right = right ^ _round(key, number, left), left
    return (left << _HALF_BITS) | right
