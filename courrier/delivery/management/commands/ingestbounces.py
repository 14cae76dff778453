import imaplib
import mailbox
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from courrier.delivery.bounces import read_bounce, record_bounce


class Command(BaseCommand):
    help = (
        "Read bounce messages and mark the letters they report. Sources: a Maildir (--maildir), an IMAP mailbox "
        "(--imap-host ...), or one message on standard input (an MTA pipe: '|manage.py ingestbounces')."
    )

    def add_arguments(self, parser):
        parser.add_argument("--maildir", help="Read every message in this Maildir, then remove it.")
        parser.add_argument("--keep", action="store_true", help="With --maildir: leave the messages in place.")
        parser.add_argument("--imap-host")
        parser.add_argument("--imap-port", type=int, default=993)
        parser.add_argument("--imap-user")
        parser.add_argument("--imap-password-file", help="A file holding the IMAP password.")
        parser.add_argument("--imap-folder", default="INBOX")
        parser.add_argument("--imap-plain", action="store_true", help="No TLS (a local test server only).")

    def handle(self, *args, maildir=None, keep=False, imap_host=None, **options):
        if maildir:
            counts = self.from_maildir(Path(maildir), keep)
        elif imap_host:
            counts = self.from_imap(imap_host, options)
        else:
            counts = [self.ingest(sys.stdin.buffer.read())]
        self.stdout.write(f"read {len(counts)} message(s), recorded {sum(counts)} bounce(s)")

    def ingest(self, raw: bytes) -> int:
        return sum(1 for report in read_bounce(raw) if record_bounce(report))

    def from_maildir(self, path: Path, keep: bool) -> list[int]:
        box = mailbox.Maildir(path, factory=None, create=False)
        counts = []
        for key in list(box.keys()):
            counts.append(self.ingest(box.get_bytes(key)))
            if not keep:
                box.remove(key)
        return counts

    def from_imap(self, host: str, options: dict) -> list[int]:
        if not (options["imap_user"] and options["imap_password_file"]):
            raise CommandError("--imap-user and --imap-password-file are required with --imap-host")
        password = Path(options["imap_password_file"]).read_text().strip()
        client_class = imaplib.IMAP4 if options["imap_plain"] else imaplib.IMAP4_SSL
        client = client_class(host, options["imap_port"])
        try:
            client.login(options["imap_user"], password)
            client.select(options["imap_folder"])
            _status, data = client.search(None, "UNSEEN")
            counts = []
            for number in data[0].split():
                _status, parts = client.fetch(number, "(RFC822)")
                counts.append(self.ingest(parts[0][1]))
                client.store(number, "+FLAGS", "\\Seen")
            return counts
        finally:
            client.logout()
