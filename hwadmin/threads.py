"""How many threads this process's numeric runtimes (torch, ONNX Runtime, Kiwi) may use.

A Celery worker runs several pool processes on one machine. Each runtime's own default is a thread
per core, so two processes on two cores ran four busy threads, and a forward pass waits for its
slowest thread (`benchmarks/worker_threads.py`; README, "Scoring"). So a worker shares the cores among
its pool's processes unless HWADMIN_TORCH_THREADS says otherwise; other processes (`manage.py`, the
demo) keep the runtime's default. No heavy import here: the web process reads it too.
"""

import logging
import os

from django.conf import settings

log = logging.getLogger(__name__)

_pool_share = 0  # set in a worker's main process before it starts its pool; the pool's processes inherit it


def machine_cores() -> int:
    """The cores this process may run on (its CPU affinity, so a container's or taskset's limit counts)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def configured_threads() -> int:
    """HWADMIN_TORCH_THREADS (0: not set); 0 outside Django (a script that imports plm alone)."""
    return settings.HWADMIN["TORCH_THREADS"] if settings.configured else 0


def intra_op_threads() -> int:
    """Threads per operation for this process: HWADMIN_TORCH_THREADS when set (not 0), in a worker pool's
    process its share of the cores, else 0 (the runtime's default: every core)."""
    return configured_threads() or _pool_share


def share_cores(processes: int) -> int:
    """Give each of `processes` scoring processes an equal share of the cores, at least one thread."""
    global _pool_share
    _pool_share = max(1, machine_cores() // max(1, processes))
    return _pool_share


def pool_processes(worker) -> int:
    """How many processes (or threads) of a Celery worker score at once: 1 for the solo pool, else its
    concurrency ("auto" or unset: one per core, as Celery resolves it)."""
    if "solo" in str(getattr(worker, "pool_cls", "") or "").lower():
        return 1
    concurrency = getattr(worker, "concurrency", None)
    return concurrency if isinstance(concurrency, int) and concurrency > 0 else machine_cores()


def share_cores_in_worker(sender=None, **kwargs):
    """worker_init receiver (the worker's main process, before the pool starts): share the cores among
    the pool's processes, unless HWADMIN_TORCH_THREADS sets the threads."""
    processes = pool_processes(sender)
    if configured_threads():
        log.info(
            "scoring threads: %d per pool process, set by HWADMIN_TORCH_THREADS; cores: %d, pool processes: %d",
            configured_threads(),
            machine_cores(),
            processes,
        )
        return
    threads = share_cores(processes)
    log.info(
        "scoring threads: %d per pool process, the cores shared; cores: %d, pool processes: %d",
        threads,
        machine_cores(),
        processes,
    )
