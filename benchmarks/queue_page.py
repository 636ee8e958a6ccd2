"""Reviewer queue on a million reviews, against the Django admin change list.

Fills its own PostgreSQL database (default hwadmin_bench) with N reviews, their
scores and queue rows (INSERT ... SELECT generate_series: about a minute for a
million on two cores), then times, in-process through Django's test client
(server-side time: request in, response out, no network):

  - the first queue page, page 100 (keyset cursor), a filtered page, the API page;
  - the Django admin change list of QueueItem ordered by probability (page 1 and 100);
  - a threshold blind of 10,000 reviews with their audit rows (preview, then blind).

Every run first reopens what an earlier run blinded and vacuums the tables.

and prints median and p95 for each, and the ratios admin / queue.

    python benchmarks/queue_page.py                       # 1,000,000 reviews
    python benchmarks/queue_page.py --reviews 100000 --repeat 20
    python benchmarks/queue_page.py --database-url postgres://postgres@127.0.0.1:5432/hwadmin_bench --refill
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository's packages, run as a script

import argparse  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

REASON = "미사용: 제품을 아직 사용하지 않음"  # the unused check's first reason (migration 0008)
PRODUCTS = 2000
BRANDS = 60
CATEGORIES = ["크림", "세럼", "선케어", "클렌징", "토너", "마스크팩", "립", "쿠션", "샴푸", "바디"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/hwadmin_bench")
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per queue page (default 30)")
    parser.add_argument("--admin-repeat", type=int, default=10, help="timed requests per admin page (default 10)")
    parser.add_argument("--blinds", type=int, default=5, help="threshold blinds of --blind-size reviews (default 5)")
    parser.add_argument("--blind-size", type=int, default=10_000)
    parser.add_argument("--refill", action="store_true", help="empty and refill even if the data is there")
    return parser.parse_args()


def setup_django(database_url):
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")  # the test client speaks plain HTTP
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["HWADMIN_WEBHOOK_URL"] = ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hwadmin.settings")
    create_database(database_url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def create_database(database_url):
    import psycopg
    from dj_database_url import parse

    config = parse(database_url)
    name = config["NAME"]
    admin_dsn = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def fill(n, refill):
    from django.db import connection

    from moderation.models import Check, Classifier, Review

    check = Check.objects.get(code="unused")
    if not refill and Review.objects.filter(source="bench").count() == n:
        print(f"reusing {n:,} reviews already in the database")
        return check
    started = time.perf_counter()
    print(f"filling {n:,} reviews, scores and queue rows ...", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE moderation_action, moderation_queueitem, moderation_score, moderation_review, "
            "moderation_product RESTART IDENTITY CASCADE"
        )
        cursor.execute("DELETE FROM moderation_classifier")
        categories = "ARRAY[" + ",".join(f"'{c}'" for c in CATEGORIES) + "]"
        cursor.execute(
            f"""INSERT INTO moderation_product (external_id, name, brand, category)
                SELECT 'bench-p' || i, '벤치 제품 ' || i, '브랜드' || (i % {BRANDS}),
                       ({categories})[1 + i % {len(CATEGORIES)}]
                FROM generate_series(1, {PRODUCTS}) AS i"""
        )
        cursor.execute(
            f"""INSERT INTO moderation_review (source, external_id, product_id, author_ref, rating, good_text,
                    bad_text, written_at, received_at, updated_at, visibility)
                SELECT 'bench', 'b-' || i, 1 + (i * 7919) % {PRODUCTS}, 'user-' || (i % 50000), 1 + (i * 31) % 5,
                       '리뷰 ' || i || ': 배송 빠르고 포장 꼼꼼해요. 아직 안 써봤지만 기대돼요',
                       CASE WHEN i % 3 = 0 THEN '용량이 조금 작아요' ELSE '' END,
                       now() - make_interval(mins => (i % 525600)::int), now(), now(), 'visible'
                FROM generate_series(1::bigint, {n}) AS i"""
        )
    classifier = Classifier.objects.create(
        moderation_check=check, name="bench-electra", path="/nowhere", is_active=True
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO moderation_score (review_id, check_id, classifier_id, probability, scored_at)
               SELECT id, %s, %s, random(), now() FROM moderation_review""",
            [check.pk, classifier.pk],
        )
        cursor.execute(
            """INSERT INTO moderation_queueitem (review_id, check_id, probability, classifier_id, scored_at, status)
               SELECT review_id, check_id, probability, classifier_id, scored_at, 'open' FROM moderation_score""",
        )
        cursor.execute("VACUUM ANALYZE moderation_review")
        cursor.execute("VACUUM ANALYZE moderation_queueitem")
        cursor.execute("ANALYZE")
    print(f"filled in {time.perf_counter() - started:.1f} s", flush=True)
    return check


