"""The read side: order, filters, keyset pagination and holds."""

from datetime import timedelta

import pytest
from django.utils import timezone

from moderation import queue
from moderation.models import QueueItem

# Runs twice: on SQLite in the unit run, on PostgreSQL in the integration run (scripts/test).
pytestmark = pytest.mark.engines


def probabilities(page):
    return [item.probability for item in page.items]


def test_queue_is_sorted_by_probability_then_newest(check, reviewer, make_review):
    low = make_review(0.2)
    tie_old = make_review(0.8)
    high = make_review(0.99)
    tie_new = make_review(0.8)
    make_review(0.95, status=QueueItem.Status.KEPT)
    page = queue.page(check, reviewer, hold=False)
    assert [item.review_id for item in page.items] == [high.pk, tie_new.pk, tie_old.pk, low.pk]


def test_filters_combine(check, reviewer, make_review):
    target = make_review(0.7, good_text="선물용으로 샀어요", rating=4, product="p-2", brand="토리든", category="세럼")
    make_review(0.7, good_text="선물용으로 샀어요", rating=5, product="p-2", brand="토리든", category="세럼")
    make_review(0.3, good_text="선물용으로 샀어요", rating=4, product="p-2", brand="토리든", category="세럼")
    make_review(0.7, good_text="선물용으로 샀어요", rating=4, product="p-3", brand="토리든", category="크림")
    make_review(0.7, good_text="매일 써요", rating=4, product="p-2", brand="토리든", category="세럼")
    filters = {
        "p_min": 0.5,
        "p_max": 0.9,
        "brand": "토리든",
        "category": "세럼",
        "product": "p-2",
        "rating": [4],
        "q": "선물",
    }
    assert [i.review_id for i in queue.page(check, reviewer, filters, hold=False).items] == [target.pk]
    written = timezone.localtime(target.written_at).date()  # the filter takes dates in TIME_ZONE
    assert queue.page(
        check, reviewer, {**filters, "date_from": written.isoformat(), "date_to": written.isoformat()}, hold=False
    ).items
    assert not queue.page(
        check, reviewer, {**filters, "date_from": (written + timedelta(days=1)).isoformat()}, hold=False
    ).items


def test_keyset_pages_cover_the_queue_once(check, reviewer, make_review):
    for i in range(23):
        make_review(round((i % 7) / 7, 3))  # many ties
    seen, after = [], None
    while True:
        page = queue.page(check, reviewer, after=after, size=5, hold=False)
        seen += [(item.probability, item.review_id) for item in page.items]
        after = page.next_cursor
        if after is None:
            break
    assert len(seen) == 23 and len(set(seen)) == 23
    assert seen == sorted(seen, key=lambda key: (-key[0], -key[1]))


def test_bad_cursor_says_what_to_send(check, reviewer):
    with pytest.raises(queue.CursorError, match="probability_reviewid"):
        queue.page(check, reviewer, after="nonsense", hold=False)


def test_two_reviewers_get_different_rows_and_holds_end(check, reviewer, other_reviewer, make_review):
    for i in range(6):
        make_review(0.9 - i / 100)
    first = queue.page(check, reviewer, size=3)
    second = queue.page(check, other_reviewer, size=3)
    assert {i.review_id for i in first.items}.isdisjoint({i.review_id for i in second.items})
    assert len(second.items) == 3
    # The holder sees their own rows again.
    again = queue.page(check, reviewer, size=3)
    assert [i.review_id for i in again.items] == [i.review_id for i in first.items]
    # Leaving releases them.
    queue.release(reviewer, check)
    assert queue.page(check, other_reviewer, size=6, hold=False).items[0].review_id == first.items[0].review_id
    # A hold times out.
    queue.page(check, reviewer, size=3)
    QueueItem.objects.filter(held_by=reviewer).update(held_until=timezone.now() - timedelta(seconds=1))
    assert len(queue.page(check, other_reviewer, size=6, hold=False).items) == 6
