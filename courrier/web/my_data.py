"""See and erase one's data: the page every e-mail to a supporter links to, and the form that mails the link.

- `/<lang>/my-data/<token>/` shows plainly everything Courrier holds about one signature, where the name went,
  and when it will be erased; its button erases it at once (retention.erase_signature). Once erased, the link
  finds nothing, and answers like any link that does not work.
- `/<lang>/my-data/` takes an address and always answers the same, in content and in time: the request thread
  stores only the address's keyed digest and the page's language (DataRequest). The worker looks the address
  up (delivery/data_links.py) and mails one link per signature of it, at most one round per address per
  DATA_LINK_INTERVAL_MINUTES, within the daily cap on mail to an address.
"""

import datetime

from django import forms
from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language, gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from courrier.delivery import retention
from courrier.delivery.destinations import destinations
from courrier.http.public_forms import public_form
from courrier.lib.crypto import email_digest
from courrier.lib.ratelimit import is_over_limit
from courrier.signatures.models import SUPPORTER_FIELDS, DataRequest, Signature
from courrier.signatures.tokens import matches_stamp, read_my_data_token


class DataRequestForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("Your e-mail address"), max_length=254)


def signature_of(token: str) -> Signature | None:
    """The signature a see-and-erase link opens; None for every link that does not work, whatever the reason."""
    try:
        signature_id, stamp = read_my_data_token(token)
    except signing.BadSignature:
        return None
    signature = Signature.objects.select_related("campaign").openable().filter(pk=signature_id).first()
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


def page_context(signature: Signature) -> dict:
    campaign = signature.campaign
    return {
        "signature": signature,
        "campaign": campaign,
        "fields": shown_fields(signature),
        "destinations": destinations(signature),
        # The page's list of organisations, by its own rule (a letter held for review is not listed yet).
        "listed_publicly": Signature.objects.listed_organisations().filter(pk=signature.pk).exists(),
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
