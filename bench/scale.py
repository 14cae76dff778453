"""The scale scenario's steps: a large campaign, and what each operation on it costs (`python -m bench --only scale`).

    python -m bench.scale load --rows 1000000     add N confirmed signatures to the demo campaign, written
                                                  through the model's own fields (encrypted and digested as in
                                                  production), a fifth of them for an organisation they list,
                                                  signed over the last SPREAD_DAYS days, each with its
                                                  letter sent to every target
    python -m bench.scale measure OPERATION       run one operation on it and print JSON: its seconds, the
                                                  process's peak memory, and what it made (a page's size, rows)

Each operation runs in a process of its own, so that its peak memory is its own. The environment
(COURRIER_VAR_DIR, DATABASE_URL) comes from the benchmark, which prints one line per operation and database.
"""

import argparse
import datetime
import json
import os
import resource
import sys
import time
from urllib.parse import urlsplit

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courrier.settings")
django.setup()

from django.conf import settings  # noqa: E402  (after django.setup(): the models need the app registry)
from django.contrib import admin  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, RequestFactory  # noqa: E402
from django.utils import timezone  # noqa: E402

from courrier.backoffice import progress as progress_page_view  # noqa: E402
from courrier.campaigns.demo import SLUG  # noqa: E402
from courrier.campaigns.models import Campaign  # noqa: E402
from courrier.delivery import progress, retention  # noqa: E402
from courrier.delivery.models import OutboxMessage, Recipient  # noqa: E402
from courrier.delivery.recipients import recipient_rows  # noqa: E402
from courrier.delivery.worker import Worker  # noqa: E402
from courrier.news.models import NewsUpdate  # noqa: E402
from courrier.news.sending import queue_news, send_updates  # noqa: E402
from courrier.signatures import exports, tallies  # noqa: E402
from courrier.signatures.models import Signature  # noqa: E402

LOAD_BATCH = 5000
SPREAD_DAYS = 100
ORGANISATIONS = 5000  # distinct names among the signatures that list one


def sent_letters(campaign: Campaign, signatures: list[Signature], targets: list, when) -> None:
    """Each signature's letter, sent (to the sandbox) to every target: what the progress page counts."""
    letters = OutboxMessage.objects.bulk_create(
        OutboxMessage(
            kind=OutboxMessage.Kind.LETTER,
            campaign=campaign,
            signature_id=signature.pk,
            message_id=f"<scale-{signature.pk}@bench.invalid>",
            sandbox=True,
            from_name="Айгерим Scale",
            from_email="letters@bench.invalid",
            envelope_from="bounces@bench.invalid",
            to=[targets[0].email],
            cc=[target.email for target in targets[1:]],
            subject="Scale",
            body="Letter.",
            status=OutboxMessage.Status.SENT,
            attempts=1,
            sent_at=when,
        )
        for signature in signatures
    )
    rows = [row for letter in letters for row in recipient_rows(letter, targets)]
    for row in rows:
        row.status, row.attempts, row.sent_at = Recipient.Status.SENT, 1, when
    Recipient.objects.bulk_create(rows)


def load(rows: int) -> None:
    campaign = Campaign.objects.get(slug=SLUG)
    targets = list(campaign.targets.order_by("-role", "pk"))  # "to" first
    now = timezone.now()
    made = 0
    while made < rows:
        size = min(LOAD_BATCH, rows - made)
        made_now = Signature.objects.bulk_create(
            Signature(
                campaign=campaign,
                first_name="Айгерим",
                last_name=f"Scale {made + i}",
                email=f"scale-{made + i}@example.org",
                city="Алматы",
                country="Қазақстан",
                organisation=f"Union {(made + i) % ORGANISATIONS}" if (made + i) % 5 == 0 else "",
                consent_list_organisation=(made + i) % 5 == 0,
                consent_news=(made + i) % 5 < 1,
                consent_send=True,
                language="fr",
                letter_language="fr",
                confirmed_at=now,
                confirmation_queued_at=now,
                letters_queued_at=now,
            )
            for i in range(size)
        )
        # Spread over SPREAD_DAYS, the oldest first, as a campaign of that size grows: so that what depends on
        # the signatures of the last days (the counter's refresh) is measured as it runs.
        when = now - datetime.timedelta(days=SPREAD_DAYS * (rows - made) / rows)
        Signature.objects.filter(pk__in=[s.pk for s in made_now]).update(created_at=when, confirmed_at=when)
        sent_letters(campaign, made_now, targets, when)
        made += size
    if connection.vendor == "postgresql":
        # What autovacuum does long before a campaign reaches this size (it runs after enough inserts): without
        # it the loading's own updates leave a dead row for each, and the planner counts from no statistics.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    # What the worker does when the campaign has grown: its counter and its progress figures counted.
    tallies.refresh_tallies([campaign.pk])
    progress.count_and_keep(campaign)


