"""Read what comes back to the platform's signed addresses, from a Maildir, an IMAP mailbox or standard input:
bounces (recorded per recipient), automatic answers (noted, never failures), mail to a news message's
unsubscribe address (news stopped), and the targets' answers to a letter's Reply-To (delivery/answers.py).
Ordinary mail, and mail to a forged or unknown signed address, is left alone.

Each message is handled on its own: one that cannot be handled is reported and left where it is (unread, or
still in the Maildir), the others are recorded all the same, and the command then exits with an error.
Reading a message twice is harmless: the same report is recorded once.
"""

import contextlib
import imaplib
import mailbox
import ssl
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from courrier.delivery.answers import record_answer, record_hand_over_answer
from courrier.delivery.bounces import read_inbound, record_automatic_answer, record_bounce
from courrier.delivery.verp import HAND_OVER
from courrier.lib.redact import without_addresses
from courrier.news.subscriptions import stop_news


def _reason(value: object) -> str:
    """An IMAP error or answer as plain text (imaplib passes the server's words on as bytes)."""
    if isinstance(value, BaseException) and len(value.args) == 1:
        value = value.args[0]
    if isinstance(value, list):
        value = b" ".join(part for part in value if isinstance(part, bytes))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)


def _quoted(folder: str) -> str:
    # imaplib sends arguments as they are: a folder name with a space must be quoted by the caller.
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Command(BaseCommand):
    help = (
        "Read bounce messages and mark the letters they report. Sources: a Maildir (--maildir), an IMAP mailbox "
        "(--imap-host ...), or one message on standard input (an MTA pipe: '|manage.py ingestbounces')."
    )

    def add_arguments(self, parser):
        parser.add_argument("--maildir", help="Read every message in this Maildir, then remove it.")
        parser.add_argument("--keep", action="store_true", help="With --maildir: leave the messages in place.")
        parser.add_argument("--imap-host", help="Read the unread messages of an IMAP folder, then flag them read.")
        parser.add_argument("--imap-port", type=int, help="Default: 993 (TLS), or 143 with --imap-plain.")
        parser.add_argument("--imap-user")
        parser.add_argument("--imap-password-file", help="A file holding the IMAP password.")
        parser.add_argument("--imap-folder", default="INBOX")
        parser.add_argument(
            "--imap-cafile", help="Verify the server's certificate against this CA file (PEM), not the system's CAs."
        )
        parser.add_argument(
            "--imap-timeout", type=float, default=30.0, help="Seconds to wait for the IMAP server (default 30)."
        )
        parser.add_argument("--imap-plain", action="store_true", help="No TLS (a server on this machine only).")

    def handle(self, *args, maildir=None, keep=False, imap_host=None, **options):
        self.unhandled = 0
        self.automatic = 0
        self.answers = 0
        if maildir:
            counts = self.from_maildir(Path(maildir), keep)
        elif imap_host:
            counts = self.from_imap(imap_host, options)
        else:
            counts = [self.ingest(sys.stdin.buffer.read(), "the message on standard input")]
        recorded = sum(filter(None, counts))
        self.stdout.write(
            f"read {len(counts)} message(s), recorded {recorded} bounce(s), {self.automatic} automatic answer(s) "
            f"and {self.answers} answer(s) to letters"
        )
        if self.unhandled:
            raise CommandError(f"{self.unhandled} message(s) could not be handled and were left in place")

    def ingest(self, raw: bytes, where: str) -> int | None:
        """The number of bounces recorded from one message, or None if it could not be handled."""
        try:
            inbound = read_inbound(raw)
            if inbound.kind == "automatic":
                record_automatic_answer(inbound)  # an out-of-office answer: noted, never a failure
                self.automatic += 1
                return 0
            if inbound.kind == "answer":
                for purpose, pk in inbound.answered_addresses:
                    # To a letter's Reply-To, or to a campaign's final hand-over.
                    record = record_hand_over_answer if purpose == HAND_OVER else record_answer
                    self.answers += record(raw, pk) is not None
                return 0
            if inbound.kind == "unsubscribe":
                stop_news(inbound.signature_pk)
                return 0
            return sum(1 for report in inbound.reports if record_bounce(report))
        except Exception as exc:  # one odd message (or a database hiccup) must not stop the others
            self.unhandled += 1
            # The reason may quote a supporter's or a target's address: the operator's log gets neither.
            self.stderr.write(f"{where} could not be handled: {type(exc).__name__}: {without_addresses(str(exc))}")
            return None

    def from_maildir(self, path: Path, keep: bool) -> list[int | None]:
        try:
            box = mailbox.Maildir(path, factory=None, create=False)
        except mailbox.NoSuchMailboxError:
            raise CommandError(f"no Maildir at {path}") from None
        counts = []
        for key in list(box.keys()):
            count = self.ingest(box.get_bytes(key), f"Maildir message {key}")
            counts.append(count)
            if count is not None and not keep:
                box.remove(key)
        return counts

    def from_imap(self, host: str, options: dict) -> list[int | None]:
        user, password_file, plain = options["imap_user"], options["imap_password_file"], options["imap_plain"]
        if not (user and password_file):
            raise CommandError("--imap-user and --imap-password-file are required with --imap-host")
        if plain and options["imap_cafile"]:
            raise CommandError("--imap-cafile is for TLS: it cannot be used with --imap-plain")
        if options["imap_timeout"] <= 0:
            raise CommandError("--imap-timeout must be a positive number of seconds")
        try:
            password = Path(password_file).read_text().strip()
        except OSError as exc:
            raise CommandError(f"cannot read the IMAP password file: {exc}") from None
        port = options["imap_port"] or (143 if plain else 993)
        where = f"{host}:{port}"
        client = self.imap_connect(host, port, plain, options["imap_cafile"], options["imap_timeout"])
        failed = False
        try:
            return self.read_folder(client, user, password, options["imap_folder"])
        except (OSError, imaplib.IMAP4.error) as exc:  # timeouts and TLS errors are OSErrors too
            failed = True
            raise CommandError(f"IMAP error with {where}: {_reason(exc)}") from None
        except UnicodeEncodeError:
            raise CommandError("imaplib sends only ASCII: the user name, password and folder must be ASCII") from None
        finally:
            # Log out politely, but do not wait a second time on a connection that already failed.
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                if failed:
                    client.shutdown()
                else:
                    client.logout()

    def imap_connect(self, host: str, port: int, plain: bool, cafile: str | None, timeout: float) -> imaplib.IMAP4:
        """A connection with a timeout on every read and write, so a silent server cannot hang the command."""
        if not plain:
            try:
                # The certificate is always verified: against the operator's CA if given, the system's otherwise.
                context = ssl.create_default_context(cafile=cafile)
            except OSError as exc:
                raise CommandError(f"cannot use the CA file {cafile}: {_reason(exc)}") from None
        try:
            if plain:
                return imaplib.IMAP4(host, port, timeout=timeout)
            return imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=timeout)
        except ssl.SSLCertVerificationError as exc:
            raise CommandError(
                f"the IMAP server {host}:{port} has a certificate we cannot verify ({exc.verify_message}); "
                "for a private CA, pass its certificate with --imap-cafile"
            ) from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise CommandError(f"cannot connect to the IMAP server {host}:{port}: {_reason(exc)}") from None

    def read_folder(self, client: imaplib.IMAP4, user: str, password: str, folder: str) -> list[int | None]:
        try:
            client.login(user, password)
        except imaplib.IMAP4.abort:
            raise  # the connection broke: not a refusal
        except imaplib.IMAP4.error as exc:
            raise CommandError(f"the IMAP server refused the login of {user!r}: {_reason(exc)}") from None
        status, data = client.select(_quoted(folder))
        if status != "OK":
            raise CommandError(f"cannot open the IMAP folder {folder!r}: {_reason(data)}")
        # UIDs, not sequence numbers: they stay the same whatever other clients expunge meanwhile.
        status, data = client.uid("SEARCH", None, "UNSEEN")
        if status != "OK":
            raise CommandError(f"the IMAP server could not list the unread messages: {_reason(data)}")
        counts = []
        for uid in (data[0] or b"").split():
            # BODY.PEEK leaves the message unread: it is flagged \Seen only once handled, so a run that
            # dies midway reads it again next time.
            _status, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((part[1] for part in parts if isinstance(part, tuple)), None)
            if raw is None:
                continue  # expunged by another client since the search
            count = self.ingest(raw, f"IMAP message UID {uid.decode()}")
            counts.append(count)
            if count is not None:
                client.uid("STORE", uid, "+FLAGS", "(\\Seen)")
        return counts
