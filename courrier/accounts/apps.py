from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    """Organisations' people: memberships and roles, the second factor, login lockout, the audit log."""

    name = "courrier.accounts"
    verbose_name = _("Accounts and audit")
