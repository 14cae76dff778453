"""Error pages that show nothing of the request.

Django's own handlers hand the template the path and the exception's text,
and the site's context processor links each language to the same address,
query string included. An error page may be reached through a mistyped or
forged address holding anything (a token, a name in a query): these handlers
render the page with no request data, and link each language to its home.
The 500 page is a static file (templates/500.html), rendered with no context at all.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language


def language_homes() -> list[dict]:
    current = get_language()
    return [
        {
            "code": code,
            "name": name,
            "url": f"/{code}/",
            "absolute_url": f"{settings.SITE_ROOT}/{code}/",
            "current": code == current,
        }
        for code, name in settings.LANGUAGES
    ]


def error_page(request: HttpRequest, template: str, status: int) -> HttpResponse:
    return render(request, template, {"languages": language_homes()}, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, "400.html", 400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, "403.html", 403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(request, "404.html", 404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: the reason is for the log, not the page."""
    return error_page(request, "403_csrf.html", 403)
