"""The shortcuts that keep signing and delivery fast still write what the slow way would."""

import datetime
import re
import sys
import unicodedata

import pytest
from django import forms
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from courrier.campaigns.models import Campaign, DirectoryEntry, Target
from courrier.db.fields import EncryptedField
from courrier.db.rows import insert_prepared, insert_prepared_plain, prepare_rows
from courrier.delivery import daily_cap, enqueue, sent_marks
from courrier.delivery.messages import Confirmations, absolute_url, confirmation_message
from courrier.delivery.models import DeliveryEvent, OutboxMessage, Recipient
from courrier.delivery.worker import Worker
from courrier.signatures.forms import SignatureForm, clean_paragraph, has_control_characters
from courrier.signatures.models import Signature
from courrier.signatures.recording import insert_signature, insert_signature_plain, write_signature
from courrier.signatures.tokens import confirmation_token, my_data_token
from tests import factories
from tests.factories import confirmed_signatures

Status = OutboxMessage.Status


def supporter(campaign: Campaign, email: str) -> Signature:
    return Signature(
        campaign_id=campaign.pk,
        first_name="Ұлжан",
        last_name="Қасымова",
        email=email,
        city="Lyon",
        country="France",
        organisation="Sud Solidaires",
        organisation_role="secrétaire",
        personal_sentence="Libérez-les.\nMaintenant.",
        language="kk",
        letter_language="fr",
        consent_send=True,
        consent_list_organisation=True,
    )


@pytest.mark.django_db
def test_the_signing_insert_writes_the_row_that_save_would_write(own_campaign):
    before = timezone.now()
    insert_signature_plain(supporter(own_campaign, "saved@example.org"))
    insert_signature(supporter(own_campaign, "inserted@example.org"))

    saved = Signature.objects.with_address("saved@example.org").values().get()
    inserted = Signature.objects.with_address("inserted@example.org").values().get()
    assert before <= inserted["created_at"] <= timezone.now()
    for row in (saved, inserted):
        for varying in ("id", "email", "email_digest", "created_at"):
            del row[varying]
    assert inserted == saved


@pytest.mark.django_db
@pytest.mark.parametrize("plain_paths", [set(), {"insert"}])
def test_the_signing_request_writes_with_the_shortcut_unless_told_to_take_its_plain_twin(
    own_campaign, settings, plain_paths
):
    settings.PLAIN_PATHS = plain_paths
    signature = supporter(own_campaign, "either@example.org")
    write_signature(signature)
    assert Signature.objects.with_address("either@example.org").get().full_name == "Ұлжан Қасымова"
    # save() reads the new id back; the shortcut does not (nobody needs it on the signing request).
    assert (signature.pk is not None) == bool(plain_paths)


def new_signatures(campaign: Campaign) -> list[Signature]:
    """Unconfirmed signatures in each language, one for a directory's country and one from an address that
    signed already, loaded as the worker loads them."""
    Campaign.objects.filter(pk=campaign.pk).update(use_directory=True)
    DirectoryEntry.objects.create(
        campaign=campaign, country="DE", country_name="Deutschland", name="Botschaft Berlin", email="b@mfa.example"
    )
    for number, language in enumerate(("fr", "en", "ru", "kk", "fr")):
        factories.signature(campaign, f"s{number}@example.org", confirmed=False, language=language)
    factories.signature(campaign, "de@example.org", confirmed=False, language="en", directory_country="DE")
    factories.signature(campaign, "s0@example.org", confirmed=False, is_duplicate=True)
    return list(Signature.objects.order_by("pk").prefetch_related(*enqueue.BATCH_RELATIONS))


MESSAGE_FIELDS = ("kind", "to", "subject", "body", "from_name", "from_email", "sandbox", "recipient_digest")


@pytest.fixture
def one_second(monkeypatch):
    """The links' tokens carry the second they were made: messages compared are made in the same one."""
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(1_800_000_000))


