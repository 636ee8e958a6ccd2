"""Tell the client app when reviews are blinded or unblinded.

Every change of visibility queues one delivery per 500 reviews (after the
transaction commits). A delivery POSTs a JSON body to HWADMIN_WEBHOOK_URL,
signed with HMAC-SHA256 under HWADMIN_WEBHOOK_SECRET:

    X-Hwadmin-Event: reviews.blinded | reviews.unblinded
    X-Hwadmin-Delivery: <uuid, the same on every retry: deduplicate on it>
    X-Hwadmin-Signature: sha256=<hex HMAC of the raw body>

The receiver recomputes the HMAC over the raw body and compares in constant
time (`hmac.compare_digest`). The Celery task retries with exponential
backoff (capped at 10 minutes) until the receiver answers 2xx.
"""

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
import uuid

from celery import shared_task
from django.conf import settings
from django.utils import timezone

log = logging.getLogger(__name__)

REVIEWS_PER_DELIVERY = 500
TIMEOUT_SECONDS = 10


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx; the task retries."""


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, signature: str) -> bool:
    return hmac.compare_digest(sign(body, secret), signature or "")


def notify_visibility(event, review_ids, batch, check_id=None):
    """Queue deliveries for these reviews (nothing when no webhook URL is set)."""
    if not settings.HWADMIN["WEBHOOK_URL"]:
        return 0
    from .models import Check, Review

    check = Check.objects.filter(pk=check_id).values_list("code", flat=True).first() if check_id else None
    reviews = Review.objects.filter(pk__in=review_ids).select_related("product").order_by("pk")
    payloads = []
    current = []
    for review in reviews.iterator(chunk_size=REVIEWS_PER_DELIVERY):
        current.append(
            {
                "id": review.pk,
                "source": review.source,
                "external_id": review.external_id,
                "product": review.product.external_id,
                "visibility": review.visibility,
            }
        )
        if len(current) == REVIEWS_PER_DELIVERY:
            payloads.append(current)
            current = []
    if current:
        payloads.append(current)
    for part in payloads:
        body = {"event": event, "batch": str(batch), "check": check, "sent_at": timezone.now().isoformat(), "reviews": part}
        deliver_webhook.delay(json.dumps(body, ensure_ascii=False), event, str(uuid.uuid4()))
    return len(payloads)


def post(body: str, event: str, delivery: str):
    url = settings.HWADMIN["WEBHOOK_URL"]
    data = body.encode()
    request = urllib.request.Request(
        url,
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
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"{url} answered {exc.code} to delivery {delivery}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryFailed(f"{url} could not be reached for delivery {delivery}: {exc}") from None


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(DeliveryFailed,),
    retry_backoff=2,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=None,
)
def deliver_webhook(self, body, event, delivery):
    """POST one signed delivery; retried with backoff until the receiver answers 2xx."""
    if not settings.HWADMIN["WEBHOOK_URL"]:
        log.warning("webhook delivery %s dropped: HWADMIN_WEBHOOK_URL is not set", delivery)
        return None
    status = post(body, event, delivery)
    log.info("webhook %s %s delivered (%s)", event, delivery, status)
    return status
