"""The signing fast path answers a good signature as Django would, and hands everything else to Django.

Each request goes, as WSGI, both to the site's application (the fast path in front of Django) and to
Django's own handler (its plain twin), and the two answers and rows are compared. Transactional tests: like
gunicorn, each request opens and closes its own use of the database connection.
"""

import io
import re
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application

from courrier.campaigns.models import Campaign
from courrier.lib import proof_of_work
from courrier.signatures.models import Signature
from courrier.web.fast_signing import SigningFastPath, with_fast_signing
from tests import factories
from tests.helpers import signature_form

pytestmark = pytest.mark.django_db(transaction=True)

SIGN_PATH = f"/fr/c/{factories.OWN_SLUG}/sign/"
# What differs between two renderings of one page: the form's fresh token and the scripts' nonce.
PER_RENDERING = re.compile(rb'(name="form_token" value="|nonce="|\'nonce-)[^"\']+')


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes):
        self.status, self.headers, self.body = status, dict(headers), body
        self.code = int(status.split()[0])


class Site:
    """A WSGI application, called as gunicorn calls it; counts the requests Django's handler itself took."""

    def __init__(self, fast: bool):
        self.django = get_wsgi_application()
        self.django_calls = 0

        def counted(environ, start_response):
            self.django_calls += 1
            return self.django(environ, start_response)

        self.application = SigningFastPath(counted) if fast else counted

    def post(
        self,
        form: dict[str, str],
        path: str = SIGN_PATH,
        origin: str | None = None,
        host: str | None = None,
        content_type: str = "application/x-www-form-urlencoded",
        remote_address: str = "198.51.100.7",
        body: bytes | None = None,
    ) -> Answer:
        root = urlsplit(django_settings.SITE_ROOT)
        body = urlencode(form).encode() if body is None else body
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": root.hostname,
            "SERVER_PORT": str(root.port or 80),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": host or root.netloc,
            "HTTP_ORIGIN": origin or f"{root.scheme}://{root.netloc}",
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": remote_address,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(),
            "wsgi.url_scheme": root.scheme,
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        started = {}

        def start_response(status, headers, exc_info=None):
            started.update(status=status, headers=headers)

        result = self.application(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return Answer(started["status"], started["headers"], content)


@pytest.fixture
def campaign() -> Campaign:
    cache.clear()  # the rate limits' counters, and the kept campaigns
    return factories.campaign(factories.OWN_SLUG, languages=("fr", "kk"), to=factories.OFFICE, cc=factories.ALLY)


@pytest.fixture
def fast() -> Site:
    return Site(fast=True)


@pytest.fixture
def plain() -> Site:
    return Site(fast=False)


def proof() -> str:
    challenge = proof_of_work.new_challenge()
    return proof_of_work.encode(challenge, proof_of_work.solve(challenge))


def filled(email: str, **overrides: str) -> dict[str, str]:
    return {**signature_form(factories.OWN_SLUG, email=email, organisation="CGT", **overrides), "proof": proof()}


def row(email: str) -> dict:
    values = Signature.objects.with_address(email).values().get()
    for varying in ("id", "email", "email_digest", "proof_digest", "created_at"):
        del values[varying]
    return values


def test_a_good_signature_gets_from_the_fast_path_the_answer_and_the_row_django_gives(campaign, fast, plain):
    by_django = plain.post(filled("plain@example.org"))
    by_fast_path = fast.post(filled("fast@example.org"))

    assert fast.django_calls == 0  # answered by the fast path alone
    assert by_fast_path.code == by_django.code == 302
    assert by_fast_path.status == by_django.status
    assert by_fast_path.headers == by_django.headers
    assert by_fast_path.headers["Location"] == f"/fr/c/{factories.OWN_SLUG}/check-your-inbox/"
    assert by_fast_path.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in by_fast_path.headers
    assert by_fast_path.body == by_django.body
    assert row("fast@example.org") == row("plain@example.org")
    assert row("fast@example.org")["language"] == "fr"


def test_a_signature_in_another_language_is_taken_in_that_language(campaign, fast, plain):
    for site, email in ((plain, "plain@example.org"), (fast, "fast@example.org")):
        answer = site.post(filled(email, letter_language="fr"), path=f"/kk/c/{factories.OWN_SLUG}/sign/")
        assert answer.code == 302
        assert answer.headers["Content-Language"] == "kk"
        assert answer.headers["Location"] == f"/kk/c/{factories.OWN_SLUG}/check-your-inbox/"
    assert row("fast@example.org") == row("plain@example.org")
    assert row("fast@example.org")["language"] == "kk"


def test_a_repeat_address_is_kept_as_a_duplicate_with_the_same_answer(campaign, fast):
    first, second = fast.post(filled("twice@example.org")), fast.post(filled("twice@example.org"))
    assert first.code == second.code == 302
    assert first.headers == second.headers
    assert Signature.objects.with_address("twice@example.org").filter(is_duplicate=True).count() == 1


@pytest.mark.parametrize(
    "request_kwargs, status",
    [
        ({"origin": "https://evil.example"}, 403),
        ({"path": "/fr/c/no-such-campaign/sign/"}, 404),
        ({"host": "evil.example"}, 400),
        ({"content_type": "multipart/form-data; boundary=x", "body": b"--x--\r\n"}, 400),
    ],
)
def test_what_the_fast_path_does_not_take_is_answered_by_django_alone(campaign, fast, plain, request_kwargs, status):
    by_django = plain.post(filled("plain@example.org"), **request_kwargs)
    by_fast_path = fast.post(filled("fast@example.org"), **request_kwargs)

    assert fast.django_calls == 1
    assert by_fast_path.code == by_django.code == status
    assert not Signature.objects.exists()


def test_a_refused_form_comes_back_from_django_with_what_was_typed(campaign, fast, plain):
    # No consent: the form comes back, with the name typed and the reason.
    refused = {"consent_send": None}
    by_django = plain.post(filled("plain@example.org", **refused))
    by_fast_path = fast.post(filled("plain@example.org", **refused))

    assert fast.django_calls == 1
    assert by_fast_path.code == by_django.code == 400
    assert "Қасымова".encode() in by_fast_path.body
    assert PER_RENDERING.sub(b"", by_fast_path.body) == PER_RENDERING.sub(b"", by_django.body)
    assert by_fast_path.headers["Cache-Control"] == "no-store"
    assert not Signature.objects.exists()


def test_a_refused_form_counts_once_against_the_rate_limit(campaign, fast, plain, settings):
    settings.SIGNING_RATE_LIMIT = "3/3600"
    for site, address in ((plain, "198.51.100.1"), (fast, "198.51.100.2")):
        statuses = [site.post(filled("x@example.org", consent_send=None), remote_address=address).code for _ in "abc"]
        statuses.append(site.post(filled(f"{address}@example.org"), remote_address=address).code)
        # Three refused forms, then the fourth request of the hour: too many, whichever answered.
        assert statuses == [400, 400, 400, 429]
    assert not Signature.objects.exists()


def test_a_replayed_proof_is_refused_by_both(campaign, fast, plain):
    spent = proof()
    first = fast.post({**filled("first@example.org"), "proof": spent})
    by_fast_path = fast.post({**filled("second@example.org"), "proof": spent})
    by_django = plain.post({**filled("third@example.org"), "proof": spent})
    assert first.code == 302
    assert by_fast_path.code == by_django.code == 400
    assert Signature.objects.count() == 1


def test_a_bot_is_answered_as_a_signer_and_nothing_is_kept(campaign, fast, plain):
    honeypot = {"website": "http://spam.example"}
    by_fast_path = fast.post(filled("bot@example.org", **honeypot))
    by_django = plain.post(filled("bot@example.org", **honeypot))
    assert fast.django_calls == 0
    assert by_fast_path.code == by_django.code == 302
    assert by_fast_path.headers == by_django.headers
    assert not Signature.objects.exists()


def test_a_closed_campaign_sends_the_signer_back_to_its_page(campaign, fast, plain):
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.CLOSED)
    cache.clear()
    by_fast_path, by_django = fast.post(filled("late@example.org")), plain.post(filled("late@example.org"))
    assert by_fast_path.code == by_django.code == 302
    assert by_fast_path.headers["Location"] == by_django.headers["Location"] == f"/fr/c/{factories.OWN_SLUG}/"
    assert not Signature.objects.exists()


def test_the_site_takes_its_plain_twin_when_told_or_when_its_middleware_is_not_the_one_it_knows(settings):
    django = get_wsgi_application()
    assert isinstance(with_fast_signing(django), SigningFastPath)
    settings.PLAIN_PATHS = {"handler"}
    assert with_fast_signing(django) is django
    settings.PLAIN_PATHS = set()
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]
    assert with_fast_signing(django) is django
