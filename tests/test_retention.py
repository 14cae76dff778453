"""Retention and erasure, with the clock moved by time-machine: unconfirmed signatures, sent mail and closed
campaigns lose their personal data on schedule and not before; a supporter erases theirs at once from the link
in every e-mail; the public form answers alike for any address; every link expires, works once, and a link that
does not work answers like any other."""

import datetime
import re

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from courrier.backoffice.progress import by_language, by_state, signatures_per_day
from courrier.campaigns import lifecycle
from courrier.campaigns.models import Campaign, Target
from courrier.delivery import alerts, retention, target_pauses
from courrier.delivery.enqueue import queue_confirmations
from courrier.delivery.models import Bounce, OutboxMessage
from courrier.delivery.progress import count_progress
from courrier.lib import crypto
from courrier.news.models import NewsUpdate
from courrier.news.sending import send_updates
from courrier.news.tokens import unsubscribe_token
from courrier.signatures.models import DataRequest, Signature
from courrier.signatures.tokens import confirmation_token, my_data_token
from tests.conftest import wait_until
from tests.factories import OFFICE, OWN_PAGE, OWN_SLUG, confirmed_signatures, organiser
from tests.helpers import body_text, confirmation_path, deliver_everything, maildir_messages, sign

Kind = OutboxMessage.Kind
Status = OutboxMessage.Status
START = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
MY_DATA_LINK = re.compile(r"https?://[^/\s]+(/\w\w/my-data/[^\s/]+/)")


def at(days: float, hours: float = 0):
    """The clock `days` after START, standing still."""
    return time_machine.travel(START + datetime.timedelta(days=days, hours=hours), tick=False)


def same_page(response) -> str:
    """The page without what differs on every response (CSP nonces, CSRF tokens)."""
    text = response.content.decode()
    text = re.sub(r'nonce="[^"]*"', "", text)
    # The language switcher links to the same address in the other languages: the token itself.
    text = re.sub(r"/(my-data|confirm|news/unsubscribe)/[^/\"]+/", r"/\1/TOKEN/", text)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", text)


def my_data_path(message) -> str:
    match = MY_DATA_LINK.search(body_text(message))
    assert match, body_text(message)
    return match.group(1)


def mail_to(sandbox, address: str) -> list:
    return [m for m in maildir_messages(sandbox) if m["To"] == address]


def hold_the_embassy() -> None:
    """The embassy's pace leaves the next letter waiting in the outbox."""
    Target.objects.update(next_send_at=START + datetime.timedelta(days=3650))


# On schedule


@pytest.mark.django_db
def progress_figures(campaign) -> tuple:
    """What the progress page shows of the campaign's signatures and letters, counted now."""
    progress = count_progress(campaign)
    figures = progress.signatures
    return by_state(progress), signatures_per_day(figures), by_language(figures)


def test_an_unconfirmed_signature_is_deleted_after_seven_days_and_not_before(own_campaign, client, sandbox_in_tmp):
    with at(0):
        sign(client, slug=OWN_SLUG, email="forgot@example.org")
        sign(
            client, slug=OWN_SLUG, email="forgot@example.org", first_name="Again"
        )  # kept only for its "already signed" notice
        deliver_everything()
        path = confirmation_path(sandbox_in_tmp)
        sign(client, slug=OWN_SLUG, email="confirmed@example.org")
        deliver_everything()
        confirmed = Signature.objects.with_address("confirmed@example.org").get()
        Signature.objects.filter(pk=confirmed.pk).update(confirmed_at=timezone.now())
        # A confirmation queued but never sent (the worker is not asked to send it here).
        sign(client, slug=OWN_SLUG, email="never-sent@example.org")
        queue_confirmations(timezone.now())
    unsent = OutboxMessage.objects.get(kind=Kind.CONFIRMATION, status=Status.QUEUED)
    assert Signature.objects.with_address("forgot@example.org").count() == 2

    with at(6, 23):
        retention.run()  # what the worker's periodic pass runs (a whole pass would send the queued mail)
        assert Signature.objects.with_address("forgot@example.org").count() == 2
        assert Signature.objects.with_address("never-sent@example.org").exists()

    with at(7, 1):
        deliver_everything()  # retention runs before the pass sends anything
        assert not Signature.objects.with_address("forgot@example.org").exists()
        assert not Signature.objects.with_address("never-sent@example.org").exists()
        assert not OutboxMessage.objects.filter(pk=unsent.pk).exists()
        assert mail_to(sandbox_in_tmp, "never-sent@example.org") == []
        assert Signature.objects.filter(pk=confirmed.pk).exists()
        sent = OutboxMessage.objects.filter(kind__in=[Kind.CONFIRMATION, Kind.ALREADY_SIGNED], signature=None)
        assert sent.count() == 2
        assert {(m.body, tuple(m.to)) for m in sent} == {("", ())}
        # Its link now answers like any link that does not work.
        assert same_page(client.post(path)) == same_page(client.post("/fr/confirm/garbage/"))


