"""The API's JSON parser: DRF's, with a nesting limit that answers 400 instead of a RecursionError."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    """Python's json module recurses once per nesting level: a body nested tens of thousands of levels
    deep raises RecursionError (a 500). Here it is a ParseError (400) that says what is wrong."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply") from None
