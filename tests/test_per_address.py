"""What one e-mail address can be made to receive, and what signing with it reveals: nothing, and not much."""

import datetime
import statistics
import time

import pytest
from django.test import Client
from django.utils import timezone

from courrier.delivery import enqueue
from courrier.delivery.models import OutboxMessage
from courrier.lib import proof_of_work
from courrier.lib.crypto import email_digest
from courrier.signatures.models import Signature
from tests.conftest import wait_until
from tests.helpers import SIGN_URL, confirmation_path, maildir_messages, same_page, sign, signature_form

VICTIM = "victim@example.org"


def mails_to(sandbox, address: str) -> list:
    return [m for m in maildir_messages(sandbox) if m["To"] == address]


# ---------- No inbox bombing ----------


def test_the_worker_sends_one_address_at_most_three_mails_a_day_but_the_signatures_are_kept(
    demo, start_worker, sandbox_in_tmp
):
    # Someone types a stranger's address five times (from five networks, each with a solved proof),
    # and a genuine supporter signs once.
    for n in range(5):
        assert sign(Client(REMOTE_ADDR=f"198.51.{n}.1"), email=VICTIM, first_name=f"Not {n}").status_code == 302
    assert sign(Client(REMOTE_ADDR="192.0.2.1"), email="supporter@example.org").status_code == 302
    start_worker()

    def all_handled() -> bool:
        pending = Signature.objects.filter(confirmation_queued_at__isnull=True).exists()
        unsent = OutboxMessage.objects.exclude(status=OutboxMessage.Status.SENT).exists()
        return not pending and not unsent

    wait_until(all_handled, message="the worker to handle every signature")

    received = mails_to(sandbox_in_tmp, VICTIM)
    assert len(received) == 3  # one confirmation request and two "already signed" notices
    assert len(mails_to(sandbox_in_tmp, "supporter@example.org")) == 1  # the cap is per address
    assert Signature.objects.with_address(VICTIM).count() == 5  # every signature is still recorded
    kinds = sorted(OutboxMessage.objects.filter(recipient_digest=email_digest(VICTIM)).values_list("kind", flat=True))
    assert kinds == ["already_signed", "already_signed", "confirmation"]

    # What the address owner asked for is not capped: once they confirm, their copy of the letter comes.
    confirmation = next(m for m in received if "/confirm/" in m.get_content())
    assert Client().post(confirmation_path(confirmation)).status_code == 302
    wait_until(lambda: len(mails_to(sandbox_in_tmp, VICTIM)) == 4, message="the copy of the letter")


@pytest.mark.django_db
def test_the_cap_counts_only_the_last_24_hours(demo, settings):
    settings.SUPPORTER_MAILS_PER_DAY = 1
    sign(Client(REMOTE_ADDR="192.0.2.1"), email=VICTIM)
    yesterday = timezone.now() - datetime.timedelta(hours=25)
    assert enqueue.queue_confirmations(yesterday) == 1
    sign(Client(REMOTE_ADDR="192.0.2.2"), email=VICTIM)  # a day later: counted afresh
    assert enqueue.queue_confirmations() == 1
    sign(Client(REMOTE_ADDR="192.0.2.3"), email=VICTIM)  # the same day: over the cap of one
    assert enqueue.queue_confirmations() == 1

    assert sorted(OutboxMessage.objects.values_list("kind", flat=True)) == ["already_signed", "confirmation"]
    assert set(OutboxMessage.objects.values_list("recipient_digest", flat=True)) == {email_digest(VICTIM)}


# ---------- No enumeration ----------


def fresh_proof() -> str:
    challenge = proof_of_work.new_challenge()
    return proof_of_work.encode(challenge, proof_of_work.solve(challenge))


@pytest.mark.django_db
def test_an_address_that_already_signed_gets_exactly_the_answer_of_a_new_one(demo, client):
    assert sign(client, email="first@example.org").status_code == 302

    new = sign(client, email="second@example.org")
    again = sign(client, email="first@example.org")

    assert again.status_code == new.status_code == 302
    assert dict(again.headers) == dict(new.headers)
    assert again.cookies.keys() == new.cookies.keys()
    assert again.content == new.content
    assert same_page(client.get(again["Location"])) == same_page(client.get(new["Location"]))


@pytest.mark.django_db(transaction=True)  # autocommit, as in production: each INSERT commits on its own
def test_timing_equal_duplicate_signing_median_difference_under_5_ms_over_1000_tries(demo, settings):
    settings.SIGNING_RATE_LIMIT = settings.SIGNING_BURST = settings.SIGNING_BURST_UNPROVEN = "1000000/3600"
    client = Client()
    assert sign(client, email="already@example.org").status_code == 302
    proofs = [fresh_proof() for _ in range(2 * 1000 + 20)]

    def timed(address: str) -> float:
        form = {**signature_form(email=address), "proof": proofs.pop()}
        start = time.perf_counter()
        response = client.post(SIGN_URL, form)
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
