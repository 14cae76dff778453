"""A campaign's progress for its managers, and where its signatures come from (page, embed, QR code, share)."""

import datetime
import xml.etree.ElementTree as ET
import zoneinfo
from functools import partial
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from courrier.accounts.models import Organisation
from courrier.delivery import progress
from courrier.delivery.models import Bounce, OutboxMessage, ProgressFigures, Recipient
from courrier.delivery.recipients import recipient_rows
from courrier.signatures import figures
from courrier.signatures.models import Signature
from tests import helpers
from tests.factories import ALLY, OFFICE, OWN_PAGE, OWN_SLUG
from tests.factories import organiser as shared_organiser

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"

sign = partial(helpers.sign, slug=OWN_SLUG)
signature_form = partial(helpers.signature_form, OWN_SLUG)


def organiser(username: str, organisation: Organisation | None, role: str = "manager") -> Client:
    return shared_organiser(username, organisation, role)


@pytest.fixture
def manager(own_campaign) -> Client:
    return organiser("manager", own_campaign.organisation)


class Tables(HTMLParser):
    """Each <table id=…> of a page as its rows of cell texts, the header row included."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.captions: dict[str, str] = {}
        self.current: str | None = None
        self.cell: list[str] | None = None
        self.in_caption = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.current = attrs.get("id", "")
            self.tables[self.current] = []
        elif tag == "tr" and self.current is not None:
            self.tables[self.current].append([])
        elif tag in ("td", "th") and self.current is not None:
            self.cell = []
        elif tag == "caption":
            self.in_caption = True
            self.captions[self.current] = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[self.current][-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "caption":
            self.in_caption = False
        elif tag == "table":
            self.current = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)
        elif self.in_caption:
            self.captions[self.current] += data


def add_signature(campaign, n: int, days_ago: int, confirmed: bool = True, **fields) -> Signature:
    created = timezone.now() - datetime.timedelta(days=days_ago)
    values = {
        "first_name": "Signer",
        "last_name": str(n),
        "language": "fr",
        "letter_language": "fr",
        "consent_send": True,
        "confirmed_at": created if confirmed else None,
        "confirmation_queued_at": created,
        **fields,
    }
    signature = Signature.objects.create(campaign=campaign, email=f"s{n}@example.org", **values)
    Signature.objects.filter(pk=signature.pk).update(created_at=created)
    return signature


def letter(campaign, signature, status: str, targets, sandbox: bool = True) -> OutboxMessage:
    message = OutboxMessage.objects.create(
        kind="letter",
        campaign=campaign,
        signature=signature,
        message_id=f"<{signature.pk}-{status}@test>",
        sandbox=sandbox,
        from_name="x",
        from_email="letters@example.org",
        envelope_from="letters@example.org",
        to=[t.email for t in targets],
        subject="s",
        body="b",
        status=status,
    )
    # Each recipient as the worker would have recorded it for a message in this state.
    rows = recipient_rows(message, targets)
    for row in rows:
        row.status = {"sent": "sent", "failed": "failed"}.get(status, "queued")
    Recipient.objects.bulk_create(rows)
    return message


@pytest.fixture
def known_data(own_campaign):
    """Nine signatures over three days, in three languages and four sources, in every state."""
    office = own_campaign.targets.get(role="to")
    copy = own_campaign.targets.get(role="cc")
    two_days_ago = [
        add_signature(own_campaign, 1, 2, language="ru", letter_language="ru", source="qr"),
        add_signature(own_campaign, 2, 2, language="ru", letter_language="fr", source="qr"),
        add_signature(own_campaign, 3, 2, confirmed=False, language="kk", letter_language="kk", source="share"),
    ]
    today = [
        add_signature(own_campaign, 4, 0, source="embed"),
        add_signature(own_campaign, 5, 0),
        add_signature(own_campaign, 6, 0, moderation="held", personal_sentence="https://x.example"),
        add_signature(own_campaign, 7, 0, moderation="rejected"),
        add_signature(own_campaign, 8, 0, confirmed=False),
        add_signature(own_campaign, 9, 0, language="kk", letter_language="kk", source="share"),
    ]
    Signature.objects.create(
        campaign=own_campaign, email="s1@example.org", language="fr", letter_language="fr", is_duplicate=True
    )
    both = [office, copy]
    letter(own_campaign, two_days_ago[0], "sent", both, sandbox=False)
    bounced = letter(own_campaign, two_days_ago[1], "failed", both, sandbox=False)
    letter(own_campaign, today[0], "sent", both)
    letter(own_campaign, today[1], "queued", both)
    letter(own_campaign, today[5], "deferred", both)
    Bounce.objects.create(message=bounced, recipient=OFFICE, domain=OFFICE.split("@")[1], status="5.1.1")
    Bounce.objects.create(message=bounced, recipient=OFFICE, domain=OFFICE.split("@")[1], status="4.2.2")
    Bounce.objects.create(message=bounced, recipient="old@gone.example", domain="gone.example", status="5.7.1")
    return own_campaign


def progress_page(client: Client, campaign) -> str:
    response = client.get(f"/fr/studio/c/{campaign.pk}/progress/")
    assert response.status_code == 200
    return response.content.decode()


def test_signatures_per_day_are_counted_with_the_days_between(known_data, manager):
    tables = Tables(progress_page(manager, known_data))

    rows = tables.tables["per-day"]
    assert len(rows[0]) == 3  # the header row
    assert [row[1:] for row in rows[1:]] == [["6", "5"], ["0", "0"], ["3", "2"]]  # today first
    assert tables.captions["per-day"].strip()


def test_the_chart_is_an_svg_bar_per_day_drawn_by_the_server(known_data, manager):
    page = progress_page(manager, known_data)
    start = page.index('<svg xmlns="http://www.w3.org/2000/svg"')  # the chart (the admin has icons too)
    svg = page[start : page.index("</svg>", start) + len("</svg>")]

    root = ET.fromstring(svg)  # noqa: S314 (the site's own output, under test)
    bars = root.findall(f"{SVG}g")
    assert len(bars) == 3
    titles = [bar.find(f"{SVG}title").text for bar in bars]
    assert "6" in titles[-1] and "5" in titles[-1]
    heights = [float(rect.get("height")) for rect in bars[-1].findall(f"{SVG}rect")]
    empty_day = [float(rect.get("height")) for rect in bars[1].findall(f"{SVG}rect")]
    assert heights[0] > 0 and heights[1] > 0 and empty_day == [0, 0]
    assert root.get("role") == "img" and root.find(f"{SVG}title") is not None
    assert "style=" not in svg and "<script>" not in page


def test_signatures_are_counted_by_language_and_source(known_data, manager):
    tables = Tables(progress_page(manager, known_data)).tables

    page_languages = {row[0]: row[1:] for row in tables["by-page-language"][1:]}
    letter_languages = {row[0]: row[1:] for row in tables["by-letter-language"][1:]}
    sources = {row[0]: row[1:] for row in tables["by-source"][1:]}
    assert page_languages == {"Français": ["5", "4"], "Русский": ["2", "2"], "Қазақша": ["2", "1"]}
    assert letter_languages == {"Français": ["6", "5"], "Русский": ["1", "1"], "Қазақша": ["2", "1"]}
    assert {name: counts[0] for name, counts in sources.items()} == {
        str(Signature.Source.PAGE.label): "4",
        str(Signature.Source.QR.label): "2",
        str(Signature.Source.SHARE.label): "2",
        str(Signature.Source.EMBED.label): "1",
    }


def test_signatures_and_letters_are_counted_by_delivery_state(known_data, manager):
    states = [row[1] for row in Tables(progress_page(manager, known_data)).tables["by-state"][1:]]

    waiting, confirmed, held, rejected, quarantined, queued, paused, sent, sandbox, failed, cancelled = map(int, states)
    assert (waiting, confirmed, held, rejected, quarantined) == (2, 7, 1, 1, 0)  # quarantine: tests/test_quarantine.py
    assert (queued, paused, sent, sandbox, failed, cancelled) == (2, 0, 1, 1, 1, 0)


def test_bounces_and_failures_are_counted_per_target(known_data, manager):
    rows = Tables(progress_page(manager, known_data)).tables["per-target"][1:]

    office, ally, others = rows
    assert OFFICE in office[0]
    # sent, kept in the sandbox, waiting, failed, bounces, refusals
    assert office[1:] == ["1", "1", "2", "1", "2", "1"]
    assert ALLY in ally[0]
    assert ally[1:] == ["1", "1", "2", "1", "0", "0"]
    assert others[1:] == ["–", "–", "–", "–", "1", "1"]


def test_the_letters_sent_agree_between_the_campaigns_counts_and_each_targets_row(known_data, manager):
    tables = Tables(progress_page(manager, known_data)).tables
    states = [int(row[1]) for row in tables["by-state"][1:]]
    sent, in_sandbox = states[7], states[8]  # the rows "Letters sent", "Letters kept in the sandbox mailbox"
    office = tables["per-target"][1]  # the campaign's one To target: every letter goes to it

    assert (int(office[1]), int(office[2])) == (sent, in_sandbox) == (1, 1)


def test_the_page_costs_a_fixed_number_of_queries_whatever_the_number_of_signatures(known_data, manager):
    with CaptureQueriesContext(connection) as few:
        progress_page(manager, known_data)
    for n in range(10, 60):
        add_signature(known_data, n, n % 5, source="qr")
    with CaptureQueriesContext(connection) as many:
        progress_page(manager, known_data)
    assert len(many) == len(few)


def test_a_large_campaigns_figures_are_counted_by_the_worker_and_the_page_says_when(known_data, manager, monkeypatch):
    # As if counting this campaign took longer than a page view may wait.
    monkeypatch.setattr(progress, "LIVE_SECONDS", 0)
    assert "counted-at" not in progress_page(manager, known_data), "never counted: counted for the page"
    add_signature(known_data, 20, 0)

    page = progress_page(manager, known_data)
    assert Tables(page).tables["per-day"][1][1:] == ["6", "5"], "as counted, not recounted for each view"
    assert 'id="counted-at"' in page
    counted_at = ProgressFigures.objects.get(campaign=known_data).counted_at
    progress.refresh_progress(counted_at + datetime.timedelta(seconds=30))
    assert Tables(progress_page(manager, known_data)).tables["per-day"][1][1:] == ["6", "5"], "not due yet"
    progress.refresh_progress(counted_at + progress.SMALLEST_REFRESH)
    assert Tables(progress_page(manager, known_data)).tables["per-day"][1][1:] == ["7", "6"]


def test_kept_figures_the_worker_no_longer_keeps_up_to_date_are_counted_again_for_the_page(
    known_data, manager, monkeypatch
):
    monkeypatch.setattr(progress, "LIVE_SECONDS", 0)
    progress_page(manager, known_data)
    add_signature(known_data, 20, 0)
    assert Tables(progress_page(manager, known_data)).tables["per-day"][1][1:] == ["6", "5"], "kept"

    # The worker stopped: figures older than three of its intervals are not shown as current.
    ProgressFigures.objects.filter(campaign=known_data).update(counted_at=timezone.now() - datetime.timedelta(hours=1))
    assert Tables(progress_page(manager, known_data)).tables["per-day"][1][1:] == ["7", "6"]
    # An archived campaign is not counted by the worker at all: its page counts.
    add_signature(known_data, 21, 0)
    known_data.__class__.objects.filter(pk=known_data.pk).update(status="archived")
    assert Tables(progress_page(manager, known_data)).tables["per-day"][1][1:] == ["8", "7"]


def test_the_worker_counts_a_public_campaign_it_has_never_counted_and_leaves_quick_ones_to_their_page(known_data):
    progress.refresh_progress(timezone.now())
    kept = ProgressFigures.objects.get(campaign=known_data)
    signatures = kept.figures["signatures"]
    assert signatures["states"] == {"waiting": 2, "confirmed": 7, "held": 1, "rejected": 1, "quarantined": 0}
    assert signatures["exportable"] == 5 and signatures["awaiting_decision"] == 1
    assert kept.figures["letters"] == {"sent 0": 1, "failed 0": 1, "sent 1": 1, "queued 1": 1, "deferred 1": 1}
    progress.refresh_progress(timezone.now() + datetime.timedelta(days=1))
    assert ProgressFigures.objects.get(campaign=known_data).counted_at == kept.counted_at, "quick: its page counts"


@pytest.mark.parametrize("zone", ["Europe/Paris", "Asia/Kolkata", "America/St_Johns"])
def test_signatures_are_counted_on_the_day_of_the_sites_time_zone(own_campaign, settings, zone):
    settings.TIME_ZONE = zone
    local = zoneinfo.ZoneInfo(zone)
    day = datetime.date(2026, 7, 14)
    # A minute before and a minute after midnight there: Kolkata is 5 h 30 from UTC, St John's 2 h 30 in summer.
    for n, moment in enumerate([datetime.time(23, 59), datetime.time(0, 1)]):
        when = datetime.datetime.combine(day + datetime.timedelta(days=n), moment, tzinfo=local)
        signature = add_signature(own_campaign, n, 0)
        Signature.objects.filter(pk=signature.pk).update(created_at=when)

    counted = figures.count_figures(own_campaign.pk).days
    assert counted == {day: [1, 1], day + datetime.timedelta(days=1): [1, 1]}


def test_a_campaign_without_signatures_has_no_chart_and_says_so(own_campaign, manager):
    page = progress_page(manager, own_campaign)
    assert "progress-chart" not in page and 'id="per-day"' not in page
    assert 'id="per-target"' in page


def test_only_the_campaigns_managers_see_its_progress(known_data, client):
    url = f"/fr/studio/c/{known_data.pk}/progress/"
    assert organiser("editor", known_data.organisation, "editor").get(url).status_code == 403
    assert organiser("stranger", Organisation.objects.create(name="Another union")).get(url).status_code == 404
    assert client.get(url).status_code == 302


def test_the_campaigns_overview_in_the_studio_links_to_its_progress(known_data, manager):
    page = manager.get(f"/fr/studio/c/{known_data.pk}/").content.decode()
    assert f'href="/fr/studio/c/{known_data.pk}/progress/"' in page


# ---------- Where signatures come from ----------


def test_a_signature_from_the_campaign_page_is_counted_as_the_page(own_campaign, client):
    sign(client)
    assert Signature.objects.get().source == "page"


def test_the_qr_code_address_marks_the_signature_as_coming_from_the_qr_code(own_campaign, client):
    page = client.get(OWN_PAGE + "?src=qr").content.decode()
    assert '<input type="hidden" name="source" value="qr">' in page

    client.post(OWN_PAGE + "sign/", {**signature_form(), "source": "qr"})

    assert Signature.objects.get().source == "qr"


def test_share_links_carry_the_share_source_and_a_signature_from_them_counts_as_shared(own_campaign, client):
    sign(client)
    thanks = client.get(OWN_PAGE + "check-your-inbox/").content.decode()
    assert "src%3Dshare" in thanks or "src=share" in thanks
    assert client.get(OWN_PAGE + "?src=share").content.decode().count('name="source" value="share"') == 1

    client.post(OWN_PAGE + "sign/", {**signature_form(email="friend@example.org"), "source": "share"})

    assert Signature.objects.with_address("friend@example.org").get().source == "share"


@pytest.mark.parametrize("forged", ["embed", "page", "javascript:alert(1)", "x" * 500, ""])
def test_an_unknown_or_forged_source_from_the_page_counts_as_the_page(own_campaign, client, forged):
    response = client.post(OWN_PAGE + "sign/", {**signature_form(), "source": forged})
    assert response.status_code == 302
    assert Signature.objects.get().source == "page"


def test_a_forged_source_on_the_page_address_is_not_echoed_unescaped(own_campaign, client):
    page = client.get(OWN_PAGE + '?src="><script>x</script>').content.decode()
    assert "<script>x</script>" not in page


def test_a_signature_from_the_embedded_form_is_counted_as_embedded(own_campaign):
    own_campaign.embed_origins = "https://www.red-yurt.example"
    own_campaign.save()
    frame = Client(enforce_csrf_checks=True)
    form = frame.get(f"/fr/embed/{OWN_SLUG}/").content.decode()
    token = form.split('name="form_token" value="')[1].split('"')[0]

    response = frame.post(f"/fr/embed/{OWN_SLUG}/sign/", {**signature_form(), "form_token": token})

    assert response.status_code == 302
    assert Signature.objects.get().source == "embed"
