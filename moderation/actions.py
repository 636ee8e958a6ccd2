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

How a move reaches the database is the engine's business (`moderation.db`: one
statement of data-modifying CTEs on PostgreSQL, a few ORM statements elsewhere);
this module holds the rules: which rows, from which status to which, who may,
what the audit rows say. The queue tests run on both engines.
"""

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Max, Min, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, ngettext

from . import db, queue
from .db import Move
from .models import Action, Check, QueueItem, Review, ThresholdConfirmation

OPEN, BLINDED, KEPT = QueueItem.Status.OPEN, QueueItem.Status.BLINDED, QueueItem.Status.KEPT
THRESHOLD_SALT = "moderation.threshold-blind"
THRESHOLD_MAX_AGE = 3600  # seconds a threshold confirmation stays valid
SAMPLE_SIZE = 5


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
    def message(self) -> str:
        # In the active language: the reviewer's on the pages, English on the API unless asked (hwadmin/i18n.py).
        n = self.changed
        text = {
            "blind": ngettext("Blinded %(n)s review.", "Blinded %(n)s reviews.", n),
            "keep": ngettext("Kept %(n)s review.", "Kept %(n)s reviews.", n),
            "unblind": ngettext("Unblinded %(n)s review.", "Unblinded %(n)s reviews.", n),
            "undo": ngettext("Reverted %(n)s review.", "Reverted %(n)s reviews.", n),
        }[self.kind] % {"n": f"{n:,}"}
        if self.asked > self.changed:
            counts = {"rest": f"{self.asked - self.changed:,}", "asked": f"{self.asked:,}"}
            if self.kind == "undo":
                why = gettext("%(rest)s of the %(asked)s had changed since; they were left as they are.")
            else:
                why = gettext("%(rest)s of the %(asked)s were already decided or hidden; they were left as they are.")
            text += " " + why % counts
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.kind,
            "batch": str(self.batch),
            "asked": self.asked,
            "changed": self.changed,
            "review_ids": self.review_ids,
            "message": self.message,
        }


def kind_of_move(before: str, after: str) -> Action.Kind:
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


def move_of(action: Action) -> tuple[str, str]:
    """(status before, status after) of the queue item this action changed."""
    if action.reverts_id is None:
        return DEFAULT_MOVES[action.kind]
    before, after = move_of(action.reverts)
    return after, before


def move(
    user: AbstractBaseUser | None,
    check_id: int,
    items: QuerySet[QueueItem],
    before: str,
    after: str,
    *,
    batch: uuid.UUID,
    reason: str = "",
    note: str = "",
    threshold: float | None = None,
    reverts: Mapping[int, Action | int] | None = None,
) -> list[int]:
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
    locked = items.filter(moderation_check_id=check_id, status=before).select_for_update(of=("self",)).order_by("pk")
    review_ids, changed = db.engine().apply_move(change, locked)
    if changed and settings.HWADMIN["WEBHOOK_URL"]:
        notify_after_commit(change.visibility, changed, batch, check_id)
    return review_ids


def notify_after_commit(visibility: str | None, changed: Sequence[int], batch: uuid.UUID, check_id: int) -> None:
    """Tell the client app, once the transaction has committed, which reviews it must hide or show."""
    from .webhooks import notify_visibility

    event = "reviews.blinded" if visibility == Review.Visibility.BLINDED else "reviews.unblinded"
    transaction.on_commit(lambda: notify_visibility(event, changed, batch, check_id))


def require_reason(check: Check, reason: str) -> None:
    reasons = list(check.reasons or [])
    if reasons and not reason:
        raise ActionError(
            gettext("choose a reason for blinding under '%(check)s': one of %(reasons)s")
            % {"check": check.code, "reasons": reasons}
        )
    if reasons and reason not in reasons:
        raise ActionError(
            gettext("%(reason)r is not a reason of check '%(check)s'; choose one of %(reasons)s")
            % {"reason": reason, "check": check.code, "reasons": reasons}
        )


def selected(review_ids: Iterable[int | str]) -> list[int]:
    ids = sorted({int(pk) for pk in review_ids})
    if not ids:
        raise ActionError(gettext("select at least one review"))
    return ids


def move_selected(
    kind: str,
    user: AbstractBaseUser,
    check: Check,
    review_ids: Iterable[int | str],
    before: str,
    after: str,
    items: QuerySet[QueueItem] | None = None,
    **fields: str,
) -> Result:
    """Move the selected reviews' items of this check (of `items`, default all) from `before` to
    `after` as one new batch; `fields` (reason, note) go on each logged row."""
    ids = selected(review_ids)
    batch = uuid.uuid4()
    items = (QueueItem.objects.all() if items is None else items).filter(review_id__in=ids)
    changed = move(user, check.pk, items, before, after, batch=batch, **fields)
    return Result(kind, batch, len(ids), len(changed), changed)


@transaction.atomic
def blind(
    user: AbstractBaseUser, check: Check, review_ids: Iterable[int | str], reason: str = "", note: str = ""
) -> Result:
    """Blind the selected open reviews of this check."""
    require_reason(check, reason)
    visible = QueueItem.objects.filter(review__visibility=Review.Visibility.VISIBLE)
    return move_selected("blind", user, check, review_ids, OPEN, BLINDED, visible, reason=reason, note=note)


@transaction.atomic
def keep(user: AbstractBaseUser, check: Check, review_ids: Iterable[int | str], note: str = "") -> Result:
    """Keep the selected open reviews: not a violation; they leave the queue."""
    return move_selected("keep", user, check, review_ids, OPEN, KEPT, note=note)


@transaction.atomic
def unblind(user: AbstractBaseUser, check: Check, review_ids: Iterable[int | str], note: str = "") -> Result:
    """Show blinded reviews again: the reviewer decided they break no rule (their items become kept)."""
    return move_selected("unblind", user, check, review_ids, BLINDED, KEPT, note=note)


@transaction.atomic
def undo(user: AbstractBaseUser, batch: uuid.UUID | str, note: str = "") -> Result:
    """Reverse every row of a batch that is not reversed yet and whose review has not changed since."""
    try:
        batch = uuid.UUID(str(batch))
    except ValueError:
        raise ActionError(
            gettext("%(batch)r is not a batch id; copy one from the audit page") % {"batch": batch}
        ) from None
    rows = list(Action.objects.filter(batch=batch).select_related("reverts__reverts__reverts").order_by("pk"))
    if not rows:
        raise ActionError(gettext("no action has batch id %(batch)s; pick one from the audit page") % {"batch": batch})
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
            user,
            check_id,
            items,
            now_status,
            back_to,
            batch=new_batch,
            reason=f"undo of {batch}",
            note=note,
            reverts=by_review,
        )
    return Result("undo", new_batch, len(rows), len(changed), changed)


def last_batch(user: AbstractBaseUser, lookback: int = 50) -> uuid.UUID | None:
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
    batch: uuid.UUID | None = None  # the batch id the confirmation's audit rows will carry


def threshold_scope(
    check: Check, threshold: float, filters: Mapping[str, Any] | None, max_item_id: int | None, as_of: datetime
) -> QuerySet[QueueItem]:
    """The reviews a threshold blind covers: those it showed, not those scored since."""
    queryset = queue.apply_filters(queue.open_items(check, filters, visibility_subquery=True), {"p_min": threshold})
    return queryset.filter(pk__lte=max_item_id or 0, scored_at__lte=as_of)


def preview_threshold(
    check: Check,
    threshold: float,
    filters: Mapping[str, Any] | None = None,
    sample_size: int = SAMPLE_SIZE,
    *,
    user: AbstractBaseUser | AnonymousUser,
) -> Preview:
    """How many open reviews "blind all >= threshold" would blind, a few of them, and a confirmation token.

    The token is signed and names the reviewer who previewed (only they may confirm it), the check,
    and a fresh batch id: the confirmation's audit rows carry that batch, so a token whose batch is
    already in the audit trail has been used and is refused (even after an undo).
    """
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ActionError(
            gettext("the threshold must be a probability from 0 to 1, not %(threshold)s") % {"threshold": threshold}
        )
    if getattr(user, "pk", None) is None:
        raise ActionError(gettext("a threshold blind is previewed by a logged-in reviewer"))
    filters = dict(filters or {})
    as_of = timezone.now()
    max_item_id = QueueItem.objects.aggregate(top=Max("pk"))["top"] or 0
    scope = threshold_scope(check, threshold, filters, max_item_id, as_of)
    count = scope.count()
    sample = list(scope.select_related("review", "review__product", "classifier")[:sample_size])
    batch = uuid.uuid4()
    token = signing.dumps(
        {
            "check": check.code,
            "threshold": threshold,
            "filters": filters,
            "max_item_id": max_item_id,
            "as_of": as_of.isoformat(),
            "count": count,
            "user": user.pk,
            "batch": str(batch),
        },
        salt=THRESHOLD_SALT,
    )
    return Preview(check, threshold, filters, count, sample, token, batch)


def read_confirmation(token: str) -> dict[str, Any]:
    try:
        plan = signing.loads(token, salt=THRESHOLD_SALT, max_age=THRESHOLD_MAX_AGE)
    except signing.SignatureExpired:
        raise ActionError(
            gettext("this confirmation is more than an hour old; preview the threshold blind again")
        ) from None
    except signing.BadSignature:
        raise ActionError(gettext("the confirmation token is not valid; preview the threshold blind again")) from None
    if not isinstance(plan, dict) or "user" not in plan or "batch" not in plan:
        # Signed, but from before tokens named their reviewer and batch.
        raise ActionError(gettext("the confirmation token is from an older preview; preview the threshold blind again"))
    return plan


def lock_confirmation(batch: uuid.UUID) -> None:
    """Serialise confirmations of one token until the transaction ends."""
    db.engine().lock_batch(batch)


@transaction.atomic
def blind_above(
    user: AbstractBaseUser | AnonymousUser,
    token: str,
    reason: str = "",
    note: str = "",
    *,
    check: Check | str | None = None,
) -> Result:
    """Blind the open reviews a threshold preview counted (and no review scored after it).

    `token` is the preview's confirmation token; `check` is the check the request names (the page's
    URL, the API's "check"), if any. Refused with an ActionError, changing nothing: a token previewed
    by another reviewer, a token for another check, a token already used (its batch is in the audit
    trail, whether or not it was undone since), an expired or forged one.
    """
    plan = read_confirmation(token)
    if plan["user"] != getattr(user, "pk", None):
        raise ActionError(
            gettext(
                "the confirmation token belongs to another reviewer's preview; preview the threshold blind yourself"
            )
        )
    code = getattr(check, "code", check)
    if code and code != plan["check"]:
        raise ActionError(
            gettext(
                "the confirmation token is for check '%(token_check)s', not '%(check)s'; preview the threshold blind again"
            )
            % {"token_check": plan["check"], "check": code}
        )
    try:
        batch = uuid.UUID(str(plan["batch"]))
    except ValueError:
        raise ActionError(gettext("the confirmation token is not valid; preview the threshold blind again")) from None
    lock_confirmation(batch)
    try:
        with transaction.atomic():  # a savepoint: the duplicate key is an answer, not a broken transaction
            ThresholdConfirmation.objects.create(batch=batch, user=user if getattr(user, "pk", None) else None)
        used = Action.objects.filter(batch=batch).exists()
    except IntegrityError:
        used = True
    if used:
        raise ActionError(
            gettext(
                "the confirmation token was already used (batch %(batch)s); a confirmation blinds once, even after "
                "an undo: preview the threshold blind again"
            )
            % {"batch": batch}
        )
    check = Check.objects.filter(code=plan["check"]).first()
    if check is None:
        raise ActionError(gettext("check '%(check)s' no longer exists") % {"check": plan["check"]})
    require_reason(check, reason)
    scope = threshold_scope(
        check, plan["threshold"], plan["filters"], plan["max_item_id"], parse_datetime(plan["as_of"])
    )
    changed = move(
        user, check.pk, scope, OPEN, BLINDED, batch=batch, reason=reason, note=note, threshold=plan["threshold"]
    )
    return Result("blind", batch, plan["count"], len(changed), changed)
