"""The client app hears about every blind and unblind: signed, ordered, retried a bounded number of
times, never forged (a safe configuration or nothing is sent), never lost (a dead delivery stays
visible until it is redelivered)."""

import json
import logging
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib import admin
from django.core import checks as django_checks
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.test import Client, RequestFactory

from hwadmin.celery import app as celery_app
from moderation import actions, checks, dashboard, webhooks
from moderation.models import Review, WebhookDelivery
from tests.users import REASON

from .conftest import PASSWORD

# Runs twice: on SQLite in the unit run, on PostgreSQL in the integration run (scripts/test).
pytestmark = pytest.mark.engines

SECRET = "s3cret-shared-with-the-app-0123456789abcdef"  # 32+ characters, as the configuration check demands


class Receiver(BaseHTTPRequestHandler):
    received = []
    gets = []
    failures_left = 0
    redirect = False

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        if type(self).redirect and self.path == "/hooks":
            self.send_response(302)
            self.send_header("Location", "/moved")
        elif type(self).failures_left > 0:
            type(self).failures_left -= 1
            self.send_response(503)
        else:
            self.send_response(204)
        self.end_headers()

    def do_GET(self):
        # A client that follows the 302 would come here, without the body, and get a 200.
        type(self).gets.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    Receiver.received = []
    Receiver.gets = []
    Receiver.failures_left = 0
    Receiver.redirect = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Receiver.url = f"http://127.0.0.1:{server.server_port}/hooks"
    settings.HWADMIN = {
        **settings.HWADMIN,
        "WEBHOOK_URL": Receiver.url,
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_HTTP_HOSTS": ["127.0.0.1"],
        "WEBHOOK_MAX_ATTEMPTS": 8,
    }
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    # Eager, and a retry runs again at once (an eager task that propagates would raise Retry instead).
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, False
    yield Receiver
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved
    server.shutdown()
    server.server_close()


def test_blind_and_unblind_send_signed_webhooks(
    receiver, check, reviewer, make_review, django_capture_on_commit_callbacks
):
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
    assert [(r["external_id"], r["visibility"]) for r in sent["reviews"]] == [
        (a.external_id, "blinded"),
        (b.external_id, "blinded"),
    ]
    second = json.loads(body2)
    assert second["event"] == "reviews.unblinded" and [r["id"] for r in second["reviews"]] == [a.pk]
    # Every delivery is recorded, under the id the receiver saw, and marked delivered.
    rows = {str(row.pk): row for row in WebhookDelivery.objects.all()}
    assert set(rows) == {headers["X-Hwadmin-Delivery"], headers2["X-Hwadmin-Delivery"]}
    assert all(row.status == "delivered" and row.attempts == 1 and row.delivered_at for row in rows.values())


def test_a_failed_delivery_is_retried_with_the_same_id_until_it_succeeds(
    receiver, check, reviewer, make_review, django_capture_on_commit_callbacks
):
    receiver.failures_left = 2
    review = make_review(0.9)
    with django_capture_on_commit_callbacks(execute=True):
        actions.blind(reviewer, check, [review.pk], REASON)
    assert len(receiver.received) == 3
    deliveries = {headers["X-Hwadmin-Delivery"] for headers, _ in receiver.received}
    assert len(deliveries) == 1
    assert all(webhooks.verify(body, SECRET, headers["X-Hwadmin-Signature"]) for headers, body in receiver.received)
    row = WebhookDelivery.objects.get()
    assert str(row.pk) == deliveries.pop() and row.status == "delivered" and row.attempts == 3
    assert row.last_status_code == 204 and "503" in row.last_error  # the last failure is kept for the record


def test_the_backoff_grows_exponentially_and_is_capped():
    assert 1 <= webhooks.backoff(1) <= 2 and 2 <= webhooks.backoff(2) <= 4 and 64 <= webhooks.backoff(7) <= 128
    assert all(
        webhooks.BACKOFF_CAP_SECONDS / 2 <= webhooks.backoff(n) <= webhooks.BACKOFF_CAP_SECONDS for n in (10, 30, 1000)
    )


