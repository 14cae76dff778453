"""A campaign's end date: it closes itself, and its targets marked for it receive the final hand-over with the
count, the organisations and the PDF of every letter; their answer comes back to the campaign."""

import datetime
import io
import sys

import pytest
from django.core.management import call_command
from django.utils import timezone
from pypdf import PdfReader

from courrier.accounts.models import AuditEntry
from courrier.campaigns.models import Campaign, Target
from courrier.delivery import hand_over
from courrier.delivery.models import Answer, OutboxMessage
from courrier.signatures import exports
from tests.factories import ALLY, OFFICE, OWN_PAGE, confirmed_signatures, organiser
from tests.helpers import deliver_everything, maildir_messages

pytestmark = pytest.mark.django_db

HAND_OVER = OutboxMessage.Kind.HAND_OVER


def ended(campaign: Campaign, hours_ago: float = 1) -> None:
    campaign.ends_at = timezone.now() - datetime.timedelta(hours=hours_ago)
    campaign.closing_message = "Merci : les lettres ont été remises."
    campaign.save()


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_past_its_end_date_the_campaign_closes_and_hands_every_letter_over(own_campaign, sandbox_in_tmp, client):
    Target.objects.filter(email=OFFICE).update(hand_over=True)
    confirmed_signatures(
        own_campaign, 3, first_name="Dana", organisation="Union des dockers", consent_list_organisation=True
    )
    deliver_everything()
    ended(own_campaign)

    deliver_everything()  # the worker's pass

    own_campaign.refresh_from_db()
    assert own_campaign.status == Campaign.Status.CLOSED
    assert AuditEntry.objects.filter(action="close", object_id=str(own_campaign.pk)).exists()
    assert "Merci : les lettres ont été remises." in client.get(OWN_PAGE).content.decode()
    [message] = OutboxMessage.objects.filter(kind=HAND_OVER)
    assert message.to == [OFFICE] and message.status == OutboxMessage.Status.SENT
    [mail] = [m for m in maildir_messages(sandbox_in_tmp) if m["To"] == OFFICE and m.get_content_type() != "text/plain"]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "3" in text and "Union des dockers" in text
    [pdf] = list(mail.iter_attachments())
    printed = pdf_text(pdf.get_content())
    assert printed.count("Dana") == 3
    assert mail["Reply-To"].addresses[0].addr_spec.startswith("courrier+h")
    # Nothing for a target not marked for it; nothing more at the next passes.
    assert not [m for m in OutboxMessage.objects.filter(kind=HAND_OVER) if ALLY in m.to]
    deliver_everything()
    assert hand_over.run(timezone.now()) == 0
    assert OutboxMessage.objects.filter(kind=HAND_OVER).count() == 1


def test_a_campaign_whose_end_date_is_still_ahead_keeps_going(own_campaign):
    Target.objects.filter(email=OFFICE).update(hand_over=True)
    own_campaign.ends_at = timezone.now() + datetime.timedelta(days=1)
    own_campaign.save()
    assert hand_over.run(timezone.now()) == 0
    own_campaign.refresh_from_db()
    assert own_campaign.status == Campaign.Status.LIVE


def test_a_large_hand_over_comes_in_parts_that_hold_every_letter(own_campaign, monkeypatch):
    monkeypatch.setattr(exports, "PDF_PART_SIZE", 2)
    Target.objects.filter(email=OFFICE).update(hand_over=True)
    for n in range(5):
        confirmed_signatures(own_campaign, 1, first_name="Ayan", prefix=f"part{n}")
    deliver_everything()
    ended(own_campaign)
    assert hand_over.run(timezone.now()) == 3
    messages = list(OutboxMessage.objects.filter(kind=HAND_OVER).order_by("pk"))
    assert [m.subject.endswith(f"(partie {n} sur 3)") for n, m in enumerate(messages, start=1)] == [True] * 3
    assert sum(pdf_text(bytes(m.attachment)).count("Ayan") for m in messages) == 5


