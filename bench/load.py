"""The load generator: N keep-alive connections POSTing signatures, reading pages, or both, for a fixed time.

    python -m bench.load http://127.0.0.1:PORT/fr/c/SLUG/sign/ --page /fr/c/SLUG/
    python -m bench.load http://127.0.0.1:PORT/bare/
    python -m bench.load http://127.0.0.1:PORT/fr/c/SLUG/sign/ --page /fr/c/SLUG/ --mix 10   (a spike)
    python -m bench.load http://127.0.0.1:PORT/fr/c/SLUG/ --read-only                        (readers only)

With --mix N, each connection GETs the page N times between two POSTs, as readers of a shared campaign
do for each one who signs; with --read-only it only GETs the address it is given, and counts the 200s.
Pages are counted and timed apart from signatures.

It runs in its own process, so its own CPU use is not charged to the server,
with one thread per connection. Each thread speaks HTTP/1.1 over a raw socket:
http.client would parse every response's headers with the e-mail package,
which costs more CPU than the whole client needs on this 2-core machine.

With --page, each connection first GETs that page once, for the signing form's
token (the campaign page sets no cookie: courrier/lib/form_tokens.py), and sends
it with every POST, as a browser would for a day. Every POST carries an Origin
header naming the site, as a browser's does, and a new
e-mail address. A 302 is an accepted signature; anything else is counted by
status. Only requests that complete after the warm-up and before the end are
counted and timed. The result is one JSON object on stdout; with
--server-pids, it also says how much CPU those processes used during the
measured window, which a busy machine disturbs less than the rate.
"""

import argparse
import json
import math
import os
import re
import resource
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

FORM_TOKEN_INPUT = re.compile(rb'name="form_token" value="([^"]+)"')


class ConnectionClosed(Exception):
    pass


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; just enough of the protocol for gunicorn's answers."""

    def __init__(self, host: str, port: int):
        self.address = (host, port)
        self.host_header = f"{host}:{port}"
        self.sock: socket.socket | None = None
        self.buffer = b""

    def connect(self) -> None:
        self.close()
        self.sock = socket.create_connection(self.address, timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if self.sock is None:
            self.connect()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host_header}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        status, response_headers, response_body, keep_alive = self._read_response()
        if not keep_alive:
            self.close()
        return status, response_headers, response_body

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionClosed
        self.buffer += chunk

    def _read_until(self, marker: bytes) -> bytes:
        while (end := self.buffer.find(marker)) < 0:
            self._fill()
        data, self.buffer = self.buffer[:end], self.buffer[end + len(marker) :]
        return data

    def _read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _read_response(self) -> tuple[int, list[tuple[str, str]], bytes, bool]:
        head = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = [(name.strip().lower(), value.strip()) for name, value in (h.split(":", 1) for h in head[1:])]
        fields = dict(headers)
        keep_alive = fields.get("connection", "").lower() != "close"
        if "content-length" in fields:
            body = self._read_exactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while size := int(self._read_until(b"\r\n").split(b";")[0], 16):
                body += self._read_exactly(size)
                self._read_until(b"\r\n")
            self._read_until(b"\r\n")  # no trailers from gunicorn: just the final empty line
        else:  # the body runs to the end of the connection
            try:
                while True:
                    self._fill()
            except ConnectionClosed:
                body, self.buffer, keep_alive = self.buffer, b"", False
        return status, headers, body, keep_alive


@dataclass
class Tally:
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    samples: dict[int, str] = field(default_factory=dict)  # the start of one answer per unexpected status
    page_statuses: dict[int, int] = field(default_factory=dict)
    page_latencies: list[float] = field(default_factory=list)


@dataclass
class Plan:
    host: str
    port: int
    post_path: str
    page_path: str | None
    warm_up_ends: float
    ends: float
    mix: int = 0  # page GETs between two POSTs
    read_only: bool = False
    proofs: list[str] = field(default_factory=list)  # one per POST, taken in turn by the connections
    proofs_lock: threading.Lock = field(default_factory=threading.Lock)

    def next_proof(self) -> str | None:
        with self.proofs_lock:
            return self.proofs.pop() if self.proofs else None


def form_token(connection: HttpConnection, page_path: str) -> str:
    """The signing form's token, from one GET of the page that holds the form."""
    status, _headers, body = connection.request("GET", page_path)
    found = FORM_TOKEN_INPUT.search(body)
    if status != 200 or found is None:
        raise RuntimeError(f"GET {page_path}: status {status}, no form token")
    return found.group(1).decode()


def timed_request(
    plan: Plan, connection: HttpConnection, tally: Tally, method: str, path: str, **request
) -> tuple[int, bytes, float] | None:
    """One request: its status, answer and seconds when it finished inside the measured window, else None.

    A dropped connection or a garbled answer is counted as an error (in the window) and the connection closed,
    so that the next request opens a new one.
    """
    started = time.monotonic()
    try:
        status, _headers, answer = connection.request(method, path, **request)
    except (OSError, ConnectionClosed, ValueError, IndexError):
        connection.close()
        if plan.warm_up_ends <= time.monotonic() < plan.ends:
            tally.errors += 1
        return None
    finished = time.monotonic()
    if not plan.warm_up_ends <= finished < plan.ends:
        return None
    return status, answer, finished - started


def read_page(plan: Plan, connection: HttpConnection, path: str, tally: Tally) -> None:
    if (done := timed_request(plan, connection, tally, "GET", path)) is not None:
        status, _answer, seconds = done
        tally.page_statuses[status] = tally.page_statuses.get(status, 0) + 1
        tally.page_latencies.append(seconds)


