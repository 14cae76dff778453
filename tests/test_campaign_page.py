"""The campaign page in each language: its text, the case file, the counter and its goal, the signing form."""

import datetime
import re
import shutil
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.db import connection, connections
from django.templatetags.static import static
from django.test.utils import CaptureQueriesContext

from courrier.campaigns.demo_people import PEOPLE
from courrier.campaigns.models import Campaign, CampaignText, Person, PersonUpdate
from courrier.signatures.models import Signature
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import sign

SLUG = "kazakhstan-repression"


def page_url(language: str) -> str:
    return f"/{language}/c/{SLUG}/"


class Elements(HTMLParser):
    """Every element of a page with its attributes, and the text inside each element that has an id."""

    def __init__(self, html: str):
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.by_id: dict[str, dict[str, str]] = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        self.elements.append((tag, attributes))
        if "id" in attributes:
            self.by_id[attributes["id"]] = {"tag": tag, **attributes}

    def all(self, tag: str, **wanted: str) -> list[dict[str, str]]:
        return [
            attributes
            for name, attributes in self.elements
            if name == tag and all(attributes.get(key.replace("_", "-")) == value for key, value in wanted.items())
        ]


pytestmark = pytest.mark.django_db


def test_each_language_gets_its_own_text_marked_with_its_language_and_the_translation_note(demo, client):
    english = client.get(page_url("en")).content.decode()
    assert '<h1 lang="en">Repression of the social movement in Kazakhstan</h1>' in english
    assert '<p class="summary" lang="en">On 6 July 2021 in Almaty' in english
    assert '<span lang="en">Translated from the French original.</span>' in english
    assert f'<a href="/fr/c/{SLUG}/" hreflang="fr">' in english
    assert 'alt="Drawing: a demonstration in a street in Almaty in summer' in english
    assert '<figcaption lang="en">A Red Yurt comrade demonstrating in Kazakhstan, before his arrest' in english
    assert "this is not the original photo" in english
    assert '<div class="article" lang="en"><p>While the prices of basic necessities' in english
    assert "Répression du mouvement social" not in english

    russian = client.get(page_url("ru")).content.decode()
    assert '<h1 lang="ru">Репрессии против социального движения в Казахстане</h1>' in russian
    assert '<span lang="ru">Перевод с французского оригинала.</span>' in russian
    assert '<figcaption lang="ru">' in russian

    kazakh = client.get(page_url("kk")).content.decode()
    assert '<span lang="kk">Француз тіліндегі түпнұсқадан аударылған.</span>' in kazakh

    french = client.get(page_url("fr")).content.decode()
    assert '<h1 lang="fr">Répression du mouvement social au Kazakhstan</h1>' in french
    assert 'class="translation-note"' not in french, "the original is not a translation"


def test_a_language_without_its_own_text_shows_the_original_marked_as_french(demo, client):
    CampaignText.objects.filter(campaign=demo, language="kk").delete()
    page = client.get(page_url("kk")).content.decode()
    assert '<h1 lang="fr">Répression du mouvement social au Kazakhstan</h1>' in page
    assert '<div class="article" lang="fr">' in page
    assert 'class="translation-note"' in page


def test_the_campaign_list_shows_each_campaign_in_the_visitors_language(demo, client):
    page = client.get("/ru/").content.decode()
    assert '<h2 lang="ru"><a href="/ru/c/kazakhstan-repression/">Репрессии против' in page
    assert '<p class="summary" lang="ru">6 июля 2021 года в Алматы' in page
    assert (
        '<h2 lang="fr"><a href="/fr/c/kazakhstan-repression/">Répression du mouvement social'
        in client.get("/fr/").content.decode()
    )


def test_the_case_file_lists_each_person_with_spellings_status_and_dated_timeline(demo, client):
    page = client.get(page_url("en")).content.decode()
    assert '<h2 id="case-file-title">The people concerned</h2>' in page
    for person in PEOPLE:
        assert f"<h3>{person['name']}</h3>" in page
        spellings = [part.strip() for part in person["other_spellings"].split(",")]
        assert f"Also written: {', '.join(spellings)}</p>" in page
    assert '<strong class="status-injured">Injured</strong>' in page
    assert '<strong class="status-sentenced">Sentenced</strong>' in page
    assert '<time datetime="2021-07-13">July 13, 2021</time>' in page
    assert '<p lang="en">According to a witness, seriously injured in the head' in page
    # Newest first.
    assert page.index('datetime="2021-07-13"') < page.index('datetime="2021-07-06"')

    russian = client.get(page_url("ru")).content.decode()
    assert '<time datetime="2021-07-06">6 июля 2021 г.</time>' in russian
    assert '<p lang="ru">Ранен полицией при попытке вырваться из оцепления' in russian


