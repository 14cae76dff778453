"""The targets' answers come back through the campaign: a letter's Reply-To is a signed relay address of the
platform, what is written to it is matched to its letter, kept encrypted, passed on to the supporter who asked,
shown to the campaign's managers and, once they publish an excerpt, on the campaign page."""

import io
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.test import Client

from courrier.delivery import verp
from courrier.delivery.models import Answer, AnswerAttachment, OutboxMessage
from courrier.delivery.retention import erase_signature
from courrier.signatures.models import Signature
from tests.conftest import ROOT
from tests.factories import ALLY, OFFICE, OWN_PAGE, confirmed_signatures, organiser
from tests.helpers import deliver_everything, letters_to, maildir_messages, raw_row, sql_dump

pytestmark = pytest.mark.django_db

MARKER = "Réponse-témoin-7Q"  # in the target's answer: a dump of the database must not show it


def sent_letter(campaign, sandbox, **fields) -> tuple[Signature, object]:
    """One supporter's letter, written and "sent" to the sandbox by the worker; and the letter as received."""
    [signature] = confirmed_signatures(campaign, 1, first_name="Aigerim", prefix="aigerim", **fields)
    deliver_everything()
    [received] = letters_to(sandbox, "Aigerim", OFFICE)
    return signature, received


def answer_to(reply_to: str, sender: str = OFFICE, subject: str = "Re: your letter", **headers: str) -> bytes:
    lines = [f"From: The Office <{sender}>", f"To: {reply_to}", f"Subject: {subject}"]
    headers = {"Message-ID": "<answer-1@ministry.example>", **headers}
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    lines += ["Content-Type: text/plain; charset=utf-8", ""]
    lines += [f"Dear Sir or Madam, {MARKER}: the matter is under review.", ""]
    return "\r\n".join(lines).encode()


def ingest(raw: bytes) -> str:
    """The command as the MTA's pipe runs it: one message on standard input."""
    piped, sys.stdin = sys.stdin, io.TextIOWrapper(io.BytesIO(raw))
    try:
        out = io.StringIO()
        call_command("ingestbounces", stdout=out, stderr=io.StringIO())
    finally:
        sys.stdin = piped
    return out.getvalue()


def forwarded_to(sandbox, address: str) -> list:
    """The answers passed on to `address` (in the supporter's language: known by the answer's own words)."""
    return [m for m in maildir_messages(sandbox) if m["To"] == address and MARKER in m.get_content()]


def test_the_letters_reply_to_is_the_campaigns_relay_address_with_the_supporters_name(own_campaign, sandbox_in_tmp):
    signature, letter = sent_letter(own_campaign, sandbox_in_tmp)
    reply_to = letter["Reply-To"].addresses[0]
    assert reply_to.display_name == signature.full_name
    assert reply_to.addr_spec == verp.reply_address(signature.pk)
    assert verp.read_signed_address(reply_to.addr_spec) == (verp.REPLY, signature.pk)
    assert signature.email not in letter.as_string(), "the target never sees the supporter's address"


def test_the_supporters_own_address_goes_only_if_they_tick_the_box(own_campaign, sandbox_in_tmp):
    signature, letter = sent_letter(own_campaign, sandbox_in_tmp, consent_reply_direct=True)
    assert letter["Reply-To"].addresses[0].addr_spec == signature.email


def test_the_form_says_plainly_which_of_the_two_happens(own_campaign, client):
    page = client.get(OWN_PAGE.replace("/fr/", "/en/")).content.decode()
    assert "They do not see your e-mail address: their answers come back to the campaign" in page
    assert 'name="consent_reply_direct"' in page and "they will see my e-mail address" in page
    assert 'name="wants_answer"' in page


