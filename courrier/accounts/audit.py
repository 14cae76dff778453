"""The audit log: who exported, went live, changed targets or deleted what, and when. Append-only.

Call `record(...)` wherever such a thing happens. The entry keeps the
username as written, so it still says who did it once the account is gone;
its organisation (found from the object when not given) decides which
managers may read it. Nobody can change or delete an entry: the model, its
queryset and its admin all refuse.
"""

from django.db import models

from courrier.accounts.models import AuditEntry, Organisation
from courrier.accounts.roles import organisation_id_of

EXPORT = AuditEntry.Action.EXPORT.value
GO_LIVE = AuditEntry.Action.GO_LIVE.value
PAUSE = AuditEntry.Action.PAUSE.value
CLOSE = AuditEntry.Action.CLOSE.value
ARCHIVE = AuditEntry.Action.ARCHIVE.value
STATUS_CHANGE = AuditEntry.Action.STATUS_CHANGE.value
TARGET_CHANGE = AuditEntry.Action.TARGET_CHANGE.value
DELETION = AuditEntry.Action.DELETION.value
MODERATION = AuditEntry.Action.MODERATION.value
NEWS_SENT = AuditEntry.Action.NEWS_SENT.value
TEST_SENT = AuditEntry.Action.TEST_SENT.value
DIRECTORY_IMPORT = AuditEntry.Action.DIRECTORY_IMPORT.value
DUPLICATE = AuditEntry.Action.DUPLICATE.value
LOGIN_LOCKOUT = AuditEntry.Action.LOGIN_LOCKOUT.value
SECOND_FACTOR_SET_UP = AuditEntry.Action.SECOND_FACTOR_SET_UP.value
SECOND_FACTOR_RESET = AuditEntry.Action.SECOND_FACTOR_RESET.value
TEAM_CHANGE = AuditEntry.Action.TEAM_CHANGE.value
DRAFT_FROM_CALL = AuditEntry.Action.DRAFT_FROM_CALL.value
ANSWER_PUBLISHED = AuditEntry.Action.ANSWER_PUBLISHED.value


def record(
    user,
    action: str,
    obj: models.Model | None = None,
    organisation: Organisation | int | None = None,
    summary: str = "",
) -> AuditEntry:
    """Append one entry. `user` may be None or anonymous (a command, a locked-out login)."""
    if isinstance(organisation, Organisation):
        organisation_id = organisation.pk
    elif organisation is not None:
        organisation_id = organisation
    else:
        organisation_id = organisation_id_of(obj) if obj is not None else None
    known = user if getattr(user, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        user=known,
        username=known.get_username() if known else "",
        organisation_id=organisation_id,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        summary=str(summary)[:500],
    )
