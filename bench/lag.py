"""How long signatures waited for their confirmation e-mail to be queued: `python -m bench.lag SINCE`.

Run by the spike scenario (bench/spike.py) against its scratch database, once the load has ended: it waits
until the worker has queued the confirmation of every signature made since SINCE (a Unix time), at most
--wait seconds, then prints JSON: how many, how many are still waiting, and the p50, p99 and longest delay
between a signature's row and its confirmation in the outbox.

`python -m bench.lag --drain` waits instead until the worker has queued and sent everything (after a
signing round, so that its backlog is not charged to the next server measured), and prints how many
confirmations were still to queue or send when it began, and the seconds it took.
"""

import argparse
import datetime
import json
import math
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courrier.settings")
django.setup()

from courrier.delivery.models import OutboxMessage  # noqa: E402  (after django.setup(): the models need it)
from courrier.signatures.models import Signature  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, math.ceil(fraction * len(values)) - 1))]


def backlog() -> int:
    """Signatures whose confirmation is not queued yet, and messages due but not sent (not those a daily cap
    or a retry holds for later)."""
    now = datetime.datetime.now(tz=datetime.UTC)
    due = OutboxMessage.objects.filter(status__in=OutboxMessage.DUE, next_attempt_at__lte=now)
    unsent = due | OutboxMessage.objects.filter(status=OutboxMessage.Status.SENDING)
    return Signature.objects.filter(confirmation_queued_at__isnull=True).count() + unsent.count()


def drain(wait: float) -> None:
    started = time.monotonic()
    left = first = backlog()
    while left and time.monotonic() - started < wait:
        time.sleep(0.1)
        left = backlog()
    json.dump({"backlog": first, "left": left, "seconds": time.monotonic() - started}, sys.stdout)
    sys.stdout.write("\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("since", type=float, nargs="?", help="a Unix time: the signatures made after it")
    parser.add_argument("--wait", type=float, default=60.0, help="how long to wait for the worker to catch up")
    parser.add_argument("--drain", action="store_true", help="wait until nothing is left to queue or send")
    parser.add_argument("--count", action="store_true", help="just count the signatures made so far")
    args = parser.parse_args(argv)
    if args.count:
        json.dump({"signatures": Signature.objects.count()}, sys.stdout)
        return
    if args.drain:
        drain(args.wait)
        return
    if args.since is None:
        parser.error("SINCE is required without --drain")
    since = datetime.datetime.fromtimestamp(args.since, tz=datetime.UTC)
    made = Signature.objects.filter(created_at__gte=since, is_duplicate=False)
    deadline = time.monotonic() + args.wait
    while made.filter(confirmation_queued_at__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    pairs = made.values_list("created_at", "confirmation_queued_at")
    # The worker stamps what a pass queues with the time the pass began: a signature made during the pass
    # would read as queued before it was made, so such a delay counts as none.
    delays = sorted(max(0.0, (queued - created).total_seconds()) for created, queued in pairs if queued is not None)
    json.dump(
        {
            "signatures": made.count(),
            "waiting": made.filter(confirmation_queued_at__isnull=True).count(),
            "p50_s": percentile(delays, 0.5),
            "p99_s": percentile(delays, 0.99),
            "max_s": delays[-1] if delays else 0.0,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
