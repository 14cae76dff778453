"""Reading what comes back to a message's signed return path: which message, which recipient, what status;
and what to do about it.

Only delivery status notifications (multipart/report; report-type=delivery-status), or a message from a mail
system (an empty return path, MAILER-DAEMON) quoting an SMTP reply, are bounces. Automatic answers (out of
office, vacation, read receipts) are recorded on the message and never fail it. Every kind of message
leaves with its own return path, so a supporter's address that bounces for good gets no more news or notices.

A bounce counts only for a recipient the message really had. Every recipient of a letter sees its return
path (the embassy included), so a report sent there may name anyone: an address the letter was not sent
to is ignored, whatever its status. A bounce fails its own recipient; the letter follows its To recipients.
Repeated policy rejections (5.7.x: "blocked", "spam") from one domain, counted once per letter, pause the
targets at that domain in the campaigns whose letters were refused, and alert staff, before the block
spreads. A status read from a message's free text (no machine-readable report) is recorded, but never
pauses anything: anybody can write "5.7.1" in a message.
"""

import datetime
import email
import email.errors
import email.header
import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from courrier.campaigns.models import Target
from courrier.delivery import alerts, recipients, target_pauses
from courrier.delivery.models import Bounce, DeliveryEvent, OutboxMessage, Recipient, UndeliverableAddress
from courrier.delivery.verp import HAND_OVER, REPLY, UNSUBSCRIBE, message_pk_from, read_signed_address

_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_ADDRESS_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To", "To", "Cc")
BLOCK_WINDOW = datetime.timedelta(hours=24)
# Mail to a supporter: after a hard bounce, no more news or notices go to that address.
SUPPORTER_KINDS = OutboxMessage.SUPPORTER_KINDS


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


# An enhanced status right after an SMTP reply code ("550 5.1.1", "550-5.7.1"): the text of a real refusal.
_SMTP_REPLY = re.compile(r"\b[45]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b")
# Subjects of automatic answers (out of office, vacation), in the languages targets answer in.
_AUTOMATIC_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|answer)|auto:|out of (the )?office|absent|absence|abwesend|"
    r"abwesenheit|réponse automatique|reponse automatique|автоответ|автоматический ответ|вне офиса|"
    r"отсутств|автоматты жауап)",
    re.IGNORECASE,
)
_NULL_SENDERS = ("mailer-daemon@", "postmaster@")


@dataclass
class Inbound:
    """A message that came back to a signed return path: what it is, for which message, what it reports.

    kind: "bounce" (a delivery status notification, or a mail system's refusal in words), "automatic" (an
    out-of-office or vacation answer, a read receipt: recorded, never a failure), "unsubscribe" (mail to
    the unsubscribe address of a news message), "answer" (mail to a letter's Reply-To: a target's answer, a
    person's or an automatic one, read by delivery/answers.py), or "other".
    """

    kind: str
    message_pk: int | None
    reports: list[BounceReport]
    subject: str = ""
    # kind "unsubscribe": mail to a news message's List-Unsubscribe mailto, for this signature.
    signature_pk: int | None = None
    # kind "answer": the reply addresses it came to, (verp.REPLY, a signature's id) or (verp.HAND_OVER, a target's).
    answered_addresses: list[tuple[str, int]] = field(default_factory=list)


def is_automatic(message: Message) -> bool:
    """An answer a program wrote by itself: RFC 3834's Auto-Submitted, the common vacation headers, an
    out-of-office subject, or a read receipt (RFC 8098)."""
    auto_submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond") or message.get("X-Auto-Response-Suppress"):
        return True
    if str(message.get("Precedence", "")).strip().lower() == "auto_reply":
        return True
    if is_report(message, "disposition-notification"):
        return True
    return bool(_AUTOMATIC_SUBJECT.match(decoded_subject(message)))


def decoded_subject(message: Message) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(str(message.get("Subject", "")))))
    except (LookupError, ValueError, email.errors.HeaderParseError):
        return str(message.get("Subject", ""))


def is_report(message: Message, report_type: str) -> bool:
    """An RFC 6522 report of this type (delivery-status: a bounce; disposition-notification: a read receipt)."""
    return message.get_content_type() == "multipart/report" and message.get_param("report-type") == report_type


