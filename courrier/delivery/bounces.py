"""Reading bounce messages: which letter, which recipient, what status; and what to do about it.

A bounce counts only if it comes back to a letter's signed VERP address,
so nobody can fail letters or pause a target by mailing us a fake report.
Repeated policy rejections (5.7.x: "blocked", "spam") from one domain pause
every target at that domain and alert staff, before the block spreads.
"""

import datetime
import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message

from django.conf import settings
from django.db import IntegrityError, transaction
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
        return [BounceReport(message_pk, "", match.group(1), " ".join(line.split())[:1000])]
    return []


def record_bounce(report: BounceReport, now: datetime.datetime | None = None) -> Bounce | None:
    """Mark the letter and, after repeated policy blocks from the same domain, pause that domain's targets."""
    now = now or timezone.now()
    message = OutboxMessage.objects.filter(pk=report.message_pk).first()
    if message is None:
        return None
    domain = report.recipient.rsplit("@", 1)[-1] if "@" in report.recipient else ""
    try:
        with transaction.atomic():
            bounce = Bounce.objects.create(
                message=message,
                at=now,
                recipient=report.recipient,
                domain=domain,
                status=report.status,
                diagnostic=report.diagnostic,
            )
            note = f"bounced {report.status} {report.recipient}: {report.diagnostic}"[:2000]
            if report.status.startswith("5"):
                OutboxMessage.objects.filter(pk=message.pk).update(status=OutboxMessage.Status.FAILED, last_reply=note)
                status = OutboxMessage.Status.FAILED
            else:
                status = message.status  # a delay notice: the receiving side is still trying
            DeliveryEvent.objects.create(message=message, at=now, worker="bounces", status=status, reply=note)
    except IntegrityError:
        return None  # the same report read twice
    if bounce.is_policy_block:
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
        recent = (
            recent.filter(domain=domain)
            if bounce.domain
            else recent.filter(message__targets__email__iendswith="@" + domain)
        )
        if recent.count() < settings.BLOCK_PAUSE_THRESHOLD:
            continue
        count = recent.count()
        for target in Target.objects.filter(email__iendswith="@" + domain, paused_at__isnull=True):
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
    """A 5.7.x refusal answered during sending counts like a policy bounce; returns the targets it paused."""
    match = _STATUS.search(reply)
    if not match or not match.group(1).startswith("5.7."):
        return []
    try:
        with transaction.atomic():
            bounce = Bounce.objects.create(message=message, at=now, status=match.group(1), diagnostic=reply[:1000])
    except IntegrityError:
        return []
    return pause_blocking_domain(bounce, now)
