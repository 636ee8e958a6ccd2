"""/healthz (200 or 503, JSON, no login, no secrets) and /metrics (protected; business figures from the
database, process figures from counters), the log format, and the settings that refuse bad values."""

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime

import pytest
from celery.signals import heartbeat_sent
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY

from hwadmin.celery import app as celery_app
from moderation import health, tasks
from moderation.models import Action, Check, Classifier, Product, QueueItem, Review, Score, WebhookDelivery
from tests.tiny import ROOT

TOKEN = "metrics-token-0123456789-abcdefghijkl"


@pytest.fixture
def check(db):
    return Check.objects.get(code="unused")


@pytest.fixture
def classifier(check, tmp_path):
    directory = tmp_path / "classifier"
    directory.mkdir()
    return Classifier.objects.create(moderation_check=check, name="electra-v1", path=str(directory), is_active=True)


@pytest.fixture
def heartbeat():
    health.record_heartbeat()


def healthz(**extra):
    response = Client().get("/healthz", **extra)
    assert response["Content-Type"] == "application/json"
    return response, response.json()


# --- /healthz ---------------------------------------------------------------------------------------


def test_healthz_is_200_when_every_part_is_ok_without_a_login(classifier, heartbeat):
    response, body = healthz()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker", "worker", "classifiers"}
    assert all(part["ok"] for part in body["checks"].values())
    assert body["checks"]["classifiers"]["checks"]["unused"] == {"ok": True, "detail": f"electra-v1 #{classifier.pk}"}
    assert Client().head("/healthz").status_code == 200  # load balancers that probe with HEAD


def test_healthz_is_503_without_a_worker_heartbeat(classifier):
    response, body = healthz()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["checks"]["worker"]["ok"] is False and "no worker heartbeat" in body["checks"]["worker"]["detail"]
    assert body["checks"]["database"]["ok"] and body["checks"]["classifiers"]["ok"]


def test_healthz_is_503_with_a_stale_heartbeat_and_the_age_is_configurable(classifier, settings):
    cache.set(health.HEARTBEAT_KEY, time.time() - 120, timeout=None)
    response, body = healthz()
    assert response.status_code == 503
    assert "limit 60" in body["checks"]["worker"]["detail"] and body["checks"]["worker"]["age_seconds"] >= 119
    settings.HWADMIN_OPS = {**settings.HWADMIN_OPS, "HEALTH_WORKER_MAX_AGE": 300}
    assert healthz()[0].status_code == 200
    cache.delete(health.HEARTBEAT_KEY)
    settings.HWADMIN_OPS = {**settings.HWADMIN_OPS, "HEALTH_WORKER_MAX_AGE": 0}  # 0: reported, not required
    response, body = healthz()
    assert response.status_code == 200 and "not required" in body["checks"]["worker"]["detail"]


def test_a_celery_heartbeat_signal_records_the_heartbeat(db):
    """The worker side: the receiver is connected when moderation.tasks is imported (as the worker does)."""
    cache.delete(health.HEARTBEAT_KEY)
    assert tasks.health is health
    heartbeat_sent.send(sender=None)
    assert time.time() - cache.get(health.HEARTBEAT_KEY) < 5


def test_healthz_is_503_for_a_check_without_an_active_classifier(check, heartbeat):
    Classifier.objects.create(moderation_check=check, name="inactive", path="/x", is_active=False)
    response, body = healthz()
    assert response.status_code == 503
    assert body["checks"]["classifiers"]["checks"]["unused"] == {
        "ok": False,
        "detail": "no active classifier: its reviews wait unscored",
    }


