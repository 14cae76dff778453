"""Recording a signature on the signing request's hot path: its INSERT prepared once.

During a spike every POST costs this INSERT and little else (the campaign itself is kept in memory by
courrier/campaigns/open_campaigns.py).
"""

import functools
import time

import psycopg
from django.conf import settings
from django.db import connection, models
from django.db.models import Field

from courrier.db.fields import COMPUTED_FIELDS
from courrier.signatures.models import Signature

# Fields whose Python value (a str, bool, int or None) is already what the database driver takes.
_PLAIN_FIELDS = (models.CharField, models.TextField, models.BooleanField, models.IntegerField, models.ForeignKey)


def is_plain(field: Field) -> bool:
    """Encrypted fields and the address digest never go as they are, whatever class they derive from."""
    return isinstance(field, _PLAIN_FIELDS) and not isinstance(field, COMPUTED_FIELDS)


@functools.cache
def _insert_statement(vendor: str) -> tuple[str, tuple[tuple[Field, bool], ...]]:
    """The INSERT that Model.save() would build for a new signature, built once per database vendor.

    In the driver's own parameter style, with each column's field, and whether
    its value goes as it is (True) or through the field's methods.
    """
    fields = [field for field in Signature._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    placeholder = "?" if vendor == "sqlite" else "%s"
    placeholders = ", ".join([placeholder] * len(fields))
    # Names from the model, quoted by the backend; the values are parameters.
    sql = f"INSERT INTO {quote(Signature._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    return sql, tuple((field, is_plain(field)) for field in fields)


def write_signature(signature: Signature) -> None:
    """Write a new signature; raises IntegrityError on a repeat address (or a replayed proof of work)."""
    if "insert" in settings.PLAIN_PATHS:
        insert_signature_plain(signature)
    else:
        insert_signature(signature)


def insert_signature_plain(signature: Signature) -> None:
    """The plain twin: Django's save() (tests/test_fast_paths.py proves both write the same row)."""
    signature.save(force_insert=True)


def insert_signature(signature: Signature) -> None:
    """Write a new signature in one INSERT, with no RETURNING clause; raises IntegrityError on a repeat address.

    Model.save() would compile the same statement again on every request
    and run every field's methods (a fifth of the request's time) and, on
    SQLite, add RETURNING "id": SQLite then commits only when the row is
    fetched, so the write lock stays held while the thread waits for the
    GIL, and the other gunicorn threads wait on that lock in SQLite's
    sleeping busy handler. Nobody reads the new id: the worker finds new
    signatures by query.

    Text, numbers and booleans go as they are; the other values go through
    the same field methods as in save() (pre_save fills created_at and the
    address digest; get_db_prep_save adapts dates and encrypts personal
    values), so the row is the one save() would write.

    The statement goes straight to the driver: Django's cursor would rewrite
    the SQLite placeholders with a regular expression, and quote the 28
    values into the SQL text in Python for PostgreSQL, on every signature.
    A plain psycopg cursor sends them as parameters, in a statement that
    PostgreSQL parses and plans once per connection. Errors are still
    Django's (IntegrityError for a repeat address), and the query is logged
    wherever Django logs queries (DEBUG, tests).
    """
    connection.ensure_connection()
    vendor = connection.vendor
    sql, fields = _insert_statement(vendor)
    params = []
    for field, plain in fields:
        value = getattr(signature, field.attname) if plain else field.pre_save(signature, True)
        params.append(value if plain or (value is None and field.null) else field.get_db_prep_save(value, connection))
    started = time.monotonic()
    with connection.wrap_database_errors:
        if vendor == "postgresql":
            with psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(sql, params, prepare=True)
        else:
            connection.connection.execute(sql, params)
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    signature._state.adding = False
    signature._state.db = connection.alias
