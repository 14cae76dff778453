"""How long signatures waited for their confirmation e-mail to be queued: `python -m bench.lag SINCE`.

Run by the spike scenario (bench/spike.py) against its scratch database, once the load has ended: it waits
until the worker has queued the confirmation of every signature made since SINCE (a Unix time), at most
--wait seconds, then prints JSON: how many, how many are still waiting, and the p50, p99 and longest delay
between a signature's row and its confirmation in the outbox.
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

from courrier.signatures.models import Signature  # noqa: E402  (after django.setup(): the models need it)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, math.ceil(fraction * len(values)) - 1))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("since", type=float, help="a Unix time: the signatures made after it are measured")
    parser.add_argument("--wait", type=float, default=60.0, help="how long to wait for the worker to catch up")
    args = parser.parse_args(argv)
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
