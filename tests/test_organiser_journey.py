"""The site's operator runs a campaign in the admin from a blank form to an update to its supporters, in a real
browser; an organiser who opens the admin is sent to the studio.

Debian's chromium, driven by Playwright, against gunicorn and the delivery worker as processes, with an
SMTP server on 127.0.0.1 standing for the whole world's mail: nothing else is stubbed. The admin is the
operators' (superusers'); organisers run theirs in the studio (tests/test_studio_browser.py), where another
group's manager sees none of it (tests/test_studio_running.py).
"""

import csv
import io
import re
import shutil
import urllib.request

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright
from pypdf import PdfReader

from courrier.accounts import totp
from courrier.accounts.models import AuditEntry, Membership, Organisation, TOTPDevice
from courrier.campaigns.demo import LETTER_FR
from courrier.campaigns.demo_translations import TRANSLATIONS
from courrier.campaigns.models import Campaign
from courrier.signatures.models import Signature
from tests.browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, log_in
from tests.conftest import wait_until
from tests.helpers import body_text, confirmation_path, decoded_header, unsubscribe_addresses

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed"),
]

SLUG = "liberez-les-militants-dalmaty"  # as the admin writes it from the title
TITLE = "Libérez les militants d’Almaty"
# Mail to and from the campaign: every address on example.org, never the demo's real ones. The sender is on
# a domain that is not a placeholder, since the pre-publish checklist refuses one once real mail is possible.
SENDER = "lettres@courrier-solidarite.org"
ORGANISER_EMAIL = "camille@example.org"
TO_TARGET = "ambassade@example.org"
CC_TARGET = "red-yurt@example.org"
EMBASSY_FRANCE = "ambassade-france@example.org"
EMBASSY_BELGIUM = "ambassade-belgique@example.org"
SUPPORTER_EMAIL = "ulzhan@example.org"
SENTENCE = "Tous les témoignages sont sur https://example.org/temoignages"
DIRECTORY_CSV = (
    "country,country_name,name,email,language\n"
    f"FR,France,Ambassade du Kazakhstan en France,{EMBASSY_FRANCE},fr\n"
    f"BE,Belgique,Ambassade du Kazakhstan en Belgique,{EMBASSY_BELGIUM},fr\n"
)
MISSPELLINGS = {"Valikha Sultanov": "Valikhan Sultanov", "Yrbsek Tottasyn": "Yrysbek Toktasyn"}


class World:
    """Two organisations, the operator (a superuser, member of the first) and a manager of the second."""

    def __init__(self):
        self.org_a = Organisation.objects.create(name="Solidarité Kazakhstan Lyon", contact_email="lyon@example.org")
        self.org_b = Organisation.objects.create(name="Союз солидарности")
        self.organiser = User.objects.create_superuser(
            "camille", ORGANISER_EMAIL, PASSWORD, first_name="Camille", last_name="Roux"
        )
        Membership.objects.create(user=self.organiser, organisation=self.org_a, role=Membership.Role.MANAGER)
        self.manager_b = User.objects.create_user("bolat", "bolat@example.org", PASSWORD, is_staff=True)
        Membership.objects.create(user=self.manager_b, organisation=self.org_b, role=Membership.Role.MANAGER)
        # The other manager set up their authenticator at an earlier login.
        self.secret_b = totp.generate_secret()
        TOTPDevice.objects.create(user=self.manager_b, secret=self.secret_b, confirmed_at=timezone.now())


@pytest.fixture
def world(transactional_db) -> World:
    return World()


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # ORM calls made while Playwright's loop runs use their own connection: close it here, inside the
        # loop's context, or the PostgreSQL test database cannot be dropped.
        connections.close_all()


def mail_settings(smtp_sink) -> dict[str, str]:
    """For the web server (tests and updates are queued there) and the worker: real mail, to the sink."""
    return {
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_sink.port),
        "EMAIL_USE_TLS": "0",
        "SENDER_EMAIL": SENDER,
    }


