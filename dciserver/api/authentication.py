"""HTTP Basic authentication that pays the password hash once per client, not once per request."""

import hashlib
import hmac

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.core.cache import cache
from rest_framework import authentication, exceptions

from dciserver.api import throttling
from dciserver.api.exceptions import WWW_AUTHENTICATE


def _keyed_digest(*parts):
    message = "\0".join(parts).encode("utf-8", "surrogatepass")
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _fingerprint(user):
    return _keyed_digest(user.name, user.password)


class CachedBasicAuthentication(authentication.BasicAuthentication):
    """Basic auth whose verified credentials are remembered for ``DCI_AUTH_CACHE_SECONDS``.

    Agents re-send their password on every request and Django's hashers are slow on
    purpose. The cache key is a keyed hash of name, password and client address (never the password);
    the value is the user id and a keyed hash of the user's name and stored password hash, so
    changing the password or the name invalidates every remembered credential at once, whatever
    made the change (the API, the admin, a command).
    """

    www_authenticate_realm = "DCI"

    def authenticate_credentials(self, userid, password, request=None):
        # Axes records failures on Django's request: the one its middleware answers from.
        http_request = getattr(request, "_request", request)
        # Remembered per client address too: an address locked out for this name must not learn
        # that a guess is right because another address's agent had it remembered.
        address = throttling.client_address(http_request) or ""
        key = "dci-basic:" + _keyed_digest(userid, password, address)
        remembered = cache.get(key)
        if remembered is not None:
            user_id, fingerprint = remembered
            # Re-read on every request (a password change, a rename or a deactivation applies at
            # once), by a statement built once: the queryset this replaces was a third of a cheap
            # request's CPU.
            user = get_user_model().objects.select_by_pk(user_id, related="team")
            if user is not None and user.is_active and hmac.compare_digest(fingerprint, _fingerprint(user)):
                # Remembered while in use: an agent polling every minute would otherwise pay the
                # password hash again every DCI_AUTH_CACHE_SECONDS, on every worker.
                cache.touch(key, settings.DCI_AUTH_CACHE_SECONDS)
                return (user, None)
            cache.delete(key)

        wait = throttling.retry_after(http_request, userid)
        if wait:
            raise exceptions.Throttled(wait, "Too many failed logins; try again later.")
        user = authenticate(request=http_request, username=userid, password=password)
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed("Invalid user credentials")
        cache.set(key, (user.pk, _fingerprint(user)), settings.DCI_AUTH_CACHE_SECONDS)
        return (user, None)

    def authenticate_header(self, request):
        return WWW_AUTHENTICATE
