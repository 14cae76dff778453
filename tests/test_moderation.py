"""Moderation: a supporter's own words that trip a rule are held, and go only once a manager approves them."""

import datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils import timezone

from courrier.accounts.models import Organisation
from courrier.campaigns.models import BlockedWords, Campaign
from courrier.delivery import enqueue
from courrier.delivery.models import OutboxMessage
from courrier.delivery.worker import Worker
from courrier.signatures import tallies
from courrier.signatures.models import Signature
from tests.factories import OFFICE, confirmed_signatures
from tests.factories import organiser as shared_organiser
from tests.helpers import confirmation_path, decide, deliver_everything, held_queue, letters_to, maildir_messages, sign

pytestmark = pytest.mark.django_db


def sign_and_confirm(client: Client, sandbox, slug: str = "free-them", **fields) -> Signature:
    """A supporter signs on the page and confirms from the e-mail; the worker does the rest."""
    assert sign(client, slug=slug, **fields).status_code == 302
    deliver_everything()
    signature = Signature.objects.with_address(fields.get("email", "ulzhan@example.org")).get()
    confirmation = next(
        m for m in maildir_messages(sandbox) if "/confirm/" in m.get_content() and m["To"] == signature.email
    )
    assert client.post(confirmation_path(confirmation)).status_code == 302
    deliver_everything()
    signature.refresh_from_db()
    return signature


def screened(campaign: Campaign, sentence: str = "", **fields) -> Signature:
    """One confirmed signature with this sentence, after the worker's pass that queues letters."""
    (signature,) = confirmed_signatures(
        campaign, 1, personal_sentence=sentence, prefix=f"s{Signature.objects.count()}", **fields
    )
    enqueue.queue_letters()
    signature.refresh_from_db()
    return signature


def membership(user: User, organisation: Organisation, role: str) -> None:
    from courrier.accounts.models import Membership

    Membership.objects.create(user=user, organisation=organisation, role=role)


def organiser(username: str, organisation: Organisation | None, role: str = "manager") -> Client:
    return shared_organiser(username, organisation, role)


@pytest.fixture
def manager(own_campaign) -> Client:
    return organiser("manager", own_campaign.organisation, "manager")


# ---------- The rules ----------


@pytest.mark.parametrize(
    "sentence",
    [
        "Lisez https://example.org/verite avant de juger.",
        "Plus d'informations sur http://example.org",
        "Voir www.example.org pour la vérité.",
        "Все подробности на example.ru, там правда.",
        "Write to truth@example.org for the facts.",
        "Толығырақ: сайт.рф",
        "VISIT EXAMPLE.COM NOW",
    ],
)
def test_a_sentence_with_a_link_or_an_address_is_held(own_campaign, sentence):
    signature = screened(own_campaign, sentence)

    assert signature.moderation == Signature.Moderation.HELD
    assert signature.moderation_reason
    assert not OutboxMessage.objects.filter(signature=signature).exists()
    assert signature.letters_queued_at is None


@pytest.mark.parametrize(
    "sentence",
    [
        "Libérez les travailleurs de Zhanaozen, maintenant.",
        "Свободу политзаключённым! Т.е. всем, кто сидит за забастовку.",
        "Саяси тұтқындарға бостандық! Әділет үшін.",
        "The strike of 2011 ended in blood.We remember.",
        "Solidarité de la CGT, section 3.5 du congrès.",
    ],
)
def test_an_ordinary_sentence_goes_without_review(own_campaign, sentence):
    signature = screened(own_campaign, sentence)

    assert signature.moderation == Signature.Moderation.NONE
    assert OutboxMessage.objects.filter(signature=signature, kind=OutboxMessage.Kind.LETTER).count() == 1


@pytest.mark.parametrize(
    ("language", "word", "sentence"),
    [
        ("fr", "vendu", "Ce gouvernement VENDU doit tomber."),
        ("ru", "провокатор", "Каждый   Провокатор будет наказан."),
        ("kk", "сатқын", "Сатқын билік кетсін!"),
        ("en", "go to hell", "They can go  to HELL."),
    ],
)
def test_a_word_from_any_of_the_campaigns_lists_holds_the_sentence(own_campaign, language, word, sentence):
    BlockedWords.objects.create(campaign=own_campaign, language=language, words=f"autre\n{word}\n")

    signature = screened(own_campaign, sentence)

    assert signature.moderation == Signature.Moderation.HELD
    assert word in signature.moderation_reason


def test_a_listed_word_inside_another_word_does_not_hold_the_sentence(own_campaign):
    BlockedWords.objects.create(campaign=own_campaign, language="fr", words="con")

    assert screened(own_campaign, "Nous continuons, confiants.").moderation == Signature.Moderation.NONE


