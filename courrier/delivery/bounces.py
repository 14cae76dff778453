"""Reading bounce messages: which letter, which recipient, what status; and what to do about it.

A bounce counts only if it comes back to a letter's signed VERP address, and only for a recipient that
letter really had. Every recipient of a letter sees its return path (the embassy included), so a report
sent there may name anyone: an address the letter was not sent to is ignored, whatever its status.
Repeated policy rejections (5.7.x: "blocked", "spam") from one domain, counted once per letter, pause the
targets at that domain in the campaigns whose letters were refused, and alert staff, before the block
spreads. A status read from a message's free text (no machine-readable report) is recorded, but never
pauses anything: anybody can write "5.7.1" in a message.
"""

import datetime
import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from courrier.campaigns.models import Target
from courrier.delivery import alerts, holds
from courrier.delivery.models import Bounce, DeliveryEvent, OutboxMessage
from courrier.delivery.verp import message_pk_from

_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_ADDRESS_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To", "To")
BLOCK_WINDOW = datetime.timedelta(hours=24)


@dataclass
class BounceReport:
    message_pk: int
    recipient: str
    status: str
    diagnostic: str
    # Read from a delivery-status report (RFC 3464), not guessed from a message's text.
    machine_readable: bool = True


def _address_only(value: str) -> str:
    return email.utils.parseaddr(value)[1] or value.strip()


def _field(block: Message, name: str) -> str:
    """A delivery-status field as text. Servers write 8-bit (mostly UTF-8) diagnostics, which the compat32
    parser hands back as a Header object rather than a str: read the raw value instead."""
    for key, value in block.raw_items():
        if key.lower() == name.lower():
            return str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return ""


