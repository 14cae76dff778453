"""Building a campaign in the studio: duplicating one, previewing its page and its letter, sending a test."""

import email
import email.policy
import re
from html import unescape

import pytest
from django.test import Client

from courrier.accounts.models import AuditEntry, Organisation
from courrier.campaigns.letters import PLACEHOLDERS
from courrier.campaigns.models import BlockedWords, Campaign, Person, Target
from courrier.delivery.models import OutboxMessage
from courrier.delivery.verp import reply_address
from courrier.signatures.models import Signature
from tests.factories import confirmed_signatures
from tests.factories import organiser as shared_organiser
from tests.helpers import decoded_header, deliver_everything, maildir_messages

pytestmark = pytest.mark.django_db

LANGUAGES = ["fr", "en", "ru", "kk"]


def organiser(username: str, organisation: Organisation, role: str = "editor", **fields) -> Client:
    return shared_organiser(username, organisation, role, **fields)


@pytest.fixture
def editor(demo) -> Client:
    return organiser("editor", demo.organisation, email="ada@example.org", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def outsider(db) -> Client:
    """A manager of another organisation."""
    return organiser("outsider", Organisation.objects.create(name="Another group"), role="manager")


STUDIO_PAGES = {"preview/letter/": "publish/letter/", "preview/": "publish/page/", "send-test/": "publish/test/"}


def studio_url(campaign: Campaign, suffix: str) -> str:
    """A page of the campaign in the studio, in English (the assertions read English)."""
    for short, page in STUDIO_PAGES.items():
        if suffix.startswith(short):
            suffix = page + suffix.removeprefix(short)
            break
    return f"/en/studio/c/{campaign.pk}/{suffix}"


def duplicate(client: Client, campaign: Campaign):
    return client.post("/en/studio/new/", {"way": "copy", "copy-campaign": campaign.pk})


# Duplicating


def test_duplicating_copies_what_organisers_wrote_as_a_new_draft_and_nothing_personal(demo, editor):
    demo.tally_letters = 7
    demo.closing_message = "Merci à toutes et tous."
    demo.real_delivery = True
    demo.save()
    Target.objects.filter(campaign=demo).update(pace_per_hour=12, next_send_at="2030-01-01T00:00:00Z")
    BlockedWords.objects.create(campaign=demo, language="fr", words="insulte")
    confirmed_signatures(demo, 3)
    deliver_everything()
    assert OutboxMessage.objects.filter(campaign=demo).exists()

    response = duplicate(editor, demo)
    assert response.status_code == 302

    copy = Campaign.objects.get(slug="kazakhstan-repression-copy-1")
    assert copy.status == Campaign.Status.DRAFT
    assert (copy.title, copy.summary, copy.article, copy.goal) == (demo.title, demo.summary, demo.article, demo.goal)
    assert copy.organisation == demo.organisation
    assert sorted(copy.letters.values_list("language", "subject", "body")) == sorted(
        demo.letters.values_list("language", "subject", "body")
    )
    assert sorted(copy.texts.values_list("language", "title")) == sorted(demo.texts.values_list("language", "title"))
    assert sorted(copy.targets.values_list("role", "email", "pace_per_hour")) == sorted(
        demo.targets.values_list("role", "email", "pace_per_hour")
    )
    assert set(copy.targets.values_list("next_send_at", flat=True)) == {None}
    assert list(copy.directory.values_list("country", "email")) == [("FR", "paris@mfa.kz")]
    assert list(copy.blocked_words.values_list("words", flat=True)) == ["insulte"]
    people = Person.objects.filter(campaign=copy)
    assert [p.name for p in people] == [p.name for p in Person.objects.filter(campaign=demo)]
    assert sum(p.updates.count() for p in people) == sum(p.updates.count() for p in demo.people.all()) > 0
    # Nothing of the supporters, nothing of the delivery, and a copy starts in the sandbox.
    assert not Signature.objects.filter(campaign=copy).exists()
    assert not OutboxMessage.objects.filter(campaign=copy).exists()
    assert (copy.tally_letters, copy.tally_organisations, copy.closing_message) == (0, [], "")
    assert not copy.real_delivery
    # The original is untouched, and the audit log says who made the copy.
    assert demo.signatures.count() == 3
    entry = AuditEntry.objects.get(action="duplicate")
    assert (entry.username, entry.object_id, entry.organisation_id) == ("editor", str(copy.pk), demo.organisation_id)

    duplicate(editor, demo)
    assert Campaign.objects.filter(slug="kazakhstan-repression-copy-2", status="draft").exists()


def test_another_organisations_organiser_cannot_duplicate_a_campaign(demo, outsider):
    duplicate(outsider, demo)
    assert Campaign.objects.count() == 1


def test_a_new_campaign_starts_as_a_draft_from_the_blank_form(demo, editor):
    assert editor.get("/en/studio/new/").status_code == 200
    response = editor.post(
        "/en/studio/new/",
        {"way": "blank", "blank-organisation": demo.organisation_id, "blank-title": "Nouvelle campagne"},
    )
    assert response.status_code == 302, re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.content.decode())
    campaign = Campaign.objects.get(title="Nouvelle campagne")
    assert campaign.status == Campaign.Status.DRAFT and campaign.organisation == demo.organisation
    assert response["Location"] == f"/en/studio/c/{campaign.pk}/"


