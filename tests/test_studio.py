"""The organisers' studio (/<language>/studio/): signing in, the home, a campaign from a pasted call,
the letter and people steps, and who may open what."""

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from courrier.accounts import totp
from courrier.accounts.models import AuditEntry, Membership, TOTPDevice
from courrier.campaigns.models import Campaign, ModelLetter
from tests.factories import live_campaign, new_organisation, organiser
from tests.helpers import maildir_messages, page_form
from tests.test_appeals import FOUNDING_CALL

pytestmark = pytest.mark.django_db

HOME = "/fr/studio/"


@pytest.fixture
def group():
    return new_organisation("Gauche révolutionnaire")


@pytest.fixture
def manager(group):
    return organiser("camille", group, role=Membership.Role.MANAGER, email="camille@group.example")


def from_call(client, text: str = FOUNDING_CALL):
    """The "from a call" form as the page serves it: the member's only organisation is its hidden choice."""
    organisation = client.user.memberships.get().organisation_id
    return client.post("/fr/studio/new/", {"way": "from-call", "call-text": text, "call-organisation": organisation})


def test_a_new_organiser_signs_in_sets_up_the_second_factor_and_gives_their_address(group):
    user = User.objects.create_user("aliya", password="a long test password", is_staff=True)
    Membership.objects.create(user=user, organisation=group, role=Membership.Role.EDITOR)
    client = Client()
    asked = client.get(HOME)
    assert asked.status_code == 302 and asked["Location"].startswith("/fr/studio/sign-in/")
    wrong = client.post("/fr/studio/sign-in/", {"username": "aliya", "password": "not it", "next": HOME})
    assert wrong.status_code == 200 and "ne correspondent à aucun compte" in wrong.content.decode()
    signed_in = client.post(
        "/fr/studio/sign-in/", {"username": "aliya", "password": "a long test password", "next": HOME}
    )
    assert signed_in["Location"].startswith("/fr/studio/second-factor/set-up/")
    setup = client.get(signed_in["Location"])
    secret = TOTPDevice.objects.get(user=user).secret
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in setup.content.decode()
    # The home stays closed until the code is typed.
    assert client.get(HOME)["Location"].startswith("/fr/studio/second-factor/set-up/")
    refused = client.post(signed_in["Location"], {"code": "12345x", "next": HOME})
    assert refused.status_code == 200 and "Saisissez les 6 chiffres" in refused.content.decode()
    confirmed = client.post(signed_in["Location"], {"code": totp.totp(secret), "next": HOME})
    assert confirmed["Location"].startswith("/fr/studio/my-address/")
    bad_address = client.post(confirmed["Location"], {"email": "not an address", "next": HOME})
    assert bad_address.status_code == 200 and "adresse de courriel valide" in bad_address.content.decode()
    saved = client.post(confirmed["Location"], {"email": "aliya@group.example", "next": HOME})
    assert saved["Location"] == HOME
    user.refresh_from_db()
    assert user.email == "aliya@group.example"
    home = client.get(HOME)
    assert home.status_code == 200 and "Vos campagnes" in home.content.decode()
    assert home["Cache-Control"] == "no-store"


def test_a_later_sign_in_asks_for_a_fresh_code_and_refuses_the_same_one_twice(group):
    user = organiser("aliya", group, email="aliya@group.example").user
    device = TOTPDevice.objects.get(user=user)
    client = Client()
    verify = client.post("/fr/studio/sign-in/", {"username": "aliya", "password": "a long test password"})
    assert verify["Location"].startswith("/fr/studio/second-factor/?")
    code = totp.totp(device.secret)
    assert client.post(verify["Location"], {"code": code})["Location"] == HOME
    other = Client()
    other.post("/fr/studio/sign-in/", {"username": "aliya", "password": "a long test password"})
    replayed = other.post("/fr/studio/second-factor/", {"code": code})
    assert replayed.status_code == 200 and "déjà été utilisé" in replayed.content.decode()
    assert other.get(HOME).status_code == 302


def test_the_home_lists_my_organisations_campaigns_with_what_they_need(manager, group):
    live_campaign("ours", organisation=group, title="Libérez-les")
    live_campaign("theirs", title="Another group's campaign")
    page = manager.get(HOME).content.decode()
    assert "Libérez-les" in page and "Another group" not in page
    assert "Lettres comptées" in page and "Retenue pour examen" in page


