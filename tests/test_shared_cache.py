"""The public pages are kept, here and by any shared cache in front; nothing private ever is."""

import datetime
import re

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from courrier.campaigns.models import Campaign
from courrier.signatures.models import Signature
from tests.factories import EMBED_URL, OWN_PAGE, OWN_SLUG, operator, organiser
from tests.helpers import change_form, confirmation_path, deliver_everything, sign, signature_form

pytestmark = pytest.mark.django_db

LANGUAGES = ("fr", "en", "ru", "kk")
PUBLIC_PAGES = [
    *(f"/{language}/" for language in LANGUAGES),
    *(f"/{language}/c/{OWN_SLUG}/" for language in LANGUAGES),
    f"/fr/c/{OWN_SLUG}/?src=qr",
    f"/fr/c/{OWN_SLUG}/?src=share",
    f"/en/c/{OWN_SLUG}/own-mailbox/",
    f"/en/c/{OWN_SLUG}/own-mailbox/?letter=ru",
    f"/fr/c/{OWN_SLUG}/qr.svg",
    f"/fr/c/{OWN_SLUG}/qr.png",
    f"/fr/c/{OWN_SLUG}/og.png",
    EMBED_URL,
]


def assert_kept_by_a_shared_cache(response) -> None:
    assert response.status_code == 200
    control = response["Cache-Control"]
    assert control.startswith("public") and "no-store" not in control and "private" not in control, control
    assert not response.cookies and "Set-Cookie" not in response
    assert "Cookie" not in response.get("Vary", "")


def assert_never_kept(response) -> None:
    assert response["Cache-Control"] == "no-store", (response.status_code, response.get("Cache-Control"))


def title_on(path: str) -> str:
    return re.search(r"<h1[^>]*>(.*?)</h1>", Client().get(path).content.decode(), re.S).group(1).strip()


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_every_public_page_is_the_same_for_everyone_and_may_be_kept_by_a_shared_cache(embeddable, path):
    first = Client().get(path)
    assert_kept_by_a_shared_cache(first)
    if first["Content-Type"].startswith("text/html"):
        assert "s-maxage=60" in first["Cache-Control"] and "stale-while-revalidate=" in first["Cache-Control"]
        again = Client().get(path)  # from the site's cache this time
        assert_kept_by_a_shared_cache(again)
        assert again.content == first.content
        assert again["Content-Security-Policy"] == first["Content-Security-Policy"]


def test_no_private_page_or_answer_is_ever_kept(own_campaign, client, sandbox_in_tmp):
    refused = client.post(OWN_PAGE + "sign/", signature_form(OWN_SLUG, email="not an address"))
    assert refused.status_code == 400
    responses = [refused, sign(client, slug=OWN_SLUG), client.get(OWN_PAGE + "check-your-inbox/")]
    deliver_everything()
    confirm = confirmation_path(sandbox_in_tmp)
    responses += [client.get(confirm), client.post(confirm), client.get("/fr/my-data/")]
    responses += [client.post("/fr/my-data/", {"email": "someone@example.org"}), Client().get("/admin/login/")]
    responses.append(operator().get("/admin/campaigns/campaign/"))
    responses.append(organiser("manager", own_campaign.organisation).get("/fr/studio/"))
    for response in responses:
        assert_never_kept(response)
        assert "public" not in response["Cache-Control"]


def test_a_kept_page_is_served_without_the_database_and_with_the_nonce_it_was_written_with(own_campaign):
    Client().get(OWN_PAGE)
    with CaptureQueriesContext(connection) as queries:
        response = Client().get(OWN_PAGE)
    assert len(queries) == 0
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    scripts = re.findall(r'<script[^>]* nonce="([^"]+)"', response.content.decode())
    assert scripts and set(scripts) == {nonce}


def test_the_qr_code_address_gets_its_own_page_and_any_other_source_the_plain_one(own_campaign):
    plain = Client().get(OWN_PAGE).content.decode()
    assert 'name="source" value=""' in plain
    assert 'name="source" value="qr"' in Client().get(OWN_PAGE + "?src=qr").content.decode()
    for forged in ("embed", '"><b>x</b>', "x" * 300):
        page = Client().get(OWN_PAGE, {"src": forged}).content.decode()
        assert 'name="source" value=""' in page and forged not in page
    assert Client().get(OWN_PAGE + "?src=share&utm_source=news").content.decode().count('value="share"') == 1


def test_an_operators_change_in_the_admin_shows_at_the_next_load(own_campaign):
    assert title_on(OWN_PAGE) == "Libérez les grévistes"
    manager = operator()
    _page, data = change_form(manager, own_campaign)
    url = f"/admin/campaigns/campaign/{own_campaign.pk}/change/"
    assert manager.post(url, {**data, "title": "Libérez-les tous"}).status_code == 302
    assert title_on(OWN_PAGE) == "Libérez-les tous"


def test_a_story_saved_in_the_studio_shows_at_the_next_load_and_the_checker_as_one_types_keeps_the_pages(
    own_campaign,
):
    from courrier.http.shared_cache import GENERATION_KEY, pages

    assert title_on(OWN_PAGE) == "Libérez les grévistes"
    manager = organiser("manager", own_campaign.organisation, email="manager@group.example")
    generation = pages().get(GENERATION_KEY)
    checked = manager.post(f"/fr/studio/c/{own_campaign.pk}/letter/fr/check/", {"subject": "x", "body": "y"})
    assert checked.status_code == 200 and pages().get(GENERATION_KEY) == generation
    story = {"title": "Libérez-les tous", "summary": own_campaign.summary, "article": own_campaign.article}
    assert manager.post(f"/fr/studio/c/{own_campaign.pk}/story/", story).status_code == 302
    assert title_on(OWN_PAGE) == "Libérez-les tous"


def test_the_counter_and_any_other_change_reach_readers_within_a_minute(own_campaign):
    page = Client().get(OWN_PAGE).content.decode()
    Campaign.objects.filter(pk=own_campaign.pk).update(title="Changé ailleurs", tally_letters=1234)
    assert title_on(OWN_PAGE) == "Libérez les grévistes"  # kept: the change was not made in the back office
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=61)):
        later = Client().get(OWN_PAGE).content.decode()
    assert "Changé ailleurs" in later and "Changé ailleurs" not in page
    assert 'class="counter-number">1\xa0234<' in later  # grouped the French way, with a no-break space


def test_a_refused_form_is_not_kept_and_the_next_reader_gets_an_empty_one(own_campaign):
    refused = Client().post(OWN_PAGE + "sign/", signature_form(OWN_SLUG, email="bad", first_name="Гүлнар"))
    assert refused.status_code == 400 and "Гүлнар" in refused.content.decode()
    assert "Гүлнар" not in Client().get(OWN_PAGE).content.decode()
    assert not Signature.objects.exists()


def test_with_no_lifetime_set_nothing_is_kept(own_campaign, settings):
    settings.PUBLIC_PAGE_SECONDS = 0
    Client().get(OWN_PAGE)
    Campaign.objects.filter(pk=own_campaign.pk).update(title="Tout de suite")
    response = Client().get(OWN_PAGE)
    assert "Tout de suite" in response.content.decode()
    assert "public" not in response.get("Cache-Control", "")


def test_static_files_have_hashed_names_a_years_caching_and_come_compressed(own_campaign):
    page = Client().get(OWN_PAGE).content.decode()
    stylesheet = re.search(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', page).group(1)
    response = Client().get(stylesheet, HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "immutable" in response["Cache-Control"] and "max-age=315360000" in response["Cache-Control"]
    assert "Accept-Encoding" in response["Vary"]