def test_healthz_is_503_when_the_active_classifiers_directory_is_missing(check, heartbeat, tmp_path, settings):
    classifier = Classifier.objects.create(
        moderation_check=check, name="gone", path=str(tmp_path / "gone"), is_active=True
    )
    response, body = healthz()
    assert response.status_code == 503
    assert (
        body["checks"]["classifiers"]["checks"]["unused"]["detail"]
        == f"gone #{classifier.pk}: its directory is missing"
    )
    settings.HWADMIN_OPS = {**settings.HWADMIN_OPS, "HEALTH_CHECK_MODEL_DIRS": False}  # a web host without models
    assert healthz()[0].status_code == 200


def test_healthz_reports_an_unreachable_broker_without_its_password(classifier, heartbeat):
    before = celery_app.conf.broker_url, celery_app.conf.broker_transport_options
    celery_app.conf.broker_url = "redis://hwadmin:broker-pa55word@127.0.0.1:1/0"
    celery_app.conf.broker_transport_options = {}
    try:
        started = time.monotonic()
        response, body = healthz()
    finally:
        celery_app.conf.broker_url, celery_app.conf.broker_transport_options = before
    assert time.monotonic() - started < 15
    assert response.status_code == 503
    assert body["checks"]["broker"]["ok"] is False and body["checks"]["broker"]["detail"]
    assert body["checks"]["database"]["ok"]
    assert "broker-pa55word" not in response.content.decode()


def test_healthz_reports_a_database_failure_as_json_never_a_page(classifier, heartbeat, monkeypatch):
    def broken():
        raise RuntimeError("could not connect to postgres://hwadmin:db-pa55word@db.internal:5432/hwadmin")

    monkeypatch.setitem(health.CHECKS, "database", broken)
    response, body = healthz()
    assert response.status_code == 503
    assert body["checks"]["database"] == {
        "ok": False,
        "detail": "RuntimeError: could not connect to postgres://***@db.internal:5432/hwadmin",
    }
    assert "db-pa55word" not in response.content.decode()


