"""``gridplan partition-many SOURCE… --out-dir PLANS [--store URL --user U] [--scheduler …]`` and
``gridplan coverage-many SOURCE… --out-dir COVERAGE [--plans-dir PLANS] [--scheduler …]``.

Partitions every dataset of a province in one command: SOURCE is a folder of datasets (each
sub-folder or ``.gpkg`` a city / county-level unit), a dataset, or several of them. Writes
``PLANS/<name>.gpkg`` per dataset and/or saves each plan to a store (a ``postgresql://`` URL: a
schema per dataset; or a folder of GeoPackage stores). Exit 1 when a dataset could not be read
(the others are still written), with the problems of each.
"""
from __future__ import annotations

import argparse
import time
from typing import Any

from ._common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    UsageError,
    add_output_options,
    add_scheduler_options,
    cluster_options,
    emit,
    parse_column_map,
)
from .partition import add_rule_options, rule_options


def register(subparsers) -> None:
    """Register ``partition-many`` and ``coverage-many``."""
    _add_partition_many(subparsers)
    _add_coverage_many(subparsers)


def _add_coverage_many(subparsers) -> argparse.ArgumentParser:
    from .coverage import add_walk_options
    p = subparsers.add_parser("coverage-many", help="walking coverage of every dataset of a folder (a province)")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="a folder of datasets (sub-folders or .gpkg files), or datasets")
    p.add_argument("--out-dir", required=True, help="write OUT_DIR/<dataset>.gpkg per dataset (as gridplan coverage)")
    p.add_argument("--plans-dir", default=None,
                   help="plans of partition-many (PLANS_DIR/<dataset>.gpkg), for coverage per grid")
    p.add_argument("--no-isochrones", action="store_true", help="skip the display polygons")
    p.add_argument("--coord-system", choices=["wgs84", "gcj02", "bd09"], default=None)
    p.add_argument("--map", dest="column_map", action="append", default=[], metavar="SRC=FIELD")
    add_walk_options(p)
    add_scheduler_options(p, what="the walks (per dataset and connected piece of the network)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a human summary")
    p.set_defaults(func=cmd_coverage_many)
    return p


def cmd_coverage_many(args) -> int:
    """Coverage of every dataset, one GeoPackage each; returns the exit status."""
    import contextlib
    from pathlib import Path

    from .._errors import GridplanError
    from ..io import read_dataset, read_plan
    from ..province import find_datasets
    from ..reach import Coverage
    from .coverage import walk_options, write_coverage
    minutes, speed, kinds = walk_options(args)
    copts = cluster_options(args)
    cities = find_datasets(*args.sources)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    workers, scheduler = set(), None
    opts = {"minutes": minutes, "speed_kmh": speed, "kinds": kinds, "max_snap_m": args.max_snap_m}
    shipped = {"tasks": 0, "bytes_scattered": 0, "bytes_task_args": 0, "bytes_task_results": 0}
    if copts:
        from ..cluster import connect, coverage_on_cluster
        ctx: contextlib.AbstractContextManager = connect(copts["scheduler"],
                                                         connect_timeout_s=copts["connect_timeout_s"])
    else:
        ctx = contextlib.nullcontext(None)
    with ctx as client:
        for name, path in cities:
            row = {"dataset": name, "path": str(path), "error": None}
            rows.append(row)
            try:
                ds = read_dataset(path, name=name, coord_system=args.coord_system,
                                  column_map=parse_column_map(args.column_map))
                plan_path = Path(args.plans_dir) / f"{name}.gpkg" if args.plans_dir else None
                plan = read_plan(plan_path, ds) if plan_path is not None and plan_path.exists() else None
                if client is not None:
                    run = coverage_on_cluster(ds, client=client, plan=plan, progress=copts["progress"], **opts)
                    res = run.result
                    workers.add(run.workers)
                    scheduler = run.scheduler
                    for k in shipped:
                        shipped[k] += run.shipping[k]
                else:
                    res = Coverage(ds, plan=plan, **opts).result()
            except (GridplanError, OSError, ValueError) as e:
                row["error"] = str(e)
                continue
            out = write_coverage(ds, res, out_dir / f"{name}.gpkg", isochrone_layer=not args.no_isochrones)
            s = res.summary()
            row.update({k: s[k] for k in ("stations", "buildings", "households", "covered_households", "pct_households")})
            row.update({"plan": str(plan_path) if plan is not None else None, "out": str(out)})
    failed = [r for r in rows if r["error"]]
    ok = [r for r in rows if not r["error"]]
    payload = {"datasets": len(rows), "failed": len(failed), "buildings": sum(r["buildings"] for r in ok),
               "households": sum(r["households"] for r in ok),
               "covered_households": sum(r["covered_households"] for r in ok),
               "seconds": round(time.perf_counter() - t0, 3), "cities": rows}
    if scheduler is not None:
        n = max(shipped["tasks"], 1)
        payload.update({"scheduler": scheduler, "workers": max(workers) if workers else 0,
                        "bytes_scattered": shipped["bytes_scattered"],
                        "bytes_per_task": round((shipped["bytes_task_args"] + shipped["bytes_task_results"]) / n),
                        "shipping": shipped})
    lines = [f"{'✓' if not failed else '✗'} {len(ok)}/{len(rows)} 个数据集 / datasets: {payload['covered_households']} / "
             f"{payload['households']} 户 households covered; {payload['seconds']:.1f} s"]
    lines += [f"  ✗ {r['dataset']}: {r['error']}" if r["error"] else
              f"  {r['dataset']}: {r['covered_households']} / {r['households']} 户 → {r['out']}" for r in rows]
    emit(args, payload, "\n".join(lines))
    return EXIT_BAD_INPUT if failed else EXIT_OK


