"""Scoring throughput: reviews per second, five ways, in one run.

    .venv/bin/python benchmarks/scoring.py [--reviews 900] [--threads 2] [--rounds 3]

(a) `transformers.pipeline("text-classification")` called once per review,
(b) the bare model on the batches `moderation.scoring` makes (length-sorted,
    dynamically padded, torch.inference_mode), no database,
(c) end to end: reviews POSTed to /api/v1/reviews, queued on Redis, scored by a
    real `celery worker` process, scores written to PostgreSQL,
(d) the same end to end path with the worker on the int8 ONNX model
    (HWADMIN_SCORING_RUNTIME=onnx; `model.int8.onnx` exported and quantised as
    registration does it),
(e) the bare int8 ONNX model on the same batches as (b), no database.

The model is ELECTRA-small-sized (hidden 256, 12 layers, 4 heads, embedding
128) with random weights: speed does not depend on the weights. Texts are the
real reviews of data/sample/reviews.jsonl. Goals: (c)/(b) >= 0.9, (c)/(a) >= 2;
with int8: (d)/(a) >= 4, (d)/(b) >= 1.6, (d) >= 0.9 x (e).
Every path is measured --rounds times, interleaved; within a round each
end-to-end run is bracketed by its bare path (b c b, e d e), and its ratio is
taken against the mean of the two bare runs around it, so that a slow spell of
the virtual machine (CPU steal) falls out of the ratio. Each ratio is the
median of the rounds' ratios. Before each timed path the script waits until
the machine is quiet (PostgreSQL's autovacuum and checkpoints after the
previous run, a worker shutting down), and each path's line ends with the CPU
time other processes and the hypervisor took during it (`other`, `steal`).
Each end-to-end line also says where its time went: the first POST (the worker starts on its commit), the
worker's scoring tasks (Celery's own run times, from the worker log) and the
rest (the broker, the poll for the last score, the worker idle).
`--model models/unused-electra` measures the shipped classifier instead (goal:
(c) >= 300 reviews/s on two cores).
Needs PostgreSQL and Redis (BENCH_DATABASE_URL, BENCH_BROKER_URL). The worker
runs Celery's prefork pool, as in production; BENCH_WORKER_POOL=solo|threads
measures another.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository's packages, run as a script

DB_NAME = "hwadmin_bench_scoring"
DB_URL = os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")
QUEUE = "hwadmin-bench"


def make_small_electra(directory):
    import torch
    from transformers import ElectraConfig, ElectraForSequenceClassification

    from tests.tiny import train_tokenizer

    tokenizer = train_tokenizer(directory, vocab_size=8000)
    torch.manual_seed(0)
    # ELECTRA-small's sizes as keywords: the shape of the tests' tiny configs, other values.
    config = ElectraConfig(
        vocab_size=len(tokenizer),
        embedding_size=128,
        hidden_size=256,
        num_hidden_layers=12,
        num_attention_heads=4,
        intermediate_size=1024,
        max_position_embeddings=512,
        num_labels=2,
    )
    ElectraForSequenceClassification(config).save_pretrained(directory)
    return directory


def bench_pipeline(model_dir, texts):
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(model_dir), tokenizer=str(model_dir), device="cpu")
    classify(texts[0], truncation=True, max_length=128)  # warm up
    start = time.perf_counter()
    for text in texts:
        classify(text, truncation=True, max_length=128)
    return len(texts) / (time.perf_counter() - start)


def bench_bare(model_dir, texts):
    from moderation.scoring import load_model_dir, predict_proba

    model, tokenizer, max_length = load_model_dir(model_dir)
    predict_proba(model, tokenizer, texts[:32], max_length)  # warm up
    start = time.perf_counter()
    predict_proba(model, tokenizer, texts, max_length)
    return len(texts) / (time.perf_counter() - start)


def export_int8(model_dir):
    """model.int8.onnx in the directory, exported and quantised as registration does it; its SHA-256."""
    from moderation.onnx_scoring import INT8_FILENAME, export_int8, file_sha256
    from moderation.scoring import load_model_dir

    model, _, _ = load_model_dir(model_dir)
    export_int8(model, model_dir)
    return file_sha256(Path(model_dir) / INT8_FILENAME)


def bench_bare_int8(model_dir, texts):
    from moderation.onnx_scoring import load_onnx
    from moderation.scoring import predict_proba

    model = load_onnx(model_dir)
    predict_proba(model, model.tokenizer, texts[:32], model.max_length)  # warm up
    start = time.perf_counter()
    predict_proba(model, model.tokenizer, texts, model.max_length)
    return len(texts) / (time.perf_counter() - start)


def reset_database(name=DB_NAME):
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def bench_end_to_end(model_dir, rows, threads, runtime="torch"):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connections
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from attributes.models import TaggedReview
    from hwadmin.celery import app
    from moderation.models import Check, Classifier, Score
    from moderation.registry import activate_classifier, import_model_dir

    connections.close_all()
    reset_database()  # each run starts from an empty database
    call_command("migrate", verbosity=0)
    app.control.purge()
    check = Check.objects.get(code="unused")
    model_dir, copied = import_model_dir(check.code, model_dir, "bench")  # workers load only from HWADMIN_MODEL_DIR
    # with --runtime onnx the worker scores the int8 model, exported here as registration does (not timed)
    metrics = {"_onnx": {"sha256": export_int8(model_dir), "verified": True}} if runtime == "onnx" else {}
    classifier = activate_classifier(
        Classifier.objects.create(moderation_check=check, name="bench", path=str(model_dir), metrics=metrics)
    )
    user = get_user_model().objects.create(username="bench-client")
    user.groups.add(Group.objects.get(name="ingest clients"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    env = {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "CELERY_BROKER_URL": BROKER_URL,
        "HWADMIN_TASK_QUEUE": QUEUE,
        "HWADMIN_TORCH_THREADS": str(threads),
        "HWADMIN_SCORING_RUNTIME": runtime,
    }
    log_path = Path(tempfile.gettempdir()) / f"hwadmin-bench-worker-{runtime}.log"
    log = open(log_path, "w")
    # The command line of tests/integration/conftest.py's Worker: a benchmark script and a test share no module.
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "hwadmin",
            "worker",
            "--concurrency=1",
            f"--pool={os.environ.get('BENCH_WORKER_POOL', 'prefork')}",
            "--loglevel=info",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Warm the worker as the bare paths' process is warm (it has scored these texts before): process
        # start, model load, and one pass over the same texts as reviews of another source. A fresh torch
        # process scores its first pass about 10 % slower than its later ones (new shapes, the allocator).
        warm = [dict(row, source="warm-up") for row in rows]
        for i in range(0, len(warm), 500):
            assert client.post("/api/v1/reviews", warm[i : i + 500], format="json").status_code == 201
        wait_until(lambda: Score.objects.filter(classifier=classifier).count() == len(warm), 300)
        # and for their attribute tagging, which runs after scoring on the same worker: start with it idle
        wait_until(lambda: TaggedReview.objects.count() == len(warm), 300)
        warm_tasks = len(TASK_TIME.findall(log_path.read_text()))

        start = time.perf_counter()
        first_post = None
        for i in range(0, len(rows), 500):
            response = client.post("/api/v1/reviews", rows[i : i + 500], format="json")
            assert response.status_code == 201, response.content
            first_post = first_post or time.perf_counter() - start  # the worker can start only after this commit
        posted = time.perf_counter() - start
        total = len(warm) + len(rows)
        wait_until(lambda: Score.objects.filter(classifier=classifier).count() == total, 1200)
        elapsed = time.perf_counter() - start
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        log.close()
        if copied:
            shutil.rmtree(model_dir, ignore_errors=True)
    # where the time went: Celery logs each task's run time (after the warm-up's)
    busy = sum(float(s) for s in TASK_TIME.findall(log_path.read_text())[warm_tasks:])
    return EndToEnd(len(rows) / elapsed, elapsed, posted, first_post, busy)


# "Task moderation.tasks.score_reviews[<id>] succeeded in 2.53s: 500" (celery.app.trace, --loglevel=info)
TASK_TIME = re.compile(r"moderation\.tasks\.score_reviews\[[^\]]+\] succeeded in ([0-9.]+)s")


@dataclass
class EndToEnd:
    rate: float  # reviews/s, from the first POST to the last score written
    elapsed: float
    posted: float  # seconds until every POST had returned
    first_post: float  # seconds until the first POST had committed (the worker waits for it)
    busy: float  # seconds the worker spent in scoring tasks (reading reviews, the model, writing scores)

    def explain(self):
        rest = self.elapsed - self.first_post - self.busy
        return (
            f"{self.elapsed:.2f}s = first POST {self.first_post:.2f}s + worker scoring {self.busy:.2f}s"
            f" + the rest {rest:.2f}s (broker, polling, idle); all POSTs {self.posted:.2f}s"
        )


def wait_until(condition, timeout):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout}s; see the worker log in {tempfile.gettempdir()}")
        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=900)
    parser.add_argument("--threads", type=int, default=2, help="torch threads, the same in all three")
    parser.add_argument(
        "--model",
        help="a classifier directory to measure (e.g. models/unused-electra) instead "
        "of the random ELECTRA-small-sized one",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="measure every path this many times, interleaved; medians are reported"
    )
    args = parser.parse_args()

    os.environ.update(
        DATABASE_URL=DB_URL,
        CELERY_BROKER_URL=BROKER_URL,
        HWADMIN_TASK_QUEUE=QUEUE,
        HWADMIN_TORCH_THREADS=str(args.threads),
        DJANGO_SETTINGS_MODULE="hwadmin.settings",
    )
    # DEBUG stays off (as in production); the API client below speaks plain HTTP
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    reset_database()
    import django

    django.setup()
    import torch

    torch.set_num_threads(args.threads)
    from tests.tiny import sample_reviews

    rows = sample_reviews()
    rows = (rows * (args.reviews // len(rows) + 1))[: args.reviews]
    rows = [dict(row, external_id=f"{row['external_id']}-{i}") for i, row in enumerate(rows)]
    from moderation.scoring import join_review_text

    # (a), (b) and (e) score exactly what the worker scores in (c) and (d): each review's good and bad text joined
    texts = [join_review_text(row["good_text"], row.get("bad_text", "")) for row in rows]

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(args.model) if args.model else make_small_electra(Path(tmp) / "electra-small")
        what = args.model or "ELECTRA-small-sized classifier"
        print(f"{len(texts)} real reviews, {what}, {args.threads} torch threads, {args.rounds} rounds")
        int8_dir = Path(tmp) / "int8"
        shutil.copytree(model_dir, int8_dir)
        export_int8(int8_dir)
        rounds = []
        for number in range(1, args.rounds + 1):
            print(f"round {number}:")
            a = measured("(a) transformers.pipeline, one call per review", bench_pipeline, model_dir, texts)
            b1 = measured("(b) bare model, length-sorted batches", bench_bare, model_dir, texts)
            c = measured("(c) API -> Redis -> worker -> PostgreSQL", bench_end_to_end, model_dir, rows, args.threads)
            b2 = measured("(b) bare model, again", bench_bare, model_dir, texts)
            e1 = measured("(e) bare int8 ONNX model, the same batches", bench_bare_int8, int8_dir, texts)
            d = measured(
                "(d) the same end to end, worker on int8 ONNX", bench_end_to_end, model_dir, rows, args.threads, "onnx"
            )
            e2 = measured("(e) bare int8 ONNX model, again", bench_bare_int8, int8_dir, texts)
            rounds.append({"a": a, "b": (b1 + b2) / 2, "c": c.rate, "d": d.rate, "e": (e1 + e2) / 2})
    report(rounds)


def measured(label, bench, *args):
    """Run one timed path once the machine is quiet; print its rate and what else used the CPU meanwhile."""
    wait_for_quiet()
    before = cpu_times()
    result = bench(*args)
    other, steal = cpu_share_since(before)
    end_to_end = isinstance(result, EndToEnd)
    rate, explain = (result.rate, f"  {result.explain()}") if end_to_end else (result, "")
    print(f"{label + ':':50s}{rate:8.1f} reviews/s  (other {other:.0%}, steal {steal:.0%}){explain}", flush=True)
    return result


def cpu_times():
    """This process tree's CPU seconds, and the machine's jiffies (busy, steal, total) from /proc/stat."""
    own = os.times()
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    steal = fields[7] if len(fields) > 7 else 0
    total = sum(fields[:8])
    return own.user + own.system + own.children_user + own.children_system, total - idle - steal, steal, total


def cpu_share_since(before):
    """(other, steal): the machine's CPU capacity used, since `before`, by processes outside this script
    and its children (PostgreSQL and Redis count as other: they serve the end-to-end runs) and taken by
    the hypervisor."""
    now = cpu_times()
    hz = os.sysconf("SC_CLK_TCK")
    total = max(now[3] - before[3], 1)
    own = (now[0] - before[0]) * hz
    busy = now[1] - before[1]
    return max(busy - own, 0) / total, (now[2] - before[2]) / total


def wait_for_quiet(threshold=0.15, window=1.0, timeout=60):
    """Wait (at most `timeout` s) until the machine is busy less than `threshold` of its capacity over
    `window` s, this process being idle meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_times()
        time.sleep(window)
        other, steal = cpu_share_since(before)
        if other + steal < threshold:
            return
    print(f"  (the machine did not quieten within {timeout}s: other {other:.0%}, steal {steal:.0%})")


RATIOS = [("c", "b", 0.9), ("c", "a", 2), ("d", "a", 4), ("d", "b", 1.6), ("d", "e", 0.9)]


def report(rounds):
    """Each path's median over the rounds, and each ratio as the median of the rounds' ratios: the
    two paths of a ratio are measured within a minute of each other (the bare ones on both sides of
    the end-to-end run), so a slow spell of the machine moves both and falls out of the ratio."""
    if len(rounds) > 1:
        print(f"median of {len(rounds)} rounds:")
        for path in "abcde":
            values = ", ".join(f"{r[path]:.1f}" for r in rounds)
            print(f"({path}) {statistics.median(r[path] for r in rounds):8.1f} reviews/s  (rounds: {values})")
    for top, bottom, goal in RATIOS:
        ratios = [r[top] / r[bottom] for r in rounds]
        each = f"  (rounds: {', '.join(f'{x:.2f}' for x in ratios)})" if len(rounds) > 1 else ""
        print(f"({top})/({bottom}) = {statistics.median(ratios):.2f}   (goal >= {goal}){each}")


if __name__ == "__main__":
    main()
