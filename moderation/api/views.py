"""API views: parse, call `ingest` or a selector, render. Nothing else."""

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import ParseError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import ingest
from ..forms import whole_number
from ..models import Classifier, Product, Review
from . import schema
from .permissions import CanIngestReviews
from .serializers import (
    ErrorSerializer,
    IngestErrorSerializer,
    IngestResultSerializer,
    ProductReviewsSerializer,
    PublicReviewSerializer,
    ReviewBatchSerializer,
)
from .throttling import PublicReadThrottle


def scoring_state():
    if Classifier.objects.filter(is_active=True).exists():
        return "queued"
    return "waiting: no classifier is registered and active yet; reviews wait unscored until one is"


class ReviewIngestView(APIView):
    permission_classes = [CanIngestReviews]

    @extend_schema(
        request={"application/json": ReviewBatchSerializer},
        responses={
            201: OpenApiResponse(IngestResultSerializer, description="stored (created, updated or unchanged)"),
            **schema.errors(400, 401, 403, 413, 415, 429, body=ErrorSerializer, e400=IngestErrorSerializer),
        },
        parameters=[schema.RETRY_AFTER],
        description=(
            "Store one review (a JSON object) or up to HWADMIN_MAX_ITEMS_PER_REQUEST (default 1,000; a JSON "
            "array). Idempotent on (source, external_id). Any invalid item rejects the whole request; the 400 "
            "lists every problem by item index and field. Needs a token with moderation.ingest_reviews."
        ),
    )
    def post(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        length = request.META.get("CONTENT_LENGTH") or "0"
        size = whole_number(length, 0, 2**63)
        if size is not None and size > limit:
            return Response(
                {"error": f"request body is {size} bytes; the limit is {limit} bytes"},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        if length in ("", "0"):
            return Response({"error": "the body is empty: send a JSON review object or a list of them"}, status=400)
        if not (request.content_type or "").startswith("application/json"):
            return Response(
                {"error": f"send JSON with Content-Type: application/json (got {request.content_type or 'none'!r})"},
                status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            )
        try:
            data = request.data
        except ParseError as exc:
            return Response({"error": f"the body is not valid JSON: {exc.detail}"}, status=400)
        items = [data] if isinstance(data, dict) else data
        if not isinstance(items, list):
            return Response(
                {"error": f"send a review object or a list of them, not a JSON {type(data).__name__}"},
                status=400,
            )
        if not items:
            return Response({"error": "the list of reviews is empty"}, status=400)
        most = settings.HWADMIN["MAX_ITEMS_PER_REQUEST"]
        if len(items) > most:
            return Response(
                {"error": f"{len(items)} reviews in one request; send at most {most} per request"},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        validated = ingest.validate_reviews(items)
        if validated.errors:
            bad = sorted({e["index"] for e in validated.errors})
            return Response(
                {
                    "error": f"{len(bad)} of {len(items)} reviews are invalid; nothing was stored",
                    "errors": validated.errors,
                },
                status=400,
            )
        stored = ingest.store_reviews(validated.items)
        return Response({**stored.summary(), "scoring": scoring_state()}, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        parameters=[*schema.PUBLIC_REVIEWS_PARAMETERS, schema.RETRY_AFTER],
        responses={
            200: OpenApiResponse(ProductReviewsSerializer, description="the product's visible reviews"),
            **schema.errors(400, 404, 429),
        },
        description="The public read path: a product's visible reviews, newest first. Blinded reviews never "
        "appear, nor does anything about the author or moderation. No credentials; throttled per client address.",
    )
)
class ProductReviewsView(generics.GenericAPIView):
    """The public read path: a product's visible reviews, newest first. Blinded reviews never appear."""

    permission_classes = [AllowAny]
    authentication_classes = []
    # Its own rate per client address (HWADMIN_THROTTLE_PUBLIC_READ), instead of the anonymous one.
    throttle_classes = [PublicReadThrottle]
    throttle_scope = "public_read"
    serializer_class = PublicReviewSerializer

    def get_queryset(self):
        product = get_object_or_404(Product, external_id=self.kwargs["external_id"])
        return Review.objects.filter(product=product, visibility=Review.Visibility.VISIBLE).order_by(
            "-written_at", "-pk"
        )

    def get(self, request, *args, **kwargs):
        queryset = self.get_queryset()
        limit = request.query_params.get("limit", "100")
        limit = whole_number(limit, 1, 1000)
        if limit is None:
            return Response({"error": "limit must be a whole number from 1 to 1000"}, status=400)
        reviews = queryset[:limit]
        return Response(
            {"product": self.kwargs["external_id"], "reviews": self.get_serializer(reviews, many=True).data}
        )
