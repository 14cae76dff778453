"""`python -m bench` (what `make bench` runs): the shipped benchmark, outside the product's package."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courrier.settings")
django.setup()

from bench.command import Command  # noqa: E402  (after django.setup(): it reads the settings)

if __name__ == "__main__":
    Command().run_from_argv(["python -m", "bench", *sys.argv[1:]])