@pytest.mark.django_db
def test_sent_mail_loses_its_personal_parts_after_the_grace_and_not_before(own_campaign, sandbox_in_tmp):
    with at(0):
        [supporter] = confirmed_signatures(
            own_campaign, 1, first_name="Marker-Name", personal_sentence="Marker sentence"
        )
        embassy = Target.objects.get(email=OFFICE)
        target_pauses.pause_target(embassy, "test")
        deliver_everything()  # the copy goes; the letter is held, then cancelled by the organiser
        target_pauses.cancel_held(embassy)
    copy = OutboxMessage.objects.get(signature=supporter, kind=Kind.COPY)
    cancelled = OutboxMessage.objects.get(signature=supporter, kind=Kind.LETTER)
    assert (copy.status, cancelled.status) == (Status.SENT, Status.CANCELLED)

    with at(6, 23):
        deliver_everything()
        for message in [copy, cancelled]:
            message.refresh_from_db()
            assert message.personal_data_erased_at is None
        assert "Marker-Name" in copy.body
        assert copy.to == ["p0@example.org"]

    with at(7, 1):
        deliver_everything()
    copy.refresh_from_db()
    assert copy.personal_data_erased_at is not None
    assert (copy.body, copy.to, copy.subject, copy.recipient_digest) == ("", [], "", "")
    assert mail_to(sandbox_in_tmp, "p0@example.org") == []  # nor in the sandbox mailbox
    cancelled.refresh_from_db()
    assert cancelled.personal_data_erased_at is not None
    assert (cancelled.body, cancelled.from_name, cancelled.reply_to, cancelled.subject) == ("", "", "", "")
    assert cancelled.to == [OFFICE]  # a target's address is not a supporter's data


@pytest.mark.django_db
def test_staff_alerts_name_no_supporter_and_are_erased_on_the_same_schedule(own_campaign, settings):
    settings.STAFF_ALERT_EMAIL = "staff@courrier.example"
    with at(0):
        [supporter] = confirmed_signatures(own_campaign, 1)
        OutboxMessage.objects.create(
            kind=Kind.CONFIRMATION,
            campaign=own_campaign,
            signature=supporter,
            message_id="<failed@courrier.example>",
            from_name="Courrier",
            from_email="courrier@example.org",
            envelope_from="courrier@example.org",
            to=["dead-box@example.org"],
            subject="Confirmez",
            body="…",
            status=Status.FAILED,
            last_reply="550 5.1.1 <dead-box@example.org>: Recipient address rejected",
        )
        assert alerts.report_failures(timezone.now()) == 1
        deliver_everything()
    alert = OutboxMessage.objects.get(kind=Kind.STAFF_ALERT)
    assert alert.status == Status.SENT
    assert "dead-box@example.org" not in alert.body and "dead-box" not in alert.subject
    assert "confirmation" in alert.body and "[address]" in alert.body

    with at(7, 1):
        retention.run()
    alert.refresh_from_db()
    assert alert.personal_data_erased_at is not None and alert.body == "" and alert.subject == ""


