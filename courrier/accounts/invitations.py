"""Invitations to an organisation's team: a manager invites an address, its owner opens the one-time link,
chooses a name and a password, and is a member (then sets up the second factor at their first sign-in).

The link holds a random token; the database keeps only its SHA-256, so a dump of the database does not
let anyone in. A link works once, for INVITATION_DAYS days, and is refused in every other case (used,
expired, withdrawn, unknown) in the same way.
"""

import datetime
import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from courrier.accounts import audit
from courrier.accounts.models import Invitation, Membership, Organisation

INVITATION_DAYS = 7


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite(organisation: Organisation, email: str, role: str, by, now: datetime.datetime | None = None):
    """A new invitation and the token of its link (shown or sent once, never stored)."""
    now = now or timezone.now()
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organisation=organisation,
        email=email,
        role=role,
        token_digest=digest(token),
        invited_by=by,
        expires_at=now + datetime.timedelta(days=INVITATION_DAYS),
    )
    audit.record(
        by,
        audit.TEAM_CHANGE,
        invitation,
        organisation=organisation,
        summary=_("%(email)s invited, role: %(role)s") % {"email": email, "role": invitation.get_role_display()},
    )
    return invitation, token


def open_invitation(token: str, now: datetime.datetime | None = None) -> Invitation | None:
    """The invitation of a link, if it may still be used."""
    now = now or timezone.now()
    if not token or len(token) > 100:
        return None
    return (
        Invitation.objects.select_related("organisation")
        .filter(token_digest=digest(token), accepted_at__isnull=True, expires_at__gt=now)
        .first()
    )


class AcceptRefused(Exception):
    """The link was used meanwhile, or the name is taken: nothing was created."""


@transaction.atomic
def accept(invitation: Invitation, username: str, password: str, now: datetime.datetime | None = None):
    """The new member's account and membership; the invitation used. Raises AcceptRefused if it was used
    meanwhile or the name is taken, and ValidationError for a weak password."""
    now = now or timezone.now()
    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise AcceptRefused("username")
    candidate = User(username=username, email=invitation.email)
    validate_password(password, candidate)
    # Conditional on it being unused: of two tabs opening the same link, one account.
    if not Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(accepted_at=now):
        raise AcceptRefused("used")
    user = User.objects.create_user(username, email=invitation.email, password=password, is_staff=True)
    Membership.objects.create(user=user, organisation=invitation.organisation, role=invitation.role)
    audit.record(
        user,
        audit.TEAM_CHANGE,
        invitation,
        organisation=invitation.organisation_id,
        summary=_("%(email)s joined as %(name)s") % {"email": invitation.email, "name": username},
    )
    return user


class TeamRefused(Exception):
    """The change would leave the organisation without a manager."""


def leaves_a_manager(membership: Membership) -> bool:
    """Whether the organisation keeps a manager once `membership` is no longer one."""
    others = Membership.objects.filter(organisation_id=membership.organisation_id, role=Membership.Role.MANAGER)
    return others.exclude(pk=membership.pk).exists()


def change_role(membership: Membership, role: str, by) -> None:
    if role != Membership.Role.MANAGER and not leaves_a_manager(membership):
        raise TeamRefused
    membership.role = role
    membership.save(update_fields=["role"])
    audit.record(
        by,
        audit.TEAM_CHANGE,
        membership,
        organisation=membership.organisation_id,
        summary=_("%(name)s, role: %(role)s") % {"name": membership.user, "role": membership.get_role_display()},
    )


def remove(membership: Membership, by) -> None:
    """The member leaves the organisation; their account stays (they may belong to another)."""
    if not leaves_a_manager(membership):
        raise TeamRefused
    summary = _("%(name)s removed from the team") % {"name": membership.user}
    organisation_id = membership.organisation_id
    membership.delete()
    audit.record(by, audit.TEAM_CHANGE, None, organisation=organisation_id, summary=summary)


def withdraw(invitation: Invitation, by) -> None:
    """A pending invitation, cancelled: its link no longer works."""
    Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(expires_at=timezone.now())
    audit.record(
        by,
        audit.TEAM_CHANGE,
        invitation,
        organisation=invitation.organisation_id,
        summary=_("invitation of %(email)s withdrawn") % {"email": invitation.email},
    )