def test_an_operator_builds_checks_runs_and_reports_on_a_campaign_and_an_organiser_is_sent_to_the_studio(
    world, smtp_sink, start_web_server, start_worker, browser
):
    root = start_web_server(**mail_settings(smtp_sink))
    start_worker(SITE_ROOT=root, **mail_settings(smtp_sink))
    organiser = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB").new_page()
    log_in(organiser, root, "camille")

    campaign = create_campaign(organiser, root, world.org_a)
    add_targets_people_and_real_mail(organiser)
    import_directory(organiser)
    go_live_is_refused_for_the_misspelled_names(organiser, campaign)
    fix_the_letters(organiser)
    preview_and_send_a_test(organiser, smtp_sink)
    go_live(organiser, campaign)

    supporter = browser.new_context(viewport={"width": 390, "height": 844}, locale="fr-FR").new_page()
    sign_and_confirm(supporter, root, smtp_sink)
    signature = wait_until(
        lambda: Signature.objects.filter(campaign=campaign, moderation=Signature.Moderation.HELD).first(),
        message="the letter with a link to be held for review",
    )
    approve_and_see_the_letter_go(organiser, root, smtp_sink)
    see_progress_and_export(organiser, root, campaign)
    send_an_update_that_unsubscribes_in_one_click(organiser, root, smtp_sink, campaign, signature)
    read_the_audit_log(organiser, root, world.org_a)

    other_group = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB").new_page()
    an_organiser_is_sent_to_the_studio(other_group, root, world)


# Logging in


# Building


def add_inline_row(page, prefix: str) -> int:
    """Add a row to an inline with the admin's own "Add another" link; returns its index."""
    before = int(page.input_value(f"#id_{prefix}-TOTAL_FORMS"))
    page.locator(f"#{prefix}-group .add-row a").click()
    assert int(page.input_value(f"#id_{prefix}-TOTAL_FORMS")) == before + 1
    return before


