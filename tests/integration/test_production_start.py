"""`make serve` for real: scripts/serve boots gunicorn, a Celery worker and beat with DEBUG off on
PostgreSQL and Redis, and the whole flow runs over HTTP: ingest with a token, scored by the worker,
the queue page for a signed-in reviewer, a blind, the public read path hiding it, the webhook
received, /healthz 200, /metrics counting it all, static files served by WhiteNoise."""

import html
import json
import os
import re
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token

from moderation import webhooks
from moderation.models import Check, Classifier, QueueItem, Review, WebhookDelivery
from moderation.registry import activate_classifier
from tests import tiny

from .conftest import database_url, empty_broker, free_port, listening, start_script, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SECRET = "production-start-webhook-secret-0123456789abcdef"
METRICS_TOKEN = "production-start-metrics-token-0123456789"
PASSWORD = "correct horse battery staple"


class Receiver(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()


@pytest.fixture
def served(postgres, redis_url, receiver, tmp_path):
    """scripts/serve (what `make serve` runs) against the test database and Redis; yields its base URL."""
    import redis
    from django.conf import settings

    empty_broker(redis_url)
    port, ingest_port = free_port(), free_port()
    cache_url = redis_url.rsplit("/", 1)[0] + "/14"
    redis.Redis.from_url(cache_url).flushdb()  # no heartbeat from an earlier run
    # Part of the environment from a file (as deploy/hwadmin.env), quoted as systemd allows.
    env_file = tmp_path / "hwadmin.env"
    env_file.write_text(
        f'# test\nHWADMIN_METRICS_TOKEN="{METRICS_TOKEN}"\nHWADMIN_WEBHOOK_SECRET={SECRET}\n'
        "HWADMIN_WEBHOOK_URL=https://set-in-the-environment-wins.example\n"
    )
    env = {
        **os.environ,
        "HWADMIN_ENV_FILE": str(env_file),
        "HWADMIN_VENV": str(Path(sys.executable).parent.parent),
        "DATABASE_URL": database_url(postgres),
        "CELERY_BROKER_URL": redis_url,
        "CACHE_URL": cache_url,
        "HWADMIN_TASK_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "HWADMIN_VAR_DIR": str(tmp_path / "var"),
        "HWADMIN_BIND": f"127.0.0.1:{port}",
        "HWADMIN_INGEST_BIND": f"127.0.0.1:{ingest_port}",  # bulk posts on their own pool
        "WEB_CONCURRENCY": "2",
        "HWADMIN_WORKER_CONCURRENCY": "1",
        "HWADMIN_TORCH_THREADS": "1",
        "HWADMIN_WEBHOOK_URL": receiver,
        "HWADMIN_WEBHOOK_HTTP_HOSTS": "127.0.0.1",
        # plain-HTTP local test: no HTTPS redirect, cookies not Secure-only (every other protection stays on)
        "DEBUG": "1",  # scripts/serve turns it off
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("HWADMIN_THREAD_SPINNING", None)
    log_path = tmp_path / "serve.log"
    # Also in benchmarks/load.py (start and stop): a benchmark script and a test share no module, so it stays twice.
    process = start_script("serve", env, log_path)
    base = f"http://127.0.0.1:{port}"

    def answering():
        if process.poll() is not None:
            raise AssertionError(f"scripts/serve exited {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            return requests.get(f"{base}/healthz", timeout=10).status_code in (200, 503)
        except requests.RequestException:  # not listening yet, or its workers still booting
            return False

    try:
        wait_for(answering, timeout=120, interval=0.5, message="gunicorn to answer")
        wait_for(lambda: listening(ingest_port), timeout=60, interval=0.5, message="the ingest pool to listen")
        yield base, f"http://127.0.0.1:{ingest_port}", log_path
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        empty_broker(redis_url)


def sample(text, name, **labels):
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
    values = [float(row[len(prefix) :]) for row in text.splitlines() if row.startswith(prefix)]
    return values[0] if values else None


def test_the_production_set_runs_the_whole_flow(served, model_dir):
    base, ingest_base, log_path = served
    check = Check.objects.get(code="unused")
    classifier = activate_classifier(
        Classifier.objects.create(
            moderation_check=check, name="tiny", path=str(tiny.make_classifier(model_dir / "production-start"))
        )
    )
    client_app = User.objects.create(username="client-app")
    client_app.groups.add(Group.objects.get(name="ingest clients"))
    token = Token.objects.create(user=client_app).key
    reviewer = User.objects.create_user("minji", "minji@example.com", PASSWORD)
    reviewer.groups.add(Group.objects.get(name="reviewers"))

    # DEBUG is off: an unknown page is a plain 404, never Django's debug page
    missing = requests.get(f"{base}/no/such/page")
    assert missing.status_code == 404 and "URLconf" not in missing.text

    # ingest with a token; the worker scores every review
    rows = [{**row, "product": {**row["product"], "external_id": "p-prod"}} for row in tiny.sample_reviews(6)]
    response = requests.post(f"{ingest_base}/api/v1/reviews", json=rows, headers={"Authorization": f"Token {token}"})
    assert response.status_code == 201, response.text  # on the ingest pool, which serves the same application
    assert response.json()["created"] == 6 and response.json()["scoring"] == "queued"
    wait_for(
        lambda: QueueItem.objects.filter(classifier=classifier).count() == 6,
        timeout=180,
        message=f"the worker to score the 6 reviews (log: {log_path})",
    )

    # a reviewer signs in (session + CSRF) and opens the queue page
    session = requests.Session()
    session.get(f"{base}/login/").raise_for_status()
    signed_in = session.post(
        f"{base}/login/",
        data={
            "username": "minji",
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        allow_redirects=False,
    )
    assert signed_in.status_code == 302, signed_in.text[-2000:]
    page = session.get(f"{base}/queue/unused/")
    assert page.status_code == 200
    target = QueueItem.objects.filter(classifier=classifier).order_by("-probability").first().review
    assert html.escape(target.good_text.strip()[:20], quote=False) in page.text

    # blind it from the page
    decided = session.post(
        f"{base}/queue/unused/decide",
        data={
            "review": [target.pk],
            "action": "blind",
            "reason": check.reasons[0],
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "next": "/queue/unused/",
        },
    )
    assert decided.status_code == 200 and "리뷰 1건을 블라인드했습니다." in decided.text, decided.text[
        -3000:
    ]  # Korean by default
    target.refresh_from_db()
    assert target.visibility == Review.Visibility.BLINDED

    # the public read path hides it
    public = requests.get(f"{base}/api/v1/products/p-prod/reviews")
    assert public.status_code == 200
    shown = {row["external_id"] for row in public.json()["reviews"]}
    assert target.external_id not in shown and len(shown) == 5

    # the client app hears of it: signed, through the worker
    wait_for(lambda: Receiver.received, timeout=60, message="the webhook delivery")
    headers, body = Receiver.received[0]
    assert webhooks.verify(body, SECRET, headers["X-Hwadmin-Signature"])
    event = json.loads(body)
    assert event["event"] == "reviews.blinded"
    assert [r["external_id"] for r in event["reviews"]] == [target.external_id]
    wait_for(
        lambda: WebhookDelivery.objects.filter(status="delivered").count() == 1,
        timeout=30,
        message="the delivery to be marked delivered",
    )

    # /healthz: every part ok (the worker's heartbeat reached the shared cache)
    health = wait_for(
        lambda: (r := requests.get(f"{base}/healthz")).status_code == 200 and r, timeout=30, message="/healthz 200"
    )
    assert all(part["ok"] for part in health.json()["checks"].values()), health.json()

    # /metrics: token required; the figures of the web processes, the worker and the database
    assert requests.get(f"{base}/metrics").status_code == 401
    metrics = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert metrics.status_code == 200, metrics.text
    text = metrics.text
    assert sample(text, "hwadmin_reviews_received_total") == 6
    assert sample(text, "hwadmin_ingest_reviews_total", outcome="created") == 6
    assert sample(text, "hwadmin_decisions_total", reviewer="minji", check="unused", kind="blind") == 1
    assert sample(text, "hwadmin_webhook_deliveries", status="delivered") == 1
    assert (
        sample(text, "hwadmin_active_classifier", check="unused", classifier="tiny", classifier_id=str(classifier.pk))
        == 1
    )
    assert sample(text, "hwadmin_scoring_tasks_total", result="ok") >= 1  # counted in the worker process
    assert sample(text, "hwadmin_scores_total", check="unused", classifier=str(classifier.pk)) == 6
    assert (
        sample(text, "hwadmin_http_request_duration_seconds_count", view="api-reviews", method="POST", status="201")
        == 1
    )

    # static files: served by WhiteNoise (DEBUG is off, so Django itself would not)
    for path in ("/static/moderation/base.css", "/static/admin/css/base.css"):
        static = requests.get(base + path, headers={"Accept-Encoding": "gzip"})
        assert static.status_code == 200 and static.headers["Content-Type"].startswith("text/css"), path

    # log lines carry time and level
    log = log_path.read_text()
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} INFO ", log, re.M), log[-3000:]
    # a worker of one pool process lets the runtimes' threads spin (hwadmin/threads.py)
    assert "scoring: a pool of 1; the runtimes' threads spin while they wait (HWADMIN_THREAD_SPINNING=auto)" in log
