"""The product and comparison pages: who may see them, the chart's figures, the sentences behind a bar
(highlighted, escaped), and bad input answered with a 4xx."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from attributes.profile import wilson
from moderation.models import Review

from .conftest import HOSTILE, phrase

pytestmark = pytest.mark.django_db


@pytest.fixture
def tagged(make_review):
    """p-1: 4 reviews, 3 moist (one with hostile text) and one dry; p-2 (a BHA ampoule): 2 reviews, 1 moist."""
    moist, dry = phrase("moisture"), phrase("moisture", "neg")
    make_review(good_text=f"{HOSTILE} {moist}", product="p-1", name=f"시카 크림 {HOSTILE}")
    make_review(good_text=moist, product="p-1")
    make_review(good_text=f"좋아요. {moist}", product="p-1")
    make_review(good_text=dry, product="p-1")
    make_review(good_text=moist, product="p-2", name="BHA 앰플", category="앰플")
    make_review(good_text="배송 빨라요", product="p-2", name="BHA 앰플", category="앰플")
    make_review(good_text=moist, product="p-3", name="수분 앰플", category="앰플")
    call_command("extract_attributes", stdout=StringIO(), stderr=StringIO())
    from moderation.models import Product

    return {p.external_id: p for p in Product.objects.all()}


def client_for(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_only_reviewers_and_staff_see_the_pages(tagged, reviewer, staff, outsider):
    url = f"/products/{tagged['p-1'].pk}/"
    for path in (url, "/products/compare/"):
        anonymous = Client().get(path)
        assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
        assert client_for(outsider).get(path).status_code == 403
        assert client_for(reviewer).get(path).status_code == 200
        assert client_for(staff).get(path).status_code == 200
    assert client_for(reviewer).get("/products/999999/").status_code == 404


def test_the_product_list_is_for_reviewers_and_staff_and_is_linked_from_every_page(tagged, reviewer, staff, outsider):
    anonymous = Client().get("/products/")
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert client_for(outsider).get("/products/").status_code == 403
    assert 'href="/products/"' not in client_for(outsider).get("/").content.decode()  # no link to a 403
    for user in (reviewer, staff):
        assert client_for(user).get("/products/").status_code == 200
        assert 'href="/products/"' in client_for(user).get("/").content.decode()  # the header's link


def product_rows(html):
    """[(name, href, visible, blinded)] of the list's table."""
    body = html.split('id="product-list"')[1].split("</tbody>")[0]
    return [
        (name, href, int(visible), int(blinded))
        for href, name, visible, blinded in re.findall(
            r'<a href="([^"]+)">([^<]*)</a></td>\s*<td>[^<]*</td><td>[^<]*</td>\s*'
            r"<td[^>]*>([0-9]+)</td><td[^>]*>([0-9]+)</td>",
            body,
        )
    ]


def test_the_product_list_searches_filters_counts_and_links_each_product(tagged, reviewer, make_review):
    make_review(good_text="가려진 리뷰", product="p-3", visibility=Review.Visibility.BLINDED)
    client = client_for(reviewer)
    html = client.get("/products/").content.decode()
    rows = product_rows(html)
    assert [r[0] for r in rows[:2]] == ["BHA 앰플", "수분 앰플"]  # by brand, then name
    assert rows[2][0].startswith("시카 크림 &lt;script&gt;")
    by_href = {r[1]: r for r in rows}
    assert by_href[f"/products/{tagged['p-1'].pk}/"][2:] == (4, 0)
    assert by_href[f"/products/{tagged['p-3'].pk}/"][2:] == (1, 1)  # one visible, one blinded
    assert "상품 3개" in html and "<script>" not in html.split("<main>")[1]  # Korean; the hostile name inert
    assert [r[0] for r in product_rows(client.get("/products/", {"q": "bha"}).content.decode())] == ["BHA 앰플"]
    assert len(product_rows(client.get("/products/", {"q": "p-"}).content.decode())) == 3  # external ids too
    in_category = product_rows(client.get("/products/", {"category": "앰플"}).content.decode())
    assert sorted(r[0] for r in in_category) == ["BHA 앰플", "수분 앰플"]
    none = client.get("/products/", {"q": "없는상품"}).content.decode()
    assert product_rows(none) == [] and "조건에 맞는 상품이 없습니다" in none


def test_the_product_list_pages_by_fifty_and_answers_bad_input_with_a_4xx(db, reviewer, make_review):
    for n in range(51):
        make_review(good_text="좋아요", product=f"q-{n:02d}", name=f"상품 {n:02d}")
    client = client_for(reviewer)
    first, second = client.get("/products/"), client.get("/products/", {"page": 2})
    assert len(product_rows(first.content.decode())) == 50 and len(product_rows(second.content.decode())) == 1
    assert "page=2" in first.content.decode() and "2페이지 중 1페이지" in first.content.decode()
    assert client.get("/products/", {"page": "x"}).status_code == 200  # not a page number: the first page
    assert client.get("/products/", {"q": "x" * 201}).status_code == 400
    assert client.get("/products/", {"category": "x" * 201}).status_code == 400
    assert client.get("/products/", {"q": "a\x00b"}).status_code == 400  # PostgreSQL would refuse the NUL
    assert client.post("/products/").status_code == 405


