import json
import re

import orjson
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser

from dciserver.api.exceptions import BadRequest

# How deep a value of a body may nest (the containers inside one field's value). Each field then
# handles what it is given: DRF's fields take ``str()`` of a value they refuse, which for a list
# nested a thousand deep is a RecursionError, not an answer.
MAX_DEPTH = 64

# An integer beyond 64 bits: orjson would read it as a float, the standard parser keeps it exact.
_LONG_NUMBER = re.compile(r"\d{19}")


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def parse_json(text):
    """``text`` as JSON, strictly (no ``NaN``): by orjson, whose depth limit does not depend on how
    deep the request's Python stack already is (the standard parser recurses on it, so how deep a
    body it takes changed with the middleware in front of it); by the standard parser where orjson
    refuses or would not give the same value (its error messages, integers beyond 64 bits)."""
    if not _LONG_NUMBER.search(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text, parse_constant=_refuse_constant)


def nesting(value):
    """How many containers deep ``value`` nests (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return deepest


class JSONObjectParser(JSONParser):
    """A request body is a JSON object; anything else (an array, a number) is malformed."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = parse_json(stream.read().decode(encoding))
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
            raise ParseError(f"JSON parse error - {exc}") from None
        if not isinstance(data, dict):
            raise ParseError("The request body must be a JSON object.")
        too_deep = [key for key, value in data.items() if nesting(value) > MAX_DEPTH]
        if too_deep:
            raise BadRequest(
                "The request body is nested too deeply.",
                {"errors": {key: [f"Nested deeper than {MAX_DEPTH} levels."] for key in too_deep}},
            )
        return data


class AnyBodyAsJSONParser(JSONObjectParser):
    """The body of an upload route is JSON whatever ``Content-Type`` says (SPEC §6).

    Only the upload routes use it: the seed's JSON upload is documented without a
    ``Content-Type``, and old clients label whatever they send ``application/json``.
    Everywhere else a JSON body must say so (``JSONContentNegotiation``).
    """

    media_type = "*/*"


def is_json_suffix(media_type):
    """``application/vnd.example+json`` and the like: JSON by its structured syntax suffix (RFC 6839)."""
    return media_type.split(";", 1)[0].strip().lower().endswith("+json")


class JSONContentNegotiation(DefaultContentNegotiation):
    """A body is parsed only when its ``Content-Type`` says JSON (``application/json`` or ``*+json``).

    A browser posts a cross-site ``<form>`` as ``text/plain``, ``multipart/form-data`` or
    ``application/x-www-form-urlencoded`` without asking the server first; taking such a body
    as JSON let another site's page write with the credentials a browser keeps for this one.
    Anything else is a 415 (DRF raises it when no parser is selected).
    """

    def select_parser(self, request, parsers):
        parser = super().select_parser(request, parsers)
        if parser is None and is_json_suffix(request.content_type):
            parser = next((p for p in parsers if isinstance(p, JSONParser)), None)
        return parser
