"""OpenAPI (drf-spectacular) true to the DCI wire format: envelopes, 204s with ETags, the error shape."""

import copy
import threading

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.translation import get_language
from drf_spectacular.drainage import set_override
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance, is_serializer
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers

_envelopes = {}


class ErrorSerializer(serializers.Serializer):
    status_code = serializers.IntegerField()
    message = serializers.CharField()
    payload = serializers.DictField()


class MetaSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Matching rows before limit and offset.")


def _component_name(serializer_class):
    return serializer_class.__name__.removesuffix("Serializer")


def _envelope(name, fields):
    if name not in _envelopes:
        # The envelope is the whole answer, also of a list action: never wrapped in an array.
        _envelopes[name] = set_override(inline_serializer(name, fields), "many", False)
    return _envelopes[name]


def one_envelope(serializer_class, singular):
    """``{"<singular>": {...}}``"""
    return _envelope(f"{_component_name(serializer_class)}Envelope", {singular: serializer_class()})


def list_envelope(serializer_class, plural):
    """``{"<plural>": [...], "_meta": {"count": N}}``"""
    return _envelope(
        f"{_component_name(serializer_class)}List", {plural: serializer_class(many=True), "_meta": MetaSerializer()}
    )


ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Request malformed"),
    401: OpenApiResponse(ErrorSerializer, description="Missing or wrong credentials"),
    403: OpenApiResponse(ErrorSerializer, description="Authenticated but not allowed"),
    404: OpenApiResponse(ErrorSerializer, description="Not found (or another team's)"),
    # Any call: too many failed logins for the name or the address (Retry-After says how long to wait),
    # and the database not answering.
    429: OpenApiResponse(ErrorSerializer, description="Too many failed logins; see Retry-After"),
    503: OpenApiResponse(ErrorSerializer, description="The database does not answer"),
}
WRITE_ERRORS = {
    412: OpenApiResponse(ErrorSerializer, description="Missing or stale etag"),
    422: OpenApiResponse(ErrorSerializer, description="Conflict: the name is taken"),
}

LIST_PARAMETERS = [
    OpenApiParameter("limit", int, description="Page size (default 100, at most 1000; 0 means the default)."),
    OpenApiParameter("offset", int, description="Rows to skip."),
    OpenApiParameter("sort", str, description="Comma list of keys, '-' for descending (default -created_at)."),
    OpenApiParameter("where", str, description="Comma list of key:value equalities; value* is a prefix."),
    OpenApiParameter(
        "query",
        str,
        description=(
            "The query language on the where keys, ANDed with where: eq, ne, lt, le, gt, ge, like, ilike, "
            "contains, not_contains (op(key,value)), null(key), and(...), or(...), not(...); a top-level "
            "comma list is an AND. E.g. and(eq(status,success),or(like(name,rhel%),not(null(comment))))."
        ),
    ),
    OpenApiParameter("embed", str, description="Comma list of related objects to nest."),
]
ETAG_HEADERS = [
    OpenApiParameter(
        "If-Match", str, OpenApiParameter.HEADER, description="The current etag (or send it as an ETag header)."
    ),
]


def sublist_schema(serializer_class, plural, methods=None):
    """``GET /<parent>/<id>/<children>``: the child resource's list envelope and list language."""
    return extend_schema(
        methods=methods,
        parameters=LIST_PARAMETERS,
        responses={200: list_envelope(serializer_class, plural), **ERRORS},
    )


class DCIAutoSchema(AutoSchema):
    """Describe every DCIViewSet action as it really answers."""

    def _dci_view(self):
        from dciserver.api.viewsets import DCIViewSet

        return self.view if isinstance(self.view, DCIViewSet) else None

    def get_override_parameters(self):
        view = self._dci_view()
        params = list(super().get_override_parameters())
        if view is None:
            return params
        if view.action == "list":
            params += LIST_PARAMETERS
        elif view.action == "retrieve":
            params.append(OpenApiParameter("embed", str, description="Comma list of related objects to nest."))
        elif view.action in ("update", "partial_update") or (view.action == "destroy" and view.is_mutable):
            params += ETAG_HEADERS
        return params

    def _get_request_for_media_type(self, serializer, direction="request"):
        if self.method == "PUT" and is_serializer(serializer):
            # A DCI PUT changes only the fields it names (SPEC §5: ``{comment?, status?}``):
            # its body is PATCH's, with nothing required.
            serializer = copy.copy(force_instance(serializer))
            serializer.partial = True
        return super()._get_request_for_media_type(serializer, direction)

    def _get_parameters(self):
        parameters = super()._get_parameters()
        for parameter in parameters:
            if parameter["in"] == "query" and parameter["name"] in ("limit", "offset"):
                # ``?limit=`` (empty) means the default, like no limit at all; a negative one is a 400.
                parameter["allowEmptyValue"] = True
                parameter["schema"]["minimum"] = 0
        return parameters

    def get_response_serializers(self):
        view = self._dci_view()
        if view is None or view.action not in ("list", "retrieve", "create", "update", "partial_update", "destroy"):
            return super().get_response_serializers()
        serializer_class = view.serializer_class
        if view.action == "list":
            return {200: list_envelope(serializer_class, view.plural), **ERRORS}
        if view.action == "retrieve":
            return {200: one_envelope(serializer_class, view.singular), 304: OpenApiResponse(None), **ERRORS}
        if view.action == "create":
            return {201: one_envelope(serializer_class, view.singular), **ERRORS, **WRITE_ERRORS}
        return {
            204: OpenApiResponse(None, description="Done; the new etag is in the ETag header"),
            **ERRORS,
            **WRITE_ERRORS,
        }


