"""Real mail servers for the tests: a test CA, and Debian's Postfix started on 127.0.0.1 with a config of its own.

The Postfix instance (`Postfix.start`) accepts mail on a free port with STARTTLS (a certificate from the
test CA), offers PIPELINING as Postfix does by default, and delivers every domain into one local Maildir:
nothing can leave the machine (default_transport and relay_transport are `error:`). What it answers to each
recipient is decided by the test, live, through Postfix's policy delegation protocol: a small server here
(`Policy`) that Postfix asks at every RCPT and at the end of every message. Addresses whose local part
starts with "gone-" are accepted and then bounced by the virtual delivery agent, so a real delivery status
notification goes back to the envelope sender, as a target's server would send one later.
"""

import contextlib
import datetime
import email
import email.policy
import grp
import ipaddress
import os
import pwd
import shutil
import smtplib
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

POSTFIX = shutil.which("postfix", path="/usr/sbin:/sbin:/usr/bin")


def make_certificates(home: Path) -> Path:
    """A private CA and a certificate for 127.0.0.1 signed by it, as an operator's own CA would; returns the CA.

    The server's certificate and key are written as server.pem and server.key next to it.
    """
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

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Courrier test CA")])
    ca = certificate(
        "Courrier test CA",
        ca_key,
        ca_name,
        ca_key,
        [
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (x509.KeyUsage(False, False, False, False, False, True, True, False, False), True),
        ],
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = certificate(
        "127.0.0.1",
        server_key,
        ca_name,
        ca_key,
        [
            (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False),
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False),
        ],
    )
    pem = serialization.Encoding.PEM
    (home / "ca.pem").write_bytes(ca.public_bytes(pem))
    (home / "server.pem").write_bytes(server.public_bytes(pem))
    (home / "server.key").write_bytes(
        server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return home / "ca.pem"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Policy:
    """Postfix's policy delegation (`check_policy_service`): what it answers, decided live by the test.

    `at_rcpt[address]` is the answer to RCPT TO for that address ("450 4.2.0 …", "550 5.1.1 …", "421 …");
    `at_end` the answer at the end of every message while it is set (what a content filter says after DATA,
    for all the recipients the server took). Nothing set: DUNNO, Postfix's own decision. Every request is kept.
    """

    def __init__(self):
        self.at_rcpt: dict[str, str] = {}
        self.at_end = ""
        self.requests: list[dict[str, str]] = []
        self.lock = threading.Lock()
        policy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                while True:
                    attributes = {}
                    while True:
                        line = self.rfile.readline()
                        if not line:
                            return
                        line = line.decode("utf-8", "replace").rstrip("\n")
                        if not line:
                            break
                        name, _, value = line.partition("=")
                        attributes[name] = value
                    action = policy.decide(attributes)
                    self.wfile.write(f"action={action}\n\n".encode())
                    self.wfile.flush()

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def decide(self, attributes: dict[str, str]) -> str:
        with self.lock:
            self.requests.append(attributes)
            recipient = attributes.get("recipient", "").lower()
            if attributes.get("protocol_state") == "RCPT":
                return self.at_rcpt.get(recipient, "DUNNO")
            if attributes.get("protocol_state") == "END-OF-MESSAGE":
                return self.at_end or "DUNNO"
            return "DUNNO"

    def rcpt_requests(self) -> list[str]:
        """The recipients Postfix asked about at RCPT, in order: what the client offered."""
        with self.lock:
            return [r.get("recipient", "").lower() for r in self.requests if r.get("protocol_state") == "RCPT"]

    def clear(self) -> None:
        with self.lock:
            self.at_rcpt.clear()
            self.at_end = ""
            self.requests.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Delivered:
    """A message Postfix delivered into the local Maildir."""

    path: Path
    raw: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    @property
    def delivered_to(self) -> str:
        return str(self.message["Delivered-To"] or "").lower()

    @property
    def return_path(self) -> str:
        return str(self.message["Return-Path"] or "").strip("<>")


@dataclass
class Postfix:
    home: Path
    port: int
    ca_file: Path
    policy: Policy
    seen: set[str] = field(default_factory=set)

    @property
    def config(self) -> Path:
        return self.home / "etc"

    @property
    def maildir(self) -> Path:
        return self.home / "mail" / "all"

    def log(self) -> str:
        path = self.home / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def delivered(self) -> list[Delivered]:
        """Everything delivered so far, oldest first (by the file's time, then its name)."""
        files = [path for folder in ("new", "cur") for path in (self.maildir / folder).glob("*") if path.is_file()]
        files.sort(key=lambda path: (path.stat().st_mtime_ns, path.name))
        return [Delivered(path, path.read_bytes()) for path in files]

    def delivered_to(self, address: str) -> list[Delivered]:
        return [item for item in self.delivered() if item.delivered_to == address.lower()]

    def environment(self) -> dict[str, str]:
        """What a worker process needs to send through this Postfix, with STARTTLS against the test CA."""
        return {
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.port),
            "EMAIL_USE_TLS": "1",
            "EMAIL_USE_SSL": "0",
            "EMAIL_SSL_CAFILE": str(self.ca_file),
            "EMAIL_TIMEOUT": "10",
            "EMAIL_EHLO_NAME": "worker.courrier.test",
        }

    def settings(self, settings) -> None:
        """The same for the worker in this process (pytest-django's `settings`)."""
        for name, value in self.environment().items():
            setattr(settings, name, int(value) if name in ("EMAIL_PORT", "EMAIL_TIMEOUT") else value)
        settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL = True, False

    def empty(self) -> None:
        """A clean Maildir, answers back to Postfix's own, for the next test."""
        self.policy.clear()
        for folder in ("new", "cur"):
            for path in (self.maildir / folder).glob("*"):
                path.unlink()

    def offer(self, without: str = "") -> None:
        """Stop offering these EHLO keywords ("chunking", "pipelining chunking"), or offer all again (""):
        the configuration is reloaded, and this returns once a new session sees it."""
        postconf = shutil.which("postconf", path="/usr/sbin:/usr/bin")
        subprocess.run([postconf, "-c", str(self.config), "-e", f"smtpd_discard_ehlo_keywords = {without}"], check=True)
        subprocess.run([POSTFIX, "-c", str(self.config), "reload"], check=True, capture_output=True)
        wanted = set(without.split())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=5) as session:
                _code, features = session.ehlo("probe.courrier.test")
            offered = {line.split()[0].lower() for line in features.decode().splitlines()[1:] if line}
            if not wanted & offered:
                return
            time.sleep(0.1)
        raise RuntimeError(f"Postfix still offers {wanted}")

    def wait_until_idle(self, timeout: float = 120) -> None:
        """Until Postfix has delivered everything it accepted: its queue is empty."""
        postqueue = shutil.which("postqueue", path="/usr/sbin:/usr/bin")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listed = subprocess.run([postqueue, "-c", str(self.config), "-p"], capture_output=True, text=True)
            if "Mail queue is empty" in listed.stdout:
                return
            time.sleep(0.2)
        raise RuntimeError("Postfix still has mail in its queue")

    def flush(self) -> None:
        """Deliver what waits in the queue now (DSNs included), rather than at the next queue run."""
        subprocess.run([POSTFIX, "-c", str(self.config), "flush"], check=False, capture_output=True)

    @classmethod
    def start(cls, policy: bool = True) -> "Postfix":
        """A new instance; without `policy`, Postfix decides every answer itself (the benchmark's case)."""
        home = Path(tempfile.mkdtemp(prefix="courrier-postfix-"))
        for name in ("etc", "queue", "data", "mail"):
            (home / name).mkdir()
        user = pwd.getpwnam("postfix")
        group = grp.getgrnam("postfix")
        # Postfix wants its queue owned by root and its data and mail by its own user; the test, as root,
        # reads them all.
        os.chmod(home, 0o755)  # noqa: S103 (Postfix's own processes, not root, walk into it)
        os.chown(home / "data", user.pw_uid, group.gr_gid)
        os.chown(home / "mail", user.pw_uid, group.gr_gid)
        ca_file = make_certificates(home / "etc")
        port = free_port()
        policy_server = Policy()
        restrictions = f"check_policy_service inet:127.0.0.1:{policy_server.port}, " if policy else ""
        end_of_data = f"check_policy_service inet:127.0.0.1:{policy_server.port}" if policy else ""
        master = (Path("/etc/postfix/master.cf")).read_text()
        lines = []
        for line in master.splitlines():
            fields = line.split()
            if fields[:2] == ["smtp", "inet"]:
                line = f"127.0.0.1:{port} inet n - n - - smtpd"
            elif len(fields) >= 8 and not line.startswith(("#", " ")) and fields[4] == "y":
                fields[4] = "n"  # no chroot: the queue directory holds no copy of /etc
                line = " ".join(fields)
            lines.append(line)
        (home / "etc" / "master.cf").write_text("\n".join(lines) + "\n")
        (home / "etc" / "domains").write_text("/./ OK\n")
        # "gone-…" has no mailbox: accepted, then bounced by the virtual agent (a real DSN to the sender).
        (home / "etc" / "mailboxes").write_text("if !/^gone-/\n/./ all/\nendif\n")
        (home / "etc" / "main.cf").write_text(
            f"""compatibility_level = 3.6
queue_directory = {home}/queue
data_directory = {home}/data
meta_directory = /etc/postfix
mail_owner = postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.courrier.test
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
maillog_file = {home}/maillog
maillog_file_prefixes = {home}
virtual_mailbox_domains = pcre:{home}/etc/domains
virtual_mailbox_base = {home}/mail
virtual_mailbox_maps = pcre:{home}/etc/mailboxes
virtual_uid_maps = static:{user.pw_uid}
virtual_gid_maps = static:{group.gr_gid}
smtpd_reject_unlisted_recipient = no
smtpd_recipient_restrictions = {restrictions}permit_mynetworks, reject
smtpd_end_of_data_restrictions = {end_of_data}
smtpd_policy_service_timeout = 10s
default_transport = error:nothing leaves the test server
relay_transport = error:nothing leaves the test server
smtpd_tls_cert_file = {home}/etc/server.pem
smtpd_tls_key_file = {home}/etc/server.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
bounce_queue_lifetime = 0
queue_run_delay = 5s
smtputf8_enable = no
"""
        )
        started = subprocess.run([POSTFIX, "-c", str(home / "etc"), "start"], capture_output=True, text=True)
        server = cls(home, port, ca_file, policy_server)
        if started.returncode != 0:
            raise RuntimeError(f"postfix did not start: {started.stderr}{server.log()}")
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                return server
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"postfix never listened on {port}:\n{server.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        subprocess.run([POSTFIX, "-c", str(self.config), "stop"], capture_output=True)
        self.policy.close()
        shutil.rmtree(self.home, ignore_errors=True)


