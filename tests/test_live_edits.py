"""One owner of a campaign's status, and edits to a live campaign checked before they take effect
(security review, issue 12: findings 3 and 4). Everything goes through the operators' admin as they use it;
the studio's own checks are in tests/test_studio.py."""

import pytest

from courrier.accounts.models import AuditEntry
from courrier.campaigns.models import Campaign, Person, Target
from tests.factories import operator
from tests.helpers import admin_form, change_form

pytestmark = pytest.mark.django_db

TYPO = "Nous pensons aussi à Dostiyarv Dauren."  # the case file spells him Dostiyarov Dauren


def campaign_url(campaign: Campaign) -> str:
    return f"/admin/campaigns/campaign/{campaign.pk}/change/"


def letter_field(data: dict[str, str], language: str = "fr") -> str:
    """The form's name for the body of the model letter in `language`."""
    prefix = next(
        key[: -len("-language")]
        for key, value in data.items()
        if key.startswith("letters-") and key.endswith("-language") and value == language
    )
    return f"{prefix}-body"


def status_of(campaign: Campaign) -> str:
    return Campaign.objects.get(pk=campaign.pk).status


def status_entries() -> list[str]:
    return list(
        AuditEntry.objects.filter(action__in=["go_live", "pause", "close", "archive", "status_change"]).values_list(
            "action", flat=True
        )
    )


# ---------- Finding 3: the status has one owner ----------


def test_saving_a_live_campaign_keeps_it_live_and_writes_no_status_entry(demo):
    """The demo is live with the founding letter's slips (blocking findings): an edit elsewhere changes nothing."""
    client = operator()
    _page, data = change_form(client, demo)

    response = client.post(campaign_url(demo), {**data, "summary": "Un résumé plus court."})

    assert response.status_code == 302
    assert status_of(demo) == Campaign.Status.LIVE
    assert Campaign.objects.get(pk=demo.pk).summary == "Un résumé plus court."
    assert status_entries() == []


def test_the_form_offers_only_the_moves_lifecycle_allows_and_refuses_the_others(demo):
    Campaign.objects.filter(pk=demo.pk).update(status=Campaign.Status.ARCHIVED)
    manager = operator()
    page, data = change_form(manager, demo)
    status_select = page.split('name="status"', 1)[1].split("</select>", 1)[0]
    assert 'value="archived"' in status_select and 'value="paused"' not in status_select

    refused = manager.post(campaign_url(demo), {**data, "status": "paused"})

    assert refused.status_code == 200 and 'class="errorlist' in refused.content.decode()
    assert status_of(demo) == Campaign.Status.ARCHIVED
    assert status_entries() == []


def test_a_move_through_the_form_is_lifecycles_with_one_entry_in_the_operators_name(demo):
    manager = operator()
    _page, data = change_form(manager, demo)

    assert manager.post(campaign_url(demo), {**data, "status": "paused"}).status_code == 302

    assert status_of(demo) == Campaign.Status.PAUSED
    assert list(AuditEntry.objects.filter(action="pause").values_list("username", flat=True)) == ["operator"]
    assert status_entries() == ["pause"]


# ---------- Finding 4: edits to a live campaign are checked ----------


def test_a_live_letter_saved_with_a_misspelt_name_is_refused_next_to_its_field_and_nothing_is_kept(demo):
    client = operator()
    _page, data = change_form(client, demo)
    body = letter_field(data)
    before = demo.letters.get(language="fr").body
    data[body] += "\n" + TYPO
    data["summary"] = "Un résumé changé dans la même sauvegarde."

    response = client.post(campaign_url(demo), {**data, "_continue": "1"})

    assert response.status_code == 200  # the form again, not "changed successfully"
    page = response.content.decode()
    assert "Nothing was saved" in page or "Rien n’a été enregistré" in page
    assert TYPO in page  # what was typed is still in the form
    assert "Dostiyarv Dauren" in page.split(f'name="{body}"', 1)[0].rsplit('class="errorlist', 1)[1]
    assert 'class="success"' not in page
    assert demo.letters.get(language="fr").body == before
    assert Campaign.objects.get(pk=demo.pk).summary != data["summary"]
    assert status_of(demo) == Campaign.Status.LIVE


def test_the_same_letter_fixed_again_is_saved(demo):
    manager = operator()
    _page, data = change_form(manager, demo)
    body = letter_field(data)
    data[body] += "\nNous pensons aussi à Dostiyarov Dauren."

    response = manager.post(campaign_url(demo), data)

    assert response.status_code == 302
    assert "Dostiyarov Dauren." in demo.letters.get(language="fr").body
    assert status_of(demo) == Campaign.Status.LIVE


def test_deleting_a_live_campaigns_only_to_target_is_refused(demo):
    manager = operator()
    embassy = demo.targets.get(role=Target.Role.TO)

    response = manager.post(f"/admin/campaigns/target/{embassy.pk}/delete/", {"post": "yes"}, follow=True)

    assert Target.objects.filter(pk=embassy.pk).exists()
    assert "Not deleted" in response.content.decode() or "Pas supprimé" in response.content.decode()


def test_renaming_a_person_of_a_live_campaign_away_from_its_letters_is_refused(demo):
    manager = operator()
    person = Person.objects.get(campaign=demo, name="Dostiyarov Dauren")
    url = f"/admin/campaigns/person/{person.pk}/change/"
    data = admin_form(manager, url)

    response = manager.post(url, {**data, "name": "Dostiyarova Daurena", "other_spellings": ""})

    assert response.status_code == 200
    page = response.content.decode()
    assert "Nothing was saved" in page or "Rien n’a été enregistré" in page
    assert "Dostiyarov Dauren" in page.split('class="errorlist', 1)[1]  # the letters' spelling, now a near-miss
    assert Person.objects.get(pk=person.pk).name == "Dostiyarov Dauren"


def test_a_draft_is_saved_whatever_the_checklist_says(demo):
    Campaign.objects.filter(pk=demo.pk).update(status=Campaign.Status.DRAFT)
    editor = operator()
    _page, data = change_form(editor, demo)
    data[letter_field(data)] += "\n" + TYPO

    assert editor.post(campaign_url(demo), data).status_code == 302
    assert TYPO in demo.letters.get(language="fr").body


def test_deleting_the_targets_from_the_list_is_refused_too_and_says_so(demo):
    manager = operator()
    ids = [str(pk) for pk in demo.targets.values_list("pk", flat=True)]

    response = manager.post(
        "/admin/campaigns/target/", {"action": "delete_selected", "_selected_action": ids, "post": "yes"}, follow=True
    )

    assert demo.targets.count() == 2
    page = response.content.decode()
    assert "Not deleted" in page or "Pas supprimé" in page
    assert 'class="success"' not in page