def test_healthz_answers_over_http_even_when_https_is_enforced(classifier, heartbeat, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/login/").status_code == 301  # everything else still redirects


# --- /metrics: access -----------------------------------------------------------------------------


def scrape(**extra):
    return Client().get("/metrics", **extra)


def test_metrics_without_a_token_are_served_to_loopback_only(db):
    assert scrape(REMOTE_ADDR="127.0.0.1").status_code == 200
    assert scrape(REMOTE_ADDR="::1").status_code == 200
    refused = scrape(REMOTE_ADDR="10.0.0.5")
    assert refused.status_code == 403 and b"HWADMIN_METRICS_TOKEN" in refused.content
    # through a proxy on the same machine: REMOTE_ADDR is loopback, but the client is not
    assert scrape(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    assert scrape(REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP="203.0.113.9").status_code == 403


def test_metrics_with_a_token_need_it_from_every_address(db, settings):
    settings.HWADMIN_OPS = {**settings.HWADMIN_OPS, "METRICS_TOKEN": TOKEN}
    missing = scrape(REMOTE_ADDR="127.0.0.1")
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
    assert b"Authorization: Bearer" in missing.content
    assert scrape(REMOTE_ADDR="10.0.0.5", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert scrape(REMOTE_ADDR="10.0.0.5", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 401
    served = scrape(REMOTE_ADDR="10.0.0.5", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert served.status_code == 200 and served["Content-Type"].startswith("text/plain; version=")


def test_metrics_loopback_only_refuses_other_addresses_even_with_the_token(db, settings):
    settings.HWADMIN_OPS = {**settings.HWADMIN_OPS, "METRICS_TOKEN": TOKEN, "METRICS_LOOPBACK_ONLY": True}
    assert scrape(REMOTE_ADDR="10.0.0.5", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 403
    assert scrape(REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert scrape(REMOTE_ADDR="127.0.0.1").status_code == 401


# --- /metrics: content -----------------------------------------------------------------------------


def sample(text, name, **labels):
    """The value of one sample in the exposition text (None if absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    line = f"{name}{{{wanted}}} " if labels else f"{name} "
    for row in text.splitlines():
        if row.startswith(line):
            return float(row[len(line) :])
    return None


def make_queue(check, classifier, probabilities):
    product = Product.objects.create(external_id="p-metrics")
    reviews = []
    for i, p in enumerate(probabilities):
        review = Review.objects.create(
            source="t",
            external_id=f"m-{i}",
            product=product,
            rating=5,
            good_text=f"리뷰 {i}",
            written_at=timezone.now(),
        )
        Score.objects.create(review=review, moderation_check=check, classifier=classifier, probability=p)
        QueueItem.objects.create(
            review=review, moderation_check=check, probability=p, classifier=classifier, scored_at=timezone.now()
        )
        reviews.append(review)
    return reviews


def test_metrics_show_the_business_figures_from_the_database(check, classifier, heartbeat):
    reviews = make_queue(check, classifier, [0.2, 0.92, 0.96, 0.995, 0.999])
    Review.objects.create(
        source="t",
        external_id="unscored",
        product=reviews[0].product,
        rating=4,
        good_text="아직",
        written_at=timezone.now(),
    )
    minji = User.objects.create_user("minji")
    QueueItem.objects.filter(review=reviews[4]).update(status=QueueItem.Status.BLINDED)
    QueueItem.objects.filter(review=reviews[0]).update(status=QueueItem.Status.KEPT)
    Action.objects.create(review=reviews[4], moderation_check=check, kind="blind", user=minji)
    Action.objects.create(review=reviews[0], moderation_check=check, kind="keep", user=minji)
    Action.objects.create(review=reviews[0], moderation_check=check, kind="reopen")
    WebhookDelivery.objects.create(event="reviews.blinded", body="{}", status="delivered", attempts=1)
    WebhookDelivery.objects.create(event="reviews.blinded", body="{}", status="dead", attempts=8)
    WebhookDelivery.objects.create(event="reviews.blinded", body="{}", status="pending", attempts=2)

    text = scrape().content.decode()
    assert sample(text, "hwadmin_reviews_received_total") == 6
    assert sample(text, "hwadmin_reviews", visibility="visible") == 6
    assert sample(text, "hwadmin_scores_total", check="unused", classifier=str(classifier.pk)) == 5
    assert sample(text, "hwadmin_unscored_reviews", check="unused") == 1
    assert (
        sample(
            text, "hwadmin_active_classifier", check="unused", classifier="electra-v1", classifier_id=str(classifier.pk)
        )
        == 1
    )
    assert sample(text, "hwadmin_check_has_active_classifier", check="unused") == 1
    # open items per band: 0.2 was kept and 0.999 blinded
    assert sample(text, "hwadmin_queue_open", check="unused", band="0-0.5") == 0
    assert sample(text, "hwadmin_queue_open", check="unused", band="0.9-0.95") == 1
    assert sample(text, "hwadmin_queue_open", check="unused", band="0.95-0.99") == 1
    assert sample(text, "hwadmin_queue_open", check="unused", band="0.99-1") == 1
    assert sample(text, "hwadmin_decisions_total", reviewer="minji", check="unused", kind="blind") == 1
    assert sample(text, "hwadmin_decisions_total", reviewer="minji", check="unused", kind="keep") == 1
    assert sample(text, "hwadmin_decisions_total", reviewer="-", check="unused", kind="reopen") == 1
    assert sample(text, "hwadmin_webhook_deliveries", status="delivered") == 1
    assert sample(text, "hwadmin_webhook_deliveries", status="dead") == 1
    assert sample(text, "hwadmin_webhook_deliveries", status="pending") == 1
    assert sample(text, "hwadmin_webhook_deliveries_retrying") == 1
    assert sample(text, "hwadmin_webhook_attempts_total") == 11
    assert 0 <= sample(text, "hwadmin_worker_heartbeat_age_seconds") < 60


def test_metrics_count_ingested_reviews_and_time_requests_by_view(db, django_capture_on_commit_callbacks):
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    def created():
        return REGISTRY.get_sample_value("hwadmin_ingest_reviews_total", {"outcome": "created"}) or 0

    def timed(view, status):
        return (
            REGISTRY.get_sample_value(
                "hwadmin_http_request_duration_seconds_count", {"view": view, "method": "POST", "status": status}
            )
            or 0
        )

    user = User.objects.create(username="client-app")
    user.groups.add(Group.objects.get(name="ingest clients"))
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    from tests import tiny

    before, requests_before = created(), timed("api-reviews", "201")
    rows = tiny.sample_reviews(3)
    with django_capture_on_commit_callbacks(execute=True):  # counted once the transaction commits
        response = client.post("/api/v1/reviews", json.dumps(rows), content_type="application/json")
    assert response.status_code == 201, response.content
    assert created() - before == 3
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/api/v1/reviews", json.dumps(rows), content_type="application/json")  # again: unchanged
    assert created() - before == 3
    text = scrape().content.decode()
    assert sample(text, "hwadmin_reviews_received_total") == 3
    assert sample(text, "hwadmin_ingest_reviews_total", outcome="created") == created()
    assert timed("api-reviews", "201") - requests_before == 2  # both answered 201
    assert 'hwadmin_http_request_duration_seconds_count{method="GET",status="404",view="<unresolved>"}' not in text
    Client().get("/no/such/page/42")
    assert 'view="<unresolved>"' in scrape().content.decode()


def test_scoring_tasks_are_counted_and_timed(db, monkeypatch):
    from moderation import scoring

    def value(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0

    monkeypatch.setattr(scoring, "score_reviews", lambda ids, check_code=None: len(ids) - 1)
    before = (
        value("hwadmin_scoring_tasks_total", result="ok"),
        value("hwadmin_scoring_reviews_total"),
        value("hwadmin_scoring_scores_written_total"),
        value("hwadmin_scoring_task_duration_seconds_count"),
    )
    assert tasks.score_reviews.run([1, 2, 3]) == 2
    after = (
        value("hwadmin_scoring_tasks_total", result="ok"),
        value("hwadmin_scoring_reviews_total"),
        value("hwadmin_scoring_scores_written_total"),
        value("hwadmin_scoring_task_duration_seconds_count"),
    )
    assert [a - b for a, b in zip(after, before)] == [1, 3, 2, 1]

    def boom(ids, check_code=None):
        raise ValueError("model broke")

    monkeypatch.setattr(scoring, "score_reviews", boom)
    errors = value("hwadmin_scoring_tasks_total", result="error")
    with pytest.raises(ValueError):
        tasks.score_reviews.run([1])
    assert value("hwadmin_scoring_tasks_total", result="error") - errors == 1


# --- settings: log format and refused values ------------------------------------------------------


def run_settings(code, **env):
    base = {"PATH": "/usr/bin:/bin", "SECRET_KEY": "settings-test-key", "HWADMIN_VAR_DIR": env.pop("var")}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )


LOG_LINE = (
    "import logging.config, hwadmin.settings as s; logging.config.dictConfig(s.LOGGING); "
    "logging.getLogger('hwadmin.test').warning('보류 %d', 3)"
)


def test_log_lines_carry_time_and_level(tmp_path):
    result = run_settings(LOG_LINE, var=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} WARNING hwadmin.test \[\d+\] 보류 3\n", result.stderr
    ), result.stderr


def test_json_log_lines(tmp_path):
    result = run_settings(LOG_LINE, var=str(tmp_path), HWADMIN_LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stderr)
    assert entry["level"] == "WARNING" and entry["logger"] == "hwadmin.test" and entry["message"] == "보류 3"
    assert datetime.fromisoformat(entry["time"]).tzinfo is not None


@pytest.mark.parametrize(
    "env, message",
    [
        ({"HWADMIN_LOG_FORMAT": "xml"}, "HWADMIN_LOG_FORMAT='xml': give text (the default) or json"),
        ({"HWADMIN_METRICS_TOKEN": "short"}, "HWADMIN_METRICS_TOKEN must be at least 24 characters"),
    ],
)
def test_bad_settings_are_refused_with_a_message(tmp_path, env, message):
    result = run_settings("import hwadmin.settings", var=str(tmp_path), **env)
    assert result.returncode != 0 and message in result.stderr


def test_task_events_are_on_for_flower_and_the_heartbeat():
    assert celery_app.conf.worker_send_task_events is True
    assert celery_app.conf.task_send_sent_event is True


def test_static_files_are_compressed_by_whitenoise_when_debug_is_off(settings):
    assert not settings.DEBUG
    assert settings.STORAGES["staticfiles"]["BACKEND"] == "whitenoise.storage.CompressedStaticFilesStorage"
    assert os.environ.get("DEBUG") == "0"


# --- deployment files -------------------------------------------------------------------------------


def test_the_env_example_documents_every_variable_the_settings_read():
    settings_text = (ROOT / "hwadmin" / "settings.py").read_text()
    read = set(
        re.findall(
            r'(?:environ\.get|environ\[|env_\w+|_lockout_parameters)\(?\s*"([A-Z][A-Z0-9_]*[A-Z0-9])"', settings_text
        )
    )
    assert {"SECRET_KEY", "DATABASE_URL", "HWADMIN_METRICS_TOKEN", "HWADMIN_LOGIN_LOCKOUT_PARAMETERS"} <= read
    example = (ROOT / "deploy" / "hwadmin.env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, re.M))
    assert not read - documented, f"add {sorted(read - documented)} to deploy/hwadmin.env.example"


def test_the_procfile_and_units_run_web_worker_and_beat():
    procfile = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line and not line.startswith("#")
    )
    assert set(procfile) == {"web", "worker", "beat"}
    assert "gunicorn -c deploy/gunicorn.conf.py hwadmin.wsgi" in procfile["web"]
    for unit in ("web", "ingest", "worker", "beat"):
        text = (ROOT / "deploy" / f"hwadmin-{unit}.service").read_text()
        assert "EnvironmentFile=/etc/hwadmin/hwadmin.env" in text and "Environment=DEBUG=0" in text
    for unit in ("ingest", "worker"):  # background work yields the CPU to reviewers' pages
        assert "Nice=10" in (ROOT / "deploy" / f"hwadmin-{unit}.service").read_text()


@pytest.mark.parametrize(
    "env, message",
    [
        (
            {"DATABASE_URL": "sqlite:///x.sqlite3", "CELERY_BROKER_URL": "redis://h:6379/0"},
            "set DATABASE_URL=postgres://",
        ),
        ({"DATABASE_URL": "postgres://u@h/db", "CELERY_BROKER_URL": "filesystem://"}, "set CELERY_BROKER_URL=redis://"),
        ({"DATABASE_URL": "postgres://u@h/db", "CELERY_BROKER_URL": "redis://h:6379/0"}, "set SECRET_KEY"),
        ({"HWADMIN_ENV_FILE": "/nonexistent/hwadmin.env"}, "HWADMIN_ENV_FILE=/nonexistent/hwadmin.env does not exist"),
    ],
)
def test_serve_refuses_to_start_without_postgres_redis_and_a_secret_key(tmp_path, env, message):
    """scripts/serve (make serve) says what is missing before it starts anything."""
    base = {"PATH": "/usr/bin:/bin", "HWADMIN_ENV_FILE": str(tmp_path / "none.env"), "HWADMIN_VAR_DIR": str(tmp_path)}
    (tmp_path / "none.env").write_text("# nothing\n")
    result = subprocess.run(
        [str(ROOT / "scripts" / "serve")], env={**base, **env}, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and message in result.stderr, result.stderr
