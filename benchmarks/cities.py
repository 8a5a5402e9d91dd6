"""Seeded city families for benchmarking the grid engine on cities it was not tuned on.

The engine's own generator (:mod:`gridplan.sample`) builds one kind of city; an engine tuned on it
can pass its benchmark and still fail elsewhere (issue 10: 2.7 % of fitting compounds split on the
sample, 17.4 % on an unseen city). This module builds differently made cities, independently of
the engine (it imports nothing from :mod:`gridplan.engine`; only name pools, the CRS constants and
:func:`gridplan.sample.write_city` are reused from :mod:`gridplan.sample`):

``small_compounds``
    Every compound holds 150–300 households: grids must pack two or three whole compounds.
``lognormal``
    Compound sizes are lognormal with a heavy tail (median ≈ 390, quartiles ≈ 250 / 600, ≈ 35 %
    above 500), on a jittered street grid, about 21 communities and 324 compounds at the default
    size: the "unseen city" of issue 10.
``estates``
    2,000-household estates of towers next to tiny 院落 (courtyards of 5–40 households) and
    buildings outside any compound.
``organic``
    Irregular, non-grid streets (a Voronoi street network with curved streets, denser in the
    centre); each block between the streets is one compound (or a patch of loose houses), so
    compounds are irregular polygons and building rows follow them at every angle.
``uneven``
    Communities of very different sizes (from 250 to ~25,000 households), including ones in the
    500–600 household gap with persons in the 1,500–2,000 gap, and a river that cuts several
    communities into islands (only a few bridges cross it).

Every family returns the five layers of SPEC §2 (``communities``, ``compounds``, ``buildings``,
``roads``, ``stations``) as GeoDataFrames in EPSG:4544 metres around 什邡市 that
``gridplan.io.read_dataset(layers)`` loads without errors: communities tile the land (no overlaps),
compounds lie inside their community, buildings are footprint polygons with ``households``,
``persons``, ``party_members``, ``floors``, ``building_no`` (楼栋号 within the compound),
``compound_id`` and ``community_id``; compounds carry ``name``, ``property_company``,
``has_property_mgmt``, ``has_competent_dept``, ``has_owners_committee`` and ``party_org``; roads are
walkable LineStrings noded at crossings; stations are one 郁心站 per community, red stations
(红色驿站) spread over the city and a 党群服务中心.

Usage::

    from benchmarks.cities import generate, write, FAMILIES
    layers = generate("lognormal", seed=0, households=160_000)    # dict of GeoDataFrames
    write("organic", "benchmarks/out/organic", seed=0)              # a dataset folder (GeoPackage)

    python benchmarks/cities.py lognormal --seed 0 --households 160000 --out benchmarks/out/lognormal

The same (family, seed, households) always gives the same layers. Generated folders go under
``benchmarks/out/`` (ignored by git).
"""
from __future__ import annotations

import argparse
import heapq
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

if __package__ in (None, ""):  # run as a script: make the work tree importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridplan.sample import (  # noqa: E402  (small helpers and name pools of the sample generator)
    _CENTRE_LONLAT,
    _COMMUNITIES,
    _COUNTY_CODE,
    _LANE_PREFIX,
    _METRIC_EPSG,
    _MODERN_PREFIX,
    _MODERN_SUFFIX,
    _PROPERTY_COMPANIES,
    _RED_STATIONS,
    _STREETS,
    _UNITS,
    _Names,
    _nth,
    write_city,
)

__all__ = ["FAMILIES", "DEFAULT_HOUSEHOLDS", "TEST_HOUSEHOLDS", "generate", "write", "describe", "main"]

#: households of the full benchmark city (≈ 20,000 buildings)
DEFAULT_HOUSEHOLDS = 160_000
#: a small size for fast tests
TEST_HOUSEHOLDS = 12_000
#: households per community in the balanced families (160k → 21 communities)
_HH_PER_COMMUNITY = 7_600
CRS = f"EPSG:{_METRIC_EPSG}"
OUT_DIR = Path(__file__).resolve().parent / "out"

# building kinds: households per building (lo, hi), land per building (m², within the lot),
# aspect of the lattice cell, footprint width (min, max) and depth (min, max) in metres
_KINDS = {
    "lowrise": ((3, 12), 520.0, 1.5, (8.0, 24.0), (7.0, 13.0)),
    "walkup": ((8, 24), 700.0, 2.2, (12.0, 42.0), (8.0, 14.0)),
    "tower": ((110, 240), 2600.0, 1.4, (22.0, 40.0), (15.0, 24.0)),
    "court": ((2, 10), 300.0, 1.3, (7.0, 14.0), (6.0, 10.0)),
    "loose": ((2, 8), 240.0, 1.3, (6.0, 14.0), (6.0, 10.0)),
}
#: m² of floor per household (floors = households × this ÷ footprint)
_M2_PER_HOUSEHOLD = 85.0
#: half a street's width: blocks are shrunk by this much from the street centre lines
_STREET_HALF_M = 7.0
#: gap between neighbouring lots (compound walls) and the compound's margin around its buildings
_LOT_GAP_M = 1.0
_COMPOUND_INSET_M = 1.5
_BUILDING_INSET_M = 2.5


# ------------------------------------------------------------------------------------------ the plan of a city
@dataclass
class _City:
    """A city before its buildings are placed (metric coordinates)."""

    blocks: np.ndarray                  # polygons between the streets (they tile the land)
    block_unit: np.ndarray              # growth unit of each block (blocks of one unit share a community)
    unit_adj: list                      # adjacency lists of the units
    unit_xy: np.ndarray                 # unit centroids
    lot_block: np.ndarray               # block of each lot
    lot_h: np.ndarray                   # households of each lot
    lot_kind: np.ndarray                # building kind of each lot (see _KINDS)
    lot_ctype: np.ndarray               # compound type (estate/modern/old/court/small) or "" outside compounds
    roads: np.ndarray                   # LineStrings, noded
    road_kind: np.ndarray
    targets: list = field(default_factory=list)            # household target per grown community
    fixed_units: dict = field(default_factory=dict)        # unit → (households, persons per household)


def _origin() -> np.ndarray:
    x, y = Transformer.from_crs(4326, _METRIC_EPSG, always_xy=True).transform(*_CENTRE_LONLAT)
    return np.array([round(x, -1), round(y, -1)])


