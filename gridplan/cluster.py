"""Partition and coverage on a Dask cluster (``dask.distributed``), beyond one machine.

One machine partitions a city in seconds; a province (tens of millions of households in a
hundred county-level units) needs more. This module runs the engine's per-community solves
(:func:`gridplan.engine.solve_community`) and the coverage's per-component walks on the workers of
a Dask cluster:

* **where**: ``scheduler="tcp://HOST:PORT"`` (a running cluster: ``dask scheduler`` and
  ``dask worker tcp://HOST:8786`` on each machine) or ``"local[:N]"`` (a ``LocalCluster`` of N
  worker processes started and stopped here), or a ``distributed.Client`` of your own;
* **what is shipped**: the client loads the dataset and computes the building cells and
  adjacency (:func:`gridplan.engine._context`), then *scatters* the dataset's compact arrays once
  (numbers only, no geometry: a few hundred bytes per building). Each task takes that data by
  reference plus a community code and returns a grid index per building;
  :attr:`PartitionRun.shipping` reports the bytes (pickle sizes) of the scattered data and of each
  task's arguments and result;
* **same plan**: the search is budgeted in deterministic work units, so which worker ran what never
  changes a result: the plan is identical, building by building, to ``n_jobs=1`` on one process;
* **faults**: a task whose worker died is run again elsewhere (Dask does that); data lost with a
  worker is scattered again from the client and the tasks that needed it are resubmitted, so the
  plan stays complete and identical. The wall-clock safety cap is sent as a *duration*
  (``time_limit_s``, started by the worker when the task starts), so clocks of different machines
  need not agree;
* **coverage** (:func:`coverage_on_cluster`): the client builds the walking network and snaps the
  buildings and stations (:class:`gridplan.reach.Coverage`), then every connected component of
  the network that is used, for every set of station kinds the result needs, is walked on a worker
  (multi-source Dijkstra with the same functions as on one machine); the distances are put
  together into the same :class:`~gridplan.reach.CoverageResult`.

Dask is imported only when a cluster is used.
"""
from __future__ import annotations

import contextlib
import logging
import os
import pickle
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._errors import ClusterError
from .engine import (
    RESTARTS,
    TIME_LIMIT_S,
    WORK_PER_BUILDING,
    CommunityArrays,
    CommunityResult,
    PartitionRun,
    _assemble,
    _community_work,
    _Ctx,
    _Job,
    _prepare,
    solve_community,
)
from .model import Dataset, Rule
from .network import Snapped

if TYPE_CHECKING:
    from .reach import CoverageResult

log = logging.getLogger(__name__)

__all__ = ["CONNECT_TIMEOUT_S", "parse_scheduler", "connect", "ClusterPartitioner", "partition_on_cluster",
           "coverage_on_cluster", "worker_memory"]

#: seconds to wait for a scheduler to answer (and for its first worker) before giving up
CONNECT_TIMEOUT_S = 5.0
#: times a task is resubmitted after its worker or its data was lost
MAX_RETRIES = 3

_START_HINT = ("启动调度器 / start a scheduler: `dask scheduler` (listens on tcp://0.0.0.0:8786), then on each "
               "machine `dask worker tcp://HOST:8786 --nthreads 1`; or use --scheduler local:N for a cluster on "
               "this machine")


def _require_distributed():
    try:
        import distributed  # noqa: F401
    except ImportError:  # pragma: no cover - a declared dependency
        raise ClusterError("Dask 未安装 / dask.distributed is not installed: pip install 'dask[distributed]' "
                           "(or bash scripts/setup.sh)") from None
    import distributed
    return distributed


def parse_scheduler(text: str) -> tuple[str, Any]:
    """``"local"`` → ``("local", None)``, ``"local:4"`` → ``("local", 4)``, ``"tcp://h:8786"`` →
    ``("remote", "tcp://h:8786")``. Raises ValueError (with how to write it) otherwise."""
    t = str(text).strip()
    low = t.lower()
    if low == "local" or low.startswith("local:") or low.startswith("local["):
        rest = low[5:].strip(":[]")
        if not rest:
            return "local", None
        if rest.isdigit() and int(rest) >= 1:
            return "local", int(rest)
        raise ValueError(f"--scheduler local:N takes a number of workers ≥ 1, got {text!r}")
    if "://" in t and t.split("://", 1)[1]:
        return "remote", t
    raise ValueError(f"--scheduler takes tcp://HOST:PORT (a running Dask scheduler) or local[:N] "
                     f"(N worker processes on this machine), got {text!r}")


