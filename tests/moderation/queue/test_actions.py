"""The write side: blind, keep, unblind, undo and threshold blind."""

import pytest
from django.test import Client

from moderation import actions
from moderation.models import Action, QueueItem, Review
from tests.users import REASON

# Runs twice: on SQLite in the unit run, on PostgreSQL in the integration run (scripts/test).
pytestmark = pytest.mark.engines


def state(review):
    review.refresh_from_db()
    return review.visibility, review.queue_items.get().status


def public_ids(product="p-1"):
    body = Client().get(f"/api/v1/products/{product}/reviews").json()
    return {r["external_id"] for r in body["reviews"]}


def test_blind_changes_rows_logs_one_action_each_and_hides_them(check, reviewer, make_review):
    a, b, c = make_review(0.9), make_review(0.8), make_review(0.7)
    assert public_ids() == {a.external_id, b.external_id, c.external_id}
    result = actions.blind(reviewer, check, [a.pk, b.pk], REASON, "직접 확인")
    assert result.changed == 2 and result.message == "Blinded 2 reviews."
    assert state(a) == ("blinded", "blinded") and state(c) == ("visible", "open")
    rows = list(Action.objects.filter(batch=result.batch).order_by("review_id"))
    assert [(r.review_id, r.kind, r.user, r.reason, r.note) for r in rows] == [
        (a.pk, "blind", reviewer, REASON, "직접 확인"),
        (b.pk, "blind", reviewer, REASON, "직접 확인"),
    ]
    assert rows[0].probability == 0.9 and rows[0].classifier_id is not None
    assert public_ids() == {c.external_id}
    # Blinding again changes nothing and logs nothing.
    again = actions.blind(reviewer, check, [a.pk, b.pk, c.pk], REASON)
    assert again.changed == 1 and Action.objects.count() == 3
    assert "2 of the 3 were already decided" in again.message


def test_blind_needs_one_of_the_checks_reasons(check, reviewer, make_review):
    review = make_review(0.9)
    with pytest.raises(actions.ActionError, match="choose a reason"):
        actions.blind(reviewer, check, [review.pk], "")
    with pytest.raises(actions.ActionError, match="not a reason"):
        actions.blind(reviewer, check, [review.pk], "because")
    assert state(review) == ("visible", "open") and not Action.objects.exists()


def test_keep_leaves_the_queue_as_a_decision(check, reviewer, make_review):
    review = make_review(0.6)
    result = actions.keep(reviewer, check, [review.pk])
    assert state(review) == ("visible", "kept")
    item = review.queue_items.get()
    assert item.decided_by == reviewer and item.decided_at is not None
    assert Action.objects.get(batch=result.batch).kind == "keep"


def test_undo_reverses_the_whole_batch_once(check, reviewer, other_reviewer, make_review):
    a, b, c = make_review(0.9), make_review(0.8), make_review(0.7)
    blind = actions.blind(reviewer, check, [a.pk, b.pk, c.pk], REASON)
    # Someone unblinds c in the meantime: undo leaves it alone.
    actions.unblind(other_reviewer, check, [c.pk])
    undo = actions.undo(reviewer, blind.batch)
    assert undo.changed == 2 and "1 of the 3 had changed since" in undo.message
    assert state(a) == ("visible", "open") and state(c) == ("visible", "kept")
    reverted = Action.objects.filter(batch=undo.batch)
    assert {(r.kind, r.reverts.batch) for r in reverted} == {("unblind", blind.batch)}
    assert actions.undo(reviewer, blind.batch).changed == 0  # nothing left to reverse
    # Undoing the undo blinds again.
    redo = actions.undo(reviewer, undo.batch)
    assert redo.changed == 2 and state(a) == ("blinded", "blinded")


def test_undo_of_keep_and_unblind(check, reviewer, make_review):
    kept = make_review(0.5)
    hidden = make_review(0.95, status=QueueItem.Status.BLINDED)
    keep = actions.keep(reviewer, check, [kept.pk])
    unblind = actions.unblind(reviewer, check, [hidden.pk])
    assert state(hidden) == ("visible", "kept")
    assert actions.last_batch(reviewer) == unblind.batch
    actions.undo(reviewer, unblind.batch)
    assert state(hidden) == ("blinded", "blinded")
    assert actions.last_batch(reviewer) == keep.batch
    actions.undo(reviewer, keep.batch)
    assert state(kept) == ("visible", "open")
    assert actions.last_batch(reviewer) is None


def test_undo_of_an_unknown_batch_says_so(reviewer):
    with pytest.raises(actions.ActionError, match="no action has batch id"):
        actions.undo(reviewer, "7b0b2c9e-3f6a-4a53-9a3e-2d4c5f6a7b8c")
    with pytest.raises(actions.ActionError, match="not a batch id"):
        actions.undo(reviewer, "yesterday")