def _stratified(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniforms, one in each of ``n`` equal strata, shuffled (quantiles hold at small n)."""
    return rng.permutation((np.arange(n) + rng.uniform(0.05, 0.95, n)) / n)


def _sizes_to_total(rng, total: int, quantile: Callable[[np.ndarray], np.ndarray], mean: float) -> np.ndarray:
    """Stratified draws from a distribution (by its quantile function) adding up to about ``total``."""
    n = max(3, int(round(total / mean)))
    for _ in range(40):
        s = np.maximum(1, np.round(quantile(_stratified(rng, n)))).astype(np.int64)
        if abs(int(s.sum()) - total) <= 0.5 * mean or n <= 3:
            return s
        n = max(3, n + int(round((total - int(s.sum())) / mean)))
    return s


def _lognormal_q(median: float, sigma: float, lo: float, hi: float):
    from scipy.stats import norm

    return lambda u: np.clip(median * np.exp(sigma * norm.ppf(u)), lo, hi)


def _land(h: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Land a lot needs: its buildings × land per building of its kind."""
    out = np.empty(len(h))
    for k, (hpb, land, *_rest) in _KINDS.items():
        m = kind == k
        out[m] = np.maximum(1.0, h[m] / np.mean(hpb)) * land
    return out


# ------------------------------------------------------------------------------------------ street networks
def _group_lots(land: np.ndarray, target: float) -> np.ndarray:
    """Consecutive lots into blocks of about ``target`` land each; returns the block of each lot."""
    block = np.empty(len(land), dtype=np.int64)
    b, load = 0, 0.0
    for i, a in enumerate(land):
        if load > 0 and load + a > 1.15 * target:
            b, load = b + 1, 0.0
        block[i] = b
        load += a
    return block


def _grid_network(rng, n_cells: int, side_m: float, *, jitter: float = 0.08):
    """A jittered, rotated street grid: cell quads (row-major), road segments, rook adjacency."""
    nx = max(2, int(math.ceil(math.sqrt(n_cells * 1.25))))
    ny = max(1, int(math.ceil(n_cells / nx)))
    xs = np.concatenate([[0.0], np.cumsum(side_m * rng.uniform(0.85, 1.15, nx))])
    ys = np.concatenate([[0.0], np.cumsum(side_m * rng.uniform(0.85, 1.15, ny))])
    xs -= xs[-1] / 2
    ys -= ys[-1] / 2
    gx = xs[:, None] + rng.uniform(-jitter, jitter, (nx + 1, ny + 1)) * side_m
    gy = ys[None, :] + rng.uniform(-jitter, jitter, (nx + 1, ny + 1)) * side_m
    ang = math.radians(rng.uniform(-20, 20))
    c, s = math.cos(ang), math.sin(ang)
    P = np.stack([gx * c - gy * s, gx * s + gy * c], axis=-1) + _origin()
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    i, j = i.ravel(), j.ravel()
    quads = np.stack([P[i, j], P[i + 1, j], P[i + 1, j + 1], P[i, j + 1], P[i, j]], axis=1)
    cells = shapely.polygons(quads)
    cell_id = i * ny + j
    adj: list[list[int]] = [[] for _ in range(nx * ny)]
    for di, dj in ((1, 0), (0, 1)):
        ok = (i + di < nx) & (j + dj < ny)
        a, b = cell_id[ok], (i[ok] + di) * ny + (j[ok] + dj)
        for u, v in zip(a.tolist(), b.tolist()):
            adj[u].append(v)
            adj[v].append(u)
    segs, kinds = [], []
    for (di, dj), along in (((1, 0), "ew"), ((0, 1), "ns")):
        ii, jj = np.meshgrid(np.arange(nx + 1 - di), np.arange(ny + 1 - dj), indexing="ij")
        ii, jj = ii.ravel(), jj.ravel()
        segs.append(np.stack([P[ii, jj], P[ii + di, jj + dj]], axis=1))
        line_no = jj if along == "ew" else ii
        kinds.append(np.where(line_no % 4 == 0, "arterial", "street"))
    roads = shapely.linestrings(np.concatenate(segs))
    return cells, roads, np.concatenate(kinds), adj, (nx, ny, P)


def _voronoi_network(rng, n_cells: int, radius_m: float):
    """An organic street network: Voronoi cells of seeds denser in the centre inside a wobbly
    disc, one Lloyd step, every street bent into a gentle curve, noded; blocks by polygonize."""
    o = _origin()
    phi = np.linspace(0, 2 * np.pi, 97)[:-1]
    wob = 1 + 0.07 * np.sin(3 * phi + rng.uniform(0, 6)) + 0.05 * np.sin(5 * phi + rng.uniform(0, 6))
    boundary = shapely.Polygon(np.column_stack([np.cos(phi), np.sin(phi)]) * (radius_m * wob)[:, None] + o)
    r = radius_m * 0.97 * rng.uniform(0, 1, n_cells) ** 0.62
    t = rng.uniform(0, 2 * np.pi, n_cells)
    pts = o + np.column_stack([r * np.cos(t), r * np.sin(t)])
    for _ in range(2):
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=boundary))
        cells = shapely.intersection(cells, boundary)
        cells = cells[~shapely.is_empty(cells)]
        pts = shapely.get_coordinates(shapely.centroid(cells))
        pts = pts[shapely.contains_xy(boundary, pts[:, 0], pts[:, 1])]
    # unique cell edges; interior ones (shared by two cells) are bent
    rings = shapely.get_exterior_ring(cells)
    xy, ridx = shapely.get_coordinates(rings, return_index=True)
    same = ridx[1:] == ridx[:-1]
    a, b = xy[:-1][same], xy[1:][same]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    lo, hi = np.where(swap[:, None], b, a), np.where(swap[:, None], a, b)
    key = np.round(np.concatenate([lo, hi], axis=1), 3)
    _, first, counts = np.unique(key, axis=0, return_index=True, return_counts=True)
    lo, hi, shared = lo[first], hi[first], counts == 2
    d = hi - lo
    length = np.hypot(*d.T)
    keep = length > 1e-6
    lo, hi, d, length, shared = lo[keep], hi[keep], d[keep], length[keep], shared[keep]
    normal = np.column_stack([-d[:, 1], d[:, 0]]) / length[:, None]
    amp = np.where(shared & (length > 30), rng.uniform(-0.11, 0.11, len(lo)), 0.0) * length
    tt = np.linspace(0, 1, 7)
    line_xy = (lo[:, None, :] + tt[None, :, None] * d[:, None, :]
               + (amp[:, None] * np.sin(np.pi * tt)[None, :])[..., None] * normal[:, None, :])
    lines = shapely.linestrings(line_xy)
    noded = shapely.get_parts(shapely.union_all(lines))
    blocks = shapely.get_parts(shapely.polygonize(noded))
    blocks = blocks[shapely.area(blocks) > 1.0]
    return blocks, noded, np.full(len(noded), "street", dtype=object), boundary


