"""`make bench`: how close signing and delivery come to their bare references, on this machine.

1. Signing. The site served as `manage.py serve` serves it (gunicorn, 2
   workers × WEB_THREADS gthread threads) takes signatures through the real
   form, each with a proof of work, from 8 keep-alive connections; the
   reference is a bare Django view doing one INSERT (bench/bare_view.py),
   served the same way on the same database: by the same site, behind the
   same middleware and origin check. The same view in a Django with no
   middleware at all (bench/bare.py) is measured too, to show what the
   site's middleware costs.
2. Delivery. The real delivery worker sends queued letters to a local SMTP
   sink; the reference is a plain smtplib loop sending the same messages.

Each side and its reference are measured in alternating rounds (A B, B A,
A B, ...), and the ratio printed is the median of the rounds' ratios: on a
machine that other work shares, a burst of that work then lowers one
round, not one side. Each figure is measured on SQLite and, when it
answers, on PostgreSQL. Every process, temporary directory and scratch
database is created here and removed at the end. Nothing is sent anywhere
but 127.0.0.1.
"""

import contextlib
import http.client
import json
import math
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bench.load import process_cpu_seconds
from courrier.campaigns.demo import SLUG
from courrier.ops.management.commands import serve

LOOPBACK = "127.0.0.1"
CAMPAIGN_PAGE = f"/fr/c/{SLUG}/"
SIGN_PATH = f"/fr/c/{SLUG}/sign/"
BARE_PATH = "/bare/"
POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
SCRATCH_DATABASE = "courrier_bench"
# The operator's own settings must not leak into the measurement (or into a real mail server).
CLEARED_ENVIRONMENT = (
    "DATABASE_", "EMAIL_", "DKIM_", "DELIVERY_", "SIGNING_", "PROOF_OF_WORK_", "REDIS_URL", "SANDBOX_MAILDIR", "DEBUG",
    "PRODUCTION", "SECRET_KEY", "DATA_KEYS", "SITE_ROOT", "STATIC_ROOT", "PUBLIC_PAGE_SECONDS",
)  # fmt: skip
# Signing is rate-limited per IP and quarantines bursts per network, and all the load comes from 127.0.0.1.
UNLIMITED_SIGNING = "100000000/3600"
# Every signature carries a proof of work, verified as a browser's is; the number to find is 0, so that the
# load generator does not spend the machine's CPU searching (a browser's search costs the server nothing).
PROOF_OF_WORK_SETTINGS = {"PROOF_OF_WORK_MAX_NUMBER": "0"}
# Proofs minted per signing round: more than the fastest round could use (they are single use).
PROOFS_PER_SECOND_OF_LOAD = 5000
SIGNING_GOAL_RATIO, SIGNING_GOAL_P99_MS, DELIVERY_GOAL_RATIO = 0.5, 100.0, 0.7
# Through a real Postfix, where the worker pipelines and the plain smtplib loop cannot.
POSTFIX_GOAL_RATIO = 0.8


@dataclass
class Database:
    """One fresh database: a temporary var dir, and a DATABASE_URL unless it is SQLite in that dir."""

    label: str
    var_dir: Path
    url: str | None = None


@dataclass
class Throughput:
    """What bench/load.py reports for one server in one round."""

    accepted: int  # 302 answers within the measured window
    per_second: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]  # every answer by status code (JSON keys are strings)
    errors: int  # dropped connections and garbled answers
    client_cpu: float  # CPUs the load generator itself used
    server_cpu: float | None  # CPU seconds the server's processes used in the measured window (Linux only)
    latencies_ms: list[float]
    proofs_left: int | None = None  # proofs of work not used; 0 means some POSTs went without one
    samples: dict[str, str] = field(default_factory=dict)  # the start of one answer per status other than 302
    pages: dict = field(default_factory=dict)  # the GETs: per_second, p50_ms, p99_ms, statuses, latencies_ms


@dataclass
class Server:
    port: int
    process: subprocess.Popen

    def pids(self) -> list[int]:
        """gunicorn's master and its workers (Linux /proc; just the master elsewhere)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [self.process.pid, *(int(pid) for pid in children.read_text().split())]
        except OSError:
            return [self.process.pid]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def ratio(value: float, reference: float) -> float:
    return value / reference if reference else 0.0


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest rank, as bench/load.py computes it."""
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))]


