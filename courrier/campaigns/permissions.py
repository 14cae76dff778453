"""Who may change where a campaign's letters go: a rule of campaigns, over the roles of accounts."""

from courrier.accounts.roles import can_edit, can_manage
from courrier.campaigns.models import Campaign


def can_change_recipients(user, campaign) -> bool:
    """Adding, re-addressing, deleting or changing how a campaign's targets and directory entries receive the
    letters: who gets supporters' names. An editor's while the campaign is a draft (nobody has signed it);
    once it has gone live, its managers' only (and written to the audit log, like every target change)."""
    if campaign.status == Campaign.Status.DRAFT:
        return can_edit(user, campaign)
    return can_manage(user, campaign)
