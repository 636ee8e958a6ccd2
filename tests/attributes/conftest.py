import os
from datetime import timedelta

import pytest
from django.utils import timezone

from moderation.models import Product, Review
from tests.users import PASSWORD, make_user  # noqa: F401 (the tests import them from here)

# Playwright's sync API runs an event loop in the test thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

HOSTILE = '<script>window.__xss = "script"</script><img src="x" onerror="window.__xss = \'img\'">'


def phrase(attribute_id, side="pos"):
    """A phrase of the taxonomy that, as a sentence of its own, the phrase tagger tags (attribute, side):
    the taxonomy's loader checks exactly that for every example phrase."""
    from attributes.taggers import attribute_names

    attribute = attribute_names()[attribute_id]
    return (attribute.examples if side in ("pos", "present") else attribute.negative_examples)[0]


@pytest.fixture
def make_review(db):
    counter = {"n": 0}
    base = timezone.now() - timedelta(days=30)

    def make(
        good_text="",
        bad_text="",
        product="p-1",
        name=None,
        brand="라운드랩",
        category="크림",
        visibility=Review.Visibility.VISIBLE,
        rating=5,
    ):
        counter["n"] += 1
        n = counter["n"]
        item_product, _ = Product.objects.get_or_create(
            external_id=product, defaults={"name": name or f"제품 {product}", "brand": brand, "category": category}
        )
        return Review.objects.create(
            source="test",
            external_id=f"r-{n}",
            product=item_product,
            rating=rating,
            good_text=good_text,
            bad_text=bad_text,
            written_at=base + timedelta(hours=n),
            visibility=visibility,
        )

    return make


@pytest.fixture
def staff(db):
    return make_user("admin-kim", is_staff=True)


@pytest.fixture
def ingest_client(db):
    return make_user("hwahae-app", "ingest clients")
