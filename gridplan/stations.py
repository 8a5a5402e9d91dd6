"""Where to put K new stations: maximal covering of the households the current stations miss.

Candidates are buildings (a station in or beside that building), network nodes (street
corners) or a layer of sites the user supplies. The walk from a candidate to a building is the
exact one of :mod:`gridplan.reach` (both snap distances included). Two solvers share one
coverage matrix:

* ``method="greedy"`` — greedy by marginal gain, then a 1-swap local search (fast, for
  interactive use);
* ``method="exact"`` — a MILP (``scipy.optimize.milp``, HiGHS) on demand rows aggregated by
  identical coverage; the result says whether optimality was proven.

The result is a GeoDataFrame of sites in selection order with the marginal households gained
by each; ``gdf.attrs`` holds ``total_gain``, ``bound`` (an upper bound on what any K sites can
gain), ``optimal``, ``method``, ``seconds`` and the counts of the instance.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from .model import Dataset
from .network import Snapped, WalkNetwork, _as_points
from .reach import Coverage, CoverageResult, minutes_to_m

log = logging.getLogger(__name__)

_EPS = 1e-7
PRESOLVE = False  # HiGHS presolve was slower on every MCLP tried and overran time limits


def pairs_within(net: WalkNetwork, src: Snapped, dst: Snapped, max_m: float,
                 *, batch_cells: float = 2e7) -> sparse.csr_matrix:
    """Which destination points each source point reaches within ``max_m`` of walking.

    Exact like :meth:`WalkNetwork.point_distances` (both snap distances, partial edges, the
    same-edge case). Returns a boolean ``(len(src), len(dst))`` CSR matrix.
    """
    n = net.n_nodes
    si = np.flatnonzero(src.ok)
    di = np.flatnonzero(dst.ok)
    rows, cols = [], []
    if len(si) and len(di):
        s = src.take(si)
        d = dst.take(di)
        g = net.augmented(s)
        # destinations hanging off each node: (node, destination, offset along its edge)
        e = d.edge
        nodes = np.concatenate([net.edge_u[e], net.edge_v[e]])
        dest = np.concatenate([np.arange(len(di)), np.arange(len(di))])
        off = np.concatenate([d.pos_m, net.edge_len_m[e] - d.pos_m]) + np.concatenate([d.snap_m, d.snap_m])
        order = np.argsort(nodes, kind="stable")
        nodes, dest, off = nodes[order], dest[order], off[order]
        indptr = np.searchsorted(nodes, np.arange(n + 1))
        deg = np.diff(indptr)
        bs = max(1, int(batch_cells // (n + len(si))))
        for start in range(0, len(si), bs):
            idx = np.arange(start, min(start + bs, len(si)))
            dm = csgraph.dijkstra(g, directed=True, indices=n + idx, limit=max_m)[:, :n]
            r, nd = np.nonzero(dm <= max_m)
            dv = dm[r, nd]
            cnt = deg[nd]
            tot = int(cnt.sum())
            if tot == 0:
                continue
            rep = np.repeat(np.arange(len(r)), cnt)
            starts = np.repeat(indptr[nd] - np.cumsum(cnt) + cnt, cnt) + np.arange(tot)
            val = dv[rep] + off[starts]
            ok = val <= max_m + _EPS
            rows.append(si[idx[r[rep[ok]]]])
            cols.append(di[dest[starts[ok]]])
        # same edge: walk along it directly
        m = pd.DataFrame({"edge": s.edge, "a": np.arange(len(si))}).merge(
            pd.DataFrame({"edge": d.edge, "b": np.arange(len(di))}), on="edge")
        if len(m):
            a, b = m["a"].to_numpy(), m["b"].to_numpy()
            direct = s.snap_m[a] + d.snap_m[b] + np.abs(s.pos_m[a] - d.pos_m[b])
            ok = direct <= max_m + _EPS
            rows.append(si[a[ok]])
            cols.append(di[b[ok]])
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    A = sparse.csr_matrix((np.ones(len(r), dtype=bool), (r, c)), shape=(len(src), len(dst)))
    A.sum_duplicates()
    A.data[:] = True
    return A


# ---------------------------------------------------------------------- solvers on a 0/1 matrix

def _objective(A: sparse.csc_matrix, w: np.ndarray, sel: Sequence[int]) -> float:
    if len(sel) == 0:
        return 0.0
    cov = np.asarray(A[:, list(sel)].sum(axis=1)).ravel() > 0
    return float(w[cov].sum())


def _greedy(A: sparse.csc_matrix, R: sparse.csr_matrix, w: np.ndarray, k: int, start: Sequence[int] = ()) -> list[int]:
    rem = w.astype(float).copy()
    gains = np.asarray(A.T @ rem).ravel()
    sel: list[int] = []
    for j in list(start)[:k]:
        sel.append(int(j))
        rows = A.indices[A.indptr[j]:A.indptr[j + 1]]
        rows = rows[rem[rows] > 0]
        if len(rows):
            gains -= R[rows].T @ rem[rows]
            rem[rows] = 0.0
    while len(sel) < k:
        g = gains.copy()
        g[sel] = -np.inf
        j = int(np.argmax(g))
        if not np.isfinite(g[j]) or g[j] <= 0:
            break
        sel.append(j)
        rows = A.indices[A.indptr[j]:A.indptr[j + 1]]
        rows = rows[rem[rows] > 0]
        if len(rows):
            gains -= R[rows].T @ rem[rows]
            rem[rows] = 0.0
    return sel


def _col(A: sparse.csc_matrix, j: int, nrow: int) -> np.ndarray:
    c = np.zeros(nrow)
    c[A.indices[A.indptr[j]:A.indptr[j + 1]]] = 1.0
    return c


def _swap(A: sparse.csc_matrix, AT: sparse.csr_matrix, w: np.ndarray, sel: list[int], max_rounds: int = 100):
    """1-swap local search (replace one site by the best other while that gains)."""
    nrow = A.shape[0]
    sel = list(sel)
    if not sel:
        return sel, 0.0
    cnt = np.asarray(A[:, sel].sum(axis=1)).ravel()
    for _ in range(max_rounds):
        improved = False
        for pos, i in enumerate(list(sel)):
            col = _col(A, i, nrow)
            cnt_wo = cnt - col
            unc = cnt_wo == 0
            lost = float(w[unc & (col > 0)].sum())
            gains = AT @ (w * unc)
            gains[sel] = -np.inf
            j = int(np.argmax(gains))
            if gains[j] > lost + 1e-9:
                sel[pos] = j
                cnt = cnt_wo + _col(A, j, nrow)
                improved = True
        if not improved:
            break
    return sel, float(w[cnt > 0].sum())


def greedy_swap(A: sparse.csc_matrix, w: np.ndarray, k: int, *, swap: bool = True, starts: int = 8,
                perturbations: int = 8, time_cap_s: float | None = None, seed: int = 0,
                stats: dict | None = None) -> list[int]:
    """Maximal covering heuristic: greedy, then 1-swap local search, then ``starts`` restarts (greedy
    forced to open with one of the best single sites) and ``perturbations`` random perturbations of
    the best solution, each followed by the swap search. ``A`` is demand × candidate (0/1).

    The work is fixed by the counts, so the result depends only on the input and ``seed``, never on
    the machine or its load. ``time_cap_s`` is a safety cap only: when it ends the search early,
    ``stats["budget_reached"]`` is set True (and the result may then differ between machines).
    """
    t0 = time.perf_counter()
    if stats is not None:
        stats["budget_reached"] = False

    def capped() -> bool:
        if time_cap_s is not None and time.perf_counter() - t0 > time_cap_s:
            if stats is not None:
                stats["budget_reached"] = True
            return True
        return False
    A = sparse.csc_matrix(A, dtype=np.float64)
    R = A.tocsr()
    AT = sparse.csr_matrix(A.T)
    k = min(k, A.shape[1])
    best = _greedy(A, R, w, k)
    if not swap or not best or len(best) >= A.shape[1]:
        return best
    best, best_v = _swap(A, AT, w, best)
    single = np.asarray(AT @ w).ravel()
    order = np.argsort(-single, kind="stable")
    tried = {best[0]} if best else set()
    for j0 in order[: starts + 1]:
        if capped():
            break
        if int(j0) in tried:
            continue
        tried.add(int(j0))
        cand, v = _swap(A, AT, w, _greedy(A, R, w, k, start=[int(j0)]))
        if v > best_v + 1e-9:
            best, best_v = cand, v
    rng = np.random.default_rng(seed)
    pool = order[: max(50, 5 * k)]
    for _ in range(perturbations):
        if capped() or len(best) < 1:
            break
        cand = list(best)
        for _m in range(max(1, len(cand) // 3)):
            pos = int(rng.integers(len(cand)))
            choices = [int(x) for x in pool if int(x) not in cand]
            if not choices:
                break
            cand[pos] = int(rng.choice(choices))
        cand, v = _swap(A, AT, w, cand)
        if v > best_v + 1e-9:
            best, best_v = cand, v
    return best


def exact_mclp(A: sparse.csc_matrix, w: np.ndarray, k: int, *, time_limit_s: float = 60.0):
    """Exact maximal covering with ``scipy.optimize.milp`` (HiGHS).

    Returns ``(selection, optimal, bound, status_message)``.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    A = sparse.csr_matrix(A, dtype=np.float64)
    nrow, ncol = A.shape
    k = min(k, ncol)
    if nrow == 0 or ncol == 0 or k == 0:
        return [], True, 0.0, "empty instance"
    # variables: x (candidates, binary) then y (demand rows, 0..1)
    c = np.concatenate([np.zeros(ncol), -w.astype(float)])
    cover = sparse.hstack([-A, sparse.identity(nrow, format="csr")], format="csr")  # y_i − Σ a_ij x_j ≤ 0
    card = sparse.csr_matrix(np.concatenate([np.ones(ncol), np.zeros(nrow)])[None, :])
    cons = [LinearConstraint(cover, -np.inf, 0.0), LinearConstraint(card, 0, k)]
    integrality = np.concatenate([np.ones(ncol), np.zeros(nrow)])
    res = milp(c, constraints=cons, integrality=integrality, bounds=Bounds(0, 1),
               options={"time_limit": float(time_limit_s), "disp": False, "mip_rel_gap": 0.0, "presolve": PRESOLVE})
    if res.x is None:
        return [], False, float(w.sum()), res.message
    x = res.x[:ncol]
    sel = [int(j) for j in np.argsort(-x)[:k] if x[j] > 0.5]
    bound = getattr(res, "mip_dual_bound", None)
    bound = -float(bound) if bound is not None and np.isfinite(bound) else float(w.sum())
    return sel, res.status == 0, bound, res.message


