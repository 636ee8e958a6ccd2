"""A review whose text changes after a decision: a keep (or unblind) is reopened, a blind stands.

Before, a kept review edited through the ingest API stayed `kept`: after rescoring it was
missing from the queue at any probability and still public (a moderation bypass).
"""

import pytest

from moderation import actions, ingest
from moderation.models import Action, QueueItem, Review

from .test_actions import public_ids

# Runs twice: on SQLite in the unit run, on PostgreSQL in the integration run (scripts/test).
pytestmark = [pytest.mark.django_db, pytest.mark.engines]


def edit(review, text):
    """The ingest path: the same (source, external_id) sent again with another text."""
    item = {
        "source": review.source,
        "external_id": review.external_id,
        "product": {"external_id": review.product.external_id, "name": review.product.name},
        "author_ref": review.author_ref,
        "rating": review.rating,
        "good_text": text,
        "bad_text": "",
        "written_at": review.written_at.isoformat(),
    }
    return ingest.store_reviews(ingest.validate_reviews([item]).items)


def status(review, check):
    item = QueueItem.objects.filter(review=review, moderation_check=check).first()
    return item.status if item else None


def test_a_kept_review_whose_text_changes_is_reopened_with_an_audit_row(check, reviewer, make_review):
    review = make_review(0.2, good_text="촉촉하고 좋아요")
    actions.keep(reviewer, check, [review.pk])
    assert status(review, check) == QueueItem.Status.KEPT
    result = edit(review, "아직 안 써봤어요. 써보고 후기 남길게요")
    assert review.pk in result.rescore
    assert status(review, check) == QueueItem.Status.OPEN  # back in the queue, to be scored and decided
    reopen = Action.objects.filter(review=review).order_by("-pk").first()
    assert reopen.kind == Action.Kind.REOPEN and reopen.reason == ingest.TEXT_CHANGED and reopen.user is None
    assert actions.move_of(reopen) == (actions.KEPT, actions.OPEN)
    # the history keeps the earlier decision beside the reopen
    assert list(Action.objects.filter(review=review).order_by("pk").values_list("kind", flat=True)) == [
        "keep",
        "reopen",
    ]
    # and the reopened item can be blinded like any open one
    actions.blind(reviewer, check, [review.pk], reason=check.reasons[0])
    assert status(review, check) == QueueItem.Status.BLINDED
    assert review.external_id not in public_ids()


def test_an_unblinded_review_whose_text_changes_is_reopened(check, reviewer, make_review):
    review = make_review(0.9)
    actions.blind(reviewer, check, [review.pk], reason=check.reasons[0])
    actions.unblind(reviewer, check, [review.pk])
    assert status(review, check) == QueueItem.Status.KEPT
    edit(review, "배송만 빨랐어요 아직 개봉 전")
    assert status(review, check) == QueueItem.Status.OPEN
    assert Action.objects.filter(review=review, kind=Action.Kind.REOPEN, reason=ingest.TEXT_CHANGED).count() == 1


def test_a_blinded_review_stays_blinded_and_hidden_when_its_text_changes(check, reviewer, make_review):
    review = make_review(0.95)
    actions.blind(reviewer, check, [review.pk], reason=check.reasons[0])
    before = Action.objects.count()
    edit(review, "이제 써봤는데 촉촉해요")
    review.refresh_from_db()
    assert status(review, check) == QueueItem.Status.BLINDED
    assert review.visibility == Review.Visibility.BLINDED
    assert review.external_id not in public_ids()
    assert Action.objects.count() == before  # nothing to reopen


@pytest.mark.parametrize("undone", [False, True])
def test_an_open_or_undone_review_whose_text_changes_waits_for_its_new_score(check, reviewer, make_review, undone):
    review = make_review(0.4)
    if undone:
        result = actions.keep(reviewer, check, [review.pk])
        actions.undo(reviewer, result.batch)
    assert status(review, check) == QueueItem.Status.OPEN
    before = Action.objects.count()
    edit(review, "완전히 새로 쓴 리뷰예요 아직 안 뜯었어요")
    assert status(review, check) is None  # the stale score left the queue; the rescore puts it back
    assert review.scores.count() == 0
    assert Action.objects.count() == before


def test_the_review_page_shows_the_decision_the_text_change_reopened(check, reviewer, make_review):
    from django.test import Client

    from .conftest import PASSWORD

    review = make_review(0.2, good_text="촉촉하고 좋아요")
    actions.keep(reviewer, check, [review.pk])
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.login(username=reviewer.username, password=PASSWORD)
    assert 'id="reopened"' not in client.get(f"/reviews/{review.pk}/").content.decode()  # decided, not reopened
    edit(review, "아직 안 써봤어요. 써보고 후기 남길게요")
    page = client.get(f"/reviews/{review.pk}/").content.decode()
    assert 'id="reopened"' in page and f"Reopened under {check.name}: the text changed on" in page
    assert f"Earlier decision: keep by {reviewer.username} on" in page
    # a new decision ends it: the banner is for items still waiting after the change
    actions.blind(reviewer, check, [review.pk], reason=check.reasons[0])
    assert 'id="reopened"' not in client.get(f"/reviews/{review.pk}/").content.decode()
