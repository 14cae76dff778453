"""The second factor's pages: set up an authenticator app once, then type its code after each login."""

from urllib.parse import urlencode

import segno
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import logout
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from courrier.accounts import audit, lockout, totp
from courrier.accounts.models import TOTPDevice
from courrier.backoffice.login import CodeForm, lockout_message, record_lockout
from courrier.backoffice.middleware import confirmed_device, is_verified, mark_verified


def next_url(request: HttpRequest) -> str:
    """Where the admin wanted to go (a page of this site only), the back office's index otherwise."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("admin:index")


def with_next(url_name: str, request: HttpRequest) -> str:
    return f"{reverse(url_name)}?{urlencode({'next': next_url(request)})}"


def page_context(request: HttpRequest, title: str, form: CodeForm) -> dict:
    return {
        **admin.site.each_context(request),
        "title": title,
        "form": form,
        "next": next_url(request),
        # The list of models links to pages that would only send the user back here.
        "is_nav_sidebar_enabled": False,
        "available_apps": [],
    }


def qr_code_svg(device: TOTPDevice, account: str) -> str:
    uri = totp.provisioning_uri(device.secret, account, settings.SITE_NAME)
    title = _("QR code to scan with your authenticator app")
    # Dark on white whatever the admin's colour theme, so that every phone camera reads it.
    return segno.make(uri, error="m").svg_inline(
        scale=5, border=4, dark="#000", light="#fff", title=title, omitsize=True
    )


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def setup(request: HttpRequest) -> HttpResponse:
    """First login: show the secret (QR code and text) until a code from the app proves it was saved."""
    if confirmed_device(request.user):
        # Once confirmed, the secret is never shown again: a stolen password must not be enough to enrol a phone.
        return redirect(with_next("second_factor_verify", request))
    device, _created = TOTPDevice.objects.get_or_create(user=request.user, defaults={"secret": totp.generate_secret()})
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if accept_setup_code(request, device, form.cleaned_data["code"]):
            messages.success(request, _("Your second factor is set up. After each login, type a code from the app."))
            return HttpResponseRedirect(next_url(request))
        form.add_error("code", wrong_code_message())
    context = {
        **page_context(request, _("Set up your second factor"), form),
        "qr_code": qr_code_svg(device, request.user.get_username()),
        "secret": grouped(device.secret),
        "account": request.user.get_username(),
        "site_name": settings.SITE_NAME,
    }
    return TemplateResponse(request, "accounts/second_factor_setup.html", context)


def verify(request: HttpRequest) -> HttpResponse:
    """After each login: a code from the app, within a step of now, never one already used."""
    device = confirmed_device(request.user)
    if device is None:
        return redirect(with_next("second_factor_setup", request))
    if is_verified(request):
        return HttpResponseRedirect(next_url(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        outcome = check_login_code(request, device, form.cleaned_data["code"])
        if outcome == ACCEPTED:
            return HttpResponseRedirect(next_url(request))
        if outcome == LOCKED:
            return locked_out(request)
        form.add_error("code", code_refusal(outcome))
    return TemplateResponse(
        request, "accounts/second_factor_verify.html", page_context(request, _("Second factor"), form)
    )


def accept_setup_code(request: HttpRequest, device: TOTPDevice, code: str) -> bool:
    """The first code from a new authenticator app: right, it confirms the device and verifies the session."""
    step = totp.matching_step(device.secret, code)
    if step is None:
        return False
    device.confirmed_at, device.last_used_step = timezone.now(), step
    device.save(update_fields=["confirmed_at", "last_used_step"])
    mark_verified(request, device)
    audit.record(request.user, audit.SECOND_FACTOR_SET_UP, request.user)
    return True


ACCEPTED, REPLAYED, WRONG, LOCKED = "accepted", "replayed", "wrong", "locked"


def check_login_code(request: HttpRequest, device: TOTPDevice, code: str) -> str:
    """A code after a login, within a step of now and never one already used; wrong ones count towards the
    account's lockout like wrong passwords. Returns ACCEPTED (the session is verified), REPLAYED, WRONG or
    LOCKED (the caller ends the session)."""
    username = request.user.get_username()
    if lockout.is_locked(username):
        return LOCKED
    step = totp.matching_step(device.secret, code, device.last_used_step)
    # Compare-and-set: of two requests with the same code, only one moves the step forward.
    if step is not None and TOTPDevice.objects.filter(
        Q(last_used_step__isnull=True) | Q(last_used_step__lt=step), pk=device.pk
    ).update(last_used_step=step):
        mark_verified(request, device)
        lockout.clear(username)
        return ACCEPTED
    if totp.is_replayed(device.secret, code, device.last_used_step) or step is not None:
        return REPLAYED
    if lockout.register_failure(username):
        record_lockout(username)
        return LOCKED
    return WRONG


def code_refusal(outcome: str) -> str:
    if outcome == REPLAYED:
        return _("This code was already used. Wait for the app to show the next one.")
    return wrong_code_message()


def wrong_code_message() -> str:
    return _(
        "This code is not the one expected. Type the code the app shows now; if it is refused again, check that "
        "the phone's clock is set automatically."
    )


def locked_out(request: HttpRequest) -> HttpResponse:
    """Too many wrong codes count like wrong passwords: the account is locked and the session ends."""
    logout(request)
    messages.error(request, lockout_message())
    return redirect("admin:login")
