"""Sending the model letter from one's own mailbox: the links carry the letter, and only the click is counted."""

from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from courrier.campaigns.letters import sample_letter
from courrier.campaigns.models import Campaign, ModelLetter
from courrier.signatures.models import OwnMailboxClick, Signature
from courrier.web.own_mailbox import MAX_LINK_LENGTH, Draft, compose_link, mailto_url
from tests.factories import organiser
from tests.helpers import CAMPAIGN_URL

pytestmark = pytest.mark.django_db

PAGE = CAMPAIGN_URL + "own-mailbox/"


def go(client, channel: str, letter: str = "fr", language: str = "fr"):
    return client.get(f"/{language}/c/kazakhstan-repression/own-mailbox/go/{channel}/?letter={letter}")


def read_mailto(url: str) -> dict[str, str]:
    """A mailto: URL read back as RFC 6068 defines it: addresses in the path, the rest percent-encoded."""
    parts = urlsplit(url)
    assert parts.scheme == "mailto"
    fields = {"to": unquote(parts.path)}
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        fields[name] = unquote(value)
    return fields


def test_the_mailto_link_carries_to_cc_subject_and_the_letter_with_its_blanks(demo, client):
    response = go(client, "mailto")

    assert response.status_code == 302
    url = response["Location"]
    assert len(url) <= MAX_LINK_LENGTH
    assert " " not in url and "\n" not in url and "+" not in url
    fields = read_mailto(url)
    assert fields["to"] == "paris@mfa.kz"
    assert fields["cc"] == "chakmonro@ya.ru"
    assert fields["subject"] == "Protestation contre la répression de la manifestation du 6 juillet à Almaty"
    # Line breaks are CRLF, encoded (RFC 6068); the letter opens as the model does.
    assert "%0D%0A" in url
    assert fields["body"].startswith("[")
    assert "Monsieur l’Ambassadeur du Kazakhstan en France,\r\n\r\nNous vous écrivons" in fields["body"]


def test_a_letter_too_long_for_a_link_is_cut_between_words_with_a_note_to_paste_it_whole(demo, client):
    # The demo letter is about 2,500 characters: encoded, far more than a mail app accepts.
    letter = demo.letters.get(language="fr")
    full = sample_letter(letter)

    fields = read_mailto(go(client, "mailto")["Location"])

    body = fields["body"].replace("\r\n", "\n")
    assert "Remplacez" in body or "Replace this text with the full letter" in body
    kept = body.split("\n\n", 1)[1].removesuffix(" […]")
    assert full.startswith(kept)
    assert full[len(kept)] in " \n", "the cut falls between two words"
    assert len(kept) > 200, "as much of the letter as fits is kept"


def test_a_very_long_letter_in_cyrillic_still_gives_a_working_link_under_the_limit(demo):
    draft = Draft(
        to=["paris@mfa.kz", "astana@mfa.kz"],
        cc=["chakmonro@ya.ru"],
        subject="Требуем освободить задержанных",
        body="Уважаемый господин посол,\n\n" + "Мы требуем немедленно освободить всех задержанных. " * 400,
        language="ru",
    )
    for channel in ("mailto", "gmail", "outlook", "yahoo"):
        link = compose_link(draft, channel)
        assert link.shortened
        assert MAX_LINK_LENGTH - 60 < len(link.url) <= MAX_LINK_LENGTH
    fields = read_mailto(compose_link(draft, "mailto").url)
    assert fields["to"] == "paris@mfa.kz,astana@mfa.kz"
    assert fields["subject"] == "Требуем освободить задержанных"
    assert "Уважаемый господин посол,\r\n\r\nМы требуем" in fields["body"]


def test_a_short_letter_goes_whole_into_the_link_with_spaces_as_percent_20():
    draft = Draft(to=["a@example.org"], cc=[], subject="Free them & now?", body="Line one\nLine two\n", language="en")

    link = compose_link(draft, "mailto")

    assert not link.shortened
    assert link.url == "mailto:a@example.org?subject=Free%20them%20%26%20now%3F&body=Line%20one%0D%0ALine%20two%0D%0A"
    assert mailto_url(draft, draft.body) == link.url


@pytest.mark.parametrize(
    ("channel", "host", "subject_field"),
    [
        ("gmail", "mail.google.com", "su"),
        ("outlook", "outlook.live.com", "subject"),
        ("yahoo", "compose.mail.yahoo.com", "subject"),
    ],
)
def test_webmail_links_open_a_compose_window_with_the_letter(demo, client, channel, host, subject_field):
    response = go(client, channel, letter="en", language="en")

    assert response.status_code == 302
    url = response["Location"]
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.netloc == host
    assert len(url) <= MAX_LINK_LENGTH and "+" not in url
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert query["to"] == "paris@mfa.kz"
    assert query["cc"] == "chakmonro@ya.ru"
    assert query[subject_field] == "Protest against the repression of the 6 July demonstration in Almaty"
    assert "Dear Ambassador of Kazakhstan to France," in query["body"]
    if channel == "gmail":
        assert query["view"] == "cm"


