from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from courrier.db.fields import EncryptedCharField


class Organisation(models.Model):
    """The group that runs campaigns (not the organisations supporters sign for)."""

    name = models.CharField(_("name"), max_length=200)
    website = models.URLField(_("website"), blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)

    class Meta:
        # The table keeps the name it had when organisations lived in campaigns (accounts' migration 0005).
        db_table = "campaigns_organisation"
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A back-office user's place in an organisation: what they may see and do comes from here alone."""

    class Role(models.TextChoices):
        EDITOR = "editor", _("Editor: writes campaigns")
        MANAGER = "manager", _("Manager: also supporters' data, moderation, exports, news, going live")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user")
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("organisation")
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.EDITOR)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.UniqueConstraint(fields=["user", "organisation"], name="one_membership_per_organisation")]

    def __str__(self) -> str:
        return f"{self.user} — {self.organisation} ({self.get_role_display()})"


class TOTPDevice(models.Model):
    """A staff user's authenticator app: the shared secret, and the last time step a code was used."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_device")
    # Encrypted at rest like supporters' data: a database dump and a cracked password must not be enough to
    # compute the codes as well.
    secret = EncryptedCharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    # Null while the user has not yet typed a code from the app: the secret may still be shown.
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("second factor")
        verbose_name_plural = _("second factors")

    def __str__(self) -> str:
        return f"{self.user} ({'confirmed' if self.confirmed_at else 'being set up'})"

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None


class LoginThrottle(models.Model):
    """Failed logins for one username, shared by every web process; the username itself is not stored.

    `key` is an HMAC of the lowercased username (courrier/accounts/lockout.py).
    """

    key = models.CharField(max_length=64, unique=True)
    failures = models.PositiveIntegerField(default=0)
    first_failure_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key[:8]}… {self.failures} failures"


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete an audit log entry."""


class AuditQuerySet(models.QuerySet):
    """The audit log is append-only: no bulk update or delete either."""

    def update(self, **kwargs):
        raise AppendOnlyError("The audit log is append-only: entries cannot be changed.")

    def delete(self):
        raise AppendOnlyError("The audit log is append-only: entries cannot be deleted.")


class AuditEntry(models.Model):
    """One thing done in the back office that someone may later need to account for. Written once, never changed."""

    class Action(models.TextChoices):
        EXPORT = "export", _("Export")
        GO_LIVE = "go_live", _("Went live")
        PAUSE = "pause", _("Paused")
        CLOSE = "close", _("Closed")
        ARCHIVE = "archive", _("Archived")
        STATUS_CHANGE = "status_change", _("Status changed")
        TARGET_CHANGE = "target_change", _("Targets changed")
        DELETION = "deletion", _("Deletion")
        MODERATION = "moderation", _("Moderation")
        NEWS_SENT = "news_sent", _("News sent")
        TEST_SENT = "test_sent", _("Test sent")
        DIRECTORY_IMPORT = "directory_import", _("Directory imported")
        DUPLICATE = "duplicate", _("Campaign duplicated")
        LOGIN_LOCKOUT = "login_lockout", _("Login locked")
        SECOND_FACTOR_SET_UP = "totp_setup", _("Second factor set up")
        SECOND_FACTOR_RESET = "totp_reset", _("Second factor reset")
        TEAM_CHANGE = "team_change", _("Team changed")
        DRAFT_FROM_CALL = "draft_from_call", _("Draft made from a published call")
        ANSWER_PUBLISHED = "answer_published", _("A recipient's answer published")

    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    # Kept as written, so the entry still says who did it once the account is gone.
    username = models.CharField(_("username"), max_length=150, blank=True)
    organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("organisation"),
    )
    action = models.CharField(_("action"), max_length=30, choices=Action.choices)
    object_type = models.CharField(_("type"), max_length=100, blank=True)
    object_id = models.CharField(_("id"), max_length=64, blank=True)
    # Encrypted: a moderation entry quotes the reason a letter was held, which can quote the supporter.
    summary = EncryptedCharField(_("summary"), max_length=500, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.username or '—'} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None or not self._state.adding:
            raise AppendOnlyError("The audit log is append-only: entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("The audit log is append-only: entries cannot be deleted.")


class Invitation(models.Model):
    """An invitation to join an organisation's team: a one-time link, valid for a few days.

    Only a digest of the link's token is kept: a database dump does not open an account.
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("organisation")
    )
    email = models.EmailField(_("e-mail address"))
    role = models.CharField(_("role"), max_length=10, choices=Membership.Role.choices, default=Membership.Role.EDITOR)
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", editable=False
    )
    created_at = models.DateTimeField(_("invited"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} — {self.organisation}"
