"""The whole journey on a phone in each language, with and without JavaScript, and by keyboard alone."""

from urllib.parse import urlsplit

import pytest
from django.db import connections

from courrier.campaigns.models import Campaign
from courrier.signatures.models import Signature
from tests.browser import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS
from tests.conftest import wait_until
from tests.helpers import body_text, confirmation_path

pytestmark = BROWSER_MARKS

SLUG = "kazakhstan-repression"
PHONE = {"width": 390, "height": 844}
SUPPORTERS = {
    "fr": ("Camille", "Durand", "Lyon", "Nous ne vous oublions pas."),
    "en": ("Alex", "Morgan", "Leeds", "We will not forget you."),
    "ru": ("Анна", "Смирнова", "Берлин", "Мы вас не забудем."),
    "kk": ("Әлия", "Нұрғалиқызы", "Өскемен", "Біз сізді ұмытпаймыз."),
}


@pytest.fixture
def phone(monkeypatch, request):
    """A phone-sized page; request.param says whether JavaScript runs."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, java_script_enabled=request.param)
        page = context.new_page()
        page.hosts = set()
        page.on("request", lambda r: page.hosts.add(urlsplit(r.url).netloc))
        yield page
        browser.close()
        connections.close_all()


def tab_to(page, element_id: str, limit: int = 80) -> None:
    """Press Tab until the element has the focus: it proves the field is reachable by keyboard."""
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} cannot be reached with the Tab key")


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.parametrize("phone", [True, False], ids=["javascript", "no-javascript"], indirect=True)
@pytest.mark.parametrize("language", ["fr", "en", "ru", "kk"])
def test_a_supporter_signs_and_confirms_on_a_phone_with_the_keyboard_alone(
    demo, smtp_sink, start_worker, web_server, phone, language, request
):
    Campaign.objects.filter(pk=demo.pk).update(real_delivery=True)
    start_worker(EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp_sink.port), EMAIL_USE_TLS="0", SITE_ROOT=web_server)
    first, last, city, sentence = SUPPORTERS[language]
    page = phone

    page.goto(f"{web_server}/{language}/c/{SLUG}/")
    assert page.locator("html").get_attribute("lang") == language
    assert fits_the_screen(page)
    for field, value in [
        ("id_first_name", first),
        ("id_last_name", last),
        ("id_email", f"{language}@example.org"),
        ("id_city", city),
        ("id_personal_sentence", sentence),
    ]:
        tab_to(page, field)
        page.keyboard.type(value)
    tab_to(page, "id_consent_send")
    page.keyboard.press("Space")
    assert page.is_checked("#id_consent_send")
    submit = page.locator("form.sign-form button[type=submit]")
    box = submit.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44, "the main button is a comfortable touch target"
    submit.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/check-your-inbox/")
    assert fits_the_screen(page)
    # With JavaScript the phone solved the proof of work; without, the letter is taken all the same.
    signature = Signature.objects.with_address(f"{language}@example.org").get()
    assert (signature.proof_digest is not None) == request.node.callspec.params["phone"]

    confirmation = wait_until(lambda: smtp_sink.messages(), message="the confirmation e-mail")[0]
    page.goto(web_server + confirmation_path(confirmation))
    assert page.locator("html").get_attribute("lang") == language
    page.locator("form button[type=submit]").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(".status-box")

    wait_until(lambda: any("paris@mfa.kz" in r.rcpt_tos for r in smtp_sink.received), message="the letter")
    letter = next(r for r in smtp_sink.received if "paris@mfa.kz" in r.rcpt_tos)
    assert sorted(letter.rcpt_tos) == ["chakmonro@ya.ru", "paris@mfa.kz"]
    body = body_text(letter.message)
    assert sentence in body and f"{first} {last}" in body
    assert demo.letter_for(language).subject.split()[0] in letter.message["Subject"]
    assert page.hosts == {urlsplit(web_server).netloc}
