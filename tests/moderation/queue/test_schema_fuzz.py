"""The OpenAPI schema says what the API does, and the API does what its schema says.

A property-based fuzzer (schemathesis on Hypothesis) generates requests from the schema,
valid and invalid ones, and sends them in-process to the Django WSGI application on the
unit-test database (seeded with products, reviews, queue items and audit rows), once as a
reviewer (session and CSRF token, as the queue pages use) and once as the ingest client
(API token). Every response must be no 5xx, have a status code the operation documents,
the documented content type, and a body that matches the documented schema. Each role
sends at least MIN_REQUESTS requests; the count is taken at the application.

Deterministic by default (the same requests every run); HWADMIN_FUZZ_SEED=<n> draws another set.
"""

import json
import logging
import os
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.middleware.csrf import CSRF_ALLOWED_CHARS
from django.test import Client
from django.utils import timezone
from django.utils.crypto import get_random_string
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from moderation import actions
from moderation.models import Review

from .conftest import make_user

pytestmark = pytest.mark.django_db

MIN_REQUESTS = 2000
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SEED = os.environ.get("HWADMIN_FUZZ_SEED")

# Generated cases per operation and role: (valid data, invalid data). Each role's total is
# above MIN_REQUESTS; the operations a role may not use still check their 401/403 answers. A table:
# the roles' rows share their shape, not logic.
PLAN = {
    "reviewer": {
        "GET /api/v1/queue": (340, 170),
        "GET /api/v1/actions": (260, 130),
        "POST /api/v1/actions": (560, 220),
        "GET /api/v1/products/{external_id}/reviews": (210, 100),
        "POST /api/v1/reviews": (60, 60),
        "GET /api/v1/products/{external_id}/attributes": (100, 50),
    },
    "ingest client": {
        "POST /api/v1/reviews": (800, 380),
        "GET /api/v1/products/{external_id}/reviews": (320, 150),
        "GET /api/v1/queue": (120, 60),
        "GET /api/v1/actions": (100, 50),
        "POST /api/v1/actions": (120, 60),
        "GET /api/v1/products/{external_id}/attributes": (100, 50),
    },
}
# The operations each role may use: each must answer 2xx to some generated request.
SUCCEEDS = {
    "reviewer": [
        "GET /api/v1/queue",
        "GET /api/v1/actions",
        "POST /api/v1/actions",
        "GET /api/v1/products/{external_id}/reviews",
        "GET /api/v1/products/{external_id}/attributes",
    ],
    "ingest client": [
        "POST /api/v1/reviews",
        "GET /api/v1/products/{external_id}/reviews",
        "GET /api/v1/products/{external_id}/attributes",
    ],
}
PRODUCTS = ["p-1", "p-2", "p-3"]


@pytest.fixture
def seeded(check, classifier, make_review, reviewer):
    """Three products, 36 scored reviews in the queue (some blinded or kept), and audit rows."""
    reviews = []
    for n in range(36):
        status = ["open", "open", "open", "blinded", "kept", "open"][n % 6]
        reviews.append(
            make_review(
                round(0.02 + n * 0.027, 3),
                product=PRODUCTS[n % 3],
                brand=["라운드랩", "토리든", "아누아"][n % 3],
                category=["크림", "토너", "세럼"][n % 3],
                rating=1 + n % 5,
                status=status,
                written_at=timezone.now() - timedelta(days=n),
            )
        )
    open_ids = [r.pk for r in reviews if r.visibility == Review.Visibility.VISIBLE][:6]
    reason = (check.reasons or [""])[0]
    done = actions.blind(reviewer, check, open_ids[:3], reason)
    actions.keep(reviewer, check, open_ids[3:5])
    actions.undo(reviewer, done.batch)
    return reviews


@pytest.fixture
def ingest_client(db):
    user = make_user("fuzz-ingest")
    user.groups.add(Group.objects.get(name="ingest clients"))
    return user