@pytest.mark.django_db
def test_confirmations_rendered_once_a_batch_are_those_made_one_by_one(own_campaign, one_second):
    signatures = new_signatures(own_campaign)
    composer = Confirmations()
    for signature in signatures:
        one_by_one, batched = confirmation_message(signature), composer.message(signature)
        assert [getattr(batched, name) for name in MESSAGE_FIELDS] == [
            getattr(one_by_one, name) for name in MESSAGE_FIELDS
        ]
        assert batched.message_id != one_by_one.message_id  # each message its own
    bodies = {signature.pk: composer.message(signature).body for signature in signatures}
    by_address = {signature.email: bodies[signature.pk] for signature in signatures if not signature.is_duplicate}
    assert "Botschaft Berlin" in by_address["de@example.org"] and "Botschaft Berlin" not in by_address["s1@example.org"]
    assert len(composer.texts) == 5  # four languages, and one more for the German entry's recipients
    # Each supporter's own two links, in their language, where the text had its markers.
    for signature in signatures[:-1]:  # the last is the repeat address's notice
        body = bodies[signature.pk]
        assert absolute_url(f"/{signature.language}/confirm/{confirmation_token(signature.pk)}/\n") in body
        assert absolute_url(f"/{signature.language}/my-data/{my_data_token(signature)}/\n") in body
        assert not any(marker in body for marker in composer.markers.values())


# Every encrypted column of a signature but what a confirmation needs (its address, its directory country).
PERSONAL_COLUMNS = [
    field.column
    for field in Signature._meta.concrete_fields
    if isinstance(field, EncryptedField) and field.name not in enqueue.CONFIRMATION_FIELDS
]


@pytest.mark.django_db
def test_queueing_confirmations_reads_no_name_organisation_or_letter(own_campaign):
    new_signatures(own_campaign)
    with CaptureQueriesContext(connection) as captured:
        assert enqueue.queue_confirmations() == 7
    assert {"first_name", "organisation_role", "country", "letter_body", "moderation_reason"} <= set(PERSONAL_COLUMNS)
    read = [query["sql"] for query in captured.captured_queries if 'FROM "signatures_signature"' in query["sql"]]
    assert not [sql for sql in read if any(f'"{column}"' in sql for column in PERSONAL_COLUMNS)]
    # What they need they had: each its own address, the German entry's recipients, the notice.
    bodies = {message.to[0]: message.body for message in OutboxMessage.objects.all()}
    assert "Botschaft Berlin" in bodies["de@example.org"]
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.ALREADY_SIGNED).count() == 1


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "sqlite", reason="the query planner of SQLite")
@pytest.mark.parametrize("statistics", ["none yet", "analysed"])
def test_the_daily_cap_looks_a_batch_of_addresses_up_in_their_index_rather_than_read_the_outbox(
    own_campaign, statistics
):
    now = timezone.now()
    digests = [f"{number:064x}" for number in range(2000)]
    OutboxMessage.objects.bulk_create(
        OutboxMessage(
            kind=OutboxMessage.Kind.CONFIRMATION,
            campaign=own_campaign,
            message_id=f"<{digest}@example.org>",
            recipient_digest=digest,
            next_attempt_at=now,
        )
        for digest in digests
    )
    if statistics == "analysed":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    plan = daily_cap.recent_capped_mail(set(digests[:200]), now).explain()
    assert "USING INDEX delivery_outboxmessage_recipient_digest" in plan
    assert "SCAN delivery_outboxmessage" not in plan


