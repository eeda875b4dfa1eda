"""Keep every answer under ``/api/`` in JSON, even when it did not come from DRF."""

import logging
from urllib.parse import urlsplit

from corsheaders.conf import conf as cors_conf
from corsheaders.middleware import CorsMiddleware
from django.core.exceptions import DisallowedHost, RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError

from dciserver.api.exceptions import json_error

logger = logging.getLogger(__name__)

REASONS = {
    400: "Request malformed",
    403: "Forbidden",
    404: "Not found.",
    405: "Method not allowed",
    413: "Request entity too large",
    500: "Internal server error",
}


# What a request under /api/ may carry, refused in the DCI shape (414, 431). gunicorn's own limits
# (dciserver/gunicorn.conf.py) lie above these, so these are the ones clients meet.
MAX_URI_LENGTH = 8000  # the path and the query string: a long where= fits, a runaway one does not
MAX_HEADER_FIELDS = 100
MAX_HEADER_FIELD_SIZE = 8190  # a header's name, ": " and value (gunicorn's default)


def over_limits(request):
    """The DCI error for a request past the limits above, or None."""
    meta = request.META
    if len(meta.get("PATH_INFO", "")) + len(meta.get("QUERY_STRING", "")) + 1 > MAX_URI_LENGTH:
        return json_error(414, f"URI too long: a path and query string of at most {MAX_URI_LENGTH} characters")
    # HTTP_* are the request's headers; CONTENT_TYPE and CONTENT_LENGTH are two more without the prefix.
    headers = [(key, value) for key, value in meta.items() if key.startswith("HTTP_") and isinstance(value, str)]
    headers += [(key, meta[key]) for key in ("CONTENT_TYPE", "CONTENT_LENGTH") if meta.get(key)]
    if len(headers) > MAX_HEADER_FIELDS:
        return json_error(431, f"Request header fields too large: at most {MAX_HEADER_FIELDS} headers")
    for key, value in headers:
        name = key.removeprefix("HTTP_")
        if len(name) + 2 + len(value) > MAX_HEADER_FIELD_SIZE:
            return json_error(
                431,
                f"Request header fields too large: the {name.replace('_', '-').title()} header is over "
                f"{MAX_HEADER_FIELD_SIZE} characters",
                {"header": name.replace("_", "-").title()},
            )
    return None


def has_nul(request):
    """A NUL in the path, the query string or a header (an etag, a DCI-NAME): never a valid DCI value."""
    return (
        "\x00" in request.path
        or any("\x00" in k + v for k, v in request.GET.items())
        or any("\x00" in v for v in request.headers.values())
    )


class APIErrorMiddleware:
    """Unknown routes, Django-level errors and crashes under ``/api/`` answer in the DCI error shape."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            refused = over_limits(request)
            if refused is not None:
                return refused
            try:
                nul = has_nul(request)
            except SuspiciousOperation as exc:
                # Reading the query string can refuse it (over DATA_UPLOAD_MAX_NUMBER_FIELDS): still JSON.
                return json_error(400, f"Request malformed: {exc}")
            if nul:
                # PostgreSQL cannot compare text with a NUL in it: refuse it here, once, rather
                # than in every lookup by name, where clause, etag check and sub-route.
                return json_error(400, "Request malformed: NUL character in the URL or a header")
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
            and not getattr(response, "streaming", False)
        ):
            return json_error(response.status_code, REASONS.get(response.status_code, response.reason_phrase))
        return response

    def process_exception(self, request, exception):
        if not request.path.startswith("/api/") and request.path != "/healthz":
            return None
        if isinstance(exception, RequestDataTooBig):
            return json_error(413, REASONS[413])
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.warning("database unavailable: %s", exception)
            return json_error(503, "Service unavailable: the database does not answer")
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, REASONS[500])


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CrossSiteWriteMiddleware:
    """Unsafe API requests that a browser sends on another site's behalf are refused (403).

    A browser re-sends the Basic credentials it cached for dciserver with any request to it,
    including a ``<form>`` posted by another site's page: without this, that page could write
    as the signed-in user (CSRF). Browsers say where a request comes from: ``Origin`` (always
    on a cross-origin POST, PUT, PATCH or DELETE) and ``Sec-Fetch-Site``. An ``Origin`` is
    accepted when it is dciserver's own or one the CORS settings allow (the DCI web UI: the
    same list django-cors-headers answers preflights with); without one, ``Sec-Fetch-Site:
    cross-site`` is refused. API clients (dciclient, curl, agents) send neither header.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        # django-cors-headers' own judgement of an origin (its allowed origins, regexes, signal).
        self.cors = CorsMiddleware(get_response)

    def __call__(self, request):
        if request.method in UNSAFE_METHODS and request.path.startswith("/api/") and self.is_cross_site(request):
            return json_error(
                403,
                "Cross-site request refused: a page of another site may not write to the API "
                "(a trusted web UI's origin belongs in CORS_ALLOWED_ORIGINS).",
            )
        return self.get_response(request)

    def is_cross_site(self, request):
        origin = request.headers.get("Origin")
        if origin:
            return not self.origin_allowed(request, origin)
        return request.headers.get("Sec-Fetch-Site", "").strip().lower() == "cross-site"

    def origin_allowed(self, request, origin):
        try:
            own = f"{request.scheme}://{request.get_host()}"
        except DisallowedHost:
            own = None
        if own is not None and origin.lower() == own.lower():
            return True
        try:
            url = urlsplit(origin)
        except ValueError:
            return False
        return bool(
            cors_conf.CORS_ALLOW_ALL_ORIGINS
            or self.cors.origin_found_in_white_lists(origin, url)
            or self.cors.check_signal(request)
        )
