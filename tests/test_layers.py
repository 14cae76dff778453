"""The code's shape: layers that import one way, imports inside functions that say why, jobs the apps own."""

import ast
import datetime
import subprocess
import sys
from pathlib import Path

from django.apps import apps

from courrier.delivery.worker import Worker
from courrier.lib.periodic import EVERY_PASS, Job, Schedule

ROOT = Path(__file__).resolve().parent.parent


def test_no_package_imports_a_layer_above_its_own():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 kept, 0 broken" in run.stdout


def nested_imports_without_a_reason() -> list[str]:
    found = []
    for path in sorted((ROOT / "courrier").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        lines = path.read_text().split("\n")
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    line, before = lines[inner.lineno - 1], lines[inner.lineno - 2].strip()
                    # The reason: on the line, or a comment above the block of imports it belongs to.
                    if "#" not in line and not before.startswith(("#", "from ", "import ")):
                        found.append(f"{path.relative_to(ROOT)}:{inner.lineno}: {line.strip()}")
    return found


def test_every_import_inside_a_function_says_why_it_is_there():
    assert nested_imports_without_a_reason() == []


def test_the_worker_runs_the_jobs_each_app_registers_and_knows_no_app_module_itself():
    registered = [job.name for app in apps.get_app_configs() for job in getattr(app, "periodic_jobs", list)()]
    assert [job.name for job in Worker().schedule.jobs] == registered
    assert {"queue letters", "queue due digests", "erase on schedule", "recount the public campaigns"} <= set(
        registered
    )
    worker_module = ast.parse((ROOT / "courrier" / "delivery" / "worker.py").read_text())
    imported = {node.module for node in ast.walk(worker_module) if isinstance(node, ast.ImportFrom) and node.module}
    assert not {name for name in imported if name.startswith(("courrier.web", "courrier.signatures"))}


def test_a_job_runs_on_each_pass_or_once_its_interval_has_passed_by_the_callers_clock():
    ran: list[tuple[str, datetime.datetime]] = []
    schedule = Schedule(
        [
            Job("often", EVERY_PASS, lambda now: ran.append(("often", now))),
            Job("hourly", datetime.timedelta(hours=1), lambda now: ran.append(("hourly", now))),
        ]
    )
    start = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)
    for minutes in (0, 30, 59, 60, 61):
        schedule.run_due(start + datetime.timedelta(minutes=minutes))
    assert [minute for name, minute in ran if name == "hourly"] == [start, start + datetime.timedelta(hours=1)]
    assert len([name for name, _at in ran if name == "often"]) == 5
    schedule.forget()
    assert schedule.run_due(start + datetime.timedelta(minutes=62)) == ["often", "hourly"]
