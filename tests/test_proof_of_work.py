"""The proof of work on signing: served by the site, solved by the browser, checked once, never replayed."""

import base64
import datetime
import hashlib
import hmac
import json

import pytest
import time_machine
from django.templatetags.static import static
from django.test import Client

from courrier.lib import proof_of_work
from courrier.signatures.models import Signature
from tests.browser import in_chromium
from tests.factories import OWN_PAGE, OWN_SLUG
from tests.helpers import form_token_in, signature_form, solved_proof

CHALLENGE_URL = "/pow/challenge/"
EN_SIGN_URL = f"/en/c/{OWN_SLUG}/sign/"
SIGN_URL = OWN_PAGE + "sign/"
EN_EMBED_URL = f"/en/embed/{OWN_SLUG}/"
REFUSED = "The check that protects this form from robots failed, so your letter was not sent."
EXPIRED = "The check that protects this form from robots expired, so your letter was not sent."


def payload(proof: str) -> dict:
    return json.loads(base64.b64decode(proof))


def repacked(proof: str, **changes) -> str:
    return base64.b64encode(json.dumps({**payload(proof), **changes}).encode()).decode()


def sign_with(client: Client, proof: str, url: str = SIGN_URL, **fields):
    return client.post(url, {**signature_form(OWN_SLUG, **fields), "proof": proof})


# ---------- The challenge ----------


@pytest.mark.django_db
def test_the_challenge_is_served_fresh_without_a_cookie_or_a_database_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        first = client.get(CHALLENGE_URL)
    second = client.get(CHALLENGE_URL).json()

    assert first.status_code == 200
    assert first["Content-Type"] == "application/json"
    assert first["Cache-Control"] == "no-store"
    assert not first.cookies
    challenge = first.json()
    assert challenge["algorithm"] == "SHA-256"
    assert challenge["maxnumber"] == 1000  # the tests' easy setting
    random_part, terms = challenge["salt"].split("?expires=")
    expiry, maxnumber = terms.split("&max=")
    assert len(random_part) == 32  # 128 bits
    assert int(expiry) == pytest.approx(datetime.datetime.now().timestamp() + 20 * 60, abs=5)
    assert int(maxnumber) == challenge["maxnumber"]  # the difficulty is in the signed salt too
    assert challenge["salt"] != second["salt"] and challenge["challenge"] != second["challenge"]
    # The answer is the secret number behind the hash, and the site signed the hash.
    number = proof_of_work.solve(challenge)
    assert hashlib.sha256(f"{challenge['salt']}{number}".encode()).hexdigest() == challenge["challenge"]
    assert client.post(CHALLENGE_URL).status_code == 405


# ---------- Accepted ----------


@pytest.mark.django_db
def test_a_signature_with_a_solved_challenge_is_accepted_and_keeps_the_proofs_digest(own_campaign, client):
    proof = solved_proof(client)

    response = sign_with(client, proof)

    assert response.status_code == 302
    assert response["Location"] == OWN_PAGE + "check-your-inbox/"
    signature = Signature.objects.get()
    assert signature.proof_digest == proof_of_work.verify(proof).digest
    assert signature.moderation == Signature.Moderation.NONE


@pytest.mark.django_db
def test_without_javascript_there_is_no_proof_and_the_signature_is_still_accepted(own_campaign, client):
    page = client.get(OWN_PAGE).content.decode()
    assert '<input type="hidden" name="proof" value="">' in page
    assert static("js/proof-of-work.js") in page

    response = client.post(SIGN_URL, signature_form(OWN_SLUG))  # the hidden field stays empty without the script

    assert response.status_code == 302
    signature = Signature.objects.get()
    assert signature.proof_digest is None
    assert signature.moderation == Signature.Moderation.NONE


# ---------- Refused, with everything the supporter typed ----------


def forged_signature(proof: str) -> str:
    challenge = payload(proof)["challenge"]
    return repacked(proof, signature=hmac.new(b"not the site's key", challenge.encode(), hashlib.sha256).hexdigest())


def own_easy_challenge(proof: str) -> str:
    """A bot's own challenge (number 0), sent with a signature the site made for another one."""
    salt = payload(proof)["salt"]
    return repacked(proof, challenge=proof_of_work.hash_of(salt, 0), number=0)


