"""Celery tasks: thin wrappers over `scoring`.

Tasks are acknowledged late (a worker killed mid-task leaves its task on the
broker for another worker), retried with backoff on transient errors, and
idempotent (a second run finds the scores already written and writes none).
"""

import logging

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from . import health  # noqa: F401  (connects the worker heartbeat receiver that /healthz reads)

log = logging.getLogger(__name__)

# Errors worth retrying: the database or the network was briefly away. A programming error (an
# IntegrityError, a ProgrammingError, a bug) is not retried: it would fail the same way forever.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
# Retries per task before it fails for good (the periodic sweep queues its reviews again later).
MAX_RETRIES = 10


def chunks(ids, size):
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def queue_scoring(review_ids, check_code=None):
    """Queue `score_reviews` tasks for these reviews, one per SCORE_TASK_SIZE ids.

    Nothing is queued while no classifier is active: the reviews wait, and the
    activation of a classifier queues them.
    """
    from .models import Classifier

    active = Classifier.objects.filter(is_active=True)
    if check_code:
        active = active.filter(moderation_check__code=check_code)
    if not active.exists():
        log.debug("%d reviews wait unscored: no classifier is active", len(review_ids))
        return 0
    return send_scoring_tasks(review_ids, check_code)


def send_scoring_tasks(review_ids, check_code=None):
    """Send the tasks; if the broker is down, log it and leave the reviews to the sweep."""
    sent = 0
    for part in chunks(review_ids, settings.HWADMIN["SCORE_TASK_SIZE"]):
        try:
            score_reviews.delay(part, check_code)
        except Exception as exc:  # kombu raises its own OperationalError, redis its ConnectionError
            log.warning("could not queue %d reviews (%s); the periodic sweep will score them", len(part), exc)
            continue
        sent += 1
    return sent


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def score_reviews(self, review_ids, check_code=None):
    from . import metrics, scoring

    written = metrics.timed_scoring(scoring.score_reviews, review_ids, check_code)  # counted and timed for /metrics
    log.info("scored %d of %d reviews", written, len(review_ids))
    return written


@shared_task(acks_late=True, autoretry_for=TRANSIENT_ERRORS, retry_backoff=5, max_retries=5)
def sweep_unscored():
    """Queue every visible review that has no score from its check's active classifier.

    Catches reviews whose task was lost (a broker outage, a crash before
    commit), so nothing stays unscored for longer than one sweep period. While
    scoring tasks still wait on the broker the sweep does nothing: those tasks
    will score their reviews, and queueing them again would only pile up work.
    """
    waiting = waiting_tasks()
    if waiting:
        log.info("sweep skipped: %d scoring tasks still wait on the broker", waiting)
        return 0
    return queue_unscored()


def waiting_tasks():
    """Messages waiting in the task queue (not counting those a worker is running)."""
    from hwadmin.celery import app

    with app.connection_for_write() as connection:
        declared = connection.default_channel.queue_declare(settings.CELERY_TASK_DEFAULT_QUEUE)
    return declared.message_count


def queue_unscored(check_code=None):
    from .models import Classifier
    from .scoring import unscored_review_ids

    queued = 0
    classifiers = Classifier.objects.filter(is_active=True).select_related("moderation_check")
    if check_code:
        classifiers = classifiers.filter(moderation_check__code=check_code)
    for classifier in classifiers:
        ids = list(unscored_review_ids(classifier))
        send_scoring_tasks(ids, classifier.moderation_check.code)
        queued += len(ids)
    return queued


@shared_task(acks_late=True, autoretry_for=TRANSIENT_ERRORS, retry_backoff=5, max_retries=3)
def export_onnx(classifier_id, data_path=None):
    """Build and verify a registered classifier's int8 ONNX model (`register_classifier --onnx later`).

    Workers keep the torch runtime until the result says verified (and until they load the classifier
    again: a restart, or another activation)."""
    from .models import Classifier
    from .registry import export_int8

    classifier = Classifier.objects.select_related("moderation_check").filter(pk=classifier_id).first()
    if classifier is None:
        log.warning("int8 export skipped: classifier #%s no longer exists", classifier_id)
        return None
    report = export_int8(classifier, data_path, log=log.info)
    log.info(
        "int8 export of classifier #%s: %s", classifier_id, "verified" if report.get("verified") else "not verified"
    )
    return bool(report.get("verified"))
