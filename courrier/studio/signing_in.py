"""Signing in to the studio: password (with the account lockout), the second factor, one's own address.

The same accounts, lockout and authenticator codes as the operators' admin
(courrier/backoffice/login.py and second_factor.py decide; these are the
studio's pages for them, in the organiser's language).
"""

from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from courrier.accounts import totp
from courrier.accounts.models import TOTPDevice
from courrier.accounts.roles import is_back_office_user
from courrier.backoffice.login import CodeForm, LockoutAdminAuthenticationForm, lockout_message
from courrier.backoffice.middleware import confirmed_device, is_verified
from courrier.backoffice.second_factor import (
    ACCEPTED,
    LOCKED,
    accept_setup_code,
    check_login_code,
    code_refusal,
    grouped,
    qr_code_svg,
    wrong_code_message,
)
from courrier.studio.access import next_step


class SignInForm(LockoutAdminAuthenticationForm):
    error_messages = {
        **LockoutAdminAuthenticationForm.error_messages,
        "invalid_login": gettext_lazy(
            "This name and password do not match an organiser's account. Both are case-sensitive."
        ),
        "inactive": gettext_lazy("This account is switched off. Ask the person who invited you."),
    }


class AddressForm(forms.Form):
    email = forms.EmailField(
        label=gettext_lazy("Your e-mail address"),
        max_length=254,
        help_text=gettext_lazy("Tests of your campaigns and alerts are sent here. Supporters never see it."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


def next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ) and candidate.startswith("/"):
        return candidate
    return reverse("studio:home")


def go_on(request: HttpRequest) -> HttpResponse:
    """To the next page a member must see, or to the page they asked for."""
    step = next_step(request)
    if step is not None:
        return HttpResponseRedirect(f"{reverse(step)}?{urlencode({'next': next_url(request)})}")
    return HttpResponseRedirect(next_url(request))


def sign_in(request: HttpRequest) -> HttpResponse:
    if is_back_office_user(request.user):
        return go_on(request)
    form = SignInForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        login(request, form.get_user())
        return go_on(request)
    return render(request, "studio/sign_in.html", {"form": form, "next": next_url(request)})


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("studio:sign_in")


def second_factor_setup(request: HttpRequest) -> HttpResponse:
    """First sign-in: the secret (QR code and text) until a code from the app proves it was saved."""
    if not is_back_office_user(request.user):
        return redirect("studio:sign_in")
    if confirmed_device(request.user):
        # Once confirmed, the secret is never shown again: a stolen password must not be enough to enrol a phone.
        return go_on(request)
    device, _created = TOTPDevice.objects.get_or_create(user=request.user, defaults={"secret": totp.generate_secret()})
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if accept_setup_code(request, device, form.cleaned_data["code"]):
            return go_on(request)
        form.add_error("code", wrong_code_message())
    context = {
        "form": form,
        "next": next_url(request),
        "qr_code": qr_code_svg(device, request.user.get_username()),
        "secret": grouped(device.secret),
        "account": request.user.get_username(),
        "site_name": settings.SITE_NAME,
    }
    return render(request, "studio/second_factor_setup.html", context)


def second_factor_verify(request: HttpRequest) -> HttpResponse:
    if not is_back_office_user(request.user):
        return redirect("studio:sign_in")
    device = confirmed_device(request.user)
    if device is None or is_verified(request):
        return go_on(request)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        outcome = check_login_code(request, device, form.cleaned_data["code"])
        if outcome == ACCEPTED:
            return go_on(request)
        if outcome == LOCKED:
            logout(request)
            return render(request, "studio/sign_in.html", {"form": SignInForm(request), "locked": lockout_message()})
        form.add_error("code", code_refusal(outcome))
    return render(request, "studio/second_factor_verify.html", {"form": form, "next": next_url(request)})


def my_address(request: HttpRequest) -> HttpResponse:
    """Asked once, at the first sign-in: where the organiser's tests and alerts go."""
    if not is_back_office_user(request.user) or not is_verified(request):
        return go_on(request)
    form = AddressForm(request.POST or None, initial={"email": request.user.email})
    if request.method == "POST" and form.is_valid():
        request.user.email = form.cleaned_data["email"]
        request.user.save(update_fields=["email"])
        return go_on(request)
    return render(request, "studio/my_address.html", {"form": form, "next": next_url(request)})
