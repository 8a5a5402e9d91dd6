"""Building cells and grid polygons.

Every building gets one *cell*: the Voronoi cell of its representative point among the buildings
of its community, clipped to the community polygon. The cells of a community tile it wall to
wall (no gaps, no overlaps), so the union of a grid's cells is the grid polygon, and two buildings
are neighbours (:mod:`gridplan.adjacency`) exactly when their cells share a stretch of boundary.
A grid that is connected in that graph therefore has a single-polygon outline.

Choices worth knowing:

* identical buildings (same representative point) are spread on a 0.5 m circle so each gets
  its own wedge-shaped cell;
* when clipping cuts a cell into several pieces (a concave or multi-part community), the piece
  holding the building stays with it and every other piece joins the neighbouring cell it shares
  the longest boundary with (so cells stay single polygons where the community allows);
* buildings whose community has no polygon are tessellated inside the convex hull of that
  community's buildings grown by 30 m.

Cells are computed once per :class:`~gridplan.model.Dataset` and cached; grid polygons are cached
per set of member buildings, so after an edit only the grids that changed are dissolved again.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .model import Dataset, Plan, dataset_cache, derived

__all__ = ["building_cells", "building_points", "community_codes", "community_labels", "community_regions",
           "glued_cells", "grid_codes", "grid_communities", "grid_community", "grid_polygons", "majority"]

log = logging.getLogger(__name__)

#: distance (m) identical building points are nudged apart by
_NUDGE_M = 0.5
#: growth (m) of the hull used as the region of a community without a polygon
_HULL_BUFFER_M = 30.0


# ---------------------------------------------------------------------------------------------
# per-building basics shared by the engine modules


def community_labels(dataset: Dataset) -> np.ndarray:
    """The community id of every building as an object array of str ('' when unknown)."""
    def compute():
        b = dataset.buildings
        if "community_id" not in b.columns:
            return np.full(len(b), "", dtype=object)
        c = b["community_id"]
        out = np.where(c.isna().to_numpy(), "", c.astype(str).to_numpy())
        return out.astype(object)
    return dataset_cache(dataset, "community_labels", compute)


def community_codes(dataset: Dataset) -> tuple[np.ndarray, pd.Index]:
    """Each building's community (:func:`community_labels`) as a code, and the community ids in code
    order (sorted); once per dataset."""
    return dataset_cache(dataset, "community_codes",
                         lambda: pd.factorize(pd.Series(community_labels(dataset), dtype=object), sort=True))


def majority(codes: np.ndarray, ng: int, cat: np.ndarray, ncat: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group (``codes``: 0…ng−1 per item), the category (``cat``: 0…ncat−1 per item) most of its
    items are in (a tie: the lowest code; an empty group: 0), and how many categories it spans."""
    nc = max(int(ncat), 1)
    pair, n = np.unique(codes.astype(np.int64) * nc + cat, return_counts=True)
    pg, pc = pair // nc, pair % nc
    first = np.lexsort((pc, -n, pg))                           # per group: most items, then the lowest code
    if len(first):
        first = first[np.r_[True, pg[first][1:] != pg[first][:-1]]]
    main = np.zeros(ng, dtype=np.int64)
    main[pg[first]] = pc[first]
    return main, np.bincount(pg, minlength=ng)


def building_points(dataset: Dataset) -> np.ndarray:
    """An (n, 2) array of each building's representative point, identical points nudged apart."""
    def compute():
        geom = dataset.buildings.geometry.to_numpy()
        pts = shapely.point_on_surface(geom)
        xy = shapely.get_coordinates(pts, include_z=False)
        if len(xy) != len(geom):  # empty geometries have no coordinates
            xy = np.array([shapely.get_coordinates(p)[0] if not shapely.is_empty(p) else (np.nan, np.nan)
                           for p in pts])
        xy = np.asarray(xy, dtype=float).copy()
        return _nudge_duplicates(xy)
    return dataset_cache(dataset, "building_points", compute)


