"""Ingestion: validation, idempotent upserts, products, the public read path."""

import pytest

from moderation import ingest
from moderation.models import Product, QueueItem, Review, Score
from tests import tiny

pytestmark = pytest.mark.django_db


def post(client, payload):
    return client.post("/api/v1/reviews", payload, format="json")


def test_one_review_is_stored_with_its_product(ingest_client, review_item):
    item = review_item("r-1")
    response = post(ingest_client, item)
    assert response.status_code == 201, response.content
    assert response.json()["created"] == 1
    review = Review.objects.get(source=item["source"], external_id="r-1")
    assert review.good_text == item["good_text"]
    assert review.rating == item["rating"]
    assert review.product.external_id == item["product"]["external_id"]
    assert review.product.name == item["product"]["name"]
    assert review.visibility == "visible"


def test_a_list_of_sample_reviews_is_stored(ingest_client):
    items = tiny.sample_reviews(300)
    response = post(ingest_client, items)
    assert response.status_code == 201, response.content
    assert response.json()["created"] == 300
    assert Review.objects.count() == 300
    assert Product.objects.count() == len({i["product"]["external_id"] for i in items})


def test_sending_the_same_review_twice_stores_it_once(ingest_client, review_item):
    assert post(ingest_client, review_item("r-1")).json()["created"] == 1
    second = post(ingest_client, review_item("r-1")).json()
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 1)
    assert Review.objects.count() == 1


def test_changed_fields_are_updated_and_a_changed_text_drops_stale_scores(
    ingest_client, review_item, tiny_classifier_dir
):
    from moderation.models import Check, Classifier

    post(ingest_client, review_item("r-1"))
    review = Review.objects.get()
    check = Check.objects.get(code="unused")
    classifier = Classifier.objects.create(moderation_check=check, name="m", path=str(tiny_classifier_dir))
    Score.objects.create(review=review, moderation_check=check, classifier=classifier, probability=0.9)
    QueueItem.objects.create(
        review=review, moderation_check=check, classifier=classifier, probability=0.9, scored_at=review.received_at
    )

    rating_only = post(ingest_client, review_item("r-1", rating=1)).json()
    assert rating_only["updated"] == 1
    review.refresh_from_db()
    assert review.rating == 1
    assert Score.objects.filter(review=review).count() == 1, "a rating change does not make the score stale"

    post(ingest_client, review_item("r-1", rating=1, good_text="아직 안 써봤어요"))
    review.refresh_from_db()
    assert review.good_text == "아직 안 써봤어요"
    assert Score.objects.filter(review=review).count() == 0
    assert QueueItem.objects.filter(review=review).count() == 0


def test_products_are_upserted_by_external_id(ingest_client, review_item):
    first = review_item("r-1")
    post(ingest_client, first)
    renamed = review_item("r-2")
    renamed["product"] = {**first["product"], "name": "새 이름", "brand": "새 브랜드"}
    post(ingest_client, renamed)
    assert Product.objects.count() == 1
    product = Product.objects.get()
    assert (product.name, product.brand) == ("새 이름", "새 브랜드")


def test_emoji_and_long_texts_within_the_limit_are_kept_exactly(ingest_client, review_item):
    text = "좋아요😍👍🏻 " * 400
    response = post(ingest_client, review_item("r-emoji", good_text=text))
    assert response.status_code == 201, response.content
    assert Review.objects.get(external_id="r-emoji").good_text == text


def test_too_many_items_are_refused_whole(ingest_client, settings):
    settings.HWADMIN = {**settings.HWADMIN, "MAX_ITEMS_PER_REQUEST": 5}
    response = post(ingest_client, tiny.sample_reviews(6))
    assert response.status_code == 413
    assert "at most 5" in response.json()["error"]
    assert Review.objects.count() == 0


def test_one_bad_item_rejects_the_whole_request_and_names_each_problem(ingest_client, review_item):
    items = [
        review_item("ok-1"),
        review_item("bad-1", rating=9),
        review_item("ok-2"),
        review_item("bad-2", written_at="어제"),
    ]
    response = post(ingest_client, items)
    assert response.status_code == 400
    body = response.json()
    assert "nothing was stored" in body["error"]
    problems = {(e["index"], e["field"]) for e in body["errors"]}
    assert problems == {(1, "rating"), (3, "written_at")}
    assert Review.objects.count() == 0
    assert Product.objects.count() == 0


def test_validate_reviews_is_shared_and_reports_duplicates(review_item):
    result = ingest.validate_reviews([review_item("a"), review_item("a")])
    assert len(result.items) == 1
    assert result.errors == [
        {"index": 1, "field": "external_id", "message": "duplicates item 0 (same source and external_id)"}
    ]


def test_public_read_path_hides_blinded_reviews(ingest_client, review_item, client):
    post(ingest_client, [review_item("r-1"), review_item("r-2"), review_item("r-3")])
    Review.objects.filter(external_id="r-2").update(visibility="blinded")
    product_id = review_item()["product"]["external_id"]
    response = client.get(f"/api/v1/products/{product_id}/reviews")
    assert response.status_code == 200
    ids = [r["external_id"] for r in response.json()["reviews"]]
    assert sorted(ids) == ["r-1", "r-3"]
    assert client.get("/api/v1/products/no-such-product/reviews").status_code == 404


def test_openapi_schema_describes_the_api(ingest_client):
    response = ingest_client.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/reviews" in schema["paths"]
    assert "post" in schema["paths"]["/api/v1/reviews"]
    assert "/api/v1/products/{external_id}/reviews" in schema["paths"]


@pytest.mark.parametrize("field", ["good_text", "author_ref", "product.name"])
def test_a_lone_surrogate_gets_one_clear_message(review_item, field):
    """The UTF-8 codec finds it (reject_invalid_unicode), with its position: DRF's own check, which walked
    every text a character at a time in Python and said it a second time, is not on the text fields."""
    item = review_item("s")
    target, name = (item["product"], "name") if field.startswith("product.") else (item, field)
    target[name] = "좋아요 \ud800 정말"
    errors = ingest.validate_reviews([item]).errors
    assert errors == [
        {"index": 0, "field": field, "message": "contains invalid Unicode (a lone surrogate at character 4)"}
    ]
