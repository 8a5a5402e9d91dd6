"""``gridplan coverage`` and ``gridplan suggest-stations`` (SPEC §7).

``gridplan coverage DATASET [--plan PLAN.gpkg] [--minutes 5,10,15] [--speed-kmh 4|elderly]
--out FILE.gpkg [--json]`` writes layers ``building_coverage``, ``isochrones``, ``stations`` and
the attribute tables ``coverage_by_grid`` (with a plan), ``coverage_by_compound``,
``coverage_by_community``, ``coverage_by_station``, ``uncovered_sanwu`` — in the dataset's source CRS.

``gridplan suggest-stations DATASET --count K [--exact] [--candidates buildings|nodes|FILE]
[--out SITES.gpkg] [--json]``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ._common import (
    EXIT_OK,
    UsageError,
    add_dataset_options,
    add_scheduler_options,
    cluster_options,
    emit,
    load,
    parse_or_usage,
)


def _walk_options(args) -> tuple[tuple[float, ...], float | str, tuple[str, ...]]:
    """Minutes, speed and counted station kinds from the command line (UsageError on bad values)."""
    from ..reach import parse_kinds, parse_minutes, parse_speed
    return (parse_or_usage(parse_minutes, args.minutes), parse_or_usage(parse_speed, args.speed_kmh),
            parse_or_usage(parse_kinds, args.kinds))


def _common(p: argparse.ArgumentParser, *, minutes_default: str) -> None:
    p.add_argument("--minutes", default=minutes_default, help=f"time bands in minutes (default {minutes_default})")
    p.add_argument("--speed-kmh", default="4", help="walking speed in km/h, or 'elderly' (3.2 km/h); default 4")
    p.add_argument("--kinds", default="red_station",
                   help="station kinds that count, comma-separated (default red_station)")
    p.add_argument("--max-snap-m", type=float, default=300.0,
                   help="buildings/stations further than this from a walkable road are unreachable (default 300)")


def register(sub) -> None:
    """Register ``coverage`` and ``suggest-stations``."""
    _add_coverage(sub)
    _add_suggest(sub)


def add_walk_options(p: argparse.ArgumentParser) -> None:
    """Bands, speed, counted kinds and snap distance of ``coverage`` (and ``coverage-many``)."""
    _common(p, minutes_default="5,10,15")


def walk_options(args) -> tuple:
    """Minutes, speed and counted station kinds from the command line (UsageError on bad values)."""
    return _walk_options(args)


def _add_coverage(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("coverage", help="15-minute walking coverage of the stations, per building/grid/compound")
    add_dataset_options(p)
    p.add_argument("--plan", default=None, help="a plan GeoPackage (layer assignment) for coverage per grid")
    _common(p, minutes_default="5,10,15")
    p.add_argument("--out", required=True, help="GeoPackage to write (layers building_coverage, isochrones, …)")
    p.add_argument("--per-station", action="store_true", help="isochrones per station (service areas)")
    p.add_argument("--no-isochrones", action="store_true", help="skip the display polygons")
    add_scheduler_options(p, what="the walks (per connected piece of the network)")
    p.set_defaults(func=cmd_coverage)
    return p


def _add_suggest(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("suggest-stations", help="K new station sites covering the most uncovered households")
    add_dataset_options(p)
    p.add_argument("--count", "-k", type=int, required=True, help="number of new stations")
    p.add_argument("--exact", action="store_true", help="solve exactly (MILP) instead of greedy + swap")
    p.add_argument("--candidates", default="buildings",
                   help="candidate sites: buildings (default), nodes (street corners) or a point layer file")
    _common(p, minutes_default="15")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds for the exact solver (default 60)")
    p.add_argument("--out", default=None, help="write the sites to this file (.gpkg/.geojson)")
    p.set_defaults(func=cmd_suggest_stations)
    return p


def write_coverage(ds, res, out: Path, *, per_station: bool = False, isochrone_layer: bool = True) -> Path:
    """Write a coverage result as ``gridplan coverage --out`` does (layers building_coverage,
    isochrones, stations and the coverage tables)."""
    import geopandas as gpd

    from ..io import write_layers
    from ..reach import isochrones
    b = res.buildings.copy()
    bc = gpd.GeoDataFrame(b.reset_index(), geometry=ds.buildings.geometry.reindex(b.index).values, crs=ds.crs)
    layers = {"building_coverage": bc}
    if isochrone_layer:
        iso = isochrones(res, per_station=per_station)
        layers["isochrones"] = iso
    st = res.stations.reset_index()
    if len(st):
        layers["stations"] = gpd.GeoDataFrame(st, geometry="geometry", crs=ds.crs)
    tables = {}
    if res.by_grid is not None:
        tables["coverage_by_grid"] = res.by_grid.reset_index()
    tables["coverage_by_compound"] = res.by_compound.reset_index()
    tables["coverage_by_community"] = res.by_community.reset_index()
    tables["coverage_by_station"] = res.by_station.reset_index()
    if len(res.uncovered_sanwu):
        tables["uncovered_sanwu"] = res.uncovered_sanwu.reset_index()
    write_layers({**layers, **tables}, out, dataset=ds)
    return out


def cmd_coverage(args) -> int:
    """Compute coverage and write the GeoPackage; returns the exit status."""
    from ..io import read_plan
    from ..reach import Coverage
    t0 = time.perf_counter()
    minutes, speed, kinds = _walk_options(args)
    out = Path(args.out)
    if out.suffix.lower() != ".gpkg":
        raise UsageError(f"--out must be a .gpkg file, got {out.name}")
    copts = cluster_options(args)
    ds = load(args)
    plan = read_plan(args.plan, ds) if args.plan else None
    run = None
    if copts:
        from ..cluster import coverage_on_cluster
        run = coverage_on_cluster(ds, plan=plan, minutes=minutes, speed_kmh=speed, kinds=kinds,
                                  max_snap_m=args.max_snap_m, **copts)
        res = run.result
    else:
        res = Coverage(ds, plan=plan, minutes=minutes, speed_kmh=speed, kinds=kinds, max_snap_m=args.max_snap_m).result()
    write_coverage(ds, res, out, per_station=args.per_station, isochrone_layer=not args.no_isochrones)
    s = res.summary()
    s["seconds"] = round(time.perf_counter() - t0, 3)
    s["out"] = str(out)
    s["problems"] = [p.as_dict() for p in res.problems]
    if run is not None:
        s.update({"scheduler": run.scheduler, "workers": run.workers, "bytes_scattered": run.shipping["bytes_scattered"],
                  "bytes_per_task": run.shipping["bytes_per_task"], "shipping": run.shipping})
    pct = f"{s['pct_households']:.1f}%" if s["pct_households"] is not None else "—"
    lines = [f"覆盖 / coverage: {s['covered_households']} / {s['households']} 户 households ({pct}) within "
             f"{res.minutes[-1]:g} min at {res.speed_kmh:g} km/h; {s['stations']} station(s), {s['buildings']} buildings",
             *[f"  {r['band_min']:g} min ({r['walk_m']:.0f} m): {int(r['households'])} 户, {r['buildings']} buildings"
               for r in s["bands"]],
             f"  未覆盖三无小区 / uncovered 三无 compounds: {s['uncovered_sanwu']}",
             *[f"  ! {p}" for p in res.problems],
             f"→ {out} ({s['seconds']} s)"]
    emit(args, s, "\n".join(lines))
    return EXIT_OK


def cmd_suggest_stations(args) -> int:
    """Suggest new station sites; returns the exit status."""

    from ..reach import Coverage
    from ..stations import suggest_stations
    t0 = time.perf_counter()
    minutes, speed, kinds = _walk_options(args)
    if args.count < 1:
        raise UsageError("--count must be at least 1")
    if args.out and Path(args.out).suffix.lower() not in (".gpkg", ".geojson", ".json"):
        raise UsageError("--out must be a .gpkg or .geojson file")
    ds = load(args)
    cand = args.candidates
    if cand not in ("buildings", "nodes"):
        p = Path(cand)
        if not p.exists():
            raise UsageError(f"--candidates is buildings, nodes or an existing point file; {cand!r} is none of them")
        import pyogrio
        layer = pyogrio.read_dataframe(p)
        if layer.crs is None:
            layer = layer.set_crs(4326)
        if layer.crs.is_geographic or layer.crs != ds.crs:
            layer = layer.to_crs(ds.crs)
        idc = next((c for c in ("site_id", "candidate_id", "id", "name") if c in layer.columns), None)
        if idc:
            layer.index = layer[idc].astype(str)
        else:
            layer.index = [f"site{i + 1}" for i in range(len(layer))]
        cand = layer
    cov = Coverage(ds, minutes=(max(minutes),), speed_kmh=speed, kinds=kinds, max_snap_m=args.max_snap_m)
    sites = suggest_stations(cov, args.count, method="exact" if args.exact else "greedy", candidates=cand,
                             time_limit_s=args.time_limit)
    a = dict(sites.attrs)
    out_sites = sites.to_crs(ds.source_crs) if ds.source_crs is not None and len(sites) else sites
    if args.out:
        from ..io import write_layers
        write_layers({"suggested_stations": sites}, args.out, dataset=ds)
    recs: list[dict[str, Any]] = []
    for (_, r), g in zip(sites.iterrows(), out_sites.geometry):
        recs.append({"rank": int(r["rank"]), "candidate_id": str(r["candidate_id"]),
                     "gain_households": float(r["gain_households"]), "gain_persons": float(r["gain_persons"]),
                     "cum_households": float(r["cum_households"]), "x": float(g.x), "y": float(g.y)})
    payload = {"sites": recs, "count": len(recs), "method": a["method"],
               "total_gain_households": sum(r["gain_households"] for r in recs),
               "total_gain": a["total_gain"], "bound": a["bound"], "optimal": a["optimal"], "gap_pct": a["gap_pct"],
               "status": a["status"], "uncovered_households": a["uncovered_households"],
               "coverable_households": a["coverable_households"], "candidates": a["n_candidates"],
               "seconds": round(time.perf_counter() - t0, 3)}
    quality = "最优 / optimal" if a["optimal"] else f"gap ≤ {a['gap_pct']:.2f}%"
    lines = [f"建议新站点 / suggested sites ({a['method']}, {quality}):"]
    for r in recs:
        lines.append(f"  {r['rank']}. {r['candidate_id']}: +{r['gain_households']:.0f} 户 (累计 {r['cum_households']:.0f})")
    if not recs:
        lines.append("  — nothing left to gain: every reachable household is covered")
    lines.append(f"未覆盖 / uncovered before: {a['uncovered_households']:.0f} 户; {payload['seconds']} s")
    emit(args, payload, "\n".join(lines))
    return EXIT_OK