def read_bounce(raw: bytes) -> list[BounceReport]:
    """The failures a bounce message reports, for the letter its VERP address names (none if not ours)."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    message_pk = None
    for header in _ADDRESS_HEADERS:
        for value in message.get_all(header, []):
            for _name, address in email.utils.getaddresses([str(value)]):
                message_pk = message_pk or message_pk_from(address)
    if message_pk is None:
        return []
    reports = []
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            for block in part.get_payload()[1:] if isinstance(part.get_payload(), list) else []:
                # The code alone: some servers add a comment ("5.1.1 (unknown user)"), some write no code.
                status = _STATUS.search(_field(block, "Status"))
                if status:
                    recipient = _address_only(_field(block, "Final-Recipient").split(";")[-1])[:254]
                    diagnostic = " ".join(_field(block, "Diagnostic-Code").split(";")[-1].split())
                    reports.append(BounceReport(message_pk, recipient.lower(), status.group(1), diagnostic[:1000]))
    if reports:
        return reports
    # No machine-readable report: look for an enhanced status code in the text.
    text = "\n".join(
        part.get_payload(decode=True).decode("utf-8", "replace")
        for part in message.walk()
        if part.get_content_maintype() == "text" and part.get_payload(decode=True)
    )
    match = _STATUS.search(text)
    if match:
        line = next((line for line in text.splitlines() if match.group(1) in line), "")
        return [BounceReport(message_pk, "", match.group(1), " ".join(line.split())[:1000], machine_readable=False)]
    return []


def reported_recipient(report: BounceReport, message: OutboxMessage) -> str | None:
    """The letter's own recipient the report is about, or None when it names an address the letter never had.

    A report without an address concerns the letter's only recipient, if it has one; otherwise nobody in
    particular ("").
    """
    recipients = [address.strip().lower() for address in message.recipients()]
    if report.recipient:
        return report.recipient if report.recipient.strip().lower() in recipients else None
    return recipients[0] if len(recipients) == 1 else ""


def record_bounce(report: BounceReport, now: datetime.datetime | None = None) -> Bounce | None:
    """Mark the letter and, after repeated policy blocks from the same domain, pause that domain's targets.

    None when nothing is recorded: an unknown letter, an address the letter was not sent to, a report
    read before.
    """
    now = now or timezone.now()
    message = OutboxMessage.objects.filter(pk=report.message_pk).first()
    if message is None:
        return None
    recipient = reported_recipient(report, message)
    if recipient is None:
        return None  # forged, or about someone else: the letter was never sent to that address
    domain = recipient.rsplit("@", 1)[-1].lower() if "@" in recipient else ""
    try:
        with transaction.atomic():
            bounce = Bounce.objects.create(
                message=message,
                at=now,
                recipient=recipient,
                domain=domain,
                status=report.status,
                diagnostic=report.diagnostic,
            )
            note = f"bounced {report.status} {recipient}: {report.diagnostic}"[:2000]
            if report.status.startswith("5") and recipient:
                OutboxMessage.objects.filter(pk=message.pk).update(status=OutboxMessage.Status.FAILED, last_reply=note)
                status = OutboxMessage.Status.FAILED
            else:
                status = message.status  # a delay notice (the receiving side is still trying), or nobody named
            DeliveryEvent.objects.create(message=message, at=now, worker="bounces", status=status, reply=note)
    except IntegrityError:
        return None  # the same report read twice
    if bounce.is_policy_block and report.machine_readable and domain:
        pause_blocking_domain(bounce, now)
    return bounce


def pause_blocking_domain(bounce: Bounce, now: datetime.datetime) -> list[Target]:
    # Reasons and alerts are for the site's staff: in the site's language, whatever request came before.
    with translation.override(settings.LANGUAGE_CODE):
        return _pause_blocking_domain(bounce, now)


def _pause_blocking_domain(bounce: Bounce, now: datetime.datetime) -> list[Target]:
    domains = {bounce.domain} if bounce.domain else {t.domain for t in bounce.message.targets.all()}
    paused = []
    for domain in domains:
        recent = Bounce.objects.filter(status__startswith="5.7.", at__gte=now - BLOCK_WINDOW)
        recent = recent.filter(Q(domain=domain) | Q(domain="", message__targets__email__iendswith="@" + domain))
        # Once per letter: three reports about one letter are one refusal.
        letters = set(recent.values_list("message_id", flat=True))
        if len(letters) < settings.BLOCK_PAUSE_THRESHOLD:
            continue
        count = len(letters)
        # Only where the refused letters came from: a block reported for one campaign pauses no other.
        campaigns = set(OutboxMessage.objects.filter(pk__in=letters).values_list("campaign_id", flat=True))
        at_domain = Target.objects.filter(
            email__iendswith="@" + domain, campaign_id__in=campaigns, paused_at__isnull=True
        )
        for target in at_domain:
            reason = ngettext(
                "%(count)d policy rejection (%(status)s) from %(domain)s in 24 hours",
                "%(count)d policy rejections (%(status)s) from %(domain)s in 24 hours",
                count,
            ) % {"count": count, "status": bounce.status, "domain": domain}
            holds.pause_target(target, reason, now)
            paused.append(target)
    if paused:
        targets = "\n".join(f"- {t.name} <{t.email}> ({t.campaign})" for t in paused)
        alerts.alert_staff(
            ngettext(
                "%(count)d target paused: its mail server blocks the letters",
                "%(count)d targets paused: their mail server blocks the letters",
                len(paused),
            )
            % {"count": len(paused)},
            _(
                "The receiving mail server refused letters as a policy block (5.7.x), so these targets are paused "
                "and their letters held, not lost:\n\n%(targets)s\n\nLast reply: %(reply)s\n\nCheck the sending "
                "address's reputation and DNS records, then resume the targets in the admin (Targets, action "
                '"Resume").\n'
            )
            % {"targets": targets, "reply": bounce.diagnostic},
            now,
        )
    return paused


def record_rejection(message: OutboxMessage, reply: str, now: datetime.datetime) -> list[Target]:
    """A 5.7.x refusal answered during sending counts like a policy bounce; returns the targets it paused.

    The reply names no recipient: it counts for the domains of the letter's targets."""
    match = _STATUS.search(reply)
    if not match or not match.group(1).startswith("5.7."):
        return []
    try:
        with transaction.atomic():
            bounce = Bounce.objects.create(message=message, at=now, status=match.group(1), diagnostic=reply[:1000])
    except IntegrityError:
        return []
    return pause_blocking_domain(bounce, now)
