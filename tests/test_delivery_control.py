"""Keeping the campaign's mail welcome: pacing, office hours, pauses, digests, bounces, DKIM.

On a campaign of the tests' own (the own_campaign fixture): one office To, one ally in copy.
"""

import base64
import datetime
import io
import itertools
import re
import subprocess
import sys
import zoneinfo
from collections import Counter

import dkim
import pytest
from django.utils import timezone
from pypdf import PdfReader

from courrier.campaigns.models import Campaign, Target
from courrier.delivery import enqueue, messages, target_pauses
from courrier.delivery.bounces import read_bounce, record_bounce
from courrier.delivery.compose import compose
from courrier.delivery.dkim import dkim_sign
from courrier.delivery.models import Bounce, OutboxMessage
from courrier.delivery.verp import REPLY, message_pk_from, signed_address, verp_address
from courrier.delivery.worker import Worker
from courrier.signatures.models import Signature
from tests.conftest import ROOT
from tests.factories import ALLY, OFFICE, confirmed_signatures, delivered_letters
from tests.helpers import dsn, letters, maildir_messages

pytestmark = pytest.mark.django_db
Status = OutboxMessage.Status


class Clock:
    """Simulated time for the worker: it moves only when the test says so."""

    def __init__(self, start: datetime.datetime):
        self.now = start

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += datetime.timedelta(**delta)


def test_ten_thousand_letters_to_one_target_never_exceed_its_pace_in_any_hour(own_campaign):
    start = datetime.datetime(2026, 11, 23, 8, 0, tzinfo=datetime.UTC)
    clock = Clock(start)
    own_campaign.targets.filter(role=Target.Role.CC).delete()
    own_campaign.targets.update(pace_per_hour=30)
    embassy = own_campaign.targets.get()
    queued = OutboxMessage.objects.bulk_create(
        OutboxMessage(
            kind=OutboxMessage.Kind.LETTER,
            campaign=own_campaign,
            message_id=f"<{i}@test>",
            from_name="A via Courrier",
            from_email="courrier@localhost",
            envelope_from="courrier@localhost",
            to=[embassy.email],
            subject="Lettre",
            body="Texte",
            pacing_key=messages.pacing_key([embassy]),
            created_at=start,
            next_attempt_at=start,
        )
        for i in range(10_000)
    )
    embassy.outbox.add(*queued)
    worker = Worker(clock=clock)
    for _minute in range(60 * 6):  # six hours, one pass a minute
        worker.run_once()
        clock.advance(minutes=1)
    sent = sorted(letters().filter(status=Status.SENT).values_list("sent_at", flat=True))
    per_hour = Counter(moment.replace(minute=0, second=0, microsecond=0) for moment in sent)
    assert list(per_hour.values()) == [30] * 6
    assert letters().filter(status=Status.QUEUED).count() == 10_000 - 180  # waiting, not lost
    # Spread evenly: two minutes apart.
    assert {(b - a).total_seconds() for a, b in itertools.pairwise(sent)} == {120.0}


def run_minutes(worker: Worker, clock: Clock, minutes: int) -> None:
    for _minute in range(minutes):
        worker.run_once()
        clock.advance(minutes=1)


def test_a_target_with_office_hours_receives_nothing_at_night_or_at_the_weekend(own_campaign):
    almaty = zoneinfo.ZoneInfo("Asia/Almaty")
    own_campaign.targets.update(office_hours_only=True, timezone="Asia/Almaty", office_opens=9, office_closes=18)
    clock = Clock(datetime.datetime(2026, 11, 27, 17, 0, tzinfo=almaty))  # a Friday
    confirmed_signatures(own_campaign, 200, clock.now)
    worker = Worker(clock=clock)
    run_minutes(worker, clock, 90)  # until 18:30
    assert letters().filter(status=Status.SENT).count() == 30
    assert Campaign.objects.get(pk=own_campaign.pk).tally_letters == 200  # counted as signed, queued or not
    clock.now = datetime.datetime(2026, 11, 28, 11, 0, tzinfo=almaty)  # Saturday late morning
    run_minutes(worker, clock, 60)
    assert letters().filter(status=Status.SENT).count() == 30
    clock.now = datetime.datetime(2026, 11, 30, 8, 0, tzinfo=almaty)  # Monday, before opening
    run_minutes(worker, clock, 120)
    assert letters().filter(status=Status.SENT).count() == 60
    for moment in letters().filter(status=Status.SENT).values_list("sent_at", flat=True):
        local = moment.astimezone(almaty)
        assert local.weekday() < 5 and 9 <= local.hour < 18, local


