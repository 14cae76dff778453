from django.core.management.base import BaseCommand

from courrier.campaigns.demo import load_demo


class Command(BaseCommand):
    help = "Create the demo campaign (sandbox delivery) if it does not exist yet."

    def handle(self, *args, **options):
        campaign, created = load_demo()
        verb = "created" if created else "already present"
        self.stdout.write(f"demo campaign {campaign.slug!r} {verb}")
