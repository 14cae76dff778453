"""What a write transaction locks, by database: the rule the worker's writes are shaped by."""

from django.db import connection


def locks_rows() -> bool:
    """PostgreSQL locks the rows a transaction takes (FOR UPDATE SKIP LOCKED lets workers share a queue).

    SQLite locks the whole database for as long as a write transaction lasts, and a signature posted
    meanwhile waits behind it: there, the worker reads before it opens one, and writes in short slices.
    """
    return connection.features.has_select_for_update_skip_locked
