"""What one e-mail address can be made to receive, and what signing with it reveals: nothing, and not much."""

import datetime
import statistics
import time

import pytest
from django.test import Client
from django.utils import timezone

from courrier.delivery import enqueue
from courrier.delivery.data_links import queue_data_links
from courrier.delivery.models import OutboxMessage
from courrier.lib import proof_of_work
from courrier.lib.crypto import email_digest
from courrier.signatures.models import Signature
from tests.conftest import wait_until
from tests.factories import OWN_PAGE, OWN_SLUG, live_campaign
from tests.helpers import confirmation_path, maildir_messages, same_page, sign, signature_form

VICTIM = "victim@example.org"


def mails_to(sandbox, address: str) -> list:
    return [m for m in maildir_messages(sandbox) if m["To"] == address]


# ---------- No inbox bombing ----------


def test_typing_an_address_again_and_again_sends_it_one_notice_and_cannot_delay_its_own_confirmation(
    own_campaign, start_worker, sandbox_in_tmp
):
    # The owner signed the campaign; a stranger types their address four more times (from four
    # networks, each with a solved proof), trying to fill the daily cap; then the owner signs another campaign.
    assert sign(Client(REMOTE_ADDR="192.0.2.1"), slug=OWN_SLUG, email=VICTIM).status_code == 302
    for n in range(4):
        assert (
            sign(Client(REMOTE_ADDR=f"198.51.{n}.1"), slug=OWN_SLUG, email=VICTIM, first_name=f"Not {n}").status_code
            == 302
        )
    live_campaign("second-campaign")
    assert sign(Client(REMOTE_ADDR="192.0.2.2"), slug="second-campaign", email=VICTIM).status_code == 302
    assert sign(Client(REMOTE_ADDR="192.0.2.3"), slug=OWN_SLUG, email="supporter@example.org").status_code == 302
    start_worker()

    def all_handled() -> bool:
        pending = Signature.objects.filter(confirmation_queued_at__isnull=True).exists()
        unsent = OutboxMessage.objects.exclude(status=OutboxMessage.Status.SENT).exists()
        return not pending and not unsent

    wait_until(all_handled, message="the worker to handle every signature")

    received = mails_to(sandbox_in_tmp, VICTIM)
    kinds = sorted(OutboxMessage.objects.filter(recipient_digest=email_digest(VICTIM)).values_list("kind", flat=True))
    assert kinds == ["already_signed", "confirmation", "confirmation"]  # one notice for four repeats
    assert len(received) == 3
    assert len(mails_to(sandbox_in_tmp, "supporter@example.org")) == 1  # the cap is per address
    assert Signature.objects.with_address(VICTIM).count() == 6  # every signature is still recorded
    second = next(m for m in received if "Campaign second-campaign" in m["Subject"])
    assert "/confirm/" in second.get_content()

    # What the address owner asked for is not capped: once they confirm, their copy of the letter comes.
    assert Client().post(confirmation_path(second)).status_code == 302
    wait_until(lambda: len(mails_to(sandbox_in_tmp, VICTIM)) == 4, message="the copy of the letter")


