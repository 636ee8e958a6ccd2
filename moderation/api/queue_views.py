"""The reviewer queue and its actions for scripts: the same functions as the pages.

GET  /api/v1/queue?check=unused&p_min=0.9&after=<cursor>&limit=50&hold=1
GET  /api/v1/actions?user=&kind=&check=&date_from=&date_to=&batch=&limit=100
POST /api/v1/actions  {"action": "blind", "check": "unused", "review_ids": [...], "reason": "...", "note": "..."}
                      {"action": "keep" | "unblind", "check": "unused", "review_ids": [...], "note": "..."}
                      {"action": "undo", "batch": "<uuid>" | "last"}
                      {"action": "blind_above", "check": "unused", "threshold": 0.99,
                       "filters": {...}}                -> preview with a "confirm" token
                      {"action": "blind_above", "confirm": "<token>", "reason": "..."}  -> does it

Each operation has its own input serializer (api/serializers.py); a field that does not belong to
it is a 400 naming the field. Every operation is one call of `moderation.services`, the functions
the pages call, holds included.
"""

from django.http import QueryDict
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import actions, audit, queue, services
from ..forms import AuditFilterForm, QueueFilterForm
from . import schema
from .permissions import CanModerateReviews
from .serializers import (
    ACTION_REQUESTS,
    ActionErrorSerializer,
    ActionResultSerializer,
    AuditPageSerializer,
    BlindRequestSerializer,
    KeepRequestSerializer,
    QueuePageSerializer,
    ThresholdConfirmRequestSerializer,
    ThresholdPreviewRequestSerializer,
    ThresholdPreviewSerializer,
    UnblindRequestSerializer,
    UndoRequestSerializer,
)

MAX_ACTION_ROWS = 1000


def form_errors(form):
    return "; ".join(
        f"{name}: {' '.join(errors)}" if name != "__all__" else " ".join(errors) for name, errors in form.errors.items()
    )


def item_json(item):
    """A queue row (queue.Row) or a QueueItem with its review, product and classifier."""
    if not isinstance(item, queue.Row):
        review, product = item.review, item.review.product
        item = queue.Row(
            item.pk,
            review.pk,
            item.probability,
            item.classifier_id,
            item.classifier.name,
            review.source,
            review.external_id,
            review.good_text,
            review.bad_text,
            review.rating,
            review.written_at,
            product.external_id,
            product.name,
            product.brand,
            product.category,
        )
    return {
        "review_id": item.review_id,
        "source": item.source,
        "external_id": item.external_id,
        "probability": item.probability,
        "classifier": {"id": item.classifier_id, "name": item.classifier_name},
        "good_text": item.good_text,
        "bad_text": item.bad_text,
        "rating": item.rating,
        "written_at": item.written_at,
        "product": {
            "external_id": item.product_external_id,
            "name": item.product_name,
            "brand": item.brand,
            "category": item.category,
        },
    }


def action_json(action):
    return {
        "id": action.pk,
        "batch": str(action.batch),
        "kind": action.kind,
        "review_id": action.review_id,
        "check": action.moderation_check.code if action.moderation_check else None,
        "user": action.user.get_username() if action.user else None,
        "reason": action.reason,
        "note": action.note,
        "probability": action.probability,
        "classifier_id": action.classifier_id,
        "threshold": action.threshold,
        "reverts": action.reverts_id,
        "created_at": action.created_at,
    }


class QueueView(APIView):
    permission_classes = [CanModerateReviews]

    @extend_schema(
        parameters=[*schema.QUEUE_PARAMETERS, schema.RETRY_AFTER],
        responses={
            200: OpenApiResponse(QueuePageSerializer, description="one page of the queue"),
            **schema.errors(400, 401, 403, 429),
        },
        description="Open reviews of a check, highest probability first, keyset-paginated. Needs "
        "moderation.moderate_reviews (a reviewer's session or token).",
    )
    def get(self, request):
        form = QueueFilterForm(request.query_params)
        try:
            check = services.find_check(request.query_params.get("check"))
            if not form.is_valid():
                raise actions.ActionError(f"invalid filter: {form_errors(form)}")
            limit = services.parse_limit(
                request.query_params.get("limit"), queue.DEFAULT_PAGE_SIZE, queue.MAX_PAGE_SIZE
            )
            hold = services.parse_flag(request.query_params.get("hold"))
            page = queue.page(check, request.user, form.filters(), request.query_params.get("after"), limit, hold)
        except (actions.ActionError, queue.CursorError) as exc:
            return Response({"error": str(exc)}, status=400)
        return Response(
            {
                "check": check.code,
                "filters": form.filters(),
                "items": [item_json(item) for item in page.items],
                "next": page.next_cursor,
                "held_until": page.held_until,
            }
        )


# The input serializer of each operation of POST /api/v1/actions (blind_above: by `confirm`).
OPERATIONS = {
    "blind": BlindRequestSerializer,
    "keep": KeepRequestSerializer,
    "unblind": UnblindRequestSerializer,
    "undo": UndoRequestSerializer,
}


