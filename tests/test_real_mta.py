"""Delivery against a real MTA: Debian's Postfix on 127.0.0.1 (tests/mail_servers.py), with STARTTLS on a test
CA and PIPELINING. For every mix of answers a relay can give, the outbox, the supporter's pages and the
organiser's figures must say what really happened at each recipient, nothing may be sent twice to a recipient
that took it, and nothing may be dropped."""

import base64
import datetime
import os
import shutil
import smtplib
import subprocess
import sys

import pytest
from django.test import Client
from django.utils import timezone

from courrier.backoffice.progress import per_target
from courrier.campaigns.models import Campaign, Target
from courrier.delivery import enqueue
from courrier.delivery.destinations import destinations
from courrier.delivery.models import Bounce, DeliveryEvent, OutboxMessage, Recipient, UndeliverableAddress
from courrier.delivery.progress import count_progress
from courrier.delivery.transports import SmtpTransport
from courrier.delivery.verp import verp_address
from courrier.delivery.worker import Worker
from courrier.lib.crypto import email_digest
from courrier.news.models import NewsUpdate
from courrier.news.sending import send_updates
from courrier.signatures.models import Signature
from tests import helpers
from tests.conftest import ROOT, wait_until
from tests.factories import ALLY, OFFICE, OWN_SLUG, confirmed_signatures, operator
from tests.helpers import letters
from tests.mail_servers import Tap

pytestmark = pytest.mark.django_db
Status = OutboxMessage.Status


class Clock:
    """The worker's time, moved by the test only."""

    def __init__(self):
        self.now = timezone.now()

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += datetime.timedelta(**delta)


@pytest.fixture
def campaign(own_campaign, settings):
    """The tests' own campaign sending real mail, as fast as the worker can (pacing is tested elsewhere)."""
    Campaign.objects.filter(pk=own_campaign.pk).update(real_delivery=True)
    own_campaign.targets.update(pace_per_hour=3600 * 100)
    settings.DELIVERY_RETRY_BASE_SECONDS = 60
    return own_campaign


def one_letter(campaign, **fields) -> OutboxMessage:
    [signature] = confirmed_signatures(campaign, 1, **fields)
    enqueue.queue_letters()
    OutboxMessage.objects.filter(kind=OutboxMessage.Kind.COPY).delete()  # the letter alone
    return letters().get(signature=signature)


def states(letter: OutboxMessage) -> dict[str, str]:
    return dict(Recipient.objects.filter(outboxmessage=letter).values_list("address", "status"))


def run(worker: Worker, postfix) -> None:
    """One pass of the worker, then whatever Postfix queued delivered (its own bounces included)."""
    worker.run_once()
    postfix.flush()


def delivered_copies(postfix, address: str, letter: OutboxMessage) -> list:
    return [item for item in postfix.delivered_to(address) if item.message["Message-ID"] == letter.message_id]


def wait_for_mail(postfix, address: str, count: int = 1) -> list:
    return wait_until(
        lambda: (found := postfix.delivered_to(address)) and len(found) >= count and found,
        timeout=30,
        message=f"{count} message(s) delivered to {address}",
    )


def test_a_letter_every_recipient_takes_is_sent_once_to_each(campaign, postfix):
    letter = one_letter(campaign)
    Worker().run_once()

    wait_for_mail(postfix, OFFICE)
    wait_for_mail(postfix, ALLY)
    letter.refresh_from_db()
    assert letter.status == Status.SENT
    assert states(letter) == {OFFICE: "sent", ALLY: "sent"}
    assert [len(delivered_copies(postfix, a, letter)) for a in (OFFICE, ALLY)] == [1, 1]
    helo = {request.get("helo_name") for request in postfix.policy.requests}
    assert helo == {"worker.courrier.test"}, "the EHLO name is the site's, not [127.0.0.1]"
    assert "TLS connection established" in postfix.log() or "Anonymous TLS connection" in postfix.log()


@pytest.fixture(params=["pipelining and chunking", "pipelining alone", "neither"])
def relay(request, postfix):
    """Postfix offering what a relay may offer: the worker speaks each way, with the same outcomes."""
    postfix.offer(
        without={"pipelining and chunking": "", "pipelining alone": "chunking", "neither": "pipelining chunking"}[
            request.param
        ]
    )
    yield postfix
    postfix.offer(without="")


