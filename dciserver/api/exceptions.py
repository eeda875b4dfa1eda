"""Domain errors and the one exception handler that renders every API error.

Every error under ``/api/`` has the DCI shape
``{"status_code": 400, "message": "Request malformed", "payload": {...}}``.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from dciserver.api.wire import wire_of

logger = logging.getLogger(__name__)

WWW_AUTHENTICATE = 'Basic realm="DCI"'
# The audit log's unique signatures (``dciserver.models.AuditLog``): violated, a signed write
# is a replay.
REPLAY_CONSTRAINT = "audit_signature_once"


def is_replay(exc):
    """Whether ``exc`` (an ``IntegrityError``) is a signed write already accepted once."""
    return getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) == REPLAY_CONSTRAINT


class DCIError(exceptions.APIException):
    """An error with a status code, a message and an optional payload."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Request malformed"

    def __init__(self, message=None, payload=None, status_code=None):
        super().__init__(message or self.default_detail)
        self.payload = payload or {}
        if status_code is not None:
            self.status_code = status_code


class BadRequest(DCIError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Request malformed"


class NotFound(DCIError):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "Not found."


class PreconditionFailed(DCIError):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "Precondition failed"


class Conflict(DCIError):
    """A unique name already taken: 422 in the DCI shape."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY

    def __init__(self, resource, field="name"):
        super().__init__(f"conflict on {resource}", {"error": {field: "already_exists"}})
        self.resource, self.field = resource, field


class PayloadTooLarge(DCIError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request entity too large"


class ServiceUnavailable(DCIError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Service unavailable: the database does not answer"


def error_body(status_code, message, payload=None):
    return {"status_code": status_code, "message": message, "payload": payload or {}}


def json_error(status_code, message, payload=None):
    response = JsonResponse(error_body(status_code, message, payload), status=status_code)
    if status_code == 401:
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


def _message_of(detail):
    if isinstance(detail, (list, tuple)) and detail:
        return _message_of(detail[0])
    if isinstance(detail, dict):
        return "Request malformed"
    return str(detail)


def exception_handler(exc, context):
    """DRF's exception handler, in the DCI error shape."""
    if isinstance(exc, Http404):
        exc = NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, IntegrityError) and is_replay(exc):
        exc = exceptions.AuthenticationFailed("Signature already used: a signed write is accepted once.")
    elif isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", exc)
        exc = ServiceUnavailable()
    elif isinstance(exc, DatabaseError):
        return None

    if not isinstance(exc, exceptions.APIException):
        return None

    headers = {}
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        exc.status_code = status.HTTP_401_UNAUTHORIZED
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, Conflict):
        request = context.get("request")
        exc.status_code = wire_of(request).conflict_status if request is not None else exc.status_code
    if isinstance(exc, DCIError):
        message, payload = str(exc.detail), exc.payload
    elif isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        message, payload = "Request malformed", {"errors": detail}
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        message = f'{exc.detail} A JSON body needs "Content-Type: application/json".'
        payload = {}
    else:
        message, payload = _message_of(exc.detail), {}
    return Response(error_body(exc.status_code, message, payload), status=exc.status_code, headers=headers)
