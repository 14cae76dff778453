"""Running a campaign in the studio: progress and exports, the review queue, delivery, its state, and news;
and who may open which studio page."""

import re

import pytest
from django.urls import URLPattern, reverse
from django.utils import timezone

from courrier.accounts.models import AuditEntry, Membership
from courrier.campaigns.models import Campaign, FollowUp, Person, PersonUpdate
from courrier.news.models import NewsUpdate
from courrier.signatures.models import Signature
from courrier.studio import urls as studio_urls
from tests.factories import live_campaign, new_organisation, organiser, signature
from tests.helpers import page_form

pytestmark = pytest.mark.django_db

# The studio's pages about supporters and sending: a manager's, never an editor's.
MANAGER_ONLY = {
    "progress", "export_csv", "export_pdf", "queue", "decide", "delivery", "target_action", "change_state",
    "updates", "go_live", "review_rules", "real_mail", "answers", "publish_answer", "follow_up_state",
}  # fmt: skip


@pytest.fixture
def group():
    return new_organisation("Gauche révolutionnaire")


@pytest.fixture
def campaign(group):
    return live_campaign("ours", organisation=group, title="Libérez-les")


@pytest.fixture
def manager(group):
    return organiser("camille", group, role=Membership.Role.MANAGER, email="camille@group.example")


@pytest.fixture
def editor(group):
    return organiser("eli", group, role=Membership.Role.EDITOR, email="eli@group.example")


def studio_url(name: str, campaign) -> str:
    pattern = next(p for p in studio_urls.urlpatterns if p.name == name)
    names = re.findall(r"<(?:\w+:)?(\w+)>", str(pattern.pattern))
    person = campaign.people.first() or Person.objects.create(campaign=campaign, name="Valikhan Sultanov")
    values = {
        "campaign_id": campaign.pk,
        "language": "en",
        "target_id": campaign.targets.first().pk,
        "person_id": person.pk,
        "follow_up_id": (campaign.follow_ups.first() or FollowUp.objects.create(campaign=campaign, name="Verdict")).pk,
    }
    return reverse(f"studio:{name}", kwargs={key: values[key] for key in names})


def campaign_page_names() -> list[str]:
    names = []
    for pattern in studio_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        if "campaign_id" in str(pattern.pattern):
            names.append(pattern.name)
    return names


def test_every_campaign_page_is_not_found_for_outsiders_and_refused_to_editors_when_about_supporters(
    campaign, editor, manager
):
    outsider = organiser("other", new_organisation("Other group"), email="other@other.example")
    names = campaign_page_names()
    assert MANAGER_ONLY <= set(names)
    for name in names:
        url = studio_url(name, campaign)
        seen = manager.get(url)
        managers = seen.status_code
        assert managers in (200, 405) and seen["Cache-Control"] == "no-store", url
        if name in MANAGER_ONLY:
            asked = editor.post(url, {}) if managers == 405 else editor.get(url)
            assert asked.status_code == 403, url
        else:
            assert editor.get(url).status_code == managers, url
        assert outsider.post(url, {}).status_code == 404, url
    # Nothing an editor tried changed the campaign.
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.LIVE


def test_the_progress_page_counts_and_the_export_is_audited(campaign, manager):
    signature(campaign, "one@example.org")
    signature(campaign, "two@example.org", confirmed=False)
    page = manager.get(f"/fr/studio/c/{campaign.pk}/progress/").content.decode()
    assert "Signatures par jour" in page and "Exporter les signatures (CSV)" in page
    exported = manager.post(f"/fr/studio/c/{campaign.pk}/export.csv")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    assert b"".join(exported.streaming_content).count(b"\n") == 2  # the header and the confirmed one
    assert AuditEntry.objects.filter(action="export", username="camille").exists()
    missing = manager.post(f"/fr/studio/c/{campaign.pk}/export.pdf", {"part": "9"})
    assert missing["Location"] == f"/fr/studio/c/{campaign.pk}/progress/"


def test_held_letters_are_approved_or_rejected_from_the_queue(campaign, manager):
    held = signature(
        campaign, "held@example.org", moderation=Signature.Moderation.HELD, personal_sentence="Libérez-les tous !"
    )
    other = signature(campaign, "other@example.org", moderation=Signature.Moderation.HELD)
    page = manager.get(f"/fr/studio/c/{campaign.pk}/held/").content.decode()
    assert "Libérez-les tous" in page
    manager.post(f"/fr/studio/c/{campaign.pk}/held/decide/", {"signature": [held.pk], "decision": "approve"})
    manager.post(
        f"/fr/studio/c/{campaign.pk}/held/decide/", {"signature": [other.pk, "x1", "9" * 30], "decision": "reject"}
    )
    held.refresh_from_db(), other.refresh_from_db()
    assert (held.moderation, other.moderation) == (Signature.Moderation.APPROVED, Signature.Moderation.REJECTED)
    assert AuditEntry.objects.filter(action="moderation").count() == 2
    # Another campaign's signature is not decided through this one's queue.
    stranger = signature(live_campaign("theirs"), "s@example.org", moderation=Signature.Moderation.HELD)
    manager.post(f"/fr/studio/c/{campaign.pk}/held/decide/", {"signature": [stranger.pk], "decision": "approve"})
    stranger.refresh_from_db()
    assert stranger.moderation == Signature.Moderation.HELD


