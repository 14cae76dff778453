"""Signing: one flow for every form that takes a signature (the campaign page, the embed).

`sign()` takes the request's data and returns what happened; the views only choose how to show it.
In order: the rate limit, the form, the honeypot (a bot is answered as a signer, and nothing is kept), the
form's signed token, the proof of work, the form's own checks, then one INSERT. A repeat address is kept as
a duplicate (the worker tells its owner); a replayed proof is refused. A refused form comes back with
everything the supporter typed and the reason above the fields, so one more round trip fixes everything.
"""

import contextlib
from dataclasses import dataclass
from enum import Enum

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from courrier.campaigns.models import Campaign
from courrier.campaigns.open_campaigns import SignableCampaign
from courrier.lib import bursts, proof_of_work
from courrier.lib.form_tokens import check_form_token
from courrier.lib.ratelimit import is_over_limit
from courrier.signatures.forms import SignatureForm, signing_form
from courrier.signatures.models import Signature
from courrier.signatures.recording import write_signature

# A refused form token: the form comes back with everything typed, and a fresh token.
FORM_EXPIRED = _(
    "This form was open for too long, so it was not sent. Your answers are still here: check them and send again."
)
FORM_NOT_VERIFIED = _(
    "This form could not be verified, so it was not sent. Your answers are still here: check them and send again."
)
# A refused proof of work: the form comes back with everything typed, and the script solves a new challenge.
PROOF_EXPIRED = _(
    "The check that protects this form from robots expired, so your letter was not sent. "
    "Your answers are still here: send the form again."
)
PROOF_REFUSED = _(
    "The check that protects this form from robots failed, so your letter was not sent. "
    "Your answers are still here: send the form again."
)


class Result(Enum):
    SIGNED = "signed"  # stored (or a bot's, answered alike): on to "check your inbox"
    CLOSED = "closed"  # the campaign takes no signature now
    SLOW_DOWN = "slow_down"  # too many signatures from this network
    REFUSED = "refused"  # the form comes back, with its errors


@dataclass
class Outcome:
    result: Result
    form: SignatureForm | None = None  # REFUSED: the form to show again

    @property
    def status(self) -> int:
        return {Result.SLOW_DOWN: 429, Result.REFUSED: 400}.get(self.result, 200)


class ReplayedProof(Exception):
    """The proof of work sent with this signature was already used by another one."""


def sign(
    request: HttpRequest, campaign: SignableCampaign, source: str | None = None, letter_editing: bool = True
) -> Outcome:
    """Take the signature the request carries, for `campaign`.

    source: where it comes from (Signature.Source) when the form says nothing of it (the embed); the page's
    form says itself (the page, a QR code, a shared link). letter_editing: whether this form offers editing
    the whole letter (the embed does not).
    """
    if not campaign.is_open:
        return Outcome(Result.CLOSED)
    if is_over_limit("sign", request, settings.SIGNING_RATE_LIMIT):
        return Outcome(Result.SLOW_DOWN)
    allowed = letter_editing and campaign.allow_letter_editing
    # Only a letter sent with its own text costs a read of the model letters: a plain signature stays one INSERT.
    edited = model_letters(campaign) if allowed and request.POST.get("letter_body", "").strip() else None
    form = signing_form(campaign, request.POST, edited)
    if form.is_bot:
        return Outcome(Result.SIGNED)
    if refusal := form_token_refusal(request, campaign.pk):
        return refused(campaign, form, allowed, refusal)
    try:
        proof = proof_of_work.verify(request.POST.get(proof_of_work.FIELD, ""))
    except proof_of_work.InvalidProof as error:
        return refused(campaign, form, allowed, proof_refusal(error))
    if not form.is_valid():
        return refused(campaign, form, allowed)
    signature = form.signature(campaign.pk, get_language())
    if source is not None:
        signature.source = source
    try:
        record(signature, request, proof)
    except ReplayedProof:
        return refused(campaign, form, allowed, PROOF_REFUSED)
    return Outcome(Result.SIGNED)


def model_letters(campaign: SignableCampaign) -> dict[str, str] | None:
    found = Campaign.objects.public().prefetch_related("letters").filter(pk=campaign.pk).first()
    return found.editable_letters() if found is not None else None


def refused(campaign: SignableCampaign, form: SignatureForm, letter_editing: bool, message: str = "") -> Outcome:
    """The form to show again, with `message` above the fields' own errors.

    Shown again, a form that may edit the whole letter needs the model letters even when this request came
    without an edited letter (it was not read for a plain signature): the form is made again with them.
    """
    if letter_editing and form.editable_letters is None:
        form = signing_form(campaign, form.data, model_letters(campaign))
    form.is_valid()
    if message:
        form.add_error(None, message)
    return Outcome(Result.REFUSED, form)


def form_token_refusal(request: HttpRequest, campaign_id: int) -> str:
    """Why the signing form's token is refused ("" when it is good): too old, or not this form's."""
    try:
        check_form_token(request.POST.get("form_token", ""), campaign_id)
    except signing.SignatureExpired:
        return FORM_EXPIRED
    except signing.BadSignature:
        return FORM_NOT_VERIFIED
    return ""


def proof_refusal(refused: proof_of_work.InvalidProof) -> str:
    return PROOF_EXPIRED if isinstance(refused, proof_of_work.ExpiredProof) else PROOF_REFUSED


def record(signature: Signature, request: HttpRequest, proof: proof_of_work.Proof | None) -> None:
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
        write_signature(signature)


def duplicate_of(signature: Signature) -> Signature:
    """The row kept for a repeat address: nothing but what the "you already signed" e-mail needs.

    Written with the same prepared INSERT as a new signature, so a repeat address costs the same time.
    Its email_digest is computed from the address by the INSERT, as for a new signature.
    """
    return Signature(
        campaign_id=signature.campaign_id,
        email=signature.email,
        language=signature.language,
        letter_language=signature.letter_language,
        source=signature.source,
        is_duplicate=True,
        proof_digest=signature.proof_digest,
    )
