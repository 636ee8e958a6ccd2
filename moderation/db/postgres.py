"""PostgreSQL: a move, and a page read with its holds, each in one statement.

A move (`apply_move`) is an UPDATE of the queue items whose WHERE locks them
first (SELECT ... ORDER BY id FOR UPDATE, evaluated once), whose RETURNING feeds
the INSERT of the audit rows and the UPDATE of the reviews' visibility
(data-modifying CTEs); only the review ids come back to Python. A 10,000-review
threshold blind builds no model instance.

A page (`read_and_hold`) is read, its rows locked FOR UPDATE SKIP LOCKED, held
for the reviewer, and the reviewer's other holds under the check released, in
one statement: one round trip, and a page load never waits on a lock.

A scoring task's results (`write_scores`) are one statement too: the ids and
probabilities travel as two arrays, the scores are inserted and the queue items
upserted from them, and no model instance is built.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet

from ..models import Action, Classifier, QueueItem, Review, Score
from . import BLINDED, Move, Names, ScoresWrite, Statement, portable

ITEM, ACTION, REVIEW = Names(QueueItem), Names(Action), Names(Review)
SCORE, CLASSIFIER = Names(Score), Names(Classifier)


def compiled(queryset: QuerySet) -> tuple[str, Sequence[Any]]:
    """The queryset's SELECT and its parameters (EmptyResultSet when it can match nothing)."""
    return queryset.query.get_compiler(using=queryset.db).as_sql()


def apply_move(change: Move, locked: QuerySet[QueueItem]) -> tuple[list[int], list[int]]:
    """Lock, move, log and show/hide in one statement.

    `locked` selects the rows to move, FOR UPDATE in id order. The ARRAY(...)
    initplan locks them before the UPDATE changes exactly those rows; its
    RETURNING feeds the audit INSERT and the reviews' UPDATE, so no row travels
    to Python and back. Returns (ids of the reviews moved, ids of the reviews
    whose visibility changed), ascending.

    The UPDATE does not test the status again on purpose: FOR UPDATE waits for a
    row another transaction is moving, re-reads it and drops it if it is no longer
    in `before` (READ COMMITTED re-check), so the lock alone keeps two overlapping
    moves from both changing and logging a review (tests/moderation/queue/test_concurrency.py
    fails without it).
    """
    try:
        locked_sql, locked_params = compiled(locked.values_list("pk"))
    except EmptyResultSet:  # a filter that can match nothing (say, an empty list of ids)
        return [], []
    decided_by, decided_at = change.decided
    statement = Statement()
    statement.add(
        f"""
        WITH moved AS (
            UPDATE {ITEM} AS q
            SET {ITEM.status} = %s, {ITEM.held_by} = NULL, {ITEM.held_until} = NULL,
                {ITEM.decided_by} = %s, {ITEM.decided_at} = %s
            WHERE q.{ITEM.pk} = ANY(ARRAY(""",
        change.after,
        decided_by,
        decided_at,
    )
    statement.extend(locked_sql, locked_params)
    statement.add(
        f"""))
            RETURNING q.{ITEM.review} AS review_id, q.{ITEM.probability} AS probability,
                      q.{ITEM.classifier} AS classifier_id
        ), logged AS (
            INSERT INTO {ACTION} ({ACTION.batch}, {ACTION.review}, {ACTION.moderation_check}, {ACTION.kind},
                                  {ACTION.user}, {ACTION.reason}, {ACTION.note}, {ACTION.probability},
                                  {ACTION.classifier}, {ACTION.threshold}, {ACTION.reverts}, {ACTION.created_at})
            SELECT %s, m.review_id, %s, %s, %s, %s, %s, m.probability, m.classifier_id, %s, r.action_id, %s
            FROM moved AS m
            LEFT JOIN unnest(%s::bigint[], %s::bigint[]) AS r (review_id, action_id) ON r.review_id = m.review_id
            ORDER BY m.review_id
        )""",
        change.batch,
        change.check_id,
        change.kind,
        change.user_id,
        change.reason,
        change.note,
        change.threshold,
        change.now,
        list(change.reverts),
        list(change.reverts.values()),
    )
    visibility = change.visibility
    if visibility is None:
        statement.add(", shown AS (SELECT NULL::bigint AS id WHERE false)")
    else:
        statement.add(
            f""", shown AS (
            UPDATE {REVIEW} AS r SET {REVIEW.visibility} = %s, {REVIEW.updated_at} = %s
            WHERE r.{REVIEW.pk} = ANY(ARRAY(SELECT review_id FROM moved)) AND r.{REVIEW.visibility} <> %s""",
            visibility,
            change.now,
            visibility,
        )
        if visibility == Review.Visibility.VISIBLE:
            # Still hidden while another check keeps it blinded (this statement still sees
            # the moved items as they were, so this check's own items are left out).
            statement.add(
                f"""
              AND NOT EXISTS (SELECT 1 FROM {ITEM} AS o
                              WHERE o.{ITEM.review} = r.{REVIEW.pk} AND o.{ITEM.status} = %s
                                AND o.{ITEM.moderation_check} <> %s)""",
                BLINDED,
                change.check_id,
            )
        statement.add(
            f"""
            RETURNING r.{REVIEW.pk} AS id
        )"""
        )
    statement.add(
        """
        SELECT ARRAY(SELECT review_id FROM moved ORDER BY review_id), ARRAY(SELECT id FROM shown ORDER BY id)"""
    )
    with connection.cursor() as cursor:
        # The planner's cost for thousands of rows passes jit_above_cost, and compiling the
        # statement would take longer (50-100 ms) than the expressions it speeds up.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(statement.sql, statement.params)
        review_ids, changed = cursor.fetchone()
    return review_ids, changed


