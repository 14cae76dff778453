"""A campaign's life: going live through the checklist, pausing, closing (queued letters go or not), archiving."""

from functools import partial

import pytest
from django.test import Client

from courrier.accounts.models import AuditEntry, Organisation
from courrier.campaigns import lifecycle
from courrier.campaigns.models import Campaign, Target
from courrier.delivery import cancellation
from courrier.delivery.enqueue import queue_letters
from courrier.delivery.models import DeliveryEvent, DigestEntry, OutboxMessage
from courrier.delivery.worker import Worker
from courrier.signatures.models import Signature
from tests.factories import OWN_PAGE, OWN_SLUG, confirmed_signatures
from tests.factories import organiser as shared_organiser
from tests.helpers import confirmation_path, deliver_everything, sign

pytestmark = pytest.mark.django_db

sign = partial(sign, slug=OWN_SLUG)
ENGLISH_PAGE = f"/en/c/{OWN_SLUG}/"


def organiser(username: str, organisation: Organisation, role: str) -> Client:
    return shared_organiser(username, organisation, role)


@pytest.fixture
def manager(own_campaign) -> Client:
    return organiser("manager", own_campaign.organisation, "manager")


def move(client: Client, move: str, campaign: Campaign, **extra):
    """A button of the studio's delivery page (its English version: the assertions read English)."""
    return client.post(f"/en/studio/c/{campaign.pk}/state/", {"move": move, **extra}, follow=True)


def status_of(campaign: Campaign) -> str:
    campaign.refresh_from_db()
    return campaign.status


# Pausing


def test_a_paused_campaign_shows_its_page_with_a_notice_and_takes_no_signature(own_campaign, manager, client):
    move(manager, "pause", own_campaign)
    assert status_of(own_campaign) == Campaign.Status.PAUSED
    page = client.get(ENGLISH_PAGE).content.decode()
    assert "Signing is paused for the moment" in page
    assert 'class="sign-form"' not in page
    assert f"Letter {OWN_SLUG}" in page  # the letter is still there to read
    assert "signing paused" in client.get("/en/").content.decode()  # still listed, marked

    response = sign(client)
    assert response.status_code == 302 and response["Location"].endswith(OWN_PAGE)
    assert not Signature.objects.exists()
    entry = AuditEntry.objects.get(action="pause")
    assert (entry.username, entry.object_id) == ("manager", str(own_campaign.pk))


def test_letters_confirmed_before_a_pause_keep_going_but_new_confirmations_wait(own_campaign, client, sandbox_in_tmp):
    Target.objects.update(pace_per_hour=3600)
    confirmed_signatures(own_campaign, 2)
    sign(client, email="late@example.org")
    deliver_everything()  # the confirmation e-mail of the late signer
    lifecycle.pause(own_campaign, None)
    deliver_everything()
    assert OutboxMessage.objects.filter(kind="letter", status="sent").count() == 2

    response = client.post(confirmation_path(sandbox_in_tmp).replace("/fr/", "/en/"))
    assert response.status_code == 410
    assert "Signing is paused" in response.content.decode()
    assert not Signature.objects.with_address("late@example.org").get().is_confirmed


def test_going_live_again_after_a_pause_needs_the_checklist(demo):
    lifecycle.pause(demo, None)
    manager = organiser("manager", demo.organisation, "manager")
    response = move(manager, "live", demo)
    assert status_of(demo) == Campaign.Status.PAUSED  # the founding letter's misspelled names block it
    assert "pre-publish checklist blocks going live" in response.content.decode()
    assert not AuditEntry.objects.filter(action="go_live").exists()


def test_going_live_once_the_checklist_passes_is_audited(own_campaign, manager, monkeypatch):
    lifecycle.pause(own_campaign, None)
    monkeypatch.setattr(lifecycle, "run_checklist", lambda campaign: [])
    move(manager, "live", own_campaign)
    assert status_of(own_campaign) == Campaign.Status.LIVE
    assert AuditEntry.objects.filter(action="go_live", username="manager").exists()


def test_an_editor_cannot_change_a_campaigns_status(own_campaign):
    editor = organiser("editor", own_campaign.organisation, "editor")
    response = move(editor, "pause", own_campaign)
    assert status_of(own_campaign) == Campaign.Status.LIVE
    assert response.status_code == 403


def test_another_organisations_manager_cannot_pause_it(own_campaign):
    outsider = organiser("outsider", Organisation.objects.create(name="Another group"), "manager")
    assert move(outsider, "pause", own_campaign).status_code == 404
    assert status_of(own_campaign) == Campaign.Status.LIVE


def test_a_transition_that_makes_no_sense_is_refused(own_campaign):
    lifecycle.pause(own_campaign, None)
    with pytest.raises(lifecycle.TransitionRefused):
        lifecycle.pause(own_campaign, None)
    lifecycle.archive(own_campaign, None)
    with pytest.raises(lifecycle.TransitionRefused):
        lifecycle.close(own_campaign, None)