def test_a_temporary_refusal_of_one_recipient_retries_it_alone_with_the_same_bytes(campaign, relay):
    postfix = relay
    letter = one_letter(campaign)
    postfix.policy.at_rcpt[OFFICE] = "450 4.2.0 Mailbox busy, try again later"
    clock = Clock()
    worker = Worker(clock=clock)
    run(worker, postfix)

    letter.refresh_from_db()
    assert letter.status == Status.DEFERRED, "not sent: the office has not got it"
    assert states(letter) == {OFFICE: "deferred", ALLY: "sent"}
    [copy] = wait_for_mail(postfix, ALLY)
    assert [d.state for d in destinations(letter.signature)] == ["queued", "sent"]
    rows = {row["target"].email: row for row in per_target(campaign, count_progress(campaign)) if row["target"]}
    assert (rows[OFFICE]["waiting"], rows[ALLY]["sent"]) == (1, 1)

    del postfix.policy.at_rcpt[OFFICE]
    clock.advance(minutes=2)
    offered_before = len(postfix.policy.rcpt_requests())
    run(worker, postfix)

    [office] = wait_for_mail(postfix, OFFICE)
    letter.refresh_from_db()
    assert letter.status == Status.SENT
    assert states(letter) == {OFFICE: "sent", ALLY: "sent"}
    assert postfix.policy.rcpt_requests()[offered_before:] == [OFFICE], "the copy is not written to twice"
    assert len(postfix.delivered_to(ALLY)) == 1
    # The retry is the same message, byte for byte, Date header included.
    assert office.message["Message-ID"] == copy.message["Message-ID"] == letter.message_id
    assert office.message["Date"] == copy.message["Date"]
    body = lambda item: item.raw.split(b"\n\n", 1)[1] if b"\n\n" in item.raw else item.raw  # noqa: E731
    assert body(office) == body(copy)


def test_a_permanent_refusal_of_the_copy_is_recorded_for_it_alone(campaign, postfix):
    letter = one_letter(campaign)
    postfix.policy.at_rcpt[ALLY] = "550 5.1.1 No such user here"
    run(Worker(), postfix)

    letter.refresh_from_db()
    assert letter.status == Status.SENT, "the office took it: the letter follows its To recipients"
    assert states(letter) == {OFFICE: "sent", ALLY: "failed"}
    wait_for_mail(postfix, OFFICE)
    assert [d.state for d in destinations(letter.signature)] == ["sent", "failed"]
    rows = {row["target"].email: row for row in per_target(campaign, count_progress(campaign)) if row["target"]}
    assert (rows[OFFICE]["sent"], rows[ALLY]["failed"], rows[ALLY]["sent"]) == (1, 1, 0)
    # The operator's outbox page lists each recipient's answer.
    page = operator().get(f"/admin/delivery/outboxmessage/{letter.pk}/change/")
    assert "550 5.1.1" in page.content.decode() and ALLY in page.content.decode()


def test_a_permanent_refusal_of_the_to_target_fails_the_letter_and_the_copy_still_goes(campaign, postfix):
    letter = one_letter(campaign)
    postfix.policy.at_rcpt[OFFICE] = "550 5.1.1 No such user here"
    run(Worker(), postfix)

    letter.refresh_from_db()
    assert letter.status == Status.FAILED
    assert states(letter) == {OFFICE: "failed", ALLY: "sent"}
    wait_for_mail(postfix, ALLY)


def test_a_450_and_a_550_defer_one_recipient_and_fail_the_other(campaign, relay):
    postfix = relay
    letter = one_letter(campaign)
    postfix.policy.at_rcpt[OFFICE] = "450 4.2.0 Mailbox busy, try again later"
    postfix.policy.at_rcpt[ALLY] = "550 5.1.1 No such user here"
    clock = Clock()
    worker = Worker(clock=clock)
    run(worker, postfix)

    letter.refresh_from_db()
    assert letter.status == Status.DEFERRED, "not failed for good: the 450 is tried again"
    assert states(letter) == {OFFICE: "deferred", ALLY: "failed"}

    postfix.policy.clear()
    clock.advance(minutes=2)
    run(worker, postfix)
    letter.refresh_from_db()
    assert letter.status == Status.SENT
    assert states(letter) == {OFFICE: "sent", ALLY: "failed"}
    wait_for_mail(postfix, OFFICE)
    assert postfix.delivered_to(ALLY) == []


