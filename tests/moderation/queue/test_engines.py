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

from moderation import actions, db, queue, scoring
from moderation.db import Names, Statement, portable, postgres
from moderation.models import Action, QueueItem, Review, Score

pytestmark = [pytest.mark.django_db, pytest.mark.engines]


def test_the_engine_is_chosen_by_the_database_vendor():
    expected = postgres if connection.vendor == "postgresql" else portable
    assert db.engine() is expected
    for name in ("apply_move", "read_and_hold", "holds_need_no_flush", "lock_batch", "write_scores"):
        assert callable(getattr(postgres, name)) and callable(getattr(portable, name)), name


@pytest.mark.parametrize("module", [actions, queue, scoring])
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


def unscored(reviews):
    """make_review's reviews without their score and queue item."""
    Score.objects.filter(review__in=reviews).delete()
    QueueItem.objects.filter(review__in=reviews).delete()
    return list(reviews)


def scores_write(classifier, review_ids, probabilities, no_flush=False):
    return db.ScoresWrite(
        classifier_id=classifier.pk,
        check_id=classifier.moderation_check_id,
        review_ids=review_ids,
        probabilities=probabilities,
        now=timezone.now(),
        no_flush=no_flush,
    )


def test_both_engines_write_a_tasks_scores_the_same_way(check, classifier, make_review):
    """New scores inserted, a score written before kept, a review deleted meanwhile skipped, the queue's
    sort key moved for every review that exists, and its decision kept."""
    scored_before = make_review(0.5, status=QueueItem.Status.BLINDED)
    fresh = unscored([make_review(0.1) for _ in range(3)])
    deleted = fresh.pop()
    deleted_id = deleted.pk
    deleted.delete()
    ids = [scored_before.pk, fresh[0].pk, deleted_id, fresh[1].pk]
    written = db.engine().write_scores(scores_write(classifier, ids, [0.9, 0.8, 0.7, 0.6]))
    assert written == 2
    scores = dict(Score.objects.filter(classifier=classifier).values_list("review_id", "probability"))
    assert scores == {scored_before.pk: 0.5, fresh[0].pk: 0.8, fresh[1].pk: 0.6}
    items = {q.review_id: q for q in QueueItem.objects.filter(moderation_check=check)}
    assert set(items) == {scored_before.pk, fresh[0].pk, fresh[1].pk}
    assert items[scored_before.pk].probability == 0.9 and items[scored_before.pk].status == "blinded"
    assert items[fresh[0].pk].status == "open" and items[fresh[0].pk].classifier_id == classifier.pk
    # A second write of the same task writes nothing new.
    assert db.engine().write_scores(scores_write(classifier, ids, [0.9, 0.8, 0.7, 0.6])) == 0


def test_an_inactive_classifiers_scores_do_not_move_the_queue(check, classifier, make_review):
    (review,) = unscored([make_review(0.1)])
    classifier.is_active = False
    classifier.save()
    assert db.engine().write_scores(scores_write(classifier, [review.pk], [0.99])) == 1
    assert Score.objects.filter(review=review, classifier=classifier).exists()
    assert not QueueItem.objects.filter(review=review).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_scores_skip_the_wal_flush_only_in_their_own_transaction(classifier, make_review, monkeypatch):
    """A worker's write is its own transaction and commits without waiting for the WAL flush (scores can
    be computed again); inside a caller's transaction, whose other writes may matter, it does not ask to.
    On PostgreSQL the setting is the transaction's own and ends with it."""
    from django.db import connection, transaction

    reviews = unscored([make_review(0.1) for _ in range(3)])
    engine, asked = db.engine(), []
    write_scores = engine.write_scores
    monkeypatch.setattr(engine, "write_scores", lambda write: asked.append(write.no_flush) or write_scores(write))
    scoring.write_scores(classifier, [reviews[0].pk], [0.4])
    with transaction.atomic():
        scoring.write_scores(classifier, [reviews[1].pk], [0.3])
    assert asked == [True, False]

    def setting():
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    postgresql = connection.vendor == "postgresql"
    with transaction.atomic():
        write_scores(scores_write(classifier, [reviews[2].pk], [0.2], no_flush=True))
        assert not postgresql or setting() == "off"
    with transaction.atomic():
        assert not postgresql or setting() == "on"
    assert Score.objects.filter(classifier=classifier, review__in=reviews).count() == 3
