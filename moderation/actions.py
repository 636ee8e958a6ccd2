"""The write side of moderation: blind, keep, unblind, undo, and "blind all >= p".

Every action is a move of queue items from one status to another (open,
blinded, kept) under one check. A move runs in one transaction, locks the rows
it changes (SELECT ... FOR UPDATE on PostgreSQL, ordered by id so that two
movers never deadlock), re-reads their status under the lock, and changes only
the rows still in the status it starts from. So two reviewers blinding
overlapping selections at the same moment blind each review once, and only the
real change is logged: one append-only Action row per review changed, all
rows of one action sharing one batch id.

A review is blinded (hidden from the public read API) while its queue item is
blinded; every change of visibility sends the client app a webhook after the
transaction commits.

Undo reverses a whole batch by writing new rows that point back (`reverts`);
rows whose review has changed since are left as they are and reported.

On PostgreSQL a move is one statement (`move_in_one_statement`): an UPDATE of
the queue items whose WHERE locks them first (SELECT ... ORDER BY id FOR
UPDATE, evaluated once), whose RETURNING feeds the INSERT of the audit rows and
the UPDATE of the reviews' visibility (data-modifying CTEs); only the review
ids come back to Python. A 10,000-review threshold blind builds no model
instance. Elsewhere (SQLite, in the unit tests) the same move is a few ORM
statements (`move_portably`); the queue tests run on both.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.core import signing
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import queue
from .models import Action, Check, QueueItem, Review

OPEN, BLINDED, KEPT = QueueItem.Status.OPEN, QueueItem.Status.BLINDED, QueueItem.Status.KEPT
THRESHOLD_SALT = "moderation.threshold-blind"
THRESHOLD_MAX_AGE = 3600  # seconds a threshold confirmation stays valid
SAMPLE_SIZE = 5
ACTION_BATCH = 2000


class ActionError(ValueError):
    """The action cannot run as asked; the message says why and what to do."""


@dataclass
class Result:
    kind: str
    batch: uuid.UUID
    asked: int
    changed: int
    review_ids: list = field(default_factory=list)
    skipped: int = 0

    @property
    def message(self):
        verb = {"blind": "Blinded", "keep": "Kept", "unblind": "Unblinded", "undo": "Reverted"}[self.kind]
        noun = "review" if self.changed == 1 else "reviews"
        text = f"{verb} {self.changed:,} {noun}."
        if self.asked > self.changed:
            rest = self.asked - self.changed
            why = "had changed since" if self.kind == "undo" else "were already decided or hidden"
            text += f" {rest:,} of the {self.asked:,} {why}; they were left as they are."
        return text

    def as_dict(self):
        return {
            "action": self.kind,
            "batch": str(self.batch),
            "asked": self.asked,
            "changed": self.changed,
            "review_ids": self.review_ids,
            "message": self.message,
        }


def kind_of_move(before, after):
    if after == BLINDED:
        return Action.Kind.BLIND
    if before == BLINDED:
        return Action.Kind.UNBLIND
    if after == KEPT:
        return Action.Kind.KEEP
    return Action.Kind.REOPEN


DEFAULT_MOVES = {
    Action.Kind.BLIND: (OPEN, BLINDED),
    Action.Kind.KEEP: (OPEN, KEPT),
    Action.Kind.UNBLIND: (BLINDED, KEPT),
    Action.Kind.REOPEN: (KEPT, OPEN),
}


def move_of(action):
    """(status before, status after) of the queue item this action changed."""
    if action.reverts_id is None:
        return DEFAULT_MOVES[action.kind]
    before, after = move_of(action.reverts)
    return after, before


def move(user, check_id, items, before, after, *, batch, reason="", note="", threshold=None, reverts=None):
    """Move these queue items of one check from `before` to `after`; log each real change.

    `items` is a QueueItem queryset; only rows still in `before` under the lock
    move. `reverts` maps review id to the Action row (or its id) a move undoes.
    Returns the ids of the reviews moved, ascending. Call inside a transaction.
    """
    change = Move(
        user_id=getattr(user, "pk", None),
        check_id=check_id,
        before=before,
        after=after,
        kind=kind_of_move(before, after),
        batch=batch,
        reason=reason,
        note=note,
        threshold=threshold,
        reverts={review_id: getattr(row, "pk", row) for review_id, row in (reverts or {}).items()},
        now=timezone.now(),
    )
    # The rows to change, locked in id order (two movers never deadlock) and re-read under the lock:
    # a row another transaction moved first no longer matches `status=before` and is left out.
    locked = (
        items.filter(moderation_check_id=check_id, status=before)
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    if connection.vendor == "postgresql":
        review_ids, changed = move_in_one_statement(change, locked)
    else:
        review_ids, changed = move_portably(change, locked)
    if changed and settings.HWADMIN["WEBHOOK_URL"]:
        notify_after_commit(change.visibility, changed, batch, check_id)
    return review_ids


@dataclass
class Move:
    """One move of queue items, with what its audit rows record."""

    user_id: int | None
    check_id: int
    before: str
    after: str
    kind: str
    batch: uuid.UUID
    reason: str
    note: str
    threshold: float | None
    reverts: dict
    now: object

    @property
    def decided(self):
        """(decided_by id, decided_at) of the moved items: cleared when they reopen."""
        return (None, None) if self.after == OPEN else (self.user_id, self.now)

    @property
    def visibility(self):
        """The visibility the moved reviews get (None: unchanged)."""
        if self.after == BLINDED:
            return Review.Visibility.BLINDED
        if self.before == BLINDED:
            return Review.Visibility.VISIBLE
        return None


def move_in_one_statement(change, locked):
    """PostgreSQL: lock, move, log and show/hide in one statement (data-modifying CTEs).

    The ARRAY(...) initplan locks the rows (FOR UPDATE, in id order) before the
    UPDATE changes exactly those rows; its RETURNING feeds the audit INSERT and
    the reviews' UPDATE, so no row travels to Python and back. Returns (ids of
    the reviews moved, ids of the reviews whose visibility changed), ascending.

    The UPDATE does not test the status again on purpose: FOR UPDATE waits for a
    row another transaction is moving, re-reads it and drops it if it is no longer
    in `before` (READ COMMITTED re-check), so the lock alone keeps two overlapping
    moves from both changing and logging a review (tests/queue/test_concurrency.py
    fails without it).
    """
    try:
        locked_sql, locked_params = locked.values_list("pk").query.get_compiler(using=locked.db).as_sql()
    except EmptyResultSet:  # a filter that can match nothing (say, an empty list of ids)
        return [], []
    decided_by, decided_at = change.decided
    params = [change.after, decided_by, decided_at, *locked_params]
    sql = f"""
        WITH moved AS (
            UPDATE moderation_queueitem AS q
            SET status = %s, held_by_id = NULL, held_until = NULL, decided_by_id = %s, decided_at = %s
            WHERE q.id = ANY(ARRAY({locked_sql}))
            RETURNING q.review_id, q.probability, q.classifier_id
        ), logged AS (
            INSERT INTO moderation_action (batch, review_id, check_id, kind, user_id, reason, note, probability,
                                           classifier_id, threshold, reverts_id, created_at)
            SELECT %s, m.review_id, %s, %s, %s, %s, %s, m.probability, m.classifier_id, %s, r.action_id, %s
            FROM moved AS m
            LEFT JOIN unnest(%s::bigint[], %s::bigint[]) AS r (review_id, action_id) ON r.review_id = m.review_id
            ORDER BY m.review_id
        )"""
    params += [
        change.batch, change.check_id, change.kind, change.user_id, change.reason, change.note, change.threshold,
        change.now, list(change.reverts), list(change.reverts.values()),
    ]
    visibility = change.visibility
    if visibility is None:
        sql += ", shown AS (SELECT NULL::bigint AS id WHERE false)"
    else:
        sql += """, shown AS (
            UPDATE moderation_review AS r SET visibility = %s, updated_at = %s
            WHERE r.id = ANY(ARRAY(SELECT review_id FROM moved)) AND r.visibility <> %s"""
        params += [visibility, change.now, visibility]
        if visibility == Review.Visibility.VISIBLE:
            # Still hidden while another check keeps it blinded (this statement still sees
            # the moved items as they were, so this check's own items are left out).
            sql += """
              AND NOT EXISTS (SELECT 1 FROM moderation_queueitem AS o
                              WHERE o.review_id = r.id AND o.status = %s AND o.check_id <> %s)"""
            params += [BLINDED, change.check_id]
        sql += """
            RETURNING r.id
        )"""
    sql += """
        SELECT ARRAY(SELECT review_id FROM moved ORDER BY review_id), ARRAY(SELECT id FROM shown ORDER BY id)"""
    with connection.cursor() as cursor:
        # The planner's cost for thousands of rows passes jit_above_cost, and compiling the
        # statement would take longer (50-100 ms) than the expressions it speeds up.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        review_ids, changed = cursor.fetchone()
    return review_ids, changed


def move_portably(change, locked):
    """Any database (SQLite in the unit tests): the same move in a few ORM statements."""
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


def set_visibility(review_ids, visibility, now=None):
    """Show or hide these reviews (those not already so); returns the ids of those that changed, ascending."""
    now = now or timezone.now()
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


def notify_after_commit(visibility, changed, batch, check_id):
    """Tell the client app, once the transaction has committed, which reviews it must hide or show."""
    from .webhooks import notify_visibility

    event = "reviews.blinded" if visibility == Review.Visibility.BLINDED else "reviews.unblinded"
    transaction.on_commit(lambda: notify_visibility(event, changed, batch, check_id))


def require_reason(check, reason):
    reasons = list(check.reasons or [])
    if reasons and not reason:
        raise ActionError(f"choose a reason for blinding under '{check.code}': one of {reasons}")
    if reasons and reason not in reasons:
        raise ActionError(f"{reason!r} is not a reason of check '{check.code}'; choose one of {reasons}")


def selected(review_ids):
    ids = sorted({int(pk) for pk in review_ids})
    if not ids:
        raise ActionError("select at least one review")
    return ids


@transaction.atomic
def blind(user, check, review_ids, reason="", note=""):
    """Blind the selected open reviews of this check."""
    require_reason(check, reason)
    ids = selected(review_ids)
    batch = uuid.uuid4()
    items = QueueItem.objects.filter(review_id__in=ids, review__visibility=Review.Visibility.VISIBLE)
    changed = move(user, check.pk, items, OPEN, BLINDED, batch=batch, reason=reason, note=note)
    return Result("blind", batch, len(ids), len(changed), changed)


@transaction.atomic
def keep(user, check, review_ids, note=""):
    """Keep the selected open reviews: not a violation; they leave the queue."""
    ids = selected(review_ids)
    batch = uuid.uuid4()
    changed = move(user, check.pk, QueueItem.objects.filter(review_id__in=ids), OPEN, KEPT, batch=batch, note=note)
    return Result("keep", batch, len(ids), len(changed), changed)


@transaction.atomic
def unblind(user, check, review_ids, note=""):
    """Show blinded reviews again: the reviewer decided they break no rule (their items become kept)."""
    ids = selected(review_ids)
    batch = uuid.uuid4()
    changed = move(user, check.pk, QueueItem.objects.filter(review_id__in=ids), BLINDED, KEPT, batch=batch, note=note)
    return Result("unblind", batch, len(ids), len(changed), changed)


@transaction.atomic
def undo(user, batch, note=""):
    """Reverse every row of a batch that is not reversed yet and whose review has not changed since."""
    try:
        batch = uuid.UUID(str(batch))
    except ValueError:
        raise ActionError(f"{batch!r} is not a batch id; copy one from the audit page") from None
    rows = list(
        Action.objects.filter(batch=batch).select_related("reverts__reverts__reverts").order_by("pk")
    )
    if not rows:
        raise ActionError(f"no action has batch id {batch}; pick one from the audit page")
    done = set(Action.objects.filter(reverts__in=[row.pk for row in rows]).values_list("reverts_id", flat=True))
    groups = defaultdict(dict)
    for row in rows:
        if row.pk in done:
            continue
        before, after = move_of(row)
        groups[(row.moderation_check_id, after, before)][row.review_id] = row
    new_batch = uuid.uuid4()
    changed = []
    for (check_id, now_status, back_to), by_review in groups.items():
        if check_id is None:
            continue
        items = QueueItem.objects.filter(review_id__in=list(by_review))
        changed += move(
            user, check_id, items, now_status, back_to,
            batch=new_batch, reason=f"undo of {batch}", note=note, reverts=by_review,
        )
    return Result("undo", new_batch, len(rows), len(changed), changed)


def last_batch(user, lookback=50):
    """This reviewer's latest batch that is not an undo and has not been undone (None if there is none)."""
    before = None
    for _ in range(lookback):
        rows = Action.objects.filter(user=user, reverts__isnull=True)
        if before is not None:
            rows = rows.filter(created_at__lt=before)
        batch = rows.order_by("-created_at", "-pk").values_list("batch", flat=True).first()
        if batch is None:
            return None
        if not Action.objects.filter(reverts__batch=batch).exists():
            return batch
        before = Action.objects.filter(batch=batch).aggregate(first=Min("created_at"))["first"]
    return None