def test_a_targets_answer_is_matched_kept_encrypted_and_passed_on_to_the_supporter_who_asked(
    own_campaign, sandbox_in_tmp
):
    signature, letter = sent_letter(own_campaign, sandbox_in_tmp, wants_answer=True)
    [other] = confirmed_signatures(own_campaign, 1, prefix="other", wants_answer=True)
    deliver_everything()

    assert "1 answer(s) to letters" in ingest(answer_to(letter["Reply-To"].addresses[0].addr_spec))

    answer = Answer.objects.get()
    assert (answer.signature, answer.target.email, answer.automatic) == (signature, OFFICE, False)
    assert MARKER in answer.body
    assert MARKER not in str(raw_row(Answer, answer.pk, ["body"])) and MARKER not in sql_dump()
    deliver_everything()
    [passed_on] = forwarded_to(sandbox_in_tmp, signature.email)
    assert "> Dear Sir or Madam, " + MARKER in passed_on.get_content()
    assert passed_on["From"].addresses[0].addr_spec != OFFICE  # From the platform
    assert not forwarded_to(sandbox_in_tmp, other.email), "nobody else gets it"
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.ANSWER).count() == 1


def test_the_same_answer_read_twice_is_kept_once(own_campaign, sandbox_in_tmp):
    _signature, letter = sent_letter(own_campaign, sandbox_in_tmp, wants_answer=True)
    raw = answer_to(letter["Reply-To"].addresses[0].addr_spec)
    ingest(raw)
    ingest(raw)
    assert Answer.objects.count() == 1
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.ANSWER).count() == 1


def test_an_answer_is_not_passed_on_to_a_supporter_who_did_not_ask(own_campaign, sandbox_in_tmp):
    _signature, letter = sent_letter(own_campaign, sandbox_in_tmp)
    ingest(answer_to(letter["Reply-To"].addresses[0].addr_spec))
    assert Answer.objects.get().forwarded is None
    assert not OutboxMessage.objects.filter(kind=OutboxMessage.Kind.ANSWER).exists()


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"X-Autoreply": "yes"},
        {"Precedence": "auto_reply"},
        {"subject": "Out of office: back on Monday"},
    ],
)
def test_an_automatic_answer_is_counted_as_such_and_never_passed_on(own_campaign, sandbox_in_tmp, headers):
    _signature, letter = sent_letter(own_campaign, sandbox_in_tmp, wants_answer=True)
    ingest(answer_to(letter["Reply-To"].addresses[0].addr_spec, **headers))
    assert Answer.objects.get().automatic
    deliver_everything()
    assert not OutboxMessage.objects.filter(kind=OutboxMessage.Kind.ANSWER).exists()


def test_mail_to_a_forged_or_unknown_reply_address_is_ignored(own_campaign, sandbox_in_tmp):
    signature, letter = sent_letter(own_campaign, sandbox_in_tmp, wants_answer=True)
    genuine = letter["Reply-To"].addresses[0].addr_spec
    local, domain = genuine.split("@")
    forged = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
    unknown = verp.reply_address(signature.pk + 1000)
    for address in (forged, unknown, f"someone@{domain}"):
        ingest(answer_to(address))
    assert not Answer.objects.exists()


def test_an_answer_from_a_stranger_is_held_for_an_organiser_and_never_passed_on(own_campaign, sandbox_in_tmp):
    _signature, letter = sent_letter(own_campaign, sandbox_in_tmp, wants_answer=True)
    ingest(answer_to(letter["Reply-To"].addresses[0].addr_spec, sender="someone@elsewhere.example"))
    answer = Answer.objects.get()
    assert answer.is_held and answer.forwarded is None
    deliver_everything()
    assert not OutboxMessage.objects.filter(kind=OutboxMessage.Kind.ANSWER).exists()
    page = organiser("manager", own_campaign.organisation).get(f"/en/studio/c/{own_campaign.pk}/answers/")
    held = page.content.decode().split('id="held-answers"', 1)[1]
    assert "someone@elsewhere.example" in held and MARKER in held


OURS = "mx.courrier.example"