class TimestampField(OpenApiSerializerFieldExtension):
    """Timestamps are ISO-8601 UTC without an offset (``2016-02-25T13:32:41.706080``, SPEC §1).

    OpenAPI's ``date-time`` format is RFC 3339, which requires an offset: say what is sent.
    """

    target_class = "rest_framework.fields.DateTimeField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        return {
            "type": "string",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$",
            "example": "2016-02-25T13:32:41.706080",
            "description": "ISO-8601, UTC, without an offset.",
        }


class ActiveFieldSchema(OpenApiSerializerFieldExtension):
    """The 2016 boolean ``active``; in a request, ``null`` means "unchanged" (what the 2016 client sends)."""

    target_class = "dciserver.api.serializers.ActiveField"

    def map_serializer_field(self, auto_schema, direction):
        if direction == "request":
            return {"type": "boolean", "nullable": True, "description": "null: leave it as it is."}
        return {"type": "boolean"}


class BasicAuthScheme(OpenApiAuthenticationExtension):
    target_class = "dciserver.api.authentication.CachedBasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic"}


class SignatureScheme(OpenApiAuthenticationExtension):
    target_class = "dciserver.api.authentication.SignatureAuthentication"
    name = "dciSignature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "dciauth v2: 'DCI2-HMAC-SHA256 Credential=remoteci/<id>/<date>/BHS3/api/dci2_request, "
            "SignedHeaders=host;x-dci-date, Signature=<hex>' with an X-DCI-Date header (SPEC §10).",
        }


def unsupported_media_type(result, **kwargs):
    """Every write whose body must be JSON may answer 415 (a body labelled otherwise); the upload
    routes, which take any body, document more than JSON and are left as they are."""
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if method in ("post", "put", "patch") and list(content) == ["application/json"]:
                operation["responses"].setdefault(
                    "415",
                    {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                        "description": "A body whose Content-Type is not JSON",
                    },
                )
    return result


def without_optional_slashes(endpoints, **kwargs):
    """Routes answer with or without a trailing slash; the schema lists each once, without."""
    seen, result = set(), []
    for path, path_regex, method, callback in endpoints:
        path = path.rstrip("/") or "/"
        if (path, method) not in seen:
            seen.add((path, method))
            result.append((path, path_regex, method, callback))
    return result


class OncePerProcessSchemaGenerator(SchemaGenerator):
    """The public schema, generated once per process and kept.

    ``/api/schema/`` answers anonymous callers, and generating the schema walks every route and
    serializer: each request would cost a worker hundreds of milliseconds of CPU. The public schema
    is the same for every caller (no serializer depends on who asks), so it depends only on the URL
    configuration, the API version and the language; a changed setting (tests) starts afresh.
    """

    _schemas = {}
    _lock = threading.Lock()

    def get_schema(self, request=None, public=False):
        if not public or self.patterns is not None:
            return super().get_schema(request=request, public=public)
        version = self.api_version or getattr(request, "version", None)
        key = (self.urlconf or settings.ROOT_URLCONF, version, get_language())
        # Under the lock: concurrent first requests wait for one generation instead of each running one.
        with self._lock:
            if key not in self._schemas:
                self._schemas[key] = super().get_schema(request=request, public=public)
            return self._schemas[key]

    @classmethod
    def forget(cls):
        with cls._lock:
            cls._schemas.clear()


@receiver(setting_changed)
def _forget_schemas(setting, **kwargs):
    if setting in ("ROOT_URLCONF", "REST_FRAMEWORK", "SPECTACULAR_SETTINGS", "INSTALLED_APPS"):
        OncePerProcessSchemaGenerator.forget()
