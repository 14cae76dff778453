"""Confirmation links: a signature's id, signed and time-limited.

Nothing is stored for them; a link works once because confirming is
idempotent and the page then only shows the state.
"""

import datetime

from django.conf import settings
from django.core import signing

_SALT = "courrier.signatures.confirm"


def confirmation_token(signature_id: int) -> str:
    return signing.dumps(signature_id, salt=_SALT)


def read_confirmation_token(token: str) -> int:
    max_age = datetime.timedelta(days=settings.CONFIRMATION_MAX_AGE_DAYS)
    value = signing.loads(token, salt=_SALT, max_age=max_age)
    if not isinstance(value, int):
        raise signing.BadSignature("not a signature id")
    return value
