"""The party chain on the command line: grid staff, 郁心站 per grid, mobile stops, 党员中心户, 三无 → 三有.

``gridplan staff DATASET STAFF.csv|xlsx --plan PLAN.gpkg [--from-plan OLD.gpkg] [--max-grids N]
[--out STAFF_OUT.csv] [--include-personal] [--json]`` — load and check a staff list against a plan
(with ``--from-plan`` the staff first follow the grids from the old plan to the new one).

``gridplan grid-stations DATASET --plan PLAN.gpkg [--within-m M] [--out FILE.gpkg] [--json]`` — grids
without a 郁心站 and the best building for one in each (JSON keys ``grids``,
``grids_without_station``, ``suggestions`` [``grid_id``, ``building_id``, ``mean_walk_m``]).

``gridplan mobile DATASET [--plan PLAN.gpkg] [--schedule FILE] [--minutes 5] [--json]`` — households
the 流动郁心站 reach per weekday.

``gridplan party-chain DATASET [--plan PLAN.gpkg] [--per 15] [--out FILE.csv|.xlsx] [--json]`` — the
five-level chain and the 党员中心户 need.

``gridplan sanwu-progress DATASET --since DATE [--until DATE] [--chart FILE.png] [--json]`` — 三无小区
since a date.

Exit status 0 on success, 1 on bad input (a bad staff or schedule file, with every problem), 2 on bad
usage.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ._common import EXIT_OK, UsageError, add_dataset_options, emit, load


def register(sub) -> None:
    """Register ``staff``, ``grid-stations``, ``mobile``, ``party-chain`` and ``sanwu-progress``."""
    p = sub.add_parser("staff", help="check a grid staff list (网格长/网格员) against a plan")
    add_dataset_options(p)
    p.add_argument("staff", help="the staff list: CSV (UTF-8 or GBK) or Excel (.xlsx)")
    p.add_argument("--plan", required=True, help="the plan GeoPackage the staff serve")
    p.add_argument("--from-plan", default=None, help="the plan the staff list was made for: staff follow their grids "
                   "from it to --plan first")
    p.add_argument("--max-grids", type=int, default=1, help="grids one person may lead (default 1)")
    p.add_argument("--out", default=None, help="write the (followed) staff list to this .csv/.xlsx")
    p.add_argument("--include-personal", action="store_true", help="full phone numbers in --out (internal use)")
    p.set_defaults(func=cmd_staff)

    p = sub.add_parser("grid-stations", help="grids without a 郁心站 and the best site in each")
    add_dataset_options(p)
    p.add_argument("--plan", required=True, help="the plan GeoPackage")
    p.add_argument("--within-m", type=float, default=0.0,
                   help="a 郁心站 outside a grid also serves it when its households walk on average at most this "
                        "many metres to it (default 0: only stations inside count)")
    p.add_argument("--max-snap-m", type=float, default=300.0)
    p.add_argument("--out", default=None, help="GeoPackage with layers grid_station_status, suggested_grid_stations "
                   "and stations_adopted (the stations with every suggestion adopted)")
    p.set_defaults(func=cmd_grid_stations)

    p = sub.add_parser("mobile", help="households the 流动郁心站 reach, per weekday")
    add_dataset_options(p)
    p.add_argument("--plan", default=None, help="a plan GeoPackage for figures per grid")
    p.add_argument("--schedule", default=None, help="the schedule (CSV/Excel: 站点编号, 星期, 开始时间, 结束时间); "
                   "default: such columns on the stations layer")
    p.add_argument("--minutes", type=float, default=5.0, help="walk that counts as reached (default 5)")
    p.add_argument("--speed-kmh", default="4", help="walking speed in km/h or 'elderly' (default 4)")
    p.set_defaults(func=cmd_mobile)

    p = sub.add_parser("party-chain", help="the five-level party chain and the 党员中心户 needed")
    add_dataset_options(p)
    p.add_argument("--plan", default=None, help="a plan GeoPackage for figures per grid")
    p.add_argument("--per", type=int, default=15, help="households per 党员中心户 (default 15)")
    p.add_argument("--out", default=None, help="write the chain as .csv or .xlsx")
    p.add_argument("--include-personal", action="store_true", help="party members per node in --out (internal use)")
    p.set_defaults(func=cmd_party_chain)

    p = sub.add_parser("sanwu-progress", help="三无小区 since a date: which became 三有, which remain")
    add_dataset_options(p)
    p.add_argument("--since", required=True, help="the start date, e.g. 2024-01-01")
    p.add_argument("--until", default=None, help="the end date (default today)")
    p.add_argument("--history", default=None, help="the status history (default: compound_status.csv of the dataset)")
    p.add_argument("--chart", default=None, help="write the progress chart to this .png/.pdf")
    p.set_defaults(func=cmd_sanwu_progress)


def _date(text, option: str):
    from ..sanwu import _to_date
    d = _to_date(text)
    if d is None:
        raise UsageError(f"{option} takes a date such as 2024-01-01, got {text!r}")
    return d


def _check_suffix(path, option: str, suffixes: tuple[str, ...]) -> None:
    """A usage error (exit 2) unless ``path`` is unset or ends with one of ``suffixes``."""
    if path and Path(path).suffix.lower() not in suffixes:
        raise UsageError(f"{option} must be a {' or '.join(suffixes)} file")


def _plan(args, ds, option="plan"):
    from ..io import read_plan
    path = getattr(args, option)
    return read_plan(path, ds) if path else None


# --------------------------------------------------------------------------- staff
def cmd_staff(args) -> int:
    """``gridplan staff``: check a grid staff list against a plan; return the exit code."""
    from ..staff import read_staff, staff_sheet
    t0 = time.perf_counter()
    if args.max_grids < 1:
        raise UsageError("--max-grids must be at least 1")
    _check_suffix(args.out, "--out", (".csv", ".xlsx"))
    ds = load(args)
    plan = _plan(args, ds)
    staff = read_staff(args.staff, dataset=ds)
    if args.from_plan:
        staff = staff.follow(_plan(args, ds, "from_plan"), plan)
    v = staff.check(plan, max_grids_per_leader=args.max_grids)
    t = staff.table
    lead = t[t["role"].eq("leader") & t["grid_id"].isin(plan.grid_ids)].groupby("grid_id")["person_id"].nunique()
    wg = staff.without_grid()
    files = []
    if args.out:
        from .._atomic import atomic_path
        from ..export import _plain_text, _write_xlsx
        sheet = staff_sheet(staff, include_personal=args.include_personal)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            if out.suffix.lower() == ".csv":
                _plain_text(sheet).to_csv(tmp, index=False, encoding="utf-8-sig")
            else:
                _write_xlsx({"网格员": sheet}, tmp, title="网格员")
        files.append(str(out))
    payload: dict[str, Any] = {"persons": int(t["person_id"].nunique()), "duties": int(len(t)), "grids": len(plan.grid_ids),
               "grids_with_one_leader": int((lead == 1).sum()), "violations": [
                   {k: (None if r[k] != r[k] else r[k]) for k in ("code", "grid_id", "name", "message")}
                   for r in v.to_dict("records")],
               "without_grid": [{"name": r["name"], "reason": r["reason"], "previous_grid_id": r["previous_grid_id"]}
                                for r in wg.to_dict("records")],
               "problems": [p.as_dict() for p in staff.problems], "files": files,
               "seconds": round(time.perf_counter() - t0, 3)}
    lines = [f"网格员 / staff: {payload['persons']} 人 persons, {payload['duties']} 条职责 duties; "
             f"{payload['grids_with_one_leader']} / {payload['grids']} 个网格有且仅有一名网格长 have exactly one leader"]
    lines += [f"  ! {r['message']}" for r in payload["violations"]]
    lines += [f"  ~ {p}" for p in staff.problems]
    lines += [f"→ {f}" for f in files]
    emit(args, payload, "\n".join(lines))
    return EXIT_OK


# --------------------------------------------------------------------------- 郁心站
def cmd_grid_stations(args) -> int:
    """``gridplan grid-stations``: grids without a 郁心站 and the best site in each; return the exit code."""
    from ..gridstations import adopt_grid_stations, grid_station_status, suggest_grid_stations
    from ..metrics import grids as grid_layer
    t0 = time.perf_counter()
    if not args.within_m >= 0:
        raise UsageError("--within-m must be ≥ 0 metres")
    if args.out and Path(args.out).suffix.lower() != ".gpkg":
        raise UsageError("--out must be a .gpkg file")
    ds = load(args)
    plan = _plan(args, ds)
    grids = grid_layer(ds, plan)
    status = grid_station_status(ds, plan, grids=grids, within_m=args.within_m, max_snap_m=args.max_snap_m)
    missing = status.index[~status["has_station"].to_numpy(dtype=bool)].tolist()
    sug = suggest_grid_stations(ds, plan, grid_ids=missing, max_snap_m=args.max_snap_m)
    files = []
    if args.out:
        from ..io import write_layers
        adopted = adopt_grid_stations(ds, sug)
        write_layers({"grid_station_status": status.reset_index(), "suggested_grid_stations": sug.reset_index(),
                      "stations_adopted": adopted.reset_index()}, args.out, dataset=ds)
        files.append(str(args.out))
    payload = {"grids": int(len(status)), "grids_without_station": len(missing), "within_m": args.within_m,
               "suggestions": [{"grid_id": g, "building_id": r["building_id"], "mean_walk_m": round(r["mean_walk_m"], 1),
                                "centre_building_id": r["centre_building_id"],
                                "centre_mean_walk_m": round(r["centre_mean_walk_m"], 1)}
                               for g, r in sug.iterrows()],
               "centre_excess_pct": round(float(sug.attrs.get("centre_excess_pct", 0.0)), 2), "files": files,
               "seconds": round(time.perf_counter() - t0, 3)}
    lines = [f"郁心站 / grid stations: {len(missing)} / {len(status)} 个网格没有 grids without one"
             + (f" (户均步行 {args.within_m:g} 米内也算 / within a mean walk of {args.within_m:g} m)" if args.within_m else "")]
    for s in payload["suggestions"]:
        lines.append(f"  {s['grid_id']}: 建议设在楼栋 suggest building {s['building_id']}，户均步行 mean walk "
                     f"{s['mean_walk_m']:.0f} m（直线中心 straight-line centre {s['centre_mean_walk_m']:.0f} m）")
    if payload["suggestions"]:
        lines.append(f"直线中心的户均步行距离长 {payload['centre_excess_pct']:.1f}% / the straight-line centres make "
                     f"households walk {payload['centre_excess_pct']:.1f}% further")
    lines += [f"→ {f}" for f in files]
    emit(args, payload, "\n".join(lines))
    return EXIT_OK


# --------------------------------------------------------------------------- mobile stops
def cmd_mobile(args) -> int:
    """``gridplan mobile``: households the 流动郁心站 reach, per weekday; return the exit code."""
    from ..mobile import WEEKDAYS_ZH, mobile_coverage, read_schedule
    from ..reach import parse_speed
    from ._common import parse_or_usage
    t0 = time.perf_counter()
    speed = parse_or_usage(parse_speed, args.speed_kmh)
    if not args.minutes > 0:
        raise UsageError("--minutes must be positive")
    ds = load(args)
    plan = _plan(args, ds)
    sched = read_schedule(args.schedule, stations=ds.stations) if args.schedule else None
    try:
        mc = mobile_coverage(ds, plan, schedule=sched, minutes=args.minutes, speed_kmh=speed)
    except ValueError as e:
        raise UsageError(str(e)) from None
    payload = {**mc.summary(), "stops": [{"station_id": s, "name": r["name"], "weekdays": r["weekdays"],
                                          "windows": r["windows"], "households": int(r["households"])}
                                         for s, r in mc.by_station.iterrows()],
               "problems": [p.as_dict() for p in mc.problems], "seconds": round(time.perf_counter() - t0, 3)}
    if mc.by_grid is not None:
        payload["grids_reached"] = int((mc.by_grid["households_any"] > 0).sum())
    lines = [f"流动郁心站 / mobile stops: {len(mc.by_station)}，步行 {args.minutes:g} 分钟内 / within {args.minutes:g} min: "
             f"{payload['households_any']} / {payload['households']} 户 households on some day"]
    lines.append("  " + "  ".join(f"{WEEKDAYS_ZH[d - 1]} {int(r['households'])}" for d, r in mc.by_weekday.iterrows()))
    lines += [f"  {s['station_id']} {s['name']}: {s['windows']} → {s['households']} 户" for s in payload["stops"]]
    emit(args, payload, "\n".join(lines))
    return EXIT_OK


# --------------------------------------------------------------------------- the chain
def cmd_party_chain(args) -> int:
    """``gridplan party-chain``: the five-level chain and the 党员中心户 needed; return the exit code."""
    from ..chain import central_household_need, party_chain
    t0 = time.perf_counter()
    if args.per < 1:
        raise UsageError("--per must be at least 1")
    _check_suffix(args.out, "--out", (".csv", ".xlsx"))
    ds = load(args)
    plan = _plan(args, ds)
    need = central_household_need(ds, plan, households_per_central=args.per)
    pc = party_chain(ds, plan, households_per_central=args.per)
    files = []
    if args.out:
        from .._atomic import atomic_path
        from ..export import _plain_text, _write_xlsx
        from ..i18n import column
        table = pc if args.include_personal else pc.drop(columns=["party_members", "central_designated"])
        table = table.rename(columns={c: column(c, "zh") for c in ("households", "persons", "buildings",
                                                                   "central_need", "central_designated", "grid_id")})
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            if out.suffix.lower() == ".csv":
                _plain_text(table).to_csv(tmp, index=False, encoding="utf-8-sig")
            else:
                _write_xlsx({"五级组织": table}, tmp, title="党建五级组织")
        files.append(str(out))
    levels = {str(k): int(v) for k, v in pc["level"].value_counts().sort_index().items()}
    payload = {"levels": levels, **need.summary(), "files": files, "seconds": round(time.perf_counter() - t0, 3)}
    lines = [f"五级组织 / party chain: 街道 {levels.get('1', 0)} · 社区 {levels.get('2', 0)} · 小区 {levels.get('3', 0)} · "
             f"楼栋 {levels.get('4', 0)} · 中心户 {levels.get('5', 0)}",
             f"党员中心户 / party-member households: 每 {args.per} 户 1 名，共需 {payload['need']} 名 needed; "
             f"党员不足的楼栋 buildings short: {payload['buildings_short']}"
             + (f"; 网格 grids short: {payload['grids_short']} / {payload['grids']}" if "grids" in payload else "")]
    lines += [f"→ {f}" for f in files]
    emit(args, payload, "\n".join(lines))
    return EXIT_OK


# --------------------------------------------------------------------------- 三无 → 三有
def cmd_sanwu_progress(args) -> int:
    """``gridplan sanwu-progress``: 三无小区 since a date, which became 三有; return the exit code."""
    from ..sanwu import plot_sanwu_progress, read_compound_status, sanwu_progress
    t0 = time.perf_counter()
    since = _date(args.since, "--since")
    until = _date(args.until, "--until") if args.until else None
    if until is not None and until < since:
        raise UsageError("--until is before --since")
    _check_suffix(args.chart, "--chart", (".png", ".pdf"))
    ds = load(args)
    history = read_compound_status(args.history, compounds=ds.compounds) if args.history else None
    if history is None and ds.compound_status is None:
        from .._errors import Problem, ValidationError
        raise ValidationError([Problem("error", "compound_status", None, "the dataset has no compound_status.csv "
                                       "(the dated 三无/三有 history) / 缺少小区状态记录",
                                       "add compound_status.csv to the dataset folder or give --history FILE",
                                       "missing_layer")])
    pr = sanwu_progress(ds, since, until=until, history=history)
    files = []
    if args.chart:
        from .._atomic import atomic_path
        fig = plot_sanwu_progress(ds, since, until=until, history=history)
        out = Path(args.chart)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format=out.suffix[1:].lower(), dpi=120)
        files.append(str(out))
    cohort = pr[pr["status_since"] == "sanwu"]
    payload = {**pr.attrs, "sanyou": sorted(cohort.index[cohort["status_now"] == "sanyou"].tolist()),
               "remaining": sorted(cohort.index[cohort["status_now"] == "sanwu"].tolist()),
               "red_property_compounds": sorted(cohort.index[cohort["red_property"]].tolist()), "files": files,
               "seconds": round(time.perf_counter() - t0, 3)}
    a = pr.attrs
    lines = [f"三无小区 / three-none compounds on {a['since']}: {a['sanwu_since']}; by {a['until']}: 三有 {a['became_sanyou']}, "
             f"部分具备 partly {a['partial']}, 仍为三无 still {a['remain']}; 红色物业 red property {a['red_property']}"]
    lines += [f"→ {f}" for f in files]
    emit(args, payload, "\n".join(lines))
    return EXIT_OK
