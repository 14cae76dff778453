"""See and erase one's data: the page every e-mail to a supporter links to, and the form that mails the link.

- `/<lang>/my-data/<token>/` shows plainly everything Courrier holds about one signature, where the name went,
  and when it will be erased; its button erases it at once (retention.erase_signature). Once erased, the link
  finds nothing, and answers like any link that does not work.
- `/<lang>/my-data/` takes an address and always answers the same, in content and in time: the request thread
  stores only the address's keyed digest and the page's language (DataRequest). The worker looks the address
  up (queue_data_links) and mails one link per signature of it, at most one round per address per
  DATA_LINK_INTERVAL_MINUTES, within the daily cap on mail to an address.
"""

import datetime
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from courrier.campaigns.models import Target
from courrier.delivery.models import DigestEntry, OutboxMessage, Recipient
from courrier.lib.crypto import email_digest
from courrier.lib.public_forms import public_form
from courrier.lib.ratelimit import is_over_limit
from courrier.signatures import retention
from courrier.signatures.models import SUPPORTER_FIELDS, DataRequest, Signature
from courrier.signatures.tokens import matches_stamp, my_data_url, read_my_data_token

BATCH = 200
Status = OutboxMessage.Status


class DataRequestForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("Your e-mail address"), max_length=254)


def signature_of(token: str) -> Signature | None:
    """The signature a see-and-erase link opens; None for every link that does not work, whatever the reason."""
    try:
        signature_id, stamp = read_my_data_token(token)
    except signing.BadSignature:
        return None
    signature = (
        Signature.objects.select_related("campaign")
        .filter(pk=signature_id, is_duplicate=False, anonymised_at=None)
        .first()
    )
    if signature is None or not matches_stamp(signature, stamp):
        return None
    return signature


def bad_link(request: HttpRequest) -> HttpResponse:
    return render(request, "signatures/my_data_bad_link.html", status=400)


@never_cache
@public_form  # the link's token is the secret; the Origin check keeps other sites from posting it
@require_http_methods(["GET", "POST"])
def my_data(request: HttpRequest, token: str) -> HttpResponse:
    """A GET shows the data (mail scanners open links); only the POST, with its CSRF token, erases."""
    signature = signature_of(token)
    if signature is None:
        return bad_link(request)
    if request.method == "POST":
        retention.erase_signature(signature)
        return redirect("my_data_erased")
    return render(request, "signatures/my_data.html", page_context(signature))


@never_cache
def erased(request: HttpRequest) -> HttpResponse:
    return render(request, "signatures/my_data_erased.html")


@never_cache
@public_form
@require_http_methods(["GET", "POST"])
def request_link(request: HttpRequest) -> HttpResponse:
    """The public form. The same page whether the address signed or not: the worker finds out, later."""

    def page(status: int = 200, **context) -> HttpResponse:
        context = {"confirmation_days": settings.CONFIRMATION_MAX_AGE_DAYS, **context}
        return render(request, "signatures/my_data_request.html", context, status=status)

    if request.method == "GET":
        return page(form=DataRequestForm())
    if is_over_limit("my-data", request, settings.MY_DATA_RATE_LIMIT):
        return page(429, form=DataRequestForm(), slow_down=True)
    form = DataRequestForm(request.POST)
    if not form.is_valid():
        return page(400, form=form)
    DataRequest.objects.create(email_digest=email_digest(form.cleaned_data["email"]), language=get_language())
    return page(requested=True)


# What the page shows


@dataclass
class Destination:
    """One recipient of the supporter's letter, and what became of the letter there."""

    target: Target
    state: str
    at: datetime.datetime | None = None


def page_context(signature: Signature) -> dict:
    campaign = signature.campaign
    return {
        "signature": signature,
        "campaign": campaign,
        "fields": shown_fields(signature),
        "destinations": destinations(signature),
        "listed_publicly": bool(
            signature.consent_list_organisation and signature.organisation and signature.is_confirmed
        ),
        "deleted_on": None
        if signature.is_confirmed
        else signature.created_at + datetime.timedelta(days=settings.CONFIRMATION_MAX_AGE_DAYS),
        "erased_on": retention.erasure_date(campaign),
        "outbox_days": settings.OUTBOX_ERASE_AFTER_DAYS,
        "link_days": settings.MY_DATA_LINK_MAX_AGE_DAYS,
    }


