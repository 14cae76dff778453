"""The pre-publish checklist and its letter checker: what blocks a campaign from going live, and what does not."""

import datetime
import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from courrier.accounts.models import AuditEntry, Organisation
from courrier.campaigns.checklist import BLOCKING, WARNING, blocking, run_checklist
from courrier.campaigns.letter_checker import Text, check_names, dates_in
from courrier.campaigns.models import Campaign, CampaignText, ModelLetter, Target
from tests.helpers import change_form

pytestmark = pytest.mark.django_db

LANGUAGES = ["fr", "en", "ru", "kk"]
MISSPELT = {"Valikha Sultanov": "Valikhan Sultanov", "Yrbsek Tottasyn": "Yrysbek Toktasyn"}
CASE_FILE = [
    ("Valikhan Sultanov", ["Валихан Султанов"]),
    ("Yrysbek Toktasyn", ["Ырысбек Токтасын"]),
    ("Dostiyarov Dauren", ["Dauren Dostiyarov", "Даурен Достияров"]),
]


@pytest.fixture
def staff_client():
    user = User.objects.create_superuser("staff", password="a long test password")
    client = Client()
    client.force_login(user)
    return client


def fix_the_names(campaign: Campaign) -> None:
    for letter in campaign.letters.all():
        for wrong, right in MISSPELT.items():
            letter.body = letter.body.replace(wrong, right)
        letter.save()


def codes(findings) -> set[tuple[str, str, str]]:
    return {(finding.code, finding.language, finding.subject) for finding in findings}


def names_found(text: str, language: str = "ru") -> list[str]:
    return [finding.subject for finding in check_names([Text(language, "body", text)], CASE_FILE)]


def test_the_founding_letters_misspelled_names_are_caught_in_every_language(demo):
    findings = run_checklist(demo)
    near_misses = {f for f in findings if f.code == "name_near_miss"}
    assert {(f.language, f.field, f.subject) for f in near_misses} == {
        (language, "body", wrong) for language in LANGUAGES for wrong in MISSPELT
    }
    assert all(f.severity == BLOCKING for f in near_misses)
    fr = next(f for f in near_misses if f.language == "fr" and f.subject == "Yrbsek Tottasyn")
    assert "Yrysbek Toktasyn" in fr.message
    # The right spellings, in the letters and in the article, are not flagged.
    assert not {f.subject for f in findings} & {"Valikhan Sultanov", "Yrysbek Toktasyn", "Dostiyarov Dauren"}


def test_fixing_the_names_in_the_letters_lets_the_campaign_go_live(demo):
    fix_the_names(demo)
    findings = run_checklist(demo)
    assert blocking(findings) == []
    assert "name_near_miss" not in {f.code for f in findings}


def test_declined_names_are_the_same_name_and_slips_in_any_script_are_caught():
    assert names_found("Мы требуем освободить Валихана Султанова и Ырысбека Токтасына.") == []
    assert names_found("Біз Даурен Достияровты және Ырысбекке хат жазамыз.", "kk") == []
    assert names_found("Dauren Dostiyarov, Sultanov’s lawyer, Dear Ambassador of Kazakhstan to France,", "en") == []
    assert names_found("Пострадал Валиха Султанов.") == ["Валиха Султанов"]
    assert names_found("Tottasyn was sentenced.", "en") == ["Tottasyn"]


def test_an_unknown_placeholder_or_a_lone_brace_blocks(demo):
    fix_the_names(demo)
    letter = demo.letters.get(language="en")
    letter.subject = "Protest {full name}"
    letter.body = letter.body.replace("{signatory} demands", "{signatory demands") + "\n{unknown}\n"
    letter.save()
    findings = blocking(run_checklist(demo))
    assert codes(findings) >= {
        ("unknown_placeholder", "en", "{full name}"),
        ("unknown_placeholder", "en", "{unknown}"),
    }
    lone = [f for f in findings if f.code == "unbalanced_brace"]
    assert len(lone) == 1 and "{signatory demands" in lone[0].message


