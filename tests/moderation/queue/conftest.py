import os
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from moderation.models import Check, Classifier, Product, QueueItem, Review, Score
from tests.users import PASSWORD, make_user  # noqa: F401 (the tests import them from here)

# Playwright's sync API runs an event loop in the test thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def check(db):
    return Check.objects.get(code="unused")


@pytest.fixture
def classifier(check):
    return Classifier.objects.create(
        moderation_check=check, name="electra-unused-v1", path="/models/v1", is_active=True
    )


@pytest.fixture
def make_review(check, classifier):
    """Create a scored review in the queue: make_review(0.93, good_text=..., brand=...)."""
    counter = {"n": 0}
    base = timezone.now() - timedelta(days=30)

    def make(
        probability,
        good_text=None,
        bad_text="",
        rating=5,
        product="p-1",
        brand="라운드랩",
        category="크림",
        written_at=None,
        status=QueueItem.Status.OPEN,
    ):
        counter["n"] += 1
        n = counter["n"]
        item_product, _ = Product.objects.get_or_create(
            external_id=product, defaults={"name": f"제품 {product}", "brand": brand, "category": category}
        )
        review = Review.objects.create(
            source="test",
            external_id=f"r-{n}",
            product=item_product,
            rating=rating,
            good_text=good_text if good_text is not None else f"리뷰 {n}: 아직 안 써봤어요",
            bad_text=bad_text,
            written_at=written_at or base + timedelta(hours=n),
            visibility=Review.Visibility.BLINDED if status == QueueItem.Status.BLINDED else Review.Visibility.VISIBLE,
        )
        Score.objects.create(review=review, moderation_check=check, classifier=classifier, probability=probability)
        QueueItem.objects.create(
            review=review,
            moderation_check=check,
            probability=probability,
            classifier=classifier,
            scored_at=timezone.now(),
            status=status,
        )
        return review

    return make


# User fixtures of tests/conftest.py's shape: one make_user call each, with the names these tests use.
@pytest.fixture
def other_reviewer(db):
    return make_user("seojun", "reviewers")


@pytest.fixture
def staff(db):
    return make_user("admin", is_staff=True, is_superuser=True)


@pytest.fixture
def browser(reviewer):
    """The reviewer, logged in, through a client that checks CSRF tokens as a browser's requests are checked."""
    client = Client(enforce_csrf_checks=True)
    client.login(username=reviewer.username, password=PASSWORD)
    return client


def csrf(client, url):
    """The CSRF token the page at `url` sets."""
    client.get(url)
    return client.cookies["csrftoken"].value


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_cache():
    """The dashboard and the filter suggestions are cached; every test starts without them."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