def _touching(polys: np.ndarray, min_shared_m: float = 1.0) -> list[list[int]]:
    """Adjacency lists of polygons sharing more than ``min_shared_m`` of boundary."""
    tree = shapely.STRtree(polys)
    i, j = tree.query(polys, predicate="intersects")
    k = i < j
    i, j = i[k], j[k]
    shared = shapely.length(shapely.intersection(shapely.boundary(polys[i]), shapely.boundary(polys[j])))
    adj: list[list[int]] = [[] for _ in range(len(polys))]
    for u, v in zip(i[shared > min_shared_m].tolist(), j[shared > min_shared_m].tolist()):
        adj[u].append(v)
        adj[v].append(u)
    return adj


# ------------------------------------------------------------------------------------------ communities
def _grow(rng, adj: list[list[int]], weight: np.ndarray, xy: np.ndarray, targets: list[float],
          label: np.ndarray | None = None) -> np.ndarray:
    """Contiguous regions grown at once on a unit graph: seeds spread by weighted k-means, then
    the region furthest below its household target takes its nearest free neighbour, until
    every unit is taken (units no region can reach join a neighbouring region)."""
    from scipy.cluster.vq import kmeans2

    n = len(weight)
    label = np.full(n, -1, dtype=np.int64) if label is None else label.copy()
    first = int(label.max()) + 1 if (label >= 0).any() else 0
    free = np.flatnonzero(label < 0)
    k = min(len(targets), len(free))
    if k == 0:
        return label
    # seeds: k-means of the free units (weighted by repeating heavy units), nearest free unit
    reps = np.repeat(free, np.clip(np.round(weight[free] / max(weight[free].mean(), 1e-9)), 1, 8).astype(int))
    cen, _ = kmeans2(xy[reps], xy[rng.choice(free, k, replace=False)], iter=15, minit="matrix",
                     seed=int(rng.integers(2**31)))
    seeds = []
    for c in cen:
        d = np.hypot(*(xy[free] - c).T)
        d[np.isin(free, seeds)] = np.inf
        seeds.append(int(free[np.argmin(d)]))
    tgt = np.asarray(targets[:k], dtype=float)
    load = np.zeros(k)
    heaps: list[list] = []
    for r, s in enumerate(seeds):
        label[s] = first + r
        load[r] = weight[s]
        heaps.append([(float(np.hypot(*(xy[v] - xy[s]))), v) for v in adj[s] if label[v] < 0])
        heapq.heapify(heaps[r])
    turn = [(load[r] / tgt[r], r) for r in range(k)]
    heapq.heapify(turn)
    while turn:
        _, r = heapq.heappop(turn)
        h = heaps[r]
        while h and label[h[0][1]] >= 0:
            heapq.heappop(h)
        if not h:
            continue  # enclosed: this region stops growing
        _, u = heapq.heappop(h)
        label[u] = first + r
        load[r] += weight[u]
        for v in adj[u]:
            if label[v] < 0:
                heapq.heappush(h, (float(np.hypot(*(xy[v] - xy[seeds[r]]))), v))
        heapq.heappush(turn, (load[r] / tgt[r], r))
    for _ in range(n):  # units no region reached (cut off by fixed regions): join a neighbour
        left = np.flatnonzero(label < 0)
        if len(left) == 0:
            break
        moved = False
        for u in left.tolist():
            nb = [label[v] for v in adj[u] if label[v] >= first]
            if nb:
                label[u] = min(nb)
                moved = True
        if not moved:
            label[left[0]] = int(label.max()) + 1
    return label


# ------------------------------------------------------------------------------------------ geometry helpers
def _frames(geoms: np.ndarray):
    """Orientation of each polygon (its oriented envelope's long side) and its extent in that frame."""
    env = shapely.oriented_envelope(geoms)
    ok = shapely.get_type_id(env) == 3
    theta = np.zeros(len(geoms))
    if ok.any():
        xy, idx = shapely.get_coordinates(shapely.get_exterior_ring(env[ok]), return_index=True)
        st = np.searchsorted(idx, np.arange(int(ok.sum())))
        e1, e2 = xy[st + 1] - xy[st], xy[st + 2] - xy[st + 1]
        long = np.where((np.hypot(*e1.T) >= np.hypot(*e2.T))[:, None], e1, e2)
        theta[ok] = np.arctan2(long[:, 1], long[:, 0])
    return theta, _extent(geoms, theta)


def _extent(geoms: np.ndarray, theta: np.ndarray):
    """(umin, umax, vmin, vmax) of each geometry in the frame rotated by ``theta``."""
    xy, idx = shapely.get_coordinates(geoms, return_index=True)
    n = len(geoms)
    c, s = np.cos(theta)[idx], np.sin(theta)[idx]
    u = xy[:, 0] * c + xy[:, 1] * s
    v = -xy[:, 0] * s + xy[:, 1] * c
    out = [np.full(n, np.inf), np.full(n, -np.inf), np.full(n, np.inf), np.full(n, -np.inf)]
    np.minimum.at(out[0], idx, u)
    np.maximum.at(out[1], idx, u)
    np.minimum.at(out[2], idx, v)
    np.maximum.at(out[3], idx, v)
    return out


def _boxes(theta, u0, u1, v0, v1) -> np.ndarray:
    """Rectangles given in rotated frames, as polygons in map coordinates."""
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    uu = np.stack([u0, u1, u1, u0, u0], axis=1)
    vv = np.stack([v0, v0, v1, v1, v0], axis=1)
    return shapely.polygons(np.stack([uu * c - vv * s, uu * s + vv * c], axis=-1))


def _largest_part(geoms: np.ndarray) -> np.ndarray:
    """The largest polygon of each geometry (an empty polygon when there is none)."""
    out = np.array([shapely.Polygon()] * len(geoms), dtype=object)
    parts, idx = shapely.get_parts(geoms, return_index=True)
    poly = shapely.get_type_id(parts) == 3
    parts, idx = parts[poly], idx[poly]
    if len(parts):
        order = np.lexsort((-shapely.area(parts), idx))
        first = np.r_[True, idx[order][1:] != idx[order][:-1]]
        out[idx[order][first]] = parts[order][first]
    return out