@pytest.mark.django_db
def test_rows_prepared_before_their_write_are_the_rows_bulk_create_writes(own_campaign, one_second):
    signatures = [s for s in new_signatures(own_campaign) if not s.is_duplicate]
    now = timezone.now()
    plain = enqueue.stamped([confirmation_message(s) for s in signatures], now)
    fast = enqueue.stamped([confirmation_message(s) for s in signatures], now)
    # The shortcut is SQLite's (db/rows.py); on PostgreSQL both ways are bulk_create.
    assert bool(prepare_rows(OutboxMessage, fast).sql) == (connection.vendor == "sqlite")
    kept = {s.pk for s in signatures[1:]}
    for twin, messages in ((insert_prepared_plain, plain), (insert_prepared, fast)):
        twin(prepare_rows(OutboxMessage, messages), keep=lambda message: message.signature_id in kept)
    rows = list(OutboxMessage.objects.order_by("pk").values())
    assert len(rows) == 2 * (len(signatures) - 1)  # only the messages kept, each way
    for row in rows:
        assert row.pop("message_id").startswith("<")
        row.pop("id")
    assert rows[: len(rows) // 2] == rows[len(rows) // 2 :]
    stored = OutboxMessage.objects.order_by("pk").last()
    assert stored.to == [signatures[-1].email] and stored.created_at == now


@pytest.mark.django_db
def test_a_batch_written_in_slices_queues_each_confirmation_once_and_none_for_a_signature_gone_meanwhile(
    own_campaign, monkeypatch
):
    if connection.vendor != "sqlite":
        pytest.skip("slices are SQLite's: PostgreSQL locks the batch's rows while it is prepared and written")
    for number in range(7):
        factories.signature(own_campaign, f"slice{number}@example.org", confirmed=False)
    gone = Signature.objects.order_by("pk")[4]
    # A first slice of two, then slices of one: the next is sized by the time the last took.
    monkeypatch.setitem(enqueue._write_sizes, enqueue.ConfirmationBatch, 2)
    monkeypatch.setattr(enqueue, "WRITE_SLICE_SECONDS", 1e-9)
    prepare = enqueue.ConfirmationBatch.prepare

    def prepare_then_delete(batch, signatures):
        prepare(batch, signatures)
        Signature.objects.filter(pk=gone.pk).delete()  # between composing its mail and writing its slice

    monkeypatch.setattr(enqueue.ConfirmationBatch, "prepare", prepare_then_delete)
    assert enqueue.queue_confirmations() == 6
    assert enqueue.queue_confirmations() == 0
    queued = list(OutboxMessage.objects.values_list("signature_id", flat=True))
    assert sorted(queued) == sorted(set(queued)) and len(queued) == 6 and gone.pk not in queued
    assert not Signature.objects.filter(confirmation_queued_at__isnull=True).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("plain_paths", [set(), {"rows"}])
def test_the_worker_queues_confirmations_through_its_shortcut_on_sqlite_unless_told_to_take_its_twin(
    own_campaign, settings, plain_paths
):
    settings.PLAIN_PATHS = plain_paths
    assert bool(prepare_rows(OutboxMessage, []).sql) == (connection.vendor == "sqlite" and not plain_paths)
    factories.signature(own_campaign, "twin@example.org", confirmed=False)
    assert enqueue.queue_confirmations() == 1
    assert OutboxMessage.objects.get().to == ["twin@example.org"]


@pytest.mark.django_db
def test_a_second_signature_from_one_address_is_refused_by_the_insert(own_campaign):
    insert_signature(supporter(own_campaign, "twice@example.org"))
    with pytest.raises(IntegrityError):
        insert_signature(supporter(own_campaign, "twice@example.org"))


@pytest.fixture
def sendable_campaign(own_campaign, smtp_settings):
    Campaign.objects.filter(pk=own_campaign.pk).update(real_delivery=True)
    Target.objects.filter(campaign=own_campaign).update(pace_per_hour=10_000_000)
    return own_campaign


@pytest.mark.django_db(transaction=True)
def test_letters_marked_sent_by_the_second_thread_each_carry_one_sent_event(sendable_campaign, smtp_sink):
    confirmed_signatures(sendable_campaign, 30)
    enqueue.queue_letters()
    letters = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.LETTER)
    worker = Worker()
    try:
        while worker.run_once():
            pass
    finally:
        worker.close()

    assert set(letters.values_list("status", flat=True)) == {Status.SENT}
    assert letters.filter(sent_at__isnull=True).count() == 0
    for letter in letters:
        events = list(DeliveryEvent.objects.filter(message=letter))
        assert [(e.status, e.smtp_code, e.worker) for e in events] == [(Status.SENT, 250, worker.name)]
        assert events[0].at == letter.sent_at
    assert len(smtp_sink.received) == OutboxMessage.objects.filter(status=Status.SENT).count()


