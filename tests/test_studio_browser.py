"""The studio in Debian's chromium: a new organiser's whole journey through the studio alone, on a desktop and
on a phone; axe-core on every studio page in each language; the build and publish steps by keyboard alone."""

import importlib.resources
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect

import courrier.campaigns
from courrier.accounts import totp
from courrier.accounts.models import Membership
from courrier.campaigns.models import Campaign
from courrier.signatures.models import Signature
from tests.browser import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, load_until
from tests.conftest import wait_until
from tests.factories import new_organisation
from tests.helpers import confirmation_path

pytestmark = BROWSER_MARKS

# The founding call as it was published (shipped with the demo campaign, courrier/campaigns/demo.py).
FOUNDING_CALL = (Path(courrier.campaigns.__file__).parent / "founding_call.txt").read_text()
PASSWORD = "a long organiser password"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
AXE = importlib.resources.files("axe_playwright_python").joinpath("axe.min.js").read_text()
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
        connections.close_all()


def new_page(browser, viewport: str, **options):
    context = browser.new_context(viewport=VIEWPORTS[viewport], is_mobile=viewport == "phone", **options)
    page = context.new_page()
    page.hosts = set()
    page.on("request", lambda request: page.hosts.add(urlsplit(request.url).netloc))
    return page


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def sign_in_first_time(page, root: str, username: str, email: str | None = None) -> None:
    """Password, the second factor set up from the key the page shows, then one's own address if asked."""
    page.goto(root + "/fr/studio/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(re.compile(r"/fr/studio/second-factor/set-up/"))
    secret = page.locator(".secret").inner_text()
    page.fill("#id_code", totp.totp(secret))
    page.get_by_role("button", name="Confirmer et continuer").click()
    if email:
        page.wait_for_url(re.compile(r"/fr/studio/my-address/"))
        page.fill("#id_email", email)
        page.get_by_role("button", name="Enregistrer et continuer").click()
    page.wait_for_url(root + "/fr/studio/")


def organiser_account(username: str, organisation, role=Membership.Role.MANAGER) -> User:
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    Membership.objects.create(user=user, organisation=organisation, role=role)
    return user


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_a_new_organiser_goes_from_a_pasted_call_to_a_live_campaign_through_the_studio_alone(
    browser, start_worker, web_server, viewport
):
    start_worker(SITE_ROOT=web_server)
    organisation = new_organisation("Gauche révolutionnaire")
    organiser_account("camille", organisation)
    page = new_page(browser, viewport)
    steps = {"pages": 0, "submissions": 0}
    page.on("framenavigated", lambda frame: frame == page.main_frame and steps.__setitem__("pages", steps["pages"] + 1))
    page.on("request", lambda r: r.method == "POST" and steps.__setitem__("submissions", steps["submissions"] + 1))

    sign_in_first_time(page, web_server, "camille", "camille@gauche.example")
    page.get_by_role("link", name="Nouvelle campagne").click()
    page.fill("#id_call-text", FOUNDING_CALL)
    page.get_by_role("button", name="Créer le brouillon").click()
    page.wait_for_url(re.compile(r"/fr/studio/c/\d+/$"))
    campaign = Campaign.objects.get()
    recipients = page.locator("#recipients + table")
    expect(recipients).to_contain_text("paris@mfa.kz")
    expect(recipients).to_contain_text("chakmonro@ya.ru")
    for name in ("Valikhan Sultanov", "Yrysbek Toktasyn", "Dostiyarov Dauren"):
        expect(page.locator("section[aria-labelledby=people]")).to_contain_text(name)
    blockers = page.locator(".finding.blocker")
    expect(blockers.filter(has_text="Valikha Sultanov")).to_have_count(1)
    expect(blockers.filter(has_text="Yrbsek Tottasyn")).to_have_count(1)
    assert fits(page)

    # The checker's findings link to the letter; the names are fixed there.
    blockers.filter(has_text="Valikha Sultanov").get_by_role("link").click()
    page.wait_for_url(re.compile(r"/letter/fr/$"))
    body = page.locator("#id_body").input_value()
    fixed = body.replace("Valikha Sultanov", "Valikhan Sultanov").replace("Yrbsek Tottasyn", "Yrysbek Toktasyn")
    page.fill("#id_body", fixed)
    # The checker reads the letter as it is typed, before it is saved (js/letter-checker.js).
    expect(page.locator("#checker-findings .finding.blocker")).to_have_count(0)
    page.get_by_role("button", name="Enregistrer la lettre").click()
    expect(page.locator(".message.success")).to_contain_text("La lettre est enregistrée.")
    expect(page.locator("section[aria-labelledby=checker] .finding.blocker")).to_have_count(0)

    page.get_by_role("link", name="Lettre (English)").click()
    page.fill("#id_subject", "Repression of the social movement in Kazakhstan")
    page.fill(
        "#id_body",
        "Dear Ambassador,\n\nWe protest against the arrests in Almaty.\n\n{personal_sentence}\n\n{signature}",
    )
    page.get_by_role("button", name="Enregistrer la lettre").click()
    expect(page.locator(".message.success")).to_be_visible()

    page.get_by_role("link", name="Relire et publier").click()
    expect(page.locator(".finding.blocker")).to_have_count(0)
    page.get_by_role("link", name="Lettre en English").click()
    expect(page.locator("pre.letter-text")).to_contain_text("Dear Ambassador")
    expect(page.locator("table.studio-table")).to_contain_text("paris@mfa.kz")
    page.get_by_role("link", name="Retour à la relecture").click()
    page.get_by_role("button", name="M’envoyer un essai").click()
    expect(page.locator(".message.success")).to_contain_text("camille@gauche.example")
    page.get_by_role("link", name="Ouvrir la boîte de test").click()
    mailbox = page.url
    load_until(page, mailbox, lambda: page.locator("table.studio-table a").count() > 0, "the test in the mailbox")
    page.locator("table.studio-table a").first.click()
    expect(page.locator("h1")).to_contain_text("[TEST]")
    expect(page.locator("pre.letter-text")).to_contain_text("Monsieur l’Ambassadeur")

    page.goto(f"{web_server}/fr/studio/c/{campaign.pk}/publish/")
    page.get_by_role("button", name="Publier la campagne").click()
    page.wait_for_url(re.compile(r"/published/$"))
    public = f"{web_server}/fr/c/{campaign.slug}/"
    expect(page.locator(".public-address")).to_have_text(public)
    expect(page.locator("img.qr")).to_be_visible()
    assert fits(page)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.LIVE and not campaign.real_delivery
    to_live = dict(steps)

    # A supporter signs on their phone and confirms.
    supporter = new_page(browser, "phone")
    supporter.goto(public)
    supporter.fill("#id_first_name", "Aigerim")
    supporter.fill("#id_last_name", "Seitkali")
    supporter.fill("#id_email", f"aigerim-{viewport}@example.org")
    supporter.fill("#id_city", "Lyon")
    supporter.check("#id_consent_send")
    if supporter.locator("#id_consent_news").count():
        supporter.check("#id_consent_news")
    supporter.locator("form.sign-form button[type=submit]").click()
    supporter.wait_for_url("**/check-your-inbox/")
    link = wait_until(lambda: _confirmation(settings.SANDBOX_MAILDIR), message="the confirmation e-mail")
    supporter.goto(web_server + link)
    supporter.locator("form button[type=submit]").click()
    supporter.wait_for_selector(".status-box")
    wait_until(lambda: Signature.objects.filter(letters_queued_at__isnull=False).exists(), message="the letter queued")

    # The organiser follows it and exports.
    page.goto(f"{web_server}/fr/studio/c/{campaign.pk}/progress/")
    expect(page.locator("#by-state")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Exporter les signatures (CSV)").click()
    assert "Seitkali" in Path(download.value.path()).read_text()

    # News in two languages.
    page.get_by_role("link", name="Nouvelles aux signataires").click()
    page.fill("#id_fr-subject", "Valikhan Sultanov est libéré")
    page.fill("#id_fr-body", "Merci à toutes et à tous : il a été libéré ce matin.")
    # One language shows at a time: the English tab shows the English text, and hides the French one.
    page.get_by_role("tab", name=re.compile("^English")).click()
    expect(page.locator("#id_fr-subject")).to_be_hidden()
    page.fill("#id_en-subject", "Valikhan Sultanov is free")
    page.fill("#id_en-body", "Thank you all: he was released this morning.")
    page.check("#id_send-confirm")
    page.get_by_role("button", name="Envoyer le message").click()
    expect(page.locator(".message.success")).to_contain_text("Le message est envoyé")
    assert campaign.news.filter(sent_at__isnull=False).count() == 2

    # An editor is invited, joins, and sees no supporter's data.
    page.goto(web_server + "/fr/studio/")
    page.get_by_role("link", name="L’équipe de Gauche révolutionnaire").click()
    page.fill("#id_email", f"nurlan-{viewport}@union.example")
    page.get_by_role("button", name="Envoyer l’invitation").click()
    invitation = re.search(
        r"https?://\S+/fr/studio/join/[^/\s]+/", page.locator(".message.warning").inner_text()
    ).group(0)
    editor = new_page(browser, viewport)
    editor.goto(invitation)
    editor.fill("#id_username", "nurlan")
    editor.fill("#id_password", PASSWORD)
    editor.fill("#id_password_again", PASSWORD)
    editor.get_by_role("button", name="Rejoindre").click()
    editor.wait_for_url(re.compile(r"/second-factor/set-up/"))
    editor.fill("#id_code", totp.totp(editor.locator(".secret").inner_text()))
    editor.get_by_role("button", name="Confirmer et continuer").click()
    editor.wait_for_url(web_server + "/fr/studio/")
    expect(editor.get_by_role("link", name=campaign.title)).to_be_visible()
    assert editor.goto(f"{web_server}/fr/studio/c/{campaign.pk}/progress/").status == 403
    assert editor.goto(f"{web_server}/fr/studio/mailbox/").status == 403

    for visitor in (page, supporter, editor):
        assert visitor.hosts == {urlsplit(web_server).netloc}
    print(
        f"\n{viewport}: {to_live['pages']} pages and {to_live['submissions']} submissions from sign-in to a live "
        f"campaign; {steps['pages']} and {steps['submissions']} with the export, the news and the invitation"
    )


def _confirmation(maildir: Path) -> str | None:
    try:
        return confirmation_path(maildir)
    except (StopIteration, AssertionError):
        return None


def audit(page) -> list[str]:
    page.add_script_tag(content=AXE)
    result = page.evaluate("async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(json.dumps(n['target']) for n in v['nodes'][:3])}"
        for v in result["violations"]
    ]


def studio_pages(campaign: Campaign, organisation, language: str) -> dict[str, str]:
    base = f"/{language}/studio"
    c = f"{base}/c/{campaign.pk}"
    return {
        "home": f"{base}/",
        "new campaign": f"{base}/new/",
        "overview": f"{c}/",
        "story": f"{c}/story/",
        "people": f"{c}/people/",
        "a person's timeline": f"{c}/people/{campaign.people.first().pk}/",
        "the page in another language": f"{c}/page/en/",
        "directory": f"{c}/directory/",
        "review rules": f"{c}/held/rules/",
        "letter": f"{c}/letter/fr/",
        "letter to write": f"{c}/letter/kk/",
        "recipients": f"{c}/recipients/",
        "options": f"{c}/options/",
        "review and publish": f"{c}/publish/",
        "page preview": f"{c}/publish/page/?lang={language}",
        "letter preview": f"{c}/publish/letter/?lang=fr",
        "published": f"{c}/published/",
        "progress": f"{c}/progress/",
        "held for review": f"{c}/held/",
        "delivery": f"{c}/delivery/",
        "news": f"{c}/news/",
        "answers": f"{c}/answers/",
        "follow-up letters": f"{c}/follow-ups/",
        **{
            f"a follow-up, {follow_up.get_status_display()}": f"{c}/follow-ups/{follow_up.pk}/"
            for follow_up in campaign.follow_ups.all()
        },
        "test mailbox": f"{base}/mailbox/",
        "team": f"{base}/team/{organisation.pk}/",
        "audit log": f"{base}/team/{organisation.pk}/audit/",
        "join, bad link": f"{base}/join/not-a-link/",
    }


@pytest.mark.parametrize("language", ["fr", "en", "ru", "kk"])
def test_no_studio_page_has_an_accessibility_violation(browser, web_server, language):
    from courrier.campaigns.appeals import create_draft, read_appeal

    organisation = new_organisation("Gauche révolutionnaire")
    organiser_account("camille", organisation)
    campaign = create_draft(read_appeal(FOUNDING_CALL), organisation, None)
    Signature.objects.create(
        campaign=campaign, first_name="A", last_name="B", email="held@example.org", language="fr",
        letter_language="fr", consent_send=True, moderation=Signature.Moderation.HELD, personal_sentence="Libérez-les",
    )  # fmt: skip
    from courrier.delivery.models import Answer  # here: the module's other tests need none

    embassy = campaign.targets.first()
    Answer.objects.create(
        campaign=campaign,
        target=embassy,
        message_id="<a1@x>",
        sender=embassy.email,
        subject="Re",
        body="Votre lettre est reçue.",
        published_text="Reçue.",
        published_at=timezone.now(),
    )
    Answer.objects.create(campaign=campaign, message_id="<a2@x>", sender="someone@elsewhere.example", body="?")
    from courrier.campaigns.models import FollowUp, FollowUpLetter

    for status in (FollowUp.Status.DRAFT, FollowUp.Status.OPEN):
        follow_up = FollowUp.objects.create(campaign=campaign, name=f"Après le verdict ({status})", status=status)
        FollowUpLetter.objects.create(
            follow_up=follow_up, language="fr", subject="Verdict", body="{signature}", invitation="Le verdict."
        )
    page = new_page(browser, "phone", bypass_csp=True)
    page.goto(f"{web_server}/{language}/studio/sign-in/")
    found = {"sign in": audit(page)}
    page.fill("#id_username", "camille")
    page.fill("#id_password", "wrong")
    page.locator("form.studio-form button[type=submit]").click()
    found["sign in refused"] = audit(page)
    page.fill("#id_username", "camille")
    page.fill("#id_password", PASSWORD)
    page.locator("form.studio-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/second-factor/set-up/"))
    found["second factor set-up"] = audit(page)
    page.fill("#id_code", totp.totp(page.locator(".secret").inner_text()))
    page.locator("form.studio-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/my-address/"))
    found["own address"] = audit(page)
    page.fill("#id_email", "camille@gauche.example")
    page.locator("form.studio-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/studio/$"))
    for name, path in studio_pages(campaign, organisation, language).items():
        page.goto(web_server + path)
        found[name] = audit(page)
    # A form sent back with its errors.
    page.goto(f"{web_server}/{language}/studio/c/{campaign.pk}/story/")
    page.fill("#id_title", "")
    page.locator("form.studio-form button.button:not(.secondary)").click()
    page.locator(".error-summary").wait_for()
    found["story with errors"] = audit(page)
    assert {name: problems for name, problems in found.items() if problems} == {}
    assert page.hosts == {urlsplit(web_server).netloc}


