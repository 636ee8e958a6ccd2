"""/healthz: is this deployment able to take and score reviews?

A load balancer (or a person) GETs /healthz without logging in. Every part is
checked on its own, and the answer is JSON, 200 when every part is ok and 503
when one is not:

    {"status": "ok", "checks": {"database": {"ok": true, "detail": "..."}, ...}}

Parts: the database (SELECT 1), the cache (set, then get), the Celery broker (a
connection with one try and a short timeout), a worker heartbeat (Celery
workers write the time into the cache on every heartbeat; it must be newer than
HWADMIN_HEALTH_WORKER_MAX_AGE seconds) and, per check, an active classifier
whose directory exists. A failure's detail names the exception, never a
password: URLs are shown without their credentials.

The heartbeat receiver below is connected when the Celery worker imports
moderation.tasks (autodiscovery), before its heartbeat thread starts.
"""

import logging
import re
import time
import uuid
from pathlib import Path

from celery.signals import heartbeat_sent, worker_ready
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "hwadmin:worker-heartbeat"


def ops_setting(name):
    return settings.HWADMIN_OPS[name]


# --- the worker side: record a heartbeat --------------------------------------------------------


def record_heartbeat(**kwargs):
    """heartbeat_sent / worker_ready receiver: the time of this worker's latest heartbeat."""
    try:
        cache.set(HEARTBEAT_KEY, time.time(), timeout=None)
    except Exception as exc:  # never let a cache outage stop a worker's heartbeat thread
        log.warning("could not record the worker heartbeat in the cache: %s", redact(str(exc)))


heartbeat_sent.connect(record_heartbeat, weak=False, dispatch_uid="hwadmin-worker-heartbeat")
worker_ready.connect(record_heartbeat, weak=False, dispatch_uid="hwadmin-worker-ready")


# --- the checks ---------------------------------------------------------------------------------

CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")


def redact(text):
    """A message without the user:password part of any URL in it, nor a configured password."""
    text = CREDENTIALS.sub(r"\g<scheme>***@", text)
    for secret in {settings.DATABASES["default"].get("PASSWORD") or "", settings.SECRET_KEY}:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text[:300]


def failure(exc):
    return {"ok": False, "detail": redact(f"{type(exc).__name__}: {exc}")}


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "detail": f"{connection.vendor} answers"}


def check_cache():
    key, value = f"hwadmin:healthz:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=30)
    read = cache.get(key)
    cache.delete(key)
    if read != value:
        return {"ok": False, "detail": "a value set in the cache was not read back"}
    return {"ok": True, "detail": "set and get work"}


def check_broker():
    from hwadmin.celery import app

    if app.conf.task_always_eager:
        return {"ok": True, "detail": "tasks run in the web process (HWADMIN_TASKS_EAGER): no broker"}
    timeout = ops_setting("HEALTH_BROKER_TIMEOUT")
    with app.connection_for_write(connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
        transport = conn.transport_cls
    return {"ok": True, "detail": f"connected ({transport})"}


def check_worker():
    from hwadmin.celery import app

    max_age = ops_setting("HEALTH_WORKER_MAX_AGE")
    if app.conf.task_always_eager:
        return {"ok": True, "detail": "tasks run in the web process (HWADMIN_TASKS_EAGER): no worker"}
    beat = cache.get(HEARTBEAT_KEY)
    if beat is None:
        result = {"ok": False, "detail": "no worker heartbeat recorded: is a Celery worker running (with events on)?"}
    else:
        age = max(0.0, time.time() - float(beat))
        result = {
            "ok": age <= max_age,
            "detail": f"latest heartbeat {age:.0f}s ago (limit {max_age}s)",
            "age_seconds": round(age, 1),
        }
    if max_age <= 0:
        result = {**result, "ok": True, "detail": result["detail"] + "; not required (HWADMIN_HEALTH_WORKER_MAX_AGE=0)"}
    return result


def check_classifiers():
    from .models import Check, Classifier

    active = {
        c.moderation_check_id: c
        for c in Classifier.objects.filter(is_active=True).only("pk", "name", "path", "moderation_check_id")
    }
    parts, ok = {}, True
    for check in Check.objects.only("pk", "code"):
        classifier = active.get(check.pk)
        if classifier is None:
            parts[check.code] = {"ok": False, "detail": "no active classifier: its reviews wait unscored"}
        elif ops_setting("HEALTH_CHECK_MODEL_DIRS") and not Path(classifier.path).is_dir():
            parts[check.code] = {"ok": False, "detail": f"{classifier.name} #{classifier.pk}: its directory is missing"}
        else:
            parts[check.code] = {"ok": True, "detail": f"{classifier.name} #{classifier.pk}"}
        ok = ok and parts[check.code]["ok"]
    if not parts:
        return {"ok": False, "detail": "no check is defined (run migrate)", "checks": parts}
    return {"ok": ok, "detail": "every check has an active classifier" if ok else "see checks", "checks": parts}


CHECKS = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "worker": check_worker,
    "classifiers": check_classifiers,
}


def run_checks():
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # each failure is reported, never raised
            log.warning("health check %s failed: %s", name, redact(f"{type(exc).__name__}: {exc}"))
            results[name] = failure(exc)
    return results


@never_cache
@require_safe
def healthz(request):
    results = run_checks()
    healthy = all(part["ok"] for part in results.values())
    return JsonResponse(
        {"status": "ok" if healthy else "fail", "checks": results},
        status=200 if healthy else 503,
        json_dumps_params={"ensure_ascii": False},
    )
