"""OpenAPI (drf-spectacular) true to the DCI wire format: envelopes, 204s with ETags, the error shape."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
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


def one_envelope(serializer_class, singular):
    """``{"<singular>": {...}}``"""
    name = f"{_component_name(serializer_class)}Envelope"
    if name not in _envelopes:
        _envelopes[name] = inline_serializer(name, {singular: serializer_class()})
    return _envelopes[name]


def list_envelope(serializer_class, plural):
    """``{"<plural>": [...], "_meta": {"count": N}}``"""
    name = f"{_component_name(serializer_class)}List"
    if name not in _envelopes:
        _envelopes[name] = inline_serializer(name, {plural: serializer_class(many=True), "_meta": MetaSerializer()})
    return _envelopes[name]


ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Request malformed"),
    401: OpenApiResponse(ErrorSerializer, description="Missing or wrong credentials"),
    403: OpenApiResponse(ErrorSerializer, description="Authenticated but not allowed"),
    404: OpenApiResponse(ErrorSerializer, description="Not found (or another team's)"),
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
    OpenApiParameter("embed", str, description="Comma list of related objects to nest."),
]
ETAG_HEADERS = [
    OpenApiParameter(
        "If-Match", str, OpenApiParameter.HEADER, description="The current etag (or send it as an ETag header)."
    ),
]


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


class BasicAuthScheme(OpenApiAuthenticationExtension):
    target_class = "dciserver.api.authentication.CachedBasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic"}


def without_optional_slashes(endpoints, **kwargs):
    """Routes answer with or without a trailing slash; the schema lists each once, without."""
    seen, result = set(), []
    for path, path_regex, method, callback in endpoints:
        path = path.rstrip("/") or "/"
        if (path, method) not in seen:
            seen.add((path, method))
            result.append((path, path_regex, method, callback))
    return result