def test_each_language_the_page_is_published_in_needs_its_letter(demo):
    fix_the_names(demo)
    demo.letters.filter(language="ru").delete()
    assert codes(blocking(run_checklist(demo))) == {("missing_letter", "ru", "")}
    CampaignText.objects.filter(campaign=demo, language="ru").delete()
    assert blocking(run_checklist(demo)) == []


def test_a_campaign_without_an_active_to_target_is_blocked(demo):
    fix_the_names(demo)
    demo.targets.filter(role=Target.Role.TO).update(active=False)
    assert {f.code for f in blocking(run_checklist(demo))} == {"no_to_target"}


def test_invalid_and_duplicate_target_addresses_are_blocked(demo):
    fix_the_names(demo)
    demo.targets.filter(email="chakmonro@ya.ru").update(email="chakmonro@@ya.ru")
    Target.objects.create(campaign=demo, role=Target.Role.CC, name="Embassy again", email="PARIS@mfa.kz")
    assert codes(blocking(run_checklist(demo))) == {
        ("invalid_target", "", "chakmonro@@ya.ru"),
        ("duplicate_target", "", "paris@mfa.kz"),
    }


def test_a_placeholder_sender_is_a_warning_in_the_sandbox_and_blocks_once_real_mail_is_possible(demo, settings):
    fix_the_names(demo)
    settings.SENDER_EMAIL = settings.LETTERS_SENDER_EMAIL = "courrier@localhost"
    [finding] = [f for f in run_checklist(demo) if f.code == "sender_placeholder"]
    assert finding.severity == WARNING
    settings.EMAIL_HOST = "127.0.0.1"
    assert {f.code for f in blocking(run_checklist(demo))} == {"sender_placeholder"}
    settings.LETTERS_SENDER_EMAIL = ""
    assert {f.code for f in blocking(run_checklist(demo))} == {"sender_placeholder", "sender_missing"}


def test_dates_that_have_passed_are_warnings_and_coming_ones_are_not(demo):
    fix_the_names(demo)
    next_year = timezone.localdate().year + 1
    letter = demo.letters.get(language="fr")
    letter.body += f"\nLe procès du 13.07.2021 a été reporté au 2 février {next_year}.\n"
    letter.save()
    letter = demo.letters.get(language="ru")
    letter.body += f"\nСуд 13 июля 2021 года перенесён на 2 февраля {next_year} года.\n"
    letter.save()
    past = [f for f in run_checklist(demo) if f.code == "past_date" and f.field == "body"]
    assert {(f.language, f.subject) for f in past} >= {("fr", "2021-07-13"), ("ru", "2021-07-13")}
    assert all(f.severity == WARNING for f in past)
    assert not [f for f in past if f.subject.startswith(str(next_year))]
    assert blocking(run_checklist(demo)) == []


@pytest.mark.parametrize(
    "written",
    [
        "13 July 2021",
        "July 13, 2021",
        "13.07.2021",
        "2021-07-13",
        "13 juillet 2021",
        "13 июля 2021",
        "2021 жылғы 13 шілдеде",
    ],
)
def test_dates_are_read_in_each_language_and_format(written):
    [found] = dates_in(f"Le texte dit : {written}, puis rien.", datetime.date(2026, 11, 24))
    assert found.date == datetime.date(2021, 7, 13)


def test_checkcampaign_prints_each_finding_and_exits_1_while_going_live_is_blocked(demo):
    out = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("checkcampaign", "kazakhstan-repression", "--language", "en", stdout=out)
    assert refused.value.returncode == 1
    lines = out.getvalue().splitlines()
    blocking_lines = [line for line in lines if line.startswith("kazakhstan-repression\tblocking\t")]
    assert len(blocking_lines) == 8
    assert any(
        line.startswith("kazakhstan-repression\tblocking\tkk\t") and "Valikha Sultanov" in line for line in lines
    )
    fix_the_names(demo)
    out = io.StringIO()
    call_command("checkcampaign", "kazakhstan-repression", stdout=out)
    assert "\tblocking\t" not in out.getvalue()


