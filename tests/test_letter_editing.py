"""Editing the whole letter when the organiser allows it, and bilingual letters to targets with their own language."""

import pytest
from django.test import Client

from courrier.campaigns.demo import LETTER_FR
from courrier.campaigns.models import Campaign, Target
from courrier.delivery.models import OutboxMessage
from courrier.http.shared_cache import forget_public_pages
from courrier.signatures.models import Signature
from tests.conftest import wait_until
from tests.helpers import (
    CAMPAIGN_URL,
    body_text,
    confirmation_path,
    deliver_everything,
    maildir_messages,
    page_form_token,
    sign,
    signature_form,
)

EDITED = "Monsieur l’Ambassadeur,\n\nLibérez-les, maintenant.\n\n{personal_sentence}\n\n{place_and_date}\n\n{signature}"
SEPARATOR = "---------- Français ----------"


def sign_confirm_and_deliver(client: Client, sandbox, **fields) -> None:
    """The whole journey with the worker in this process: sign, get the link, confirm, send."""
    assert sign(client, **fields).status_code == 302
    deliver_everything()
    assert client.post(confirmation_path(sandbox)).status_code == 302
    deliver_everything()


def the_letter(sandbox):
    return next(m for m in maildir_messages(sandbox) if m["To"] == "paris@mfa.kz")


def allow_editing(campaign: Campaign, allowed: bool = True) -> None:
    """As an organiser's save in the back office does, the public pages show the change at once."""
    Campaign.objects.filter(pk=campaign.pk).update(allow_letter_editing=allowed)
    forget_public_pages()


@pytest.mark.django_db
class TestEditingTheWholeLetter:
    def test_the_page_offers_the_model_letter_to_edit_inside_details_only_when_allowed(self, demo, client):
        assert 'name="letter_body"' not in client.get(CAMPAIGN_URL).content.decode()
        allow_editing(demo)
        page = client.get(CAMPAIGN_URL).content.decode()
        details = page[page.index('<details class="edit-letter">') : page.index("</details>")]
        assert "<summary>" in details
        assert '<textarea name="letter_body"' in details
        assert "{signatory} exige que tous les manifestants" in details, "pre-filled with the model, placeholders kept"
        assert 'aria-describedby="id_letter_body_helptext"' in details

    def test_the_edited_letter_is_sent_with_its_placeholders_filled_in(self, demo, client, sandbox_in_tmp):
        allow_editing(demo)
        sign_confirm_and_deliver(
            client,
            sandbox_in_tmp,
            letter_body=EDITED,
            personal_sentence="Nous ne les oublions pas.",
            organisation="CGT",
            organisation_role="secrétaire",
        )
        assert Signature.objects.get().letter_body == EDITED
        body = body_text(the_letter(sandbox_in_tmp))
        assert body.startswith("Monsieur l’Ambassadeur,\n\nLibérez-les, maintenant.\n\nNous ne les oublions pas.\n\n")
        assert "Lyon, le " in body
        assert body.endswith("Pour CGT\nҰлжан Қасымова, secrétaire\n")
        assert "{" not in body
        assert "répression policière" not in body, "the model letter is replaced, not added to"
        copies = [m.get_content() for m in maildir_messages(sandbox_in_tmp) if m["To"] == "ulzhan@example.org"]
        assert any("Libérez-les, maintenant." in copy for copy in copies), "the supporter's copy is their letter"

    def test_an_unchanged_letter_is_not_an_edit_and_follows_the_chosen_language(self, demo, client, sandbox_in_tmp):
        # Without JavaScript the textarea always comes back, holding the model letter of the page's language.
        allow_editing(demo)
        unchanged = LETTER_FR.replace("\n", "\r\n")
        sign_confirm_and_deliver(client, sandbox_in_tmp, letter_body=unchanged, letter_language="en")
        assert Signature.objects.get().letter_body == ""
        assert body_text(the_letter(sandbox_in_tmp)).startswith("Dear Ambassador of Kazakhstan to France,")

    def test_a_letter_body_is_refused_with_a_clear_error_when_editing_is_not_allowed(self, demo, client):
        response = client.post("/en/c/kazakhstan-repression/sign/", signature_form(letter_body=EDITED))
        assert response.status_code == 400
        page = response.content.decode()
        summary = page[page.index('class="error-summary"') : page.index("</div>", page.index('class="error-summary"'))]
        assert "This campaign does not let supporters edit the whole letter" in summary
        assert Signature.objects.count() == 0
        assert 'name="letter_body"' not in page

    def test_a_personal_sentence_needs_its_place_in_an_edited_letter(self, demo, client):
        allow_editing(demo)
        response = sign(client, letter_body="Libérez-les.\n\n{signature}", personal_sentence="Une phrase.")
        assert response.status_code == 400
        page = response.content.decode()
        assert '<a href="#id_personal_sentence">' in page
        assert '<details class="edit-letter" open>' in page, "the edited letter is shown again, open"
        assert "Libérez-les." in page
        assert Signature.objects.count() == 0

    def test_an_edited_letter_is_limited_to_ten_thousand_characters(self, demo, client):
        allow_editing(demo)
        response = sign(client, letter_body="x" * 10_001)
        assert response.status_code == 400
        assert '<a href="#id_letter_body">' in response.content.decode()
        assert sign(client, letter_body="x" * 10_000).status_code == 302

    def test_control_characters_are_dropped_and_line_breaks_kept(self, demo, client):
        allow_editing(demo)
        assert sign(client, letter_body="Ligne\r\nsuivante\x00\x07\u2028fin {signature}").status_code == 302
        assert Signature.objects.get().letter_body == "Ligne\nsuivante\nfin {signature}"

    def test_a_page_shown_again_with_errors_offers_the_model_letter_when_the_script_left_it_out(self, demo, client):
        allow_editing(demo)
        response = sign(client, first_name="", letter_language="ru")
        page = response.content.decode()
        assert response.status_code == 400
        assert '<textarea name="letter_body"' in page
        assert "{signatory} требует немедленно освободить" in page, "the model letter in the chosen language"