@pytest.mark.django_db
def test_bounces_of_one_supporter_mail_are_erased_together_without_colliding(own_campaign, sandbox_in_tmp):
    with at(0):
        [supporter] = confirmed_signatures(own_campaign, 1)
        deliver_everything()
    copy = OutboxMessage.objects.get(signature=supporter, kind=Kind.COPY)
    # Two refusals with one status: one names the address, the other names none.
    Bounce.objects.create(message=copy, recipient="p0@example.org", status="5.1.1", diagnostic="p0@example.org?")
    Bounce.objects.create(message=copy, recipient="", status="5.1.1", diagnostic="unknown user")

    with at(7, 1):
        deliver_everything()
    copy.refresh_from_db()
    assert copy.personal_data_erased_at is not None
    bounces = list(Bounce.objects.filter(message=copy))
    assert [(b.recipient, b.diagnostic) for b in bounces] == [("", ""), ("", "")]
    assert len({b.recipient_digest for b in bounces}) == 2
    assert crypto.email_digest("p0@example.org") not in {b.recipient_digest for b in bounces}


@pytest.mark.django_db
def test_a_closed_campaign_is_anonymised_after_its_period_and_keeps_its_counts(own_campaign, client, sandbox_in_tmp):
    Campaign.objects.filter(pk=own_campaign.pk).update(anonymise_after_days=30)
    Target.objects.update(pace_per_hour=3600)  # every letter leaves at once: nothing left to cancel later
    with at(0):
        confirmed_signatures(
            own_campaign, 3, organisation="Marker Union", consent_list_organisation=True, consent_news=True
        )
        deliver_everything()
        lifecycle.close(Campaign.objects.get(pk=own_campaign.pk), user=None)
    own_campaign.refresh_from_db()
    assert own_campaign.closed_at == START
    before = (
        own_campaign.tally_letters,
        *progress_figures(own_campaign),
    )
    assert before[0] == 3
    assert "Marker Union" in client.get(OWN_PAGE).content.decode()

    manager = organiser("manager", own_campaign.organisation)
    options = manager.get(f"/en/studio/c/{own_campaign.pk}/options/").content.decode()
    assert 'name="anonymise_after_days" value="30"' in options
    assert "only the counts stay" in options
    assert "April 1, 2026, 30 days after the campaign closed" in options

    with at(29, 23):
        deliver_everything()
        assert Signature.objects.filter(campaign=own_campaign, anonymised_at=None).count() == 3
        assert "Marker Union" in client.get(OWN_PAGE).content.decode()

    with at(30, 1):
        deliver_everything()
    own_campaign.refresh_from_db()
    assert own_campaign.anonymised_at is not None
    assert own_campaign.tally_organisations == []
    for signature in Signature.objects.filter(campaign=own_campaign):
        assert signature.anonymised_at is not None
        assert (signature.first_name, signature.last_name, signature.email, signature.organisation) == ("",) * 4
        assert signature.email_digest is None
    assert not OutboxMessage.objects.filter(campaign=own_campaign, personal_data_erased_at=None).exists()
    assert (
        own_campaign.tally_letters,
        *progress_figures(own_campaign),
    ) == before
    # The page as readers get it within a minute (the site keeps each public page that long).
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=settings.PUBLIC_PAGE_SECONDS + 1)):
        page = client.get(OWN_PAGE).content.decode()
    assert "Marker Union" not in page
    assert 'class="counter-number">3<' in page


@pytest.mark.django_db
def test_a_reopened_campaign_stops_its_retention_clock(own_campaign):
    lifecycle.close(own_campaign, user=None)
    assert Campaign.objects.get(pk=own_campaign.pk).closed_at is not None
    lifecycle.set_status(Campaign.objects.get(pk=own_campaign.pk), Campaign.Status.LIVE, user=None)
    assert Campaign.objects.get(pk=own_campaign.pk).closed_at is None


# Erasing at once


