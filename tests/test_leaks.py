"""Nothing leaks sideways: a supporter's values, planted as markers in every field, appear in no log, error
report, logged URL, cache key or outbox column.

The site runs under gunicorn with its access log and the worker runs as a process, both at DEBUG, as an
operator chasing a problem would run them; the supporter signs, sends a wrong form, confirms, and the letter
goes to a real SMTP server on 127.0.0.1. Then every trace is searched.
"""

import http.cookiejar
import json
import logging
import re
import secrets
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import Client, RequestFactory
from django.views.debug import get_exception_reporter_class

from courrier.campaigns.models import Campaign
from courrier.delivery.models import DeliveryEvent, OutboxMessage
from courrier.lib import proof_of_work
from courrier.lib.redact import RedactingFormatter
from courrier.news.tokens import unsubscribe_token
from courrier.signatures.models import Signature
from tests.conftest import wait_until
from tests.helpers import CAMPAIGN_URL, SIGN_URL, confirmation_path, signature_form, solved_proof

pytestmark = pytest.mark.django_db(transaction=True)

# Letters only, so that every field takes them and no encoding (URL, MIME, JSON) changes their spelling.
RUN = "".join(secrets.choice("bcdfghjkmnpqrstvwxz") for _ in range(6))


def marker(field: str) -> str:
    return f"Qx{RUN}{field.replace('_', '')}"


def planted(prefix: str = "") -> dict[str, str]:
    """A signing form with a marker in every field a supporter types."""
    return signature_form(
        first_name=marker(prefix + "first"),
        last_name=marker(prefix + "last"),
        email=f"{marker(prefix + 'mail').lower()}@example.org",
        city=marker(prefix + "city"),
        organisation=marker(prefix + "org"),
        organisation_role=marker(prefix + "role"),
        personal_sentence=f"{marker(prefix + 'sentence')} libérez-les.",
    )


def markers_in(text: str) -> list[str]:
    return sorted(set(re.findall(rf"qx{RUN}\w*", text, flags=re.IGNORECASE)))


class Browser:
    """A plain HTTP client with cookies, speaking to the real server as a browser without JavaScript would."""

    def __init__(self, root: str):
        self.root = root
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, str]:
        return self.open(urllib.request.Request(self.root + path))

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode()
        return self.open(urllib.request.Request(self.root + path, data=data))

    def open(self, request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=20) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def form_token(self, path: str) -> str:
        """The signing form's token, read from the page as a browser has it."""
        status, html = self.get(path)
        assert status == 200, html
        return re.search(r'name="form_token" value="([^"]+)"', html).group(1)

    def proof(self) -> str:
        _status, body = self.get("/pow/challenge/")
        challenge = json.loads(body)
        return proof_of_work.encode(challenge, proof_of_work.solve(challenge))