class Tap:
    """A TCP relay between the worker and the MTA that counts what crosses it, TLS or not.

    `sessions`: connections opened through it. `client_runs`: how many times the client started writing
    after the server had written (or at the start): with PIPELINING a message costs two (MAIL, RCPT…, DATA
    in one write, then the text), without it one per command. `drop()` closes every open connection from
    the server's side, as a server does with an idle one.
    """

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.sessions = 0
        self.client_runs = 0
        self.lock = threading.Lock()
        self.open: list[tuple[socket.socket, socket.socket]] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            state = {"last": "server"}  # the server speaks first (its greeting)
            with self.lock:
                self.sessions += 1
                self.open.append((client, server))
            threading.Thread(target=self.pump, args=(client, server, "client", state), daemon=True).start()
            threading.Thread(target=self.pump, args=(server, client, "server", state), daemon=True).start()

    def pump(self, source: socket.socket, sink: socket.socket, side: str, state: dict) -> None:
        try:
            while data := source.recv(65536):
                with self.lock:
                    if side == "client" and state["last"] == "server":
                        self.client_runs += 1
                    state["last"] = side
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def drop(self) -> None:
        with self.lock:
            connections, self.open = self.open, []
        for client, server in connections:
            for end in (client, server):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                    end.close()

    def close(self) -> None:
        self.drop()
        self.listener.close()
