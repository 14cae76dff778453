"""Bursts from one network: kept and answered as usual, but quarantined until a moderator lets them go."""

import datetime
from functools import partial

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.utils import timezone, translation
from django.utils.html import escape

from courrier.backoffice.progress import by_state
from courrier.campaigns.models import Target
from courrier.delivery.models import OutboxMessage
from courrier.delivery.progress import count_progress
from courrier.delivery.worker import Worker
from courrier.lib import bursts
from courrier.lib.bursts import network_of
from courrier.signatures.models import Signature
from tests import helpers
from tests.factories import OFFICE, OWN_SLUG, organiser
from tests.helpers import confirmation_path, decide, deliver_everything, held_queue, letters_to, maildir_messages

BURST = Signature.Moderation.BURST
NONE = Signature.Moderation.NONE

sign = partial(helpers.sign, slug=OWN_SLUG)


def counts_in_english(campaign) -> dict[str, int]:
    """The progress page's rows by state, by their English label (the site's own language is French)."""
    with translation.override("en"):
        return {str(row.label): row.count for row in by_state(count_progress(campaign))}


@pytest.fixture
def allowance(settings):
    """Three signatures with a proof per network in ten minutes, one without."""
    settings.SIGNING_BURST = "3/600"
    settings.SIGNING_BURST_UNPROVEN = "1/600"


@pytest.fixture
def manager(own_campaign) -> Client:
    return organiser("manager", own_campaign.organisation, "manager", language="en")


def from_address(address: str) -> Client:
    return Client(REMOTE_ADDR=address)


def moderation_of(address: str) -> str:
    return Signature.objects.with_address(address).get(is_duplicate=False).moderation


def test_networks_are_ipv4_slash_24_and_ipv6_slash_48():
    assert network_of("203.0.113.7") == network_of("203.0.113.250") == "203.0.113.0/24"
    assert network_of("203.0.114.7") != network_of("203.0.113.7")
    assert network_of("2001:db8:1:a::1") == network_of("2001:db8:1:ffff::2") == "2001:db8:1::/48"
    assert network_of("2001:db8:2::1") != network_of("2001:db8:1::1")
    assert network_of("::ffff:203.0.113.9") == "203.0.113.0/24"  # an IPv4 client of a dual-stack server


@pytest.mark.django_db
def test_a_burst_from_one_network_is_quarantined_and_answered_exactly_as_usual(own_campaign, allowance):
    responses = [sign(from_address(f"203.0.113.{n}"), email=f"s{n}@example.org") for n in range(1, 6)]

    assert [moderation_of(f"s{n}@example.org") for n in range(1, 6)] == [NONE, NONE, NONE, BURST, BURST]
    first, quarantined = responses[0], responses[4]
    assert quarantined.status_code == first.status_code == 302
    assert dict(quarantined.headers) == dict(first.headers)
    assert quarantined.cookies.keys() == first.cookies.keys()
    assert quarantined.content == first.content
    reason = Signature.objects.with_address("s4@example.org").get().moderation_reason
    assert reason == bursts.reason(proven=True)  # in the site's language, as the other moderation reasons
    # Another network is not concerned, and no address is kept in the cache's keys.
    sign(from_address("198.51.100.7"), email="elsewhere@example.org")
    assert moderation_of("elsewhere@example.org") == NONE
    assert not [key for key in cache._cache if "203.0.113" in key or "198.51.100" in key]


@pytest.mark.django_db
def test_an_ipv6_burst_counts_the_whole_slash_48(own_campaign, allowance):
    for n, address in enumerate(["2001:db8:1:a::1", "2001:db8:1:b::1", "2001:db8:1:c::1", "2001:db8:1:d::1"]):
        sign(from_address(address), email=f"v6-{n}@example.org")
    sign(from_address("2001:db8:2::1"), email="other-v6@example.org")

    assert moderation_of("v6-3@example.org") == BURST
    assert moderation_of("other-v6@example.org") == NONE


@pytest.mark.django_db
def test_signatures_without_a_proof_have_a_smaller_allowance(own_campaign, allowance):
    sign(from_address("192.0.2.1"), proof=False, email="nojs1@example.org")
    sign(from_address("192.0.2.2"), proof=False, email="nojs2@example.org")
    sign(from_address("192.0.2.3"), email="proven@example.org")

    assert moderation_of("nojs1@example.org") == NONE
    assert moderation_of("nojs2@example.org") == BURST
    assert moderation_of("proven@example.org") == NONE  # three in all: within the allowance with a proof
    assert Signature.objects.with_address("nojs2@example.org").get().moderation_reason == bursts.reason(proven=False)