def _aggregate_rows(A: sparse.csr_matrix, w: np.ndarray):
    """Merge demand rows covered by exactly the same candidates (summing weights); drop rows no
    candidate covers and duplicate candidate columns. Returns (A', w', column ids kept)."""
    A = sparse.csr_matrix(A)
    A.sort_indices()
    keys: dict[bytes, int] = {}
    rid = np.empty(A.shape[0], dtype=np.int64)
    for i in range(A.shape[0]):
        key = A.indices[A.indptr[i]:A.indptr[i + 1]].tobytes()
        rid[i] = keys.setdefault(key, len(keys))
    nonempty = np.diff(A.indptr) > 0
    wa = np.bincount(rid, weights=w, minlength=len(keys))
    first = np.full(len(keys), -1, dtype=np.int64)
    first[rid[::-1]] = np.arange(A.shape[0])[::-1]  # first row of each distinct coverage
    keep = nonempty[first] if len(first) else np.zeros(0, dtype=bool)
    Ar = A[first[keep]]
    wr = wa[keep]
    C = sparse.csc_matrix(Ar)
    C.sort_indices()
    ckeys: dict[bytes, int] = {}
    kept: list[int] = []
    for j in range(C.shape[1]):
        key = C.indices[C.indptr[j]:C.indptr[j + 1]].tobytes()
        if C.indptr[j + 1] > C.indptr[j] and key not in ckeys:
            ckeys[key] = j
            kept.append(j)
    cols = np.asarray(kept, dtype=np.int64)
    return sparse.csc_matrix(C[:, cols]), wr, cols


