"""Brute-force protection for every login: Basic authentication and the admin's login form.

django-axes counts failed logins in PostgreSQL (shared by every worker) and refuses a login
before the password hasher runs. A lock-out is keyed by (name, client address), so ten wrong
passwords for an agent's name from one address lock that address out for that name, not the
agent everywhere; and an address that fails for many names (``DCI_LOGIN_ADDRESS_FAILURE_LIMIT``
failures in all) is locked out for every name. This module holds what axes is configured with:
the client address (one function, behind ``DCI_TRUSTED_PROXIES`` proxies), the login name, the
limits and the answers.
"""

import ipaddress
import math
from datetime import timedelta

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_parameters
from django.conf import settings
from django.contrib import admin
from django.db.models import Max, Sum
from django.http import QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.utils.datastructures import MultiValueDict


def _valid_address(value):
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_address(request):
    """The client's address: the peer, or behind ``DCI_TRUSTED_PROXIES`` proxies the address the
    outermost of them saw.

    Each proxy appends the address it received the request from to ``X-Forwarded-For``, so the
    last N hops were written by our N proxies and anything left of them by the client: with N
    proxies the client is the Nth hop from the right, whatever it put in the header itself.
    """
    peer = request.META.get("REMOTE_ADDR") or None
    proxies = settings.DCI_TRUSTED_PROXIES
    if proxies <= 0:
        return peer
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if not hops:
        return peer
    # Fewer hops than proxies: every hop was still written by one of them; the leftmost is the client.
    return _valid_address(hops[-min(proxies, len(hops))]) or peer


def login_name(request, credentials):
    """The name a login was tried with, as axes stores it: a name no user can have (a NUL, or
    longer than a name may be) is still counted, under a value PostgreSQL can store."""
    name = (credentials or {}).get("username")
    if name is None:
        return None
    return str(name).replace("\x00", "\ufffd")[:255]


def cool_off(request=None):
    return timedelta(seconds=settings.DCI_LOGIN_FAILURE_WINDOW)


def failure_limit(request=None, credentials=None):
    return settings.DCI_LOGIN_FAILURE_LIMIT


class LoginFailureHandler(AxesDatabaseHandler):
    """Axes' database handler with two limits, where axes has one.

    Axes compares the largest count of its lockout parameters with one limit
    (``DCI_LOGIN_FAILURE_LIMIT``). Here the (name, address) pair is held to that limit and the
    address alone to its own, larger one, ``DCI_LOGIN_ADDRESS_FAILURE_LIMIT``: an address past it
    counts as a pair at the limit, so it is refused for every name.
    """

    def get_failures(self, request, credentials=None):
        counts = {}
        for parameter, attempts in zip(
            get_lockout_parameters(request, credentials), self.get_user_attempts(request, credentials), strict=True
        ):
            key = parameter if isinstance(parameter, str) else tuple(parameter)
            counts[key] = attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
        failures = counts.get(("username", "ip_address"), 0)
        if counts.get("ip_address", 0) >= settings.DCI_LOGIN_ADDRESS_FAILURE_LIMIT:
            return max(failures, failure_limit(request, credentials))
        return failures

    def user_login_failed(self, sender, credentials, request=None, **kwargs):
        if request is not None and not hasattr(request, "_post"):
            # Axes copies the form fields into its record. A Basic login's body was never read (an
            # upload, JSON): reading it now to log nothing would make a refused request pay for it.
            request._post, request._files = QueryDict(), MultiValueDict()
        return super().user_login_failed(sender, credentials, request, **kwargs)


def retry_after(request, name):
    """Seconds until a login as ``name`` from this request's address may be tried, 0 if it may now.

    The lock lifts at the latest a window after the newest failure that counts towards it.
    """
    credentials = {"username": name}
    AxesProxyHandler.update_request(request)
    handler = AxesProxyHandler.get_implementation()
    if handler.is_allowed(request, credentials):
        return 0
    window = cool_off(request)
    newest = [
        attempts.aggregate(newest=Max("attempt_time"))["newest"]
        for attempts in handler.get_user_attempts(request, credentials)
    ]
    newest = max((time for time in newest if time is not None), default=timezone.now())
    return max(1, math.ceil((newest + window - timezone.now()).total_seconds()))


def lockout_response(request, original_response=None, credentials=None):
    """What a locked-out login gets when axes' middleware answers (``AXES_LOCKOUT_CALLABLE``).

    Under ``/api/`` the authentication class answers itself, in the DCI shape (429 with
    ``Retry-After`` before the hasher runs; the 401 of the failure that reached the limit stays a
    401): its answer is kept. Elsewhere (the admin's login form) a page says what happened.
    """
    if request.path.startswith("/api/") and original_response is not None:
        return original_response
    wait = retry_after(request, login_name(request, credentials))
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "minutes": max(1, math.ceil(wait / 60)),
    }
    response = render(request, "dciserver/login_throttled.html", context, status=429)
    response["Retry-After"] = str(wait)
    return response
