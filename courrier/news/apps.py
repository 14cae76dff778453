from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NewsConfig(AppConfig):
    name = "courrier.news"
    verbose_name = _("Updates to supporters")

    def periodic_jobs(self) -> list:
        # Imported here: the app registry loads this module before any model exists.
        from courrier.lib.periodic import EVERY_PASS, Job
        from courrier.news import follow_ups, sending

        return [
            Job("queue the updates sent", EVERY_PASS, sending.queue_news),
            Job("queue the invitations to the follow-ups opened", EVERY_PASS, follow_ups.queue_invitations),
        ]
