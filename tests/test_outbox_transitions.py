"""The outbox's moves: each leaves only the states it may leave, and writes one event for every row it moved."""

import datetime

import pytest
from django.utils import timezone

from courrier.delivery import enqueue
from courrier.delivery.models import DeliveryEvent, OutboxMessage
from tests import factories

Status = OutboxMessage.Status


@pytest.fixture
def letters_in_every_state(db):
    """One letter in each status, keyed by it."""
    campaign = factories.campaign()
    factories.confirmed_signatures(campaign, len(Status.values))
    enqueue.queue_letters()
    rows = list(OutboxMessage.objects.filter(kind=OutboxMessage.Kind.LETTER).order_by("pk"))
    for row, status in zip(rows, Status.values, strict=True):
        OutboxMessage.objects.filter(pk=row.pk).update(status=status, claimed_by="w" if status == "sending" else "")
    return {status: row.pk for row, status in zip(rows, Status.values, strict=True)}


def only(ids: dict[str, int]):
    """Those letters, and no other row (each letter's supporter copy is queued with it)."""
    return OutboxMessage.objects.filter(pk__in=ids.values())


def states(ids: dict[str, int]) -> dict[str, str]:
    found = dict(OutboxMessage.objects.filter(pk__in=ids.values()).values_list("pk", "status"))
    return {was: found[pk] for was, pk in ids.items()}


def events_of(ids: dict[str, int]) -> dict[str, list[str]]:
    return {
        was: list(DeliveryEvent.objects.filter(message_id=pk).order_by("pk").values_list("status", flat=True))
        for was, pk in ids.items()
    }


def test_cancelling_stops_every_letter_not_sent_yet_and_leaves_the_finished_ones_alone(letters_in_every_state):
    now = timezone.now()
    moved = only(letters_in_every_state).cancel("cancelled by the test", now)

    assert moved == 4
    assert states(letters_in_every_state) == {
        "queued": "cancelled",
        "sending": "cancelled",  # it may still leave: its worker marks it sent if the server took it
        "sent": "sent",
        "deferred": "cancelled",
        "held": "cancelled",
        "failed": "failed",
        "cancelled": "cancelled",
    }
    events = events_of(letters_in_every_state)
    assert {was for was, made in events.items() if made == ["cancelled"]} == {"queued", "sending", "deferred", "held"}
    assert events["sent"] == events["failed"] == events["cancelled"] == []


def test_holding_takes_letters_waiting_for_their_turn_and_releasing_gives_back_only_held_ones(letters_in_every_state):
    now = timezone.now()
    waiting = only(letters_in_every_state).filter(status__in=OutboxMessage.DUE)
    assert waiting.hold("a target paused", now) == 2
    assert only(letters_in_every_state).release("resumed", now) == 3  # the two just held, and the one held before

    after = states(letters_in_every_state)
    assert after["queued"] == after["deferred"] == after["held"] == "queued"
    assert after["sent"] == "sent" and after["failed"] == "failed" and after["cancelled"] == "cancelled"
    assert events_of(letters_in_every_state)["queued"] == ["held", "queued"]


def test_a_worker_moves_only_the_rows_it_leased(letters_in_every_state):
    now = timezone.now()
    mine = only(letters_in_every_state).leased_by("w")
    assert mine.defer(now + datetime.timedelta(minutes=1), "451 try later", now) == 1
    # The letter was cancelled meanwhile: the worker's deferral finds nothing to move, and it is not retried.
    assert (
        OutboxMessage.objects.filter(pk=letters_in_every_state["cancelled"]).leased_by("w").defer(now, "451", now) == 0
    )
    assert only(letters_in_every_state).leased_by("someone else").fail("550 no", now) == 0

    assert states(letters_in_every_state)["sending"] == "deferred"
    assert events_of(letters_in_every_state)["sending"] == ["deferred"]


def test_a_lease_claims_only_due_rows_and_an_expired_one_goes_back_to_the_queue(letters_in_every_state):
    now = timezone.now()
    every = list(letters_in_every_state.values())
    assert OutboxMessage.objects.lease(every, "w2", now, until=now - datetime.timedelta(seconds=1)) == 2
    leased = OutboxMessage.objects.filter(claimed_by="w2")
    assert set(leased.values_list("pk", flat=True)) == {
        letters_in_every_state["queued"],
        letters_in_every_state["deferred"],
    }
    assert {row.dated_at for row in leased} == {now}  # the Date header: the first attempt's time

    assert only(letters_in_every_state).reclaim_expired(now, "w3") == 2  # their lease ran out (the other's has none)
    assert states(letters_in_every_state)["queued"] == "queued"
    assert events_of(letters_in_every_state)["deferred"] == ["queued"]