def wrong_number(proof: str) -> str:
    return repacked(proof, number=payload(proof)["number"] + 1)


def digits_moved_into_the_salt(proof: str) -> str:
    """The same hash, sha256(salt + number), with the number's first digit moved to the end of the salt:
    the expiry (or, today, the difficulty) grows tenfold. Only a signature over the salt tells."""
    fields = payload(proof)
    digits = str(fields["number"])
    return repacked(proof, salt=fields["salt"] + digits[0], number=int(digits[1:]))


def expiry_pushed_back(proof: str) -> str:
    salt = payload(proof)["salt"]
    random_part, terms = salt.split("?expires=")
    _expiry, maxnumber = terms.split("&max=")
    return repacked(proof, salt=f"{random_part}?expires=99999999999&max={maxnumber}")


def with_a_nul(proof: str) -> str:
    return repacked(proof, salt=payload(proof)["salt"] + "\0", challenge="\0" + payload(proof)["challenge"])


def solved_with_a_long_number(client: Client) -> str:
    """A genuine proof whose number has at least two digits, none of them a leading zero once moved."""
    while True:
        proof = solved_proof(client)
        digits = str(payload(proof)["number"])
        if len(digits) >= 2 and digits[1] != "0":
            return proof


@pytest.mark.django_db
@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(forged_signature, id="forged-signature"),
        pytest.param(own_easy_challenge, id="own-challenge"),
        pytest.param(wrong_number, id="wrong-number"),
        pytest.param(lambda proof: proof[:-8], id="truncated"),
        pytest.param(lambda proof: "garbage", id="garbage"),
        pytest.param(lambda proof: repacked(proof, algorithm="SHA-1"), id="other-algorithm"),
        pytest.param(lambda proof: repacked(proof, number="12"), id="number-as-text"),
        pytest.param(digits_moved_into_the_salt, id="digits-moved-into-the-salt"),
        pytest.param(expiry_pushed_back, id="expiry-pushed-back"),
        pytest.param(with_a_nul, id="nul-in-salt-and-challenge"),
    ],
)
def test_a_forged_or_wrong_proof_is_refused_with_the_form_shown_again(own_campaign, client, tamper):
    proof = solved_with_a_long_number(client)
    response = sign_with(client, tamper(proof), url=EN_SIGN_URL, personal_sentence="Free them all.")

    assert response.status_code == 400
    page = response.content.decode()
    assert REFUSED in page
    assert 'class="error-summary"' in page
    for typed in ('value="Ұлжан"', 'value="Қасымова"', 'value="ulzhan@example.org"', 'value="Lyon"', "Free them all."):
        assert typed in page
    assert '<input type="hidden" name="proof" value="">' in page  # the script solves a new challenge
    assert not Signature.objects.exists()


def test_moving_digits_into_the_salt_keeps_the_hash_but_not_the_sites_signature(client, settings):
    """Why the signature covers the salt: the tampered proof still solves its hash."""
    proof = solved_with_a_long_number(client)
    tampered = payload(digits_moved_into_the_salt(proof))
    assert proof_of_work.hash_of(tampered["salt"], tampered["number"]) == tampered["challenge"]
    with pytest.raises(proof_of_work.InvalidProof, match=r"not a salt|not issued"):
        proof_of_work.verify(digits_moved_into_the_salt(proof))
    assert proof_of_work.verify(proof).number == payload(proof)["number"]


def test_a_site_that_asks_for_no_work_still_checks_the_signature_of_its_challenge(settings):
    """PROOF_OF_WORK_MAX_NUMBER=0 (the benchmark's setting): the number is 0, the site's word still counts."""
    settings.PROOF_OF_WORK_MAX_NUMBER = 0
    challenge = proof_of_work.new_challenge()
    assert proof_of_work.solve(challenge) == 0
    proof = proof_of_work.encode(challenge, 0)
    assert proof_of_work.verify(proof).number == 0
    with pytest.raises(proof_of_work.InvalidProof, match="not issued"):
        proof_of_work.verify(repacked(proof, signature="0" * 64))


