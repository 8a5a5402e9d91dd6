"""Which buildings are neighbours: the graph every grid must be connected in.

Two buildings of the same community are neighbours when their cells
(:func:`gridplan.tessellate.building_cells`) share a stretch of boundary. Candidate pairs come from
the Delaunay triangulation of the building points (the dual of the Voronoi cells), so the graph is
planar and sparse (about three edges per building) and is built with array operations only.

The edge weight is the cost of cutting between the two buildings: the length (m) of their shared
boundary, times 4 when both lie in the same compound (cut compounds last) and times 0.25 when a
road runs between them (prefer boundaries along roads). Buildings never connect across
communities, and the parts of a community that are separate islands stay separate components.

A building whose cell is empty (its point lies outside its community polygon) is joined to its
nearest neighbour in the community so it is never stranded.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components
from scipy.spatial import Delaunay, QhullError

from .model import Dataset
from .tessellate import building_cells, building_points, community_labels, dataset_cache

log = logging.getLogger(__name__)

#: weight factor of an edge inside one compound
SAME_COMPOUND_FACTOR = 4.0
#: weight factor of an edge crossed by a road
ROAD_FACTOR = 0.25
#: minimum shared boundary (m) for two cells to count as neighbours
MIN_SHARED_M = 1e-6


def building_adjacency(dataset: Dataset) -> sp.csr_matrix:
    """The symmetric building adjacency matrix, in the order of ``dataset.buildings``.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``A[i, j] > 0`` when buildings ``i`` and ``j`` are neighbours; the value is the cut cost
        (shared boundary in metres, weighted for compounds and roads). Cached per dataset.
    """
    return dataset_cache(dataset, "building_adjacency", lambda: _compute(dataset))[0]


def shared_lengths(dataset: Dataset) -> sp.csr_matrix:
    """Like :func:`building_adjacency` (same sparsity), but the plain length in metres of the
    boundary two neighbouring cells share (what a grid's perimeter is made of)."""
    return dataset_cache(dataset, "building_adjacency", lambda: _compute(dataset))[1]


def _candidate_pairs(pts: np.ndarray) -> np.ndarray:
    n = len(pts)
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    if n == 2:
        return np.array([[0, 1]])
    try:
        tri = Delaunay(pts)
        s = tri.simplices
        e = np.vstack([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]])
        if len(tri.coplanar):
            # points qhull left out (nearly coincident): pair them with their simplex's corners
            cp = tri.coplanar
            extra = [np.column_stack([cp[:, 0], s[cp[:, 1], c]]) for c in range(3)]
            e = np.vstack([e, *extra])
    except (QhullError, ValueError):
        # collinear points: chain them along the line
        order = np.lexsort((pts[:, 1], pts[:, 0]))
        e = np.column_stack([order[:-1], order[1:]])
    e = np.sort(e, axis=1)
    return np.unique(e, axis=0)


def _compute(dataset: Dataset) -> sp.csr_matrix:
    labels = community_labels(dataset)
    xy = building_points(dataset)
    cells = building_cells(dataset).to_numpy()
    n = len(labels)
    rows, cols, wts = [], [], []
    for cid in pd.unique(labels):
        idx = np.flatnonzero(labels == cid)
        if len(idx) < 2:
            continue
        pairs = _candidate_pairs(xy[idx])
        tree = shapely.STRtree(cells[idx])
        touch = tree.query(cells[idx], predicate="intersects").T
        touch = touch[touch[:, 0] < touch[:, 1]]
        pairs = np.unique(np.vstack([pairs, touch]), axis=0) if len(pairs) else touch
        if len(pairs) == 0:
            continue
        i, j = idx[pairs[:, 0]], idx[pairs[:, 1]]
        shared = shapely.length(shapely.intersection(cells[i], cells[j]))
        ok = shared > MIN_SHARED_M
        # buildings left without a neighbour (empty cell): link to the nearest candidate
        deg = np.bincount(np.r_[i[ok], j[ok]], minlength=n)[idx]
        lonely = idx[deg == 0]
        if len(lonely):
            d = np.hypot(*(xy[i] - xy[j]).T)
            for b in lonely:
                m = np.flatnonzero((i == b) | (j == b))
                if len(m):
                    best = m[np.argmin(d[m])]
                    ok[best] = True
                    shared[best] = max(shared[best], 1.0)
        rows.append(i[ok])
        cols.append(j[ok])
        wts.append(shared[ok])
    if not rows:
        return sp.csr_matrix((n, n)), sp.csr_matrix((n, n))
    i = np.concatenate(rows)
    j = np.concatenate(cols)
    length = np.maximum(np.concatenate(wts).astype(float), 1e-3)
    w = length * _factors(dataset, i, j, xy)
    A = sp.coo_matrix((np.r_[w, w], (np.r_[i, j], np.r_[j, i])), shape=(n, n)).tocsr()
    A.sum_duplicates()
    A.sort_indices()
    L = sp.coo_matrix((np.r_[length, length], (np.r_[i, j], np.r_[j, i])), shape=(n, n)).tocsr()
    L.sum_duplicates()
    L.sort_indices()
    return A, L


def _factors(dataset: Dataset, i: np.ndarray, j: np.ndarray, xy: np.ndarray) -> np.ndarray:
    f = np.ones(len(i))
    b = dataset.buildings
    if "compound_id" in b.columns:
        comp = b["compound_id"]
        valid = comp.notna().to_numpy()
        c = comp.astype(str).to_numpy()
        same = valid[i] & valid[j] & (c[i] == c[j])
        f[same] *= SAME_COMPOUND_FACTOR
    roads = dataset.roads
    if roads is not None and len(roads):
        segs = shapely.linestrings(np.stack([xy[i], xy[j]], axis=1))
        tree = shapely.STRtree(roads.geometry.to_numpy())
        hit = tree.query(segs, predicate="intersects")
        crossed = np.zeros(len(i), dtype=bool)
        crossed[np.unique(hit[0])] = True
        f[crossed] *= ROAD_FACTOR
    return f


def grid_components(adjacency: sp.csr_matrix, codes: np.ndarray) -> np.ndarray:
    """Number of connected pieces of every grid (``codes``: grid index per building)."""
    A = adjacency.tocoo()
    keep = codes[A.row] == codes[A.col]
    n = adjacency.shape[0]
    sub = sp.coo_matrix((np.ones(int(keep.sum())), (A.row[keep], A.col[keep])), shape=(n, n))
    _, comp = connected_components(sub, directed=False)
    ng = int(codes.max()) + 1 if len(codes) else 0
    pairs = np.unique(np.column_stack([codes, comp]), axis=0)
    return np.bincount(pairs[:, 0], minlength=ng)
