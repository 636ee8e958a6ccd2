"""What the OpenAPI schema says beyond what drf-spectacular infers: query parameters with their
types and bounds, every status code an operation answers with, and the error body.

The views' `extend_schema` decorators use these; tests/moderation/queue/test_schema_fuzz.py sends
thousands of generated requests and checks every response against the schema.
"""

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from ..forms import MAX_DATE, MAX_ID, MIN_DATE
from ..ingest import ReviewInSerializer
from ..models import Action
from .serializers import ErrorSerializer

# --- Query parameters ---------------------------------------------------------------------------------------------

# A date between MIN_DATE and MAX_DATE (1900-01-01 to 2999-12-31): the pattern bounds the year.
DATE = {"type": "string", "format": "date", "pattern": r"^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"}
PROBABILITY = {"type": "number", "format": "double", "minimum": 0, "maximum": 1}
# A queue cursor: repr(probability) "_" review id, as the previous page's `next` gives it.
CURSOR = {
    "type": "string",
    "pattern": r"^(0(\.[0-9]+)?|1(\.0+)?|[1-9](\.[0-9]+)?e-0*[1-9][0-9]*)_[0-9]{1,19}$",
    "maxLength": 60,
}
CHECK_CODE = {"type": "string", "pattern": r"^[-a-zA-Z0-9_]+$", "maxLength": 50}


def text(most):
    return {"type": "string", "maxLength": most}


def limit(default, most, what):
    return OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": most, "default": default},
        description=f"{what}, 1 to {most} (default {default}); ASCII digits only",
    )


def date_parameter(name, what):
    return OpenApiParameter(name, DATE, description=f"{what}: a date from {MIN_DATE} to {MAX_DATE}")


QUEUE_FILTER_PARAMETERS = [
    OpenApiParameter("p_min", PROBABILITY, description="probability at least (0 to 1)"),
    OpenApiParameter("p_max", PROBABILITY, description="probability at most (0 to 1; not below p_min)"),
    OpenApiParameter("product", text(100), description="product external id"),
    OpenApiParameter("brand", text(200)),
    OpenApiParameter("category", text(200)),
    OpenApiParameter(
        "rating",
        {"type": "array", "items": {"type": "integer", "enum": [1, 2, 3, 4, 5]}},
        description="star ratings to show (repeat the parameter: rating=1&rating=2)",
        style="form",
        explode=True,
    ),
    date_parameter("date_from", "written on or after (not after date_to)"),
    date_parameter("date_to", "written on or before"),
    OpenApiParameter("q", text(200), description="text contains"),
]

QUEUE_PARAMETERS = [
    OpenApiParameter("check", CHECK_CODE, description="check code (default: the first check, `unused`)"),
    OpenApiParameter(
        "after",
        CURSOR,
        description=f"cursor from the previous page's `next`: probability (0 to 1) _ review id (up to {MAX_ID})",
    ),
    limit(50, 200, "rows per page"),
    OpenApiParameter("hold", OpenApiTypes.BOOL, description="hold the returned rows for this account (default false)"),
    *QUEUE_FILTER_PARAMETERS,
]

AUDIT_PARAMETERS = [
    OpenApiParameter("user", text(150), description="reviewer's user name"),
    OpenApiParameter("kind", {"type": "string", "enum": list(Action.Kind.values)}, description="action kind"),
    OpenApiParameter("check", CHECK_CODE, description="check code"),
    date_parameter("date_from", "on or after"),
    date_parameter("date_to", "on or before"),
    OpenApiParameter("batch", OpenApiTypes.UUID, description="one batch's rows"),
    limit(100, 1000, "rows, newest first"),
]

PUBLIC_REVIEWS_PARAMETERS = [
    OpenApiParameter("external_id", text(100), OpenApiParameter.PATH, description="the product's external id"),
    limit(100, 1000, "reviews, newest first"),
]

# --- Responses ----------------------------------------------------------------------------------------------------

RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    response=[429],
    description="seconds to wait before the next request",
)

WHAT = {
    400: "invalid request: the error names the parameter or field",
    401: "no credentials, or a token or session that is not valid",
    403: "the account lacks the permission this operation needs (or a session request came without its CSRF token)",
    404: "no such product",
    413: "the body is larger than HWADMIN_MAX_REQUEST_BYTES, or holds more than HWADMIN_MAX_ITEMS_PER_REQUEST reviews",
    415: "the body is not application/json",
    429: "too many requests (throttled); Retry-After says how many seconds to wait",
}


def errors(*codes, body=ErrorSerializer, **bodies):
    """{code: OpenApiResponse} for these error codes, each with the {"error": ...} body (or bodies[code])."""
    return {code: OpenApiResponse(bodies.get(f"e{code}", body), description=WHAT[code]) for code in codes}


# --- Incoming reviews ---------------------------------------------------------------------------------------------


# Text fields refuse NUL characters (and lone surrogates, which JSON Schema cannot say).
NO_NUL = "^[^\\u0000]*$"


class ProductInExtension(OpenApiSerializerExtension):
    target_class = "moderation.ingest.ProductInSerializer"

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        for field in schema["properties"].values():
            field["pattern"] = NO_NUL
        schema["properties"]["external_id"]["minLength"] = 1
        return schema


class ReviewInExtension(OpenApiSerializerExtension):
    """An incoming review refuses unknown fields and texts over HWADMIN_MAX_TEXT_CHARS: say so."""

    target_class = "moderation.ingest.ReviewInSerializer"

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        for name in ("good_text", "bad_text"):
            schema["properties"][name]["maxLength"] = settings.HWADMIN["MAX_TEXT_CHARS"]
        for name in ("external_id", "author_ref", "good_text", "bad_text"):
            schema["properties"][name]["pattern"] = NO_NUL
        for name in ("source", "external_id"):
            schema["properties"][name]["minLength"] = 1
        schema["description"] = "One review. good_text and bad_text may not both be empty; unknown fields are refused."
        return schema


class ReviewBatchExtension(OpenApiSerializerExtension):
    """The ingest body: one review object, or a list of 1 to HWADMIN_MAX_ITEMS_PER_REQUEST of them."""

    target_class = "moderation.api.serializers.ReviewBatchSerializer"

    def get_name(self, auto_schema, direction):
        return "ReviewBatch"

    def map_serializer(self, auto_schema, direction):
        review = auto_schema.resolve_serializer(ReviewInSerializer, direction).ref
        most = settings.HWADMIN["MAX_ITEMS_PER_REQUEST"]
        return {
            "oneOf": [review, {"type": "array", "items": review, "minItems": 1, "maxItems": most}],
            "description": f"one review, or a list of 1 to {most} (HWADMIN_MAX_ITEMS_PER_REQUEST)",
        }


class OperationRequestExtension(OpenApiSerializerExtension):
    """Each action request shape (one per operation) refuses the fields of the others: say so."""

    target_class = "moderation.api.serializers.OperationSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        return schema


def require_request_bodies(result, generator, request, public):
    """Postprocessing hook (SPECTACULAR_SETTINGS): every POST of this API needs its JSON body (no body is a 400)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation["requestBody"]["required"] = True
    return result