def test_the_queue_is_filtered_by_the_rule_that_held_the_letters(campaign, manager):
    held = Signature.Moderation.HELD
    signature(campaign, "link@example.org", moderation=held, moderation_rules="link", personal_sentence="Voir ici")
    signature(campaign, "both@example.org", moderation=held, moderation_rules="word,link", personal_sentence="Les deux")
    signature(campaign, "long@example.org", moderation=held, moderation_rules="length", personal_sentence="Très long")
    url = f"/fr/studio/c/{campaign.pk}/held/"
    everything = manager.get(url).content.decode()
    assert all(words in everything for words in ("Voir ici", "Les deux", "Très long"))
    assert "un lien (2)" in everything and "une phrase trop longue (1)" in everything
    links = manager.get(url, {"rule": "link"}).content.decode()
    assert "Voir ici" in links and "Les deux" in links and "Très long" not in links
    assert "Très long" in manager.get(url, {"rule": "nonsense"}).content.decode()  # unknown: everything


def test_a_target_is_paused_and_resumed_and_the_campaign_closed(campaign, manager):
    target = campaign.targets.get()
    manager.post(f"/fr/studio/c/{campaign.pk}/delivery/{target.pk}/", {"action": "pause"})
    target.refresh_from_db()
    assert target.is_paused
    assert "en pause" in manager.get(f"/fr/studio/c/{campaign.pk}/delivery/").content.decode()
    manager.post(f"/fr/studio/c/{campaign.pk}/delivery/{target.pk}/", {"action": "resume"})
    target.refresh_from_db()
    assert not target.is_paused
    manager.post(f"/fr/studio/c/{campaign.pk}/state/", {"move": "close"})
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CLOSED
    refused = manager.post(f"/fr/studio/c/{campaign.pk}/state/", {"move": "pause"}, follow=True)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CLOSED and refused.status_code == 200


def news_supporter(campaign, email: str, language: str) -> Signature:
    return signature(campaign, email, language=language, consent_news=True, letters_queued_at=timezone.now())


def test_news_in_two_languages_says_who_it_reaches_and_puts_a_short_text_on_the_timeline(campaign, manager):
    person = Person.objects.create(campaign=campaign, name="Valikhan Sultanov")
    news_supporter(campaign, "fr1@example.org", "fr")
    news_supporter(campaign, "fr2@example.org", "fr")
    news_supporter(campaign, "en@example.org", "en")
    news_supporter(campaign, "ru@example.org", "ru")
    url = f"/fr/studio/c/{campaign.pk}/news/"
    page = manager.get(url).content.decode()
    assert "Français : 2 signataires" in page.replace("\u00a0", " ") and "English : 1 signataire" in page.replace(
        "\u00a0", " "
    )
    form = page_form(manager, url) | {
        "fr-subject": "Valikhan est libre",
        "fr-body": "Bonjour, merci d’avoir écrit : il a été libéré ce matin.",
        "en-subject": "Valikhan is free",
        "en-body": "Hello, thank you for writing: he was released this morning.",
        "send-publish_on_timeline": "on",
        "send-person": str(person.pk),
        "send-timeline_text": "Libéré le matin du 14 juillet.",
    }
    unconfirmed = manager.post(url, form)
    assert unconfirmed.status_code == 200 and "Cochez la case" in unconfirmed.content.decode()
    assert not NewsUpdate.objects.exists()
    sent = manager.post(url, form | {"send-confirm": "on"})
    assert sent["Location"] == url
    updates = {u.language: u for u in NewsUpdate.objects.all()}
    assert set(updates) == {"fr", "en"} and all(u.is_sent for u in updates.values())
    assert (updates["fr"].recipients_count, updates["en"].recipients_count) == (2, 1)  # Russian: nobody
    assert [e.text for e in PersonUpdate.objects.all()] == ["Libéré le matin du 14 juillet."]


def test_an_update_half_written_is_refused_with_what_was_typed(campaign, manager):
    url = f"/fr/studio/c/{campaign.pk}/news/"
    answer = manager.post(url, page_form(manager, url) | {"en-subject": "Only a subject", "send-confirm": "on"})
    page = answer.content.decode()
    assert answer.status_code == 200 and "Only a subject" in page and "Écrivez le texte" in page
    assert not NewsUpdate.objects.exists()


def test_a_word_of_the_review_rules_holds_a_letter_for_a_manager(campaign, manager):
    from courrier.delivery import enqueue

    url = f"/fr/studio/c/{campaign.pk}/held/rules/"
    manager.post(url, {"words-fr": "  insulte \n\n", "words-en": ""})
    assert campaign.blocked_words.get(language="fr").word_list() == ["insulte"]
    held = signature(campaign, "angry@example.org", personal_sentence="Une INSULTE ici.")
    enqueue.queue_letters()
    held.refresh_from_db()
    assert held.moderation == Signature.Moderation.HELD
    assert "Une INSULTE ici." in manager.get(f"/fr/studio/c/{campaign.pk}/held/").content.decode()


def test_an_editor_cannot_switch_a_live_campaign_to_its_directory(campaign, editor, manager):
    url = f"/fr/studio/c/{campaign.pk}/options/"
    form = page_form(editor, url)
    assert 'name="use_directory"' in editor.get(url).content.decode() and "disabled" in editor.get(url).content.decode()
    editor.post(url, form | {"use_directory": "on"})
    campaign.refresh_from_db()
    assert not campaign.use_directory
    manager.post(url, page_form(manager, url) | {"use_directory": "on"})
    campaign.refresh_from_db()
    assert campaign.use_directory
