"""A supporter sends a follow-up letter in their name: one press on the page their link opens.

The link (signatures/tokens.py) names one follow-up and one signature. Opening it changes nothing (mail
scanners open every link); pressing the button writes one FollowUpSignature row, whose unique pair makes it
work once. The letter is written by the worker from the signature as confirmed (delivery/follow_ups.py):
nothing is typed again, and no confirmation is asked for, since the link came to the confirmed address.
"""

import enum
from dataclasses import dataclass

from django.core import signing
from django.db import IntegrityError, transaction

from courrier.campaigns.models import FollowUp
from courrier.signatures.models import FollowUpSignature, Signature
from courrier.signatures.tokens import matches_stamp, read_follow_up_token


class State(enum.Enum):
    READY = "ready"  # may be sent now
    SENT = "sent"  # sent by this press
    ALREADY_SENT = "already_sent"  # sent before, by this link or another of the same supporter
    CLOSED = "closed"  # the follow-up, or its campaign, no longer takes letters
    BAD_LINK = "bad_link"  # forged, cut, expired, or of a supporter whose data is gone


@dataclass
class FollowUpLink:
    state: State
    follow_up: FollowUp | None = None
    signature: Signature | None = None


def open_link(token: str) -> FollowUpLink:
    """What the link is for, and whether it may send now; changes nothing."""
    try:
        follow_up_id, signature_id, stamp = read_follow_up_token(token)
    except signing.BadSignature:
        return FollowUpLink(State.BAD_LINK)
    signature = Signature.objects.may_sign_follow_ups().select_related("campaign").filter(pk=signature_id).first()
    follow_up = FollowUp.objects.filter(pk=follow_up_id).first()
    if signature is None or follow_up is None or follow_up.campaign_id != signature.campaign_id:
        return FollowUpLink(State.BAD_LINK)
    if not matches_stamp(signature, stamp):
        return FollowUpLink(State.BAD_LINK)
    follow_up.campaign = signature.campaign
    if FollowUpSignature.objects.filter(follow_up=follow_up, signature=signature).exists():
        return FollowUpLink(State.ALREADY_SENT, follow_up, signature)
    # A follow-up takes letters while it is open, has its letter, and its campaign is public (not archived).
    if not follow_up.is_open or not signature.campaign.is_public or not follow_up.letters.exists():
        return FollowUpLink(State.CLOSED, follow_up, signature)
    return FollowUpLink(State.READY, follow_up, signature)


def send_follow_up(token: str) -> FollowUpLink:
    """Press the button: the follow-up goes in the supporter's name, once; returns what happened."""
    link = open_link(token)
    if link.state != State.READY:
        return link
    try:
        with transaction.atomic():
            # Still open, under its row's lock: a closing (with cancellation) waits for this press, or went first.
            open_now = FollowUp.objects.select_for_update().filter(pk=link.follow_up.pk, status=FollowUp.Status.OPEN)
            if not open_now.exists():
                return FollowUpLink(State.CLOSED, link.follow_up, link.signature)
            FollowUpSignature.objects.create(follow_up=link.follow_up, signature=link.signature)
    except IntegrityError:
        # Pressed twice at once (two tabs): the other press sent it.
        return FollowUpLink(State.ALREADY_SENT, link.follow_up, link.signature)
    return FollowUpLink(State.SENT, link.follow_up, link.signature)