def test_threshold_blind_acts_on_what_it_showed(check, reviewer, make_review):
    shown = [make_review(p) for p in (0.99, 0.97, 0.95)]
    below = make_review(0.9)
    other_brand = make_review(0.98, product="p-9", brand="다른브랜드")
    preview = actions.preview_threshold(check, 0.95, {"brand": "라운드랩"}, user=reviewer)
    assert preview.count == 3
    assert [item.review_id for item in preview.sample] == [r.pk for r in shown]
    late = make_review(0.999)  # arrives after the confirmation was shown
    result = actions.blind_above(reviewer, preview.token, REASON)
    assert result.changed == 3 and result.message == "Blinded 3 reviews."
    assert all(state(r) == ("blinded", "blinded") for r in shown)
    for untouched in (below, other_brand, late):
        assert state(untouched) == ("visible", "open")
    assert set(Action.objects.filter(batch=result.batch).values_list("threshold", flat=True)) == {0.95}


def test_threshold_confirmation_cannot_be_forged(check, reviewer, make_review):
    make_review(0.99)
    preview = actions.preview_threshold(check, 0.5, user=reviewer)
    with pytest.raises(actions.ActionError, match="not valid"):
        actions.blind_above(reviewer, preview.token.replace(":", "x:", 1), REASON)
    assert not Review.objects.filter(visibility="blinded").exists()


def test_unblind_keeps_a_review_hidden_while_another_check_blinds_it(
    check, reviewer, make_review, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from moderation.models import Check, Classifier

    ads = Check.objects.create(code="ads", name="광고 리뷰", position=9)
    ads_classifier = Classifier.objects.create(
        moderation_check=ads, name="electra-ads-v1", path="/m/ads", is_active=True
    )
    both, one = make_review(0.9), make_review(0.8)
    QueueItem.objects.create(
        review=both,
        moderation_check=ads,
        probability=0.7,
        classifier=ads_classifier,
        scored_at=timezone.now(),
        status=QueueItem.Status.BLINDED,
    )
    actions.blind(reviewer, check, [both.pk, one.pk], REASON)
    assert state(one) == ("blinded", "blinded")
    unblind = actions.unblind(reviewer, check, [both.pk, one.pk])
    assert unblind.changed == 2 and sorted(unblind.review_ids) == sorted([both.pk, one.pk])
    # Both items of this check are decided (kept), but `both` stays hidden: the ads check still blinds it.
    assert QueueItem.objects.filter(moderation_check=check, status="kept").count() == 2
    assert state(one) == ("visible", "kept")
    both.refresh_from_db()
    assert both.visibility == "blinded"
    assert public_ids() == {one.external_id}
    # Unblinding it under the ads check shows it.
    actions.unblind(reviewer, ads, [both.pk])
    both.refresh_from_db()
    assert both.visibility == "visible"


def test_a_move_logs_what_each_review_had_and_only_what_changed(check, reviewer, other_reviewer, make_review):
    reviews = [make_review(p) for p in (0.99, 0.98, 0.97, 0.96)]
    kept = actions.keep(other_reviewer, check, [reviews[1].pk])
    preview = actions.preview_threshold(check, 0.95, user=reviewer)
    assert preview.count == 3
    result = actions.blind_above(reviewer, preview.token, REASON, "일괄")
    assert result.changed == 3 and result.review_ids == sorted(r.pk for r in reviews if r.pk != reviews[1].pk)
    rows = Action.objects.filter(batch=result.batch).order_by("review_id")
    assert [(a.review_id, a.kind, a.user, a.reason, a.note, a.probability, a.threshold) for a in rows] == [
        (r.pk, "blind", reviewer, REASON, "일괄", p, 0.95)
        for r, p in ((reviews[0], 0.99), (reviews[2], 0.97), (reviews[3], 0.96))
    ]
    assert all(a.classifier_id for a in rows)
    items = QueueItem.objects.filter(review_id__in=result.review_ids)
    assert {(i.status, i.decided_by_id, i.held_by_id) for i in items} == {("blinded", reviewer.pk, None)}
    assert Action.objects.get(batch=kept.batch).kind == "keep"
    # Undo reverses the whole batch: new rows, one per review, each pointing at the row it reverts.
    undo = actions.undo(reviewer, result.batch)
    assert undo.changed == 3
    assert {(a.review_id, a.reverts.review_id, a.kind) for a in Action.objects.filter(batch=undo.batch)} == {
        (pk, pk, "unblind") for pk in result.review_ids
    }
    assert {
        (i.status, i.decided_by_id, i.decided_at) for i in QueueItem.objects.filter(review_id__in=result.review_ids)
    } == {("open", None, None)}
    assert public_ids() == {r.external_id for r in reviews}
