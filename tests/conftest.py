"""Shared fixtures: a real SMTP server on 127.0.0.1, and the worker and web
server started as real processes against the test database, as in production.

Nothing here can reach a real mail server: every SMTP host the tests use is
on the loopback interface, and in-process mail goes to a temporary Maildir.
"""

import email
import email.policy
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.cache import caches
from django.core.files.storage import storages
from django.core.management import call_command
from django.db import connection, connections
from django.utils import translation
from django.utils.functional import empty

from courrier.campaigns import open_campaigns
from courrier.campaigns.demo import load_demo
from tests import factories

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command at INFO
logging.getLogger("fontTools").setLevel(logging.WARNING)  # fpdf2 subsets the PDF fonts, line by line at INFO

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


class SmtpSink:
    """An SMTP server that keeps what it accepts; `replies` scripts answers to DATA ("451 ...")."""

    def __init__(self):
        self.received: list[Received] = []
        self.replies: list[str] = []
        self.delay = 0.0
        self.sessions = 0  # SMTP connections opened (one EHLO each)
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.sessions += 1
        return responses

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            scripted = self.replies.pop(0) if self.replies else None
        if self.delay:
            time.sleep(self.delay)
        if scripted and not scripted.startswith("250"):
            return scripted
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Ok: queued"

    def messages(self) -> list[email.message.EmailMessage]:
        with self.lock:
            return [item.message for item in self.received]


@pytest.fixture
def smtp_sink():
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    sink.port = controller.port
    yield sink
    controller.stop()


@pytest.fixture(autouse=True)
def fresh_caches():
    """Each test starts with no rate-limit counters, no kept page and no campaign kept in memory."""
    for cache in caches.all():
        cache.clear()
    open_campaigns.forget()
    translation.deactivate()  # a request in another language must not leak into the next test


@pytest.fixture(autouse=True)
def quick_password_hashes(request, settings):
    """Hashing a password the production way takes a third of a second: the tests that make organisers by
    the dozen would spend minutes on it. A test that starts real programs keeps the real hasher, since those
    programs read the hashes with the site's own settings."""
    if not SLOW_FIXTURES & set(request.fixturenames):
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def force_login_passes_the_second_factor(monkeypatch):
    """Client.force_login skips the password; for staff it skips the second factor too, as if a code was typed.

    The real steps (setup, codes, lockout) are tested in tests/test_accounts.py.
    """
    from django.test.client import ClientMixin

    original = ClientMixin.force_login

    def force_login(client, user, backend=None):
        original(client, user, backend)
        if user.is_staff:
            pass_second_factor(client, user)

    monkeypatch.setattr(ClientMixin, "force_login", force_login)


def pass_second_factor(client, user) -> None:
    """Give `user` a confirmed authenticator (if they have none) and mark the client's session as verified with it."""
    from django.utils import timezone

    from courrier.accounts import totp
    from courrier.accounts.models import TOTPDevice
    from courrier.backoffice.middleware import SESSION_KEY

    device, _created = TOTPDevice.objects.get_or_create(
        user=user, defaults={"secret": totp.generate_secret(), "confirmed_at": timezone.now()}
    )
    session = client.session
    session[SESSION_KEY] = device.pk
    session.save()


@pytest.fixture(autouse=True)
def sandbox_in_tmp(settings, tmp_path):
    """In-process mail goes to a temporary Maildir; no SMTP unless a test asks for the sink."""
    settings.SANDBOX_MAILDIR = tmp_path / "mail"
    settings.EMAIL_HOST = ""
    return settings.SANDBOX_MAILDIR


@pytest.fixture(autouse=True)
def easy_proof_of_work(settings):
    """Challenges solved in a millisecond (tests/test_proof_of_work.py checks the real default's scheme)."""
    settings.PROOF_OF_WORK_MAX_NUMBER = EASY_PROOF_OF_WORK


EASY_PROOF_OF_WORK = 1000


@pytest.fixture
def smtp_settings(settings, smtp_sink):
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    return settings


