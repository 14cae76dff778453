"""Follow-up letters: when the case changes, organisers open a second letter on the same campaign; each
supporter who signed and asked for news gets their own link, which sends it in their name with what they
gave, once, by one press (POST only), until it expires; the counter and progress show each letter apart."""

import datetime
import json
import re
import urllib.parse

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from courrier.campaigns.models import FollowUp, FollowUpLetter
from courrier.delivery import verp
from courrier.delivery.models import OutboxMessage
from courrier.signatures.models import FollowUpSignature, Signature
from courrier.signatures.tokens import follow_up_token
from tests.factories import ALLY, OFFICE, OWN_PAGE, confirmed_signatures, live_campaign, organiser, signature
from tests.helpers import body_text, decoded_header, deliver_everything, letters_to, maildir_messages

pytestmark = pytest.mark.django_db

NAME = "Après le verdict du 14 mars"
SUBJECT = "Verdict : nous demandons leur libération"
LETTER = "Monsieur l'Ambassadeur,\n\nLe tribunal les a condamnés. Nous demandons leur libération.\n\n{signature}"
WHAT_CHANGED = "Le verdict est tombé : cinq ans de prison. Écrivons de nouveau."


@pytest.fixture(autouse=True)
def unpaced(own_campaign):
    """Letters to the targets leave as fast as the worker writes them (pacing is tested on its own): a
    follow-up letter would otherwise wait its turn behind the first."""
    own_campaign.targets.update(pace_per_hour=3600)


@pytest.fixture
def manager(own_campaign):
    return organiser("camille", own_campaign.organisation, email="camille@group.example")


def write_follow_up(campaign, **letters) -> FollowUp:
    """A draft follow-up with its letter in the campaign's language (and any `letters`: {language: subject})."""
    follow_up = FollowUp.objects.create(campaign=campaign, name=NAME)
    FollowUpLetter.objects.create(
        follow_up=follow_up, language=campaign.language, subject=SUBJECT, body=LETTER, invitation=WHAT_CHANGED
    )
    for language, subject in letters.items():
        FollowUpLetter.objects.create(
            follow_up=follow_up, language=language, subject=subject, body="Sir,\n\n{signature}", invitation="News."
        )
    return follow_up


def open_in_studio(client: Client, follow_up: FollowUp):
    """A manager opens it, once the supporters' first letters are written (as they are, long before)."""
    deliver_everything()
    url = f"/fr/studio/c/{follow_up.campaign_id}/follow-ups/{follow_up.pk}/state/"
    return client.post(url, {"action": "open", "confirm": "on"})


def invitations(sandbox) -> dict[str, object]:
    """The invitations in the sandbox mailbox, by the address they went to."""
    return {m["To"]: m for m in maildir_messages(sandbox) if NAME in decoded_header(m, "Subject")}


def link_in(invitation) -> str:
    """The path of the supporter's own link in their invitation."""
    url = re.search(r"https?://\S+/follow-up/\S+/", body_text(invitation)).group(0)
    return urllib.parse.urlsplit(url).path


def follow_up_letters(sandbox) -> list:
    return [m for m in maildir_messages(sandbox) if decoded_header(m, "Subject") == SUBJECT]


def test_opening_invites_only_the_supporters_who_asked_for_news_and_whose_letter_went(
    own_campaign, manager, sandbox_in_tmp
):
    [news] = confirmed_signatures(own_campaign, 1, prefix="news", consent_news=True)
    confirmed_signatures(own_campaign, 1, prefix="quiet")  # no news asked for
    confirmed_signatures(own_campaign, 1, prefix="rejected", consent_news=True, moderation="rejected")
    signature(own_campaign, "unconfirmed@example.org", confirmed=False, consent_news=True)
    follow_up = write_follow_up(own_campaign)
    opened = open_in_studio(manager, follow_up)
    assert opened.status_code == 302
    follow_up.refresh_from_db()
    assert follow_up.status == FollowUp.Status.OPEN and follow_up.invitees_count == 1
    deliver_everything()
    sent = invitations(sandbox_in_tmp)
    assert list(sent) == [news.email]
    text = body_text(sent[news.email])
    assert WHAT_CHANGED in text and SUBJECT in text and "unsubscribe" in text
    assert sent[news.email]["List-Unsubscribe"], "it is news: it says how to stop"
    assert not follow_up_letters(sandbox_in_tmp), "an invitation sends nothing by itself"
    # A second press opens nothing and invites nobody again.
    assert open_in_studio(manager, follow_up).status_code == 302
    deliver_everything()
    assert len(invitations(sandbox_in_tmp)) == 1


