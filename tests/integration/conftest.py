"""Real parts: PostgreSQL, Redis and `celery worker` processes."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.tiny import ROOT


def database_url(connection):
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Worker:
    """A `celery worker` subprocess against the test database and the test broker."""

    def __init__(self, env, log_path):
        self.env = env
        self.log_path = log_path
        self.process = None

    def start(self, *extra):
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "hwadmin",
                "worker",
                "--loglevel=info",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                *extra,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self):
        """SIGKILL the worker and its pool children: no chance to ack or clean up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self):
        return open(self.log_path).read()


# Where kombu's Redis transport keeps delivered-but-unacknowledged messages (its defaults).
UNACKED_KEYS = ("unacked", "unacked_index", "unacked_mutex")


def empty_broker(redis_url):
    """Purge the task queue and drop the messages a killed worker held unacknowledged.

    `purge()` alone leaves those: the next test's worker would restore them after the
    visibility timeout, and a sweep that sees tasks waiting skips its run.
    """
    import redis

    from hwadmin.celery import app

    app.control.purge()
    redis.Redis.from_url(redis_url).delete(*UNACKED_KEYS)


@pytest.fixture
def worker_factory(postgres, redis_url, tmp_path):
    from django.conf import settings
    from django.db import connection

    empty_broker(redis_url)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection),
        "CELERY_BROKER_URL": redis_url,
        "HWADMIN_TASK_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "HWADMIN_BROKER_VISIBILITY_TIMEOUT": "6",
        "HWADMIN_BROKER_RESTORE_INTERVAL": "2",
        "HWADMIN_VAR_DIR": str(tmp_path),
        "HWADMIN_TORCH_THREADS": "1",
    }
    workers = []

    def make(**overrides):
        worker = Worker({**env, **overrides}, tmp_path / f"worker-{len(workers)}.log")
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.stop()
    empty_broker(redis_url)


def start_script(name, env, log_path):
    """scripts/<name> in its own process group, its output in log_path: a test stops it, and everything it
    started, with os.killpg."""
    return subprocess.Popen(
        [str(ROOT / "scripts" / name)],
        cwd=ROOT,
        env=env,
        stdout=open(log_path, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout, interval=0.2, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
