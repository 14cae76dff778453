"""Signing: what the form accepts, refuses, and what it never lets through to a message."""

import re
import time
from functools import partial

import pytest
from django.core.cache import cache
from django.test import Client

from courrier.campaigns.models import Campaign
from courrier.delivery.models import OutboxMessage
from courrier.lib.form_tokens import issue_form_token
from courrier.signatures.models import Signature
from tests import helpers
from tests.factories import ALLY, OFFICE, OWN_PAGE, OWN_SLUG, live_campaign
from tests.helpers import (
    CAMPAIGN_URL,
    confirmation_path,
    decoded_header,
    deliver_everything,
    maildir_messages,
    page_form_token,
    same_page,
)

pytestmark = pytest.mark.django_db

# Every signature here goes to the tests' own campaign (the own_campaign fixture) unless a test says otherwise:
# these are rules of signing, not of the demo.
sign = partial(helpers.sign, slug=OWN_SLUG)
signature_form = partial(helpers.signature_form, OWN_SLUG)

ENCODED_WORDS = [
    "=?UTF-8?Q?=0A?=Bcc: x@example.org",
    "=?utf-8?b?Cg==?=Bcc: x@example.org",
    "=?UTF-8?Q?=0D=0A?=Cc:x@example.org",
]
RAW_BREAKS = [
    "Name\r\nBcc: x@example.org",
    "Name\nBcc: x@example.org",
    "Name\u2028Bcc: x@example.org",
    "Name\x00Bcc: x@example.org",
    "Name\x85Bcc: x@example.org",
]
TEXT_FIELDS = ["first_name", "last_name", "city", "country", "organisation", "organisation_role", "personal_sentence"]


@pytest.fixture(autouse=True)
def fresh_rate_limit():
    cache.clear()


def approve_held() -> None:
    """What an organiser does from the moderation queue: an address in a personal sentence holds the letter."""
    Signature.objects.filter(moderation=Signature.Moderation.HELD).update(moderation=Signature.Moderation.APPROVED)


def confirm_all(client: Client, sandbox) -> None:
    for message in maildir_messages(sandbox):
        if "/confirm/" in message.get_content():
            path = confirmation_path(message)
            assert client.post(path).status_code == 302


def test_the_campaign_page_shows_the_story_the_letter_and_where_the_name_goes(demo, client):
    page = client.get(CAMPAIGN_URL).content.decode()
    assert "Répression du mouvement social au Kazakhstan" in page
    assert "Un camarade de Red Yurt manifestant au Kazakhstan, avant son arrestation" in page
    assert "Illustration réalisée pour la démonstration" in page
    assert "Monsieur l’Ambassadeur du Kazakhstan en France" in page
    assert "Ambassade du Kazakhstan en France &lt;paris@mfa.kz&gt;" in page
    assert "Red Yurt &lt;chakmonro@ya.ru&gt;" in page
    for checkbox in ("consent_send", "consent_list_organisation", "consent_news"):
        assert f'type="checkbox" name="{checkbox}"' in page
    assert "checked" not in page


def test_a_signature_is_one_row_and_nothing_is_sent_from_the_request(own_campaign, client, sandbox_in_tmp):
    response = sign(client)
    assert response.status_code == 302
    assert Signature.objects.count() == 1
    assert OutboxMessage.objects.count() == 0
    assert maildir_messages(sandbox_in_tmp) == []


def test_every_message_of_a_default_install_stays_in_the_sandbox(
    demo, client, sandbox_in_tmp, smtp_settings, smtp_sink
):
    # Even with an SMTP server configured, the demo campaign is not switched to real mail.
    helpers.sign(client)
    deliver_everything()
    confirm_all(client, sandbox_in_tmp)
    deliver_everything()
    kinds = sorted(OutboxMessage.objects.values_list("kind", flat=True))
    assert kinds == ["confirmation", "copy", "letter"]
    assert set(OutboxMessage.objects.values_list("sandbox", flat=True)) == {True}
    assert smtp_sink.received == []
    letter = [m for m in maildir_messages(sandbox_in_tmp) if m["To"] == "paris@mfa.kz"]
    assert len(letter) == 1
    assert client.get(confirmation_path(sandbox_in_tmp)).status_code == 200


