"""`make run`'s command, as a real process: it prepares everything, serves, and keeps the data on a second run."""

import re
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import ROOT, free_port, wait_until


def run_serve(env: dict[str, str], port: int, log_path) -> tuple[str, str]:
    """Start `manage.py serve`, fetch the campaign list once it answers, stop it; returns (log, page)."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:

        def page():
            assert process.poll() is None, log_path.read_text()
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/fr/", timeout=1).read().decode()
            except OSError:
                return None

        html = wait_until(page, timeout=60, interval=0.2, message="the site to answer")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    return log_path.read_text(), html


@pytest.mark.django_db
def test_serve_prepares_a_bare_install_and_a_second_run_keeps_the_data(tmp_path):
    import os

    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "COURRIER_VAR_DIR": str(tmp_path / "var"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DATABASE_URL", None)
    env.pop("SECRET_KEY", None)

    first_log, first_page = run_serve(env, port, tmp_path / "first.log")
    assert f"Courrier is running: http://127.0.0.1:{port}/" in first_log
    password = re.search(r"password: (\S+)\s+\(shown only this once", first_log).group(1)
    assert len(password) >= 12
    assert "Répression du mouvement social au Kazakhstan" in first_page
    assert (tmp_path / "var" / "courrier.sqlite3").exists()
    secret = (tmp_path / "var" / "secret_key").read_text()

    second_log, second_page = run_serve(env, port, tmp_path / "second.log")
    assert "shown only this once" not in second_log
    assert "the one printed at the first run" in second_log
    assert second_page.count("Répression du mouvement social au Kazakhstan") == 1
    assert (tmp_path / "var" / "secret_key").read_text() == secret
