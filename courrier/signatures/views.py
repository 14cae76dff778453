import contextlib

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.views.decorators.http import require_http_methods

from courrier.campaigns.models import Campaign
from courrier.campaigns.views import public_campaigns, render_campaign_page
from courrier.lib.ratelimit import is_over_limit
from courrier.signatures.forms import SignatureForm
from courrier.signatures.models import Signature
from courrier.signatures.signable import insert_signature, signable_campaign
from courrier.signatures.tokens import read_confirmation_token


@require_http_methods(["GET", "POST"])
def sign(request: HttpRequest, slug: str) -> HttpResponse:
    if request.method == "GET":
        # Reached by the language switcher after a refused form, or a reload: back to the page.
        return redirect("campaign", slug=slug)
    campaign = signable_campaign(slug)
    if campaign is None:
        raise Http404
    if not campaign.is_open:
        return redirect("campaign", slug=slug)
    if is_over_limit("sign", request, settings.SIGNING_RATE_LIMIT):
        return render(request, "signatures/slow_down.html", {"campaign": get_campaign(slug)}, status=429)
    edited = None
    if request.POST.get("letter_body", "").strip():
        # Only a letter sent with its own text costs this read: a plain signature stays one INSERT.
        from courrier.campaigns.views import editable_letters

        edited = editable_letters(get_object_or_404(public_campaigns().prefetch_related("letters"), pk=campaign.pk))
    form = SignatureForm(
        request.POST,
        letter_languages=campaign.letter_languages,
        default_language=get_language(),
        editable_letters=edited,
        directory=campaign.directory,
        directory_fallback=campaign.directory_fallback,
    )
    if form.is_bot:
        return redirect("check_inbox", slug=slug)
    if not form.is_valid():
        return render_campaign_page(request, get_campaign(slug), form, status=400)
    record_signature(form.signature(campaign.pk, get_language()))
    return redirect("check_inbox", slug=slug)


def get_campaign(slug: str) -> Campaign:
    return get_object_or_404(public_campaigns(), slug=slug)


def record_signature(signature: Signature) -> None:
    """One INSERT. A repeat address is stored as a duplicate so the worker can tell its owner."""
    # Autocommit: one INSERT statement, no BEGIN/COMMIT around it holding SQLite's write
    # lock. Inside a caller's transaction, a savepoint keeps it usable after a conflict.
    guard = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    try:
        with guard:
            insert_signature(signature)
    except IntegrityError:
        # Keep nothing but what the "you already signed" e-mail needs.
        Signature.objects.create(
            campaign_id=signature.campaign_id,
            email=signature.email,
            language=signature.language,
            letter_language=signature.letter_language,
            is_duplicate=True,
        )


def check_inbox(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "signatures/check_inbox.html", {"campaign": get_campaign(slug)})


def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """A GET shows a button; only the POST confirms (mail scanners follow links)."""
    try:
        signature_id = read_confirmation_token(token)
    except signing.BadSignature:
        return render(request, "signatures/bad_link.html", status=400)
    signature = get_object_or_404(Signature.objects.select_related("campaign"), pk=signature_id, is_duplicate=False)
    if request.method == "POST" and not signature.is_confirmed:
        if not signature.campaign.is_open:
            return render(request, "signatures/closed.html", {"campaign": signature.campaign}, status=410)
        Signature.objects.filter(pk=signature.pk, confirmed_at__isnull=True).update(confirmed_at=timezone.now())
        return redirect("confirm", token=token)
    return render(
        request,
        "signatures/confirm.html",
        {"signature": signature, "campaign": signature.campaign, "delivery": delivery_state(signature)},
    )


def delivery_state(signature: Signature) -> str:
    """What the supporter may be told truthfully: unconfirmed, queued, delivered, or kept in the sandbox."""
    if not signature.is_confirmed:
        return "unconfirmed"
    from courrier.delivery.models import OutboxMessage

    letters = OutboxMessage.objects.filter(signature=signature, kind=OutboxMessage.Kind.LETTER)
    statuses = set(letters.values_list("status", flat=True))
    if statuses and statuses <= {OutboxMessage.Status.SENT}:
        return "sandbox" if letters.filter(sandbox=True).exists() else "delivered"
    if OutboxMessage.Status.FAILED in statuses:
        return "failed"
    return "queued"