def assert_no_injected_header_or_recipient(sandbox) -> None:
    messages = maildir_messages(sandbox)
    assert len(messages) == 3
    for message in messages:
        assert message["Bcc"] is None
        assert "x@example.org" not in message.get_all("Delivered-To", [])
        for name, value in message.items():
            if name not in ("Subject", "From", "Reply-To"):
                assert "x@example.org" not in str(value), (name, value)
        # The supporter's name is the display name of From and Reply-To: one address each, never the text's.
        for name in ("From", "Reply-To"):
            if message[name] is not None:
                [address] = message[name].addresses
                assert "x@example.org" not in address.addr_spec, (name, message[name])
    letter = next(m for m in messages if m["To"] == OFFICE)
    assert letter["Cc"] == ALLY
    assert sorted(letter.get_all("Delivered-To")) == sorted([ALLY, OFFICE])


@pytest.mark.parametrize("payload", ENCODED_WORDS)
def test_encoded_words_in_every_field_add_no_header_and_no_recipient(own_campaign, client, sandbox_in_tmp, payload):
    response = sign(client, **{field: payload for field in TEXT_FIELDS})
    assert response.status_code == 302
    deliver_everything()
    confirm_all(client, sandbox_in_tmp)
    deliver_everything()
    approve_held()
    deliver_everything()
    assert_no_injected_header_or_recipient(sandbox_in_tmp)
    letter = next(m for m in maildir_messages(sandbox_in_tmp) if m["To"] == OFFICE)
    assert payload in letter.get_content()  # the text itself reaches the letter, as text


@pytest.mark.parametrize("payload", RAW_BREAKS)
@pytest.mark.parametrize("field", TEXT_FIELDS[:-1])
def test_line_breaks_in_a_one_line_field_are_refused_clearly(own_campaign, client, field, payload):
    response = sign(client, **{field: payload})
    assert response.status_code == 400
    assert "sur une seule ligne" in response.content.decode()
    assert Signature.objects.count() == 0


@pytest.mark.parametrize("payload", RAW_BREAKS)
def test_line_breaks_in_the_personal_sentence_stay_in_the_body(own_campaign, client, sandbox_in_tmp, payload):
    assert sign(client, personal_sentence=payload).status_code == 302
    deliver_everything()
    confirm_all(client, sandbox_in_tmp)
    deliver_everything()
    approve_held()
    deliver_everything()
    assert_no_injected_header_or_recipient(sandbox_in_tmp)


def test_a_second_signature_with_the_same_address_sends_no_second_letter(own_campaign, client, sandbox_in_tmp):
    first = sign(client, email="same@example.org")
    second = sign(client, email="SAME@example.org", first_name="Другой")
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert same_page(client.get(first["Location"])) == same_page(client.get(second["Location"]))
    deliver_everything()
    confirm_all(client, sandbox_in_tmp)
    deliver_everything()
    kinds = sorted(OutboxMessage.objects.values_list("kind", flat=True))
    assert kinds == ["already_signed", "confirmation", "copy", "letter"]
    notice = OutboxMessage.objects.get(kind="already_signed")
    assert notice.to == ["same@example.org"]
    assert "déjà" in notice.subject.lower() or "already" in notice.subject.lower()
    assert Campaign.objects.get(pk=own_campaign.pk).tally_letters == 1


