"""Two clients sending the same new reviews at the same moment store them once, without an error."""

import threading

import pytest
from django.db import connection

from moderation import ingest
from moderation.models import Review
from tests import tiny

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_concurrent_ingest_of_the_same_reviews_stores_each_once(postgres):
    items = ingest.validate_reviews(tiny.sample_reviews(200)).items
    ingest.upsert_products(items)  # known products: nothing serialises the two requests before the reviews
    barrier = threading.Barrier(2)
    results, errors = [], []

    # Two threads meet at a barrier, as in the threshold-token race test: the shape of a race, not shared logic.
    def send():
        try:
            barrier.wait()
            results.append(ingest.store_reviews(items).summary())
        except Exception as exc:  # the test reports it below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert Review.objects.count() == 200
    assert sorted(r["created"] + r["unchanged"] for r in results) == [200, 200]
    assert sum(r["created"] for r in results) == 200