CPU_MS = {}
PG_CPU_MS = {}


def backend_cpu():
    """(pid, CPU milliseconds so far) of the PostgreSQL backend serving Django's connection, read
    from /proc (PostgreSQL on this machine); None when there is no open connection or no /proc.

    Wall-clock times on a shared machine mostly measure waiting for a CPU; the CPU time that
    Django and PostgreSQL spend is what the work costs (at 10 ms resolution: compare means)."""
    from django.db import connection

    if connection.connection is None:
        return None
    pid = connection.connection.info.backend_pid
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return pid, (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def timed(call, repeat, warmup=3, name=None):
    """Wall-clock milliseconds per call; the Django process's own CPU time per call (median) goes to
    CPU_MS[name], the PostgreSQL backend's (mean) to PG_CPU_MS[name]."""
    for _ in range(warmup):
        call()
    times, cpu, pg_cpu = [], [], []
    for _ in range(repeat):
        before = backend_cpu()
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        after = backend_cpu()
        if before and after and before[0] == after[0]:
            pg_cpu.append(after[1] - before[1])
    CPU_MS[name] = statistics.median(cpu)
    PG_CPU_MS[name] = statistics.mean(pg_cpu) if pg_cpu else float("nan")
    return times


def cpu_note(name):
    return f"Django process CPU {CPU_MS[name]:.1f} ms, PostgreSQL CPU {PG_CPU_MS[name]:.1f} ms"


def p95(times):
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def get(client, url):
    """A timed call: GET the page and check that it really shows rows."""

    def call():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        if url.startswith("/api/"):
            assert response.json()["items"], url
        else:
            assert b'class="item"' in response.content or b'id="result_list"' in response.content, url

    return call


def main():
    args = parse_args()
    setup_django(args.database_url)
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    from moderation import actions, queue
    from moderation.models import QueueItem

    check = fill(args.reviews, args.refill)
    # Start every run from an open queue: reopen what an earlier run blinded.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM moderation_action")
        cursor.execute("UPDATE moderation_review SET visibility = 'visible' WHERE visibility <> 'visible'")
        cursor.execute(
            "UPDATE moderation_queueitem SET status = 'open', decided_at = NULL, decided_by_id = NULL, "
            "held_by_id = NULL, held_until = NULL WHERE status <> 'open' OR held_by_id IS NOT NULL"
        )
        # Clear what the reset left behind (as autovacuum would), so every run starts from the same state.
        cursor.execute("VACUUM ANALYZE moderation_queueitem, moderation_review, moderation_action")
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", "b@example.com", "bench-password-1"
    )
    client = Client()
    client.force_login(user)

    page_100 = queue.cursor_at(check, {}, 99 * queue.DEFAULT_PAGE_SIZE)
    admin_url = "/admin/moderation/queueitem/"
    cases = [
        ("queue: first page", get(client, f"/queue/{check.code}/"), args.repeat),
        ("queue: page 100", get(client, f"/queue/{check.code}/?after={page_100}"), args.repeat),
        (
            "queue: filtered page (brand, rating 5, p >= 0.5)",
            get(client, f"/queue/{check.code}/?brand=브랜드7&rating=5&p_min=0.5"),
            args.repeat,
        ),
        ("api: first page", get(client, f"/api/v1/queue?check={check.code}&limit=50"), args.repeat),
        ("admin change list: page 1 (ordered by -probability)", get(client, admin_url), args.admin_repeat),
        ("admin change list: page 100", get(client, f"{admin_url}?p=99"), args.admin_repeat),
    ]
    print(
        f"load average before timing: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)",
        flush=True,
    )
    results = {}
    for name, call, repeat in cases:
        times = timed(call, repeat, name=name)
        results[name] = times
        print(
            f"{name:58s} median {statistics.median(times):8.1f} ms   p95 {p95(times):8.1f} ms   "
            f"(n={repeat}; {cpu_note(name)})",
            flush=True,
        )

    previews, blinds, changed, blind_cpu, blind_pg_cpu = [], [], [], [], []
    for _ in range(args.blinds):
        threshold = (
            QueueItem.objects.filter(moderation_check=check, status="open")
            .order_by("-probability")
            .values_list("probability", flat=True)[args.blind_size - 1]
        )
        started = time.perf_counter()
        preview = actions.preview_threshold(check, threshold, user=user)
        previews.append((time.perf_counter() - started) * 1000)
        before = backend_cpu()
        started, started_cpu = time.perf_counter(), time.process_time()
        result = actions.blind_above(user, preview.token, REASON)
        blinds.append((time.perf_counter() - started) * 1000)
        blind_cpu.append((time.process_time() - started_cpu) * 1000)
        after = backend_cpu()
        if before and after and before[0] == after[0]:
            blind_pg_cpu.append(after[1] - before[1])
        changed.append(result.changed)
    if not blinds:
        blinds = [float("nan")]
        previews = [float("nan")]
        changed = [0]
    CPU_MS["blind"] = statistics.median(blind_cpu) if blind_cpu else float("nan")
    PG_CPU_MS["blind"] = statistics.mean(blind_pg_cpu) if blind_pg_cpu else float("nan")
    print(
        f"{'threshold blind: preview (count + sample)':58s} median {statistics.median(previews):8.1f} ms   p95 {p95(previews):8.1f} ms   (n={len(previews)})"
    )
    print(
        f"{'threshold blind: blind + audit rows':58s} median {statistics.median(blinds):8.1f} ms   p95 {p95(blinds):8.1f} ms   (n={len(blinds)}, {min(changed):,}-{max(changed):,} reviews each; {cpu_note('blind')})"
    )

    first = statistics.median(results["queue: first page"])
    hundredth = statistics.median(results["queue: page 100"])
    admin_first = statistics.median(results["admin change list: page 1 (ordered by -probability)"])
    admin_hundredth = statistics.median(results["admin change list: page 100"])
    print()
    print(
        f"machine: {platform.node()} · {platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · "
        f"PostgreSQL {connection.cursor().connection.info.server_version} · {args.reviews:,} reviews"
    )
    print(f"load average after timing: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"ratio admin page 1 / queue first page:  {admin_first / first:6.1f}x")
    print(f"ratio admin page 100 / queue page 100:  {admin_hundredth / hundredth:6.1f}x")
    goals = [
        ("first page p95 <= 50 ms", p95(results["queue: first page"]) <= 50),
        ("page 100 p95 <= 50 ms", p95(results["queue: page 100"]) <= 50),
        (
            "queue >= 10x faster than the admin change list",
            admin_first / first >= 10 and admin_hundredth / hundredth >= 10,
        ),
        ("threshold blind of 10,000 <= 2 s", max(blinds) <= 2000),
    ]
    for goal, met in goals:
        print(f"  [{'met' if met else 'MISSED'}] {goal}")


if __name__ == "__main__":
    main()
