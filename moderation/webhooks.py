"""Tell the client app when reviews are blinded or unblinded; never lose or forge an event.

Every change of visibility writes one `WebhookDelivery` row per 500 reviews and
queues it (after the transaction commits). A delivery POSTs a JSON body to
HWADMIN_WEBHOOK_URL, signed with HMAC-SHA256 under HWADMIN_WEBHOOK_SECRET:

    X-Hwadmin-Event: reviews.blinded | reviews.unblinded
    X-Hwadmin-Delivery: <uuid, the same on every retry and redelivery: deduplicate on it>
    X-Hwadmin-Signature: sha256=<hex HMAC of the raw body>

    {"event": ..., "batch": ..., "check": ..., "sent_at": ...,
     "reviews": [{"id": 7, "source": ..., "external_id": ..., "product": ...,
                  "visibility": "blinded", "sequence": 3}, ...]}

The receiver recomputes the HMAC over the raw body and compares in constant
time (`hmac.compare_digest`).

**Ordering.** Deliveries can arrive out of order (a retry overtakes a later
event). Each review carries `sequence`, a number raised by one, atomically,
every time that review's visibility is notified (`Review.webhook_sequence`);
the `visibility` sent is the review's state read under the same row lock, so
the highest sequence always carries the newest state. A receiver keeps, per
review id, the highest sequence it has applied and ignores an entry whose
sequence is lower or equal.

**Refusals.** Nothing is sent unless the configuration is safe: a secret of at
least `MIN_SECRET_LENGTH` characters, and an `https://` URL (or `http://` to a
host listed in HWADMIN_WEBHOOK_HTTP_HOSTS). `moderation.checks` turns the same
problems into system-check errors (`manage.py check`, workers refuse to
start); a task that runs anyway marks its delivery dead and logs why.

**Retries.** Only a 2xx answer delivers. Redirects are not followed (urllib
would turn a 302 POST into a bodiless GET): a 3xx is a failed attempt. A
failed attempt is retried with exponential backoff (2 s, 4 s, ... capped at
`BACKOFF_CAP_SECONDS`, with jitter) up to HWADMIN_WEBHOOK_MAX_ATTEMPTS POSTs;
then the delivery is dead (shown on the dashboard and in the admin) until
`manage.py redeliver_webhooks` queues it again under the same id.
"""

import hashlib
import hmac
import json
import logging
import random
import urllib.error
import urllib.parse
import urllib.request
import uuid

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

log = logging.getLogger(__name__)

