"""Forms on the public pages, without a cookie: what stands in for Django's CSRF cookie there.

The public pages are the same for every visitor and set no cookie (a cookie on a seized phone shows the
visit, and a page with one cannot be kept by a shared cache). So their forms carry no CSRF token. None of
them rides on an ambient authority either: no session, no login; whoever forges a POST could as well
fill the form in themselves, and every signature still waits for its owner's confirmation by e-mail.
What is checked instead:
- the POST comes from a page of this site: its Origin header, or its Referer when a browser sends no Origin,
  names this site (the request's own origin or SITE_ROOT's). A request with neither is not a browser's, and
  could forge both anyway: it is let through to the other checks;
- the signing form carries a signed token bound to its campaign (lib/form_tokens.py), and a proof of work;
- the other forms act on a secret in their URL (a confirmation or my-data link) or on nothing at all.
"""

import contextlib
import functools
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from courrier.http.error_pages import csrf_failure


@functools.lru_cache(maxsize=16)
def _root_origin(site_root: str) -> str:
    return origin_of(site_root)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def is_site_origin(request: HttpRequest, origin: str) -> bool:
    """SITE_ROOT's origin, or the request's own. SITE_ROOT's is tried first: it is what a browser sends on
    the public site, and finding the request's own validates its Host, which cost more than the rest."""
    if origin == _root_origin(settings.SITE_ROOT):
        return True
    with contextlib.suppress(DisallowedHost):  # a Host that is not ours: only SITE_ROOT is
        return origin == f"{request.scheme}://{request.get_host()}".lower()
    return False


def is_from_this_site(request: HttpRequest) -> bool:
    """Whether a POST was sent by a page of this site, as far as the browser says (see the module's text)."""
    origin = request.META.get("HTTP_ORIGIN")
    if origin is not None:
        return is_site_origin(request, origin.lower())  # "null" (a sandboxed or privacy-stripped page) is not
    referer = request.META.get("HTTP_REFERER")
    if referer is not None:
        return is_site_origin(request, origin_of(referer))
    return True


def public_form(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For a public view with a form: no CSRF cookie, a POST from another site answered 403."""

    @functools.wraps(view)
    def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "POST" and not is_from_this_site(request):
            return csrf_failure(request, "the form was sent from another site")
        return view(request, *args, **kwargs)

    return csrf_exempt(checked)
