"""The outbox and the worker against a real SMTP server on 127.0.0.1."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from courrier.campaigns.models import Campaign
from courrier.delivery import enqueue
from courrier.delivery.compose import compose
from courrier.delivery.models import OutboxMessage
from courrier.delivery.transports import MaildirTransport
from courrier.delivery.worker import Worker
from courrier.signatures.models import Signature
from tests.conftest import free_port
from tests.factories import confirmed_signatures

Status = OutboxMessage.Status


class Clock:
    """The worker's time, moved only by the test."""

    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, **delta) -> None:
        self.now += datetime.timedelta(**delta)


def unpaced(campaign: Campaign) -> None:
    """Tests about something else than pacing send as fast as the worker can."""
    campaign.targets.update(pace_per_hour=10_000_000)


@pytest.fixture
def really_sent(own_campaign, smtp_settings):
    """The tests' own campaign, switched to real mail: its letters go to the SMTP server on 127.0.0.1."""
    Campaign.objects.filter(pk=own_campaign.pk).update(real_delivery=True)
    unpaced(own_campaign)
    own_campaign.refresh_from_db()
    return own_campaign


def one_queued_letter(campaign: Campaign) -> OutboxMessage:
    confirmed_signatures(campaign, 1)
    enqueue.queue_letters()
    OutboxMessage.objects.filter(kind=OutboxMessage.Kind.COPY).delete()
    return OutboxMessage.objects.get(kind=OutboxMessage.Kind.LETTER)


def make_due(message: OutboxMessage) -> None:
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


@pytest.mark.django_db
def test_a_server_answering_451_three_times_then_250_gets_the_letter_once(really_sent, smtp_sink):
    letter = one_queued_letter(really_sent)
    smtp_sink.replies = ["451 4.7.1 Greylisted, try again later"] * 3
    worker = Worker()
    delays = []
    for _ in range(3):
        assert worker.run_once() == 1
        letter.refresh_from_db()
        assert letter.status == Status.DEFERRED
        assert "451 4.7.1 Greylisted" in letter.last_reply
        delays.append((letter.next_attempt_at - timezone.now()).total_seconds())
        assert worker.run_once() == 0  # not due yet: nothing is retried early
        make_due(letter)
    assert worker.run_once() == 1
    letter.refresh_from_db()
    assert letter.status == Status.SENT
    assert len(smtp_sink.received) == 1
    assert [a.smtp_code for a in letter.events.all()] == [451, 451, 451, 250]
    # About a minute, then doubling.
    assert 50 < delays[0] < 70
    assert delays[0] < delays[1] < delays[2]


@pytest.mark.django_db
def test_a_server_answering_550_fails_the_letter_at_once_with_its_reason(really_sent, smtp_sink):
    letter = one_queued_letter(really_sent)
    smtp_sink.replies = ["550 5.7.1 Message rejected as spam"]
    worker = Worker()
    worker.run_once()
    letter.refresh_from_db()
    assert letter.status == Status.FAILED
    assert "550 5.7.1 Message rejected as spam" in letter.last_reply
    make_due(letter)
    assert worker.run_once() == 0
    assert letter.events.count() == 1
    assert smtp_sink.received == []


@pytest.mark.django_db
def test_a_refused_connection_is_retried_later_and_never_lost(really_sent, settings, smtp_sink):
    letter = one_queued_letter(really_sent)
    settings.EMAIL_PORT = free_port()  # nothing listens there
    clock = Clock(timezone.now())
    worker = Worker(clock=clock)
    worker.run_once()
    letter.refresh_from_db()
    assert letter.status == Status.DEFERRED
    assert "ConnectionRefusedError" in letter.last_reply
    settings.EMAIL_PORT = smtp_sink.port
    # The relay rests about a minute after a failure: the letter waits for it, it is not lost.
    assert worker.run_once() == 0
    clock.advance(seconds=70)
    worker.run_once()
    letter.refresh_from_db()
    assert letter.status == Status.SENT
    assert len(smtp_sink.received) == 1


@pytest.mark.django_db
def test_each_letter_prepared_while_the_server_reads_the_one_before_goes_whole_to_its_own_recipients(
    really_sent, smtp_sink
):
    confirmed_signatures(really_sent, 4)
    enqueue.queue_letters()
    OutboxMessage.objects.filter(kind=OutboxMessage.Kind.COPY).delete()
    letters = list(OutboxMessage.objects.filter(kind=OutboxMessage.Kind.LETTER).order_by("pk"))
    unwritable = letters[2]  # an address that cannot go in a header: retrying would not help
    OutboxMessage.objects.filter(pk=unwritable.pk).update(to=["ambassade@éxample.kz"])

    assert Worker().run_once() == 4

    by_id = {received.message["Message-ID"]: received for received in smtp_sink.received}
    assert len(by_id) == 3
    for letter in letters:
        letter.refresh_from_db()
        if letter.pk == unwritable.pk:
            assert letter.status == Status.FAILED
            assert letter.last_reply.startswith("could not compose")
            assert letter.message_id not in by_id
            continue
        assert letter.status == Status.SENT
        received = by_id[letter.message_id]
        assert received.rcpt_tos == letter.recipients()
        assert received.data == compose(letter)  # its own bytes, not its neighbour's


