"""Validate incoming reviews and upsert them, idempotent on (source, external_id).

One function validates (the API and `load_reviews` share it), one stores. A
batch is stored whole or not at all; a changed text drops the review's stale
scores so that it is scored again, and reopens a decision to keep it (a blind
stands).
"""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from . import metrics
from .models import Product, QueueItem, Review, Score

REVIEW_FIELDS = ("product", "author_ref", "rating", "good_text", "bad_text", "written_at")


def check_text_length(value: str) -> None:
    limit = settings.HWADMIN["MAX_TEXT_CHARS"]
    if len(value) > limit:
        raise serializers.ValidationError(f"is {len(value)} characters long; the limit is {limit}")


def reject_invalid_unicode(value: str) -> None:
    """Refuse lone surrogates (valid JSON escapes, but not storable text)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise serializers.ValidationError(
            f"contains invalid Unicode (a lone surrogate at character {exc.start})"
        ) from None


class TextField(serializers.CharField):
    """A CharField that takes only JSON strings and refuses NUL bytes (DRF's
    default) and lone surrogates."""

    default_error_messages = {"invalid": "must be a string, not {kind}"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # DRF's own surrogate check walks the text a character at a time in Python (a fifth of the time a
        # 500-review request spent validating); reject_invalid_unicode asks the same of the UTF-8 codec.
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitSurrogateCharactersValidator)]
        self.validators.append(reject_invalid_unicode)

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("invalid", kind=type(data).__name__)
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """An integer that must arrive as a JSON number or digits, never a bool or 4.5."""

    def to_internal_value(self, data: object) -> int:
        if isinstance(data, bool) or (isinstance(data, float) and not data.is_integer()):
            self.fail("invalid")
        return super().to_internal_value(data)


class ProductInSerializer(serializers.Serializer):
    external_id = TextField(max_length=100)
    name = TextField(max_length=300, required=False, allow_blank=True, default="")
    brand = TextField(max_length=200, required=False, allow_blank=True, default="")
    category = TextField(max_length=200, required=False, allow_blank=True, default="")


class ReviewInSerializer(serializers.Serializer):
    source = serializers.RegexField(
        r"^[A-Za-z0-9_.-]+$",
        max_length=50,
        error_messages={"invalid": "use letters, digits, '.', '_' or '-' only"},
    )
    external_id = TextField(max_length=100)
    product = ProductInSerializer()
    author_ref = TextField(max_length=100, required=False, allow_blank=True, default="")
    rating = StrictIntegerField(min_value=1, max_value=5)
    good_text = TextField(
        required=False, allow_blank=True, default="", trim_whitespace=False, validators=[check_text_length]
    )
    bad_text = TextField(
        required=False, allow_blank=True, default="", trim_whitespace=False, validators=[check_text_length]
    )
    written_at = serializers.DateTimeField()

    def validate_written_at(self, value):
        from .forms import MAX_DATE, MIN_DATE  # the bounds every date filter uses

        if not MIN_DATE <= value.date() <= MAX_DATE:
            raise serializers.ValidationError(f"must lie between {MIN_DATE} and {MAX_DATE}")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs["good_text"].strip() and not attrs["bad_text"].strip():
            raise serializers.ValidationError(
                {"good_text": "good_text and bad_text are both empty: a review needs some text"}
            )
        return attrs


def flatten_errors(detail: object, prefix: str = "") -> dict[str, list[str]]:
    """{'product': {'name': ['too long']}} -> {'product.name': ['too long']}."""
    if isinstance(detail, dict):
        flat = {}
        for key, value in detail.items():
            if key == "non_field_errors":
                name = prefix or "item"
            else:
                name = f"{prefix}.{key}" if prefix else key
            flat.update(flatten_errors(value, name))
        return flat
    if isinstance(detail, list):
        return {prefix or "item": [str(message) for message in detail]}
    return {prefix or "item": [str(detail)]}


@dataclass
class Validated:
    items: list = field(default_factory=list)  # cleaned dicts, in input order
    errors: list = field(default_factory=list)  # {"index": i, "field": name, "message": text}


def validate_reviews(raw_items: Iterable[object]) -> Validated:
    """Validate a list of review dicts; report every bad item by index and field."""
    result = Validated()
    # One serializer validates every item (as a ListSerializer's child does): building one per item
    # deep-copies its fields each time, which was most of the time an ingest request took.
    serializer = ReviewInSerializer()
    known = set(serializer.fields)
    seen = {}
    for index, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            result.errors.append(
                {"index": index, "field": "item", "message": f"must be a JSON object, got {type(raw).__name__}"}
            )
            continue
        unknown = sorted(set(raw) - known)
        try:
            item = serializer.run_validation(raw)
        except serializers.ValidationError as exc:
            for name, messages in flatten_errors(exc.detail).items():
                for message in messages:
                    result.errors.append({"index": index, "field": name, "message": message})
            continue
        if unknown:
            result.errors.append(
                {"index": index, "field": unknown[0], "message": f"unknown field(s): {', '.join(unknown)}"}
            )
            continue
        key = (item["source"], item["external_id"])
        if key in seen:
            result.errors.append(
                {
                    "index": index,
                    "field": "external_id",
                    "message": f"duplicates item {seen[key]} (same source and external_id)",
                }
            )
            continue
        seen[key] = index
        result.items.append(item)
    return result


@dataclass
class Stored:
    created: list = field(default_factory=list)  # review ids
    updated: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    rescore: list = field(default_factory=list)  # ids whose text is new or changed

    def summary(self) -> dict[str, int]:
        return {"created": len(self.created), "updated": len(self.updated), "unchanged": len(self.unchanged)}


def upsert_products(items: Iterable[Mapping[str, Any]]) -> dict[str, Product]:
    """Upsert the products the items name; return {external_id: Product}."""
    by_id = {}
    for item in items:
        by_id[item["product"]["external_id"]] = item["product"]  # the last mention wins
    existing = {p.external_id: p for p in Product.objects.filter(external_id__in=by_id)}
    changed = []
    new = []
    for external_id, data in by_id.items():
        product = existing.get(external_id)
        if product is None:
            new.append(Product(**data))
            continue
        fields = {k: v for k, v in data.items() if k != "external_id" and v and getattr(product, k) != v}
        if fields:
            for key, value in fields.items():
                setattr(product, key, value)
            changed.append(product)
    if new:
        Product.objects.bulk_create(new, ignore_conflicts=True)
    if changed:
        Product.objects.bulk_update(changed, ["name", "brand", "category"])
    return {p.external_id: p for p in Product.objects.filter(external_id__in=by_id)}


def store_reviews(items: Sequence[Mapping[str, Any]]) -> Stored:
    """Upsert validated items in one transaction; queue scoring on commit.

    Two requests carrying the same new review at the same moment both find it
    missing; the second to insert hits the unique constraint once the first
    commits, and is run again, when it finds the review stored.
    """
    try:
        return upsert_reviews(items)
    except IntegrityError:
        if transaction.get_connection().in_atomic_block:
            raise  # inside a caller's transaction: the caller decides
        return upsert_reviews(items)


@transaction.atomic
def upsert_reviews(items: Sequence[Mapping[str, Any]]) -> Stored:
    result = Stored()
    if not items:
        return result
    products = upsert_products(items)
    sources = {item["source"] for item in items}
    external_ids = [item["external_id"] for item in items]
    existing = {
        (r.source, r.external_id): r
        for r in Review.objects.select_for_update().filter(source__in=sources, external_id__in=external_ids)
    }
    to_create, to_update = [], []
    now = timezone.now()
    for item in items:
        values = {k: item[k] for k in REVIEW_FIELDS if k != "product"}
        values["product_id"] = products[item["product"]["external_id"]].pk
        review = existing.get((item["source"], item["external_id"]))
        if review is None:
            to_create.append(Review(source=item["source"], external_id=item["external_id"], **values))
            continue
        if all(getattr(review, key) == value for key, value in values.items()):
            result.unchanged.append(review.pk)
            continue
        text_before = review.text
        for key, value in values.items():
            setattr(review, key, value)
        review.updated_at = now
        to_update.append(review)
        result.updated.append(review.pk)
        if review.text != text_before:
            result.rescore.append(review.pk)
    if to_update:
        Review.objects.bulk_update(to_update, [*REVIEW_FIELDS, "updated_at"])
    if result.rescore:
        forget_scores(result.rescore)
    if to_create:
        Review.objects.bulk_create(to_create)
        keys = [(r.source, r.external_id) for r in to_create]
        created = Review.objects.filter(
            source__in={k[0] for k in keys}, external_id__in=[k[1] for k in keys]
        ).values_list("pk", "source", "external_id")
        wanted = set(keys)
        result.created = [pk for pk, source, external_id in created if (source, external_id) in wanted]
        result.rescore.extend(result.created)
    if result.rescore:
        from .tasks import queue_scoring

        ids = sorted(result.rescore)
        transaction.on_commit(lambda: queue_scoring(ids))
    transaction.on_commit(lambda: metrics.record_ingest(result))  # /metrics: hwadmin_ingest_reviews_total
    return result


TEXT_CHANGED = "text changed"


def forget_scores(review_ids: Sequence[int]) -> None:
    """A review's text changed: its scores, its undecided queue rows and its "keep" decisions are stale.

    A kept (or unblinded) review's queue item is reopened under every check, with an audit row
    (`reopen`, reason "text changed", no user), so the new text is scored and decided again and
    the history shows why. A blinded review stays blinded (and hidden): an edit never publishes it.
    """
    from . import actions

    Score.objects.filter(review_id__in=review_ids).delete()
    QueueItem.objects.filter(review_id__in=review_ids, status=QueueItem.Status.OPEN).delete()
    kept = QueueItem.objects.filter(review_id__in=review_ids, status=QueueItem.Status.KEPT)
    for check_id in sorted(set(kept.values_list("moderation_check_id", flat=True))):
        actions.move(None, check_id, kept, actions.KEPT, actions.OPEN, batch=uuid.uuid4(), reason=TEXT_CHANGED)