# Previewing the page


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_editor_previews_a_draft_page_in_each_language_marked_as_a_preview_and_never_indexed(
    demo, editor, client, language
):
    demo.status = Campaign.Status.DRAFT
    demo.save()
    assert client.get("/fr/c/kazakhstan-repression/").status_code == 404  # not public

    response = editor.get(studio_url(demo, f"preview/?lang={language}"))
    assert response.status_code == 200
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    html = response.content.decode()
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert f'<html lang="{language}">' in html
    assert "preview-banner" in html
    expected_title = demo.text_for(language).title
    assert f'<h1 lang="{demo.text_for(language).language}">{expected_title}</h1>' in html
    assert 'class="sign-form"' in html  # the form as supporters will see it once live
    # The language links stay in the preview.
    for other in LANGUAGES:
        assert f'/studio/c/{demo.pk}/publish/page/?lang={other}"' in html


def test_the_preview_renders_the_article_markdown_as_the_public_page_does(demo, editor):
    demo.article = "Un **texte** avec [un lien](https://example.org/)."
    demo.save()
    html = editor.get(studio_url(demo, "preview/")).content.decode()
    assert "<strong>texte</strong>" in html
    assert 'href="https://example.org/"' in html


def test_another_organisations_organiser_cannot_preview_the_page_or_the_letter(demo, outsider, client):
    for suffix in ["preview/", "preview/letter/", "directory/"]:
        assert outsider.get(studio_url(demo, suffix)).status_code == 404, suffix
    assert outsider.post(studio_url(demo, "directory/export/")).status_code == 404
    assert outsider.post(studio_url(demo, "send-test/"), {"lang": "fr"}).status_code == 404
    assert client.get(studio_url(demo, "preview/")).status_code == 302  # visitors go to the login page


def test_the_studio_links_to_the_previews_and_lists_the_placeholders(demo, editor):
    publish = editor.get(studio_url(demo, "publish/")).content.decode()
    assert f'href="{studio_url(demo, "preview/")}?lang=fr"' in publish
    assert f'href="{studio_url(demo, "preview/letter/")}?lang=fr"' in publish
    html = editor.get(studio_url(demo, "letter/fr/")).content.decode()
    for name in PLACEHOLDERS:
        assert f'data-placeholder="{{{name}}}"' in html, name
    # What each becomes, for a sample supporter signing for a union.
    assert "Trade Union of Example Workers" in html


# Previewing the letter


def parse_headers(html: str) -> dict[str, str]:
    rows = re.findall(r'<tr><th scope="row">([\w-]+)</th><td>(.*?)</td></tr>', html, re.S)
    return {name: unescape(value) for name, value in rows}


def test_the_letter_preview_shows_the_headers_and_text_the_embassy_receives_in_each_language(demo, editor):
    for language in LANGUAGES:
        response = editor.get(studio_url(demo, f"preview/letter/?lang={language}"))
        assert response.status_code == 200
        assert response["X-Robots-Tag"] == "noindex, nofollow"
        html = response.content.decode()
        headers = parse_headers(html)
        assert headers["To"] == "paris@mfa.kz"
        assert headers["Cc"] == "chakmonro@ya.ru"
        # The campaign's relay address, in the supporter's name: targets never see the supporter's own.
        assert headers["Reply-To"].endswith(f"<{reply_address(0)}>") and "supporter@example.org" not in html
        assert "via" in headers["From"] or "арқылы" in headers["From"] or "через" in headers["From"]
        assert headers["Subject"] == demo.letter_for(language).subject
        assert "{signature}" not in html.split("Source of the message")[0]
    french = editor.get(studio_url(demo, "preview/letter/?lang=fr")).content.decode()
    assert "Monsieur l’Ambassadeur du Kazakhstan en France" in french
    from courrier.backoffice.previews import sample_signature

    assert sample_signature(demo, "fr").organisation in french  # the sample signature, filled in


