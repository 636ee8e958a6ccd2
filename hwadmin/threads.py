"""Whether the scoring runtimes' threads (ONNX Runtime's, torch's OpenMP) spin while they wait, in this process.

A Celery worker runs several pool processes on one machine, each scoring with a thread per core (the
runtimes' default). Both runtimes let their threads spin between operations by default, so two busy
processes on two cores held four spinning threads, each taking a core the other process's model needed.
Threads that sleep instead leave the cores to the work: a backlog scored 1.18x as fast on ONNX Runtime
and 2.39x on torch, and a lone task (one process busy) 0.94x and 0.81x (`benchmarks/worker_threads.py`;
README, "Scoring"). HWADMIN_THREAD_SPINNING chooses: `auto` (default) lets the threads spin only where one
process scores at a time (a worker of one pool process, `manage.py`, the benchmarks), `on` or `off`
everywhere. No heavy import here: the web process reads it.
"""

import logging
import os

from django.conf import settings

log = logging.getLogger(__name__)

CHOICES = ("auto", "on", "off")

_pool_processes = 1  # set in a worker's main process before it starts its pool; the pool's processes inherit it


class ThreadSettingError(ValueError):
    """HWADMIN_THREAD_SPINNING holds something else than auto, on or off."""


def spinning_setting() -> str:
    value = str(settings.HWADMIN.get("THREAD_SPINNING", "auto") or "auto").strip().lower()
    if value not in CHOICES:
        raise ThreadSettingError(
            f"HWADMIN_THREAD_SPINNING={settings.HWADMIN.get('THREAD_SPINNING')!r}: must be one of {', '.join(CHOICES)}"
        )
    return value


def threads_spin() -> bool:
    """Whether this process's scoring runtimes let their threads spin while they wait."""
    value = spinning_setting()
    return value == "on" or (value == "auto" and _pool_processes <= 1)


def pool_processes(worker) -> int:
    """How many processes (or threads) of a Celery worker score at once: 1 for the solo pool, else its
    concurrency ("auto" or unset: one per core, as Celery resolves it)."""
    if "solo" in str(getattr(worker, "pool_cls", "") or "").lower():
        return 1
    concurrency = getattr(worker, "concurrency", None)
    return concurrency if isinstance(concurrency, int) and concurrency > 0 else (os.cpu_count() or 1)


def record_pool(sender=None, **kwargs):
    """worker_init receiver (the worker's main process, before the pool starts and before any process has
    imported torch): remember how many of its processes score at once, and where their threads must not
    spin, tell torch's OpenMP so (OMP_WAIT_POLICY, unless the environment sets it; ONNX Runtime's sessions
    ask `threads_spin` themselves)."""
    global _pool_processes
    _pool_processes = pool_processes(sender)
    try:
        spin = threads_spin()
    except ThreadSettingError as exc:  # SystemExit: Celery logs and ignores an ordinary error in a receiver
        raise SystemExit(f"hwadmin refuses to start the Celery worker: {exc}") from None
    if not spin:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    log.info(
        "scoring: a pool of %d; the runtimes' threads %s while they wait (HWADMIN_THREAD_SPINNING=%s)",
        _pool_processes,
        "spin" if spin else "sleep",
        spinning_setting(),
    )
