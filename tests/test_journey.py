"""The whole journey through a real SMTP server, with the worker running as a real process."""

import pytest
from django.test import Client

from courrier.campaigns.models import Campaign
from courrier.delivery.models import OutboxMessage
from tests.conftest import wait_until
from tests.helpers import CAMPAIGN_URL, body_text, confirmation_path, sign

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_signed_and_confirmed_letter_reaches_the_embassy_with_a_copy_to_red_yurt(demo, smtp_sink, start_worker):
    Campaign.objects.filter(pk=demo.pk).update(real_delivery=True)
    start_worker(EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp_sink.port), EMAIL_USE_TLS="0")
    client = Client()

    response = sign(
        client,
        first_name="Кирилл",
        last_name="Әлиев",
        email="kirill@example.org",
        city="Lyon",
        organisation="CGT Métallurgie",
        organisation_role="secrétaire",
        personal_sentence="Libérez-les, nous ne les oublions pas.",
        consent_list_organisation="on",
    )
    assert response.status_code == 302
    assert response["Location"].endswith("/fr/c/kazakhstan-repression/check-your-inbox/")

    confirmation = wait_until(lambda: smtp_sink.messages(), message="the confirmation e-mail")[0]
    assert confirmation["To"] == "kirill@example.org"
    assert smtp_sink.received[0].rcpt_tos == ["kirill@example.org"]
    path = confirmation_path(confirmation)

    # Opening the link (as a mail scanner would) confirms nothing.
    page = client.get(path)
    assert page.status_code == 200
    assert b'<form method="post">' in page.content
    assert not OutboxMessage.objects.filter(kind=OutboxMessage.Kind.LETTER).exists()

    assert client.post(path).status_code == 302
    wait_until(lambda: len(smtp_sink.received) >= 3, message="the letter and the copy")

    letters = [r for r in smtp_sink.received if "paris@mfa.kz" in r.rcpt_tos]
    assert len(letters) == 1
    letter = letters[0]
    assert sorted(letter.rcpt_tos) == ["chakmonro@ya.ru", "paris@mfa.kz"]
    message = letter.message
    assert message["To"] == "paris@mfa.kz"
    assert message["Cc"] == "chakmonro@ya.ru"
    assert message["From"].addresses[0].display_name == "Кирилл Әлиев via Courrier"
    assert message["From"].addresses[0].addr_spec == "courrier@localhost"
    assert message["Reply-To"].addresses[0].display_name == "Кирилл Әлиев"  # answers come back to the campaign
    assert "kirill@example.org" not in message.as_string()
    assert message["Message-ID"] == OutboxMessage.objects.get(kind="letter").message_id
    assert message.get_content_type() == "text/plain"
    body = body_text(message)
    assert body.startswith("Monsieur l’Ambassadeur du Kazakhstan en France,")
    # The personal sentence before the demand, then place and date, then the signature.
    sentence = body.index("Libérez-les, nous ne les oublions pas.")
    demand = body.index("CGT Métallurgie exige que tous les manifestants")
    place = body.index("Lyon, le ")
    signature = body.index("Pour CGT Métallurgie\nКирилл Әлиев, secrétaire")
    assert sentence < demand < place < signature

    copies = [r for r in smtp_sink.received if r.rcpt_tos == ["kirill@example.org"] and r is not smtp_sink.received[0]]
    assert len(copies) == 1
    assert "Libérez-les, nous ne les oublions pas." in copies[0].message.get_content()

    # The page counts the confirmed letter and lists the organisation that agreed to be listed.
    def tallied():
        return Campaign.objects.get(pk=demo.pk).tally_letters == 1

    wait_until(tallied, message="the tally")
    page = client.get(CAMPAIGN_URL).content.decode()
    assert '<span class="counter-number">1</span>' in page
    assert "<li>CGT Métallurgie</li>" in page

    confirmed = client.get(path).content.decode()
    assert "livrée" in confirmed or "delivered" in confirmed
