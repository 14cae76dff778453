"""The signing forms' token: what stands in for a CSRF cookie on the campaign page and in the embedded form.

The campaign page sets no cookie (http/public_forms.py), and a browser does not send the site's SameSite=Lax
cookies to a frame embedded on another site anyway. So both signing forms carry a token signed with the
site's key, binding the campaign and the time the form was served. Nothing is stored.

This is enough because signing rides on no ambient authority: no session, no login, no cookie at all. A
forged POST can do nothing that its author could not do by filling the form; every signature still waits
for its owner's confirmation by e-mail. The token keeps forms from being posted at another campaign, and
scraped forms from being replayed after MAX_AGE, which is far longer than a shared cache keeps the page.
"""

import time

from django.core import signing

_SALT = "courrier.signatures.embed-form"  # kept as it was: tokens issued before still verify
MAX_AGE_SECONDS = 24 * 3600
# A token issued by another web process whose clock runs a little ahead is still fresh.
_CLOCK_SKEW_SECONDS = 60


def issue_form_token(campaign_id: int, issued_at: float | None = None) -> str:
    issued = int(time.time() if issued_at is None else issued_at)
    return signing.Signer(salt=_SALT).sign_object({"campaign": campaign_id, "issued": issued})


def check_form_token(token: str, campaign_id: int) -> None:
    """Raise signing.SignatureExpired when the form is too old, signing.BadSignature when it is not ours."""
    try:
        value = signing.Signer(salt=_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError):  # ValueError: a token that is not even base64 JSON
        raise signing.BadSignature("not a form token") from None
    if not isinstance(value, dict) or value.get("campaign") != campaign_id or not isinstance(value.get("issued"), int):
        raise signing.BadSignature("a token for another form")
    age = time.time() - value["issued"]
    if age > MAX_AGE_SECONDS:
        raise signing.SignatureExpired(f"form token issued {age:.0f} s ago")
    if age < -_CLOCK_SKEW_SECONDS:
        raise signing.BadSignature("a token from the future")
