"""One-click unsubscribe links: a signature's id, signed with a salt of its own.

They never expire (an unsubscribe link must work as long as the mail is
read), carry no personal data, and cannot be turned into a confirmation
link or the reverse, since the salts differ.
"""

from django.core import signing

_SALT = "courrier.news.unsubscribe"


def unsubscribe_token(signature_id: int) -> str:
    return signing.dumps(signature_id, salt=_SALT)


def read_unsubscribe_token(token: str) -> int:
    value = signing.loads(token, salt=_SALT)
    if not isinstance(value, int) or isinstance(value, bool):
        raise signing.BadSignature("not a signature id")
    return value