@pytest.mark.django_db
def test_a_letter_still_failing_after_five_days_is_marked_failed(really_sent, settings):
    letter = one_queued_letter(really_sent)
    settings.EMAIL_PORT = free_port()
    OutboxMessage.objects.filter(pk=letter.pk).update(created_at=timezone.now() - datetime.timedelta(days=5, hours=1))
    Worker().run_once()
    letter.refresh_from_db()
    assert letter.status == Status.FAILED
    assert letter.last_reply.startswith("gave up after 1 attempts")


@pytest.mark.django_db
def test_a_letter_claimed_by_a_worker_that_died_is_sent_after_its_lease_expires(really_sent, smtp_sink):
    letter = one_queued_letter(really_sent)
    dead = Worker(lease_seconds=60)
    assert [m.pk for m in dead.claim(timezone.now())] == [letter.pk]
    other = Worker()
    assert other.run_once() == 0  # leased: nobody else may send it
    OutboxMessage.objects.filter(pk=letter.pk).update(lease_expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert Worker().run_once() == 1  # a worker (re)started later finds it
    letter.refresh_from_db()
    assert letter.status == Status.SENT
    assert smtp_sink.received[0].message["Message-ID"] == letter.message_id


@pytest.mark.django_db
def test_one_connection_carries_many_letters(really_sent, smtp_sink):
    confirmed_signatures(really_sent, 30)
    Worker().run_once()
    assert len(smtp_sink.received) == 60  # 30 letters and 30 copies
    assert smtp_sink.sessions == 1
    assert OutboxMessage.objects.filter(status=Status.SENT).count() == 60


@pytest.mark.django_db
def test_queueing_letters_costs_the_same_queries_for_ten_signatures_as_for_a_hundred(own_campaign, monkeypatch):
    # One batch each time: on SQLite batches are sized by the time their writing takes, which varies.
    monkeypatch.setattr(enqueue, "FIRST_SQLITE_BATCH", enqueue.BATCH)
    monkeypatch.setattr(enqueue, "WRITE_SLICE_SECONDS", 3600)
    monkeypatch.setattr(enqueue, "_write_sizes", {})
    counts = []
    for size in (10, 100):
        confirmed_signatures(own_campaign, size)
        with CaptureQueriesContext(connection) as queries:
            enqueue.queue_letters()
        # bulk INSERTs come in chunks (SQLite limits parameters per statement); every other query is fixed.
        counts.append(sum(1 for query in queries if not query["sql"].startswith("INSERT")))
        Signature.objects.all().delete()
    assert counts[0] == counts[1]
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.LETTER).count() == 110


def test_the_worker_refuses_sqlite_without_immediate_transactions(settings):
    from django.core.management.base import CommandError
    from django.db import connection

    from courrier.delivery.management.commands.deliver import check_database_is_safe_for_workers

    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    options = connection.settings_dict["OPTIONS"]
    saved = options.pop("transaction_mode")
    try:
        with pytest.raises(CommandError, match="IMMEDIATE"):
            check_database_is_safe_for_workers()
    finally:
        options["transaction_mode"] = saved
    check_database_is_safe_for_workers()


@pytest.mark.django_db
def test_a_campaign_without_a_model_letter_keeps_its_signatures_waiting(own_campaign):
    from courrier.campaigns.models import ModelLetter

    letters = list(ModelLetter.objects.filter(campaign=own_campaign))
    ModelLetter.objects.filter(campaign=own_campaign).delete()
    confirmed_signatures(own_campaign, 2)
    assert Worker().run_once() == 0  # nothing to send, and the worker does not crash
    assert not OutboxMessage.objects.filter(kind=OutboxMessage.Kind.LETTER).exists()
    ModelLetter.objects.bulk_create(letters)
    Worker().run_once()
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.LETTER).count() == 2


def test_a_sandboxed_message_is_a_maildir_file_only_the_sites_own_user_can_read(sandbox_in_tmp):
    message = b"Message-ID: <one@example.org>\r\nSubject: test\r\n\r\nBody\r\n"
    result = MaildirTransport().send("bounces@example.org", ["ulzhan@example.org"], message)

    (written,) = (sandbox_in_tmp / "new").iterdir()
    assert result.outcome == "sent" and str(written) in result.reply
    assert (
        written.read_bytes() == b"Return-Path: <bounces@example.org>\r\nDelivered-To: ulzhan@example.org\r\n" + message
    )
    assert written.stat().st_mode & 0o777 == 0o600
    assert not list((sandbox_in_tmp / "tmp").iterdir())
