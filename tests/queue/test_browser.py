"""The reviewer's day in headless Chromium: log in, filter, keyboard-select, blind, undo,
threshold-blind, audit; hostile review text stays text. Screenshots go to artifacts/screenshots/."""

import shutil
from pathlib import Path

import pytest
from django.conf import settings

from moderation.models import Action, QueueItem, Review

from .conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(settings.BASE_DIR) / "artifacts" / "screenshots"
XSS_GOOD = '<script>window.__xss = "script"</script>미사용 <b>굵게</b>'
XSS_BAD = '<img src="x" onerror="window.__xss = \'img\'">'

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def page():
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium chromium-driver")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="ko-KR")
        tab = context.new_page()
        tab.dialogs = []
        tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
        yield tab
        context.close()
        browser.close()


def probabilities(tab):
    return [float(p) for p in tab.locator("tr.item").evaluate_all("rows => rows.map(r => r.dataset.probability)")]


def test_a_reviewers_day(page, live_server, reviewer, make_review):
    make_review(0.999, good_text=XSS_GOOD, bad_text=XSS_BAD, brand="이니스프리")
    for p in (0.98, 0.97, 0.96, 0.93, 0.8, 0.62, 0.55, 0.3, 0.12):
        make_review(p, rating=4 if p < 0.5 else 5)
    url = live_server.url

    page.goto(f"{url}/queue/")
    assert "/login/" in page.url
    page.fill("input[name=username]", reviewer.username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url.endswith("/queue/unused/")

    # Sorted, highest first; the hostile text is shown as text and runs nothing.
    seen = probabilities(page)
    assert seen == sorted(seen, reverse=True) and len(seen) == 10
    assert page.evaluate("window.__xss") is None and page.dialogs == []
    assert page.locator("#queue img").count() == 0 and page.locator("#queue b").count() == 0
    first_text = page.locator("tr.item").first.locator(".texts").inner_text()
    assert "<script>" in first_text and "onerror" in first_text
    page.screenshot(path=str(SCREENSHOTS / "queue.png"), full_page=True)

    # Filter: shown in the URL, applied to the rows.
    page.fill("input[name=p_min]", "0.5")
    page.check("input[name=rating][value='5']")
    with page.expect_navigation():
        page.click("#apply-filters")
    assert "p_min=0.5" in page.url and "rating=5" in page.url
    assert min(probabilities(page)) >= 0.5 and len(probabilities(page)) == 8

    # Keyboard: help, then select rows 2-4 and blind them.
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()
    page.keyboard.press("j")
    for key in ("x", "j", "x", "j", " "):
        page.keyboard.press(key)
    assert page.inner_text("#selected-count") == "3 selected"
    chosen = [int(v) for v in page.locator("tr.item.selected").evaluate_all("rows => rows.map(r => r.dataset.review)")]
    with page.expect_navigation():
        page.keyboard.press("b")
    assert "Blinded 3 reviews." in page.inner_text("#flash")
    assert "p_min=0.5" in page.url
    assert set(Review.objects.filter(visibility="blinded").values_list("pk", flat=True)) == set(chosen)
    assert Action.objects.filter(kind="blind", user=reviewer).count() == 3
    assert not set(chosen) & {int(v) for v in page.locator("tr.item").evaluate_all("rows => rows.map(r => r.dataset.review)")}

    # Undo with the keyboard.
    with page.expect_navigation():
        page.keyboard.press("u")
    assert "Reverted 3 reviews." in page.inner_text("#flash")
    assert not Review.objects.filter(visibility="blinded").exists()

    # Blind all >= 0.95 in this filter: a confirmation with the count and a sample first.
    page.fill("#threshold-value", "0.95")
    with page.expect_navigation():
        page.click("#threshold-preview")
    assert page.inner_text("#threshold-count") == "4"
    assert page.locator("#threshold-sample tr").count() == 5  # header + 4
    assert page.evaluate("window.__xss") is None
    page.screenshot(path=str(SCREENSHOTS / "threshold-confirmation.png"), full_page=True)
    with page.expect_navigation():
        page.click("#threshold-confirm")
    assert "Blinded 4 reviews." in page.inner_text("#flash")
    assert QueueItem.objects.filter(status="blinded", probability__gte=0.95).count() == 4

    # Keep the current row with one key (no selection: the row under the cursor).
    kept = int(page.locator("tr.item.cursor").get_attribute("data-review"))
    with page.expect_navigation():
        page.keyboard.press("e")
    assert "Kept 1 review." in page.inner_text("#flash")
    assert QueueItem.objects.get(review_id=kept).status == "kept"

    # The audit page shows the rows; the dashboard draws the chart.
    page.goto(f"{url}/audit/?kind=blind")
    rows = page.locator("tr.audit-row")
    assert rows.count() == 3 + 4  # the selected blind and the threshold blind
    assert reviewer.username in rows.first.inner_text() and "all ≥ 0.95" in rows.first.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "audit.png"), full_page=True)
    page.goto(f"{url}/dashboard/")
    assert page.locator("#histogram rect").count() >= 5
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    assert page.evaluate("window.__xss") is None and page.dialogs == []
