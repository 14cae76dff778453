"""`manage.py newdatakey`: a fresh key for DATA_KEYS (32 random bytes, base64), printed and stored nowhere."""

from django.core.management.base import BaseCommand

from courrier.lib import crypto


class Command(BaseCommand):
    help = "Print a new random data key for DATA_KEYS. It is stored nowhere: keep it where your secrets live."

    # The key is printed whatever the settings say: generating one must work before DATA_KEYS is set.
    requires_system_checks = []

    def handle(self, *args, **options) -> None:
        self.stdout.write(crypto.new_key())