def from_a_mail_system(message: Message) -> bool:
    """Sent by a mail system, not a person: an empty return path, or MAILER-DAEMON / postmaster."""
    return_path = str(message.get("Return-Path", "")).strip()
    sender = email.utils.parseaddr(str(message.get("From", "")))[1].lower()
    return return_path == "<>" or sender.startswith(_NULL_SENDERS)


def read_inbound(raw: bytes) -> Inbound:
    """What a message sent to one of our signed return paths is (none of ours: "other", no message)."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    message_pk = None
    answered: list[tuple[str, int]] = []
    for header in _ADDRESS_HEADERS:
        for value in message.get_all(header, []):
            for _name, address in email.utils.getaddresses([str(value)]):
                found = read_signed_address(address)
                if found and found[0] == UNSUBSCRIBE:
                    return Inbound("unsubscribe", None, [], signature_pk=found[1])
                if found and found[0] in (REPLY, HAND_OVER):
                    if found not in answered:
                        answered.append(found)
                    continue
                message_pk = message_pk or message_pk_from(address)
    if answered:
        if is_report(message, "delivery-status"):
            return Inbound("other", None, [])  # a mail system's report to a reply address: no answer
        # Every reply address it names: one answer to several letters is kept for each (once per address).
        return Inbound("answer", None, [], answered_addresses=answered)
    if message_pk is None:
        return Inbound("other", None, [])
    if is_report(message, "delivery-status"):
        return Inbound("bounce", message_pk, delivery_reports(message, message_pk))
    if is_automatic(message):
        return Inbound("automatic", message_pk, [], subject=decoded_subject(message)[:200])
    if from_a_mail_system(message):
        # No machine-readable report: an SMTP reply quoted in the text ("550 5.1.1 …"), never a bare number.
        text = "\n".join(
            part.get_payload(decode=True).decode("utf-8", "replace")
            for part in message.walk()
            if part.get_content_maintype() == "text" and part.get_payload(decode=True)
        )
        match = _SMTP_REPLY.search(text)
        if match:
            line = next((line for line in text.splitlines() if match.group(0) in line), "")
            diagnostic = " ".join(line.split())[:1000]
            report = BounceReport(message_pk, "", match.group(1), diagnostic, machine_readable=False)
            return Inbound("bounce", message_pk, [report])
    return Inbound("other", message_pk, [])


def delivery_reports(message: Message, message_pk: int) -> list[BounceReport]:
    """The per-recipient blocks of a delivery status notification (RFC 3464), failures and delays."""
    reports = []
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            for block in part.get_payload()[1:] if isinstance(part.get_payload(), list) else []:
                # The code alone: some servers add a comment ("5.1.1 (unknown user)"), some write no code.
                status = _STATUS.search(_field(block, "Status"))
                if status and not status.group(1).startswith("2"):
                    recipient = _address_only(_field(block, "Final-Recipient").split(";")[-1])[:254]
                    diagnostic = " ".join(_field(block, "Diagnostic-Code").split(";")[-1].split())
                    reports.append(BounceReport(message_pk, recipient.lower(), status.group(1), diagnostic[:1000]))
    return reports


def read_bounce(raw: bytes) -> list[BounceReport]:
    """The failures a bounce message reports, for the message its signed return path names (none if not ours,
    or not a bounce: an automatic answer is no failure)."""
    inbound = read_inbound(raw)
    return inbound.reports if inbound.kind == "bounce" else []


def record_automatic_answer(inbound: Inbound, now: datetime.datetime | None = None) -> bool:
    """An out-of-office answer or a read receipt: logged on the message, which keeps its state."""
    message = OutboxMessage.objects.filter(pk=inbound.message_pk).first()
    if message is None:
        return False
    note = f"automatic answer received: {inbound.subject}"[:2000]
    at = now or timezone.now()
    DeliveryEvent.objects.create(message=message, at=at, worker="inbound", status=message.status, reply=note)
    return True


def reported_recipient(report: BounceReport, message: OutboxMessage) -> str | None:
    """The message's own recipient the report is about, or None when it names an address the message never had.

    A report without an address concerns the message's only recipient, if it has one; otherwise nobody in
    particular ("").
    """
    recipients = [address.strip().lower() for address in message.recipients()]
    if report.recipient:
        return report.recipient if report.recipient.strip().lower() in recipients else None
    return recipients[0] if len(recipients) == 1 else ""


def is_hard_failure(status: str) -> bool:
    """The address cannot receive mail (no such mailbox, disabled): not a policy block, a full mailbox or a
    message too large, which say nothing of the address itself."""
    return status.startswith("5.") and not status.startswith(("5.7.", "5.2.2", "5.3.4"))


def record_bounce(report: BounceReport, now: datetime.datetime | None = None) -> Bounce | None:
    """Mark the recipient the report is about, and what that makes of the message; after repeated policy
    blocks from the same domain, pause that domain's targets.

    None when nothing is recorded: an unknown message, an address it was not sent to, a report read before.
    """
    now = now or timezone.now()
    message = OutboxMessage.objects.filter(pk=report.message_pk).first()
    if message is None:
        return None
    recipient = reported_recipient(report, message)
    if recipient is None:
        return None  # forged, or about someone else: the message was never sent to that address
    domain = recipient.rsplit("@", 1)[-1].lower() if "@" in recipient else ""
    note = f"bounced {report.status} {recipient}: {report.diagnostic}"[:2000]
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
            if report.status.startswith("5") and recipient:
                fail_recipient(message, recipient, note, now)
                if is_hard_failure(report.status) and message.kind in SUPPORTER_KINDS:
                    UndeliverableAddress.record(recipient, report.status, now)
            else:
                # A delay notice (the receiving side is still trying), or nobody named.
                event = {"status": message.status, "reply": note}
                DeliveryEvent.objects.create(message=message, at=now, worker="bounces", **event)
    except IntegrityError:
        return None  # the same report read twice
    if bounce.is_policy_block and report.machine_readable and domain:
        pause_blocking_domain(bounce, now)
    return bounce


def fail_recipient(message: OutboxMessage, address: str, note: str, now: datetime.datetime) -> None:
    """A recipient refused the message for good after taking it: that recipient alone, then the message as its
    recipients make it (a refused copy leaves a letter the embassy took sent)."""
    rows = list(Recipient.objects.select_for_update().filter(outboxmessage=message).order_by("pk"))
    if not rows:  # mail to a supporter: its only recipient's state is the message's
        OutboxMessage.objects.filter(pk=message.pk).fail(note, now, worker="bounces")
        return
    for row in rows:
        if row.address.lower() == address.lower():
            row.status, row.last_reply, row.next_attempt_at = Recipient.Status.FAILED, note, None
            row.save(update_fields=["status", "last_reply", "next_attempt_at"])
    recipients.settle(message, rows, now, leased=False)


def pause_blocking_domain(bounce: Bounce, now: datetime.datetime, alert: bool = True) -> list[Target]:
    """Pause the targets of the refusing domain if it has refused enough letters; returns those paused.

    `alert`: tell staff at once. The worker says False and tells them once for its whole batch.
    """
    # Reasons and alerts are for the site's staff: in the site's language, whatever request came before.
    with translation.override(settings.LANGUAGE_CODE):
        paused = _pause_blocking_domain(bounce, now)
        if paused and alert:
            alert_paused(paused, bounce.diagnostic, now)
    return paused


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
            target_pauses.pause_target(target, reason, now)
            paused.append(target)
    return paused


def alert_paused(paused: list[Target], reply: str, now: datetime.datetime) -> None:
    """One message to staff for the targets paused as a domain blocks the letters."""
    with translation.override(settings.LANGUAGE_CODE):
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
            % {"targets": targets, "reply": reply},
            now,
        )


def record_rejection(
    message: OutboxMessage, reply: str, now: datetime.datetime, recipient: str = "", alert: bool = True
) -> list[Target]:
    """A 5.7.x refusal answered during sending counts like a policy bounce; returns the targets it paused.

    `recipient`: the address the server refused (at RCPT, or one of those it took, at DATA). Without one
    the refusal counts for the domains of the letter's targets."""
    match = _STATUS.search(reply)
    if not match or not match.group(1).startswith("5.7."):
        return []
    domain = recipient.rsplit("@", 1)[-1].lower() if "@" in recipient else ""
    try:
        with transaction.atomic():
            bounce = Bounce.objects.create(
                message=message,
                at=now,
                recipient=recipient,
                domain=domain,
                status=match.group(1),
                diagnostic=reply[:1000],
            )
    except IntegrityError:
        return []
    return pause_blocking_domain(bounce, now, alert=alert)
