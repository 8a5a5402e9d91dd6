"""Partition many datasets in one go: the cities (county-level units) of a province.

:func:`partition_many` takes a folder of datasets (or a list of them), partitions every one with
the same rule and seed, and writes one plan GeoPackage per dataset (``OUT_DIR/<name>.gpkg``)
and/or saves each plan as a version in a plan store (:mod:`gridplan.store`: a PostgreSQL database,
where each dataset gets a schema of its own, or a folder of GeoPackage stores).

It runs on one machine (``n_jobs`` worker processes per dataset, as :func:`gridplan.partition`)
or on a Dask cluster (``scheduler=``/``client=``, :mod:`gridplan.cluster`). On a cluster the
datasets are pipelined: while the workers solve the communities of the datasets already
submitted, this process loads and prepares the next one, and writes the plans of those that are
done. Every plan is the same, building by building, whichever way it ran.

A dataset that cannot be read is reported (its name and the problems) and the others go on.
"""
from __future__ import annotations

import logging
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ._errors import GridplanError
from .engine import TIME_LIMIT_S, WORK_PER_BUILDING, PartitionRun, _context, partition_run
from .model import Dataset, Plan, Rule

log = logging.getLogger(__name__)

__all__ = ["find_datasets", "partition_many", "ProvinceRun", "CITY_COLUMNS"]

#: columns of :attr:`ProvinceRun.cities`
CITY_COLUMNS = ["path", "buildings", "households", "communities", "grids", "compliant_grids", "infeasible_grids",
                "budget_reached", "out", "store_version", "workers", "load_seconds", "prepare_seconds",
                "solve_seconds", "finish_seconds", "error"]

_DATASET_SUFFIXES = (".gpkg", ".zip")
_LAYER_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb", ".zip")


def _has_buildings_layer(gpkg: Path) -> bool:
    from .io import _canonical_layer
    try:
        import pyogrio
        return any(_canonical_layer(str(n)) == "buildings" for n in pyogrio.list_layers(gpkg)[:, 0])
    except Exception:  # noqa: BLE001 - not a readable GeoPackage: not a dataset
        return False


def _is_dataset_folder(folder: Path) -> bool:
    """A folder with a buildings layer file, or with exactly one GeoPackage holding a buildings layer
    (several such GeoPackages make a folder of datasets)."""
    from .io import _canonical_layer
    files = [p for p in folder.iterdir() if p.is_file()]
    if any(p.suffix.lower() in _LAYER_SUFFIXES and _canonical_layer(p.stem) == "buildings" for p in files):
        return True
    return sum(1 for p in files if p.suffix.lower() == ".gpkg" and _has_buildings_layer(p)) == 1


