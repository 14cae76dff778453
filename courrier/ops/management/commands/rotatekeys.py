"""`manage.py rotatekeys`: every encrypted value moved to the current data key, every digest recomputed.

After putting a new key first in DATA_KEYS (keeping the old ones after it),
with the site and the worker stopped: values under an old key are read with
it and written again under the new one, and the address digests (which are
keyed with the current key) are recomputed, so duplicates and look-ups by
address find the old rows again. Batches of --batch rows, one transaction
each: safe to interrupt and run again, and a second run changes nothing.
Once it has run, the old keys can be removed from DATA_KEYS.
"""

from django.core.management.base import BaseCommand

from courrier.db.rotation import BATCH, rotate_all
from courrier.lib import crypto


class Command(BaseCommand):
    help = "Re-encrypt every value under the current (first) data key and recompute the address digests."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch", type=int, default=BATCH, help="Rows per transaction (default %(default)s).")

    def handle(self, *args, batch: int, **options) -> None:
        self.stdout.write(f"Current key: {crypto.current_key_id()}")
        total_values = total_digests = 0
        for result in rotate_all(batch):
            total_values += result.reencrypted
            total_digests += result.digests
            self.stdout.write(
                f"{result.model}: {result.rows} rows read, {result.reencrypted} re-encrypted, "
                f"{result.digests} digests recomputed"
            )
        self.stdout.write(
            self.style.SUCCESS(f"Done: {total_values} rows re-encrypted, {total_digests} digests recomputed.")
        )
        if total_values == 0 and total_digests == 0:
            self.stdout.write("Everything was already under the current key: older keys may now be removed.")
