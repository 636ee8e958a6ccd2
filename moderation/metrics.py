"""/metrics: Prometheus text format.

Two kinds of figures:

- business figures, read from the database when Prometheus scrapes (a few
  COUNT queries), so they are the same whichever web process answers and
  include what the Celery workers did: reviews received, scores written,
  unscored backlog and open queue depth per check and band, decisions per
  reviewer, webhook deliveries by status, the active classifier per check,
  the age of the latest worker heartbeat; and what other apps add through their
  AppConfig's `metrics_collector` (attributes: the active tagger, untagged reviews);
- process figures, counted where they happen: request latency per view
  (RequestMetricsMiddleware), reviews ingested by outcome (moderation.ingest),
  scoring tasks and their latency (moderation.tasks). Each process counts its
  own; with PROMETHEUS_MULTIPROC_DIR set (gunicorn with several workers, and
  Celery workers on the same machine) every process writes there and /metrics
  adds them all up (README, "Running in production").

Access (`metrics_view`): with HWADMIN_METRICS_TOKEN set, every request needs
`Authorization: Bearer <token>`; without one, only direct requests from
loopback are served (a request carrying a forwarding header came through a
proxy and is refused). HWADMIN_METRICS_LOOPBACK_ONLY=1 refuses every other
address even with the token.
"""

import hmac
import ipaddress
import os
import time

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# --- process figures ----------------------------------------------------------------------------

