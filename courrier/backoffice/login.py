from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from courrier.accounts import audit, lockout, totp


def lockout_message() -> str:
    minutes = lockout.lockout_minutes()
    return ngettext(
        "Too many failed attempts for this account: it is locked for %(minutes)d minute. Try again after that.",
        "Too many failed attempts for this account: it is locked for %(minutes)d minutes. Try again after that.",
        minutes,
    ) % {"minutes": minutes}


def record_lockout(username: str) -> None:
    User = get_user_model()
    user = User._default_manager.filter(**{f"{User.USERNAME_FIELD}__iexact": username}).first()
    summary = gettext("Locked for %(minutes)d minutes after repeated failed attempts") % {
        "minutes": lockout.lockout_minutes()
    }
    # The locked account as the object; an unknown username (perhaps a mistyped password) is not written down.
    audit.record(None, audit.LOGIN_LOCKOUT, user, summary=summary)


class LockoutAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form: a username is refused for a while after repeated failures (see lockout.py)."""

    def clean(self):
        username = self.cleaned_data.get("username")
        if username and lockout.is_locked(username):
            raise ValidationError(lockout_message(), code="locked")
        try:
            cleaned_data = super().clean()
        except ValidationError as refusal:
            # A wrong password counts; a right one refused (an inactive account, an organiser here) does not.
            wrong_password = getattr(refusal, "code", None) == "invalid_login"
            if wrong_password and username and self.cleaned_data.get("password") and lockout.register_failure(username):
                record_lockout(username)
                raise ValidationError(lockout_message(), code="locked") from None
            raise
        if username:
            lockout.clear(username)
        return cleaned_data


class OperatorsLoginForm(LockoutAdminAuthenticationForm):
    """The admin's login: for the site's operators; an organiser is told where their own sign-in is."""

    error_messages = {
        **LockoutAdminAuthenticationForm.error_messages,
        "organiser": _("This sign-in is for the site's operators. Organisers sign in to the studio: %(address)s"),
    }

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not user.is_superuser:
            address = reverse("studio:sign_in")
            raise ValidationError(self.error_messages["organiser"], code="organiser", params={"address": address})


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code shown by the app"),
        max_length=20,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
                "size": 8,
                "spellcheck": "false",
            }
        ),
    )

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        if len(code) != totp.DIGITS or not code.isascii() or not code.isdigit():
            raise ValidationError(
                _("Type the %(digits)d digits the app shows, for example 123456."),
                code="format",
                params={"digits": totp.DIGITS},
            )
        return code
