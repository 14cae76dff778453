"""Security headers on every response: a Content-Security-Policy and a Permissions-Policy.

Pages load only what the site serves itself. Scripts never run inline (no
'unsafe-inline'), so a piece of text that slipped through escaping still
cannot run. Each response that renders a <script> tag also gets a fresh
nonce ('nonce-…' in script-src, `nonce="{{ csp_nonce }}"` on our tags): a tag
injected into the page cannot guess it. Our scripts are files, loaded from
'self', so the nonce is a second lock, not the only one; Django's admin loads
its scripts by src and works unchanged. Styles are held to the same rule:
Django's admin (5.2) has no inline style either.

Pages are not frameable (frame-ancestors 'none', next to Django's
X-Frame-Options: DENY) except the embeddable form, which sets its own policy
with `policy_for_frame_ancestors` and is exempt from X-Frame-Options, since
that header would override the list of allowed origins.

The header strings are built once: a response with no <script> tag costs a
few dictionary look-ups, and one that used the nonce a string replacement.

Responses that can show personal data get `Cache-Control: no-store`
(courrier/http/nostore.py), so neither a shared cache nor the browser's
history keeps them.
"""

import secrets
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from courrier.http.nostore import apply_no_store
from courrier.lib.origins import is_embed_origin

CSP_HEADER = "Content-Security-Policy"

_DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "object-src 'none'",
)
_BASE_POLICY = "; ".join(_DIRECTIVES)

# interest-cohort and browsing-topics: no ad-interest computation from visits to a political campaign.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), interest-cohort=(), browsing-topics=()"


def policy_for_frame_ancestors(origins: Iterable[str]) -> str:
    """The site's policy, with only these origins (already validated) allowed to frame the page."""
    allowed = " ".join(origin.lower() for origin in origins if is_embed_origin(origin)) or "'none'"
    return f"{_BASE_POLICY}; frame-ancestors {allowed}"


DEFAULT_POLICY = policy_for_frame_ancestors([])
_SCRIPT_SRC = "script-src 'self'"


class Nonce:
    """A request's script nonce, drawn the first time a template writes it (128 bits, url-safe)."""

    __slots__ = ("_value",)

    def __init__(self):
        self._value = ""

    def __str__(self) -> str:
        if not self._value:
            self._value = secrets.token_urlsafe(16)
        return self._value

    @property
    def used(self) -> bool:
        return bool(self._value)

    def reuse(self, value: str) -> None:
        """Send the nonce a kept page was rendered with (http/shared_cache.py), not a new one."""
        self._value = value


def with_nonce(policy: str, nonce: str) -> str:
    """`policy` with the nonce allowed in script-src, next to 'self'."""
    return policy.replace(_SCRIPT_SRC, f"{_SCRIPT_SRC} 'nonce-{nonce}'", 1)


def nonce_context(request: HttpRequest) -> dict:
    """Context processor: `csp_nonce`, for the nonce="…" of every <script> tag."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}


class SecurityHeadersMiddleware:
    """Adds the site's CSP, Permissions-Policy and X-Frame-Options to every response that has none of its own.

    Put it first in MIDDLEWARE so that it also covers responses made by other
    middleware (redirects to a language, static files, CSRF failures) and
    error pages. Django's XFrameOptionsMiddleware stays for `check --deploy`;
    this one covers the responses made outside it. A view marked
    @xframe_options_exempt (the embed pages) gets no X-Frame-Options from either.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.x_frame_options = getattr(settings, "X_FRAME_OPTIONS", "DENY")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nonce = request.csp_nonce = Nonce()
        response = self.get_response(request)
        headers = response.headers
        if CSP_HEADER not in headers:
            headers[CSP_HEADER] = DEFAULT_POLICY
        if nonce.used:
            headers[CSP_HEADER] = with_nonce(headers[CSP_HEADER], str(nonce))
        apply_no_store(request, response)
        if "Permissions-Policy" not in headers:
            headers["Permissions-Policy"] = PERMISSIONS_POLICY
        if "X-Frame-Options" not in headers and not getattr(response, "xframe_options_exempt", False):
            headers["X-Frame-Options"] = self.x_frame_options
        return response