def _drop_dominated(C: sparse.csc_matrix, *, max_pairs: float = 3e7) -> np.ndarray:
    """Columns whose covered rows are not a strict subset of another column's (kept for the
    MILP: a dominated site can always be swapped for its dominator without loss)."""
    ncol = C.shape[1]
    R = sparse.csr_matrix(C)
    work = float((np.diff(R.indptr).astype(float) ** 2).sum())
    if ncol == 0 or work > max_pairs:
        return np.arange(ncol)
    B = sparse.csc_matrix(C, dtype=np.float64)
    pairs = (B.T @ B).tocoo()
    size = np.diff(C.indptr)
    a, b, o = pairs.row, pairs.col, pairs.data
    dom = (a != b) & (o >= size[a] - 0.5) & (size[b] > size[a])
    bad = np.zeros(ncol, dtype=bool)
    bad[a[dom]] = True
    return np.flatnonzero(~bad)


# ---------------------------------------------------------------------- the public function

def suggest_stations(source: Dataset | Coverage | CoverageResult, k: int, *, method: str = "greedy",
                     candidates: str | gpd.GeoDataFrame = "buildings", minutes: float | None = None,
                     speed_kmh: float | str | None = None, kinds: Iterable[str] | None = None,
                     weight: str = "households", time_limit_s: float = 60.0, max_snap_m: float = 300.0,
                     seed: int = 0, time_cap_s: float | None = 120.0) -> gpd.GeoDataFrame:
    """Suggest ``k`` new station sites covering the most households the current stations miss.

    Parameters
    ----------
    source
        A dataset, or a :class:`~gridplan.reach.Coverage` / result to reuse (its network,
        snapped buildings and active stations).
    k
        Number of new sites.
    method
        ``"greedy"`` (greedy plus 1-swap; fast) or ``"exact"`` (MILP, optimality reported).
    candidates
        ``"buildings"``, ``"nodes"`` (street corners) or a GeoDataFrame of candidate points
        (indexed by their id) in the dataset's metric CRS.
    minutes, speed_kmh, kinds
        The service walk (default: the analysis' largest band, speed and counted kinds; 15 min at
        4 km/h for a dataset).
    weight
        ``"households"`` or ``"persons"``: what to maximise.
    time_limit_s
        Time limit of the exact solver (the best solution found and the bound are returned).
    seed
        Seed of the perturbations of the heuristic: the same input and seed give the same sites on
        any machine (the heuristic's work is a fixed number of restarts, not a time budget).
    time_cap_s
        Safety cap of the heuristic in seconds (``attrs["budget_reached"]`` says whether it cut the
        search short); ``None`` for no cap.

    Returns
    -------
    GeoDataFrame
        One row per site, in selection order: ``rank``, ``candidate_id``, ``candidate_kind``,
        ``gain_households``, ``gain_persons``, ``gain_buildings`` (marginal, in this order),
        ``cum_households``, ``walk_snap_m`` and the site point. ``attrs``: ``total_gain``,
        ``bound``, ``optimal``, ``gap_pct``, ``method``, ``uncovered_households``,
        ``coverable_households``, ``n_candidates``, ``n_demand_rows``, ``seconds``.
    """
    t0 = time.perf_counter()
    if method not in ("greedy", "exact"):
        raise ValueError(f"unknown method {method!r}; use 'greedy' or 'exact'")
    if weight not in ("households", "persons"):
        raise ValueError("weight must be 'households' or 'persons'")
    k = int(k)
    if k < 1:
        raise ValueError("the number of new stations must be at least 1")
    if isinstance(source, CoverageResult):
        source = source.analysis
    if isinstance(source, Coverage):
        cov = source
        opts: dict[str, Any] = {}
        if minutes is not None:
            opts["minutes"] = (minutes,)
        if speed_kmh is not None:
            opts["speed_kmh"] = speed_kmh
        if kinds is not None:
            opts["kinds"] = kinds
        if opts:
            cov = cov.with_options(**opts)
    else:
        cov = Coverage(source, minutes=(15.0 if minutes is None else minutes,),
                       speed_kmh=4.0 if speed_kmh is None else speed_kmh,
                       kinds=("red_station",) if kinds is None else kinds, max_snap_m=max_snap_m)
    net = cov.network
    D = float(minutes_to_m(minutes if minutes is not None else cov.minutes[-1], cov.speed_kmh))
    ds = cov.dataset
    r = cov.reach()
    bdat = cov._bdata
    hh = bdat["households"].to_numpy(dtype=float)
    pp = bdat["persons"].to_numpy(dtype=float)
    w_all = hh if weight == "households" else pp
    bsnap = cov.building_snap
    demand = np.flatnonzero((r.dist > D + _EPS) & bsnap.ok & (w_all > 0))

    # candidates
    if isinstance(candidates, str) and candidates == "buildings":
        cidx = np.flatnonzero(bsnap.ok)
        csnap = bsnap.take(cidx)
        cgeom = _as_points(ds.buildings.geometry.values[cidx])
        cids = ds.buildings.index.astype(str).to_numpy()[cidx]
        ckind = "building"
    elif isinstance(candidates, str) and candidates == "nodes":
        nodes = np.flatnonzero(net.kept_node)
        csnap = net.snap_nodes(nodes)
        cgeom = shapely.points(net.node_xy[nodes])
        cids = np.array([f"node{i}" for i in nodes], dtype=object)
        ckind = "node"
    elif isinstance(candidates, gpd.GeoDataFrame):
        cand = candidates.to_crs(ds.crs) if candidates.crs is not None and candidates.crs != ds.crs else candidates
        csnap = net.snap(cand.geometry, max_snap_m=cov.max_snap_m)
        keep = np.flatnonzero(csnap.ok)
        csnap = csnap.take(keep)
        cgeom = _as_points(cand.geometry.values[keep])
        cids = cand.index.astype(str).to_numpy()[keep]
        ckind = "layer"
    else:
        raise ValueError("candidates must be 'buildings', 'nodes' or a GeoDataFrame of points")

    dsnap = bsnap.take(demand)
    if len(demand) <= len(csnap):
        W = pairs_within(net, dsnap, csnap, D)
    else:
        W = pairs_within(net, csnap, dsnap, D).T.tocsr()
    A_raw = W.astype(np.float64).tocsr()  # demand × candidate
    w_dem = w_all[demand]
    Aagg, wagg, colmap = _aggregate_rows(A_raw, w_dem)
    t_matrix = time.perf_counter() - t0

    # a cheap valid upper bound: the k largest single-site gains (submodularity), capped by all coverable
    single = np.sort(np.asarray(Aagg.T @ wagg).ravel())[::-1]
    ub = min(float(single[:k].sum()), float(wagg.sum()))
    heur: dict = {}
    sel_local = greedy_swap(Aagg, wagg, k, seed=seed, time_cap_s=time_cap_s, stats=heur)
    total = _objective(Aagg, wagg, sel_local)
    optimal, bound, status = total >= ub - 1e-6, ub, "greedy + 1-swap"
    if optimal:
        status += " (attains the upper bound: optimal)"
    if method == "exact" and not optimal:
        keep = _drop_dominated(Aagg)
        sel_x, optimal, bound_x, status = exact_mclp(Aagg[:, keep], wagg, k, time_limit_s=time_limit_s)
        sel_x = [int(keep[j]) for j in sel_x]
        tot_x = _objective(Aagg, wagg, sel_x)
        if tot_x >= total:
            sel_local, total = sel_x, tot_x
        bound = min(bound, bound_x)
        status = f"MILP: {status}"
    bound = max(bound, total)
    if optimal:
        bound = total
    sel = [int(colmap[j]) for j in sel_local]

    # order by marginal gain (greedy order within the chosen set) and report marginal figures
    Ac = sparse.csc_matrix(A_raw)
    remaining = list(sel)
    covered = np.zeros(A_raw.shape[0], dtype=bool)
    rows_out: list[dict[str, Any]] = []
    cum = 0.0
    while remaining:
        best, best_g, best_rows = None, -1.0, None
        for j in remaining:
            rows = Ac.indices[Ac.indptr[j]:Ac.indptr[j + 1]]
            rows = rows[~covered[rows]]
            g = w_dem[rows].sum()
            if g > best_g:
                best, best_g, best_rows = j, g, rows
        assert best is not None and best_rows is not None   # remaining is not empty and every gain is ≥ 0
        remaining.remove(best)
        if best_g <= 0:  # nothing left to gain: fewer sites suffice
            break
        covered[best_rows] = True
        gh = float(hh[demand][best_rows].sum())
        cum += gh
        rows_out.append({"rank": len(rows_out) + 1, "candidate_id": cids[best], "candidate_kind": ckind,
                         "gain_households": gh, "gain_persons": float(pp[demand][best_rows].sum()),
                         "gain_buildings": int(len(best_rows)), "cum_households": cum,
                         "walk_snap_m": float(csnap.snap_m[best]), "geometry": cgeom[best]})
    cols = ["rank", "candidate_id", "candidate_kind", "gain_households", "gain_persons", "gain_buildings",
            "cum_households", "walk_snap_m"]
    out = gpd.GeoDataFrame(rows_out if rows_out else {c: [] for c in cols},
                           geometry="geometry" if rows_out else gpd.GeoSeries([], crs=ds.crs), crs=ds.crs)
    out = out[cols + ["geometry"]]
    secs = time.perf_counter() - t0
    out.attrs.update({
        "method": method, "k": k, "weight": weight, "minutes": float(D / (cov.speed_kmh * 1000 / 60)),
        "walk_m": D, "total_gain": float(total), "bound": float(bound), "optimal": bool(optimal),
        "gap_pct": max(0.0, float(100.0 * (bound - total) / bound)) if bound > 0 else 0.0, "status": str(status),
        "uncovered_households": float(hh[demand].sum()),
        "coverable_households": float(hh[demand][np.asarray(A_raw.sum(axis=1)).ravel() > 0].sum()),
        "n_candidates": int(len(cids)), "n_demand": int(len(demand)), "n_demand_rows": int(Aagg.shape[0]),
        "n_distinct_candidates": int(Aagg.shape[1]), "matrix_seconds": t_matrix, "seconds": secs,
        "budget_reached": bool(heur.get("budget_reached", False)),
    })
    log.info("suggest_stations: %s, %d sites, gain %.0f (bound %.0f) in %.2f s", method, len(out), total, bound, secs)
    return out