@pytest.fixture
def own_campaign(db):
    """A live campaign of the tests' own, shaped like the demo (a page and a letter in each of the four
    languages, one office To, one ally in copy) but with none of its prose or addresses: for the tests that are
    not about the demo."""
    return factories.campaign(
        factories.OWN_SLUG,
        languages=("fr", "en", "ru", "kk"),
        to=factories.OFFICE,
        cc=factories.ALLY,
        title="Libérez les grévistes",
        titles=factories.OWN_TITLES,
    )


@pytest.fixture
def embeddable(own_campaign):
    """The tests' own campaign, which the organisation's website (and a local test page) may frame."""
    own_campaign.embed_origins = f"{factories.ORGANISATION_SITE}\nhttp://localhost:8123/\n"
    own_campaign.save()
    return own_campaign


@pytest.fixture
def demo(db):
    campaign, _created = load_demo()
    return campaign


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="session", autouse=True)
def collected_static(tmp_path_factory):
    """The static files collected once, as `manage.py serve` does, for the pages of this process and of the
    processes the tests start: pages name them by their hashed names."""
    root = tmp_path_factory.mktemp("static")
    settings.STATIC_ROOT = root
    storages._storages.pop("staticfiles", None)  # made again, with the new root
    staticfiles_storage._wrapped = empty
    call_command("collectstatic", interactive=False, verbosity=0)
    os.environ["STATIC_ROOT"] = str(root)
    return root


@pytest.fixture
def process_env(tmp_path):
    """Environment for a worker or web server process sharing this test's database."""

    def build(**extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "SECRET_KEY": settings.SECRET_KEY,
            # The same data keys as this process, or the worker could not read what the tests wrote.
            "DATA_KEYS": ",".join(settings.DATA_KEYS),
            "COURRIER_VAR_DIR": str(tmp_path / "var"),
            "SANDBOX_MAILDIR": str(settings.SANDBOX_MAILDIR),
            "EMAIL_HOST": "",
            "PYTHONUNBUFFERED": "1",
            "PROOF_OF_WORK_MAX_NUMBER": str(EASY_PROOF_OF_WORK),
            **extra,
        }
        host = env.get("EMAIL_HOST", "")
        assert host in ("", "127.0.0.1", "localhost", "::1"), "tests only ever talk to a local SMTP server"
        return env

    return build


TEST_PROCESS_NAME = "courrier-tests"
# How long the web servers the tests start keep a public page (http/shared_cache.py).
TEST_PAGE_SECONDS = 1


# The tests that start real programs (a browser, gunicorn, the worker's process, Postfix, Dovecot, SpamAssassin)
# or run thousands of examples: `make check` leaves them out (-m "not slow"), `make test` runs them all.
SLOW_FIXTURES = {
    "processes",
    "start_worker",
    "start_web_server",
    "web_server",
    "postfix_server",
    "postfix",
    "browser_page",
    "dovecot",
    "imap",
}
SLOW_MODULES = {"test_spam_score", "test_faults", "test_real_mta", "test_serve", "test_properties"}


def is_slow(item) -> bool:
    return (
        item.get_closest_marker("browser") is not None
        or bool(SLOW_FIXTURES & set(getattr(item, "fixturenames", ())))
        or item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES
    )


def pytest_collection_modifyitems(items):
    for item in items:
        if is_slow(item):
            item.add_marker(pytest.mark.slow)
    # The PostgreSQL restart cuts every session of the test process too: it runs last.
    items.sort(key=lambda item: "postgresql_restart" in item.name)


@pytest.fixture(scope="session", autouse=True)
def name_this_process_sessions():
    """PostgreSQL sessions opened by the test process carry its name, so teardown tells them from the processes'."""
    for alias in connections:
        if connections[alias].vendor == "postgresql":
            connections[alias].settings_dict.setdefault("OPTIONS", {})["application_name"] = TEST_PROCESS_NAME
            connections[alias].close()  # the next one opens with the name


