"""Every recipient of a letter sees its signed return path, the embassy included: a report sent there may say
anything (security review, issue 12: finding 5). What it names is believed only within the letter's own reach."""

import mailbox

import pytest
from django.core.management import call_command
from django.utils import timezone

from courrier.campaigns.models import Target
from courrier.delivery import enqueue
from courrier.delivery.models import Bounce, OutboxMessage
from courrier.delivery.verp import verp_address
from courrier.delivery.worker import Worker
from tests.factories import OFFICE, confirmed_signatures, live_campaign
from tests.helpers import dsn, letters

pytestmark = pytest.mark.django_db
Status = OutboxMessage.Status


@pytest.fixture
def delivered(own_campaign, settings):
    """Five letters of the tests' own campaign, sent (to the sandbox), each with its signed return path."""
    settings.BLOCK_PAUSE_THRESHOLD = 3
    settings.STAFF_ALERT_EMAIL = "staff@courrier.example"
    own_campaign.targets.update(pace_per_hour=3600)
    confirmed_signatures(own_campaign, 5, timezone.now())
    enqueue.queue_letters()
    Worker().run_once()
    assert set(letters().values_list("status", flat=True)) == {Status.SENT}
    return list(letters().order_by("pk"))


def ingest(tmp_path, *reports: bytes) -> None:
    """The reports arrive as mail at the return paths, and the command reads them (here from a Maildir)."""
    box = mailbox.Maildir(tmp_path / "incoming", create=True)
    for report in reports:
        box.add(report)
    call_command("ingestbounces", maildir=str(tmp_path / "incoming"))


def test_a_report_naming_an_address_the_letter_was_not_sent_to_changes_nothing(delivered, tmp_path):
    letter = delivered[0]
    ingest(
        tmp_path,
        *(dsn(verp_address(letter), "5.7.1", recipient=f"postmaster{n}@gmail.example") for n in range(3)),
        dsn(verp_address(letter), "5.1.1", recipient="someone@elsewhere.example"),
    )
    letter.refresh_from_db()
    assert letter.status == Status.SENT
    assert not Bounce.objects.exists()
    assert not Target.objects.filter(paused_at__isnull=False).exists()


def test_three_reports_about_one_letter_are_one_refusal_and_pause_nothing(delivered, tmp_path):
    ingest(
        tmp_path,
        *(
            dsn(verp_address(delivered[0]), status, recipient=OFFICE, diagnostic=status)
            for status in ("5.7.1", "5.7.0", "5.7.26")
        ),
    )
    assert Bounce.objects.count() == 3  # each report is kept, for the organisers to read
    assert not Target.objects.filter(paused_at__isnull=False).exists()
    assert not OutboxMessage.objects.filter(kind=OutboxMessage.Kind.STAFF_ALERT).exists()


def test_policy_blocks_pause_only_the_targets_of_the_campaigns_whose_letters_were_refused(
    own_campaign, delivered, tmp_path
):
    other = live_campaign("other-organisation", to="london@ministry.example")  # another organisation, the same domain
    ingest(tmp_path, *(dsn(verp_address(letter), "5.7.1", recipient=OFFICE) for letter in delivered[:3]))

    office = own_campaign.targets.get(role=Target.Role.TO)
    assert office.is_paused
    assert not other.targets.get().is_paused
    assert not own_campaign.targets.get(role=Target.Role.CC).is_paused  # another domain
    assert letters().filter(status=Status.FAILED).count() == 3  # refused for the office, which they were sent to


def test_a_status_read_from_a_messages_free_text_never_pauses_a_target(delivered, tmp_path):
    def freetext(letter) -> bytes:
        return (
            f"From: someone@ministry.example\r\nTo: {verp_address(letter)}\r\nSubject: hello\r\n\r\n"
            "Our office is closed: 5.7.1 blocked, says the text.\r\n"
        ).encode()

    ingest(tmp_path, *(freetext(letter) for letter in delivered[:3]))
    assert not Target.objects.filter(paused_at__isnull=False).exists()
    assert not letters().filter(status=Status.FAILED).exists()  # two recipients: the text names neither


def test_a_bounce_without_an_address_concerns_a_single_recipient_letter_only(own_campaign, tmp_path):
    own_campaign.targets.filter(role=Target.Role.CC).delete()
    confirmed_signatures(own_campaign, 1, timezone.now())
    enqueue.queue_letters()
    Worker().run_once()
    letter = letters().get()
    freetext = (
        f"From: MAILER-DAEMON@mx.ministry.example\r\nTo: {verp_address(letter)}\r\nSubject: Undelivered\r\n\r\n"
        f"550 5.1.1 <{OFFICE}>: mailbox unavailable\r\n"
    ).encode()
    ingest(tmp_path, freetext)
    letter.refresh_from_db()
    assert letter.status == Status.FAILED
    assert Bounce.objects.get().recipient == OFFICE