def run_connection(plan: Plan, number: int, run: str, tally: Tally) -> None:
    connection = HttpConnection(plan.host, plan.port)
    if plan.read_only:
        while time.monotonic() < plan.ends:
            read_page(plan, connection, plan.post_path, tally)
        connection.close()
        return
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://{connection.host_header}"}
    fields = {"first_name": "Aigerim", "last_name": "Bench", "letter_language": "fr", "consent_send": "on"}
    if plan.page_path:
        fields["form_token"] = form_token(connection, plan.page_path)
    sequence = 0
    while time.monotonic() < plan.ends:
        for _ in range(plan.mix):
            read_page(plan, connection, plan.page_path, tally)
        sequence += 1
        post = {**fields, "email": f"bench-{run}-{number}-{sequence}@example.org"}
        if (proof := plan.next_proof()) is not None:
            post["proof"] = proof
        body = urlencode(post).encode()
        if (done := timed_request(plan, connection, tally, "POST", plan.post_path, headers=headers, body=body)) is None:
            continue
        status, answer, seconds = done
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        tally.latencies.append(seconds)
        if status != 302 and status not in tally.samples:
            tally.samples[status] = answer[:400].decode(errors="replace")
    connection.close()


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; 0 when there is nothing to rank."""
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pids: list[int]) -> float | None:
    """User + system CPU of these processes (Linux /proc), or None where /proc cannot tell."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += int(fields[11]) + int(fields[12])  # utime and stime, counted from the state field
    return total / CLOCK_TICKS


def sleep_until(moment: float) -> None:
    while (left := moment - time.monotonic()) > 0:
        time.sleep(left)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("url", help="where to POST, e.g. http://127.0.0.1:8000/fr/c/SLUG/sign/")
    parser.add_argument("--page", help="path of the page to GET for the form token (none: send no token)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--warm-up", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--server-pids", default="", help="comma-separated: report the CPU these used while measured")
    parser.add_argument("--latencies", action="store_true", help="list every counted request's time, in ms")
    parser.add_argument("--proofs", help="a file of proofs of work (python -m bench.proofs), one used per POST")
    parser.add_argument("--mix", type=int, default=0, help="GETs of --page between two POSTs, on each connection")
    parser.add_argument("--read-only", action="store_true", help="only GET the address given, counting the 200s")
    args = parser.parse_args(argv)
    server_pids = [int(pid) for pid in args.server_pids.split(",") if pid]

    url = urlsplit(args.url)
    started = time.monotonic()
    warm_up_ends = started + args.warm_up
    plan = Plan(url.hostname, url.port or 80, url.path, args.page, warm_up_ends, warm_up_ends + args.duration)
    plan.mix, plan.read_only = args.mix, args.read_only
    if args.proofs:
        plan.proofs = Path(args.proofs).read_text().split()
    run = uuid.uuid4().hex[:8]  # keeps addresses new even if the same database is loaded twice
    tallies = [Tally() for _ in range(args.connections)]
    failures: list[BaseException] = []

    def target(number: int) -> None:
        try:
            run_connection(plan, number, run, tallies[number])
        except Exception as exc:  # reported below; a thread's exception would otherwise vanish
            failures.append(exc)

    threads = [threading.Thread(target=target, args=(n,)) for n in range(args.connections)]
    for thread in threads:
        thread.start()
    sleep_until(warm_up_ends)
    server_cpu_started = process_cpu_seconds(server_pids)
    sleep_until(plan.ends)
    server_cpu_ended = process_cpu_seconds(server_pids)
    for thread in threads:
        thread.join()
    if failures:
        sys.exit(f"load generator failed: {failures[0]!r}")

    statuses: dict[int, int] = {}
    for tally in tallies:
        for status, count in tally.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    latencies = sorted(latency for tally in tallies for latency in tally.latencies)
    accepted = statuses.get(302, 0)
    page_statuses: dict[int, int] = {}
    for tally in tallies:
        for status, count in tally.page_statuses.items():
            page_statuses[status] = page_statuses.get(status, 0) + count
    page_latencies = sorted(latency for tally in tallies for latency in tally.page_latencies)
    result = {
        "accepted": accepted,
        "per_second": accepted / args.duration,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "statuses": statuses,
        "pages": {
            "per_second": page_statuses.get(200, 0) / args.duration,
            "p50_ms": percentile(page_latencies, 0.50) * 1000,
            "p99_ms": percentile(page_latencies, 0.99) * 1000,
            "statuses": page_statuses,
        },
        # What a refused POST said, so that a broken set-up shows its reason instead of a low figure.
        "samples": {status: text for tally in tallies for status, text in tally.samples.items()},
        "errors": sum(tally.errors for tally in tallies),
        "proofs_left": len(plan.proofs) if args.proofs else None,  # 0: some POSTs went without a proof
        # This process shares the machine with the server: say how much CPU it took from it.
        "client_cpu": cpu_seconds() / (time.monotonic() - started),
        "server_cpu": (
            server_cpu_ended - server_cpu_started
            if server_pids and None not in (server_cpu_started, server_cpu_ended)
            else None
        ),
    }
    if args.latencies:
        result["latencies_ms"] = [round(latency * 1000, 3) for latency in latencies]
        result["pages"]["latencies_ms"] = [round(latency * 1000, 3) for latency in page_latencies]
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