def written_rows(letter: OutboxMessage) -> tuple[dict, list[dict], list[dict]]:
    """What marking a letter sent leaves: its row, its recipients' rows, its events, without their ids."""
    row = (
        OutboxMessage.objects.filter(pk=letter.pk)
        .values("status", "sent_at", "lease_expires_at", "last_reply", "attempts")
        .get()
    )
    recipients = list(
        Recipient.objects.filter(outboxmessage=letter)
        .order_by("role")
        .values("role", "status", "sent_at", "attempts", "next_attempt_at")
    )
    events = [
        (event.status, event.at, event.worker, event.smtp_code, event.reply)
        for event in DeliveryEvent.objects.filter(message=letter).order_by("pk")
    ]
    return row, recipients, events


@pytest.mark.django_db(transaction=True)
def test_both_ways_of_marking_letters_sent_write_the_same_rows_and_events(sendable_campaign):
    confirmed_signatures(sendable_campaign, 2)
    enqueue.queue_letters()
    first, second = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.LETTER).order_by("pk")
    now = timezone.now()
    OutboxMessage.objects.lease([first.pk, second.pk], "w", now, until=now + datetime.timedelta(minutes=2))

    with transaction.atomic():
        sent_marks.mark_sent_plain([(first.pk, now, 250, "2.0.0 Ok: queued as A")], "w")
    with transaction.atomic():
        sent_marks.mark_sent_fast([(second.pk, now, 250, "2.0.0 Ok: queued as A")], "w")

    plain, fast = written_rows(first), written_rows(second)
    assert plain == fast
    assert (plain[0]["status"] == Status.SENT and [r["status"] for r in plain[1]] == ["cc", "to"]) or plain[1]
    assert [event[0] for event in plain[2]] == [Status.SENT]


@pytest.mark.django_db(transaction=True)
def test_the_worker_lets_sqlite_find_newly_confirmed_signatures_by_their_own_index(sendable_campaign, smtp_sink):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL keeps its planner statistics itself (autovacuum)")
    confirmed_signatures(sendable_campaign, 300)
    worker = Worker()
    try:
        while worker.run_once():
            pass
    finally:
        worker.close()

    due = Signature.objects.filter(
        confirmed_at__isnull=False, letters_queued_at__isnull=True, is_duplicate=False, campaign_id=sendable_campaign.pk
    ).order_by("confirmed_at")
    sql, params = due.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "sig_letters_due" in plan, plan


def signing_form(data=None) -> SignatureForm:
    return SignatureForm(data, letter_languages=["fr", "en"], default_language="en")


def test_forms_of_one_campaign_share_their_fields_and_still_keep_their_own_errors_and_values():
    refused = signing_form({"first_name": "Ұлжан", "email": "not an address"})
    assert not refused.is_valid()
    refused_page = str(refused)
    fresh = signing_form()
    # Built once, not deep-copied for every request...
    assert fresh.fields["email"] is refused.fields["email"]
    assert fresh.fields["letter_language"].initial == "en"
    # ...and rendering one form leaves nothing of its errors or values in the fields the others use.
    fresh_page = str(fresh)
    assert "Ұлжан" in refused_page and "Ұлжан" not in fresh_page
    assert 'aria-invalid="true"' in refused_page and 'aria-invalid="true"' not in fresh_page
    assert signing_form(
        {"first_name": "A", "last_name": "B", "email": "a@example.org", "letter_language": "fr", "consent_send": "on"}
    ).is_valid()


