"""The product and comparison pages in headless Chromium, in Korean: the profile is drawn as bars, a bar
lists its sentences with the phrase highlighted, hostile review text stays text, and no English is left
but data. Screenshots go to artifacts/screenshots/ (attributes-product.png, attributes-compare.png; full pages) and
the README's (small, cropped) to docs/screenshots/."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

from attributes.models import AttributeModel
from moderation.models import Product, Review
from tests.browser import SCREENSHOTS, doc_screenshot

from .conftest import PASSWORD, phrase

ALLOWED_ENGLISH = {"hwadmin", "English", "BHA"}
XSS = '<script>window.__xss = "script"</script><img src="x" onerror="window.__xss = \'img\'"> <b>굵게</b>'

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def english_left(tab):
    """Runs of 3+ ASCII letters in the visible text that are neither data nor allowed."""
    text = tab.inner_text("body")
    data = set()
    for review in Review.objects.all():
        data |= {review.good_text, review.bad_text}
    for product in Product.objects.all():
        data |= {product.name, product.brand, product.category, product.external_id}
    data |= set(AttributeModel.objects.values_list("name", flat=True))
    from django.contrib.auth.models import User

    data |= set(User.objects.values_list("username", flat=True))
    for value in sorted((d for d in data if d), key=len, reverse=True):
        text = text.replace(value, " ")
    return sorted({w for w in re.findall(r"[A-Za-z]{3,}", text) if w not in ALLOWED_ENGLISH})


def widths(tab, selector):
    return tab.locator(selector).evaluate_all("els => els.map(e => e.getBoundingClientRect().width)")


def test_product_and_comparison_charts(page, live_server, reviewer, make_review):
    moist, dry, scent = phrase("moisture"), phrase("moisture", "neg"), phrase("scent")
    ampoule = "에센스/세럼/앰플"
    for text in (f"{XSS} {moist}", moist, f"좋아요. {moist}", dry, scent, "배송 빨라요"):
        make_review(good_text=text, product="p-1", name="BHA 클리어 앰플", category=ampoule)
    for text in (moist, dry, dry, "무난해요"):
        make_review(good_text=text, product="p-2", name="수분 앰플", category=ampoule)
    call_command("extract_attributes", stdout=StringIO(), stderr=StringIO())
    product = Product.objects.get(external_id="p-1")
    url = live_server.url

    page.goto(f"{url}/products/{product.pk}/")
    assert "/login/" in page.url
    page.fill("input[name=username]", reviewer.username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert page.url.endswith(f"/products/{product.pk}/")

    # The chart: a row per attribute; moisture's bar is drawn 3/6 positive and 1/6 negative of the track.
    assert page.locator("#profile-chart .attr-row").count() >= 20
    row = page.locator('#profile-chart .attr-bar[data-attribute="moisture"]')
    track = row.locator(".attr-track").evaluate("e => e.getBoundingClientRect().width")
    pos, neg = widths(row, ".seg.pos")[0], widths(row, ".seg.neg")[0]
    assert pos == pytest.approx(track * 3 / 6, abs=2) and neg == pytest.approx(track / 6, abs=2)
    assert widths(row, ".ci")[0] > 0 and "4/6" in row.inner_text() and "95% 신뢰구간" in row.inner_text()
    assert page.locator("#profile-chart .attr-name").first.inner_text() == "보습"
    assert english_left(page) == []

    # A click on the positive part lists its sentences, the phrase marked, the hostile text as text.
    with page.expect_navigation():
        row.locator(".seg.pos").click()
    assert "attribute=moisture" in page.url and "polarity=pos" in page.url
    items = page.locator("#sentence-list li")
    assert items.count() == 3 and page.locator("#sentence-list mark").count() >= 3
    assert page.locator("#sentence-list mark").first.inner_text() == moist
    assert page.evaluate("window.__xss") is None and page.dialogs == []
    assert page.locator("#sentence-list img").count() == 0 and page.locator("#sentence-list b").count() == 0
    assert any("<script>" in t for t in items.all_inner_texts())
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / "attributes-product.png"), full_page=True)
    doc_screenshot(page, "attributes-product.png")
    assert english_left(page) == []

    # The comparison: the example groups are filled in; BHA-named ampoules against the others.
    page.goto(f"{url}/products/compare/")
    assert page.input_value("input[name=a_name]") == "BHA, 바하"
    with page.expect_navigation():
        page.click("#compare")
    chart = page.locator("#compare-chart")
    moisture = chart.locator(".attr-row").filter(has=page.locator('.attr-bar[data-attribute="moisture"]')).first
    a, b = moisture.locator(".group-a .attr-bar"), moisture.locator(".group-b .attr-bar")
    assert a.get_attribute("data-count") == "4" and a.get_attribute("data-n") == "6"
    assert b.get_attribute("data-count") == "3" and b.get_attribute("data-n") == "4"
    assert widths(moisture, ".group-a .seg.pos")[0] > 0 and widths(moisture, ".group-b .seg.neg")[0] > 0
    assert "상품 1개, 태깅된 리뷰 6건" in page.inner_text("#group-sizes")
    assert page.evaluate("window.__xss") is None
    page.screenshot(path=str(SCREENSHOTS / "attributes-compare.png"), full_page=True)
    page.locator("#group-sizes").scroll_into_view_if_needed()
    page.evaluate(
        "window.scrollTo(0, document.querySelector('#group-sizes').getBoundingClientRect().top + window.scrollY - 60)"
    )
    doc_screenshot(page, "attributes-compare.png")
    assert english_left(page) == []

    # The product list, from the header: a search finds the BHA ampoule, and its link opens its profile.
    with page.expect_navigation():
        page.click('header a[href="/products/"]')
    assert page.locator("#product-list tbody tr").count() == 2 and "상품 2개" in page.inner_text("#product-count")
    assert english_left(page) == []
    page.screenshot(path=str(SCREENSHOTS / "attributes-products.png"), full_page=True)
    page.fill("input[name=q]", "bha")
    with page.expect_navigation():
        page.click("#product-search button[type=submit]")
    assert page.locator("#product-list tbody tr").count() == 1
    with page.expect_navigation():
        page.click("#product-list a")
    assert page.url.endswith(f"/products/{product.pk}/") and page.locator("#profile-chart").count() == 1
