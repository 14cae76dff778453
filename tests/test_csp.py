"""Every response carries a Content-Security-Policy that runs no inline script, and the other security headers."""

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client

from courrier.accounts import totp
from courrier.delivery.worker import Worker
from courrier.http.csp import DEFAULT_POLICY
from courrier.signatures.models import Signature
from tests.browser import CHROMIUM, CHROMIUM_ARGS, in_chromium
from tests.factories import OWN_PAGE, OWN_SLUG
from tests.helpers import sign, signature_form

OWN_SIGN_URL = OWN_PAGE + "sign/"

ROOT = Path(__file__).resolve().parent.parent
STAFF_PASSWORD = "a long test password"


def directives(policy: str) -> dict[str, str]:
    return {part.strip().split(" ", 1)[0]: part.strip().split(" ", 1)[1] for part in policy.split(";")}


NONCE = re.compile(r" 'nonce-[A-Za-z0-9_-]{22}'")


def without_nonce(policy: str) -> str:
    return NONCE.sub("", policy, count=1)


def assert_locked_down(response, frameable: bool = False) -> None:
    policy = response["Content-Security-Policy"]
    parts = directives(without_nonce(policy))
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "*" not in policy, policy
    assert parts["default-src"] == parts["script-src"] == parts["style-src"] == "'self'"
    assert parts["object-src"] == parts["base-uri"] == "'none'"
    assert parts["form-action"] == "'self'"
    if not frameable:
        assert parts["frame-ancestors"] == "'none'"
    assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]
    assert "microphone=()" in response["Permissions-Policy"]
    assert "interest-cohort=()" in response["Permissions-Policy"]


@pytest.fixture
def staff(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("staff", password=STAFF_PASSWORD))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/fr/", 200),
        (OWN_PAGE, 200),
        (f"/ru/c/{OWN_SLUG}/check-your-inbox/", 200),
        ("/", 302),
        ("/fr/no-such-page/", 404),
        ("/fr/c/no-such-campaign/", 404),
        ("/fr/confirm/not-a-token/", 400),
        ("/admin/login/", 200),
        ("/admin/", 302),
    ],
)
def test_every_public_page_redirect_and_error_is_locked_down(own_campaign, client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert without_nonce(response["Content-Security-Policy"]) == DEFAULT_POLICY
    assert_locked_down(response)
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_a_refused_form_and_a_form_from_another_site_are_locked_down_too(own_campaign, client):
    refused = client.post(OWN_SIGN_URL, signature_form(OWN_SLUG, email="nope"))
    assert refused.status_code == 400
    assert_locked_down(refused)
    no_csrf = Client(HTTP_ORIGIN="https://evil.example").post(OWN_SIGN_URL, signature_form(OWN_SLUG))
    assert no_csrf.status_code == 403
    assert_locked_down(no_csrf)
    assert no_csrf["X-Frame-Options"] == "DENY"
    assert not Signature.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/campaigns/campaign/",
        "/admin/campaigns/campaign/{pk}/change/",
        "/admin/campaigns/campaign/add/",
        "/admin/delivery/outboxmessage/",
        "/admin/sandbox/",
    ],
)
def test_back_office_pages_are_locked_down(own_campaign, staff, path):
    response = staff.get(path.format(pk=own_campaign.pk))
    assert response.status_code == 200
    assert_locked_down(response)
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_static_files_carry_the_policy_as_well(client):
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    assert_locked_down(response)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


# Inside a tag: an inline handler (onclick=...), a style attribute, a javascript: address.
_TAG = re.compile(r"<[a-zA-Z][^>]*>", re.DOTALL)
_FORBIDDEN_IN_TAG = re.compile(r"""\s(on[a-z]+|style)\s*=|["']\s*javascript:""", re.IGNORECASE)
_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/(ld\+)?json\")[^>]*>", re.IGNORECASE)
_STYLE_BLOCK = re.compile(r"<style\b", re.IGNORECASE)


def template_files() -> list[Path]:
    app_templates = ROOT.joinpath("courrier").rglob("templates/**/*.html")
    return sorted([*ROOT.joinpath("templates").rglob("*.html"), *app_templates])


def test_no_template_needs_unsafe_inline():
    """What the policy would block, found before a browser does: say file and line."""
    found = []
    for path in template_files():
        text = path.read_text()

        def report(offset: int, what: str, path=path, text=text) -> None:
            found.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, offset) + 1}: {what}")

        for match in _INLINE_SCRIPT.finditer(text):
            report(match.start(), "inline <script>")
        for match in _STYLE_BLOCK.finditer(text):
            report(match.start(), "<style> block")
        for tag in _TAG.finditer(text):
            for bad in _FORBIDDEN_IN_TAG.finditer(tag.group()):
                report(tag.start() + bad.start(), bad.group().strip())
    assert found == [], "\n".join(found)