@pytest.mark.django_db
class TestBilingualLetters:
    @pytest.fixture(autouse=True)
    def bilingual(self, demo):
        Campaign.objects.filter(pk=demo.pk).update(bilingual_letters=True)

    def test_the_page_says_who_also_receives_the_model_letter_in_its_language(self, demo):
        page = Client().get("/en/c/kazakhstan-repression/").content.decode()
        assert "If your letter is not in French, Ambassade du Kazakhstan en France receives it followed by" in page

    def test_a_letter_in_the_targets_language_stays_in_one_language(self, demo, client, sandbox_in_tmp):
        sign_confirm_and_deliver(client, sandbox_in_tmp, letter_language="fr")
        assert SEPARATOR not in body_text(the_letter(sandbox_in_tmp))

    def test_an_edited_letter_is_followed_by_the_french_model_letter(self, demo, client, sandbox_in_tmp):
        allow_editing(demo)
        edited = "Dear Ambassador,\n\nFree them now.\n\n{personal_sentence}\n\n{signature}"
        sign_confirm_and_deliver(
            client, sandbox_in_tmp, letter_language="en", letter_body=edited, personal_sentence="Мы помним."
        )
        body = body_text(the_letter(sandbox_in_tmp))
        mine, french = body.split(f"\n\n{SEPARATOR}\n\n")
        assert mine == "Dear Ambassador,\n\nFree them now.\n\nМы помним.\n\nҰлжан Қасымова"
        assert french.startswith("Monsieur l’Ambassadeur du Kazakhstan en France,")
        assert "Мы помним." in french
        assert "Free them now." not in french

    def test_the_targets_language_decides_and_a_language_without_a_model_letter_adds_nothing(
        self, demo, client, sandbox_in_tmp
    ):
        Target.objects.filter(campaign=demo, role=Target.Role.TO).update(language="")
        Target.objects.filter(campaign=demo, role=Target.Role.CC).update(language="ru")
        sign_confirm_and_deliver(client, sandbox_in_tmp, letter_language="en")
        # The copy recipient's language does not make the shared message bilingual: only the To target's does.
        assert "----------" not in body_text(the_letter(sandbox_in_tmp))


@pytest.mark.django_db(transaction=True)
def test_a_bilingual_letter_reaches_the_embassy_through_the_worker_process(demo, smtp_sink, start_worker):
    Campaign.objects.filter(pk=demo.pk).update(real_delivery=True, bilingual_letters=True)
    start_worker(EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp_sink.port), EMAIL_USE_TLS="0")
    client = Client()
    response = client.post(
        "/en/c/kazakhstan-repression/sign/",
        {
            "form_token": page_form_token("kazakhstan-repression"),
            "first_name": "Alex",
            "last_name": "Morgan",
            "email": "alex@example.org",
            "city": "Leeds",
            "organisation": "Unite",
            "organisation_role": "branch secretary",
            "personal_sentence": "We will not forget you.",
            "letter_language": "en",
            "consent_send": "on",
        },
    )
    assert response.status_code == 302
    confirmation = wait_until(lambda: smtp_sink.messages(), message="the confirmation e-mail")[0]
    assert client.post(confirmation_path(confirmation)).status_code == 302

    wait_until(lambda: any("paris@mfa.kz" in r.rcpt_tos for r in smtp_sink.received), message="the letter")
    letter = next(r for r in smtp_sink.received if "paris@mfa.kz" in r.rcpt_tos)
    assert sorted(letter.rcpt_tos) == ["chakmonro@ya.ru", "paris@mfa.kz"]
    body = body_text(letter.message)
    english, french = body.split(f"\n\n{SEPARATOR}\n\n")
    assert english.startswith("Dear Ambassador of Kazakhstan to France,")
    *_, sentence, demand, place_and_date, signature = english.split("\n\n")
    assert sentence == "We will not forget you."
    assert demand.startswith("Unite demands that all the protesters be released immediately")
    assert place_and_date.startswith("Leeds, ")
    assert signature == "For Unite\nAlex Morgan, branch secretary"
    assert french.startswith("Monsieur l’Ambassadeur du Kazakhstan en France,")
    # The French version carries the same signer, in French words, and the sentence as it was written.
    assert "We will not forget you." in french
    assert "Unite exige que tous les manifestants soient immédiatement relâchés" in french
    assert "Leeds, le " in french
    assert french.endswith("Pour Unite\nAlex Morgan, branch secretary\n")
    subject = letter.message["Subject"]
    assert subject.startswith("Protest against the repression") and "/ Protestation contre la répression" in subject

    wait_until(lambda: OutboxMessage.objects.filter(kind="copy", status="sent").exists(), message="the copy")
    copies = [body_text(r.message) for r in smtp_sink.received if r.rcpt_tos == ["alex@example.org"]]
    assert any(SEPARATOR in copy and "Pour Unite" in copy for copy in copies), "the copy shows the letter as sent"