def _nudge_duplicates(xy: np.ndarray) -> np.ndarray:
    """Spread identical points on a small circle (radius ``_NUDGE_M``) so each gets a wedge cell."""
    ok = np.isfinite(xy).all(1)
    key = np.round(np.where(ok[:, None], xy, 0.0), 3)
    _, inv, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    if (counts > 1).any():
        order = np.argsort(inv, kind="stable")
        sorted_inv = inv[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_inv)) + 1]
        rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        r = np.empty(len(order), dtype=int)
        r[order] = rank
        c = counts[inv]
        dup = (c > 1) & ok
        ang = 2 * np.pi * r[dup] / c[dup] + 0.1
        rad = _NUDGE_M * (1 + 0.01 * r[dup])
        xy[dup, 0] += rad * np.cos(ang)
        xy[dup, 1] += rad * np.sin(ang)
    return xy


def community_regions(dataset: Dataset) -> dict[str, Any]:
    """The polygon each community's buildings are tessellated in, by community id."""
    def compute():
        labels = community_labels(dataset)
        comms = dataset.communities
        polys: dict[str, Any] = {}
        if comms is not None and len(comms):
            geoms = shapely.make_valid(comms.geometry.to_numpy())
            for cid, g in zip(comms.index.astype(str), geoms):
                if g is None or shapely.is_empty(g):
                    continue
                g = shapely.get_parts(g) if shapely.get_type_id(g) == 7 else [g]
                g = shapely.union_all([x for x in g if shapely.get_type_id(x) in (3, 6)])
                if not shapely.is_empty(g):
                    polys[cid] = polys[cid].union(g) if cid in polys else g
        geom = dataset.buildings.geometry.to_numpy()
        for cid in pd.unique(labels):
            if cid not in polys:
                sel = geom[labels == cid]
                hull = shapely.convex_hull(shapely.union_all(sel))
                polys[cid] = shapely.buffer(hull, _HULL_BUFFER_M)
        return polys
    return dataset_cache(dataset, "community_regions", compute)


def building_cells(dataset: Dataset) -> gpd.GeoSeries:
    """One cell per building, tiling each community wall to wall (clipped to the community).

    Returns
    -------
    GeoSeries
        Indexed like ``dataset.buildings`` (by ``building_id``), in the dataset's metric CRS.
        A building whose point lies outside its community polygon may get an empty cell.
    """
    return dataset_cache(dataset, "building_cells", lambda: _cells_and_glued(dataset))[0]


def glued_cells(dataset: Dataset) -> np.ndarray:
    """Which cells were clipped by the community boundary or received stray pieces of other
    cells (their edges may not match their neighbours' vertex for vertex)."""
    return dataset_cache(dataset, "building_cells", lambda: _cells_and_glued(dataset))[1]


def _cells_and_glued(dataset: Dataset):
    cells, glued = _compute_cells(dataset)
    return gpd.GeoSeries(cells, index=dataset.buildings.index, crs=dataset.crs, name="geometry"), glued


def _voronoi_in(pts: np.ndarray, region) -> tuple[np.ndarray, np.ndarray]:
    """Voronoi cells of ``pts`` (in order) clipped to ``region``, and which ones were clipped."""
    if len(pts) == 1:
        return np.array([region], dtype=object), np.ones(1, dtype=bool)
    vor = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=region, ordered=True)
    parts = shapely.get_parts(vor)
    if len(parts) != len(pts):  # pragma: no cover - GEOS merged points: fall back to nearest
        parts = _assign_cells_by_point(parts, pts)
    # only cells reaching the community boundary need clipping
    shapely.prepare(region)
    inside = shapely.contains_properly(region, parts)
    out = parts.copy()
    cut = ~inside
    out[cut] = shapely.intersection(parts[cut], region)
    return out, cut


