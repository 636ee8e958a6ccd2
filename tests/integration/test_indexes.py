"""The queue's read ("visible, undecided reviews of check C by probability,
highest first") is an index scan on PostgreSQL, with no sort step."""

import pytest
from django.db import connection

from moderation.models import Check, Classifier, Product, QueueItem, Review

pytestmark = pytest.mark.integration


def test_the_open_queue_is_read_in_index_order(postgres):
    check = Check.objects.get(code="unused")
    classifier = Classifier.objects.create(moderation_check=check, name="m", path="/nonexistent")
    product = Product.objects.create(external_id="p")
    reviews = Review.objects.bulk_create(
        Review(
            source="s", external_id=str(i), product=product, rating=5, good_text="x", written_at="2026-01-01T00:00:00Z"
        )
        for i in range(5000)
    )
    QueueItem.objects.bulk_create(
        QueueItem(
            review=r,
            moderation_check=check,
            classifier=classifier,
            probability=(i * 7919 % 5000) / 5000,
            scored_at="2026-01-01T00:00:00Z",
            status="open" if i % 3 else "kept",
        )
        for i, r in enumerate(reviews)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE moderation_queueitem; ANALYZE moderation_review")
    queryset = QueueItem.objects.filter(moderation_check=check, status="open", review__visibility="visible").order_by(
        "-probability", "-review_id"
    )[:50]
    plan = queryset.explain()
    assert "queue_open_by_probability" in plan, plan
    assert "Sort Key" not in plan, plan
    probabilities = [item.probability for item in queryset]
    assert probabilities == sorted(probabilities, reverse=True)
