"""After a `score_reviews` task succeeds, queue `tag_review_attributes` for the same reviews.

A Celery signal rather than an edit of moderation's task: scoring knows nothing of attributes. The
receiver only sends a message (cheap); the phrase tagger needs no torch. A broker outage loses the
tagging, never the scoring: `manage.py extract_attributes` catches up.
"""

import logging

from celery.signals import task_success

log = logging.getLogger(__name__)

SCORING_TASK = "moderation.tasks.score_reviews"


@task_success.connect(dispatch_uid="attributes.tag_after_scoring")
def tag_after_scoring(sender=None, result=None, **kwargs):
    if getattr(sender, "name", None) != SCORING_TASK:
        return
    request = getattr(sender, "request", None)
    args = list(getattr(request, "args", None) or [])
    review_ids = args[0] if args else (getattr(request, "kwargs", None) or {}).get("review_ids")
    if not review_ids:
        return
    from .tasks import tag_review_attributes

    try:
        tag_review_attributes.delay(list(review_ids))
    except Exception as exc:  # kombu's OperationalError, redis' ConnectionError
        log.warning(
            "could not queue attribute tagging of %d reviews (%s); extract_attributes will", len(review_ids), exc
        )
