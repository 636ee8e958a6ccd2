"""Ingest cost: one 500-review POST /api/v1/reviews, its validation and its storing, against DRF's own text
checks measured in the same run.

    .venv/bin/python benchmarks/ingest.py [--reviews 500] [--rounds 30]

Each round posts --reviews real sample reviews (data/sample/reviews.jsonl, each request with a fresh source, so
every review is new) twice through the API, interleaved (each way first in half the rounds):
  - as shipped: `moderation.ingest.TextField` without DRF's character-by-character surrogate check (the
    UTF-8 codec checks the same, in `reject_invalid_unicode`);
  - the baseline: DRF's surrogate check put back on every text field, as `CharField` sets it up.
It prints the medians of the whole request, of `validate_reviews` and of `store_reviews` (the same code in
both: a measure of this VM's noise), and their ratios. Needs PostgreSQL (BENCH_DATABASE_URL; the database
hwadmin_bench_ingest is dropped and created). No classifier is active, so nothing is queued for scoring.
"""

import argparse
import os
import statistics
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository's packages, run as a script

DB_NAME = "hwadmin_bench_ingest"
DB_URL = os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")


def setup():
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    os.environ.update(DATABASE_URL=DB_URL, DJANGO_SETTINGS_MODULE="hwadmin.settings")
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


@contextmanager
def baseline():
    """DRF's own surrogate check back on every text field, as CharField sets it up."""
    from rest_framework import serializers

    from moderation import ingest

    def drf_init(field, **kwargs):  # a serializer's fields are built anew (deep copies) for each serializer
        serializers.CharField.__init__(field, **kwargs)
        field.validators.append(ingest.reject_invalid_unicode)

    init = ingest.TextField.__init__
    ingest.TextField.__init__ = drf_init
    try:
        yield
    finally:
        ingest.TextField.__init__ = init


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    setup()

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from moderation import ingest
    from tests.tiny import sample_reviews

    rows = (sample_reviews() * (args.reviews // 900 + 1))[: args.reviews]
    rows = [dict(row, external_id=f"{row['external_id']}-{i}") for i, row in enumerate(rows)]
    user = get_user_model().objects.create(username="bench-ingest")
    user.groups.add(Group.objects.get(name="ingest clients"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    times = {}
    validate, store = ingest.validate_reviews, ingest.store_reviews

    def timed(name, function):
        def run(*args):
            start = time.perf_counter()
            result = function(*args)
            times[mode][name].append(time.perf_counter() - start)
            return result

        return run

    ingest.validate_reviews, ingest.store_reviews = timed("validate", validate), timed("store", store)
    posted = 0
    for number in range(args.rounds + 2):  # the first two rounds warm up
        pair = (("shipped", nullcontext), ("baseline", baseline))
        for mode, context in pair if number % 2 else reversed(pair):  # each goes first in half the rounds
            times.setdefault(mode, {"request": [], "validate": [], "store": []})
            posted += 1
            batch = [dict(row, source=f"bench-{posted}") for row in rows]
            with context():
                start = time.perf_counter()
                response = client.post("/api/v1/reviews", batch, format="json")
                times[mode]["request"].append(time.perf_counter() - start)
            assert response.status_code == 201 and response.json()["created"] == len(rows), response.content
        if number < 2:
            times.clear()

    print(f"{args.reviews} real reviews a request, {args.rounds} rounds (medians)")
    for name in ("request", "validate", "store"):
        shipped, base = (statistics.median(times[m][name]) * 1000 for m in ("shipped", "baseline"))
        print(f"{name:9} shipped {shipped:6.1f} ms   baseline {base:6.1f} ms   shipped/baseline {shipped / base:.2f}")


if __name__ == "__main__":
    main()