def find_datasets(*sources) -> list[tuple[str, Path]]:
    """``(name, path)`` of every dataset in ``sources``: a dataset folder or GeoPackage is one
    dataset; any other folder holds datasets (its sub-folders and ``.gpkg``/``.zip`` files, sorted
    by name). Names are the file or folder names without suffix, and must be unique.

    Raises
    ------
    FileNotFoundError
        A source does not exist, or a folder holds no dataset.
    """
    out: list[tuple[str, Path]] = []
    for src in sources:
        p = Path(src)
        if not p.exists():
            raise FileNotFoundError(f"{p} does not exist / 路径不存在: give a folder of datasets or a dataset")
        if p.is_file() or _is_dataset_folder(p):
            out.append((p.stem if p.is_file() else p.name, p))
            continue
        found = sorted((q for q in p.iterdir() if not q.name.startswith(".")
                        and ((q.is_dir() and _is_dataset_folder(q))
                             or (q.is_file() and q.suffix.lower() in _DATASET_SUFFIXES))),
                       key=lambda q: q.name)
        if not found:
            raise FileNotFoundError(f"{p} holds no dataset / 没有数据集: expected sub-folders with a buildings layer "
                                    "(楼栋) or dataset GeoPackages")
        out.extend((q.stem if q.is_file() else q.name, q) for q in found)
    names = [n for n, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise FileNotFoundError(f"several datasets are named {', '.join(dup)} / 数据集重名: rename them (the name is "
                                "the plan's file name and store)")
    return out


@dataclass
class ProvinceRun:
    """What :func:`partition_many` did.

    Attributes
    ----------
    cities
        One row per dataset (index: its name), columns :data:`CITY_COLUMNS`; ``error`` holds the
        message of a dataset that failed (its other figures are empty).
    seconds
        Wall-clock seconds of the whole run.
    workers
        Worker processes that solved communities (on a cluster: that ran at least one task).
    scheduler, shipping
        The Dask scheduler and what was sent to it (``bytes_scattered``, ``bytes_per_task``, …),
        ``None`` on one machine.
    plans
        The plans by dataset name, when asked for (``keep_plans=True``).
    """

    cities: pd.DataFrame
    seconds: float
    workers: int
    scheduler: str | None = None
    shipping: dict | None = None
    plans: dict = field(default_factory=dict)

    @property
    def failed(self) -> pd.DataFrame:
        """The datasets that failed, with their error."""
        return self.cities[self.cities["error"].notna()]

    def summary(self) -> dict:
        """The headline figures over the datasets that succeeded, as a plain dict."""
        ok = self.cities[self.cities["error"].isna()]
        out: dict[str, Any] = {"datasets": int(len(self.cities)), "failed": int(len(self.failed)),
               "buildings": int(ok["buildings"].sum()), "households": int(ok["households"].sum()),
               "communities": int(ok["communities"].sum()), "grids": int(ok["grids"].sum()),
               "compliant_grids": int(ok["compliant_grids"].sum()),
               "infeasible_grids": int(ok["infeasible_grids"].sum()),
               "budget_reached": bool(ok["budget_reached"].astype(bool).any()) if len(ok) else False,
               "workers": self.workers, "seconds": round(self.seconds, 3)}
        if self.scheduler is not None and self.shipping is not None:
            out["scheduler"] = self.scheduler
            out.update({k: self.shipping[k] for k in ("bytes_scattered", "bytes_per_task")})
            out["shipping"] = self.shipping
        return out


def _city_store(store, name: str) -> str:
    from .store import is_postgres_url, schema_url
    if is_postgres_url(store):
        return schema_url(str(store), name)
    folder = Path(store)
    if folder.suffix.lower() == ".gpkg":
        raise ValueError(f"--store {folder} is one GeoPackage, but every dataset needs a store of its own: give a "
                         "folder (a store per dataset, <name>.gpkg) or a postgresql:// URL (a schema per dataset)")
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"{name}.gpkg")


@dataclass(frozen=True)
class _Output:
    """Where a city's plan goes (sent to a worker in city-task mode)."""

    out_dir: str | None
    store: str | None
    user: str | None
    version_name: str
    out_coord_system: str
    keep_plan: bool


def _load(name: str, path, read_options: dict | None):
    """``(dataset or None, row)``; a dataset that cannot be read gives its message in ``row["error"]``."""
    from .io import read_dataset
    t = time.perf_counter()
    try:
        ds = read_dataset(path, name=name, **(read_options or {}))
    except (GridplanError, OSError, ValueError) as e:
        log.error("%s: %s", name, e)
        return None, {"path": str(path), "error": str(e)}
    return ds, {"path": str(path), "load_seconds": time.perf_counter() - t}


