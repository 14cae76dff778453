"""Marking letters sent from a second thread, so the database work overlaps the next letters' SMTP exchanges.

The main thread hands each accepted letter over as soon as the server said
250 and goes on to the next; this thread commits, in order and on its own
database connection, the row's new status and the event that logs it, in
one transaction, so the event log never disagrees with the status.

It waits GATHER_SECONDS after the first mark before committing, so that one
transaction carries the several letters sent meanwhile: one commit per
letter (and one thread wake-up per letter) cost the worker more than
composing and sending did. If the worker dies, the marks not yet committed
(at most those few milliseconds' worth) are lost and those letters go again,
with the same Message-ID: the at-least-once promise.
"""

import datetime
import queue
import threading

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F

from courrier.delivery.models import DeliveryEvent, OutboxMessage, Recipient

# The tables, named by the models (their columns too are the models' own: a rename fails test_fast_paths);
# names from the models, the values all parameters (hence the noqa: S608 below).
OUTBOX, RECIPIENTS, EVENTS = (model._meta.db_table for model in (OutboxMessage, Recipient, DeliveryEvent))
MARK_SENT = (
    f"UPDATE {OUTBOX} SET status = %s, sent_at = %s, lease_expires_at = NULL, last_reply = %s"  # noqa: S608
    " WHERE id = %s AND status <> %s"
)
# Every recipient of a letter marked this way took it in the same session (delivery/recipients.py).
MARK_RECIPIENTS = (
    f"UPDATE {RECIPIENTS} SET status = %s, sent_at = %s, attempts = attempts + 1,"  # noqa: S608
    " next_attempt_at = NULL WHERE outboxmessage_id = %s AND status IN (%s, %s)"
)
LOG_SENT = (
    f"INSERT INTO {EVENTS} (message_id, at, worker, status, smtp_code, reply)"  # noqa: S608
    " VALUES (%s, %s, %s, %s, %s, %s)"
)
# PostgreSQL: each batch in one statement whatever its size, the rows passed as arrays: the letters marked
# sent, their recipients, the events that log them. executemany() would send one statement per row and parse
# one result per row, in Python, on the worker's CPU; three statements cost three round trips, and the CPU
# the worker saves is the relay's on a small machine.
MARK_SENT_ARRAYS = (
    "WITH marks AS ("  # noqa: S608
    " SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::integer[], %s::text[]) AS marks (id, at, code, reply)"
    "), messages AS ("
    f" UPDATE {OUTBOX} AS message SET status = %s, sent_at = marks.at, lease_expires_at = NULL,"
    " last_reply = marks.reply FROM marks WHERE message.id = marks.id AND message.status <> %s"
    "), recipients AS ("
    f" UPDATE {RECIPIENTS} AS recipient SET status = %s, sent_at = marks.at,"
    " attempts = recipient.attempts + 1, next_attempt_at = NULL"
    " FROM marks WHERE recipient.outboxmessage_id = marks.id AND recipient.status IN (%s, %s)"
    ")"
    f" INSERT INTO {EVENTS} (message_id, at, worker, status, smtp_code, reply)"
    " SELECT id, at, %s, %s, code, reply FROM marks"
)
SENT = OutboxMessage.Status.SENT
PENDING = (Recipient.Status.QUEUED, Recipient.Status.DEFERRED)
# How long a mark may wait for others to share its transaction; the window for a duplicate grows by this much.
GATHER_SECONDS = 0.005
_EVENT_AT = DeliveryEvent._meta.get_field("at")
_REPLY = DeliveryEvent._meta.get_field("reply")


IDLE_SECONDS = 1.0


def mark_sent(marks: list[tuple[int, datetime.datetime, int | None, str]], worker: str) -> None:
    """OutboxQuerySet.mark_sent: (id, when, SMTP code, reply) of each message the server took."""
    if "marks" in settings.PLAIN_PATHS:
        mark_sent_plain(marks, worker)
    else:
        mark_sent_fast(marks, worker)


