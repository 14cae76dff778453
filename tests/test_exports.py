"""Exports for managers, from the studio: a CSV spreadsheets read in Cyrillic and cannot run, and a PDF for
hand delivery."""

import csv
import io

import pytest
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from courrier.accounts.models import AuditEntry, Organisation
from courrier.signatures import exports
from courrier.signatures.models import Signature
from tests.factories import organiser as shared_organiser

pytestmark = pytest.mark.django_db

KAZAKH_LETTERS = "ә ғ қ ң ө ұ ү һ і"


def organiser(username: str, organisation: Organisation | None, role: str = "manager") -> Client:
    return shared_organiser(username, organisation, role)


@pytest.fixture
def manager(own_campaign) -> Client:
    return organiser("manager", own_campaign.organisation)


def signature(campaign, email: str, **fields) -> Signature:
    now = timezone.now()
    values = {
        "first_name": "Ұлжан",
        "last_name": "Қасымова",
        "language": "kk",
        "letter_language": "kk",
        "consent_send": True,
        "confirmed_at": now,
        "confirmation_queued_at": now,
        **fields,
    }
    return Signature.objects.create(campaign=campaign, email=email, **values)


@pytest.fixture
def signatures(own_campaign):
    """Letters that go, with and without news, and signatures that must never be exported."""
    signature(
        own_campaign,
        "news@example.org",
        organisation="Қазақстан кәсіподағы",
        organisation_role="төраға",
        city="Алматы",
        country="Қазақстан",
        personal_sentence=f"Бостандық! {KAZAKH_LETTERS}",
        consent_news=True,
    )
    signature(
        own_campaign, "quiet@example.org", first_name="Pierre", last_name="Martin", city="Lyon", consent_news=False
    )
    signature(
        own_campaign,
        "stopped@example.org",
        first_name="Анна",
        last_name="Иванова",
        consent_news=True,
        news_unsubscribed_at=timezone.now(),
    )
    signature(
        own_campaign,
        "formulas@example.org",
        first_name='=HYPERLINK("https://evil.example","click")',
        last_name="+33 1 23",
        organisation="-2+3",
        organisation_role="@SUM(A1:A9)",
        city="\tTab",
        country="\rReturn",
        personal_sentence="=1+1 is not a formula here",
    )
    signature(own_campaign, "unconfirmed@example.org", first_name="Unconfirmed", confirmed_at=None)
    signature(own_campaign, "held@example.org", first_name="Held", moderation="held", moderation_reason="a link")
    signature(own_campaign, "rejected@example.org", first_name="Rejected", moderation="rejected")
    Signature.objects.create(
        campaign=own_campaign, email="news@example.org", language="fr", letter_language="fr", is_duplicate=True
    )
    signature(own_campaign, "approved@example.org", first_name="Approved", moderation="approved")


def downloaded(response) -> bytes:
    """The file as the browser saves it: the CSV is streamed, a chunk of rows at a time."""
    assert response.streaming
    return b"".join(response.streaming_content)


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(downloaded(response).decode("utf-8-sig"))))


def test_the_csv_starts_with_a_byte_order_mark_and_keeps_cyrillic_and_kazakh(own_campaign, signatures, manager):
    response = manager.post(f"/fr/studio/c/{own_campaign.pk}/export.csv")

    assert response.status_code == 200
    content = downloaded(response)
    assert content.startswith(b"\xef\xbb\xbf")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="signatures-free-them-')
    assert "no-store" in response["Cache-Control"]
    text = content.decode("utf-8-sig")
    assert "Ұлжан,Қасымова,Қазақстан кәсіподағы,төраға,Алматы,Қазақстан" in text
    assert KAZAKH_LETTERS in text


def test_the_csv_holds_only_the_letters_that_go(own_campaign, signatures, manager):
    rows = csv_rows(manager.post(f"/fr/studio/c/{own_campaign.pk}/export.csv"))

    first_names = [row[1] for row in rows[1:]]
    assert sorted(first_names) == sorted(
        ["Ұлжан", "Pierre", "Анна", '\'=HYPERLINK("https://evil.example","click")', "Approved"]
    )


def test_the_address_is_exported_only_for_supporters_who_asked_for_news_and_did_not_stop_them(
    own_campaign, signatures, manager
):
    rows = csv_rows(manager.post(f"/fr/studio/c/{own_campaign.pk}/export.csv"))

    addresses = {row[1]: row[-1] for row in rows[1:]}
    assert addresses["Ұлжан"] == "news@example.org"
    assert addresses["Pierre"] == ""
    assert addresses["Анна"] == ""
    assert "quiet@example.org" not in str(rows) and "stopped@example.org" not in str(rows)


def test_cells_a_spreadsheet_would_run_as_formulas_are_neutralised(own_campaign, signatures, manager):
    rows = csv_rows(manager.post(f"/fr/studio/c/{own_campaign.pk}/export.csv"))

    (row,) = [row for row in rows if "HYPERLINK" in row[1]]
    _date, first, last, organisation, role, city, country, sentence = row[:8]
    assert first == '\'=HYPERLINK("https://evil.example","click")'
    assert last == "'+33 1 23"
    assert organisation == "'-2+3"
    assert role == "'@SUM(A1:A9)"
    assert city == "'\tTab"
    assert country == "'\rReturn"
    assert sentence == "'=1+1 is not a formula here"
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cells in rows for cell in cells)


