"""The "blind all >= p" confirmation token: bound to its reviewer and its check, used once (page and API)."""

import threading
import time

import pytest
from django.core import signing
from django.db import connection
from django.test import Client

from moderation import actions
from moderation.models import Action, Check, Classifier, QueueItem, Review
from tests.users import REASON

from .conftest import PASSWORD


def login(user, csrf=False):
    client = Client(enforce_csrf_checks=csrf)
    client.login(username=user.username, password=PASSWORD)
    return client


def blinded_count():
    return QueueItem.objects.filter(status="blinded").count()


def assert_nothing_blinded():
    assert blinded_count() == 0
    assert not Review.objects.filter(visibility="blinded").exists()
    assert not Action.objects.filter(kind="blind").exists()


@pytest.fixture
def ads(db):
    check = Check.objects.create(code="ads", name="광고 리뷰", position=9)
    Classifier.objects.create(moderation_check=check, name="electra-ads-v1", path="/m/ads", is_active=True)
    return check


# --- the service (moderation.actions), which the page and the API both call -----------------------


@pytest.mark.django_db
def test_another_reviewers_confirmation_is_refused(check, reviewer, other_reviewer, make_review):
    for p in (0.99, 0.97):
        make_review(p)
    preview = actions.preview_threshold(check, 0.9, user=reviewer)
    with pytest.raises(actions.ActionError, match="confirmation token belongs to another reviewer"):
        actions.blind_above(other_reviewer, preview.token, REASON)
    assert_nothing_blinded()
    # The reviewer who previewed it still can.
    assert actions.blind_above(reviewer, preview.token, REASON).changed == 2


@pytest.mark.django_db
def test_confirm_undo_resend_is_refused(check, reviewer, make_review):
    reviews = [make_review(p) for p in (0.99, 0.97)]
    preview = actions.preview_threshold(check, 0.9, user=reviewer)
    done = actions.blind_above(reviewer, preview.token, REASON)
    assert done.changed == 2 and done.batch == preview.batch  # the token's batch is the audit rows' batch
    assert actions.undo(reviewer, done.batch).changed == 2
    with pytest.raises(actions.ActionError, match=f"confirmation token was already used \\(batch {done.batch}\\)"):
        actions.blind_above(reviewer, preview.token, REASON)
    assert QueueItem.objects.filter(review__in=reviews, status="open").count() == 2
    assert not Review.objects.filter(visibility="blinded").exists()
    assert Action.objects.filter(kind="blind", reverts__isnull=True).count() == 2  # only the first confirmation


@pytest.mark.django_db
def test_a_second_confirmation_is_refused_even_without_an_undo(check, reviewer, make_review):
    make_review(0.99)
    preview = actions.preview_threshold(check, 0.9, user=reviewer)
    actions.blind_above(reviewer, preview.token, REASON)
    with pytest.raises(actions.ActionError, match="already used"):
        actions.blind_above(reviewer, preview.token, REASON)
    assert Action.objects.count() == 1


@pytest.mark.django_db
def test_a_confirmation_that_changed_nothing_still_uses_its_token(check, reviewer, other_reviewer, make_review):
    """Every previewed review decided by someone else first: the confirmation blinds nothing and writes no
    audit row, and the token is spent all the same; once those reviews reopen, re-sending it does nothing."""
    reviews = [make_review(p) for p in (0.99, 0.97)]
    preview = actions.preview_threshold(check, 0.9, user=reviewer)
    kept = actions.keep(other_reviewer, check, [r.pk for r in reviews])
    assert actions.blind_above(reviewer, preview.token, REASON).changed == 0
    assert not Action.objects.filter(batch=actions.read_confirmation(preview.token)["batch"]).exists()
    actions.undo(other_reviewer, kept.batch)  # the reviews are open again
    with pytest.raises(actions.ActionError, match="already used"):
        actions.blind_above(reviewer, preview.token, REASON)
    assert_nothing_blinded()


@pytest.mark.django_db
def test_a_token_for_another_check_is_refused(check, ads, reviewer, make_review):
    make_review(0.99)
    preview = actions.preview_threshold(check, 0.9, user=reviewer)
    with pytest.raises(actions.ActionError, match="confirmation token is for check 'unused', not 'ads'"):
        actions.blind_above(reviewer, preview.token, REASON, check=ads)
    with pytest.raises(actions.ActionError, match="not 'ads'"):
        actions.blind_above(reviewer, preview.token, REASON, check="ads")
    assert_nothing_blinded()
    assert actions.blind_above(reviewer, preview.token, REASON, check=check).changed == 1


@pytest.mark.django_db
def test_a_token_signed_before_tokens_named_their_reviewer_is_refused(check, reviewer, make_review):
    make_review(0.99)
    preview = actions.preview_threshold(check, 0.9, user=reviewer)
    plan = signing.loads(preview.token, salt=actions.THRESHOLD_SALT)
    del plan["user"], plan["batch"]
    old = signing.dumps(plan, salt=actions.THRESHOLD_SALT)
    with pytest.raises(actions.ActionError, match="confirmation token is from an older preview"):
        actions.blind_above(reviewer, old, REASON)
    assert_nothing_blinded()