def test_pausing_a_target_holds_its_letters_and_resuming_sends_them(own_campaign):
    clock = Clock(timezone.now())
    own_campaign.targets.update(pace_per_hour=3600)
    embassy = own_campaign.targets.get(role=Target.Role.TO)
    confirmed_signatures(own_campaign, 5, clock.now)
    enqueue.queue_letters(clock.now)
    assert target_pauses.pause_target(embassy, "the office answered") == 5
    Worker(clock=clock).run_once()
    assert set(letters().values_list("status", flat=True)) == {Status.HELD}
    # A letter confirmed while the target is paused is held from the start.
    Signature.objects.create(
        campaign=own_campaign,
        first_name="Late",
        last_name="Signer",
        email="late@example.org",
        language="fr",
        letter_language="fr",
        consent_send=True,
        confirmed_at=clock.now,
        confirmation_queued_at=clock.now,
    )
    enqueue.queue_letters(clock.now)
    assert letters().filter(status=Status.HELD).count() == 6
    assert target_pauses.resume_target(embassy) == 6
    worker = Worker(clock=clock)
    for _ in range(10):
        clock.advance(seconds=2)
        worker.run_once()
    assert set(letters().values_list("status", flat=True)) == {Status.SENT}
    events = list(letters().first().events.values_list("status", flat=True))
    assert events == [Status.HELD, Status.QUEUED, Status.SENT]


def test_cancelling_held_letters_is_the_organisers_word_and_is_recorded(own_campaign):
    embassy = own_campaign.targets.get(role=Target.Role.TO)
    confirmed_signatures(own_campaign, 3, timezone.now())
    enqueue.queue_letters()
    target_pauses.pause_target(embassy, "address changed")
    assert target_pauses.cancel_held(embassy) == 3
    assert set(letters().values_list("status", flat=True)) == {Status.CANCELLED}
    assert "cancelled by an organiser" in letters().first().events.last().reply


def test_a_digest_target_gets_one_message_a_day_with_every_letter_in_a_pdf(own_campaign, sandbox_in_tmp):
    clock = Clock(timezone.now())
    own_campaign.targets.filter(role=Target.Role.TO).update(delivery_mode=Target.Mode.DIGEST, digest_period_hours=24)
    own_campaign.targets.update(pace_per_hour=3600)
    confirmed_signatures(
        own_campaign,
        3,
        clock.now,
        organisation="Қазақстан профодағы",
        organisation_role="төрайым",
        city="Алматы",
        personal_sentence="Бостандық!",
    )
    worker = Worker(clock=clock)
    worker.run_once()  # its first pass writes the letters, then the digest (periodic work runs at once)
    digests = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.DIGEST)
    assert digests.count() == 1
    # The ally still gets one e-mail per letter; the office gets them in the digest only.
    assert set(map(tuple, letters().values_list("to", flat=True))) == {(ALLY,)}
    for _ in range(5):
        clock.advance(seconds=30)
        worker.run_once()
    message = next(m for m in maildir_messages(sandbox_in_tmp) if m["To"] == OFFICE)
    assert "3 lettres" in message["Subject"]
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "Әсел Signer 0, төрайым, Қазақстан профодағы (Алматы)" in body
    attachment = next(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    pdf_text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(attachment.get_content())).pages)
    assert "Әсел Signer 2" in pdf_text.replace("\n", " ")
    assert "Қазақстан профодағы" in pdf_text
    # New letters wait for the next period; none is in two digests.
    Signature.objects.bulk_create(
        Signature(
            campaign=own_campaign,
            first_name="Nouveau",
            last_name=str(i),
            email=f"new{i}@example.org",
            language="fr",
            letter_language="fr",
            consent_send=True,
            confirmed_at=clock.now,
            confirmation_queued_at=clock.now,
        )
        for i in range(2)
    )
    worker.run_once()
    assert digests.count() == 1
    clock.advance(hours=24)
    worker.run_once()
    assert digests.count() == 2
    assert "2 lettres" in digests.order_by("pk").last().subject