def test_no_marker_reaches_a_log_an_error_report_a_logged_url_or_an_outbox_column(
    demo, smtp_sink, start_web_server, start_worker, tmp_path
):
    Campaign.objects.filter(pk=demo.pk).update(real_delivery=True)
    root = start_web_server(LOG_LEVEL="DEBUG", GUNICORN_CMD_ARGS="--access-logfile - --log-level debug")
    mail = {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp_sink.port), "EMAIL_USE_TLS": "0"}
    start_worker(LOG_LEVEL="DEBUG", SITE_ROOT=root, **mail)
    browser = Browser(root)

    # A wrong form first (an address that is none), reached from a link with a marker in its query string.
    token = browser.form_token(CAMPAIGN_URL + f"?ref={marker('query')}")
    wrong = {**planted("bad"), "email": marker("badmail"), "form_token": token, "proof": browser.proof()}
    status, html = browser.post(SIGN_URL, wrong)
    assert status == 400 and marker("badfirst") in html, "the form comes back with what was typed"

    form = {**planted(), "consent_list_organisation": "on", "consent_news": "on"}
    status, html = browser.post(SIGN_URL, {**form, "form_token": token, "proof": browser.proof()})
    assert status == 200, html  # the redirect to "check your inbox", followed

    confirmation = wait_until(smtp_sink.messages, message="the confirmation e-mail")[0]
    confirm_path = confirmation_path(confirmation)
    confirm_token = confirm_path.split("/confirm/")[1].strip("/")
    status, _html = browser.post(confirm_path, {})
    assert status == 200
    wait_until(lambda: len(smtp_sink.received) >= 3, message="the letter and the supporter's copy")
    delivered = "\n".join(received.data.decode("utf-8", "replace") for received in smtp_sink.received)
    assert marker("sentence") in delivered, "the markers did reach the letter: the search below can find them"

    # Links whose token is a secret, opened as a mail client would.
    signature = Signature.objects.get(is_duplicate=False)
    news_token = unsubscribe_token(signature.pk)
    data_token = secrets.token_urlsafe(24)
    browser.get(f"/fr/news/unsubscribe/{news_token}/")
    browser.get(f"/fr/my-data/{data_token}/")

    logs = {name: (tmp_path / name).read_text() for name in ("web.log", "worker.log")}
    access_log = logs["web.log"]
    assert "POST /fr/c/kazakhstan-repression/sign/" in access_log, "the access log is on: URLs are logged"
    assert "/fr/confirm/[token]/" in access_log and "/fr/news/unsubscribe/[token]/" in access_log
    assert "/fr/my-data/[token]/" in access_log
    for name, text in logs.items():
        assert markers_in(text) == [], f"{name}: {markers_in(text)}"
        for secret in (confirm_token, news_token, data_token, "127.0.0.1 - -"):
            assert secret not in text, f"{name} holds {secret}"
        assert f"ref={marker('query')}" not in text

    # The worker's own traces: every column of every outbox row and every delivery event, as stored.
    found = {}
    for table in (OutboxMessage._meta.db_table, DeliveryEvent._meta.db_table):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 (a model's own table name)
            columns = [column[0] for column in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    text = bytes(value).decode("latin-1") if isinstance(value, bytes | memoryview) else str(value)
                    if markers_in(text):
                        found.setdefault(f"{table}.{column}", markers_in(text))
    letter = OutboxMessage.objects.get(kind=OutboxMessage.Kind.LETTER, status=OutboxMessage.Status.SENT)
    assert marker("sentence") in letter.body, "read through the model, the letter has them: the search can see them"
    assert found == {}, f"personal values stored in clear in the outbox: {found}"


def test_gunicorn_never_logs_the_address_of_a_client_that_sent_a_malformed_request(start_web_server, tmp_path):
    root = start_web_server(GUNICORN_CMD_ARGS="--access-logfile - --log-level debug")
    host, port = urllib.parse.urlsplit(root).hostname, urllib.parse.urlsplit(root).port
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(b"GET / HTTP/9.9\r\n\r\n")  # a version gunicorn refuses before any Django
        raw.recv(1000)

    def line_about_it() -> str:
        lines = (tmp_path / "web.log").read_text().splitlines()
        return next((line for line in lines if "Invalid request" in line), "")

    log = wait_until(line_about_it, message="gunicorn's line about the malformed request")
    assert "ip=[ip]" in log, log
    assert "127.0.0.1" not in log


def test_an_error_report_on_a_request_full_of_markers_holds_none_of_them(settings):
    """What Django would mail or show for a failed signing POST: POST values, cookies, query, locals."""
    factory = RequestFactory()
    request = factory.post(
        f"{SIGN_URL}?ref={marker('query')}",
        planted(),
        HTTP_COOKIE=f"sessionid={marker('session')}; csrftoken={marker('csrf')}",
    )
    request.user = None
    first_name = request.POST["first_name"]  # noqa: F841 (a frame variable, as a view's would be)
    try:
        raise RuntimeError("the database went away")
    except RuntimeError:
        exc_info = sys.exc_info()
    reporter = get_exception_reporter_class(request)(request, *exc_info)
    for report in (reporter.get_traceback_text(), reporter.get_traceback_html()):
        assert "first_name" in report and "sessionid" in report, "a report still says which fields came"
        assert markers_in(report) == []

    # The same failure as the log line the site writes for it.
    record = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s", (request.get_full_path(),), exc_info
    )
    site_handlers = [h for h in logging.getLogger().handlers if isinstance(h.formatter, RedactingFormatter)]
    assert site_handlers, "the site's log handler (settings.LOGGING) formats every line"
    line = site_handlers[0].format(record)
    assert "Internal Server Error: " + SIGN_URL in line
    assert markers_in(line) == []


def test_signing_leaves_no_marker_in_a_cache_key(demo):
    client = Client()
    client.post(SIGN_URL, {**planted("bad"), "email": marker("badmail"), "proof": solved_proof(client)})
    client.post(SIGN_URL, {**planted(), "proof": solved_proof(client)})
    client.get(CAMPAIGN_URL + f"?ref={marker('query')}")
    assert Signature.objects.filter(is_duplicate=False).count() == 1
    keys = []
    for cache in caches.all():
        keys += [str(key) for key in getattr(cache, "_cache", {})]  # the local-memory cache's own dictionary
    assert keys, "signing counted something in the cache"
    assert markers_in("\n".join(keys)) == []