class Processes:
    def __init__(self):
        self.running: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def start(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
        self.running.append(process)
        if log not in self.logs:
            self.logs.append(log)
        return process

    def log_tails(self, lines: int = 40) -> str:
        """The end of each process's log: what a failed test shows of the worker and the web servers."""
        return "\n".join(
            f"--- {log.name} ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
            for log in self.logs
            if log.exists()
        )

    def stop_all(self):
        for process in self.running:
            if process.poll() is None:
                process.terminate()
        for process in self.running:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Kept on the test item, so that a fixture's tear-down can tell whether the test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def processes(request, transactional_db):
    running = Processes()
    yield running
    running.stop_all()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        # Printed to the test's captured output: a failure in CI comes with what the processes said.
        print(running.log_tails())
    if connection.vendor == "postgresql":
        # A killed client's server session ends a moment after it; the test database
        # cannot be dropped while one is left.
        def other_sessions() -> list:
            with connection.cursor() as cursor:
                # This process's own sessions (another thread's or Playwright's) are named: not the processes'.
                cursor.execute(
                    "SELECT pid, application_name, state, left(query, 80) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend' AND application_name <> %s",
                    [TEST_PROCESS_NAME],
                )
                return cursor.fetchall()

        try:
            wait_until(lambda: not other_sessions(), timeout=10, message="the processes' database sessions to end")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {other_sessions()}") from None


@pytest.fixture
def start_worker(processes, process_env, tmp_path):
    """Start `manage.py deliver` as production runs it; returns the Popen."""

    def start(*extra_args: str, **env: str) -> subprocess.Popen:
        args = [sys.executable, "manage.py", "deliver", "--poll", "0.1", *extra_args]
        return processes.start(args, process_env(**env), tmp_path / "worker.log")

    return start


@pytest.fixture
def start_web_server(processes, process_env, tmp_path):
    """Start the site under gunicorn, as `make run` serves it, with extra environment; returns its root URL."""

    def start(**env: str) -> str:
        port = free_port()
        root = f"http://127.0.0.1:{port}"
        args = [
            sys.executable,
            "-m",
            "gunicorn",
            "courrier.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--no-control-socket",
        ]
        # Public pages are kept a second, not a minute: a test sees what the worker did by loading them again.
        env.setdefault("PUBLIC_PAGE_SECONDS", str(TEST_PAGE_SECONDS))
        process = processes.start(args, process_env(SITE_ROOT=root, **env), tmp_path / "web.log")

        def answers() -> bool:
            assert process.poll() is None, (tmp_path / "web.log").read_text()
            try:
                urllib.request.urlopen(root + "/fr/", timeout=1)
            except OSError:
                return False
            return True

        wait_until(answers, timeout=30, message="gunicorn to answer")
        return root

    return start


@pytest.fixture
def web_server(start_web_server):
    """The site served by gunicorn, mail in the sandbox; its root URL."""
    return start_web_server()


# ---------- A real MTA ----------


@pytest.fixture(scope="session")
def postfix_server():
    """Debian's Postfix on 127.0.0.1, started once for the session (tests/mail_servers.py)."""
    from tests.mail_servers import POSTFIX, Postfix

    if not POSTFIX or os.geteuid() != 0:
        if os.environ.get("COURRIER_REQUIRE_POSTFIX"):
            raise RuntimeError("COURRIER_REQUIRE_POSTFIX is set but postfix is missing or not run as root")
        pytest.skip("Debian's postfix is not installed, or the tests do not run as root (CI runs them)")
    server = Postfix.start()
    yield server
    server.stop()


@pytest.fixture
def postfix(postfix_server, settings):
    """The Postfix server, emptied for this test, with this process's mail settings pointing at it."""
    postfix_server.empty()
    postfix_server.settings(settings)
    yield postfix_server
    postfix_server.empty()


@pytest.fixture
def browser_page(monkeypatch):
    # Imported here: Playwright is only needed by the browser tests.
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fr-FR")
        page = context.new_page()
        page.hosts = set()
        page.failures = []
        page.on("request", lambda request: page.hosts.add(urlsplit(request.url).netloc))
        page.on("response", lambda response: response.status >= 400 and page.failures.append(response.url))
        page.on("requestfailed", lambda request: page.failures.append(request.url))
        yield page
        browser.close()
        # ORM calls made while Playwright's loop runs use their own connection: close it
        # here, or the PostgreSQL test database cannot be dropped.
        connections.close_all()
