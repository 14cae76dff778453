"""One-click unsubscribe links: a signature's id, signed with a salt of its own.

They carry no personal data and cannot be turned into a confirmation link or
the reverse, since the salts differ. They expire after
UNSUBSCRIBE_LINK_MAX_AGE_DAYS (a year): long enough for a mail read months
later, or a provider's "unsubscribe" button pressed on an old message; each
news mail carries a new one. They work once: unsubscribing again keeps the
first date and changes nothing.
"""

import datetime

from django.conf import settings
from django.core import signing

_SALT = "courrier.news.unsubscribe"


def unsubscribe_token(signature_id: int) -> str:
    return signing.dumps(signature_id, salt=_SALT)


def read_unsubscribe_token(token: str) -> int:
    max_age = datetime.timedelta(days=settings.UNSUBSCRIBE_LINK_MAX_AGE_DAYS)
    value = signing.loads(token, salt=_SALT, max_age=max_age)
    if not isinstance(value, int) or isinstance(value, bool):
        raise signing.BadSignature("not a signature id")
    return value