def test_nothing_is_sent_when_no_url_is_set(settings, check, reviewer, make_review, django_capture_on_commit_callbacks):
    settings.HWADMIN = {**settings.HWADMIN, "WEBHOOK_URL": ""}
    review = make_review(0.9)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        actions.blind(reviewer, check, [review.pk], REASON)
    assert callbacks == []
    review.refresh_from_db()
    assert review.visibility == "blinded"
    assert webhooks.notify_visibility("reviews.blinded", [review.pk], "b") == 0
    assert not WebhookDelivery.objects.exists() and review.webhook_sequence == 0
    assert webhooks.configuration_problems() == []  # no webhook, nothing to refuse


def blind_one(reviewer, check, review, capture):
    with capture(execute=True):
        actions.blind(reviewer, check, [review.pk], REASON)
    return WebhookDelivery.objects.order_by("-created_at").first()


def check_errors():
    return django_checks.run_checks(tags=[checks.WEBHOOK_TAG])


@pytest.mark.parametrize("secret", ["", "short", "x" * 31])
def test_a_short_or_empty_secret_fails_the_system_check(settings, secret):
    settings.HWADMIN = {**settings.HWADMIN, "WEBHOOK_URL": "https://app.example.com/hooks", "WEBHOOK_SECRET": secret}
    errors = check_errors()
    assert [e.id for e in errors] == ["hwadmin.E101"] and "HWADMIN_WEBHOOK_SECRET" in errors[0].msg
    assert "at least 32 characters" in errors[0].msg and (secret == "" or secret not in errors[0].msg)
    with pytest.raises(SystemCheckError, match="HWADMIN_WEBHOOK_SECRET"):
        call_command("check")
    with pytest.raises(SystemExit, match="refuses to start"):  # celery worker / beat start-up
        checks.refuse_worker_start()


def test_a_safe_configuration_passes_the_check(settings):
    settings.HWADMIN = {**settings.HWADMIN, "WEBHOOK_URL": "https://app.example.com/hooks", "WEBHOOK_SECRET": "x" * 32}
    assert check_errors() == []
    checks.refuse_worker_start()  # no SystemExit
    settings.HWADMIN = {**settings.HWADMIN, "WEBHOOK_URL": ""}
    assert check_errors() == []  # no webhook: nothing to check


@pytest.mark.parametrize(
    "url, hosts, ok",
    [
        ("https://app.example.com/hooks", [], True),
        ("http://app.example.com/hooks", [], False),
        ("http://app.example.com/hooks", ["other.example.com"], False),
        ("http://app.example.com/hooks", ["APP.example.com"], True),
        ("http://[::1]:8080/hooks", ["[::1]"], True),
        ("ftp://app.example.com/hooks", ["app.example.com"], False),
        ("https:///hooks", [], False),
        ("https://app.example.com:99999/hooks", [], False),
    ],
)
def test_only_https_or_http_to_a_listed_host_passes_the_check(settings, url, hosts, ok):
    settings.HWADMIN = {**settings.HWADMIN, "WEBHOOK_URL": url, "WEBHOOK_SECRET": SECRET, "WEBHOOK_HTTP_HOSTS": hosts}
    errors = check_errors()
    assert (errors == []) is ok
    if not ok:
        assert [e.id for e in errors] == ["hwadmin.E102"] and "HWADMIN_WEBHOOK_URL" in errors[0].msg


def test_the_task_refuses_a_short_secret(
    receiver, settings, check, reviewer, make_review, django_capture_on_commit_callbacks, caplog
):
    settings.HWADMIN = {**settings.HWADMIN, "WEBHOOK_SECRET": "s3cret"}
    with caplog.at_level(logging.ERROR, logger="moderation.webhooks"):
        row = blind_one(reviewer, check, make_review(0.9), django_capture_on_commit_callbacks)
    assert receiver.received == []
    assert row.status == "dead" and row.attempts == 0 and "HWADMIN_WEBHOOK_SECRET" in row.last_error
    assert "refused to send" in caplog.text and str(row.pk) in caplog.text


