"""Periodic jobs: what each app asks the delivery worker to run, and how often.

Each app's AppConfig lists its jobs (`periodic_jobs()`); the worker collects them in the order of
INSTALLED_APPS and runs, on each pass, those whose interval has passed by its clock. So the worker knows
no app's modules, and an app adds a job without touching the worker.
"""

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass

EVERY_PASS = datetime.timedelta(0)


@dataclass(frozen=True)
class Job:
    name: str
    every: datetime.timedelta  # EVERY_PASS: on each of the worker's passes
    run: Callable[..., object]  # called with the worker's "now"
    # Called with the worker's pass as well (run(now, this_pass)): a job that makes messages may lease them to
    # the worker through it, to be sent in the same pass (delivery/enqueue.py's Lease).
    with_pass: bool = False


class Schedule:
    """When each job last ran, by the clock the caller passes (the worker's: tests simulate days with it)."""

    def __init__(self, jobs: Iterable[Job]):
        self.jobs = list(jobs)
        self.last_run: dict[str, datetime.datetime] = {}

    def is_due(self, job: Job, now: datetime.datetime) -> bool:
        last = self.last_run.get(job.name)
        return last is None or now - last >= job.every

    def run_due(self, now: datetime.datetime, this_pass: object = None) -> list[str]:
        """Run every due job, in order; returns their names."""
        ran = []
        for job in self.jobs:
            if self.is_due(job, now):
                self.last_run[job.name] = now
                if job.with_pass:
                    job.run(now, this_pass)
                else:
                    job.run(now)
                ran.append(job.name)
        return ran

    def forget(self) -> None:
        """Every job is due again at the next pass."""
        self.last_run.clear()