def superuser_request(path: str):
    request = RequestFactory().get(path)
    request.user = User.objects.filter(is_superuser=True).first() or User.objects.create_superuser("scale", "", "x")
    request.session = {}
    request._messages = []
    return request


def campaign_page(campaign: Campaign) -> dict:
    settings.PUBLIC_PAGE_SECONDS = 0  # rendered, not served from the site's cache
    response = Client(HTTP_HOST=urlsplit(settings.SITE_ROOT).netloc).get(f"/fr/c/{campaign.slug}/")
    return {"status": response.status_code, "kb": round(len(response.content) / 1024)}


def admin_signatures(campaign: Campaign) -> dict:
    model_admin = admin.site._registry[Signature]
    response = model_admin.changelist_view(superuser_request(f"/admin/signatures/signature/?campaign={campaign.pk}"))
    response.render()
    return {"status": response.status_code, "kb": round(len(response.content) / 1024)}


def progress_page(campaign: Campaign) -> dict:
    response = progress_page_view.progress(superuser_request("/admin/progress/"), campaign.pk)
    response.render()
    return {"status": response.status_code, "kb": round(len(response.content) / 1024)}


def csv_export(campaign: Campaign) -> dict:
    size = sum(len(chunk) for chunk in exports.csv_chunks(campaign))
    return {"kb": round(size / 1024)}


def progress_figures(campaign: Campaign) -> dict:
    """The worker's part of the progress page: every signature and letter counted (delivery/progress.py)."""
    progress.count_and_keep(campaign)
    return {}


def pdf_export(campaign: Campaign) -> dict:
    """The PDF's last part, the one furthest into the campaign, as the progress page offers it."""
    last = exports.pdf_parts(progress.progress_for(campaign).signatures.exportable)[-1][0]
    content, rows = exports.signatures_pdf(campaign, last)
    return {"part": last, "kb": round(len(content) / 1024), "rows": rows}


def news_request(campaign: Campaign) -> dict:
    update = NewsUpdate.objects.create(campaign=campaign, language="fr", subject="Scale", body="News.")
    [sent] = send_updates([update], user=None)
    return {"recipients": sent.recipients}


def news_queued(campaign: Campaign) -> dict:
    """The worker's part: every e-mail of the update sent by news_request, a chunk at a time."""
    queued = 0
    while count := queue_news():
        queued += count
    return {"queued": queued}


def worker_idle_pass(campaign: Campaign) -> dict:
    worker = Worker()
    try:
        worker.run_once()  # the first pass runs every periodic job once
        started = time.perf_counter()
        worker.run_once()
        return {"second_pass_s": round(time.perf_counter() - started, 3)}
    finally:
        worker.close()


def tally_refresh(campaign: Campaign) -> dict:
    """The refresh after a pass that queued letters: the last days counted, the settled part kept."""
    tallies.refresh_tallies([campaign.pk])
    return {}


def tally_full_recount(campaign: Campaign) -> dict:
    """What each hour (or a moderation decision) costs: every signature counted again."""
    tallies.forget_settled([campaign.pk])
    tallies.refresh_tallies([campaign.pk])
    return {}


def retention_pass(campaign: Campaign) -> dict:
    return {"deleted": retention.delete_unconfirmed(timezone.now())}


# In this order: the news last, since the e-mails they queue would be the next pass's work.
OPERATIONS = {
    "campaign page": campaign_page,
    "admin signature list": admin_signatures,
    "progress page": progress_page,
    "progress figures, the worker's count": progress_figures,
    "CSV export": csv_export,
    "PDF export, its last part": pdf_export,
    "worker's idle pass": worker_idle_pass,
    "tally refresh": tally_refresh,
    "tally, the hourly full count": tally_full_recount,
    "retention pass": retention_pass,
    "news, the request": news_request,
    "news, the worker's queueing": news_queued,
}


def measure(name: str) -> None:
    campaign = Campaign.objects.get(slug=SLUG)
    started = time.perf_counter()
    made = OPERATIONS[name](campaign)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    json.dump({"seconds": round(seconds, 3), "peak_mb": round(peak_mb), **made}, sys.stdout)
    sys.stdout.write("\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    steps = parser.add_subparsers(dest="step", required=True)
    steps.add_parser("load").add_argument("--rows", type=int, required=True)
    steps.add_parser("measure").add_argument("operation", choices=list(OPERATIONS))
    args = parser.parse_args(argv)
    if args.step == "load":
        load(args.rows)
    else:
        measure(args.operation)


if __name__ == "__main__":
    main()