def _finish(name: str, ds: Dataset, run: PartitionRun, row: dict, output: _Output, solve_s: float,
            prepare_s: float) -> dict:
    """Write the plan (GeoPackage and/or store) and fill the dataset's row."""
    from .io import write_plan
    from .metrics import INFEASIBLE_REASONS, grids
    t = time.perf_counter()
    layer = grids(ds, run.plan)
    out = version = None
    if output.out_dir is not None:
        out = str(write_plan(ds, run.plan, Path(output.out_dir) / f"{name}.gpkg", grid_layer=layer,
                             coord_system=output.out_coord_system))
    if output.store is not None:
        from .store import open_store
        st = open_store(_city_store(output.store, name), create=True)
        try:
            assert output.user is not None   # partition_many asks for a user with a store
            version = st.save(run.plan, name=output.version_name, user=output.user, dataset=ds, grids=layer)
        finally:
            st.close()
    b = ds.buildings
    hh = pd.to_numeric(b["households"], errors="coerce").fillna(0).sum() if "households" in b.columns else 0
    row.update({"buildings": len(b), "households": int(hh), "communities": len(run.communities),
                "grids": int(len(layer)), "compliant_grids": int(layer["compliant"].sum()),
                "infeasible_grids": int(layer["reason"].isin(list(INFEASIBLE_REASONS)).sum()),
                "budget_reached": bool(run.budget_reached), "out": out, "store_version": version,
                "workers": run.workers, "prepare_seconds": prepare_s, "solve_seconds": solve_s,
                "finish_seconds": time.perf_counter() - t, "error": None})
    return row


def _internal(name: str, row: dict, e: Exception) -> dict:
    """A dataset that hit an unexpected error: logged with its traceback, reported in its row, and
    the other datasets go on (a province run does not stop at one county)."""
    log.exception("%s: unexpected error", name)
    row["error"] = (f"内部错误 / internal error ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}); "
                    "the other datasets were partitioned — please report this dataset")
    return row


def _one_city(name: str, path, read_options: dict | None, opts: dict, n_jobs, output: _Output):
    """Load, prepare, partition and write one dataset here: ``(row, plan or None)``."""
    ds, row = _load(name, path, read_options)
    if ds is None:
        return row, None
    try:
        t = time.perf_counter()
        _context(ds)  # cells and adjacency (kept in the dataset's cache for the solve)
        prep = time.perf_counter() - t
        run = partition_run(ds, n_jobs=n_jobs, **opts)
        row = _finish(name, ds, run, row, output, run.seconds, prep)
    except GridplanError as e:
        row["error"] = str(e)
        return row, None
    except Exception as e:  # noqa: BLE001 - see _internal
        return _internal(name, row, e), None
    return row, (run.plan if output.keep_plan else None)


def _city_remote(name: str, path: str, read_options: dict | None, opts: dict, output: _Output):
    """One whole dataset as one task on a worker (city-task mode): it reads the dataset and writes
    the plan itself, so ``path`` and ``output.out_dir`` must be the same paths there."""
    from .cluster import _worker_address
    if not Path(path).exists():
        return {"path": path, "error": f"{path} does not exist on worker {_worker_address()} / 工作进程上没有该路径: "
                                       "city tasks need the datasets on a folder every worker sees at the same path"}, None
    row, plan = _one_city(name, path, read_options, opts, 1, output)
    row["worker"] = _worker_address()
    return row, None if plan is None else plan.assignment


