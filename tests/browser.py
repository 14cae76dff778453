"""What every browser test shares: Debian's chromium, how it is started, and the marks of such a test.

The `browser_page` fixture (tests/conftest.py) opens a phone-sized page in it through Playwright.
"""

import os
import re
import shutil
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from courrier.accounts import totp
from tests.conftest import wait_until

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


# The password of the organisers the browser tests log in as.
PASSWORD = "a long organiser password"


def log_in(page, root: str, username: str, secret: str = "") -> None:
    """Password, then the second factor: set up from the key the page shows, or a code from a known key."""
    page.goto(root + "/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/second-factor/"))
    if not secret:
        assert "/admin/second-factor/setup/" in page.url, "a first login sets up the second factor"
        expect(page.locator(".second-factor-qr svg")).to_be_visible()
        secret = page.locator(".second-factor-secret").inner_text()
    page.get_by_label("Code").fill(totp.totp(secret))
    page.locator("input[type=submit]").click()
    page.wait_for_url(root + "/admin/")


def load_until(page, url: str, shows: Callable[[], bool], message: str) -> None:
    """Load `url` again until `shows()`: the site keeps a public page a moment (a second for the tests' web
    servers, conftest.TEST_PAGE_SECONDS), so what the worker did appears at a later load."""

    def loaded_and_shown() -> bool:
        page.goto(url)
        return shows()

    wait_until(loaded_and_shown, interval=0.25, message=message)