def test_checkcampaign_without_a_slug_checks_every_campaign_and_an_unknown_slug_exits_2(demo):
    fix_the_names(demo)
    organisation = Organisation.objects.create(name="Red Yurt", contact_email="redyurt@example.org")
    empty = Campaign.objects.create(organisation=organisation, slug="empty", title="Empty", summary="Nothing yet.")
    ModelLetter.objects.create(campaign=empty, language="fr", subject="Objet", body="{signature}")
    out = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("checkcampaign", stdout=out)
    assert refused.value.returncode == 1
    assert "empty\tblocking\t-\t" in out.getvalue()
    assert "kazakhstan-repression\tblocking" not in out.getvalue()
    with pytest.raises(CommandError) as unknown:
        call_command("checkcampaign", "no-such-campaign")
    assert unknown.value.returncode == 2


def checklist_shown(page: str) -> str:
    return page.split('<ul class="checklist">', 1)[1].split("</ul>", 1)[0]


def test_the_back_office_refuses_to_go_live_until_the_checklist_passes(demo, staff_client):
    Campaign.objects.filter(pk=demo.pk).update(status=Campaign.Status.DRAFT)
    url = f"/admin/campaigns/campaign/{demo.pk}/change/"
    page, data = change_form(staff_client, demo)
    assert "Valikha Sultanov" in checklist_shown(page) and "Yrbsek Tottasyn" in checklist_shown(page)

    refused = staff_client.post(url, {**data, "status": "live", "_continue": "1"})
    assert refused.status_code == 302 and refused.url == url  # saved as a draft, back to the page
    errors = staff_client.get(url).content.decode().split('class="messagelist"', 1)[1].split("</ul>", 1)[0]
    assert 'class="error"' in errors and "Valikha Sultanov" in errors and "Yrbsek Tottasyn" in errors
    demo.refresh_from_db()
    assert demo.status == Campaign.Status.DRAFT
    assert not AuditEntry.objects.filter(action="go_live").exists()

    fix_the_names(demo)
    _page, data = change_form(staff_client, demo)
    accepted = staff_client.post(url, {**data, "status": "live"})
    assert accepted.status_code == 302
    demo.refresh_from_db()
    assert demo.status == Campaign.Status.LIVE
    assert "Valikha Sultanov" not in checklist_shown(change_form(staff_client, demo)[0])


def test_a_fix_typed_in_the_same_save_as_going_live_is_kept_and_the_campaign_goes_live(demo, staff_client):
    Campaign.objects.filter(pk=demo.pk).update(status=Campaign.Status.DRAFT)
    _page, data = change_form(staff_client, demo)
    for key in [key for key in data if key.startswith("letters-") and key.endswith("-body")]:
        for wrong, right in MISSPELT.items():
            data[key] = data[key].replace(wrong, right)

    response = staff_client.post(f"/admin/campaigns/campaign/{demo.pk}/change/", {**data, "status": "live"})

    assert response.status_code == 302 and response.url == "/admin/campaigns/campaign/"
    demo.refresh_from_db()
    assert demo.status == Campaign.Status.LIVE
    assert not any(wrong in letter.body for letter in demo.letters.all() for wrong in MISSPELT)
    assert AuditEntry.objects.get(action="go_live").username == "staff"


def test_a_letter_broken_in_the_same_save_as_going_live_keeps_the_campaign_a_draft(demo, staff_client):
    fix_the_names(demo)
    Campaign.objects.filter(pk=demo.pk).update(status=Campaign.Status.DRAFT)
    _page, data = change_form(staff_client, demo)
    prefix = next(
        key[: -len("-language")]
        for key, value in data.items()
        if key.endswith("-language") and value == "fr" and key.startswith("letters-")
    )
    data[f"{prefix}-body"] += "\n{unknown}\n"
    response = staff_client.post(f"/admin/campaigns/campaign/{demo.pk}/change/", {**data, "status": "live"})
    assert response.status_code == 302
    demo.refresh_from_db()
    assert "{unknown}" in demo.letters.get(language="fr").body
    assert demo.status == Campaign.Status.DRAFT
    assert response.url == f"/admin/campaigns/campaign/{demo.pk}/change/"
    page = staff_client.get(response.url).content.decode()
    messages = page.split('class="messagelist"', 1)[1].split("</ul>")[0]
    assert 'class="error"' in messages and "{unknown}" in messages
    assert "{unknown}" in checklist_shown(page)
