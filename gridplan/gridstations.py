"""A 郁心站 (grid service point) in every grid: which grids lack one, where to put it, and adopting it.

The seed article asks for a 郁心站 in every grid (``kind == "grid_station"``). This module

* lists the grids with no active 郁心站 inside their polygon (:func:`grid_station_status`); with
  ``within_m`` a grid also counts as served when a 郁心站 outside it is close enough: when its
  households walk on average (household-weighted mean) at most ``within_m`` metres to it — the
  same measure the suggestions minimise, so "within M" and a suggestion's ``mean_walk_m`` compare
  like for like;
* suggests, per grid, the building that minimises the households' household-weighted mean walk to
  it (:func:`suggest_grid_stations`) — an exact 1-median on the walking network restricted to the
  grid's buildings. Distances are those of :mod:`gridplan.reach` (the same
  :meth:`~gridplan.network.WalkNetwork.snap`, both snap distances walked, partial edges and the
  same-edge case): all pairs within the grid come from one multi-source Dijkstra from the grid's
  snapped buildings (:meth:`~gridplan.network.WalkNetwork.distance_matrix`), limited to twice the
  largest walk from one of them (by the triangle inequality no pair is further), so the search
  stays local. For comparison each suggestion also reports the building nearest to the
  household-weighted straight-line centre and its mean walk (``centre_*``): the straight-line
  centre ignores rivers, blocks and gates;
* turns suggestions into stations (:func:`adopt_grid_stations`): a new stations layer that
  :class:`gridplan.reach.Coverage` takes as ``stations=`` (or whose new rows go into
  :meth:`~gridplan.reach.Coverage.with_stations`), so coverage updates.

Buildings further than ``max_snap_m`` from the walking network cannot walk anywhere: they are
neither candidates nor counted in a mean (``unreachable_buildings`` says how many). A grid whose
buildings all have no households is weighted by building instead.
"""
from __future__ import annotations

import logging
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .model import Dataset, Plan
from .network import Snapped, WalkNetwork, _as_points
from .reach import walk_context as _walk_context

log = logging.getLogger(__name__)

GRID_STATION = "grid_station"

__all__ = ["grid_station_status", "suggest_grid_stations", "adopt_grid_stations", "grid_station_coverage", "one_median",
           "GRID_STATION"]


# --------------------------------------------------------------------------- shared pieces
def _grid_layer(dataset: Dataset, plan: Plan, grids):
    if grids is not None:
        return grids
    from .metrics import grids as grid_layer
    return grid_layer(dataset, plan)


def _active_grid_stations(dataset: Dataset, stations) -> gpd.GeoDataFrame:
    st = dataset.stations if stations is None else stations
    if st is None or not len(st):
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=dataset.crs), crs=dataset.crs)
    if st.crs is not None and st.crs != dataset.crs:
        st = st.to_crs(dataset.crs)
    keep = st["kind"].astype(str).eq(GRID_STATION).to_numpy().copy() if "kind" in st.columns else np.zeros(len(st), bool)
    if "active" in st.columns:
        keep &= st["active"].fillna(True).astype(bool).to_numpy()
    out = st[keep]
    out.index = out.index.astype(str)
    return out


def _weights(households: np.ndarray) -> np.ndarray:
    """Households as weights; a set of buildings without any household is weighted by building."""
    w = np.asarray(households, dtype=float)
    return w if w.sum() > 0 else np.ones(len(w))


