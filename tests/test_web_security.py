"""Web security: production settings that `check --deploy` accepts, no-store on private pages, error pages and
reports that show nothing of the request."""

import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.views.debug import get_exception_reporter_class, technical_500_response

from courrier.http.nostore import no_store
from courrier.http.public_forms import is_from_this_site
from courrier.lib.crypto import new_key
from courrier.lib.redact import RedactingFormatter
from courrier.signatures.models import Signature
from courrier.signatures.tokens import confirmation_token
from tests.conftest import ROOT
from tests.factories import EMBED_SIGN_URL, EMBED_URL, OWN_PAGE, OWN_SLUG, operator, organiser
from tests.helpers import sign, signature_form

PUBLIC_HOST = "campaigns.example.org"
# Settings that come from the environment: the tests set them, never inherit them from the shell.
_OPERATOR_VARIABLES = (
    "PRODUCTION",
    "SITE_ROOT",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "DATA_KEYS",
    "DATA_KEYS_FILE",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "TRUST_X_FORWARDED_PROTO",
)


def environment(tmp_path, **variables: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _OPERATOR_VARIABLES}
    return {**env, "COURRIER_VAR_DIR": str(tmp_path / "var"), "DJANGO_SETTINGS_MODULE": "courrier.settings"} | variables


def production(tmp_path, **variables: str) -> dict[str, str]:
    """What an operator sets, as README's "Going to production" says."""
    return environment(
        tmp_path,
        SITE_ROOT=f"https://{PUBLIC_HOST}",
        SECRET_KEY="k" * 10 + new_key() + new_key(),
        DATA_KEYS=new_key(),
        ALLOWED_HOSTS=PUBLIC_HOST,
        **variables,
    )


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def requests_in(env: dict[str, str]) -> dict:
    """Send a few requests through the whole middleware stack in a process with these settings; no database."""
    script = textwrap.dedent(
        """
        import json, django
        django.setup()
        from django.conf import settings
        from django.test import Client

        def seen(response):
            cookies = {
                name: {key: str(morsel[key]) for key in ("secure", "httponly", "samesite", "path", "domain")}
                for name, morsel in response.cookies.items()
            }
            return {"status": response.status_code, "headers": dict(response.headers), "cookies": cookies}

        host = settings.ALLOWED_HOSTS[0]
        client = Client(HTTP_HOST=host)
        print(json.dumps({
            "http": seen(client.get("/static/css/site.css")),
            "forwarded_https": seen(client.get("/static/css/site.css", HTTP_X_FORWARDED_PROTO="https")),
            "https": seen(client.get("/admin/login/", secure=True)),
            "language": seen(client.post("/i18n/setlang/", {"language": "en", "next": "/en/"}, secure=True)),
            "session_cookie": [settings.SESSION_COOKIE_NAME, settings.SESSION_COOKIE_SECURE,
                               settings.SESSION_COOKIE_HTTPONLY, settings.SESSION_COOKIE_SAMESITE],
        }))
        """
    )
    done = run([sys.executable, "-c", script], env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------- Production settings ----------


def test_check_deploy_is_clean_in_production_settings(tmp_path):
    done = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], production(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_check_deploy_names_what_an_operator_turned_off(tmp_path):
    """The check is not silenced wholesale: turning HSTS or the https redirect off is reported."""
    env = production(tmp_path, SECURE_HSTS_SECONDS="0", SECURE_SSL_REDIRECT="0")
    done = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert done.returncode != 0
    assert "security.W004" in done.stderr and "security.W008" in done.stderr


def test_production_redirects_to_https_and_sends_hsts_and_locked_cookies(tmp_path):
    seen = requests_in(production(tmp_path))
    assert seen["http"]["status"] == 301
    assert seen["http"]["headers"]["Location"] == f"https://{PUBLIC_HOST}/static/css/site.css"
    assert seen["forwarded_https"]["status"] == 301, "X-Forwarded-Proto is not trusted unless the operator says so"

    https = seen["https"]
    assert https["status"] == 200
    assert https["headers"]["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    csrf = https["cookies"]["__Host-csrftoken"]
    assert csrf == {"secure": "True", "httponly": "True", "samesite": "Lax", "path": "/", "domain": ""}
    language = seen["language"]["cookies"]["django_language"]
    assert language["secure"] == language["httponly"] == "True" and language["samesite"] == "Lax"
    assert seen["session_cookie"] == ["__Host-sessionid", True, True, "Lax"]


def test_behind_a_proxy_that_says_so_the_forwarded_scheme_counts_and_preload_is_opt_in(tmp_path):
    seen = requests_in(production(tmp_path, TRUST_X_FORWARDED_PROTO="1", SECURE_HSTS_PRELOAD="1"))
    assert seen["http"]["status"] == 301
    forwarded = seen["forwarded_https"]
    assert forwarded["status"] == 200
    assert forwarded["headers"]["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_the_embedded_default_stays_plain_http_on_this_machine(tmp_path):
    """`make run` with no environment: no redirect, no HSTS over http, cookies a browser keeps over http."""
    seen = requests_in(environment(tmp_path))
    assert seen["http"]["status"] == 200
    assert "Strict-Transport-Security" not in seen["http"]["headers"]
    assert "csrftoken" in seen["https"]["cookies"]
    assert seen["https"]["cookies"]["csrftoken"]["secure"] == ""
    assert seen["session_cookie"] == ["sessionid", False, True, "Lax"]
    done = run([sys.executable, "manage.py", "check", "--fail-level", "WARNING"], environment(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_production_refuses_to_start_without_its_secrets(tmp_path):
    env = production(tmp_path)
    del env["DATA_KEYS"]
    done = run([sys.executable, "manage.py", "check"], env)
    assert done.returncode != 0
    assert ImproperlyConfigured.__name__ in done.stderr and "DATA_KEYS" in done.stderr


# ---------- Cache-Control: no-store ----------


def assert_not_stored(response) -> None:
    assert response["Cache-Control"] == "no-store", response.get("Cache-Control")
    assert response["Pragma"] == "no-cache"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/admin/login/", "/admin/", "/admin/campaigns/campaign/", "/admin/sandbox/", "/fr/studio/", "/fr/studio/sign-in/"],
)
def test_the_whole_back_office_is_never_stored(own_campaign, path):
    assert_not_stored(organiser("manager", own_campaign.organisation).get(path))
    assert_not_stored(operator().get(path))
    assert_not_stored(Client().get(path))  # the login page and its redirect as well


@pytest.mark.django_db
def test_the_supporters_private_pages_are_never_stored(own_campaign, client):
    assert_not_stored(client.get(OWN_PAGE + "check-your-inbox/"))
    refused = client.post(OWN_PAGE + "sign/", signature_form(OWN_SLUG, email="not an address", first_name="Typed Name"))
    assert refused.status_code == 400 and "Typed Name" in refused.content.decode()
    assert_not_stored(refused)
    assert_not_stored(sign(client, slug=OWN_SLUG))
    signature = Signature.objects.get()
    confirm_url = f"/fr/confirm/{confirmation_token(signature.pk)}/"
    assert_not_stored(client.get(confirm_url))
    assert_not_stored(client.post(confirm_url))
    assert_not_stored(client.get("/fr/confirm/not-a-token/"))
    # Pages of places whose views may come later, or answer 404 for a bad token: the rule is the path.
    for path in ("/fr/my-data/", "/en/my-data/some-token/", "/fr/news/unsubscribe/not-a-token/"):
        assert_not_stored(client.get(path))


@pytest.mark.django_db
def test_the_embedded_forms_answers_are_never_stored(embeddable, cookieless):
    refused = cookieless.post(
        EMBED_SIGN_URL, {**signature_form(OWN_SLUG, email="nope", first_name="Typed Name"), "form_token": "forged"}
    )
    assert refused.status_code == 400 and "Typed Name" in refused.content.decode()
    assert_not_stored(refused)


@pytest.fixture
def cookieless():
    return Client(enforce_csrf_checks=True)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/fr/", OWN_PAGE, OWN_PAGE + "qr.svg", "/static/css/site.css"])
def test_public_pages_stay_cacheable(own_campaign, client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
    assert "Pragma" not in response


@pytest.mark.django_db
def test_the_embed_form_itself_stays_cacheable(embeddable, cookieless):
    assert "no-store" not in cookieless.get(EMBED_URL).get("Cache-Control", "")


def test_a_view_marked_no_store_is_never_stored_wherever_it_lives():
    @no_store
    def view(request):
        response = HttpResponse("Ұлжан")
        response["Cache-Control"] = "max-age=600"
        return response

    assert_not_stored(view(RequestFactory().get("/fr/anywhere/")))


# ---------- Error pages ----------

MARKER = "zq7marker"


@pytest.mark.django_db
def test_error_pages_show_nothing_of_the_request(own_campaign):
    client = Client()
    not_found = client.get(f"/fr/c/{MARKER}slug/?name={MARKER}name")
    assert not_found.status_code == 404
    forbidden = Client(HTTP_ORIGIN="https://evil.example").post(f"/fr/confirm/{MARKER}token/", {"x": f"{MARKER}post"})
    assert forbidden.status_code == 403
    bad_host = client.get(f"/fr/?q={MARKER}q", HTTP_HOST=f"{MARKER}host.example")
    assert bad_host.status_code == 400
    for response in (not_found, forbidden, bad_host):
        html = response.content.decode()
        assert MARKER not in html, html
        assert 'href="/en/"' in html, "the language links lead to each language's home"
        assert "Content-Security-Policy" in response


@pytest.mark.django_db
def test_a_page_refused_to_a_staff_member_shows_nothing_either(own_campaign):
    editor = organiser("editor", own_campaign.organisation, role="editor")
    response = editor.get(f"/fr/studio/c/{own_campaign.pk}/progress/?q={MARKER}")
    assert response.status_code == 403
    assert MARKER not in response.content.decode()


# ---------- Error reports and log lines ----------


def request_full_of_markers():
    factory = RequestFactory()
    request = factory.post(
        f"/fr/confirm/{MARKER}path:1a2b:sig/?email={MARKER}query",
        {"first_name": f"{MARKER}first", "email": f"{MARKER}@example.org", "personal_sentence": f"{MARKER}sentence"},
        HTTP_COOKIE=f"sessionid={MARKER}session; csrftoken={MARKER}csrf",
        HTTP_REFERER=f"https://{PUBLIC_HOST}/fr/confirm/{MARKER}referer/",
        HTTP_X_FORWARDED_FOR="203.0.113.77",
        REMOTE_ADDR="198.51.100.23",
    )
    request.user = None
    return request


def raise_with_locals(request):
    email = request.POST["email"]  # a local variable holding personal data, as views have
    raise ValueError(f"while handling /fr/my-data/{MARKER}exc/ for the current request ({len(email)} characters)")


def reports_of(request) -> list[str]:
    try:
        raise_with_locals(request)
    except ValueError:
        exc_info = sys.exc_info()
    reporter = get_exception_reporter_class(request)(request, *exc_info)
    debug_page = technical_500_response(request, *exc_info).content.decode()
    return [reporter.get_traceback_text(), reporter.get_traceback_html(), debug_page]


def test_error_reports_hide_every_value_of_the_request_and_every_local_variable(settings):
    settings.DEBUG = True  # the page a developer would see: private as well
    request = request_full_of_markers()
    for report in reports_of(request):
        assert MARKER not in report
        for address in ("203.0.113.77", "198.51.100.23"):
            assert address not in report
        # Still a useful report: which fields and cookies came, where, and the traceback's names.
        for name in ("first_name", "personal_sentence", "sessionid", "raise_with_locals", "ValueError"):
            assert name in report
        assert "/fr/confirm/[token]/" in report


def test_log_lines_lose_link_tokens_and_query_strings():
    try:
        raise ValueError(f"bad link /fr/news/unsubscribe/{MARKER}exc/")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "django.request",
        logging.ERROR,
        __file__,
        1,
        "Internal Server Error: %s",
        (f"/fr/confirm/{MARKER}/?e=x",),
        exc_info,
    )
    line = RedactingFormatter("%(levelname)s %(message)s").format(record)
    assert MARKER not in line
    assert "Internal Server Error: /fr/confirm/[token]/" in line and "ValueError: bad link" in line


@pytest.mark.parametrize("rate", ["1000", "ten/60", "10/0", "10/", "²/60"])
def test_a_mistyped_signing_limit_stops_the_site_at_start_with_the_setting_named(tmp_path, rate):
    """Read at the first signature, "1000" (no window) answered every signature with a server error."""
    env = {**environment(tmp_path), "SIGNING_RATE_LIMIT": rate}
    done = run([sys.executable, "manage.py", "check"], env)
    assert done.returncode != 0
    assert ImproperlyConfigured.__name__ in done.stderr and "SIGNING_RATE_LIMIT" in done.stderr
    assert '"count/seconds"' in done.stderr


@pytest.mark.parametrize(
    "headers, from_this_site",
    [
        ({"HTTP_ORIGIN": "https://courrier.example"}, True),  # SITE_ROOT's
        ({"HTTP_ORIGIN": "HTTPS://Courrier.Example"}, True),
        ({"HTTP_ORIGIN": "http://localhost:8000"}, True),  # the request's own host
        ({"HTTP_ORIGIN": "https://evil.example"}, False),
        ({"HTTP_ORIGIN": "null"}, False),  # a sandboxed or privacy-stripped page
        ({"HTTP_ORIGIN": "https://courrier.example.evil.example"}, False),
        ({"HTTP_REFERER": "https://courrier.example/fr/c/free-them/"}, True),
        ({"HTTP_REFERER": "https://evil.example/courrier.example/"}, False),
        ({}, True),  # not a browser: the form's own checks decide
    ],
)
def test_a_public_form_is_taken_from_the_sites_own_pages_only(settings, headers, from_this_site):
    settings.SITE_ROOT = "https://courrier.example"
    settings.ALLOWED_HOSTS = ["courrier.example", "localhost"]
    request = RequestFactory().post("/fr/c/free-them/sign/", HTTP_HOST="localhost:8000", **headers)
    assert is_from_this_site(request) is from_this_site


def test_a_host_that_is_not_the_sites_does_not_vouch_for_a_form_posted_to_it(settings):
    settings.SITE_ROOT = "https://courrier.example"
    settings.ALLOWED_HOSTS = ["courrier.example"]
    request = RequestFactory().post("/fr/", HTTP_HOST="attacker.example", HTTP_ORIGIN="http://attacker.example")
    assert not is_from_this_site(request)