@dataclass
class Preview:
    check: Check
    threshold: float
    filters: dict
    count: int
    sample: list
    token: str


def threshold_scope(check, threshold, filters, max_item_id, as_of):
    """The reviews a threshold blind covers: those it showed, not those scored since."""
    queryset = queue.apply_filters(queue.open_items(check, filters, visibility_subquery=True), {"p_min": threshold})
    return queryset.filter(pk__lte=max_item_id or 0, scored_at__lte=as_of)


def preview_threshold(check, threshold, filters=None, sample_size=SAMPLE_SIZE):
    """How many open reviews "blind all >= threshold" would blind, a few of them, and a confirmation token."""
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ActionError(f"the threshold must be a probability from 0 to 1, not {threshold}")
    filters = dict(filters or {})
    as_of = timezone.now()
    max_item_id = QueueItem.objects.aggregate(top=Max("pk"))["top"] or 0
    scope = threshold_scope(check, threshold, filters, max_item_id, as_of)
    count = scope.count()
    sample = list(scope.select_related("review", "review__product", "classifier")[:sample_size])
    token = signing.dumps(
        {
            "check": check.code,
            "threshold": threshold,
            "filters": filters,
            "max_item_id": max_item_id,
            "as_of": as_of.isoformat(),
            "count": count,
        },
        salt=THRESHOLD_SALT,
    )
    return Preview(check, threshold, filters, count, sample, token)


def read_confirmation(token):
    try:
        return signing.loads(token, salt=THRESHOLD_SALT, max_age=THRESHOLD_MAX_AGE)
    except signing.SignatureExpired:
        raise ActionError("this confirmation is more than an hour old; preview the threshold blind again")
    except signing.BadSignature:
        raise ActionError("the confirmation token is not valid; preview the threshold blind again")


@transaction.atomic
def blind_above(user, token, reason="", note=""):
    """Blind the open reviews a threshold preview counted (and no review scored after it)."""
    plan = read_confirmation(token)
    check = Check.objects.filter(code=plan["check"]).first()
    if check is None:
        raise ActionError(f"check '{plan['check']}' no longer exists")
    require_reason(check, reason)
    scope = threshold_scope(check, plan["threshold"], plan["filters"], plan["max_item_id"], parse_datetime(plan["as_of"]))
    batch = uuid.uuid4()
    changed = move(
        user, check.pk, scope, OPEN, BLINDED, batch=batch, reason=reason, note=note, threshold=plan["threshold"]
    )
    return Result("blind", batch, plan["count"], len(changed), changed)