@pytest.mark.django_db
def test_a_confirmation_beyond_the_cap_waits_for_the_next_day_instead_of_vanishing(own_campaign, settings):
    settings.SUPPORTER_MAILS_PER_DAY = 1
    for slug in ("second-campaign", "third-campaign"):
        live_campaign(slug)
    now = timezone.now()
    sign(Client(REMOTE_ADDR="192.0.2.1"), slug=OWN_SLUG, email=VICTIM)
    assert enqueue.queue_confirmations(now - datetime.timedelta(hours=25)) == 1  # yesterday: its own window
    sign(Client(REMOTE_ADDR="192.0.2.2"), slug="second-campaign", email=VICTIM)
    sign(Client(REMOTE_ADDR="192.0.2.3"), slug="third-campaign", email=VICTIM)
    assert enqueue.queue_confirmations(now) == 2

    confirmations = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.CONFIRMATION).order_by("next_attempt_at")
    assert [c.campaign.slug for c in confirmations] == [OWN_SLUG, "second-campaign", "third-campaign"]
    _yesterdays, todays, waiting = confirmations
    assert todays.next_attempt_at == now  # a day after yesterday's: counted afresh
    assert waiting.status == OutboxMessage.Status.QUEUED
    assert waiting.next_attempt_at == now + datetime.timedelta(hours=24)
    assert Signature.objects.filter(confirmation_queued_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_notices_and_data_links_count_against_the_cap_but_never_push_a_confirmation_back(own_campaign, settings):
    settings.SUPPORTER_MAILS_PER_DAY = 2
    live_campaign("second-campaign")
    now = timezone.now()
    sign(Client(REMOTE_ADDR="192.0.2.1"), slug=OWN_SLUG, email=VICTIM)
    enqueue.queue_confirmations(now - datetime.timedelta(hours=1))
    sign(Client(REMOTE_ADDR="198.51.100.1"), slug=OWN_SLUG, email=VICTIM)  # a repeat: the notice
    Client().post("/fr/my-data/", {"email": VICTIM})  # a stranger asks for the address's data links
    enqueue.queue_confirmations(now)
    queue_data_links(now)
    sign(Client(REMOTE_ADDR="192.0.2.2"), slug="second-campaign", email=VICTIM)
    enqueue.queue_confirmations(now)

    due = dict(OutboxMessage.objects.filter(campaign__slug="second-campaign").values_list("kind", "next_attempt_at"))
    assert due[OutboxMessage.Kind.CONFIRMATION] == now  # two confirmations in 24 hours: within the cap
    notice = OutboxMessage.objects.get(kind=OutboxMessage.Kind.ALREADY_SIGNED)
    link = OutboxMessage.objects.get(kind=OutboxMessage.Kind.DATA_LINK)
    assert notice.next_attempt_at == now  # the second mail of the day
    assert link.next_attempt_at == now - datetime.timedelta(hours=1) + datetime.timedelta(hours=24)  # the third


@pytest.mark.django_db
def test_a_confirmation_request_carries_nothing_typed_with_it(own_campaign, sandbox_in_tmp):
    """The address has proved nothing yet: whoever typed it must not be able to write to it in our name."""
    lure = "Visit evil.example/login to keep your account"
    sign(Client(), slug=OWN_SLUG, email=VICTIM, first_name=lure, last_name=lure, city=lure, personal_sentence=lure)
    enqueue.queue_confirmations()

    confirmation = OutboxMessage.objects.get(kind=OutboxMessage.Kind.CONFIRMATION)
    assert lure not in confirmation.subject and lure not in confirmation.body and "evil" not in confirmation.body
    assert confirmation.body.startswith("Bonjour,\n")
    assert lure not in confirmation.from_name


# ---------- No enumeration ----------


def fresh_proof() -> str:
    challenge = proof_of_work.new_challenge()
    return proof_of_work.encode(challenge, proof_of_work.solve(challenge))


@pytest.mark.django_db
def test_an_address_that_already_signed_gets_exactly_the_answer_of_a_new_one(own_campaign, client):
    assert sign(client, slug=OWN_SLUG, email="first@example.org").status_code == 302

    new = sign(client, slug=OWN_SLUG, email="second@example.org")
    again = sign(client, slug=OWN_SLUG, email="first@example.org")

    assert again.status_code == new.status_code == 302
    assert dict(again.headers) == dict(new.headers)
    assert again.cookies.keys() == new.cookies.keys()
    assert again.content == new.content
    assert same_page(client.get(again["Location"])) == same_page(client.get(new["Location"]))


@pytest.mark.django_db(transaction=True)  # autocommit, as in production: each INSERT commits on its own
def test_timing_equal_duplicate_signing_median_difference_under_5_ms_over_1000_tries(own_campaign, settings):
    settings.SIGNING_RATE_LIMIT = settings.SIGNING_BURST = settings.SIGNING_BURST_UNPROVEN = "1000000/3600"
    client = Client()
    assert sign(client, slug=OWN_SLUG, email="already@example.org").status_code == 302
    proofs = [fresh_proof() for _ in range(2 * 1000 + 20)]

    def timed(address: str) -> float:
        form = {**signature_form(OWN_SLUG, email=address), "proof": proofs.pop()}
        start = time.perf_counter()
        response = client.post(OWN_PAGE + "sign/", form)
        elapsed = time.perf_counter() - start
        assert response.status_code == 302
        return elapsed

    for n in range(10):  # warm up both paths
        timed(f"warm{n}@example.org")
        timed("already@example.org")
    new, repeat = [], []
    for n in range(1000):
        if n % 2:  # alternate which goes first, so that neither always follows the other
            new.append(timed(f"new{n}@example.org"))
            repeat.append(timed("already@example.org"))
        else:
            repeat.append(timed("already@example.org"))
            new.append(timed(f"new{n}@example.org"))

    difference = abs(statistics.median(new) - statistics.median(repeat))
    assert difference < 0.005, (
        f"new {statistics.median(new) * 1000:.2f} ms, repeat {statistics.median(repeat) * 1000:.2f} ms"
    )
    assert Signature.objects.filter(is_duplicate=True).count() == 1010