def partition_many(*sources, out_dir=None, store=None, user: str | None = None, version_name: str | None = None,
                   rule: Rule | None = None, seed: int = 0, code_width: int = 2, time_limit_s: float = TIME_LIMIT_S,
                   work_per_building: float = WORK_PER_BUILDING, n_jobs: int | None = None, client=None,
                   scheduler: str | None = None, connect_timeout_s: float | None = None, progress: bool = False,
                   read_options: dict | None = None, out_coord_system: str = "input", keep_plans: bool = False,
                   max_in_flight: int | None = None, city_tasks: bool = False) -> ProvinceRun:
    """Partition every dataset of ``sources`` (see :func:`find_datasets`) and write the plans.

    Parameters
    ----------
    sources
        Folders of datasets, dataset folders or dataset GeoPackages.
    out_dir
        Write ``OUT_DIR/<name>.gpkg`` per dataset (layers ``assignment``, ``grids``, ``plan_info``,
        as ``gridplan partition --out``).
    store, user, version_name
        Also save every plan as a version named ``version_name`` (default: the date) by ``user``:
        ``store`` is a ``postgresql://`` URL (each dataset in a schema of its own, created if
        missing; see :func:`gridplan.store.schema_url`) or a folder of GeoPackage stores.
    rule, seed, code_width, time_limit_s, work_per_building, n_jobs
        As :func:`gridplan.partition` (the same for every dataset).
    client, scheduler, connect_timeout_s
        Solve on a Dask cluster (:mod:`gridplan.cluster`); ``n_jobs`` is then ignored.
    progress
        Show a progress bar on stderr.
    read_options
        Keyword arguments of :func:`gridplan.io.read_dataset` (``coord_system``, ``column_map`` …).
    keep_plans
        Return the plans in :attr:`ProvinceRun.plans`.
    max_in_flight
        On a cluster, datasets submitted but not yet written (default: 2 plus one per 8 workers).
    city_tasks
        On a cluster, make every dataset one task: the workers read the datasets, partition them
        and write the plans themselves, so nothing is left to this process (it scales with the
        number of datasets), but every worker must see the datasets and ``out_dir`` (or a folder
        store) at the same paths (a shared folder), and reach a database store. Default: the
        communities are the tasks, and the data stays here.
    """
    if out_dir is None and store is None and not keep_plans:
        raise ValueError("give out_dir and/or store: the plans must go somewhere")
    if store is not None and not user:
        raise ValueError("saving to a store needs the user who saves (user=…, --user)")
    cities = find_datasets(*sources)
    rule = rule or Rule()
    version_name = version_name or f"全省划分 {time.strftime('%Y-%m-%d')}"
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows: dict[str, dict] = {}
    plans: dict[str, Plan] = {}
    opts = dict(rule=rule, seed=seed, code_width=code_width, time_limit_s=time_limit_s,
                work_per_building=work_per_building)
    if store is not None:
        from .store import is_postgres_url
        store = str(store) if is_postgres_url(store) else str(Path(store).resolve())
    output = _Output(out_dir=None if out_dir is None else str(Path(out_dir).resolve()), store=store, user=user,
                     version_name=version_name, out_coord_system=out_coord_system, keep_plan=keep_plans)
    bar = None
    scheduler_addr = shipping = None
    workers_seen: set = set()
    workers_local = 0
    try:
        if client is None and scheduler is None:
            if progress:
                from tqdm import tqdm
                bar = tqdm(total=len(cities), desc="城市 / datasets", unit="city", file=sys.stderr, leave=False)
            for name, path in cities:
                rows[name], plan = _one_city(name, path, read_options, opts, n_jobs, output)
                if plan is not None:
                    plans[name] = plan
                workers_local = max(workers_local, rows[name].get("workers") or 0)
                if bar is not None:
                    bar.update(1)
        else:
            from .cluster import CONNECT_TIMEOUT_S, connect
            with connect(scheduler, client, connect_timeout_s=connect_timeout_s or CONNECT_TIMEOUT_S) as c:
                run_on = _city_tasks if city_tasks else _community_tasks
                shipping = run_on(c, cities, rows, plans, opts, output, read_options, progress, max_in_flight,
                                  workers_seen)
                scheduler_addr = str(c.scheduler.address)
    finally:
        if bar is not None:
            bar.close()
    table = pd.DataFrame.from_dict({n: rows.get(n, {"path": str(p)}) for n, p in cities}, orient="index")
    table = table.reindex(columns=CITY_COLUMNS)
    table.index.name = "dataset"
    return ProvinceRun(cities=table, seconds=time.perf_counter() - t0,
                       workers=len(workers_seen) if scheduler_addr else workers_local, scheduler=scheduler_addr,
                       shipping=shipping, plans=plans)


