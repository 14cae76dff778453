"""Stopping a campaign's news, by the one-click link (RFC 8058) or by mail to the List-Unsubscribe mailto.

Both end in stop_news. The mailto address is SENDER_EMAIL's local part, plus a signed form of the signature's
id (sender+u123-k3j9x2qa7m@domain): the MTA already delivers SENDER_EMAIL's plus-addresses to
`manage.py ingestbounces` for the bounces of mail to supporters, which reads these too. A forged one is ignored.
"""

import datetime

from django.conf import settings
from django.utils import timezone

from courrier.delivery.verp import UNSUBSCRIBE, read_signed_address, signed_address
from courrier.signatures.models import Signature


def unsubscribe_mailto(signature_id: int) -> str:
    return signed_address(settings.SENDER_EMAIL, signature_id, UNSUBSCRIBE)


def signature_id_of_mailto(address: str) -> int | None:
    found = read_signed_address(address)
    return found[1] if found and found[0] == UNSUBSCRIBE else None


def stop_news(signature_id: int, now: datetime.datetime | None = None) -> bool:
    """No more news to this signature; the first date is kept. False if there is no such signature left."""
    signature = Signature.objects.filter(pk=signature_id, anonymised_at=None).first()
    if signature is None:
        return False
    Signature.objects.filter(pk=signature.pk, news_unsubscribed_at__isnull=True).update(
        news_unsubscribed_at=now or timezone.now()
    )
    return True
