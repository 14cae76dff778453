"""The target directory: imported from and exported to CSV; the supporter's country chooses where the letter goes."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation

from courrier.accounts.models import AuditEntry, Organisation
from courrier.campaigns.directory import DirectoryImportError, export_csv, import_directory
from courrier.campaigns.models import Campaign, DirectoryEntry, Target
from courrier.delivery.models import OutboxMessage
from courrier.signatures.models import Signature
from tests.factories import organiser as shared_organiser
from tests.helpers import CAMPAIGN_URL, confirmation_path, deliver_everything, maildir_messages, sign

pytestmark = pytest.mark.django_db

GOOD = (
    "country,country_name,name,email,language\r\n"
    "FR,France,Ambassade du Kazakhstan en France,paris@mfa.kz,fr\r\n"
    "DE,Allemagne,Botschaft der Republik Kasachstan,berlin@mfa.kz,\r\n"
    "RU,Russie,Посольство Республики Казахстан,moscow@mfa.kz,ru\r\n"
)


def organiser(username: str, organisation: Organisation, role: str = "editor", **fields) -> Client:
    return shared_organiser(username, organisation, role, language="en", **fields)  # the assertions read English

@pytest.fixture
def editor(demo) -> Client:
    """An editor building the campaign, before it goes live: its recipients are theirs to write then."""
    Campaign.objects.filter(pk=demo.pk).update(status=Campaign.Status.DRAFT)
    return organiser("editor", demo.organisation)


def upload(client: Client, campaign: Campaign, content: bytes):
    file = SimpleUploadedFile("directory.csv", content, content_type="text/csv")
    return client.post(f"/admin/campaigns/campaign/{campaign.pk}/directory/import/", {"file": file})


def entries(campaign: Campaign) -> list[tuple[str, str, str, str, str]]:
    return list(
        campaign.directory.order_by("country").values_list("country", "country_name", "name", "email", "language")
    )




# Import and export


def test_a_good_file_with_a_byte_order_mark_replaces_the_directory_and_is_audited(demo, editor):
    response = upload(editor, demo, ("\ufeff" + GOOD).encode())
    assert response.status_code == 302
    assert entries(demo) == [
        ("DE", "Allemagne", "Botschaft der Republik Kasachstan", "berlin@mfa.kz", ""),
        ("FR", "France", "Ambassade du Kazakhstan en France", "paris@mfa.kz", "fr"),
        ("RU", "Russie", "Посольство Республики Казахстан", "moscow@mfa.kz", "ru"),
    ]
    entry = AuditEntry.objects.get(action="directory_import")
    assert entry.username == "editor"
    assert "2 added" in entry.summary and "1 unchanged" in entry.summary


def test_once_live_only_a_manager_imports_the_directory(demo):
    """The directory says where supporters' names go: the campaign's managers decide, once it is live."""
    editor = organiser("live-editor", demo.organisation)
    before = entries(demo)  # the demo's own entry
    assert upload(editor, demo, GOOD.encode()).status_code == 403
    assert entries(demo) == before
    manager = organiser("live-manager", demo.organisation, role="manager")
    assert upload(manager, demo, GOOD.encode()).status_code == 302
    assert len(entries(demo)) == 3
    assert AuditEntry.objects.get(action="directory_import").username == "live-manager"


def test_a_spreadsheets_semicolons_without_a_byte_order_mark_and_a_shorter_file_removes_the_rest(demo):
    import_directory(demo, GOOD.encode())
    result = import_directory(
        demo, b"country;country_name;name;email;language\nfr;France;Ambassade;paris2@mfa.kz;FR\n\n"
    )
    assert entries(demo) == [("FR", "France", "Ambassade", "paris2@mfa.kz", "fr")]
    assert (result.updated, result.removed) == (["FR"], ["DE", "RU"])


def test_a_bad_file_lists_every_wrong_row_by_number_and_imports_nothing(demo, editor):
    bad = (
        "country,country_name,name,email,language\n"
        "FR,France,Ambassade,paris@mfa.kz,fr\n"
        "DE,Allemagne,Botschaft,berlin-at-mfa.kz,de\n"
        "FR,France encore,Ambassade,paris@mfa.kz,fr\n"
        "FRA,Trois lettres,,x@mfa.kz,\n"
    )
    response = upload(editor, demo, bad.encode())
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was imported" in html
    assert "Row 3: “berlin-at-mfa.kz” is not a valid e-mail address." in html
    assert "Row 3: unknown language “de”" in html
    assert "Row 4: FR is already on row 2: one entry per country." in html
    assert "Row 5: the country code “FRA” is not two letters" in html
    assert "Row 5: the column name is empty." in html
    assert entries(demo) == [("FR", "France", "Ambassade du Kazakhstan en France", "paris@mfa.kz", "fr")]
    assert not AuditEntry.objects.filter(action="directory_import").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"country,name,email\nFR,Ambassade,paris@mfa.kz\n", "Missing: country_name, language."),
        (b"country,country_name,name,email,language\n", "no entries"),
        (b"", "The file is empty."),
        ("country,country_name\nFR,Fran\xe7e\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_a_file_that_is_not_a_directory_says_why(demo, content, message):
    with pytest.raises(DirectoryImportError) as refused:
        import_directory(demo, content)
    assert message in " ".join(refused.value.errors)


def test_an_upload_without_a_file_asks_for_one(demo, editor):
    response = editor.post(f"/admin/campaigns/campaign/{demo.pk}/directory/import/", {})
    assert response.status_code == 400
    assert "Choose the CSV file to import." in response.content.decode()


def test_the_export_has_a_byte_order_mark_neutralised_formulas_and_comes_back_unchanged(demo, editor):
    DirectoryEntry.objects.create(
        campaign=demo, country="KZ", country_name="=HYPERLINK(1)", name="@Астана", email="astana@mfa.kz"
    )
    response = editor.get(f"/admin/campaigns/campaign/{demo.pk}/directory/export/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="directory-kazakhstan-repression.csv"' in response["Content-Disposition"]
    content = response.content
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == ["country", "country_name", "name", "email", "language"]
    assert ["FR", "France", "Ambassade du Kazakhstan en France", "paris@mfa.kz", "fr"] in rows
    assert ["KZ", "'=HYPERLINK(1)", "'@Астана", "astana@mfa.kz", ""] in rows
    assert AuditEntry.objects.filter(action="export", username="editor").exists()

    before = entries(demo)
    result = import_directory(demo, content)
    assert entries(demo) == before
    assert (result.added, result.updated, result.removed, result.unchanged) == ([], [], [], 2)
    assert export_csv(demo) == content


def test_the_directory_is_edited_inline_on_the_campaign(demo, editor):
    html = editor.get(f"/admin/campaigns/campaign/{demo.pk}/change/").content.decode()
    assert 'name="directory-0-country" value="FR"' in html
    assert f'href="/admin/campaigns/campaign/{demo.pk}/directory/import/"' in html


# Signing with a country


@pytest.fixture(autouse=True)
def in_english():
    """Import errors are raised in the active language: the assertions read them in English."""
    with translation.override("en"):
        yield


@pytest.fixture
def with_directory(demo) -> Campaign:
    import_directory(demo, GOOD.encode())
    demo.use_directory = True
    demo.save()
    return demo


def test_the_form_asks_for_the_country_from_the_directory_with_not_listed_last(with_directory, client):
    html = client.get(CAMPAIGN_URL.replace("/fr/", "/en/", 1)).content.decode()
    assert '<select name="country"' in html and "required" in html.split('<select name="country"')[1][:200]
    options = html.split('<select name="country"')[1].split("</select>")[0]
    assert options.index('value="DE"') < options.index('value="FR"') < options.index('value="RU"')
    assert options.index('value="RU"') < options.index('value="-"')
    assert "My country is not listed" in options
    assert "the recipient for the country you choose" in html
    assert "Посольство Республики Казахстан &lt;moscow@mfa.kz&gt;" in html  # the list of recipients


def test_signing_without_a_country_says_to_choose_one(with_directory, client):
    response = sign(client, country="")
    assert response.status_code == 400
    with translation.override("fr"):  # the page of the form is French
        expected = translation.gettext("Choose your country: your letter goes to the recipient for that country.")
    assert expected in response.content.decode()
    assert not Signature.objects.exists()
    assert sign(client, country="ZZ").status_code == 400


def confirm_and_deliver(client, sandbox) -> None:
    deliver_everything()
    for message in maildir_messages(sandbox):
        if "/confirm/" in message.get_content():
            assert client.post(confirmation_path(message)).status_code == 302
    deliver_everything()


def test_a_letter_goes_to_the_entry_of_the_chosen_country_with_the_copy_and_at_its_own_pace(
    with_directory, client, sandbox_in_tmp
):
    sign(client, country="RU", email="a@example.org")
    signature = Signature.objects.get()
    assert (signature.directory_country, signature.country) == ("RU", "Russie")
    confirm_and_deliver(client, sandbox_in_tmp)

    letter = OutboxMessage.objects.get(kind=OutboxMessage.Kind.LETTER)
    assert (letter.to, letter.cc, letter.status) == (["moscow@mfa.kz"], ["chakmonro@ya.ru"], "sent")
    mail = next(m for m in maildir_messages(sandbox_in_tmp) if m["To"] == "moscow@mfa.kz")
    assert sorted(mail.get_all("Delivered-To")) == ["chakmonro@ya.ru", "moscow@mfa.kz"]
    # Paced, paused and counted through a target of its own, which never receives the other letters.
    target = Target.objects.get(campaign=with_directory, email="moscow@mfa.kz")
    assert (target.active, target.role, target.language) == (False, "to", "ru")
    assert set(letter.targets.all()) == {target, Target.objects.get(email="chakmonro@ya.ru")}
    assert target.next_send_at is not None
    # The supporter is told where it went.
    confirmation = next(m for m in maildir_messages(sandbox_in_tmp) if "/confirm/" in m.get_content())
    assert "Посольство Республики Казахстан" in confirmation.get_content()


def test_not_listed_sends_the_letter_to_the_campaigns_own_to_targets(with_directory, client, sandbox_in_tmp):
    sign(client, country="-", email="b@example.org")
    assert Signature.objects.get().directory_country == ""
    confirm_and_deliver(client, sandbox_in_tmp)
    letter = OutboxMessage.objects.get(kind=OutboxMessage.Kind.LETTER)
    assert (letter.to, letter.cc) == (["paris@mfa.kz"], ["chakmonro@ya.ru"])


def test_an_entry_with_the_address_of_a_to_target_shares_its_pace_and_its_pause(with_directory, client):
    from courrier.delivery.target_pauses import pause_target

    embassy = Target.objects.get(email="paris@mfa.kz")
    pause_target(embassy, "test")
    sign(client, country="FR", email="c@example.org")
    signature = Signature.objects.get()
    Signature.objects.filter(pk=signature.pk).update(confirmed_at=signature.created_at)
    deliver_everything()
    letter = OutboxMessage.objects.get(kind=OutboxMessage.Kind.LETTER)
    assert letter.to == ["paris@mfa.kz"]
    assert letter.status == OutboxMessage.Status.HELD
    assert Target.objects.filter(email="paris@mfa.kz").count() == 1


def test_a_directory_campaign_without_to_targets_still_sends_to_its_entries(with_directory, client):
    Target.objects.filter(role=Target.Role.TO).delete()
    html = client.get(CAMPAIGN_URL).content.decode()
    assert "My country is not listed" not in html
    sign(client, country="DE", email="d@example.org")
    Signature.objects.update(confirmed_at=Signature.objects.get().created_at)
    deliver_everything()
    assert OutboxMessage.objects.get(kind=OutboxMessage.Kind.LETTER).to == ["berlin@mfa.kz"]


def test_the_letter_preview_shows_the_letter_for_each_country(with_directory, editor):
    from html import unescape

    url = f"/admin/campaigns/campaign/{with_directory.pk}/preview/letter/"
    html = unescape(editor.get(url + "?lang=fr&country=DE").content.decode())
    assert '<th scope="row">To</th><td>berlin@mfa.kz</td>' in html
    html = unescape(editor.get(url + "?lang=fr&country=").content.decode())
    assert '<th scope="row">To</th><td>paris@mfa.kz</td>' in html
    assert not Target.objects.filter(email="berlin@mfa.kz").exists()  # a preview writes nothing


def test_without_use_directory_the_country_stays_free_text(demo, client):
    html = client.get(CAMPAIGN_URL).content.decode()
    assert '<input type="text" name="country"' in html
