"""Celery: tag reviews' attributes after moderation has scored them (see signals.py)."""

import logging

from celery import shared_task

from moderation.tasks import TRANSIENT_ERRORS

log = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=TRANSIENT_ERRORS, retry_backoff=2, retry_backoff_max=300, max_retries=10)
def tag_review_attributes(review_ids):
    """Tag these reviews with the active attribute tagger (unchanged texts are skipped)."""
    from moderation.models import Review

    from .extraction import tag_reviews

    reviews = Review.objects.filter(pk__in=list(review_ids)).only("pk", "good_text", "bad_text")
    summary = tag_reviews(reviews)
    log.info(
        "attributes: %d tagged, %d re-tagged, %d unchanged, %d rows",
        summary.tagged,
        summary.retagged,
        summary.unchanged,
        summary.rows,
    )
    return summary.rows