@pytest.mark.django_db
def test_a_preview_needs_a_reviewer(check, make_review):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(actions.ActionError, match="logged-in reviewer"):
        actions.preview_threshold(check, 0.9, user=AnonymousUser())


# --- the page -----------------------------------------------------------------------------------------


def page_token(client, check_code="unused", threshold="0.9"):
    html = client.get(f"/queue/{check_code}/blind-above", {"threshold": threshold}).content.decode()
    return html.split('name="token" value="')[1].split('"')[0]


def page_confirm(client, token, check_code="unused"):
    client.get(f"/queue/{check_code}/")
    response = client.post(
        f"/queue/{check_code}/blind-above",
        {"token": token, "reason": REASON, "csrfmiddlewaretoken": client.cookies["csrftoken"].value},
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_page_refuses_another_reviewers_token(reviewer, other_reviewer, make_review):
    make_review(0.99)
    token = page_token(login(reviewer, csrf=True))
    html = page_confirm(login(other_reviewer, csrf=True), token)
    assert "다른 검수자의 미리 보기" in html
    assert_nothing_blinded()


@pytest.mark.django_db
def test_page_refuses_a_token_sent_again_after_undo(reviewer, make_review):
    make_review(0.99)
    make_review(0.95)
    browser = login(reviewer, csrf=True)
    token = page_token(browser)
    assert "리뷰 2건을 블라인드했습니다." in page_confirm(browser, token)
    undone = browser.post(
        "/undo", {"batch": "last", "csrfmiddlewaretoken": browser.cookies["csrftoken"].value}, follow=True
    )
    assert "리뷰 2건을 되돌렸습니다." in undone.content.decode()
    html = page_confirm(browser, token)
    assert "확인 토큰은 이미 사용되었습니다" in html
    assert blinded_count() == 0 and not Review.objects.filter(visibility="blinded").exists()


@pytest.mark.django_db
def test_page_refuses_a_token_posted_under_another_check(ads, reviewer, make_review):
    make_review(0.99)
    browser = login(reviewer, csrf=True)
    token = page_token(browser, "unused")
    html = page_confirm(browser, token, "ads")
    assert "&#x27;unused&#x27; 검수용입니다" in html
    assert_nothing_blinded()


# --- the API ------------------------------------------------------------------------------------------


def api_preview(client, **extra):
    body = {"action": "blind_above", "threshold": 0.9, **extra}
    response = client.post("/api/v1/actions", body, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["confirm"]


def api_confirm(client, token, **extra):
    body = {"action": "blind_above", "confirm": token, "reason": REASON, **extra}
    return client.post("/api/v1/actions", body, content_type="application/json")


@pytest.mark.django_db
def test_api_refuses_another_reviewers_token(reviewer, other_reviewer, make_review):
    make_review(0.99)
    token = api_preview(login(reviewer))
    response = api_confirm(login(other_reviewer), token)
    assert response.status_code == 400
    assert "confirmation token belongs to another reviewer" in response.json()["error"]
    assert_nothing_blinded()


@pytest.mark.django_db
def test_api_refuses_a_token_sent_again_after_undo(reviewer, make_review):
    make_review(0.99)
    client = login(reviewer)
    token = api_preview(client)
    done = api_confirm(client, token)
    assert done.status_code == 200 and done.json()["changed"] == 1
    undo = client.post(
        "/api/v1/actions", {"action": "undo", "batch": done.json()["batch"]}, content_type="application/json"
    )
    assert undo.json()["changed"] == 1
    again = api_confirm(client, token)
    assert again.status_code == 400 and "confirmation token was already used" in again.json()["error"]
    assert blinded_count() == 0 and not Review.objects.filter(visibility="blinded").exists()


@pytest.mark.django_db
def test_api_refuses_a_token_sent_with_another_check(ads, reviewer, make_review):
    make_review(0.99)
    client = login(reviewer)
    token = api_preview(client, check="unused")
    response = api_confirm(client, token, check="ads")
    assert response.status_code == 400
    assert response.json()["error"].startswith("the confirmation token is for check 'unused', not 'ads'")
    assert_nothing_blinded()
    assert api_confirm(client, token, check="unused").json()["changed"] == 1


# --- two confirmations of one token at the same moment (PostgreSQL row and advisory locks) ----------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_confirmations_of_one_token_blind_once(postgres, check, reviewer, make_review, monkeypatch):
    for i in range(40):
        make_review(0.9 + i / 1000)
    preview = actions.preview_threshold(check, 0.9, user=reviewer)
    move = actions.move

    def slow_move(*args, **kwargs):  # keeps the first confirmation's transaction open while the second arrives
        moved = move(*args, **kwargs)
        time.sleep(0.5)
        return moved

    monkeypatch.setattr(actions, "move", slow_move)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def confirm():
        from django.utils import translation

        try:
            translation.activate(
                "en"
            )  # a new thread starts in LANGUAGE_CODE (Korean): the message is asserted in English
            barrier.wait()
            results.append(actions.blind_above(reviewer, preview.token, REASON))
        except actions.ActionError as exc:
            errors.append(str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 1 and results[0].changed == 40
    assert len(errors) == 1 and "already used" in errors[0]
    assert Action.objects.filter(kind="blind").count() == 40
    assert set(Action.objects.values_list("batch", flat=True)) == {preview.batch}
