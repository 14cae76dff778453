"""A digest lists exactly the letters written to its target, as they were written; who receives them is a
manager's decision once the campaign is live (security review, issue 12: findings 1 and 2)."""

import io

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from pypdf import PdfReader

from courrier.accounts.models import AuditEntry
from courrier.backoffice.progress import per_target
from courrier.campaigns.models import Campaign, DirectoryEntry, ModelLetter, Target
from courrier.delivery import digests, enqueue
from courrier.delivery.models import DigestEntry, OutboxMessage
from courrier.delivery.progress import count_progress
from courrier.delivery.retention import erase_signature
from courrier.signatures.models import Signature
from tests.factories import ALLY, OFFICE, confirmed_signatures, organiser
from tests.helpers import page_form

pytestmark = pytest.mark.django_db


def digests_to(address: str) -> list[OutboxMessage]:
    return [m for m in OutboxMessage.objects.filter(kind=OutboxMessage.Kind.DIGEST).order_by("pk") if address in m.to]


def pdf_text(message: OutboxMessage) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(bytes(message.attachment))).pages)


def send_due_digests() -> int:
    return digests.queue_due_digests(timezone.now())


RECIPIENTS = "/fr/studio/c/{}/recipients/"


def recipients_form(client, campaign: Campaign) -> dict[str, str]:
    """The studio's recipients page as a manager sees it: one row per target and an empty one to add."""
    return page_form(client, RECIPIENTS.format(campaign.pk))


def row_of(form: dict[str, str], email: str = "") -> str:
    """The prefix of the row holding `email` (the empty row to add one when "")."""
    count = int(form["targets-TOTAL_FORMS"])
    return next(f"targets-{n}" for n in range(count) if form.get(f"targets-{n}-email", "") == email)


def with_new_target(form: dict[str, str], **fields: str) -> dict[str, str]:
    row = row_of(form)
    return {**form, **{f"{row}-{name}": value for name, value in fields.items()}}


def test_a_recipient_added_to_a_live_campaign_in_digest_mode_receives_nobody_who_signed_before(own_campaign):
    """The attack: an editor adds "a target" with their own address and waits for the list of supporters."""
    confirmed_signatures(own_campaign, 3, first_name="Earlier")
    enqueue.queue_letters()
    url = RECIPIENTS.format(own_campaign.pk)
    manager = organiser("manager", own_campaign.organisation)
    form = recipients_form(manager, own_campaign)
    editor = organiser("editor", own_campaign.organisation, role="editor")

    mine = with_new_target(form, name="Archive", email="editor@evil.example", role="cc", delivery_mode="digest")
    refused = editor.post(url, mine)
    assert refused.status_code == 200  # the page again, read-only for an editor once the campaign is live
    assert not Target.objects.filter(email="editor@evil.example").exists()

    theirs = with_new_target(
        form, name="Archive office", email="archive@target.example", role="cc", delivery_mode="digest"
    )
    added = manager.post(url, theirs)
    assert added.status_code == 302, added.content.decode()[:3000]
    archive = Target.objects.get(email="archive@target.example")
    assert AuditEntry.objects.filter(action="target_change", username="manager").exists()

    assert send_due_digests() == 0  # nothing was ever written to it
    confirmed_signatures(own_campaign, 1, first_name="Later", prefix="later")
    enqueue.queue_letters()
    assert (
        next(row for row in per_target(own_campaign, count_progress(own_campaign)) if row["target"] == archive)[
            "waiting"
        ]
        == 1
    )  # the progress page
    assert send_due_digests() == 1
    [digest] = digests_to(archive.email)
    assert "Later Signer 0" in digest.body
    assert "Earlier" not in digest.body and "Earlier" not in pdf_text(digest)


def test_a_target_switched_to_digests_lists_only_the_letters_written_after_the_switch(own_campaign):
    confirmed_signatures(own_campaign, 2, first_name="Before")
    enqueue.queue_letters()
    manager = organiser("manager", own_campaign.organisation)
    form = recipients_form(manager, own_campaign)

    switched = manager.post(
        RECIPIENTS.format(own_campaign.pk), {**form, f"{row_of(form, ALLY)}-delivery_mode": "digest"}
    )

    assert switched.status_code == 302
    assert send_due_digests() == 0
    confirmed_signatures(own_campaign, 1, first_name="After", prefix="after")
    enqueue.queue_letters()
    send_due_digests()
    [digest] = digests_to(ALLY)
    assert "After Signer 0" in digest.body and "Before" not in digest.body
    entry = AuditEntry.objects.get(action="target_change")
    assert "mode d’envoi" in entry.summary  # the studio's French


