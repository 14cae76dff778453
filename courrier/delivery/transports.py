"""Where a composed message goes: an SMTP server, or the local sandbox Maildir.

Each send returns a SendResult saying what the receiving side answered, so
the worker can record it and decide: sent, deferred (try again) or failed.
Only 5xx replies are permanent; a refused connection, a timeout, a dropped
line or a 4xx reply is transient.
"""

import contextlib
import hashlib
import logging
import mailbox
import os
import re
import secrets
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from courrier.lib.redact import without_addresses

log = logging.getLogger(__name__)


@dataclass
class SendResult:
    """What the receiving side answered to one message.

    `outcome` ("sent", "deferred" or "failed") is the answer for the recipients the server took at RCPT
    (DATA's answer); `refused` holds the others, each with its own RCPT answer, which decides for that
    recipient alone. `relay_failed` says the relay itself could not be used (refused or dropped connection,
    TLS failure, 421 "service not available"): nothing was taken, and nothing should be tried on it for a while.
    """

    outcome: str
    code: int | None
    reply: str
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    relay_failed: bool = False


def result_for_code(code: int, reply: bytes | str) -> SendResult:
    text = f"{code} " + (reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply)
    if 200 <= code < 300:
        return SendResult("sent", code, text)
    return SendResult("failed" if code >= 500 else "deferred", code, text, relay_failed=code == 421)


def all_refused(refused: dict[str, tuple[int, str]]) -> SendResult:
    """Every recipient refused at RCPT: the worst answer for the message, and each recipient's own."""
    worst = max(code for code, _reply in refused.values())
    text = "; ".join(f"{r}: {c} {t}" for r, (c, t) in refused.items())
    result = result_for_code(worst, text)
    result.refused = refused
    return result


class StaleConnection(Exception):
    """The server had closed the connection before this message's first command: nothing was sent."""


def check_plain(argument: str) -> None:
    """An address we validated as plain ASCII (see lib/headers.is_plain_address), or refuse to send it."""
    if "\r" in argument or "\n" in argument or not argument.isascii():
        raise smtplib.SMTPResponseException(501, f"refused to send to an unsafe address: {argument!r}")


def command(connection: smtplib.SMTP, verb: str, argument: str) -> tuple[int, bytes]:
    """An SMTP command with a checked address.

    smtplib's mail() and rcpt() re-parse every address with email.utils, which
    cost a tenth of the worker's time per letter.
    """
    connection.putcmd(verb, argument)
    return connection.getreply()


def first_command(connection: smtplib.SMTP, argument: str) -> tuple[int, bytes]:
    """MAIL FROM, the first command of a message: a connection the server closed meanwhile fails here."""
    try:
        return command(connection, "mail", argument)
    except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
        raise StaleConnection from exc


def pipelined(connection: smtplib.SMTP, envelope_from: str, recipients: list[str]):
    """MAIL, every RCPT and DATA in one write (RFC 2920), then their answers in order.

    Returns MAIL's code and reply, each RCPT's (code, reply), and DATA's (code, reply).
    """
    lines = [f"MAIL FROM:<{envelope_from}>", *(f"RCPT TO:<{rcpt}>" for rcpt in recipients), "DATA"]
    try:
        connection.send(("\r\n".join(lines) + "\r\n").encode("ascii"))
        code, reply = connection.getreply()
    except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
        raise StaleConnection from exc
    answers = [connection.getreply() for _ in recipients]
    return code, reply, answers, connection.getreply()


def chunked(
    connection: smtplib.SMTP,
    envelope_from: str,
    recipients: list[str],
    data: bytes,
    meanwhile: Callable[[], None] | None,
) -> SendResult:
    """MAIL, every RCPT and the message itself (BDAT … LAST, RFC 3030) in one write, then the answers:
    one round trip a message where PIPELINING alone needs two (DATA must wait for its 354).

    The message goes as it is, counted in bytes, with no dot-stuffing. If the server refuses the sender or
    every recipient, it refuses the BDAT too and throws the bytes away.
    """
    payload = data if data.endswith(b"\r\n") else data + b"\r\n"
    lines = [f"MAIL FROM:<{envelope_from}>", *(f"RCPT TO:<{rcpt}>" for rcpt in recipients)]
    head = ("\r\n".join(lines) + f"\r\nBDAT {len(payload)} LAST\r\n").encode("ascii")
    try:
        connection.send(head + payload)
        if meanwhile is not None:
            meanwhile()
        code, reply = connection.getreply()
    except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
        raise StaleConnection from exc
    answers = [connection.getreply() for _ in recipients]
    data_code, data_reply = connection.getreply()
    if code != 250:
        with contextlib.suppress(smtplib.SMTPException):
            connection.rset()
        return result_for_code(code, reply)
    refused = {
        rcpt: (answer_code, reply_text(answer))
        for rcpt, (answer_code, answer) in zip(recipients, answers, strict=True)
        if answer_code not in (250, 251)
    }
    if any(answer_code == 421 for answer_code, _text in refused.values()) or data_code == 421:
        text = "; ".join(f"{c} {t}" for c, t in refused.values() if c == 421) or reply_text(data_reply)
        return SendResult("deferred", 421, f"421 {text}", relay_failed=True)
    if len(refused) == len(recipients):
        return all_refused(refused)
    result = result_for_code(data_code, data_reply)
    result.refused = refused
    return result