@pytest.fixture
def high_throttle_rates(settings):
    """The fuzzer's thousands of requests must not be throttled: every rate a million a second."""
    rest = dict(settings.REST_FRAMEWORK)
    rates = dict(rest.get("DEFAULT_THROTTLE_RATES") or {})
    rest["DEFAULT_THROTTLE_RATES"] = dict.fromkeys({*rates, "anon", "user", "public_read"}, "1000000/second")
    settings.REST_FRAMEWORK = rest


@pytest.fixture
def quiet_refusals():
    """Thousands of 4xx would each log a django.request warning; server errors (5xx) still log."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.fixture
def app(quiet_refusals):
    """The Django WSGI application, counting the requests that reach it. As Django's test client does,
    requests do not close the test's database connection (its transaction holds the seed data)."""
    handler = WSGIHandler()
    counted = Counter()

    def counting(environ, start_response):
        counted["requests"] += 1
        return handler(environ, start_response)

    counting.counted = counted
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield counting
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def load_schema(user):
    """The served schema (which needs a signed-in account), as schemathesis reads it."""
    client = Client()
    client.force_login(user)
    response = client.get("/api/v1/schema", {"format": "json"})
    assert response.status_code == 200, response.content[:500]
    return json.loads(response.content)


def credentials(role, reviewer, ingest_client):
    if role == "reviewer":
        client = Client()
        client.force_login(reviewer)
        csrf = get_random_string(32, CSRF_ALLOWED_CHARS)
        return {"X-CSRFToken": csrf}, {"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf}
    token = Token.objects.create(user=ingest_client)
    return {"Authorization": f"Token {token.key}"}, {}


def fuzz(operation, mode, examples, headers, cookies, statuses):
    """Send `examples` generated requests to one operation and check each response."""
    strategy = operation.as_strategy(generation_mode=mode)
    if "{external_id}" in operation.path and mode == GenerationMode.POSITIVE:
        # Many of them name a product that exists, so the 200 path is fuzzed, not only the 404.
        strategy = st.one_of(strategy, *[operation.as_strategy(path_parameters={"external_id": p}) for p in PRODUCTS])

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        print_blob=True,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        # The role's own credentials replace any the generator made up for the security schemes.
        for name in [h for h in (case.headers or {}) if h.lower() in ("authorization", "x-csrftoken", "cookie")]:
            del case.headers[name]
        for name in [c for c in (case.cookies or {}) if c in ("sessionid", "csrftoken")]:
            del case.cookies[name]
        response = case.call(headers=headers, cookies=cookies)
        statuses[f"{operation.method.upper()} {operation.path}"][response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    if SEED is not None:
        run = seed(int(SEED))(run)
    run()


@pytest.mark.parametrize("role", list(PLAN))
def test_the_api_answers_every_generated_request_as_its_schema_says(
    role, seeded, reviewer, ingest_client, high_throttle_rates, app
):
    raw = load_schema(reviewer)
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = app
    operations = {op.label: op for op in (result.ok() for result in schema.get_all_operations())}
    assert set(operations) == set(PLAN[role]), "every operation of the schema is fuzzed"
    headers, cookies = credentials(role, reviewer, ingest_client)
    statuses = {label: Counter() for label in operations}
    for label, (valid, invalid) in PLAN[role].items():
        fuzz(operations[label], GenerationMode.POSITIVE, valid, headers, cookies, statuses)
        fuzz(operations[label], GenerationMode.NEGATIVE, invalid, headers, cookies, statuses)
    sent = app.counted["requests"]
    print(
        f"{role}: {sent} requests; status codes per operation: "
        + "; ".join(f"{label} {dict(sorted(codes.items()))}" for label, codes in statuses.items())
    )
    assert sent >= MIN_REQUESTS, f"only {sent} requests reached the application"
    assert all(code < 500 for codes in statuses.values() for code in codes)
    assert not any(429 in codes for codes in statuses.values()), "the fuzzer was throttled: raise the rates"
    # The fuzzer got past validation, not only refusals: each operation the role may use answered 2xx.
    for label in SUCCEEDS[role]:
        assert any(200 <= code < 300 for code in statuses[label]), f"{label} never succeeded: {statuses[label]}"


# --- What the schema says, checked directly ------------------------------------------------------------------------


def test_the_schema_is_served_to_signed_in_accounts_only(reviewer, ingest_client, outsider):
    anonymous = Client().get("/api/v1/schema")  # YAML by default
    assert anonymous.status_code == 401 and b"paths" not in anonymous.content
    anonymous = Client().get("/api/v1/schema", {"format": "json"})
    assert anonymous.status_code == 401 and "credentials were not provided" in anonymous.json()["error"]
    forged = Client(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    assert forged.get("/api/v1/schema", {"format": "json"}).json() == {"error": "Invalid token."}
    token = Token.objects.create(user=ingest_client)
    by_token = Client(HTTP_AUTHORIZATION=f"Token {token.key}").get("/api/v1/schema", {"format": "json"})
    assert by_token.status_code == 200 and "/api/v1/reviews" in by_token.json()["paths"]
    for user in (reviewer, outsider):  # any signed-in account, whatever its permissions
        assert "/api/v1/queue" in load_schema(user)["paths"]


def test_the_public_read_path_does_not_show_the_author(make_review, reviewer):
    review = make_review(0.5)
    Review.objects.filter(pk=review.pk).update(author_ref="u-5-private")
    response = Client().get("/api/v1/products/p-1/reviews")
    assert response.status_code == 200
    (shown,) = response.json()["reviews"]
    assert shown["external_id"] == review.external_id and "author_ref" not in shown
    assert "u-5-private" not in response.content.decode()
    public = load_schema(reviewer)["components"]["schemas"]["PublicReview"]
    assert "author_ref" not in public["properties"]


def test_the_public_read_path_writes_rfc3339_times_for_reviews_before_standard_time(make_review, settings):
    """Found by the fuzzer: zoneinfo gives Asia/Seoul before 1908 the offset +08:27:52, and the review
    written at 1900-01-01T00:00Z came out as "1900-01-01T08:27:52+08:27:52", which is no RFC 3339 date-time."""
    settings.TIME_ZONE = "Asia/Seoul"
    old = make_review(0.5, written_at=datetime(1900, 1, 1, tzinfo=UTC))
    new = make_review(0.5, written_at=datetime(2026, 11, 27, 12, 4, tzinfo=UTC))
    shown = {r["external_id"]: r["written_at"] for r in Client().get("/api/v1/products/p-1/reviews").json()["reviews"]}
    assert shown == {old.external_id: "1900-01-01T00:00:00Z", new.external_id: "2026-11-27T21:04:00+09:00"}


def operation_of(raw, label):
    method, path = label.split(" ", 1)
    return raw["paths"][path][method.lower()]


def parameter(operation, name):
    return next(p["schema"] for p in operation["parameters"] if p["name"] == name)


def test_the_schema_documents_status_codes_parameters_and_typed_bodies(reviewer):
    raw = load_schema(reviewer)
    codes = {
        "POST /api/v1/reviews": {"201", "400", "401", "403", "413", "415", "429"},
        "GET /api/v1/products/{external_id}/reviews": {"200", "400", "404", "429"},
        "GET /api/v1/queue": {"200", "400", "401", "403", "429"},
        "GET /api/v1/actions": {"200", "400", "401", "403", "429"},
        "POST /api/v1/actions": {"200", "400", "401", "403", "413", "415", "429"},
        "GET /api/v1/products/{external_id}/attributes": {"200", "401", "403", "404", "429"},
    }
    schemas = raw["components"]["schemas"]
    for label, expected in codes.items():
        operation = operation_of(raw, label)
        assert set(operation["responses"]) == expected, label
        for code, response in operation["responses"].items():
            body = response["content"]["application/json"]["schema"]
            assert "$ref" in body, f"{label} {code}: a free-form body"  # a named, typed component
            if code.startswith("4"):
                component = schemas[body["$ref"].rsplit("/", 1)[1]]
                assert "error" in component["required"], f"{label} {code}: not the error body"
        assert "Retry-After" in operation["responses"]["429"]["headers"]
    queue, audit = operation_of(raw, "GET /api/v1/queue"), operation_of(raw, "GET /api/v1/actions")
    public = operation_of(raw, "GET /api/v1/products/{external_id}/reviews")
    assert parameter(queue, "limit") == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
    assert parameter(audit, "limit")["maximum"] == 1000 and parameter(public, "limit")["maximum"] == 1000
    for name in ("p_min", "p_max"):
        assert parameter(queue, name) == {"type": "number", "format": "double", "minimum": 0, "maximum": 1}
    for operation in (queue, audit):
        for name in ("date_from", "date_to"):
            date = parameter(operation, name)
            assert date["format"] == "date"
            assert re.match(date["pattern"], "1900-01-01") and re.match(date["pattern"], "2999-12-31")
            assert not re.match(date["pattern"], "0001-01-01") and not re.match(date["pattern"], "3000-01-01")
    assert parameter(queue, "rating")["items"]["enum"] == [1, 2, 3, 4, 5]
    assert parameter(queue, "hold")["type"] == "boolean" and parameter(audit, "batch")["format"] == "uuid"
    cursor = parameter(queue, "after")["pattern"]
    assert re.match(cursor, "0.97_1234") and re.match(cursor, "1e-05_7")
    assert not re.match(cursor, "5_1") and not re.match(cursor, "7.4e-0_1")  # probabilities above 1
    assert operation_of(raw, "POST /api/v1/reviews")["requestBody"]["required"] is True
    assert operation_of(raw, "POST /api/v1/actions")["requestBody"]["required"] is True
    assert schemas["BlindRequest"]["properties"]["review_ids"]["items"]["maximum"] == 2**63 - 1
    assert schemas["ReviewBatch"]["oneOf"][1]["maxItems"] == 1000
    assert schemas["ReviewIn"]["additionalProperties"] is False


def test_the_documented_action_bodies_are_what_the_view_validates(reviewer):
    """The view validates each operation with the very serializer the schema documents, and each
    documented shape refuses the fields of the others (additionalProperties false)."""
    from moderation.api import queue_views
    from moderation.api.serializers import ACTION_REQUESTS

    used = {*queue_views.OPERATIONS.values()}
    used |= {queue_views.operation_serializer({"action": "blind_above", **extra}) for extra in ({}, {"confirm": "t"})}
    assert used == set(ACTION_REQUESTS)
    schemas = load_schema(reviewer)["components"]["schemas"]
    shapes = [schemas[shape.__name__.removesuffix("Serializer")] for shape in ACTION_REQUESTS]
    assert all(shape["additionalProperties"] is False for shape in shapes)
    assert "reason" in schemas["BlindRequest"]["properties"] and "reason" not in schemas["KeepRequest"]["properties"]
    assert [shape["properties"]["action"]["$ref"].rsplit("/", 1)[1] for shape in shapes] == [
        "BlindActionEnum",
        "KeepActionEnum",
        "UnblindActionEnum",
        "UndoActionEnum",
        "ThresholdActionEnum",
        "ThresholdActionEnum",
    ]


def test_the_fuzzer_checks_catch_a_response_the_schema_does_not_allow(seeded, reviewer, app):
    """The checks are live: with one required member the queue page does not send, its answer fails."""
    raw = load_schema(reviewer)
    raw["components"]["schemas"]["QueuePage"]["required"].append("total")
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = app
    operation = schema["/api/v1/queue"]["GET"]
    headers, cookies = credentials("reviewer", reviewer, None)
    case = operation.Case(query={"limit": 5})
    response = case.call(headers=headers, cookies=cookies)
    assert response.status_code == 200
    with pytest.raises(FailureGroup) as failed:
        case.validate_response(response, checks=CHECKS)
    assert any('"total" is a required property' in str(failure) for failure in failed.value.exceptions)
    fine = schemathesis.openapi.from_dict(load_schema(reviewer))
    fine.app = app
    fine["/api/v1/queue"]["GET"].Case(query={"limit": 5}).validate_response(response, checks=CHECKS)