@in_chromium
def test_the_back_office_works_in_chromium_under_the_policy(own_campaign, web_server, monkeypatch):
    """Log in, open a campaign and add a target row with the admin's own scripts: nothing is refused."""
    from playwright.sync_api import sync_playwright

    User.objects.create_superuser("organiser", password=STAFF_PASSWORD)
    sign(Client(), slug=OWN_SLUG, first_name="Даурен")
    Worker().run_once()  # a confirmation e-mail in the sandbox, to read in the back office
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        refused = []
        page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(f"{page.url}: {m.text}"))

        page.goto(web_server + "/admin/login/")
        page.fill("#id_username", "organiser")
        page.fill("#id_password", STAFF_PASSWORD)
        page.locator("input[type=submit]").click()
        # The first login sets up the second factor: its page, QR code included, is under the policy too.
        page.wait_for_url(web_server + "/admin/second-factor/setup/**")
        secret = page.locator(".second-factor-secret").inner_text()
        page.fill("#id_code", totp.totp(secret))
        page.locator("input[type=submit]").click()
        page.wait_for_url(web_server + "/admin/")
        page.goto(f"{web_server}/admin/campaigns/campaign/{own_campaign.pk}/change/")
        targets_before = page.locator("#targets-group tr.form-row:not(.empty-form)").count()
        page.locator("#targets-group .add-row a").click()  # the link exists only if inlines.js ran
        assert page.locator("#targets-group tr.form-row:not(.empty-form)").count() == targets_before + 1
        assert page.locator("#header").evaluate("e => getComputedStyle(e).display") == "flex", "admin CSS applied"
        page.goto(f"{web_server}/admin/campaigns/campaign/add/")
        page.locator("#id_title").press_sequentially("Libérez Erzhan")
        assert page.input_value("#id_slug") == "liberez-erzhan", "prepopulate.js ran"
        page.goto(web_server + "/admin/sandbox/")
        page.locator("#content tbody a").first.click()
        assert "/fr/confirm/" in page.locator("#content pre").inner_text()  # the confirmation request, shown
        page.goto(web_server + OWN_PAGE)
        browser.close()
    connections.close_all()
    assert refused == []


# ---------- Nonces ----------

_SCRIPT_TAG = re.compile(r"<script\b[^>]*>", re.IGNORECASE)


def script_nonce(response) -> str:
    match = re.search(r"'nonce-([A-Za-z0-9_-]{22})'", directives(response["Content-Security-Policy"])["script-src"])
    assert match, response["Content-Security-Policy"]
    return match.group(1)


@pytest.mark.django_db
def test_each_response_gets_a_fresh_nonce_carried_by_every_script_tag_of_the_page(own_campaign, client, settings):
    settings.PUBLIC_PAGE_SECONDS = 0  # each load renders the page: a kept page keeps its nonce (test_shared_cache)
    pages = [client.get(OWN_PAGE) for _ in range(3)]
    nonces = [script_nonce(page) for page in pages]
    assert len(set(nonces)) == 3, "never the same nonce twice"
    for page, nonce in zip(pages, nonces, strict=True):
        tags = _SCRIPT_TAG.findall(page.content.decode())
        assert len(tags) >= 2, "the page has scripts"
        assert all(f'nonce="{nonce}"' in tag for tag in tags), tags


@pytest.mark.django_db
def test_a_response_without_a_script_tag_carries_no_nonce(client):
    response = client.get("/static/css/site.css")
    assert "nonce" not in response["Content-Security-Policy"]


def test_every_script_tag_of_our_templates_carries_the_nonce():
    found = []
    for path in template_files():
        text = path.read_text()
        for tag in _SCRIPT_TAG.finditer(text):
            if 'nonce="{{ csp_nonce }}"' not in tag.group():
                found.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, tag.start()) + 1}: {tag.group()}")
    assert found == [], "\n".join(found)


@in_chromium
def test_a_script_injected_without_the_nonce_does_not_run_in_chromium(own_campaign, web_server, monkeypatch):
    """The page as served, with three inline scripts slipped in: only the one with the response's nonce runs."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    page_url = web_server + OWN_PAGE

    def inject(route):
        response = route.fetch()
        nonce = re.search(r"'nonce-([^']+)'", response.headers["content-security-policy"]).group(1)
        injected = (
            f'<script nonce="{nonce}">document.body.dataset.nonced = "ran";</script>'
            '<script>document.body.dataset.plain = "ran";</script>'
            '<script nonce="AAAAAAAAAAAAAAAAAAAAAA">document.body.dataset.forged = "ran";</script>'
        )
        route.fulfill(response=response, body=response.text().replace("</body>", injected + "</body>"))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        refused = []
        page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(m.text))
        page.route(page_url, inject)
        page.goto(page_url)
        ran = page.evaluate("() => ({...document.body.dataset})")
        browser.close()
    connections.close_all()
    assert ran.get("nonced") == "ran", "a script with the response's nonce runs: the injection worked"
    assert "plain" not in ran and "forged" not in ran
    assert len(refused) == 2, refused
