"""``gridplan partition DATASET --out PLAN.gpkg [rule options] [--json]`` (SPEC §7)."""
from __future__ import annotations

import argparse
import time

from ._common import (
    EXIT_OK,
    UsageError,
    add_dataset_options,
    add_output_options,
    add_scheduler_options,
    cluster_options,
    emit,
    load,
)


def add_rule_options(p: argparse.ArgumentParser) -> None:
    """The size rule, seed, code width and search budget options (``partition``, ``partition-many``)."""
    p.add_argument("--min-households", type=int, default=300)
    p.add_argument("--max-households", type=int, default=500)
    p.add_argument("--min-persons", type=int, default=1000)
    p.add_argument("--max-persons", type=int, default=1500)
    p.add_argument("--mode", choices=["either", "households", "persons", "both"], default="either",
                   help="which bounds a grid must meet (default: either)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--code-width", type=int, choices=[2, 3], default=2, help="digits of the grid serial")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help="wall-clock safety cap (default 120); the search is budgeted in work units, so the "
                        "plan does not depend on it unless it fires (then JSON budget_reached is true)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="worker processes (default: automatic); the plan is the same for every N")
    p.add_argument("--work-per-building", type=float, default=None, metavar="UNITS",
                   help="work budget per building (unit moves evaluated; default 3000)")


def register(subparsers) -> argparse.ArgumentParser:
    """Register the ``partition`` subcommand."""
    p = subparsers.add_parser("partition", help="cut every community into grids that meet the size rule")
    add_dataset_options(p)
    p.add_argument("--out", required=True, help="the plan GeoPackage to write (layers assignment, grids)")
    add_output_options(p)
    add_rule_options(p)
    p.add_argument("--community", action="append", default=None, metavar="ID",
                   help="only partition this community (repeatable)")
    add_scheduler_options(p)
    p.set_defaults(func=cmd_partition)
    return p


def rule_options(args) -> dict:
    """``rule``, ``seed``, ``code_width``, ``time_limit_s``, ``n_jobs``, ``work_per_building`` from the
    command line (UsageError on bad values)."""
    from ..engine import TIME_LIMIT_S, WORK_PER_BUILDING
    from ..model import Rule
    try:
        rule = Rule(min_households=args.min_households, max_households=args.max_households,
                    min_persons=args.min_persons, max_persons=args.max_persons, mode=args.mode)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs takes a number of worker processes ≥ 1, got {args.jobs}")
    if args.time_limit is not None and not args.time_limit > 0:
        raise UsageError(f"--time-limit takes seconds > 0, got {args.time_limit}")
    if args.work_per_building is not None and not args.work_per_building >= 0:
        raise UsageError(f"--work-per-building takes a number ≥ 0, got {args.work_per_building}")
    if args.jobs is not None and getattr(args, "scheduler", None):
        raise UsageError("--jobs and --scheduler exclude each other (the cluster's workers do the work)")
    return {"rule": rule, "seed": args.seed, "code_width": args.code_width,
            "time_limit_s": TIME_LIMIT_S if args.time_limit is None else args.time_limit, "n_jobs": args.jobs,
            "work_per_building": WORK_PER_BUILDING if args.work_per_building is None else args.work_per_building}


def cmd_partition(args) -> int:
    """Run the partition and write the plan; returns the exit status."""
    from ..engine import partition_run
    from ..io import write_plan
    from ..metrics import grids, plan_summary

    opts = rule_options(args)
    copts = cluster_options(args)
    t0 = time.perf_counter()
    dataset = load(args)
    t_load = time.perf_counter()
    if copts:
        from ..cluster import partition_on_cluster
        opts.pop("n_jobs")
        run = partition_on_cluster(dataset, communities=args.community, **opts, **copts)
    else:
        run = partition_run(dataset, communities=args.community, **opts)
    plan = run.plan
    t_part = time.perf_counter()
    layer = grids(dataset, plan)
    table = layer.drop(columns=["geometry", "note"])
    out = write_plan(dataset, plan, args.out, grid_layer=layer, coord_system=args.out_coord_system)
    summary = plan_summary(dataset, plan)
    for cid, row in run.communities.iterrows():
        summary["communities"].setdefault(str(cid), {}).update(
            {"grids": int(row["grids"]), "work": int(row["work"]), "budget_reached": bool(row["budget_reached"])})
    payload = {**summary, "budget_reached": run.budget_reached, "workers": run.workers,
               "seconds": round(time.perf_counter() - t0, 3),
               "partition_seconds": round(t_part - t_load, 3), "out": str(out), "seed": args.seed}
    if run.scheduler is not None and run.shipping is not None:
        payload.update({"scheduler": run.scheduler, "bytes_scattered": run.shipping["bytes_scattered"],
                        "bytes_per_task": run.shipping["bytes_per_task"], "shipping": run.shipping})
    bad = table[~table["compliant"]]
    lines = [
        f"✓ {len(table)} 个网格 / grids, {summary['compliant_grids']} 合规 / compliant, "
        f"{summary['infeasible_grids']} 无法合规 / infeasible, {summary['contiguous_grids']} 连续 / contiguous",
        f"  {summary['households']} 户 / households, {summary['buildings']} 栋 / buildings, "
        f"平均紧凑度 / mean Polsby-Popper {summary['mean_polsby_popper']:.2f}",
        f"  {summary['compounds_split']}/{summary['fitting_compounds']} 个可整体划入的小区被拆分 / fitting compounds "
        f"split ({summary['compounds_split_necessary']} 经检验必须拆分 / proven necessary)",
        f"  {payload['seconds']:.1f} s, {run.workers} 进程 / worker(s)"
        + (f" @ {run.scheduler}" if run.scheduler else "") + f" → {out}",
    ]
    if run.budget_reached:
        lines.append("  ! 计算预算或时间上限提前结束了搜索 / the work budget or the time cap ended a search early")
    for gid, row in bad.head(20).iterrows():
        lines.append(f"  ✗ {gid}: {row['households']} 户 {row['persons']} 人 — {row['reason_text']}")
    if len(bad) > 20:
        lines.append(f"  … {len(bad) - 20} more")
    emit(args, payload, "\n".join(lines))
    return EXIT_OK
