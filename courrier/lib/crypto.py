"""Personal data at rest: AES-GCM encryption with the operator's keys, and keyed digests for lookups.

DATA_KEYS (settings) lists the keys, newest first: values are encrypted with
the first, and read with whichever key their prefix names, so a new key can
be put in front while old rows are still readable (`manage.py rotatekeys`
then re-encrypts them). A stored value reads

    enc1:<key id>:<base64url(12-byte nonce + ciphertext + tag)>

so a database dump shows no personal value in clear. Lookups that must find
a value (has this address signed? which mails went to it today?) compare a
keyed digest (HMAC-SHA256 under a key derived from the current data key),
never the address.
"""

import base64
import functools
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

PREFIX = "enc1:"
NONCE_BYTES = 12


class UndecryptableValue(ValueError):
    """A stored value that none of the configured keys opens (a key was removed too early)."""


def parse_key(text: str) -> bytes:
    """A key as written in DATA_KEYS: 32 random bytes in base64 (url-safe or not)."""
    raw = base64.urlsafe_b64decode(text.strip().replace("+", "-").replace("/", "_") + "==")
    if len(raw) != 32:
        raise ValueError("a data key is 32 random bytes in base64: generate one with `manage.py newdatakey`")
    return raw


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def key_id(key: bytes) -> str:
    """A short public name for a key, stored with each value so the right key reads it back."""
    return hashlib.sha256(b"courrier key id" + key).hexdigest()[:8]


@functools.cache
def _keys(serialised: tuple[str, ...]) -> tuple[tuple[str, AESGCM], ...]:
    return tuple((key_id(raw), AESGCM(raw)) for raw in (parse_key(text) for text in serialised))


def keys() -> tuple[tuple[str, AESGCM], ...]:
    """(key id, cipher) for every configured key, the current one first."""
    return _keys(tuple(settings.DATA_KEYS))


def current_key_id() -> str:
    return keys()[0][0]


def seal(data: bytes) -> str:
    """The stored form of some bytes, under the current key."""
    identifier, cipher = keys()[0]
    nonce = os.urandom(NONCE_BYTES)
    sealed = cipher.encrypt(nonce, data, identifier.encode())
    return f"{PREFIX}{identifier}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unseal(stored: str) -> bytes:
    """The bytes of a stored value; UndecryptableValue if it is not one, was altered, or its key is gone.

    The messages name no value: they may end up in an error report.
    """
    if not is_encrypted(stored):
        # Every write goes through encryption (the data migrations encrypted the rows that were
        # there before): a value in clear was put there by hand, and is not to be trusted as ours.
        raise UndecryptableValue("a stored value is not encrypted: it was not written by Courrier")
    try:
        identifier, payload = stored[len(PREFIX) :].split(":", 1)
        blob = base64.urlsafe_b64decode(payload)
    except ValueError as error:
        raise UndecryptableValue("a stored value is damaged") from error
    if len(blob) < NONCE_BYTES + 16:
        raise UndecryptableValue("a stored value is damaged (too short)")
    for candidate, cipher in keys():
        if candidate == identifier:
            try:
                return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], identifier.encode())
            except InvalidTag as error:
                raise UndecryptableValue(
                    f"a stored value does not match its key {identifier}: it was altered or is damaged"
                ) from error
    raise UndecryptableValue(f"no configured data key has the id {identifier}: keep old keys in DATA_KEYS")


def encrypt(value: str) -> str:
    """The stored form of a text; the empty text stays empty (nothing to hide, and blank checks keep working)."""
    if not value:
        return value
    return seal(value.encode())


def is_encrypted(stored: str) -> bool:
    return stored.startswith(PREFIX)


def decrypt(stored: str) -> str:
    """The text of a stored value ("" stays ""); UndecryptableValue when it cannot be read back."""
    if not stored:
        return stored
    try:
        return unseal(stored).decode()
    except UnicodeDecodeError as error:
        raise UndecryptableValue("a stored value is not text") from error


def needs_rotation(stored: str) -> bool:
    """A value not encrypted under the current key (or not encrypted at all)."""
    return bool(stored) and not stored.startswith(f"{PREFIX}{current_key_id()}:")


@functools.cache
def _lookup_key(current: str) -> bytes:
    return hmac.new(parse_key(current), b"courrier lookup digests", hashlib.sha256).digest()


def keyed_digest(purpose: str, value: str) -> str:
    """HMAC-SHA256 of a value under the current key, per purpose; 64 hex characters."""
    key = _lookup_key(settings.DATA_KEYS[0])
    return hmac.new(key, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()


def email_digest(address: str) -> str:
    """The lookup form of an e-mail address: the same for any case or outer spaces."""
    return keyed_digest("email", address.strip().lower())
