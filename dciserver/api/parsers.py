from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser


class JSONObjectParser(JSONParser):
    """A request body is a JSON object; anything else (an array, a number) is malformed."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        if not isinstance(data, dict):
            raise ParseError("The request body must be a JSON object.")
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
