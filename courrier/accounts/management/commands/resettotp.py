"""`manage.py resettotp USERNAME`: a lost phone. The user sets up a new second factor at their next login."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from courrier.accounts import audit
from courrier.accounts.models import TOTPDevice


class Command(BaseCommand):
    help = "Remove a staff user's second factor (a lost phone): they set up a new one at their next login."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        User = get_user_model()
        try:
            user = User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist:
            raise CommandError(f"No user called {username!r}.") from None
        removed, _ = TOTPDevice.objects.filter(user=user).delete()
        if not removed:
            self.stdout.write(f"{username} has no second factor yet: they will set one up at their next login.")
            return
        audit.record(None, audit.SECOND_FACTOR_RESET, user, summary="manage.py resettotp")
        self.stdout.write(
            f"{username}'s second factor is removed. At their next login they scan a new QR code before any "
            "back-office page opens. Whoever logs in with their password first does that: if the password may be "
            f"known to someone else too, change it (manage.py changepassword {username})."
        )
