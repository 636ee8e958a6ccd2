"""A matrix of malformed ingest requests: each gets a 4xx naming the problem,
and the database is exactly as it was before."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from moderation.models import Product, Review
from tests import tiny

pytestmark = pytest.mark.django_db

BASE = tiny.sample_reviews(1)[0]


def item(**changes):
    result = json.loads(json.dumps(BASE))
    result["external_id"] = "new-1"
    for key, value in changes.items():
        if value is DROP:
            result.pop(key)
        else:
            result[key] = value
    return result


def product(**changes):
    result = dict(BASE["product"], **changes)
    return {k: v for k, v in result.items() if v is not DROP}


DROP = object()
SURROGATE = "<lone surrogate>"  # written into the body as the JSON escape \ud800
LONG = "가" * 5001

# (name, body as bytes or JSON-able object, expected status, words the message must contain)
CASES = [
    ("invalid JSON", b'{"source": "app",', 400, ["not valid JSON"]),
    ("empty body", b"", 400, ["JSON"]),
    ("truncated array", b"[{}", 400, ["not valid JSON"]),
    ("JSON string", "hello", 400, ["review object or a list", "str"]),
    ("JSON number", 42, 400, ["review object or a list", "int"]),
    ("JSON null", None, 400, ["review object or a list"]),
    ("empty list", [], 400, ["empty"]),
    ("list of strings", ["a", "b"], 400, ["must be a JSON object"]),
    ("list of lists", [[1, 2]], 400, ["must be a JSON object"]),
    ("missing source", item(source=DROP), 400, ["source", "required"]),
    ("missing external_id", item(external_id=DROP), 400, ["external_id", "required"]),
    ("missing product", item(product=DROP), 400, ["product", "required"]),
    ("missing rating", item(rating=DROP), 400, ["rating", "required"]),
    ("missing written_at", item(written_at=DROP), 400, ["written_at", "required"]),
    ("no text at all", item(good_text="", bad_text=""), 400, ["good_text", "empty"]),
    ("whitespace-only text", item(good_text="   \n ", bad_text="\t"), 400, ["good_text", "empty"]),
    ("rating zero", item(rating=0), 400, ["rating", "greater than or equal to 1"]),
    ("rating six", item(rating=6), 400, ["rating", "less than or equal to 5"]),
    ("rating negative", item(rating=-3), 400, ["rating"]),
    ("rating fraction", item(rating=4.5), 400, ["rating", "integer"]),
    ("rating boolean", item(rating=True), 400, ["rating", "integer"]),
    ("rating word", item(rating="다섯"), 400, ["rating", "integer"]),
    ("rating list", item(rating=[5]), 400, ["rating"]),
    ("rating null", item(rating=None), 400, ["rating", "null"]),
    ("written_at not a date", item(written_at="어제"), 400, ["written_at", "format"]),
    ("written_at number", item(written_at=1700000000), 400, ["written_at"]),
    ("written_at impossible date", item(written_at="2026-02-30T10:00:00+09:00"), 400, ["written_at"]),
    ("written_at before 1900", item(written_at="0001-01-01T00:00:00+00:00"), 400, ["written_at", "1900-01-01"]),
    ("written_at after 2999", item(written_at="3000-01-01T00:00:00+00:00"), 400, ["written_at", "2999-12-31"]),
    ("source with spaces", item(source="my app"), 400, ["source", "letters, digits"]),
    ("source too long", item(source="a" * 51), 400, ["source", "50"]),
    ("source not a string", item(source={"a": 1}), 400, ["source"]),
    ("external_id too long", item(external_id="x" * 101), 400, ["external_id", "100"]),
    ("external_id empty", item(external_id=""), 400, ["external_id", "blank"]),
    ("good_text too long", item(good_text=LONG), 400, ["good_text", "5001", "5000"]),
    ("bad_text too long", item(bad_text=LONG), 400, ["bad_text", "limit is 5000"]),
    ("NUL byte in text", item(good_text="좋아요\x00"), 400, ["good_text", "Null characters"]),
    ("NUL byte in external_id", item(external_id="a\x00b"), 400, ["external_id", "Null characters"]),
    ("lone surrogate in text", item(good_text=SURROGATE), 400, ["good_text", "lone surrogate"]),
    ("lone surrogate in author_ref", item(author_ref=SURROGATE), 400, ["author_ref", "lone surrogate"]),
    ("good_text a number", item(good_text=123), 400, ["good_text"]),
    ("good_text an object", item(good_text={"a": "b"}), 400, ["good_text"]),
    ("product a string", item(product="p-1"), 400, ["product", "dictionary"]),
    ("product without id", item(product=product(external_id=DROP)), 400, ["product.external_id", "required"]),
    ("product name too long", item(product=product(name="n" * 301)), 400, ["product.name", "300"]),
    ("product brand a list", item(product=product(brand=["a"])), 400, ["product.brand"]),
    ("unknown field (typo)", item(goodText="좋아요"), 400, ["goodText", "unknown field"]),
    ("duplicate items", [item(), item()], 400, ["duplicates item 0"]),
    (
        "one bad item among good ones",
        [item(external_id="g1"), item(external_id="g2", rating=7)],
        400,
        ["1 of 2", "nothing was stored"],
    ),
]


@pytest.fixture
def client_and_snapshot(db):
    user = get_user_model().objects.create(username="client-app")
    user.groups.add(Group.objects.get(name="ingest clients"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert client.post("/api/v1/reviews", BASE, format="json").status_code == 201

    def snapshot():
        return (
            list(Review.objects.order_by("pk").values()),
            list(Product.objects.order_by("pk").values()),
        )

    return client, snapshot


def body_bytes(body):
    if isinstance(body, bytes):
        return body
    text = json.dumps(body, ensure_ascii=False)
    return text.replace(json.dumps(SURROGATE), '"\\ud800 bad"').encode("utf-8")


def test_the_matrix_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name,body,status,words", CASES, ids=[c[0] for c in CASES])
def test_malformed_request_is_refused_and_changes_nothing(client_and_snapshot, name, body, status, words):
    client, snapshot = client_and_snapshot
    before = snapshot()
    response = client.generic("POST", "/api/v1/reviews", body_bytes(body), content_type="application/json")
    assert response.status_code == status, response.content
    text = json.dumps(response.json(), ensure_ascii=False)
    for word in words:
        assert word in text, f"{word!r} not in {text}"
    assert snapshot() == before


def test_wrong_content_type_is_refused(client_and_snapshot):
    client, snapshot = client_and_snapshot
    before = snapshot()
    response = client.generic(
        "POST", "/api/v1/reviews", b"source=app", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]
    assert snapshot() == before


def test_oversized_body_is_refused(client_and_snapshot, settings):
    client, snapshot = client_and_snapshot
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    before = snapshot()
    response = client.generic(
        "POST", "/api/v1/reviews", json.dumps(item(good_text="가" * 900)).encode(), content_type="application/json"
    )
    assert response.status_code == 413
    assert "limit is 1000 bytes" in response.json()["error"]
    assert snapshot() == before


@pytest.mark.parametrize("header", [None, "Token not-a-real-token", "Bearer abc"])
def test_requests_without_a_valid_token_are_refused(db, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.post("/api/v1/reviews", item(), format="json")
    assert response.status_code in (401, 403)
    assert response.json()["error"]
    assert Review.objects.count() == 0


def test_a_token_without_the_ingest_permission_is_refused(db):
    user = get_user_model().objects.create(username="someone")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    response = client.post("/api/v1/reviews", item(), format="json")
    assert response.status_code == 403
    assert "ingest_reviews" in response.json()["error"]
    assert Review.objects.count() == 0
