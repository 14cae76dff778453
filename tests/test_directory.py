"""The target directory: imported from and exported to CSV; the supporter's country chooses where the letter goes."""

import csv
import io
from functools import partial
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation

from courrier.accounts.models import AuditEntry, Organisation
from courrier.campaigns.directory import DirectoryImportError, export_csv, import_directory
from courrier.campaigns.models import Campaign, DirectoryEntry, Target
from courrier.delivery.models import OutboxMessage
from courrier.delivery.target_pauses import pause_target
from courrier.signatures.models import Signature
from tests.factories import OWN_PAGE, OWN_SLUG
from tests.factories import organiser as shared_organiser
from tests.helpers import confirmation_path, deliver_everything, maildir_messages, sign

pytestmark = pytest.mark.django_db

sign = partial(sign, slug=OWN_SLUG)

GOOD = (
    "country,country_name,name,email,language\r\n"
    "FR,France,Bureau du ministère à Paris,office@ministry.example,fr\r\n"
    "DE,Allemagne,Ministerium in Berlin,berlin@ministry.example,\r\n"
    "RU,Russie,Министерство в Москве,moscow@ministry.example,ru\r\n"
)


@pytest.fixture
def campaign(own_campaign) -> Campaign:
    """The tests' own campaign with one directory entry, for France, at the address of its To target (as the
    demo has)."""
    DirectoryEntry.objects.create(
        campaign=own_campaign,
        country="FR",
        country_name="France",
        name="Bureau du ministère à Paris",
        email=own_campaign.targets.get(role=Target.Role.TO).email,
        language="fr",
    )
    return own_campaign


def organiser(username: str, organisation: Organisation, role: str = "editor", **fields) -> Client:
    return shared_organiser(username, organisation, role, **fields)


@pytest.fixture
def editor(campaign) -> Client:
    """An editor building the campaign, before it goes live: its recipients are theirs to write then."""
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.DRAFT)
    return organiser("editor", campaign.organisation)


def upload(client: Client, campaign: Campaign, content: bytes):
    file = SimpleUploadedFile("directory.csv", content, content_type="text/csv")
    return client.post(f"/en/studio/c/{campaign.pk}/directory/", {"file": file})


def entries(campaign: Campaign) -> list[tuple[str, str, str, str, str]]:
    return list(
        campaign.directory.order_by("country").values_list("country", "country_name", "name", "email", "language")
    )


# Import and export


def test_a_good_file_with_a_byte_order_mark_replaces_the_directory_and_is_audited(campaign, editor):
    response = upload(editor, campaign, ("\ufeff" + GOOD).encode())
    assert response.status_code == 302
    assert entries(campaign) == [
        ("DE", "Allemagne", "Ministerium in Berlin", "berlin@ministry.example", ""),
        ("FR", "France", "Bureau du ministère à Paris", "office@ministry.example", "fr"),
        ("RU", "Russie", "Министерство в Москве", "moscow@ministry.example", "ru"),
    ]
    entry = AuditEntry.objects.get(action="directory_import")
    assert entry.username == "editor"
    assert "2 added" in entry.summary and "1 unchanged" in entry.summary


def test_once_live_only_a_manager_imports_the_directory(campaign):
    """The directory says where supporters' names go: the campaign's managers decide, once it is live."""
    editor = organiser("live-editor", campaign.organisation)
    before = entries(campaign)  # the campaign's own entry, for France
    assert upload(editor, campaign, GOOD.encode()).status_code == 403
    assert entries(campaign) == before
    manager = organiser("live-manager", campaign.organisation, role="manager")
    assert upload(manager, campaign, GOOD.encode()).status_code == 302
    assert len(entries(campaign)) == 3
    assert AuditEntry.objects.get(action="directory_import").username == "live-manager"