@pytest.mark.django_db(transaction=True)
def test_erasing_from_the_link_is_effective_at_once_and_the_real_worker_sends_nothing_more(
    own_campaign, client, sandbox_in_tmp, start_worker
):
    sign(
        client,
        slug=OWN_SLUG,
        email="erase-me@example.org",
        city="Marker-City",
        organisation="Marker Org",
        organisation_role="X",
    )
    deliver_everything()
    assert client.post(confirmation_path(sandbox_in_tmp)).status_code == 302
    Signature.objects.update(consent_list_organisation=True, consent_news=True)
    hold_the_embassy()
    deliver_everything()  # the copy goes; the letter waits for the embassy's pace
    signature = Signature.objects.get()
    letter = OutboxMessage.objects.get(kind=Kind.LETTER)
    assert letter.status == Status.QUEUED
    assert Campaign.objects.get(pk=own_campaign.pk).tally_organisations == ["Marker Org"]

    [copy] = [m for m in mail_to(sandbox_in_tmp, "erase-me@example.org") if "/confirm/" not in body_text(m)]
    path = my_data_path(copy).replace("/fr/", "/en/", 1)
    page = client.get(path)
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    html = page.content.decode()
    for shown in ["erase-me@example.org", "Marker-City", "Marker Org", f"Office of {OWN_SLUG}"]:
        assert shown in html
    assert "A letter already delivered cannot be recalled" in html
    assert "your letter has not been sent yet" in html
    assert Client(HTTP_ORIGIN="https://evil.example").post(path).status_code == 403  # a form of ours, not a forged one

    erased = client.post(path)
    assert erased.status_code == 302
    signature.refresh_from_db()
    assert signature.anonymised_at is not None
    assert (signature.first_name, signature.email, signature.city, signature.organisation) == ("",) * 4
    assert signature.email_digest is None
    letter.refresh_from_db()
    assert letter.status == Status.CANCELLED
    assert letter.body == "" and letter.personal_data_erased_at is not None
    assert OutboxMessage.objects.filter(kind=Kind.COPY, body="").count() == 1
    assert mail_to(sandbox_in_tmp, "erase-me@example.org") == []  # its copies in the sandbox mailbox went too
    assert Campaign.objects.get(pk=own_campaign.pk).tally_organisations == []
    assert same_page(client.get(path)) == same_page(client.get(path[:-8] + "forged00/"))

    update = NewsUpdate.objects.create(campaign=own_campaign, language="fr", subject="Nouvelles", body="Texte")
    send_updates([update], user=None)
    assert not OutboxMessage.objects.filter(kind=Kind.NEWS).exists()

    # Another supporter's letter, after the erased one in the same queue: once it is out, the worker has
    # passed the erased letter by.
    sign(client, slug=OWN_SLUG, email="control@example.org")
    deliver_everything()
    control = Signature.objects.with_address("control@example.org").get()
    assert client.post(confirmation_path(mail_to(sandbox_in_tmp, "control@example.org")[0])).status_code == 302
    Target.objects.update(next_send_at=None, pace_per_hour=3600)
    start_worker()
    wait_until(
        lambda: OutboxMessage.objects.filter(signature=control, kind=Kind.LETTER, status=Status.SENT).exists(),
        message="the control letter to be sent",
    )
    letters = [m for m in maildir_messages(sandbox_in_tmp) if m["To"] == OFFICE]
    assert len(letters) == 1
    assert "erase-me@example.org" not in str(letters[0])
    letter.refresh_from_db()
    assert letter.status == Status.CANCELLED


@pytest.mark.django_db
def test_every_email_to_a_supporter_carries_a_link_to_their_data(own_campaign, client, sandbox_in_tmp):
    sign(client, slug=OWN_SLUG, email="reader@example.org", consent_news="on")
    sign(client, slug=OWN_SLUG, email="reader@example.org")
    deliver_everything()
    assert client.post(confirmation_path(sandbox_in_tmp)).status_code == 302
    deliver_everything()
    send_updates([NewsUpdate.objects.create(campaign=own_campaign, language="fr", subject="S", body="B")], user=None)
    deliver_everything()
    mails = mail_to(sandbox_in_tmp, "reader@example.org")
    assert len(mails) == 4  # confirmation, already signed, copy, news
    signature = Signature.objects.with_address("reader@example.org").get(is_duplicate=False)
    for mail in mails:  # the "already signed" notice too: it leads to the first signature, the reader's own
        page = client.get(my_data_path(mail))
        assert page.status_code == 200, mail["Subject"]
        assert "reader@example.org" in page.content.decode()
        assert signature.first_name in page.content.decode()


# Asking for one's link


