"""The worker sends the confirmations it queued in the same pass, from memory: leased as they are written,
they are what a claim would have read back, and a worker that dies with them leaves them to another."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from courrier.delivery import enqueue
from courrier.delivery.compose import compose
from courrier.delivery.models import DeliveryEvent, OutboxMessage
from courrier.delivery.verp import verp_address
from courrier.delivery.worker import Worker
from tests import factories
from tests.helpers import maildir_messages

Status = OutboxMessage.Status
LEASE = datetime.timedelta(seconds=120)


def new_signatures(campaign, count: int = 5) -> None:
    """New signatures in each language, and one from an address that signed already (its notice)."""
    for number in range(count - 1):
        language = ("fr", "en", "ru", "kk")[number % 4]
        factories.signature(campaign, f"s{number}@example.org", confirmed=False, language=language)
    factories.signature(campaign, "s0@example.org", confirmed=False, is_duplicate=True)


@pytest.mark.django_db
@pytest.mark.parametrize("plain_paths", [set(), {"rows"}])
def test_a_confirmation_handed_over_by_its_pass_is_the_row_a_claim_would_read_back(own_campaign, settings, plain_paths):
    settings.PLAIN_PATHS = plain_paths
    new_signatures(own_campaign)
    now = timezone.now()
    lease = enqueue.Lease("worker-1", now, now + LEASE, room=100)

    assert enqueue.queue_confirmations(now, lease) == 5
    handed = {message.pk: message for message in lease.numbered()}

    stored = {row.pk: row for row in OutboxMessage.objects.all()}
    assert set(handed) == set(stored) and len(handed) == 5
    for pk, row in stored.items():
        assert (row.status, row.claimed_by, row.attempts) == (Status.SENDING, "worker-1", 1)
        assert row.dated_at == now and row.lease_expires_at == now + LEASE
        # The same bytes and return path from memory as from the database: the Message-ID and Date included.
        assert compose(handed[pk]) == compose(row)
        assert verp_address(handed[pk]) == verp_address(row)
    assert {row.kind for row in stored.values()} == {OutboxMessage.Kind.CONFIRMATION, OutboxMessage.Kind.ALREADY_SIGNED}


@pytest.mark.django_db
def test_what_does_not_fit_in_the_pass_is_queued_and_every_confirmation_goes_once(own_campaign, sandbox_in_tmp):
    new_signatures(own_campaign, count=7)
    worker = Worker(batch_size=3)
    try:
        handled = [worker.run_once()]
        # Three handed over, three of the four left queued by the pass's claim; the last one next time.
        assert handled == [6]
        assert OutboxMessage.objects.filter(status=Status.QUEUED).count() == 1
        while handled[-1]:
            handled.append(worker.run_once())
    finally:
        worker.close()

    assert handled == [6, 1, 0]
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.SENT}
    sent = [message["Message-ID"] for message in maildir_messages(sandbox_in_tmp)]
    assert sorted(sent) == sorted(OutboxMessage.objects.values_list("message_id", flat=True)) and len(sent) == 7
    # One event each, "sent": nothing was claimed, given back or moved twice.
    assert list(DeliveryEvent.objects.values_list("status", flat=True)) == [Status.SENT] * 7


@pytest.mark.django_db
def test_confirmations_handed_to_a_worker_that_died_are_sent_by_another_once_its_lease_expires(
    own_campaign, sandbox_in_tmp
):
    new_signatures(own_campaign)
    now = timezone.now()
    enqueue.queue_confirmations(now, enqueue.Lease("dead-worker", now, now + LEASE, room=100))

    other = Worker(clock=lambda: now + datetime.timedelta(seconds=60))
    assert other.run_once() == 0  # still leased: nobody else may send them
    later = Worker(clock=lambda: now + LEASE + datetime.timedelta(seconds=1))
    try:
        assert later.run_once() == 5
    finally:
        other.close()
        later.close()
    assert set(OutboxMessage.objects.values_list("status", "attempts")) == {(Status.SENT, 2)}
    assert len(maildir_messages(sandbox_in_tmp)) == 5


@pytest.mark.django_db
def test_a_confirmation_the_daily_cap_puts_off_is_not_handed_over_but_waits_queued_for_its_day(own_campaign, settings):
    settings.SUPPORTER_MAILS_PER_DAY = 1
    second = factories.live_campaign("second-campaign")
    factories.signature(own_campaign, "one@example.org", confirmed=False)
    factories.signature(second, "one@example.org", confirmed=False)
    now = timezone.now()
    lease = enqueue.Lease("worker-1", now, now + LEASE, room=100)

    assert enqueue.queue_confirmations(now, lease) == 2
    handed = lease.numbered()
    assert len(handed) == 1 and handed[0].next_attempt_at == now
    waiting = OutboxMessage.objects.exclude(pk=handed[0].pk).get()
    assert (waiting.status, waiting.claimed_by, waiting.attempts) == (Status.QUEUED, "", 0)
    assert waiting.next_attempt_at == now + datetime.timedelta(hours=24)


@pytest.mark.django_db(transaction=True)  # BEGINs are seen as they are, not as the test's savepoints
def test_a_pass_with_nothing_to_do_takes_no_write_lock_on_sqlite(own_campaign, sandbox_in_tmp):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's one write lock: PostgreSQL locks rows")
    new_signatures(own_campaign)
    worker = Worker()
    try:
        assert worker.run_once() == 5
        with CaptureQueriesContext(connection) as idle:
            assert worker.run_once() == 0
        with CaptureQueriesContext(connection) as busy:
            factories.signature(own_campaign, "late@example.org", confirmed=False)
            assert worker.run_once() == 1
    finally:
        worker.close()
    # A signature posted meanwhile waits for no transaction of the worker's when it has nothing to write.
    assert not [query["sql"] for query in idle.captured_queries if query["sql"].startswith("BEGIN")]
    assert [query["sql"] for query in busy.captured_queries if query["sql"].startswith("BEGIN")]