def mark_sent_plain(marks: list[tuple[int, datetime.datetime, int | None, str]], worker: str) -> None:
    """The plain twin: Django's ORM, three statements a letter."""
    for pk, at, _code, reply in marks:
        OutboxMessage.objects.filter(pk=pk).exclude(status=SENT).update(
            status=SENT, sent_at=at, lease_expires_at=None, last_reply=reply
        )
        Recipient.objects.filter(outboxmessage_id=pk, status__in=PENDING).update(
            status=SENT, sent_at=at, attempts=F("attempts") + 1, next_attempt_at=None
        )
    DeliveryEvent.objects.bulk_create(
        DeliveryEvent(message_id=pk, at=at, worker=worker, status=SENT, smtp_code=code, reply=reply)
        for pk, at, code, reply in marks
    )


def mark_sent_fast(marks: list[tuple[int, datetime.datetime, int | None, str]], worker: str) -> None:
    """The same rows as mark_sent_plain (tests/test_fast_paths.py), in one statement per batch on PostgreSQL
    and three executemany() on SQLite, whatever the batch's size."""
    # The replies are stored encrypted, like everything a server may say about a recipient.
    marks = [(pk, at, code, _REPLY.get_db_prep_save(reply, connection)) for pk, at, code, reply in marks]
    if connection.vendor == "postgresql":
        ids, times, codes, replies = (list(column) for column in zip(*marks, strict=True))
        connection.ensure_connection()
        # A plain psycopg cursor binds on the server: the arrays go as parameters. Django's cursor binds
        # on the client, quoting every encrypted reply into the SQL text in Python, a tenth of the
        # worker's CPU. wrap_database_errors keeps the errors Django's, as the caller expects.
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(MARK_SENT_ARRAYS, [ids, times, codes, replies, SENT, SENT, SENT, *PENDING, worker, SENT])
        return
    with connection.cursor() as cursor:
        cursor.executemany(MARK_SENT, [(SENT, at, reply, pk, SENT) for pk, at, _code, reply in marks])
        at_of = {pk: _EVENT_AT.get_db_prep_save(at, connection) for pk, at, _code, _reply in marks}
        cursor.executemany(MARK_RECIPIENTS, [(SENT, at_of[pk], pk, *PENDING) for pk, *_rest in marks])
        events = [
            (pk, _EVENT_AT.get_db_prep_save(at, connection), worker, SENT, code, reply) for pk, at, code, reply in marks
        ]
        cursor.executemany(LOG_SENT, events)


class SentMarker:
    def __init__(self, worker: str, prepare_connection=lambda: None):
        self.worker = worker  # who sent, for the event log
        self.queue: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.error: DatabaseError | None = None
        self.prepare_connection = prepare_connection
        self.hurry = threading.Event()  # set while someone waits for the marks: no more gathering

    def mark(self, pk: int, at: datetime.datetime, code: int | None, reply: str) -> None:
        """Record that message `pk` was accepted by the server at `at` with this reply."""
        if connection.in_atomic_block:
            # The caller's transaction must see (and own) the mark: no second connection.
            self._write([(pk, at, code, reply)])
            return
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._run, name="sent-marker", daemon=True)
            self.thread.start()
        self.queue.put((pk, at, code, reply))

    def wait(self) -> None:
        """Return once every mark handed over is committed; raise what the database said if one failed."""
        self.hurry.set()
        self.queue.join()
        self.hurry.clear()
        error, self.error = self.error, None
        if error is not None:
            raise error

    def close(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            self.queue.put(None)
            self.thread.join(timeout=30)

    def _write(self, marks: list[tuple[int, datetime.datetime, int | None, str]]) -> None:
        OutboxMessage.objects.mark_sent(marks, self.worker)

    def next_item(self):
        """The next mark to write; while none comes, the database session is not kept open for nothing."""
        while True:
            try:
                return self.queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                connection.close()

    def _run(self) -> None:
        try:
            while (item := self.next_item()) is not None:
                self.hurry.wait(GATHER_SECONDS)  # let the letters sent meanwhile share this transaction
                items = [item]
                while len(items) < 1000:
                    try:
                        items.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                stop = items[-1] is None
                try:
                    self.prepare_connection()
                    with transaction.atomic():
                        self._write([i for i in items if i is not None])
                except DatabaseError as exc:
                    # These rows stay "sending" and their lease will expire: sent again, never lost.
                    self.error = exc
                    connection.close()
                finally:
                    for _ in items:
                        self.queue.task_done()
                if stop:
                    return
            self.queue.task_done()
        finally:
            connection.close()
