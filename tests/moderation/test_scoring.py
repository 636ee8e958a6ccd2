"""Scoring: the batcher, idempotent task runs, the per-process model cache."""

import pytest

from moderation import scoring
from moderation.models import Check, Classifier, QueueItem, Review, Score
from moderation.registry import activate_classifier
from tests import tiny


@pytest.fixture(scope="module")
def loaded(tiny_classifier_dir):
    return scoring.load_model_dir(tiny_classifier_dir)


def test_batched_probabilities_equal_one_by_one(loaded):
    model, tokenizer, max_length = loaded
    texts = tiny.sample_texts(120)
    assert len({len(t) for t in texts}) > 50, "the texts must vary in length for the test to mean anything"
    batched = scoring.predict_proba(model, tokenizer, texts, max_length, batch_size=16)
    single = [scoring.predict_proba(model, tokenizer, [t], max_length, batch_size=1)[0] for t in texts]
    assert len(batched) == len(texts)
    assert max(abs(a - b) for a, b in zip(batched, single)) < 1e-5
    # a random tiny model scores everything near 0.5: compare beyond the 6th decimal
    assert len({round(p, 9) for p in batched}) > 10, "different texts should get different probabilities"


def test_long_texts_are_truncated_to_the_model_length(loaded):
    model, tokenizer, max_length = loaded
    long_text = " ".join(tiny.sample_texts(200))
    [p] = scoring.predict_proba(model, tokenizer, [long_text], max_length)
    [q] = scoring.predict_proba(model, tokenizer, [long_text + " 추가 문장은 잘려서 영향이 없어요"], max_length)
    assert 0.0 <= p <= 1.0
    assert p == pytest.approx(q, abs=1e-6)


@pytest.fixture
def reviews(db):
    from moderation import ingest

    stored = ingest.store_reviews(ingest.validate_reviews(tiny.sample_reviews(40)).items)
    return sorted(stored.created)


@pytest.fixture
def active_classifier(db, tiny_classifier_dir):
    # the per-process model cache is keyed by classifier id and path, and test databases reuse ids: start empty
    scoring._cache.clear()
    check = Check.objects.get(code="unused")
    classifier = Classifier.objects.create(moderation_check=check, name="tiny", path=str(tiny_classifier_dir))
    return activate_classifier(classifier)


def test_scoring_twice_writes_one_score_per_review(reviews, active_classifier):
    assert scoring.score_reviews(reviews) == len(reviews)
    assert scoring.score_reviews(reviews) == 0
    assert Score.objects.count() == len(reviews)
    assert QueueItem.objects.filter(status="open").count() == len(reviews)
    item = QueueItem.objects.order_by("-probability").first()
    score = Score.objects.get(review=item.review)
    assert item.probability == score.probability
    assert item.classifier == active_classifier


def test_the_text_scored_is_good_and_bad_parts_joined(reviews, active_classifier, loaded):
    model, tokenizer, max_length = loaded
    review = Review.objects.get(pk=reviews[0])
    review.bad_text = "단점은 향이 강해요"
    review.save()
    scoring.score_reviews([review.pk])
    expected = scoring.predict_proba(model, tokenizer, [review.good_text + "\n" + review.bad_text], max_length)[0]
    assert Score.objects.get(review=review).probability == pytest.approx(expected, abs=1e-6)


def test_blinded_reviews_are_not_scored(reviews, active_classifier):
    Review.objects.filter(pk=reviews[0]).update(visibility="blinded")
    scoring.score_reviews(reviews)
    assert not Score.objects.filter(review_id=reviews[0]).exists()
    assert Score.objects.count() == len(reviews) - 1


def test_the_model_is_loaded_once_and_reloaded_when_the_active_classifier_changes(
    reviews, active_classifier, tiny_classifier_dir, monkeypatch
):
    scoring._cache.clear()
    loads = []
    real_load = scoring.load_model_dir
    monkeypatch.setattr(scoring, "load_model_dir", lambda path: loads.append(path) or real_load(path))
    scoring.score_reviews(reviews[:10])
    scoring.score_reviews(reviews[10:20])
    assert len(loads) == 1

    second = Classifier.objects.create(
        moderation_check=active_classifier.moderation_check, name="tiny-2", path=str(tiny_classifier_dir)
    )
    activate_classifier(second)
    scoring.score_reviews(reviews[:5])
    assert len(loads) == 2
    assert Score.objects.filter(classifier=second).count() == 5
    # The queue now sorts those five by the new classifier's scores.
    assert QueueItem.objects.filter(classifier=second).count() == 5


def test_scores_from_a_classifier_deactivated_meanwhile_do_not_move_the_queue(
    reviews, active_classifier, tiny_classifier_dir
):
    scoring.score_reviews(reviews[:3])
    newer = Classifier.objects.create(
        moderation_check=active_classifier.moderation_check, name="newer", path=str(tiny_classifier_dir)
    )
    activate_classifier(newer)
    # A task that started with the old classifier finishes late.
    scoring.write_scores(active_classifier, reviews[3:6], [0.99, 0.98, 0.97])
    assert Score.objects.filter(classifier=active_classifier).count() == 6
    assert not QueueItem.objects.filter(review_id__in=reviews[3:6]).exists()


def test_decisions_survive_rescoring(reviews, active_classifier, tiny_classifier_dir):
    scoring.score_reviews(reviews[:2])
    QueueItem.objects.filter(review_id=reviews[0]).update(status="blinded")
    newer = activate_classifier(
        Classifier.objects.create(
            moderation_check=active_classifier.moderation_check, name="n", path=str(tiny_classifier_dir)
        )
    )
    scoring.score_reviews(reviews[:2])
    item = QueueItem.objects.get(review_id=reviews[0])
    assert item.status == "blinded"
    assert item.classifier == newer


def test_no_active_classifier_means_nothing_scored(reviews):
    assert scoring.score_reviews(reviews) == 0
    assert Score.objects.count() == 0
