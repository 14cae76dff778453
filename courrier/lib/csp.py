"""Security headers on every response: a Content-Security-Policy and a Permissions-Policy.

Pages load only what the site serves itself. Scripts never run inline (no
'unsafe-inline', no nonces), so a piece of text that slipped through escaping
still cannot run. Styles are held to the same rule: Django's admin (5.2) has no
inline style either.

Pages are not frameable (frame-ancestors 'none', next to Django's
X-Frame-Options: DENY) except the embeddable form, which sets its own policy
with `policy_for_frame_ancestors` and is exempt from X-Frame-Options, since
that header would override the list of allowed origins.

The header strings are built once, when the middleware is created: each
response costs two dictionary look-ups and, at most, two assignments.
"""

import re
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

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

# scheme://host[:port], nothing else: a space, a semicolon or a comma would change the policy's meaning.
_ORIGIN = re.compile(
    r"^(?P<scheme>https?)://(?P<host>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)"
    r"(?::(?P<port>[0-9]{1,5}))?$"
)
_LOCAL_HOSTS = ("localhost", "127.0.0.1")


def is_embed_origin(value: str) -> bool:
    """Whether `value` is an origin that may frame the form: https://host[:port] (http only on this machine)."""
    match = _ORIGIN.match(value.lower())
    if not match:
        return False
    if match["port"] and not 0 < int(match["port"]) < 65536:
        return False
    return match["scheme"] == "https" or match["host"] in _LOCAL_HOSTS


def policy_for_frame_ancestors(origins: Iterable[str]) -> str:
    """The site's policy, with only these origins (already validated) allowed to frame the page."""
    allowed = " ".join(origin.lower() for origin in origins if is_embed_origin(origin)) or "'none'"
    return f"{_BASE_POLICY}; frame-ancestors {allowed}"


DEFAULT_POLICY = policy_for_frame_ancestors([])


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
        response = self.get_response(request)
        headers = response.headers
        if CSP_HEADER not in headers:
            headers[CSP_HEADER] = DEFAULT_POLICY
        if "Permissions-Policy" not in headers:
            headers["Permissions-Policy"] = PERMISSIONS_POLICY
        if "X-Frame-Options" not in headers and not getattr(response, "xframe_options_exempt", False):
            headers["X-Frame-Options"] = self.x_frame_options
        return response
