import functools

from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from courrier.campaigns.models import Campaign
from courrier.campaigns.open_campaigns import signable_campaign
from courrier.delivery.destinations import destinations
from courrier.delivery.models import OutboxMessage
from courrier.http.public_forms import public_form
from courrier.lib import proof_of_work
from courrier.signatures import signing as signing_flow
from courrier.signatures.models import Signature
from courrier.signatures.signing import Result
from courrier.signatures.tokens import read_confirmation_token
from courrier.web.campaign_pages import render_campaign_page


@public_form  # no CSRF cookie on the campaign page: the signed form token and the Origin check instead
@require_http_methods(["GET", "POST"])
@sensitive_post_parameters()  # an error report shows no value the supporter typed
def sign(request: HttpRequest, slug: str) -> HttpResponse:
    if request.method == "GET":
        # Reached by the language switcher after a refused form, or a reload: back to the page.
        return redirect("campaign", slug=slug)
    campaign = signable_campaign(slug)
    if campaign is None:
        raise Http404
    outcome = signing_flow.sign(request, campaign)
    if outcome.result is Result.CLOSED:
        return redirect("campaign", slug=slug)
    if outcome.result is Result.SLOW_DOWN:
        return render(request, "signatures/slow_down.html", {"campaign": get_campaign(slug)}, status=outcome.status)
    if outcome.result is Result.REFUSED:
        return render_campaign_page(request, get_campaign(slug), outcome.form, status=outcome.status)
    return to_check_inbox(slug)


@require_GET
def proof_challenge(request: HttpRequest) -> JsonResponse:
    """A fresh proof-of-work challenge for the signing forms: no database, no cookie, never cached."""
    response = JsonResponse(proof_of_work.new_challenge())
    response["Cache-Control"] = "no-store"
    return response


@functools.lru_cache(maxsize=1024)
def check_inbox_url(language: str, slug: str) -> str:
    return reverse("check_inbox", kwargs={"slug": slug})  # the active language is the prefix


def to_check_inbox(slug: str) -> HttpResponseRedirect:
    """Where every signing POST ends, bot or not: the URL reversed once per language and campaign."""
    return HttpResponseRedirect(check_inbox_url(get_language(), slug))


def get_campaign(slug: str) -> Campaign:
    return get_object_or_404(Campaign.objects.public(), slug=slug)


def check_inbox(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "signatures/check_inbox.html", {"campaign": get_campaign(slug)})


@public_form  # the link's token is the secret; the Origin check keeps other sites from posting it
@never_cache
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """A GET shows a button; only the POST confirms (mail scanners follow links).

    Once used, the link only shows where the letter is, nothing personal. A link that does not work, whatever
    the reason (forged, expired, or its signature deleted or erased since), gets the same page and status.
    """
    try:
        signature_id = read_confirmation_token(token)
    except signing.BadSignature:
        return render(request, "signatures/bad_link.html", status=400)
    signature = Signature.objects.select_related("campaign").openable().filter(pk=signature_id).first()
    if signature is None:
        return render(request, "signatures/bad_link.html", status=400)
    if request.method == "POST" and not signature.is_confirmed:
        if not signature.campaign.is_open:
            return render(request, "signatures/closed.html", {"campaign": signature.campaign}, status=410)
        Signature.objects.filter(pk=signature.pk, confirmed_at__isnull=True).update(confirmed_at=timezone.now())
        return redirect("confirm", token=token)
    return render(
        request,
        "signatures/confirm.html",
        {
            "signature": signature,
            "campaign": signature.campaign,
            "delivery": delivery_state(signature),
            # Each recipient on its own: the embassy may have the letter while a copy was refused.
            "destinations": destinations(signature) if signature.letters_queued_at else [],
        },
    )


def delivery_state(signature: Signature) -> str:
    """What the supporter may be told truthfully: unconfirmed, queued, delivered, or kept in the sandbox."""
    if not signature.is_confirmed:
        return "unconfirmed"
    letters = OutboxMessage.objects.first_letters().filter(signature=signature)
    statuses = set(letters.values_list("status", flat=True))
    if statuses and statuses <= {OutboxMessage.Status.SENT}:
        return "sandbox" if letters.filter(sandbox=True).exists() else "delivered"
    if OutboxMessage.Status.FAILED in statuses:
        return "failed"
    return "queued"