def test_a_pasted_call_becomes_a_draft_to_review_and_nothing_is_sent(manager, settings):
    made = from_call(manager)
    campaign = Campaign.objects.get()
    assert made["Location"] == f"/fr/studio/c/{campaign.pk}/"
    assert campaign.status == Campaign.Status.DRAFT and not campaign.real_delivery
    page = manager.get(made["Location"]).content.decode()
    for expected in ("paris@mfa.kz", "chakmonro@ya.ru", "Valikhan Sultanov", "Yrysbek Toktasyn", "Dostiyarov Dauren"):
        assert expected in page
    assert "Valikha Sultanov" in page and "Yrbsek Tottasyn" in page  # the checker's findings
    assert "Valikhan Sultanov (Valikha Sultanov); Yrysbek Toktasyn (Yrbsek Tottasyn)" in page  # told at once
    assert "Mode test" in page
    assert maildir_messages(settings.SANDBOX_MAILDIR) == []


def test_an_empty_call_is_refused_in_french_with_nothing_made(manager):
    refused = from_call(manager, text="  ")
    assert refused.status_code == 200 and "Collez le texte de l’appel." in refused.content.decode()
    assert not Campaign.objects.exists()


def test_fixing_the_names_in_the_letter_clears_the_checkers_findings(manager):
    from_call(manager)
    campaign = Campaign.objects.get()
    url = f"/fr/studio/c/{campaign.pk}/letter/fr/"
    assert "Valikha Sultanov" in manager.get(url).content.decode()
    letter = campaign.letters.get()
    fixed = letter.body.replace("Valikha Sultanov", "Valikhan Sultanov").replace("Yrbsek Tottasyn", "Yrysbek Toktasyn")
    saved = manager.post(url, {"subject": letter.subject, "body": fixed})
    assert saved["Location"] == url
    page = manager.get(url).content.decode()
    assert "Valikha Sultanov" not in page and "Yrbsek" not in page
    # What is left is advice (the 6 July of the letter has passed), nothing that blocks.
    checker = page[page.index('id="checker"') :].split("</section>")[0]
    assert "finding blocker" not in checker and "6 juillet" in checker


def test_an_english_letter_is_written_beside_the_original(manager):
    from_call(manager)
    campaign = Campaign.objects.get()
    url = f"/fr/studio/c/{campaign.pk}/letter/en/"
    page = manager.get(url).content.decode()
    assert "Monsieur l’Ambassadeur" in page  # the original, side by side
    manager.post(
        url, {"subject": "Repression in Kazakhstan", "body": "Dear Ambassador,\n\n{personal_sentence}\n\n{signature}"}
    )
    english = campaign.letters.get(language="en")
    assert english.is_translation and english.subject == "Repression in Kazakhstan"


def test_an_edit_that_would_block_a_live_campaign_is_not_kept_and_what_was_typed_stays(manager, group):
    campaign = live_campaign("ours", organisation=group)
    url = f"/fr/studio/c/{campaign.pk}/letter/fr/"
    refused = manager.post(url, {"subject": "Lettre", "body": "Madame,\n\n{signataire}\n\n{signature}"})
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "n’a pas été gardée" in page and "{signataire}" in page
    assert ModelLetter.objects.get(campaign=campaign).body == "Madame,\n\n{personal_sentence}\n\n{signature}"


def test_people_are_added_renamed_and_removed_in_the_case_file(manager):
    from_call(manager)
    campaign = Campaign.objects.get()
    url = f"/fr/studio/c/{campaign.pk}/people/"
    people = list(campaign.people.all())
    form = {
        "people-TOTAL_FORMS": "4",
        "people-INITIAL_FORMS": "3",
        "people-MIN_NUM_FORMS": "0",
        "people-MAX_NUM_FORMS": "1000",
    }
    for index, person in enumerate(people):
        form |= {
            f"people-{index}-id": str(person.pk),
            f"people-{index}-name": person.name,
            f"people-{index}-status": "detained",
        }
    form |= {"people-0-other_spellings": "Валихан Султанов", "people-2-DELETE": "on"}
    form |= {"people-3-name": "Aigerim Tleuzhan", "people-3-status": "charged"}
    assert manager.post(url, form)["Location"] == url
    assert [(p.name, p.status) for p in campaign.people.all()] == [
        ("Valikhan Sultanov", "detained"),
        ("Yrysbek Toktasyn", "detained"),
        ("Aigerim Tleuzhan", "charged"),
    ]
    assert campaign.people.get(name="Valikhan Sultanov").spellings() == ["Валихан Султанов"]