def one_median(network: WalkNetwork, points: Snapped, weights) -> tuple[int, np.ndarray]:
    """The point minimising the weighted mean walk to all points (an exact 1-median on the network).

    Parameters
    ----------
    network, points
        The walking network and the candidate/demand points snapped onto it (the same set).
    weights
        Non-negative weight per point (households).

    Returns
    -------
    best, mean_walk
        Index of the best point (``-1`` when no point is on the network) and each point's weighted
        mean walk in metres (``inf`` for points off the network). Ties go to the lowest index.
    """
    w = np.asarray(weights, dtype=float)
    n = len(points)
    mean = np.full(n, np.inf)
    ok = np.flatnonzero(points.ok)
    if len(ok) == 0:
        return -1, mean
    sub = points.take(ok)
    wk = _weights(w[ok])
    # a bound on every pair: twice the largest walk from one point (triangle inequality)
    d0 = network.distance_matrix(sub.take([0]), sub)[0]
    reach = np.isfinite(d0)
    limit = 2.0 * float(d0[reach].max()) + 1e-6 if reach.all() else np.inf
    D = network.distance_matrix(sub, sub, limit_m=limit)
    pos = wk > 0
    with np.errstate(invalid="ignore"):
        total = D[:, pos] @ wk[pos]
    mean[ok] = np.where(np.isfinite(total), total / wk[pos].sum(), np.inf)
    best = int(ok[np.argmin(mean[ok])]) if np.isfinite(mean[ok]).any() else -1
    return best, mean


# --------------------------------------------------------------------------- which grids lack a 郁心站
def grid_station_status(dataset: Dataset, plan: Plan, *, grids: gpd.GeoDataFrame | None = None,
                        within_m: float = 0.0, stations: gpd.GeoDataFrame | None = None, coverage=None,
                        network: WalkNetwork | None = None, max_snap_m: float = 300.0) -> gpd.GeoDataFrame:
    """Per grid: the 郁心站 inside it and, with ``within_m``, the nearest one by mean walk.

    Parameters
    ----------
    dataset, plan
        The city and its grids.
    grids
        The grid layer (:func:`gridplan.metrics.grids`); derived from the plan when omitted.
    within_m
        A grid without a 郁心站 inside also counts as served when the household-weighted mean walk
        of its households to some 郁心站 is at most this (metres; 0 = only stations inside count).
    stations
        A stations layer replacing ``dataset.stations`` (e.g. after :func:`adopt_grid_stations`);
        only active ``grid_station`` rows count.
    coverage, network, max_snap_m
        Reuse the walking network and building snaps of a :class:`~gridplan.reach.Coverage` (or
        give a network); only needed with ``within_m``.

    Returns
    -------
    GeoDataFrame
        Indexed by ``grid_id`` (grid polygons, metric CRS): ``community_id``, ``households``,
        ``buildings``, ``stations_inside`` (count), ``station_ids`` (comma-separated),
        ``nearest_station_id`` and ``nearest_mean_walk_m`` (with ``within_m``; NaN otherwise),
        ``has_station`` (served: inside, or within ``within_m``).
    """
    within_m = float(within_m)
    if not within_m >= 0:
        raise ValueError(f"within_m must be ≥ 0 metres, got {within_m!r}")
    g = _grid_layer(dataset, plan, grids)
    g = g.copy()
    g.index = g.index.astype(str)
    st = _active_grid_stations(dataset, stations)
    out = gpd.GeoDataFrame(index=g.index, geometry=g.geometry.to_numpy(), crs=g.crs)
    out["community_id"] = g["community_id"].to_numpy() if "community_id" in g.columns else None
    a = plan.assignment
    b = dataset.buildings
    hh = pd.Series(pd.to_numeric(b["households"], errors="coerce").fillna(0).to_numpy(), index=b.index.astype(str))
    grid_of = a.reindex(hh.index)
    out["households"] = hh.groupby(grid_of.to_numpy()).sum().reindex(out.index).fillna(0).astype(np.int64).to_numpy()
    out["buildings"] = grid_of.value_counts().reindex(out.index).fillna(0).astype(np.int64).to_numpy()
    inside: dict[str, list[str]] = {gid: [] for gid in out.index}
    if len(st) and len(out):
        tree = shapely.STRtree(np.asarray(out.geometry.array, dtype=object))
        si, gi = tree.query(np.asarray(st.geometry.array, dtype=object), predicate="intersects")
        for s, k in sorted(zip(si.tolist(), gi.tolist())):
            inside[out.index[k]].append(str(st.index[s]))
    out["stations_inside"] = [len(inside[gid]) for gid in out.index]
    out["station_ids"] = [",".join(inside[gid]) for gid in out.index]
    out["nearest_station_id"] = None
    out["nearest_mean_walk_m"] = np.nan
    served = out["stations_inside"].to_numpy() > 0
    if within_m > 0 and len(st) and len(out):
        net, bsnap = _walk_context(dataset, coverage=coverage, network=network, max_snap_m=max_snap_m)
        ssnap = net.snap(st.geometry, max_snap_m=max_snap_m)
        D = net.distance_matrix(ssnap, bsnap)  # stations × buildings
        codes = pd.Index(out.index).get_indexer(grid_of.to_numpy())
        ok = bsnap.ok & (codes >= 0)
        w = hh.to_numpy(dtype=float)
        # per grid: weights (households, or 1 per building where a grid has none)
        gsum = np.bincount(codes[ok], weights=w[ok], minlength=len(out))
        w_eff = np.where(ok, np.where(gsum[np.maximum(codes, 0)] > 0, w, 1.0), 0.0)
        onehot_rows = np.flatnonzero(ok & (w_eff > 0))
        from scipy import sparse
        Wm = sparse.csr_matrix((w_eff[onehot_rows], (onehot_rows, codes[onehot_rows])), shape=(len(w), len(out)))
        wsum = np.asarray(Wm.sum(axis=0)).ravel()
        Df = np.where(np.isfinite(D), D, 0.0)
        WT = Wm.T.tocsr()
        unreachable = np.asarray(WT @ (~np.isfinite(D)).T.astype(float)).T  # weight no walk reaches
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.asarray(WT @ Df.T).T / wsum
        mean = np.where(unreachable > 0, np.inf, mean)
        mean[:, wsum == 0] = np.inf
        k = np.argmin(mean, axis=0)
        best = mean[k, np.arange(len(out))]
        fin = np.isfinite(best)
        out["nearest_station_id"] = np.where(fin, st.index.to_numpy(dtype=object)[k], None)
        out["nearest_mean_walk_m"] = np.where(fin, best, np.nan)
        served |= fin & (best <= within_m + 1e-7)
    out["has_station"] = served
    out.attrs.update({"within_m": within_m, "grid_stations": int(len(st))})
    cols = ["community_id", "households", "buildings", "stations_inside", "station_ids", "nearest_station_id",
            "nearest_mean_walk_m", "has_station"]
    out = out[cols + ["geometry"]]
    out.index.name = "grid_id"
    return out


