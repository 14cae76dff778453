"""Helpers for `python -m bench`: the bare reference server, the load generator, the delivery runs.

Each module here runs in its own process, started by
bench/command.py with the environment of the run.
"""
