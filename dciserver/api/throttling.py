"""Brute-force protection for Basic authentication.

Failed logins are counted per login name and per client address in a sliding-ish
window (``DCI_LOGIN_FAILURE_WINDOW`` seconds). Past ``DCI_LOGIN_FAILURE_LIMIT``
failures for a name, or ``DCI_LOGIN_ADDRESS_FAILURE_LIMIT`` from an address, further
attempts with unverified credentials answer 429 with ``Retry-After`` without running
the password hasher. Other names and addresses are unaffected, and clients whose
credentials were already verified (remembered by the authentication cache) keep working.
"""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from teams.models import LoginFailure


def _keys(name, address):
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return (
        (f"name:{digest}", settings.DCI_LOGIN_FAILURE_LIMIT),
        (f"addr:{address or '-'}"[:128], settings.DCI_LOGIN_ADDRESS_FAILURE_LIMIT),
    )


def client_address(request):
    """The peer address; behind a proxy, the first ``X-Forwarded-For`` hop if trusted by configuration."""
    if settings.DCI_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")


def retry_after(name, address):
    """Seconds until ``name``/``address`` may try again, or 0 when they are not throttled."""
    window = timedelta(seconds=settings.DCI_LOGIN_FAILURE_WINDOW)
    now = timezone.now()
    limits = dict(_keys(name, address))
    wait = 0
    for row in LoginFailure.objects.filter(key__in=limits, window_start__gt=now - window):
        if row.failures >= limits[row.key]:
            wait = max(wait, int((row.window_start + window - now).total_seconds()) + 1)
    return wait


def record_failure(name, address):
    """Count one failed login for the name and the address (one upsert each, atomic under concurrency)."""
    window = settings.DCI_LOGIN_FAILURE_WINDOW
    table = LoginFailure._meta.db_table
    expired = f"{table}.window_start < now() - make_interval(secs => %s)"
    with connection.cursor() as cursor:
        for key, _ in _keys(name, address):
            cursor.execute(
                f"""
                INSERT INTO {table} (key, failures, window_start) VALUES (%s, 1, now())
                ON CONFLICT (key) DO UPDATE SET
                    failures = CASE WHEN {expired} THEN 1 ELSE {table}.failures + 1 END,
                    window_start = CASE WHEN {expired} THEN now() ELSE {table}.window_start END
                """,
                [key, window, window],
            )