def test_non_latin_names_long_names_and_emoji_survive_into_the_letter_and_the_list(
    own_campaign, client, sandbox_in_tmp
):
    long_name = "Нұрсұлтан-Әбілқайыр " * 4 + "👩🏽‍🔧"
    sign(
        client,
        first_name="Ұлжан",
        last_name=long_name.strip(),
        organisation="Қазақстан 🌻 профодағы",
        organisation_role="төрайым",
        consent_list_organisation="on",
    )
    deliver_everything()
    confirm_all(client, sandbox_in_tmp)
    deliver_everything()
    letter = next(m for m in maildir_messages(sandbox_in_tmp) if m["To"] == OFFICE)
    assert f"Ұлжан {long_name.strip()}, төрайым" in letter.get_content()
    assert decoded_header(letter, "From") == f"Ұлжан {long_name.strip()} via Courrier <courrier@localhost>"
    assert Campaign.objects.get(pk=own_campaign.pk).tally_organisations == ["Қазақстан 🌻 профодағы"]
    assert "Қазақстан 🌻 профодағы" in client.get(OWN_PAGE).content.decode()


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"first_name": "x" * 101}, "au plus 100 caractères"),
        ({"last_name": ""}, "Ce champ est obligatoire"),
        ({"email": "not-an-address"}, "adresse de courriel valide"),
        ({"email": '"a\\\x0bb"@example.org'}, "adresse"),
        ({"personal_sentence": "y" * 601}, "600 caractères"),
        ({"consent_send": None}, "sans votre accord"),
        ({"letter_language": "xx"}, "choix valide"),
        ({"organisation_role": "secrétaire"}, "nom de l’organisation"),
    ],
)
def test_bad_input_is_refused_with_a_clear_french_message_and_nothing_is_stored(own_campaign, client, overrides, error):
    response = sign(client, **overrides)
    assert response.status_code == 400
    page = response.content.decode()
    assert error in page
    assert 'class="error-summary"' in page
    assert Signature.objects.count() == 0
    # What the supporter typed is still there to correct.
    if "first_name" not in overrides:
        assert 'value="Ұлжан"' in page


def test_no_input_produces_a_server_error(own_campaign, client, settings):
    settings.SIGNING_RATE_LIMIT = "100000/3600"
    junk = [
        "\x00",
        "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
        "a" * 100_000,
        "{signature}",
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        "%(name)s",
        "\u202e",
    ]
    for value in junk:
        for field in signature_form():
            response = client.post(f"/fr/c/{OWN_SLUG}/sign/", signature_form(**{field: value}))
            assert response.status_code in (302, 400, 429), (field, value, response.status_code)
    assert client.post(f"/fr/c/{OWN_SLUG}/sign/", {}).status_code == 400
    assert client.get(f"/fr/c/{OWN_SLUG}/sign/").status_code == 302  # a reload goes back to the page
    assert client.get("/fr/c/no-such-campaign/").status_code == 404
    assert client.get("/fr/confirm/garbage/").status_code == 400
    assert client.post("/fr/confirm/garbage/").status_code == 400


def test_the_honeypot_is_answered_like_a_signature_but_stores_nothing(own_campaign, client):
    response = sign(client, website="http://spam.example")
    assert response.status_code == 302
    assert Signature.objects.count() == 0


def test_signing_is_rate_limited_per_address(own_campaign, client, settings):
    settings.SIGNING_RATE_LIMIT = "3/3600"
    codes = [sign(client, email=f"person{i}@example.org").status_code for i in range(4)]
    assert codes == [302, 302, 302, 429]
    assert Signature.objects.count() == 3
    other_client = Client(REMOTE_ADDR="192.0.2.7")
    assert sign(other_client, email="elsewhere@example.org").status_code == 302


def test_an_ipv6_client_cannot_escape_the_limit_by_moving_inside_its_slash_64(own_campaign, settings):
    """One phone or home line is given a whole /64 and may pick a new address in it for every request."""
    settings.SIGNING_RATE_LIMIT = "3/3600"
    inside = ["2001:db8:5:7::1", "2001:db8:5:7::2", "2001:db8:5:7:ffff::9", "2001:db8:5:7:a:b:c:d"]
    codes = [sign(Client(REMOTE_ADDR=ip), email=f"v6-{i}@example.org").status_code for i, ip in enumerate(inside)]
    assert codes == [302, 302, 302, 429]
    assert sign(Client(REMOTE_ADDR="2001:db8:5:8::1"), email="next-line@example.org").status_code == 302
    # An IPv4 client behind a dual-stack server is counted by its own address.
    assert sign(Client(REMOTE_ADDR="::ffff:192.0.2.44"), email="mapped@example.org").status_code == 302
    assert sign(Client(REMOTE_ADDR="192.0.2.45"), email="neighbour@example.org").status_code == 302


def test_a_closed_campaign_takes_no_signature(own_campaign, client):
    Campaign.objects.filter(pk=own_campaign.pk).update(status=Campaign.Status.CLOSED)
    assert sign(client).status_code == 302
    assert Signature.objects.count() == 0
    assert "ne prend plus de signatures" in client.get(OWN_PAGE).content.decode()


