"""The audit trail: every Action row, filtered for the audit page, the API and the CSV export."""

from datetime import timedelta

from .models import Action
from .queue import day_start

CSV_HEADER = [
    "created_at", "batch", "kind", "reviewer", "check", "review_id", "review_source", "review_external_id",
    "reason", "note", "probability", "classifier", "threshold", "reverts",
]


def actions(filters=None):
    f = filters or {}
    queryset = Action.objects.select_related("user", "moderation_check", "review", "classifier")
    if f.get("user"):
        queryset = queryset.filter(user__username=f["user"])
    if f.get("kind"):
        queryset = queryset.filter(kind=f["kind"])
    if f.get("check"):
        queryset = queryset.filter(moderation_check__code=f["check"])
    if f.get("date_from"):
        queryset = queryset.filter(created_at__gte=day_start(f["date_from"]))
    if f.get("date_to"):
        queryset = queryset.filter(created_at__lt=day_start(f["date_to"]) + timedelta(days=1))
    if f.get("batch"):
        queryset = queryset.filter(batch=f["batch"])
    return queryset.order_by("-created_at", "-pk")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A text cell a spreadsheet will not run: one starting with = + - @, a tab or a carriage return gets a
    leading apostrophe ("=HYPERLINK(...)" from an external id or a note stays text). Numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(action):
    return [spreadsheet_safe(value) for value in _csv_values(action)]


def _csv_values(action):
    return [
        action.created_at.isoformat(),
        str(action.batch),
        action.kind,
        action.user.get_username() if action.user else "",
        action.moderation_check.code if action.moderation_check else "",
        action.review_id,
        action.review.source,
        action.review.external_id,
        action.reason,
        action.note,
        "" if action.probability is None else f"{action.probability:.6f}",
        action.classifier.name if action.classifier else "",
        "" if action.threshold is None else action.threshold,
        action.reverts_id or "",
    ]


def reverted_batches(batches):
    """Which of these batches have been undone (fully or partly)."""
    return set(Action.objects.filter(reverts__batch__in=list(batches)).values_list("reverts__batch", flat=True))
