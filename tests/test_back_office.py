"""Staff read the sandbox mailbox and the outbox in the back office; nobody else can."""

import datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from courrier.delivery import enqueue
from courrier.delivery.models import OutboxMessage
from courrier.delivery.worker import Worker
from courrier.signatures.models import Signature
from tests.factories import OWN_SLUG, confirmed_signatures
from tests.helpers import sign

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client():
    user = User.objects.create_superuser("staff", password="a long test password")
    client = Client()
    client.force_login(user)
    return client


def test_staff_read_every_sandboxed_message_in_the_back_office(own_campaign, client, staff_client):
    sign(client, slug=OWN_SLUG, first_name="Даурен", email="dauren@example.org")
    Worker().run_once()
    listing = staff_client.get("/admin/sandbox/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "dauren@example.org" in html
    key = html.split('href="/admin/sandbox/')[1].split("/")[0]
    message = staff_client.get(f"/admin/sandbox/{key}/").content.decode()
    assert "Bonjour," in message and "Даурен" not in message  # a confirmation request carries nothing typed
    assert "/fr/confirm/" in message
    assert staff_client.get("/admin/sandbox/no-such-message/").status_code == 404


def test_the_sandbox_and_the_outbox_are_closed_to_visitors(own_campaign, client):
    assert client.get("/admin/sandbox/").status_code == 302
    assert client.get("/admin/delivery/outboxmessage/").status_code == 302


def test_staff_see_outbox_states_and_every_attempt(own_campaign, client, staff_client):
    sign(client, slug=OWN_SLUG)
    Worker().run_once()
    page = staff_client.get("/admin/delivery/outboxmessage/").content.decode()
    assert "Sent" in page or "Envoyé" in page
    from courrier.delivery.models import OutboxMessage

    message = OutboxMessage.objects.get()
    detail = staff_client.get(f"/admin/delivery/outboxmessage/{message.pk}/change/").content.decode()
    assert message.message_id.strip("<>") in detail
    assert "sandbox:" in detail


def test_supporters_data_is_read_only_in_the_admin(own_campaign, client, staff_client):
    sign(client, slug=OWN_SLUG, first_name="Valikhan")
    from courrier.signatures.models import Signature

    signature = Signature.objects.get()
    response = staff_client.post(f"/admin/signatures/signature/{signature.pk}/change/", {"first_name": "Changed"})
    signature.refresh_from_db()
    assert signature.first_name == "Valikhan"
    assert response.status_code in (200, 302, 403)


def test_every_back_office_page_opens(own_campaign, client, staff_client):
    from courrier.delivery.models import Bounce, OutboxMessage

    sign(client, slug=OWN_SLUG)
    Worker().run_once()
    message = OutboxMessage.objects.first()
    Bounce.objects.create(message=message, status="5.7.1", recipient="paris@mfa.kz", domain="mfa.kz")
    target = own_campaign.targets.first()
    for path in [
        "/admin/",
        "/admin/campaigns/campaign/",
        f"/admin/campaigns/campaign/{own_campaign.pk}/change/",
        "/admin/campaigns/target/",
        f"/admin/campaigns/target/{target.pk}/change/",
        "/admin/accounts/organisation/",
        "/admin/signatures/signature/",
        "/admin/delivery/outboxmessage/",
        f"/admin/delivery/outboxmessage/{message.pk}/change/",
        "/admin/delivery/bounce/",
    ]:
        assert staff_client.get(path).status_code == 200, path


def test_organisers_pause_and_resume_a_target_from_the_back_office(own_campaign, staff_client):
    confirmed_signatures(own_campaign, 2)
    enqueue.queue_letters()
    embassy = own_campaign.targets.get(role="to")
    changelist = "/admin/campaigns/target/"
    response = staff_client.post(changelist, {"action": "pause", "_selected_action": [embassy.pk]}, follow=True)
    assert "2 lettres retenues" in response.content.decode()
    assert set(OutboxMessage.objects.filter(kind="letter").values_list("status", flat=True)) == {"held"}
    staff_client.post(changelist, {"action": "resume", "_selected_action": [embassy.pk]})
    assert set(OutboxMessage.objects.filter(kind="letter").values_list("status", flat=True)) == {"queued"}


def test_a_campaigns_signatures_are_listed_newest_first_by_the_date_they_were_signed(own_campaign, staff_client):
    older, newer = confirmed_signatures(own_campaign, 2)
    # Signed in the other order than their numbers: the list follows the date (the index), not the number.
    Signature.objects.filter(pk=older.pk).update(created_at=timezone.now())
    Signature.objects.filter(pk=newer.pk).update(created_at=timezone.now() - datetime.timedelta(days=1))
    for query in (f"campaign__id__exact={own_campaign.pk}", f"campaign={own_campaign.pk}"):
        listed = staff_client.get(f"/admin/signatures/signature/?{query}").context["cl"].result_list
        assert [s.pk for s in listed] == [older.pk, newer.pk], query
    everything = staff_client.get("/admin/signatures/signature/").context["cl"].result_list
    assert [s.pk for s in everything] == [newer.pk, older.pk], "across campaigns, the newest number first"
