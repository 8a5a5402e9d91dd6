"""Which buildings are neighbours: the graph every grid must be connected in.

Two buildings of the same community are neighbours when their cells
(:func:`gridplan.tessellate.building_cells`) share a stretch of boundary. Voronoi cells of one
diagram share their edges vertex for vertex, so shared edges are found by matching edge
coordinates (array operations, no overlay); only cells clipped by the community boundary or glued
together are checked by overlay. The graph is planar and sparse (about three edges per building).

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

from .model import Dataset, dataset_cache
from .tessellate import building_cells, building_points, community_labels, glued_cells

__all__ = ["building_adjacency", "building_adjacency_coo", "shared_lengths", "grid_components"]

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


def building_adjacency_coo(dataset: Dataset) -> sp.coo_matrix:
    """:func:`building_adjacency` in COO form, kept per dataset (:func:`grid_components` takes it as it is:
    the grid table checks contiguity after every edit)."""
    return dataset_cache(dataset, "building_adjacency_coo", lambda: building_adjacency(dataset).tocoo())


def shared_lengths(dataset: Dataset) -> sp.csr_matrix:
    """Like :func:`building_adjacency` (same sparsity), but the plain length in metres of the
    boundary two neighbouring cells share (what a grid's perimeter is made of)."""
    return dataset_cache(dataset, "building_adjacency", lambda: _compute(dataset))[1]


def _segment_pairs(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of polygons sharing identical edges, with the shared length (Voronoi cells of one
    diagram share their edges exactly, so matching edges is exact and needs no overlay)."""
    rings, owner = shapely.get_rings(geoms, return_index=True)
    if len(rings) == 0:
        return np.empty(0, int), np.empty(0, int), np.empty(0)
    xy, ridx = shapely.get_coordinates(rings, return_index=True)
    same = ridx[1:] == ridx[:-1]
    a, b = xy[:-1][same], xy[1:][same]
    own = owner[ridx[:-1][same]]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    lo = np.where(swap[:, None], b, a)
    hi = np.where(swap[:, None], a, b)
    key = np.round(np.column_stack([lo, hi]), 4)
    length = np.hypot(*(hi - lo).T)
    order = np.lexsort(key.T[::-1])
    ks = key[order]
    dup = np.flatnonzero((ks[1:] == ks[:-1]).all(1))
    i = own[order[dup]]
    j = own[order[dup + 1]]
    ln = length[order[dup]]
    keep = i != j
    i, j, ln = i[keep], j[keep], ln[keep]
    lo_, hi_ = np.minimum(i, j), np.maximum(i, j)
    if len(lo_) == 0:
        return lo_, hi_, ln
    pair = lo_.astype(np.int64) * len(geoms) + hi_
    uniq, inv = np.unique(pair, return_inverse=True)
    total = np.bincount(inv.ravel(), ln)
    return uniq // len(geoms), uniq % len(geoms), total


def _compute(dataset: Dataset):
    labels = community_labels(dataset)
    xy = building_points(dataset)
    cells = building_cells(dataset).to_numpy()
    glued = glued_cells(dataset)
    n = len(labels)
    rows, cols, wts = [], [], []
    for cid in pd.unique(labels):
        idx = np.flatnonzero(labels == cid)
        if len(idx) < 2:
            continue
        pi, pj, plen = _segment_pairs(cells[idx])
        g = glued[idx]
        plain = ~(g[pi] | g[pj])
        pi, pj, plen = pi[plain], pj[plain], plen[plain]
        # pairs involving clipped or glued cells are measured by overlay (their edges may not
        # match vertex for vertex)
        m = len(idx)
        extra = np.empty((0, 2), dtype=np.int64)
        if g.any():
            tree = shapely.STRtree(cells[idx])
            touch = tree.query(cells[idx[g]], predicate="intersects")
            extra = np.sort(np.column_stack([np.flatnonzero(g)[touch[0]], touch[1]]), axis=1).astype(np.int64)
            extra = extra[extra[:, 0] != extra[:, 1]]
            code = np.unique(extra[:, 0] * m + extra[:, 1])
            if len(pi):
                code = np.setdiff1d(code, pi.astype(np.int64) * m + pj)
            extra = np.column_stack([code // m, code % m])
        if len(extra):
            ei, ej = idx[extra[:, 0]], idx[extra[:, 1]]
            elen = shapely.length(shapely.intersection(cells[ei], cells[ej]))
        else:
            ei = ej = np.empty(0, int)
            elen = np.empty(0)
        i = np.r_[idx[pi], ei]
        j = np.r_[idx[pj], ej]
        shared = np.r_[plen, elen]
        ok = shared > MIN_SHARED_M
        # buildings left without a neighbour (empty cell): link to the nearest building
        deg = np.bincount(np.r_[i[ok], j[ok]], minlength=n)[idx]
        lonely = np.flatnonzero(deg == 0)
        if len(lonely):
            from scipy.spatial import cKDTree

            _, nn = cKDTree(xy[idx]).query(xy[idx[lonely]], k=2)
            li, lj = idx[lonely], idx[nn[:, 1]]
            i, j = np.r_[i, li], np.r_[j, lj]
            shared = np.r_[shared, np.ones(len(li))]
            ok = np.r_[ok, np.ones(len(li), dtype=bool)]
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
    nc = int(comp.max()) + 1 if len(comp) else 1
    pairs = np.unique(codes.astype(np.int64) * nc + comp)  # (grid, piece) pairs, as one key
    return np.bincount(pairs // nc, minlength=ng)