# The signature repeats moderation.db.portable.read_and_hold's: one engine interface (moderation/db/__init__.py), two bodies.
def read_and_hold(
    queryset: QuerySet[QueueItem],
    fields: Sequence[str],
    user_id: int,
    check_id: int,
    size: int,
    until: datetime,
) -> list[tuple]:
    """Read a page (`queryset`, already sliced to size + 1 rows) as tuples of `fields`, hold its
    first `size` rows for the reviewer until `until` and release the reviewer's other holds under
    the check, in one statement (one round trip, its own transaction when none is open).

    The page's rows are locked FOR UPDATE SKIP LOCKED as they are read; the reviewer's
    other holds under this check are locked the same way before they are released.
    Holds are a convenience: losing the last ones in a crash harms nothing, so when the
    statement is its own transaction it commits without waiting for the WAL flush
    (synchronous_commit off; never inside a caller's transaction, whose other writes
    may matter).
    """
    try:
        page_sql, page_params = compiled(queryset.values_list(*fields))
    except EmptyResultSet:
        # Filters that can match nothing: no page to lock, only the reviewer's holds to release,
        # which the ORM path does without reading a row.
        return portable.read_and_hold(queryset, fields, user_id, check_id, size, until)
    quote = connection.ops.quote_name
    columns = ", ".join(f"page.{quote(name)}" for name in fields)
    flush = "NULL" if connection.in_atomic_block else "set_config('synchronous_commit', 'off', true)"
    statement = Statement()
    statement.add("\n        WITH page AS MATERIALIZED (")
    statement.extend(page_sql, page_params)
    statement.add(
        f""" FOR UPDATE OF {ITEM} SKIP LOCKED),
        shown AS MATERIALIZED (SELECT "pk" FROM page ORDER BY "probability" DESC, "review_id" DESC LIMIT %s),
        holds AS (
            UPDATE {ITEM} AS h
            SET {ITEM.held_by} = CASE WHEN h.{ITEM.pk} IN (SELECT "pk" FROM shown) THEN %s END,
                {ITEM.held_until} = CASE WHEN h.{ITEM.pk} IN (SELECT "pk" FROM shown) THEN %s::timestamptz END
            WHERE h.{ITEM.pk} = ANY(ARRAY(SELECT "pk" FROM shown) || ARRAY(
                SELECT {ITEM.pk} FROM {ITEM}
                WHERE {ITEM.held_by} = %s AND {ITEM.moderation_check} = %s AND {ITEM.pk} NOT IN (SELECT "pk" FROM shown)
                FOR UPDATE SKIP LOCKED))
        )
        SELECT {columns}, {flush}
        FROM page ORDER BY page."probability" DESC, page."review_id" DESC""",
        size,
        user_id,
        until,
        user_id,
        check_id,
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, statement.params)
        return [values[:-1] for values in cursor.fetchall()]