def test_a_timeline_without_updates_in_the_page_language_shows_the_original_ones_marked_french(demo, client):
    PersonUpdate.objects.filter(person__campaign=demo, language="en").delete()
    page = client.get(page_url("en")).content.decode()
    assert '<p lang="fr">Selon un témoignage, sérieusement blessé à la tête' in page


def test_the_case_file_costs_the_same_queries_for_three_people_or_thirty(demo, client, settings):
    settings.PUBLIC_PAGE_SECONDS = 0  # each load renders the page (a kept one costs no query at all)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(page_url("en")).status_code == 200
        return len(captured)

    three = queries()
    for i in range(27):
        person = Person.objects.create(campaign=demo, name=f"Person {i}", status=Person.Status.DETAINED)
        PersonUpdate.objects.create(person=person, date=datetime.date(2021, 7, 7), language="en", text="Arrested.")
    assert queries() == three
    assert client.get(page_url("en")).content.decode().count('<li class="person">') == 30


@pytest.mark.parametrize(
    ("letters", "words"),
    [
        (1, "подтверждённое письмо"),
        (3, "подтверждённых письма"),
        (5, "подтверждённых писем"),
        (21, "подтверждённое письмо"),
    ],
)
def test_the_counter_uses_the_three_russian_plural_forms_and_shows_the_goal(demo, client, letters, words):
    Campaign.objects.filter(pk=demo.pk).update(tally_letters=letters, goal=1000)
    page = client.get(page_url("ru")).content.decode()
    assert f'<span class="counter-number">{letters}</span>\n{words}' in page
    assert "1\xa0000" in page, "the goal is grouped the Russian way"
    progress = Elements(page).all("progress")
    assert progress == [{"class": "goal-progress", "max": "1000", "value": str(letters), "aria-labelledby": "counter"}]


def test_the_goal_in_english_and_a_bar_that_stops_full_when_the_goal_is_passed(demo, client):
    Campaign.objects.filter(pk=demo.pk).update(tally_letters=1234, goal=1000)
    page = client.get(page_url("en")).content.decode()
    assert '<span class="counter-number">1,234</span>\nconfirmed letters' in page
    assert '<span class="counter-goal">Goal: 1,000 letters</span>' in page
    assert Elements(page).all("progress")[0]["value"] == "1000"


def test_without_a_goal_there_is_no_bar(demo, client):
    Campaign.objects.filter(pk=demo.pk).update(goal=None)
    page = client.get(page_url("en")).content.decode()
    assert "<progress" not in page and "counter-goal" not in page


def test_the_form_embeds_every_model_letter_for_the_preview_and_shows_the_named_blanks(demo, client):
    page = client.get(page_url("en")).content.decode()
    assert re.search(r'<script nonce="[^"]+" id="letters-data" type="application/json">', page)
    assert "Уважаемый господин Посол" in page, "the Russian letter travels as text, not as escapes"
    assert '<div class="model-letter" id="letter-preview" lang="en"><p>Dear Ambassador of Kazakhstan' in page
    assert "[your name or your organisation] demands" in page
    assert f'src="{static("js/letter-preview.js")}" defer' in page
    assert "<script>" not in page, "no inline script: the CSP forbids it"


def test_the_letter_language_is_chosen_apart_from_the_page_language(demo, client):
    page = Elements(client.get(page_url("kk")).content.decode())
    options = {option["value"]: "selected" in option for option in page.all("option")}
    assert options == {"fr": False, "en": False, "ru": False, "kk": True}, "every letter, the page's own first chosen"
    assert page.by_id["id_letter_language"]["aria-describedby"] == "id_letter_language_helptext"


def test_the_error_summary_links_to_each_field_which_points_back_to_its_error_and_help(demo, client):
    response = sign(client, first_name="", email="not-an-address", consent_send=None)
    assert response.status_code == 400
    html = response.content.decode()
    page = Elements(html)
    summary = html[html.index('id="error-summary"') : html.index("</div>", html.index('id="error-summary"'))]
    targets = re.findall(r'<a href="#([a-z_]+)">', summary)
    assert targets == ["id_first_name", "id_email", "id_consent_send"]
    for target in targets:
        field = page.by_id[target]
        assert field["aria-invalid"] == "true"
        described = field["aria-describedby"].split()
        assert f"{target}_error" in described
        for description in described:
            assert description in page.by_id, f"#{target} is described by #{description}, which is not on the page"
    assert page.by_id["id_email"]["aria-describedby"] == "id_email_helptext id_email_error"
    assert "aria-invalid" not in page.by_id["id_last_name"]
    assert "Votre accord: Cochez cette case" in summary, "the checkbox is named by what it is for"