# Closing


def test_a_closed_campaign_shows_its_closing_message_and_its_queued_letters_still_go(own_campaign, manager, client):
    own_campaign.closing_message = "Merci : 1 200 lettres sont parties.\nLa campagne continue autrement."
    own_campaign.save()
    confirmed_signatures(own_campaign, 3)
    queue_letters()  # queued, not sent yet
    move(manager, "close", own_campaign)
    assert status_of(own_campaign) == Campaign.Status.CLOSED

    page = client.get(ENGLISH_PAGE).content.decode()
    assert "This campaign is closed" in page
    assert "Merci : 1 200 lettres sont parties.<br>La campagne continue autrement." in page
    assert 'class="sign-form"' not in page
    assert sign(client, email="new@example.org").status_code == 302
    assert not Signature.objects.with_address("new@example.org").exists()

    Target.objects.update(pace_per_hour=3600)
    deliver_everything()
    assert OutboxMessage.objects.filter(kind="letter", status="sent").count() == 3
    assert AuditEntry.objects.filter(action="close", username="manager").exists()


def test_closing_and_cancelling_asks_first_then_stops_every_letter_not_sent_yet(own_campaign, manager):
    [sent] = confirmed_signatures(own_campaign, 1, prefix="sent")
    deliver_everything()
    # The office's pace leaves the next letter waiting in the outbox.
    Target.objects.update(next_send_at="2100-01-01T00:00:00Z")
    [queued] = confirmed_signatures(own_campaign, 1, prefix="queued")
    deliver_everything()
    # Confirmed, but the worker has not written its letter yet; and one held for review.
    [waiting] = confirmed_signatures(own_campaign, 1, prefix="waiting")
    [held] = confirmed_signatures(own_campaign, 1, prefix="held", moderation=Signature.Moderation.HELD)

    confirm = move(manager, "close_and_cancel", own_campaign)
    assert confirm.status_code == 200
    assert "3 letters not sent yet" in confirm.content.decode()
    assert status_of(own_campaign) == Campaign.Status.LIVE  # nothing happens before the organiser's word

    move(manager, "close_and_cancel", own_campaign, confirmed="yes")
    assert status_of(own_campaign) == Campaign.Status.CLOSED
    letter = OutboxMessage.objects.get(signature=queued, kind="letter")
    assert letter.status == OutboxMessage.Status.CANCELLED
    notes = DeliveryEvent.objects.filter(message=letter, status="cancelled").values_list("reply", flat=True)
    assert any("manager" in note for note in notes)  # the note is encrypted: read, then matched here
    assert OutboxMessage.objects.get(signature=sent, kind="letter").status == OutboxMessage.Status.SENT

    Signature.objects.filter(pk=held.pk).update(moderation=Signature.Moderation.APPROVED)  # approved too late
    deliver_everything()
    assert not OutboxMessage.objects.filter(signature__in=[waiting, held], kind="letter").exists()
    assert OutboxMessage.objects.filter(kind="letter", status="sent").count() == 1
    entry = AuditEntry.objects.get(action="close")
    assert "3" in entry.summary and entry.username == "manager"


def test_closing_and_cancelling_cancels_the_letters_waiting_for_a_digest(own_campaign):
    Target.objects.filter(role=Target.Role.TO).update(delivery_mode=Target.Mode.DIGEST)
    confirmed_signatures(own_campaign, 2)
    queue_letters()
    office = Target.objects.get(role=Target.Role.TO)
    assert DigestEntry.objects.pending().filter(target=office).count() == 2
    assert cancellation.pending_count(own_campaign) == 4  # two in the office's next digest, two letters to the copy

    assert cancellation.close_and_cancel(own_campaign, None) == 4

    assert not DigestEntry.objects.pending().exists()
    assert [(entry.listing, entry.body) for entry in DigestEntry.objects.all()] == [({}, "")] * 2  # erased too
    Worker().run_once()
    assert not OutboxMessage.objects.filter(kind=OutboxMessage.Kind.DIGEST).exists()


# Archiving


def test_an_archived_campaign_is_not_listed_its_page_is_a_short_notice_and_its_data_is_kept(
    own_campaign, manager, client
):
    confirmed_signatures(own_campaign, 2)
    move(manager, "archive", own_campaign)
    assert status_of(own_campaign) == Campaign.Status.ARCHIVED
    assert "Libérez les grévistes" not in client.get("/fr/").content.decode()
    response = client.get(ENGLISH_PAGE)
    assert response.status_code == 410
    html = response.content.decode()
    assert "This campaign has ended and is archived" in html
    assert 'class="sign-form"' not in html
    assert client.get("/fr/c/no-such-campaign/").status_code == 404
    assert sign(client).status_code == 404
    assert own_campaign.signatures.count() == 2
    assert AuditEntry.objects.filter(action="archive", username="manager").exists()
