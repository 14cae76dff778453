"""Four languages: the right one on the first visit, a switcher, alternates, and plural forms."""

import re

import pytest
from django.test import Client
from django.utils import translation

from tests.factories import OWN_PAGE
from tests.helpers import CAMPAIGN_URL

pytestmark = pytest.mark.django_db

CAMPAIGN_PATH = OWN_PAGE.removeprefix("/fr")  # the own_campaign fixture's page
DEMO_PATH = CAMPAIGN_URL.removeprefix("/fr")


@pytest.mark.parametrize(
    "accept_language, expected",
    [
        ("ru-RU,ru;q=0.9,en;q=0.8", "/ru/"),
        ("kk-KZ,kk;q=0.9,ru;q=0.8", "/kk/"),
        ("en-GB,en;q=0.9", "/en/"),
        ("fr-FR,fr;q=0.9", "/fr/"),
        ("de-DE,de;q=0.9", "/fr/"),
        ("", "/fr/"),
    ],
)
def test_a_first_visit_opens_in_the_browsers_language(own_campaign, accept_language, expected):
    response = Client(HTTP_ACCEPT_LANGUAGE=accept_language).get(CAMPAIGN_PATH)
    assert response.status_code == 302
    assert response["Location"] == expected + CAMPAIGN_PATH.lstrip("/")


def test_the_switcher_names_each_language_in_itself_and_links_to_the_same_page(own_campaign):
    page = Client().get("/ru" + CAMPAIGN_PATH).content.decode()
    switcher = page.split('class="languages"', 1)[1].split("</ul>", 1)[0]
    for code, name in [("fr", "Français"), ("en", "English"), ("ru", "Русский"), ("kk", "Қазақша")]:
        assert f'href="/{code}{CAMPAIGN_PATH}" lang="{code}" hreflang="{code}"' in switcher
        assert f">{name}</a>" in switcher
    assert 'aria-current="true">Русский' in switcher


def test_every_page_names_its_other_languages_as_alternates(own_campaign):
    page = Client().get("/kk" + CAMPAIGN_PATH).content.decode()
    alternates = re.findall(r'<link rel="alternate" hreflang="([a-z-]+)" href="([^"]+)"', page)
    assert sorted(code for code, _ in alternates) == ["en", "fr", "kk", "ru"]
    assert all(href.startswith("http") and href.endswith(f"/{code}{CAMPAIGN_PATH}") for code, href in alternates)
    assert '<html lang="kk">' in page


@pytest.mark.parametrize(
    "count, expected",
    [(1, "письмо"), (2, "письма"), (5, "писем"), (21, "письмо"), (22, "письма"), (111, "писем")],
)
def test_russian_counts_use_its_three_plural_forms(count, expected):
    with translation.override("ru"):
        text = translation.ngettext("confirmed letter", "confirmed letters", count)
    assert expected in text


@pytest.mark.parametrize("language", ["fr", "en", "ru", "kk"])
def test_the_demo_campaign_reads_in_each_language_and_says_when_it_is_a_translation(demo, language):
    page = Client().get(f"/{language}{DEMO_PATH}").content.decode()
    text = demo.text_for(language)
    assert text.title in page
    assert text.language == language
    if language == "fr":
        assert not text.is_translation
    else:
        assert text.is_translation
        assert text.translation_note and text.translation_note in page


def test_switching_language_after_a_refused_form_lands_on_the_campaign_page(own_campaign):
    client = Client()
    refused = client.post("/ru" + CAMPAIGN_PATH + "sign/", {"first_name": ""})
    assert refused.status_code == 400
    assert f'href="/kk{CAMPAIGN_PATH}sign/"' in refused.content.decode()
    response = client.get(f"/kk{CAMPAIGN_PATH}sign/")
    assert response.status_code == 302
    assert response["Location"] == f"/kk{CAMPAIGN_PATH}"