def test_the_studio_speaks_each_language(manager, group):
    campaign = live_campaign("ours", organisation=group)
    for language, word in {"en": "Your campaigns", "ru": "Ваши кампании", "kk": "Сіздің науқандарыңыз"}.items():
        assert word in manager.get(f"/{language}/studio/").content.decode()
        page = manager.get(f"/{language}/studio/c/{campaign.pk}/")
        assert page.status_code == 200 and f'lang="{language}"' in page.content.decode()


def test_the_story_is_previewed_without_saving_then_saved(manager):
    from_call(manager)
    campaign = Campaign.objects.get()
    url = f"/fr/studio/c/{campaign.pk}/story/"
    form = {"title": "Libérez-les", "summary": "Trois militants blessés.", "article": "Un **récit**.", "photo_alt": ""}
    previewed = manager.post(url, {**form, "preview": "1"})
    assert "<strong>récit</strong>" in previewed.content.decode()
    campaign.refresh_from_db()
    assert campaign.title == "Répression du mouvement social au Kazakhstan"
    assert manager.post(url, form)["Location"] == url
    campaign.refresh_from_db()
    assert (campaign.title, campaign.article) == ("Libérez-les", "Un **récit**.")


def test_a_file_that_is_not_a_picture_is_refused_in_french_and_the_story_kept(manager):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from_call(manager)
    campaign = Campaign.objects.get()
    fake = SimpleUploadedFile("photo.jpg", b"not a picture at all", content_type="image/jpeg")
    answer = manager.post(
        f"/fr/studio/c/{campaign.pk}/story/", {"title": "Nouveau titre", "summary": "Résumé", "photo": fake}
    )
    page = answer.content.decode()
    assert answer.status_code == 200 and 'value="Nouveau titre"' in page and "Téléversez une image valide" in page
    campaign.refresh_from_db()
    assert campaign.title != "Nouveau titre" and not campaign.photo


def recipients_form(client, campaign, **changes) -> dict:
    """The recipients step's form as the browser posts it back, with `changes` typed in."""
    return page_form(client, f"/fr/studio/c/{campaign.pk}/recipients/") | changes


def test_recipients_are_changed_by_an_editor_in_a_draft_and_every_change_is_audited(group):
    from courrier.accounts.models import AuditEntry

    editor = organiser("eli", group, role=Membership.Role.EDITOR, email="eli@group.example")
    campaign = live_campaign("ours", organisation=group, status=Campaign.Status.DRAFT)
    url = f"/fr/studio/c/{campaign.pk}/recipients/"
    form = recipients_form(editor, campaign)
    form |= {"targets-1-role": "cc", "targets-1-name": "Allies", "targets-1-email": "allies@solidarity.example"}
    saved = editor.post(url, form)
    assert saved.status_code == 302, saved.content.decode()[:3000]
    assert sorted(campaign.targets.values_list("role", "email")) == [
        ("cc", "allies@solidarity.example"),
        ("to", "office@target.example"),
    ]
    assert AuditEntry.objects.filter(action="target_change", username="eli").count() == 1


def test_a_live_campaigns_recipients_are_for_its_managers_only(group, manager):
    editor = organiser("eli", group, role=Membership.Role.EDITOR, email="eli@group.example")
    campaign = live_campaign("ours", organisation=group)
    url = f"/fr/studio/c/{campaign.pk}/recipients/"
    page = editor.get(url).content.decode()
    assert "seuls ses responsables" in page and "disabled" in page
    editor.post(url, recipients_form(manager, campaign, **{"targets-0-email": "elsewhere@attacker.example"}))
    assert campaign.targets.get().email == "office@target.example"
    changed = manager.post(url, recipients_form(manager, campaign, **{"targets-0-email": "new-office@target.example"}))
    assert changed.status_code == 302, changed.content.decode()[-3000:]
    assert campaign.targets.get().email == "new-office@target.example"


