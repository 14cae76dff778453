"""`manage.py ingestbounces` reading an IMAP mailbox, against a real IMAP server: Debian's Dovecot.

The tests start their own Dovecot on 127.0.0.1 (plain IMAP and IMAPS, with a certificate from a CA made
here), each test with a mailbox of its own, and put the mail in with IMAP APPEND as an MTA would deliver it.
"""

import datetime
import grp
import imaplib
import io
import ipaddress
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from courrier.campaigns.models import Target
from courrier.delivery import enqueue
from courrier.delivery.models import Bounce, OutboxMessage
from courrier.delivery.verp import verp_address
from courrier.ops.management.commands import ingestbounces
from tests.conftest import ROOT, free_port
from tests.factories import OFFICE, confirmed_signatures, delivered_letters
from tests.helpers import dsn, letters

DOVECOT = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/sbin")

if os.environ.get("COURRIER_REQUIRE_IMAP") and not DOVECOT:
    raise RuntimeError("COURRIER_REQUIRE_IMAP is set but dovecot is not installed (apt-get install dovecot-imapd)")

pytestmark = pytest.mark.django_db
Status = OutboxMessage.Status
PASSWORD = "a test password"
ORDINARY_MAIL = b"From: someone@example.org\r\nTo: bounces@localhost\r\nSubject: Hello\r\n\r\nJust a word.\r\n"


@dataclass
class Dovecot:
    home: Path
    port: int  # plain IMAP
    tls_port: int  # IMAPS
    ca_file: Path  # the CA that signed the server's certificate
    password_file: Path
    users: Path  # a passwd-file per user: Dovecot rereads a changed file at most once a second, a new one at once


def make_certificates(home: Path) -> Path:
    """A private CA and a certificate for 127.0.0.1 signed by it, as an operator's own CA would; returns the CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(common_name: str, key, issuer, issuer_key, extensions: list) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Courrier test CA")])
    usage = dict.fromkeys(
        ["content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "encipher_only"], False
    )
    ca = certificate(
        "Courrier test CA",
        ca_key,
        ca_name,
        ca_key,
        [
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (
                x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, decipher_only=False, **usage),
                True,
            ),
        ],
    )
    server = certificate(
        "127.0.0.1",
        key,
        ca_name,
        ca_key,
        [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False),
            (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False),
        ],
    )
    pem = serialization.Encoding.PEM
    (home / "server.pem").write_bytes(server.public_bytes(pem))
    (home / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (home / "ca.pem").write_bytes(ca.public_bytes(pem))
    return home / "ca.pem"


def dovecot_config(home: Path, port: int, tls_port: int, user: str, group: str) -> str:
    # Dovecot runs as one unprivileged user throughout (it never opens a mailbox as root), so it cannot
    # chroot its login processes; everything it keeps or logs stays under `home`.
    return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {home}/run
state_dir = {home}/state
log_path = {home}/dovecot.log
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
mail_uid = {user}
mail_gid = {group}
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{home}/mail/%u
disable_plaintext_auth = no
auth_failure_delay = 0
ssl = yes
ssl_cert = <{home}/server.pem
ssl_key = <{home}/server.key
passdb {{
  driver = passwd-file
  args = {home}/users/%u
}}
userdb {{
  driver = passwd-file
  args = {home}/users/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0  # no growing delay for every login after the wrong-password test
  }}
}}
"""


