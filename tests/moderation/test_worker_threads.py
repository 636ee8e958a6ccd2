"""The scoring runtimes' threads sleep while they wait in a worker of several pool processes (they spin by
default, holding cores the other processes' models need): ONNX Runtime's session option, torch's OpenMP
wait policy. HWADMIN_THREAD_SPINNING chooses otherwise."""

import os

import pytest
from celery.signals import worker_init
from django.conf import settings
from django.test import override_settings

from hwadmin import threads
from moderation.onnx_scoring import session_options

SPIN = "session.intra_op.allow_spinning"


@pytest.fixture(autouse=True)
def outside_a_worker(monkeypatch):
    monkeypatch.setattr(threads, "_pool_processes", 1)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)  # record_pool may set it: monkeypatch puts it back


def hwadmin(**changes):
    return override_settings(HWADMIN={**settings.HWADMIN, **changes})


class Worker:
    """What the receiver reads of Celery's WorkController (hashable, as a signal's sender must be)."""

    def __init__(self, concurrency, pool_cls="prefork"):
        self.concurrency, self.pool_cls = concurrency, pool_cls


def spins():
    """Whether the session options let the threads spin (ONNX Runtime's default: no entry)."""
    try:
        return session_options().get_session_config_entry(SPIN) != "0"
    except RuntimeError:  # the runtime's "does not have configuration with key"
        return True


def test_outside_a_worker_the_threads_spin_as_the_runtimes_do():
    assert threads.threads_spin() and spins()
    assert "OMP_WAIT_POLICY" not in os.environ


@pytest.mark.parametrize(
    ("concurrency", "pool", "spin"),
    [
        (2, "prefork", False),  # the shipped default: two processes share the cores
        (1, "prefork", True),
        (4, "threads", False),
        (8, "solo", True),  # solo scores one task at a time, whatever --concurrency says
        ("auto", "prefork", False),  # one process per core
    ],
)
def test_a_worker_of_several_processes_lets_its_threads_sleep(concurrency, pool, spin):
    with hwadmin(THREAD_SPINNING="auto"):
        threads.record_pool(sender=Worker(concurrency, pool))
        assert threads.threads_spin() is spin
        assert spins() is spin
        assert os.environ.get("OMP_WAIT_POLICY") == (None if spin else "PASSIVE")  # torch's OpenMP, before its import


@pytest.mark.parametrize(("value", "processes", "spin"), [("on", 2, True), ("off", 1, False), (" OFF ", 1, False)])
def test_the_setting_wins(value, processes, spin):
    with hwadmin(THREAD_SPINNING=value):
        threads.record_pool(sender=Worker(processes))
        assert spins() is spin


def test_a_bad_setting_stops_the_worker_naming_the_variable():
    with hwadmin(THREAD_SPINNING="sometimes"):
        with pytest.raises(SystemExit, match="HWADMIN_THREAD_SPINNING='sometimes': must be one of auto, on, off"):
            threads.record_pool(sender=Worker(2))
        with pytest.raises(threads.ThreadSettingError, match="HWADMIN_THREAD_SPINNING"):
            session_options()  # and a process that scores without a worker says the same


def test_an_operators_omp_wait_policy_stands(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    with hwadmin(THREAD_SPINNING="auto"):
        threads.record_pool(sender=Worker(2))
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_worker_init_signal_records_the_pool():
    """The receiver is connected when the app starts (moderation.apps); the worker's main process sends it."""
    with hwadmin(THREAD_SPINNING="auto"):
        worker_init.send(sender=Worker(2))
        assert not spins()
