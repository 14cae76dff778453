"""Who may see and do what, by organisation: memberships and roles, not Django's model permissions.

An organiser is a staff user with one or more memberships: the studio
(courrier/studio/access.py) shows them only their organisations' campaigns, and
what they may do with them depends on their role there:

- editor: writes campaigns (page, letters, targets, directory, case file);
- manager: everything an editor does, plus supporters' personal data
  (signatures, letters in the outbox), moderation, exports, news, going live.

Superusers, the site's operators, see and do everything, and alone use Django's
admin (courrier/backoffice/site.py). Anybody else, even staff, sees nothing.
"""

from collections import deque

from django.db import models

from courrier.accounts.models import Membership, Organisation

EDITOR = Membership.Role.EDITOR
MANAGER = Membership.Role.MANAGER
ROLE_RANK = {EDITOR: 1, MANAGER: 2}


def is_back_office_user(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_staff)


def organisation_roles(user) -> dict[int, str]:
    """{organisation id: role} of an active staff user, read once per user object (that is, per request)."""
    if not is_back_office_user(user):
        return {}
    roles = getattr(user, "_courrier_organisation_roles", None)
    if roles is None:
        roles = dict(Membership.objects.filter(user=user).values_list("organisation_id", "role"))
        user._courrier_organisation_roles = roles
    return roles


def organisation_ids(user, role: str | None = None) -> set[int]:
    """The organisations where `user` has at least `role` (any role when None); every one for a superuser."""
    if not is_back_office_user(user):
        return set()
    if user.is_superuser:
        return set(Organisation.objects.values_list("pk", flat=True))
    least = ROLE_RANK[role] if role else min(ROLE_RANK.values())
    return {organisation for organisation, held in organisation_roles(user).items() if ROLE_RANK[held] >= least}


def has_role(user, organisation_id: int | None, role: str) -> bool:
    if not is_back_office_user(user) or organisation_id is None:
        return False
    if user.is_superuser:
        return True
    held = organisation_roles(user).get(organisation_id)
    return held is not None and ROLE_RANK[held] >= ROLE_RANK[role]


def can_manage(user, campaign) -> bool:
    """Supporters' data, moderation, exports, news and going live for this campaign."""
    return has_role(user, campaign.organisation_id, MANAGER)


def can_edit(user, campaign) -> bool:
    """Writing this campaign's page, letters, targets and case file."""
    return has_role(user, campaign.organisation_id, EDITOR)


def organisation_path(model: type[models.Model]) -> str | None:
    """The lookup from `model` to its Organisation ("campaign__organisation"), "" for Organisation, None if none.

    The shortest chain of forward foreign keys, so a model added later is scoped without being listed here.
    """
    if model is Organisation:
        return ""
    queue = deque([(model, "")])
    seen = {model}
    while queue:
        current, prefix = queue.popleft()
        for field in current._meta.get_fields():
            if not field.concrete or not (field.many_to_one or field.one_to_one):
                continue
            path = prefix + field.name
            if field.related_model is Organisation:
                return path
            if field.related_model not in seen:
                seen.add(field.related_model)
                queue.append((field.related_model, path + "__"))
    return None


def organisation_id_of(obj: models.Model, path: str | None = None) -> int | None:
    """The id of the organisation `obj` belongs to, following `path` (found from its model by default)."""
    path = organisation_path(obj._meta.model) if path is None else path
    if path is None:
        return None
    if path == "":
        return obj.pk
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop)
        if obj is None:
            return None
    return getattr(obj, obj._meta.get_field(last).attname)