def test_one_press_sends_the_follow_up_in_the_supporters_name_once(own_campaign, manager, sandbox_in_tmp):
    [supporter] = confirmed_signatures(own_campaign, 1, first_name="Aigerim", consent_news=True, city="Lyon")
    follow_up = write_follow_up(own_campaign)
    open_in_studio(manager, follow_up)
    deliver_everything()
    link = link_in(invitations(sandbox_in_tmp)[supporter.email])
    opened = Client().get(link)
    assert opened.status_code == 200 and "no-store" in opened["Cache-Control"], "it shows the supporter's name"
    page = opened.content.decode()
    assert "Aigerim Signer 0" in page and "Le tribunal les a condamnés" in page and 'method="post"' in page
    assert not FollowUpSignature.objects.exists(), "opening the link changes nothing"
    sent = Client().post(link)
    assert sent.status_code == 200 and 'data-state="sent"' in sent.content.decode()
    again = Client().post(link)
    assert 'data-state="already_sent"' in again.content.decode()
    deliver_everything()
    [letter] = follow_up_letters(sandbox_in_tmp)
    assert letter["To"] == OFFICE and letter["Cc"] == ALLY
    assert "Aigerim Signer 0" in str(letter["From"]) and "Aigerim Signer 0" in body_text(letter)
    assert letter["Reply-To"].addresses[0].addr_spec == verp.reply_address(supporter.pk)
    assert supporter.email not in letter.as_string(), "the target never sees the supporter's address"
    row = OutboxMessage.objects.get(kind=OutboxMessage.Kind.LETTER, follow_up=follow_up)
    assert row.signature_id == supporter.pk
    # The supporter gets a copy of it, as of their first letter.
    copies = [m for m in maildir_messages(sandbox_in_tmp) if m["To"] == supporter.email and SUBJECT in body_text(m)]
    assert len(copies) == 2  # the invitation quotes it; the copy shows it as sent
    follow_up.refresh_from_db()
    assert follow_up.tally_letters == 1


def test_the_link_is_its_owners_alone_and_a_forged_or_expired_one_sends_nothing(
    own_campaign, manager, sandbox_in_tmp, settings
):
    first, second = confirmed_signatures(own_campaign, 2, consent_news=True)
    follow_up = write_follow_up(own_campaign)
    open_in_studio(manager, follow_up)
    token = follow_up_token(follow_up.pk, first)
    # Another supporter's id put in a link makes no link: the token is signed.
    payload, signed_part = token.split(":", 1)
    ids = json.loads(signing.b64_decode(payload.encode()))
    forged = signing.b64_encode(json.dumps([ids[0], second.pk, ids[2]]).encode()).decode() + ":" + signed_part
    assert Client().post(f"/fr/follow-up/{forged}/").status_code == 400
    # A supporter of another campaign, or another follow-up's number, opens nothing here.
    stranger = signature(live_campaign("elsewhere"), "stranger@example.org", consent_news=True)
    assert Client().post(f"/fr/follow-up/{follow_up_token(follow_up.pk, stranger)}/").status_code == 400
    assert Client().post(f"/fr/follow-up/{follow_up_token(follow_up.pk + 1, first)}/").status_code == 400
    settings.FOLLOW_UP_LINK_MAX_AGE_DAYS = 0
    expired = Client().post(f"/en/follow-up/{token}/")
    assert expired.status_code == 400 and "This link does not work" in expired.content.decode()
    assert not FollowUpSignature.objects.exists()
    # Within its age, it sends for its owner only.
    settings.FOLLOW_UP_LINK_MAX_AGE_DAYS = 30
    assert Client().post(f"/en/follow-up/{token}/").status_code == 200
    assert list(FollowUpSignature.objects.values_list("signature_id", flat=True)) == [first.pk]


