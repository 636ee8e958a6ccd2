"""`make demo` for real: scripts/demo boots a Celery worker and the development server on the embedded
defaults (SQLite and the file broker under HWADMIN_VAR_DIR), and a TERM to the script alone stops both:
a service manager or `kill` that signals only the script leaves no worker or server behind."""

import os
import signal
from pathlib import Path

import pytest
import requests

from .conftest import free_port, start_script, wait_for

pytestmark = pytest.mark.integration

# What would point the demo at another database, broker or cache: the demo runs on its own defaults.
FOREIGN = ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "REDIS_CACHE_URL", "PROMETHEUS_MULTIPROC_DIR")


def descendants(pid):
    """Every live process below `pid` (children of children too), from /proc."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:  # the task ended meanwhile
                continue
            found += children
            todo += children
    return found


def alive(pid):
    try:
        state = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State"))
    except (OSError, StopIteration):
        return False
    return "zombie" not in state


def test_a_term_to_the_demo_script_stops_its_worker_and_server(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN and not k.startswith("HWADMIN_")}
    env.update({"HWADMIN_VAR_DIR": str(tmp_path / "var"), "PORT": str(port)})
    log_path = tmp_path / "demo.log"
    process = start_script("demo", env, log_path)

    def healthy():
        if process.poll() is not None:
            raise AssertionError(f"scripts/demo exited {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            response = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        except requests.RequestException:
            return False
        return response.status_code == 200 and response.json()["checks"]["worker"]["ok"]

    try:
        # the server answers and the worker beats: both of the script's processes run
        wait_for(healthy, timeout=180, interval=0.5, message="the demo to answer with a live worker")
        started = descendants(process.pid)
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode() for pid in started]
        assert any("celery" in c and "worker" in c for c in commands), commands
        assert any("runserver" in c for c in commands), commands
        assert (tmp_path / "var" / "hwadmin.sqlite3").exists()  # its own database, not the checkout's

        os.kill(process.pid, signal.SIGTERM)  # the script alone, not its process group
        process.wait(timeout=120)
        wait_for(
            lambda: not [pid for pid in started if alive(pid)],
            timeout=30,
            message=f"the demo's processes to stop (left: {[pid for pid in started if alive(pid)]})",
        )
        assert process.returncode == 0, log_path.read_text()[-4000:]
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
