"""Any database Django speaks (SQLite in the unit tests): the same operations as a few ORM statements.

A move selects the rows to change under the lock, updates them in chunks,
bulk-inserts their audit rows and shows or hides their reviews; a page read is
a SELECT and an UPDATE in one transaction; a task's scores are a bulk INSERT of
Score rows and a bulk upsert of queue items. SQLite has one writer at a time, so
the locks (select_for_update) it ignores are not needed there.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime

from django.db import models, transaction
from django.db.models import Case, Q, QuerySet, Value, When

from ..models import Action, Classifier, QueueItem, Review, Score
from . import BLINDED, Move, ScoresWrite

ACTION_BATCH = 2000  # rows per UPDATE ... WHERE id IN (...) and per bulk INSERT


def apply_move(change: Move, locked: QuerySet[QueueItem]) -> tuple[list[int], list[int]]:
    """Move the rows `locked` selects (FOR UPDATE, in id order), log each, show/hide their reviews.

    Returns (ids of the reviews moved, ids of the reviews whose visibility changed), ascending."""
    rows = list(locked.values_list("pk", "review_id", "probability", "classifier_id"))
    if not rows:
        return [], []
    item_ids = [row[0] for row in rows]
    decided_by, decided_at = change.decided
    for start in range(0, len(item_ids), ACTION_BATCH):
        QueueItem.objects.filter(pk__in=item_ids[start : start + ACTION_BATCH], status=change.before).update(
            status=change.after, held_by=None, held_until=None, decided_by_id=decided_by, decided_at=decided_at
        )
    Action.objects.bulk_create(
        [
            Action(
                batch=change.batch,
                review_id=review_id,
                moderation_check_id=change.check_id,
                kind=change.kind,
                user_id=change.user_id,
                reason=change.reason,
                note=change.note,
                probability=probability,
                classifier_id=classifier_id,
                threshold=change.threshold,
                reverts_id=change.reverts.get(review_id),
                created_at=change.now,
            )
            for _, review_id, probability, classifier_id in sorted(rows, key=lambda row: row[1])
        ],
        batch_size=ACTION_BATCH,
    )
    review_ids = sorted(row[1] for row in rows)
    changed = []
    if change.visibility is not None:
        changed = set_visibility(review_ids, change.visibility, change.now)
    return review_ids, changed


def set_visibility(review_ids: Sequence[int], visibility: str, now: datetime) -> list[int]:
    """Show or hide these reviews (those not already so); returns the ids of those that changed, ascending."""
    changed = []
    for start in range(0, len(review_ids), ACTION_BATCH):
        part = Review.objects.filter(pk__in=review_ids[start : start + ACTION_BATCH]).exclude(visibility=visibility)
        if visibility == Review.Visibility.VISIBLE:
            # Still hidden while another check keeps it blinded.
            part = part.exclude(queue_items__status=BLINDED)
        ids = list(part.select_for_update().order_by("pk").values_list("pk", flat=True))
        Review.objects.filter(pk__in=ids).update(visibility=visibility, updated_at=now)
        changed.extend(ids)
    return changed


# The signature repeats moderation.db.postgres.read_and_hold's: one engine interface (moderation/db/__init__.py), two bodies.
def read_and_hold(
    queryset: QuerySet[QueueItem],
    fields: Sequence[str],
    user_id: int,
    check_id: int,
    size: int,
    until: datetime,
) -> list[tuple]:
    """Read a page (`queryset`, sliced to size + 1 rows) as tuples of `fields`, hold its first `size`
    rows for the reviewer until `until` and release the reviewer's other holds under the check, in
    one transaction. Rows another transaction has locked are skipped (where the database locks rows)."""
    with transaction.atomic():
        held = list(
            QueueItem.objects.filter(held_by_id=user_id, moderation_check_id=check_id)
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        rows = list(queryset.select_for_update(skip_locked=True, of=("self",)).values_list(*fields))
        pk = list(fields).index("pk")
        hold_these(user_id, [row[pk] for row in rows[:size]], held, until)
    return rows


def hold_these(user_id: int, item_ids: Sequence[int], release_ids: Sequence[int], until: datetime) -> None:
    """One UPDATE: hold `item_ids` for the reviewer, release the rest of `release_ids`.

    Both lists must be rows this transaction has locked."""
    shown = Q(pk__in=item_ids)
    QueueItem.objects.filter(shown | Q(pk__in=release_ids)).update(
        held_by=Case(When(shown, then=Value(user_id)), default=None, output_field=models.BigIntegerField()),
        held_until=Case(When(shown, then=Value(until)), default=None, output_field=models.DateTimeField()),
    )


def holds_need_no_flush() -> None:
    """Nothing to do: only PostgreSQL is told that a transaction may skip its WAL flush."""


def lock_batch(batch: uuid.UUID) -> None:
    """Nothing to do: SQLite has one writer at a time, so the transactions are serialised already."""


# The signature repeats moderation.db.postgres.write_scores's: one engine interface (moderation/db/__init__.py), two bodies.
def write_scores(write: ScoresWrite) -> int:
    """Insert the scores of the reviews that still exist (a score already written stays); upsert their
    queue items while the classifier is still active. Returns the number of scores inserted."""
    existing = set(Review.objects.filter(pk__in=write.review_ids).values_list("pk", flat=True))
    rows = [
        Score(
            review_id=pk,
            moderation_check_id=write.check_id,
            classifier_id=write.classifier_id,
            probability=p,
            scored_at=write.now,
        )
        for pk, p in zip(write.review_ids, write.probabilities)
        if pk in existing  # a review deleted while it was scored
    ]
    scored = Score.objects.filter(classifier_id=write.classifier_id, review_id__in=existing)
    before = scored.count()
    Score.objects.bulk_create(rows, ignore_conflicts=True)
    written = scored.count() - before
    if rows and Classifier.objects.filter(pk=write.classifier_id, is_active=True).exists():
        QueueItem.objects.bulk_create(
            [
                QueueItem(
                    review_id=row.review_id,
                    moderation_check_id=write.check_id,
                    probability=row.probability,
                    classifier_id=write.classifier_id,
                    scored_at=write.now,
                )
                for row in rows
            ],
            update_conflicts=True,
            unique_fields=["review", "moderation_check"],
            update_fields=["probability", "classifier", "scored_at"],
        )
    return written
