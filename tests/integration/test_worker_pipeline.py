"""Reviews in through the API, scores out through a real Celery worker on
PostgreSQL and Redis, surviving a worker killed with SIGKILL mid-run."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Count
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from moderation.models import Check, Classifier, Product, QueueItem, Review, Score
from moderation.registry import activate_classifier
from moderation.tasks import sweep_unscored, waiting_tasks
from tests import tiny

from .conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(scope="module")
def slow_enough_classifier(model_dir):
    """Big enough that 500 reviews take a few seconds, so the kill lands mid-run (under HWADMIN_MODEL_DIR,
    where the workers load classifiers from)."""
    return tiny.make_classifier(model_dir / "slow-enough", hidden_size=96, layers=3, heads=4)


def ingest_client():
    user = get_user_model().objects.create(username="client-app")
    user.groups.add(Group.objects.get(name="ingest clients"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def scored(classifier):
    return Score.objects.filter(classifier=classifier).count()


def wait_for_scores(classifier, count, seconds):
    """Whether the classifier has `count` scores within `seconds`."""
    try:
        wait_for(lambda: scored(classifier) == count, timeout=seconds)
    except AssertionError:
        return False
    return True


def test_500_reviews_are_each_scored_exactly_once_despite_a_sigkilled_worker(
    worker_factory, slow_enough_classifier, settings
):
    check = Check.objects.get(code="unused")
    classifier = activate_classifier(
        Classifier.objects.create(moderation_check=check, name="tiny", path=str(slow_enough_classifier))
    )
    settings.HWADMIN = {**settings.HWADMIN, "SCORE_TASK_SIZE": 20}  # 25 tasks, so the kill lands mid-run
    worker = worker_factory(HWADMIN_SCORE_BATCH_SIZE="4").start()

    client = ingest_client()
    rows = tiny.sample_reviews(500)
    for start in range(0, 500, 100):
        response = client.post("/api/v1/reviews", rows[start : start + 100], format="json")
        assert response.status_code == 201, response.content
        assert response.json()["scoring"] == "queued"

    wait_for(lambda: scored(classifier) >= 60, timeout=120, message="the worker to start scoring")
    worker.kill()
    done_at_kill = scored(classifier)
    assert done_at_kill < 500, "the worker finished before the kill; the test proves nothing"

    worker_factory(HWADMIN_SCORE_BATCH_SIZE="4").start()
    # What the killed worker held unacknowledged comes back after the visibility timeout (6 s here). A message
    # it had just taken off the queue but not yet recorded as unacknowledged (kombu's Redis transport does the
    # two apart) is gone, and the kill lands right there when it follows a commit: that is what the periodic
    # sweep is for. Run it as beat does (there every HWADMIN_SWEEP_SECONDS) until every review is scored.
    deadline = time.monotonic() + 240
    while not wait_for_scores(classifier, 500, seconds=20):
        assert time.monotonic() < deadline, f"{scored(classifier)} of 500 reviews scored after restart and sweeps"
        sweep_unscored.delay()

    per_review = Score.objects.filter(classifier=classifier).values("review").annotate(n=Count("id"))
    assert per_review.count() == 500
    assert {row["n"] for row in per_review} == {1}
    assert QueueItem.objects.filter(classifier=classifier, status="open").count() == 500
    assert Review.objects.count() == 500


def test_the_sweep_scores_reviews_whose_tasks_were_lost(worker_factory, slow_enough_classifier):
    check = Check.objects.get(code="unused")
    classifier = activate_classifier(
        Classifier.objects.create(moderation_check=check, name="tiny", path=str(slow_enough_classifier))
    )
    # Reviews that reached the database while the broker was unreachable: no task was ever sent.
    product = Product.objects.create(external_id="p-lost")
    Review.objects.bulk_create(
        Review(
            source="app",
            external_id=f"lost-{i}",
            product=product,
            rating=5,
            good_text=text,
            written_at="2026-11-01T00:00:00Z",
        )
        for i, text in enumerate(tiny.sample_texts(60))
    )
    worker_factory().start()

    assert waiting_tasks() == 0, "tasks from an earlier test wait on the broker: the sweep would rightly skip"
    sweep_unscored.delay()
    wait_for(lambda: scored(classifier) == 60, timeout=120, message="the sweep to get every review scored")


def test_a_real_worker_tags_scored_reviews_with_the_shipped_back_off_tagger(worker_factory, tiny_classifier_dir):
    """After scoring, the worker's tag_review_attributes task loads the registered back-off tagger
    (numpy and safetensors in the worker, no scikit-learn) and writes its rows: a phrase's with
    probability 1.0, the regression's with its own."""
    from io import StringIO
    from pathlib import Path

    from django.conf import settings
    from django.core.management import call_command

    from attributes.models import AttributeModel, ReviewAttribute, TaggedReview

    check = Check.objects.get(code="unused")
    activate_classifier(Classifier.objects.create(moderation_check=check, name="tiny", path=str(tiny_classifier_dir)))
    shipped = Path(settings.BASE_DIR) / "models" / "attributes-backoff"
    call_command("register_attribute_model", str(shipped), "--activate", stdout=StringIO())
    tagger = AttributeModel.objects.get(is_active=True)
    worker = worker_factory().start()

    texts = [
        "향이 너무 좋아요",
        "성분도 순하고 좋아서 이걸 바르고 트러블이 난다거나 하지는 않았던 것 같아요.",
        "배송이 빨랐어요",
    ]
    rows = [dict(row, good_text=text) for row, text in zip(tiny.sample_reviews(3), texts)]
    response = ingest_client().post("/api/v1/reviews", rows, format="json")
    assert response.status_code == 201, response.content
    try:
        wait_for(
            lambda: TaggedReview.objects.filter(tagger=tagger).count() == 3,
            timeout=120,
            message="the worker to tag 3 reviews after scoring",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the worker's log:\n{worker.log()[-3000:]}") from None
    found = {(r.review.good_text, r.attribute): r for r in ReviewAttribute.objects.filter(tagger=tagger)}
    assert found[(texts[0], "scent")].probability == 1.0  # "향이 ... 좋" is a phrase
    breakouts = found[(texts[1], "breakouts")]  # no phrase says it
    assert breakouts.polarity == "pos" and 0.5 <= breakouts.probability < 1.0