def end_data(connection: smtplib.SMTP) -> None:
    """End a DATA the server accepted although nothing is to be sent: an empty message, which it refuses."""
    connection.send(b".\r\n")
    connection.getreply()


_LINE_STARTING_WITH_A_PERIOD = re.compile(rb"(?m)^\.")


def send_payload(connection: smtplib.SMTP, data: bytes, meanwhile: Callable[[], None] | None) -> tuple[int, bytes]:
    """After DATA's 354: the message, with `meanwhile` called between sending it and reading the answer."""
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


def open_maildir(path: Path | str) -> mailbox.Maildir:
    """The Maildir at `path`, made if missing. Not by Maildir(create=True), which checks, then creates: two
    workers starting at once (or a worker and a web process) both saw no folder, and one stopped on "File
    exists"."""
    for folder in ("", "new", "cur", "tmp"):
        (Path(path) / folder).mkdir(mode=0o700, parents=True, exist_ok=True)
    return mailbox.Maildir(path, factory=None, create=False)


class MaildirTransport:
    """The sandbox: every message becomes a file in var/mail/new, nothing leaves the machine.

    Each file is named as Python's Maildir names them (seconds.Mmicroseconds…, which the sandbox page sorts
    by), plus a tag of the message's Message-ID: erasure and retention delete a message's copy by it.
    """

    def __init__(self, path: Path | None = None):
        self.path = Path(path or settings.SANDBOX_MAILDIR)
        self.maildir = open_maildir(self.path)
        # Plain strings, made once: during a spike the sandbox writes a file per confirmation.
        self.tmp, self.new = str(self.path / "tmp"), str(self.path / "new")
        self.host = socket.gethostname()

    def send(
        self, envelope_from: str, recipients: list[str], data: bytes, meanwhile: Callable[[], None] | None = None
    ) -> SendResult:
        # What an MTA's local delivery would add, so staff can see the envelope.
        trace = f"Return-Path: <{envelope_from}>\r\n".encode()
        trace += b"".join(f"Delivered-To: {rcpt}\r\n".encode() for rcpt in recipients)
        key = self.add(trace + data)
        return SendResult("sent", 250, f"sandbox: {os.path.join(self.new, key)}")

    def add(self, data: bytes) -> str:
        """Write the message into tmp/, then move it into new/ (the Maildir protocol); returns its name."""
        header_block = data.split(b"\r\n\r\n", 1)[0]
        found = _MESSAGE_ID.search(header_block)
        tag = message_id_tag(found.group(1).decode("ascii", "replace")) if found else "mid-none"
        now = time.time()
        name = f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}R{secrets.token_hex(4)}.{tag}.{self.host}"
        temporary = os.path.join(self.tmp, name)
        # Readable by the site's own user only, like the database: a sandboxed message is a supporter's mail.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, os.path.join(self.new, name))
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


class RelayUnusable(Exception):
    """The relay could not be reached, or refused to talk (TLS failure, 421): its reason, without any address."""


def reply_text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