def save_and_continue(page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Save and continue editing").click()


def create_campaign(page, root: str, organisation: Organisation) -> Campaign:
    """From the blank form: the page in French and English, the founding letter in both, as written."""
    page.goto(root + "/admin/campaigns/campaign/add/")
    page.select_option("#id_organisation", label=organisation.name)
    page.fill("#id_title", TITLE)
    page.locator("#id_title").blur()
    assert page.input_value("#id_slug") == SLUG
    page.select_option("#id_language", "fr")
    page.fill("#id_summary", "Des manifestants arrêtés à Almaty : écrivez à l’ambassade pour exiger leur libération.")
    page.fill("#id_article", "Le 6 juillet, des manifestants ont été **nassés**, blessés et emprisonnés.")
    page.check("#id_use_directory")

    english = TRANSLATIONS["en"]
    row = add_inline_row(page, "texts")
    page.select_option(f"#id_texts-{row}-language", "en")
    page.fill(f"#id_texts-{row}-title", "Free the activists of Almaty")
    page.fill(
        f"#id_texts-{row}-summary", "Protesters arrested in Almaty: write to the embassy to demand their release."
    )
    for language, subject, body in [
        ("fr", "Protestation contre la répression du 6 juillet à Almaty", LETTER_FR),
        ("en", english["subject"], english["letter"]),
    ]:
        row = add_inline_row(page, "letters")
        page.select_option(f"#id_letters-{row}-language", language)
        page.fill(f"#id_letters-{row}-subject", subject)
        page.fill(f"#id_letters-{row}-body", body)
    save_and_continue(page)

    campaign = Campaign.objects.get(slug=SLUG)
    assert page.url.endswith(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    assert campaign.status == Campaign.Status.DRAFT and campaign.organisation == organisation
    assert sorted(campaign.letters.values_list("language", flat=True)) == ["en", "fr"]
    assert list(campaign.texts.values_list("language", flat=True)) == ["en"]
    return campaign


def add_targets_people_and_real_mail(page) -> None:
    for role, name, address in [
        ("to", "Ambassade du Kazakhstan (essai)", TO_TARGET),
        ("cc", "Red Yurt (essai)", CC_TARGET),
    ]:
        row = add_inline_row(page, "targets")
        page.select_option(f"#id_targets-{row}-role", role)
        page.fill(f"#id_targets-{row}-name", name)
        page.fill(f"#id_targets-{row}-email", address)
        page.select_option(f"#id_targets-{row}-language", "fr")
    for name in MISSPELLINGS.values():  # the case file spells them right
        row = add_inline_row(page, "people")
        page.fill(f"#id_people-{row}-name", name)
    page.check("#id_real_delivery")
    save_and_continue(page)
    expect(page.locator(".messagelist .success")).to_be_visible()


def import_directory(page) -> None:
    change_url = page.url
    page.get_by_role("link", name="Import the directory (CSV)").click()
    page.set_input_files(
        "#directory-file",
        files=[{"name": "ambassades.csv", "mimeType": "text/csv", "buffer": DIRECTORY_CSV.encode()}],
    )
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(change_url)
    expect(page.locator(".messagelist")).to_contain_text("2 added")


def go_live_is_refused_for_the_misspelled_names(page, campaign: Campaign) -> None:
    checklist = page.locator(".field-checklist").inner_text()
    assert all(misspelled in checklist for misspelled in MISSPELLINGS), checklist
    page.select_option("#id_status", "live")
    with page.expect_navigation():
        page.get_by_role("button", name="Save", exact=True).click()
    # Saved as a draft (nothing typed is lost), back on the page with the findings in an error message.
    refusal = page.locator(".messagelist .error")
    assert all(misspelled in refusal.inner_text() for misspelled in MISSPELLINGS), refusal.inner_text()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def fix_the_letters(page) -> None:
    """Back on the draft's page: the names corrected in both letters, saved."""
    for row in range(int(page.input_value("#id_letters-TOTAL_FORMS"))):
        body = page.input_value(f"#id_letters-{row}-body")
        for misspelled, right in MISSPELLINGS.items():
            body = body.replace(misspelled, right)
        page.fill(f"#id_letters-{row}-body", body)
    save_and_continue(page)
    checklist = page.locator(".field-checklist").inner_text()
    assert "Blocks going live" not in checklist and not any(misspelled in checklist for misspelled in MISSPELLINGS)


def preview_and_send_a_test(page, smtp_sink) -> None:
    change_url = page.url
    page.get_by_role("link", name="Preview the page").click()
    expect(page.locator(".preview-banner")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.locator(".sign-form")).to_be_visible()  # as supporters will see it once live
    page.get_by_role("link", name="English", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Free the activists of Almaty")

    page.goto(change_url)
    page.get_by_role("link", name="Preview the letter, send a test").click()
    page.select_option("#preview-country", "FR")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"country=FR"))
    headers = letter_headers(page)
    assert (headers["To"], headers["Cc"]) == (EMBASSY_FRANCE, CC_TARGET)
    letter = page.locator(".letter-body").inner_text()
    assert "Yrysbek Toktasyn" in letter and "Yrbsek" not in letter and "Valikha " not in letter

    page.get_by_role("button", name="Send the test").click()
    expect(page.locator(".messagelist .success")).to_contain_text(ORGANISER_EMAIL)
    test = wait_until(lambda: received_by(smtp_sink, ORGANISER_EMAIL), message="the test letter")[0]
    assert test.rcpt_tos == [ORGANISER_EMAIL], "a test goes to the organiser alone"
    message = test.message
    assert message["To"] == ORGANISER_EMAIL and message["Cc"] is None
    assert decoded_header(message, "Subject").startswith("[TEST] Protestation")
    for target in (TO_TARGET, CC_TARGET, EMBASSY_FRANCE):
        assert target.encode() not in test.data
    page.goto(change_url)


def letter_headers(page) -> dict[str, str]:
    rows = page.locator(".letter-headers tr")
    return {rows.nth(i).locator("th").inner_text(): rows.nth(i).locator("td").inner_text() for i in range(rows.count())}


def go_live(page, campaign: Campaign) -> None:
    page.select_option("#id_status", "live")
    with page.expect_navigation():
        page.get_by_role("button", name="Save", exact=True).click()
    assert page.url.endswith("/admin/campaigns/campaign/")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.LIVE


# A supporter signs


def received_by(smtp_sink, address: str) -> list:
    return [item for item in smtp_sink.received if address in item.rcpt_tos]


def sign_and_confirm(page, root: str, smtp_sink) -> None:
    """On a phone, in French: their country picks the embassy; a link in their sentence holds the letter."""
    page.goto(f"{root}/fr/c/{SLUG}/")
    assert page.get_by_role("heading", level=1).inner_text() == TITLE
    page.fill("#id_first_name", "Ұлжан")
    page.fill("#id_last_name", "Қасымова")
    page.fill("#id_email", SUPPORTER_EMAIL)
    page.fill("#id_city", "Grenoble")
    page.select_option("#id_country", "FR")
    page.fill("#id_personal_sentence", SENTENCE)
    page.check("#id_consent_news")
    page.check("#id_consent_send")
    page.get_by_role("button", name="Signer").click()
    page.wait_for_url("**/check-your-inbox/")

    confirmation = wait_until(
        lambda: [m for m in received_by(smtp_sink, SUPPORTER_EMAIL) if "/confirm/" in body_text(m.message)],
        message="the confirmation e-mail",
    )[0]
    page.goto(root + confirmation_path(confirmation.message))
    page.get_by_role("button").filter(has_text="Confirmer").click()
    # Held for review, the letter is "in the queue" for the supporter: true, and all they need to know.
    expect(page.locator(".status-box")).to_have_attribute("data-state", "queued")


# Running it


def approve_and_see_the_letter_go(page, root: str, smtp_sink) -> None:
    assert received_by(smtp_sink, EMBASSY_FRANCE) == [], "a held letter is never sent"
    page.goto(root + "/admin/signatures/heldsignature/")
    page.get_by_role("link", name=SENTENCE).click()
    page.get_by_role("button", name="Approve: send this letter").click()
    expect(page.locator(".messagelist")).to_contain_text("1 letter approved")

    letter = wait_until(lambda: received_by(smtp_sink, EMBASSY_FRANCE), message="the approved letter")[0]
    assert sorted(letter.rcpt_tos) == sorted([EMBASSY_FRANCE, CC_TARGET]), "To the directory entry, Cc the ally"
    message = letter.message
    assert (message["To"], message["Cc"]) == (EMBASSY_FRANCE, CC_TARGET)
    # Answers come back through the campaign: the embassy never sees the supporter's address.
    assert message["Reply-To"].addresses[0].addr_spec.startswith("lettres+r")
    assert SUPPORTER_EMAIL not in letter.data.decode("utf-8", "replace")
    body = body_text(message)
    assert SENTENCE in body
    assert "Yrysbek Toktasyn" in body and "Yrbsek Tottasyn" not in body
    assert "Ұлжан Қасымова" in body and "Grenoble, le " in body
    assert TO_TARGET not in letter.rcpt_tos


def see_progress_and_export(page, root: str, campaign: Campaign) -> None:
    page.goto(f"{root}/admin/campaigns/campaign/{campaign.pk}/change/")
    page.locator(".field-running a").click()
    page.wait_for_url("**/progress/")
    expect(page.locator(".progress-chart svg[role=img]")).to_be_visible()
    today = page.locator("#per-day tbody tr").first
    assert today.locator("td").all_inner_texts() == ["1", "1"]  # signed, confirmed

    csv_bytes = download(page, "Export the signatures (CSV)")
    assert csv_bytes.startswith(b"\xef\xbb\xbf"), "a byte order mark, so that spreadsheets read Cyrillic"
    rows = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8-sig"))))
    assert len(rows) == 2
    assert "Ұлжан" in rows[1] and "Қасымова" in rows[1] and SUPPORTER_EMAIL in rows[1]  # they asked for news

    pdf = PdfReader(io.BytesIO(download(page, "Signatures for hand delivery (PDF)")))
    text = "\n".join(pdf_page.extract_text() for pdf_page in pdf.pages)
    assert "Ұлжан Қасымова" in text
    assert SUPPORTER_EMAIL not in text, "the PDF goes to the targets: no address"


def download(page, button: str) -> bytes:
    with page.expect_download() as info:
        page.get_by_role("button", name=button).click()
    return info.value.path().read_bytes()


def send_an_update_that_unsubscribes_in_one_click(page, root: str, smtp_sink, campaign, signature) -> None:
    subject = "Valikhan Sultanov est sorti de l’hôpital"
    page.goto(root + "/admin/news/newsupdate/add/")
    page.select_option("#id_campaign", label=campaign.title)
    page.select_option("#id_language", "fr")
    page.fill("#id_subject", subject)
    page.fill("#id_body", "Merci à toutes et à tous : vos lettres ont compté.\n\nLa campagne continue.")
    save_and_continue(page)
    page.get_by_role("link", name="Preview the e-mail").click()
    page.wait_for_url("**/preview/")
    expect(page.locator("#content table")).to_contain_text("List-Unsubscribe")
    page.get_by_role("link", name="Send…").click()
    page.wait_for_url("**/send/?ids=*")
    expect(page.locator("#content table tbody td").nth(3)).to_have_text("1")  # recipients
    page.get_by_role("button", name="Yes, send now").click()
    expect(page.locator(".messagelist")).to_contain_text("queued for 1 supporter")

    news = wait_until(
        lambda: [m for m in received_by(smtp_sink, SUPPORTER_EMAIL) if decoded_header(m.message, "Subject") == subject],
        message="the update",
    )[0]
    assert news.rcpt_tos == [SUPPORTER_EMAIL]
    message = news.message
    assert message["List-Unsubscribe-Post"] is None  # one-click is for https, and this test site is http
    url = unsubscribe_addresses(message)["http"]
    assert url.startswith(root + "/fr/news/unsubscribe/")
    assert url in body_text(message)

    # As a mail provider does: a POST without cookies to the header's address, which must answer 200 itself.
    request = urllib.request.Request(
        url,
        data=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and response.url == url
    signature.refresh_from_db()
    assert signature.news_unsubscribed_at is not None


def read_the_audit_log(page, root: str, organisation: Organisation) -> None:
    page.goto(root + "/admin/accounts/auditentry/")
    listed = page.locator("#result_list").inner_text()
    for action in ("Export", "Went live", "Targets changed", "News sent", "Moderation", "Test sent"):
        assert action in listed, action
    actions = set(AuditEntry.objects.filter(organisation=organisation).values_list("action", flat=True))
    assert {"export", "go_live", "target_change", "news_sent", "moderation", "test_sent"} <= actions


# Another organisation


def an_organiser_is_sent_to_the_studio(page, root: str, world: World) -> None:
    page.goto(root + "/admin/campaigns/campaign/")
    page.get_by_label("Username").fill("bolat")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".errornote")).to_contain_text("Organisers sign in to the studio")
    assert "/admin/login/" in page.url and TITLE not in page.content()
    page.goto(root + "/en/studio/sign-in/")
    page.get_by_label("Username").fill("bolat")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/en/studio/second-factor/"))
    page.get_by_label("Code").fill(totp.totp(world.secret_b))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(root + "/en/studio/")
    page.goto(root + "/admin/campaigns/campaign/")
    page.wait_for_url(re.compile(r"/studio/$"))
    assert TITLE not in page.content()
