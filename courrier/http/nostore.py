"""`Cache-Control: no-store` on every response that can show someone's personal data.

A page kept by a shared cache (a proxy, a CDN) or in the browser's history
on a shared computer would show a supporter's name, address or letter to the
next person. Public campaign pages stay cacheable.

Two rules, applied by SecurityHeadersMiddleware (courrier/http/csp.py) to
every response, so that a new view is covered before anyone thinks of it:
- any answer to a request that is not GET or HEAD: a form sent back with its
  errors shows what was typed (the signing form, the embedded form);
- any response under the private paths below: the whole back office, the
  confirmation, follow-up and my-data pages (by their token), one-click unsubscribe,
  the signing and check-your-inbox pages, the embedded form's answers.
A view elsewhere that shows personal data says so with @no_store.
"""

import functools
import re
from collections.abc import Callable
from typing import ParamSpec

from django.http import HttpRequest, HttpResponse

# An optional language prefix (/fr/, /pt-br/), then a private place.
PRIVATE_PATH = re.compile(
    r"^/(?:admin/"
    r"|(?:[a-z]{2}(?:-[a-z0-9]+)?/)?"
    r"(?:studio/|confirm/|follow-up/|my-data/|news/unsubscribe/|c/[^/]+/(?:sign|check-your-inbox)/|embed/[^/]+/sign/))"
)
_SAFE_METHODS = frozenset({"GET", "HEAD"})
P = ParamSpec("P")


def is_private(request: HttpRequest, response: HttpResponse) -> bool:
    return (
        getattr(response, "no_store", False)
        or request.method not in _SAFE_METHODS
        or PRIVATE_PATH.match(request.path_info) is not None
    )


def mark_no_store(response: HttpResponse) -> HttpResponse:
    response.no_store = True
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"  # HTTP/1.0 caches
    response.headers.pop("Expires", None)
    return response


def apply_no_store(request: HttpRequest, response: HttpResponse) -> None:
    if is_private(request, response):
        mark_no_store(response)


def no_store(view: Callable[P, HttpResponse]) -> Callable[P, HttpResponse]:
    """A view whose responses may show personal data: never stored by a cache or the browser."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        return mark_no_store(view(*args, **kwargs))

    return wrapper