# --------------------------------------------------------------------------- the best site per grid
def suggest_grid_stations(dataset: Dataset, plan: Plan, *, grid_ids=None, within_m: float = 0.0,
                          grids: gpd.GeoDataFrame | None = None, stations: gpd.GeoDataFrame | None = None,
                          coverage=None, network: WalkNetwork | None = None,
                          max_snap_m: float = 300.0) -> gpd.GeoDataFrame:
    """The best building for a 郁心站 in each grid: the exact 1-median of its households' walks.

    Parameters
    ----------
    dataset, plan
        The city and its grids.
    grid_ids
        Grids to site (default: those :func:`grid_station_status` lists as without a 郁心站, with
        the same ``within_m``, ``stations``, ``grids``).
    coverage, network, max_snap_m
        Reuse the network and building snaps of a coverage analysis (see :func:`grid_station_status`).

    Returns
    -------
    GeoDataFrame
        One row per grid (index ``grid_id``, points in the metric CRS at the chosen building):
        ``community_id``, ``building_id``, ``mean_walk_m`` (household-weighted mean walk of the
        grid's households to it), ``max_walk_m``, ``households``, ``buildings``,
        ``unreachable_buildings``, and for the straight-line comparison ``centre_building_id``
        (the building nearest the household-weighted centre), ``centre_mean_walk_m`` and
        ``centre_excess_pct`` (how much longer its mean walk is, %). ``attrs["seconds"]``,
        ``attrs["centre_excess_pct"]`` (household-weighted over the grids).
    """
    t0 = time.perf_counter()
    a = plan.assignment
    b = dataset.buildings
    bid = b.index.astype(str)
    a = a.reindex(bid)
    if grid_ids is None:
        status = grid_station_status(dataset, plan, grids=grids, within_m=within_m, stations=stations,
                                     coverage=coverage, network=network, max_snap_m=max_snap_m)
        grid_ids = status.index[~status["has_station"].to_numpy(dtype=bool)].tolist()
    grid_ids = [str(x) for x in grid_ids]
    unknown = sorted(set(grid_ids) - set(a.dropna().unique()))
    if unknown:
        raise ValueError(f"unknown grid id(s): {unknown[:5]}")
    net, bsnap = _walk_context(dataset, coverage=coverage, network=network, max_snap_m=max_snap_m)
    hh = pd.to_numeric(b["households"], errors="coerce").fillna(0).to_numpy(dtype=float)
    pts = _as_points(np.asarray(b.geometry.array, dtype=object))
    xy = np.column_stack([shapely.get_x(pts), shapely.get_y(pts)])
    comm = b["community_id"].astype(object).to_numpy() if "community_id" in b.columns else np.full(len(b), None)
    codes, uniq = pd.factorize(a.to_numpy())
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniq) + 1))
    members = {str(u): order[bounds[k]:bounds[k + 1]] for k, u in enumerate(uniq)}
    rows, geoms = [], []
    excess_num = excess_den = 0.0
    for gid in grid_ids:
        idx = members[gid]
        sub = bsnap.take(idx)
        best, mean = one_median(net, sub, hh[idx])
        n_bad = int((~sub.ok).sum())
        if best < 0:
            log.warning("grid %s: no building is on the walking network; no site suggested", gid)
            continue
        w = _weights(hh[idx])
        okm = sub.ok
        c = (xy[idx][okm] * w[okm, None]).sum(axis=0) / w[okm].sum()
        cand = np.flatnonzero(okm)
        centre = int(cand[np.argmin(np.hypot(*(xy[idx][cand] - c).T))])
        d_best = net.distance_matrix(sub.take([best]), sub)[0]
        mx = float(np.max(d_best[okm])) if okm.any() else np.nan
        H = float(hh[idx][okm].sum())
        excess = 100.0 * (mean[centre] / mean[best] - 1.0) if mean[best] > 0 else 0.0
        excess_num += H * mean[centre]
        excess_den += H * mean[best]
        rows.append({"grid_id": gid, "community_id": comm[idx[best]], "building_id": str(bid[idx[best]]),
                     "mean_walk_m": float(mean[best]), "max_walk_m": mx, "households": int(hh[idx].sum()),
                     "buildings": int(len(idx)), "unreachable_buildings": n_bad,
                     "centre_building_id": str(bid[idx[centre]]), "centre_mean_walk_m": float(mean[centre]),
                     "centre_excess_pct": float(excess)})
        geoms.append(pts[idx[best]])
    cols = ["community_id", "building_id", "mean_walk_m", "max_walk_m", "households", "buildings",
            "unreachable_buildings", "centre_building_id", "centre_mean_walk_m", "centre_excess_pct"]
    if rows:
        out = gpd.GeoDataFrame(pd.DataFrame(rows).set_index("grid_id"), geometry=geoms, crs=dataset.crs)
    else:
        out = gpd.GeoDataFrame({c: [] for c in cols}, geometry=gpd.GeoSeries([], crs=dataset.crs), crs=dataset.crs)
        out.index = pd.Index([], dtype=object, name="grid_id")
    out = out[cols + ["geometry"]]
    out.attrs.update({"seconds": time.perf_counter() - t0,
                      "centre_excess_pct": (100.0 * (excess_num / excess_den - 1.0)) if excess_den > 0 else 0.0})
    log.info("suggest_grid_stations: %d grid(s) in %.2f s", len(out), out.attrs["seconds"])
    return out