@pytest.mark.parametrize(
    ("results", "held"),
    [
        (f"{OURS}; dmarc=fail (p=reject) header.from=ministry.example", True),
        (f"{OURS}; dkim=fail header.d=ministry.example; spf=softfail smtp.mailfrom=ministry.example", True),
        (f"{OURS}; dkim=pass header.d=ministry.example; spf=fail smtp.mailfrom=ministry.example", False),
        (f"{OURS} 1; spf=pass smtp.mailfrom=ministry.example", False),
        # Another server's verdict: anyone can write one, so it counts for nothing.
        ("mx.attacker.example; dmarc=fail header.from=ministry.example", False),
    ],
)
def test_an_answer_our_mta_found_forged_is_held_as_a_strangers(own_campaign, sandbox_in_tmp, settings, results, held):
    settings.INBOUND_AUTHSERV_ID = OURS
    _signature, letter = sent_letter(own_campaign, sandbox_in_tmp, wants_answer=True)
    ingest(answer_to(letter["Reply-To"].addresses[0].addr_spec, Authentication_Results=results))
    answer = Answer.objects.get()
    assert answer.is_held is held
    assert (answer.forwarded is None) is held, "a forged answer is never passed on to the supporter"


def test_the_copy_recipient_answering_counts_for_its_own_target(own_campaign, sandbox_in_tmp):
    _signature, letter = sent_letter(own_campaign, sandbox_in_tmp)
    ingest(answer_to(letter["Reply-To"].addresses[0].addr_spec, sender=ALLY.upper()))
    assert Answer.objects.get().target.email == ALLY


def test_files_are_kept_within_the_limit_and_only_named_past_it(own_campaign, sandbox_in_tmp, settings):
    settings.ANSWER_ATTACHMENTS_MAX_BYTES = 1000
    _signature, letter = sent_letter(own_campaign, sandbox_in_tmp)
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = OFFICE, letter["Reply-To"].addresses[0].addr_spec, "Re"
    message["Message-ID"] = "<with-files@ministry.example>"
    message.set_content("Please find our position attached.")
    message.add_attachment(b"%PDF small" * 10, maintype="application", subtype="pdf", filename="position.pdf")
    message.add_attachment(b"x" * 5000, maintype="application", subtype="octet-stream", filename="annex.bin")
    ingest(message.as_bytes())
    files = {file.filename: file for file in AnswerAttachment.objects.all()}
    assert bytes(files["position.pdf"].content) == b"%PDF small" * 10
    assert files["annex.bin"].content is None and files["annex.bin"].size == 5000


def test_managers_see_the_answers_per_target_and_publish_an_excerpt_on_the_campaign_page(
    own_campaign, sandbox_in_tmp, client
):
    _signature, letter = sent_letter(own_campaign, sandbox_in_tmp)
    reply_to = letter["Reply-To"].addresses[0].addr_spec
    ingest(answer_to(reply_to))
    ingest(answer_to(reply_to, subject="Automatic reply", **{"Auto-Submitted": "auto-replied", "Message-ID": "<a2@x>"}))
    manager = organiser("manager", own_campaign.organisation)
    url = f"/en/studio/c/{own_campaign.pk}/answers/"
    page = manager.get(url).content.decode()
    office_row = page.split('id="answers-per-target"', 1)[1].split("</tr>")[1]
    assert "<td>1</td><td>1</td>" in office_row  # one answer by a person, one automatic
    assert MARKER in page
    assert organiser("editor", own_campaign.organisation, role="editor").get(url).status_code == 403

    public = client.get("/en/c/free-them/").content.decode()
    assert "1 recipient has answered the letters." in public and MARKER not in public
    answer = Answer.objects.get(automatic=False)
    published = manager.post(url + "publish/", {"answer": answer.pk, "text": "The matter is under review."})
    assert published.status_code == 302
    public = client.get("/en/c/free-them/").content.decode()
    assert "answered on" in public and "The matter is under review." in public and MARKER not in public

    # An automatic answer or another campaign's is not published, whatever is posted.
    automatic = Answer.objects.get(automatic=True)
    assert manager.post(url + "publish/", {"answer": automatic.pk, "text": "Invented"}).status_code == 404
    manager.post(url + "publish/", {"answer": answer.pk, "text": ""})
    assert "The matter is under review." not in Client().get("/en/c/free-them/").content.decode()


