"""The delivery benchmark's steps, each run as its own process by `python -m bench`.

    python -m bench.delivery prepare --letters 2000   queue N letters of the demo campaign for real delivery
    python -m bench.delivery work                     one delivery worker: prints "ready", waits for a line
                                                      on stdin, sends until nothing is left, prints JSON
    python -m bench.delivery plain --letters 2000     the reference: the last N letters queued (before or after
                                                      the worker sent them), composed the same way, sent by a
                                                      bare smtplib loop over one connection

The environment (COURRIER_VAR_DIR, DATABASE_URL, EMAIL_HOST=127.0.0.1,
EMAIL_PORT=the sink) comes from the benchmark. Every step refuses to run
unless EMAIL_HOST is 127.0.0.1: the demo campaign's targets are a real
embassy and a real activist, and its real_delivery flag is switched on here.
"""

import argparse
import json
import os
import smtplib
import ssl
import sys
import time
import uuid

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courrier.settings")
django.setup()

from django.conf import settings  # noqa: E402  (after django.setup(): the models need the app registry)
from django.db import close_old_connections  # noqa: E402
from django.utils import timezone  # noqa: E402

from courrier.campaigns.demo import SLUG  # noqa: E402
from courrier.campaigns.models import Campaign, Target  # noqa: E402
from courrier.delivery import enqueue  # noqa: E402
from courrier.delivery.compose import compose  # noqa: E402
from courrier.delivery.models import OutboxMessage  # noqa: E402
from courrier.delivery.worker import Worker  # noqa: E402
from courrier.signatures.models import Signature  # noqa: E402

Kind, Status = OutboxMessage.Kind, OutboxMessage.Status
# Pacing spreads each target's letters on purpose (30 an hour by default, 3,600 at most in the admin).
# This benchmark measures how fast the worker itself can go, so it sets a pace that never binds:
# one letter every 1.8 µs, still a valid positive integer for the column.
UNBOUNDED_PACE_PER_HOUR = 2_000_000_000
# A worker that finds nothing to claim sleeps like `manage.py deliver` does (its --poll default).
POLL_SECONDS = 1.0
GIVE_UP_SECONDS = 120.0


def require_loopback_smtp() -> None:
    """Nothing but the local sink may ever receive these letters."""
    if settings.EMAIL_HOST != "127.0.0.1":
        raise SystemExit(f"refusing to send: EMAIL_HOST is {settings.EMAIL_HOST!r}, not 127.0.0.1")


def prepare(count: int) -> dict:
    """Queue `count` letters (kind letter, real delivery) as the worker itself queues them."""
    require_loopback_smtp()
    campaign = Campaign.objects.get(slug=SLUG)
    Campaign.objects.filter(pk=campaign.pk).update(real_delivery=True)
    Target.objects.filter(campaign=campaign).update(pace_per_hour=UNBOUNDED_PACE_PER_HOUR)
    now = timezone.now()
    batch = uuid.uuid4().hex[:8]  # new addresses if a database is prepared twice
    Signature.objects.bulk_create(
        Signature(
            campaign=campaign,
            first_name="Aigerim",
            last_name=f"Supporter {number}",
            email=f"supporter-{batch}-{number}@example.org",
            city="Lyon",
            language="fr",
            letter_language="fr",
            consent_send=True,
            confirmed_at=now,
            confirmation_queued_at=now,  # the confirmation e-mail is not what is measured
        )
        for number in range(count)
    )
    # The worker's own enqueue step builds the letters (To, Cc, pacing group, sandbox flag).
    while enqueue.queue_letters():
        pass
    # It also queues each supporter's copy; only letters are measured.
    OutboxMessage.objects.exclude(kind=Kind.LETTER).filter(status=Status.QUEUED).delete()
    queued = OutboxMessage.objects.filter(kind=Kind.LETTER, status=Status.QUEUED)
    if queued.filter(sandbox=True).exists() or queued.count() != count:
        raise SystemExit(f"expected {count} queued real letters, found {queued.filter(sandbox=False).count()}")
    return {"queued": count}


def remaining() -> bool:
    return OutboxMessage.objects.filter(kind=Kind.LETTER, status__in=[Status.QUEUED, Status.SENDING]).exists()


def work() -> dict:
    """Run the real Worker the way `manage.py deliver` does, from "go" until no letter is left."""
    require_loopback_smtp()
    worker = Worker()
    close_old_connections()
    print("ready", flush=True)
    sys.stdin.readline()  # the benchmark starts every worker at the same moment
    started = last_busy = time.time()  # wall clock: comparable between the worker processes
    while time.time() - started < GIVE_UP_SECONDS:
        if worker.run_once():
            last_busy = time.time()
        elif remaining():
            time.sleep(POLL_SECONDS)  # another worker holds the rest, or holds the targets' pacing lock
        else:
            break
    worker.close()
    sent = OutboxMessage.objects.filter(kind=Kind.LETTER, claimed_by=worker.name, status=Status.SENT).count()
    return {"worker": worker.name, "started": started, "finished": last_busy, "sent": sent}


def plain(count: int) -> dict:
    """The same letters over one smtplib connection: no database, no bookkeeping."""
    require_loopback_smtp()
    letters = list(OutboxMessage.objects.filter(kind=Kind.LETTER).order_by("-pk")[:count])
    started = time.perf_counter()
    messages = [(letter.envelope_from, letter.recipients(), compose(letter)) for letter in letters]
    compose_ms = (time.perf_counter() - started) * 1000 / max(len(letters), 1)
    started = time.perf_counter()
    with smtplib.SMTP(settings.EMAIL_HOST, settings.EMAIL_PORT, timeout=settings.EMAIL_TIMEOUT) as smtp:
        if settings.EMAIL_USE_TLS:  # as the worker does towards a relay that asks for it
            smtp.starttls(context=ssl.create_default_context(cafile=settings.EMAIL_SSL_CAFILE or None))
        for envelope_from, recipients, data in messages:
            smtp.sendmail(envelope_from, recipients, data)
    elapsed = time.perf_counter() - started
    return {
        "sent": len(messages),
        "per_second": len(messages) / elapsed,
        "compose_ms": compose_ms,  # reported apart: the loop itself sends bytes composed beforehand
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("step", choices=["prepare", "work", "plain"])
    parser.add_argument("--letters", type=int, default=2000)
    args = parser.parse_args(argv)
    if args.step == "prepare":
        result = prepare(args.letters)
    elif args.step == "work":
        result = work()
    else:
        result = plain(args.letters)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