def test_a_get_never_sends_and_a_closed_follow_up_takes_no_new_letter_but_sends_those_pressed(
    own_campaign, manager, sandbox_in_tmp
):
    early, late = confirmed_signatures(own_campaign, 2, consent_news=True)
    follow_up = write_follow_up(own_campaign)
    open_in_studio(manager, follow_up)
    for _ in range(3):
        Client().get(f"/fr/follow-up/{follow_up_token(follow_up.pk, early)}/")  # a mail scanner
    assert not FollowUpSignature.objects.exists()
    Client().post(f"/fr/follow-up/{follow_up_token(follow_up.pk, early)}/")
    closed = manager.post(f"/fr/studio/c/{own_campaign.pk}/follow-ups/{follow_up.pk}/state/", {"action": "close"})
    assert closed.status_code == 302
    refused = Client().post(f"/fr/follow-up/{follow_up_token(follow_up.pk, late)}/")
    assert refused.status_code == 409 and 'data-state="closed"' in refused.content.decode()
    deliver_everything()
    assert [m["From"] for m in follow_up_letters(sandbox_in_tmp)] == [
        letters_to(sandbox_in_tmp, "Signer 0", OFFICE)[0]["From"]
    ]
    assert len(follow_up_letters(sandbox_in_tmp)) == 1


def test_a_supporter_who_erased_their_data_or_was_rejected_sends_nothing(own_campaign, manager, sandbox_in_tmp):
    from courrier.delivery.retention import erase_signature

    erased, rejected = confirmed_signatures(own_campaign, 2, consent_news=True)
    follow_up = write_follow_up(own_campaign)
    open_in_studio(manager, follow_up)
    erased_link = f"/fr/follow-up/{follow_up_token(follow_up.pk, erased)}/"
    erase_signature(erased)
    assert Client().post(erased_link).status_code == 400
    # Pressed, then rejected in review before the worker came: the letter does not go.
    Client().post(f"/fr/follow-up/{follow_up_token(follow_up.pk, rejected)}/")
    Signature.objects.filter(pk=rejected.pk).update(moderation=Signature.Moderation.REJECTED)
    deliver_everything()
    assert not follow_up_letters(sandbox_in_tmp)


def test_the_counter_and_the_progress_page_show_each_letter_apart(own_campaign, manager, sandbox_in_tmp):
    supporters = confirmed_signatures(own_campaign, 3, consent_news=True)
    follow_up = write_follow_up(own_campaign)
    open_in_studio(manager, follow_up)
    for supporter in supporters[:2]:
        Client().post(f"/fr/follow-up/{follow_up_token(follow_up.pk, supporter)}/")
    deliver_everything()
    own_campaign.refresh_from_db()
    assert own_campaign.tally_letters == 3, "the campaign's counter counts its own letter"
    page = Client().get(OWN_PAGE).content.decode()
    assert f"{NAME} : 2 lettres" in page or f"{NAME} : 2 lettres" in page
    progress = manager.get(f"/en/studio/c/{own_campaign.pk}/progress/").content.decode()
    each = progress[progress.index('id="each-letter"') :]
    each = each[: each.index("</table>")]
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th><td>(\d+)</td><td>(\d+)</td></tr>", each)
    assert rows == [("The campaign&#x27;s letter", "3", "3"), (NAME, "2", "2")]
    by_state = progress[progress.index('id="by-state"') :]
    assert re.search(r"Letters kept in the sandbox mailbox</th><td>3<", by_state), "the first letters alone"


def test_opening_asks_for_the_letter_in_the_campaigns_language_and_is_a_managers_act(
    own_campaign, manager, sandbox_in_tmp
):
    editor = organiser("eli", own_campaign.organisation, role="editor", email="eli@group.example")
    follow_up = FollowUp.objects.create(campaign=own_campaign, name=NAME)
    FollowUpLetter.objects.create(follow_up=follow_up, language="en", subject="S", body="B", invitation="I")
    assert open_in_studio(editor, follow_up).status_code == 403
    refused = manager.post(
        f"/en/studio/c/{own_campaign.pk}/follow-ups/{follow_up.pk}/state/",
        {"action": "open", "confirm": "on"},
        follow=True,
    )
    assert "Write the letter in the campaign" in refused.content.decode()
    follow_up.refresh_from_db()
    assert follow_up.status == FollowUp.Status.DRAFT


def test_the_studio_writes_a_follow_up_in_two_languages_and_shows_it_as_a_target_reads_it(own_campaign, manager):
    made = manager.post(f"/en/studio/c/{own_campaign.pk}/follow-ups/", {"name": NAME})
    follow_up = FollowUp.objects.get()
    assert made["Location"] == f"/en/studio/c/{own_campaign.pk}/follow-ups/{follow_up.pk}/"
    url = made["Location"]
    half = manager.post(url, {"follow-up-name": NAME, "fr-subject": SUBJECT})
    assert half.status_code == 200 and "Fill this in too" in half.content.decode()
    assert not follow_up.letters.exists(), "nothing is kept of a refused form"
    saved = manager.post(
        url,
        {
            "follow-up-name": NAME,
            "fr-subject": SUBJECT,
            "fr-body": LETTER,
            "fr-invitation": WHAT_CHANGED,
            "en-subject": "Verdict: we ask for their release",
            "en-body": "Dear Ambassador,\n\n{signature}",
            "en-invitation": "The verdict came: five years.",
        },
    )
    assert saved.status_code == 302
    assert sorted(follow_up.letters.values_list("language", flat=True)) == ["en", "fr"]
    page = manager.get(url).content.decode()
    reading = page.split("As a target reads it</h2>")[1].split("</pre>")[0]
    assert "Camille Martin" in reading and "{signature}" not in reading
    listed = manager.get(f"/en/studio/c/{own_campaign.pk}/follow-ups/").content.decode()
    assert NAME in listed and "Draft" in listed


