"""New rows whose values are adapted before the write: a write transaction that holds only the INSERT.

On SQLite the database's one write lock is held for as long as a transaction lasts, and every signature
posted meanwhile waits behind it. `bulk_create` adapts each value inside the transaction (it encrypts the
personal values, computes digests, formats dates), which was most of the time the worker's queueing of
confirmations held that lock. `prepare_rows` does that work first, outside any transaction, and
`insert_prepared` runs the INSERT alone, with the values already made.

The statement and the values are those `bulk_create` writes (tests/test_fast_paths.py writes rows both
ways and compares them); `insert_prepared_plain` is that plain twin, used when settings.PLAIN_PATHS names
"rows". Unlike `bulk_create`, the objects get no primary key: callers use this where nobody reads it.

On SQLite only. PostgreSQL locks rows, not the database, so nothing waits on the time the values take,
and bulk_create's one multi-row INSERT was faster than this one's executemany: `python -m bench --only
shortcuts` measured signing with the worker running at 1.46 times the plain twin's rate on SQLite, and at
0.88 on PostgreSQL when this applied there too (2026-12-04, 2 cores).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, models
from django.db.models.fields import AutoFieldMixin


@dataclass
class PreparedRows:
    """The INSERT of some new objects of one model, and each object with the values it writes."""

    model: type[models.Model]
    sql: str
    rows: list[tuple[models.Model, list]] = field(default_factory=list)


def adapts_before_writing(model: type[models.Model]) -> bool:
    """On SQLite, for a model whose rows are plain values: an automatic primary key, no generated column and
    no default computed by the database, which bulk_create handles and this does not."""
    meta = model._meta
    return (
        connection.vendor == "sqlite"
        and "rows" not in settings.PLAIN_PATHS
        and isinstance(meta.pk, AutoFieldMixin)
        and not any(f.generated or f.db_default is not models.NOT_PROVIDED for f in meta.concrete_fields)
    )


def prepare_rows(model: type[models.Model], objects: Iterable[models.Model]) -> PreparedRows:
    """Adapt every value of `objects` for the database now (pre_save, then get_db_prep_save, as save() does);
    where that buys nothing or does not apply (adapts_before_writing), keep the objects for bulk_create.

    Values are made now, not at the write: an auto_now field would hold the time they were prepared.
    """
    objects = list(objects)
    if not adapts_before_writing(model):
        return PreparedRows(model, "", [(obj, []) for obj in objects])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    # Names from the model, quoted by the backend; the values are parameters.
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608
    prepared = PreparedRows(model, sql)
    for obj in objects:
        # As bulk_create does, over every field: an unsaved related object is an error, not a NULL. (Given a
        # list of fields, Django looks each field up in it by equality, 600 comparisons a row: a seventh of
        # the worker's time for a confirmation.)
        obj._prepare_related_fields_for_save(operation_name="prepare_rows")
        values = [f.pre_save(obj, True) for f in fields]
        if any(hasattr(value, "resolve_expression") for value in values):  # an expression: SQL to compile
            return PreparedRows(model, "", [(each, []) for each in objects])
        prepared.rows.append(
            (obj, [f.get_db_prep_save(value, connection) for f, value in zip(fields, values, strict=True)])
        )
    return prepared


def insert_prepared(prepared: PreparedRows, keep: Callable[[models.Model], bool] = lambda obj: True) -> None:
    """Write the prepared rows of the objects `keep` accepts, in one statement."""
    if not prepared.sql:
        insert_prepared_plain(prepared, keep)
        return
    params = [values for obj, values in prepared.rows if keep(obj)]
    if params:
        with connection.cursor() as cursor:
            cursor.executemany(prepared.sql, params)


def insert_prepared_plain(prepared: PreparedRows, keep: Callable[[models.Model], bool] = lambda obj: True) -> None:
    """The plain twin: bulk_create, which adapts the values again inside the caller's transaction."""
    prepared.model._default_manager.bulk_create([obj for obj, values in prepared.rows if keep(obj)])