def test_the_review_page_links_its_product(tagged, reviewer):
    review = Review.objects.filter(product=tagged["p-2"]).first()
    html = client_for(reviewer).get(f"/reviews/{review.pk}/").content.decode()
    assert f'<a href="/products/{tagged["p-2"].pk}/" id="product-link">BHA 앰플</a>' in html


def test_the_product_page_is_a_chart_with_counts_and_intervals(tagged, reviewer):
    html = client_for(reviewer).get(f"/products/{tagged['p-1'].pk}/").content.decode()
    assert 'id="profile-chart"' in html and 'data-attribute="moisture"' in html
    low, high = wilson(4, 4)
    assert 'data-count="4" data-n="4"' in html  # every review mentions moisture: 3 positive, 1 negative
    assert f'data-low="{low:.4f}"' in html and f"{round(100 * low)}%–100%" in html
    assert 'class="seg pos" href="?attribute=moisture&amp;polarity=pos#sentences" style="width: 75.0%"' in html
    assert 'class="seg neg" href="?attribute=moisture&amp;polarity=neg#sentences" style="width: 25.0%"' in html
    assert "<script>" not in html.split("<main>")[1] and "&lt;script&gt;" in html  # the product name, escaped


def test_a_bars_sentences_are_listed_highlighted_and_inert(tagged, reviewer):
    moist = phrase("moisture")
    html = (
        client_for(reviewer)
        .get(f"/products/{tagged['p-1'].pk}/", {"attribute": "moisture", "polarity": "pos"})
        .content.decode()
    )
    listed = html.split('id="sentence-list"')[1].split("</ul>")[0]
    assert listed.count("<li") == 3 and f"<mark>{moist}</mark>" in listed
    assert "&lt;script&gt;window.__xss" in listed and "<script>" not in listed and "<img" not in listed
    negative = (
        client_for(reviewer)
        .get(f"/products/{tagged['p-1'].pk}/", {"attribute": "moisture", "polarity": "neg"})
        .content.decode()
    )
    assert negative.split('id="sentence-list"')[1].split("</ul>")[0].count("<li") == 1


@pytest.mark.parametrize(
    "query, status",
    [
        ({"attribute": "<b>"}, 400),
        ({"attribute": "moisture", "polarity": "maybe"}, 400),
        ({"attribute": "x" * 51}, 400),
        ({"attribute": "no_such_attribute"}, 404),
    ],
)
def test_bad_bar_queries_are_4xx(tagged, reviewer, query, status):
    response = client_for(reviewer).get(f"/products/{tagged['p-1'].pk}/", query)
    assert response.status_code == status


def test_the_comparison_page_shows_two_groups_side_by_side(tagged, reviewer):
    query = {"a_name": "BHA, 바하", "a_category": "앰플", "b_exclude": "BHA,바하", "b_category": "앰플"}
    response = client_for(reviewer).get("/products/compare/", query)
    html = response.content.decode()
    assert response.status_code == 200 and 'id="compare-chart"' in html
    chart = html.split('id="compare-chart"')[1]
    first = chart.split('class="attr-row"')[1]  # moisture: A 1 of 2, B 1 of 1
    assert 'data-attribute="moisture" data-count="1" data-n="2"' in first
    assert 'data-attribute="moisture" data-count="1" data-n="1"' in first
    assert "상품 1개, 태깅된 리뷰 2건" in html  # Korean by default


def test_the_comparison_page_refuses_an_empty_group_and_overlong_input(tagged, reviewer):
    client = client_for(reviewer)
    empty = client.get("/products/compare/", {"a_name": "BHA"})
    assert empty.status_code == 400 and 'id="form-errors"' in empty.content.decode()
    long = client.get("/products/compare/", {"a_name": "x" * 201, "b_brand": "라운드랩"})
    assert long.status_code == 400
    many = client.get("/products/compare/", {"a_ids": ",".join(f"p{n}" for n in range(201)), "b_brand": "x"})
    assert many.status_code == 400
    blank = client.get("/products/compare/")  # the form, with the example groups filled in
    assert blank.status_code == 200 and 'value="BHA, 바하"' in blank.content.decode()


def test_hostile_product_data_is_inert_on_the_comparison_page(tagged, reviewer):
    html = client_for(reviewer).get("/products/compare/", {"a_name": "<script>", "b_ids": "p-1"}).content.decode()
    main = html.split("<main>")[1]
    assert "<script>" not in main and "&lt;script&gt;" in main
