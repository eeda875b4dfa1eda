from rest_framework.exceptions import ParseError
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
    """DCI request bodies are JSON whatever ``Content-Type`` says (curl's default form type, none at all)."""

    media_type = "*/*"