class SmtpTransport:
    """One connection to the relay, opened on first use and kept while letters keep coming.

    - The connection is kept between batches, so that letters spread out by pacing share one session, and
      closed once idle for EMAIL_IDLE_SECONDS (close_if_idle). A server that closed it meanwhile is met on the
      next letter: the worker opens a new one and tries that letter again at once (nothing was taken yet).
    - With PIPELINING (RFC 2920), MAIL, every RCPT and DATA go in one write, and their answers are read
      after; with CHUNKING too (RFC 3030), the message itself goes in that same write (BDAT … LAST): one
      round trip a message, during which the next letter is prepared.
    - The relay's certificate is always verified, against EMAIL_SSL_CAFILE when the operator has a private CA.
    - A connection that fails is logged once with its reason (not once a letter), and again once it works.
    """

    def __init__(self):
        self.connection: smtplib.SMTP | None = None
        self.last_used = 0.0
        self.failing = False

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=settings.EMAIL_SSL_CAFILE or None)

    def open(self) -> smtplib.SMTP:
        host, port, timeout = settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT
        name = settings.EMAIL_EHLO_NAME or None
        if settings.EMAIL_USE_SSL:
            connection = smtplib.SMTP_SSL(host, port, local_hostname=name, timeout=timeout, context=self.context())
        else:
            connection = smtplib.SMTP(host, port, local_hostname=name, timeout=timeout)
        try:
            connection.ehlo()
            if settings.EMAIL_USE_TLS and not settings.EMAIL_USE_SSL:
                connection.starttls(context=self.context())
                connection.ehlo()
            if settings.EMAIL_HOST_USER:
                connection.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)
        except BaseException:
            # Say goodbye where the session still allows it (a failed STARTTLS may not), then close.
            with contextlib.suppress(smtplib.SMTPException, OSError, ValueError):
                connection.quit()
            connection.close()
            raise
        return connection

    def send(
        self, envelope_from: str, recipients: list[str], data: bytes, meanwhile: Callable[[], None] | None = None
    ) -> SendResult:
        """Send one message; `meanwhile` is called while the server reads it, before its final answer is read.

        The worker prepares the next letter there: the server's time with this
        one and ours with the next then overlap, instead of adding up.
        """
        for fresh in (self.connection is None, True):
            try:
                if self.connection is None:
                    self.connection = self.open()
                result = self._transaction(self.connection, envelope_from, recipients, data, meanwhile)
            except StaleConnection:
                self.close()
                if fresh:
                    return self.failed("the relay closed the connection before the first command")
                continue  # an idle connection the server closed: once more, on a new one
            except smtplib.SMTPResponseException as exc:
                self.close()
                result = result_for_code(exc.smtp_code, exc.smtp_error)
                if result.relay_failed:
                    return self.failed(result.reply, result)
                return result
            except (smtplib.SMTPException, OSError, ValueError) as exc:
                # Refused or dropped connection, timeout, TLS failure: try again later.
                self.close()
                return self.failed(f"{type(exc).__name__}: {exc}")
            if result.relay_failed:
                self.close()
                return self.failed(result.reply, result)
            self.recovered()
            self.last_used = time.monotonic()
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def failed(self, reason: str, result: SendResult | None = None) -> SendResult:
        if not self.failing:
            # Once per failure, not once a letter; the reason names the relay's trouble, never a recipient.
            relay = f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
            log.warning("SMTP relay %s unusable: %s", relay, without_addresses(reason))
            self.failing = True
        return result or SendResult("deferred", None, reason, relay_failed=True)

    def recovered(self) -> None:
        if self.failing:
            log.warning("SMTP relay %s:%s usable again", settings.EMAIL_HOST, settings.EMAIL_PORT)
            self.failing = False

    @staticmethod
    def _transaction(
        connection: smtplib.SMTP,
        envelope_from: str,
        recipients: list[str],
        data: bytes,
        meanwhile: Callable[[], None] | None,
    ) -> SendResult:
        """MAIL, RCPT, DATA by hand, to keep every reply (smtplib.sendmail drops the last one)."""
        for argument in (envelope_from, *recipients):
            check_plain(argument)
        if connection.has_extn("pipelining") and connection.has_extn("chunking"):
            return chunked(connection, envelope_from, recipients, data, meanwhile)
        if connection.has_extn("pipelining"):
            code, reply, answers, (data_code, data_reply) = pipelined(connection, envelope_from, recipients)
        else:
            code, reply = first_command(connection, f"FROM:<{envelope_from}>")
            answers = [command(connection, "rcpt", f"TO:<{rcpt}>") for rcpt in recipients] if code == 250 else []
            data_code, data_reply = (0, b"")
        if code != 250:
            if data_code == 354:
                end_data(connection)
            connection.rset()
            return result_for_code(code, reply)
        refused = {
            rcpt: (answer_code, reply_text(answer))
            for rcpt, (answer_code, answer) in zip(recipients, answers, strict=True)
            if answer_code not in (250, 251)
        }
        if any(code == 421 for code, _text in refused.values()):
            if data_code == 354:
                end_data(connection)
            text = "; ".join(f"{c} {t}" for c, t in refused.values() if c == 421)
            return SendResult("deferred", 421, f"421 {text}", relay_failed=True)
        if len(refused) == len(recipients):
            if data_code == 354:
                end_data(connection)  # a server that said "go ahead" with nobody to deliver to
            with contextlib.suppress(smtplib.SMTPException):
                connection.rset()
            return all_refused(refused)
        if not connection.has_extn("pipelining"):
            data_code, data_reply = connection.docmd("data")
        if data_code != 354:
            connection.rset()
            result = result_for_code(data_code, data_reply)
            result.refused = refused
            return result
        code, reply = send_payload(connection, data, meanwhile)
        result = result_for_code(code, reply)
        result.refused = refused
        return result

    def close_if_idle(self, seconds: float) -> None:
        if self.connection is not None and time.monotonic() - self.last_used >= seconds:
            self.close()

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                pass
            with contextlib.suppress(OSError):
                self.connection.close()
            self.connection = None
