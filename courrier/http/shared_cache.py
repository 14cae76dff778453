"""The public pages, kept: served from the site's own cache, and marked so a shared cache in front keeps them.

A campaign page, the home page and the own-mailbox page are the same for every visitor: they set no cookie
(http/public_forms.py) and show nobody's data. So a share that brings thousands of readers a minute costs
one rendering per page, language and minute:
- the site keeps each rendered page for PUBLIC_PAGE_SECONDS in its "pages" cache (one per process, or
  Redis when REDIS_URL is set) and serves it again without touching the database;
- the response says `Cache-Control: public` with the same shared lifetime and a longer
  stale-while-revalidate, so nginx, Varnish or a CDN in front serves it too, even while the site is busy.
The counter and an organiser's change therefore reach readers within about a minute. Every change made in
the back office also starts a new generation of kept pages at once (`forget_public_pages`), so an organiser
sees their own edit on the next load; without Redis the other web processes see it when their copy expires.

Only a GET answered 200 is kept; a refused form, a POST or a private page never is (http/nostore.py marks
those no-store, and this module leaves them alone). A page keeps the script nonce it was rendered with:
its Content-Security-Policy header is sent again with it (http/csp.py).
"""

import functools
import secrets
from collections.abc import Callable, Mapping
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse

GENERATION_KEY = "public-pages:generation"
# The headers a view sets that a kept page keeps: the embed's own Content-Security-Policy (its frame-ancestors;
# the nonce is added afterwards, by http/csp.py, to the kept one as to a new one).
_HEADERS_KEPT = ("Content-Type", "Content-Security-Policy", "X-Robots-Tag", "Link")


def cache_control() -> str:
    lifetime = settings.PUBLIC_PAGE_SECONDS
    return f"public, max-age={lifetime}, s-maxage={lifetime}, stale-while-revalidate={10 * lifetime}"


def pages():
    return caches["pages"]


def forget_public_pages() -> None:
    """Start a new generation of kept pages: the next reader of each page gets it rendered afresh."""
    pages().set(GENERATION_KEY, secrets.token_hex(8), timeout=None)


def page_key(request: HttpRequest, query: Mapping[str, Callable[[str], str]]) -> str:
    """The page's path and the query parameters that change it, each as the view reads it."""
    kept = sorted((name, read(request.GET.get(name, ""))) for name, read in query.items())
    return f"public-page:{request.path}?{urlencode(kept)}"


def public_page(*, query: Mapping[str, Callable[[str], str]] | None = None) -> Callable:
    """Keep this view's 200 answers to GET for PUBLIC_PAGE_SECONDS, here and in any shared cache in front.

    `query` maps each query parameter the page depends on (?src=qr, ?letter=ru) to the function the view
    reads it with, which turns any value it ignores into "": two addresses that read alike share one page.
    Other parameters are ignored, by the view and here.
    """
    query = dict(query or {})

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def kept(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in ("GET", "HEAD") or not settings.PUBLIC_PAGE_SECONDS:
                return view(request, *args, **kwargs)
            key = page_key(request, query)
            found = pages().get_many([key, GENERATION_KEY])
            generation = found.get(GENERATION_KEY, "")
            entry = found.get(key)
            if entry is not None and entry["generation"] == generation:
                return answer_from(request, entry)
            response = view(request, *args, **kwargs)
            if response.status_code == 200 and not response.streaming and not getattr(response, "no_store", False):
                nonce = getattr(request, "csp_nonce", None)  # drawn by http/csp.py's middleware, if it ran
                entry = {
                    "generation": generation,
                    "content": response.content,
                    "headers": {name: response[name] for name in _HEADERS_KEPT if name in response},
                    "nonce": str(nonce) if nonce is not None and nonce.used else "",
                }
                pages().set(key, entry, timeout=settings.PUBLIC_PAGE_SECONDS)
                response["Cache-Control"] = cache_control()
            return response

        return kept

    return decorate


def answer_from(request: HttpRequest, entry: dict) -> HttpResponse:
    response = HttpResponse(entry["content"])
    for name, value in entry["headers"].items():
        response[name] = value
    if entry["nonce"] and hasattr(request, "csp_nonce"):
        request.csp_nonce.reuse(entry["nonce"])
    response["Cache-Control"] = cache_control()
    return response