def test_a_form_sent_from_another_site_gets_a_clear_page_not_a_crash(own_campaign):
    for foreign in (
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_ORIGIN": "null"},
        {"HTTP_REFERER": "https://evil.example/x"},
    ):
        response = sign(Client(**foreign))
        assert response.status_code == 403, foreign
        assert "formulaire" in response.content.decode()
    assert Signature.objects.count() == 0
    # From a page of this site, as a browser sends it (the test server's own address, or SITE_ROOT's).
    assert sign(Client(HTTP_ORIGIN="http://testserver")).status_code == 302
    assert sign(Client(HTTP_REFERER=f"http://testserver/fr/c/{OWN_SLUG}/"), email="b@example.org").status_code == 302


@pytest.mark.parametrize(
    ("token", "message"), [("", "could not be verified"), ("forged:token", "could not be verified")]
)
def test_a_form_without_its_token_comes_back_as_typed(own_campaign, client, token, message):
    response = client.post(f"/en/c/{OWN_SLUG}/sign/", signature_form(form_token=token, city="Grenoble"))
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page and 'value="Grenoble"' in page
    assert re.search(r'name="form_token" value="[^"]+"', page)  # a fresh one, to send it again
    assert not Signature.objects.exists()


def test_a_form_token_of_another_campaign_or_too_old_is_refused(own_campaign, client):
    other = live_campaign("other-campaign")
    stale = issue_form_token(own_campaign.pk, issued_at=time.time() - 25 * 3600)
    for token, message in ((page_form_token(other.slug), "could not be verified"), (stale, "open for too long")):
        response = client.post(f"/en/c/{OWN_SLUG}/sign/", signature_form(form_token=token))
        assert response.status_code == 400 and message in response.content.decode()
    assert not Signature.objects.exists()


def test_the_public_pages_set_no_cookie(own_campaign, client, sandbox_in_tmp):
    """A cookie on a seized phone shows the visit; a page with one cannot be kept by a shared cache."""
    responses = [client.get(path) for path in ("/fr/", OWN_PAGE, "/fr/my-data/", OWN_PAGE + "own-mailbox/")]
    responses.append(client.post(OWN_PAGE + "sign/", signature_form(email="bad address")))
    responses.append(sign(client))
    responses.append(client.get(OWN_PAGE + "check-your-inbox/"))
    deliver_everything()
    confirm = confirmation_path(sandbox_in_tmp)
    responses += [client.get(confirm), client.post(confirm), client.post("/fr/my-data/", {"email": "x@example.org"})]
    for response in responses:
        assert not response.cookies, (response.status_code, response.cookies)
        assert "Cookie" not in response.get("Vary", ""), response.get("Vary")


def test_confirming_after_the_campaign_closed_sends_nothing(own_campaign, client, sandbox_in_tmp):
    sign(client)
    deliver_everything()
    Campaign.objects.filter(pk=own_campaign.pk).update(status=Campaign.Status.CLOSED)
    path = confirmation_path(sandbox_in_tmp)
    response = client.post(path)
    assert response.status_code == 410
    deliver_everything()
    assert not OutboxMessage.objects.filter(kind=OutboxMessage.Kind.LETTER).exists()


def test_a_confirmation_link_only_shows_the_state_once_used(own_campaign, client, sandbox_in_tmp):
    sign(client)
    deliver_everything()
    path = confirmation_path(sandbox_in_tmp)
    assert client.post(path).status_code == 302
    first = Signature.objects.get().confirmed_at
    assert client.post(path).status_code == 200
    assert Signature.objects.get().confirmed_at == first
    deliver_everything()
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.LETTER).count() == 1
    page = client.get(path).content.decode()
    assert "démonstration" in page  # honest: the sandbox did not deliver it
    assert 'method="post"' not in page


def test_a_tampered_or_expired_link_is_refused(own_campaign, client, sandbox_in_tmp, settings):
    sign(client)
    deliver_everything()
    path = confirmation_path(sandbox_in_tmp)
    assert client.post(path[:-3] + "xx/").status_code == 400
    settings.CONFIRMATION_MAX_AGE_DAYS = -1
    assert client.post(path).status_code == 400
    assert Signature.objects.get().confirmed_at is None