def test_the_form_keeps_its_autocomplete_hints_and_unticked_consents(demo, client):
    page = Elements(client.get(page_url("en")).content.decode())
    hints = {name: page.by_id[f"id_{name}"].get("autocomplete") for name in ("first_name", "last_name", "email")}
    assert hints == {"first_name": "given-name", "last_name": "family-name", "email": "email"}
    assert page.by_id["id_organisation"]["autocomplete"] == "organization"
    assert page.by_id["id_organisation_role"]["autocomplete"] == "organization-title"
    assert page.by_id["id_city"]["autocomplete"] == "address-level2"
    for consent in ("consent_send", "consent_list_organisation", "consent_news"):
        assert "checked" not in page.by_id[f"id_{consent}"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed")
def test_on_a_phone_the_letter_fills_in_as_the_supporter_types_and_follows_the_letter_language(
    demo, web_server, monkeypatch
):
    from playwright.sync_api import sync_playwright

    Campaign.objects.filter(pk=demo.pk).update(allow_letter_editing=True)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        hosts = set()
        page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
        page.goto(web_server + page_url("en"))
        preview = page.locator("#letter-preview")
        assert "[your name or your organisation] demands" in preview.inner_text()

        page.fill("#id_first_name", "Ұлжан")
        page.fill("#id_last_name", "Қасымова")
        assert "Ұлжан Қасымова demands that all the protesters" in preview.inner_text()
        page.fill("#id_city", "Lyon")
        page.fill("#id_organisation", "Solidaires Isère")
        page.fill("#id_organisation_role", "co-secretary")
        page.fill("#id_personal_sentence", "Мы вас не забудем.")
        text = preview.inner_text()
        assert "Solidaires Isère demands" in text
        assert "For Solidaires Isère\nҰлжан Қасымова, co-secretary" in text
        assert "Lyon, " in text and "[your city]" not in text
        assert "Мы вас не забудем." in text

        page.select_option("#id_letter_language", "ru")
        assert preview.get_attribute("lang") == "ru"
        text = preview.inner_text()
        assert text.startswith("Уважаемый господин Посол Казахстана во Франции!")
        assert "От имени Solidaires Isère\nҰлжан Қасымова, co-secretary" in text
        assert "Мы вас не забудем." in text, "the personal sentence stays as written"
        assert page.locator("#letter-preview-subject").inner_text().startswith("Протест против")

        # The whole letter, untouched so far, followed the language too; an edit shows in the preview.
        page.get_by_text("Edit the whole letter").click()
        body = page.locator("#id_letter_body")
        assert body.input_value().startswith("Уважаемый господин Посол")
        body.fill("Господин Посол!\n\nОсвободите их.\n\n{personal_sentence}\n\n{signature}")
        assert preview.locator("p").all_inner_texts()[:2] == ["Господин Посол!", "Освободите их."]
        assert "От имени Solidaires Isère" in preview.inner_text()

        assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling on a phone"
        submit = page.locator("form.sign-form button[type=submit]")
        box = submit.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44
        summary = page.locator("details.edit-letter > summary").bounding_box()
        assert summary["height"] >= 44

        page.fill("#id_email", "ulzhan@example.org")
        page.check("#id_consent_send")
        submit.click()
        page.wait_for_url("**/check-your-inbox/")
        browser.close()
    connections.close_all()
    signature = Signature.objects.get()
    assert signature.letter_language == "ru"
    assert signature.language == "en"
    assert signature.letter_body == "Господин Посол!\n\nОсвободите их.\n\n{personal_sentence}\n\n{signature}"
    assert hosts == {urlsplit(web_server).netloc}


def test_a_page_shown_again_with_errors_links_to_the_original_page_not_to_the_form_address(demo, client):
    response = client.post("/en/c/kazakhstan-repression/sign/", {"first_name": ""})
    assert response.status_code == 400
    assert f'<a href="/fr/c/{SLUG}/" hreflang="fr">' in response.content.decode()


def test_browsers_find_the_site_icon_where_they_look_for_it(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