def test_a_letter_written_after_a_digest_went_comes_in_the_next_one_whatever_its_signing_order(
    own_campaign, sandbox_in_tmp
):
    """A supporter who confirms late (or is approved by a moderator late) signed before those already listed."""
    clock = Clock(timezone.now())
    own_campaign.targets.filter(role=Target.Role.TO).update(delivery_mode=Target.Mode.DIGEST, digest_period_hours=24)
    own_campaign.targets.update(pace_per_hour=3600)
    late, early = (
        Signature.objects.create(
            campaign=own_campaign,
            first_name=name,
            last_name="Signer",
            email=f"{name.lower()}@example.org",
            language="fr",
            letter_language="fr",
            consent_send=True,
            confirmation_queued_at=clock.now,
        )
        for name in ("Late", "Early")
    )
    Signature.objects.filter(pk=early.pk).update(confirmed_at=clock.now)
    worker = Worker(clock=clock)
    worker.run_once()
    clock.advance(seconds=90)
    worker.run_once()
    digests = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.DIGEST).order_by("pk")
    assert digests.count() == 1 and "Early Signer" in digests[0].body and "Late Signer" not in digests[0].body

    Signature.objects.filter(pk=late.pk).update(confirmed_at=clock.now)
    worker.run_once()
    clock.advance(hours=24)
    worker.run_once()
    assert digests.count() == 2
    assert "Late Signer" in digests[1].body and "Early Signer" not in digests[1].body


def test_each_letter_has_its_own_signed_return_path(own_campaign, settings):
    settings.BOUNCE_EMAIL = "bounces@courrier.example"
    confirmed_signatures(own_campaign, 1, timezone.now())
    enqueue.queue_letters()
    letter = letters().get()
    address = verp_address(letter)
    shown = re.match(r"bounces\+(\d+)-[a-z2-7]{10}@courrier\.example$", address).group(1)
    assert message_pk_from(address) == letter.pk
    forged = address.replace(f"+{shown}-", f"+{int(shown) + 1}-")
    assert message_pk_from(forged) is None
    # The number is not the row's: a target cannot count the site's letters from it.
    assert int(shown) != letter.pk
    # A return path written before the ids were hidden still names its message.
    _, signature_part = address.split("-", 1)
    assert message_pk_from(f"bounces+{letter.pk}-{signature_part}") == letter.pk


def test_the_ids_in_our_addresses_are_a_keyed_permutation_that_tells_nothing_of_their_order():
    from courrier.lib import opaque_ids

    shown = [opaque_ids.hide(pk) for pk in range(1, 2001)]
    assert len(set(shown)) == 2000 and [opaque_ids.reveal(n) for n in shown] == list(range(1, 2001))
    rises = sum(later > earlier for earlier, later in itertools.pairwise(shown))
    assert 800 < rises < 1200, "consecutive ids look unrelated"
    assert opaque_ids.reveal(opaque_ids.hide(opaque_ids.LIMIT - 1)) == opaque_ids.LIMIT - 1
    assert opaque_ids.reveal(opaque_ids.LIMIT) is None


def test_the_ids_and_signatures_in_our_addresses_stay_those_of_mail_sent_before(settings):
    """Known answers: a bounce to an address written by an earlier version still finds its message."""
    from courrier.lib import opaque_ids

    settings.SECRET_KEY = "a known key for known answers, not secret"
    assert [opaque_ids.hide(pk) for pk in (0, 1, 123456, opaque_ids.LIMIT - 1)] == [
        179157614858880,
        91859444470217,
        46127829498114,
        147042936407406,
    ]
    assert signed_address("bounces@example.org", 123456) == "bounces+46127829498114-gg6mqil5br@example.org"
    assert signed_address("replies@example.org", 42, REPLY) == "replies+r193682869486617-y4tc75way5@example.org"


def test_a_bounce_piped_in_by_the_mta_fails_the_letter(own_campaign, process_env, transactional_db):
    own_campaign.targets.filter(role=Target.Role.CC).delete()  # the office alone: its bounce decides the letter
    [letter] = delivered_letters(own_campaign, 1)
    bounce = dsn(verp_address(letter), "5.1.1", diagnostic="550 5.1.1 user unknown", recipient=OFFICE)
    result = subprocess.run(
        [sys.executable, "manage.py", "ingestbounces"],
        input=bounce,
        cwd=ROOT,
        env=process_env(),
        capture_output=True,
        check=True,
    )
    assert b"recorded 1 bounce" in result.stdout
    letter.refresh_from_db()
    assert letter.status == Status.FAILED
    assert "5.1.1" in letter.last_reply


def test_a_forged_bounce_changes_nothing(own_campaign):
    confirmed_signatures(own_campaign, 1, timezone.now())
    enqueue.queue_letters()
    letter = letters().get()
    assert read_bounce(dsn(f"courrier+{letter.pk}-aaaaaaaaaa@localhost", "5.1.1", recipient=OFFICE)) == []
    assert read_bounce(dsn("someone@localhost", "5.1.1", recipient=OFFICE)) == []