REVIEWS_PER_DELIVERY = 500
TIMEOUT_SECONDS = 10
MIN_SECRET_LENGTH = 32
BACKOFF_SECONDS = 2
BACKOFF_CAP_SECONDS = 600
ERROR_CHARS = 2000


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx (or could not be reached)."""

    def __init__(self, message, status_code=None):
        super().__init__(message)
        self.status_code = status_code


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, signature: str) -> bool:
    return hmac.compare_digest(sign(body, secret), signature or "")


def configuration_problems(config=None):
    """What makes the webhook configuration unsafe to send with; [] when it is fine or no URL is set."""
    return [message for _, message in coded_problems(config)]


def shown(url):
    """The URL without credentials or query string, for messages and logs."""
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "(an unparseable URL)"


def coded_problems(config=None):
    """(system-check id, message) for each problem: E101 secret, E102 URL, E103 attempts."""
    config = settings.HWADMIN if config is None else config
    url = config.get("WEBHOOK_URL") or ""
    if not url:
        return []
    problems = []
    secret = config.get("WEBHOOK_SECRET") or ""
    if len(secret) < MIN_SECRET_LENGTH:
        problems.append(
            (
                "hwadmin.E101",
                f"HWADMIN_WEBHOOK_SECRET is {'empty' if not secret else f'{len(secret)} characters long'}; "
                f"a webhook needs a secret of at least {MIN_SECRET_LENGTH} characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)",
            )
        )
    try:
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError as exc:
        return problems + [("hwadmin.E102", f"HWADMIN_WEBHOOK_URL {shown(url)!r} is not a valid URL: {exc}")]
    scheme = parts.scheme.lower()
    allowed_http = {h.strip().lower().strip("[]") for h in config.get("WEBHOOK_HTTP_HOSTS") or [] if h.strip()}
    if scheme not in ("https", "http") or not host:
        problems.append(
            ("hwadmin.E102", f"HWADMIN_WEBHOOK_URL {shown(url)!r} must be an https:// URL with a host name")
        )
    elif scheme == "http" and host not in allowed_http:
        problems.append(
            (
                "hwadmin.E102",
                f"HWADMIN_WEBHOOK_URL {shown(url)!r} uses plain http:// to {host!r}; use https://, or list the host in "
                "HWADMIN_WEBHOOK_HTTP_HOSTS (only for a receiver on a trusted network)",
            )
        )
    attempts = config.get("WEBHOOK_MAX_ATTEMPTS", 8)
    if not isinstance(attempts, int) or attempts < 1:
        problems.append(
            ("hwadmin.E103", f"HWADMIN_WEBHOOK_MAX_ATTEMPTS must be a whole number of at least 1 (got {attempts!r})")
        )
    return problems


def notify_visibility(event, review_ids, batch, check_id=None):
    """Record and queue deliveries for these reviews (nothing when no webhook URL is set).

    Each review's sequence is raised under its row lock and read back with its
    visibility in the same transaction; the deliveries are queued when it commits.
    """
    if not settings.HWADMIN["WEBHOOK_URL"]:
        return 0
    from .models import Check, Review, WebhookDelivery

    check = Check.objects.filter(pk=check_id).values_list("code", flat=True).first() if check_id else None
    ids = sorted(set(review_ids))
    deliveries = []
    with transaction.atomic():
        for start in range(0, len(ids), REVIEWS_PER_DELIVERY):
            part = ids[start : start + REVIEWS_PER_DELIVERY]
            # Lock in id order, as the actions do (two notifiers never deadlock), then raise.
            part = list(
                Review.objects.filter(pk__in=part).select_for_update().order_by("pk").values_list("pk", flat=True)
            )
            Review.objects.filter(pk__in=part).update(webhook_sequence=F("webhook_sequence") + 1)
            reviews = Review.objects.filter(pk__in=part).select_related("product").order_by("pk")
            entries = [
                {
                    "id": review.pk,
                    "source": review.source,
                    "external_id": review.external_id,
                    "product": review.product.external_id,
                    "visibility": review.visibility,
                    "sequence": review.webhook_sequence,
                }
                for review in reviews
            ]
            if not entries:
                continue
            body = {
                "event": event,
                "batch": str(batch),
                "check": check,
                "sent_at": timezone.now().isoformat(),
                "reviews": entries,
            }
            deliveries.append(
                WebhookDelivery.objects.create(id=uuid.uuid4(), event=event, body=json.dumps(body, ensure_ascii=False))
            )
        transaction.on_commit(lambda: queue_deliveries(deliveries))
    return len(deliveries)


def queue_deliveries(deliveries):
    """Send the delivery tasks; a delivery the broker refuses stays pending (`redeliver_webhooks --pending-older-than`)."""
    sent = 0
    for delivery in deliveries:
        try:
            deliver_webhook.delay(delivery.body, delivery.event, str(delivery.id))
        except Exception as exc:  # kombu raises its own OperationalError, redis its ConnectionError
            log.error("could not queue webhook delivery %s (%s); it stays pending", delivery.id, exc)
            continue
        sent += 1
    return sent


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: urllib would re-send a 302'd POST as a GET without the body."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


OPENER = urllib.request.build_opener(NoRedirects)


def post(body: str, event: str, delivery: str):
    """POST one signed delivery; returns the 2xx status or raises DeliveryFailed."""
    url = shown(settings.HWADMIN["WEBHOOK_URL"])
    data = body.encode()
    request = urllib.request.Request(
        settings.HWADMIN["WEBHOOK_URL"],
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "X-Hwadmin-Event": event,
            "X-Hwadmin-Delivery": delivery,
            "X-Hwadmin-Signature": sign(data, settings.HWADMIN["WEBHOOK_SECRET"]),
        },
    )
    try:
        with OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            where = exc.headers.get("Location") if exc.headers else None
            raise DeliveryFailed(
                f"{url} answered {exc.code} (a redirect{f' to {where}' if where else ''}) to delivery {delivery}; "
                "redirects are not followed: set HWADMIN_WEBHOOK_URL to the final address",
                exc.code,
            ) from None
        raise DeliveryFailed(f"{url} answered {exc.code} to delivery {delivery}", exc.code) from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryFailed(f"{url} could not be reached for delivery {delivery}: {exc}") from None
    if not 200 <= status < 300:
        raise DeliveryFailed(f"{url} answered {status} to delivery {delivery}; only 2xx delivers", status)
    return status


def backoff(attempt):
    """Seconds before the next try after `attempt` failed POSTs: 2, 4, 8, ... capped, with jitter."""
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_SECONDS * 2 ** max(attempt - 1, 0))
    return delay / 2 + random.uniform(0, delay / 2)


def mark_dead(delivery_id, error, status_code=None):
    from .models import WebhookDelivery

    WebhookDelivery.objects.filter(pk=delivery_id).update(
        status=WebhookDelivery.Status.DEAD,
        last_error=error[:ERROR_CHARS],
        last_status_code=status_code,
        updated_at=timezone.now(),
    )


@shared_task(bind=True, acks_late=True, max_retries=None)
def deliver_webhook(self, body, event, delivery):
    """POST one signed delivery; retried with backoff up to HWADMIN_WEBHOOK_MAX_ATTEMPTS, then dead."""
    from .models import WebhookDelivery

    if not settings.HWADMIN["WEBHOOK_URL"]:
        log.warning("webhook delivery %s not sent: HWADMIN_WEBHOOK_URL is not set; it stays pending", delivery)
        return None
    # A task queued before deliveries were recorded has no row yet: record it now.
    row, _ = WebhookDelivery.objects.get_or_create(pk=delivery, defaults={"event": event, "body": body})
    if row.status != WebhookDelivery.Status.PENDING:
        log.info("webhook delivery %s is %s; nothing to send", delivery, row.status)
        return None
    problems = configuration_problems()
    if problems:
        error = "refused to send: " + "; ".join(problems)
        log.error("webhook delivery %s %s", delivery, error)
        mark_dead(row.pk, error)
        return None
    WebhookDelivery.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1, updated_at=timezone.now())
    row.refresh_from_db(fields=["attempts"])
    try:
        status = post(row.body, row.event, str(row.pk))
    except DeliveryFailed as exc:
        limit = settings.HWADMIN.get("WEBHOOK_MAX_ATTEMPTS", 8)
        if row.attempts >= limit:
            log.error("webhook delivery %s is dead after %d attempts: %s", delivery, row.attempts, exc)
            mark_dead(row.pk, str(exc), exc.status_code)
            return None
        WebhookDelivery.objects.filter(pk=row.pk).update(
            last_error=str(exc)[:ERROR_CHARS], last_status_code=exc.status_code, updated_at=timezone.now()
        )
        countdown = backoff(row.attempts)
        log.warning(
            "webhook delivery %s attempt %d of %d failed (%s); retrying in %.0f s",
            delivery,
            row.attempts,
            limit,
            exc,
            countdown,
        )
        raise self.retry(exc=exc, countdown=countdown) from exc
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=row.pk).update(
        status=WebhookDelivery.Status.DELIVERED, last_status_code=status, delivered_at=now, updated_at=now
    )
    log.info("webhook %s %s delivered (%s)", event, delivery, status)
    return status
