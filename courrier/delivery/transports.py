"""Where a composed message goes: an SMTP server, or the local sandbox Maildir.

Each send returns a SendResult saying what the receiving side answered, so
the worker can record it and decide: sent, deferred (try again) or failed.
Only 5xx replies are permanent; a refused connection, a timeout, a dropped
line or a 4xx reply is transient.
"""

import contextlib
import hashlib
import mailbox
import os
import re
import secrets
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


@dataclass
class SendResult:
    outcome: str  # "sent", "deferred" or "failed": the OutboxMessage status it leads to
    code: int | None
    reply: str


def result_for_code(code: int, reply: bytes | str) -> SendResult:
    text = f"{code} " + (reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply)
    if 200 <= code < 300:
        return SendResult("sent", code, text)
    return SendResult("failed" if code >= 500 else "deferred", code, text)


def command(connection: smtplib.SMTP, verb: str, argument: str) -> tuple[int, bytes]:
    """An SMTP command with an address we validated as plain ASCII (see lib/headers.is_plain_address).

    smtplib's mail() and rcpt() re-parse every address with email.utils, which
    cost a tenth of the worker's time per letter.
    """
    if "\r" in argument or "\n" in argument or not argument.isascii():
        raise smtplib.SMTPResponseException(501, f"refused to send to an unsafe address: {argument!r}")
    connection.putcmd(verb, argument)
    return connection.getreply()


_LINE_STARTING_WITH_A_PERIOD = re.compile(rb"(?m)^\.")


def send_data(connection: smtplib.SMTP, data: bytes, meanwhile: Callable[[], None] | None) -> tuple[int, bytes]:
    """smtplib's data(), with `meanwhile` called between sending the message and reading the server's answer."""
    code, reply = connection.docmd("data")
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    payload = _LINE_STARTING_WITH_A_PERIOD.sub(b"..", data)  # RFC 5321 4.5.2, as smtplib does
    if not payload.endswith(b"\r\n"):
        payload += b"\r\n"
    connection.send(payload + b".\r\n")
    if meanwhile is not None:
        meanwhile()
    return connection.getreply()


_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


def message_id_tag(message_id: str) -> str:
    """What a sandboxed file's name carries of its Message-ID, so that erasing the message finds the file."""
    return "mid" + hashlib.sha256(message_id.strip().encode()).hexdigest()[:24]


class MaildirTransport:
    """The sandbox: every message becomes a file in var/mail/new, nothing leaves the machine.

    Each file is named as Python's Maildir names them (seconds.Mmicroseconds…, which the sandbox page sorts
    by), plus a tag of the message's Message-ID: erasure and retention delete a message's copy by it.
    """

    def __init__(self, path: Path | None = None):
        self.path = Path(path or settings.SANDBOX_MAILDIR)
        self.maildir = mailbox.Maildir(self.path, factory=None, create=True)

    def send(
        self, envelope_from: str, recipients: list[str], data: bytes, meanwhile: Callable[[], None] | None = None
    ) -> SendResult:
        # What an MTA's local delivery would add, so staff can see the envelope.
        trace = f"Return-Path: <{envelope_from}>\r\n".encode()
        trace += b"".join(f"Delivered-To: {rcpt}\r\n".encode() for rcpt in recipients)
        key = self.add(trace + data)
        return SendResult("sent", 250, f"sandbox: {self.path / 'new' / key}")

    def add(self, data: bytes) -> str:
        """Write the message into tmp/, then move it into new/ (the Maildir protocol); returns its name."""
        header_block = data.split(b"\r\n\r\n", 1)[0]
        found = _MESSAGE_ID.search(header_block)
        tag = message_id_tag(found.group(1).decode("ascii", "replace")) if found else "mid-none"
        now = time.time()
        name = f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}R{secrets.token_hex(4)}.{tag}.{socket.gethostname()}"
        temporary = self.path / "tmp" / name
        temporary.write_bytes(data)
        os.replace(temporary, self.path / "new" / name)
        return name

    def erase(self, message_ids: list[str]) -> int:
        """Delete the sandbox's copies of these messages (read or not); returns how many files went."""
        tags = {message_id_tag(message_id) for message_id in message_ids}
        if not tags:
            return 0
        erased = 0
        for folder in ("new", "cur"):
            directory = self.path / folder
            for entry in os.scandir(directory) if directory.is_dir() else ():
                parts = entry.name.split(":", 1)[0].split(".")
                if len(parts) > 2 and parts[2] in tags:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                        erased += 1
        return erased

    def close(self) -> None:
        pass


class SmtpTransport:
    """One connection, opened on first use and reused until it fails or is closed."""

    def __init__(self):
        self.connection: smtplib.SMTP | None = None

    def open(self) -> smtplib.SMTP:
        host, port, timeout = settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT
        if settings.EMAIL_USE_SSL:
            connection = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            connection = smtplib.SMTP(host, port, timeout=timeout)
            if settings.EMAIL_USE_TLS:
                connection.starttls(context=ssl.create_default_context())
        if settings.EMAIL_HOST_USER:
            connection.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)
        return connection

    def send(
        self, envelope_from: str, recipients: list[str], data: bytes, meanwhile: Callable[[], None] | None = None
    ) -> SendResult:
        """Send one message; `meanwhile` is called while the server reads it, before its final answer is read.

        The worker prepares the next letter there: the server's time with this
        one and ours with the next then overlap, instead of adding up.
        """
        try:
            if self.connection is None:
                self.connection = self.open()
            return self._transaction(self.connection, envelope_from, recipients, data, meanwhile)
        except smtplib.SMTPResponseException as exc:
            self.close()
            return result_for_code(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPException, OSError) as exc:
            # Refused or dropped connection, timeout, TLS failure: try again later.
            self.close()
            return SendResult("deferred", None, f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _transaction(
        connection: smtplib.SMTP,
        envelope_from: str,
        recipients: list[str],
        data: bytes,
        meanwhile: Callable[[], None] | None,
    ) -> SendResult:
        """MAIL, RCPT, DATA by hand, to keep every reply (smtplib.sendmail drops the last one)."""
        connection.ehlo_or_helo_if_needed()
        code, reply = command(connection, "mail", f"FROM:<{envelope_from}>")
        if code != 250:
            connection.rset()
            return result_for_code(code, reply)
        refused = {}
        for rcpt in recipients:
            code, reply = command(connection, "rcpt", f"TO:<{rcpt}>")
            if code not in (250, 251):
                refused[rcpt] = (code, reply.decode("utf-8", "replace"))
        if len(refused) == len(recipients):
            connection.rset()
            worst = max(code for code, _reply in refused.values())
            return result_for_code(worst, "; ".join(f"{r}: {c} {t}" for r, (c, t) in refused.items()))
        code, reply = send_data(connection, data, meanwhile)
        result = result_for_code(code, reply)
        if refused:
            result.reply += " | refused: " + "; ".join(f"{r}: {c} {t}" for r, (c, t) in refused.items())
        return result

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self.connection = None
