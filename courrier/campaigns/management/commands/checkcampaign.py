from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from courrier.campaigns.checklist import blocking, run_checklist
from courrier.campaigns.models import Campaign


class Command(BaseCommand):
    help = (
        "Run the pre-publish checklist: print each finding (campaign, severity, language, message) and exit "
        "with status 1 when going live would be blocked, 2 when there is no such campaign."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", nargs="?", help="The campaign to check (default: every campaign).")
        parser.add_argument(
            "--language",
            default=settings.LANGUAGE_CODE,
            choices=[code for code, _name in settings.LANGUAGES],
            help="The language of the messages (default: %(default)s).",
        )

    def handle(self, *args, slug=None, language=None, **options):
        campaigns = Campaign.objects.order_by("slug")
        if slug is not None:
            campaigns = campaigns.filter(slug=slug)
            if not campaigns.exists():
                raise CommandError(f"No campaign has the slug {slug!r}.", returncode=2)
        blocked = []
        with translation.override(language):
            for campaign in campaigns:
                findings = run_checklist(campaign)
                for finding in findings:
                    message = f"{finding.field_label}: {finding.message}" if finding.field else finding.message
                    self.stdout.write("\t".join([campaign.slug, finding.severity, finding.language or "-", message]))
                if blocking(findings):
                    blocked.append(campaign.slug)
                elif not findings:
                    self.stdout.write(f"{campaign.slug}\tok")
        if blocked:
            raise CommandError(f"Going live is blocked for: {', '.join(blocked)}", returncode=1)