def wait_for_dovecot(process: subprocess.Popen, server: Dovecot) -> None:
    deadline = time.monotonic() + 20
    while True:
        if process.poll() is not None:
            log = server.home / "dovecot.log"
            raise AssertionError(f"dovecot stopped:\n{(server.home / 'stderr.log').read_text()}{log.read_text()}")
        try:
            imaplib.IMAP4("127.0.0.1", server.port, timeout=2).logout()
            socket.create_connection(("127.0.0.1", server.tls_port), timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(scope="module")
def dovecot():
    """One Dovecot for the module, on two free ports; stopped, with every process it started, at the end."""
    if not DOVECOT:
        pytest.skip("Debian's dovecot-imapd is not installed (apt-get install dovecot-imapd; CI installs it)")
    # Not pytest's tmp_path: its parent is private to root, and Dovecot runs as another user.
    home = Path(tempfile.mkdtemp(prefix="courrier-dovecot-"))
    if os.getuid() == 0:
        user, group = "nobody", "nogroup"  # Dovecot refuses to open mail as root
        os.chown(home, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
    else:
        user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    server = Dovecot(home, free_port(), free_port(), make_certificates(home), home / "password", home / "users")
    server.password_file.write_text(PASSWORD + "\n")
    server.users.mkdir()
    (home / "dovecot.conf").write_text(dovecot_config(home, server.port, server.tls_port, user, group))
    with (home / "stderr.log").open("wb") as log:
        process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(home / "dovecot.conf")],
            cwd=home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so that stopping it stops its children too
            **({"user": user, "group": group, "extra_groups": []} if os.getuid() == 0 else {}),
        )
    try:
        wait_for_dovecot(process, server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # any child left behind
            except ProcessLookupError:
                pass
            process.wait()
            shutil.rmtree(home, ignore_errors=True)


class Mailbox:
    """One test's own IMAP account on the server, seen through a session of the test's own."""

    numbers = itertools.count(1)

    def __init__(self, server: Dovecot):
        self.server = server
        self.user = f"bounces{next(self.numbers)}"
        (server.users / self.user).write_text(f"{self.user}:{{PLAIN}}{PASSWORD}::::::\n")
        self.client = imaplib.IMAP4("127.0.0.1", server.port, timeout=10)
        self.client.login(self.user, PASSWORD)

    def args(self, *extra: str, tls: bool = False) -> list[str]:
        """The command line an operator would write to read this mailbox."""
        where = ["--imap-port", str(self.server.tls_port)] if tls else ["--imap-port", str(self.server.port)]
        return [
            "--imap-host",
            "127.0.0.1",
            *where,
            *([] if tls else ["--imap-plain"]),
            "--imap-user",
            self.user,
            "--imap-password-file",
            str(self.server.password_file),
            *extra,
        ]

    def put(self, *messages: bytes, folder: str = "INBOX") -> None:
        for raw in messages:
            status, data = self.client.append(f'"{folder}"', None, None, raw)
            assert status == "OK", data

    def create(self, folder: str) -> None:
        status, data = self.client.create(f'"{folder}"')
        assert status == "OK", data

    def messages(self, folder: str = "INBOX") -> list[tuple[bool, bytes]]:
        """(read?, the message as it is) for each message in the folder, in order."""
        self.client.select(f'"{folder}"', readonly=True)
        _status, data = self.client.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
        return [(b"\\Seen" in imaplib.ParseFlags(part[0]), part[1]) for part in data if isinstance(part, tuple)]

    def mark_all_unread(self, folder: str = "INBOX") -> None:
        self.client.select(f'"{folder}"')
        self.client.uid("STORE", "1:*", "-FLAGS", "(\\Seen)")


@pytest.fixture
def imap(dovecot):
    mailbox = Mailbox(dovecot)
    yield mailbox
    mailbox.client.logout()


def ingest(*args: str, stderr: io.StringIO | None = None) -> str:
    """Run the command in this process; returns what it printed."""
    out = io.StringIO()
    call_command("ingestbounces", *args, stdout=out, stderr=stderr or io.StringIO())
    return out.getvalue()


def run_as_operator(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "ingestbounces", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bounces_read_over_imap_fail_letters_record_delays_and_leave_other_mail_alone(
    own_campaign, imap, process_env, transactional_db
):
    own_campaign.targets.filter(role=Target.Role.CC).delete()  # the office alone: its bounces decide the letters
    unknown_user, delayed = delivered_letters(own_campaign, 2)
    imap.put(
        dsn(verp_address(unknown_user), "5.1.1", recipient=OFFICE, diagnostic="550 5.1.1 user unknown"),
        ORDINARY_MAIL,
        dsn(verp_address(delayed), "4.4.7", recipient=OFFICE, diagnostic="451 4.4.7 still trying"),
    )
    result = run_as_operator(process_env(), *imap.args())
    assert result.returncode == 0, result.stderr
    assert "read 3 message(s), recorded 2 bounce(s)" in result.stdout
    unknown_user.refresh_from_db()
    delayed.refresh_from_db()
    assert unknown_user.status == Status.FAILED
    assert "5.1.1" in unknown_user.last_reply and "user unknown" in unknown_user.last_reply
    assert delayed.status == Status.SENT  # the receiving side is still trying: no failure
    assert "4.4.7" in delayed.events.last().reply
    # Every message was read and flagged so; none was deleted, the ordinary mail is there as it came.
    assert [seen for seen, _raw in imap.messages()] == [True, True, True]
    assert imap.messages()[1][1] == ORDINARY_MAIL


def test_a_targets_answer_read_over_imap_comes_back_to_the_campaign_once(own_campaign, imap):
    from courrier.delivery.models import Answer
    from courrier.delivery.verp import reply_address

    [signature] = confirmed_signatures(own_campaign, 1, timezone.now(), wants_answer=True)
    enqueue.queue_letters()
    answer = (
        f"From: The Office <{OFFICE}>\r\nTo: {reply_address(signature.pk)}\r\nSubject: Re: the detainees\r\n"
        "Message-ID: <over-imap@ministry.example>\r\n\r\nYour letter has been received.\r\n"
    ).encode()
    imap.put(answer, ORDINARY_MAIL)
    assert "1 answer(s) to letters" in ingest(*imap.args())
    imap.mark_all_unread()
    ingest(*imap.args())
    kept = Answer.objects.get()
    assert (kept.signature, kept.target.email, kept.body.strip()) == (
        signature,
        OFFICE,
        "Your letter has been received.",
    )
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.ANSWER, signature=signature).count() == 1


def test_a_second_run_records_nothing_new_even_when_the_bounces_are_unread_again(own_campaign, imap):
    confirmed_signatures(own_campaign, 1, timezone.now())
    enqueue.queue_letters()
    imap.put(dsn(verp_address(letters().get()), "5.1.1", recipient=OFFICE))
    assert "read 1 message(s), recorded 1 bounce(s)" in ingest(*imap.args())
    assert "read 0 message(s), recorded 0 bounce(s)" in ingest(*imap.args())
    # As after a run that died before flagging it: the bounce is read again, and counted once.
    imap.mark_all_unread()
    assert "read 1 message(s), recorded 0 bounce(s)" in ingest(*imap.args())
    assert Bounce.objects.count() == 1
    assert letters().get().events.filter(worker="bounces").count() == 1


def test_three_policy_blocks_read_over_imap_pause_the_target(own_campaign, imap, settings):
    settings.STAFF_ALERT_EMAIL = "staff@courrier.example"
    delivered_letters(own_campaign, 3)
    confirmed_signatures(own_campaign, 2, timezone.now(), prefix="later")
    enqueue.queue_letters()  # two more, not sent yet when the bounces come
    imap.create("Bounce reports")  # a folder with a space in its name, which IMAP wants quoted
    imap.put(
        *(dsn(verp_address(letter), "5.7.1", recipient=OFFICE) for letter in letters().order_by("pk")[:3]),
        folder="Bounce reports",
    )
    assert "recorded 3 bounce(s)" in ingest(*imap.args("--imap-folder", "Bounce reports"))
    office = own_campaign.targets.get(role=Target.Role.TO)
    assert office.is_paused
    assert "3 refus pour raison de politique (5.7.1) de ministry.example" in office.pause_reason
    assert not own_campaign.targets.get(role=Target.Role.CC).is_paused  # another domain
    assert letters().filter(status=Status.HELD).count() == 2
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.STAFF_ALERT).count() == 1


