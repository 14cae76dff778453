"""Helpers for `manage.py bench`: the bare reference server, the load generator, the delivery runs.

Each module here runs in its own process, started by
courrier/ops/management/commands/bench.py with the environment of the run.
"""
