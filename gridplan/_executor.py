"""Where the engine's per-community solves run: here, or in a pool of local processes.

An executor has one method, ``map(fn, tasks, sizes=None) -> list``: it calls the module-level,
picklable function ``fn(*task)`` for every task and returns the results in the order of
``tasks``. ``sizes`` (optional) lets an executor start the largest tasks first. Because the
engine's per-community solve is a pure function of its arguments, which worker ran which task
never changes a result, so any executor (a Dask cluster included) gives the same plan.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Protocol

log = logging.getLogger(__name__)

__all__ = ["Executor", "SerialExecutor", "ProcessExecutor", "make_executor", "PARALLEL_MIN_BUILDINGS",
           "PARALLEL_MIN_BUILDINGS_FORK"]

#: with ``n_jobs=None``, datasets with at least this many buildings are solved by one worker process
#: per core (smaller ones, such as everything the app edits, stay in this process)
PARALLEL_MIN_BUILDINGS = 20_000
#: the same when worker processes can be forked (they start in milliseconds with everything
#: imported; a fresh interpreter costs about a second to start and import)
PARALLEL_MIN_BUILDINGS_FORK = 10_000


def _can_fork() -> bool:
    """Whether worker processes are forked: the platform allows it and this process runs a single
    thread (forking a threaded one, such as a web server, can deadlock)."""
    import multiprocessing as mp
    import threading

    return "fork" in mp.get_all_start_methods() and threading.active_count() == 1


class Executor(Protocol):
    """Runs ``fn(*task)`` for every task; results in task order."""

    workers: int

    def map(self, fn: Callable, tasks: Sequence[tuple], sizes: Sequence[float] | None = None) -> list: ...


class SerialExecutor:
    """Every task in this process, one after the other."""

    workers = 1

    def map(self, fn: Callable, tasks: Sequence[tuple], sizes: Sequence[float] | None = None) -> list:
        return [fn(*t) for t in tasks]


class ProcessExecutor:
    """A pool of ``workers`` local processes (forked where the platform allows and this process
    runs a single thread, so nothing is imported again; started fresh otherwise). If the pool
    cannot be used, the tasks run in this process instead (with a warning); the results are the
    same either way."""

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))

    def map(self, fn: Callable, tasks: Sequence[tuple], sizes: Sequence[float] | None = None) -> list:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        tasks = list(tasks)
        if self.workers <= 1 or len(tasks) <= 1:
            return SerialExecutor().map(fn, tasks)
        order = list(range(len(tasks)))
        if sizes is not None:
            order.sort(key=lambda i: (-float(sizes[i]), i))  # largest first
        method = "fork" if _can_fork() else "spawn"
        try:
            ctx = mp.get_context(method)
            with ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=ctx) as pool:
                futures = {i: pool.submit(fn, *tasks[i]) for i in order}
                return [futures[i].result() for i in range(len(tasks))]
        except (OSError, RuntimeError, ImportError) as e:  # pragma: no cover - no usable process pool
            log.warning("worker processes failed (%s); solving in this process", e)
            return SerialExecutor().map(fn, tasks)


def make_executor(n_jobs: int | None, n_buildings: int, n_tasks: int) -> Executor:
    """The executor for ``n_jobs`` workers: ``None`` = automatic (one per core for datasets of at
    least :data:`PARALLEL_MIN_BUILDINGS` buildings, or :data:`PARALLEL_MIN_BUILDINGS_FORK` where
    workers are forked, else this process). An explicit ``n_jobs`` is honoured even above the
    number of cores."""
    if n_jobs is None:
        cores = os.cpu_count() or 1
        least = PARALLEL_MIN_BUILDINGS_FORK if _can_fork() else PARALLEL_MIN_BUILDINGS
        n_jobs = cores if n_buildings >= least else 1
    workers = max(1, min(int(n_jobs), n_tasks))
    return ProcessExecutor(workers) if workers > 1 else SerialExecutor()