def test_a_bounce_in_a_servers_own_words_and_format_is_read(own_campaign, imap):
    confirmed_signatures(own_campaign, 1, timezone.now())
    enqueue.queue_letters()
    # An 8-bit UTF-8 diagnostic (used to crash the parser) and a status with a comment after its code.
    imap.put(
        dsn(
            verp_address(letters().get()),
            "5.1.1 (user unknown)",
            recipient=OFFICE,
            diagnostic="550 5.1.1 Адресат не найден",
        )
    )
    assert "recorded 1 bounce(s)" in ingest(*imap.args())
    assert Bounce.objects.get().status == "5.1.1"
    assert "Адресат не найден" in letters().get().last_reply


def test_a_message_that_cannot_be_handled_is_left_unread_and_the_others_are_recorded(own_campaign, imap, monkeypatch):
    own_campaign.targets.filter(role=Target.Role.CC).delete()
    first, second = delivered_letters(own_campaign, 2)
    poison = b"X-Poison: yes\r\n" + dsn(verp_address(first), "5.1.1", recipient=OFFICE)
    imap.put(
        dsn(verp_address(first), "5.1.1", recipient=OFFICE),
        poison,
        dsn(verp_address(second), "5.1.1", recipient=OFFICE),
    )

    def read_inbound(raw: bytes):
        if raw.startswith(b"X-Poison"):
            raise ValueError("cannot make sense of this one, sent to someone@example.org")
        return real_read_inbound(raw)

    real_read_inbound = ingestbounces.read_inbound
    monkeypatch.setattr(ingestbounces, "read_inbound", read_inbound)
    errors = io.StringIO()
    with pytest.raises(CommandError, match=r"1 message\(s\) could not be handled and were left in place"):
        ingest(*imap.args(), stderr=errors)
    assert "IMAP message UID 2 could not be handled: ValueError: cannot make sense of this one" in errors.getvalue()
    assert "someone@example.org" not in errors.getvalue()  # addresses are personal data: never in the log
    assert list(letters().order_by("pk").values_list("status", flat=True)) == [Status.FAILED, Status.FAILED]
    assert [seen for seen, _raw in imap.messages()] == [True, False, True]  # to be looked at, or read again


