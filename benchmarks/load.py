"""Over 500 lines: one script boots the production set, drives clients and reviewers, then audits the database.

The production set under load: many API clients ingesting while reviewers page the queue.

    .venv/bin/python benchmarks/load.py [--clients 32] [--batch 100] [--seconds 60] [--json FILE]
    .venv/bin/python benchmarks/load.py --url http://host:8000 --database-url postgres://... (a running set)

Without --url it boots the production set itself, as `make serve` does (scripts/serve: gunicorn with
deploy/gunicorn.conf.py, a Celery worker and beat, DEBUG=0) on its own PostgreSQL database
(hwadmin_bench_load, dropped and recreated; BENCH_DATABASE_URL) and Redis database (12, flushed;
BENCH_BROKER_URL, also the cache), with the shipped classifier models/unused-electra registered and
active (`manage.py register_classifier ... --activate`) and plain HTTP (SECURE_SSL_REDIRECT=0, cookies
not Secure-only; every other protection stays on). The 900 sample reviews are posted and scored first
(the workers load the model; the queue has pages to show).

Then, for --seconds, --clients concurrent API clients (one token: the per-user throttle applies) each
post --batch-review requests to POST /api/v1/reviews back to back, every review with a fresh
external id, while --reviewers reviewers (logged in with a session) page the queue: GET /queue/unused/,
then its next page through the page's cursor link, again and again (--reviewer-pause between pages).

Reported: ingest throughput (reviews/s, requests/s), request latency p50/p99, errors (any non-2xx
answer, 429s included, and any exception such as a timeout), the queue page's p50/p95 under load (as
the reviewer's client sees it; the gunicorn access log's own times beside them), and, after waiting for
the workers to drain the scoring backlog (--drain-timeout), whether every acknowledged review is stored
exactly once (by source + external id) and scored exactly once by the active classifier.

The per-user throttle HWADMIN_THROTTLE_USER (production default 1200/min) would refuse 32 clients
posting flat out; the benchmark sets it explicitly (--throttle-user, printed with the results) instead
of hiding 429s, which count as errors when they happen.

Goals: 0 errors; 0 lost or duplicated reviews; every review scored once; queue page p95 under load
<= 150 ms on 2 cores. The workers scoring fewer reviews/s than are posted is expected: the backlog
drains after the run, and the time it takes is reported.
"""

import argparse
import asyncio
import html
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository's packages, run as a script

try:  # httpx, or its maintained fork httpx2 (installed with transformers' huggingface_hub): the same API
    import httpx
