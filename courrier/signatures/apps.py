import datetime

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SignaturesConfig(AppConfig):
    name = "courrier.signatures"
    verbose_name = _("Signatures")

    def periodic_jobs(self) -> list:
        # Imported here: the app registry loads this module before any model exists.
        from courrier.lib.periodic import Job
        from courrier.signatures import figures, tallies

        minute = datetime.timedelta(minutes=1)
        return [
            Job("recount the public campaigns", minute, tallies.recount_public_campaigns),
            Job("count the large campaigns' figures", minute, figures.refresh_figures),
        ]
