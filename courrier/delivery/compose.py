"""An outbox row as the RFC 5322 bytes that go on the wire (or into the sandbox).

Headers are written directly: they are few and known, and this is about ten
times faster than the email package's generic folding, which was the worker's
largest cost. Only the MIME body of a message with an attachment (digests)
comes from the email package: its folding of a long quoted display name drops
the quotes, so that `"a@b.example, c" <sender>` came out as two addresses.
Every value that came from a person has been through header_text first, so it
holds no line break and no encoded-word opener, and headers are folded with CRLF.
"""

import base64
import binascii
import email.policy
import email.utils
import functools
import re
from email.message import EmailMessage

from courrier.delivery.models import OutboxMessage
from courrier.lib.headers import header_text

# Lines end in CRLF, no line is longer than 78 characters, and a header value
# that still held a line break would raise instead of being written.
_POLICY = email.policy.SMTP.clone(raise_on_defect=True)
_ATOM_TEXT = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*$")


def encoded_words(value: str) -> str:
    """RFC 2047 base64 encoded words, each line under 78 characters, never splitting a character."""
    data = value.encode("utf-8")
    words, start = [], 0
    while True:
        # 39 bytes: 52 base64 characters, 64 with the markers, 74 with "Subject: ".
        end = min(start + 39, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1  # back to the first byte of the character that would be cut
        words.append(data[start:end])
        if end >= len(data):
            break
        start = end
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(word).decode()}?=" for word in words)


def encoded(name: str, value: str) -> str:
    """A header line; non-ASCII text becomes encoded words, folded with CRLF."""
    if value.isascii():
        return folded(f"{name}: {value}")
    return f"{name}: {encoded_words(value)}"


def folded(line: str, width: int = 78) -> str:
    """An ASCII header line folded at spaces so that no line is longer than `width` where it can be helped
    (RFC 5322 2.1.1); a word longer than the width stays whole."""
    if len(line) <= width:
        return line
    lines, current = [], ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = " " + word
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    return "\r\n".join(lines)


def mailbox(name: str, display_name: str, addr_spec: str) -> str:
    display_name = header_text(display_name)
    if not display_name:
        return f"{name}: {addr_spec}"
    if not display_name.isascii():
        return encoded(name, display_name) + f"\r\n <{addr_spec}>"
    if _ATOM_TEXT.match(display_name):
        return f"{name}: {display_name} <{addr_spec}>"
    quoted = f'{name}: "{email.utils.quote(display_name)}" <{addr_spec}>'
    if len(quoted) <= 78:
        return quoted
    # A quoted string too long for one line is folded by relays that rewrite headers with Python's
    # email package, which drops its quotes: its commas and "@" would then make new addresses.
    return f"{name}: {encoded_words(display_name)}\r\n <{addr_spec}>"


def addresses(addr_specs: list[str]) -> str:
    return ",\r\n ".join(header_text(addr, 254) for addr in addr_specs)


def address_line(name: str, addr_specs: tuple[str, ...]) -> str:
    return f"{name}: {addresses(list(addr_specs))}"


# The letters of one campaign share their To and Cc lines: each is written once, not once a letter. Only
# targets' lines are kept: a cache of supporters' addresses (or of subjects, which may hold a name) would
# keep personal data in the worker's memory.
target_address_line = functools.lru_cache(maxsize=256)(address_line)
TARGET_KINDS = OutboxMessage.TARGET_KINDS


def subject_line(subject: str) -> str:
    return encoded("Subject", header_text(subject, 250))


def header_lines(message: OutboxMessage) -> list[str]:
    """Every header but the MIME ones, each value flattened to one line."""
    line = target_address_line if message.kind in TARGET_KINDS else address_line
    lines = [mailbox("From", message.from_name, message.from_email), line("To", tuple(message.to))]
    if message.cc:
        lines.append(line("Cc", tuple(message.cc)))
    if message.reply_to:
        lines.append(mailbox("Reply-To", message.reply_to_name, header_text(message.reply_to, 254)))
    lines += [
        subject_line(message.subject),
        "Date: " + email.utils.format_datetime(message.dated_at or message.created_at),
        f"Message-ID: {message.message_id}",
    ]
    if message.auto_submitted:
        lines.append("Auto-Submitted: auto-generated")
    if message.list_unsubscribe:
        lines += list_unsubscribe_lines(message.list_unsubscribe, message.list_unsubscribe_mailto)
    return lines


def list_unsubscribe_lines(url: str, mailto: str = "") -> list[str]:
    """RFC 2369 and RFC 8058: where to unsubscribe, and the one-click POST when that address is https.

    The mailto first (a client that does not POST sends a mail there), then the link; each address on a line
    of its own, so that the header folds.
    """
    addresses = [f"<mailto:{mailto}>"] if mailto else []
    addresses.append(f"<{header_text(url, 500)}>")
    lines = ["List-Unsubscribe: " + ",\r\n ".join(addresses)]
    if url.startswith("https://"):
        # One-click (RFC 8058) is for https only: a mail provider POSTs "List-Unsubscribe=One-Click" there.
        lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    return lines


def compose(message: OutboxMessage) -> bytes:
    if message.attachment:
        return compose_with_attachment(message)
    lines = [
        *header_lines(message),
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
    ]
    text = message.body.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    body = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    # Addresses are ASCII (validated as plain addresses); a non-ASCII one raises here, not on the wire.
    return "\r\n".join(lines).encode("ascii") + b"\r\n\r\n" + body


def compose_with_attachment(message: OutboxMessage) -> bytes:
    """The same headers as compose(), above the email package's multipart body (its MIME headers first)."""
    mail = EmailMessage(policy=_POLICY)
    mail.set_content(message.body, charset="utf-8")
    mail.add_attachment(
        bytes(message.attachment), maintype="application", subtype="pdf", filename=message.attachment_name
    )
    return "\r\n".join(header_lines(message)).encode("ascii") + b"\r\n" + mail.as_bytes()
