"""Open a follow-up letter, and invite the supporters who asked for news to send it in their name.

Opening is an organiser's act in the studio: checked first (`problems_before_opening`), then one
conditional UPDATE moves the follow-up from draft to open with the last signature it may invite, so a
second press opens nothing. The worker then queues one invitation per supporter, CHUNK at a time, each chunk
in a transaction of its own that moves the follow-up's cursor (queue_invitations), as news/sending.py
does for updates: no request writes them all, and signing goes on meanwhile.

Who is invited: the news's subscribers (news/sending.py, subscribers) whose name a follow-up may carry
(SignatureQuerySet.may_sign_follow_ups). Each invitation carries the supporter's own link, which expires
and works once (signatures/follow_ups.py), the model letter with its blanks named, and how to stop the news.
"""

import datetime
import time
import uuid

from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from courrier.accounts import audit
from courrier.campaigns import letter_checker
from courrier.campaigns.letters import render_letter, sample_letter
from courrier.campaigns.models import Campaign, FollowUp
from courrier.delivery import emails
from courrier.delivery.enqueue import PASS_SECONDS, durable_commit
from courrier.delivery.follow_ups import first_letter_went
from courrier.delivery.messages import absolute_url, letter_source, recipients_phrase, supporter_message
from courrier.delivery.models import OutboxMessage
from courrier.news.sending import queue_in_chunks, subscribers
from courrier.news.subscriptions import unsubscribe_mailto
from courrier.news.tokens import unsubscribe_token
from courrier.signatures.models import Signature
from courrier.signatures.tokens import follow_up_token, my_data_url

_SLOT = "SLOT"


def invitees(campaign_id: int) -> QuerySet[Signature]:
    """The supporters a follow-up of the campaign invites: news subscribers whose name it may carry, and whose
    own letter went."""
    return subscribers(campaign_id).may_sign_follow_ups().filter(first_letter_went())


def problems_before_opening(follow_up: FollowUp) -> list[str]:
    """What stops the follow-up from opening, in words an organiser can act on; empty when it may open."""
    campaign = follow_up.campaign
    problems = []
    if not campaign.is_public or campaign.anonymised_at is not None:
        problems.append(_("The campaign must be public, with its supporters' data kept, to invite them."))
    to_targets, _cc_targets = campaign.recipients()
    if not to_targets and not (campaign.use_directory and campaign.directory.exists()):
        problems.append(_("The campaign has no recipient to send the letter To: add one on the recipients page."))
    letters = {letter.language: letter for letter in follow_up.letters.all()}
    if campaign.language not in letters:
        problems.append(_("Write the letter in the campaign's language first: it goes to those of every language."))
    for letter in letters.values():
        for finding in letter_checker.check_letter(campaign, letter.language, letter.subject, letter.body):
            if finding.blocks and finding.language == letter.language and finding.field in ("subject", "body"):
                problems.append(f"{letter.get_language_display()}: {finding}")
    return problems


def open_follow_up(follow_up: FollowUp, user, now: datetime.datetime | None = None) -> int | None:
    """Open it and have its invitations queued; returns how many supporters it invites, None if it was not a
    draft (opened meanwhile). The caller checked `problems_before_opening` and the member's role."""
    now = now or timezone.now()
    # As in news/sending.py: the highest number is one look-up, counted before the short transaction.
    last = Signature.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    count = invitees(follow_up.campaign_id).filter(pk__lte=last).count()
    with transaction.atomic():
        durable_commit()
        # Locked, and checked again under the lock: a save of its letters (studio) waits, or went first.
        if not FollowUp.objects.select_for_update().filter(pk=follow_up.pk, status=FollowUp.Status.DRAFT).exists():
            return None
        if problems_before_opening(follow_up):
            return None
        if not follow_up.move("open", opened_at=now, invitees_until=last, invitees_count=count):
            return None
        summary = f"follow-up opened: {follow_up.name} ({count} invited)"
        audit.record(
            user, audit.STATUS_CHANGE, follow_up, organisation=follow_up.campaign.organisation_id, summary=summary
        )
    return count


def close_follow_up(follow_up: FollowUp, user, now: datetime.datetime | None = None) -> bool:
    """No more letters from its links (those pressed already still go); False if it was not open."""
    now = now or timezone.now()
    with transaction.atomic():
        if not follow_up.move("close", closed_at=now):
            return False
        summary = f"follow-up closed: {follow_up.name}"
        audit.record(
            user, audit.STATUS_CHANGE, follow_up, organisation=follow_up.campaign.organisation_id, summary=summary
        )
    return True


