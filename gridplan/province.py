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
from dataclasses import dataclass, field
from pathlib import Path

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
        return self.cities[self.cities["error"].notna()]

    def summary(self) -> dict:
        ok = self.cities[self.cities["error"].isna()]
        out = {"datasets": int(len(self.cities)), "failed": int(len(self.failed)),
               "buildings": int(ok["buildings"].sum()), "households": int(ok["households"].sum()),
               "communities": int(ok["communities"].sum()), "grids": int(ok["grids"].sum()),
               "compliant_grids": int(ok["compliant_grids"].sum()),
               "infeasible_grids": int(ok["infeasible_grids"].sum()),
               "budget_reached": bool(ok["budget_reached"].astype(bool).any()) if len(ok) else False,
               "workers": self.workers, "seconds": round(self.seconds, 3)}
        if self.scheduler is not None:
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


def partition_many(*sources, out_dir=None, store=None, user: str | None = None, version_name: str | None = None,
                   rule: Rule | None = None, seed: int = 0, code_width: int = 2, time_limit_s: float = TIME_LIMIT_S,
                   work_per_building: float = WORK_PER_BUILDING, n_jobs: int | None = None, client=None,
                   scheduler: str | None = None, connect_timeout_s: float | None = None, progress: bool = False,
                   read_options: dict | None = None, out_coord_system: str = "input", keep_plans: bool = False,
                   max_in_flight: int | None = None) -> ProvinceRun:
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

    def load(name, path):
        from .io import read_dataset
        t = time.perf_counter()
        try:
            ds = read_dataset(path, name=name, **(read_options or {}))
        except (GridplanError, OSError, ValueError) as e:
            log.error("%s: %s", name, e)
            rows[name] = {"path": str(path), "error": str(e)}
            return None
        rows[name] = {"path": str(path), "load_seconds": time.perf_counter() - t}
        return ds

    def finish(name, ds: Dataset, run: PartitionRun, solve_s: float, prepare_s: float):
        from .io import write_plan
        from .metrics import grids
        t = time.perf_counter()
        layer = grids(ds, run.plan)
        row = rows[name]
        out = version = None
        if out_dir is not None:
            out = str(write_plan(ds, run.plan, Path(out_dir) / f"{name}.gpkg", grid_layer=layer,
                                 coord_system=out_coord_system))
        if store is not None:
            from .store import open_store
            st = open_store(_city_store(store, name), create=True)
            try:
                version = st.save(run.plan, name=version_name, user=user, dataset=ds, grids=layer)
            finally:
                st.close()
        hh = pd.to_numeric(ds.buildings["households"], errors="coerce").fillna(0).sum() \
            if "households" in ds.buildings.columns else 0
        infeasible = 0
        if "reason" in layer.columns:
            from .metrics import INFEASIBLE_REASONS
            infeasible = int(layer["reason"].isin(list(INFEASIBLE_REASONS)).sum())
        row.update({"buildings": len(ds.buildings), "households": int(hh), "communities": len(run.communities),
                    "grids": int(len(layer)), "compliant_grids": int(layer["compliant"].sum()),
                    "infeasible_grids": infeasible, "budget_reached": bool(run.budget_reached), "out": out,
                    "store_version": version, "workers": run.workers, "prepare_seconds": prepare_s,
                    "solve_seconds": solve_s, "finish_seconds": time.perf_counter() - t, "error": None})
        if keep_plans:
            plans[name] = run.plan

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
                ds = load(name, path)
                if ds is not None:
                    t = time.perf_counter()
                    _context(ds)  # cells and adjacency (kept in the dataset's cache for the solve)
                    prep = time.perf_counter() - t
                    run = partition_run(ds, n_jobs=n_jobs, **opts)
                    workers_local = max(workers_local, run.workers)
                    finish(name, ds, run, run.seconds, prep)
                if bar is not None:
                    bar.update(1)
        else:
            from .cluster import CONNECT_TIMEOUT_S, ClusterPartitioner, connect
            with connect(scheduler, client, connect_timeout_s=connect_timeout_s or CONNECT_TIMEOUT_S) as c:
                n_workers = max(len(c.scheduler_info().get("workers", {})), 1)
                window = max_in_flight or 2 + n_workers // 8
                cp = ClusterPartitioner(c, progress=progress)
                todo = iter(cities)
                totals = {"tasks": 0, "bytes_scattered": 0, "bytes_task_args": 0, "bytes_task_results": 0,
                          "retries": 0, "task_seconds": 0.0}

                def submit_next() -> bool:
                    for name, path in todo:
                        ds = load(name, path)
                        if ds is not None:
                            cp.submit(ds, key=name, **opts)
                            return True
                    return False

                in_flight, longest = 0, 0.0
                while in_flight < window and submit_next():
                    in_flight += 1
                for cj in cp.completed():
                    if submit_next():  # keep the workers busy before writing this one
                        in_flight += 1
                    in_flight -= 1
                    run = cp.finish(cj)
                    sh = run.shipping
                    for k in totals:
                        totals[k] += sh[k]
                    longest = max(longest, sh["task_seconds_max"])
                    workers_seen.update(sh["worker_addresses"])
                    finish(cj.key, cj.dataset, run, sh["task_seconds"], sh["prepare_seconds"])
                cp.close()
                scheduler_addr = str(c.scheduler.address)
                n = max(totals["tasks"], 1)
                shipping = {**totals, "task_seconds": round(totals["task_seconds"], 3),
                            "bytes_per_task": round((totals["bytes_task_args"] + totals["bytes_task_results"]) / n),
                            "task_seconds_max": longest, "max_in_flight": window}
    finally:
        if bar is not None:
            bar.close()
    table = pd.DataFrame.from_dict({n: rows.get(n, {"path": str(p)}) for n, p in cities}, orient="index")
    table = table.reindex(columns=CITY_COLUMNS)
    table.index.name = "dataset"
    return ProvinceRun(cities=table, seconds=time.perf_counter() - t0,
                       workers=len(workers_seen) if scheduler_addr else workers_local, scheduler=scheduler_addr,
                       shipping=shipping, plans=plans)
