"""The database engines behind the queue's writes and page holds: one small interface, two modules.

`engine()` returns the module for the default connection's database, chosen once
by `connection.vendor`:

- `moderation.db.postgres`: each operation is one statement (data-modifying CTEs,
  FOR UPDATE SKIP LOCKED), written as raw SQL;
- `moderation.db.portable`: the same operations as a few ORM statements (SQLite
  in the unit tests; any database Django speaks).

Both modules provide

    apply_move(change, locked) -> (review ids moved, review ids whose visibility changed)
    read_and_hold(queryset, fields, user_id, check_id, size, until) -> rows (tuples of `fields`,
                                                                  which name "pk", "probability", "review_id")
    holds_need_no_flush()        # the current transaction may commit without a WAL flush
    lock_batch(batch)            # serialise transactions on one batch id until they end
    write_scores(write) -> number of scores inserted (a worker task's scores and queue items)

`moderation.actions`, `moderation.queue` and `moderation.scoring` hold the rules
(which rows, which statuses, who may, which classifier) and call these; nothing
else in the domain code asks which database it runs on. The tests marked
`engines` run on both (scripts/test).

The raw SQL takes table and column names from the models' `_meta` (`Names`) and
builds each statement with its parameters side by side (`Statement`).
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from types import ModuleType
from typing import Any

from django.db import connection, models

from ..models import QueueItem, Review

OPEN, BLINDED = QueueItem.Status.OPEN, QueueItem.Status.BLINDED


@cache
def engine() -> ModuleType:
    """The engine module for the default database (decided on the first call, then kept)."""
    if connection.vendor == "postgresql":
        from . import postgres

        return postgres
    from . import portable

    return portable


@dataclass
class Move:
    """One move of queue items under one check, with what its audit rows record."""

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
    now: datetime

    @property
    def decided(self) -> tuple[int | None, datetime | None]:
        """(decided_by id, decided_at) of the moved items: cleared when they reopen."""
        return (None, None) if self.after == OPEN else (self.user_id, self.now)

    @property
    def visibility(self) -> Review.Visibility | None:
        """The visibility the moved reviews get (None: unchanged)."""
        if self.after == BLINDED:
            return Review.Visibility.BLINDED
        if self.before == BLINDED:
            return Review.Visibility.VISIBLE
        return None


@dataclass
class ScoresWrite:
    """One scoring task's results: a score per review, and the queue's sort key while the classifier
    is still active."""

    classifier_id: int
    check_id: int
    review_ids: Sequence[int]
    probabilities: Sequence[float]
    now: datetime
    # Commit without waiting for the WAL flush (PostgreSQL): only when the write is its own transaction.
    # Scores can always be computed again: a score lost in a database crash leaves its review unscored,
    # and the periodic sweep queues it again.
    no_flush: bool = False


class Names:
    """A model's quoted table and column names, read from its `_meta`, for raw SQL.

    `str(Names(QueueItem))` is the quoted table; `Names(QueueItem).held_by` the quoted
    column of the field `held_by` ("held_by_id"); `.pk` the primary key's column.
    """

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model

    def __str__(self) -> str:
        return connection.ops.quote_name(self.model._meta.db_table)

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        meta = self.model._meta
        field = meta.pk if name == "pk" else meta.get_field(name)
        return connection.ops.quote_name(field.column)


class Statement:
    """Raw SQL built in parts, each part with its own parameters: `add(sql, *params)`."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, sql: str, *params: Any) -> "Statement":
        if sql.count("%s") != len(params):
            raise ValueError(f"{sql.count('%s')} placeholders but {len(params)} parameters in {sql[:80]!r}")
        self.parts.append(sql)
        self.params.extend(params)
        return self

    def extend(self, sql: str, params: Sequence[Any]) -> "Statement":
        """A part compiled elsewhere (a queryset's SQL and its parameters)."""
        self.parts.append(sql)
        self.params.extend(params)
        return self

    @property
    def sql(self) -> str:
        return "".join(self.parts)
