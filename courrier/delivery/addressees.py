"""Who a supporter's letter goes to: the campaign's targets, or, with a directory, the entry for the
country they chose (made a target of its own the first time a letter goes there).
"""

from django.db.models import prefetch_related_objects

from courrier.campaigns.models import Campaign, DirectoryEntry, Target
from courrier.signatures.models import Signature

# The target directory (campaign.use_directory): the supporter picks their country, and the letter goes
# To that country's DirectoryEntry instead of the campaign's To targets, still with a copy to the Cc targets.
#
# A directory entry is delivered through a Target row of the campaign with the same address, so that
# everything the delivery knows about a recipient works for it unchanged: pacing (its letters per hour
# and office hours), pausing and cancelling its letters, bounces and automatic pauses, the per-target
# statistics. That row is the campaign's target with the entry's address if there is one (an embassy
# that is both a To target and a directory entry is one mailbox, paced once). Otherwise the worker
# creates it when it queues the first letter to the entry (ensure_directory_targets): role To,
# **inactive**, so that it never receives the campaign's other letters (campaign.recipients() and the
# checklist only count active targets). Organisers set its pace, or pause it, under Targets like any
# other. Creating it lazily rather than at import keeps one path for the CSV, the admin inline and
# later address changes. Two workers on PostgreSQL may both create it for a new address: the letters
# then use the first (lowest id), and the other stays unused.


def directory_entry(signature: Signature) -> DirectoryEntry | None:
    """The directory entry the supporter's letter goes to, or None: no directory, or "my country is not listed"."""
    campaign = signature.campaign
    if not (campaign.use_directory and signature.directory_country):
        return None
    return next((entry for entry in campaign.directory.all() if entry.country == signature.directory_country), None)


def directory_target(campaign: Campaign, entry: DirectoryEntry) -> Target:
    """The target a directory entry's letters are paced through; unsaved if the worker has not created it yet."""
    address = entry.email.strip().lower()
    for target in campaign.targets.all():
        if target.email.strip().lower() == address:
            return target
    return Target(
        campaign=campaign,
        role=Target.Role.TO,
        name=entry.name[:200],
        email=entry.email.strip(),
        language=entry.language,
        active=False,
    )


def letter_recipients(signature: Signature) -> tuple[list[Target], list[Target]]:
    """The (To, Cc) targets of one supporter's letter: the campaign's, or their country's entry and the Cc."""
    campaign = signature.campaign
    to_targets, cc_targets = campaign.recipients()
    entry = directory_entry(signature)
    if entry is None:
        return to_targets, cc_targets
    target = directory_target(campaign, entry)
    return [target], [t for t in cc_targets if t.pk != target.pk]


def ensure_directory_targets(signatures: list[Signature]) -> None:
    """Create the (inactive) targets of the directory entries these letters go to, where none exists yet."""
    missing: dict[tuple[int, str], Target] = {}
    for signature in signatures:
        entry = directory_entry(signature)
        if entry is not None:
            target = directory_target(signature.campaign, entry)
            if target.pk is None:
                missing.setdefault((signature.campaign_id, target.email.lower()), target)
    if not missing:
        return
    Target.objects.bulk_create(missing.values())
    campaigns = [signature.campaign for signature in signatures]
    for campaign in {id(campaign): campaign for campaign in campaigns}.values():  # each instance once
        campaign.refresh_from_db(fields=["targets"])  # forgets its prefetched targets, without a query
    prefetch_related_objects(campaigns, "targets")