def test_repeated_policy_blocks_pause_the_domains_targets_and_alert_staff(own_campaign, settings, tmp_path):
    settings.STAFF_ALERT_EMAIL = "staff@courrier.example"
    delivered_letters(own_campaign, 3)
    confirmed_signatures(own_campaign, 2, timezone.now(), prefix="later")
    enqueue.queue_letters()  # two more letters, not sent yet when the bounces come
    box = tmp_path / "bounces"
    import mailbox

    maildir = mailbox.Maildir(box, create=True)
    for letter in letters().order_by("pk")[:3]:
        maildir.add(dsn(verp_address(letter), "5.7.1", recipient=OFFICE))
    from django.core.management import call_command

    call_command("ingestbounces", maildir=str(box))
    assert list(maildir.keys()) == []  # read once, then removed
    embassy = own_campaign.targets.get(role=Target.Role.TO)
    assert embassy.is_paused
    assert "3 refus pour raison de politique (5.7.1) de ministry.example" in embassy.pause_reason
    assert not own_campaign.targets.get(role=Target.Role.CC).is_paused  # another domain
    assert letters().filter(status=Status.HELD).count() == 2  # the two not yet bounced
    alert = OutboxMessage.objects.get(kind=OutboxMessage.Kind.STAFF_ALERT)
    assert alert.to == ["staff@courrier.example"]
    assert OFFICE in alert.body
    assert Bounce.objects.count() == 3


def test_a_delay_notice_is_recorded_without_failing_the_letter(own_campaign):
    confirmed_signatures(own_campaign, 1, timezone.now())
    enqueue.queue_letters()
    letter = letters().get()
    for report in read_bounce(dsn(verp_address(letter), "4.4.7", diagnostic="delayed", recipient=OFFICE)):
        record_bounce(report)
    letter.refresh_from_db()
    assert letter.status == Status.QUEUED
    assert "4.4.7" in letter.events.last().reply


def test_letters_are_dkim_signed_when_a_key_is_configured(own_campaign, settings, tmp_path):
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    settings.DKIM_PRIVATE_KEY_FILE, settings.DKIM_DOMAIN, settings.DKIM_SELECTOR = str(key), "localhost", "s1"
    confirmed_signatures(own_campaign, 1, timezone.now(), personal_sentence="Еркіндік!")
    enqueue.queue_letters()
    signed = dkim_sign(compose(letters().get()))
    assert signed.startswith(b"DKIM-Signature:")
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name, timeout=5):
        assert name == b"s1._domainkey.localhost."
        return record

    assert dkim.verify(signed, dnsfunc=dns)
    assert not dkim.verify(signed.replace(b"Signer 0", b"Signer 9"), dnsfunc=dns)


def test_no_header_reveals_the_supporters_ip_address_or_browser(demo, client, sandbox_in_tmp):
    from tests.helpers import sign

    client.defaults.update(REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="SecretBrowser/1.0")
    sign(client)
    Worker().run_once()
    raw = (sandbox_in_tmp / "new").iterdir().__next__().read_bytes()
    assert b"203.0.113.9" not in raw
    assert b"SecretBrowser" not in raw
    assert b"X-Mailer" not in raw and b"User-Agent" not in raw


def test_a_failure_for_good_is_reported_to_staff_once(own_campaign, settings):
    settings.STAFF_ALERT_EMAIL = "staff@courrier.example"
    confirmed_signatures(own_campaign, 2, timezone.now())
    enqueue.queue_letters()
    letters().update(status=Status.FAILED, last_reply="550 5.1.1 no such user")
    Worker().run_once()
    Worker().run_once()
    alerts = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.STAFF_ALERT)
    assert alerts.count() == 1
    assert "2 messages n’ont pas pu être remis" in alerts.get().subject
    assert alerts.get().body.count("550 5.1.1 no such user") == 2


def test_repeated_policy_refusals_while_sending_pause_the_target_too(own_campaign, smtp_settings, smtp_sink, settings):
    settings.STAFF_ALERT_EMAIL = "staff@courrier.example"
    Campaign.objects.filter(pk=own_campaign.pk).update(real_delivery=True)
    own_campaign.targets.update(pace_per_hour=10_000_000)
    smtp_sink.replies = ["554 5.7.1 Service unavailable; client host blocked"] * 3
    confirmed_signatures(own_campaign, 5)
    enqueue.queue_letters()
    OutboxMessage.objects.filter(kind=OutboxMessage.Kind.COPY).delete()  # letters only, in one batch
    Worker().run_once()
    assert letters().filter(status=Status.FAILED).count() == 3
    assert letters().filter(status=Status.HELD).count() == 2  # claimed in the same batch: held, not sent
    assert len(smtp_sink.received) == 0
    assert all(target.is_paused for target in own_campaign.targets.all())
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.STAFF_ALERT).count() == 1