def test_each_digest_lists_exactly_the_letters_whose_recipients_include_its_target(own_campaign):
    """A supporter who picked Germany writes to the German entry, not to the campaign's To target."""
    Campaign.objects.filter(pk=own_campaign.pk).update(use_directory=True)
    DirectoryEntry.objects.create(
        campaign=own_campaign,
        country="DE",
        country_name="Deutschland",
        name="Botschaft Berlin",
        email="berlin@mfa.example",
    )
    own_campaign.targets.update(delivery_mode=Target.Mode.DIGEST)
    # The organiser had set the German entry's address to take digests too (its target, inactive, paces it).
    Target.objects.create(
        campaign=own_campaign,
        name="Botschaft",
        email="berlin@mfa.example",
        active=False,
        delivery_mode=Target.Mode.DIGEST,
    )
    confirmed_signatures(own_campaign, 1, first_name="Germany", prefix="de", directory_country="DE")
    confirmed_signatures(own_campaign, 1, first_name="Elsewhere", prefix="xx", directory_country="")
    enqueue.queue_letters()
    send_due_digests()

    [to_berlin] = digests_to("berlin@mfa.example")
    [to_paris] = digests_to(OFFICE)
    [to_red_yurt] = digests_to(ALLY)  # the copy goes with both letters
    assert "Germany Signer 0" in to_berlin.body and "Elsewhere" not in to_berlin.body
    assert "Elsewhere Signer 0" in to_paris.body and "Germany" not in to_paris.body
    assert "Germany Signer 0" in to_red_yurt.body and "Elsewhere Signer 0" in to_red_yurt.body


def test_a_digest_shows_each_letter_as_it_was_written_not_the_model_letter_as_it_reads_today(own_campaign):
    Campaign.objects.filter(pk=own_campaign.pk).update(allow_letter_editing=True)
    own_campaign.targets.filter(role=Target.Role.TO).update(delivery_mode=Target.Mode.DIGEST)
    confirmed_signatures(
        own_campaign,
        1,
        first_name="Editor",
        prefix="ed",
        letter_body="Monsieur, je demande leur libération.\n\n{signature}",
    )
    confirmed_signatures(own_campaign, 1, first_name="Plain", prefix="pl")
    enqueue.queue_letters()
    model = ModelLetter.objects.get(campaign=own_campaign, language="fr")
    assert model.body.startswith("Madame,\n\n{personal_sentence}")
    model.body = "Un tout autre texte, écrit après coup.\n\n{signature}"
    model.save()

    send_due_digests()

    [digest] = digests_to(OFFICE)
    text = " ".join(pdf_text(digest).split())
    assert "je demande leur libération" in text
    assert "écrit après coup" not in text and "écrit après coup" not in digest.body
    assert "Madame, Plain Signer 0" in text  # the model as it read when the plain letter was written
    assert "Editor Signer 0" in text and "Plain Signer 0" in text


def test_an_entry_is_in_exactly_one_digest_and_its_copy_of_the_letter_goes_once_listed(own_campaign):
    own_campaign.targets.filter(role=Target.Role.TO).update(delivery_mode=Target.Mode.DIGEST, digest_period_hours=1)
    confirmed_signatures(own_campaign, 2)
    enqueue.queue_letters()
    assert send_due_digests() == 1
    assert send_due_digests() == 0  # within the period: nothing new anyway
    Target.objects.filter(role=Target.Role.TO).update(last_digest_at=None)
    assert send_due_digests() == 0  # nothing pending: no empty digest

    entries = DigestEntry.objects.filter(target__role=Target.Role.TO)
    assert entries.count() == 2 and not entries.filter(digest__isnull=True).exists()
    assert {entry.body for entry in entries} == {""}  # the digest holds the letters now
    assert len({entry.digest_id for entry in entries}) == 1