def test_real_processes_the_link_sends_the_second_letter_once_and_only_for_its_owner(
    own_campaign, manager, sandbox_in_tmp, web_server, start_worker
):
    """gunicorn serves the link, the worker invites and writes the letters: as production runs them."""
    import urllib.request

    from tests.conftest import wait_until

    owner, other = confirmed_signatures(own_campaign, 2, first_name="Dana", consent_news=True)
    follow_up = write_follow_up(own_campaign)
    open_in_studio(manager, follow_up)
    start_worker()
    sent = wait_until(lambda: len(invitations(sandbox_in_tmp)) == 2 and invitations(sandbox_in_tmp), timeout=60)
    link = web_server + link_in(sent[owner.email])
    with urllib.request.urlopen(link, timeout=10) as page:
        assert 'method="post"' in page.read().decode()
    for _press in range(2):
        pressed = urllib.request.Request(link, data=b"", method="POST", headers={"Origin": web_server})
        with urllib.request.urlopen(pressed, timeout=10) as answer:
            assert answer.status == 200
    [letter] = wait_until(lambda: follow_up_letters(sandbox_in_tmp), timeout=60, message="the follow-up letter")
    assert "Dana Signer 0" in str(letter["From"]) and letter["To"] == OFFICE
    wait_until(lambda: FollowUp.objects.get(pk=follow_up.pk).tally_letters == 1, timeout=30)
    assert FollowUpSignature.objects.filter(signature=other).count() == 0
    assert len(follow_up_letters(sandbox_in_tmp)) == 1


def test_a_digest_target_gets_each_letter_in_a_digest_of_its_own(own_campaign, manager, sandbox_in_tmp):
    from courrier.campaigns.models import Target
    from courrier.delivery.digests import queue_due_digests

    # Its last digest went just now: the next is due in a day, with both letters waiting.
    Target.objects.filter(email=ALLY).update(delivery_mode=Target.Mode.DIGEST, last_digest_at=timezone.now())
    [supporter] = confirmed_signatures(own_campaign, 1, consent_news=True)
    follow_up = write_follow_up(own_campaign)
    open_in_studio(manager, follow_up)
    Client().post(f"/fr/follow-up/{follow_up_token(follow_up.pk, supporter)}/")
    deliver_everything()
    assert queue_due_digests(timezone.now() + datetime.timedelta(days=1, minutes=1)) == 2
    digests = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.DIGEST).order_by("pk")
    assert [(d.follow_up_id, d.subject) for d in digests] == [
        (None, "1 lettre : Lettre free-them"),
        (follow_up.pk, f"1 lettre : {SUBJECT}"),
    ]


def test_closing_with_cancellation_closes_the_follow_ups_and_cancels_the_letters_not_written(
    own_campaign, manager, sandbox_in_tmp
):
    from courrier.delivery.cancellation import close_and_cancel

    early, late = confirmed_signatures(own_campaign, 2, consent_news=True)
    follow_up = write_follow_up(own_campaign)
    open_in_studio(manager, follow_up)
    Client().post(f"/fr/follow-up/{follow_up_token(follow_up.pk, early)}/")
    assert close_and_cancel(own_campaign, manager.user) == 1
    follow_up.refresh_from_db()
    assert follow_up.status == FollowUp.Status.CLOSED
    # The invitations not sent yet are cancelled too: they would only lead to a closed page.
    waiting = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.FOLLOW_UP_INVITATION)
    assert not waiting.not_sent_yet().exists()
    assert Client().post(f"/fr/follow-up/{follow_up_token(follow_up.pk, late)}/").status_code == 409
    deliver_everything()
    assert not follow_up_letters(sandbox_in_tmp)
    follow_up.refresh_from_db()
    assert follow_up.tally_letters == 0