def test_policy_refusals_of_the_copy_during_the_session_are_counted_for_its_domain(campaign, postfix, settings):
    settings.BLOCK_PAUSE_THRESHOLD = 3
    for n in range(4):
        one_letter(campaign, prefix=f"p{n}-")
    postfix.policy.at_rcpt[ALLY] = "554 5.7.1 Message refused as spam"
    run(Worker(), postfix)

    bounces = Bounce.objects.filter(domain=ALLY.split("@")[1])
    assert bounces.count() == 3  # the fourth letter was held once the copy's target was paused
    assert {bounce.recipient for bounce in bounces} == {ALLY}
    assert Target.objects.get(email=ALLY).is_paused
    assert not Target.objects.get(email=OFFICE).is_paused


def test_a_dropped_connection_defers_the_batch_once_and_rests_the_relay(campaign, postfix):
    for n in range(5):
        one_letter(campaign, prefix=f"d{n}-")
    postfix.policy.at_rcpt[OFFICE] = "421 4.7.0 Too many connections, closing"
    clock = Clock()
    worker = Worker(clock=clock)
    run(worker, postfix)

    assert set(letters().values_list("status", flat=True)) == {Status.DEFERRED}
    assert len(postfix.policy.rcpt_requests()) == 1, "one try, not one per letter"
    assert worker.run_once() == 0, "the relay rests"
    postfix.policy.clear()
    clock.advance(minutes=2)
    run(worker, postfix)
    assert set(letters().values_list("status", flat=True)) == {Status.SENT}
    assert len(postfix.delivered_to(OFFICE)) == 5


