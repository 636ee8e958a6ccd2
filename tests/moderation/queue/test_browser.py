"""The reviewer's day in headless Chromium, in Korean: log in, filter, keyboard-select, blind, undo,
threshold-blind, audit; hostile review text stays text; no English is left on the pages; English is
one click away and remembered. Screenshots go to artifacts/screenshots/, and the README's (small,
cropped) to docs/screenshots/."""

import re

import pytest

from moderation.models import Action, Check, Classifier, Product, QueueItem, Review
from tests.browser import SCREENSHOTS, doc_screenshot

from .conftest import PASSWORD

# Runs of 3+ ASCII letters a Korean page may show besides the data (review texts, product names, brands,
# categories, reasons, user names, classifier and check names, sources, batch ids): the product's name,
# the language switch's own label, the Esc key's cap, and the file format and metric names.
ALLOWED_ENGLISH = {"hwadmin", "English", "Esc", "CSV", "AUROC", "AP", "ECE"}
XSS_GOOD = '<script>window.__xss = "script"</script>미사용 <b>굵게</b>'
XSS_BAD = '<img src="x" onerror="window.__xss = \'img\'">'

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def data_strings():
    """Every string the pages show that comes from the data, not from the product."""
    strings = {"test"}  # the reviews' source
    for review in Review.objects.all():
        strings |= {review.good_text, review.bad_text, review.source, review.external_id}
    for product in Product.objects.all():
        strings |= {product.name, product.brand, product.category, product.external_id}
    for check in Check.objects.all():
        strings |= {check.code, check.name, *check.reasons}
    strings |= set(Classifier.objects.values_list("name", flat=True))
    from django.contrib.auth.models import User

    strings |= set(User.objects.values_list("username", flat=True))
    return sorted((s for s in strings if s), key=len, reverse=True)


def english_left(tab):
    """Runs of 3+ ASCII letters in the page's visible text that are neither data nor allowed."""
    data = data_strings()
    text = tab.inner_text("body")
    for value in data:
        text = text.replace(value, " ")
    text = re.sub(r"\b[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\b|\b[0-9a-f]{8}\b", " ", text)  # batch ids
    # Pages shorten long texts ("…"): a word of the data, or its start, is data too.
    data_words = set(re.findall(r"[A-Za-z]+", " ".join(data)))
    return sorted(
        {
            word
            for word in re.findall(r"[A-Za-z]{3,}", text)
            if word not in ALLOWED_ENGLISH and not any(known.startswith(word) for known in data_words)
        }
    )


def probabilities(tab):
    return [float(p) for p in tab.locator("tr.item").evaluate_all("rows => rows.map(r => r.dataset.probability)")]


