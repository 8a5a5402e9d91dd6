"""Partitions in a worker process, shared by every session of the server (no streamlit import here,
so the process starts fast).

The first partition of a dataset is CPU-bound pure Python for seconds; run in a thread of the
server it would hold the GIL and starve the server's event loop, delaying the first map. In its
own process it runs beside the server: :class:`PartitionJobs` starts the process at once (it warms
up while the page loads), hands it each job once and keeps the finished plans.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("gridplan.app")


def load_by_key(key: str):
    """The dataset a source key names (``"sample"`` or the JSON of a path source), read through the
    persistent cache (:mod:`gridplan.diskcache`: the files' content, the options and the code are its key).
    Its derived arrays come later (``diskcache.restore_derived``, when a plan is there): reading them
    imports the engine, which the first map does not need."""
    from gridplan import diskcache
    if key == "sample":
        from gridplan.demo import load_sample
        return load_sample(cached=True, derived=False)
    source = json.loads(key)
    path = Path(source["path"])
    return diskcache.read_dataset(path, coord_system=source.get("coord_system"), column_map=source.get("column_map"),
                                  name=source.get("name") or None, derived=False)


def cached_plan(dataset, rule: tuple, seed: int, code_width: int):
    """The first partition of a dataset read from files, from the persistent cache: (assignment,
    label), or ``None`` when it is not there."""
    from gridplan import diskcache
    from gridplan.rule import Rule
    plan = diskcache.stored_plan(dataset, rule=Rule(*rule), seed=seed, code_width=code_width)
    return None if plan is None else (plan.assignment, plan.label)


def watch_parent(parent: int, every_s: float = 1.0) -> None:
    """In the worker process: end it when the server that started it is gone (a server killed, or
    stopped before it could shut its pool down, must not leave its worker running)."""
    import os

    def run():
        while True:
            time.sleep(every_s)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=run, name="gridplan-watch-parent", daemon=True).start()


def warm_up() -> bool:
    """Imported in the worker before its first job: the engine and the data readers."""
    import gridplan.engine  # noqa: F401
    import gridplan.io  # noqa: F401
    return True


def partition_job(source, rule: tuple, seed: int, code_width: int):
    """Partition a dataset: ``source`` is a source key (the worker reads the files itself, beside the
    server reading them for the first map) or a Dataset (sent pickled). Returns (assignment, label,
    seconds)."""
    from gridplan import diskcache
    from gridplan.rule import Rule
    ds = load_by_key(source) if isinstance(source, str) else source
    t0 = time.perf_counter()
    diskcache.restore_derived(ds)
    plan = diskcache.partition(ds, rule=Rule(*rule), seed=seed, code_width=code_width)
    return plan.assignment, plan.label, time.perf_counter() - t0


@dataclass(frozen=True)
class JobKey:
    """What a partition depends on: the dataset (its source key) and the engine's parameters."""

    dataset: str
    rule: tuple
    seed: int
    code_width: int


@dataclass(frozen=True)
class Finished:
    """A finished partition: the plan and the engine's time in seconds."""

    plan: object
    seconds: float


class PartitionJobs:
    """Partition jobs in one worker process (a thread where processes are not available).

    ``submit(key, source)`` starts a job once (later calls are no-ops); ``result(key, wait=…)`` is
    the :class:`Finished` partition, ``None`` while it runs (``wait=False``) or when it was never
    submitted. At most ``keep`` finished plans are kept. Thread-safe: every session shares one.
    """

    def __init__(self, keep: int = 8):
        self._keep = keep
        self._lock = threading.Lock()
        self._pool = None
        self._futures: dict[JobKey, Future] = {}
        self._done: dict[JobKey, Finished] = {}

    def _executor(self):
        if self._pool is None:
            import multiprocessing
            import os
            from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
            try:
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=watch_parent, initargs=(os.getpid(),))
            except (OSError, ValueError, NotImplementedError):  # pragma: no cover - restricted platforms
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gridplan-partition")
        return self._pool

    def warm(self) -> None:
        """Start the worker process now (it imports the engine while the first page is drawn); once."""
        with self._lock:
            if self._pool is not None:
                return
            try:
                self._executor().submit(warm_up)
            except Exception:  # noqa: BLE001 - a broken pool shows up (and is handled) in submit
                log.exception("could not start the partition worker")

    def take_cached(self, key: JobKey, dataset) -> bool:
        """Whether the job of ``key`` is known now: started before, or its plan found in the
        persistent cache (read once, and taken as the finished job: no worker)."""
        with self._lock:
            return self._take_cached(key, dataset)

    def _take_cached(self, key: JobKey, dataset) -> bool:
        if key in self._futures or key in self._done:
            return True
        hit = None if dataset is None else cached_plan(dataset, key.rule, key.seed, key.code_width)
        if hit is None:
            return False
        fut: Future = Future()
        fut.set_result((*hit, 0.0))
        self._futures[key] = fut
        return True

    def submit(self, key: JobKey, source, dataset=None) -> None:
        """Start the job of ``key`` once; with ``dataset`` (the loaded dataset), a plan in the
        persistent cache is taken at once, with no worker."""
        with self._lock:
            if self._take_cached(key, dataset):
                return
            try:
                self._futures[key] = self._executor().submit(partition_job, source, key.rule, key.seed, key.code_width)
            except Exception:  # noqa: BLE001 - a broken pool: compute here (in the caller) instead
                log.exception("the partition worker is not available; partitioning in the app process")
                fut: Future = Future()
                fut.set_result(partition_job(source, key.rule, key.seed, key.code_width))
                self._futures[key] = fut

    def result(self, key: JobKey, *, wait: bool = True, source=None) -> Finished | None:
        if key in self._done:
            return self._done[key]
        fut = self._futures.get(key)
        if fut is None or (not wait and not fut.done()):
            return None
        try:
            assignment, label, secs = fut.result()
        except Exception:  # noqa: BLE001 - the worker process died: partition here
            log.exception("background partition failed; partitioning in the app process")
            if source is None:
                raise
            assignment, label, secs = partition_job(source, key.rule, key.seed, key.code_width)
        from gridplan.model import Plan
        from gridplan.rule import Rule
        done = Finished(Plan(assignment, rule=Rule(*key.rule), label=label), secs)
        with self._lock:
            self._done[key] = done
            self._futures.pop(key, None)
            while len(self._done) > self._keep:
                self._done.pop(next(iter(self._done)))
        return done
