"""Who calls: HTTP Basic that pays the password hash once per client, and agents' HMAC signatures."""

import hashlib
import hmac
import mmap
import tempfile
import uuid

from dciauth.v2 import headers as dciauth_headers
from dciauth.v2 import signature as dciauth_signature
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.utils.module_loading import import_string
from rest_framework import authentication, exceptions

from dciserver.api import throttling
from dciserver.api.exceptions import WWW_AUTHENTICATE
from dciserver.api.wire import SIGNATURE_SCHEMES


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


class SignatureAuthentication(authentication.BaseAuthentication):
    """Remotecis sign each request with dciauth v2 (SPEC §10): ``Authorization: DCI2-HMAC-SHA256
    Credential=remoteci/<id>/..., SignedHeaders=host;x-dci-date, Signature=...`` and ``X-DCI-Date``.

    Verified by ``dciauth`` over the raw ``Host`` header, the path, the query parameters (the
    first value of each) and the raw body, within 15 minutes of its date either way. The agent is
    found by ``DCI_SIGNING_AGENT`` (its id, an active row of an active team, or none); ``request.auth``
    is then the signature, which the audit entry of a write keeps, once (a replay is refused).
    Every failure is a 401, and counts towards the login throttling of the credential's name as a
    wrong password does; a name locked out gets 429 on its failures (a valid signature passes,
    as a remembered password does).

    A request whose body streams (its view's ``signed_body_streams(request)``: raw uploads) is
    not read here: its action must verify the body by ``signed_body_check`` once it has been
    spooled, before anything is kept.
    """

    def authenticate(self, request):
        http_request = request._request
        scheme = http_request.META.get("HTTP_AUTHORIZATION", "").split(" ", 1)[0]
        if scheme not in SIGNATURE_SCHEMES:
            return None
        try:
            parsed = dciauth_headers.parse_headers(dict(http_request.headers))
        except (ValueError, KeyError, AttributeError):  # not four tokens, a signed header missing
            parsed = None
        if parsed is None:
            raise exceptions.AuthenticationFailed("Malformed signature: expected dciauth v2 headers.")
        name = f"{parsed['client_type']}/{parsed['client_id']}"[:255]
        agent = _agent(parsed)
        if agent is None:
            self.refuse(http_request, name, "Unknown or inactive agent.")
        signed = {
            "method": http_request.method,
            "endpoint": http_request.path,
            "params": {key: values[0] for key, values in http_request.GET.lists()},
        }
        view = request.parser_context.get("view") if request.parser_context else None
        streams = getattr(view, "signed_body_streams", None)
        if streams is not None and streams(http_request):

            def check_body(body):
                http_request.signed_body_checked = True
                self.check(http_request, name, agent, parsed, signed, body)

            http_request.signed_body_check = check_body
        else:
            self.check(http_request, name, agent, parsed, signed, http_request.body)
        return agent, parsed["signature"].lower()

    def check(self, http_request, name, agent, parsed, signed, body):
        """Verify the signature of a request whose body is ``body`` (bytes, or a buffer of them)."""
        try:
            valid, why = dciauth_signature.is_valid(
                {**signed, "data": body}, {"secret_key": agent.api_secret}, dict(parsed)
            )
        except ValueError:  # an X-DCI-Date that is no timestamp
            valid, why = False, "signature date is malformed"
        if not valid:
            self.refuse(http_request, name, f"Invalid signature: {why}.")

    def refuse(self, http_request, name, message):
        wait = throttling.retry_after(http_request, name)
        if wait:
            raise exceptions.Throttled(wait, "Too many failed logins; try again later.")
        user_login_failed.send(sender=__name__, credentials={"username": name}, request=http_request)
        raise exceptions.AuthenticationFailed(message)

    def authenticate_header(self, request):
        return WWW_AUTHENTICATE


def _agent(parsed):
    try:
        pk = uuid.UUID(parsed["client_id"])
    except ValueError:
        return None
    return import_string(settings.DCI_SIGNING_AGENT)(parsed["client_type"], pk)


def signed_body_check(request):
    """The check of a streamed body's signature (``SignatureAuthentication``), or ``None`` where the
    request's body is not verified later (unsigned, or already verified)."""
    return getattr(getattr(request, "_request", request), "signed_body_check", None)


def settle_signed_body(request):
    """A streamed body whose signature was not checked because its request failed first (an
    unknown component, a refusal): check it now, so that a wrong signature is the answer (401)
    rather than what the request would have met. Only a body not read at all is read here (at
    most ``DCI_MAX_UPLOAD_SIZE``); one that broke off or grew too large while being read keeps
    its error."""
    http_request = getattr(request, "_request", request)
    check = getattr(http_request, "signed_body_check", None)
    if check is None or getattr(http_request, "signed_body_checked", False) or http_request._read_started:
        return
    meta = http_request.META
    chunked = not meta.get("CONTENT_LENGTH") and meta.get("wsgi.input_terminated")
    stream = meta["wsgi.input"] if chunked else http_request
    limit = settings.DCI_MAX_UPLOAD_SIZE
    with tempfile.TemporaryFile() as spool:
        size = 0
        while block := stream.read(1024 * 1024):
            size += len(block)
            if size > limit:
                return
            spool.write(block)
        spool.flush()
        if not size:
            check(b"")
            return
        with mmap.mmap(spool.fileno(), 0, access=mmap.ACCESS_READ) as body:
            check(body)