def test_a_reviewers_day(page, live_server, reviewer, make_review):
    make_review(0.999, good_text=XSS_GOOD, bad_text=XSS_BAD, brand="이니스프리")
    for p in (0.98, 0.97, 0.96, 0.93, 0.8, 0.62, 0.55, 0.3, 0.12):
        make_review(p, rating=4 if p < 0.5 else 5)
    url = live_server.url

    page.goto(f"{url}/queue/")
    assert "/login/" in page.url
    assert page.locator("html").get_attribute("lang") == "ko" and english_left(page) == []
    page.fill("input[name=username]", reviewer.username)
    page.fill("input[name=password]", PASSWORD)
    doc_screenshot(page, "login.png")
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert page.url.endswith("/queue/unused/")

    # Sorted, highest first; the hostile text is shown as text and runs nothing.
    seen = probabilities(page)
    assert seen == sorted(seen, reverse=True) and len(seen) == 10
    assert page.evaluate("window.__xss") is None and page.dialogs == []
    assert page.locator("#queue img").count() == 0 and page.locator("#queue b").count() == 0
    first_text = page.locator("tr.item").first.locator(".texts").inner_text()
    assert "<script>" in first_text and "onerror" in first_text
    page.screenshot(path=str(SCREENSHOTS / "queue.png"), full_page=True)
    doc_screenshot(page, "queue.png")
    assert english_left(page) == []

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
    assert page.inner_text("#selected-count") == "3개 선택"
    chosen = [int(v) for v in page.locator("tr.item.selected").evaluate_all("rows => rows.map(r => r.dataset.review)")]
    with page.expect_navigation():
        page.keyboard.press("b")
    assert "리뷰 3건을 블라인드했습니다." in page.inner_text("#flash")
    assert page.inner_text("#undo-flash") == "되돌리기" and english_left(page) == []
    doc_screenshot(page, "blinded.png")
    assert "p_min=0.5" in page.url
    assert set(Review.objects.filter(visibility="blinded").values_list("pk", flat=True)) == set(chosen)
    assert Action.objects.filter(kind="blind", user=reviewer).count() == 3
    assert not set(chosen) & {
        int(v) for v in page.locator("tr.item").evaluate_all("rows => rows.map(r => r.dataset.review)")
    }

    # Undo with the keyboard.
    with page.expect_navigation():
        page.keyboard.press("u")
    assert "리뷰 3건을 되돌렸습니다." in page.inner_text("#flash")
    assert not Review.objects.filter(visibility="blinded").exists()

    # Blind all >= 0.95 in this filter: a confirmation with the count and a sample first.
    page.fill("#threshold-value", "0.95")
    with page.expect_navigation():
        page.click("#threshold-preview")
    assert page.inner_text("#threshold-count") == "4"
    assert page.locator("#threshold-sample tr").count() == 5  # header + 4
    assert page.evaluate("window.__xss") is None
    page.screenshot(path=str(SCREENSHOTS / "threshold-confirmation.png"), full_page=True)
    doc_screenshot(page, "threshold.png")
    assert english_left(page) == []
    with page.expect_navigation():
        page.click("#threshold-confirm")
    assert "리뷰 4건을 블라인드했습니다." in page.inner_text("#flash")
    assert QueueItem.objects.filter(status="blinded", probability__gte=0.95).count() == 4

    # Keep the current row with one key (no selection: the row under the cursor).
    kept = int(page.locator("tr.item.cursor").get_attribute("data-review"))
    with page.expect_navigation():
        page.keyboard.press("e")
    assert "리뷰 1건을 유지했습니다." in page.inner_text("#flash")
    assert QueueItem.objects.get(review_id=kept).status == "kept"

    # The audit page shows the rows; the dashboard draws the chart.
    page.goto(f"{url}/audit/?kind=blind")
    rows = page.locator("tr.audit-row")
    assert rows.count() == 3 + 4  # the selected blind and the threshold blind
    assert reviewer.username in rows.first.inner_text() and "일괄 ≥ 0.95" in rows.first.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "audit.png"), full_page=True)
    assert english_left(page) == []
    page.goto(f"{url}/audit/")  # every kind, undo rows included
    assert english_left(page) == []
    doc_screenshot(page, "audit.png")
    page.goto(f"{url}/reviews/{chosen[0]}/")  # blinded, undone: a history of three rows
    assert page.locator("#history tr").count() >= 3 and english_left(page) == []
    page.goto(f"{url}/queue/unused/blinded")
    assert english_left(page) == []
    page.goto(f"{url}/")
    assert english_left(page) == []
    page.goto(f"{url}/dashboard/")
    assert page.locator("#histogram rect").count() >= 5
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    doc_screenshot(page, "dashboard.png")
    assert english_left(page) == []
    page.keyboard.press("?")  # the help only opens on the queue; it is Korean there too
    page.goto(f"{url}/queue/unused/")
    page.keyboard.press("?")
    assert "다음 리뷰" in page.inner_text("#help") and english_left(page) == []
    assert page.evaluate("window.__xss") is None and page.dialogs == []


def test_english_is_one_click_away_and_remembered(page, live_server, reviewer, make_review):
    make_review(0.97)
    make_review(0.42)
    url = live_server.url
    page.goto(f"{url}/login/")
    page.fill("input[name=username]", reviewer.username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert page.url.endswith("/queue/") or page.url.endswith("/queue/unused/")
    assert "선택 블라인드" in page.inner_text("#blind-selected")

    # One click (a POST with its CSRF token to set_language), back on the same page, in English.
    with page.expect_navigation():
        page.click("#language-en")
    assert page.url.endswith("/queue/unused/") and page.locator("html").get_attribute("lang") == "en"
    assert "Blind selected" in page.inner_text("#blind-selected")
    page.keyboard.press("x")
    assert page.inner_text("#selected-count") == "1 selected"
    # Remembered on the next pages (the language cookie), over the browser's Korean Accept-Language.
    for path, words in (
        ("/dashboard/", "Reviews received"),
        ("/audit/", "Export CSV"),
        ("/queue/unused/blinded", "Unblind selected"),
    ):
        page.goto(f"{url}{path}")
        assert words in page.inner_text("body"), path
    # And back to Korean, remembered too.
    with page.expect_navigation():
        page.click("#language-ko")
    page.goto(f"{url}/dashboard/")
    assert "받은 리뷰" in page.inner_text("body") and english_left(page) == []