def _compute_cells(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    labels = community_labels(dataset)
    xy = building_points(dataset)
    regions = community_regions(dataset)
    out = np.empty(len(labels), dtype=object)
    glued = np.zeros(len(labels), dtype=bool)
    for cid in pd.unique(labels):
        idx = np.flatnonzero(labels == cid)
        region = regions[cid]
        pts = xy[idx]
        if len(idx) == 1:
            out[idx[0]] = region
            continue
        cells, cut = _voronoi_in(pts, region)
        out[idx], g = _tidy_cells(cells, pts)
        glued[idx] = g | cut
    return out, glued


def _assign_cells_by_point(parts: np.ndarray, pts: np.ndarray) -> np.ndarray:
    tree = shapely.STRtree(parts)
    j = tree.query_nearest(shapely.points(pts), return_distance=False, all_matches=False)[1]
    return parts[j]


def _polygonal(g):
    """Only the polygonal parts of a geometry (intersection may leave lines or points)."""
    tid = shapely.get_type_id(g)
    if tid in (3, 6):
        return g
    parts = [p for p in shapely.get_parts(g) if shapely.get_type_id(p) in (3, 6)]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)


def _tidy_cells(cells: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep each cell's piece holding its building (``pts``: the buildings' points as an (n, 2)
    array); give stray pieces to the neighbour cell sharing the longest boundary with them. Also
    returns which cells received pieces."""
    cells = cells.copy()
    glued = np.zeros(len(cells), dtype=bool)
    tid = shapely.get_type_id(cells)
    for i in np.flatnonzero((tid != 3) & (tid != 6)).tolist():
        cells[i] = _polygonal(cells[i])
    nparts = shapely.get_num_geometries(cells)
    multi = np.flatnonzero(nparts > 1)
    if len(multi) == 0:
        return cells, glued
    strays: list[tuple[int, Any]] = []
    for i in multi.tolist():
        parts = shapely.get_parts(cells[i])
        d = shapely.distance(parts, shapely.points(pts[i]))
        keep = int(np.argmin(d))
        cells[i] = parts[keep]
        strays.extend((i, p) for j, p in enumerate(parts) if j != keep)
    tree = shapely.STRtree(cells)
    additions: dict[int, list] = {}
    for owner, piece in strays:
        cand = tree.query(piece, predicate="intersects")
        cand = cand[cand != owner]
        target = owner
        if len(cand):
            shared = shapely.length(shapely.intersection(cells[cand], piece))
            if shared.max() > 1e-6:
                target = int(cand[int(np.argmax(shared))])
        additions.setdefault(target, []).append(piece)
    for t, pieces in additions.items():
        cells[t] = shapely.union_all([cells[t], *pieces])
        glued[t] = True
    return cells, glued


# ---------------------------------------------------------------------------------------------
# grid polygons


def _key(members: np.ndarray) -> bytes:
    return hashlib.blake2b(np.sort(members).astype(np.int64).tobytes(), digest_size=16).digest()


def _union(geoms: np.ndarray):
    """``union_all``; when GEOS fails on an invalid member (a self-intersecting cell), the invalid
    members are repaired (their polygonal parts) and the union is tried again."""
    try:
        return shapely.union_all(geoms)
    except shapely.errors.GEOSException as e:
        bad = ~shapely.is_valid(geoms)
        if not bad.any():
            raise
        log.warning("grid outline: %d invalid cell(s) repaired before the union (%s)", int(bad.sum()), e)
        fixed = geoms.copy()
        fixed[bad] = [_polygonal(shapely.make_valid(g)) for g in geoms[bad]]
        return shapely.union_all(fixed)


def _dissolve(cells: np.ndarray, members: np.ndarray):
    geoms = cells[members]
    if len(geoms) == 1:
        g = geoms[0]
    else:
        try:
            g = shapely.coverage_union_all(geoms)
        except Exception:  # pragma: no cover - not a clean coverage
            g = _union(geoms)
        if not shapely.is_valid(g) or shapely.get_num_geometries(g) > 1:
            g2 = _union(geoms)
            if shapely.is_valid(g2):
                g = g2
    g = _polygonal(g)
    if shapely.get_type_id(g) == 6 and shapely.get_num_geometries(g) == 1:
        g = shapely.get_geometry(g, 0)
    return g


def _poking_out(fp: np.ndarray, members: np.ndarray, own: np.ndarray) -> np.ndarray:
    """The members (building positions) whose polygon footprint pokes out of their grid's dissolved
    cells (``own``, one per member) by more than 0.01 m²."""
    tid = shapely.get_type_id(fp[members])
    keep = (tid == 3) | (tid == 6)
    m, own = members[keep], own[keep]
    if len(m) == 0:
        return m
    keep = ~shapely.covers(own, fp[m])
    m, own = m[keep], own[keep]
    if len(m) == 0:
        return m
    return m[shapely.area(shapely.difference(fp[m], own)) > 0.01]


def _claim_footprints(dataset: Dataset, geoms: np.ndarray, codes: np.ndarray, labels: np.ndarray,
                      cand: np.ndarray | None = None) -> np.ndarray:
    """Where a building's footprint pokes out of its grid's outline (cells are built from points),
    move that part of the footprint from the neighbouring grid to the building's grid, so outlines
    never cut through a building. Area only moves between grids (the tiling stays); a move that
    would break a grid into pieces is skipped.

    ``cand`` — the buildings (positions, ascending) whose footprint pokes out of their grid's
    dissolved cells, when known (:func:`grid_polygons` keeps them with each grid's outline); else
    they are searched for over the whole dataset."""
    fp = dataset.buildings.geometry.to_numpy()
    if cand is None:
        cand = _poking_out(fp, np.arange(len(fp)), geoms[codes])
    if len(cand) == 0:
        return geoms
    geoms = geoms.copy()
    regions = community_regions(dataset)
    pieces: dict = dataset_cache(dataset, "footprint_pieces", dict)     # of the dataset alone: once
    # a claim's result, by the outlines it was made from (the objects themselves, so their ids stay
    # theirs): after an edit, the claims away from it are looked up, and give the same outline objects
    steps: dict = dataset_cache(dataset, "footprint_claims", dict)
    tree = shapely.STRtree(geoms)
    for b in cand.tolist():
        g = int(codes[b])
        piece = pieces.get(b)
        if piece is None:
            piece = pieces[b] = _polygonal(shapely.intersection(shapely.make_valid(fp[b]), regions[labels[b]]))
        if shapely.is_empty(piece):
            continue
        others = tree.query(piece, predicate="intersects")
        others = [int(h) for h in others if h != g]
        inputs = (geoms[g], *(geoms[h] for h in others))
        key = (b, *map(id, inputs))
        hit = steps.get(key)
        if hit is not None and all(x is y for x, y in zip(hit[0], inputs)):
            out = hit[1]
        else:
            out = _claim(geoms[g], [geoms[h] for h in others], piece)
            if len(steps) > 5_000:
                steps.clear()
            steps[key] = (inputs, out)
        if out is not None:
            geoms[g] = out[0]
            for h, v in zip(others, out[1:]):
                geoms[h] = v
    return geoms


def _claim(own, others: list, piece) -> tuple | None:
    """``own`` grown by ``piece`` and the ``others`` without it; ``None`` when that would break one
    of the others into pieces."""
    new = [_polygonal(shapely.difference(h, piece)) for h in others]
    if any(shapely.get_num_geometries(h) == 1 and shapely.get_num_geometries(v) > 1 for h, v in zip(others, new)):
        return None
    return (_single(_polygonal(shapely.union(own, piece))), *(_single(v) for v in new))


def _single(g):
    if shapely.get_type_id(g) == 6 and shapely.get_num_geometries(g) == 1:
        return shapely.get_geometry(g, 0)
    return g


def grid_codes(dataset: Dataset, plan: Plan | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each building's grid (in the order of ``dataset.buildings``) as a code, and the grid ids in
    code order (sorted); once per (dataset, plan) for a :class:`~gridplan.model.Plan`. A building
    without a grid raises :class:`~gridplan._errors.PlanError`."""
    def compute():
        from ._errors import PlanError
        ids = dataset.buildings.index.astype(str)
        a = plan._assignment if isinstance(plan, Plan) else plan
        if not a.index.equals(ids):         # (a plan of this dataset has its buildings in its order)
            a = a.reindex(ids)
        if a.isna().any():
            if isinstance(plan, Plan):
                plan.check_against(ids)
            raise PlanError(f"{int(a.isna().sum())} building(s) of the dataset have no grid in the plan")
        codes, uniques = pd.factorize(a.to_numpy(), sort=True)
        uniques = np.asarray(uniques, dtype=object)
        codes.flags.writeable = uniques.flags.writeable = False      # shared by every caller
        return codes, uniques
    return derived(dataset, plan, "grid_codes", compute) if isinstance(plan, Plan) else compute()


def grid_communities(dataset: Dataset, plan: Plan | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per grid (in :func:`grid_codes` order): the code (:func:`community_codes`) of the community most
    of its buildings are in — a tie goes to the lowest id — and how many communities it spans; once
    per (dataset, plan) for a :class:`~gridplan.model.Plan`."""
    def compute():
        codes, grid_ids = grid_codes(dataset, plan)
        cc, cids = community_codes(dataset)
        return majority(codes, len(grid_ids), cc, len(cids))
    return derived(dataset, plan, "grid_communities", compute) if isinstance(plan, Plan) else compute()


def grid_community(dataset: Dataset, plan: Plan, grid_id: str) -> str | None:
    """The community most buildings of a grid are in (``None`` for a grid the plan does not have)."""
    _, grid_ids = grid_codes(dataset, plan)
    k = int(np.searchsorted(grid_ids, str(grid_id)))
    if k == len(grid_ids) or grid_ids[k] != str(grid_id):
        return None
    return str(community_codes(dataset)[1][grid_communities(dataset, plan)[0][k]])


def grid_polygons(dataset: Dataset, plan: Plan | pd.Series) -> gpd.GeoDataFrame:
    """The outline of every grid: the union of its buildings' cells.

    Parameters
    ----------
    dataset
        The dataset the plan belongs to.
    plan
        A :class:`~gridplan.model.Plan` or an assignment Series (building_id → grid_id).

    Returns
    -------
    GeoDataFrame
        Indexed by ``grid_id`` (sorted), with ``community_id`` (the community holding most of the
        grid's buildings) and ``geometry`` in the dataset's metric CRS. A grid whose buildings are
        connected is a single Polygon. Footprints that reach over a cell edge into another grid
        are given to their own grid, so outlines do not cut through buildings.
    """
    b = dataset.buildings
    codes, uniques = grid_codes(dataset, plan)
    cells = building_cells(dataset).to_numpy()
    labels = community_labels(dataset)
    poly_cache: dict = dataset_cache(dataset, "grid_polygon_cache", dict)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    geoms = np.empty(len(uniques), dtype=object)
    comm = np.asarray(community_codes(dataset)[1], dtype=object)[grid_communities(dataset, plan)[0]]
    fp = b.geometry.to_numpy()
    poking = []
    for gi in range(len(uniques)):
        members = order[bounds[gi]:bounds[gi + 1]]
        k = _key(members)
        hit = poly_cache.get(k)
        if hit is None:     # the outline of a member set, and its footprints poking out of it: once
            g = _dissolve(cells, members)
            hit = (g, _poking_out(fp, members, np.full(len(members), g, dtype=object)))
            if len(poly_cache) > 20000:
                poly_cache.clear()
            poly_cache[k] = hit
        geoms[gi] = hit[0]
        poking.append(hit[1])
    if len(geoms):
        geoms = _claim_footprints(dataset, geoms, codes, labels, np.sort(np.concatenate(poking)))
    idx = pd.Index([str(u) for u in uniques], name="grid_id")
    return gpd.GeoDataFrame({"community_id": comm}, geometry=list(geoms), index=idx, crs=dataset.crs)
