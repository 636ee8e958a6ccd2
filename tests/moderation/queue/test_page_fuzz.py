"""The HTML pages and their forms, fuzzed: random query strings and form fields, hostile values, as a staff
reviewer with a valid CSRF token; no answer may be a 5xx.

The schema fuzzer (test_schema_fuzz.py) covers the JSON API; the pages' forms post plain fields
(`review`, `reason`, `threshold`, `next`, `batch` ...) that no schema describes. This found a 500: a
`next` of "neg" or "²" reached `redirect`, which read it as a view name. Deterministic by default;
HWADMIN_FUZZ_SEED=<n> draws another set.
"""

import os
import random
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db

SEED = int(os.environ.get("HWADMIN_FUZZ_SEED") or 0)
PER_PAGE = 60
VALUES = [
    "", "0", "-1", "1", "2", "0.5", "1.5", "-0", "1e309", "nan", "inf", "0x10", " 1 ", "１２", "²", "9" * 40,
    "2026-13-45", "9999-12-31", "0001-01-01", "2026-11-30", "<script>alert(1)</script>", "'; drop table x; --",
    "\x00", "%00", "a" * 5000, "🙂", "null", "[]", "{}", "true", "last", "blind", "keep", "undo", "pos", "neg",
    "moisture", "x," * 300, "//evil.example/", "https://evil.example/", "/queue/unused/?page=2",
    "00000000-0000-0000-0000-000000000000", "not-a-uuid",
]  # fmt: skip
QUERY_FIELDS = [
    "p_min", "p_max", "page", "sort", "order", "q", "product", "brand", "category", "rating", "since", "until",
    "from", "to", "kind", "user", "batch", "band", "attribute", "polarity", "a_name", "a_none", "a_brand",
    "a_category", "a_ids", "b_name", "b_none", "b_brand", "b_category", "b_ids", "format", "after", "limit",
]  # fmt: skip
FORM_FIELDS = [
    "review", "action", "reason", "note", "threshold", "p_min", "token", "count", "expected", "confirm", "next",
    "batch", "language",
]  # fmt: skip


@pytest.fixture
def site(make_review, reviewer):
    """A queue with open, blinded and kept items over two products, attributes tagged, and the reviewer
    signed in (staff too, so the admin-only parts are reached) with the CSRF cookie."""
    from moderation.models import QueueItem

    reviews = [make_review(p, product=f"p-{i % 2}") for i, p in enumerate((0.97, 0.91, 0.6, 0.3, 0.05))]
    reviews.append(make_review(0.95, status=QueueItem.Status.BLINDED, good_text="촉촉하고 향이 좋아요"))
    reviews.append(make_review(0.8, status=QueueItem.Status.KEPT, good_text="끈적임 없이 흡수가 빨라요"))
    call_command("extract_attributes", "--reviews", "all", stdout=StringIO(), stderr=StringIO())
    reviewer.is_staff = True
    reviewer.save()
    client = Client(enforce_csrf_checks=True)
    client.login(username=reviewer.username, password=PASSWORD)
    client.get("/queue/unused/")
    return client, reviews


def test_no_page_or_form_answers_a_server_error(site):
    from moderation.models import Product

    client, reviews = site
    token = client.cookies["csrftoken"].value
    rng = random.Random(SEED)
    ids = [str(r.pk) for r in reviews] + [str(2**63), str(2**64)]
    values = VALUES + ids
    product = Product.objects.first()
    pages = [
        "/", "/queue/", "/queue/unused/", "/queue/unused/blinded", f"/reviews/{reviews[0].pk}/", "/audit/",
        "/audit.csv", "/dashboard/", "/dashboard/unused/", "/products/", "/products/compare/",
        f"/products/{product.pk}/",
    ]  # fmt: skip
    forms = [
        "/queue/unused/decide", "/queue/unused/blind-above", "/queue/unused/release", "/queue/unused/unblind",
        "/undo", "/i18n/setlang/",
    ]  # fmt: skip
    failures, sent = [], 0
    for page in pages:
        for _ in range(PER_PAGE):
            query = {rng.choice(QUERY_FIELDS): rng.choice(values) for _ in range(rng.randint(1, 4))}
            status = client.get(page, query).status_code
            sent += 1
            if status >= 500:
                failures.append(("GET", page, query, status))
    for url in forms:
        for _ in range(PER_PAGE):
            data = {"csrfmiddlewaretoken": token}
            for _ in range(rng.randint(1, 5)):
                data[rng.choice(FORM_FIELDS)] = [rng.choice(values) for _ in range(rng.randint(1, 3))]
            status = client.post(url, data).status_code
            sent += 1
            if status >= 500:
                failures.append(("POST", url, {k: str(v)[:60] for k, v in data.items()}, status))
    assert sent == (len(pages) + len(forms)) * PER_PAGE
    assert failures == [], f"{len(failures)} of {sent} requests answered 5xx, e.g. {failures[:3]}"