def test_a_test_goes_to_the_organiser_alone_and_is_read_in_the_test_mailbox(manager, settings):
    from tests.helpers import deliver_everything

    from_call(manager)
    campaign = Campaign.objects.get()
    sent = manager.post(f"/fr/studio/c/{campaign.pk}/publish/test/", {"lang": "fr"})
    assert sent["Location"] == f"/fr/studio/c/{campaign.pk}/publish/"
    deliver_everything()
    [received] = maildir_messages(settings.SANDBOX_MAILDIR)
    assert received["To"] == "camille@group.example" and "paris@mfa.kz" not in str(received)
    box = manager.get("/fr/studio/mailbox/").content.decode()
    key = re.search(r'href="/fr/studio/mailbox/([^/"]+)/"', box).group(1)
    message = manager.get(f"/fr/studio/mailbox/{key}/").content.decode()
    assert "Monsieur l’Ambassadeur" in message and "[TEST]" in message
    # Editors never read the mailbox: it holds supporters' names and addresses.
    editor = organiser("eli", campaign.organisation, role=Membership.Role.EDITOR, email="eli@group.example")
    assert editor.get("/fr/studio/mailbox/").status_code == 403
    assert editor.get(f"/fr/studio/mailbox/{key}/").status_code == 403


def test_publishing_is_refused_while_something_blocks_then_lands_on_the_public_address(manager):
    from_call(manager)
    campaign = Campaign.objects.get()
    refused = manager.post(f"/fr/studio/c/{campaign.pk}/publish/go-live/")
    assert refused["Location"] == f"/fr/studio/c/{campaign.pk}/publish/"
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    letter = campaign.letters.get()
    letter.body = letter.body.replace("Valikha Sultanov", "Valikhan Sultanov").replace(
        "Yrbsek Tottasyn", "Yrysbek Toktasyn"
    )
    letter.save()
    assert "Publier la campagne" in manager.get(f"/fr/studio/c/{campaign.pk}/publish/").content.decode()
    published = manager.post(f"/fr/studio/c/{campaign.pk}/publish/go-live/")
    assert published["Location"] == f"/fr/studio/c/{campaign.pk}/published/"
    page = manager.get(published["Location"]).content.decode()
    assert f"http://127.0.0.1:8000/fr/c/{campaign.slug}/" in page and "qr.svg" in page
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.LIVE and not campaign.real_delivery


def test_an_editor_prepares_but_a_manager_publishes(group):
    editor = organiser("eli", group, role=Membership.Role.EDITOR, email="eli@group.example")
    campaign = live_campaign("ours", organisation=group, status=Campaign.Status.DRAFT)
    assert (
        "Un responsable de l’organisation la publie."
        in editor.get(f"/fr/studio/c/{campaign.pk}/publish/").content.decode()
    )
    assert editor.post(f"/fr/studio/c/{campaign.pk}/publish/go-live/").status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_the_previews_show_the_page_and_the_letter_as_the_target_receives_it(manager):
    from_call(manager)
    campaign = Campaign.objects.get()
    page = manager.get(f"/fr/studio/c/{campaign.pk}/publish/page/?lang=fr").content.decode()
    assert "Aperçu" in page and "Répression du mouvement social" in page
    letter = manager.get(f"/fr/studio/c/{campaign.pk}/publish/letter/?lang=fr").content.decode()
    assert "paris@mfa.kz" in letter and "chakmonro@ya.ru" in letter and "Camille Martin" in letter
    missing = manager.get(f"/fr/studio/c/{campaign.pk}/publish/letter/?lang=kk").content.decode()
    assert "Il n’y a pas encore de lettre" in missing


def test_the_page_is_translated_beside_the_original_and_can_be_withdrawn(manager):
    from_call(manager)
    campaign = Campaign.objects.get()
    url = f"/fr/studio/c/{campaign.pk}/page/en/"
    page = manager.get(url).content.decode()
    assert "Alors que les prix des produits" in page  # the original, beside the form
    manager.post(url, {"title": "Repression in Kazakhstan", "summary": "Three activists were injured and jailed."})
    assert campaign.texts.get(language="en").title == "Repression in Kazakhstan"
    # Published in English, the page now needs its English letter.
    findings = manager.get(f"/fr/studio/c/{campaign.pk}/publish/").content.decode()
    assert re.search(r"il n’y a pas de lettre type en\W+Anglais", findings)
    manager.post(url, {"remove": "1"})
    assert not campaign.texts.exists()
    # Pressed a second time (another tab): still withdrawn, not published again.
    assert manager.post(url, {"remove": "1", "title": "Again", "summary": "Again."})["Location"].endswith("/story/")
    assert not campaign.texts.exists()
    assert manager.get(f"/fr/studio/c/{campaign.pk}/page/fr/").status_code == 404  # the original is the story


