"""`python -m bench --only shortcuts`: what each bypass of Django on a hot path buys, against its plain twin.

Each shortcut stays only where this shows it buys at least 5 % on its path (the issue-14 rule). The same
site or worker runs twice, once as shipped and once with COURRIER_PLAIN_PATHS naming the shortcut (its
plain twin, written next to it, which tests/test_fast_paths.py proves writes the same rows), in alternating
rounds on the same database, as the rest of the benchmark measures.
"""

import contextlib
import statistics
import sys

from bench.command import (
    CAMPAIGN_PAGE,
    LOOPBACK,
    SIGN_PATH,
    Command,
    Database,
    Throughput,
    cpu_per_request_ms,
    median_ratio,
    ratio,
)

SIGNING_SHORTCUTS = ["insert", "form"]  # settings.PLAIN_PATHS names (courrier/settings.py)
# The worker's, measured by what they are for: signing while the worker queues the confirmations. On SQLite
# only, where they apply.
WORKER_SHORTCUTS = ["rows"]
DELIVERY_SHORTCUTS = ["marks"]
KEEP_AT = 1.05


def verdict(gain: float) -> str:
    return "keep" if gain >= KEEP_AT else "remove (under 5 %)"


def signing_environment(bench: Command, database: Database, secret_key: str) -> dict[str, str]:
    return {**bench.signing_environment(database), "SECRET_KEY": secret_key}


def signing_shortcuts(bench: Command, database: Database, secret_key: str) -> None:
    bench.say(f"== shortcuts on the signing path, {database.label}: the site as shipped vs each plain twin")
    env = signing_environment(bench, database, secret_key)
    results: dict[str, list[Throughput]] = {"shipped": [], **{name: [] for name in SIGNING_SHORTCUTS}}
    with contextlib.ExitStack() as servers_up:
        servers = {"shipped": servers_up.enter_context(bench.gunicorn("courrier.wsgi", env, CAMPAIGN_PAGE))}
        for name in SIGNING_SHORTCUTS:
            plain_env = {**env, "COURRIER_PLAIN_PATHS": name}
            servers[name] = servers_up.enter_context(bench.gunicorn("courrier.wsgi", plain_env, CAMPAIGN_PAGE))
        order = list(results)
        for number in range(bench.rounds):
            for name in order if number % 2 == 0 else reversed(order):
                proofs = bench.proofs(env)
                results[name].append(bench.load(servers[name], SIGN_PATH, "--page", CAMPAIGN_PAGE, *proofs))
            bench.say(
                f"  round {number + 1}: " + ", ".join(f"{results[name][-1].per_second:.0f}/s {name}" for name in order)
            )
    for name in SIGNING_SHORTCUTS:
        gain = median_ratio(results["shipped"], results[name])
        costs = (cpu_per_request_ms(results["shipped"]), cpu_per_request_ms(results[name]))
        cpu = f", server CPU {costs[0]:.2f} vs {costs[1]:.2f} ms a signature" if all(costs) else ""
        bench.say(f"shortcut {name}: shipped/plain {gain:.3f}{cpu}: {verdict(gain)}")


def worker_shortcuts(bench: Command, database: Database, secret_key: str) -> None:
    bench.say(
        f"== shortcuts of the worker, {database.label}: signing while the worker runs as shipped vs each plain twin"
    )
    env = signing_environment(bench, database, secret_key)
    results: dict[str, list[Throughput]] = {"shipped": [], **{name: [] for name in WORKER_SHORTCUTS}}
    with bench.gunicorn("courrier.wsgi", env, CAMPAIGN_PAGE) as site:
        order = list(results)
        for number in range(bench.rounds):
            for name in order if number % 2 == 0 else reversed(order):
                worker_env = env if name == "shipped" else {**env, "COURRIER_PLAIN_PATHS": name}
                proofs = bench.proofs(env)
                with bench.delivery_worker(worker_env):
                    results[name].append(bench.load(site, SIGN_PATH, "--page", CAMPAIGN_PAGE, *proofs))
                    bench.drain_worker(env)  # its backlog done by the worker that left it
            bench.say(
                f"  round {number + 1}: " + ", ".join(f"{results[name][-1].per_second:.0f}/s {name}" for name in order)
            )
    for name in WORKER_SHORTCUTS:
        gain = median_ratio(results["shipped"], results[name])
        bench.say(f"shortcut {name}: shipped/plain {gain:.3f}: {verdict(gain)}")


def delivery_shortcuts(bench: Command, database: Database, relay: dict[str, str]) -> None:
    bench.say(f"== shortcuts on the delivery path, {database.label}: one worker as shipped vs each plain twin")
    count = ["--letters", str(bench.letters)]
    rates: dict[str, list[float]] = {"shipped": [], **{name: [] for name in DELIVERY_SHORTCUTS}}
    order = list(rates)
    # Round 0, not counted: the first worker on a fresh database ran at a tenth of its speed (whichever side
    # went first), which would decide a one-round comparison.
    for number in range(-1, bench.delivery_rounds):
        for name in order if number % 2 == 0 else reversed(order):
            env = bench.environment(database, **relay)
            if name != "shipped":
                env["COURRIER_PLAIN_PATHS"] = name
            bench.run_step("prepare", [sys.executable, "-m", "bench.delivery", "prepare", *count], env)
            results = bench.run_workers(env, 1)
            sent = sum(r["sent"] for r in results)
            elapsed = max(r["finished"] for r in results) - min(r["started"] for r in results)
            if number >= 0:
                rates[name].append(ratio(sent, elapsed))
        if number >= 0:
            bench.say(f"  round {number + 1}: " + ", ".join(f"{rates[name][-1]:.0f}/s {name}" for name in order))
    for name in DELIVERY_SHORTCUTS:
        gain = statistics.median(ratio(a, b) for a, b in zip(rates["shipped"], rates[name], strict=True))
        bench.say(f"shortcut {name}: shipped/plain {gain:.3f}: {verdict(gain)}")


def run(bench: Command, secret_key: str) -> None:
    databases = [bench.fresh_sqlite()]
    if bench.postgres_admin is not None:
        databases.append(bench.fresh_postgres())
    for database in databases:
        signing_shortcuts(bench, database, secret_key)
    worker_shortcuts(bench, databases[0], secret_key)  # SQLite's alone (courrier/db/rows.py)
    with bench.smtp_sink() as sink_port:
        sink = {"EMAIL_HOST": LOOPBACK, "EMAIL_PORT": str(sink_port), "EMAIL_USE_TLS": "0", "EMAIL_USE_SSL": "0"}
        for database in databases:
            delivery_shortcuts(bench, database, sink)
