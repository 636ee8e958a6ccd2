"""The two database engines behind one interface (moderation/db): chosen in one place, SQL built from `_meta`.

Marked `engines`: these run on SQLite in the unit run and on PostgreSQL in the integration run,
where `engine()` must pick the other module.
"""

import ast
import inspect
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import FieldDoesNotExist
from django.db import connection
from django.utils import timezone

from moderation import actions, db, queue
from moderation.db import Names, Statement, portable, postgres
from moderation.models import Action, QueueItem, Review

pytestmark = [pytest.mark.django_db, pytest.mark.engines]


def test_the_engine_is_chosen_by_the_database_vendor():
    expected = postgres if connection.vendor == "postgresql" else portable
    assert db.engine() is expected
    for name in ("apply_move", "read_and_hold", "holds_need_no_flush", "lock_batch"):
        assert callable(getattr(postgres, name)) and callable(getattr(portable, name)), name


@pytest.mark.parametrize("module", [actions, queue])
def test_the_domain_modules_never_ask_which_database_they_run_on(module):
    """The rules live in actions.py and queue.py; raw SQL and vendor checks live in moderation/db."""
    tree = ast.parse(inspect.getsource(module))
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert "vendor" not in attributes and "cursor" not in attributes


def test_table_and_column_names_come_from_the_models_meta():
    quote = connection.ops.quote_name
    assert str(Names(QueueItem)) == quote(QueueItem._meta.db_table)
    assert Names(QueueItem).moderation_check == quote("check_id")  # db_column, not the field's name
    assert Names(QueueItem).held_by == quote("held_by_id")
    assert Names(Action).pk == quote("id")
    assert Names(Review).visibility == quote("visibility")
    with pytest.raises(FieldDoesNotExist, match="no field named 'nope'"):
        _ = Names(QueueItem).nope


def test_a_statement_part_carries_exactly_its_own_parameters():
    statement = Statement().add("SELECT %s", 1).extend(" + %s", [2]).add(" + %s + %s", 3, 4)
    assert statement.sql == "SELECT %s + %s + %s + %s" and statement.params == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="2 placeholders but 1 parameters"):
        Statement().add("SELECT %s, %s", 1)


def test_both_engines_answer_the_same_read_and_hold(check, reviewer, make_review):
    """The engine's page read returns tuples of the fields asked, in page order, and holds the first `size`."""
    reviews = [make_review(p) for p in (0.9, 0.8, 0.7)]
    until = timezone.now() + timedelta(minutes=5)
    queryset = queue.open_items(check)[:3]
    rows = db.engine().read_and_hold(queryset, ("pk", "review_id", "probability"), reviewer.pk, check.pk, 2, until)
    assert [row[1] for row in rows] == [r.pk for r in reviews]
    held = set(QueueItem.objects.filter(held_by=reviewer).values_list("review_id", flat=True))
    assert held == {reviews[0].pk, reviews[1].pk}


def test_an_engine_move_of_no_rows_changes_nothing(check, reviewer):
    change = db.Move(
        user_id=reviewer.pk,
        check_id=check.pk,
        before="open",
        after="blinded",
        kind="blind",
        batch=uuid.uuid4(),
        reason="",
        note="",
        threshold=None,
        reverts={},
        now=timezone.now(),
    )
    locked = QueueItem.objects.filter(review_id__in=[]).select_for_update().order_by("pk")
    assert db.engine().apply_move(change, locked) == ([], [])
    assert not Action.objects.exists()
