"""The client app hears about every blind and unblind: signed, and retried until it answers."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hwadmin.celery import app as celery_app
from moderation import actions, webhooks

SECRET = "s3cret-shared-with-the-app"
REASON = "미사용: 제품을 아직 사용하지 않음 (not used yet)"


class Receiver(BaseHTTPRequestHandler):
    received = []
    failures_left = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        if type(self).failures_left > 0:
            type(self).failures_left -= 1
            self.send_response(503)
        else:
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    Receiver.received = []
    Receiver.failures_left = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.HWADMIN = {**settings.HWADMIN, "WEBHOOK_URL": f"http://127.0.0.1:{server.server_port}/hooks",
                        "WEBHOOK_SECRET": SECRET}
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    # Eager, and a retry runs again at once (an eager task that propagates would raise Retry instead).
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, False
    yield Receiver
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved
    server.shutdown()
    server.server_close()


def test_blind_and_unblind_send_signed_webhooks(receiver, check, reviewer, make_review, django_capture_on_commit_callbacks):
    a, b = make_review(0.9), make_review(0.8)
    with django_capture_on_commit_callbacks(execute=True):
        blind = actions.blind(reviewer, check, [a.pk, b.pk], REASON)
    with django_capture_on_commit_callbacks(execute=True):
        actions.unblind(reviewer, check, [a.pk])
    assert len(receiver.received) == 2
    (headers, body), (headers2, body2) = receiver.received
    assert webhooks.verify(body, SECRET, headers["X-Hwadmin-Signature"])
    assert not webhooks.verify(body, "wrong secret", headers["X-Hwadmin-Signature"])
    sent = json.loads(body)
    assert sent["event"] == headers["X-Hwadmin-Event"] == "reviews.blinded"
    assert sent["batch"] == str(blind.batch) and sent["check"] == "unused"
    assert [(r["external_id"], r["visibility"]) for r in sent["reviews"]] == [(a.external_id, "blinded"), (b.external_id, "blinded")]
    second = json.loads(body2)
    assert second["event"] == "reviews.unblinded" and [r["id"] for r in second["reviews"]] == [a.pk]


def test_a_failed_delivery_is_retried_with_the_same_id_until_it_succeeds(receiver, check, reviewer, make_review,
                                                                          django_capture_on_commit_callbacks):
    receiver.failures_left = 2
    review = make_review(0.9)
    with django_capture_on_commit_callbacks(execute=True):
        actions.blind(reviewer, check, [review.pk], REASON)
    assert len(receiver.received) == 3
    deliveries = {headers["X-Hwadmin-Delivery"] for headers, _ in receiver.received}
    assert len(deliveries) == 1
    assert all(webhooks.verify(body, SECRET, headers["X-Hwadmin-Signature"]) for headers, body in receiver.received)


def test_the_task_retries_with_backoff():
    task = webhooks.deliver_webhook
    assert task.autoretry_for == (webhooks.DeliveryFailed,)
    assert task.retry_backoff and task.max_retries is None


def test_nothing_is_sent_when_no_url_is_set(settings, check, reviewer, make_review, django_capture_on_commit_callbacks):
    settings.HWADMIN = {**settings.HWADMIN, "WEBHOOK_URL": ""}
    review = make_review(0.9)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        actions.blind(reviewer, check, [review.pk], REASON)
    assert callbacks == []
    review.refresh_from_db()
    assert review.visibility == "blinded"
    assert webhooks.notify_visibility("reviews.blinded", [review.pk], "b") == 0