def _worker_info() -> dict:
    """Run on every worker: the gridplan version it imports and its process id."""
    import gridplan
    return {"version": gridplan.__version__, "pid": os.getpid()}


def _check_workers(client, address: str, timeout_s: float) -> None:
    import gridplan
    try:
        client.wait_for_workers(1, timeout=max(timeout_s, 1.0))
    except Exception:  # noqa: BLE001 - a TimeoutError of some flavour
        raise ClusterError(f"调度器 {address} 没有工作进程 / the scheduler at {address} has no workers: start "
                           f"`dask worker {address} --nthreads 1` on each machine") from None
    try:
        info = client.run(_worker_info)
    except Exception as e:  # noqa: BLE001 - a worker that cannot import gridplan
        raise ClusterError(f"工作进程无法导入 gridplan / a worker of {address} cannot import gridplan ({e}); every "
                           "worker needs the same gridplan version and its dependencies: "
                           "pip install -r requirements.txt && pip install -e .") from None
    bad = {w: i["version"] for w, i in info.items() if i["version"] != gridplan.__version__}
    if bad:
        raise ClusterError(f"工作进程的 gridplan 版本不同 / workers run another gridplan version than this "
                           f"client ({gridplan.__version__}): {bad}; install the same version on every worker")


@contextlib.contextmanager
def connect(scheduler: str | None = None, client=None, *, connect_timeout_s: float = CONNECT_TIMEOUT_S):
    """A ``distributed.Client`` for ``scheduler`` (see :func:`parse_scheduler`), or ``client`` as
    given (not closed here). A local cluster is started with one thread per worker process and
    stopped on exit.

    Raises
    ------
    ClusterError
        Nothing answers at the address within ``connect_timeout_s`` (the message names the address
        and how to start a scheduler), the cluster has no worker, or a worker runs another gridplan.
    """
    if client is not None:
        yield client
        return
    if scheduler is None:
        raise ValueError("give a scheduler address or a client")
    kind, arg = parse_scheduler(scheduler)
    distributed = _require_distributed()
    if kind == "local":
        n = arg or (os.cpu_count() or 1)
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address="127.0.0.1:0",
                                           scheduler_kwargs={"dashboard": False})
        try:
            with distributed.Client(cluster) as c:
                _check_workers(c, cluster.scheduler_address, connect_timeout_s)
                yield c
        finally:
            cluster.close()
        return
    try:
        c = distributed.Client(arg, timeout=connect_timeout_s)
    except (OSError, TimeoutError, ValueError) as e:
        first = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise ClusterError(f"无法连接 Dask 调度器 {arg}（{connect_timeout_s:g} 秒内无响应）/ cannot reach the Dask "
                           f"scheduler at {arg} within {connect_timeout_s:g} s ({first}). {_START_HINT}") from None
    try:
        _check_workers(c, arg, connect_timeout_s)
        yield c
    finally:
        c.close()


def scheduler_address(client) -> str:
    return str(client.scheduler.address)


def worker_memory(client) -> dict[str, float]:
    """Peak resident memory (MB) of every worker process, as the workers report it."""
    return client.run(_peak_rss_mb)


def _peak_rss_mb() -> float:
    import resource
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / 1024.0 if sys.platform != "darwin" else kb / 1024.0 / 1024.0, 1)


def _worker_address() -> str:
    try:
        from distributed import get_worker
        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"pid:{os.getpid()}"


def _size(obj) -> int:
    return len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


# ============================================================================== partition
@dataclass(frozen=True)
class _CityArrays:
    """The compact arrays of one dataset that every task of it shares (scattered once): the
    building graph (cut costs, shared lengths, counts, points, cell areas and perimeters), a
    compound code and a community code per building. No geometry, no ids."""

    ctx: _Ctx

    @classmethod
    def of(cls, ctx: _Ctx, codes: np.ndarray) -> _CityArrays:
        g = ctx.graph
        return cls(_Ctx(ids=None, comm=np.asarray(codes, dtype=np.int32), compound=ctx.compound, graph=g))