@pytest.mark.django_db
def test_the_window_ends_and_the_network_signs_normally_again(own_campaign, allowance):
    for n in range(1, 5):
        sign(from_address(f"203.0.113.{n}"), email=f"s{n}@example.org")
    assert moderation_of("s4@example.org") == BURST

    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=11)):
        sign(from_address("203.0.113.5"), email="later@example.org")
    assert moderation_of("later@example.org") == NONE


# ---------- Through the worker and the back office ----------


def confirm_by_mail(sandbox, address: str) -> None:
    message = next(m for m in maildir_messages(sandbox) if m["To"] == address and "/confirm/" in m.get_content())
    assert Client().post(confirmation_path(message)).status_code == 302


def recount() -> None:
    Worker(clock=lambda: timezone.now() + datetime.timedelta(minutes=5)).run_once()  # the periodic tallies


@pytest.mark.django_db
def test_quarantined_letters_wait_unsent_and_uncounted_until_a_moderator_decides(
    own_campaign, allowance, manager, sandbox_in_tmp
):
    Target.objects.filter(campaign=own_campaign).update(pace_per_hour=1_000_000)  # no wait between letters
    names = ["Aigerim", "Bolat", "Dana", "Erlan", "Farida"]  # the last two come in the burst
    for n, name in enumerate(names, start=1):
        sign(
            from_address(f"203.0.113.{n}"),
            first_name=name,
            email=f"{name.lower()}@example.org",
            organisation=f"Union {name}",
            consent_list_organisation="on",
        )
    deliver_everything()  # every supporter gets their confirmation request, quarantined or not
    assert (
        manager.get(held_queue(own_campaign)).content.decode().count("burst") == 0
    )  # unconfirmed: not in the queue yet
    for name in names:
        confirm_by_mail(sandbox_in_tmp, f"{name.lower()}@example.org")
    for _ in range(3):
        deliver_everything()
    recount()

    erlan = Signature.objects.with_address("erlan@example.org").get()
    farida = Signature.objects.with_address("farida@example.org").get()
    assert letters_to(sandbox_in_tmp, "Erlan", OFFICE) == letters_to(sandbox_in_tmp, "Farida", OFFICE) == []
    assert set(OutboxMessage.objects.filter(signature=erlan).values_list("kind", flat=True)) == {"confirmation"}
    assert len(letters_to(sandbox_in_tmp, "Dana", OFFICE)) == 1
    own_campaign.refresh_from_db()
    assert own_campaign.tally_letters == 3
    assert "Union Erlan" not in own_campaign.tally_organisations
    assert counts_in_english(own_campaign)["Quarantined: a burst from one network, waiting for review"] == 2
    # The page says the letter is queued, as for any letter waiting for its turn.
    confirmation = next(m for m in maildir_messages(sandbox_in_tmp) if m["To"] == "erlan@example.org")
    assert 'data-state="queued"' in Client().get(confirmation_path(confirmation)).content.decode()

    queue = manager.get(held_queue(own_campaign)).content.decode()
    assert "Erlan" in queue and "Farida" in queue and "Dana" not in queue
    assert queue.count(escape(bursts.reason(proven=True))) == 2

    assert decide(manager, own_campaign, "approve", erlan).status_code == 302
    assert decide(manager, own_campaign, "reject", farida).status_code == 302
    for _ in range(3):
        deliver_everything()
    recount()

    assert len(letters_to(sandbox_in_tmp, "Erlan", OFFICE)) == 1
    assert letters_to(sandbox_in_tmp, "Farida", OFFICE) == []
    own_campaign.refresh_from_db()
    assert own_campaign.tally_letters == 4
    assert "Union Erlan" in own_campaign.tally_organisations and "Union Farida" not in own_campaign.tally_organisations
    erlan.refresh_from_db()
    farida.refresh_from_db()
    assert (erlan.moderation, farida.moderation) == (Signature.Moderation.APPROVED, Signature.Moderation.REJECTED)
