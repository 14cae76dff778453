"""The supporter's "send me my links": each request typed on the site becomes one mail per signature of
the address (web/my_data.py stores the request; the worker's job here mails it promptly)."""

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from courrier.db.locking import locks_rows
from courrier.delivery import daily_cap, enqueue
from courrier.delivery.messages import data_link_message
from courrier.delivery.models import OutboxMessage
from courrier.signatures.models import DataRequest, Signature

BATCH = 200


def queue_data_links(now: datetime.datetime | None = None) -> int:
    """Turn the stored requests into one DATA_LINK mail per signature of each address; returns how many."""
    now = now or timezone.now()
    if not locks_rows() and not DataRequest.objects.exists():
        return 0  # on SQLite the transaction would take the one write lock for nothing
    with transaction.atomic():
        enqueue.durable_commit()
        requests = list(DataRequest.objects.select_for_update(skip_locked=True).order_by("pk")[:BATCH])
        if not requests:
            return 0
        languages = {request.email_digest: request.language for request in requests}  # the latest wins
        recently = set(
            OutboxMessage.objects.filter(
                kind=OutboxMessage.Kind.DATA_LINK,
                recipient_digest__in=list(languages),
                created_at__gt=now - datetime.timedelta(minutes=settings.DATA_LINK_INTERVAL_MINUTES),
            ).values_list("recipient_digest", flat=True)
        )
        wanted = [digest for digest in languages if digest not in recently]
        signatures = Signature.objects.openable().filter(email_digest__in=wanted).select_related("campaign")
        messages = [data_link_message(s, languages[s.email_digest]) for s in signatures]
        # Beyond the address's daily cap a link waits for its turn.
        messages = daily_cap.schedule_within_daily_cap(enqueue.stamped(messages, now), now)
        OutboxMessage.objects.bulk_create(messages)
        DataRequest.objects.filter(pk__in=[request.pk for request in requests]).delete()
    return len(messages)