def test_the_targets_answer_to_the_hand_over_comes_back_to_the_campaign(own_campaign, monkeypatch):
    Target.objects.filter(email=OFFICE).update(hand_over=True)
    confirmed_signatures(own_campaign, 1)
    deliver_everything()
    ended(own_campaign)
    hand_over.run(timezone.now())
    message = OutboxMessage.objects.get(kind=HAND_OVER)
    raw = (
        f"From: {OFFICE}\r\nTo: {message.reply_to}\r\nSubject: Re: the letters\r\nMessage-ID: <ho@ministry>\r\n\r\n"
        "We have received the letters and will answer in writing.\r\n"
    ).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    out = io.StringIO()
    call_command("ingestbounces", stdout=out, stderr=io.StringIO())
    assert "1 answer(s) to letters" in out.getvalue()
    answer = Answer.objects.get()
    assert (answer.target.email, answer.signature, answer.is_held) == (OFFICE, None, False)


def test_organisers_set_the_end_date_and_who_receives_the_hand_over_in_the_studio(own_campaign):
    manager = organiser("manager", own_campaign.organisation)
    url = f"/fr/studio/c/{own_campaign.pk}/options/"
    page = manager.get(url).content.decode()
    assert 'type="datetime-local"' in page and 'name="ends_at"' in page
    from tests.helpers import page_form

    form = page_form(manager, url) | {"ends_at": "2031-07-14T18:00"}
    assert manager.post(url, form).status_code == 302
    own_campaign.refresh_from_db()
    assert timezone.localtime(own_campaign.ends_at).strftime("%Y-%m-%d %H:%M") == "2031-07-14 18:00"
    assert 'name="targets-0-hand_over"' in manager.get(f"/fr/studio/c/{own_campaign.pk}/recipients/").content.decode()


def test_the_page_says_when_signing_closes(own_campaign, client):
    own_campaign.ends_at = timezone.make_aware(datetime.datetime(2031, 7, 14, 18, 0))
    own_campaign.save()
    page = client.get(OWN_PAGE.replace("/fr/", "/en/")).content.decode()
    assert 'id="ends-at"' in page and "Signing closes on July 14, 2031" in page


def test_a_target_is_handed_over_only_the_letters_addressed_to_it_and_not_cancelled(own_campaign):
    from courrier.delivery import cancellation

    ally = Target.objects.get(email=ALLY)
    own_campaign.targets.update(pace_per_hour=3_600_000)  # both letters go at once
    confirmed_signatures(own_campaign, 2, first_name="Before", prefix="before")
    deliver_everything()
    late = Target.objects.create(campaign=own_campaign, role="cc", name="Late", email="late@target.example")
    Target.objects.filter(pk__in=[ally.pk, late.pk]).update(hand_over=True)
    Target.objects.filter(email=OFFICE).update(next_send_at="2100-01-01T00:00:00Z")  # the next letter waits
    confirmed_signatures(own_campaign, 1, first_name="After", prefix="after")
    deliver_everything()
    ended(own_campaign)
    cancellation.close_and_cancel(own_campaign, None)  # the waiting letter will never be sent

    hand_over.run(timezone.now())

    by_target = {m.to[0]: pdf_text(bytes(m.attachment)) for m in OutboxMessage.objects.filter(kind=HAND_OVER)}
    assert by_target[ALLY].count("Before") == 2 and "After" not in by_target[ALLY]
    assert "late@target.example" not in by_target, "its only letter was cancelled: nothing to hand over"


def test_a_campaign_closed_by_hand_before_its_end_date_is_not_handed_over(own_campaign):
    from courrier.campaigns import lifecycle

    Target.objects.filter(email=OFFICE).update(hand_over=True)
    confirmed_signatures(own_campaign, 1)
    deliver_everything()
    lifecycle.close(own_campaign, None)
    ended(own_campaign, hours_ago=-0.0001)  # the end date comes right after
    Campaign.objects.filter(pk=own_campaign.pk).update(ends_at=timezone.now())
    assert hand_over.run(timezone.now() + datetime.timedelta(minutes=1)) == 0


def test_an_end_date_in_the_past_is_refused_in_the_studio(own_campaign):
    from tests.helpers import page_form

    manager = organiser("manager", own_campaign.organisation)
    url = f"/en/studio/c/{own_campaign.pk}/options/"
    answer = manager.post(url, page_form(manager, url) | {"ends_at": "2020-01-01T12:00"})
    assert answer.status_code == 200 and "Choose a date to come" in answer.content.decode()
    own_campaign.refresh_from_db()
    assert own_campaign.ends_at is None and own_campaign.status == Campaign.Status.LIVE