except ImportError:  # pragma: no cover (whichever is there)
    import httpx2 as httpx

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hwadmin_bench_load")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12")
QUEUE = "hwadmin-bench-load"
SAMPLE = ROOT / "data" / "sample" / "reviews.jsonl"
WARM_SOURCE = "bench-warm-up"
PASSWORD_BYTES = 18
QUEUE_GOAL_MS = 150
# the production set as `make serve` runs it on this machine; the environment wins
SERVE_DEFAULTS = {
    "WEB_CONCURRENCY": "2",
    "HWADMIN_WEB_THREADS": "4",
    "HWADMIN_WORKER_CONCURRENCY": "2",
    "HWADMIN_TORCH_THREADS": "1",
}
ACCESS_LINE = re.compile(r'"(GET|POST) (\S+) HTTP/[\d.]+" (\d{3}) \S+ (\d+)us')
NEXT_LINK = re.compile(r'<a id="next-page" href="([^"]+)"')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=positive, default=32, help="concurrent ingest clients (default 32)")
    parser.add_argument("--batch", type=positive, default=100, help="reviews per request, 1-1000 (default 100)")
    parser.add_argument("--seconds", type=positive_float, default=60.0, help="how long clients post (default 60)")
    parser.add_argument("--reviewers", type=int, default=2, help="reviewers paging the queue (default 2)")
    parser.add_argument(
        "--reviewer-pause", type=float, default=0.5, help="seconds a reviewer waits between pages (default 0.5)"
    )
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=10.0,
        help="reviewers page the queue alone this long before the load, for comparison (default 10)",
    )
    parser.add_argument(
        "--throttle-user",
        default="100000/min",
        help="HWADMIN_THROTTLE_USER of the booted set (default 100000/min; production: 1200/min)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=positive_float,
        default=900.0,
        help="seconds to wait for the workers to score every review after the run (default 900)",
    )
    parser.add_argument("--request-timeout", type=positive_float, default=120.0, help="per request (default 120 s)")
    parser.add_argument(
        "--ingest-url", help="with --url: where ingest clients post (a separate ingest pool); default: --url itself"
    )
    parser.add_argument(
        "--one-pool",
        action="store_true",
        help="booted set: serve ingest and pages from one gunicorn pool (no HWADMIN_INGEST_BIND), "
        "to measure what the separate ingest pool buys",
    )
    parser.add_argument("--json", help="write the report here as JSON")
    parser.add_argument(
        "--url",
        help="a running production set to load instead of booting one; its database "
        "(--database-url) gets the benchmark's token and reviewer accounts",
    )
    parser.add_argument(
        "--database-url",
        default=DB_URL,
        help="PostgreSQL database of the set (default BENCH_DATABASE_URL or hwadmin_bench_load)",
    )
    args = parser.parse_args(argv)
    if args.batch > 1000:
        parser.error("--batch: at most 1000 reviews per request (HWADMIN_MAX_ITEMS_PER_REQUEST)")
    if args.reviewers < 0 or args.reviewer_pause < 0 or args.baseline_seconds < 0:
        parser.error("--reviewers, --reviewer-pause and --baseline-seconds must not be negative")
    if not re.fullmatch(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)", args.throttle_user):
        parser.error(f"--throttle-user: give a rate such as 6000/min, not {args.throttle_user!r}")
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url: give a PostgreSQL URL (postgres://user@host:5432/name)")
    return args


def positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


# --- Report -------------------------------------------------------------------------------------------


def percentile(values, q):
    """The q-th percentile (0-100), linear between the closest ranks; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ms(seconds):
    return None if seconds is None else round(seconds * 1000, 1)


def summarise(ingest, pages, elapsed):
    """Figures of one run. ingest: [(latency_s, status or None, exception name or None, reviews)];
    pages: [(latency_s, status or None, exception name or None, "first" | "next")]; elapsed: seconds
    from the first request to the last answer."""
    answered = [r for r in ingest if r[1] is not None]
    ok = [r for r in answered if 200 <= r[1] < 300]
    statuses, exceptions = {}, {}
    for _latency, status, error, _ in ingest:
        if error:
            exceptions[error] = exceptions.get(error, 0) + 1
        else:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
    page_ok = [r for r in pages if r[1] == 200]
    page_errors = {}
    for _latency, status, error, _ in pages:
        if status != 200:
            key = error or str(status)
            page_errors[key] = page_errors.get(key, 0) + 1
    latencies = [r[0] for r in answered]
    page_latencies = [r[0] for r in page_ok]
    return {
        "elapsed_s": round(elapsed, 2),
        "requests": len(ingest),
        "requests_ok": len(ok),
        "reviews_acknowledged": sum(r[3] for r in ok),
        "reviews_per_s": round(sum(r[3] for r in ok) / elapsed, 1) if elapsed else None,
        "requests_per_s": round(len(ok) / elapsed, 2) if elapsed else None,
        "latency_p50_ms": ms(percentile(latencies, 50)),
        "latency_p99_ms": ms(percentile(latencies, 99)),
        "latency_max_ms": ms(max(latencies, default=None)),
        "statuses": statuses,
        "exceptions": exceptions,
        "errors": len(ingest) - len(ok),
        "throttled_429": statuses.get("429", 0),
        "queue_pages": len(pages),
        "queue_pages_ok": len(page_ok),
        "queue_errors": page_errors,
        "queue_p50_ms": ms(percentile(page_latencies, 50)),
        "queue_p95_ms": ms(percentile(page_latencies, 95)),
        "queue_max_ms": ms(max(page_latencies, default=None)),
    }


def access_log_times(lines):
    """Server-side times from gunicorn's access log (deploy/gunicorn.conf.py: `%(D)sus`), in ms:
    {"ingest": [...], "queue": [...]}."""
    times = {"ingest": [], "queue": []}
    for line in lines:
        match = ACCESS_LINE.search(line)
        if not match:
            continue
        method, path, _, micros = match.groups()
        if method == "POST" and path.startswith("/api/v1/reviews"):
            times["ingest"].append(int(micros) / 1000)
        elif method == "GET" and path.startswith("/queue/unused/"):
            times["queue"].append(int(micros) / 1000)
    return times


def integrity(acknowledged, maybe, stored_ids, score_counts):
    """Every acknowledged review stored once and scored once. acknowledged: external ids of 2xx answers;
    maybe: ids of requests that failed (possibly stored); stored_ids: the source's external ids in the
    database (one per row); score_counts: scores by the active classifier, one number per stored review."""
    stored = set(stored_ids)
    return {
        "stored": len(stored_ids),
        "lost": len(set(acknowledged) - stored),
        "duplicated": len(stored_ids) - len(stored),
        "unexpected": len(stored - set(acknowledged) - set(maybe)),
        "unscored": sum(1 for n in score_counts if n == 0),
        "scored_more_than_once": sum(1 for n in score_counts if n > 1),
    }


def goals(report):
    run, check = report["run"], report.get("integrity")
    result = {
        "0 errors": run["errors"] == 0 and not run["queue_errors"],
        f"queue page p95 <= {QUEUE_GOAL_MS} ms": run["queue_p95_ms"] is not None
        and run["queue_p95_ms"] <= QUEUE_GOAL_MS,
    }
    if check is not None:
        result["0 lost or duplicated reviews"] = (
            check["lost"] == 0 and check["duplicated"] == 0 and check["unexpected"] == 0
        )
        result["every review scored once"] = (
            check["unscored"] == 0 and check["scored_more_than_once"] == 0 and report.get("drained", False)
        )
    return result


def format_table(report):
    run, setup = report["run"], report["setup"]
    lines = [
        f"{setup['clients']} clients x {setup['batch']} reviews/request for {setup['seconds']:g} s, "
        f"{setup['reviewers']} reviewers paging the queue; HWADMIN_THROTTLE_USER={setup['throttle_user']} "
        f"(set for the benchmark)",
        f"load average before {report['loadavg_before']}, after {report['loadavg_after']}; "
        f"{os.cpu_count()} CPUs; client process CPU {report.get('client_cpu_s', 0):.1f} s",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| ingest: reviews/s (acknowledged) | {run['reviews_per_s']} |",
        f"| ingest: requests/s (2xx) | {run['requests_per_s']} |",
        f"| ingest: request latency p50 / p99 | {run['latency_p50_ms']} / {run['latency_p99_ms']} ms |",
        f"| ingest: requests, errors | {run['requests']}, {run['errors']} |",
        f"| queue page p50 / p95 (client) | {run['queue_p50_ms']} / {run['queue_p95_ms']} ms "
        f"({run['queue_pages_ok']} pages) |",
    ]
    server = report.get("server")
    alone = report.get("queue_without_ingest")
    if alone and alone["pages"]:
        lines.append(
            f"| queue page p50 / p95 before the load, no ingest | {alone['p50_ms']} / {alone['p95_ms']} ms "
            f"({alone['pages']} pages) |"
        )
    if server:
        lines += [
            f"| gunicorn: ingest p50 / p99 | {server['ingest_p50_ms']} / {server['ingest_p99_ms']} ms |",
            f"| gunicorn: queue page p50 / p95 | {server['queue_p50_ms']} / {server['queue_p95_ms']} ms |",
        ]
    if "scored_during_run" in report:
        lines.append(
            f"| scored during the run (reviews/s) | {report['scored_during_run']} "
            f"({report['scoring_per_s_during_run']}) |"
        )
    check = report.get("integrity")
    if check is not None:
        drained = f"{report['drain_s']} s" if report.get("drained") else f"not within {report['drain_s']} s"
        lines += [
            f"| backlog drained after the run | {drained} |",
            f"| stored / lost / duplicated | {check['stored']} / {check['lost']} / {check['duplicated']} |",
            f"| unscored / scored twice | {check['unscored']} / {check['scored_more_than_once']} |",
        ]
    if run["statuses"] or run["exceptions"]:
        lines.append(f"\nanswers: {run['statuses']}; exceptions: {run['exceptions']}")
    if run["queue_errors"]:
        lines.append(f"queue page errors: {run['queue_errors']}")
    lines.append("")
    for goal, met in report["goals"].items():
        lines.append(f"goal {goal}: {'met' if met else 'MISSED'}")
    return "\n".join(lines)


# --- The load ------------------------------------------------------------------------------------------


def sample_rows():
    with open(SAMPLE, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


async def ingest_client(number, client, token, args, rows, source, deadline, records, acknowledged, maybe):
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    sent = 0
    while time.monotonic() < deadline:
        start_row = (number * args.batch + sent * args.batch * args.clients) % len(rows)
        batch = []
        for j in range(args.batch):
            row = rows[(start_row + j) % len(rows)]
            batch.append(dict(row, source=source, external_id=f"c{number:03d}-{sent:06d}-{j:04d}"))
        ids = [item["external_id"] for item in batch]
        body = json.dumps(batch, ensure_ascii=False).encode()
        sent += 1
        began = time.perf_counter()
        try:
            response = await client.post("/api/v1/reviews", content=body, headers=headers)
        except httpx.HTTPError as exc:
            records.append((time.perf_counter() - began, None, type(exc).__name__, len(ids)))
            maybe.update(ids)
            continue
        records.append((time.perf_counter() - began, response.status_code, None, len(ids)))
        (acknowledged if 200 <= response.status_code < 300 else maybe).update(ids)


async def log_in(client, username, password):
    await client.get("/login/")
    response = await client.post(
        "/login/", data={"username": username, "password": password, "csrfmiddlewaretoken": client.cookies["csrftoken"]}
    )
    if response.status_code != 302:
        raise SystemExit(f"reviewer {username} could not log in: {response.status_code}")


async def reviewer(client, args, deadline, records):
    next_link = None
    while time.monotonic() < deadline:
        kind = "next" if next_link else "first"
        began = time.perf_counter()
        try:
            response = await client.get(next_link or "/queue/unused/")
        except httpx.HTTPError as exc:
            records.append((time.perf_counter() - began, None, type(exc).__name__, kind))
            next_link = None
        else:
            records.append((time.perf_counter() - began, response.status_code, None, kind))
            found = NEXT_LINK.search(response.text) if kind == "first" and response.status_code == 200 else None
            next_link = "/queue/unused/" + html.unescape(found.group(1)) if found else None
        await asyncio.sleep(args.reviewer_pause)


async def load(base, args, token, reviewers, rows, source, ingest_base=None):
    timeout = httpx.Timeout(args.request_timeout)
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    records, pages, baseline, acknowledged, maybe = [], [], [], set(), set()
    async with httpx.AsyncClient(base_url=ingest_base or base, timeout=timeout, limits=limits) as client:
        sessions = [httpx.AsyncClient(base_url=base, timeout=timeout) for _ in reviewers]
        try:
            for session, (username, password) in zip(sessions, reviewers):
                await log_in(session, username, password)
            if args.baseline_seconds:  # the queue page with no ingest, on the machine as it is
                deadline = time.monotonic() + args.baseline_seconds
                await asyncio.gather(*(reviewer(session, args, deadline, baseline) for session in sessions))
            began = time.monotonic()
            deadline = began + args.seconds
            tasks = [
                ingest_client(i, client, token, args, rows, source, deadline, records, acknowledged, maybe)
                for i in range(args.clients)
            ]
            tasks += [reviewer(session, args, deadline, pages) for session in sessions]
            await asyncio.gather(*tasks)
            elapsed = time.monotonic() - began
        finally:
            for session in sessions:
                await session.aclose()
    return records, pages, baseline, acknowledged, maybe, elapsed


# --- Booting the set, accounts, checks -----------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reset_database(url):
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"database name {name!r}: letters, digits and _ only")
    with psycopg.connect(urlunsplit(parts._replace(scheme="postgresql", path="/postgres")), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def setup_django(env):
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "hwadmin.settings"
    import django

    django.setup()
    for name in ("httpx", "httpx2", "httpcore", "httpcore2"):  # no log line per request
        logging.getLogger(name).setLevel(logging.WARNING)


def accounts(count, stamp):
    """An ingest client with a token, and `count` reviewers with passwords."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    User = get_user_model()
    client = User.objects.create(username=f"bench-load-client-{stamp}")
    client.groups.add(Group.objects.get(name="ingest clients"))
    token = Token.objects.create(user=client).key
    reviewers = []
    for i in range(count):
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        user = User.objects.create_user(f"bench-reviewer-{i + 1}-{stamp}", password=password)
        user.groups.add(Group.objects.get(name="reviewers"))
        reviewers.append((user.username, password))
    return token, reviewers


def active_classifier():
    from moderation.models import Classifier

    classifier = Classifier.objects.filter(moderation_check__code="unused", is_active=True).first()
    if classifier is None:
        raise SystemExit("the unused check has no active classifier: nothing would be scored")
    return classifier


def counts(source, classifier):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM moderation_review WHERE source = %s),"
            " (SELECT count(*) FROM moderation_score s JOIN moderation_review r ON r.id = s.review_id"
            "  WHERE r.source = %s AND s.classifier_id = %s)",
            [source, source, classifier.pk],
        )
        return cursor.fetchone()