# --------------------------------------------------------------------------- adopting suggestions
def adopt_grid_stations(dataset: Dataset, suggestions: gpd.GeoDataFrame, *, grid_ids=None,
                        stations: gpd.GeoDataFrame | None = None, lang: str = "zh") -> gpd.GeoDataFrame:
    """A new stations layer: the existing stations plus a 郁心站 at each adopted suggestion.

    Parameters
    ----------
    suggestions
        The result of :func:`suggest_grid_stations` (indexed by ``grid_id``).
    grid_ids
        The grids whose suggestion is adopted (default: all).
    stations
        The layer to add to (default ``dataset.stations``; the dataset itself is not changed).

    Returns
    -------
    GeoDataFrame
        Indexed by ``station_id`` in the metric CRS: the old rows, then one ``grid_station`` row
        per adopted grid (id ``YX-<grid_id>``, ``name`` "<grid code>网格郁心站", ``community_id``,
        ``grid_id``, ``building_id``, ``adopted`` = True). Pass it as ``Coverage(…, stations=…)``
        / ``grid_station_status(…, stations=…)``, or give its new rows to
        ``Coverage.with_stations(rows.geometry, station_ids=rows.index, kind="grid_station")``.
    """
    from .i18n import t
    from .webmap import short_code

    base = dataset.stations if stations is None else stations
    sug = suggestions if grid_ids is None else suggestions.loc[[str(g) for g in grid_ids]]
    if base is None or not len(base):
        base = gpd.GeoDataFrame({"name": pd.Series(dtype=object), "kind": pd.Series(dtype=object),
                                 "community_id": pd.Series(dtype=object)},
                                geometry=gpd.GeoSeries([], crs=dataset.crs), crs=dataset.crs)
        base.index = pd.Index([], dtype=object, name="station_id")
    base = base.to_crs(dataset.crs) if base.crs is not None and base.crs != dataset.crs else base
    taken = set(base.index.astype(str))
    ids = []
    for gid in sug.index.astype(str):
        sid, k = f"YX-{gid}", 2
        while sid in taken:
            sid, k = f"YX-{gid}-{k}", k + 1
        taken.add(sid)
        ids.append(sid)
    comm = sug["community_id"] if "community_id" in sug.columns else pd.Series(None, index=sug.index)
    new = gpd.GeoDataFrame({
        "name": [t("gs_station_name", lang, code=short_code(g, c)) for g, c in zip(sug.index.astype(str), comm)],
        "kind": GRID_STATION, "community_id": comm.to_numpy(), "grid_id": sug.index.astype(str).to_numpy(),
        "building_id": sug["building_id"].to_numpy() if "building_id" in sug.columns else None, "adopted": True},
        index=pd.Index(ids, name="station_id"), geometry=sug.geometry.to_numpy(), crs=dataset.crs)
    old = base.copy()
    old.index = old.index.astype(str)
    old["adopted"] = False
    out = pd.concat([old, new])
    out.index.name = "station_id"
    return gpd.GeoDataFrame(out, geometry="geometry", crs=dataset.crs)


