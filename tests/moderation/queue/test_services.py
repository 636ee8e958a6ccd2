"""One service function per operation: the page and the API do the same thing, holds included,
and each API operation takes its own fields and no other.

Runs on SQLite in the unit run and on PostgreSQL in the integration run (`engines`).
"""

import pytest
from django.test import Client

from moderation import queue, services
from moderation.models import QueueItem
from tests.users import REASON

from .conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.engines]


@pytest.fixture
def client(reviewer):
    client = Client()
    client.login(username=reviewer.username, password=PASSWORD)
    return client


def held_by(user):
    return set(QueueItem.objects.filter(held_by=user).values_list("review_id", flat=True))


def by_page(client, operation, review_ids, reason=""):
    if operation == "unblind":
        return client.post("/queue/unused/unblind", {"review": review_ids})
    return client.post("/queue/unused/decide", {"review": review_ids, "action": operation, "reason": reason})


def by_api(client, operation, review_ids, reason=""):
    body = {"action": operation, "review_ids": review_ids, **({"reason": reason} if reason else {})}
    response = client.post("/api/v1/actions", body, content_type="application/json")
    assert response.status_code == 200, response.content
    return response


@pytest.mark.parametrize("way", [by_page, by_api], ids=["page", "api"])
@pytest.mark.parametrize("operation", ["blind", "keep"])
def test_a_decision_releases_the_acted_rows_and_keeps_the_rest_of_the_page_held(
    way, operation, client, check, reviewer, make_review
):
    reviews = [make_review(p) for p in (0.9, 0.8, 0.7, 0.6)]
    queue.page(check, reviewer, size=4)
    assert held_by(reviewer) == {r.pk for r in reviews}
    way(client, operation, [reviews[0].pk, reviews[1].pk], REASON if operation == "blind" else "")
    assert set(QueueItem.objects.exclude(status="open").values_list("review_id", flat=True)) == {
        reviews[0].pk,
        reviews[1].pk,
    }
    # The reviewer keeps working the same page: its other rows are still theirs.
    assert held_by(reviewer) == {reviews[2].pk, reviews[3].pk}


@pytest.mark.parametrize("way", [by_page, by_api], ids=["page", "api"])
def test_unblind_releases_the_acted_rows_like_a_decision(way, client, check, reviewer, make_review):
    hidden = make_review(0.95, status="blinded")
    selected, other = make_review(0.9), make_review(0.8)
    queue.page(check, reviewer, size=2)
    assert held_by(reviewer) == {selected.pk, other.pk}
    # The selection names a blinded review (unblinded) and an open one the reviewer holds (not moved,
    # but acted on: its hold ends too); the unselected row stays held.
    way(client, "unblind", [hidden.pk, selected.pk])
    assert QueueItem.objects.get(review=hidden).status == "kept"
    assert held_by(reviewer) == {other.pk}


def test_page_and_api_undo_last_refuse_alike_when_there_is_nothing_to_undo(client):
    response = client.post("/api/v1/actions", {"action": "undo", "batch": "last"}, content_type="application/json")
    assert response.status_code == 400
    page = client.post("/undo", {"batch": "last"}, follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert response.json()["error"] in page.content.decode()
    assert response.json()["error"].startswith("nothing to undo")


def test_the_page_and_the_api_ask_the_same_permission(reviewer, outsider):
    from moderation.api.permissions import CanModerateReviews

    class Request:
        def __init__(self, user):
            self.user = user

    for user in (reviewer, outsider):
        assert CanModerateReviews().has_permission(Request(user), None) == services.may_moderate(user)
    assert services.may_moderate(reviewer) and not services.may_moderate(outsider)


def test_the_check_lookup_is_one_function(check):
    assert services.find_check("") == check and services.find_check("unused") == check
    with pytest.raises(services.UnknownCheck, match="unknown check 'nope'; use one of"):
        services.find_check("nope")


# --- Each operation takes its own fields -------------------------------------------------------------------------


def post(client, body):
    return client.post("/api/v1/actions", body, content_type="application/json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "keep", "review_ids": [1], "reason": REASON}, "reason"),  # a blind's field on keep
        ({"action": "unblind", "review_ids": [1], "reason": REASON}, "reason"),
        ({"action": "blind", "review_ids": [1], "reason": REASON, "threshold": 0.5}, "threshold"),
        ({"action": "undo", "batch": "last", "review_ids": [1]}, "review_ids"),
        ({"action": "blind_above", "confirm": "token", "threshold": 0.5}, "threshold"),  # confirm takes no threshold
        ({"action": "blind_above", "threshold": 0.5, "reason": REASON}, "reason"),  # a preview takes no reason
        ({"action": "blind", "review_ids": [1], "reason": REASON, "colour": "red"}, "colour"),  # no operation's
    ],
)
def test_a_field_that_does_not_belong_to_the_operation_is_a_400_naming_it(client, make_review, body, field):
    make_review(0.9)
    response = post(client, body)
    assert response.status_code == 400
    answer = response.json()
    assert set(answer["errors"]) == {field}
    assert f"{field}: '{field}' does not belong to {body['action']}" in answer["error"]
    assert not QueueItem.objects.exclude(status="open").exists()


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"action": "archive", "review_ids": [1]}, "action", "send one of blind, keep, unblind, undo, blind_above"),
        ({"review_ids": [1]}, "action", "send one of"),
        ([{"action": "keep"}], "non_field_errors", "send a JSON object"),
        ({"action": "keep"}, "review_ids", "select at least one review"),
        ({"action": "undo", "batch": "nope"}, "batch", "not a batch id"),
        ({"action": "blind_above"}, "threshold", "required"),
    ],
)
def test_a_body_that_names_no_operation_or_misses_a_field_is_a_400_naming_it(client, body, field, says):
    response = post(client, body)
    assert response.status_code == 400
    answer = response.json()
    assert field in answer["errors"] and says in answer["error"] and field in answer["error"]
