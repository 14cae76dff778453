"""What every browser test shares: Debian's chromium, how it is started, and the marks of such a test.

The `browser_page` fixture (tests/conftest.py) opens a phone-sized page in it through Playwright.
"""

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

if os.environ.get("COURRIER_REQUIRE_BROWSER") and not shutil.which("chromium"):
    raise RuntimeError("COURRIER_REQUIRE_BROWSER is set but chromium is not installed")

# The marks of every browser test: skipped without chromium, on a database other processes see.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not shutil.which("chromium"), reason="Debian's chromium is not installed (apt-get install chromium)"
    ),
]


def in_chromium(test):
    """Give one test the marks of the browser tests."""
    for mark in reversed(BROWSER_MARKS):
        test = mark(test)
    return test
