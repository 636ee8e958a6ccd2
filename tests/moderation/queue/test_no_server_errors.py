"""Inputs that used to answer 500: each gets a 400 (or a page with a message) that names the problem."""

import json

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from moderation.forms import MAX_ID, whole_number

from .conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(reviewer):
    client = Client()
    client.login(username=reviewer.username, password=PASSWORD)
    return client


def test_whole_number_takes_ascii_digits_only():
    assert whole_number("12", 1, 100) == 12
    for bad in ("²", "１２", "0", "101", "-1", " ", "", None, "1e3", "9" * 30):
        assert whole_number(bad, 1, 100) is None, bad


@pytest.mark.parametrize("url", ["/api/v1/queue", "/api/v1/actions"])
@pytest.mark.parametrize("limit", ["²", "１２", "9" * 40])
def test_a_limit_in_unicode_digits_is_a_400(api, url, limit):
    response = api.get(url, {"limit": limit})
    assert response.status_code == 400 and "limit" in response.json()["error"]


def test_the_public_reviews_limit_is_a_400_for_unicode_digits(make_review):
    make_review(0.5)
    response = Client().get("/api/v1/products/p-1/reviews", {"limit": "²"})
    assert response.status_code == 400 and "limit" in response.json()["error"]


@pytest.mark.parametrize("field,value", [("date_from", "0001-01-01"), ("date_to", "9999-12-31")])
def test_dates_at_the_ends_of_the_calendar_are_a_400(api, browser_client, field, value, make_review):
    make_review(0.9)
    for url in ("/api/v1/queue", "/api/v1/actions"):
        response = api.get(url, {field: value})
        assert response.status_code == 400 and "out of range" in response.json()["error"], url
    preview = api.post(
        "/api/v1/actions",
        {"action": "blind_above", "threshold": 0.5, "filters": {field: value}},
        content_type="application/json",
    )
    assert preview.status_code == 400 and "out of range" in json.dumps(preview.json(), ensure_ascii=False)
    for page in ("/queue/unused/", "/audit/", "/audit.csv", "/queue/unused/blind-above"):
        response = browser_client.get(page, {field: value, "threshold": "0.5"}, follow=True)
        assert response.status_code in (200, 400), page


def test_ids_beyond_a_database_integer_are_a_400(api, make_review):
    make_review(0.9)
    response = api.post("/api/v1/actions", {"action": "keep", "review_ids": [2**63]}, content_type="application/json")
    assert response.status_code == 400
    response = api.get("/api/v1/queue", {"after": f"0.5_{2**70}"})
    assert response.status_code == 400 and "cursor" in response.json()["error"]
    assert whole_number(str(MAX_ID), 1, MAX_ID) == MAX_ID


def test_an_oversized_decide_id_on_the_page_is_a_message_not_a_500(browser_client, make_review):
    make_review(0.9)
    browser_client.get("/queue/unused/")
    token = browser_client.cookies["csrftoken"].value
    response = browser_client.post(
        "/queue/unused/decide", {"review": [str(2**64)], "action": "keep", "csrfmiddlewaretoken": token}, follow=True
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "url, fallback",
    [
        ("/queue/unused/decide", "/queue/unused/"),
        ("/queue/unused/blind-above", "/queue/unused/"),
        ("/queue/unused/unblind", "/queue/unused/blinded"),
        ("/undo", "/audit/"),
    ],
)
def test_a_next_that_is_not_a_path_here_goes_back_to_the_page_not_to_a_500(browser_client, make_review, url, fallback):
    """`next` is where a form returns to. A bare word ("neg", "²") used to reach `redirect`, which read it
    as a view name and answered 500; another site's address was refused already and still is."""
    make_review(0.9)
    browser_client.get("/queue/unused/")
    token = browser_client.cookies["csrftoken"].value
    for target in ("²", "neg", "null", "1e309", "//evil.example/x", "/\\evil.example", "https://evil.example/"):
        response = browser_client.post(url, {"next": target, "csrfmiddlewaretoken": token})
        assert response.status_code == 302, (url, target)
        assert response["Location"] == fallback, (url, target)
    kept = browser_client.post(url, {"next": "/queue/unused/?page=2", "csrfmiddlewaretoken": token})
    assert kept["Location"] == "/queue/unused/?page=2"


def test_an_ingest_body_nested_50000_levels_deep_is_a_400(db):
    from django.contrib.auth.models import Group

    user = make_user("ingest-client")
    user.groups.add(Group.objects.get(name="ingest clients"))
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    body = "[" * 50_000 + "]" * 50_000
    response = client.post("/api/v1/reviews", body, content_type="application/json")
    assert response.status_code == 400 and "nested too deeply" in response.json()["error"]


@pytest.fixture
def browser_client(reviewer):
    client = Client(enforce_csrf_checks=True)
    client.login(username=reviewer.username, password=PASSWORD)
    return client


def test_the_audit_csv_neutralises_formula_cells(browser_client, check, reviewer, make_review):
    import csv
    import io

    from moderation import actions
    from moderation.audit import spreadsheet_safe

    review = make_review(0.9)
    review.external_id = '=HYPERLINK("http://example.invalid","x")'
    review.source = "+SUM(1,2)"
    review.save()
    actions.keep(reviewer, check, [review.pk], note="@cmd -1")
    body = b"".join(browser_client.get("/audit.csv").streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    cells = [cell for row in rows[1:] for cell in row]
    assert '\'=HYPERLINK("http://example.invalid","x")' in cells and "'+SUM(1,2)" in cells and "'@cmd -1" in cells
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in cells)
    assert spreadsheet_safe("-1") == "'-1" and spreadsheet_safe(0.5) == 0.5 and spreadsheet_safe("좋아요") == "좋아요"
