"""Updates to supporters: written per language in the back office, sent once through the outbox,
each with a one-click unsubscribe link (RFC 8058) that mail providers can POST to."""

import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from courrier.accounts.models import AuditEntry, Membership, Organisation
from courrier.campaigns.models import Campaign, Person, PersonUpdate
from courrier.delivery.models import OutboxMessage
from courrier.delivery.worker import Worker
from courrier.news import sending
from courrier.news.models import NewsUpdate
from courrier.news.sending import queue_news, send_updates
from courrier.news.tokens import unsubscribe_token
from courrier.signatures.models import Signature
from tests.helpers import unsubscribe_addresses

NEWS = OutboxMessage.Kind.NEWS
CHANGELIST = "/admin/news/newsupdate/"
SEND = CHANGELIST + "send/"


def supporter(campaign: Campaign, email: str, language: str = "en", **fields) -> Signature:
    """A confirmed signature that agreed to receive news, unless told otherwise."""
    values = {
        "first_name": "Aigerim",
        "last_name": "Supporter",
        "language": language,
        "letter_language": "fr",
        "consent_send": True,
        "consent_news": True,
        "confirmed_at": timezone.now(),
        "confirmation_queued_at": timezone.now(),
        "letters_queued_at": timezone.now(),
        **fields,
    }
    return Signature.objects.create(campaign=campaign, email=email, **values)


def update(campaign: Campaign, language: str = "en", **fields) -> NewsUpdate:
    values = {"subject": "Valikhan Sultanov is free", "body": "He was released this morning.\n\nThank you all."}
    return NewsUpdate.objects.create(campaign=campaign, language=language, **{**values, **fields})


