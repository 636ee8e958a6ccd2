"""The read side of the reviewer queue: what a reviewer sees, in what order.

A check's queue is its open QueueItems whose review is still visible, sorted by
probability (highest first) and then by review id (newest first). On
PostgreSQL that is one scan of the partial index `queue_open_by_probability`.

Pages are keyset-paginated: a page's cursor is the (probability, review id) of
its last row, and the next page starts strictly after it, so page 100 costs
what page 1 costs.

Holds: opening a page holds its rows for the reviewer for HOLD_MINUTES;
other reviewers' pages skip rows held by someone else, so two reviewers
opening the queue at the same moment get different rows (on PostgreSQL the
rows are claimed with FOR UPDATE SKIP LOCKED). Holds end when the reviewer
acts on the rows, opens another page, leaves the page, or times out.

A page is read as plain rows (`Row`: the queue item's, review's, product's and
classifier's fields in one query, no model instances). Reading, locking and
holding a page is the engine's business (`moderation.db`: one statement on
PostgreSQL, a SELECT and an UPDATE in one transaction elsewhere); this module
holds the rules: which rows, in what order, held for how long.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.db import models, transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from . import db
from .models import Check, Product, QueueItem, Review

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
SUGGESTION_SECONDS = 300

_M = TypeVar("_M", bound=models.Model)


class CursorError(ValueError):
    pass


def default_check() -> Check | None:
    return Check.objects.order_by("position", "code").first()


def hold_duration() -> timedelta:
    return timedelta(minutes=settings.HWADMIN["HOLD_MINUTES"])


def day_start(value: str | date) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value).date()
    return timezone.make_aware(datetime.combine(value, time.min))


def apply_filters(queryset: QuerySet[_M], filters: Mapping[str, Any] | None, prefix: str = "") -> QuerySet[_M]:
    """Narrow a QueueItem queryset (or, with prefix, a related one) by the queue filters."""
    f = filters or {}
    r = f"{prefix}review__"
    conditions = {}
    if f.get("p_min") is not None:
        conditions[f"{prefix}probability__gte"] = f["p_min"]
    if f.get("p_max") is not None:
        conditions[f"{prefix}probability__lte"] = f["p_max"]
    if f.get("product"):
        conditions[f"{r}product__external_id"] = f["product"]
    if f.get("brand"):
        conditions[f"{r}product__brand"] = f["brand"]
    if f.get("category"):
        conditions[f"{r}product__category"] = f["category"]
    if f.get("rating"):
        conditions[f"{r}rating__in"] = list(f["rating"])
    if f.get("date_from"):
        conditions[f"{r}written_at__gte"] = day_start(f["date_from"])
    if f.get("date_to"):
        conditions[f"{r}written_at__lt"] = day_start(f["date_to"]) + timedelta(days=1)
    queryset = queryset.filter(**conditions)
    if f.get("q"):
        queryset = queryset.filter(Q(**{f"{r}good_text__icontains": f["q"]}) | Q(**{f"{r}bad_text__icontains": f["q"]}))
    return queryset


def open_items(
    check: Check, filters: Mapping[str, Any] | None = None, *, visibility_subquery: bool = False
) -> QuerySet[QueueItem]:
    """Every undecided, visible review of this check that matches the filters, best first.

    With `visibility_subquery`, the review's visibility is read by a correlated
    subquery (one primary-key probe per queue row) instead of a join. For a
    scope of thousands of rows that is locked (a threshold blind), PostgreSQL may
    not run in parallel and would rather hash the whole review table than probe
    it; a scalar subquery is never turned into a join, so it probes.
    """
    queryset = QueueItem.objects.filter(moderation_check=check, status=QueueItem.Status.OPEN)
    if visibility_subquery:
        visibility = Review.objects.filter(pk=OuterRef("review_id")).values("visibility")[:1]
        queryset = queryset.alias(review_visibility=Subquery(visibility)).filter(
            review_visibility=Review.Visibility.VISIBLE
        )
    else:
        queryset = queryset.filter(review__visibility=Review.Visibility.VISIBLE)
    return apply_filters(queryset, filters).order_by("-probability", "-review_id")


def not_held_by_others(
    queryset: QuerySet[QueueItem], user: AbstractBaseUser | AnonymousUser | None, now: datetime | None = None
) -> QuerySet[QueueItem]:
    now = now or timezone.now()
    free = Q(held_until__isnull=True) | Q(held_until__lte=now)
    if user is not None and user.is_authenticated:
        free |= Q(held_by=user)
    return queryset.filter(free)


def encode_cursor(item: "QueueItem | Row") -> str:
    return f"{item.probability!r}_{item.review_id}"


def decode_cursor(cursor: str) -> tuple[float, int]:
    from django.utils.translation import gettext

    from .forms import MAX_ID, whole_number

    message = gettext("'after' must be a cursor such as 0.97_1234 (probability_reviewid), not %(cursor)r") % {
        "cursor": str(cursor)[:60]
    }
    try:
        probability, review_id = cursor.rsplit("_", 1)
        probability = float(probability)
    except (AttributeError, ValueError):
        raise CursorError(message) from None
    review_id = whole_number(review_id, 0, MAX_ID)
    if review_id is None or not 0.0 <= probability <= 1.0:
        raise CursorError(message)
    return probability, review_id


def after_cursor(queryset: QuerySet[QueueItem], cursor: str) -> QuerySet[QueueItem]:
    probability, review_id = decode_cursor(cursor)
    # `probability <= p` is implied by the rest; it lets the index scan start at the cursor
    # instead of reading (and filtering out) every row before it.
    return queryset.filter(
        Q(probability__lte=probability),
        Q(probability__lt=probability) | Q(probability=probability, review_id__lt=review_id),
    )


class Row(NamedTuple):
    """One row of a queue page: the queue item with the review, product and classifier fields shown."""

    pk: int
    review_id: int
    probability: float
    classifier_id: int
    classifier_name: str
    source: str
    external_id: str
    good_text: str
    bad_text: str
    rating: int
    written_at: datetime
    product_external_id: str
    product_name: str
    brand: str
    category: str


# The columns of Row, in order, as one query (joins, no model instances).
ROW_FIELDS = (
    "pk",
    "review_id",
    "probability",
    "classifier_id",
    "classifier__name",
    "review__source",
    "review__external_id",
    "review__good_text",
    "review__bad_text",
    "review__rating",
    "review__written_at",
    "review__product__external_id",
    "review__product__name",
    "review__product__brand",
    "review__product__category",
)


def fetch_rows(queryset: QuerySet[QueueItem]) -> list[Row]:
    return [Row._make(values) for values in queryset.values_list(*ROW_FIELDS)]


@dataclass
class Page:
    items: list
    next_cursor: str | None
    held_until: datetime | None = None
    size: int = DEFAULT_PAGE_SIZE
    filters: dict = field(default_factory=dict)


def page(
    check: Check,
    user: AbstractBaseUser,
    filters: dict[str, Any] | None = None,
    after: str | None = None,
    size: int = DEFAULT_PAGE_SIZE,
    hold: bool = True,
) -> Page:
    """One page of the queue for this reviewer (a list of Row); holds its rows when `hold`."""
    size = max(1, min(int(size), MAX_PAGE_SIZE))
    now = timezone.now()
    queryset = not_held_by_others(open_items(check, filters), user, now)
    if after:
        queryset = after_cursor(queryset, after)
    if not hold:
        rows = fetch_rows(queryset[: size + 1])
        return Page(rows[:size], encode_cursor(rows[size - 1]) if len(rows) > size else None, None, size, filters or {})
    until = now + hold_duration()
    # Rows another transaction has locked (a reviewer claiming or deciding them) are skipped,
    # and the update touches only rows this one locked: a page load never waits on a lock.
    rows = [
        Row._make(values)
        for values in db.engine().read_and_hold(queryset[: size + 1], ROW_FIELDS, user.pk, check.pk, size, until)
    ]
    shown = rows[:size]
    return Page(shown, encode_cursor(shown[-1]) if len(rows) > size else None, until, size, filters or {})


def release(user: AbstractBaseUser, check: Check | None = None, review_ids: Iterable[int] | None = None) -> int:
    """End this reviewer's holds (all of them, or on these reviews).

    Rows locked by another transaction are left alone (whoever decides them
    clears the hold), so a release never waits on a lock and never deadlocks.
    """
    queryset = QueueItem.objects.filter(held_by=user)
    if check is not None:
        queryset = queryset.filter(moderation_check=check)
    if review_ids is not None:
        queryset = queryset.filter(review_id__in=review_ids)
    with transaction.atomic():
        db.engine().holds_need_no_flush()
        ids = list(queryset.select_for_update(skip_locked=True).values_list("pk", flat=True))
        return QueueItem.objects.filter(pk__in=ids).update(held_by=None, held_until=None)


def cursor_at(check: Check, filters: Mapping[str, Any] | None, position: int) -> str | None:
    """The cursor that starts the page at this 0-based row position (for tools and benchmarks)."""
    item = open_items(check, filters).only("probability", "review_id")[position - 1 : position].first()
    return encode_cursor(item) if item else None


def blinded_items(check: Check, q: str | None = None) -> QuerySet[QueueItem]:
    """This check's blinded queue rows, most recently decided first (index `queue_decided`)."""
    queryset = QueueItem.objects.filter(moderation_check=check, status=QueueItem.Status.BLINDED).select_related(
        "review", "review__product", "decided_by"
    )
    if q:
        queryset = queryset.filter(Q(review__good_text__icontains=q) | Q(review__bad_text__icontains=q))
    return queryset.order_by("-decided_at", "-pk")


def distinct_values(field_name: str, limit: int = 500) -> list[str]:
    """Brands or categories for the filter's suggestions (cached for a few minutes)."""

    def load() -> list[str]:
        values = Product.objects.exclude(**{field_name: ""}).order_by(field_name).values_list(field_name, flat=True)
        return list(values.distinct()[:limit])

    return cache.get_or_set(f"moderation.queue.distinct.{field_name}", load, SUGGESTION_SECONDS)


CHECKS_KEY = "moderation.queue.checks"
CHECKS_SECONDS = 30


def all_checks() -> list[Check]:
    """Every check, in tab order: read by every queue page, changed by hand in the admin a few
    times a year. Cached for CHECKS_SECONDS; a change saved in this process clears it at once."""
    return cache.get_or_set(CHECKS_KEY, lambda: list(Check.objects.order_by("position", "code")), CHECKS_SECONDS)


@receiver([post_save, post_delete], sender=Check)
def checks_changed(**kwargs: Any) -> None:
    cache.delete(CHECKS_KEY)