def queue_invitations(now: datetime.datetime | None = None) -> int:
    """The worker's job: the invitations of the follow-ups opened, CHUNK supporters at a time; returns how many."""
    now = now or timezone.now()
    deadline = time.monotonic() + PASS_SECONDS
    queued = 0
    opened = FollowUp.objects.filter(
        status=FollowUp.Status.OPEN, invitations_queued_at__isnull=True, campaign__status__in=Campaign.PUBLIC_STATUSES
    )
    for follow_up in opened.order_by("opened_at"):
        recipients = invitees(follow_up.campaign_id).only(
            "pk", "email", "language", "letter_language", "campaign_id", "created_at", "directory_country"
        )
        fields = ("invited_through", "invitees_until", "invitations_queued_at")
        queued += queue_in_chunks(
            follow_up, fields, recipients, lambda follow_up=follow_up: InvitationComposer(follow_up), now, deadline
        )
    return queued


class InvitationComposer:
    """The invitation in each language, rendered once; each supporter's copy differs by its three links."""

    def __init__(self, follow_up: FollowUp):
        campaign = Campaign.objects.select_related("organisation").prefetch_related(
            "texts", "letters", "targets", "directory"
        )
        self.follow_up = follow_up
        self.campaign = follow_up.campaign = campaign.get(pk=follow_up.campaign_id)
        self.markers = {name: f"{name}-{uuid.uuid4().hex}" for name in ("send", "unsubscribe", "data")}
        self.texts: dict[tuple[str, str, str], tuple[str, str]] = {}

    def text(self, signature: Signature) -> tuple[str, str]:
        """What changed in the supporter's language, the letter in their letter's, to their own recipients (with a
        directory, their country's): rendered once for each such trio."""
        language = signature.language
        recipients = recipients_phrase(self.campaign, language, signature if self.campaign.use_directory else None)
        key = (language, signature.letter_language or language, recipients)
        if key not in self.texts:
            letter = self.follow_up.letter_for(key[1])
            with translation.override(language):
                campaign_url = absolute_url(self.campaign.get_absolute_url())
            self.texts[key] = emails.follow_up_invitation(
                language,
                self.campaign.text_for(language).title,
                campaign_url,
                self.follow_up.name,
                self.follow_up.letter_for(language).invitation,
                letter.subject,
                sample_letter(letter),
                recipients,
                self.markers,
            )
        return self.texts[key]

    def send_url(self, signature: Signature) -> str:
        if signature.pk is None:
            return absolute_url(self.campaign.get_absolute_url())  # a preview's sample: the campaign page
        with translation.override(signature.language):
            path = reverse("follow_up", args=[follow_up_token(self.follow_up.pk, signature)])
        return absolute_url(path)

    def unsubscribe_url(self, signature: Signature) -> str:
        with translation.override(signature.language):
            path = reverse("news_unsubscribe", args=[_SLOT])
        return absolute_url(path.replace(_SLOT, unsubscribe_token(signature.pk or 0)))

    def message(self, signature: Signature) -> OutboxMessage:
        signature.campaign = self.campaign
        subject, body = self.text(signature)
        url = self.unsubscribe_url(signature)
        links = {
            self.markers["send"]: self.send_url(signature),
            self.markers["unsubscribe"]: url,
            self.markers["data"]: my_data_url(signature, signature.language),
        }
        for marker, link in links.items():
            body = body.replace(marker, link)
        message = supporter_message(OutboxMessage.Kind.FOLLOW_UP_INVITATION, signature, subject, body)
        message.follow_up = self.follow_up
        message.list_unsubscribe = url
        message.list_unsubscribe_mailto = unsubscribe_mailto(signature.pk) if signature.pk else ""
        # Replies go to the organisers, not to the platform's unattended address.
        message.reply_to = self.campaign.organisation.contact_email
        return message


def letter_as_sent(follow_up: FollowUp, signature: Signature) -> tuple[str, str]:
    """The follow-up's letter as it goes in this supporter's name (for the page their link opens)."""
    source = letter_source(signature, follow_up)
    return render_letter(source.model, source.signer, source.edited_body)