# --------------------------------------------------------------------------- how many households a 郁心站 reaches
def grid_station_coverage(result, minutes: float | None = None) -> dict:
    """Households within ``minutes`` (default: the largest band of the analysis) of an active 郁心站,
    from a :class:`~gridplan.reach.CoverageResult` whatever kinds it counts (its per-kind columns
    ``grid_station_walk_min``).

    Returns ``{"minutes", "households", "covered_households", "pct_households", "stations"}``
    (``pct_households`` ``None`` without households; nothing covered without a 郁心站).
    """
    b = result.buildings
    m = float(max(result.minutes) if minutes is None else minutes)
    hh = pd.to_numeric(b["households"], errors="coerce").fillna(0).to_numpy(dtype=float)
    col = f"{GRID_STATION}_walk_min"
    within = (b[col].to_numpy(dtype=float) <= m + 1e-9) if col in b.columns else np.zeros(len(b), dtype=bool)
    st = result.stations
    n = int((st["kind"].astype(str).eq(GRID_STATION) & st["active"].astype(bool)).sum()) if len(st) else 0
    total, cov = float(hh.sum()), float(hh[within].sum())
    return {"minutes": m, "households": int(total), "covered_households": int(cov),
            "pct_households": round(100.0 * cov / total, 2) if total else None, "stations": n}
