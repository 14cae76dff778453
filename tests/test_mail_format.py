"""How each message is written on the wire: folding, List-Unsubscribe, DKIM over what matters, Date."""

import base64
import email
import email.policy
import mailbox
import subprocess

import dkim
import pytest
from django.core.management import call_command
from django.utils import timezone

from courrier.delivery.compose import compose
from courrier.delivery.dkim import dkim_sign
from courrier.delivery.models import OutboxMessage
from courrier.news.models import NewsUpdate
from courrier.news.sending import queue_news, send_updates
from courrier.news.subscriptions import signature_id_of_mailto
from courrier.signatures.models import Signature
from tests.factories import OFFICE, confirmed_signatures
from tests.helpers import unsubscribe_addresses

pytestmark = pytest.mark.django_db


def news_message(campaign, settings, site_root: str) -> OutboxMessage:
    settings.SITE_ROOT = site_root
    [signature] = confirmed_signatures(campaign, 1, consent_news=True)
    update = NewsUpdate.objects.create(campaign=campaign, language="fr", subject="Nouvelles", body="Texte")
    send_updates([update], user=None)
    queue_news()  # as the worker does
    message = OutboxMessage.objects.get(kind=OutboxMessage.Kind.NEWS)
    assert message.signature_id == signature.pk
    return message


def parsed(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def test_news_over_https_offers_one_click_a_mailto_and_folds_the_header(own_campaign, settings):
    message = news_message(own_campaign, settings, "https://campaigns.example.org")
    raw = compose(message)
    mail = parsed(raw)

    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    addresses = unsubscribe_addresses(mail)
    assert addresses["http"].startswith("https://campaigns.example.org/fr/news/unsubscribe/")
    assert signature_id_of_mailto(addresses["mailto"].removeprefix("mailto:")) == message.signature_id
    # Every header line folds to 78 characters, but for an address alone on its line, which cannot be cut.
    lines = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    too_long = [line for line in lines if len(line) > 78 and not line.strip().startswith(b"<https://")]
    assert too_long == [] and all(len(line) <= 998 for line in lines)


def test_news_over_plain_http_gives_no_one_click_header(own_campaign, settings):
    mail = parsed(compose(news_message(own_campaign, settings, "http://127.0.0.1:8000")))
    assert mail["List-Unsubscribe-Post"] is None
    assert set(unsubscribe_addresses(mail)) == {"mailto", "http"}


def test_mail_to_the_unsubscribe_address_stops_the_news_and_a_forged_one_nothing(own_campaign, settings, tmp_path):
    message = news_message(own_campaign, settings, "https://campaigns.example.org")
    mailto = unsubscribe_addresses(parsed(compose(message)))["mailto"].removeprefix("mailto:")
    forged = mailto.replace("+u", "+u1")
    box = tmp_path / "incoming"
    incoming = mailbox.Maildir(box, create=True)
    for address in (forged, mailto):
        incoming.add(f"From: reader@example.org\r\nTo: {address}\r\nSubject: unsubscribe\r\n\r\n\r\n".encode())

    call_command("ingestbounces", maildir=str(box))

    assert Signature.objects.get(pk=message.signature_id).news_unsubscribed_at is not None
    assert Signature.objects.filter(news_unsubscribed_at__isnull=False).count() == 1


def test_a_long_ascii_subject_is_folded_and_reads_back_whole(own_campaign):
    subject = "Free the workers of Zhanaozen " * 6
    message = OutboxMessage(
        kind=OutboxMessage.Kind.LETTER,
        message_id="<fold@courrier.example>",
        from_name="A via Courrier",
        from_email="letters@courrier.example",
        envelope_from="bounces@courrier.example",
        to=[OFFICE],
        subject=subject.strip(),
        body="x",
        created_at=timezone.now(),
    )
    raw = compose(message)
    headers = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert all(len(line) <= 78 for line in headers)
    assert parsed(raw)["Subject"] == subject.strip()


def test_dkim_is_relaxed_relaxed_and_signs_from_twice(own_campaign, settings, tmp_path):
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    settings.DKIM_PRIVATE_KEY_FILE, settings.DKIM_DOMAIN, settings.DKIM_SELECTOR = str(key), "courrier.example", "s1"
    message = OutboxMessage(
        kind=OutboxMessage.Kind.LETTER,
        message_id="<dkim@courrier.example>",
        from_name="A via Courrier",
        from_email="letters@courrier.example",
        envelope_from="bounces@courrier.example",
        to=[OFFICE],
        subject="Objet",
        body="Texte",
        created_at=timezone.now(),
    )
    signed = dkim_sign(compose(message))
    header = parsed(signed)["DKIM-Signature"].replace(" ", "").replace("\r\n", "")
    assert "c=relaxed/relaxed" in header
    assert "h=from:from:" in header, header
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record)
    # A second From added on the way does not pass beside the signature: it breaks it.
    tampered = signed.replace(b"From: ", b"From: evil@forged.example\r\nFrom: ", 1)
    assert not dkim.verify(tampered, dnsfunc=lambda name, timeout=5: record)
