"""Several reviewers at once, on PostgreSQL (row locks are what make this safe)."""

import threading

import pytest
from django.db import connection

from moderation import actions, queue
from moderation.models import Action, QueueItem, Review
from tests.users import REASON

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def run_together(*calls):
    """Run the calls in threads released at the same instant; return their results (or raise their errors)."""
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), []

    def worker(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def test_two_reviewers_blinding_overlapping_sets(postgres, check, reviewer, other_reviewer, make_review):
    reviews = [make_review(0.5 + i / 100) for i in range(40)]
    ids = [r.pk for r in reviews]
    done = []
    for round_ in range(3):
        if round_:
            for result in done:
                actions.undo(reviewer, result.batch)
            assert QueueItem.objects.filter(status="open").count() == 40
        done = run_together(
            lambda: actions.blind(reviewer, check, ids[:30], REASON),
            lambda: actions.blind(other_reviewer, check, ids[10:], REASON),
        )
        assert sum(result.changed for result in done) == 40
        assert sorted(done[0].review_ids + done[1].review_ids) == ids
        assert Review.objects.filter(pk__in=ids, visibility="blinded").count() == 40
    blinds = Action.objects.filter(kind="blind", reverts__isnull=True)
    assert blinds.count() == 40 * 3
    # Within each round every review was blinded exactly once.
    per_batch = {}
    for batch, review_id in blinds.values_list("batch", "review_id"):
        per_batch.setdefault(batch, []).append(review_id)
    assert len(per_batch) == 6


def test_threshold_blind_racing_a_selected_blind(postgres, check, reviewer, other_reviewer, make_review):
    reviews = [make_review(0.9 + i / 1000) for i in range(30)]
    preview = actions.preview_threshold(check, 0.9, user=reviewer)
    assert preview.count == 30
    threshold, selected = run_together(
        lambda: actions.blind_above(reviewer, preview.token, REASON),
        lambda: actions.blind(other_reviewer, check, [r.pk for r in reviews[::2]], REASON),
    )
    assert threshold.changed + selected.changed == 30
    assert Action.objects.filter(kind="blind").count() == 30
    assert Action.objects.values("review_id").distinct().count() == 30


def test_reviewers_opening_the_queue_together_get_different_rows(
    postgres, check, reviewer, other_reviewer, make_review
):
    for i in range(20):
        make_review(0.5 + i / 100)
    first, second = run_together(
        lambda: queue.page(check, reviewer, size=8),
        lambda: queue.page(check, other_reviewer, size=8),
    )
    a, b = {i.review_id for i in first.items}, {i.review_id for i in second.items}
    assert len(a) == len(b) == 8 and a.isdisjoint(b)
    assert QueueItem.objects.filter(held_by=reviewer).count() == 8
    assert QueueItem.objects.filter(held_by=other_reviewer).count() == 8


def test_page_loads_and_a_threshold_blind_at_once_never_deadlock(
    postgres, check, reviewer, other_reviewer, make_review
):
    for i in range(60):
        make_review(0.5 + i / 200)
    queue.page(check, reviewer, size=20)  # the reviewer holds rows the threshold blind also wants
    preview = actions.preview_threshold(check, 0.5, user=other_reviewer)

    def reload_pages():
        for _ in range(5):
            queue.page(check, reviewer, size=20)

    results = run_together(
        reload_pages,
        reload_pages,  # the same reviewer in a second tab
        lambda: actions.blind_above(other_reviewer, preview.token, REASON),
    )
    assert results[2].changed == 60
    assert Action.objects.count() == 60