def test_another_campaigns_list_does_not_apply(own_campaign):
    other = Campaign.objects.create(
        organisation=own_campaign.organisation, slug="other", title="Other", summary="Other"
    )
    BlockedWords.objects.create(campaign=other, language="fr", words="grève")

    assert screened(own_campaign, "Vive la grève !").moderation == Signature.Moderation.NONE


@override_settings(MODERATION_MAX_SENTENCE=400)
def test_a_sentence_over_the_length_limit_is_held_and_one_at_the_limit_is_not(own_campaign):
    assert screened(own_campaign, "а" * 400).moderation == Signature.Moderation.NONE
    long = screened(own_campaign, "ә" * 401)
    assert long.moderation == Signature.Moderation.HELD
    assert "401" in long.moderation_reason


def test_the_third_copy_of_a_sentence_within_a_day_is_held_but_not_the_first_two(own_campaign):
    now = timezone.now()
    variants = [
        "Free the oil workers of Zhanaozen  now!",
        "FREE THE OIL WORKERS OF ZHANAOZEN NOW!",
        "free the oil workers\nof Zhanaozen now!",
        "Free the oil workers of Zhanaozen now!",
    ]
    signatures = [
        Signature.objects.create(
            campaign=own_campaign,
            first_name="Copy",
            last_name=str(i),
            email=f"copy{i}@example.org",
            language="fr",
            letter_language="fr",
            consent_send=True,
            personal_sentence=text,
            confirmed_at=now,
            confirmation_queued_at=now,
        )
        for i, text in enumerate(variants)
    ]
    enqueue.queue_letters()

    states = [Signature.objects.get(pk=s.pk).moderation for s in signatures]
    assert states == ["none", "none", "held", "held"]
    assert "3" in Signature.objects.get(pk=signatures[2].pk).moderation_reason


def test_copies_more_than_a_day_apart_are_not_repeats(own_campaign):
    now = timezone.now()
    for i in range(2):
        old = Signature.objects.create(
            campaign=own_campaign,
            first_name="Old",
            last_name=str(i),
            email=f"old{i}@example.org",
            language="fr",
            letter_language="fr",
            consent_send=True,
            personal_sentence="Free the oil workers of Zhanaozen now!",
        )
        Signature.objects.filter(pk=old.pk).update(created_at=now - datetime.timedelta(hours=25))

    assert screened(own_campaign, "Free the oil workers of Zhanaozen now!").moderation == Signature.Moderation.NONE


def test_a_short_slogan_written_by_many_supporters_is_not_a_repeat(own_campaign):
    for _ in range(5):
        assert screened(own_campaign, "Бостандық!").moderation == Signature.Moderation.NONE


def test_an_edited_letter_is_held_for_a_link_the_supporter_added_not_for_the_model_letter(own_campaign):
    model = own_campaign.letter_for("fr").body
    own_campaign.allow_letter_editing = True
    own_campaign.save()

    unchanged_lines = screened(own_campaign, letter_body=model.replace("{personal_sentence}", "{personal_sentence}\n"))
    added_link = screened(own_campaign, letter_body=model + "\nTout est sur www.example.org")

    assert unchanged_lines.moderation == Signature.Moderation.NONE
    assert added_link.moderation == Signature.Moderation.HELD


def test_a_signature_without_words_of_its_own_is_never_held(own_campaign):
    """Names and city go to the targets only; the organisation and role, published, are read (below)."""
    BlockedWords.objects.create(campaign=own_campaign, language="fr", words="Signer\nӘсел")

    signature = screened(own_campaign, "", city="www.example.org")

    assert signature.moderation == Signature.Moderation.NONE
    assert OutboxMessage.objects.filter(signature=signature, kind=OutboxMessage.Kind.LETTER).exists()


# ---------- Held, approved, rejected: through the real worker ----------


def test_a_held_letter_is_never_sent_and_the_supporter_is_told_it_is_queued(own_campaign, client, sandbox_in_tmp):
    signature = sign_and_confirm(
        client, sandbox_in_tmp, first_name="Spam", personal_sentence="Achetez sur https://spam.example"
    )
    for _ in range(3):
        deliver_everything()

    assert signature.moderation == Signature.Moderation.HELD
    assert letters_to(sandbox_in_tmp, "Spam", OFFICE) == []
    kinds = set(OutboxMessage.objects.filter(signature=signature).values_list("kind", flat=True))
    assert kinds == {"confirmation"}  # neither the letter nor the supporter's copy
    page = client.get(confirmation_path(sandbox_in_tmp)).content.decode()
    assert 'data-state="queued"' in page


