import contextlib
import functools

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from courrier.campaigns.models import Campaign
from courrier.campaigns.views import public_campaigns, render_campaign_page
from courrier.lib import bursts, proof_of_work
from courrier.lib.form_tokens import check_form_token
from courrier.lib.public_forms import public_form
from courrier.lib.ratelimit import is_over_limit
from courrier.signatures.forms import SignatureForm
from courrier.signatures.models import Signature
from courrier.signatures.my_data import destinations
from courrier.signatures.signable import insert_signature, signable_campaign
from courrier.signatures.tokens import read_confirmation_token


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
        return to_check_inbox(slug)
    token_refusal = form_token_refusal(request, campaign.pk)
    if token_refusal:
        return render_campaign_page(request, get_campaign(slug), refused(form, token_refusal), status=400)
    try:
        proof = proof_of_work.verify(request.POST.get(proof_of_work.FIELD, ""))
    except proof_of_work.InvalidProof as error:
        return render_campaign_page(request, get_campaign(slug), refused(form, proof_refusal(error)), status=400)
    if not form.is_valid():
        return render_campaign_page(request, get_campaign(slug), form, status=400)
    try:
        record_signature(form.signature(campaign.pk, get_language()), request, proof)
    except ReplayedProof:
        return render_campaign_page(request, get_campaign(slug), refused(form, PROOF_REFUSED), status=400)
    return to_check_inbox(slug)


# A refused form token: the form comes back with everything typed, and a fresh token.
FORM_EXPIRED = _(
    "This form was open for too long, so it was not sent. Your answers are still here: check them and send again."
)
FORM_NOT_VERIFIED = _(
    "This form could not be verified, so it was not sent. Your answers are still here: check them and send again."
)


def form_token_refusal(request: HttpRequest, campaign_id: int) -> str:
    """Why the signing form's token is refused ("" when it is good): too old, or not this form's."""
    try:
        check_form_token(request.POST.get("form_token", ""), campaign_id)
    except signing.SignatureExpired:
        return FORM_EXPIRED
    except signing.BadSignature:
        return FORM_NOT_VERIFIED
    return ""


# A refused proof of work: the form comes back with everything typed, and the script solves a new challenge.
PROOF_EXPIRED = _(
    "The check that protects this form from robots expired, so your letter was not sent. "
    "Your answers are still here: send the form again."
)
PROOF_REFUSED = _(
    "The check that protects this form from robots failed, so your letter was not sent. "
    "Your answers are still here: send the form again."
)


class ReplayedProof(Exception):
    """The proof of work sent with this signature was already used by another one."""


def proof_refusal(refused: proof_of_work.InvalidProof) -> str:
    return PROOF_EXPIRED if isinstance(refused, proof_of_work.ExpiredProof) else PROOF_REFUSED


def refused(form: SignatureForm, message: str) -> SignatureForm:
    """The form to show again, with `message` above the fields' own errors: one more round trip fixes everything."""
    form.is_valid()
    form.add_error(None, message)
    return form


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
    return get_object_or_404(public_campaigns(), slug=slug)


def record_signature(signature: Signature, request: HttpRequest, proof: proof_of_work.Proof | None) -> None:
    """One INSERT, with the proof's digest and, for one of a burst from one network, the quarantine.

    A repeat address is stored as a duplicate so the worker can tell its owner; raises
    ReplayedProof when the proof of work was already used (the unique proof_digest refused it).
    """
    signature.proof_digest = proof.digest if proof else None
    # Counted for every valid signature, new address or not, so both answer alike (and in the same time).
    if bursts.is_burst(request, proven=proof is not None):
        signature.moderation = Signature.Moderation.BURST
        signature.moderation_reason = bursts.reason(proven=proof is not None)
        signature.moderation_rules = bursts.RULE
    try:
        insert_once(signature)
    except IntegrityError:
        # Either the address already signed, or the proof was replayed: the duplicate row tells
        # them apart with no extra query, since only its proof_digest can conflict.
        try:
            insert_once(duplicate_of(signature))
        except IntegrityError:
            raise ReplayedProof from None


def insert_once(signature: Signature) -> None:
    # Autocommit: one INSERT statement, no BEGIN/COMMIT around it holding SQLite's write
    # lock. Inside a caller's transaction, a savepoint keeps it usable after a conflict.
    guard = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    with guard:
        insert_signature(signature)


def duplicate_of(signature: Signature) -> Signature:
    """The row kept for a repeat address: nothing but what the "you already signed" e-mail needs.

    Written with the same prepared INSERT as a new signature, so a repeat address costs the same time.
    """
    duplicate = Signature(
        campaign_id=signature.campaign_id,
        email=signature.email,
        language=signature.language,
        letter_language=signature.letter_language,
        source=signature.source,
        is_duplicate=True,
        proof_digest=signature.proof_digest,
    )
    return duplicate  # its email_digest is computed from the address by the INSERT, as for a new signature


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
    signature = (
        Signature.objects.select_related("campaign")
        .filter(pk=signature_id, is_duplicate=False, anonymised_at=None)
        .first()
    )
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
    from courrier.delivery.models import OutboxMessage

    letters = OutboxMessage.objects.filter(signature=signature, kind=OutboxMessage.Kind.LETTER)
    statuses = set(letters.values_list("status", flat=True))
    if statuses and statuses <= {OutboxMessage.Status.SENT}:
        return "sandbox" if letters.filter(sandbox=True).exists() else "delivered"
    if OutboxMessage.Status.FAILED in statuses:
        return "failed"
    return "queued"