def ingest(raw: bytes) -> str:
    """The MTA pipes a message for a return path into the command, as README's alias does."""
    done = subprocess.run(
        [sys.executable, "manage.py", "ingestbounces"], input=raw, cwd=ROOT, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


@pytest.mark.django_db(transaction=True)
def test_a_later_bounce_of_the_copy_fails_the_copy_alone(campaign, postfix, process_env, monkeypatch):
    gone = "gone-allies@redyurt.test"
    Target.objects.filter(email=ALLY).update(email=gone)
    letter = one_letter(campaign)
    run(Worker(), postfix)
    letter.refresh_from_db()
    assert letter.status == Status.SENT and states(letter) == {OFFICE: "sent", gone: "sent"}

    [report] = wait_for_mail(postfix, letter_return_path(letter))
    assert report.message.get_content_type() == "multipart/report"  # Postfix's own DSN
    for name, value in process_env().items():
        monkeypatch.setenv(name, value)
    assert "recorded 1 bounce(s)" in ingest(report.raw)

    letter.refresh_from_db()
    assert letter.status == Status.SENT, "the office has it"
    assert states(letter) == {OFFICE: "sent", gone: "failed"}
    assert [d.state for d in destinations(letter.signature)] == ["sent", "failed"]


def letter_return_path(letter: OutboxMessage) -> str:
    return verp_address(letter)


@pytest.mark.django_db(transaction=True)
def test_an_out_of_office_answer_is_noted_and_fails_nothing(campaign, postfix, process_env, monkeypatch):
    letter = one_letter(campaign)
    run(Worker(), postfix)
    answer = (
        f"From: Office <{OFFICE}>\r\nTo: {letter_return_path(letter)}\r\nSubject: Absence\r\n"
        "Auto-Submitted: auto-replied\r\nMessage-ID: <ooo@ministry.example>\r\n\r\n"
        "L'ambassade est fermée du 1.7.24 au 5.7.24. Service 5.7.24 indisponible.\r\n"
    )
    with smtplib.SMTP("127.0.0.1", postfix.port) as mta:
        mta.sendmail(OFFICE, [letter_return_path(letter)], answer.encode())
    [received] = wait_for_mail(postfix, letter_return_path(letter))
    for name, value in process_env().items():
        monkeypatch.setenv(name, value)

    assert "recorded 0 bounce(s), 1 automatic answer(s)" in ingest(received.raw)
    letter.refresh_from_db()
    assert letter.status == Status.SENT
    assert not Bounce.objects.exists()
    assert not Target.objects.filter(paused_at__isnull=False).exists()
    assert DeliveryEvent.objects.filter(message=letter, worker="inbound").exists()


@pytest.mark.django_db(transaction=True)
def test_a_supporters_dead_address_gets_no_more_news_after_its_confirmation_bounced(
    campaign, postfix, process_env, monkeypatch
):
    assert (
        helpers.sign(Client(), slug=OWN_SLUG, email="gone-supporter@example.org", consent_news="on").status_code == 302
    )
    run(Worker(), postfix)
    confirmation = OutboxMessage.objects.get(kind=OutboxMessage.Kind.CONFIRMATION)
    assert confirmation.status == Status.SENT
    [report] = wait_for_mail(postfix, letter_return_path(confirmation))
    for name, value in process_env().items():
        monkeypatch.setenv(name, value)
    assert "recorded 1 bounce(s)" in ingest(report.raw)

    assert UndeliverableAddress.objects.filter(email_digest=email_digest("gone-supporter@example.org")).exists()
    Signature.objects.update(confirmed_at=timezone.now())
    update = NewsUpdate.objects.create(campaign=campaign, language="fr", subject="Nouvelles", body="Texte")
    send_updates([update], user=None)
    assert not OutboxMessage.objects.filter(kind=OutboxMessage.Kind.NEWS).exists()


def test_the_date_is_the_first_attempts_not_the_queueing_time(campaign, postfix):
    letter = one_letter(campaign)
    hours_ago = timezone.now() - datetime.timedelta(hours=5)
    OutboxMessage.objects.filter(pk=letter.pk).update(created_at=hours_ago)  # waited behind pacing
    run(Worker(), postfix)
    [received] = wait_for_mail(postfix, OFFICE)
    sent_date = received.message["Date"].datetime
    assert abs((sent_date - timezone.now()).total_seconds()) < 120


def test_without_the_operators_ca_the_relay_is_refused_and_the_letter_waits(campaign, postfix, settings, caplog):
    settings.EMAIL_SSL_CAFILE = ""  # the test CA is not one the system trusts
    letter = one_letter(campaign)
    with caplog.at_level("WARNING"):
        Worker().run_once()
    letter.refresh_from_db()
    assert letter.status == Status.DEFERRED
    assert "CERTIFICATE_VERIFY_FAILED" in letter.last_reply or "certificate verify failed" in letter.last_reply
    relay_lines = [r.getMessage() for r in caplog.records if "unusable" in r.getMessage()]
    assert len(relay_lines) == 1, relay_lines
    assert postfix.delivered() == []
    settings.EMAIL_SSL_CAFILE = str(postfix.ca_file)
    OutboxMessage.objects.filter(pk=letter.pk).update(next_attempt_at=timezone.now())
    worker = Worker()
    worker.run_once()
    wait_for_mail(postfix, OFFICE)


def test_a_connection_that_fails_to_open_still_says_quit(campaign, postfix, settings):
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "someone", "a password"  # no AUTH offered here
    one_letter(campaign)
    Worker().run_once()
    assert wait_until(lambda: "quit=1" in postfix.log().split("disconnect from")[-1], message="the session's summary")
    assert letters().get().status == Status.DEFERRED


# ---------- The session with the relay ----------


@pytest.fixture
def tap(postfix, settings):
    """The worker reaches Postfix through a relay that counts sessions and turns (tests/mail_servers.py)."""
    relay = Tap(postfix.port)
    settings.EMAIL_PORT = relay.port
    yield relay
    relay.close()


def test_letters_are_pipelined_one_turn_each_in_one_session(campaign, postfix, tap):
    opened = SmtpTransport()
    opened.connection = opened.open()  # what a session costs before its first letter, and its goodbye
    opened.close()
    setup = tap.client_runs
    for n in range(4):
        one_letter(campaign, prefix=f"pl{n}-")

    Worker().run_once()

    assert set(letters().values_list("status", flat=True)) == {Status.SENT}
    assert tap.sessions == 2  # the measuring one, then one for the four letters
    per_letter = (tap.client_runs - 2 * setup) / 4
    # Postfix offers PIPELINING and CHUNKING: MAIL, both RCPTs and the text (BDAT … LAST) in one write, one turn
    # a letter (with PIPELINING alone two, without either five).
    assert per_letter <= 1.25, (tap.client_runs, setup)


def test_paced_letters_share_one_session_and_one_the_server_closed_is_reopened(campaign, postfix, tap):
    campaign.targets.update(pace_per_hour=360)  # one letter every ten seconds
    for n in range(3):
        one_letter(campaign, prefix=f"pc{n}-")
    clock = Clock()
    worker = Worker(clock=clock)
    sent = lambda: letters().filter(status=Status.SENT).count()  # noqa: E731

    worker.run_once()
    clock.advance(seconds=11)
    worker.run_once()
    assert (sent(), tap.sessions) == (2, 1), "the idle connection was kept for the next paced letter"

    tap.drop()  # the server closes the idle connection meanwhile
    clock.advance(seconds=11)
    worker.run_once()
    assert (sent(), tap.sessions) == (3, 2), "a new session, at once: the letter is not deferred"
    assert not DeliveryEvent.objects.filter(status=Status.DEFERRED).exists()


def test_a_relay_that_fails_tls_is_tried_once_for_the_whole_batch(campaign, postfix, tap, settings):
    settings.EMAIL_SSL_CAFILE = ""  # the system's CAs do not know the test CA
    for n in range(4):
        one_letter(campaign, prefix=f"tls{n}-")
    Worker().run_once()
    assert set(letters().values_list("status", flat=True)) == {Status.DEFERRED}
    assert tap.sessions == 1, "not one connection per letter"


def test_the_mail_postfix_delivers_passes_an_independent_dkim_verifier(campaign, postfix, settings, tmp_path):
    if not shutil.which("opendkim", path="/usr/sbin:/usr/bin"):
        if os.environ.get("COURRIER_REQUIRE_POSTFIX"):
            raise AssertionError("CI installs opendkim: it is missing")
        pytest.skip("Debian's opendkim is not installed (CI installs it)")
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], capture_output=True)
    settings.DKIM_PRIVATE_KEY_FILE, settings.DKIM_DOMAIN, settings.DKIM_SELECTOR = str(key), "courrier.example", "s1"
    (tmp_path / "keys").write_text(f"s1._domainkey.courrier.example v=DKIM1; k=rsa; p={b64(public.stdout)}\n")
    (tmp_path / "opendkim.conf").write_text(f"Mode v\nTestPublicKeys {tmp_path / 'keys'}\nSyslog no\n")
    one_letter(campaign, personal_sentence="Бостандық! Свободу!")
    Worker().run_once()
    [received] = wait_for_mail(postfix, OFFICE)
    (tmp_path / "received.eml").write_bytes(received.raw)

    opendkim = shutil.which("opendkim", path="/usr/sbin:/usr/bin")
    verified = subprocess.run(
        [opendkim, "-x", str(tmp_path / "opendkim.conf"), "-t", str(tmp_path / "received.eml")],
        capture_output=True,
        text=True,
    )
    said = verified.stdout + verified.stderr
    assert "verification (s=s1, d=courrier.example" in said and "succeeded" in said, said


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_staff_hear_once_of_mail_deferred_for_more_than_an_hour(campaign, postfix, settings):
    settings.STAFF_ALERT_EMAIL = "staff@courrier.example"
    letter = one_letter(campaign)
    postfix.policy.at_rcpt[OFFICE] = "450 4.2.0 Mailbox busy, try again later"
    clock = Clock()
    worker = Worker(clock=clock)
    run(worker, postfix)
    assert letters().get().status == Status.DEFERRED

    clock.advance(minutes=61)
    run(worker, postfix)  # the periodic pass, once a minute
    clock.advance(minutes=2)
    run(worker, postfix)
    alerts = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.STAFF_ALERT)
    assert alerts.count() == 1
    assert f"#{letter.pk} letter to {OFFICE}:" in alerts.get().body
    assert "60 minutes" in alerts.get().body