def shown_fields(signature: Signature) -> list[tuple[str, str]]:
    """Every field that describes the supporter, labelled as the form labels it, empty ones included."""
    names = [name for name in SUPPORTER_FIELDS if name != "letter_body"]  # the letter only if they wrote one
    rows = [(Signature._meta.get_field(name).verbose_name, getattr(signature, name)) for name in names]
    if signature.letter_body:
        rows.append((Signature._meta.get_field("letter_body").verbose_name, signature.letter_body))
    if signature.directory_country:
        rows.append((Signature._meta.get_field("directory_country").verbose_name, signature.directory_country))
    rows += [
        (Signature._meta.get_field("language").verbose_name, signature.get_language_display()),
        (Signature._meta.get_field("letter_language").verbose_name, signature.get_letter_language_display()),
        (Signature._meta.get_field("source").verbose_name, signature.get_source_display()),
    ]
    if signature.moderation != Signature.Moderation.NONE:
        rows.append((Signature._meta.get_field("moderation").verbose_name, signature.get_moderation_display()))
    return [(str(label), value) for label, value in rows]


def destinations(signature: Signature) -> list[Destination]:
    """Each recipient of the letter, with what became of it there (sent, listed in a digest, waiting...).

    Once the letter is written, its recipients are those it was written for (its outbox rows and digest
    entries), not the campaign's targets as they are today; before that, the targets it will go to.
    """
    from courrier.delivery.enqueue import letter_recipients

    if not signature.consent_send or not signature.is_confirmed or signature.letters_queued_at is None:
        to_targets, cc_targets = letter_recipients(signature)
        state = "queued" if signature.consent_send and signature.is_confirmed else "not_sent"
        return [Destination(target, state) for target in [*to_targets, *cc_targets]]
    found = []
    letters = OutboxMessage.objects.filter(signature=signature, kind=OutboxMessage.Kind.LETTER)
    for letter in letters.prefetch_related("recipients_of__target"):
        found += [letter_destination(row, letter) for row in letter.recipients_of.all()]
    for entry in DigestEntry.objects.filter(signature=signature).select_related("target", "digest"):
        found.append(digest_destination(entry))
    return found


def digest_destination(entry: DigestEntry) -> Destination:
    if entry.cancelled_at is not None:
        return Destination(entry.target, "cancelled")
    if entry.digest is not None and entry.digest.status == Status.SENT:
        return Destination(entry.target, "sandbox" if entry.digest.sandbox else "digest", entry.digest.sent_at)
    return Destination(entry.target, "queued")


def letter_destination(row: Recipient, letter: OutboxMessage) -> Destination:
    """What became of the letter at one of its recipients: that recipient's own answer, or, while it waits,
    the letter's (cancelled, or failed as a whole)."""
    if row.status == Recipient.Status.SENT:
        return Destination(row.target, "sandbox" if letter.sandbox else "sent", row.sent_at)
    if row.status == Recipient.Status.FAILED:
        return Destination(row.target, "failed")
    if letter.status in (Status.FAILED, Status.CANCELLED):
        return Destination(row.target, letter.status)
    return Destination(row.target, "queued")


# The worker's side


def queue_data_links(now: datetime.datetime | None = None) -> int:
    """Turn the stored requests into one DATA_LINK mail per signature of each address; returns how many."""
    from courrier.delivery import enqueue

    now = now or timezone.now()
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
        signatures = Signature.objects.filter(
            email_digest__in=wanted, is_duplicate=False, anonymised_at__isnull=True
        ).select_related("campaign")
        messages = [data_link_message(s, languages[s.email_digest]) for s in signatures]
        # Beyond the address's daily cap a link waits for its turn.
        messages = enqueue.schedule_within_daily_cap(enqueue.stamped(messages, now), now)
        OutboxMessage.objects.bulk_create(messages)
        DataRequest.objects.filter(pk__in=[request.pk for request in requests]).delete()
    return len(messages)


def data_link_message(signature: Signature, language: str) -> OutboxMessage:
    from courrier.delivery import enqueue
    from courrier.lib import emails

    campaign = signature.campaign
    subject, body = emails.data_link(
        language,
        campaign.text_for(language).title,
        my_data_url(signature, language),
        settings.MY_DATA_LINK_MAX_AGE_DAYS,
    )
    return enqueue.supporter_message(OutboxMessage.Kind.DATA_LINK, signature, subject, body)
