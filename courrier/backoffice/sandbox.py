"""Staff pages of the delivery app that are not model admins."""

import re
from email import policy
from email.parser import BytesParser

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from courrier.accounts.roles import MANAGER, organisation_ids
from courrier.delivery.models import OutboxMessage
from courrier.delivery.transports import open_maildir

_MAILDIR_NAME = re.compile(r"^(\d+)\.M(\d+)")


def delivery_time(key: str) -> tuple[int, int]:
    """Python's Maildir names start with seconds.M<microseconds>: newest first needs them as numbers."""
    match = _MAILDIR_NAME.match(key)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def readable_message_ids(user) -> set[str] | None:
    """The sandboxed messages a back-office user may read: None for all (superusers).

    The Maildir mixes every organisation's mail: managers read only their own
    campaigns' messages, found by Message-ID in the outbox; editors none, since
    these messages carry supporters' names and addresses.
    """
    if user.is_superuser:
        return None
    organisations = organisation_ids(user, MANAGER)
    if not organisations:
        raise PermissionDenied
    return set(
        OutboxMessage.objects.filter(sandbox=True, campaign__organisation_id__in=organisations).values_list(
            "message_id", flat=True
        )
    )


def sandbox_message(user, key: str) -> dict:
    """One sandboxed message the user may read: its headers and its text; Http404 otherwise."""
    box = open_maildir(settings.SANDBOX_MAILDIR)
    readable = readable_message_ids(user)
    try:
        raw = box.get_bytes(key)
    except KeyError:
        raise Http404 from None
    message = BytesParser(policy=policy.default).parsebytes(raw)
    if readable is not None and (message["Message-ID"] or "").strip() not in readable:
        raise Http404
    body = message.get_body(preferencelist=("plain",))
    return {"key": key, "headers": list(message.items()), "body": body.get_content() if body else ""}


def sandbox_page(user, page_number: str | None) -> dict:
    """The sandboxed messages the user may read, newest first, fifty a page: their headers."""
    box = open_maildir(settings.SANDBOX_MAILDIR)
    parser = BytesParser(policy=policy.default)
    readable = readable_message_ids(user)
    entries = sorted(box.keys(), key=delivery_time, reverse=True)
    if readable is not None:
        entries = [
            k
            for k in entries
            if (parser.parsebytes(box.get_bytes(k), headersonly=True)["Message-ID"] or "").strip() in readable
        ]
    page = Paginator(entries, 50).get_page(page_number)
    rows = []
    for entry_key in page:
        headers = parser.parsebytes(box.get_bytes(entry_key), headersonly=True)
        rows.append(
            {
                "key": entry_key,
                "from": headers["From"],
                "to": headers["To"],
                "cc": headers["Cc"],
                "subject": headers["Subject"],
                "date": headers["Date"],
            }
        )
    return {"rows": rows, "page": page}


def sandbox_mailbox(request: HttpRequest, key: str | None = None) -> HttpResponse:
    """Staff read what the sandbox 'sent': the newest first, one message in full on demand."""
    if key:
        context = sandbox_message(request.user, key)
        return TemplateResponse(request, "admin/sandbox_message.html", {**admin.site.each_context(request), **context})
    context = {**sandbox_page(request.user, request.GET.get("page")), "maildir": settings.SANDBOX_MAILDIR}
    return TemplateResponse(request, "admin/sandbox_list.html", {**admin.site.each_context(request), **context})