def organiser(organisation: Organisation, role: str, username: str) -> Client:
    """A staff account that is not a superuser: what it may do comes from its membership (in the studio)."""
    user = User.objects.create_user(username, f"{username}@organisers.example", "a long test password", is_staff=True)
    Membership.objects.create(user=user, organisation=organisation, role=role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def operator(own_campaign) -> Client:
    """The site's operator, in the admin (in English, whatever the catalogues say). Organisers send their news
    from the studio (tests/test_studio_running.py); both go through news/sending.py."""
    user = User.objects.create_superuser("operator", "operator@example.org", "a long test password")
    client = Client(headers={"accept-language": "en"})
    client.force_login(user)
    return client


def queued_news():
    """The news e-mails in the outbox once the worker has queued what was sent (news.sending.queue_news)."""
    queue_news()
    return OutboxMessage.objects.filter(kind=NEWS)


def news_recipients() -> set[str]:
    return {address for message in queued_news() for address in message.to}


def press_send(client: Client, *updates: NewsUpdate, **extra: str):
    return client.post(SEND, {"ids": ",".join(str(u.pk) for u in updates), **extra})


@pytest.mark.django_db
def test_an_update_reaches_only_confirmed_consenting_subscribed_supporters_of_its_language(own_campaign, operator):
    supporter(own_campaign, "reader@example.org")
    supporter(own_campaign, "held@example.org", moderation=Signature.Moderation.HELD)
    supporter(own_campaign, "no-consent@example.org", consent_news=False)
    supporter(own_campaign, "unconfirmed@example.org", confirmed_at=None)
    supporter(own_campaign, "unsubscribed@example.org", news_unsubscribed_at=timezone.now())
    supporter(own_campaign, "rejected@example.org", moderation=Signature.Moderation.REJECTED)
    supporter(own_campaign, "twice@example.org", is_duplicate=True)
    supporter(own_campaign, "french@example.org", language="fr")
    news = update(own_campaign, "en")

    confirmation = operator.get(SEND, {"ids": news.pk})
    assert confirmation.status_code == 200
    assert "Valikhan Sultanov is free" in confirmation.content.decode()
    assert not queued_news().exists()  # the confirmation page sends nothing

    response = press_send(operator, news)
    assert response.status_code == 302
    assert news_recipients() == {"reader@example.org", "held@example.org"}
    news.refresh_from_db()
    assert news.sent_at is not None
    assert news.recipients_count == 2


@pytest.mark.django_db
def test_sending_an_update_twice_queues_nothing_more(own_campaign, operator):
    supporter(own_campaign, "reader@example.org")
    news = update(own_campaign, "en")
    press_send(operator, news)
    press_send(operator, news)
    news.refresh_from_db()
    assert send_updates([news], user=None) == []
    assert queued_news().count() == 1
    page = operator.get(SEND, {"ids": news.pk}).content.decode()
    assert "not sent again" in page


@pytest.mark.django_db
def test_each_supporter_gets_the_update_in_the_language_they_signed_in(own_campaign, operator):
    supporter(own_campaign, "fr@example.org", language="fr")
    supporter(own_campaign, "en@example.org", language="en")
    supporter(own_campaign, "kk@example.org", language="kk")
    french = update(own_campaign, "fr", subject="Valikhan Sultanov est libre")
    english = update(own_campaign, "en")
    press_send(operator, french, english)
    subjects = {message.to[0]: message.subject for message in queued_news()}
    # Nobody wrote the update in Kazakh, and the organiser did not ask to send the original to other languages.
    assert subjects == {"fr@example.org": "Valikhan Sultanov est libre", "en@example.org": "Valikhan Sultanov is free"}


@pytest.mark.django_db
def test_the_original_language_update_can_also_reach_the_languages_without_one(own_campaign, operator):
    supporter(own_campaign, "fr@example.org", language="fr")
    supporter(own_campaign, "en@example.org", language="en")
    supporter(own_campaign, "kk@example.org", language="kk")
    french = update(own_campaign, "fr", subject="Valikhan Sultanov est libre")
    english = update(own_campaign, "en")
    page = operator.get(SEND, {"ids": f"{french.pk},{english.pk}"}).content.decode()
    assert 'name="other_languages"' in page
    press_send(operator, french, english, other_languages="1")
    subjects = {message.to[0]: message.subject for message in queued_news()}
    assert subjects == {
        "fr@example.org": "Valikhan Sultanov est libre",
        "en@example.org": "Valikhan Sultanov is free",
        "kk@example.org": "Valikhan Sultanov est libre",
    }


@pytest.mark.django_db
def test_news_goes_from_the_supporters_address_and_stays_in_the_sandbox_by_default(own_campaign, operator, settings):
    supporter(own_campaign, "reader@example.org")
    own_campaign.organisation.contact_email = "team@redyurt.example"
    own_campaign.organisation.save()
    press_send(operator, update(own_campaign, "en"))
    message = queued_news().get()
    assert message.from_email == settings.SENDER_EMAIL
    assert message.reply_to == "team@redyurt.example"
    assert message.sandbox
    assert message.list_unsubscribe.startswith(settings.SITE_ROOT + "/en/news/unsubscribe/")
    assert message.list_unsubscribe in message.body
    assert "reader@example.org" not in message.list_unsubscribe


@pytest.mark.django_db(transaction=True)
def test_the_worker_delivers_news_that_a_mail_provider_can_unsubscribe_in_one_click(
    own_campaign, smtp_settings, smtp_sink, web_server
):
    """As Gmail does: it reads List-Unsubscribe and POSTs List-Unsubscribe=One-Click there, without cookies."""
    Campaign.objects.filter(pk=own_campaign.pk).update(real_delivery=True)
    reader = supporter(own_campaign, "reader@example.org", language="ru")
    supporter(own_campaign, "other@example.org", language="ru")
    send_updates([update(own_campaign, "ru", subject="Валихан Султанов на свободе")], user=None)
    worker = Worker()
    worker.run_once()
    worker.close()  # its marking thread's database session ends with it

    received = {m["To"]: m for m in smtp_sink.messages()}
    mail = received["reader@example.org"]
    assert mail["Subject"] == "Валихан Султанов на свободе"
    # RFC 8058 one-click is for https only: this test site is http, so the header offers the link and a mailto.
    assert mail["List-Unsubscribe-Post"] is None
    addresses = unsubscribe_addresses(mail)
    assert addresses["mailto"].startswith("mailto:courrier+u")
    url = addresses["http"]
    assert url in mail.get_content()
    path = urllib.parse.urlsplit(url).path
    assert path.startswith("/ru/news/unsubscribe/")

    request = urllib.request.Request(
        web_server + path,
        data=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # a redirect would be followed: check the URL
        assert response.status == 200
        assert response.url == web_server + path
    reader.refresh_from_db()
    assert reader.news_unsubscribed_at is not None

    send_updates([update(own_campaign, "ru", subject="Суд назначен")], user=None)
    later = [m for m in queued_news() if m.subject == "Суд назначен"]  # encrypted
    assert [m.to for m in later] == [["other@example.org"]]


@pytest.mark.django_db
def test_opening_the_link_shows_a_button_in_the_supporters_language_and_changes_nothing(own_campaign, client):
    reader = supporter(own_campaign, "reader@example.org", language="kk")
    path = f"/kk/news/unsubscribe/{unsubscribe_token(reader.pk)}/"
    page = client.get(path)
    assert page.status_code == 200
    html = page.content.decode()
    assert '<html lang="kk">' in html
    assert 'name="List-Unsubscribe" value="One-Click"' in html
    reader.refresh_from_db()
    assert reader.news_unsubscribed_at is None

    pressed = client.post(path, {"List-Unsubscribe": "One-Click"})
    assert pressed.status_code == 200
    reader.refresh_from_db()
    assert reader.news_unsubscribed_at is not None


@pytest.mark.django_db
def test_unsubscribing_twice_keeps_the_first_date_and_answers_200(own_campaign):
    reader = supporter(own_campaign, "reader@example.org")
    path = f"/en/news/unsubscribe/{unsubscribe_token(reader.pk)}/"
    provider = Client(enforce_csrf_checks=True)
    body = "List-Unsubscribe=One-Click"
    assert provider.post(path, body, content_type="application/x-www-form-urlencoded").status_code == 200
    reader.refresh_from_db()
    first = reader.news_unsubscribed_at
    assert provider.post(path, body, content_type="application/x-www-form-urlencoded").status_code == 200
    reader.refresh_from_db()
    assert reader.news_unsubscribed_at == first
    assert "no more news" in provider.get(path).content.decode()


@pytest.mark.django_db
def test_a_bad_or_foreign_token_gets_a_clear_400_page(own_campaign, client):
    reader = supporter(own_campaign, "reader@example.org")
    from courrier.signatures.tokens import confirmation_token

    for token in ["not-a-token", unsubscribe_token(reader.pk)[:-2] + "xx", confirmation_token(reader.pk)]:
        for method in (client.get, client.post):
            response = method(f"/en/news/unsubscribe/{token}/")
            assert response.status_code == 400
            assert "This link does not work" in response.content.decode()
    reader.refresh_from_db()
    assert reader.news_unsubscribed_at is None


@pytest.mark.django_db
def test_in_the_studio_an_editor_neither_reads_nor_sends_news(own_campaign):
    supporter(own_campaign, "reader@example.org")
    editor = organiser(own_campaign.organisation, "editor", "editor")
    url = f"/en/studio/c/{own_campaign.pk}/news/"
    assert editor.get(url).status_code == 403
    typed = {"en-subject": "Hearing on Monday", "en-body": "Come to the embassy.", "send-confirm": "on"}
    assert editor.post(url, typed).status_code == 403
    assert not NewsUpdate.objects.exists() and not queued_news().exists()


@pytest.mark.django_db
def test_the_preview_is_the_email_a_supporter_receives_with_its_unsubscribe_footer(own_campaign, operator, settings):
    settings.SITE_ROOT = "https://campaigns.example.org"  # one-click (RFC 8058) needs an https address
    supporter(own_campaign, "reader@example.org")
    news = update(own_campaign, "en")
    assert "Send…" in operator.get(CHANGELIST + f"{news.pk}/change/").content.decode()
    page = operator.get(CHANGELIST + f"{news.pk}/preview/").content.decode()
    assert "List-Unsubscribe-Post" in page
    assert "List-Unsubscribe=One-Click" in page
    assert "He was released this morning." in page
    assert "To stop receiving news of this campaign, open this link:" in page
    assert "/en/news/unsubscribe/" in page
    assert "reach 1 supporter" in page
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_an_update_can_be_published_on_the_case_file_timeline(own_campaign, operator, client):
    person = Person.objects.create(campaign=own_campaign, name="Valikhan Sultanov")
    news = update(
        own_campaign,
        "en",
        publish_on_timeline=True,
        person=person,
        body="Dear supporter, thank you for writing: he was released after 40 days in pre-trial detention.",
        timeline_text="Released after 40 days in pre-trial detention.",
    )
    press_send(operator, news)
    entry = PersonUpdate.objects.get(text="Released after 40 days in pre-trial detention.")
    assert entry.person == person
    assert entry.language == "en"
    assert entry.date == timezone.localdate()
    page = client.get("/en/c/free-them/").content.decode()
    assert "Released after 40 days in pre-trial detention." in page
    assert "Dear supporter" not in page  # the e-mail's greeting stays in the e-mail


@pytest.mark.django_db
def test_a_timeline_update_needs_a_person_of_its_campaign(own_campaign, operator):
    response = operator.post(
        CHANGELIST + "add/",
        {"campaign": own_campaign.pk, "language": "en", "subject": "News", "body": "Text", "publish_on_timeline": "on"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Choose whose timeline shows this update." in page
    assert "Write the short text the case file" in page
    assert not NewsUpdate.objects.exists()


@pytest.mark.django_db
def test_sending_is_written_to_the_audit_log(own_campaign, operator):
    supporter(own_campaign, "reader@example.org")
    news = update(own_campaign, "en")
    press_send(operator, news)
    entry = AuditEntry.objects.get(action="news_sent")
    assert entry.user.username == "operator"
    assert "1 recipients" in entry.summary


@pytest.mark.django_db
def test_a_sent_update_can_no_longer_be_edited_or_deleted(own_campaign, operator):
    news = update(own_campaign, "en")
    press_send(operator, news)
    operator.post(CHANGELIST + f"{news.pk}/change/", {"subject": "Changed afterwards", "body": "Changed"})
    news.refresh_from_db()
    assert news.subject == "Valikhan Sultanov is free"
    assert operator.post(CHANGELIST + f"{news.pk}/delete/", {"post": "yes"}).status_code == 403
    assert NewsUpdate.objects.filter(pk=news.pk).exists()


@pytest.mark.django_db
def test_a_manager_of_another_organisation_sees_none_of_it(own_campaign):
    outsider = organiser(Organisation.objects.create(name="Another union"), "manager", "outsider")
    supporter(own_campaign, "reader@example.org")
    url = f"/en/studio/c/{own_campaign.pk}/news/"
    assert outsider.get(url).status_code == 404
    typed = {"en-subject": "Planted", "en-body": "Planted news.", "send-confirm": "on"}
    assert outsider.post(url, typed).status_code == 404
    assert not NewsUpdate.objects.exists() and not queued_news().exists()


@pytest.mark.django_db
def test_sending_marks_the_update_and_the_worker_queues_it_a_chunk_at_a_time(own_campaign, operator, monkeypatch):
    """However many supporters there are, neither the request nor one transaction writes all their e-mails."""
    monkeypatch.setattr(sending, "CHUNK", 3)
    for number in range(7):
        supporter(own_campaign, f"reader{number}@example.org")
    news = update(own_campaign, "en")
    with CaptureQueriesContext(connection) as request:
        assert press_send(operator, news).status_code == 302
    assert not OutboxMessage.objects.filter(kind=NEWS).exists()  # the request wrote none
    assert not [q for q in request.captured_queries if "delivery_outboxmessage" in q["sql"] and "INSERT" in q["sql"]]
    news.refresh_from_db()
    assert (news.recipients_count, news.queued_at) == (7, None)

    supporter(own_campaign, "after-sending@example.org")  # signed once the update went: not among its readers
    with CaptureQueriesContext(connection) as worker:
        assert queue_news() == 7
    chunks = [q for q in worker.captured_queries if q["sql"].startswith("INSERT") and "outboxmessage" in q["sql"]]
    assert len(chunks) == 3  # 3 + 3 + 1, each in a transaction of its own
    assert news_recipients() == {f"reader{number}@example.org" for number in range(7)}
    news.refresh_from_db()
    assert news.queued_at is not None
    assert queue_news() == 0  # nothing twice