def test_a_spreadsheets_semicolons_without_a_byte_order_mark_and_a_shorter_file_removes_the_rest(campaign):
    import_directory(campaign, GOOD.encode())
    result = import_directory(
        campaign, b"country;country_name;name;email;language\nfr;France;Ambassade;paris2@ministry.example;FR\n\n"
    )
    assert entries(campaign) == [("FR", "France", "Ambassade", "paris2@ministry.example", "fr")]
    assert (result.updated, result.removed) == (["FR"], ["DE", "RU"])


def test_a_bad_file_lists_every_wrong_row_by_number_and_imports_nothing(campaign, editor):
    bad = (
        "country,country_name,name,email,language\n"
        "FR,France,Ambassade,office@ministry.example,fr\n"
        "DE,Allemagne,Botschaft,berlin-at-ministry.example,de\n"
        "FR,France encore,Ambassade,office@ministry.example,fr\n"
        "FRA,Trois lettres,,x@ministry.example,\n"
    )
    response = upload(editor, campaign, bad.encode())
    assert response.status_code == 400
    html = response.content.decode()
    assert "The file was not imported" in html
    assert "Row 3: “berlin-at-ministry.example” is not a valid e-mail address." in html
    assert "Row 3: unknown language “de”" in html
    assert "Row 4: FR is already on row 2: one entry per country." in html
    assert "Row 5: the country code “FRA” is not two letters" in html
    assert "Row 5: the column name is empty." in html
    assert entries(campaign) == [("FR", "France", "Bureau du ministère à Paris", "office@ministry.example", "fr")]
    assert not AuditEntry.objects.filter(action="directory_import").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"country,name,email\nFR,Ambassade,office@ministry.example\n", "Missing: country_name, language."),
        (b"country,country_name,name,email,language\n", "no entries"),
        (b"", "The file is empty."),
        ("country,country_name\nFR,Fran\xe7e\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_a_file_that_is_not_a_directory_says_why(campaign, content, message):
    with pytest.raises(DirectoryImportError) as refused:
        import_directory(campaign, content)
    assert message in " ".join(refused.value.errors)


def test_an_upload_without_a_file_asks_for_one(campaign, editor):
    response = editor.post(f"/en/studio/c/{campaign.pk}/directory/", {})
    assert response.status_code == 400
    assert "Choose the CSV file to import." in response.content.decode()


def test_the_export_has_a_byte_order_mark_neutralised_formulas_and_comes_back_unchanged(campaign, editor):
    DirectoryEntry.objects.create(
        campaign=campaign, country="KZ", country_name="=HYPERLINK(1)", name="@Астана", email="astana@ministry.example"
    )
    response = editor.post(f"/en/studio/c/{campaign.pk}/directory/export/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="directory-free-them.csv"' in response["Content-Disposition"]
    content = response.content
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == ["country", "country_name", "name", "email", "language"]
    assert ["FR", "France", "Bureau du ministère à Paris", "office@ministry.example", "fr"] in rows
    assert ["KZ", "'=HYPERLINK(1)", "'@Астана", "astana@ministry.example", ""] in rows
    assert AuditEntry.objects.filter(action="export", username="editor").exists()

    before = entries(campaign)
    result = import_directory(campaign, content)
    assert entries(campaign) == before
    assert (result.added, result.updated, result.removed, result.unchanged) == ([], [], [], 2)
    assert export_csv(campaign) == content


def test_the_directory_is_listed_in_the_studio_with_its_import_and_export(campaign, editor):
    html = editor.get(f"/en/studio/c/{campaign.pk}/directory/").content.decode()
    assert "office@ministry.example" in html and 'type="file"' in html
    assert f'action="/en/studio/c/{campaign.pk}/directory/export/"' in html


# Signing with a country


@pytest.fixture(autouse=True)
def in_english():
    """Import errors are raised in the active language: the assertions read them in English."""
    with translation.override("en"):
        yield


@pytest.fixture
def with_directory(campaign) -> Campaign:
    import_directory(campaign, GOOD.encode())
    campaign.use_directory = True
    campaign.save()
    return campaign


def test_the_form_asks_for_the_country_from_the_directory_with_not_listed_last(with_directory, client):
    html = client.get(OWN_PAGE.replace("/fr/", "/en/", 1)).content.decode()
    assert '<select name="country"' in html and "required" in html.split('<select name="country"')[1][:200]
    options = html.split('<select name="country"')[1].split("</select>")[0]
    assert options.index('value="DE"') < options.index('value="FR"') < options.index('value="RU"')
    assert options.index('value="RU"') < options.index('value="-"')
    assert "My country is not listed" in options
    assert "the recipient for the country you choose" in html
    assert "Министерство в Москве &lt;moscow@ministry.example&gt;" in html  # the list of recipients


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
    assert (letter.to, letter.cc, letter.status) == (["moscow@ministry.example"], ["allies@solidarity.example"], "sent")
    mail = next(m for m in maildir_messages(sandbox_in_tmp) if m["To"] == "moscow@ministry.example")
    assert sorted(mail.get_all("Delivered-To")) == ["allies@solidarity.example", "moscow@ministry.example"]
    # Paced, paused and counted through a target of its own, which never receives the other letters.
    target = Target.objects.get(campaign=with_directory, email="moscow@ministry.example")
    assert (target.active, target.role, target.language) == (False, "to", "ru")
    assert set(letter.targets.all()) == {target, Target.objects.get(email="allies@solidarity.example")}
    assert target.next_send_at is not None
    # The supporter is told where it went.
    confirmation = next(m for m in maildir_messages(sandbox_in_tmp) if "/confirm/" in m.get_content())
    assert "Министерство в Москве" in confirmation.get_content()


def test_not_listed_sends_the_letter_to_the_campaigns_own_to_targets(with_directory, client, sandbox_in_tmp):
    sign(client, country="-", email="b@example.org")
    assert Signature.objects.get().directory_country == ""
    confirm_and_deliver(client, sandbox_in_tmp)
    letter = OutboxMessage.objects.get(kind=OutboxMessage.Kind.LETTER)
    assert (letter.to, letter.cc) == (["office@ministry.example"], ["allies@solidarity.example"])


def test_an_entry_with_the_address_of_a_to_target_shares_its_pace_and_its_pause(with_directory, client):
    embassy = Target.objects.get(email="office@ministry.example")
    pause_target(embassy, "test")
    sign(client, country="FR", email="c@example.org")
    signature = Signature.objects.get()
    Signature.objects.filter(pk=signature.pk).update(confirmed_at=signature.created_at)
    deliver_everything()
    letter = OutboxMessage.objects.get(kind=OutboxMessage.Kind.LETTER)
    assert letter.to == ["office@ministry.example"]
    assert letter.status == OutboxMessage.Status.HELD
    assert Target.objects.filter(email="office@ministry.example").count() == 1


def test_a_directory_campaign_without_to_targets_still_sends_to_its_entries(with_directory, client):
    Target.objects.filter(role=Target.Role.TO).delete()
    html = client.get(OWN_PAGE.replace("/fr/", "/en/", 1)).content.decode()
    assert "My country is not listed" not in html
    sign(client, country="DE", email="d@example.org")
    Signature.objects.update(confirmed_at=Signature.objects.get().created_at)
    deliver_everything()
    assert OutboxMessage.objects.get(kind=OutboxMessage.Kind.LETTER).to == ["berlin@ministry.example"]


def test_the_letter_preview_shows_the_letter_for_each_country(with_directory, editor):
    url = f"/en/studio/c/{with_directory.pk}/publish/letter/"
    html = unescape(editor.get(url + "?lang=fr&country=DE").content.decode())
    assert '<th scope="row">To</th><td>berlin@ministry.example</td>' in html
    html = unescape(editor.get(url + "?lang=fr&country=").content.decode())
    assert '<th scope="row">To</th><td>office@ministry.example</td>' in html
    assert not Target.objects.filter(email="berlin@ministry.example").exists()  # a preview writes nothing


def test_without_use_directory_the_country_stays_free_text(campaign, client):
    html = client.get(OWN_PAGE).content.decode()
    assert '<input type="text" name="country"' in html
