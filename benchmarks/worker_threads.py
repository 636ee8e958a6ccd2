"""A worker pool's scoring rate, its runtime's threads sleeping while they wait (as shipped) against
spinning (the runtimes' default, and this project's until 2026-12-03), in one run.

    .venv/bin/python benchmarks/worker_threads.py [--model DIR] [--runtime onnx|torch] [--reviews 3600]
        [--rounds 3] [--concurrency 2]

Reviews are real sample reviews (data/sample/reviews.jsonl, repeated under new ids), stored first; each trial
starts a real `celery worker` (prefork, --concurrency processes, on int8 ONNX Runtime, the shipped default, or
on torch), warms every process on 64 other reviews, then queues reviews as ingest does (tasks of
HWADMIN_SCORE_TASK_SIZE) and times them until the last score is written, twice:
  - a backlog of --reviews (every process busy),
  - a lone task of 512 (one process busy, the others idle: what a single ingest request sees).
Configurations, interleaved per round:
  - as shipped: HWADMIN_THREAD_SPINNING=auto (threads sleep in a pool of several processes), every core;
  - spinning (the baseline): HWADMIN_THREAD_SPINNING=on;
  - one thread each: HWADMIN_TORCH_THREADS=1, spinning;
  - one process: --concurrency 1 with every core, spinning (auto, as shipped).
Prints each trial's rates, the medians and the ratios shipped / spinning (medians of the rounds' ratios).
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
UNSET = ("HWADMIN_TORCH_THREADS", "HWADMIN_THREAD_SPINNING", "OMP_WAIT_POLICY")  # each trial sets its own


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


def trial(concurrency, settings, warm_ids, reviews, log_path):
    """Reviews/s of a fresh worker on `reviews`, queued at once; `settings` are its HWADMIN_* variables."""
    from benchmarks.scoring import wait_until
    from moderation.models import Score
    from moderation.tasks import send_scoring_tasks

    Score.objects.all().delete()
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(settings)
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
            send_scoring_tasks(reviews)
            wait_until(lambda: Score.objects.count() == len(warm_ids) + len(reviews), 1200)
            return len(reviews) / (time.perf_counter() - start)
        finally:
            worker.terminate()
            worker.wait(timeout=60)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a classifier directory (default: a random ELECTRA-small-sized one)")
    parser.add_argument("--reviews", type=int, default=3600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes of the pool")
    parser.add_argument("--runtime", choices=("onnx", "torch"), default="onnx", help="HWADMIN_SCORING_RUNTIME")
    args = parser.parse_args()
    os.environ.update(
        DATABASE_URL=DB_URL,
        CELERY_BROKER_URL=BROKER_URL,
        HWADMIN_TASK_QUEUE=QUEUE,
        HWADMIN_SCORING_RUNTIME=args.runtime,
        DJANGO_SETTINGS_MODULE="hwadmin.settings",
    )
    for name in UNSET:
        os.environ.pop(name, None)
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    from benchmarks.scoring import reset_database

    reset_database(DB_NAME)
    import django

    django.setup()
    n = args.concurrency
    configs = [
        (f"as shipped: {n} processes, threads sleep", n, {"HWADMIN_THREAD_SPINNING": "auto"}),
        (f"spinning: {n} processes, threads spin", n, {"HWADMIN_THREAD_SPINNING": "on"}),
        (
            f"one thread each: {n} processes, spinning",
            n,
            {"HWADMIN_TORCH_THREADS": "1", "HWADMIN_THREAD_SPINNING": "on"},
        ),
        ("one process, every core, spinning", 1, {"HWADMIN_THREAD_SPINNING": "auto"}),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        copy, warm_ids, backlog = prepare(args.model, args.reviews, Path(tmp))
        runtime = "int8 ONNX Runtime" if args.runtime == "onnx" else "torch"
        print(f"{args.model or 'ELECTRA-small-sized classifier'}, {runtime}, {os.cpu_count()} cores")
        loads = {"backlog": backlog, "lone task": backlog[:512]}
        rates = {(label, load): [] for label, _, _ in configs for load in loads}
        try:
            for number in range(1, args.rounds + 1):
                print(f"round {number}:")
                for label, concurrency, settings in configs:
                    for load, reviews in loads.items():
                        rate = trial(concurrency, settings, warm_ids, reviews, Path(tmp) / "worker.log")
                        rates[label, load].append(rate)
                        print(f"  {label + ', ' + load + f' ({len(reviews)}):':64s}{rate:8.1f} reviews/s", flush=True)
        finally:
            if copy:
                shutil.rmtree(copy, ignore_errors=True)
    print(f"median of {args.rounds} rounds:")
    for (label, load), values in rates.items():
        each = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {label + ', ' + load + ':':64s}{statistics.median(values):8.1f} reviews/s  ({each})")
    for load in loads:
        ratios = [s / b for s, b in zip(rates[configs[0][0], load], rates[configs[1][0], load])]
        print(
            f"{load}: shipped / spinning = {statistics.median(ratios):.2f}"
            f"  (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
        )


if __name__ == "__main__":
    main()