def test_a_missing_folder_is_named_in_a_plain_error(imap):
    with pytest.raises(CommandError, match=r"cannot open the IMAP folder 'Bounces': .*doesn't exist"):
        ingest(*imap.args("--imap-folder", "Bounces"))


def test_a_wrong_password_stops_the_command_with_a_plain_message(imap, tmp_path, process_env):
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not the password\n")
    args = imap.args()
    args[args.index("--imap-password-file") + 1] = str(wrong)
    result = run_as_operator(process_env(), *args)
    assert result.returncode != 0
    assert f"the IMAP server refused the login of '{imap.user}': [AUTHENTICATIONFAILED]" in result.stderr
    assert "Traceback" not in result.stderr
    assert "not the password" not in result.stderr + result.stdout


def test_a_server_that_is_not_there_stops_the_command_with_a_plain_message(tmp_path, process_env):
    (tmp_path / "password").write_text(PASSWORD)
    port = free_port()  # nothing listens there
    result = run_as_operator(
        process_env(),
        *("--imap-host", "127.0.0.1", "--imap-port", str(port), "--imap-plain"),
        *("--imap-user", "bounces", "--imap-password-file", str(tmp_path / "password")),
    )
    assert result.returncode != 0
    assert f"cannot connect to the IMAP server 127.0.0.1:{port}: [Errno 111] Connection refused" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_server_that_never_answers_cannot_hang_the_command(tmp_path):
    (tmp_path / "password").write_text(PASSWORD)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections are accepted by the kernel, and then nothing is ever said
        port = silent.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(CommandError, match=f"cannot connect to the IMAP server 127.0.0.1:{port}: timed out"):
            ingest(
                *("--imap-host", "127.0.0.1", "--imap-port", str(port), "--imap-plain", "--imap-timeout", "0.5"),
                *("--imap-user", "bounces", "--imap-password-file", str(tmp_path / "password")),
            )
        assert time.monotonic() - start < 5


def test_the_imap_connection_has_a_timeout_of_30_seconds_unless_told_otherwise(imap, monkeypatch):
    timeouts = []

    class WatchedIMAP4(imaplib.IMAP4):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            timeouts.append(self.sock.gettimeout())

    monkeypatch.setattr(imaplib, "IMAP4", WatchedIMAP4)
    ingest(*imap.args())
    ingest(*imap.args("--imap-timeout", "7"))
    assert timeouts == [30.0, 7.0]


def test_over_tls_the_servers_certificate_is_verified_against_the_operators_ca(own_campaign, imap):
    own_campaign.targets.filter(role=Target.Role.CC).delete()
    delivered_letters(own_campaign, 1)
    imap.put(dsn(verp_address(letters().get()), "5.1.1", recipient=OFFICE))
    assert "recorded 1 bounce(s)" in ingest(*imap.args("--imap-cafile", str(imap.server.ca_file), tls=True))
    assert letters().get().status == Status.FAILED


def test_over_tls_a_certificate_from_an_unknown_ca_is_refused_never_accepted_silently(own_campaign, imap):
    confirmed_signatures(own_campaign, 1, timezone.now())
    enqueue.queue_letters()
    imap.put(dsn(verp_address(letters().get()), "5.1.1", recipient=OFFICE))
    with pytest.raises(CommandError, match=r"certificate we cannot verify .* pass its certificate with --imap-cafile"):
        ingest(*imap.args(tls=True))  # the system's CAs only: ours is not among them
    assert letters().get().status == Status.QUEUED
    assert [seen for seen, _raw in imap.messages()] == [False]