def test_the_letter_preview_matches_the_letter_the_worker_sends(demo, editor, client, sandbox_in_tmp):
    from courrier.backoffice.previews import sample_signature
    from tests.helpers import confirmation_path, sign

    sample = sample_signature(demo, "fr")
    sign(client, first_name=sample.first_name, last_name=sample.last_name, email="supporter@example.org")
    deliver_everything()
    assert client.post(confirmation_path(sandbox_in_tmp)).status_code == 302
    deliver_everything()
    sent = next(m for m in maildir_messages(sandbox_in_tmp) if m["To"] == "paris@mfa.kz")
    headers = parse_headers(editor.get(studio_url(demo, "preview/letter/?lang=fr")).content.decode())
    for name in ["From", "To", "Cc", "Subject"]:
        assert headers[name] == decoded_header(sent, name), name
    # The same relay address, but the sample supporter's has no number of its own.
    sent_reply_to = decoded_header(sent, "Reply-To")
    assert headers["Reply-To"].split("<")[0] == sent_reply_to.split("<")[0]
    assert headers["Reply-To"].rsplit("@", 1)[1] == sent_reply_to.rsplit("@", 1)[1]


# Sending a test


def test_a_test_arrives_in_the_sandbox_addressed_only_to_the_organiser(demo, editor, sandbox_in_tmp):
    page = editor.get(studio_url(demo, "publish/")).content.decode()
    assert "sent to you alone (ada@example.org)" in page
    response = editor.post(studio_url(demo, "send-test/"), {"lang": "en"})
    assert response.status_code == 302
    test = OutboxMessage.objects.get(kind=OutboxMessage.Kind.TEST)
    assert (test.to, test.cc, test.sandbox, test.signature) == (["ada@example.org"], [], True, None)

    deliver_everything()
    test.refresh_from_db()
    assert test.status == OutboxMessage.Status.SENT
    [mail] = maildir_messages(sandbox_in_tmp)
    assert mail.get_all("Delivered-To") == ["ada@example.org"]
    assert mail["To"] == "ada@example.org"
    assert mail["Cc"] is None
    assert mail["Reply-To"].addresses[0].addr_spec == "ada@example.org"  # a test is answered to its organiser
    assert decoded_header(mail, "Subject").startswith("[TEST] ")
    assert "Ada Lovelace" in decoded_header(mail, "From")
    assert "Your Excellency" in mail.get_content() or "Ambassador" in mail.get_content()
    entry = AuditEntry.objects.get(action="test_sent")
    assert (entry.username, entry.object_id) == ("editor", str(demo.pk))


def test_a_test_goes_through_smtp_only_when_the_campaign_sends_real_mail(demo, editor, smtp_settings, smtp_sink):
    demo.real_delivery = True
    demo.save()
    editor.post(studio_url(demo, "send-test/"), {"lang": "fr"})
    deliver_everything()
    [received] = smtp_sink.received
    assert received.rcpt_tos == ["ada@example.org"]
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert message["To"] == "ada@example.org"
    assert "paris@mfa.kz" not in received.data.decode("ascii", "replace")


def test_an_organiser_without_an_address_gives_one_before_any_test(demo):
    client = organiser("noaddress", demo.organisation, email="")
    for answer in (client.get(studio_url(demo, "preview/letter/")), client.post(studio_url(demo, "send-test/"))):
        assert answer.status_code == 302 and answer["Location"].startswith("/en/studio/my-address/")
    assert not OutboxMessage.objects.exists()
    assert not AuditEntry.objects.filter(action="test_sent").exists()


def test_a_test_without_a_chosen_language_is_the_original_sent_to_the_organiser(demo, editor):
    editor.post(studio_url(demo, "send-test/"))
    test = OutboxMessage.objects.get(kind=OutboxMessage.Kind.TEST)
    assert test.to == ["ada@example.org"]
    assert test.subject == "[TEST] " + demo.letter_for("fr").subject


def test_a_blank_draft_previews_and_refuses_a_test_until_it_has_a_letter_and_a_target(demo, editor):
    blank = Campaign.objects.create(organisation=demo.organisation, slug="blank", title="Blank", summary="…")
    assert editor.get(studio_url(blank, "preview/?lang=kk")).status_code == 200
    letter_page = editor.get(studio_url(blank, "preview/letter/"))
    assert letter_page.status_code == 200
    assert "There is no letter in" in letter_page.content.decode()
    response = editor.post(studio_url(blank, "send-test/"), {"lang": "fr"}, follow=True)
    assert "There is no letter to test yet" in response.content.decode()
    assert not OutboxMessage.objects.exists()