@dataclass(frozen=True)
class _TaskResult:
    result: CommunityResult
    worker: str
    seconds: float


def _solve_remote(city: _CityArrays, code: int, rule: Rule, seed: int, work: float, restarts: int,
                  time_limit_s: float) -> _TaskResult:
    """One community on a worker: the safety cap starts here (a duration, not a clock time)."""
    t0 = time.perf_counter()
    deadline = time.time() + float(time_limit_s)
    nodes = np.flatnonzero(city.ctx.comm == code)
    res = solve_community(CommunityArrays.of(city.ctx, nodes), rule, seed, work, restarts=restarts, deadline=deadline)
    return _TaskResult(res, _worker_address(), time.perf_counter() - t0)


@dataclass(eq=False)
class _Task:
    community: str
    args: tuple
    size: int
    future: Any = None       # its distributed.Future, once submitted
    tries: int = 0
    done: _TaskResult | None = None
    args_bytes: int = 0
    result_bytes: int = 0


@dataclass(eq=False)
class ClusterJob:
    """One dataset submitted to :class:`ClusterPartitioner`."""

    key: str
    dataset: Dataset
    rule: Rule
    seed: int
    code_width: int
    job: _Job
    city: _CityArrays
    data_future: Any         # the distributed.Future of the scattered arrays
    tasks: dict
    t0: float
    prepare_seconds: float
    bytes_scattered: int
    left: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.left == 0