@pytest.mark.django_db
def test_the_data_request_form_answers_alike_for_any_address_and_the_worker_mails_the_link(
    own_campaign, client, sandbox_in_tmp
):
    [known] = confirmed_signatures(own_campaign, 1, prefix="known", letters_queued_at=timezone.now())
    answers, queries = [], []
    for address in ["known0@example.org", "nobody@example.org"]:
        with CaptureQueriesContext(connection) as captured:
            answers.append(client.post("/en/my-data/", {"email": address}))
        queries.append([q["sql"] for q in captured.captured_queries])
    assert [a.status_code for a in answers] == [200, 200]
    assert same_page(answers[0]) == same_page(answers[1])
    assert "if this address signed a campaign here, we have sent it a link" in same_page(answers[0]).lower()
    # The same work whatever the address: no look-up of signatures in the request, only the stored request.
    assert len(queries[0]) == len(queries[1])
    assert not any("signatures_signature" in sql for sql in queries[0] + queries[1])
    assert DataRequest.objects.count() == 2

    deliver_everything()
    assert DataRequest.objects.count() == 0
    assert mail_to(sandbox_in_tmp, "nobody@example.org") == []
    [mail] = mail_to(sandbox_in_tmp, "known0@example.org")
    path = my_data_path(mail)
    assert path.startswith("/en/my-data/")
    assert client.get(path).status_code == 200
    assert OutboxMessage.objects.get(kind=Kind.DATA_LINK).signature_id == known.pk

    client.post("/en/my-data/", {"email": "KNOWN0@example.org"})  # again, at once: no second mail this hour
    deliver_everything()
    assert len(mail_to(sandbox_in_tmp, "known0@example.org")) == 1
    assert "See or erase your data" in client.get("/en/").content.decode()


# Tokens


@pytest.mark.django_db
def test_links_that_are_forged_expired_used_or_erased_answer_like_any_bad_link(own_campaign, client):
    with at(0):
        [signature] = confirmed_signatures(own_campaign, 1, consent_news=True, letters_queued_at=timezone.now())
        unconfirmed = Signature.objects.create(
            campaign=own_campaign,
            first_name="Unconfirmed-Name",
            email="u@example.org",
            language="en",
            letter_language="fr",
        )
        data, confirm = my_data_token(signature), confirmation_token(unconfirmed.pk)
        unsubscribe = unsubscribe_token(signature.pk)
    bad_data = same_page(client.get("/en/my-data/not-a-token/"))
    bad_confirmation = same_page(client.get("/en/confirm/not-a-token/"))
    bad_unsubscribe = same_page(client.get("/en/news/unsubscribe/not-a-token/"))

    with at(1):
        # Forged, or a token of another kind.
        for token in [data[:-4] + "abcd", confirm, unsubscribe]:
            response = client.get(f"/en/my-data/{token}/")
            assert (response.status_code, same_page(response)) == (400, bad_data)
        assert client.get(f"/en/my-data/{data}/").status_code == 200
        # Used: confirming twice confirms once, and the page then shows nothing personal.
        assert client.post(f"/en/confirm/{confirm}/").status_code == 302
        first = Signature.objects.get(pk=unconfirmed.pk).confirmed_at
        again = client.post(f"/en/confirm/{confirm}/")
        assert Signature.objects.get(pk=unconfirmed.pk).confirmed_at == first
        assert "Unconfirmed-Name" not in again.content.decode() and "u@example.org" not in again.content.decode()

    with at(7, 1):  # the confirmation link has expired
        response = client.get(f"/en/confirm/{confirm}/")
        assert (response.status_code, same_page(response)) == (400, bad_confirmation)
    with at(31):  # the my-data link has expired
        response = client.get(f"/en/my-data/{data}/")
        assert (response.status_code, same_page(response)) == (400, bad_data)
    with at(366):  # the unsubscribe link has expired
        response = client.post(f"/en/news/unsubscribe/{unsubscribe}/")
        assert (response.status_code, same_page(response)) == (400, bad_unsubscribe)

    with at(2):
        assert client.post(f"/en/my-data/{data}/").status_code == 302  # erased
        for response in [client.get(f"/en/my-data/{data}/"), client.post(f"/en/my-data/{data}/")]:
            assert (response.status_code, same_page(response)) == (400, bad_data)
        response = client.post(f"/en/news/unsubscribe/{unsubscribe}/")
        assert (response.status_code, same_page(response)) == (400, bad_unsubscribe)