def test_every_export_is_written_to_the_audit_log(own_campaign, signatures, manager):
    from courrier.accounts.models import AuditEntry

    manager.post(f"/fr/studio/c/{own_campaign.pk}/export.csv")
    manager.post(f"/fr/studio/c/{own_campaign.pk}/export.pdf")

    summaries = list(AuditEntry.objects.filter(action="export").order_by("pk").values_list("summary", flat=True))
    assert summaries == ["csv, 5 rows", "pdf, 5 rows"]
    entry = AuditEntry.objects.filter(action="export").first()
    assert entry.organisation == own_campaign.organisation
    assert entry.user.username == "manager"


def test_the_pdf_for_hand_delivery_prints_kazakh_and_leaves_out_every_address(own_campaign, signatures, manager):
    response = manager.post(f"/fr/studio/c/{own_campaign.pk}/export.pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].endswith('.pdf"')
    assert "no-store" in response["Cache-Control"]
    reader = PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Ұлжан Қасымова" in text
    assert "Қазақстан кәсіподағы" in text
    assert KAZAKH_LETTERS in text
    assert "Pierre Martin" in text and "Approved" in text
    for absent in ("Unconfirmed", "Held", "Rejected", "@example.org"):
        assert absent not in text


def test_a_campaign_without_signatures_exports_a_header_and_an_empty_list(own_campaign, manager):
    rows = csv_rows(manager.post(f"/fr/studio/c/{own_campaign.pk}/export.csv"))
    assert len(rows) == 1
    pdf = manager.post(f"/fr/studio/c/{own_campaign.pk}/export.pdf")
    assert PdfReader(io.BytesIO(pdf.content)).pages


def test_only_the_campaigns_managers_may_export(own_campaign, signatures, client):
    editor = organiser("editor", own_campaign.organisation, "editor")
    stranger = organiser("stranger", Organisation.objects.create(name="Another union"))
    for path in ("export.csv", "export.pdf"):
        url = f"/fr/studio/c/{own_campaign.pk}/{path}"
        assert editor.post(url).status_code == 403
        assert stranger.post(url).status_code == 404
        assert client.post(url).status_code == 302  # to the login page
        assert b"news@example.org" not in client.post(url, follow=True).content
    assert not AuditEntry.objects.filter(action="export").exists()


def test_an_export_is_a_post_not_a_link_a_browser_may_prefetch(own_campaign, manager):
    assert manager.get(f"/fr/studio/c/{own_campaign.pk}/export.csv").status_code == 405


def test_the_csv_is_sent_a_few_rows_at_a_time_and_is_the_whole_file(own_campaign, signatures, manager, monkeypatch):
    monkeypatch.setattr(exports, "CSV_CHUNK", 2)
    response = manager.post(f"/fr/studio/c/{own_campaign.pk}/export.csv")
    chunks = list(response.streaming_content)
    assert len(chunks) == 3  # five rows: two, two, then the last one
    assert b"".join(chunks) == exports.signatures_csv(own_campaign)[0]
    entry = AuditEntry.objects.get(action="export")
    assert entry.summary == "csv, 5 rows"


def pdf_text(response) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)


def test_a_large_campaigns_pdf_comes_in_parts_numbered_from_the_first_signature(own_campaign, manager, monkeypatch):
    monkeypatch.setattr(exports, "PDF_PART_SIZE", 2)
    for n in range(5):
        signature(own_campaign, f"part{n}@example.org", first_name="Signer", last_name=f"Number{n + 1}")
    url = f"/fr/studio/c/{own_campaign.pk}/export.pdf"

    progress = manager.get(f"/fr/studio/c/{own_campaign.pk}/progress/").content.decode()
    options = progress[progress.index('name="part"') : progress.index("</select>")]
    assert options.count("<option") == 3 and "signatures 5 à 5" in options
    assert "Téléchargez-les le même jour" in progress, "the page says a part may shift after a change"
    second = manager.post(url, {"part": "2"})
    assert second["Content-Disposition"].endswith('-part-2.pdf"')
    text = pdf_text(second)
    assert "3. Signer Number3" in text and "4. Signer Number4" in text
    assert "Number2" not in text and "Number5" not in text
    assert "5. Signer Number5" in pdf_text(manager.post(url, {"part": "3"}))
    summaries = list(AuditEntry.objects.filter(action="export").order_by("pk").values_list("summary", flat=True))
    assert summaries == ["pdf part 2, 2 rows", "pdf part 3, 1 rows"]


@pytest.mark.parametrize("part", ["4", "0", "-1", "two", "9" * 30, "²", "9" * 5000])
def test_a_part_of_the_pdf_that_does_not_exist_is_refused_in_words_and_not_recorded(
    own_campaign, manager, monkeypatch, part
):
    monkeypatch.setattr(exports, "PDF_PART_SIZE", 2)
    for n in range(5):
        signature(own_campaign, f"part{n}@example.org")

    response = manager.post(f"/fr/studio/c/{own_campaign.pk}/export.pdf", {"part": part}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == f"/fr/studio/c/{own_campaign.pk}/progress/"
    assert "Cette partie du PDF n’existe pas" in response.content.decode(), "said in the organiser's language"
    assert not AuditEntry.objects.filter(action="export").exists()
