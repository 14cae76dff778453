"""Supporters' personal data is encrypted at rest: a database dump shows none of it, the site still does.

The marker test signs with a unique string in every personal field, lets the
real worker deliver the letter, the supporter's copy and a target's digest to
an SMTP server, then searches a dump of the whole database (and, on SQLite,
the raw bytes of its files) for the markers. It runs on SQLite and, when the
suite is launched with TEST_DATABASE_URL, on PostgreSQL (with pg_dump if it is
installed, and always with a dump of every table read through SQL).
"""

import io
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import connection
from django.test import Client

from courrier.campaigns.models import Campaign, Target
from courrier.db.fields import encrypted_fields
from courrier.delivery import enqueue
from courrier.delivery.models import OutboxMessage
from courrier.delivery.verp import reply_address
from courrier.lib import crypto
from courrier.signatures.models import Signature
from courrier.signatures.recording import insert_signature
from tests.conftest import ROOT, wait_until
from tests.factories import OWN_SLUG
from tests.helpers import CAMPAIGN_URL, body_text, confirmation_path, raw_row, sign, sql_dump

PERSONAL = [
    "first_name",
    "last_name",
    "city",
    "country",
    "organisation",
    "organisation_role",
    "personal_sentence",
    "letter_body",
]


def markers() -> dict[str, str]:
    """A string found nowhere else for each personal field (and the address's own part)."""
    token = uuid.uuid4().hex[:10]
    values = {name: f"Mk{name.replace('_', '')}{token}" for name in PERSONAL}
    values["email"] = f"mkmail{token}@example.org"
    return values


def database_dumps() -> dict[str, bytes]:
    """The database as an operator would copy it: the engine's own dump, and on SQLite the files themselves."""
    dumps = {"sql": sql_dump().encode()}
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        path = Path(db["NAME"])
        connection.ensure_connection()
        dumps["iterdump"] = "\n".join(connection.connection.iterdump()).encode()
        # The file and its write-ahead log, where the latest pages are until a checkpoint.
        files = [Path(f"{path}{suffix}") for suffix in ("", "-wal")]
        # Read by another process: closing a descriptor of the database file in this one would drop every
        # POSIX lock this process's own SQLite connection holds on it (SQLite's documented pitfall).
        read = [subprocess.run(["cat", str(file)], capture_output=True, check=True) for file in files if file.exists()]
        dumps["files"] = b"".join(done.stdout for done in read)
    elif connection.vendor == "postgresql" and shutil.which("pg_dump"):
        env = {**os.environ, "PGPASSWORD": db["PASSWORD"] or ""}
        args = ["pg_dump", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"]]
        dumped = subprocess.run([*args, db["NAME"]], env=env, capture_output=True, timeout=120)
        assert dumped.returncode == 0, dumped.stderr.decode()
        dumps["pg_dump"] = dumped.stdout
    return dumps


@pytest.fixture
def editable_demo(demo):
    """The demo campaign, sending real mail, letting supporters edit the letter, with a target taking digests."""
    Campaign.objects.filter(pk=demo.pk).update(real_delivery=True, allow_letter_editing=True)
    Target.objects.create(
        campaign=demo, role=Target.Role.CC, name="Archive office", email="archive@mfa.example", delivery_mode="digest"
    )
    return demo


def test_a_database_dump_after_signing_and_delivery_holds_no_personal_value_in_clear(
    editable_demo, smtp_sink, start_worker
):
    values = markers()
    model = editable_demo.letter_for("fr").body
    smtp = {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp_sink.port), "EMAIL_USE_TLS": "0"}
    worker = start_worker(**smtp)
    client = Client()
    response = sign(
        client,
        **{**values, "letter_body": f"{model}\n\n{values['letter_body']}"},
        consent_list_organisation="on",
    )
    assert response.status_code == 302
    confirmation = wait_until(
        lambda: next((m for m in smtp_sink.messages() if "/confirm/" in m.get_content()), None),
        message="the confirmation",
    )
    assert client.post(confirmation_path(confirmation)).status_code == 302
    sent_to = lambda: {address for r in smtp_sink.received for address in r.rcpt_tos}  # noqa: E731
    wait_until(lambda: {"paris@mfa.kz", values["email"]} <= sent_to(), message="the letter and the copy")

    # Digests are queued by the worker's periodic pass, run as it starts and then every minute: a fresh
    # worker sends this one at once.
    worker.terminate()
    worker.wait(timeout=10)
    start_worker(**smtp)
    wait_until(lambda: "archive@mfa.example" in sent_to(), message="the digest")
    signature = Signature.objects.get()
    received = list(smtp_sink.received)
    wait_until(lambda: Campaign.objects.get(pk=editable_demo.pk).tally_organisations, message="the tally")

    for name, dump in database_dumps().items():
        assert crypto.email_digest(values["email"]).encode() in dump, f"the {name} dump has the signature's row"
        for field, marker in values.items():
            written = marker.split("@")[0].encode()
            assert written not in dump, f"{field} in clear in the {name} dump"

    # The site reads them back. The letter carries the name, the sentence and the supporter's own words.
    letter = next(r.message for r in received if "paris@mfa.kz" in r.rcpt_tos)
    assert letter["From"].addresses[0].display_name.startswith(f"{values['first_name']} {values['last_name']}")
    assert letter["Reply-To"].addresses[0].addr_spec == reply_address(signature.pk)
    for field in ("personal_sentence", "letter_body", "organisation", "organisation_role", "city"):
        assert values[field] in body_text(letter)
    digest = next(r.message for r in received if "archive@mfa.example" in r.rcpt_tos)
    assert values["first_name"] in body_text(digest.get_body(preferencelist=("plain",)))
    assert [part.get_content_type() for part in digest.iter_attachments()] == ["application/pdf"]
    # The public list of organisations.
    assert values["organisation"] in client.get(CAMPAIGN_URL).content.decode()
    # The back office, where an exact address finds the signature.
    staff = Client()
    staff.force_login(User.objects.create_superuser("staff", password="a long test password"))
    page = staff.get(f"/admin/signatures/signature/{signature.pk}/change/").content.decode()
    for field in ("first_name", "last_name", "email", "city", "country", "organisation", "personal_sentence"):
        assert values[field] in page, field
    found = staff.get("/admin/signatures/signature/", {"q": values["email"].upper()}).content.decode()
    assert f"/admin/signatures/signature/{signature.pk}/change/" in found
    missed = staff.get("/admin/signatures/signature/", {"q": "nobody@example.org"}).content.decode()
    assert f"/admin/signatures/signature/{signature.pk}/change/" not in missed
    copy = OutboxMessage.objects.get(kind=OutboxMessage.Kind.COPY)
    mail = staff.get("/admin/delivery/outboxmessage/", {"q": values["email"]}).content.decode()
    assert f"/admin/delivery/outboxmessage/{copy.pk}/change/" in mail