def _treemap(polys: np.ndarray, groups: list[np.ndarray], weights: np.ndarray, n_lots: int) -> np.ndarray:
    """Cut each polygon into pieces of area proportional to the weights of its lots (slicing
    across the long axis, level by level, all polygons of a level at once)."""
    out = np.array([shapely.Polygon()] * n_lots, dtype=object)
    items = [(p, g) for p, g in zip(polys, groups) if len(g)]
    while items:
        nxt = []
        multi = []
        for p, g in items:
            if len(g) == 1 or shapely.is_empty(p):
                out[g[0]] = p
            else:
                multi.append((p, g))
        if not multi:
            break
        P = np.array([m[0] for m in multi], dtype=object)
        ks, fs = [], []
        for _, g in multi:
            cw = np.cumsum(weights[g])
            k = int(np.clip(np.argmin(np.abs(cw[:-1] - cw[-1] / 2)) + 1, 1, len(g) - 1))
            ks.append(k)
            fs.append(cw[k - 1] / cw[-1])
        f = np.asarray(fs)
        theta, (u0, u1, v0, v1) = _frames(P)
        span = np.maximum(u1 - u0, 1e-6)
        cut = u0 + f * span
        half = _LOT_GAP_M / 2
        area = np.maximum(shapely.area(P), 1e-9)
        for _ in range(2):  # two secant steps towards the wanted area share
            left = shapely.intersection(P, _boxes(theta, u0 - 1, cut - half, v0 - 1, v1 + 1))
            share = shapely.area(left) / area
            cut = np.clip(cut + (f - share) * span, u0 + 0.05 * span, u1 - 0.05 * span)
        left = _largest_part(shapely.intersection(P, _boxes(theta, u0 - 1, cut - half, v0 - 1, v1 + 1)))
        right = _largest_part(shapely.intersection(P, _boxes(theta, cut + half, u1 + 1, v0 - 1, v1 + 1)))
        for (_p, g), k, a, b in zip(multi, ks, left, right):
            nxt.append((a, g[:k]))
            nxt.append((b, g[k:]))
        items = nxt
    return out


# ------------------------------------------------------------------------------------------ buildings
def _place(rng, regions: np.ndarray, n_want: np.ndarray, kinds: np.ndarray):
    """Footprints on a lattice inside each region (oriented like the region); returns the
    footprints, their region and the number placed per region. Regions that cannot take the
    wanted number get as many as fit (at least one where anything fits)."""
    m = len(regions)
    theta, _ = _frames(regions)
    theta = theta + rng.choice([0.0, np.pi / 2], m, p=[0.8, 0.2])
    ext = _extent(regions, theta)
    area = shapely.area(regions)
    asp = np.array([_KINDS[k][2] for k in kinds])
    wlim = np.array([_KINDS[k][3] for k in kinds])
    dlim = np.array([_KINDS[k][4] for k in kinds])
    shapely.prepare(regions)
    placed_geom, placed_owner = [], []
    count = np.zeros(m, dtype=np.int64)
    pending = np.flatnonzero((n_want > 0) & (area > 4.0))
    best: dict[int, tuple] = {}
    factor = 1.3
    for _round in range(6):
        if len(pending) == 0:
            break
        p = pending
        cell = area[p] / (n_want[p] * factor)
        sx = np.sqrt(cell * asp[p])
        sy = cell / sx
        nxl = np.maximum(1, np.ceil((ext[1][p] - ext[0][p]) / sx).astype(np.int64))
        nyl = np.maximum(1, np.ceil((ext[3][p] - ext[2][p]) / sy).astype(np.int64))
        cnt = np.minimum(nxl * nyl, 60 * n_want[p] + 400)
        owner = np.repeat(np.arange(len(p)), cnt)
        k = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        ix, iy = k % nxl[owner], k // nxl[owner]
        ph = rng.uniform(0.3, 0.7, (len(p), 2))
        u = ext[0][p][owner] + (ix + ph[owner, 0]) * sx[owner]
        v = ext[2][p][owner] + (iy + ph[owner, 1]) * sy[owner]
        w = np.clip(0.62 * sx, wlim[p, 0], wlim[p, 1])[owner]
        d = np.clip(0.55 * sy, dlim[p, 0], dlim[p, 1])[owner]
        w = np.minimum(w, 0.85 * sx[owner])
        d = np.minimum(d, 0.85 * sy[owner])
        th = theta[p][owner]
        fp = _boxes(th, u - w / 2, u + w / 2, v - d / 2, v + d / 2)
        inside = shapely.contains(regions[p][owner], fp)
        got = np.bincount(owner[inside], minlength=len(p))
        done = got >= n_want[p]
        for q in np.flatnonzero(~done & (got > 0)):
            r = int(p[q])
            if got[q] > best.get(r, (0,))[0]:
                best[r] = (int(got[q]), fp[inside & (owner == q)])
        sel = inside & done[owner]
        if sel.any():
            o, g = owner[sel], fp[sel]
            key = rng.random(len(o))
            order = np.lexsort((key, o))
            o, g = o[order], g[order]
            rank = np.arange(len(o)) - np.searchsorted(o, o)
            take = rank < n_want[p][o]
            placed_geom.append(g[take])
            placed_owner.append(p[o[take]])
            count[p[done]] = n_want[p[done]]
        pending = p[~done]
        factor *= 1.6
    for r in pending.tolist():  # as many as fit, or one small house at the region's inner point
        if r in best:
            placed_geom.append(best[r][1])
            placed_owner.append(np.full(best[r][0], r))
            count[r] = best[r][0]
        else:
            pt = shapely.point_on_surface(regions[r])
            if shapely.is_empty(pt):
                continue
            for half in (4.0, 2.5, 1.5, 0.8):
                g = shapely.buffer(pt, half, cap_style="square")
                if shapely.contains(regions[r], g) or half == 0.8:
                    break
            placed_geom.append(np.array([g], dtype=object))
            placed_owner.append(np.array([r]))
            count[r] = 1
    geom = np.concatenate(placed_geom) if placed_geom else np.empty(0, dtype=object)
    owner = np.concatenate(placed_owner) if placed_owner else np.empty(0, dtype=np.int64)
    order = np.argsort(owner, kind="stable")
    return geom[order], owner[order], count