def test_the_task_refuses_http_to_an_unlisted_host(
    receiver, settings, check, reviewer, make_review, django_capture_on_commit_callbacks
):
    settings.HWADMIN = {**settings.HWADMIN, "WEBHOOK_HTTP_HOSTS": ["hooks.internal"]}
    row = blind_one(reviewer, check, make_review(0.9), django_capture_on_commit_callbacks)
    assert receiver.received == [] and row.status == "dead" and "http://" in row.last_error
    # The same delivery goes out once the host is listed (the receiver fixture lists 127.0.0.1).
    settings.HWADMIN = {**settings.HWADMIN, "WEBHOOK_HTTP_HOSTS": ["127.0.0.1"]}
    call_command("redeliver_webhooks", stdout=_null())
    row.refresh_from_db()
    assert row.status == "delivered" and [h["X-Hwadmin-Delivery"] for h, _ in receiver.received] == [str(row.pk)]


def test_a_redirect_is_a_failed_delivery_not_a_success(
    receiver, settings, check, reviewer, make_review, django_capture_on_commit_callbacks
):
    receiver.redirect = True
    settings.HWADMIN = {**settings.HWADMIN, "WEBHOOK_MAX_ATTEMPTS": 3}
    row = blind_one(reviewer, check, make_review(0.9), django_capture_on_commit_callbacks)
    assert len(receiver.received) == 3  # three POSTs, each answered 302
    assert receiver.gets == []  # the redirect was never followed (as a bodiless GET that answers 200)
    assert row.status == "dead" and row.delivered_at is None and row.attempts == 3
    assert row.last_status_code == 302 and "redirect" in row.last_error and "/moved" in row.last_error


def test_retries_stop_at_the_bound_and_the_dead_delivery_shows_on_the_dashboard(
    receiver, settings, check, reviewer, make_review, django_capture_on_commit_callbacks
):
    receiver.failures_left = 100
    settings.HWADMIN = {**settings.HWADMIN, "WEBHOOK_MAX_ATTEMPTS": 4}
    row = blind_one(reviewer, check, make_review(0.9), django_capture_on_commit_callbacks)
    assert len(receiver.received) == 4
    assert row.status == "dead" and row.attempts == 4 and row.last_status_code == 503 and "503" in row.last_error
    health = dashboard.webhook_health()
    assert health["dead"] == 1 and health["newest_dead"].pk == row.pk
    client = Client()
    client.login(username=reviewer.username, password=PASSWORD)
    html = client.get("/dashboard/unused/").content.decode()
    assert 'id="webhook-dead">1<' in html and str(row.pk) in html and "answered 503" in html
    assert "redeliver_webhooks" in html


def test_redeliver_webhooks_resends_a_dead_delivery_with_the_same_id(
    receiver, settings, check, reviewer, make_review, django_capture_on_commit_callbacks
):
    receiver.failures_left = 100
    settings.HWADMIN = {**settings.HWADMIN, "WEBHOOK_MAX_ATTEMPTS": 2}
    first = blind_one(reviewer, check, make_review(0.9), django_capture_on_commit_callbacks)
    second = blind_one(reviewer, check, make_review(0.8), django_capture_on_commit_callbacks)
    assert first.status == second.status == "dead" and len(receiver.received) == 4
    receiver.failures_left = 0
    receiver.received = []

    out = _null()
    call_command("redeliver_webhooks", "--dry-run", stdout=out)
    assert "would re-queue 2 deliveries" in out.getvalue() and receiver.received == []
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"dead"}

    call_command("redeliver_webhooks", "--id", str(first.pk), stdout=_null())
    assert [(h["X-Hwadmin-Delivery"], body.decode()) for h, body in receiver.received] == [(str(first.pk), first.body)]
    assert webhooks.verify(receiver.received[0][1], SECRET, receiver.received[0][0]["X-Hwadmin-Signature"])
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == "delivered" and first.attempts == 1 and second.status == "dead"

    call_command("redeliver_webhooks", stdout=_null())  # all the dead ones: the second
    second.refresh_from_db()
    assert second.status == "delivered" and receiver.received[-1][0]["X-Hwadmin-Delivery"] == str(second.pk)
    assert len(receiver.received) == 2

    with pytest.raises(CommandError, match="not a delivery id"):
        call_command("redeliver_webhooks", "--id", "nope")
    with pytest.raises(CommandError, match="no webhook delivery with id"):
        call_command("redeliver_webhooks", "--id", str(uuid.uuid4()))
    with pytest.raises(CommandError, match="only dead deliveries"):
        call_command("redeliver_webhooks", "--id", str(first.pk))
    settings.HWADMIN = {**settings.HWADMIN, "WEBHOOK_SECRET": "short"}
    with pytest.raises(CommandError, match="HWADMIN_WEBHOOK_SECRET"):
        call_command("redeliver_webhooks")


