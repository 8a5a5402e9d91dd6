"""``gridplan export poster|html|ledger|data DATASET [--plan PLAN.gpkg] [--out PATH] …`` (SPEC §6, §7).

Without ``--plan`` the dataset is partitioned first (default rule, ``--seed``). ``--coverage``
computes the 15-minute walking coverage of the red stations (needs roads and stations) and adds
it to the poster, map and ledger.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from ._common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    UsageError,
    add_dataset_options,
    add_output_options,
    emit,
    error,
    load,
    parse_or_usage,
)


def register(subparsers) -> argparse.ArgumentParser:
    """Register ``export`` with its four kinds."""
    p = subparsers.add_parser("export", help="posters, interactive HTML, the grid ledger and data files")
    kinds = p.add_subparsers(dest="kind", metavar="KIND")
    kinds.required = True

    def common(sp):
        add_dataset_options(sp)
        sp.add_argument("--plan", default=None, help="a plan GeoPackage (from `gridplan partition`); "
                        "default: partition the dataset now")
        sp.add_argument("--seed", type=int, default=0, help="seed of the partition when no --plan is given")
        sp.add_argument("--out", default=None, help="output file or folder (default: under maps/)")
        sp.add_argument("--lang", choices=["zh", "en"], default="zh")

    def staff(sp):
        sp.add_argument("--staff", default=None, help="a grid staff list (CSV/Excel): name each grid's 网格长 "
                        "(phones masked unless --include-personal)")

    def cov(sp, bands=True):
        sp.add_argument("--coverage", action="store_true", help="compute the 15-minute walking coverage "
                        "(needs roads and stations)")
        sp.add_argument("--minutes", default="5,10,15", help="walking bands in minutes (default 5,10,15)")
        sp.add_argument("--speed-kmh", type=float, default=4.0)
        sp.add_argument("--kinds", default="red_station", help="station kinds that serve (comma-separated)")
        if bands:
            sp.add_argument("--no-bands", action="store_true", help="do not draw the walking bands")

    sp = kinds.add_parser("poster", help="wall poster as PDF and PNG")
    common(sp)
    cov(sp)
    sp.add_argument("--paper", default="A1", choices=["A0", "A1", "A2", "A3", "A4"])
    sp.add_argument("--orientation", default="landscape", choices=["landscape", "portrait"])
    sp.add_argument("--scope", default=None, help="a community id or name, or a street name (default: the whole city)")
    sp.add_argument("--title", default=None)
    sp.add_argument("--dpi", type=int, default=200)
    sp.add_argument("--format", default="pdf,png", help="pdf, png or both (default pdf,png)")
    sp.add_argument("--no-stations", action="store_true")
    staff(sp)
    sp.add_argument("--include-personal", action="store_true", help="full phone numbers of the 网格长 (internal use)")
    sp.set_defaults(func=cmd_export)

    sp = kinds.add_parser("html", help="one self-contained interactive HTML map (works offline)")
    common(sp)
    cov(sp)
    sp.add_argument("--title", default=None)
    sp.add_argument("--include-personal", action="store_true", help="show party-member counts and full phone "
                    "numbers (internal use)")
    staff(sp)
    sp.set_defaults(func=cmd_export)

    sp = kinds.add_parser("ledger", help="the grid ledger (网格台账) as Excel and CSV")
    common(sp)
    cov(sp, bands=False)
    sp.add_argument("--include-personal", action="store_true", help="party members per building (internal use)")
    sp.add_argument("--no-csv", action="store_true", help="write only the Excel file")
    staff(sp)
    sp.add_argument("--max-grids", type=int, default=1, help="grids one person may lead (staff check; default 1)")
    sp.add_argument("--schedule", default=None, help="the 流动郁心站 schedule (CSV/Excel) for the 流动郁心站 sheet")
    sp.add_argument("--mobile-minutes", type=float, default=5.0, help="walk to a mobile stop that counts (default 5)")
    sp.add_argument("--since", default=None, help="start date of the 三无小区治理 sheet (default: the first record)")
    sp.add_argument("--until", default=None, help="end date of the 三无小区治理 sheet (default: today)")
    sp.add_argument("--per-central", type=int, default=15, help="households per 党员中心户 (default 15)")
    sp.set_defaults(func=cmd_export)

    sp = kinds.add_parser("data", help="grid layer and assignment as GeoJSON, GeoPackage, Shapefile")
    common(sp)
    add_output_options(sp)
    sp.add_argument("--formats", default="geojson,gpkg,shp", help="comma-separated: geojson, gpkg, shp")
    sp.add_argument("--include-personal", action="store_true", help="party members per building (internal use)")
    sp.set_defaults(func=cmd_export)
    return p


def cmd_export(args) -> int:
    """Run one export; prints the files written (or JSON with ``--json``)."""
    from ..reach import parse_kinds, parse_minutes

    t0 = time.perf_counter()
    minutes = parse_or_usage(parse_minutes, getattr(args, "minutes", "15"))
    kinds = parse_or_usage(parse_kinds, getattr(args, "kinds", "red_station"))
    if getattr(args, "max_grids", 1) < 1 or getattr(args, "per_central", 15) < 1:
        raise UsageError("--max-grids and --per-central must be at least 1")
    if getattr(args, "mobile_minutes", 5.0) <= 0:
        raise UsageError("--mobile-minutes must be positive")
    for opt in ("since", "until"):
        if getattr(args, opt, None):
            from ..sanwu import _to_date
            if _to_date(args.__dict__[opt]) is None:
                raise UsageError(f"--{opt} takes a date such as 2024-01-01, got {args.__dict__[opt]!r}")
    dataset = load(args)
    try:
        return _run(args, dataset, minutes, kinds, t0)
    except ValueError as e:  # unknown scope, bad format, a plan that does not fit the dataset …
        error(str(e))
        return EXIT_BAD_INPUT


def _run(args, dataset, minutes, kinds, t0) -> int:
    from .. import export
    from ..io import read_plan
    from ..metrics import grids as grid_layer
    from ..sanwu import _to_date

    if args.kind == "poster" and args.scope:
        from ..poster import resolve_scope
        resolve_scope(dataset, args.scope)  # a wrong scope fails before the partition runs
    if args.plan:
        plan = read_plan(args.plan, dataset)
    else:
        from ..engine import partition
        plan = partition(dataset, seed=args.seed)
    grids = grid_layer(dataset, plan)

    cov = iso = None
    if getattr(args, "coverage", False):
        if dataset.roads is None or dataset.stations is None:
            error("--coverage needs the roads and stations layers in the dataset")
            return EXIT_BAD_INPUT
        from ..reach import coverage, isochrones
        cov = coverage(dataset, plan=plan, minutes=minutes, speed_kmh=args.speed_kmh, kinds=kinds)
        if not getattr(args, "no_bands", True):
            iso = isochrones(cov)

    staff = None
    if getattr(args, "staff", None):
        from ..staff import read_staff
        staff = read_staff(args.staff, dataset=dataset)
    out = Path(args.out) if args.out else None
    kind = args.kind
    if kind == "poster":
        formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
        files = export.export_poster(dataset, plan, out, grids=grids, paper=args.paper, orientation=args.orientation,
                                     scope=args.scope, title=args.title, dpi=args.dpi, coverage=cov, isochrones=iso,
                                     stations=not args.no_stations, lang=args.lang, staff=staff,
                                     include_personal=args.include_personal,
                                     formats=formats if out is None or out.suffix.lower() not in (".pdf", ".png")
                                     else None)
    elif kind == "html":
        files = export.export_html(dataset, plan, out, grids=grids, coverage=cov, isochrones=iso,
                                   lang=args.lang, title=args.title, include_personal=args.include_personal, staff=staff)
    elif kind == "ledger":
        if out is not None and out.suffix == "":
            out = out / "网格台账.xlsx"
        mobile = None
        if args.schedule:
            from ..mobile import mobile_coverage, read_schedule
            mobile = mobile_coverage(dataset, plan, schedule=read_schedule(args.schedule, stations=dataset.stations),
                                     minutes=args.mobile_minutes)
        files = export.export_ledger(dataset, plan, out, grids=grids, coverage=cov,
                                     include_personal=args.include_personal, csv=not args.no_csv, staff=staff,
                                     mobile=mobile, sanwu_since=_to_date(args.since) if args.since else None,
                                     sanwu_until=_to_date(args.until) if args.until else None,
                                     households_per_central=args.per_central, max_grids_per_leader=args.max_grids)
    else:
        formats = [f.strip().lower() for f in args.formats.split(",") if f.strip()]
        files = export.export_data(dataset, plan, out, grids=grids, formats=formats,
                                   include_personal=args.include_personal, coord_system=args.out_coord_system)
    secs = round(time.perf_counter() - t0, 3)
    payload = {"kind": kind, "files": [str(f) for f in files], "grids": len(grids), "seconds": secs}
    if cov is not None:
        payload["covered_households"] = int(cov.covered_households)
    human = "\n".join([f"✓ 导出 / exported {kind}: {len(grids)} 个网格 / grids, {secs:.1f} s"]
                      + [f"  → {f}" for f in files])
    emit(args, payload, human)
    return EXIT_OK
