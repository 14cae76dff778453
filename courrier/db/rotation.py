"""Rewriting encrypted columns row by row: the data migrations that encrypt what was stored in clear,
and `manage.py rotatekeys`, which moves every value to the current key and recomputes the digests.

Both read and write the columns with plain SQL, not through the model fields:
the fields would decrypt on reading (a value in clear would be refused) and
the audit log refuses any UPDATE through its manager. Rows are taken in
primary-key order, BATCH at a time, one transaction per batch, so a large
table never holds a long lock and an interrupted run simply starts again.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps as global_apps
from django.db import connection as default_connection
from django.db import transaction

from courrier.db.fields import EmailDigestField, EncryptedField
from courrier.lib import crypto

BATCH = 500

# A row's values by field name, and the changes to write (by field name).
Transform = Callable[[dict], dict]


def rewrite(model, names: list[str], transform: Transform, connection=None, batch: int = BATCH) -> int:
    """Apply `transform` to every row's raw values of these fields; returns how many rows changed."""
    connection = connection or default_connection
    quote = connection.ops.quote_name
    opts = model._meta
    columns = {name: opts.get_field(name).column for name in names}
    table, pk = quote(opts.db_table), quote(opts.pk.column)
    selected = ", ".join(quote(column) for column in columns.values())
    # Names from the model, quoted by the backend; the values are parameters.
    select = f"SELECT {pk}, {selected} FROM {table} WHERE {pk} > %s ORDER BY {pk} LIMIT %s"  # noqa: S608
    changed, last = 0, -1
    while True:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Check foreign keys as each UPDATE runs, not at COMMIT: inside a migration, a deferred check
                # still pending makes PostgreSQL refuse the next ALTER TABLE ("pending trigger events").
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(select, [last, batch])
            rows = cursor.fetchall()
            for row in rows:
                changes = transform(dict(zip(names, row[1:], strict=True)))
                if changes:
                    assignments = ", ".join(f"{quote(columns[name])} = %s" for name in changes)
                    update = f"UPDATE {table} SET {assignments} WHERE {pk} = %s"  # noqa: S608
                    cursor.execute(update, [*changes.values(), row[0]])
                    changed += 1
        if len(rows) < batch:
            return changed
        last = rows[-1][0]


def as_text(raw) -> str | None:
    """A raw column value as text (PostgreSQL hands text; a BLOB or bytea comes as bytes or memoryview)."""
    if raw is None or isinstance(raw, str):
        return raw
    return bytes(raw).decode()


# ---------- Data migrations ----------


def encrypt_in_place(
    names: list[str], digests: dict[str, str] | None = None, no_digest: str | None = None
) -> Transform:
    """For a data migration: every non-empty value (in clear until now) encrypted.

    digests: digest field -> the address field it is computed from; no_digest: its value without an address.
    """

    def transform(values: dict) -> dict:
        changes = {}
        for name in names:
            text = as_text(values[name])
            if text:
                changes[name] = crypto.encrypt(text)
        for name, source in (digests or {}).items():
            address = as_text(values[source]) or ""
            changes[name] = crypto.email_digest(address) if address.strip() else no_digest
        return changes

    return transform


def decrypt_in_place(names: list[str]) -> Transform:
    """For a data migration's reverse: every value back in clear."""

    def transform(values: dict) -> dict:
        return {name: crypto.decrypt(text) for name in names if (text := as_text(values[name]))}

    return transform


def migration_step(app_label: str, model_name: str, names: list[str], transform_of, **options):
    """A RunPython function rewriting these fields of a model of the migration's state."""

    def step(apps, schema_editor):
        model = apps.get_model(app_label, model_name)
        rewrite(model, names, transform_of(names, **options), connection=schema_editor.connection)

    return step


# ---------- Key rotation ----------


@dataclass
class Rotated:
    model: str
    rows: int = 0  # rows read
    reencrypted: int = 0  # rows with at least one value moved to the current key
    digests: int = 0  # digests recomputed


def digest_fields(model) -> list[EmailDigestField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, EmailDigestField)]


def recipient_digest(values: dict) -> str | None:
    """OutboxMessage.recipient_digest: the digest of the first address a supporter's mail went to."""
    stored = as_text(values["to"])
    recipients = json.loads(crypto.decrypt(stored)) if stored else []
    return crypto.email_digest(recipients[0]) if recipients else None


# Digests kept in plain CharFields by other parts of the code: field name -> how to compute it
# from the row's raw values (None: leave it as it is, the mail's addresses were erased).
EXTRA_DIGESTS = {("delivery", "outboxmessage"): {"recipient_digest": (["to"], recipient_digest)}}


def rotate_model(model, batch: int = BATCH, connection=None) -> Rotated:
    """Move every encrypted value of this model to the current key and recompute its digests."""
    encrypted = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedField)]
    digests = {f.name: ([f.source], None) for f in digest_fields(model)}
    digests.update(EXTRA_DIGESTS.get((model._meta.app_label, model._meta.model_name), {}))
    names = list(dict.fromkeys([*encrypted, *digests, *(s for sources, _f in digests.values() for s in sources)]))
    result = Rotated(model._meta.label)

    def transform(values: dict) -> dict:
        result.rows += 1
        changes = {}
        for name in encrypted:
            stored = as_text(values[name])
            if stored and crypto.needs_rotation(stored):
                # A value in clear (written by hand, or before encryption) is encrypted as it is.
                changes[name] = crypto.seal(crypto.unseal(stored) if crypto.is_encrypted(stored) else stored.encode())
        if changes:
            result.reencrypted += 1
        for name, (sources, compute) in digests.items():
            if compute is None:
                address = crypto.decrypt(as_text(values[sources[0]]) or "")
                field = model._meta.get_field(name)
                fresh = crypto.email_digest(address) if address.strip() else (None if field.null else "")
            else:
                if not values[name]:
                    continue  # no digest kept for this row
                fresh = compute(values)
                if fresh is None:
                    continue
            if fresh != values[name]:
                changes[name] = fresh
                result.digests += 1
        return changes

    if names:
        rewrite(model, names, transform, connection=connection, batch=batch)
    return result


def rotate_all(batch: int = BATCH) -> list[Rotated]:
    """Every model with an encrypted field or a digest: idempotent, a second run changes nothing."""
    results = []
    for model in global_apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        has_encrypted = any(isinstance(f, EncryptedField | EmailDigestField) for f in model._meta.concrete_fields)
        if has_encrypted or (model._meta.app_label, model._meta.model_name) in EXTRA_DIGESTS:
            results.append(rotate_model(model, batch))
    return results