def test_approving_a_held_letter_lets_the_worker_send_it(own_campaign, client, manager, sandbox_in_tmp):
    signature = sign_and_confirm(
        client, sandbox_in_tmp, first_name="Aigerim", personal_sentence="Les faits : www.example.org"
    )
    assert signature.moderation == Signature.Moderation.HELD

    response = decide(manager, own_campaign, "approve", signature)
    assert response.status_code == 302
    deliver_everything()

    signature.refresh_from_db()
    assert signature.moderation == Signature.Moderation.APPROVED
    (letter,) = letters_to(sandbox_in_tmp, "Aigerim", OFFICE)
    assert "www.example.org" in letter.get_content()
    assert OutboxMessage.objects.get(signature=signature, kind="copy").status == "sent"


def test_rejecting_a_held_letter_means_it_is_never_sent_nor_counted(own_campaign, client, manager, sandbox_in_tmp):
    signature = sign_and_confirm(
        client,
        sandbox_in_tmp,
        first_name="Troll",
        organisation="Trolls United",
        consent_list_organisation="on",
        personal_sentence="https://troll.example",
    )
    deliver_everything()
    own_campaign.refresh_from_db()
    assert "Trolls United" not in own_campaign.tally_organisations  # not listed while held

    decide(manager, own_campaign, "reject", signature)
    for _ in range(3):
        deliver_everything()
    Worker(clock=lambda: timezone.now() + datetime.timedelta(minutes=5)).run_once()  # the periodic recount

    signature.refresh_from_db()
    own_campaign.refresh_from_db()
    assert signature.moderation == Signature.Moderation.REJECTED
    assert letters_to(sandbox_in_tmp, "Troll", OFFICE) == []
    assert not OutboxMessage.objects.filter(signature=signature, kind__in=["letter", "copy"]).exists()
    assert own_campaign.tally_letters == 0
    assert "Trolls United" not in own_campaign.tally_organisations
    # The supporter is not told: nothing but their confirmation request was ever sent to them.
    assert [m["Subject"] for m in maildir_messages(sandbox_in_tmp) if m["To"] == signature.email] == [
        next(m["Subject"] for m in maildir_messages(sandbox_in_tmp) if "/confirm/" in m.get_content())
    ]


def test_approving_and_rejecting_one_by_one_from_the_queue(own_campaign, manager):
    first = screened(own_campaign, "https://one.example")
    second = screened(own_campaign, "https://two.example")
    page = manager.get(held_queue(own_campaign)).content.decode()
    assert "https://one.example" in page and "https://two.example" in page
    assert f'value="{first.pk}"' in page and f'value="{second.pk}"' in page

    assert decide(manager, own_campaign, "approve", first).status_code == 302
    assert decide(manager, own_campaign, "reject", second).status_code == 302

    assert Signature.objects.get(pk=first.pk).moderation == "approved"
    assert Signature.objects.get(pk=second.pk).moderation == "rejected"
    assert "https://one.example" not in manager.get(held_queue(own_campaign)).content.decode()
    enqueue.queue_letters()
    assert OutboxMessage.objects.filter(signature=first, kind="letter").count() == 1
    assert not OutboxMessage.objects.filter(signature=second).exists()


def test_every_decision_is_written_to_the_audit_log(own_campaign, manager):
    from courrier.accounts.models import AuditEntry

    held = [screened(own_campaign, f"https://{n}.example") for n in ("a", "b", "c")]
    decide(manager, own_campaign, "approve", held[0], held[1])
    decide(manager, own_campaign, "reject", held[2])

    entries = AuditEntry.objects.filter(action="moderation").order_by("pk")
    assert entries.count() == 3
    assert [entry.summary.split()[0] for entry in entries] == ["approved", "approved", "rejected"]
    assert all(entry.user.username == "manager" for entry in entries)
    # The rule, never the words: the log outlives the supporter's erasure.
    assert all(entry.summary.endswith("): un lien") for entry in entries), [e.summary for e in entries]
    assert not any(".example" in entry.summary for entry in entries)


def test_a_quarantined_letter_is_logged_as_a_burst_and_a_word_by_its_list_not_by_itself(own_campaign, manager):
    from courrier.accounts.models import AuditEntry

    BlockedWords.objects.create(campaign=own_campaign, language="fr", words="provocateur")
    worded = screened(own_campaign, "Ce sont des provocateurs, pas des provocateur.")
    burst = confirmed_signatures(own_campaign, 1, prefix="burst", moderation=Signature.Moderation.BURST)[0]
    Signature.objects.filter(pk=burst.pk).update(moderation_rules="burst", moderation_reason="burst: many")
    decide(manager, own_campaign, "approve", worded, burst)

    summaries = sorted(AuditEntry.objects.filter(action="moderation").values_list("summary", flat=True))
    assert "provocateur" not in " ".join(summaries)
    assert any("un mot des listes de la campagne" in summary for summary in summaries), summaries
    assert any("une rafale de signatures d’un même réseau" in summary for summary in summaries), summaries


