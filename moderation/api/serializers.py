"""Serializers for what the API sends out, and the shapes the OpenAPI schema documents.

Incoming reviews are validated in `moderation.ingest`, which the bulk loader shares. The
action requests (POST /api/v1/actions) are validated here, one serializer per operation. The
queue, audit and action views build their JSON by hand (`queue_views.item_json`,
`action_json`, `actions.Result.as_dict`); the serializers below describe those bodies
for the schema, and the schema fuzzer (tests/moderation/queue/test_schema_fuzz.py) checks every
response against them.
"""

import datetime

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..forms import MAX_DATE, MAX_ID, MIN_DATE
from ..ingest import ReviewInSerializer
from ..models import Action, Review

# --- Errors -------------------------------------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    """Every refusal (4xx): {"error": "what was wrong"} (moderation/api/errors.py)."""

    error = serializers.CharField(help_text="what was wrong and, where it helps, what to send instead")


class IngestProblemSerializer(serializers.Serializer):
    index = serializers.IntegerField(
        min_value=0, help_text="position of the review in the request (0 for a single object)"
    )
    field = serializers.CharField(help_text="the field, dotted for nested ones (product.name), or 'item'")
    message = serializers.CharField()


class IngestErrorSerializer(ErrorSerializer):
    """An ingest refusal; a 400 for invalid reviews lists every problem in `errors`."""

    errors = IngestProblemSerializer(many=True, required=False)


class ActionErrorSerializer(ErrorSerializer):
    """An action refusal; a body that does not fit the action's fields adds `errors`."""

    errors = serializers.DictField(
        required=False,
        help_text="field name -> list of messages (for review_ids: an object from item position to messages)",
    )


# --- The public read path -----------------------------------------------------------------------------------------


class RFC3339DateTimeField(serializers.DateTimeField):
    """DRF's DateTimeField (local time, ISO 8601), except where the local offset is not whole minutes.

    Before time zones were standardised, zoneinfo gives local mean time: Asia/Seoul before 1908 is
    +08:27:52, and "1900-01-01T08:27:52+08:27:52" is not an RFC 3339 date-time (the schema's
    `date-time`, which clients parse). Such instants are written in UTC instead.
    """

    def to_representation(self, value):
        if isinstance(value, datetime.datetime) and timezone.is_aware(value):
            local = self.enforce_timezone(value)
            offset = local.utcoffset()
            if offset is not None and offset.total_seconds() % 60:
                text = value.astimezone(datetime.UTC).isoformat()
                return text.removesuffix("+00:00") + "Z"
        return super().to_representation(value)


class PublicReviewSerializer(serializers.ModelSerializer):
    """A visible review as the public sees it: no author reference, no moderation state."""

    written_at = RFC3339DateTimeField()

    class Meta:
        model = Review
        fields = ["source", "external_id", "rating", "good_text", "bad_text", "written_at"]


class ProductReviewsSerializer(serializers.Serializer):
    product = serializers.CharField(help_text="the product's external id")
    reviews = PublicReviewSerializer(many=True, help_text="visible reviews, newest first")


# --- Ingest -------------------------------------------------------------------------------------------------------


class ReviewBatchSerializer(serializers.Serializer):
    """For the schema only: the ingest body is one review object or a list of them (`api.schema` maps it).
    The view validates with `ingest.validate_reviews`."""


class IngestResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(min_value=0)
    updated = serializers.IntegerField(min_value=0)
    unchanged = serializers.IntegerField(min_value=0)
    scoring = serializers.CharField(help_text='"queued", or "waiting: ..." while no classifier is active')


# --- The reviewer queue -------------------------------------------------------------------------------------------

DATE_HELP = f"a date from {MIN_DATE} to {MAX_DATE} (YYYY-MM-DD)"


class QueueFiltersSerializer(serializers.Serializer):
    """The queue's filters (the same as the queue page's); each is optional and they combine."""

    p_min = serializers.FloatField(required=False, min_value=0, max_value=1, help_text="probability at least")
    p_max = serializers.FloatField(required=False, min_value=0, max_value=1, help_text="probability at most")
    product = serializers.CharField(required=False, max_length=100, help_text="product external id")
    brand = serializers.CharField(required=False, max_length=200)
    category = serializers.CharField(required=False, max_length=200)
    rating = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=5), required=False)
    date_from = serializers.DateField(required=False, help_text=f"written on or after: {DATE_HELP}")
    date_to = serializers.DateField(required=False, help_text=f"written on or before: {DATE_HELP}")
    q = serializers.CharField(required=False, max_length=200, help_text="text contains")


class ClassifierRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ProductRefSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    name = serializers.CharField(allow_blank=True)
    brand = serializers.CharField(allow_blank=True)
    category = serializers.CharField(allow_blank=True)


class QueueRowSerializer(serializers.Serializer):
    review_id = serializers.IntegerField(min_value=1)
    source = serializers.CharField()
    external_id = serializers.CharField()
    probability = serializers.FloatField(min_value=0, max_value=1, help_text="from the check's active classifier")
    classifier = ClassifierRefSerializer()
    good_text = serializers.CharField(allow_blank=True)
    bad_text = serializers.CharField(allow_blank=True)
    rating = serializers.IntegerField(min_value=1, max_value=5)
    written_at = serializers.DateTimeField()
    product = ProductRefSerializer()


class QueuePageSerializer(serializers.Serializer):
    check = serializers.CharField(help_text="the check's code")
    filters = QueueFiltersSerializer(help_text="the filters applied, as parsed")
    items = QueueRowSerializer(many=True, help_text="open reviews, highest probability first")
    next = serializers.CharField(allow_null=True, help_text="cursor of the next page (`after`), null on the last page")
    held_until = serializers.DateTimeField(allow_null=True, help_text="until when the rows are held (with hold=true)")


# --- The audit trail and actions ----------------------------------------------------------------------------------


class AuditActionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    batch = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=Action.Kind.choices)
    review_id = serializers.IntegerField()
    check = serializers.CharField(allow_null=True)
    user = serializers.CharField(allow_null=True, help_text="the reviewer's user name (null: the system)")
    reason = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True)
    probability = serializers.FloatField(allow_null=True, help_text="the probability the reviewer saw")
    classifier_id = serializers.IntegerField(allow_null=True)
    threshold = serializers.FloatField(allow_null=True, help_text="set on threshold blinds")
    reverts = serializers.IntegerField(allow_null=True, help_text="id of the action an undo reversed")
    created_at = serializers.DateTimeField()


class AuditPageSerializer(serializers.Serializer):
    actions = AuditActionSerializer(many=True, help_text="newest first")


# The body of POST /api/v1/actions: one serializer per operation, which the view validates with
# (`queue_views.ActionsView.post` picks it by `action`, and by `confirm` for blind_above) and the
# schema documents (a oneOf of these shapes, each with additionalProperties false: api/schema.py).

# The `action` member's values per shape (SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] names their enums).
BLIND_ACTIONS = ["blind"]
KEEP_ACTIONS = ["keep"]
UNBLIND_ACTIONS = ["unblind"]
DECISION_ACTIONS = [*BLIND_ACTIONS, *KEEP_ACTIONS, *UNBLIND_ACTIONS]
UNDO_ACTIONS = ["undo"]
THRESHOLD_ACTIONS = ["blind_above"]
RESULT_ACTIONS = [*DECISION_ACTIONS, *UNDO_ACTIONS]

BATCH_OR_LAST = r"^([0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}|last)$"
MAX_SELECTED = 10000  # review ids one decision may name
SELECT_ONE = "select at least one review"


class OperationSerializer(serializers.Serializer):
    """The body of one operation of POST /api/v1/actions: its own fields and no other.

    A field that belongs to another operation (say `reason` on keep, `threshold` beside `confirm`)
    or to none is refused, and the error names it."""

    operation = ""  # what the error calls this operation

    def to_internal_value(self, data):
        if isinstance(data, dict):
            stray = sorted(str(name) for name in set(data) - set(self.fields))
            if stray:
                takes = ", ".join(self.fields)
                raise serializers.ValidationError(
                    {name: [f"{name!r} does not belong to {self.operation}; it takes {takes}"] for name in stray}
                )
        return super().to_internal_value(data)


def check_field(help_text="check code (default: the first check)"):
    return serializers.CharField(required=False, allow_blank=True, help_text=help_text)


def review_ids_field():
    return serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=MAX_SELECTED,
        allow_empty=False,
        error_messages={"required": SELECT_ONE, "empty": SELECT_ONE},
    )


