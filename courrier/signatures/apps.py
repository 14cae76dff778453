import datetime

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SignaturesConfig(AppConfig):
    name = "courrier.signatures"
    verbose_name = _("Signatures")

    def periodic_jobs(self) -> list:
        # Imported here: the app registry loads this module before any model exists.
        from courrier.lib.periodic import Job
        from courrier.signatures import tallies

        return [Job("recount the public campaigns", datetime.timedelta(minutes=1), tallies.recount_public_campaigns)]