REQUEST_SECONDS = Histogram(
    "hwadmin_http_request_duration_seconds",
    "Time to answer a request, by resolved view name, method and status code.",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
INGESTED = Counter(
    "hwadmin_ingest_reviews",
    "Reviews sent to ingestion (API or command) in committed requests, by outcome.",
    ["outcome"],
)
SCORING_TASKS = Counter("hwadmin_scoring_tasks", "score_reviews tasks finished, by result.", ["result"])
SCORING_REVIEWS = Counter(
    "hwadmin_scoring_reviews", "Reviews handed to score_reviews tasks (scored or already scored)."
)
SCORES_WRITTEN = Counter("hwadmin_scoring_scores_written", "Scores written by score_reviews tasks.")
SCORING_SECONDS = Histogram(
    "hwadmin_scoring_task_duration_seconds",
    "Run time of one score_reviews task (model load included on a worker's first task).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)


def record_ingest(stored):
    """moderation.ingest: a committed upsert (a Stored)."""
    INGESTED.labels("created").inc(len(stored.created))
    INGESTED.labels("updated").inc(len(stored.updated))
    INGESTED.labels("unchanged").inc(len(stored.unchanged))


def timed_scoring(score, review_ids, check_code=None):
    """moderation.tasks: run scoring.score_reviews, counting and timing it."""
    start = time.perf_counter()
    try:
        written = score(review_ids, check_code)
    except Exception:
        SCORING_TASKS.labels("error").inc()
        raise
    finally:
        SCORING_SECONDS.observe(time.perf_counter() - start)
    SCORING_TASKS.labels("ok").inc()
    SCORING_REVIEWS.inc(len(review_ids))
    SCORES_WRITTEN.inc(written)
    return written


class RequestMetricsMiddleware:
    """Times every request; labels it with the view name Django resolved ("<unresolved>" for a 404
    that matched no URL), so a path's ids never become labels."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        start = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match._func_path) if match else "<unresolved>"
        REQUEST_SECONDS.labels(
            view, request.method if request.method in KNOWN_METHODS else "other", str(response.status_code)
        ).observe(time.perf_counter() - start)
        return response


KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


# --- business figures, read at scrape time -----------------------------------------------------


def band_label(low, high):
    return f"{low:g}-{high:g}"


class DatabaseCollector:
    """Collects the business figures from the database on each scrape."""

    def collect(self):
        from django.db.models import Count, Exists, OuterRef, Sum

        from .dashboard import BANDS, band_expression
        from .models import Action, Check, Classifier, QueueItem, Review, Score, WebhookDelivery

        checks = {check.pk: check.code for check in Check.objects.only("pk", "code")}

        received = CounterMetricFamily("hwadmin_reviews_received", "Reviews stored (received through ingestion).")
        received.add_metric([], Review.objects.count())
        yield received

        visible = GaugeMetricFamily("hwadmin_reviews", "Reviews stored, by visibility.", labels=["visibility"])
        counts = dict(Review.objects.values_list("visibility").annotate(n=Count("pk")))
        for value in Review.Visibility.values:
            visible.add_metric([value], counts.get(value, 0))
        yield visible

        scores = CounterMetricFamily(
            "hwadmin_scores",
            "Scores written, by check and classifier (rate() of it is the scoring throughput).",
            labels=["check", "classifier"],
        )
        for check_id, classifier_id, n in (
            Score.objects.values_list("moderation_check_id", "classifier_id").annotate(n=Count("pk")).order_by()
        ):
            scores.add_metric([checks.get(check_id, str(check_id)), str(classifier_id)], n)
        yield scores

        active = GaugeMetricFamily(
            "hwadmin_active_classifier",
            "1 for the classifier that scores each check.",
            labels=["check", "classifier", "classifier_id"],
        )
        has_active = GaugeMetricFamily(
            "hwadmin_check_has_active_classifier", "1 if the check has an active classifier, else 0.", labels=["check"]
        )
        backlog = GaugeMetricFamily(
            "hwadmin_unscored_reviews",
            "Visible reviews not yet scored under the check's active classifier.",
            labels=["check"],
        )
        by_check = {c.moderation_check_id: c for c in Classifier.objects.filter(is_active=True)}
        for check_id, code in checks.items():
            classifier = by_check.get(check_id)
            has_active.add_metric([code], 1 if classifier else 0)
            if classifier is None:
                continue
            active.add_metric([code, classifier.name, str(classifier.pk)], 1)
            backlog.add_metric(
                [code],
                Review.objects.filter(visibility=Review.Visibility.VISIBLE)
                .filter(~Exists(Score.objects.filter(classifier=classifier, review=OuterRef("pk"))))
                .count(),
            )
        yield active
        yield has_active
        yield backlog

        depth = GaugeMetricFamily(
            "hwadmin_queue_open",
            "Open queue items (visible reviews awaiting a decision), by check and score band.",
            labels=["check", "band"],
        )
        rows = (
            QueueItem.objects.filter(status=QueueItem.Status.OPEN, review__visibility=Review.Visibility.VISIBLE)
            .annotate(band=band_expression(BANDS))
            .values_list("moderation_check_id", "band")
            .annotate(n=Count("pk"))
            .order_by()
        )
        found = {(check_id, band): n for check_id, band, n in rows}
        for check_id, code in checks.items():
            for i, (low, high) in enumerate(BANDS):
                depth.add_metric([code, band_label(low, high)], found.get((check_id, i), 0))
        yield depth

        decisions = CounterMetricFamily(
            "hwadmin_decisions",
            "Audit rows (blind, keep, unblind, reopen) by reviewer, check and kind; "
            'reviewer "-" for rows without a user (a text change reopening a review).',
            labels=["reviewer", "check", "kind"],
        )
        for username, check_id, kind, n in (
            Action.objects.values_list("user__username", "moderation_check_id", "kind")
            .annotate(n=Count("pk"))
            .order_by()
        ):
            decisions.add_metric([username or "-", checks.get(check_id, "-"), kind], n)
        yield decisions

        deliveries = GaugeMetricFamily(
            "hwadmin_webhook_deliveries",
            "Webhook deliveries by status (dead: failed every attempt).",
            labels=["status"],
        )
        totals = dict(WebhookDelivery.objects.values_list("status").annotate(n=Count("pk")).order_by())
        for status in WebhookDelivery.Status.values:
            deliveries.add_metric([status], totals.get(status, 0))
        yield deliveries
        retrying = GaugeMetricFamily(
            "hwadmin_webhook_deliveries_retrying", "Pending webhook deliveries that failed at least once."
        )
        retrying.add_metric(
            [], WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, attempts__gte=1).count()
        )
        yield retrying
        attempts = CounterMetricFamily(
            "hwadmin_webhook_attempts", "POSTs made for the webhook deliveries on record (since their last requeue)."
        )
        attempts.add_metric([], WebhookDelivery.objects.aggregate(n=Sum("attempts"))["n"] or 0)
        yield attempts

        from django.core.cache import cache

        from .health import HEARTBEAT_KEY

        heartbeat = GaugeMetricFamily(
            "hwadmin_worker_heartbeat_age_seconds",
            "Seconds since a Celery worker last sent a heartbeat (absent: none recorded).",
        )
        beat = cache.get(HEARTBEAT_KEY)
        if beat is not None:
            heartbeat.add_metric([], max(0.0, time.time() - float(beat)))
        yield heartbeat


def exposition():
    """The text of one scrape: process figures (all processes' in multiprocess mode), then the database's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        from prometheus_client import REGISTRY as processes
    from django.apps import apps

    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector())
    for config in apps.get_app_configs():  # other apps' figures (attributes: the tagger and its backlog)
        collector = getattr(config, "metrics_collector", None)
        if collector is not None:
            database.register(collector)
    return generate_latest(processes) + generate_latest(database)


# --- access ---------------------------------------------------------------------------------------

FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def direct_from_loopback(request):
    """REMOTE_ADDR is a loopback address and no proxy forwarded the request."""
    try:
        loopback = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False
    return loopback and not any(request.META.get(header) for header in FORWARDING_HEADERS)


def refusal(request):
    """None if the request may read /metrics, else the response that refuses it."""
    token = settings.HWADMIN_OPS["METRICS_TOKEN"]
    loopback = direct_from_loopback(request)
    if settings.HWADMIN_OPS["METRICS_LOOPBACK_ONLY"] and not loopback:
        return text_response("403 Forbidden: /metrics is served to loopback only (HWADMIN_METRICS_LOOPBACK_ONLY)", 403)
    if token:
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            response = text_response(
                "401 Unauthorized: /metrics needs the header Authorization: Bearer <HWADMIN_METRICS_TOKEN>", 401
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return None
    if not loopback:
        return text_response(
            "403 Forbidden: /metrics is served to loopback only until HWADMIN_METRICS_TOKEN is set "
            "(then with Authorization: Bearer <token>)",
            403,
        )
    return None


def text_response(text, status):
    return HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")


@never_cache
@require_safe
def metrics_view(request):
    refused = refusal(request)
    if refused is not None:
        return refused
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