def _add_partition_many(subparsers) -> argparse.ArgumentParser:
    """Register the ``partition-many`` subcommand."""
    p = subparsers.add_parser("partition-many", help="partition every dataset of a folder (the cities of a province)")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="a folder of datasets (sub-folders or .gpkg files), or datasets")
    p.add_argument("--out-dir", default=None, help="write OUT_DIR/<dataset>.gpkg per dataset")
    p.add_argument("--store", default=None, metavar="URL",
                   help="also save every plan: postgresql://… (a schema per dataset) or a folder of .gpkg stores")
    p.add_argument("--user", default=None, help="who saves to the store")
    p.add_argument("--name", default=None, help="name of the saved versions (default: 全省划分 <date>)")
    p.add_argument("--coord-system", choices=["wgs84", "gcj02", "bd09"], default=None,
                   help="the data was digitised on Amap/Tencent (gcj02) or Baidu (bd09) maps")
    p.add_argument("--map", dest="column_map", action="append", default=[], metavar="SRC=FIELD",
                   help="map a column by hand, e.g. --map 住户=households (repeatable)")
    add_output_options(p)
    add_rule_options(p)
    add_scheduler_options(p)
    p.add_argument("--city-tasks", action="store_true",
                   help="with --scheduler: one task per dataset; the workers read the datasets and write the plans "
                        "themselves (they must see SOURCE and --out-dir at the same paths: a shared folder), so "
                        "this machine does almost nothing and many datasets scale with the workers")
    p.add_argument("--json", action="store_true", help="print JSON instead of a human summary")
    p.set_defaults(func=cmd_partition_many)
    return p


def cmd_partition_many(args) -> int:
    """Partition every dataset; returns the exit status."""
    from ..province import partition_many
    opts = rule_options(args)
    copts = cluster_options(args)
    if args.out_dir is None and args.store is None:
        raise UsageError("give --out-dir and/or --store: the plans must go somewhere")
    if args.store is not None and not args.user:
        raise UsageError("--store needs --user (who saves the versions)")
    read = {"coord_system": args.coord_system, "column_map": parse_column_map(args.column_map)}
    if args.city_tasks and not copts:
        raise UsageError("--city-tasks needs --scheduler (the datasets become tasks of a Dask cluster)")
    if copts:
        opts.pop("n_jobs")
        copts["city_tasks"] = args.city_tasks
    else:
        import sys
        copts = {"progress": bool(sys.stderr.isatty() and not args.json)}
    t0 = time.perf_counter()
    try:
        run = partition_many(*args.sources, out_dir=args.out_dir, store=args.store, user=args.user,
                             version_name=args.name, read_options=read, out_coord_system=args.out_coord_system,
                             **opts, **copts)
    except ValueError as e:
        raise UsageError(str(e)) from None
    s = run.summary()
    s["seconds"] = round(time.perf_counter() - t0, 3)
    cities = run.cities.reset_index()
    cities = cities.astype(object).where(cities.notna(), None)
    s["cities"] = cities.to_dict(orient="records")
    lines = [f"{'✓' if not s['failed'] else '✗'} {s['datasets'] - s['failed']}/{s['datasets']} 个数据集 / datasets: "
             f"{s['grids']} 个网格 / grids, {s['compliant_grids']} 合规 / compliant, {s['infeasible_grids']} 无法合规 / "
             f"infeasible; {s['households']} 户 / households, {s['buildings']} 栋 / buildings",
             f"  {s['seconds']:.1f} s, {run.workers} 进程 / worker(s)" + (f" @ {run.scheduler}" if run.scheduler else "")]
    if run.scheduler:
        lines.append(f"  已发送 / shipped: {s['bytes_scattered'] / 1e6:.1f} MB scattered, "
                     f"{s['bytes_per_task'] / 1e3:.1f} kB per task")
    for name, r in run.cities.iterrows():
        if r["error"] is not None and r["error"] == r["error"]:
            lines.append(f"  ✗ {name}: {r['error']}")
        else:
            lines.append(f"  {name}: {int(r['grids'])} grids ({int(r['compliant_grids'])} compliant)"
                         + (f" → {r['out']}" if r["out"] else "")
                         + (f", store v{int(r['store_version'])}" if r["store_version"] == r["store_version"]
                            and r["store_version"] is not None else ""))
    emit(args, s, "\n".join(lines))
    return EXIT_BAD_INPUT if s["failed"] else EXIT_OK