def holds_need_no_flush() -> None:
    """Holds are a convenience: losing the last ones in a crash harms nothing, so their
    transaction commits without waiting for the WAL flush."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")


def lock_batch(batch: uuid.UUID) -> None:
    """Serialise transactions on one batch id until they end (a transaction-level advisory lock)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [(batch.int >> 64) - (1 << 63)])


# The signature repeats moderation.db.portable.write_scores's: one engine interface (moderation/db/__init__.py), two bodies.
def write_scores(write: ScoresWrite) -> int:
    """Insert the scores of the reviews that still exist (a score already written stays) and, while the
    classifier is still active, upsert their queue items, in one statement. Returns the number of
    scores inserted.

    Two arrays carry the task's ids and probabilities; the join with the reviews drops a review deleted
    while it was scored. A worker's task writes a few hundred scores, and this statement replaces the
    ORM's six (and its model instances), which took 80-100 ms a task of 512, about a tenth of the
    int8 model's own time. With `write.no_flush` the transaction commits without waiting for the WAL
    flush (its caller's own transaction; see ScoresWrite).
    """
    flush = "set_config('synchronous_commit', 'off', true)" if write.no_flush else "NULL"
    statement = Statement().add(
        f"""
        WITH given AS MATERIALIZED (
            SELECT g.review_id, g.probability
            FROM unnest(%s::bigint[], %s::double precision[]) AS g(review_id, probability)
            JOIN {REVIEW} AS r ON r.{REVIEW.pk} = g.review_id
        ),
        scored AS (
            INSERT INTO {SCORE} ({SCORE.review}, {SCORE.moderation_check}, {SCORE.classifier}, {SCORE.probability},
                                 {SCORE.scored_at})
            SELECT review_id, %s, %s, probability, %s FROM given
            ON CONFLICT DO NOTHING
            RETURNING 1
        ),
        queued AS (
            INSERT INTO {ITEM} ({ITEM.review}, {ITEM.moderation_check}, {ITEM.probability}, {ITEM.classifier},
                                {ITEM.scored_at}, {ITEM.status})
            SELECT review_id, %s, probability, %s, %s, %s FROM given
            WHERE EXISTS (SELECT 1 FROM {CLASSIFIER} WHERE {CLASSIFIER.pk} = %s AND {CLASSIFIER.is_active})
            ON CONFLICT ({ITEM.review}, {ITEM.moderation_check}) DO UPDATE
            SET {ITEM.probability} = EXCLUDED.{ITEM.probability}, {ITEM.classifier} = EXCLUDED.{ITEM.classifier},
                {ITEM.scored_at} = EXCLUDED.{ITEM.scored_at}
        )
        SELECT (SELECT count(*) FROM scored), {flush}""",
        list(write.review_ids),
        [float(p) for p in write.probabilities],
        write.check_id,
        write.classifier_id,
        write.now,
        write.check_id,
        write.classifier_id,
        write.now,
        QueueItem.Status.OPEN.value,
        write.classifier_id,
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, statement.params)
        return cursor.fetchone()[0]
