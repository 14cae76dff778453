import signal
import time
import traceback

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections, connection

from courrier.delivery.worker import Worker


def check_database_is_safe_for_workers() -> None:
    """Claims are only exclusive on SQLite if every transaction takes the write lock at BEGIN."""
    if connection.vendor == "sqlite":
        options = connection.settings_dict.get("OPTIONS", {})
        if options.get("transaction_mode") != "IMMEDIATE":
            raise CommandError(
                "On SQLite the delivery worker needs OPTIONS['transaction_mode'] = 'IMMEDIATE' "
                "(courrier.settings sets it): without it two workers could send the same letter."
            )


class Command(BaseCommand):
    help = "Run the delivery worker: queue confirmations and letters, send the outbox, retry, refresh tallies."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Do what is due now, then exit.")
        parser.add_argument("--poll", type=float, default=1.0, help="Seconds to sleep when nothing is due.")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--lease", type=int, default=None, help="Lease in seconds on claimed messages.")

    def handle(self, *args, once=False, poll=1.0, batch_size=None, lease=None, **options):
        check_database_is_safe_for_workers()
        self.stopping = False
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        worker = Worker(batch_size=batch_size, lease_seconds=lease)
        self.stdout.write(f"delivery worker {worker.name} started")
        try:
            while not self.stopping:
                try:
                    handled = worker.run_once()
                except DatabaseError as exc:
                    # The database restarted or went away: drop the connection, wait, carry on.
                    self.stderr.write(f"database error, reconnecting: {type(exc).__name__}")
                    connection.close()
                    time.sleep(poll * 2)
                    continue
                except Exception as exc:
                    # Only where it happened: an exception's message may quote personal data.
                    frame = traceback.extract_tb(exc.__traceback__)[-1]
                    self.stderr.write(f"error {type(exc).__name__} at {frame.filename}:{frame.lineno}; retrying")
                    connection.close()
                    time.sleep(poll * 5)
                    continue
                if once and handled == 0:
                    break
                if handled == 0:
                    close_old_connections()
                    time.sleep(poll)
        finally:
            worker.close()
        self.stdout.write("delivery worker stopped")

    def stop(self, signum, frame):
        self.stopping = True
