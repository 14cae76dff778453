import datetime

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    name = "courrier.delivery"
    verbose_name = _("Delivery")

    def periodic_jobs(self) -> list:
        """What the worker does besides sending, in this order on each pass (sending comes after)."""
        # Imported here: the app registry loads this module before any model exists.
        from courrier.delivery import alerts, data_links, digests, enqueue, follow_ups, hand_over, progress, retention
        from courrier.lib.periodic import EVERY_PASS, Job
        from courrier.signatures import tallies

        def queue_letters(now: datetime.datetime) -> None:
            tallies.refresh_tallies(enqueue.queue_letters(now), now)  # the counter moves with the letters

        def report_problems(now: datetime.datetime) -> None:
            alerts.report_failures(now)
            alerts.report_long_deferrals(now)

        minute = datetime.timedelta(minutes=1)
        return [
            # Leased to the worker as they are written, and sent in the same pass (enqueue.Lease).
            Job("queue confirmation requests", EVERY_PASS, enqueue.queue_confirmations, with_pass=True),
            # Someone asked for their links on the site: mail them promptly.
            Job("queue data links", EVERY_PASS, data_links.queue_data_links),
            Job("queue letters", EVERY_PASS, queue_letters),
            # A supporter pressed "send it in my name" on a follow-up's link.
            Job("queue follow-up letters", EVERY_PASS, follow_ups.queue_follow_up_letters),
            Job("queue due digests", minute, digests.queue_due_digests),
            # A campaign past its end date closes, and its targets marked for it get the final hand-over.
            Job("close ended campaigns and hand over", minute, hand_over.run),
            Job("tell staff of failures", minute, report_problems),
            Job("count the large campaigns' progress", minute, progress.refresh_progress),
            # Its dates are days: every ten minutes is plenty.
            Job("erase on schedule", 10 * minute, retention.run),
        ]
