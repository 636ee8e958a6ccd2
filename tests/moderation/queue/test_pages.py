"""The reviewer pages and the API, through Django's test client."""

import csv
import io

import pytest
from django.test import Client

from moderation import actions, dashboard
from moderation.models import Action, QueueItem
from tests.users import REASON

from .conftest import PASSWORD, csrf

# Runs twice: on SQLite in the unit run, on PostgreSQL in the integration run (scripts/test).
pytestmark = pytest.mark.engines


def test_queue_page_shows_sorted_rows_and_escapes_text(browser, make_review):
    make_review(0.4, good_text="평범한 후기")
    make_review(0.97, good_text='<script>alert("x")</script><img src=x onerror=alert(1)>')
    html = browser.get("/queue/unused/").content.decode()
    assert html.index("0.970") < html.index("0.400")
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "electra-unused-v1" in html


def test_blind_from_the_page_reports_and_offers_undo(browser, check, make_review):
    a, b = make_review(0.9), make_review(0.8)
    token = csrf(browser, "/queue/unused/")
    refused = browser.post("/queue/unused/decide", {"review": [a.pk], "action": "blind", "reason": REASON})
    assert refused.status_code == 403  # no CSRF token
    response = browser.post(
        "/queue/unused/decide",
        {
            "review": [a.pk, b.pk],
            "action": "blind",
            "reason": REASON,
            "csrfmiddlewaretoken": token,
            "next": "/queue/unused/?p_min=0.5",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/queue/unused/?p_min=0.5"
    html = response.content.decode()
    assert "리뷰 2건을 블라인드했습니다." in html and 'id="undo-flash"' in html
    batch = Action.objects.values_list("batch", flat=True).distinct().get()
    assert str(batch) in html
    undone = browser.post("/undo", {"batch": "last", "csrfmiddlewaretoken": token}, follow=True)
    assert "리뷰 2건을 되돌렸습니다." in undone.content.decode()
    assert QueueItem.objects.filter(status="open").count() == 2


def test_threshold_page_confirms_then_blinds(browser, make_review):
    for p in (0.995, 0.991, 0.5):
        make_review(p)
    page = browser.get("/queue/unused/blind-above", {"threshold": "0.99", "rating": "5"})
    html = page.content.decode()
    assert 'id="threshold-count">2<' in html
    token = html.split('name="token" value="')[1].split('"')[0]
    response = browser.post(
        "/queue/unused/blind-above",
        {"token": token, "reason": REASON, "csrfmiddlewaretoken": browser.cookies["csrftoken"].value},
        follow=True,
    )
    assert "리뷰 2건을 블라인드했습니다." in response.content.decode()
    assert QueueItem.objects.filter(status="blinded").count() == 2


def test_review_page_shows_scores_and_history(browser, check, reviewer, make_review):
    review = make_review(0.88)
    actions.blind(reviewer, check, [review.pk], REASON, "메모")
    html = browser.get(f"/reviews/{review.pk}/").content.decode()
    assert 'id="history"' in html and "메모" in html and REASON in html
    assert "blinded" in html


def test_audit_filters_and_csv(browser, check, reviewer, other_reviewer, make_review):
    a, b = make_review(0.9), make_review(0.3)
    actions.blind(reviewer, check, [a.pk], REASON)
    actions.keep(other_reviewer, check, [b.pk])
    html = browser.get("/audit/", {"user": reviewer.username}).content.decode()
    assert html.count('class="audit-row"') == 1
    response = browser.get("/audit.csv", {"kind": "keep"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:3] == ["created_at", "batch", "kind"]
    assert [(r[2], r[3], int(r[5])) for r in rows[1:]] == [("keep", other_reviewer.username, b.pk)]


def csv_rows(response):
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def test_audit_csv_without_dates_covers_the_last_366_days_and_says_so(browser, check, reviewer, make_review):
    from datetime import timedelta

    from django.utils import timezone

    recent, old = make_review(0.9), make_review(0.8)
    actions.blind(reviewer, check, [recent.pk], REASON)
    kept = actions.keep(reviewer, check, [old.pk])
    Action.objects.filter(batch=kept.batch).update(created_at=timezone.now() - timedelta(days=400))
    today = timezone.localdate()
    response = browser.get("/audit.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    start = today - timedelta(days=365)
    assert response["Content-Disposition"] == (
        f'attachment; filename="hwadmin-audit-{start.isoformat()}_{today.isoformat()}-last-366-days.csv"'
    )
    assert response["X-Hwadmin-Export-Range"].startswith(
        f"{start.isoformat()}..{today.isoformat()} (default: the last 366 days"
    )
    assert [int(r[5]) for r in csv_rows(response)[1:]] == [recent.pk]  # the 400-day-old keep is outside
    # A batch alone bounds the export: its rows come whatever their age.
    by_batch = browser.get("/audit.csv", {"batch": str(kept.batch)})
    assert by_batch["Content-Disposition"] == f'attachment; filename="hwadmin-audit-batch-{kept.batch}.csv"'
    assert [int(r[5]) for r in csv_rows(by_batch)[1:]] == [old.pk]
    # A date range given is used as given (and named in the file name, without "last").
    dated = browser.get("/audit.csv", {"date_from": "2020-01-01", "date_to": "2020-12-31"})
    assert dated.status_code == 200 and "2020-01-01_2020-12-31.csv" in dated["Content-Disposition"]
    assert "last" not in dated["Content-Disposition"] and csv_rows(dated)[1:] == []


def test_audit_csv_refuses_a_range_too_wide_or_too_many_rows(browser, check, reviewer, make_review, settings):
    reviews = [make_review(0.9), make_review(0.8)]
    actions.keep(reviewer, check, [r.pk for r in reviews])
    wide = browser.get("/audit.csv", {"date_from": "2024-01-01", "date_to": "2025-12-31"})
    assert wide.status_code == 400 and not wide.streaming
    message = wide.content.decode()
    assert "spans 731 days, more than the 366" in message and "narrow the date range" in message
    only_start = browser.get("/audit.csv", {"date_from": "1990-01-01"})  # runs to today: too wide
    assert only_start.status_code == 400 and "HWADMIN_AUDIT_EXPORT_MAX_DAYS" in only_start.content.decode()
    backwards = browser.get("/audit.csv", {"date_from": "2025-02-01", "date_to": "2025-01-01"})
    assert backwards.status_code == 400 and "is after date_to" in backwards.content.decode()
    bad = browser.get("/audit.csv", {"date_from": "yesterday"})
    assert bad.status_code == 400 and "date_from" in bad.content.decode()
    settings.HWADMIN = {**settings.HWADMIN, "AUDIT_EXPORT_MAX_ROWS": 1}
    many = browser.get("/audit.csv")
    assert many.status_code == 400
    assert (
        "would hold 2 rows, more than the 1" in many.content.decode()
        and "narrow the date range" in many.content.decode()
    )
    settings.HWADMIN = {**settings.HWADMIN, "AUDIT_EXPORT_MAX_ROWS": 2, "AUDIT_EXPORT_MAX_DAYS": 7}
    assert browser.get("/audit.csv", {"date_from": "2025-01-01", "date_to": "2025-01-08"}).status_code == 400
    fits = browser.get("/audit.csv")
    assert fits.status_code == 200 and "-last-7-days.csv" in fits["Content-Disposition"] and len(csv_rows(fits)) == 3


def test_dashboard_figures(browser, check, reviewer, make_review):
    reviews = [make_review(p) for p in (0.995, 0.95, 0.92, 0.6, 0.55, 0.1)]
    actions.blind(reviewer, check, [reviews[1].pk], REASON)
    actions.keep(reviewer, check, [reviews[2].pk])
    actions.blind(reviewer, check, [reviews[3].pk], REASON)
    sizes = dashboard.queue_sizes(check)
    assert sizes == {"total": 3, "levels": [(0.5, 2), (0.9, 1), (0.99, 1)]}
    bands = {(b["low"], b["high"]): (b["decided"], b["blinded"]) for b in dashboard.blind_share_by_band(check)}
    assert bands[(0.9, 0.95)] == (1, 0) and bands[(0.95, 0.99)] == (1, 1) and bands[(0.5, 0.7)] == (1, 1)
    bars = dashboard.histogram(check)
    assert sum(bar["total"] for bar in bars) == 6 and bars[19]["open"] == 1 and bars[19]["blinded"] == 1
    waiting = make_review(0.7)
    QueueItem.objects.filter(review=waiting).delete()  # as if no classifier had scored it yet
    assert dashboard.pipeline_counts(check) == {
        "received": 7,
        "scored": 6,
        "waiting": 1,
        "classifier": check.active_classifier,
    }
    html = browser.get("/dashboard/unused/").content.decode()
    assert "<svg" in html and html.count("<rect") >= 5 and 'id="bands"' in html
    assert reviewer.username in html


def test_api_queue_and_actions(reviewer, check, make_review):
    client = Client()
    client.login(username=reviewer.username, password=PASSWORD)
    high, mid, low = make_review(0.9), make_review(0.6), make_review(0.2)
    body = client.get("/api/v1/queue", {"limit": 2}).json()
    assert [i["review_id"] for i in body["items"]] == [high.pk, mid.pk] and body["next"]
    assert [i["review_id"] for i in client.get("/api/v1/queue", {"after": body["next"]}).json()["items"]] == [low.pk]
    assert client.get("/api/v1/queue", {"p_min": "2"}).status_code == 400
    blind = client.post(
        "/api/v1/actions",
        {"action": "blind", "review_ids": [high.pk], "reason": REASON},
        content_type="application/json",
    )
    assert blind.status_code == 200 and blind.json()["changed"] == 1
    listed = client.get("/api/v1/actions", {"kind": "blind"}).json()["actions"]
    assert [(a["review_id"], a["user"]) for a in listed] == [(high.pk, reviewer.username)]
    undo = client.post("/api/v1/actions", {"action": "undo", "batch": "last"}, content_type="application/json")
    assert undo.json()["changed"] == 1
    preview = client.post(
        "/api/v1/actions",
        {"action": "blind_above", "threshold": 0.5, "filters": {"rating": [5]}},
        content_type="application/json",
    ).json()
    assert preview["count"] == 2 and len(preview["sample"]) == 2
    done = client.post(
        "/api/v1/actions",
        {"action": "blind_above", "confirm": preview["confirm"], "reason": REASON},
        content_type="application/json",
    ).json()
    assert done["changed"] == 2
    missing = client.post(
        "/api/v1/actions", {"action": "blind", "review_ids": [low.pk]}, content_type="application/json"
    )
    assert missing.status_code == 400 and "choose a reason" in missing.json()["error"]


def test_api_errors_say_what_to_send(reviewer, make_review):
    client = Client()
    client.login(username=reviewer.username, password=PASSWORD)
    assert "unknown check 'nope'" in client.get("/api/v1/queue", {"check": "nope"}).json()["error"]
    assert "cursor" in client.get("/api/v1/queue", {"after": "x"}).json()["error"]
    assert "limit" in client.get("/api/v1/queue", {"limit": "0"}).json()["error"]
    bad_undo = client.post("/api/v1/actions", {"action": "undo", "batch": "nope"}, content_type="application/json")
    assert bad_undo.status_code == 400 and "not a batch id" in bad_undo.json()["error"]
    nothing = client.post("/api/v1/actions", {"action": "keep", "review_ids": []}, content_type="application/json")
    assert nothing.status_code == 400 and "select at least one review" in nothing.json()["error"]


def test_blinded_list_and_unblind(browser, check, reviewer, make_review):
    hidden = make_review(0.97, good_text="숨겨진 후기", status="blinded")
    make_review(0.5, good_text="보이는 후기")
    html = browser.get("/queue/unused/blinded").content.decode()
    assert "숨겨진 후기" in html and "보이는 후기" not in html
    token = browser.cookies["csrftoken"].value
    response = browser.post("/queue/unused/unblind", {"review": [hidden.pk], "csrfmiddlewaretoken": token}, follow=True)
    assert "리뷰 1건의 블라인드를 해제했습니다." in response.content.decode()
    hidden.refresh_from_db()
    assert hidden.visibility == "visible" and hidden.queue_items.get().status == "kept"


def test_product_brand_and_category_texts_are_escaped_too(browser, make_review):
    make_review(0.9, product='p-<b>1</b>&"', brand="<img src=x onerror=alert(1)>", category="크림'\"<i>")
    html = browser.get("/queue/unused/").content.decode()
    assert "<img src=x" not in html and "<b>1</b>" not in html and "<i>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert '<a href="?brand=%3Cimg+src%3Dx+onerror%3Dalert%281%29%3E">&lt;img src=x onerror=alert(1)&gt;</a>' in html
    assert '<a href="?category=%ED%81%AC%EB%A6%BC%27%22%3Ci%3E">크림&#x27;&quot;&lt;i&gt;</a>' in html
    assert '<a href="?product=p-%3Cb%3E1%3C%2Fb%3E%26%22">' in html
    # The filter's suggestions (datalists) are escaped as well.
    assert '<option value="&lt;img src=x onerror=alert(1)&gt;">' in html


def test_a_queue_page_costs_the_same_queries_for_few_and_many_rows(browser, check, make_review):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(url):
        browser.get(url)  # warm: the filter suggestions are cached after the first request
        with CaptureQueriesContext(connection) as captured:
            response = browser.get(url)
        assert response.status_code == 200
        return len(captured), response.content.decode().count('class="item"')

    for i in range(3):
        make_review(0.9 - i / 100, product=f"p-{i}", brand=f"브랜드{i}")
    few = queries("/queue/unused/")
    for i in range(3, 40):
        make_review(0.8 - i / 100, product=f"p-{i}", brand=f"브랜드{i}")
    many = queries("/queue/unused/")
    assert few[1] == 3 and many[1] == 40
    assert few[0] == many[0] <= 12, (few, many)  # no query per row (N+1)
    api_few = queries("/api/v1/queue?limit=3")
    api_many = queries("/api/v1/queue?limit=40")
    assert api_few[0] == api_many[0]


def test_the_cached_checks_follow_an_edit_at_once(browser, check, make_review):
    make_review(0.9)
    assert "미사용 리뷰" in browser.get("/queue/unused/").content.decode()
    check.name = "미사용 리뷰 (개정)"
    check.reasons = [*check.reasons, "새 사유"]
    check.save()
    html = browser.get("/queue/unused/").content.decode()
    assert "미사용 리뷰 (개정)" in html and '<option value="새 사유">' in html
    assert browser.get("/queue/nope/").status_code == 404
