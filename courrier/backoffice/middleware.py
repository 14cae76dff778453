"""The second factor: no back-office page opens for a staff user until they typed a code in this session.

Personal data is on most admin pages (signatures, letters in the outbox, the
sandbox), so the rule covers every path under /admin/ except the login and
logout pages and the second factor's own pages. A first login goes to the
setup page; every later one to the page that asks for a code. The studio
(/<language>/studio/) asks for the same code on its own pages (courrier/studio/access.py).
"""

import functools
import re
from urllib.parse import urlencode

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from courrier.accounts.models import TOTPDevice
from courrier.backoffice.site import is_operator
from courrier.http.shared_cache import forget_public_pages

# The id of the device whose code was typed: a reset (a new device) ends every session verified with the old one.
SESSION_KEY = "accounts_second_factor_device"


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).first()


def is_verified(request: HttpRequest) -> bool:
    device_id = request.session.get(SESSION_KEY)
    if device_id is None:
        return False
    return TOTPDevice.objects.filter(pk=device_id, user=request.user, confirmed_at__isnull=False).exists()


def mark_verified(request: HttpRequest, device: TOTPDevice) -> None:
    request.session.cycle_key()  # more rights, new session id
    request.session[SESSION_KEY] = device.pk


@functools.cache
def admin_paths() -> tuple[str, tuple[str, ...]]:
    """The admin's prefix, and the paths under it that open without the second factor."""
    exempt = (reverse("admin:login"), reverse("admin:logout"), reverse("second_factor_verify"))
    return reverse("admin:index"), exempt


# The organisers' studio, in each language: /fr/studio/, /kk/studio/…
STUDIO_PATH = re.compile(r"^/[a-z]{2}(?:-[a-z0-9]+)?/studio/")


def is_admin(request: HttpRequest) -> bool:
    return request.path.startswith(admin_paths()[0])


def is_back_office(request: HttpRequest) -> bool:
    """The admin or the studio: the pages of signed-in users, with a session."""
    return is_admin(request) or STUDIO_PATH.match(request.path) is not None


class BackOfficeOnly:
    """Middleware that only the back office uses (sessions, logged-in users, messages), skipped elsewhere.

    No public page reads a session, a user or a message: supporters sign
    without an account. Skipping the three on those pages saves part of
    every signature's CPU during a spike, and keeps the public pages from
    ever setting a session cookie. Django's admin checks accept these
    subclasses as the middleware they require.
    """

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_back_office(request):
            return super().__call__(request)
        return self.get_response(request)


class BackOfficeSessionMiddleware(BackOfficeOnly, SessionMiddleware):
    pass


class BackOfficeAuthenticationMiddleware(BackOfficeOnly, AuthenticationMiddleware):
    pass


class BackOfficeMessageMiddleware(BackOfficeOnly, MessageMiddleware):
    pass


class OrganiserChangesMiddleware:
    """Whatever an organiser saves in the admin or the studio shows on the public pages at the next load: each
    POST there that saved (answered, as every save is, by a redirect) starts a new generation of kept pages
    (http/shared_cache.py). A POST answered in place saved nothing: a form sent back with its errors, the
    letter checker read as one types, a file downloaded."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method == "POST" and 300 <= response.status_code < 400 and is_back_office(request):
            forget_public_pages()
        return response


class SecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.needs_second_factor(request):
            return redirect_to_second_factor(request)
        return self.get_response(request)

    def needs_second_factor(self, request: HttpRequest) -> bool:
        _prefix, exempt = admin_paths()
        if not is_admin(request) or request.path.startswith(exempt):
            return False
        user = request.user
        if not is_operator(user):
            return False  # the admin sends anybody else to its login page, and organisers on to the studio
        return not is_verified(request)


def redirect_to_second_factor(request: HttpRequest) -> HttpResponseRedirect:
    name = "second_factor_verify" if confirmed_device(request.user) else "second_factor_setup"
    return HttpResponseRedirect(f"{reverse(name)}?{urlencode({'next': request.get_full_path()})}")