def test_erasing_the_supporters_data_erases_what_the_answers_say(own_campaign, sandbox_in_tmp):
    signature, letter = sent_letter(own_campaign, sandbox_in_tmp)
    ingest(answer_to(letter["Reply-To"].addresses[0].addr_spec))
    erase_signature(signature)
    answer = Answer.objects.get()
    assert (answer.body, answer.subject) == ("", "")
    assert answer.target.email == OFFICE, "that the office answered is still counted"


@pytest.mark.django_db(transaction=True)
def test_an_answer_piped_by_the_mta_into_the_command_comes_back_through_the_worker(
    own_campaign, sandbox_in_tmp, process_env, start_worker
):
    """Real processes: the worker writes the letter and passes the answer on; the MTA's pipe is a subprocess."""
    signature, letter = sent_letter(own_campaign, sandbox_in_tmp, wants_answer=True)
    start_worker()
    done = subprocess.run(
        [sys.executable, "manage.py", "ingestbounces"],
        input=answer_to(letter["Reply-To"].addresses[0].addr_spec),
        cwd=ROOT,
        env=process_env(),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert "1 answer(s) to letters" in done.stdout.decode()
    from tests.conftest import wait_until

    [passed_on] = wait_until(
        lambda: forwarded_to(sandbox_in_tmp, signature.email), message="the answer passed on by the worker"
    )
    assert MARKER in passed_on.get_content()


@pytest.mark.parametrize(
    ("rule", "pace", "mode"), [("keep", 30, "each"), ("slow", 7, "each"), ("digest", 30, "digest")]
)
def test_a_targets_first_answer_changes_what_its_organisers_chose(own_campaign, sandbox_in_tmp, rule, pace, mode):
    from courrier.accounts.models import AuditEntry
    from courrier.campaigns.models import Target

    Target.objects.filter(email=OFFICE).update(on_answer=rule, pace_per_hour=30)
    _signature, letter = sent_letter(own_campaign, sandbox_in_tmp)
    ingest(answer_to(letter["Reply-To"].addresses[0].addr_spec))
    office = Target.objects.get(email=OFFICE)
    assert (office.pace_per_hour, office.delivery_mode) == (pace, mode)
    assert AuditEntry.objects.filter(action="target_change").exists() == (rule != "keep")
    # A later answer changes nothing more: the organisers may have set it back.
    Target.objects.filter(pk=office.pk).update(pace_per_hour=30, delivery_mode="each")
    ingest(answer_to(letter["Reply-To"].addresses[0].addr_spec, **{"Message-ID": "<later@ministry.example>"}))
    assert Target.objects.filter(pk=office.pk, pace_per_hour=30, delivery_mode="each").exists()


def test_an_automatic_answer_or_a_strangers_changes_nothing(own_campaign, sandbox_in_tmp):
    from courrier.campaigns.models import Target

    Target.objects.filter(email=OFFICE).update(on_answer="digest")
    _signature, letter = sent_letter(own_campaign, sandbox_in_tmp)
    reply_to = letter["Reply-To"].addresses[0].addr_spec
    ingest(answer_to(reply_to, **{"Auto-Submitted": "auto-replied"}))
    ingest(answer_to(reply_to, sender="someone@elsewhere.example", **{"Message-ID": "<stranger@x>"}))
    assert Target.objects.get(email=OFFICE).delivery_mode == "each"


def test_a_leaked_reply_address_cannot_fill_the_database(own_campaign, sandbox_in_tmp, monkeypatch):
    from courrier.delivery import answers

    monkeypatch.setattr(answers, "MAX_ANSWERS_PER_ADDRESS", 3)
    _signature, letter = sent_letter(own_campaign, sandbox_in_tmp)
    for n in range(5):
        ingest(answer_to(letter["Reply-To"].addresses[0].addr_spec, **{"Message-ID": f"<flood-{n}@x>"}))
    assert Answer.objects.count() == 3


def test_one_answer_to_several_letters_is_kept_and_passed_on_for_each(own_campaign, sandbox_in_tmp):
    [first, second] = confirmed_signatures(own_campaign, 2, first_name="Aigerim", prefix="pair", wants_answer=True)
    deliver_everything()
    both = ", ".join(verp.reply_address(s.pk) for s in (first, second))
    ingest(answer_to(both))
    assert sorted(Answer.objects.values_list("signature_id", flat=True)) == sorted([first.pk, second.pk])
    deliver_everything()
    assert forwarded_to(sandbox_in_tmp, first.email) and forwarded_to(sandbox_in_tmp, second.email)


def test_a_supporter_is_passed_at_most_two_answers_of_one_target(own_campaign, sandbox_in_tmp):
    _signature, letter = sent_letter(own_campaign, sandbox_in_tmp, wants_answer=True)
    for n in range(4):
        ingest(answer_to(letter["Reply-To"].addresses[0].addr_spec, **{"Message-ID": f"<again-{n}@x>"}))
    assert Answer.objects.count() == 4
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.ANSWER).count() == 2