class ClusterPartitioner:
    """Submits the communities of one or more datasets to a Dask cluster and collects them as
    they complete; :meth:`finish` turns a completed job into a :class:`PartitionRun`.

    Example::

        with connect("local:2") as client:
            cp = ClusterPartitioner(client)
            cp.submit(ds, key="city")
            for job in cp.completed():
                run = cp.finish(job)

    ``progress=True`` shows a progress bar (tqdm, on stderr) over the tasks as they complete.
    """

    def __init__(self, client, *, progress: bool = False):
        from distributed import as_completed
        self.client = client
        self._ac = as_completed(with_results=False)
        self._owner: dict = {}
        self._jobs: list[ClusterJob] = []
        self._bar = None
        if progress:
            from tqdm import tqdm
            self._bar = tqdm(total=0, desc="社区 / communities", unit="task", file=sys.stderr, leave=False)
        self.tasks_submitted = 0
        self.retries = 0
        self._empty: list[ClusterJob] = []

    # ---------------------------------------------------------------- submit
    def submit(self, dataset: Dataset, *, key: str | None = None, rule: Rule | None = None, seed: int = 0,
               code_width: int = 2, time_limit_s: float = TIME_LIMIT_S, communities=None,
               work_per_building: float = WORK_PER_BUILDING, meta: dict | None = None) -> ClusterJob:
        """Prepare ``dataset`` here (cells, adjacency, per-community rules), scatter its compact
        arrays once and submit one task per community (largest first)."""
        rule = rule or Rule()
        t0 = time.perf_counter()
        job = _prepare(dataset, rule, communities)
        code_of = {c: i for i, c in enumerate(job.uniq)}
        codes = np.empty(len(job.ctx.comm), dtype=np.int32)
        for c, nodes in job.nodes_of.items():
            codes[nodes] = code_of[c]
        city = _CityArrays.of(job.ctx, codes)
        key = key or (dataset.name or "dataset")
        cj = ClusterJob(key=str(key), dataset=dataset, rule=rule, seed=int(seed), code_width=int(code_width), job=job,
                        city=city, data_future=None, tasks={}, t0=t0, prepare_seconds=0.0, bytes_scattered=0,
                        meta=dict(meta or {}))
        self._scatter(cj)
        for c in job.todo:
            n = len(job.nodes_of[c])
            args = (code_of[c], job.rules[c], int(seed), _community_work(n, work_per_building), RESTARTS,
                    float(time_limit_s))
            t = _Task(community=c, args=args, size=n)
            t.args_bytes = _size((_solve_remote, args)) + len(str(cj.data_future.key))
            cj.tasks[c] = t
        cj.left = len(cj.tasks)
        cj.prepare_seconds = time.perf_counter() - t0
        for t in sorted(cj.tasks.values(), key=lambda t: (-t.size, t.community)):
            self._submit_task(cj, t)
        if self._bar is not None:
            self._bar.refresh()
        self._jobs.append(cj)
        if cj.left == 0:
            self._empty.append(cj)
        return cj

    def _scatter(self, cj: ClusterJob) -> None:
        cj.data_future = self.client.scatter([cj.city], hash=False)[0]
        cj.bytes_scattered += _size(cj.city)

    def _submit_task(self, cj: ClusterJob, t: _Task) -> None:
        k = f"gridplan-solve-{cj.key}-{t.community}-{uuid.uuid4().hex[:8]}"
        t.future = self.client.submit(_solve_remote, cj.data_future, *t.args, key=k, pure=False, priority=t.size)
        self._owner[t.future.key] = (cj, t)
        self._ac.add(t.future)
        self.tasks_submitted += 1
        if self._bar is not None:
            self._bar.total += 1

    # ---------------------------------------------------------------- collect
    def completed(self):
        """Yield every submitted job once all its communities are solved (in completion order).
        New jobs may be submitted while iterating."""
        while self._empty:
            yield self._empty.pop()
        for fut in self._ac:
            cj, t = self._owner.pop(fut.key)
            if fut.status == "finished":
                res = fut.result()
                t.done = res
                t.result_bytes = _size(res)
                fut.release()
                cj.left -= 1
                if self._bar is not None:
                    self._bar.update(1)
                if cj.left == 0:
                    cj.data_future.release()
                    yield cj
                continue
            self._retry(cj, t, fut)

    def _retry(self, cj: ClusterJob, t: _Task, fut) -> None:
        from distributed import KilledWorker
        exc = None
        if fut.status == "error":
            exc = fut.exception()
            if not isinstance(exc, KilledWorker):
                raise exc
        t.tries += 1
        self.retries += 1
        if t.tries > MAX_RETRIES:
            raise ClusterError(f"社区 {t.community}（{cj.key}）的任务在 {MAX_RETRIES} 次重试后仍失败 / the task of community "
                               f"{t.community} ({cj.key}) failed {MAX_RETRIES} times: {exc or 'its worker or data was lost'}")
        log.warning("resubmitting community %s of %s (%s)", t.community, cj.key,
                    "worker died" if exc is not None else "its worker or data was lost")
        if cj.data_future.status != "finished":  # the scattered arrays went with a worker: send them again
            self._scatter(cj)
        self._submit_task(cj, t)

    def finish(self, cj: ClusterJob) -> PartitionRun:
        """The :class:`PartitionRun` of a completed job (the plan assembled here, as on one machine)."""
        if not cj.complete:
            raise ValueError(f"job {cj.key} is not complete")
        results = {c: t.done.result for c, t in cj.tasks.items()}
        workers = sorted({t.done.worker for t in cj.tasks.values()})
        n = max(len(cj.tasks), 1)
        args_b = sum(t.args_bytes for t in cj.tasks.values())
        res_b = sum(t.result_bytes for t in cj.tasks.values())
        shipping = {"tasks": len(cj.tasks), "bytes_scattered": int(cj.bytes_scattered),
                    "bytes_per_task": round((args_b + res_b) / n), "bytes_task_args": int(args_b),
                    "bytes_task_results": int(res_b), "worker_addresses": workers,
                    "task_seconds": round(sum(t.done.seconds for t in cj.tasks.values()), 3),
                    "task_seconds_max": round(max((t.done.seconds for t in cj.tasks.values()), default=0.0), 3),
                    "prepare_seconds": round(cj.prepare_seconds, 3),
                    "retries": int(sum(t.tries for t in cj.tasks.values()))}
        run = _assemble(cj.dataset, cj.job, cj.rule, cj.seed, cj.code_width, results, len(workers), cj.t0,
                        scheduler=scheduler_address(self.client), shipping=shipping)
        self._jobs.remove(cj)
        return run

    def close(self) -> None:
        """Close the progress bar, if one is shown."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def partition_on_cluster(dataset: Dataset, *, client=None, scheduler: str | None = None, rule: Rule | None = None,
                         seed: int = 0, code_width: int = 2, time_limit_s: float = TIME_LIMIT_S, communities=None,
                         work_per_building: float = WORK_PER_BUILDING, progress: bool = False,
                         connect_timeout_s: float = CONNECT_TIMEOUT_S) -> PartitionRun:
    """:func:`gridplan.engine.partition_run` with the communities solved on a Dask cluster (see the
    module doc); the same plan as on one process. ``time_limit_s`` is each task's safety cap,
    started by the worker that runs it."""
    with connect(scheduler, client, connect_timeout_s=connect_timeout_s) as c:
        cp = ClusterPartitioner(c, progress=progress)
        try:
            cj = cp.submit(dataset, rule=rule, seed=seed, code_width=code_width, time_limit_s=time_limit_s,
                           communities=communities, work_per_building=work_per_building)
            for done in cp.completed():
                if done is cj:
                    break
            return cp.finish(cj)
        finally:
            cp.close()


# ============================================================================== coverage
@dataclass(frozen=True)
class _Component:
    """One connected component of the used walking network, with the points snapped onto it, as
    plain arrays (scattered once). Duck-types the parts of :class:`~gridplan.network.WalkNetwork`
    that :meth:`node_distances` and :meth:`point_distances` use, so the very same code runs."""

    graph: Any               # scipy CSR matrix among the component's nodes (in the network's node order)
    edge_u: np.ndarray       # per global edge: local end nodes (-1 outside the component)
    edge_v: np.ndarray
    edge_len_m: np.ndarray
    buildings: Snapped       # edges global
    stations: Snapped        # every station, edges global

    @property
    def n_nodes(self) -> int:
        return self.graph.shape[0]

    from .network import WalkNetwork as _W
    augmented = _W.augmented
    node_distances = _W.node_distances
    point_distances = _W.point_distances
    del _W


def _walk_remote(comp: _Component, sel: np.ndarray, limit_m: float):
    """Distances from the stations ``sel`` (indices into the station table) within one component."""
    t0 = time.perf_counter()
    sub = comp.stations.take(sel)
    # _Component duck-types the WalkNetwork these methods were written for
    nd, no = comp.node_distances(sub, limit_m=limit_m)  # type: ignore[misc]
    bd, bo = comp.point_distances(nd, no, comp.buildings, sub)  # type: ignore[misc]
    if len(sel):
        no = np.where(no >= 0, sel[np.maximum(no, 0)], -1)
        bo = np.where(bo >= 0, sel[np.maximum(bo, 0)], -1)
    return nd, no, bd, bo, _worker_address(), time.perf_counter() - t0


@dataclass
class CoverageRun:
    """What :func:`coverage_on_cluster` returns: the result and how it was computed."""

    result: CoverageResult
    scheduler: str
    workers: int
    shipping: dict
    seconds: float


def coverage_on_cluster(dataset: Dataset, *, client=None, scheduler: str | None = None, progress: bool = False,
                        connect_timeout_s: float = CONNECT_TIMEOUT_S, **options) -> CoverageRun:
    """:func:`gridplan.reach.coverage` with the walks computed on a Dask cluster.

    The client builds the network and snaps buildings and stations (as :class:`Coverage` does); each
    used connected component of the network (with the buildings and stations snapped onto it) is
    scattered once, and one task per (component, set of station kinds the result needs) walks it
    on a worker. The result equals the single-machine one: same distances, same nearest stations.
    ``options`` are those of :class:`~gridplan.reach.Coverage`.
    """
    from .reach import Coverage, _Reach
    t0 = time.perf_counter()
    cov = Coverage(dataset, **options)
    net = cov.network
    comp_of_edge = net.component[net.edge_u]
    bsnap, ssnap = cov.building_snap, cov.station_snap
    kind_sets = cov.reach_kinds()
    with connect(scheduler, client, connect_timeout_s=connect_timeout_s) as c:
        from distributed import as_completed
        pieces, tasks = {}, []
        scattered = args_b = 0
        for comp in np.asarray(net.kept_component).tolist():
            nodes = np.flatnonzero(net.component == comp)
            local = np.full(net.n_nodes, -1, dtype=np.int64)
            local[nodes] = np.arange(len(nodes))
            in_c = net.kept_edge & (comp_of_edge == comp)
            b_in = np.flatnonzero(bsnap.ok & (comp_of_edge[np.maximum(bsnap.edge, 0)] == comp))
            s_in = ssnap.ok & (comp_of_edge[np.maximum(ssnap.edge, 0)] == comp)
            piece = _Component(graph=net.graph[nodes][:, nodes].tocsr(), edge_u=np.where(in_c, local[net.edge_u], -1),
                               edge_v=np.where(in_c, local[net.edge_v], -1), edge_len_m=net.edge_len_m,
                               buildings=bsnap.take(b_in), stations=ssnap)
            pieces[comp] = [piece, c.scatter([piece], hash=False)[0], nodes, b_in]
            scattered += _size(piece)
            for kinds in kind_sets:
                args = (np.flatnonzero(cov._station_mask(kinds) & s_in), float(cov.limit_m))
                args_b += _size((_walk_remote, args)) + len(str(pieces[comp][1].key))
                tasks.append((comp, kinds, args))
        ac = as_completed(with_results=False)
        owner, tries = {}, [0] * len(tasks)

        def submit(i):
            comp, kinds, args = tasks[i]
            f = c.submit(_walk_remote, pieces[comp][1], *args, pure=False,
                         key=f"gridplan-walk-{comp}-{'+'.join(kinds)}-{uuid.uuid4().hex[:8]}")
            owner[f.key] = i
            ac.add(f)

        for i in range(len(tasks)):
            submit(i)
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(tasks), desc="路网分量 / components", unit="task", file=sys.stderr, leave=False)
        out, res_b, workers = {}, 0, set()
        for f in ac:
            i = owner.pop(f.key)
            if f.status != "finished":
                if f.status == "error" and not _is_killed(f.exception()):
                    raise f.exception()
                tries[i] += 1
                if tries[i] > MAX_RETRIES:
                    raise ClusterError(f"路网分量 {tasks[i][0]} 的任务多次失败 / the walk of network component "
                                       f"{tasks[i][0]} failed {MAX_RETRIES} times")
                pc = pieces[tasks[i][0]]
                if pc[1].status != "finished":  # the scattered component went with a worker
                    pc[1] = c.scatter([pc[0]], hash=False)[0]
                    scattered += _size(pc[0])
                submit(i)
                continue
            r = f.result()
            res_b += _size(r)
            workers.add(r[4])
            out[i] = r
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        address = scheduler_address(c)
    # put the components together, per set of kinds
    n_b = len(bsnap)
    for kinds in kind_sets:
        nd = np.full(net.n_nodes, np.inf)
        no = np.full(net.n_nodes, -1, dtype=np.int64)
        bd = np.full(n_b, np.inf)
        bo = np.full(n_b, -1, dtype=np.int64)
        for i, (comp, k, _) in enumerate(tasks):
            if k != kinds:
                continue
            nodes, b_in = pieces[comp][2], pieces[comp][3]
            nd[nodes], no[nodes], bd[b_in], bo[b_in] = out[i][:4]
        cov.adopt_reach(kinds, _Reach(nd, no, bd, bo))
    res = cov.result()
    n = max(len(tasks), 1)
    shipping = {"tasks": len(tasks), "components": len(np.asarray(net.kept_component)), "kind_sets": len(kind_sets),
                "bytes_scattered": int(scattered), "bytes_per_task": round((args_b + res_b) / n),
                "bytes_task_args": int(args_b), "bytes_task_results": int(res_b), "retries": int(sum(tries))}
    return CoverageRun(result=res, scheduler=address, workers=len(workers), shipping=shipping,
                       seconds=time.perf_counter() - t0)


def _is_killed(exc) -> bool:
    from distributed import KilledWorker
    return isinstance(exc, KilledWorker)