@pytest.mark.django_db
def test_a_proof_is_good_for_twenty_minutes_then_refused_as_expired(own_campaign, client):
    in_time, too_late = solved_proof(client), solved_proof(client)
    now = datetime.datetime.now().astimezone()

    with time_machine.travel(now + datetime.timedelta(minutes=19)):
        assert sign_with(client, in_time, url=EN_SIGN_URL, email="in-time@example.org").status_code == 302

    with time_machine.travel(now + datetime.timedelta(minutes=21)):
        late = sign_with(client, too_late, url=EN_SIGN_URL)
        assert late.status_code == 400
        assert EXPIRED in late.content.decode()
        assert 'value="ulzhan@example.org"' in late.content.decode()
        assert Signature.objects.count() == 1
        # The page's script fetches a new challenge: with it, the same answers go through.
        assert sign_with(client, solved_proof(client), url=EN_SIGN_URL).status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("second_address", ["ulzhan@example.org", "someone.else@example.org"])
def test_a_replayed_proof_is_refused_whatever_the_address(own_campaign, client, second_address):
    proof = solved_proof(client)
    assert sign_with(client, proof).status_code == 302

    replayed = sign_with(client, proof, url=EN_SIGN_URL, email=second_address, first_name="Replay")

    assert replayed.status_code == 400
    assert REFUSED in replayed.content.decode()
    assert 'value="Replay"' in replayed.content.decode()
    assert Signature.objects.count() == 1


@pytest.mark.django_db
def test_an_address_that_signs_again_with_a_fresh_proof_is_a_duplicate_and_its_proof_cannot_serve_again(
    own_campaign, client
):
    first, second = solved_proof(client), solved_proof(client)
    assert sign_with(client, first).status_code == 302
    assert sign_with(client, second).status_code == 302  # the same answer as a first signature

    duplicate = Signature.objects.get(is_duplicate=True)
    assert duplicate.proof_digest == proof_of_work.verify(second).digest
    assert sign_with(client, second, email="third@example.org").status_code == 400
    assert Signature.objects.count() == 2


@pytest.mark.django_db
def test_the_embedded_form_takes_a_proof_and_refuses_a_replayed_one(embeddable):
    frame = Client(enforce_csrf_checks=True)  # a third-party frame: no cookie at all
    page = frame.get(EN_EMBED_URL)
    assert '<input type="hidden" name="proof" value="">' in page.content.decode()
    assert static("js/proof-of-work.js") in page.content.decode()
    proof = solved_proof(frame)

    def embed_sign(**fields):
        form = {**signature_form(OWN_SLUG, **fields), "form_token": form_token_in(page), "proof": proof}
        return frame.post(EN_EMBED_URL + "sign/", form)

    assert embed_sign().status_code == 302
    replayed = embed_sign(email="other@example.org", first_name="Replay")
    assert replayed.status_code == 400
    assert REFUSED in replayed.content.decode()
    assert 'value="Replay"' in replayed.content.decode()
    assert Signature.objects.get().proof_digest == proof_of_work.verify(proof).digest
    assert not frame.cookies


# ---------- In a real browser ----------


@in_chromium
def test_the_script_solves_the_challenge_in_chromium_and_a_hasty_supporter_waits_for_it(
    own_campaign, web_server, browser_page
):
    page = browser_page
    held = []  # the challenge's answer, held back until the supporter has pressed the button
    page.route("**/pow/challenge/", lambda route: held.append(route))
    page.goto(web_server + f"/en/c/{OWN_SLUG}/")
    page.fill("#id_first_name", "Ұлжан")
    page.fill("#id_last_name", "Қасымова")
    page.fill("#id_email", "ulzhan@example.org")
    page.check("#id_consent_send")
    for _ in range(100):  # Playwright hands over the intercepted request while it runs: wait inside it
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the script asked for no challenge once the form was filled in"

    page.click("form.sign-form button[type=submit]")
    status = page.locator(".proof-status")
    assert status.get_attribute("aria-live") == "polite"
    assert status.inner_text() == "Checking that a person is sending this form…"
    assert "/check-your-inbox/" not in page.url
    held[0].continue_()
    page.wait_for_url(f"**/en/c/{OWN_SLUG}/check-your-inbox/")

    signature = Signature.objects.get()
    assert signature.proof_digest is not None  # solved by the browser's crypto.subtle
    assert signature.moderation == Signature.Moderation.NONE
    assert page.failures == []
