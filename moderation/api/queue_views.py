"""The reviewer queue and its actions for scripts: the same functions as the pages.

GET  /api/v1/queue?check=unused&p_min=0.9&after=<cursor>&limit=50&hold=1
GET  /api/v1/actions?user=&kind=&check=&date_from=&date_to=&batch=&limit=100
POST /api/v1/actions  {"action": "blind" | "keep" | "unblind", "check": "unused",
                       "review_ids": [...], "reason": "...", "note": "..."}
                      {"action": "undo", "batch": "<uuid>" | "last"}
                      {"action": "blind_above", "check": "unused", "threshold": 0.99,
                       "filters": {...}}                -> preview with a "confirm" token
                      {"action": "blind_above", "confirm": "<token>", "reason": "..."}  -> does it
"""

from django.http import QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import actions, audit, queue
from ..forms import MAX_ID, AuditFilterForm, QueueFilterForm, whole_number
from ..models import Check

MAX_ACTION_ROWS = 1000


class CanModerateReviews(BasePermission):
    """Holders of `moderation.moderate_reviews` (the reviewers group)."""

    message = "this account may not work the reviewer queue (it lacks the moderation.moderate_reviews permission)"

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("moderation.moderate_reviews"))


def form_errors(form):
    return "; ".join(f"{name}: {' '.join(errors)}" if name != "__all__" else " ".join(errors) for name, errors in form.errors.items())


def find_check(code):
    if not code:
        check = queue.default_check()
        if check is None:
            raise actions.ActionError("no moderation check is configured; run the migrations")
        return check
    check = Check.objects.filter(code=code).first()
    if check is None:
        codes = list(Check.objects.values_list("code", flat=True))
        raise actions.ActionError(f"unknown check {code!r}; use one of {codes}")
    return check


def item_json(item):
    """A queue row (queue.Row) or a QueueItem with its review, product and classifier."""
    if not isinstance(item, queue.Row):
        review, product = item.review, item.review.product
        item = queue.Row(
            item.pk, review.pk, item.probability, item.classifier_id, item.classifier.name, review.source,
            review.external_id, review.good_text, review.bad_text, review.rating, review.written_at,
            product.external_id, product.name, product.brand, product.category,
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
        parameters=[
            OpenApiParameter("check", str, description="check code (default: the first check)"),
            OpenApiParameter("after", str, description="cursor from the previous page's `next`"),
            OpenApiParameter("limit", int, description="rows per page, 1 to 200 (default 50)"),
            OpenApiParameter("hold", bool, description="hold the returned rows for this account (default false)"),
            *[OpenApiParameter(name, str) for name in ("p_min", "p_max", "product", "brand", "category", "date_from", "date_to", "q")],
            OpenApiParameter("rating", int, many=True),
        ],
        responses={200: OpenApiTypes.OBJECT},
        description="Open reviews of a check, highest probability first, keyset-paginated.",
    )
    def get(self, request):
        try:
            check = find_check(request.query_params.get("check"))
        except actions.ActionError as exc:
            return Response({"error": str(exc)}, status=400)
        form = QueueFilterForm(request.query_params)
        if not form.is_valid():
            return Response({"error": f"invalid filter: {form_errors(form)}"}, status=400)
        limit = request.query_params.get("limit", str(queue.DEFAULT_PAGE_SIZE))
        limit = whole_number(limit, 1, queue.MAX_PAGE_SIZE)
        if limit is None:
            return Response({"error": f"limit must be a whole number from 1 to {queue.MAX_PAGE_SIZE}"}, status=400)
        hold = request.query_params.get("hold", "").lower() in {"1", "true", "yes"}
        try:
            page = queue.page(check, request.user, form.filters(), request.query_params.get("after"), limit, hold)
        except queue.CursorError as exc:
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


class ActionInSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["blind", "keep", "unblind", "undo", "blind_above"])
    check = serializers.CharField(required=False, allow_blank=True)
    review_ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False,
                                       max_length=10000)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    batch = serializers.CharField(required=False)
    threshold = serializers.FloatField(required=False, min_value=0, max_value=1)
    filters = serializers.DictField(required=False)
    confirm = serializers.CharField(required=False)


class ActionsView(APIView):
    permission_classes = [CanModerateReviews]

    @extend_schema(
        parameters=[
            *[OpenApiParameter(name, str) for name in ("user", "kind", "check", "date_from", "date_to", "batch")],
            OpenApiParameter("limit", int, description="rows, 1 to 1000 (default 100), newest first"),
        ],
        responses={200: OpenApiTypes.OBJECT},
        description="The audit trail, newest first.",
    )
    def get(self, request):
        form = AuditFilterForm(request.query_params)
        if not form.is_valid():
            return Response({"error": f"invalid filter: {form_errors(form)}"}, status=400)
        limit = request.query_params.get("limit", "100")
        limit = whole_number(limit, 1, MAX_ACTION_ROWS)
        if limit is None:
            return Response({"error": f"limit must be a whole number from 1 to {MAX_ACTION_ROWS}"}, status=400)
        rows = audit.actions(form.cleaned_data)[:limit]
        return Response({"actions": [action_json(a) for a in rows]})

    @extend_schema(request=ActionInSerializer, responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT})
    def post(self, request):
        incoming = ActionInSerializer(data=request.data)
        if not incoming.is_valid():
            return Response({"error": "invalid action", "errors": incoming.errors}, status=400)
        data = incoming.validated_data
        kind = data["action"]
        user = request.user
        try:
            if kind == "undo":
                batch = data.get("batch") or ""
                if batch == "last":
                    batch = actions.last_batch(user)
                    if batch is None:
                        return Response({"error": "nothing to undo: this account has no action that is not undone"}, status=400)
                if not batch:
                    return Response({"error": "send the batch id to undo, or \"last\""}, status=400)
                return Response(actions.undo(user, batch, data.get("note", "")).as_dict())
            if kind == "blind_above":
                if data.get("confirm"):
                    result = actions.blind_above(user, data["confirm"], data.get("reason", ""), data.get("note", ""))
                    return Response(result.as_dict())
                return self.preview(data)
            check = find_check(data.get("check"))
            ids = data.get("review_ids") or []
            if kind == "blind":
                result = actions.blind(user, check, ids, data.get("reason", ""), data.get("note", ""))
            elif kind == "keep":
                result = actions.keep(user, check, ids, data.get("note", ""))
            else:
                result = actions.unblind(user, check, ids, data.get("note", ""))
            queue.release(user, check, ids)
            return Response(result.as_dict())
        except actions.ActionError as exc:
            return Response({"error": str(exc)}, status=400)

    def preview(self, data):
        if data.get("threshold") is None:
            return Response({"error": "send a threshold (0 to 1) to preview, then the returned confirm token"}, status=400)
        try:
            check = find_check(data.get("check"))
        except actions.ActionError as exc:
            return Response({"error": str(exc)}, status=400)
        query = QueryDict(mutable=True)
        for key, value in (data.get("filters") or {}).items():
            if isinstance(value, list):
                query.setlist(key, [str(v) for v in value])
            else:
                query[key] = str(value)
        form = QueueFilterForm(query)
        if not form.is_valid():
            return Response({"error": f"invalid filter: {form_errors(form)}"}, status=400)
        preview = actions.preview_threshold(check, data["threshold"], form.filters())
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