@pytest.mark.parametrize(
    ("organisation", "role"),
    [
        ("Read the truth on evil.example", ""),
        ("Comité de soutien", "write to boss@evil.example"),
        ("Union des provocateur", ""),
    ],
)
def test_an_organisation_or_role_that_trips_a_rule_is_held_and_not_listed_until_approved(
    own_campaign, manager, client, organisation, role
):
    """They are published on the campaign page: the rules read them like the supporter's sentence."""
    BlockedWords.objects.create(campaign=own_campaign, language="ru", words="provocateur")
    signature = screened(
        own_campaign, organisation=organisation, organisation_role=role, consent_list_organisation=True
    )
    tallies.refresh_tallies([own_campaign.pk])

    assert signature.moderation == Signature.Moderation.HELD
    assert organisation not in client.get("/fr/c/free-them/").content.decode()
    decide(manager, own_campaign, "approve", signature)
    enqueue.queue_letters()
    tallies.refresh_tallies([own_campaign.pk])
    assert organisation in client.get("/fr/c/free-them/").content.decode()


def test_an_ordinary_organisation_and_role_go_unheld(own_campaign):
    signature = screened(own_campaign, organisation="Профсоюз «Достоинство»", organisation_role="председатель")
    assert signature.moderation == Signature.Moderation.NONE
    assert OutboxMessage.objects.filter(signature=signature, kind="letter").exists()


def test_the_queue_lists_held_letters_with_their_sentence_and_reason(own_campaign, manager):
    screened(own_campaign, "Tout est sur www.example.org")
    screened(own_campaign, "Libérez-les.")

    page = manager.get(held_queue(own_campaign)).content.decode()

    assert "Tout est sur www.example.org" in page
    assert "Libérez-les." not in page


# ---------- Who may moderate ----------


def test_an_editor_cannot_moderate(own_campaign):
    held = screened(own_campaign, "https://spam.example")
    editor = organiser("editor", own_campaign.organisation, "editor")

    assert decide(editor, own_campaign, "approve", held).status_code == 403

    assert Signature.objects.get(pk=held.pk).moderation == "held"
    assert editor.get(held_queue(own_campaign)).status_code == 403


def test_a_manager_of_another_organisation_sees_and_decides_nothing(own_campaign):
    held = screened(own_campaign, "https://spam.example")
    elsewhere = Organisation.objects.create(name="Another union")
    stranger = organiser("stranger", elsewhere, "manager")

    assert stranger.get(held_queue(own_campaign)).status_code == 404
    assert decide(stranger, own_campaign, "approve", held).status_code == 404
    # Nor through a campaign of their own: the letter is looked for in that campaign only.
    theirs = Campaign.objects.create(organisation=elsewhere, slug="theirs", title="Theirs", summary="Theirs.")
    decide(stranger, theirs, "approve", held)
    assert Signature.objects.get(pk=held.pk).moderation == "held"


def test_visitors_cannot_reach_the_queue(own_campaign, client):
    held = screened(own_campaign, "https://spam.example")
    assert client.get(held_queue(own_campaign)).status_code == 302
    decide(client, own_campaign, "approve", held)
    assert Signature.objects.get(pk=held.pk).moderation == "held"


def test_managers_edit_their_campaigns_word_lists(own_campaign, manager):
    response = manager.post(f"/fr/studio/c/{own_campaign.pk}/held/rules/", {"words-ru": "провокатор\n\n"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert BlockedWords.objects.get(campaign=own_campaign, language="ru").word_list() == ["провокатор"]


def test_the_upgrade_leaves_the_words_out_of_earlier_moderation_entries(own_campaign):
    """accounts 0004: entries written before named the reason, which can quote the supporter."""
    import importlib

    from django.apps import apps
    from django.db import connection

    from courrier.accounts.models import AuditEntry

    old = AuditEntry.objects.create(action="moderation", summary="approved #12 (kazakhstan-repression): a link: x.ru")
    other = AuditEntry.objects.create(action="export", summary="csv, 3 rows")
    migration = importlib.import_module("courrier.accounts.migrations.0004_moderation_entries_name_no_words")

    migration.without_reasons(apps, type("SchemaEditor", (), {"connection": connection})())

    assert AuditEntry.objects.get(pk=old.pk).summary == "approved #12 (kazakhstan-repression)"
    assert AuditEntry.objects.get(pk=other.pk).summary == "csv, 3 rows"