def test_sequences_increase_per_review_across_blind_unblind_blind(
    receiver, check, reviewer, make_review, django_capture_on_commit_callbacks
):
    a, b = make_review(0.9), make_review(0.8)
    with django_capture_on_commit_callbacks(execute=True):
        actions.blind(reviewer, check, [a.pk, b.pk], REASON)
    with django_capture_on_commit_callbacks(execute=True):
        unblind = actions.unblind(reviewer, check, [a.pk])
    with django_capture_on_commit_callbacks(execute=True):
        actions.undo(reviewer, unblind.batch)  # blinded again (an unblinded review's item is kept)
    seen = [
        (r["id"], r["visibility"], r["sequence"]) for _, body in receiver.received for r in json.loads(body)["reviews"]
    ]
    assert seen == [(a.pk, "blinded", 1), (b.pk, "blinded", 1), (a.pk, "visible", 2), (a.pk, "blinded", 3)]
    assert dict(Review.objects.filter(pk__in=[a.pk, b.pk]).values_list("pk", "webhook_sequence")) == {a.pk: 3, b.pk: 1}
    # A receiver that keeps the highest sequence per review ends with the right state whatever the arrival order.
    state = {}
    for review_id, visibility, sequence in reversed(seen):
        if sequence > state.get(review_id, (0, None))[0]:
            state[review_id] = (sequence, visibility)
    assert state == {a.pk: (3, "blinded"), b.pk: (1, "blinded")}


def test_deliveries_are_read_only_in_the_admin(db, django_user_model):
    model_admin = admin.site._registry[WebhookDelivery]
    request = RequestFactory().get("/admin/")
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request) and not model_admin.has_delete_permission(request)
    row = WebhookDelivery.objects.create(event="reviews.blinded", body="{}", status="dead", last_error="answered 503")
    staff = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    client = Client()
    client.force_login(staff)
    listing = client.get("/admin/moderation/webhookdelivery/", {"q": str(row.pk)[:8]})
    assert listing.status_code == 200 and str(row.pk) in listing.content.decode()
    page = client.get(f"/admin/moderation/webhookdelivery/{row.pk}/change/")
    assert page.status_code == 200 and "answered 503" in page.content.decode()
    assert client.post(f"/admin/moderation/webhookdelivery/{row.pk}/delete/").status_code == 403


def _null():
    import io

    return io.StringIO()


@pytest.mark.parametrize("secret, refused", [("short", True), ("x" * 32, False)])
def test_the_web_process_refuses_to_start_with_an_unsafe_webhook(secret, refused):
    """gunicorn imports hwadmin.wsgi and runs no system checks: the import itself refuses."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HWADMIN_WEBHOOK_URL": "https://app.example.com/hooks", "HWADMIN_WEBHOOK_SECRET": secret}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run([sys.executable, "-c", "import hwadmin.wsgi"], env=env, capture_output=True, text=True)
    if refused:
        assert done.returncode != 0 and "refuses to start the web process" in done.stderr
        assert "HWADMIN_WEBHOOK_SECRET" in done.stderr and secret not in done.stderr.split("refuses")[1]
    else:
        assert done.returncode == 0, done.stderr
