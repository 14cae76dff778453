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
from django.db import DatabaseError, connection, transaction

from courrier.delivery.models import DeliveryEvent, OutboxMessage, Recipient

MARK_SENT = (
    "UPDATE delivery_outboxmessage SET status = %s, sent_at = %s, lease_expires_at = NULL, last_reply = %s"
    " WHERE id = %s AND status <> %s"
)
# Every recipient of a letter marked this way took it in the same session (delivery/recipients.py).
MARK_RECIPIENTS = (
    "UPDATE delivery_outboxmessage_targets SET status = %s, sent_at = %s, attempts = attempts + 1,"
    " next_attempt_at = NULL WHERE outboxmessage_id = %s AND status IN (%s, %s)"
)
LOG_SENT = (
    "INSERT INTO delivery_deliveryevent (message_id, at, worker, status, smtp_code, reply)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)
# PostgreSQL: each batch in one statement whatever its size, the rows passed as arrays: the letters marked
# sent, their recipients, the events that log them. executemany() would send one statement per row and parse
# one result per row, in Python, on the worker's CPU; three statements cost three round trips, and the CPU
# the worker saves is the relay's on a small machine.
MARK_SENT_ARRAYS = (
    "WITH marks AS ("
    " SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::integer[], %s::text[]) AS marks (id, at, code, reply)"
    "), messages AS ("
    " UPDATE delivery_outboxmessage AS message SET status = %s, sent_at = marks.at, lease_expires_at = NULL,"
    " last_reply = marks.reply FROM marks WHERE message.id = marks.id AND message.status <> %s"
    "), recipients AS ("
    " UPDATE delivery_outboxmessage_targets AS recipient SET status = %s, sent_at = marks.at,"
    " attempts = recipient.attempts + 1, next_attempt_at = NULL"
    " FROM marks WHERE recipient.outboxmessage_id = marks.id AND recipient.status IN (%s, %s)"
    ")"
    " INSERT INTO delivery_deliveryevent (message_id, at, worker, status, smtp_code, reply)"
    " SELECT id, at, %s, %s, code, reply FROM marks"
)
SENT = OutboxMessage.Status.SENT
PENDING = (Recipient.Status.QUEUED, Recipient.Status.DEFERRED)
# How long a mark may wait for others to share its transaction; the window for a duplicate grows by this much.
GATHER_SECONDS = 0.005
_EVENT_AT = DeliveryEvent._meta.get_field("at")
_REPLY = DeliveryEvent._meta.get_field("reply")


IDLE_SECONDS = 1.0


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
        # The replies are stored encrypted, like everything a server may say about a recipient.
        marks = [(pk, at, code, _REPLY.get_db_prep_save(reply, connection)) for pk, at, code, reply in marks]
        if connection.vendor == "postgresql":
            ids, times, codes, replies = (list(column) for column in zip(*marks, strict=True))
            connection.ensure_connection()
            # A plain psycopg cursor binds on the server: the arrays go as parameters. Django's cursor binds
            # on the client, quoting every encrypted reply into the SQL text in Python, a tenth of the
            # worker's CPU. wrap_database_errors keeps the errors Django's, as the caller expects.
            with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(
                    MARK_SENT_ARRAYS, [ids, times, codes, replies, SENT, SENT, SENT, *PENDING, self.worker, SENT]
                )
            return
        with connection.cursor() as cursor:
            cursor.executemany(MARK_SENT, [(SENT, at, reply, pk, SENT) for pk, at, _code, reply in marks])
            at_of = {pk: _EVENT_AT.get_db_prep_save(at, connection) for pk, at, _code, _reply in marks}
            cursor.executemany(MARK_RECIPIENTS, [(SENT, at_of[pk], pk, *PENDING) for pk, *_rest in marks])
            events = [
                (pk, _EVENT_AT.get_db_prep_save(at, connection), self.worker, SENT, code, reply)
                for pk, at, code, reply in marks
            ]
            cursor.executemany(LOG_SENT, events)

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