@pytest.mark.django_db
def test_the_signing_insert_encrypts_every_personal_field_in_its_one_query(own_campaign, django_assert_num_queries):
    values = markers()
    signature = Signature(campaign_id=own_campaign.pk, language="fr", letter_language="fr", consent_send=True, **values)
    with django_assert_num_queries(1):
        insert_signature(signature)

    saved = Signature.objects.get()
    stored = raw_row(Signature, saved.pk, [*values, "email_digest"])
    for field, marker in values.items():
        assert stored[field].startswith(f"enc1:{crypto.current_key_id()}:")
        assert getattr(saved, field) == marker
    assert stored["email_digest"] == crypto.email_digest(values["email"])


@pytest.mark.django_db
def test_a_query_comparing_an_encrypted_column_fails_loudly_instead_of_finding_nothing(own_campaign):
    sign(Client(), slug=OWN_SLUG, email="someone@example.org", organisation="Union")
    with pytest.raises(FieldError, match="encrypted"):
        Signature.objects.filter(email="someone@example.org").exists()
    with pytest.raises(FieldError):
        Signature.objects.filter(organisation__icontains="union").exists()
    assert Signature.objects.with_address(" SomeOne@example.org ").exists()
    assert Signature.objects.exclude(organisation="").count() == 1  # the empty value is stored as it is


