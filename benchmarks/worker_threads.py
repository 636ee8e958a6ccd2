"""A worker pool's scoring rate on a backlog: the cores shared among its processes, against every process
using every core (the runtimes' own default, and this project's until 2026-12-03), in one run.

    .venv/bin/python benchmarks/worker_threads.py [--model DIR] [--reviews 3600] [--rounds 3] [--concurrency 2]

A backlog of --reviews real sample reviews (data/sample/reviews.jsonl, repeated under new ids) is stored
first; each trial starts a real `celery worker` (prefork, --concurrency processes, int8 ONNX Runtime as the
shipped default), warms every process on 64 other reviews, then queues the backlog as ingest does (tasks of
HWADMIN_SCORE_TASK_SIZE) and times it until the last score is written. Configurations, interleaved per round:
  - shared (as shipped): HWADMIN_TORCH_THREADS unset, so each process takes cores / concurrency threads
    (hwadmin/threads.py), for ONNX Runtime, torch and Kiwi;
  - every core: HWADMIN_TORCH_THREADS = the machine's cores, in every process (the baseline);
  - one process: --concurrency 1 with every core, for reference.
Prints each trial's rate, the medians and the ratio shared / every core (the median of the rounds' ratios).
The model is ELECTRA-small-sized with random weights unless --model gives a classifier directory (e.g.
models/unused-electra, which adds the Kiwi morpheme step and the companion regression). Needs PostgreSQL
and Redis (BENCH_DATABASE_URL, BENCH_BROKER_URL).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository's packages, run as a script

DB_NAME = "hwadmin_bench_threads"
DB_URL = os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")
QUEUE = "hwadmin-bench-threads"


def reset_database():
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def prepare(model, reviews, tmp):
    """The database with the backlog, the warm-up reviews and an active int8 classifier: the copy of the
    model made for it (None when it was not copied), the warm-up ids and the backlog's."""
    from django.core.management import call_command

    from benchmarks.scoring import export_int8, make_small_electra
    from hwadmin.celery import app
    from moderation.ingest import store_reviews, validate_reviews
    from moderation.models import Check, Classifier, Review
    from moderation.registry import activate_classifier, import_model_dir
    from tests.tiny import sample_reviews

    call_command("migrate", verbosity=0)
    source = Path(model) if model else make_small_electra(tmp / "electra-small")
    model_dir, copied = import_model_dir("unused", source, "bench-threads")  # workers load from HWADMIN_MODEL_DIR
    metrics = {"_onnx": {"sha256": export_int8(model_dir), "verified": True}}
    check = Check.objects.get(code="unused")
    activate_classifier(
        Classifier.objects.create(moderation_check=check, name="bench-threads", path=str(model_dir), metrics=metrics)
    )
    base = sample_reviews()
    rows = (base * (reviews // len(base) + 1))[:reviews]
    rows = [dict(row, external_id=f"{row['external_id']}-{i}") for i, row in enumerate(rows)]
    warm = [dict(row, source="warm-up", external_id=f"warm-{i}") for i, row in enumerate(base[:64])]
    for i in range(0, len(rows), 500):
        store_reviews(validate_reviews(rows[i : i + 500]).items)
    store_reviews(validate_reviews(warm).items)  # no worker runs yet: the tasks queued here are purged
    app.control.purge()
    warm_ids = list(Review.objects.filter(source="warm-up").order_by("pk").values_list("pk", flat=True))
    backlog = list(Review.objects.exclude(source="warm-up").order_by("pk").values_list("pk", flat=True))
    return (model_dir if copied else None), warm_ids, backlog


def trial(concurrency, threads, warm_ids, backlog, log_path):
    """Reviews/s of a fresh worker on the backlog; `threads` None leaves HWADMIN_TORCH_THREADS unset."""
    from moderation.models import Score
    from moderation.tasks import send_scoring_tasks

    Score.objects.all().delete()
    env = {k: v for k, v in os.environ.items() if k != "HWADMIN_TORCH_THREADS"}
    if threads:
        env["HWADMIN_TORCH_THREADS"] = str(threads)
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "hwadmin", "worker"),
                *(f"--concurrency={concurrency}", "--pool=prefork", "--loglevel=info"),
                *("--without-gossip", "--without-mingle"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            for i in range(0, len(warm_ids), 8):  # small tasks, so that every process loads the model
                send_scoring_tasks(warm_ids[i : i + 8])
            wait_until(lambda: Score.objects.count() == len(warm_ids), 300)
            time.sleep(1.0)
            start = time.perf_counter()
            send_scoring_tasks(backlog)
            wait_until(lambda: Score.objects.count() == len(warm_ids) + len(backlog), 1200)
            return len(backlog) / (time.perf_counter() - start)
        finally:
            worker.terminate()
            worker.wait(timeout=60)


def wait_until(condition, timeout):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout}s: is the worker running? (see its log)")
        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a classifier directory (default: a random ELECTRA-small-sized one)")
    parser.add_argument("--reviews", type=int, default=3600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes of the pool")
    args = parser.parse_args()
    os.environ.update(
        DATABASE_URL=DB_URL,
        CELERY_BROKER_URL=BROKER_URL,
        HWADMIN_TASK_QUEUE=QUEUE,
        HWADMIN_SCORING_RUNTIME="onnx",
        DJANGO_SETTINGS_MODULE="hwadmin.settings",
    )
    os.environ.pop("HWADMIN_TORCH_THREADS", None)
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    reset_database()
    import django

    django.setup()
    from hwadmin.threads import machine_cores

    cores = machine_cores()
    configs = [
        (f"shared: {args.concurrency} processes, cores / {args.concurrency} threads each", args.concurrency, None),
        (f"every core: {args.concurrency} processes, {cores} threads each", args.concurrency, cores),
        (f"one process, {cores} threads", 1, None),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        copy, warm_ids, backlog = prepare(args.model, args.reviews, Path(tmp))
        print(f"{len(backlog)} reviews, {args.model or 'ELECTRA-small-sized classifier'}, int8 ONNX, {cores} cores")
        try:
            rates = {label: [] for label, _, _ in configs}
            for number in range(1, args.rounds + 1):
                print(f"round {number}:")
                for label, concurrency, threads in configs:
                    rate = trial(concurrency, threads, warm_ids, backlog, Path(tmp) / "worker.log")
                    rates[label].append(rate)
                    print(f"  {label + ':':55s}{rate:8.1f} reviews/s", flush=True)
        finally:
            if copy:
                shutil.rmtree(copy, ignore_errors=True)
    print(f"median of {args.rounds} rounds:")
    for label, values in rates.items():
        print(
            f"  {label + ':':55s}{statistics.median(values):8.1f} reviews/s  ({', '.join(f'{v:.1f}' for v in values)})"
        )
    shared, every = (rates[label] for label, _, _ in configs[:2])
    ratios = [s / e for s, e in zip(shared, every)]
    print(f"shared / every core = {statistics.median(ratios):.2f}  (rounds: {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    main()
