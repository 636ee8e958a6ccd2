"""extract_attributes: tags sentences, one row per (review, attribute), idempotent, re-tags edited reviews;
the Celery task after scoring; the active tagger."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from attributes.models import AttributeModel, ReviewAttribute, TaggedReview
from moderation.models import Review

from .conftest import HOSTILE, phrase

pytestmark = pytest.mark.django_db


def extract(*args):
    out = StringIO()
    call_command("extract_attributes", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def rows(review):
    return {(r.attribute, r.polarity) for r in ReviewAttribute.objects.filter(review=review)}


def test_extraction_stores_the_strongest_sentence_per_attribute_with_its_span(make_review):
    moist, dry = phrase("moisture"), phrase("moisture", "neg")
    review = make_review(good_text=f"배송 빨라요.\u00a0{moist}", bad_text=f"{HOSTILE} {phrase('scent')}")
    assert "1 reviews tagged" in extract()
    stored = {r.attribute: r for r in ReviewAttribute.objects.filter(review=review)}
    assert stored["moisture"].polarity == "pos" and stored["scent"].polarity == "pos"
    for row in stored.values():
        text = getattr(review, row.field)
        assert row.start is not None and text[row.start : row.end].split() == row.sentence.split()
        assert row.probability == 1.0 and row.tagger.kind == "phrases"
    assert stored["moisture"].field == "good_text" and stored["scent"].field == "bad_text"
    # one row per (review, attribute): two sentences of one attribute give one row (the first, on a tie)
    other = make_review(good_text=f"{moist}\n{dry}")
    extract()
    (row,) = ReviewAttribute.objects.filter(review=other, attribute="moisture")
    assert row.sentence == moist and row.polarity == "pos"


def test_a_rerun_writes_nothing_and_an_edited_review_is_retagged(make_review):
    moist, scent = phrase("moisture"), phrase("scent")
    edited = make_review(good_text=moist)
    same = make_review(good_text=scent)
    nothing = make_review(good_text="배송이 빨라요.")
    first = extract()
    assert "3 reviews tagged, 0 re-tagged (text changed), 0 unchanged; 2 attribute rows written" in first
    before = list(ReviewAttribute.objects.order_by("pk").values_list("pk", "review_id", "attribute", "tagged_at"))
    tagged_before = list(TaggedReview.objects.order_by("pk").values_list("pk", "tagged_at"))

    again = extract()
    assert "0 reviews tagged, 0 re-tagged (text changed), 3 unchanged; 0 attribute rows written" in again
    assert (
        list(ReviewAttribute.objects.order_by("pk").values_list("pk", "review_id", "attribute", "tagged_at")) == before
    )
    assert list(TaggedReview.objects.order_by("pk").values_list("pk", "tagged_at")) == tagged_before

    Review.objects.filter(pk=edited.pk).update(good_text=scent)
    third = extract()
    assert "0 reviews tagged, 1 re-tagged (text changed), 2 unchanged; 1 attribute rows written" in third
    assert rows(edited) == {("scent", "pos")}  # the moisture row of the old text is gone
    assert rows(same) == {("scent", "pos")} and rows(nothing) == set()
    assert TaggedReview.objects.get(review=edited).text_hash == ReviewAttribute.objects.get(review=edited).text_hash


def test_blinded_reviews_only_with_reviews_all_and_since_filters(make_review):
    hidden = make_review(good_text=phrase("moisture"), visibility=Review.Visibility.BLINDED)
    shown = make_review(good_text=phrase("moisture"))
    extract()
    assert rows(hidden) == set() and rows(shown) == {("moisture", "pos")}
    assert "0 reviews tagged, 0 re-tagged (text changed), 0 unchanged" in extract("--since", "2999-12-31")
    assert "1 reviews tagged" in extract("--reviews", "all", "--batch", "1")
    assert rows(hidden) == {("moisture", "pos")}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--since", "2026-13-01"], "--since '2026-13-01' is not a date"),
        (["--since", "0001-01-01"], "--since 0001-01-01 is out of range"),
        (["--reviews", "hidden"], "--reviews 'hidden': choose visible or all"),
        (["--batch", "0"], "--batch '0': give a whole number from 1 to 10000"),
        (["--batch", "²"], "--batch '²'"),
    ],
)
def test_bad_arguments_are_refused_naming_them(args, message, make_review):
    make_review(good_text=phrase("moisture"))
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace("?", r"\?")):
        extract(*args)
    assert ReviewAttribute.objects.count() == 0


def test_the_phrase_tagger_is_registered_when_none_is_active(make_review):
    from attributes.taggers import active_tagger

    assert not AttributeModel.objects.exists()
    model = active_tagger()
    assert model.is_active and model.kind == "phrases" and model.taxonomy_version >= 1
    assert active_tagger().pk == model.pk and AttributeModel.objects.count() == 1
    # an older taxonomy's phrase tagger is replaced by the current one (and reviews are tagged again)
    AttributeModel.objects.filter(pk=model.pk).update(taxonomy_version=0)
    newer = active_tagger()
    assert newer.pk != model.pk and newer.is_active
    assert AttributeModel.objects.filter(is_active=True).count() == 1


def test_new_reviews_are_tagged_after_scoring(make_review, eager_tasks, monkeypatch):
    """The scoring task's success queues the attribute task for the same reviews (a Celery signal)."""
    from moderation import scoring, tasks

    review = make_review(good_text=phrase("moisture"))
    monkeypatch.setattr(scoring, "score_reviews", lambda ids, check_code=None: len(ids))
    tasks.score_reviews.delay([review.pk], None)
    assert rows(review) == {("moisture", "pos")}
    # a task that fails queues nothing
    failed = make_review(good_text=phrase("moisture"))

    def boom(ids, check_code=None):
        raise RuntimeError("scoring broke")

    monkeypatch.setattr(scoring, "score_reviews", boom)
    with pytest.raises(RuntimeError):
        tasks.score_reviews.delay([failed.pk], None)
    assert rows(failed) == set()