def describe_places(dataset: Dataset, points, *, road_within_m: float = 150.0) -> pd.DataFrame:
    """Where each point is, in words a planner can find: the nearest named road (within
    ``road_within_m``), the compound it lies in (or the nearest within 50 m), the community and
    the coordinates (WGS 84 lon/lat, 6 decimals).

    ``points`` are shapely points (or a GeoSeries/GeoDataFrame) in the dataset's metric CRS, e.g.
    the geometry of :func:`suggest_stations`. Returns columns ``road``, ``compound``,
    ``community``, ``lon``, ``lat`` (empty text when unknown), one row per point in order.
    """
    import shapely
    from pyproj import Transformer

    geoms = np.asarray(getattr(points, "geometry", points), dtype=object)
    n = len(geoms)
    out = pd.DataFrame({"road": [""] * n, "compound": [""] * n, "community": [""] * n,
                        "lon": np.full(n, np.nan), "lat": np.full(n, np.nan)})
    if n == 0:
        return out

    def nearest_name(layer, max_m, inside_first=False):
        if layer is None or not len(layer) or "name" not in layer.columns:
            return [""] * n
        names = layer["name"].astype(object).where(layer["name"].notna(), "").astype(str).to_numpy()
        ok = names != ""
        if not ok.any():
            return [""] * n
        tree = shapely.STRtree(layer.geometry.to_numpy()[ok])
        idx = tree.query_nearest(geoms, max_distance=max_m, all_matches=False)
        res = [""] * n
        for i, j in zip(idx[0].tolist(), idx[1].tolist()):
            res[i] = names[ok][j]
        return res

    out["road"] = nearest_name(dataset.roads, road_within_m)
    out["compound"] = nearest_name(dataset.compounds, 50.0)
    out["community"] = nearest_name(dataset.communities, 1.0)
    xy = np.array([[g.x, g.y] for g in geoms], dtype=float)
    lon, lat = Transformer.from_crs(dataset.crs, 4326, always_xy=True).transform(xy[:, 0], xy[:, 1])
    out["lon"], out["lat"] = np.round(lon, 6), np.round(lat, 6)
    return out