def stored_and_scored(source, classifier):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.external_id, (SELECT count(*) FROM moderation_score s"
            " WHERE s.review_id = r.id AND s.classifier_id = %s) FROM moderation_review r WHERE r.source = %s",
            [classifier.pk, source],
        )
        rows = cursor.fetchall()
    return [row[0] for row in rows], [row[1] for row in rows]


def wait_scored(source, classifier, timeout, expected=None):
    """Seconds until every review of the source has its score (and, if given, `expected` are stored)."""
    began = time.monotonic()
    while True:
        stored, scored = counts(source, classifier)
        if scored >= stored and (expected is None or stored >= expected):
            return time.monotonic() - began, True
        if time.monotonic() - began > timeout:
            return time.monotonic() - began, False
        time.sleep(1)


def boot(args, var_dir):
    """scripts/serve with the benchmark's environment; (base URL, process, log path, environment)."""
    reset_database(args.database_url)
    import redis

    redis.Redis.from_url(BROKER_URL).flushdb()
    port, ingest_port = free_port(), free_port()
    env_file = Path(var_dir) / "hwadmin.env"
    env_file.write_text("# benchmarks/load.py: everything comes from the environment\n")
    env = {
        **{name: os.environ.get(name, value) for name, value in SERVE_DEFAULTS.items()},
        "HWADMIN_ENV_FILE": str(env_file),
        "HWADMIN_VENV": str(Path(sys.executable).parent.parent),
        "DATABASE_URL": args.database_url,
        "CELERY_BROKER_URL": BROKER_URL,
        "CACHE_URL": BROKER_URL,
        "HWADMIN_TASK_QUEUE": QUEUE,
        "HWADMIN_VAR_DIR": str(var_dir),
        "HWADMIN_MODEL_DIR": str(Path(var_dir) / "models"),
        "HWADMIN_BIND": f"127.0.0.1:{port}",
        # bulk ingest on its own pool, as a proxy would route POST /api/v1/reviews (README: Running in production)
        "HWADMIN_INGEST_BIND": "" if args.one_pool else f"127.0.0.1:{ingest_port}",
        "HWADMIN_THROTTLE_USER": args.throttle_user,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "0",
        # plain HTTP on this machine: no HTTPS redirect, cookies not Secure-only (everything else stays on)
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
    }
    setup_django(env)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    python = str(Path(sys.executable))
    print("registering models/unused-electra (with its gate) ...", flush=True)
    subprocess.run(
        [
            python,
            "manage.py",
            "register_classifier",
            str(ROOT / "models" / "unused-electra"),
            "--check",
            "unused",
            "--name",
            "unused-electra",
            "--activate",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    serve_env = {**os.environ, **env}
    serve_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    serve_env.pop("DJANGO_SETTINGS_MODULE", None)
    log_path = Path(var_dir) / "serve.log"
    # Also in the production-start test (start and stop): a benchmark script and a test share no module, so it stays twice.
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "serve")],
        cwd=ROOT,
        env=serve_env,
        stdout=open(log_path, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while True:  # every part of /healthz ok: database, cache, broker, a worker's heartbeat, the classifier
        if process.poll() is not None:
            raise SystemExit(f"scripts/serve exited {process.returncode}; log: {log_path}")
        try:
            if httpx.get(f"{base}/healthz", timeout=10).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop(process)
            raise SystemExit(f"/healthz did not answer 200 within 240 s; log: {log_path}")
        time.sleep(1)
    return base, process, log_path, env, (None if args.one_pool else f"http://127.0.0.1:{ingest_port}")


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def warm_up(base, token, rows, classifier):
    """The sample reviews posted once and scored: the workers have loaded the model, the queue has pages."""
    warm = [dict(row, source=WARM_SOURCE, external_id=f"warm-{i:04d}") for i, row in enumerate(rows)]
    response = httpx.post(
        f"{base}/api/v1/reviews", json=warm[:1000], timeout=300, headers={"Authorization": f"Token {token}"}
    )
    if response.status_code not in (200, 201):
        raise SystemExit(f"warm-up ingest answered {response.status_code}: {response.text[:500]}")
    waited, done = wait_scored(WARM_SOURCE, classifier, 600, expected=min(len(warm), 1000))
    if not done:
        raise SystemExit("the warm-up reviews were not scored within 600 s")
    return waited


def main(argv=None):
    args = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    source = f"bench-load-{stamp}"
    rows = sample_rows()
    process = None
    var_dir = tempfile.mkdtemp(prefix="hwadmin-bench-load-")  # removed after a run that got through
    try:
        if args.url:
            base = args.url.rstrip("/")
            setup_django(
                {
                    "DATABASE_URL": args.database_url,
                    "HWADMIN_VAR_DIR": var_dir,
                    "SECRET_KEY": os.environ.get("SECRET_KEY", "benchmark-client-only"),
                }
            )
            log_path = None
            ingest_base = args.ingest_url.rstrip("/") if args.ingest_url else None
        else:
            base, process, log_path, _, ingest_base = boot(args, var_dir)
        classifier = active_classifier()
        token, reviewers = accounts(args.reviewers, stamp)
        if process is not None:
            print(f"warm-up: {len(rows)} sample reviews ...", flush=True)
            print(f"  scored in {warm_up(base, token, rows, classifier):.1f} s", flush=True)
        log_start = log_path.stat().st_size if log_path else 0
        loadavg_before = [round(x, 2) for x in os.getloadavg()]
        cpu_before = time.process_time()
        print(f"loading {base} for {args.seconds:g} s ...", flush=True)
        records, pages, baseline, acknowledged, maybe, elapsed = asyncio.run(
            load(base, args, token, reviewers, rows, source, ingest_base)
        )
        client_cpu = time.process_time() - cpu_before
        loadavg_after = [round(x, 2) for x in os.getloadavg()]
        _, scored_during_run = counts(source, classifier)
        report = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "setup": {
                "clients": args.clients,
                "batch": args.batch,
                "seconds": args.seconds,
                "reviewers": args.reviewers,
                "reviewer_pause_s": args.reviewer_pause,
                "baseline_s": args.baseline_seconds,
                "throttle_user": args.throttle_user if not args.url else "(the running set's)",
                "url": args.url or "booted: scripts/serve",
                "ingest_pool": ingest_base or "(the same pool)",
                **({name: os.environ.get(name) for name in SERVE_DEFAULTS} if not args.url else {}),
            },
            "loadavg_before": loadavg_before,
            "loadavg_after": loadavg_after,
            "client_cpu_s": round(client_cpu, 1),
            "run": summarise(records, pages, elapsed),
            "queue_without_ingest": {
                "pages": len(baseline),
                **{
                    key: ms(percentile([r[0] for r in baseline if r[1] == 200], q))
                    for key, q in (("p50_ms", 50), ("p95_ms", 95))
                },
            },
            "scored_during_run": scored_during_run,
            "scoring_per_s_during_run": round(scored_during_run / elapsed, 1),
        }
        if log_path:
            with open(log_path, encoding="utf-8", errors="replace") as handle:
                handle.seek(log_start)
                times = access_log_times(handle)
            report["server"] = {
                "ingest_p50_ms": round(percentile(times["ingest"], 50) or 0, 1),
                "ingest_p99_ms": round(percentile(times["ingest"], 99) or 0, 1),
                "queue_p50_ms": round(percentile(times["queue"], 50) or 0, 1),
                "queue_p95_ms": round(percentile(times["queue"], 95) or 0, 1),
            }
        print(f"run over; waiting up to {args.drain_timeout:g} s for the workers to drain the backlog ...", flush=True)
        drain_s, drained = wait_scored(source, classifier, args.drain_timeout, expected=len(acknowledged))
        stored_ids, score_counts = stored_and_scored(source, classifier)
        report.update(
            drain_s=round(drain_s, 1),
            drained=drained,
            integrity=integrity(acknowledged, maybe, stored_ids, score_counts),
        )
        report["goals"] = goals(report)
    finally:
        if process is not None:
            stop(process)
    shutil.rmtree(var_dir, ignore_errors=True)
    print()
    print(format_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return 0 if all(report["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