def test_a_click_is_one_insert_and_never_a_letter(demo, client):
    with CaptureQueriesContext(connection) as queries:
        response = go(client, "gmail")

    assert response.status_code == 302
    writes = [q["sql"] for q in queries.captured_queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert len(writes) == 1 and writes[0].lstrip().upper().startswith("INSERT")
    click = OwnMailboxClick.objects.get()
    assert (click.campaign_id, click.channel) == (demo.pk, "gmail")
    demo.refresh_from_db()
    assert demo.tally_letters == 0
    assert not Signature.objects.exists()


def test_the_managers_progress_page_counts_the_clicks_by_way(demo, client):
    go(client, "gmail")
    go(client, "gmail")
    go(client, "copy")
    page = organiser("manager", demo.organisation).get(f"/en/studio/c/{demo.pk}/progress/").content.decode()
    table = page[page.index('id="own-mailbox"') : page.index("</table>", page.index('id="own-mailbox"'))]
    assert '<th scope="row">Gmail</th><td>2</td>' in table
    assert '<th scope="row">Copied by hand</th><td>1</td>' in table
    assert "Outlook" not in table


def test_an_unknown_channel_or_campaign_is_not_found_and_counts_nothing(demo, client):
    assert go(client, "carrier-pigeon").status_code == 404
    assert client.get("/fr/c/nope/own-mailbox/go/mailto/").status_code == 404
    assert client.get("/fr/c/nope/own-mailbox/").status_code == 404
    assert not OwnMailboxClick.objects.exists()


def test_copying_by_hand_is_counted_and_leads_back_to_the_page(demo, client):
    response = go(client, "copy", letter="kk", language="kk")

    assert response.status_code == 302
    assert response["Location"] == "/kk/c/kazakhstan-repression/own-mailbox/?letter=kk"
    assert OwnMailboxClick.objects.get().channel == "copy"


def test_the_page_shows_each_part_to_copy_and_says_plainly_that_these_letters_are_not_counted(demo, client):
    page = client.get("/en" + PAGE.removeprefix("/fr")).content.decode()

    assert "Letters sent this way are not counted." in page
    assert "This site does not see them" in page
    assert 'id="part-to" value="paris@mfa.kz"' in page
    assert 'id="part-cc" value="chakmonro@ya.ru"' in page
    assert 'value="Protest against the repression of the 6 July demonstration in Almaty"' in page
    assert "[your name or your organisation]" in page
    assert "Dear Ambassador of Kazakhstan to France," in page
    for channel in ("mailto", "gmail", "outlook", "yahoo"):
        assert f'href="/en/c/kazakhstan-repression/own-mailbox/go/{channel}/?letter=en"' in page
    # Readonly fields, selectable by hand; the copy buttons appear only with the script.
    assert page.count(" readonly") == 4
    assert page.count('data-copy="part-') == 4 and page.count("hidden>") >= 4
    assert "onclick" not in page and "<script>" not in page
    assert not OwnMailboxClick.objects.exists(), "showing the page counts nothing"


def test_the_letter_language_is_chosen_apart_from_the_page_language(demo, client):
    page = client.get("/fr/c/kazakhstan-repression/own-mailbox/?letter=ru").content.decode()
    russian = demo.letters.get(language="ru")
    assert f'id="part-subject" value="{russian.subject}" readonly lang="ru"' in page
    assert 'textarea id="part-body" rows="14" readonly lang="ru">Уважаемый господин Посол' in page
    assert '<option value="ru" lang="ru" selected>' in page
    assert '<html lang="fr">' in page
    assert 'href="/fr/c/kazakhstan-repression/own-mailbox/go/mailto/?letter=ru"' in page

    # A language the campaign has no letter in falls back to the page's language.
    page = client.get("/kk/c/kazakhstan-repression/own-mailbox/?letter=xx").content.decode()
    assert demo.letters.get(language="kk").subject in page


def test_a_campaign_in_one_language_shows_its_only_letter_without_a_chooser(demo, client):
    ModelLetter.objects.filter(campaign=demo).exclude(language="fr").delete()

    page = client.get("/en/c/kazakhstan-repression/own-mailbox/").content.decode()

    assert "Protestation contre la répression" in page
    assert 'name="letter"' not in page


def test_a_closed_campaign_sends_back_to_its_page_and_counts_nothing(demo, client):
    Campaign.objects.filter(pk=demo.pk).update(status=Campaign.Status.CLOSED)

    assert client.get(PAGE)["Location"] == CAMPAIGN_URL
    assert go(client, "mailto")["Location"] == CAMPAIGN_URL
    assert not OwnMailboxClick.objects.exists()
