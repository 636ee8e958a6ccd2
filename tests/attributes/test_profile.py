"""The profile: per attribute, the share of a product's visible tagged reviews that mention it, pos/neg,
with counts and 95 % Wilson intervals, on planted rows."""

import pytest

from attributes.models import AttributeModel, ReviewAttribute, TaggedReview
from attributes.profile import product_group, profile, wilson
from moderation.models import Product, Review

pytestmark = pytest.mark.django_db


def test_wilson_interval_matches_known_values():
    low, high = wilson(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    low, high = wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson(81, 263)
    assert low == pytest.approx(0.2553, abs=1e-4) and high == pytest.approx(0.3662, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def plant(review, model, attribute, polarity):
    ReviewAttribute.objects.create(
        review=review,
        tagger=model,
        attribute=attribute,
        polarity=polarity,
        probability=1.0,
        sentence="…",
        field="good_text",
        text_hash="h",
    )


@pytest.fixture
def model(db):
    return AttributeModel.objects.create(
        name="phrases-test", kind="phrases", path="x", taxonomy_version=1, is_active=True
    )


def test_shares_and_intervals_on_planted_data(make_review, model):
    reviews = [make_review(good_text=f"리뷰 {n}") for n in range(10)]
    for review in reviews:
        TaggedReview.objects.create(review=review, tagger=model, text_hash="h")
    for review in reviews[:4]:
        plant(review, model, "moisture", "pos")
    plant(reviews[4], model, "moisture", "neg")
    plant(reviews[0], model, "packaging", "present")
    # not counted: a blinded review, an untagged review, another product, another tagger
    blinded = make_review(good_text="숨김", visibility=Review.Visibility.BLINDED)
    TaggedReview.objects.create(review=blinded, tagger=model, text_hash="h")
    plant(blinded, model, "moisture", "pos")
    make_review(good_text="아직 태깅 전")
    elsewhere = make_review(good_text="다른 제품", product="p-2")
    TaggedReview.objects.create(review=elsewhere, tagger=model, text_hash="h")
    plant(elsewhere, model, "moisture", "neg")
    old = AttributeModel.objects.create(name="old", kind="phrases", path="x", taxonomy_version=1)
    plant(reviews[9], old, "moisture", "neg")

    data = profile(Product.objects.filter(external_id="p-1"))
    assert data["reviews"] == 11 and data["tagged"] == 10 and data["tagger"]["name"] == "phrases-test"
    by_id = {a["id"]: a for a in data["attributes"]}
    moisture = by_id["moisture"]
    assert moisture["mentions"]["count"] == 5 and moisture["mentions"]["share"] == 0.5
    assert (moisture["mentions"]["low"], moisture["mentions"]["high"]) == pytest.approx(wilson(5, 10))
    assert moisture["positive"] == {
        "count": 4,
        "share": 0.4,
        "low": pytest.approx(wilson(4, 10)[0]),
        "high": pytest.approx(wilson(4, 10)[1]),
    }
    assert moisture["negative"]["count"] == 1 and moisture["negative"]["share"] == 0.1
    assert by_id["packaging"]["present"]["count"] == 1 and by_id["packaging"]["polarity"] is False
    assert moisture["ko"] == "보습"
    assert data["attributes"][0]["id"] == "moisture"  # most mentioned first
    assert all(a["mentions"]["count"] == 0 for a in data["attributes"][2:])  # every taxonomy attribute is listed

    # a group of products adds them up
    both = profile(Product.objects.all())
    assert both["tagged"] == 11 and {a["id"]: a for a in both["attributes"]}["moisture"]["negative"]["count"] == 2


def test_no_active_tagger_gives_an_empty_profile(make_review):
    make_review(good_text="리뷰")
    data = profile(Product.objects.all())
    assert data == {"reviews": 1, "tagged": 0, "tagger": None, "attributes": []}


def test_product_groups_by_name_brand_category_and_ids(make_review):
    make_review(product="a1", name="BHA 클리어 앰플", category="앰플")
    make_review(product="a2", name="바하 진정 앰플", category="앰플", brand="토리든")
    make_review(product="a3", name="수분 앰플", category="앰플")
    make_review(product="c1", name="BHA 크림", category="크림")
    ids = lambda qs: sorted(qs.values_list("external_id", flat=True))  # noqa: E731
    assert ids(product_group(name_any="BHA, 바하", category="앰플")) == ["a1", "a2"]
    assert ids(product_group(name_none="bha,바하", category="앰플")) == ["a3"]
    assert ids(product_group(brand="토리든")) == ["a2"]
    assert ids(product_group(ids="a3, c1")) == ["a3", "c1"]
