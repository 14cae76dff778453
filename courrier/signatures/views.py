from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.views.decorators.http import require_POST

from courrier.campaigns.models import Campaign
from courrier.campaigns.views import public_campaigns, render_campaign_page
from courrier.lib.ratelimit import is_over_limit
from courrier.signatures.forms import SignatureForm
from courrier.signatures.models import Signature
from courrier.signatures.tokens import read_confirmation_token


@require_POST
def sign(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(public_campaigns(), slug=slug)
    if not campaign.is_open:
        return redirect(campaign)
    if is_over_limit("sign", request, settings.SIGNING_RATE_LIMIT):
        return render(request, "signatures/slow_down.html", {"campaign": campaign}, status=429)
    form = SignatureForm(request.POST, campaign=campaign, language=get_language())
    if form.is_bot:
        return redirect("check_inbox", slug=campaign.slug)
    if not form.is_valid():
        return render_campaign_page(request, campaign, form, status=400)
    record_signature(form.save(commit=False), campaign, get_language())
    return redirect("check_inbox", slug=campaign.slug)


def record_signature(signature: Signature, campaign: Campaign, language: str) -> None:
    """One INSERT. A repeat address is stored as a duplicate so the worker can tell its owner."""
    signature.campaign = campaign
    signature.language = language
    try:
        with transaction.atomic():
            signature.save()
    except IntegrityError:
        # Keep nothing but what the "you already signed" e-mail needs.
        Signature.objects.create(
            campaign=campaign,
            email=signature.email,
            language=language,
            letter_language=signature.letter_language,
            is_duplicate=True,
        )


def check_inbox(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(public_campaigns(), slug=slug)
    return render(request, "signatures/check_inbox.html", {"campaign": campaign})


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