def test_erasing_ones_data_takes_the_letter_out_of_the_next_digest(own_campaign):
    own_campaign.targets.filter(role=Target.Role.TO).update(delivery_mode=Target.Mode.DIGEST)
    gone, stays = confirmed_signatures(own_campaign, 2)
    enqueue.queue_letters()
    erase_signature(Signature.objects.get(pk=gone.pk))
    send_due_digests()
    [digest] = digests_to(OFFICE)
    assert "Signer 1" in digest.body and "Signer 0" not in digest.body
    assert not DigestEntry.objects.filter(signature=gone).exists()
    assert stays.pk in DigestEntry.objects.values_list("signature", flat=True)


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_turns_what_a_digest_cursor_still_had_to_list_into_entries_and_nothing_more():
    """delivery 0005: a target that had digests keeps its pending letters; a target that never had one (the
    case of a recipient added later) is not handed the campaign's earlier signers."""
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    # Organisations and the blocked words moved apps later (accounts 0005, campaigns 0009): before those too.
    moved_later = ("delivery", "campaigns", "accounts", "signatures")
    before = [node for node in latest if node[0] not in moved_later]
    before += [
        ("delivery", "0004_encrypted_personal_data"),
        ("campaigns", "0006_encrypted_tally"),
        ("accounts", "0004_moderation_entries_name_no_words"),
        ("signatures", "0009_moderation_rules"),
    ]
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        organisation = old.get_model("campaigns", "Organisation").objects.create(name="Org")
        campaign = old.get_model("campaigns", "Campaign").objects.create(
            organisation=organisation, slug="upgrade", title="Upgrade", summary="s", status="live"
        )
        old.get_model("campaigns", "ModelLetter").objects.create(
            campaign=campaign, language="fr", subject="Objet", body="Madame,\n\n{signature}"
        )
        Target = old.get_model("campaigns", "Target")
        now = timezone.now()
        listed_before = Target.objects.create(
            campaign=campaign, name="Had digests", email="had@target.example", delivery_mode="digest"
        )
        added_later = Target.objects.create(
            campaign=campaign, name="Added later", email="later@target.example", delivery_mode="digest"
        )
        Signature = old.get_model("signatures", "Signature")
        signatures = [
            Signature.objects.create(
                campaign=campaign,
                first_name=name,
                last_name="Signer",
                email=f"{name.lower()}@example.org",
                language="fr",
                letter_language="fr",
                consent_send=True,
                confirmed_at=now,
                letters_queued_at=now + timezone.timedelta(seconds=index),
            )
            for index, name in enumerate(["Listed", "Pending"])
        ]
        Target.objects.filter(pk=listed_before.pk).update(
            digest_cursor_at=signatures[0].letters_queued_at, digest_cursor=signatures[0].pk
        )

        executor = MigrationExecutor(connection)
        executor.migrate(latest)

        entries = DigestEntry.objects.all()
        assert [(entry.target_id, entry.signature_id) for entry in entries] == [(listed_before.pk, signatures[1].pk)]
        assert entries[0].listing["full_name"] == "Pending Signer" and "Pending Signer" in entries[0].body
        assert not DigestEntry.objects.filter(target_id=added_later.pk).exists()
    finally:
        MigrationExecutor(connection).migrate(latest)


def test_past_its_cap_a_target_receives_the_letters_only_in_its_digest(own_campaign):
    office = own_campaign.targets.get(role=Target.Role.TO)
    Target.objects.filter(pk=office.pk).update(letters_cap=2)
    confirmed_signatures(own_campaign, 3, first_name="Early", prefix="early")
    enqueue.queue_letters()
    confirmed_signatures(own_campaign, 2, first_name="Late", prefix="late")
    enqueue.queue_letters()

    one_by_one = [m for m in OutboxMessage.objects.filter(kind=OutboxMessage.Kind.LETTER) if OFFICE in m.to]
    assert len(one_by_one) == 2, "two letters on their own, the cap, across two passes of the worker"
    assert DigestEntry.objects.filter(target=office).count() == 3
    # The copy recipient has no cap: every letter reaches it on its own.
    assert sum(ALLY in m.to + m.cc for m in OutboxMessage.objects.filter(kind=OutboxMessage.Kind.LETTER)) == 5
    assert send_due_digests() == 1
    [digest] = digests_to(OFFICE)
    assert digest.body.count("Signer") == 3 or pdf_text(digest).count("Signer") == 3
