"""benchmarks/load.py without a server: its arguments, and the figures it computes from a tiny fake run."""

import pytest

from tests.scripts import load_script
from tests.tiny import ROOT

load = load_script(ROOT / "benchmarks" / "load.py", "bench_load")


def test_arguments_default_to_the_stated_load():
    args = load.parse_args([])
    assert (args.clients, args.batch, args.seconds, args.reviewers) == (32, 100, 60.0, 2)
    assert args.url is None and args.throttle_user == "100000/min"
    args = load.parse_args(["--clients", "4", "--batch", "1000", "--seconds", "2.5", "--throttle-user", "6000/min"])
    assert (args.clients, args.batch, args.seconds, args.throttle_user) == (4, 1000, 2.5, "6000/min")


# An (arguments, message) table of the shape other commands' tests use; the cases are this script's.
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--batch", "1001"], "at most 1000 reviews"),
        (["--clients", "0"], "must be at least 1"),
        (["--seconds", "0"], "must be above 0"),
        (["--throttle-user", "fast"], "give a rate such as"),
        (["--database-url", "sqlite:///x"], "give a PostgreSQL URL"),
        (["--reviewers", "-1"], "must not be negative"),
    ],
)
def test_bad_arguments_are_refused_by_name(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        load.parse_args(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_percentiles():
    assert load.percentile([], 50) is None
    assert load.percentile([5.0], 99) == 5.0
    assert load.percentile([1, 2, 3, 4], 50) == 2.5
    assert load.percentile(list(range(1, 101)), 99) == pytest.approx(99.01)


def fake_run():
    ingest = [(0.1, 201, None, 100), (0.3, 201, None, 100), (0.2, 429, None, 100), (5.0, None, "ReadTimeout", 100)]
    pages = [(0.05, 200, None, "first"), (0.07, 200, None, "next"), (0.2, 302, None, "first")]
    return load.summarise(ingest, pages, elapsed=2.0)


def test_a_fake_run_is_summarised():
    run = fake_run()
    assert run["requests"] == 4 and run["requests_ok"] == 2 and run["reviews_acknowledged"] == 200
    assert run["reviews_per_s"] == 100.0 and run["requests_per_s"] == 1.0
    # latency over the answered requests (the 429 included, the timeout not)
    assert run["latency_p50_ms"] == 200.0 and run["latency_p99_ms"] == pytest.approx(298.0)
    assert run["errors"] == 2 and run["throttled_429"] == 1
    assert run["statuses"] == {"201": 2, "429": 1} and run["exceptions"] == {"ReadTimeout": 1}
    assert run["queue_pages_ok"] == 2 and run["queue_errors"] == {"302": 1}
    assert run["queue_p50_ms"] == 60.0 and run["queue_p95_ms"] == 69.0


def test_integrity_finds_lost_duplicated_and_unscored_reviews():
    clean = load.integrity({"a", "b"}, set(), ["a", "b"], [1, 1])
    assert clean == {
        "stored": 2,
        "lost": 0,
        "duplicated": 0,
        "unexpected": 0,
        "unscored": 0,
        "scored_more_than_once": 0,
    }
    # "c" came from a request that timed out: stored, but not unexpected
    bad = load.integrity({"a", "b", "d"}, {"c"}, ["a", "a", "c", "x"], [1, 2, 0, 1])
    assert bad == {"stored": 4, "lost": 2, "duplicated": 1, "unexpected": 1, "unscored": 1, "scored_more_than_once": 1}


def test_goals_and_the_table():
    report = {
        "setup": {"clients": 4, "batch": 100, "seconds": 2.0, "reviewers": 2, "throttle_user": "6000/min"},
        "loadavg_before": [1.0, 1.0, 1.0],
        "loadavg_after": [2.0, 1.0, 1.0],
        "client_cpu_s": 0.5,
        "run": fake_run(),
        "drain_s": 3.0,
        "drained": True,
        "integrity": load.integrity({"a"}, set(), ["a"], [1]),
    }
    report["goals"] = load.goals(report)
    assert report["goals"] == {
        "0 errors": False,
        "queue page p95 <= 150 ms": True,
        "0 lost or duplicated reviews": True,
        "every review scored once": True,
    }
    table = load.format_table(report)
    assert "HWADMIN_THROTTLE_USER=6000/min" in table and "| ingest: reviews/s (acknowledged) | 100.0 |" in table
    assert "goal 0 errors: MISSED" in table and "'429': 1" in table
    report["drained"] = False
    assert load.goals(report)["every review scored once"] is False


def test_server_times_come_from_the_gunicorn_access_log():
    lines = [
        '[28/Nov/2026:12:00:00 +0900] 127.0.0.1 "POST /api/v1/reviews HTTP/1.1" 201 80 123456us',
        '[28/Nov/2026:12:00:00 +0900] 127.0.0.1 "GET /queue/unused/?after=0.5_12 HTTP/1.1" 200 9000 45000us',
        '[28/Nov/2026:12:00:00 +0900] 127.0.0.1 "GET /healthz HTTP/1.1" 200 90 1000us',
        "2026-11-28T12:00:00+0900 INFO celery.worker [1] a task",
    ]
    assert load.access_log_times(lines) == {"ingest": [123.456], "queue": [45.0]}


def test_the_next_page_link_is_found_in_the_queue_page():
    page = '<a id="next-page" href="?brand=x&amp;after=0.97_1234">Next page <kbd>n</kbd> →</a>'
    assert load.NEXT_LINK.search(page).group(1) == "?brand=x&amp;after=0.97_1234"