def test_the_excerpt_offered_to_publish_leaves_out_the_quoted_letter_and_the_supporter(own_campaign, sandbox_in_tmp):
    from courrier.delivery.answers import suggested_excerpt

    signature, letter = sent_letter(own_campaign, sandbox_in_tmp)
    reply_to = letter["Reply-To"].addresses[0].addr_spec
    body = (
        f"Dear {signature.full_name},\r\nThe ministry has opened an inquiry.\r\n\r\n"
        f"On 3 July, {signature.full_name} <{reply_to}> wrote:\r\n> Free them all.\r\n"
    )
    raw = answer_to(reply_to).replace(
        f"Dear Sir or Madam, {MARKER}: the matter is under review.".encode(), body.encode()
    )
    ingest(raw)
    offered = suggested_excerpt(Answer.objects.get())
    assert "The ministry has opened an inquiry." in offered
    assert signature.full_name not in offered and "Free them all" not in offered and "@" not in offered


def test_another_organisations_manager_sees_and_publishes_none_of_the_answers(own_campaign, sandbox_in_tmp):
    from courrier.accounts.models import Organisation

    _signature, letter = sent_letter(own_campaign, sandbox_in_tmp)
    ingest(answer_to(letter["Reply-To"].addresses[0].addr_spec))
    outsider = organiser("outsider", Organisation.objects.create(name="Another union"))
    url = f"/en/studio/c/{own_campaign.pk}/answers/"
    assert outsider.get(url).status_code == 404
    assert outsider.post(url + "publish/", {"answer": Answer.objects.get().pk, "text": "Planted"}).status_code == 404
    assert Answer.objects.get().published_at is None


def test_after_the_supporters_erasure_an_answer_keeps_only_that_it_came(own_campaign, sandbox_in_tmp):
    signature, letter = sent_letter(own_campaign, sandbox_in_tmp, wants_answer=True)
    reply_to = letter["Reply-To"].addresses[0].addr_spec
    ingest(answer_to(reply_to))
    from courrier.delivery.answers import publish

    publish(Answer.objects.get(), f"The matter is under review, {signature.full_name}.", None)
    erase_signature(signature)
    assert Answer.objects.get().published_text == "", "a published excerpt may name them: it goes too"
    ingest(answer_to(reply_to, **{"Message-ID": "<after-erasure@x>"}))
    later = Answer.objects.get(message_id="<after-erasure@x>")
    assert (later.body, later.subject, later.sender, later.attachments.count()) == ("", "", "", 0)
    assert later.target.email == OFFICE and later.forwarded is None