def test_without_a_recipient_to_write_to_a_follow_up_cannot_open_and_pressed_letters_wait(
    own_campaign, manager, sandbox_in_tmp
):
    from courrier.campaigns.models import Target

    [supporter] = confirmed_signatures(own_campaign, 1, consent_news=True)
    follow_up = write_follow_up(own_campaign)
    open_in_studio(manager, follow_up)
    Client().post(f"/fr/follow-up/{follow_up_token(follow_up.pk, supporter)}/")
    Target.objects.filter(role=Target.Role.TO).update(active=False)
    deliver_everything()
    press = FollowUpSignature.objects.get()
    assert press.letters_queued_at is None, "it waits for a recipient, rather than go to the copy alone"
    draft = write_follow_up(own_campaign)
    refused = manager.post(
        f"/en/studio/c/{own_campaign.pk}/follow-ups/{draft.pk}/state/", {"action": "open", "confirm": "on"}, follow=True
    )
    assert "no recipient to send the letter To" in refused.content.decode()


def test_an_answer_from_a_target_that_had_only_the_first_letter_is_its_answer(own_campaign, manager, sandbox_in_tmp):
    from courrier.campaigns.models import Target
    from tests.test_answers import answer_to, ingest

    [supporter] = confirmed_signatures(own_campaign, 1, consent_news=True)
    follow_up = write_follow_up(own_campaign)
    open_in_studio(manager, follow_up)
    Target.objects.filter(email=ALLY).update(active=False)  # the follow-up goes to the office alone
    Client().post(f"/fr/follow-up/{follow_up_token(follow_up.pk, supporter)}/")
    deliver_everything()
    [letter] = follow_up_letters(sandbox_in_tmp)
    assert letter["Cc"] is None
    ingest(answer_to(letter["Reply-To"].addresses[0].addr_spec, sender=ALLY))
    from courrier.delivery.models import Answer

    assert Answer.objects.get().target.email == ALLY


def test_an_opened_follow_ups_letter_cannot_change_even_from_a_form_opened_before(own_campaign, manager):
    follow_up = write_follow_up(own_campaign)
    url = f"/fr/studio/c/{own_campaign.pk}/follow-ups/{follow_up.pk}/"
    open_in_studio(manager, follow_up)
    edited = manager.post(url, {"follow-up-name": "Autre", "fr-subject": "", "fr-body": "", "fr-invitation": ""})
    assert edited.status_code == 302
    follow_up.refresh_from_db()
    assert follow_up.status == FollowUp.Status.OPEN and follow_up.name == NAME
    assert follow_up.letters.get().subject == SUBJECT


def test_the_invitation_says_what_changed_in_the_supporters_language_and_quotes_their_letters(
    own_campaign, manager, sandbox_in_tmp
):
    [supporter] = confirmed_signatures(own_campaign, 1, consent_news=True)
    Signature.objects.filter(pk=supporter.pk).update(language="en")  # the page in English, the letter in French
    follow_up = write_follow_up(own_campaign, en="Verdict: their release")
    open_in_studio(manager, follow_up)
    deliver_everything()
    text = body_text(invitations(sandbox_in_tmp)[supporter.email])
    assert "News." in text, "what changed, in the language they read the page in"
    assert SUBJECT in text and "Verdict: their release" not in text, "the letter in the language they signed it"


def test_a_supporter_whose_first_letter_was_cancelled_is_not_invited_to_speak_again(
    own_campaign, manager, sandbox_in_tmp
):
    from courrier.delivery.cancellation import close_and_cancel

    went = confirmed_signatures(own_campaign, 1, prefix="went", consent_news=True)
    deliver_everything()
    confirmed_signatures(own_campaign, 1, prefix="stopped", consent_news=True)
    close_and_cancel(own_campaign, manager.user)  # "stopped"'s letter is never written, yet marked done
    # A closed campaign still takes follow-ups (the case goes on after signing closes).
    follow_up = write_follow_up(own_campaign)
    open_in_studio(manager, follow_up)
    deliver_everything()
    follow_up.refresh_from_db()
    assert follow_up.invitees_count == 1
    assert list(invitations(sandbox_in_tmp)) == [went[0].email]


def test_a_follow_up_links_token_never_reaches_a_log():
    from courrier.lib.redact import redact_text

    token = "WzEsMiwzXQ:1abcde:secret-part"
    assert redact_text(f'"GET /fr/follow-up/{token}/ HTTP/1.1" 200') == '"GET /fr/follow-up/[token]/ HTTP/1.1" 200'
