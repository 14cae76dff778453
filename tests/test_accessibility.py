"""axe-core finds no WCAG 2.2 A/AA violation on any public page, in any of the four languages.

axe runs inside Debian's chromium on a phone-sized viewport, against gunicorn.
The audit context bypasses the site's Content-Security-Policy only so that the
test can inject axe itself; the pages are audited as they are served.
"""

import importlib.resources
import json
from urllib.parse import urlsplit

import pytest
from django.db import connections
from django.utils import timezone

from courrier.campaigns.models import Campaign, FollowUp, FollowUpLetter
from courrier.signatures.models import FollowUpSignature, Signature
from courrier.signatures.tokens import confirmation_token, follow_up_token, my_data_token
from tests.browser import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS
from tests.helpers import signature_form

pytestmark = BROWSER_MARKS

AXE = importlib.resources.files("axe_playwright_python").joinpath("axe.min.js").read_text()
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SLUG = "kazakhstan-repression"


def audit(page) -> list[str]:
    """The violations axe reports on the page as it stands, one line each."""
    page.add_script_tag(content=AXE)
    result = page.evaluate("async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(json.dumps(n['target']) for n in v['nodes'][:3])}"
        for v in result["violations"]
    ]


def public_pages(language: str, demo: Campaign) -> dict[str, str]:
    """Every page a visitor can reach, by name: a path, or a (path, form) to submit first."""
    signature = Signature.objects.create(
        campaign=demo,
        language=language,
        letter_language="fr",
        consent_send=True,
        **{
            k: v
            for k, v in signature_form(email=f"axe-{language}@example.org").items()
            if k in ("first_name", "last_name", "email", "city", "country")
        },
    )
    confirmed = Signature.objects.create(
        campaign=demo,
        language=language,
        letter_language="fr",
        consent_send=True,
        first_name="A",
        last_name="B",
        email=f"axe-confirmed-{language}@example.org",
    )
    # Confirmed, its letter written: what its follow-up link (below) asks for.
    Signature.objects.filter(pk=confirmed.pk).update(
        confirmed_at="2026-01-01T00:00:00Z", letters_queued_at="2026-01-01T00:00:00Z"
    )
    closed = Campaign.objects.create(
        organisation=demo.organisation,
        slug="closed-campaign",
        title="Closed",
        summary="Closed.",
        status=Campaign.Status.CLOSED,
    )
    Campaign.objects.filter(pk=demo.pk).update(embed_origins="https://union.example.org")
    follow_up = FollowUp.objects.create(campaign=demo, name="Après le verdict", status=FollowUp.Status.OPEN)
    FollowUpLetter.objects.create(
        follow_up=follow_up, language="fr", subject="Verdict", body="Monsieur,\n\n{signature}", invitation="Verdict."
    )
    already = Signature.objects.create(
        campaign=demo, language=language, letter_language="fr", consent_send=True, first_name="C", last_name="D",
        email=f"axe-again-{language}@example.org", confirmed_at=timezone.now(), letters_queued_at=timezone.now(),
    )  # fmt: skip
    FollowUpSignature.objects.create(follow_up=follow_up, signature=already)
    return {
        "campaign list": f"/{language}/",
        "own mailbox": f"/{language}/c/{SLUG}/own-mailbox/",
        "own mailbox, letter in another language": f"/{language}/c/{SLUG}/own-mailbox/?letter=kk",
        "embedded form": f"/{language}/embed/{SLUG}/",
        "embedded thanks": f"/{language}/embed/{SLUG}/thanks/",
        "campaign": f"/{language}/c/{SLUG}/",
        "check your inbox": f"/{language}/c/{SLUG}/check-your-inbox/",
        "confirm": f"/{language}/confirm/{confirmation_token(signature.pk)}/",
        "confirmed": f"/{language}/confirm/{confirmation_token(confirmed.pk)}/",
        "bad link": f"/{language}/confirm/not-a-token/",
        "see or erase one's data": f"/{language}/my-data/{my_data_token(signature)}/",
        "ask for one's data links": f"/{language}/my-data/",
        "data erased": f"/{language}/my-data/erased/",
        "closed campaign": f"/{language}/c/{closed.slug}/",
        "a follow-up to send": f"/{language}/follow-up/{follow_up_token(follow_up.pk, confirmed)}/",
        "a follow-up sent already": f"/{language}/follow-up/{follow_up_token(follow_up.pk, already)}/",
        "a follow-up's bad link": f"/{language}/follow-up/not-a-token/",
        "not found": f"/{language}/c/no-such-campaign/",
    }


@pytest.fixture
def audit_browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
        page = context.new_page()
        page.hosts = set()
        page.on("request", lambda request: page.hosts.add(urlsplit(request.url).netloc))
        yield page
        browser.close()
        connections.close_all()


@pytest.mark.parametrize("language", ["fr", "en", "ru", "kk"])
def test_no_public_page_has_an_accessibility_violation(demo, web_server, audit_browser, language):
    page = audit_browser
    found = {}
    pages = public_pages(language, demo)
    for name, path in pages.items():
        page.goto(web_server + path)
        found[name] = audit(page)
    # A follow-up sent by its one button.
    page.goto(web_server + pages["a follow-up to send"])
    page.locator("main form button[type=submit]").click()
    page.locator('[data-state="sent"]').wait_for()
    found["a follow-up just sent"] = audit(page)
    # The form as it comes back with errors: the error summary and the invalid fields.
    page.goto(f"{web_server}/{language}/c/{SLUG}/")
    page.locator("form.sign-form button[type=submit]").click()
    page.locator(".error-summary").wait_for()  # sent once the proof of work is solved
    assert page.locator(".error-summary").count() == 1
    found["form with errors"] = audit(page)
    page.goto(f"{web_server}/{language}/embed/{SLUG}/")
    page.locator("form.sign-form button[type=submit]").click()
    page.locator(".error-summary").wait_for()
    assert page.locator(".error-summary").count() == 1
    found["embedded form with errors"] = audit(page)

    assert {name: problems for name, problems in found.items() if problems} == {}
    assert page.hosts == {urlsplit(web_server).netloc}
