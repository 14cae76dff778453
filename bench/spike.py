"""The benchmark's scenarios in the shape production runs: readers and signers at once, the worker running.

read    The campaign page and the home page, GET by 8 connections, against a bare Django page (bench/bare_view.py)
        served by the same site, middleware and gunicorn: what a share's readers cost.
spike   The site started as `manage.py serve` starts it (gunicorn 2 × WEB_THREADS, and the delivery worker),
        16 connections each reading the campaign page ten times per signature, for 20 s at least. Afterwards,
        how long each signature waited for its confirmation e-mail to be queued (bench/lag.py).

Both run on each database (SQLite, and PostgreSQL when it answers), from `python -m bench` (bench/command.py).
"""

import json
import statistics
import sys
import time

from bench.command import CAMPAIGN_PAGE, SIGN_PATH, Database, Throughput, percentile, ratio

BARE_PAGE_PATH = "/bare/page/"
REFERENCE_SETTINGS = "bench.site_settings"  # the site, with the bare views added
HOME_PAGE = "/fr/"
SPIKE_CONNECTIONS = 16
SPIKE_MIX = 10  # page GETs per signing POST on each connection
SPIKE_SECONDS = 20.0
READ_GOAL_RATIO, SPIKE_GOAL_P99_MS, CONFIRMATION_GOAL_S = 0.7, 100.0, 10.0


def read(bench, database: Database) -> None:
    bench.say(f"== read, {database.label}: GET {CAMPAIGN_PAGE} and {HOME_PAGE} vs a bare Django page, served alike")
    env = bench.signing_environment(database)
    pages: dict[str, list[Throughput]] = {"campaign": [], "home": [], "bare": []}
    with (
        bench.gunicorn("courrier.wsgi", env, CAMPAIGN_PAGE) as site,
        bench.gunicorn(
            "courrier.wsgi", {**env, "DJANGO_SETTINGS_MODULE": "bench.site_settings"}, BARE_PAGE_PATH
        ) as bare,
    ):
        turns = [
            lambda: pages["campaign"].append(bench.load(site, CAMPAIGN_PAGE, "--read-only")),
            lambda: pages["home"].append(bench.load(site, HOME_PAGE, "--read-only")),
            lambda: pages["bare"].append(bench.load(bare, BARE_PAGE_PATH, "--read-only")),
        ]
        for number in range(bench.rounds):
            for turn in turns if number % 2 == 0 else reversed(turns):
                turn()
    rate = {name: statistics.median(page_rate(r) for r in runs) for name, runs in pages.items()}
    shares = {
        name: statistics.median(
            ratio(page_rate(a), page_rate(b)) for a, b in zip(pages[name], pages["bare"], strict=True)
        )
        for name in ("campaign", "home")
    }
    bench.say(f"page/s: {rate['campaign']:.0f}  bare page/s: {rate['bare']:.0f}  ratio: {shares['campaign']:.2f}")
    bench.say(f"home page/s: {rate['home']:.0f}  bare page/s: {rate['bare']:.0f}  ratio: {shares['home']:.2f}")
    latencies = sorted(ms for r in pages["campaign"] for ms in r.pages.get("latencies_ms", []))
    if latencies:
        bench.say(
            f"  campaign page p50: {percentile(latencies, 0.5):.1f} ms  p99: {percentile(latencies, 0.99):.1f} ms"
        )
    report_other_answers(bench, pages)
    worst = min(shares.values())
    verdict = "met" if worst >= READ_GOAL_RATIO else f"NOT met, short by {READ_GOAL_RATIO - worst:.2f}"
    bench.say(f"  goal (both pages >= {READ_GOAL_RATIO} of the bare page): {verdict}")


def spike(bench, database: Database) -> None:
    bench.say(
        f"== spike, {database.label}: the site and its worker as `manage.py serve` runs them; {SPIKE_CONNECTIONS} "
        f"connections, {SPIKE_MIX} page GETs per signature, {max(bench.duration, SPIKE_SECONDS):g} s"
    )
    env = bench.signing_environment(database)
    duration = max(bench.duration, SPIKE_SECONDS)
    with bench.delivery_worker(env), bench.gunicorn("courrier.wsgi", env, CAMPAIGN_PAGE) as site:
        started = time.time()
        result = bench.load(
            site,
            SIGN_PATH,
            "--page",
            CAMPAIGN_PAGE,
            "--mix",
            str(SPIKE_MIX),
            *bench.proofs(env, duration=duration),
            connections=SPIKE_CONNECTIONS,
            duration=duration,
        )
        lag = json.loads(bench.run_step("lag", [sys.executable, "-m", "bench.lag", str(started)], env))
    sign_p99 = percentile(sorted(result.latencies_ms), 0.99)
    page_p99 = result.pages.get("p99_ms", 0.0)
    bench.say(
        f"spike: signatures/s {result.per_second:.0f}  pages/s {result.pages.get('per_second', 0):.0f}  "
        f"p99 sign {sign_p99:.0f} ms  p99 page {page_p99:.0f} ms  confirmation lag p99 {lag['p99_s']:.1f} s"
    )
    bench.say(
        f"  {lag['signatures']} signatures, {lag['waiting']} still without their confirmation a minute after; "
        f"lag p50 {lag['p50_s']:.1f} s, longest {lag['max_s']:.1f} s"
    )
    report_other_answers(bench, {"spike": [result]})
    missing = []
    if sign_p99 > SPIKE_GOAL_P99_MS:
        missing.append(f"signing p99 over by {sign_p99 - SPIKE_GOAL_P99_MS:.0f} ms")
    if lag["p99_s"] > CONFIRMATION_GOAL_S or lag["waiting"]:
        missing.append("confirmations fall behind")
    verdict = "NOT met, " + " and ".join(missing) if missing else "met"
    bench.say(
        f"  goal (signing p99 <= {SPIKE_GOAL_P99_MS:.0f} ms, confirmation queued within "
        f"{CONFIRMATION_GOAL_S:.0f} s): {verdict}"
    )


def page_rate(result: Throughput) -> float:
    return result.pages.get("per_second", 0.0)


def report_other_answers(bench, runs: dict[str, list[Throughput]]) -> None:
    """Say what else than the expected answers came back: a broken set-up shows its reason, not a low figure."""
    for name, results in runs.items():
        others: dict[str, int] = {}
        for result in results:
            for code, count in result.pages.get("statuses", {}).items():
                if code != "200":
                    others[f"GET {code}"] = others.get(f"GET {code}", 0) + count
            for code, count in result.statuses.items():
                if code != "302":
                    others[f"POST {code}"] = others.get(f"POST {code}", 0) + count
        errors = sum(r.errors for r in results)
        if others or errors:
            bench.say(f"  {name}: other answers: {others}, connection errors: {errors}")
