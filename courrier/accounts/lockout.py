"""Lockout after repeated failed logins, counted in the database so every web process sees the same count.

LOGIN_LOCKOUT_FAILURES failures for one username within
LOGIN_LOCKOUT_WINDOW_SECONDS lock that username for LOGIN_LOCKOUT_SECONDS,
whatever the password: while it is locked, the password is not even checked.
The count is keyed by an HMAC of the lowercased username, never by IP address
(an attacker has many; a coalition's organisers often share one), and the
username itself is not stored.
"""

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from courrier.accounts.models import LoginThrottle


def username_key(username: str) -> str:
    return salted_hmac("courrier.accounts.lockout", username.strip().lower(), algorithm="sha256").hexdigest()


def lockout_minutes() -> int:
    return max(1, round(settings.LOGIN_LOCKOUT_SECONDS / 60))


def is_locked(username: str) -> bool:
    return LoginThrottle.objects.filter(key=username_key(username), locked_until__gt=timezone.now()).exists()


def register_failure(username: str) -> bool:
    """Count one failure; True when the username is locked (now or already)."""
    now = timezone.now()
    window_start = now - datetime.timedelta(seconds=settings.LOGIN_LOCKOUT_WINDOW_SECONDS)
    with transaction.atomic():
        throttle, _created = LoginThrottle.objects.select_for_update().get_or_create(
            key=username_key(username), defaults={"first_failure_at": now}
        )
        if throttle.locked_until and throttle.locked_until > now:
            return True
        if throttle.first_failure_at < window_start or throttle.locked_until:
            # The window or the lock is over: counting starts again from this failure.
            throttle.failures, throttle.first_failure_at, throttle.locked_until = 0, now, None
        throttle.failures += 1
        if throttle.failures >= settings.LOGIN_LOCKOUT_FAILURES:
            throttle.locked_until = now + datetime.timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
        throttle.save()
    return throttle.locked_until is not None


def clear(username: str) -> None:
    """A successful login forgets the earlier failures."""
    LoginThrottle.objects.filter(key=username_key(username)).delete()