def test_a_persons_timeline_gets_dated_entries_that_the_public_page_shows(manager, group, client):
    from courrier.campaigns.models import Person

    campaign = live_campaign("ours", organisation=group)
    person = Person.objects.create(campaign=campaign, name="Valikhan Sultanov")
    url = f"/fr/studio/c/{campaign.pk}/people/{person.pk}/"
    assert "Ce champ est obligatoire" not in manager.get(url).content.decode()  # an empty form, not a refused one
    manager.post(url, {"date": "2021-07-14", "language": "fr", "text": "Libéré après dix jours."})
    entry = person.updates.get()
    assert (str(entry.date), entry.text) == ("2021-07-14", "Libéré après dix jours.")
    assert "Libéré après dix jours." in client.get("/fr/c/ours/").content.decode()
    refused = manager.post(url, {"date": "not a date", "language": "fr", "text": "x"})
    assert refused.status_code == 200 and "Saisissez une date valide" in refused.content.decode()
    manager.post(url, {"remove": str(entry.pk)})
    assert not person.updates.exists()
    assert AuditEntry.objects.filter(action="deletion", username="camille").count() == 1
    assert manager.get(f"/fr/studio/c/{campaign.pk}/people/999999/").status_code == 404


def test_the_directory_is_imported_and_exported_as_csv(manager, group):
    from django.core.files.uploadedfile import SimpleUploadedFile

    campaign = live_campaign("ours", organisation=group, status=Campaign.Status.DRAFT)
    url = f"/fr/studio/c/{campaign.pk}/directory/"
    csv = "country,country_name,name,email,language\nFR,France,Ambassade du Kazakhstan,paris@embassy.example,fr\n"
    manager.post(url, {"file": SimpleUploadedFile("d.csv", csv.encode(), content_type="text/csv")})
    assert list(campaign.directory.values_list("country", "email")) == [("FR", "paris@embassy.example")]
    exported = manager.post(f"/fr/studio/c/{campaign.pk}/directory/export/")
    assert b"paris@embassy.example" in exported.content and exported["Cache-Control"] == "no-store"
    bad = manager.post(url, {"file": SimpleUploadedFile("d.csv", b"nonsense", content_type="text/csv")})
    assert bad.status_code == 400 and campaign.directory.count() == 1


def test_the_checker_reads_the_letter_as_it_is_typed_without_saving_it(manager):
    from_call(manager)
    campaign = Campaign.objects.get()
    url = f"/fr/studio/c/{campaign.pk}/letter/fr/check/"
    answer = manager.post(url, {"subject": "Lettre", "body": "Libérez Yrbsek Tottasyn ! {signataire}"})
    texts = [finding["text"] for finding in answer.json()["findings"] if finding["blocks"]]
    assert any("Yrbsek Tottasyn" in text for text in texts) and any("{signataire}" in text for text in texts)
    assert answer["Cache-Control"] == "no-store"
    clean = manager.post(url, {"subject": "Lettre", "body": "Libérez Yrysbek Toktasyn ! {signature}"}).json()
    assert clean["findings"] == []
    # And the letter as a target reads it, signed by the sample supporter.
    assert clean["reading"]["subject"] == "Lettre"
    assert (
        clean["reading"]["body"].startswith("Libérez Yrysbek Toktasyn ! ")
        and "{signature}" not in clean["reading"]["body"]
    )
    assert "Valikha Sultanov" in campaign.letters.get().body  # nothing was saved
    assert manager.get(url).status_code == 405


def test_a_manager_switches_real_mail_on_only_where_the_site_sends_mail(manager, group, settings):
    from courrier.accounts.models import AuditEntry

    campaign = live_campaign("ours", organisation=group)
    url = f"/fr/studio/c/{campaign.pk}/published/real-mail/"
    settings.EMAIL_HOST = ""
    refused = manager.post(url, {"real": "on"}, follow=True)
    assert "n’envoie pas encore de vrai courrier" in refused.content.decode()
    campaign.refresh_from_db()
    assert not campaign.real_delivery
    settings.EMAIL_HOST = "127.0.0.1"
    manager.post(url, {"real": "on"})
    campaign.refresh_from_db()
    assert campaign.real_delivery
    manager.post(url, {})
    campaign.refresh_from_db()
    assert not campaign.real_delivery
    summaries = list(AuditEntry.objects.filter(action="status_change").order_by("pk").values_list("summary", flat=True))
    assert [summary.split("\u00a0:")[0] for summary in summaries] == ["courrier réel activé", "courrier réel coupé"]
