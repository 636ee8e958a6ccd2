"""Who may do what: every reviewer page and API endpoint for four kinds of user.

anonymous -> pages redirect to the login page, the API answers 401;
outsider (logged in, not a reviewer) -> 403 everywhere, nothing changes;
reviewer (the reviewers group) -> allowed; staff (superuser) -> allowed, plus the admin.
"""

import pytest
from django.contrib import admin
from django.test import Client

from moderation.models import Action, Review
from tests.users import REASON

from .conftest import PASSWORD

ROLES = ["anonymous", "outsider", "reviewer", "staff"]


@pytest.fixture
def world(make_review, reviewer, outsider, staff):
    return {
        "open": make_review(0.9),
        "hidden": make_review(0.95, status="blinded"),
        "users": {"reviewer": reviewer, "outsider": outsider, "staff": staff},
    }


def client_for(role, world):
    client = Client()
    if role != "anonymous":
        assert client.login(username=world["users"][role].username, password=PASSWORD)
    return client


def pages(world):
    review = world["open"].pk
    return [
        ("get", "/queue/", {}, 302),
        ("get", "/queue/unused/", {}, 200),
        ("get", "/queue/unused/blinded", {}, 200),
        ("get", "/queue/unused/blind-above", {"threshold": "0.5"}, 200),
        ("get", f"/reviews/{review}/", {}, 200),
        ("get", "/audit/", {}, 200),
        ("get", "/audit.csv", {}, 200),
        ("get", "/dashboard/", {}, 302),
        ("get", "/dashboard/unused/", {}, 200),
        ("post", "/queue/unused/release", {}, 204),
        ("post", "/queue/unused/decide", {"review": [review], "action": "keep"}, 302),
        ("post", "/queue/unused/unblind", {"review": [world["hidden"].pk]}, 302),
        ("post", "/undo", {"batch": "last"}, 302),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_pages(role, world):
    client = client_for(role, world)
    for method, url, data, allowed in pages(world):
        response = getattr(client, method)(url, data)
        if role == "anonymous":
            assert response.status_code == 302 and response["Location"].startswith("/login/?next="), url
        elif role == "outsider":
            assert response.status_code == 403, url
            assert b"minji" not in response.content and "아직 안 써봤어요" not in response.content.decode()
        else:
            assert response.status_code == allowed, (url, response.status_code)
    changed = Action.objects.exists() or Review.objects.filter(pk=world["hidden"].pk, visibility="visible").exists()
    assert changed == (role in ("reviewer", "staff"))


def api_calls(world):
    review = world["open"].pk
    return [
        ("get", "/api/v1/queue", {}),
        ("get", "/api/v1/actions", {}),
        ("post", "/api/v1/actions", {"action": "blind", "review_ids": [review], "reason": REASON}),
        ("post", "/api/v1/actions", {"action": "blind_above", "threshold": 0.5}),
        ("post", "/api/v1/actions", {"action": "undo", "batch": "last"}),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_api(role, world):
    client = client_for(role, world)
    for method, url, data in api_calls(world):
        if method == "post":
            response = client.post(url, data, content_type="application/json")
        else:
            response = client.get(url, data)
        expected = {"anonymous": 401, "outsider": 403}.get(role, 200)
        assert response.status_code == expected, (url, data, response.content)
        if expected != 200:
            assert "error" in response.json() and "items" not in response.json()
    assert Action.objects.exists() == (role in ("reviewer", "staff"))


@pytest.mark.parametrize("role", ROLES)
def test_admin_is_for_staff_only(role, world):
    client = client_for(role, world)
    for model in admin.site._registry:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        response = client.get(url)
        if role == "staff":
            assert response.status_code == 200, url
        else:
            assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def test_status_page_needs_a_login_only(world):
    assert client_for("anonymous", world).get("/").status_code == 302
    assert client_for("outsider", world).get("/").status_code == 200
