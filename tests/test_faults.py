"""Faults with real processes: a worker killed again and again, a mail server down, a database restart."""

import itertools
import os
import random
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.db import connection, connections
from django.utils import timezone

from courrier.campaigns.models import Campaign
from courrier.delivery import messages
from courrier.delivery.models import DeliveryEvent, OutboxMessage
from tests.conftest import SmtpSink, free_port, wait_until
from tests.factories import ALLY, OFFICE

pytestmark = pytest.mark.django_db(transaction=True)
Status = OutboxMessage.Status


def queue_letters(campaign: Campaign, count: int) -> list[OutboxMessage]:
    """Letters as the worker queues them, made directly: these tests are about sending."""
    Campaign.objects.filter(pk=campaign.pk).update(real_delivery=True)
    campaign.targets.update(pace_per_hour=10_000_000)
    targets = list(campaign.targets.all())
    now = timezone.now()
    letters = OutboxMessage.objects.bulk_create(
        OutboxMessage(
            kind=OutboxMessage.Kind.LETTER,
            campaign=campaign,
            message_id=f"<letter-{i}@courrier.test>",
            sandbox=False,
            from_name="Ұлжан Қасымова via Courrier",
            from_email="courrier@localhost",
            envelope_from="courrier@localhost",
            to=[OFFICE],
            cc=[ALLY],
            reply_to="ulzhan@example.org",
            subject="Protestation",
            body=f"Lettre numéro {i}\n",
            pacing_key=messages.pacing_key(targets),
            created_at=now,
            next_attempt_at=now,
        )
        for i in range(count)
    )
    for target in targets:
        target.outbox.add(*letters)
    return letters


def smtp_env(port: int, **extra: str) -> dict[str, str]:
    return {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(port), "EMAIL_USE_TLS": "0", **extra}


def all_sent(count: int) -> bool:
    return OutboxMessage.objects.filter(status=Status.SENT).count() == count


def test_five_thousand_letters_survive_fifty_sigkills(own_campaign, smtp_sink, start_worker):
    letters = queue_letters(own_campaign, 5000)
    smtp_sink.delay = 0.001
    env = smtp_env(smtp_sink.port)
    args = ("--lease", "2", "--batch-size", "20")
    rng = random.Random(2021)
    for _kill in range(50):
        before = len(smtp_sink.received)
        worker = start_worker(*args, **env)
        wanted = before + rng.randint(20, 70)
        wait_until(
            lambda wanted=wanted: len(smtp_sink.received) >= wanted,
            timeout=30,
            interval=0.005,
            message="the worker to be sending",
        )
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert len({r.message["Message-ID"] for r in smtp_sink.received}) < 5000, "every kill landed mid-run"
    start_worker(*args, **env)
    wait_until(lambda: all_sent(5000), timeout=180, interval=0.5, message="every letter to be sent")

    received = Counter(r.message["Message-ID"] for r in smtp_sink.received)
    assert set(received) == {m.message_id for m in letters}  # 0 missing
    duplicates = {mid: n for mid, n in received.items() if n > 1}
    # A duplicate is the same letter again, with the same Message-ID and body.
    for mid in duplicates:
        bodies = {r.data.split(b"\r\n\r\n", 1)[1] for r in smtp_sink.received if r.message["Message-ID"] == mid}
        assert len(bodies) == 1
    print(f"5000 letters, 50 SIGKILLs: 0 missing, {sum(duplicates.values()) - len(duplicates)} duplicates")


def test_a_mail_server_down_for_a_while_gets_everything_once_back(own_campaign, start_worker):
    queue_letters(own_campaign, 20)
    port = free_port()  # nothing listens here yet
    start_worker(**smtp_env(port, DELIVERY_RETRY_BASE_SECONDS="0.2", DELIVERY_RETRY_MAX_SECONDS="1.6"))
    first = OutboxMessage.objects.order_by("pk").first()
    deferrals = first.events.filter(status=Status.DEFERRED)
    wait_until(lambda: deferrals.count() >= 4, timeout=60, message="four tries of the first letter")
    first.refresh_from_db()
    tries = list(deferrals.values_list("at", flat=True))[:4]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(tries)]
    # Never sooner than the doubling schedule (0.2 s, 0.4 s, 0.8 s, less 10 % of jitter): no busy loop.
    # A busy machine can only make a try later, so these lower bounds hold on any machine.
    assert all(gap >= 0.9 * 0.2 * 2**index for index, gap in enumerate(gaps)), gaps
    assert "ConnectionRefusedError" in first.last_reply
    assert DeliveryEvent.objects.count() <= 20 * (deferrals.count() + 2)

    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        wait_until(lambda: all_sent(20), timeout=30, interval=0.2, message="delivery once the server is back")
        assert sorted(r.message["Message-ID"] for r in sink.received) == sorted(
            OutboxMessage.objects.values_list("message_id", flat=True)
        )
    finally:
        controller.stop()


def can_restart_postgresql() -> bool:
    return shutil.which("pg_ctlcluster") is not None and os.geteuid() == 0 and Path("/etc/postgresql").is_dir()


@pytest.mark.skipif(not can_restart_postgresql(), reason="needs root and pg_ctlcluster to restart PostgreSQL")
def test_the_worker_reconnects_after_a_postgresql_restart(own_campaign, smtp_sink, start_worker):
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL fault: runs in the PostgreSQL pass of the suite")
    letters = queue_letters(own_campaign, 400)
    smtp_sink.delay = 0.01
    start_worker("--lease", "2", "--batch-size", "10", **smtp_env(smtp_sink.port))
    wait_until(lambda: len(smtp_sink.received) >= 50, timeout=30, message="sending to start")
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True, timeout=60)
    connections.close_all()  # ours died with the server too
    assert len(smtp_sink.received) < 400, "the restart landed mid-run"
    wait_until(lambda: all_sent(400), timeout=120, interval=0.5, message="sending to carry on after the restart")
    assert {r.message["Message-ID"] for r in smtp_sink.received} == {m.message_id for m in letters}


def test_two_workers_never_send_the_same_letter(own_campaign, smtp_sink, start_worker):
    letters = queue_letters(own_campaign, 1000)
    smtp_sink.delay = 0.005  # a real server's pace: one worker alone would finish before the other starts
    env = smtp_env(smtp_sink.port)
    first, second = start_worker("--batch-size", "20", **env), start_worker("--batch-size", "20", **env)
    wait_until(lambda: all_sent(1000), timeout=120, interval=0.2, message="every letter to be sent")
    received = Counter(r.message["Message-ID"] for r in smtp_sink.received)
    assert set(received) == {m.message_id for m in letters}
    assert max(received.values()) == 1  # no crash, so no duplicate: the claims never overlapped
    workers = Counter(OutboxMessage.objects.values_list("claimed_by", flat=True))
    assert len(workers) == 2, "both workers took a share"
    assert first.poll() is None and second.poll() is None