@pytest.mark.django_db
def test_rotation_moves_every_value_to_the_new_key_and_duplicates_are_still_found(own_campaign, settings):
    old, new = settings.DATA_KEYS[0], crypto.new_key()  # the campaign was written with the current key
    client = Client()
    sign(
        client,
        slug=OWN_SLUG,
        email="rotated@example.org",
        personal_sentence="Ne les oubliez pas.",
        organisation="Union",
    )
    enqueue.queue_confirmations()
    signature = Signature.objects.get()
    message = OutboxMessage.objects.get()
    old_id = crypto.key_id(crypto.parse_key(old))

    settings.DATA_KEYS = [new, old]  # the new key first, the old one kept to read what it wrote
    assert Signature.objects.get().personal_sentence == "Ne les oubliez pas."
    assert raw_row(Signature, signature.pk, ["first_name"])["first_name"].startswith(f"enc1:{old_id}:")

    out = io.StringIO()
    call_command("rotatekeys", batch=1, stdout=out)
    assert "signatures.Signature: 1 rows read, 1 re-encrypted, 1 digests recomputed" in out.getvalue()
    assert "delivery.OutboxMessage: 1 rows read, 1 re-encrypted, 1 digests recomputed" in out.getvalue()
    again = io.StringIO()
    call_command("rotatekeys", stdout=again)
    assert "Done: 0 rows re-encrypted, 0 digests recomputed." in again.getvalue()

    settings.DATA_KEYS = [new]  # the old key removed
    new_id = crypto.key_id(crypto.parse_key(new))
    for model, pk in ((Signature, signature.pk), (OutboxMessage, message.pk)):
        names = [f.name for f in encrypted_fields(model)]
        stored = raw_row(model, pk, names)
        assert all(not value or value.startswith(f"enc1:{new_id}:") for value in stored.values()), stored
    rotated = Signature.objects.get()
    assert (rotated.email, rotated.organisation) == ("rotated@example.org", "Union")
    assert OutboxMessage.objects.get().to == ["rotated@example.org"]
    assert OutboxMessage.objects.get().recipient_digest == crypto.email_digest("rotated@example.org")

    sign(client, slug=OWN_SLUG, email="Rotated@example.org")
    assert Signature.objects.filter(is_duplicate=True).count() == 1


@pytest.mark.django_db
def test_a_value_altered_in_the_database_is_refused_with_a_clear_error(own_campaign, settings):
    sign(Client(), slug=OWN_SLUG, first_name="Ұлжан", email="tampered@example.org")
    pk = Signature.objects.get().pk
    stored = raw_row(Signature, pk, ["first_name"])["first_name"]
    at = stored.rindex(":") + 5  # a character of the nonce
    flipped = stored[:at] + ("A" if stored[at] != "A" else "B") + stored[at + 1 :]

    def plant(value: str) -> None:
        table, column = connection.ops.quote_name(Signature._meta.db_table), connection.ops.quote_name("first_name")
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [value, pk])  # noqa: S608

    plant(flipped)
    with pytest.raises(crypto.UndecryptableValue, match="altered") as refused:
        Signature.objects.get(pk=pk)
    assert "Ұлжан" not in str(refused.value)
    plant("Someone else")  # a value in clear, put there by hand
    with pytest.raises(crypto.UndecryptableValue, match="not encrypted"):
        Signature.objects.get(pk=pk)
    plant(stored)
    settings.DATA_KEYS = [crypto.new_key()]  # the key that wrote it removed too early
    with pytest.raises(crypto.UndecryptableValue, match="keep old keys in DATA_KEYS"):
        Signature.objects.get(pk=pk)


def production_check(tmp_path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DATA_KEYS")}
    environment.update(PRODUCTION="1", SECRET_KEY="x" * 50, COURRIER_VAR_DIR=str(tmp_path), **env)
    args = [sys.executable, "manage.py", "check"]
    return subprocess.run(args, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)


def test_production_refuses_to_start_without_data_keys(tmp_path):
    refused = production_check(tmp_path)
    assert refused.returncode != 0
    assert "DATA_KEYS is not set" in refused.stderr
    assert not (tmp_path / "data_keys").exists()  # no key made up on the spot either
    assert production_check(tmp_path, DATA_KEYS=crypto.new_key()).returncode == 0, "with a key it starts"


def test_newdatakey_prints_a_fresh_32_byte_key():
    first, second = io.StringIO(), io.StringIO()
    call_command("newdatakey", stdout=first)
    call_command("newdatakey", stdout=second)
    assert len(crypto.parse_key(first.getvalue())) == 32
    assert first.getvalue() != second.getvalue()