def note_field():
    return serializers.CharField(required=False, allow_blank=True, max_length=2000)


def reason_field(help_text=None):
    return serializers.CharField(required=False, allow_blank=True, max_length=200, help_text=help_text)


class BlindRequestSerializer(OperationSerializer):
    operation = "blind"
    action = serializers.ChoiceField(choices=BLIND_ACTIONS)
    check = check_field()
    review_ids = review_ids_field()
    reason = reason_field("one of the check's reasons (required where the check has some)")
    note = note_field()


class KeepRequestSerializer(OperationSerializer):
    operation = "keep"
    action = serializers.ChoiceField(choices=KEEP_ACTIONS)
    check = check_field()
    review_ids = review_ids_field()
    note = note_field()


class UnblindRequestSerializer(KeepRequestSerializer):
    """The fields of a keep (check, review ids, note), under its own action."""

    operation = "unblind"
    action = serializers.ChoiceField(choices=UNBLIND_ACTIONS)


class UndoRequestSerializer(OperationSerializer):
    operation = "undo"
    action = serializers.ChoiceField(choices=UNDO_ACTIONS)
    batch = serializers.RegexField(
        BATCH_OR_LAST,
        help_text='a batch id from a result or the audit trail, or "last"',
        error_messages={"invalid": 'not a batch id: send one from a result or the audit trail, or "last"'},
    )
    note = note_field()


@extend_schema_field(QueueFiltersSerializer)
class FiltersField(serializers.DictField):
    """The queue's filters for a threshold preview (parsed by QueueFilterForm, as the queue page's are)."""


class ThresholdPreviewRequestSerializer(OperationSerializer):
    operation = "blind_above (preview; send `confirm` to confirm)"
    action = serializers.ChoiceField(choices=THRESHOLD_ACTIONS)
    check = check_field()
    threshold = serializers.FloatField(min_value=0, max_value=1, help_text="blind the open reviews at or above this")
    filters = FiltersField(required=False)


class ThresholdConfirmRequestSerializer(OperationSerializer):
    operation = "blind_above with `confirm` (the preview's threshold and filters are in the token)"
    action = serializers.ChoiceField(choices=THRESHOLD_ACTIONS)
    confirm = serializers.CharField(help_text="the preview's confirm token (the same reviewer, within an hour, once)")
    check = check_field("if sent, the token's check")
    reason = reason_field()
    note = note_field()


ACTION_REQUESTS = [
    BlindRequestSerializer,
    KeepRequestSerializer,
    UnblindRequestSerializer,
    UndoRequestSerializer,
    ThresholdPreviewRequestSerializer,
    ThresholdConfirmRequestSerializer,
]


class ActionResultSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=RESULT_ACTIONS)
    batch = serializers.UUIDField(help_text="the batch id of the audit rows written (undo it with this id)")
    asked = serializers.IntegerField(min_value=0)
    changed = serializers.IntegerField(min_value=0)
    review_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), help_text="the reviews really changed"
    )
    message = serializers.CharField()


class ThresholdPreviewSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=THRESHOLD_ACTIONS)
    check = serializers.CharField()
    threshold = serializers.FloatField(min_value=0, max_value=1)
    filters = QueueFiltersSerializer()
    count = serializers.IntegerField(min_value=0, help_text="open reviews the confirmation would blind")
    sample = QueueRowSerializer(many=True, help_text="a few of them")
    confirm = serializers.CharField(help_text="POST again with this token (and a reason) to blind them")
    message = serializers.CharField()


__all__ = [
    "ReviewInSerializer",
    "ReviewBatchSerializer",
    "PublicReviewSerializer",
    "ProductReviewsSerializer",
    "IngestResultSerializer",
    "ErrorSerializer",
    "IngestErrorSerializer",
    "IngestProblemSerializer",
    "ActionErrorSerializer",
    "QueueFiltersSerializer",
    "QueueRowSerializer",
    "QueuePageSerializer",
    "AuditActionSerializer",
    "AuditPageSerializer",
    "ActionResultSerializer",
    "ThresholdPreviewSerializer",
    "BlindRequestSerializer",
    "KeepRequestSerializer",
    "UnblindRequestSerializer",
    "UndoRequestSerializer",
    "ThresholdPreviewRequestSerializer",
    "ThresholdConfirmRequestSerializer",
    "ACTION_REQUESTS",
]