def operation_serializer(body):
    """The input serializer for this request body, or None when `action` names no operation."""
    if not isinstance(body, dict):
        return None
    if body.get("action") == "blind_above":
        return ThresholdConfirmRequestSerializer if "confirm" in body else ThresholdPreviewRequestSerializer
    action = body.get("action")
    return OPERATIONS.get(action) if isinstance(action, str) else None


def refusal(errors, operation):
    """A 400 that names each field that is wrong and says why."""
    problems = "; ".join(
        f"{name}: {' '.join(map(str, messages)) if isinstance(messages, list) else messages}"
        for name, messages in errors.items()
    )
    return Response({"error": f"invalid {operation} request: {problems}", "errors": errors}, status=400)


class ActionsView(APIView):
    permission_classes = [CanModerateReviews]

    # The schema declaration has QueueView's shape; its parameters, body and description are this view's.
    @extend_schema(
        parameters=[*schema.AUDIT_PARAMETERS, schema.RETRY_AFTER],
        responses={
            200: OpenApiResponse(AuditPageSerializer, description="audit rows, newest first"),
            **schema.errors(400, 401, 403, 429),
        },
        description="The audit trail, newest first. Needs moderation.moderate_reviews.",
    )
    def get(self, request):
        form = AuditFilterForm(request.query_params)
        if not form.is_valid():
            return Response({"error": f"invalid filter: {form_errors(form)}"}, status=400)
        try:
            limit = services.parse_limit(request.query_params.get("limit"), 100, MAX_ACTION_ROWS)
        except actions.ActionError as exc:
            return Response({"error": str(exc)}, status=400)
        rows = audit.actions(form.cleaned_data)[:limit]
        return Response({"actions": [action_json(a) for a in rows]})

    @extend_schema(
        request={
            "application/json": PolymorphicProxySerializer(
                component_name="ActionRequest", serializers=ACTION_REQUESTS, resource_type_field_name=None
            )
        },
        responses={
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="ActionOutcome",
                    serializers=[ActionResultSerializer, ThresholdPreviewSerializer],
                    resource_type_field_name=None,
                ),
                description="the action's result, or for blind_above without `confirm` its preview",
            ),
            **schema.errors(400, 401, 403, 413, 415, 429, e400=ActionErrorSerializer),
        },
        parameters=[schema.RETRY_AFTER],
        description='blind, keep or unblind `review_ids`; undo a `batch` (or "last"); blind_above: preview '
        "with `threshold` (and `filters`), then confirm with the returned `confirm` token. Each operation "
        "takes its own fields; any other field is a 400 that names it. Needs moderation.moderate_reviews; a "
        "session needs its CSRF token (X-CSRFToken).",
    )
    def post(self, request):
        body = request.data
        kind = operation_serializer(body)
        if kind is None:
            choices = ", ".join([*OPERATIONS, "blind_above"])
            if not isinstance(body, dict):
                return refusal({"non_field_errors": [f"send a JSON object whose action is one of {choices}"]}, "action")
            return refusal({"action": [f"send one of {choices}, not {repr(body.get('action'))[:60]}"]}, "action")
        incoming = kind(data=body)
        if not incoming.is_valid():
            return refusal(incoming.errors, kind.operation.split(" ")[0])
        data = incoming.validated_data
        user = request.user
        try:
            if kind is ThresholdPreviewRequestSerializer:
                return self.preview(data)
            if kind is ThresholdConfirmRequestSerializer:
                result = services.blind_above(
                    user, data["confirm"], data.get("reason", ""), data.get("note", ""), data.get("check")
                )
            elif kind is UndoRequestSerializer:
                result = services.undo(user, data["batch"], data.get("note", ""))
            else:
                check = services.find_check(data.get("check"))
                if kind is BlindRequestSerializer:
                    result = services.blind(
                        user, check, data["review_ids"], data.get("reason", ""), data.get("note", "")
                    )
                elif kind is KeepRequestSerializer:
                    result = services.keep(user, check, data["review_ids"], data.get("note", ""))
                else:
                    result = services.unblind(user, check, data["review_ids"], data.get("note", ""))
        except actions.ActionError as exc:
            return Response({"error": str(exc)}, status=400)
        return Response(result.as_dict())

    def preview(self, data):
        check = services.find_check(data.get("check"))
        query = QueryDict(mutable=True)
        for key, value in (data.get("filters") or {}).items():
            if isinstance(value, list):
                query.setlist(key, [str(v) for v in value])
            else:
                query[key] = str(value)
        form = QueueFilterForm(query)
        if not form.is_valid():
            raise actions.ActionError(f"invalid filter: {form_errors(form)}")
        preview = services.preview_threshold(self.request.user, check, data["threshold"], form.filters())
        return Response(
            {
                "action": "blind_above",
                "check": check.code,
                "threshold": preview.threshold,
                "filters": preview.filters,
                "count": preview.count,
                "sample": [item_json(item) for item in preview.sample],
                "confirm": preview.token,
                "message": f"{preview.count} reviews would be blinded; POST again with this confirm token to do it",
            },
            status=status.HTTP_200_OK,
        )