def tab_to(page, text: str, limit: int = 120) -> None:
    """Press Tab until the element showing `text` (a link or a button) has the focus."""
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.textContent.trim()") == text:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"“{text}” cannot be reached with the Tab key")


def test_the_build_and_publish_steps_work_with_the_keyboard_alone(browser, web_server):
    organisation = new_organisation("Gauche révolutionnaire")
    organiser_account("camille", organisation)
    page = new_page(browser, "desktop")
    sign_in_first_time(page, web_server, "camille", "camille@gauche.example")
    tab_to(page, "Nouvelle campagne")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{web_server}/fr/studio/new/")
    page.keyboard.press("Tab")
    for _ in range(40):
        if page.evaluate("document.activeElement.id") == "id_call-text":
            break
        page.keyboard.press("Tab")
    page.keyboard.insert_text(FOUNDING_CALL)
    tab_to(page, "Créer le brouillon")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/fr/studio/c/\d+/$"))
    campaign = Campaign.objects.get()

    tab_to(page, "Lettre (Français)")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{web_server}/fr/studio/c/{campaign.pk}/letter/fr/")
    body = page.locator("#id_body").input_value()
    for _ in range(60):
        if page.evaluate("document.activeElement.id") == "id_body":
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(
        body.replace("Valikha Sultanov", "Valikhan Sultanov").replace("Yrbsek Tottasyn", "Yrysbek Toktasyn")
    )
    tab_to(page, "Enregistrer la lettre")
    page.keyboard.press("Enter")
    expect(page.locator(".message.success")).to_be_visible()

    tab_to(page, "Relire et publier")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{web_server}/fr/studio/c/{campaign.pk}/publish/")
    tab_to(page, "Publier la campagne")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{web_server}/fr/studio/c/{campaign.pk}/published/")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.LIVE