def _community_tasks(c, cities, rows, plans, opts, output, read_options, progress, max_in_flight, workers_seen) -> dict:
    """Communities as tasks: this process loads, prepares and writes; the workers solve."""
    from .cluster import ClusterPartitioner
    n_workers = max(len(c.scheduler_info().get("workers", {})), 1)
    window = max_in_flight or 2 + n_workers // 8
    cp = ClusterPartitioner(c, progress=progress)
    todo = iter(cities)
    totals = {"tasks": 0, "bytes_scattered": 0, "bytes_task_args": 0, "bytes_task_results": 0, "retries": 0,
              "task_seconds": 0.0}
    longest = 0.0

    def submit_next() -> bool:
        for name, path in todo:
            ds, rows[name] = _load(name, path, read_options)
            if ds is not None:
                cp.submit(ds, key=name, **opts)
                return True
        return False

    try:
        in_flight = 0
        while in_flight < window and submit_next():
            in_flight += 1
        for cj in cp.completed():
            if submit_next():  # keep the workers busy before writing this one
                in_flight += 1
            in_flight -= 1
            run = cp.finish(cj)
            sh = run.shipping
            assert sh is not None   # a run on the cluster
            for k in totals:
                totals[k] += sh[k]
            longest = max(longest, sh["task_seconds_max"])
            workers_seen.update(sh["worker_addresses"])
            try:
                rows[cj.key] = _finish(cj.key, cj.dataset, run, rows[cj.key], output, sh["task_seconds"],
                                       sh["prepare_seconds"])
            except GridplanError as e:
                rows[cj.key]["error"] = str(e)
                continue
            except Exception as e:  # noqa: BLE001 - see _internal
                _internal(cj.key, rows[cj.key], e)
                continue
            if output.keep_plan:
                plans[cj.key] = run.plan
    finally:
        cp.close()
    n = max(totals["tasks"], 1)
    return {**totals, "task_seconds": round(totals["task_seconds"], 3), "task_seconds_max": longest,
            "bytes_per_task": round((totals["bytes_task_args"] + totals["bytes_task_results"]) / n),
            "max_in_flight": window, "tasks_are": "communities"}


def _city_tasks(c, cities, rows, plans, opts, output, read_options, progress, max_in_flight, workers_seen) -> dict:
    """Whole datasets as tasks: the workers read, prepare, solve and write (a shared folder)."""
    from distributed import as_completed

    from .cluster import _size
    from .model import Plan as _Plan
    futures, futs, args_b, res_b = {}, [], 0, 0
    for name, path in cities:
        args = (name, str(Path(path).resolve()), read_options, opts, output)
        args_b += _size((_city_remote, args))
        f = c.submit(_city_remote, *args, key=f"gridplan-city-{name}-{uuid.uuid4().hex[:8]}", pure=False)
        futures[f.key] = name
        futs.append(f)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(futures), desc="城市 / datasets", unit="city", file=sys.stderr, leave=False)
    longest = 0.0
    try:
        for f in as_completed(futs):
            name = futures[f.key]
            row, assignment = f.result()
            res_b += _size((row, assignment))
            rows[name] = row
            if row.get("worker"):
                workers_seen.add(row["worker"])
            secs = sum(row.get(k) or 0.0 for k in ("load_seconds", "prepare_seconds", "solve_seconds",
                                                    "finish_seconds"))
            longest = max(longest, secs)
            if assignment is not None:
                plans[name] = _Plan(assignment, rule=opts["rule"], label=f"partition (seed {opts['seed']})")
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    del futs
    n = max(len(futures), 1)
    return {"tasks": len(futures), "bytes_scattered": 0, "bytes_task_args": args_b, "bytes_task_results": res_b,
            "bytes_per_task": round((args_b + res_b) / n), "retries": 0, "task_seconds_max": longest,
            "tasks_are": "datasets"}
