"""Links in the mail to supporters: a signature's id, signed (HMAC of SECRET_KEY) and time-limited.

Nothing is stored for them. Each kind has its own salt, so a confirmation link
cannot be turned into a link to one's data or the reverse.

- Confirmation: valid CONFIRMATION_MAX_AGE_DAYS, the time an unconfirmed signature is kept. It works once:
  confirming is a conditional UPDATE, and the page then only shows where the letter is, nothing personal.
- Follow-up ("send it in my name"): valid FOLLOW_UP_LINK_MAX_AGE_DAYS, for one follow-up and one signature;
  it works once, since the letter it sends is one row per follow-up and signature.
- See-and-erase ("my data"): valid MY_DATA_LINK_MAX_AGE_DAYS; a fresh one can be asked for at any time.
  It also carries the signature's creation time, so it can never open a later row that took the same id.
  Once the data is erased, the link finds nothing.

Every link that does not work (forged, cut, expired, of another kind, or of data deleted or erased) gets the
same answer as any other: the views call `read_*` and treat every failure alike.
"""

import datetime

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import translation

_SALT = "courrier.signatures.confirm"
_MY_DATA_SALT = "courrier.signatures.my-data"
_FOLLOW_UP_SALT = "courrier.signatures.follow-up"


def confirmation_token(signature_id: int) -> str:
    return signing.dumps(signature_id, salt=_SALT)


def read_confirmation_token(token: str) -> int:
    max_age = datetime.timedelta(days=settings.CONFIRMATION_MAX_AGE_DAYS)
    value = signing.loads(token, salt=_SALT, max_age=max_age)
    if not isinstance(value, int) or isinstance(value, bool):
        raise signing.BadSignature("not a signature id")
    return value


def _stamp(created_at: datetime.datetime) -> int:
    return int(created_at.timestamp() * 1_000_000)


def my_data_token(signature) -> str:
    """The see-and-erase link's token for a saved signature."""
    return signing.dumps([signature.pk, _stamp(signature.created_at)], salt=_MY_DATA_SALT)


def read_my_data_token(token: str) -> tuple[int, int]:
    """(signature id, creation stamp); raises BadSignature for any token that does not work."""
    max_age = datetime.timedelta(days=settings.MY_DATA_LINK_MAX_AGE_DAYS)
    value = signing.loads(token, salt=_MY_DATA_SALT, max_age=max_age)
    if not (isinstance(value, list) and len(value) == 2 and all(type(part) is int for part in value)):
        raise signing.BadSignature("not a signature reference")
    return value[0], value[1]


def follow_up_token(follow_up_id: int, signature) -> str:
    """The link that sends one follow-up in one supporter's name: both ids, and the signature's creation time."""
    return signing.dumps([follow_up_id, signature.pk, _stamp(signature.created_at)], salt=_FOLLOW_UP_SALT)


def read_follow_up_token(token: str) -> tuple[int, int, int]:
    """(follow-up id, signature id, creation stamp); raises BadSignature for any token that does not work."""
    max_age = datetime.timedelta(days=settings.FOLLOW_UP_LINK_MAX_AGE_DAYS)
    value = signing.loads(token, salt=_FOLLOW_UP_SALT, max_age=max_age)
    if not (isinstance(value, list) and len(value) == 3 and all(type(part) is int for part in value)):
        raise signing.BadSignature("not a follow-up reference")
    return value[0], value[1], value[2]


def matches_stamp(signature, stamp: int) -> bool:
    return _stamp(signature.created_at) == stamp


def my_data_url(signature, language: str) -> str:
    """The absolute see-and-erase link of a signature, in the page language `language`.

    A preview's sample signature is not saved: it gets the public form's address, which leads somewhere real.
    """
    if signature.pk is None or signature.created_at is None:
        return my_data_request_url(language)
    with translation.override(language):
        path = reverse("my_data", args=[my_data_token(signature)])
    return settings.SITE_ROOT + path


def my_data_request_url(language: str) -> str:
    """The public form that mails an address its links: for mail that has no signature of its own to point to."""
    with translation.override(language):
        return settings.SITE_ROOT + reverse("my_data_request")