def _allocate(rng, totals: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Split each owner's total over its members (each gets at least one when the total allows),
    with gamma-distributed shares, exactly (largest remainders)."""
    n_per = np.bincount(owner, minlength=len(totals))
    base = np.minimum(1, totals)[owner]
    rest = np.maximum(totals - n_per, 0)
    w = rng.gamma(3.0, size=len(owner))
    wsum = np.bincount(owner, weights=w, minlength=len(totals))
    share = rest[owner] * w / np.maximum(wsum[owner], 1e-12)
    fl = np.floor(share).astype(np.int64)
    missing = rest - np.bincount(owner, weights=fl, minlength=len(totals)).astype(np.int64)
    frac = share - fl
    order = np.lexsort((-frac, owner))
    rank = np.arange(len(owner)) - np.searchsorted(owner[order], owner[order])
    plus = np.zeros(len(owner), dtype=np.int64)
    plus[order] = (rank < missing[owner[order]]).astype(np.int64)
    out = base + fl + plus
    # owners whose total is below their member count: the first `total` members get one each
    short = totals < n_per
    if short.any():
        rank0 = np.arange(len(owner)) - np.searchsorted(owner, owner)
        m = short[owner]
        out[m] = (rank0[m] < totals[owner[m]]).astype(np.int64)
    return out


# ------------------------------------------------------------------------------------------ assembly
def _assemble(rng, city: _City, family: str) -> dict[str, gpd.GeoDataFrame]:
    nb = len(city.blocks)
    # communities: grow over the units, then every block takes its unit's community
    unit_w = np.bincount(city.block_unit[city.lot_block], weights=city.lot_h, minlength=len(city.unit_xy))
    label = np.full(len(city.unit_xy), -1, dtype=np.int64)
    for r, u in enumerate(city.fixed_units):
        label[u] = r
    label = _grow(rng, city.unit_adj, unit_w, city.unit_xy, city.targets, label=label)
    block_comm = label[city.block_unit]
    # order communities north→south, west→east for their codes
    n_comm = int(block_comm.max()) + 1
    cen = np.array([shapely.get_coordinates(shapely.centroid(shapely.union_all(city.blocks[block_comm == c])))[0]
                    if (block_comm == c).any() else (0.0, 0.0) for c in range(n_comm)])
    present = np.array([(block_comm == c).any() for c in range(n_comm)])
    order = np.lexsort((cen[:, 0], -np.round(cen[:, 1], -2)))
    order = order[present[order]]
    remap = np.full(n_comm, -1)
    remap[order] = np.arange(len(order))
    block_comm = remap[block_comm]
    fixed = {int(remap[label[u]]): v for u, v in city.fixed_units.items()}
    n_comm = len(order)

    # lots: cut every block (shrunk from the street centre lines) by the land its lots need
    inner = shapely.buffer(city.blocks, -_STREET_HALF_M, join_style="mitre")
    inner = _largest_part(np.asarray(inner, dtype=object))
    land = _land(city.lot_h.astype(float), city.lot_kind)
    order_l = np.argsort(city.lot_block, kind="stable")
    starts = np.searchsorted(city.lot_block[order_l], np.arange(nb + 1))
    groups = [order_l[starts[b]:starts[b + 1]] for b in range(nb)]
    lots = _treemap(inner, groups, land, len(city.lot_h))
    in_comp = city.lot_ctype != ""
    comp_poly = np.asarray(shapely.buffer(lots, -_COMPOUND_INSET_M, join_style="mitre"), dtype=object)
    comp_poly = _largest_part(comp_poly)
    region = np.asarray(shapely.buffer(np.where(in_comp, comp_poly, lots), -_BUILDING_INSET_M, join_style="mitre"),
                        dtype=object)
    region = _largest_part(region)
    hpb_lo = np.array([_KINDS[k][0][0] for k in city.lot_kind])
    hpb_hi = np.array([_KINDS[k][0][1] for k in city.lot_kind])
    hpb = rng.uniform(hpb_lo, hpb_hi)
    n_want = np.clip(np.round(city.lot_h / hpb), 1, np.maximum(city.lot_h, 1)).astype(np.int64)
    n_want[city.lot_h <= 0] = 0
    geom, owner, _count = _place(rng, region, n_want, city.lot_kind)
    # lots that got no building (a sliver) lose their households; compounds without buildings go
    has_b = np.bincount(owner, minlength=len(city.lot_h)) > 0
    hh = _allocate(rng, np.where(has_b, city.lot_h, 0).astype(np.int64), owner)
    b_comm = block_comm[city.lot_block[owner]]
    ppl_ratio = np.clip(rng.normal(2.75, 0.25, len(owner)), 1.9, 3.6)
    persons = np.maximum(hh, np.round(hh * ppl_ratio)).astype(np.int64)
    for c, (target_h, ratio) in fixed.items():  # exact totals of the deliberately awkward communities
        m = np.flatnonzero(b_comm == c)
        if len(m):
            hh[m] = _allocate(rng, np.array([target_h]), np.zeros(len(m), dtype=np.int64))
            persons[m] = hh[m]
            lived = m[hh[m] > 0]
            persons[lived] += _allocate(rng, np.array([int(round(target_h * (ratio - 1)))]),
                                        np.zeros(len(lived), dtype=np.int64))
    fp_area = shapely.area(geom)
    floors = np.clip(np.ceil(hh * _M2_PER_HOUSEHOLD / np.maximum(fp_area, 1.0)), 1, 34).astype(np.int64)
    party = rng.binomial(persons, 0.055).astype(np.int64)

    # compounds (lots in a compound that kept buildings)
    comp_lots = np.flatnonzero(in_comp & has_b)
    comp_no = np.full(len(city.lot_h), -1)
    comp_no[comp_lots] = np.arange(len(comp_lots))
    cids = np.array([f"C{k + 1:05d}" for k in range(len(comp_lots))], dtype=object)
    b_comp = comp_no[owner]
    # 楼栋号: 1, 2, … within each compound, numbered north→south, west→east
    c_xy = shapely.get_coordinates(shapely.centroid(geom))
    bno = np.full(len(owner), None, dtype=object)
    inc = np.flatnonzero(b_comp >= 0)
    o = inc[np.lexsort((c_xy[inc, 0], -np.round(c_xy[inc, 1], -1), b_comp[inc]))]
    rank = np.arange(len(o)) - np.searchsorted(b_comp[o], b_comp[o])
    bno[o] = [str(r + 1) for r in rank]
    # building ids in community, compound order
    b_order = np.lexsort((b_comp, b_comm))
    names = _Names(rng)
    ctype = city.lot_ctype[comp_lots]
    comp_names, company, mgmt, dept, owners, party_org = [], [], [], [], [], []
    p_mgmt = {"estate": 0.97, "modern": 0.85, "old": 0.35, "court": 0.08, "small": 0.6}
    p_dept = {"estate": 0.05, "modern": 0.05, "old": 0.45, "court": 0.15, "small": 0.2}
    p_own = {"estate": 0.7, "modern": 0.5, "old": 0.2, "court": 0.05, "small": 0.3}
    for _k, t in enumerate(ctype):
        if t in ("estate", "modern", "small"):
            nm = names.draw(_MODERN_PREFIX, _MODERN_SUFFIX)
        elif t == "old":
            nm = names.draw(_UNITS, ["宿舍", "家属院", "生活区"])
        else:
            nm = names.draw(_LANE_PREFIX, ["巷", "街", "里"]) + f"{int(rng.integers(1, 99))}号院"
        comp_names.append(nm)
        m = bool(rng.random() < p_mgmt[t])
        mgmt.append(m)
        company.append(_PROPERTY_COMPANIES[int(rng.integers(len(_PROPERTY_COMPANIES)))] if m else None)
        dept.append(bool(rng.random() < p_dept[t]))
        owners.append(bool(rng.random() < p_own[t]))
        party_org.append([None, "独立党支部", "联合党支部"][int(rng.choice(3, p=[0.4, 0.35, 0.25]))])

    # communities
    comm_geom = np.array([shapely.coverage_union_all(city.blocks[block_comm == c]) for c in range(n_comm)],
                         dtype=object)
    comm_geom = shapely.make_valid(comm_geom)
    comm_geom = np.array([g if shapely.get_type_id(g) in (3, 6) else
                          shapely.union_all([x for x in shapely.get_parts(g) if shapely.get_type_id(x) == 3])
                          for g in comm_geom], dtype=object)
    per_street = 6
    street_of = np.arange(n_comm) // per_street
    comm_code = np.array([f"{_COUNTY_CODE}{s + 1:03d}{c % per_street + 1:03d}" for c, s in enumerate(street_of)],
                         dtype=object)
    comm_name = [_nth(_COMMUNITIES, c) + "社区" for c in range(n_comm)]
    communities = gpd.GeoDataFrame({
        "community_id": comm_code, "name": comm_name,
        "street": [_nth(_STREETS, s) for s in street_of],
        "street_id": [f"{_COUNTY_CODE}{s + 1:03d}" for s in street_of]}, geometry=comm_geom, crs=CRS)
    compounds = gpd.GeoDataFrame({
        "compound_id": cids, "name": comp_names,
        "community_id": comm_code[block_comm[city.lot_block[comp_lots]]],
        "property_company": company, "has_property_mgmt": mgmt, "has_competent_dept": dept,
        "has_owners_committee": owners, "party_org": party_org}, geometry=comp_poly[comp_lots], crs=CRS)
    bo = b_order
    buildings = gpd.GeoDataFrame({
        "building_id": [f"B{k + 1:06d}" for k in range(len(bo))],
        "households": hh[bo], "persons": persons[bo], "party_members": party[bo], "floors": floors[bo],
        "building_no": bno[bo],
        "compound_id": np.where(b_comp[bo] >= 0, cids[np.maximum(b_comp[bo], 0)], None),
        "community_id": comm_code[b_comm[bo]]}, geometry=geom[bo], crs=CRS)
    roads = gpd.GeoDataFrame({
        "road_id": [f"R{k + 1:06d}" for k in range(len(city.roads))],
        "kind": city.road_kind, "walkable": True,
        "name": [f"{k % 97 + 1}号路" for k in range(len(city.roads))]}, geometry=city.roads, crs=CRS)
    stations = _stations(rng, communities, roads)
    layers = {"communities": communities, "compounds": compounds, "buildings": buildings, "roads": roads,
              "stations": stations}
    for g in layers.values():
        g.attrs["family"] = family
    return layers


def _stations(rng, communities: gpd.GeoDataFrame, roads: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One 郁心站 per community, red stations at the farthest-spread communities, one 党群服务中心;
    each on the road nearest its community's inner point."""
    cg = communities.geometry.to_numpy()
    rep = shapely.point_on_surface(cg)
    rxy = shapely.get_coordinates(rep)
    n = len(cg)
    n_red = max(2, int(round(n / 3)))
    centre = rxy.mean(axis=0)
    chosen = [int(np.argmin(np.hypot(*(rxy - centre).T)))]
    d = np.hypot(*(rxy - rxy[chosen[0]]).T)
    while len(chosen) < min(n_red, n):
        nxt = int(np.argmax(d))
        chosen.append(nxt)
        d = np.minimum(d, np.hypot(*(rxy - rxy[nxt]).T))
    rows = [(communities["name"].iloc[c].removesuffix("社区") + "郁心站", "grid_station", c) for c in range(n)]
    rows += [(_nth(_RED_STATIONS, r) + "红色驿站", "red_station", c) for r, c in enumerate(chosen)]
    rows += [("城市社区党群服务中心", "service_center", chosen[0])]
    comm = np.array([r[2] for r in rows])
    aim = shapely.get_coordinates(rep)[comm] + rng.normal(0, 60, (len(rows), 2))
    pts = shapely.points(aim)
    lines = roads.geometry.to_numpy()
    (pi, li) = shapely.STRtree(lines).query_nearest(pts, all_matches=False)
    at = np.empty(len(rows), dtype=object)
    at[pi] = shapely.line_interpolate_point(lines[li], shapely.line_locate_point(lines[li], pts[pi]))
    return gpd.GeoDataFrame({
        "station_id": [f"S{k + 1:04d}" for k in range(len(rows))],
        "name": [r[0] for r in rows], "kind": [r[1] for r in rows],
        "community_id": communities["community_id"].to_numpy()[comm]}, geometry=at, crs=CRS)


# ------------------------------------------------------------------------------------------ the families
def _grid_city(rng, h: np.ndarray, kind: np.ndarray, ctype: np.ndarray, *, block_land: float,
               targets: list[float]) -> _City:
    """Lots (in the given order) grouped into blocks of a jittered grid; every cell is a unit."""
    land = _land(h.astype(float), kind)
    lot_block = _group_lots(land, block_land)
    n_groups = int(lot_block.max()) + 1
    side = math.sqrt(block_land / 0.62)
    cells, roads, rkind, adj, _ = _grid_network(rng, n_groups, side)
    place = rng.permutation(len(cells))[:n_groups]  # which cell holds which group (the rest are parks)
    return _City(blocks=cells, block_unit=np.arange(len(cells)), unit_adj=adj,
                 unit_xy=shapely.get_coordinates(shapely.centroid(cells)), lot_block=place[lot_block],
                 lot_h=h.astype(np.int64), lot_kind=kind, lot_ctype=ctype, roads=roads, road_kind=rkind,
                 targets=targets)


def _balanced_targets(rng, total: float) -> list[float]:
    n = max(2, int(round(total / _HH_PER_COMMUNITY)))
    t = rng.uniform(0.8, 1.2, n)
    return list(t / t.sum() * total)


def _small_compounds(rng, households: int) -> _City:
    h = _sizes_to_total(rng, households, lambda u: 150 + u * 150.999, 225.0)
    h = np.clip(h, 150, 300)
    kind = rng.choice(["lowrise", "walkup"], len(h), p=[0.55, 0.45])
    ctype = rng.choice(["old", "small", "modern"], len(h), p=[0.4, 0.4, 0.2]).astype(object)
    return _grid_city(rng, h, kind.astype(object), ctype, block_land=40_000.0,
                      targets=_balanced_targets(rng, h.sum()))


def _lognormal(rng, households: int) -> _City:
    q = _lognormal_q(390.0, 0.65, 25, 4_000)
    h = _sizes_to_total(rng, households, q, 480.0)
    kind = np.where(rng.random(len(h)) < 0.6, "lowrise", "walkup").astype(object)
    ctype = np.where(h > 700, "modern", rng.choice(["old", "small", "modern"], len(h), p=[0.4, 0.3, 0.3])).astype(object)
    n_comm = max(2, int(round(households / _HH_PER_COMMUNITY)))
    t = rng.uniform(0.8, 1.2, n_comm)
    return _grid_city(rng, h, kind, ctype, block_land=90_000.0, targets=list(t / t.sum() * h.sum()))


def _estates(rng, households: int) -> _City:
    # 45 % of households in estates (1,500–3,000), 25 % in courtyards (5–40), 30 % outside compounds
    est = _sizes_to_total(rng, int(0.45 * households), lambda u: 1500 + 1500 * u ** 1.5, 2000.0)
    crt = _sizes_to_total(rng, int(0.25 * households), lambda u: 5 + 35.999 * u, 22.5)
    crt = np.clip(crt, 5, 40)
    loose = _sizes_to_total(rng, int(0.30 * households), lambda u: 20 + 100 * u, 70.0)
    h = np.concatenate([est, crt, loose])
    kind = np.array(["tower"] * len(est) + ["court"] * len(crt) + ["loose"] * len(loose), dtype=object)
    ctype = np.array(["estate"] * len(est) + ["court"] * len(crt) + [""] * len(loose), dtype=object)
    perm = rng.permutation(len(h))
    return _grid_city(rng, h[perm], kind[perm], ctype[perm], block_land=40_000.0,
                      targets=_balanced_targets(rng, h.sum()))


def _organic(rng, households: int) -> _City:
    comp = _sizes_to_total(rng, int(0.88 * households), _lognormal_q(330.0, 0.6, 30, 3_000), 395.0)
    loose = _sizes_to_total(rng, int(0.12 * households), lambda u: 40 + 160 * u, 120.0)
    h = np.concatenate([comp, loose])
    kind = np.array(["walkup" if x > 250 else "lowrise" for x in comp] + ["loose"] * len(loose), dtype=object)
    ctype = np.concatenate([rng.choice(["old", "small", "modern"], len(comp), p=[0.35, 0.35, 0.3]),
                            np.full(len(loose), "")]).astype(object)
    land = _land(h.astype(float), kind)
    n_cells = int(round(len(h) * 1.08)) + 3
    radius = math.sqrt(land.sum() / 0.55 / math.pi)
    blocks, roads, rkind, _boundary = _voronoi_network(rng, n_cells, radius)
    # contents by size rank onto blocks by area rank (a little shuffled); the smallest blocks stay empty
    area = shapely.area(blocks)
    by_area = np.argsort(area + rng.normal(0, 0.15, len(area)) * area)[::-1]
    by_size = np.argsort(land)[::-1]
    n = min(len(h), len(blocks))
    lot_block = np.empty(len(h), dtype=np.int64)
    lot_block[by_size[:n]] = by_area[:n]
    if len(h) > n:  # more contents than blocks: share the largest blocks
        lot_block[by_size[n:]] = by_area[np.arange(len(h) - n) % n]
    adj = _touching(blocks)
    n_comm = max(2, int(round(h.sum() / _HH_PER_COMMUNITY)))
    t = rng.uniform(0.8, 1.2, n_comm)
    return _City(blocks=blocks, block_unit=np.arange(len(blocks)), unit_adj=adj,
                 unit_xy=shapely.get_coordinates(shapely.centroid(blocks)), lot_block=lot_block,
                 lot_h=h.astype(np.int64), lot_kind=kind, lot_ctype=ctype, roads=roads, road_kind=rkind,
                 targets=list(t / t.sum() * h.sum()))


#: the awkward communities of ``uneven``: (households, persons per household)
_UNEVEN_FIXED = ((250, 2.7), (550, 3.0), (580, 3.0), (620, 2.8), (1_000, 2.7))


def _uneven(rng, households: int) -> _City:
    comp = _sizes_to_total(rng, int(0.8 * households), _lognormal_q(300.0, 0.7, 20, 3_000), 385.0)
    loose = _sizes_to_total(rng, int(0.2 * households), lambda u: 30 + 120 * u, 90.0)
    h = np.concatenate([comp, loose])
    kind = np.array(["walkup" if x > 300 else "lowrise" for x in comp] + ["loose"] * len(loose), dtype=object)
    ctype = np.concatenate([rng.choice(["old", "small", "modern"], len(comp), p=[0.35, 0.35, 0.3]),
                            np.full(len(loose), "")]).astype(object)
    perm = rng.permutation(len(h))
    h, kind, ctype = h[perm], kind[perm], ctype[perm]
    land = _land(h.astype(float), kind)
    block_land = 50_000.0
    lot_cell = _group_lots(land, block_land)
    n_groups = int(lot_cell.max()) + 1
    side = math.sqrt(block_land / 0.62)
    cells, roads, rkind, adj, (nx, ny, P) = _grid_network(rng, n_groups, side)
    place = rng.permutation(len(cells))[:n_groups]
    lot_cell = place[lot_cell]
    # a river across the city at 35–45 % of its height, 45 m wide, meandering
    ymin, ymax = P[..., 1].min(), P[..., 1].max()
    xmin, xmax = P[..., 0].min() - 200, P[..., 0].max() + 200
    xs = np.linspace(xmin, xmax, 60)
    y0 = ymin + (ymax - ymin) * rng.uniform(0.35, 0.45)
    ys = y0 + 0.25 * side * np.sin((xs - xmin) / (xmax - xmin) * 2 * np.pi * rng.uniform(1.5, 2.5) + rng.uniform(0, 6))
    river = shapely.buffer(shapely.linestrings(np.column_stack([xs, ys])), 22.5)
    parts, cell_of = shapely.get_parts(shapely.difference(cells, river), return_index=True)
    poly = shapely.get_type_id(parts) == 3
    parts, cell_of = parts[poly], cell_of[poly]
    # lots of a cut cell go to its parts by area (slivers under 3,000 m² stay empty)
    part_area = shapely.area(parts)
    lot_block = np.empty(len(h), dtype=np.int64)
    by_cell = pd.Series(np.arange(len(parts))).groupby(cell_of).apply(list).to_dict()
    for i, c in enumerate(lot_cell.tolist()):
        ps = [p for p in by_cell.get(c, []) if part_area[p] >= 3_000] or by_cell.get(c, [])
        if not ps:  # the cell vanished under the river: use the nearest part
            ps = [int(np.argmin(shapely.distance(parts, shapely.centroid(cells[c]))))]
        w = part_area[ps] / part_area[ps].sum()
        lot_block[i] = ps[int(rng.choice(len(ps), p=w))]
    # roads: streets across the river are cut, every third north-south street keeps a bridge
    crosses = shapely.intersects(roads, river)
    seg_xy = shapely.get_coordinates(roads).reshape(-1, 2, 2)
    ns = np.abs(seg_xy[:, 1, 1] - seg_xy[:, 0, 1]) > np.abs(seg_xy[:, 1, 0] - seg_xy[:, 0, 0])
    col = np.round((seg_xy[:, 0, 0] - xmin) / side).astype(int)
    bridge = crosses & ns & (col % 3 == 0)
    cut = shapely.get_parts(shapely.difference(roads[crosses & ~bridge], river))
    cut = cut[(shapely.get_type_id(cut) == 1) & (shapely.length(cut) > 1.0)]
    keep = ~crosses | bridge
    new_roads = np.concatenate([roads[keep], cut])
    new_kind = np.concatenate([np.where(bridge[keep], "bridge", rkind[keep]), np.full(len(cut), "street")])
    # awkward communities: single cells away from the river, spread over the city
    unit_w = np.bincount(lot_cell, weights=h, minlength=len(cells))
    dry = np.flatnonzero(~shapely.intersects(cells, shapely.buffer(river, 50.0)) & (unit_w > 0))
    cxy = shapely.get_coordinates(shapely.centroid(cells))
    fixed = {}
    pick = [int(dry[rng.integers(len(dry))])]
    while len(pick) < min(len(_UNEVEN_FIXED), len(dry)):
        d = np.min(np.hypot(cxy[dry, None, 0] - cxy[None, pick, 0], cxy[dry, None, 1] - cxy[None, pick, 1]), axis=1)
        pick.append(int(dry[np.argmax(d)]))
    for u, spec in zip(pick, _UNEVEN_FIXED):
        fixed[u] = spec
    # the other lots make up for what the awkward communities gave up, so the city keeps its size
    other = ~np.isin(lot_cell, list(fixed))
    want = households - sum(spec[0] for spec in fixed.values())
    h = h.copy()
    h[other] = np.maximum(1, np.round(h[other] * want / max(h[other].sum(), 1)))
    unit_w = np.bincount(lot_cell, weights=h, minlength=len(cells))
    # the rest: community sizes from ~1,000 to ~25,000 households
    rest = unit_w.sum() - sum(unit_w[u] for u in fixed)
    q = _lognormal_q(5_000.0, 0.9, 900, 25_000)
    targets = list(q(_stratified(rng, max(2, int(round(rest / 6_500))))))
    targets = [t * rest / sum(targets) for t in targets]
    return _City(blocks=parts, block_unit=cell_of, unit_adj=adj, unit_xy=cxy, lot_block=lot_block,
                 lot_h=h.astype(np.int64), lot_kind=kind, lot_ctype=ctype, roads=new_roads,
                 road_kind=new_kind.astype(object), targets=targets, fixed_units=fixed)


FAMILIES: dict[str, Callable] = {
    "small_compounds": _small_compounds,
    "lognormal": _lognormal,
    "estates": _estates,
    "organic": _organic,
    "uneven": _uneven,
}


# ------------------------------------------------------------------------------------------ public API
def generate(family: str, *, seed: int = 0, households: int = DEFAULT_HOUSEHOLDS) -> dict[str, gpd.GeoDataFrame]:
    """The five layers of one city of a family (EPSG:4544 metres).

    Parameters
    ----------
    family
        One of :data:`FAMILIES`.
    seed
        Seed of the one random generator used; the same seed gives the same layers.
    households
        About how many households the city holds (the default ≈ 20,000 buildings).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; use one of {', '.join(FAMILIES)}")
    if households < 2_000:
        raise ValueError("households must be at least 2,000")
    rng = np.random.default_rng([seed, sorted(FAMILIES).index(family)])
    city = FAMILIES[family](rng, int(households))
    return _assemble(rng, city, family)


def write(family: str, folder, *, seed: int = 0, households: int = DEFAULT_HOUSEHOLDS, driver: str = "GPKG",
          overwrite: bool = False) -> list[Path]:
    """Generate a city and write it as a dataset folder (``GPKG``: ``<folder>/city.gpkg``;
    ``GeoJSON``/``FlatGeobuf``: one file per layer). Returns the files written."""
    return write_city(generate(family, seed=seed, households=households), folder, driver=driver,
                      overwrite=overwrite)


def describe(layers: dict[str, gpd.GeoDataFrame]) -> dict:
    """Headline figures of a generated city (counts, compound size quantiles, community sizes)."""
    b, cp, cm = layers["buildings"], layers["compounds"], layers["communities"]
    ch = b.groupby("compound_id")["households"].sum()
    mh = b.groupby("community_id")["households"].sum()
    q = np.percentile(ch, [25, 50, 75]) if len(ch) else [0, 0, 0]
    return {
        "buildings": len(b), "households": int(b["households"].sum()), "persons": int(b["persons"].sum()),
        "communities": len(cm), "compounds": len(cp), "roads": len(layers["roads"]),
        "stations": len(layers["stations"]),
        "red_stations": int((layers["stations"]["kind"] == "red_station").sum()),
        "compound_households_q25_q50_q75": [round(float(x)) for x in q],
        "compounds_over_500_pct": round(100 * float((ch > 500).mean()), 1) if len(ch) else 0.0,
        "households_outside_compounds_pct": round(100 * float(b.loc[b["compound_id"].isna(), "households"].sum()
                                                              / max(b["households"].sum(), 1)), 1),
        "community_households_min_max": [int(mh.min()), int(mh.max())],
    }


def main(argv: list[str] | None = None) -> int:
    """``python benchmarks/cities.py FAMILY [--seed N] [--households H] [--out DIR] [--driver D]``."""
    ap = argparse.ArgumentParser(description="Generate a benchmark city of one family as a dataset folder.")
    ap.add_argument("family", choices=sorted(FAMILIES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--households", type=int, default=DEFAULT_HOUSEHOLDS)
    ap.add_argument("--out", default=None, help="output folder (default benchmarks/out/<family>)")
    ap.add_argument("--driver", default="GPKG", choices=["GPKG", "GeoJSON", "FlatGeobuf"])
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args(argv)
    t = time.perf_counter()
    layers = generate(a.family, seed=a.seed, households=a.households)
    t = time.perf_counter() - t
    out = Path(a.out) if a.out else OUT_DIR / a.family
    try:
        files = write_city(layers, out, driver=a.driver, overwrite=a.overwrite)
    except FileExistsError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"{a.family} (seed {a.seed}) generated in {t:.1f} s: {describe(layers)}")
    for f in files:
        print(f"wrote {f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