def median_ratio(results: list["Throughput"], references: list["Throughput"]) -> float:
    """The median of each round's ratio of rates."""
    return statistics.median(ratio(a.per_second, b.per_second) for a, b in zip(results, references, strict=True))


def cpu_per_request_ms(results: list[Throughput]) -> float | None:
    if any(r.server_cpu is None for r in results):
        return None
    return ratio(sum(r.server_cpu for r in results) * 1000, sum(r.accepted for r in results))


class Command(BaseCommand):
    help = "Measure signing and delivery throughput against bare references (SQLite, and PostgreSQL if reachable)."

    def add_arguments(self, parser):
        parser.add_argument("--rounds", type=int, default=5, help="Alternating signing rounds per database.")
        parser.add_argument("--duration", type=float, default=2.0, help="Seconds of measured load per server a round.")
        parser.add_argument("--warm-up", type=float, default=1.0, help="Seconds of load before measuring, a round.")
        parser.add_argument("--connections", type=int, default=8)
        parser.add_argument("--delivery-rounds", type=int, default=5, help="Alternating delivery rounds per run.")
        parser.add_argument("--letters", type=int, default=2000, help="Letters per delivery round.")
        parser.add_argument(
            "--postgres",
            default=POSTGRES_ADMIN_URL,
            help="Where to create the scratch database; PostgreSQL is skipped when nothing answers there.",
        )
        parser.add_argument("--no-postgres", action="store_true")
        parser.add_argument(
            "--rows", type=int, default=100_000, help="Signatures of the large campaign (the scale scenario)."
        )
        parser.add_argument(
            "--only",
            choices=["signing", "read", "spike", "scale", "delivery", "postfix", "shortcuts"],
            help="Measure one side only (read: the public pages against a bare page; spike: readers and signers "
            "at once with the worker, bench/spike.py; scale: each operation on a campaign of --rows signatures, "
            "bench/scale.py; postfix: the delivery rounds through Postfix; shortcuts: "
            "each bypass of Django against its plain twin, bench/shortcuts.py).",
        )

    def handle(
        self,
        *args,
        rounds,
        duration,
        warm_up,
        connections,
        delivery_rounds,
        letters,
        postgres,
        no_postgres,
        rows,
        only=None,
        **options,
    ):
        self.only, self.rows = only, rows
        self.rounds, self.duration, self.warm_up, self.connections = max(rounds, 1), duration, warm_up, connections
        self.delivery_rounds, self.letters = max(delivery_rounds, 1), letters
        self.processes: list[subprocess.Popen] = []
        self.root = Path(tempfile.mkdtemp(prefix="courrier-bench-"))
        self.postgres_admin = None if no_postgres else self.connect_postgres(postgres)
        try:
            self.run_all()
        finally:
            self.stop_all()
            if self.postgres_admin is not None:
                self.drop_scratch_database()
                self.postgres_admin.close()
            shutil.rmtree(self.root, ignore_errors=True)

    def run_all(self) -> None:
        self.say(
            f"Courrier benchmark on {os.cpu_count()} CPUs: gunicorn 2 workers × "
            f"{serve.web_threads('sqlite')} threads (gthread) on SQLite, {serve.web_threads('postgresql')} on "
            "PostgreSQL, "
            f"{self.connections} connections; signing: {self.rounds} alternating rounds of "
            f"{self.warm_up:g} s warm-up + {self.duration:g} s measured per server; "
            f"delivery: {self.delivery_rounds} alternating rounds of {self.letters} letters"
        )
        # Every figure is CPU-bound on a small machine: say if something else is using it.
        self.say(f"load average before starting: {os.getloadavg()[0]:.2f}")
        if self.postgres_admin is None:
            self.say("PostgreSQL: skipped (nothing answered, or --no-postgres)")
        if self.only == "shortcuts":
            # Imported here: bench.shortcuts builds on this module.
            from bench import shortcuts

            shortcuts.run(self, secrets.token_urlsafe(50))
            return
        # Imported here: bench.spike builds on this module.
        from bench import spike

        databases = [self.fresh_sqlite] + ([self.fresh_postgres] if self.postgres_admin is not None else [])
        sides = {
            "signing": self.signing,
            "read": lambda db: spike.read(self, db),
            "spike": lambda db: spike.spike(self, db),
        }
        for side, measure in sides.items():
            if self.only in (None, side):
                for fresh in databases:
                    measure(fresh())
        if self.only in ("signing", "read", "spike"):
            return
        if self.only == "scale":
            for fresh in databases:
                self.scale(fresh())
            return
        self.delivery_through_postfix()
        if self.only == "postfix":
            return
        with self.smtp_sink() as sink_port:
            sink = {"EMAIL_HOST": LOOPBACK, "EMAIL_PORT": str(sink_port), "EMAIL_USE_TLS": "0", "EMAIL_USE_SSL": "0"}
            if self.postgres_admin is not None:
                database = self.fresh_postgres()
                self.delivery(database, sink, workers=1)
                self.delivery(database, sink, workers=2)
            # Last, because the benchmark's last line is the one-worker SQLite figure.
            self.delivery(self.fresh_sqlite(), sink, workers=1)

    def delivery_through_postfix(self) -> None:
        """The same rounds through a real Postfix (STARTTLS, PIPELINING, local delivery): what a relay costs."""
        # The tests' own Postfix harness: a dev tool, like this benchmark, run from the project's folder.
        from tests.mail_servers import POSTFIX, Postfix

        if not POSTFIX or os.geteuid() != 0:
            self.say("delivery through Postfix: skipped (Debian's postfix is not installed, or not run as root)")
            return
        postfix = Postfix.start(policy=False)
        try:
            relay = {**postfix.environment(), "EMAIL_TIMEOUT": "30"}
            database = self.fresh_postgres() if self.postgres_admin is not None else self.fresh_sqlite()

            # Postfix delivers what it accepted after answering: each side is measured once it is done.
            def settle() -> None:
                postfix.wait_until_idle()
                postfix.empty()

            self.delivery(database, relay, workers=1, relay_name="postfix", settle=settle)
        finally:
            postfix.stop()

    # Signing ---------------------------------------------------------------------------------------------------

    def signing(self, database: Database) -> None:
        self.say(
            f"== signing, {database.label}: POST {SIGN_PATH} vs a bare one-INSERT view, both served the same way, "
            "the delivery worker running as in production"
        )
        env = self.signing_environment(database)
        self.run_step("bare-table", [sys.executable, "-m", "bench.bare"], env)
        results: dict[str, list[Throughput]] = {"signing": [], "bare": [], "no middleware": []}
        sites, bares, alones = results["signing"], results["bare"], results["no middleware"]
        # The servers stay up (an idle one costs nothing) and take the load in turn; the worker queues the
        # confirmations meanwhile, as it does beside a real site.
        with (
            self.delivery_worker(env) as worker,
            self.gunicorn("courrier.wsgi", env, CAMPAIGN_PAGE) as site,
            # The reference: the bare view in the site, behind the same middleware and origin check.
            self.gunicorn("courrier.wsgi", {**env, "DJANGO_SETTINGS_MODULE": "bench.site_settings"}, BARE_PATH) as bare,
            # The same view in a Django with no middleware at all: what the site's middleware costs.
            self.gunicorn("bench.bare", env, BARE_PATH) as alone,
        ):
            drains: list[dict] = []

            def signing_turn() -> None:
                proofs = self.proofs(env)
                signatures_before, worker_cpu_before = self.signature_count(env), process_cpu_seconds([worker.pid])
                sites.append(self.load(site, SIGN_PATH, "--page", CAMPAIGN_PAGE, *proofs))
                worker_cpu = process_cpu_seconds([worker.pid])
                # What the worker had not done yet when the load stopped is done before the next server is
                # measured, so that its backlog weighs on signing, not on the reference after it.
                drains.append(self.drain_worker(env))
                done = self.signature_count(env) - signatures_before - drains[-1]["backlog"]
                if worker_cpu is not None and worker_cpu_before is not None and done > 0:
                    drains[-1]["worker_ms"] = (worker_cpu - worker_cpu_before) * 1000 / done

            turns = [
                signing_turn,
                lambda: bares.append(self.load(bare, BARE_PATH, "--page", CAMPAIGN_PAGE)),
                lambda: alones.append(self.load(alone, BARE_PATH)),
            ]
            for number in range(self.rounds):
                for turn in turns if number % 2 == 0 else reversed(turns):
                    turn()
                self.say(
                    f"  round {number + 1}: {sites[-1].per_second:.0f}/s signing, {bares[-1].per_second:.0f}/s bare, "
                    f"ratio {ratio(sites[-1].per_second, bares[-1].per_second):.2f}; "
                    f"{alones[-1].per_second:.0f}/s bare with no middleware; the worker had "
                    f"{drains[-1]['backlog']} confirmations to queue or send when the load stopped "
                    f"({drains[-1]['seconds']:.1f} s more"
                    + (f", {drains[-1]['left']} STILL LEFT" if drains[-1]["left"] else "")
                    + ")"
                    + (f", {drains[-1]['worker_ms']:.2f} ms of CPU each it did" if "worker_ms" in drains[-1] else "")
                )
        site_rate = statistics.median(r.per_second for r in sites)
        share = median_ratio(sites, bares)
        self.say(
            f"signatures/s: {site_rate:.0f}  bare insert/s: {statistics.median(r.per_second for r in bares):.0f}  "
            f"ratio: {share:.2f}"
        )
        self.say(
            f"  bare view with no middleware at all: {statistics.median(r.per_second for r in alones):.0f}/s, "
            f"signing's ratio to it {median_ratio(sites, alones):.2f}, the bare view in the site's "
            f"{median_ratio(bares, alones):.2f}"
        )
        site_latencies = sorted(ms for r in sites for ms in r.latencies_ms)
        bare_latencies = sorted(ms for r in bares for ms in r.latencies_ms)
        self.say(
            f"signing p50: {percentile(site_latencies, 0.5):.1f} ms  p99: {percentile(site_latencies, 0.99):.1f} ms   "
            f"bare p50: {percentile(bare_latencies, 0.5):.1f} ms  p99: {percentile(bare_latencies, 0.99):.1f} ms"
        )
        self.say(
            "  (rates and ratio: medians of the rounds; ratio: of each round's ratio; latencies: all rounds pooled)"
        )
        costs = {name: cpu_per_request_ms(runs) for name, runs in results.items()}
        if all(costs.values()):
            # What each request costs the server, which other work on the machine disturbs less than the rates.
            self.say(
                "  server CPU per request: "
                + ", ".join(f"{cost:.2f} ms {name}" for name, cost in costs.items())
                + f" (ratio {ratio(costs['bare'], costs['signing']):.2f})"
            )
        self.say(
            f"  load generator CPU (of {os.cpu_count()}): "
            + ", ".join(f"{statistics.mean(r.client_cpu for r in runs):.2f} {name}" for name, runs in results.items())
        )
        for name, runs in results.items():
            others: dict[str, int] = {}
            for result in runs:
                for code, count in result.statuses.items():
                    if code != "302":
                        others[code] = others.get(code, 0) + count
            errors = sum(r.errors for r in runs)
            if others or errors:
                self.say(f"  {name}: answers other than 302: {others}, connection errors: {errors}")
                for code, text in next((r.samples for r in runs if r.samples), {}).items():
                    self.say(f"    a {code} answer began: {' '.join(text.split())[:300]}")
            if any(r.proofs_left == 0 for r in runs):
                self.say(f"  {name}: WARNING: the proofs of work ran out, some signatures went without one")
        p99 = percentile(site_latencies, 0.99)
        missing = []
        if share < SIGNING_GOAL_RATIO:
            missing.append(f"ratio short by {SIGNING_GOAL_RATIO - share:.2f}")
        if p99 > SIGNING_GOAL_P99_MS:
            missing.append(f"p99 over by {p99 - SIGNING_GOAL_P99_MS:.0f} ms")
        verdict = "NOT met, " + " and ".join(missing) if missing else "met"
        self.say(f"  goal (ratio >= {SIGNING_GOAL_RATIO}, p99 <= {SIGNING_GOAL_P99_MS:.0f} ms): {verdict}")

    def drain_worker(self, env: dict[str, str]) -> dict:
        """Wait for the worker to queue and send what is due (bench/lag.py --drain); its JSON report."""
        drain = [sys.executable, "-m", "bench.lag", "--drain", "--wait", "120"]
        return json.loads(self.run_step("drain", drain, env))

    def signature_count(self, env: dict[str, str]) -> int:
        return json.loads(self.run_step("count", [sys.executable, "-m", "bench.lag", "--count"], env))["signatures"]

    def signing_environment(self, database: Database) -> dict[str, str]:
        """The site's environment for a load from 127.0.0.1: no rate limit, proofs of work that cost nothing."""
        return self.environment(
            database,
            SIGNING_RATE_LIMIT=UNLIMITED_SIGNING,
            SIGNING_BURST=UNLIMITED_SIGNING,
            SIGNING_BURST_UNPROVEN=UNLIMITED_SIGNING,
            # The servers and bench.proofs must share the key that signs the challenges.
            SECRET_KEY=secrets.token_urlsafe(50),
            **PROOF_OF_WORK_SETTINGS,
        )

    def scale(self, database: Database) -> None:
        """Each operation of bench/scale.py on a campaign of self.rows signatures: its time and peak memory."""
        # Imported here: bench.scale sets Django up in its own processes; this one only needs its names.
        from bench.scale import OPERATIONS

        env = self.environment(database)
        started = time.monotonic()
        self.run_step(
            "scale-load", [sys.executable, "-m", "bench.scale", "load", "--rows", str(self.rows)], env, timeout=3600
        )
        self.say(f"== scale, {database.label}: {self.rows:,} signatures (loaded in {time.monotonic() - started:.0f} s)")
        for name in OPERATIONS:
            args = [sys.executable, "-m", "bench.scale", "measure", name]
            result = json.loads(self.run_step("scale", args, env, timeout=1800))
            made = ", ".join(f"{key} {value}" for key, value in result.items() if key not in ("seconds", "peak_mb"))
            self.say(
                f"  {name}: {result['seconds']:.2f} s, peak {result['peak_mb']} MB" + (f" ({made})" if made else "")
            )

    def proofs(self, env: dict[str, str], duration: float | None = None) -> list[str]:
        """Fresh proofs of work for one round, in a file: the load generator's option that sends them."""
        count = int(PROOFS_PER_SECOND_OF_LOAD * (self.warm_up + (duration or self.duration)))
        path = self.root / "proofs.txt"
        path.write_text(self.run_step("proofs", [sys.executable, "-m", "bench.proofs", str(count)], env))
        return ["--proofs", str(path)]

    def load(
        self, server: Server, path: str, *extra: str, connections: int | None = None, duration: float | None = None
    ) -> Throughput:
        """Run the load generator in its own process and read its JSON result."""
        options = [
            f"--duration={duration or self.duration}",
            f"--warm-up={self.warm_up}",
            f"--connections={connections or self.connections}",
            f"--server-pids={','.join(str(pid) for pid in server.pids())}",
            "--latencies",
        ]
        url = f"http://{LOOPBACK}:{server.port}{path}"
        args = [sys.executable, "-m", "bench.load", url, *options, *extra]
        result = json.loads(self.run_step("load", args, {**os.environ, "PYTHONUNBUFFERED": "1"}))
        return Throughput(**result)

    @contextlib.contextmanager
    def gunicorn(self, application: str, env: dict[str, str], ready_path: str) -> Iterator[Server]:
        """gunicorn as `manage.py serve` starts it: same workers, threads and access log."""
        port = free_port()
        args = [
            sys.executable, "-m", "gunicorn", application,
            "--bind", f"{LOOPBACK}:{port}",
            "--workers", "2",
            "--threads", serve.web_threads("postgresql" if env.get("DATABASE_URL") else "sqlite"),
            "--worker-class", "gthread",  # what --threads > 1 selects anyway; said here so it cannot change silently
            "--access-logfile", "-",
            # Not a performance setting: it keeps us off the control socket of a `make run` on this machine.
            "--no-control-socket",
        ]  # fmt: skip
        env = {**env, "SITE_ROOT": f"http://{LOOPBACK}:{port}"}
        name = f"{application} ({env.get('DJANGO_SETTINGS_MODULE', 'no settings module')})"  # its log's name
        process = self.start(name, args, env)
        try:
            self.wait_for(lambda: self.answers(port, ready_path), name, process)
            yield Server(port, process)
        finally:
            self.stop(process)

    @contextlib.contextmanager
    def delivery_worker(self, env: dict[str, str]) -> Iterator[subprocess.Popen]:
        """The worker as `manage.py serve` starts it (`manage.py deliver`), for the length of the block."""
        worker = self.start("worker", [sys.executable, "manage.py", "deliver"], env)
        try:
            yield worker
        finally:
            self.stop(worker)
            if worker.returncode not in (0, -15):  # -15: stopped by us (SIGTERM)
                self.say(f"  the worker stopped on its own ({worker.returncode}):\n{self.log_tail('worker')}")

    @staticmethod
    def answers(port: int, path: str) -> bool:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=2)
        try:
            connection.request("GET", path)
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    # Delivery --------------------------------------------------------------------------------------------------

    def delivery(
        self,
        database: Database,
        relay: dict[str, str],
        workers: int,
        relay_name: str = "",
        settle: Callable[[], None] = lambda: None,
    ) -> None:
        env = self.environment(database, **relay)
        count = ["--letters", str(self.letters)]
        plain_step = [sys.executable, "-m", "bench.delivery", "plain", *count]
        who = "one worker" if workers == 1 else f"{workers} worker processes"
        where = f"Postfix on {LOOPBACK} (STARTTLS, PIPELINING)" if relay_name else f"SMTP sink on {LOOPBACK}"
        self.say(f"== delivery, {database.label}, {who}: {self.letters} letters (To + Cc) a round, {where}")
        rates, plains, compose_ms = [], [], []
        for number in range(self.delivery_rounds):
            self.run_step("prepare", [sys.executable, "-m", "bench.delivery", "prepare", *count], env)
            # The plain loop sends the letters just queued, whatever their state: it may go first.
            plain_first = number % 2 == 1
            if plain_first:
                settle()
                plain = json.loads(self.run_step("plain", plain_step, env))
            settle()
            results = self.run_workers(env, workers)
            if not plain_first:
                settle()
                plain = json.loads(self.run_step("plain", plain_step, env))
            sent = sum(r["sent"] for r in results)
            elapsed = max(r["finished"] for r in results) - min(r["started"] for r in results)
            rates.append(ratio(sent, elapsed))
            plains.append(plain["per_second"])
            compose_ms.append(plain["compose_ms"])
            split = f" ({', '.join(str(r['sent']) for r in results)} per worker)" if workers > 1 else ""
            self.say(
                f"  round {number + 1}: {rates[-1]:.0f}/s worker{split}, {plains[-1]:.0f}/s plain smtplib, "
                f"ratio {ratio(rates[-1], plains[-1]):.2f}"
            )
            if sent != self.letters:
                self.say(f"  WARNING: the worker(s) sent {sent} of {self.letters} letters")
        per_second, plain_per_second = statistics.median(rates), statistics.median(plains)
        share = statistics.median(ratio(rate, plain) for rate, plain in zip(rates, plains, strict=True))
        # Other work on the machine slows the plain loop's quick round trips more than the worker: the
        # fastest round of each side, the least disturbed, tells what a quiet machine would show.
        best_share = ratio(max(rates), max(plains))
        self.say(f"  best rounds: {max(rates):.0f}/s worker, {max(plains):.0f}/s plain smtplib, ratio {best_share:.2f}")
        if workers == 1:
            # The reference sends bytes composed beforehand; the worker composes each letter as it sends it.
            compose = statistics.mean(compose_ms)
            with_compose = 1 / (1 / plain_per_second + compose / 1000)
            self.say(
                f"  compose() alone: {compose:.2f} ms a letter; "
                f"plain smtplib composing in its loop would do {with_compose:.0f}/s"
            )
            self.say("  (rates and ratio: medians of the rounds; ratio: of each round's ratio)")
            # Met only if the best rounds agree: a busy machine can flatter the median.
            worst = min(share, best_share)
            goal = POSTFIX_GOAL_RATIO if relay_name else DELIVERY_GOAL_RATIO
            verdict = "met" if worst >= goal else f"NOT met, short by {goal - worst:.2f}"
            self.say(f"  goal (ratio >= {goal}, median and best rounds): {verdict}")
        label = "letters/s" if workers == 1 else f"letters/s ({workers} workers)"
        if relay_name:
            label = f"letters/s ({relay_name})"
        self.say(f"{label}: {per_second:.0f}  plain smtplib/s: {plain_per_second:.0f}  ratio: {share:.2f}")

    def run_workers(self, env: dict[str, str], count: int) -> list[dict]:
        """Start `count` worker processes, let them all go at once, and collect what each reports."""
        args = [sys.executable, "-m", "bench.delivery", "work"]
        workers = [self.start("worker", args, env, stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in range(count)]
        for worker in workers:
            if worker.stdout.readline().strip() != b"ready":
                raise CommandError(f"a delivery worker did not start:\n{self.log_tail('worker')}")
        for worker in workers:
            worker.stdin.write(b"go\n")
            worker.stdin.flush()
        results = []
        for worker in workers:
            output, _ = worker.communicate(timeout=180)
            if worker.returncode != 0:
                raise CommandError(f"a delivery worker failed:\n{self.log_tail('worker')}")
            results.append(json.loads(output))
        return results

    @contextlib.contextmanager
    def smtp_sink(self) -> Iterator[int]:
        """aiosmtpd's Sink handler answers 250 to everything and keeps nothing; yields its port."""
        port = free_port()
        args = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"{LOOPBACK}:{port}", "-c", "aiosmtpd.handlers.Sink"]
        process = self.start("smtp-sink", args, dict(os.environ))
        try:
            self.wait_for(lambda: self.accepts(port), "smtp-sink", process)
            yield port
        finally:
            self.stop(process)

    @staticmethod
    def accepts(port: int) -> bool:
        try:
            socket.create_connection((LOOPBACK, port), timeout=1).close()
        except OSError:
            return False
        return True

    # Databases -------------------------------------------------------------------------------------------------

    def fresh_sqlite(self) -> Database:
        database = Database("SQLite", Path(tempfile.mkdtemp(prefix="sqlite-", dir=self.root)))
        self.migrate(database)
        return database

    def fresh_postgres(self) -> Database:
        # FORCE: a gunicorn worker's persistent connection may still be closing.
        self.postgres_admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE} WITH (FORCE)")
        self.postgres_admin.execute(f"CREATE DATABASE {SCRATCH_DATABASE}")
        info = self.postgres_admin.info
        url = f"postgres://{info.user}@{info.host}:{info.port}/{SCRATCH_DATABASE}"
        if info.password:
            url = f"postgres://{info.user}:{info.password}@{info.host}:{info.port}/{SCRATCH_DATABASE}"
        database = Database("PostgreSQL", Path(tempfile.mkdtemp(prefix="postgres-", dir=self.root)), url)
        self.migrate(database)
        return database

    def migrate(self, database: Database) -> None:
        env = self.environment(database)
        self.run_step("migrate", [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], env)
        # As `manage.py serve` does: the pages name the static files by their hashed names.
        self.run_step("collectstatic", [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"], env)
        self.run_step("loaddemo", [sys.executable, "manage.py", "loaddemo"], env)

    def connect_postgres(self, url: str) -> psycopg.Connection | None:
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=3)
        except psycopg.OperationalError:
            return None

    def drop_scratch_database(self) -> None:
        with contextlib.suppress(Exception):  # cleaning up: report the real error, not this one
            self.postgres_admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE} WITH (FORCE)")

    def environment(self, database: Database, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED_ENVIRONMENT)}
        env.update(
            COURRIER_VAR_DIR=str(database.var_dir),
            DJANGO_SETTINGS_MODULE="courrier.settings",
            PYTHONUNBUFFERED="1",
            **extra,
        )
        if database.url:
            env["DATABASE_URL"] = database.url
        if env.get("EMAIL_HOST", LOOPBACK) != LOOPBACK:
            raise CommandError("the benchmark only ever talks to an SMTP server on 127.0.0.1")
        return env

    # Processes -------------------------------------------------------------------------------------------------

    def log_path(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_path(name)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def start(self, name: str, args: list[str], env: dict[str, str], **popen) -> subprocess.Popen:
        log = self.log_path(name).open("ab")
        popen.setdefault("stdout", log)
        process = subprocess.Popen(args, cwd=settings.BASE_DIR, env=env, stderr=log, **popen)
        log.close()  # the child has its own copy of the descriptor
        self.processes.append(process)
        return process

    def run_step(self, name: str, args: list[str], env: dict[str, str], timeout: float = 180) -> str:
        """Run a short command to completion; returns its stdout, or stops the benchmark with its stderr."""
        done = subprocess.run(args, cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise CommandError(f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return done.stdout

    def wait_for(self, ready: Callable[[], bool], name: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                raise CommandError(f"{name} did not start:\n{self.log_tail(name)}")
            time.sleep(0.1)

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self) -> None:
        for process in list(self.processes):
            self.stop(process)

    def say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
