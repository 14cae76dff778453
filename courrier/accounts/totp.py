"""Time-based one-time passwords (RFC 6238, on HOTP from RFC 4226), with the standard library only.

The defaults are what every authenticator app understands from a QR code:
SHA-1, 6 digits, a 30-second step. A code is accepted for the step before and
after the current one (a phone's clock a little off, a code typed as it
changes), and never twice: the caller keeps the last step used and passes it
back, so a code seen over a shoulder cannot be replayed.
"""

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
ACCEPTED_DRIFT_STEPS = 1


def generate_secret() -> str:
    """A new shared secret: 160 random bits (the size of a SHA-1 block's key, RFC 4226 §4), in base32."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """The key behind a base32 secret, forgiving the spaces and lower case of one typed by hand."""
    cleaned = secret.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(key: bytes, counter: int, digits: int = DIGITS, algorithm: str = "sha1") -> str:
    """RFC 4226 §5.3: HMAC of the counter, dynamically truncated to `digits` decimal digits."""
    digest = hmac.new(key, struct.pack(">Q", counter), getattr(hashlib, algorithm)).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def time_step(at: float | None = None) -> int:
    """The number of whole steps since the Unix epoch (RFC 6238 §4.2: T0 = 0)."""
    return int((time.time() if at is None else at) // STEP_SECONDS)


def totp(secret: str, at: float | None = None, digits: int = DIGITS, algorithm: str = "sha1") -> str:
    """The code an authenticator app shows at `at` (now by default)."""
    return hotp(secret_bytes(secret), time_step(at), digits, algorithm)


def matching_step(secret: str, code: str, last_used_step: int | None = None, at: float | None = None) -> int | None:
    """The step whose code `code` is, within one step of now and after `last_used_step`; None if there is none.

    Store the returned step as the new `last_used_step`: that is what refuses the same code a second time.
    """
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    key = secret_bytes(secret)
    now = time_step(at)
    for step in range(now - ACCEPTED_DRIFT_STEPS, now + ACCEPTED_DRIFT_STEPS + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        if hmac.compare_digest(hotp(key, step), code):
            return step
    return None


def is_replayed(secret: str, code: str, last_used_step: int | None, at: float | None = None) -> bool:
    """Whether `code` is valid in the window but its step was already used (to say so, not "wrong code")."""
    return (
        last_used_step is not None
        and matching_step(secret, code, None, at) is not None
        and (matching_step(secret, code, last_used_step, at) is None)
    )


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// address that authenticator apps read from a QR code (Key Uri Format)."""
    label = quote(f"{issuer}:{account}", safe=":@")
    query = urlencode(
        {"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS, "period": STEP_SECONDS}
    )
    return f"otpauth://totp/{label}?{query}"