# Posted values worth trying: empty, spaces, long, control characters, line breaks, odd addresses and choices.
posted_value = st.one_of(
    st.sampled_from(
        ["", " ", "on", "fr", "en", "xx", "FR", "-", "qr", "a@example.org", " A@Example.ORG ", "a@b", "{x}"]
    ),
    st.text(max_size=30),
    st.text(alphabet="ab\r\n\x00\x0b\u2028 @.", max_size=12),
    st.text(min_size=95, max_size=700, alphabet="ыә "),
)
posted_form = st.dictionaries(
    st.sampled_from(sorted([*SignatureForm.base_fields, "country"])), posted_value, max_size=16
)


@settings(max_examples=300, deadline=None)
@given(data=posted_form, directory=st.booleans(), editable=st.booleans())
def test_the_signing_form_cleans_every_posted_form_exactly_as_django_would(data, directory, editable):
    def form() -> SignatureForm:
        return SignatureForm(
            data,
            letter_languages=["fr", "en"],
            default_language="fr",
            editable_letters={"fr": "Madame, {personal_sentence}"} if editable else None,
            directory=(("FR", "France"), ("KZ", "Kazakhstan")) if directory else None,
            directory_fallback=directory,
        )

    shortcut, django_way = form(), form()
    django_way._clean_fields = lambda: forms.BaseForm._clean_fields(django_way)  # Django's own, BoundFields and all
    assert shortcut.is_valid() == django_way.is_valid()
    assert shortcut.errors.get_json_data() == django_way.errors.get_json_data()
    assert shortcut.cleaned_data == django_way.cleaned_data


def test_a_campaign_set_up_of_its_own_gets_fields_of_its_own():
    with_directory = SignatureForm(
        letter_languages=["fr"], default_language="fr", directory=(("FR", "France"),), directory_fallback=True
    )
    assert with_directory.fields["country"] is not signing_form().fields["country"]
    assert [code for code, _name in with_directory.fields["country"].choices] == ["", "FR", "-"]
    assert signing_form().fields["letter_language"].choices == [("fr", "Français"), ("en", "English")]


@pytest.mark.django_db
def test_any_of_finds_the_rows_that_in_finds_with_one_parameter_on_postgresql(own_campaign):
    for number in range(3):
        supporter(own_campaign, f"any-{number}@example.org").save()
    ids = list(Signature.objects.order_by("pk").values_list("pk", flat=True))
    for wanted in ([], ids[:1], ids[1:], [*ids, 10**9]):
        assert set(Signature.objects.filter(pk__any_of=wanted).values_list("pk", flat=True)) == set(
            Signature.objects.filter(pk__in=wanted).values_list("pk", flat=True)
        )
    query = str(Signature.objects.filter(pk__any_of=ids).query)
    assert ("= ANY" in query) == (connection.vendor == "postgresql")


def every_character() -> list[str]:
    return [chr(code) for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) != "Cs"]


def test_the_forms_find_exactly_the_controls_and_separators_of_the_unicode_database():
    refused = {ch for ch in every_character() if has_control_characters(f"Ұлжан{ch}")}
    assert refused == {ch for ch in every_character() if unicodedata.category(ch) in ("Cc", "Zl", "Zp")}


def test_a_paragraph_keeps_every_character_but_the_controls_with_its_line_breaks_made_plain():
    text = "".join(every_character())
    line_breaks_made_plain = re.sub(r"\r\n|[\r\u2028\u2029\x85]", "\n", text)
    expected = "".join(ch for ch in line_breaks_made_plain if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    assert clean_paragraph(f"x{text}x") == f"x{expected}x"


@pytest.mark.django_db
def test_the_sites_sqlite_checkpoints_its_log_every_twenty_thousand_pages_not_every_thousand():
    if connection.vendor != "sqlite":
        pytest.skip("a setting of SQLite's write-ahead log")
    with connection.cursor() as cursor:
        pragmas = [cursor.execute(f"PRAGMA {name}").fetchone()[0] for name in ("journal_mode", "wal_autocheckpoint")]
    assert pragmas == ["wal", 20000]
