"""`make run`: prepare the database and start the web server and the delivery worker together."""

import os
import secrets
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from courrier.campaigns.demo import load_demo

DEMO_USERNAME = "organiser"


# gunicorn's defaults here (and in `make bench`): one process per core of a small server; threads for the
# moments a request waits on the database. On SQLite a signature often waits, asleep, for the database's one
# write lock while the worker writes a slice: 4 threads keep the CPUs busy meanwhile (`make bench`, 2 cores,
# worker running, 2026-12-04: 784 to 852 signatures/s instead of 663 to 730; the spike's 152 to 178 against
# 152). PostgreSQL locks rows, and its own server processes need those CPUs: 2 threads did better there
# (588/s instead of 456).
WEB_WORKERS = "2"
WEB_THREADS = {"sqlite": "4", "postgresql": "2"}


def web_threads(vendor: str) -> str:
    """gunicorn's threads a process for a database of this vendor, unless WEB_THREADS says."""
    return os.environ.get("WEB_THREADS") or WEB_THREADS.get(vendor, "2")


class Command(BaseCommand):
    help = (
        "Migrate, collect the static files, load the demo campaign, then run gunicorn and the delivery worker "
        "until interrupted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
        parser.add_argument("--no-demo", action="store_true", help="Do not create the demo campaign.")

    def handle(self, *args, host, port, no_demo, **options):
        call_command("migrate", interactive=False, verbosity=0)
        # Hashed, compressed copies of the CSS, scripts and fonts, for WhiteNoise to serve (settings.STORAGES).
        call_command("collectstatic", interactive=False, verbosity=0)
        if not no_demo:
            load_demo()
        password = self.ensure_organiser()
        processes = self.start(host, port)
        self.announce(password)
        self.supervise(processes)

    def ensure_organiser(self) -> str | None:
        User = get_user_model()
        if User.objects.filter(username=DEMO_USERNAME).exists():
            return None
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(DEMO_USERNAME, email="", password=password)
        return password

    def start(self, host: str, port: str) -> list[subprocess.Popen]:
        web = [
            sys.executable,
            "-m",
            "gunicorn",
            "courrier.wsgi",
            "--bind",
            f"{host}:{port}",
            "--workers",
            os.environ.get("WEB_WORKERS", WEB_WORKERS),
            "--threads",
            web_threads(connection.vendor),
            "--access-logfile",
            "-",
        ]
        worker = [sys.executable, "manage.py", "deliver"]
        return [subprocess.Popen(web, cwd=settings.BASE_DIR), subprocess.Popen(worker, cwd=settings.BASE_DIR)]

    def announce(self, password: str | None) -> None:
        root = settings.SITE_ROOT
        lines = [
            "",
            f"Courrier is running: {root}/",
            f"Studio (organisers): {root}/fr/studio/  user: {DEMO_USERNAME}  (the operators' admin: {root}/admin/)",
        ]
        if password:
            lines.append(
                f"  password: {password}   (shown only this once; change it with "
                f"`.venv/bin/python manage.py changepassword {DEMO_USERNAME}`)"
            )
        else:
            lines.append(
                f"  password: the one printed at the first run "
                f"(reset: `.venv/bin/python manage.py changepassword {DEMO_USERNAME}`)"
            )
        lines.append(
            "  second factor: the first login shows a QR code for an authenticator app on your phone, then asks "
            f"for its 6-digit code (lost phone: `.venv/bin/python manage.py resettotp {DEMO_USERNAME}`)"
        )
        if settings.EMAIL_HOST:
            lines.append(f"SMTP: {settings.EMAIL_HOST}; campaigns still use the sandbox until switched to real mail.")
        lines.append(f"Sandbox (every message sent): {settings.SANDBOX_MAILDIR}/new/, {root}/fr/studio/mailbox/")
        lines.append("Stop with Ctrl-C.")
        self.stdout.write("\n".join(lines) + "\n")

    def supervise(self, processes: list[subprocess.Popen]) -> None:
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not stopping and all(p.poll() is None for p in processes):
            time.sleep(0.5)
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        failed = [p for p in processes if p.returncode not in (0, -signal.SIGTERM, -signal.SIGINT)]
        if failed and not stopping:
            raise SystemExit(1)
