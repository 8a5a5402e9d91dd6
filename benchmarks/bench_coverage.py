"""Walking coverage benchmark (issue 4), run on demand: ``python benchmarks/bench_coverage.py``.

On the same generated input, in one run:

* **exact reference** — every building and station inserted as a node of a networkx graph
  (edges split at the snapped points), one multi-source Dijkstra;
* **gridplan** — ``build_network`` + ``Coverage`` (snap once, one CSR Dijkstra, labels, stats);
* **the OSMnx way** reproduced with networkx (what OSMnx users do: snap to the nearest node, one
  Dijkstra per station with a cutoff, an isochrone polygon per station from buffered reached
  edges and nodes, coverage decided by point-in-polygon);
* **pandana** (if installed): nearest-POI distances on its contraction hierarchy, nearest-node
  snapping;

then reports times, ratios and agreement with the exact reference (share of buildings classified
the same, covered within 15 minutes or not), display polygons for 200 stations × 3 bands, a
what-if station, and greedy/swap vs exact MILP for station suggestions.

Fairness (issue 14): the OSMnx way needs its isochrone polygons to decide coverage, so its time
includes them; gridplan's headline time then includes its display polygons of the same band
(:func:`gridplan.reach.isochrones`) too. Both are run ``--repeat`` times and the median total is
reported; gridplan's time without polygons is printed beside it, labelled.

Inputs: jittered street grids of ``--sizes`` (random point buildings, 200 red stations), and with
``--families`` the cities of ``benchmarks/cities.py`` (footprints reduced to the point gridplan
snaps, ``point_on_surface``; their red stations only; ``--size`` households, ``--seed``).

Options: ``--sizes small,large`` (default both; ``--sizes ''`` for none), ``--families
lognormal,organic`` (default none; ``all`` for every family), ``--quick`` (small only, fewer
repeats).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cities import DEFAULT_HOUSEHOLDS, FAMILIES, generate  # noqa: E402
from gridplan.io import read_dataset  # noqa: E402
from gridplan.model import Dataset  # noqa: E402
from gridplan.network import build_network  # noqa: E402
from gridplan.reach import Coverage, isochrones  # noqa: E402
from gridplan.stations import suggest_stations  # noqa: E402

CRS = "EPSG:4544"
WALK_M = 1000.0  # 15 min at 4 km/h
BANDS_M = (1000 / 3, 2000 / 3, 1000.0)

SIZES = {"small": 72, "large": 194}  # grid side → ~10k and ~75k edges


def make_city(side: int, *, n_buildings: int = 20_000, n_stations: int = 200, seed: int = 0, spacing: float = 100.0):
    """A jittered street grid (segments between intersections, like OSM-derived data), 5% of the
    segments removed, some bent, buildings scattered between the streets, stations at random."""
    rng = np.random.default_rng(seed)
    P = np.stack(np.meshgrid(np.arange(side) * spacing, np.arange(side) * spacing), -1).astype(float)
    P += rng.uniform(-15, 15, P.shape)
    lines = []
    for i in range(side):
        for j in range(side):
            for di, dj in ((0, 1), (1, 0)):
                a, b = (i, j), (i + di, j + dj)
                if b[0] >= side or b[1] >= side or rng.random() < 0.05:
                    continue
                if rng.random() < 0.3:
                    mid = (P[a] + P[b]) / 2 + rng.uniform(-10, 10, 2)
                    lines.append(shapely.LineString([P[a], mid, P[b]]))
                else:
                    lines.append(shapely.LineString([P[a], P[b]]))
    roads = gpd.GeoDataFrame({"walkable": True, "kind": "street"}, geometry=lines, crs=CRS,
                             index=pd.Index([f"r{i}" for i in range(len(lines))], name="road_id"))
    ext = (side - 1) * spacing
    bxy = rng.uniform(0, ext, (n_buildings, 2))
    sxy = rng.uniform(0, ext, (n_stations, 2))
    b = gpd.GeoDataFrame({"households": rng.integers(5, 80, n_buildings), "persons": rng.integers(10, 200, n_buildings),
                          "compound_id": [f"c{i // 20}" for i in range(n_buildings)],
                          "community_id": [f"m{i // 2000}" for i in range(n_buildings)]},
                         geometry=shapely.points(bxy), crs=CRS,
                         index=pd.Index([f"b{i}" for i in range(n_buildings)], name="building_id"))
    st = gpd.GeoDataFrame({"name": [f"S{i}" for i in range(n_stations)], "kind": "red_station"},
                          geometry=shapely.points(sxy), crs=CRS,
                          index=pd.Index([f"s{i}" for i in range(n_stations)], name="station_id"))
    return Dataset(buildings=b, roads=roads, stations=st, name=f"grid{side}")


def family_city(family: str, *, seed: int = 0, households: int = DEFAULT_HOUSEHOLDS) -> Dataset:
    """A city of ``benchmarks/cities.py`` for the coverage benchmark: buildings as the points gridplan
    snaps (``point_on_surface`` of the footprints, so every method walks from the same point) and the
    red stations only (the kind gridplan's coverage counts by default)."""
    ds = read_dataset(generate(family, seed=seed, households=households), name=family)
    b = ds.buildings.copy()
    b = b.set_geometry(gpd.GeoSeries(shapely.point_on_surface(b.geometry.to_numpy()), index=b.index, crs=b.crs))
    st = ds.stations[ds.stations["kind"] == "red_station"].copy()
    return ds.replace(buildings=b, stations=st, name=family)


def endpoints(lines):
    c = shapely.get_coordinates(lines)
    n = shapely.get_num_coordinates(lines)
    s = np.r_[0, np.cumsum(n)[:-1]]
    return c[s], c[s + n - 1]


# ---------------------------------------------------------------------- exact reference (networkx, split edges)
def exact_reference(ds: Dataset, bands=BANDS_M):
    lines = np.asarray(ds.roads.geometry.values, dtype=object)
    a, b = endpoints(lines)
    tree = shapely.STRtree(lines)
    bpts = np.asarray(ds.buildings.geometry.values, dtype=object)
    spts = np.asarray(ds.stations.geometry.values, dtype=object)
    pts = np.concatenate([bpts, spts])
    (pi, ei), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    order = np.argsort(pi)
    ei, dist = ei[order], dist[order]
    pos = shapely.line_locate_point(lines[ei], pts)
    G = nx.Graph()

    def key(c):
        return (float(c[0]), float(c[1]))

    def add(u, v, w):
        if u == v:
            return
        if G.has_edge(u, v):
            w = min(w, G[u][v]["weight"])
        G.add_edge(u, v, weight=w)

    on = pd.DataFrame({"e": ei, "pos": pos, "k": np.arange(len(pts))}).sort_values(["e", "pos"])
    groups = {e: list(zip(g["pos"], g["k"])) for e, g in on.groupby("e")}
    L = shapely.length(lines)
    for e in range(len(lines)):
        chain = [(0.0, key(a[e]))] + [(p, ("p", k)) for p, k in groups.get(e, [])] + [(L[e], key(b[e]))]
        for (p0, n0), (p1, n1) in zip(chain[:-1], chain[1:]):
            add(n0, n1, p1 - p0)
    for k in range(len(pts)):
        G.add_edge(("p", k), ("pt", k), weight=float(dist[k]))
    nb = len(bpts)
    src = [("pt", nb + i) for i in range(len(spts))]
    d = nx.multi_source_dijkstra_path_length(G, src, cutoff=max(bands) + 1e-6, weight="weight")
    return np.array([d.get(("pt", k), np.inf) for k in range(nb)])


# ---------------------------------------------------------------------- the OSMnx way with networkx
def osmnx_way(ds: Dataset, bands=BANDS_M, *, edge_buff=25.0, node_buff=50.0, all_bands=False):
    t = {}
    t0 = time.perf_counter()
    lines = np.asarray(ds.roads.geometry.values, dtype=object)
    a, b = endpoints(lines)
    allp = np.concatenate([a, b])
    uniq, inv = np.unique(allp.round(6), axis=0, return_inverse=True)
    inv = inv.ravel()
    u, v = inv[: len(lines)], inv[len(lines):]
    L = shapely.length(lines)
    G = nx.Graph()
    for i in range(len(uniq)):
        G.add_node(i, x=uniq[i, 0], y=uniq[i, 1])
    for uu, vv, ll in zip(u, v, L):
        if not G.has_edge(uu, vv) or G[uu][vv]["length"] > ll:
            G.add_edge(int(uu), int(vv), length=float(ll))
    t["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    kd = cKDTree(uniq)
    bxy = shapely.get_coordinates(ds.buildings.geometry.values)
    sxy = shapely.get_coordinates(ds.stations.geometry.values)
    _, snode = kd.query(sxy)  # ox.distance.nearest_nodes
    t["snap"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    reached = [nx.single_source_dijkstra_path_length(G, int(s), cutoff=max(bands), weight="length") for s in snode]
    t["reach"] = time.perf_counter() - t0
    # isochrone polygons (the OSMnx example make_iso_polys: buffered nodes + edges of the subgraph)
    t0 = time.perf_counter()
    polys = {}
    for band in (bands if all_bands else bands[-1:]):
        per = []
        for r in reached:
            nodes = [n for n, d in r.items() if d <= band]
            if not nodes:
                continue
            sub = G.subgraph(nodes)
            npts = shapely.buffer(shapely.points(uniq[nodes]), node_buff, quad_segs=4)
            ee = np.array(list(sub.edges()), dtype=np.int64).reshape(-1, 2)
            elines = shapely.linestrings(np.stack([uniq[ee[:, 0]], uniq[ee[:, 1]]], 1)) if len(ee) else []
            ebuf = shapely.buffer(elines, edge_buff, quad_segs=4) if len(ee) else []
            per.append(shapely.union_all(np.concatenate([npts, ebuf]) if len(ee) else npts))
        polys[band] = shapely.union_all(per)
    t["polygons"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cov = shapely.contains_xy(polys[bands[-1]], bxy[:, 0], bxy[:, 1])
    hh = ds.buildings["households"].to_numpy()
    stats = {"covered_households": int(hh[cov].sum())}
    t["labels"] = time.perf_counter() - t0
    return cov, stats, t


def pandana_way(ds: Dataset, bands=BANDS_M):
    try:
        import pandana
    except ImportError:
        return None
    t = {}
    t0 = time.perf_counter()
    lines = np.asarray(ds.roads.geometry.values, dtype=object)
    a, b = endpoints(lines)
    allp = np.concatenate([a, b])
    uniq, inv = np.unique(allp.round(6), axis=0, return_inverse=True)
    inv = inv.ravel()
    u, v = inv[: len(lines)], inv[len(lines):]
    nodes = pd.DataFrame({"x": uniq[:, 0], "y": uniq[:, 1]})
    edges = pd.DataFrame({"from": u, "to": v, "length": shapely.length(lines)})
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        net = pandana.Network(nodes["x"], nodes["y"], edges["from"], edges["to"], edges[["length"]], twoway=True)
        net.precompute(max(bands) + 1)
    t["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sxy = shapely.get_coordinates(ds.stations.geometry.values)
    bxy = shapely.get_coordinates(ds.buildings.geometry.values)
    with contextlib.redirect_stdout(io.StringIO()):
        net.set_pois("st", max(bands), 1, pd.Series(sxy[:, 0]), pd.Series(sxy[:, 1]))
        bn = net.get_node_ids(pd.Series(bxy[:, 0]), pd.Series(bxy[:, 1]))
    t["snap"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    nn = net.nearest_pois(max(bands), "st", num_pois=1, max_distance=np.inf)
    d = nn[1].reindex(bn.to_numpy()).to_numpy()
    t["reach"] = time.perf_counter() - t0
    return d <= max(bands) + 1e-6, t


# ---------------------------------------------------------------------- gridplan
def gridplan_way(ds: Dataset, *, node=True, polygons=True, bands_min=(15,)):
    """gridplan's coverage; with ``polygons`` also its display polygons of ``bands_min`` (the
    bands the OSMnx way draws), timed as ``polygons``."""
    t = {}
    t0 = time.perf_counter()
    net = build_network(ds.roads, node=node)
    t["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cov = Coverage(ds, network=net, minutes=(5, 10, 15), limit_m=WALK_M)
    t["snap"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cov.reach()
    t["reach"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = cov.result()
    t["labels+stats"] = time.perf_counter() - t0
    if polygons:
        t0 = time.perf_counter()
        isochrones(res, minutes=bands_min)
        t["polygons"] = time.perf_counter() - t0
    return cov, res, t


def fmt(t):
    return ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in t.items())


def median_run(fn, repeat: int):
    """Run ``fn()`` (returning ``(..., timings)``) ``repeat`` times; the run with the median total."""
    runs = [fn() for _ in range(repeat)]
    k = int(np.argsort([sum(r[-1].values()) for r in runs])[len(runs) // 2])
    return runs[k]


def bench_size(name: str, ds: Dataset, *, with_reference=True, with_pandana=True, repeat=3):
    print(f"\n=== {name}: {len(ds.roads):,} edges, {len(ds.buildings):,} buildings, {len(ds.stations)} stations "
          f"(load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}) ===")
    # every timed method: the same repeats, the median total; gridplan charged for the same
    # 15-minute polygons the OSMnx way needs
    cov, res, tg = median_run(lambda: gridplan_way(ds), repeat)
    tot_g = sum(tg.values())
    tot_g_nopoly = tot_g - tg["polygons"]
    print(f"gridplan (noding on)   : {tot_g:.3f} s  [{fmt(tg)}]  (median of {repeat}; "
          f"{tot_g_nopoly:.3f} s without the polygons)")
    tg2 = median_run(lambda: gridplan_way(ds, node=False), repeat)[-1]
    tot_g2 = sum(tg2.values())
    print(f"gridplan (node=False)  : {tot_g2:.3f} s  [{fmt(tg2)}]  (median of {repeat})")
    walk = res.buildings["walk_m"].to_numpy()
    g_cov = res.buildings["covered"].to_numpy()
    out = {"size": name, "edges": len(ds.roads), "buildings": len(ds.buildings), "stations": len(ds.stations),
           "repeat": repeat, "gridplan_s": tot_g, "gridplan_no_polygons_s": tot_g_nopoly,
           "gridplan_polygons_s": tg["polygons"], "gridplan_prenoded_s": tot_g2}
    if with_reference:
        t0 = time.perf_counter()
        ref = exact_reference(ds)
        print(f"exact reference (networkx, points inserted as nodes): {time.perf_counter() - t0:.1f} s")
        ref_cov = ref <= WALK_M + 1e-6
        both = np.isfinite(ref) & np.isfinite(walk)
        maxdiff = float(np.max(np.abs(ref[both] - walk[both]))) if both.any() else 0.0
        print(f"gridplan vs exact: {100 * (g_cov == ref_cov).mean():.3f}% same class, max |Δwalk| = {maxdiff:.2e} m "
              f"(reached: {both.sum()} vs {np.isfinite(ref).sum()} ref within 1000 m)")
        out.update(agree_gridplan=100 * (g_cov == ref_cov).mean(), maxdiff_m=maxdiff)
    o_cov, _, to = median_run(lambda: osmnx_way(ds), repeat)
    tot_o = sum(to.values())
    print(f"OSMnx way (networkx)   : {tot_o:.3f} s  [{fmt(to)}]  (median of {repeat}); "
          f"OSMnx-way time ÷ gridplan time = {tot_o / tot_g:.1f}×, both with their 15-min polygons "
          f"({tot_o / tot_g2:.1f}× with pre-noded input; {tot_o / tot_g_nopoly:.1f}× against gridplan without polygons)")
    out.update(osmnx_s=tot_o, ratio=tot_o / tot_g, ratio_prenoded=tot_o / tot_g2,
               osmnx_reach_s=to["reach"], osmnx_poly_s=to["polygons"])
    if with_reference:
        wrong = (o_cov != ref_cov)
        print(f"OSMnx way vs exact: {100 * (~wrong).mean():.2f}% same class; misclassified {wrong.sum()} buildings "
              f"({100 * wrong[ref_cov].mean():.1f}% of covered ones wrong, {100 * wrong[~ref_cov].mean():.1f}% of uncovered)")
        out.update(agree_osmnx=100 * (~wrong).mean())
    pw = pandana_way(ds) if with_pandana else None
    if pw is not None:
        p_cov, tp = pw
        print(f"pandana 0.8            : {sum(tp.values()):.3f} s  [{fmt(tp)}]")
        if with_reference:
            hh = ds.buildings["households"].to_numpy()
            over = 100 * (hh[p_cov].sum() - hh[ref_cov].sum()) / hh[ref_cov].sum()
            print(f"pandana vs exact: {100 * (p_cov == ref_cov).mean():.2f}% same class; covered households "
                  f"{over:+.1f}% vs exact")
            out.update(agree_pandana=100 * (p_cov == ref_cov).mean(), pandana_over_pct=over)
    # polygons for 3 bands: both ways, the same repeats, the median
    def three_bands():
        t0 = time.perf_counter()
        iso = isochrones(res)
        return iso, {"polygons": time.perf_counter() - t0}
    iso, tp3 = median_run(three_bands, repeat)
    tpoly = tp3["polygons"]
    t0 = time.perf_counter()
    iso_s = isochrones(res, per_station=True)
    tpoly_s = time.perf_counter() - t0
    valid = bool(shapely.is_valid(iso.geometry.to_numpy()).all() and shapely.is_valid(iso_s.geometry.to_numpy()).all())
    g = iso.geometry.to_numpy()
    nested = all(shapely.difference(g[i], g[i + 1]).area <= 1e-6 * g[i].area for i in range(len(g) - 1))
    inside = shapely.contains_xy(g[-1], cov.building_snap.x, cov.building_snap.y)
    print(f"display polygons, {len(ds.stations)} stations × 3 bands: union {tpoly:.2f} s (median of {repeat}), "
          f"per station {tpoly_s:.2f} s ({len(iso_s)} polygons); valid={valid}, nested={nested}; "
          f"{100 * inside[g_cov].mean():.1f}% of covered buildings' road points inside the 15-min polygon")
    to3 = median_run(lambda: osmnx_way(ds, all_bands=True), repeat)[-1]
    print(f"OSMnx-way polygons for 3 bands: {to3['polygons']:.2f} s (median of {repeat}) vs gridplan {tpoly:.2f} s "
          f"→ {to3['polygons'] / max(tpoly, 1e-9):.1f}×")
    out.update(poly_s=tpoly, poly_per_station_s=tpoly_s, osmnx_poly3_s=to3["polygons"])
    # what-if
    rng = np.random.default_rng(1)
    x0, y0, x1, y1 = ds.roads.total_bounds
    times = []
    for _ in range(5):
        p = shapely.Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
        t0 = time.perf_counter()
        cov.with_station(p).result()
        times.append(time.perf_counter() - t0)
    print(f"what-if add a station (pre-snapped): median {np.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms")
    out.update(whatif_ms=1000 * float(np.median(times)))
    return out


def bench_suggest():
    print("\n=== station suggestions: greedy + swap vs exact MILP ===")
    rows = []
    for side, nst, cands, k in [(40, 6, "nodes", 5), (40, 6, "nodes", 10), (40, 6, "sample500", 5),
                                (72, 25, "nodes", 10), (72, 25, "sample500", 10)]:
        ds = make_city(side, n_buildings=6000 if side == 40 else 12000, n_stations=nst, seed=side + k)
        cov = Coverage(ds, minutes=(15,))
        cov.result()
        if cands == "sample500":
            rng = np.random.default_rng(k)
            idx = rng.choice(len(ds.buildings), 500, replace=False)
            c = gpd.GeoDataFrame(geometry=ds.buildings.geometry.values[idx], crs=CRS,
                                 index=ds.buildings.index[idx].rename("site_id"))
        else:
            c = cands
        t0 = time.perf_counter()
        g = suggest_stations(cov, k, candidates=c)
        tg = time.perf_counter() - t0
        t0 = time.perf_counter()
        e = suggest_stations(cov, k, candidates=c, method="exact", time_limit_s=300)
        te = time.perf_counter() - t0
        gap = 100 * (e.attrs["total_gain"] - g.attrs["total_gain"]) / max(e.attrs["total_gain"], 1)
        print(f"grid {side}² edges, {nst} stations, candidates={cands} ({e.attrs['n_candidates']}, "
              f"{e.attrs['n_distinct_candidates']} distinct), demand {e.attrs['n_demand']} → {e.attrs['n_demand_rows']} rows, "
              f"K={k}: greedy {g.attrs['total_gain']:.0f} in {tg:.2f} s, exact {e.attrs['total_gain']:.0f} in {te:.2f} s "
              f"(optimal={e.attrs['optimal']}; {e.attrs['status'][:60]}); gap {gap:.2f}%")
        rows.append({"gap_pct": gap, "greedy_s": tg, "exact_s": te, "optimal": e.attrs["optimal"]})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="small,large")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", "--repeats", dest="repeat", type=int, default=3,
                    help="runs of every timed method per input (the median is reported)")
    ap.add_argument("--no-reference", action="store_true", help="skip the slow networkx exact reference")
    ap.add_argument("--no-suggest", action="store_true")
    ap.add_argument("--no-pandana", action="store_true", help="skip pandana (its precompute takes minutes on the large size)")
    ap.add_argument("--families", default="",
                    help=f"comma list of benchmarks/cities.py families ({', '.join(FAMILIES)}) or 'all'")
    ap.add_argument("--size", type=int, default=DEFAULT_HOUSEHOLDS, help="households of each family city")
    ap.add_argument("--seed", type=int, default=0, help="seed of the family cities")
    a = ap.parse_args(argv)
    sizes = ["small"] if a.quick else [s.strip() for s in a.sizes.split(",") if s.strip()]
    fams = list(FAMILIES) if a.families.strip() == "all" else [f.strip() for f in a.families.split(",") if f.strip()]
    bad = [s for s in sizes if s not in SIZES] + [f for f in fams if f not in FAMILIES]
    if bad:
        ap.error(f"unknown sizes/families: {', '.join(bad)}")
    repeat = 1 if a.quick else max(1, a.repeat)
    opts = dict(with_reference=not a.no_reference, with_pandana=not a.no_pandana, repeat=repeat)
    res = [bench_size(s, make_city(SIZES[s]), **opts) for s in sizes]
    res += [bench_size(f, family_city(f, seed=a.seed, households=a.size), **opts) for f in fams]
    if not a.no_suggest:
        bench_suggest()
    print("\nsummary:")
    for r in res:
        print("  " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
