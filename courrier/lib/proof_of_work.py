"""A proof of work on signing, served by the site itself (the scheme of ALTCHA, with no third party).

The site hands out a challenge (GET /pow/challenge/, no database, no cookie):

    algorithm  "SHA-256"
    salt       32 random hex digits (128 bits), the expiry time and the difficulty:
               "<hex>?expires=<unix seconds>&max=<maxnumber>"
    challenge  sha256(salt + str(number)) in hex, for a secret random number in [0, maxnumber]
    maxnumber  PROOF_OF_WORK_MAX_NUMBER
    signature  HMAC-SHA256, under a key derived from SECRET_KEY, of the salt and the challenge, each
               ended by a NUL (which neither can contain)

The browser finds the number by trying 0, 1, 2… (courrier/static/js/proof-of-work.js), and sends
back the salt, the number and the signature in one hidden field. The server checks all of it with
one hash and one HMAC: no state is kept between the challenge and the answer, since the signature
proves the site issued both the challenge and the salt, and the salt carries its expiry and its
difficulty. The signature must cover the salt: the hash is of the salt and the number written one
after the other, so with the hash alone signed, a solver could move digits of the number to the end
of the salt (same hash) and push the expiry, or the difficulty, as far as it liked. Replays are
refused by the database: the signature row stores `digest(proof)` in a unique column, in the same
INSERT (web/signing.py).

A bot can still solve challenges: each costs it about a second of CPU, so a flood costs real
machines, and the flood detector (quarantine, lib/bursts.py) does the rest.
"""

import base64
import binascii
import functools
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass

from django.conf import settings

ALGORITHM = "SHA-256"
FIELD = "proof"  # the hidden input of the signing forms
# The only salts this site issues; anything else is refused before a hash is computed.
_SALT = re.compile(r"[0-9a-f]{32}\?expires=(?P<expires>[1-9][0-9]{0,11})&max=(?P<max>0|[1-9][0-9]{0,11})")


class InvalidProof(ValueError):
    """A proof that the site did not issue, with a wrong number, or damaged."""


class ExpiredProof(InvalidProof):
    """A proof of a challenge older than PROOF_OF_WORK_EXPIRY_SECONDS."""


@dataclass(frozen=True)
class Proof:
    salt: str
    number: int
    challenge: str
    signature: str

    @property
    def digest(self) -> str:
        """What the signature row stores: one per challenge, whatever else is sent with it."""
        return hashlib.sha256(f"proof\0{self.challenge}".encode()).hexdigest()


@functools.cache
def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"courrier proof of work", hashlib.sha256).digest()


def sign(salt: str, challenge: str) -> str:
    """The site's word for a challenge and its salt (expiry and difficulty with it), unambiguously joined."""
    message = f"courrier proof of work v2\0{salt}\0{challenge}\0".encode()
    return hmac.new(_key(settings.SECRET_KEY), message, hashlib.sha256).hexdigest()


def hash_of(salt: str, number: int) -> str:
    return hashlib.sha256(f"{salt}{number}".encode()).hexdigest()


def new_challenge(now: float | None = None) -> dict:
    """A fresh challenge, as the endpoint serves it (ALTCHA's field names)."""
    expires = int((now if now is not None else time.time()) + settings.PROOF_OF_WORK_EXPIRY_SECONDS)
    maxnumber = settings.PROOF_OF_WORK_MAX_NUMBER
    salt = f"{secrets.token_hex(16)}?expires={expires}&max={maxnumber}"
    challenge = hash_of(salt, secrets.randbelow(maxnumber + 1))
    return {
        "algorithm": ALGORITHM,
        "challenge": challenge,
        "maxnumber": maxnumber,
        "salt": salt,
        "signature": sign(salt, challenge),
    }


def solve(challenge: dict) -> int:
    """The number, found as a browser finds it (tests and load generators; the site never calls this)."""
    for number in range(challenge["maxnumber"] + 1):
        if hash_of(challenge["salt"], number) == challenge["challenge"]:
            return number
    raise InvalidProof("no number solves this challenge")


def encode(challenge: dict, number: int) -> str:
    """The hidden field's value for a solved challenge: base64 of ALTCHA's JSON payload."""
    payload = {
        "algorithm": challenge["algorithm"],
        "challenge": challenge["challenge"],
        "number": number,
        "salt": challenge["salt"],
        "signature": challenge["signature"],
    }
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def salt_terms(salt: str) -> tuple[int, int]:
    """The expiry (unix seconds) and the highest number a salt of this site's carries."""
    match = _SALT.fullmatch(salt)
    if match is None:
        raise InvalidProof("not a salt this site issues")
    return int(match["expires"]), int(match["max"])


def verify(value: str, now: float | None = None) -> Proof | None:
    """The proof sent with a signature, checked; None when there is none (a browser without JavaScript).

    Raises ExpiredProof or InvalidProof. Costs one SHA-256 and one HMAC.
    """
    if not value:
        return None
    try:
        payload = json.loads(base64.b64decode(value[:2000], validate=True))
        salt, number = str(payload["salt"]), payload["number"]
        challenge, signature = str(payload["challenge"]), str(payload["signature"])
    except (ValueError, TypeError, KeyError, binascii.Error) as error:
        raise InvalidProof("the proof is not readable") from error
    if payload.get("algorithm") != ALGORITHM or not isinstance(number, int) or isinstance(number, bool):
        raise InvalidProof("the proof is not readable")
    expires, maxnumber = salt_terms(salt)
    # The signature first: it says the site made this challenge with this salt, so its expiry and difficulty.
    if not hmac.compare_digest(sign(salt, challenge), signature):
        raise InvalidProof("the challenge was not issued by this site")
    if not 0 <= number <= maxnumber or not hmac.compare_digest(hash_of(salt, number), challenge):
        raise InvalidProof("the number does not solve the challenge")
    if expires < (now if now is not None else time.time()):
        raise ExpiredProof("the challenge has expired")
    return Proof(salt=salt, number=number, challenge=challenge, signature=signature)
