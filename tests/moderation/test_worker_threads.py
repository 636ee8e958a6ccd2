"""A worker shares the machine's cores among its pool's processes: each scores with its share of threads
(torch, ONNX Runtime, Kiwi), unless HWADMIN_TORCH_THREADS sets them."""

import pytest
from celery.signals import worker_init
from django.conf import settings
from django.test import override_settings

from hwadmin import threads


@pytest.fixture(autouse=True)
def two_cores(monkeypatch):
    monkeypatch.setattr(threads, "machine_cores", lambda: 2)
    monkeypatch.setattr(threads, "_pool_share", 0)


def hwadmin(**changes):
    return override_settings(HWADMIN={**settings.HWADMIN, **changes})


class Worker:
    """What the receiver reads of Celery's WorkController (hashable, as a signal's sender must be)."""

    def __init__(self, concurrency, pool_cls):
        self.concurrency, self.pool_cls = concurrency, pool_cls


def worker(concurrency, pool="prefork"):
    return Worker(concurrency, pool)


def test_outside_a_worker_the_runtimes_keep_their_default():
    assert threads.intra_op_threads() == 0


@pytest.mark.parametrize(
    ("concurrency", "pool", "expected"),
    [
        (2, "prefork", 1),  # the shipped default: two processes on two cores, one thread each
        (1, "prefork", 2),
        (4, "prefork", 1),  # more processes than cores: still one thread each
        (2, "threads", 1),
        (8, "solo", 2),  # solo runs one task at a time, whatever --concurrency says
        ("auto", "prefork", 1),  # one process per core
        (None, "prefork", 1),
    ],
)
def test_a_worker_shares_the_cores_among_its_pool(concurrency, pool, expected):
    with hwadmin(TORCH_THREADS=0):
        threads.share_cores_in_worker(sender=worker(concurrency, pool))
        assert threads.intra_op_threads() == expected


def test_hwadmin_torch_threads_wins():
    with hwadmin(TORCH_THREADS=3):
        threads.share_cores_in_worker(sender=worker(2))
        assert threads.intra_op_threads() == 3
    assert threads._pool_share == 0  # nothing shared: the setting decides


def test_the_worker_init_signal_shares_the_cores():
    """The receiver is connected when the app starts (moderation.apps), as the worker's main process runs it."""
    with hwadmin(TORCH_THREADS=0):
        worker_init.send(sender=worker(2))
        assert threads.intra_op_threads() == 1


def test_both_runtimes_and_kiwi_take_the_share(monkeypatch):
    import torch

    from moderation.onnx_scoring import session_options
    from moderation.scoring import configure_torch
    from plm import morphemes

    made = []

    class FakeKiwi:
        def __init__(self, num_workers):
            made.append(num_workers)

    monkeypatch.setattr("kiwipiepy.Kiwi", FakeKiwi)
    monkeypatch.setattr(morphemes, "_kiwi", None)
    before = torch.get_num_threads()
    try:
        with hwadmin(TORCH_THREADS=0):
            threads.share_cores_in_worker(sender=worker(2))
            assert session_options().intra_op_num_threads == 1
            assert configure_torch().get_num_threads() == 1
            morphemes.kiwi()
            assert made == [1]
    finally:
        torch.set_num_threads(before)
