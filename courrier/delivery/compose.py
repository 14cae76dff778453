"""An outbox row as the RFC 5322 bytes that go on the wire (or into the sandbox)."""

import email.policy
import email.utils
from email.headerregistry import Address
from email.message import EmailMessage

from courrier.delivery.models import OutboxMessage
from courrier.lib.headers import header_text

# Lines end in CRLF, no line is longer than 78 characters, and a header value
# that still held a line break would raise instead of being written.
_POLICY = email.policy.SMTP.clone(raise_on_defect=True)


def address(display_name: str, addr_spec: str) -> Address:
    username, domain = addr_spec.rsplit("@", 1)
    return Address(display_name=header_text(display_name), username=username, domain=domain)


def compose(message: OutboxMessage) -> bytes:
    mail = EmailMessage(policy=_POLICY)
    mail["From"] = address(message.from_name, message.from_email)
    mail["To"] = [address("", rcpt) for rcpt in message.to]
    if message.cc:
        mail["Cc"] = [address("", rcpt) for rcpt in message.cc]
    if message.reply_to:
        mail["Reply-To"] = address("", message.reply_to)
    mail["Subject"] = header_text(message.subject, 250)
    mail["Date"] = email.utils.format_datetime(message.created_at)
    mail["Message-ID"] = message.message_id
    if message.auto_submitted:
        mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.body, charset="utf-8")
    if message.attachment:
        mail.add_attachment(
            bytes(message.attachment), maintype="application", subtype="pdf", filename=message.attachment_name
        )
    return mail.as_bytes()
