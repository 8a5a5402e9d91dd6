"""The walking network: roads → an undirected CSR graph with edge geometry, and snapping onto it.

``build_network(roads)`` nodes the walkable lines at their crossings, merges end points closer
than ``snap_tolerance_m``, and keeps, per segment, its geometry oriented from its ``u`` node to
its ``v`` node. The graph used for shortest paths collapses parallel segments to the shortest
one *before* the COO → CSR conversion (which would otherwise sum them) and gives zero-length
segments a tiny positive weight. Every segment is still kept as a snapping target, so a building
beside the longer of two parallel roads snaps to that road.

Only the *main* component (the largest by total length, or every component at least
``min_component_m`` long) is used: points are snapped to the nearest edge of a kept component,
and a point whose nearest road is a small disconnected piece is flagged ``off_main`` (it is
snapped to the kept network instead, so its walk includes the longer snap distance). A point
further than ``max_snap_m`` from any kept road is flagged ``far`` and treated as unreachable.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from ._errors import CRSError, Problem, ValidationError

log = logging.getLogger(__name__)

#: weight given to segments of zero length so that CSR keeps them as edges (metres)
ZERO_LENGTH_WEIGHT_M = 1e-9


@dataclass(frozen=True, eq=False)
class Snapped:
    """Points snapped onto a :class:`WalkNetwork`.

    Arrays are aligned with the input points. ``edge`` is an index into the network's edge
    arrays (``-1`` when the point could not be snapped), ``pos_m`` the distance from the edge's
    ``u`` end along its geometry, ``snap_m`` the straight distance from the point to the road,
    ``far`` whether that distance exceeds the cap (such points are unreachable) and
    ``off_main`` whether the nearest road was a disconnected piece the network does not use.
    """

    edge: np.ndarray
    pos_m: np.ndarray
    snap_m: np.ndarray
    far: np.ndarray
    off_main: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)

    @property
    def ok(self) -> np.ndarray:
        """Points that are on the usable network (not far, snapped)."""
        return (self.edge >= 0) & ~self.far

    def take(self, idx) -> Snapped:
        """The snaps at positions ``idx``."""
        idx = np.asarray(idx)
        return Snapped(*(getattr(self, f)[idx] for f in ("edge", "pos_m", "snap_m", "far", "off_main", "x", "y")))

    @staticmethod
    def concat(parts: list[Snapped]) -> Snapped:
        """The snaps of several parts, one after the other."""
        return Snapped(*(np.concatenate([getattr(p, f) for p in parts])
                         for f in ("edge", "pos_m", "snap_m", "far", "off_main", "x", "y")))


@dataclass(frozen=True, eq=False)
class WalkNetwork:
    """An undirected walking network.

    Attributes
    ----------
    node_xy
        ``(n, 2)`` node coordinates (metres).
    edge_u, edge_v, edge_len_m, edge_geom, edge_road
        Per segment: end nodes, length, geometry oriented from ``u`` to ``v``, source road id.
    graph
        ``(n, n)`` symmetric CSR matrix of the shortest segment between each pair of nodes.
    component
        Component label per node; ``kept_edge`` marks edges in the used (main) part.
    """

    node_xy: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_len_m: np.ndarray
    edge_geom: np.ndarray
    edge_road: np.ndarray
    graph: sparse.csr_matrix
    component: np.ndarray
    kept_component: np.ndarray
    kept_edge: np.ndarray
    crs: object = None
    problems: tuple = ()
    if TYPE_CHECKING:   # set in __post_init__; not fields at run time
        _kept_idx: np.ndarray = field(init=False)
        _kept_tree: shapely.STRtree = field(init=False)
        _off_tree: shapely.STRtree = field(init=False)

    def __post_init__(self):
        kept = np.flatnonzero(self.kept_edge)
        object.__setattr__(self, "_kept_idx", kept)
        object.__setattr__(self, "_kept_tree", shapely.STRtree(self.edge_geom[kept]))
        object.__setattr__(self, "_off_tree", shapely.STRtree(self.edge_geom[~self.kept_edge]))

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_xy)

    @property
    def n_edges(self) -> int:
        """Number of edges."""
        return len(self.edge_u)

    @property
    def kept_node(self) -> np.ndarray:
        """Whether each node lies in the part of the network that is kept (the main part)."""
        return np.isin(self.component, self.kept_component)

    def __repr__(self) -> str:
        return (f"WalkNetwork({self.n_nodes} nodes, {self.n_edges} edges, "
                f"{int(self.kept_edge.sum())} in the main part, {self.edge_len_m.sum() / 1000:.1f} km)")

    # ------------------------------------------------------------------ snapping
    def snap(self, points, *, max_snap_m: float = 300.0) -> Snapped:
        """Snap points (a GeoSeries/array of geometries, or an ``(k, 2)`` array) to the nearest
        point on the nearest edge of the used network.

        Polygons are represented by their representative point. See :class:`Snapped`.
        """
        pts = _as_points(points)
        k = len(pts)
        edge = np.full(k, -1, dtype=np.int64)
        pos = np.zeros(k)
        snap = np.full(k, np.inf)
        off = np.zeros(k, dtype=bool)
        sx = np.full(k, np.nan)
        sy = np.full(k, np.nan)
        valid = ~(shapely.is_missing(pts) | shapely.is_empty(pts))
        if k == 0 or len(self._kept_idx) == 0 or not valid.any():
            return Snapped(edge, pos, snap, np.ones(k, dtype=bool) & ~(edge >= 0), off, sx, sy)
        vi = np.flatnonzero(valid)
        (pi, ei), dist = self._kept_tree.query_nearest(pts[vi], max_distance=max_snap_m if np.isfinite(max_snap_m) else None,
                                                       return_distance=True, all_matches=False)
        e = self._kept_idx[ei]
        tgt = vi[pi]
        edge[tgt] = e
        snap[tgt] = dist
        geoms = self.edge_geom[e]
        p = shapely.line_locate_point(geoms, pts[tgt])
        p = np.clip(p, 0.0, self.edge_len_m[e])
        pos[tgt] = p
        sp = shapely.line_interpolate_point(geoms, p)
        sx[tgt] = shapely.get_x(sp)
        sy[tgt] = shapely.get_y(sp)
        if len(self._kept_idx) < self.n_edges:  # is a road of a dropped piece nearer?
            lim = float(np.max(np.where(np.isfinite(snap[vi]), snap[vi], max_snap_m if np.isfinite(max_snap_m) else 0.0)))
            (pa, _), dall = self._off_tree.query_nearest(pts[vi], max_distance=lim if lim > 0 else None,
                                                         return_distance=True, all_matches=False)
            dmin = np.full(len(vi), np.inf)
            np.minimum.at(dmin, pa, dall)
            off[vi] = dmin + 1e-9 < snap[vi]
        far = ~np.isfinite(snap) | (snap > max_snap_m)
        return Snapped(edge, pos, snap, far, off, sx, sy)

    def snap_nodes(self, nodes) -> Snapped:
        """Snapped positions exactly at network nodes (distance 0), e.g. node candidates."""
        nodes = np.asarray(nodes, dtype=np.int64)
        # an incident edge for each node
        inc_edge = np.full(self.n_nodes, -1, dtype=np.int64)
        inc_end = np.zeros(self.n_nodes, dtype=bool)  # True = node is the v end
        ke = self._kept_idx
        inc_edge[self.edge_v[ke]] = ke
        inc_end[self.edge_v[ke]] = True
        inc_edge[self.edge_u[ke]] = ke
        inc_end[self.edge_u[ke]] = False
        e = inc_edge[nodes]
        pos = np.where(inc_end[nodes], self.edge_len_m[np.maximum(e, 0)], 0.0)
        k = len(nodes)
        return Snapped(e, pos, np.zeros(k), e < 0, np.zeros(k, dtype=bool),
                       self.node_xy[nodes, 0].copy(), self.node_xy[nodes, 1].copy())

    # ------------------------------------------------------------------ distances
    def node_distances(self, sources: Snapped, *, limit_m: float = np.inf):
        """Multi-source exact walk distance to every node.

        Each usable source gets a virtual node wired to both ends of its edge (snap + position
        and snap + length − position). Returns ``(dist, owner)``: per node the distance to the
        nearest source and the index of that source (``-1`` where none is within ``limit_m``).
        """
        n = self.n_nodes
        ok = np.flatnonzero(sources.ok)
        if len(ok) == 0:
            return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
        g = self.augmented(sources.take(ok))
        dist, _, src = csgraph.dijkstra(g, directed=True, indices=np.arange(n, n + len(ok)),
                                        limit=limit_m, min_only=True, return_predecessors=True)
        dist = dist[:n]
        src = src[:n]
        owner = np.where(src >= n, ok[np.clip(src - n, 0, len(ok) - 1)], -1)
        owner[~np.isfinite(dist)] = -1
        return dist, owner

    def augmented(self, sources: Snapped) -> sparse.csr_matrix:
        """The graph plus one virtual node per source with out-edges to its edge's two ends."""
        n = self.n_nodes
        k = len(sources)
        e = sources.edge
        vn = n + np.arange(k)
        wu = sources.snap_m + sources.pos_m
        wv = sources.snap_m + (self.edge_len_m[e] - sources.pos_m)
        rows = np.concatenate([vn, vn])
        cols = np.concatenate([self.edge_u[e], self.edge_v[e]])
        w = np.maximum(np.concatenate([wu, wv]), ZERO_LENGTH_WEIGHT_M)
        rows, cols, w = _collapse_min(rows, cols, w)
        extra = sparse.csr_matrix((w, (rows, cols)), shape=(n + k, n + k))
        base = self.graph
        base = sparse.csr_matrix((base.data, base.indices, np.concatenate(
            [base.indptr, np.full(k, base.indptr[-1])])), shape=(n + k, n + k))
        return (base + extra).tocsr()

    def distance_matrix(self, sources: Snapped, targets: Snapped, *, limit_m: float = np.inf) -> np.ndarray:
        """Exact walk distance from every source to every target, as a dense ``(len(sources),
        len(targets))`` array (``inf`` where unreachable, beyond ``limit_m``, or not snapped).

        The all-pairs counterpart of :meth:`node_distances` + :meth:`point_distances`: one
        Dijkstra per source on :meth:`augmented` (both snap distances and partial edges walked),
        then per target the better end of its edge, and the direct walk along a shared edge (a
        point to itself, or to another at the same place, walks to the road and back: twice its snap
        distance, as :mod:`gridplan.reach` counts a station standing at a building). For
        tens to a few hundred points (a grid's buildings); :func:`gridplan.stations.pairs_within`
        answers "within D?" for many more points without a dense matrix.
        """
        out = np.full((len(sources), len(targets)), np.inf)
        si, ti = np.flatnonzero(sources.ok), np.flatnonzero(targets.ok)
        if len(si) == 0 or len(ti) == 0:
            return out
        s, t = sources.take(si), targets.take(ti)
        n = self.n_nodes
        lim = float(limit_m) if np.isfinite(limit_m) else np.inf
        dm = csgraph.dijkstra(self.augmented(s), directed=True, indices=n + np.arange(len(si)), limit=lim)[:, :n]
        e = t.edge
        d = np.minimum(dm[:, self.edge_u[e]] + t.pos_m, dm[:, self.edge_v[e]] + (self.edge_len_m[e] - t.pos_m))
        m = pd.DataFrame({"edge": s.edge, "a": np.arange(len(si))}).merge(
            pd.DataFrame({"edge": e, "b": np.arange(len(ti))}), on="edge")
        if len(m):
            a, b = m["a"].to_numpy(), m["b"].to_numpy()
            d[a, b] = np.minimum(d[a, b], s.snap_m[a] + np.abs(s.pos_m[a] - t.pos_m[b]))
        d += t.snap_m
        d[d > lim] = np.inf
        out[np.ix_(si, ti)] = d
        return out

    def point_distances(self, node_dist: np.ndarray, node_owner: np.ndarray, points: Snapped,
                        sources: Snapped | None = None):
        """Exact distance from the nearest source to each snapped point.

        ``snap + min(d[u] + pos, d[v] + len − pos)``, and, for a point on the same edge as a
        source, ``snap + |pos − pos_source| + snap_source`` when that is shorter.
        Returns ``(dist, owner)``; unreachable points get ``inf`` and ``-1``.
        """
        k = len(points)
        dist = np.full(k, np.inf)
        owner = np.full(k, -1, dtype=np.int64)
        ok = np.flatnonzero(points.ok)
        if len(ok) == 0:
            return dist, owner
        e = points.edge[ok]
        u, v = self.edge_u[e], self.edge_v[e]
        du = node_dist[u] + points.pos_m[ok]
        dv = node_dist[v] + (self.edge_len_m[e] - points.pos_m[ok])
        use_v = dv < du
        d = np.where(use_v, dv, du)
        own = np.where(use_v, node_owner[v], node_owner[u])
        if sources is not None and len(sources):
            sok = np.flatnonzero(sources.ok)
            if len(sok):
                same_edge_improve(e, points.pos_m[ok], sources.edge[sok], sok, sources, d, own)
        dist[ok] = d + points.snap_m[ok]
        owner[ok] = np.where(np.isfinite(dist[ok]), own, -1)
        return dist, owner


def same_edge_improve(edges, pos_m, source_edges, source_idx, sources: Snapped, best, owner) -> None:
    """Shorten walks of points lying on the same edge as a source, in place.

    For point ``i`` on edge ``edges[i]`` at ``pos_m[i]`` and source ``s`` (index into
    ``sources``) on the same edge, the direct walk along the edge is
    ``|pos_m[i] − sources.pos_m[s]| + sources.snap_m[s]``; where it beats ``best[i]`` it replaces it
    and ``owner[i]`` becomes ``s``.
    """
    pe = pd.DataFrame({"edge": edges, "p": np.arange(len(edges))})
    se = pd.DataFrame({"edge": source_edges, "s": source_idx})
    m = pe.merge(se, on="edge")
    if not len(m):
        return
    pi, si = m["p"].to_numpy(), m["s"].to_numpy()
    direct = np.abs(pos_m[pi] - sources.pos_m[si]) + sources.snap_m[si]
    order = np.lexsort((direct, pi))
    pi, si, direct = pi[order], si[order], direct[order]
    first = np.r_[True, pi[1:] != pi[:-1]]
    pi, si, direct = pi[first], si[first], direct[first]
    better = direct < best[pi]
    best[pi[better]] = direct[better]
    owner[pi[better]] = si[better]


# ---------------------------------------------------------------------- building

def build_network(roads: gpd.GeoDataFrame | None, *, snap_tolerance_m: float = 0.5, node: bool = True,
                  min_component_m: float | None = None) -> WalkNetwork:
    """Build the walking network from a ``roads`` layer.

    Parameters
    ----------
    roads
        LineStrings in a projected metre CRS, indexed by ``road_id``; an optional boolean
        ``walkable`` column excludes roads marked false (missing counts as walkable).
    snap_tolerance_m
        End points closer than this are merged into one node.
    node
        Split lines where they cross or where one ends on another (``True``, the default: only
        the lines that need it are noded, found by an exact pairwise check). ``False`` trusts the
        input to be noded already.
    min_component_m
        Keep every connected component at least this long (metres of road); ``None`` keeps only
        the largest one.
    """
    if roads is None or len(roads) == 0:
        raise ValidationError([Problem(
            "error", "roads", None, "the dataset has no roads layer (or it is empty), so walking distances cannot be computed",
            "add a `roads` layer of LineStrings (walkable streets and paths) to the dataset", "no_roads")])
    crs = roads.crs
    if crs is None:
        raise CRSError("the roads layer has no CRS; load it through gridplan.io.read_dataset or set one")
    if crs.is_geographic:
        raise CRSError(f"the roads layer is in a geographic CRS ({crs.name}); distances need a projected "
                       "metre CRS (e.g. EPSG:4544) — load the dataset through gridplan.io.read_dataset")
    problems: list[Problem] = []
    geoms = np.asarray(roads.geometry.values, dtype=object)
    ids = roads.index.astype(str).to_numpy()
    if "walkable" in roads.columns:
        walk = _walkable(roads["walkable"])
        geoms, ids = geoms[walk], ids[walk]
    tid = shapely.get_type_id(geoms)
    if (tid == 1).all():
        parts, pidx = geoms, np.arange(len(geoms))
    else:
        parts, pidx = shapely.get_parts(geoms, return_index=True)
    tid = shapely.get_type_id(parts)
    keep = (tid == 1) | (tid == 2)  # LineString, LinearRing
    parts, pidx = parts[keep], pidx[keep]
    if keep.size and not keep.all():
        problems.append(Problem("warning", "roads", None, f"{int((~keep).sum())} non-line part(s) ignored",
                                "roads must be LineStrings", "road_not_line"))
    if shapely.has_z(parts).any():
        parts = shapely.force_2d(parts)
    ok = ~shapely.is_empty(parts) & (shapely.get_num_coordinates(parts) >= 2)
    parts, pidx = parts[ok], pidx[ok]
    if len(parts) == 0:
        raise ValidationError([Problem("error", "roads", None, "no walkable road lines",
                                       "mark some roads walkable=true or add LineString roads", "no_walkable_roads")])
    road_of = ids[pidx]
    if node:
        need = _needs_noding(parts)
    if node and need.any():
        rest = np.flatnonzero(~need)
        noded = shapely.get_parts(shapely.node(shapely.multilinestrings(parts[need])))
        noded = noded[shapely.get_type_id(noded) == 1]
        log.info("noding %d of %d road lines into %d pieces", int(need.sum()), len(parts), len(noded))
        # recover the source road of each piece: pieces identical to an input line (same end
        # points, same length) by a join, the split pieces from their midpoint
        def ends_key(g):
            c = shapely.get_coordinates(g)
            nc = shapely.get_num_coordinates(g)
            st = np.r_[0, np.cumsum(nc)[:-1]]
            a, b = c[st], c[st + nc - 1]
            swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
            a2 = np.where(swap[:, None], b, a)
            b2 = np.where(swap[:, None], a, b)
            return pd.DataFrame({"ax": a2[:, 0], "ay": a2[:, 1], "bx": b2[:, 0], "by": b2[:, 1],
                                 "len": np.round(shapely.length(g), 6)})
        sub, sub_road = parts[need], road_of[need]
        kin = ends_key(sub)
        kin["src"] = np.arange(len(sub))
        kin = kin.drop_duplicates(["ax", "ay", "bx", "by", "len"])
        kout = ends_key(noded)
        kout["piece"] = np.arange(len(noded))
        m = kout.merge(kin, on=["ax", "ay", "bx", "by", "len"], how="left")
        src = np.empty(len(noded), dtype=object)
        hit = m["src"].notna().to_numpy()
        src[m["piece"].to_numpy()[hit]] = sub_road[m["src"].to_numpy()[hit].astype(np.int64)]
        miss = m["piece"].to_numpy()[~hit]
        if len(miss):
            mids = shapely.line_interpolate_point(noded[miss], 0.5, normalized=True)
            (mi, ti) = shapely.STRtree(sub).query_nearest(mids, all_matches=False)
            src[miss[mi]] = sub_road[ti]
        parts = np.concatenate([parts[rest], noded])
        road_of = np.concatenate([road_of[rest], src])
    lengths = shapely.length(parts)
    # node end points, merging those within the tolerance
    coords = shapely.get_coordinates(parts)
    ncoord = shapely.get_num_coordinates(parts)
    starts = np.concatenate([[0], np.cumsum(ncoord)[:-1]])
    ends = starts + ncoord - 1
    pts = np.concatenate([coords[starts], coords[ends]])
    node_of, node_xy = _cluster_points(pts, snap_tolerance_m)
    m = len(parts)
    u = node_of[:m]
    v = node_of[m:]
    # degenerate loops (both ends merged and shorter than the tolerance) are dropped
    degen = (u == v) & (lengths <= 2 * snap_tolerance_m)
    if degen.any():
        parts, road_of, lengths, u, v = parts[~degen], road_of[~degen], lengths[~degen], u[~degen], v[~degen]
    n = len(node_xy)
    # graph: collapse parallels to the minimum before COO → CSR (which sums duplicates)
    loop = u == v
    a = np.minimum(u, v)[~loop]
    b = np.maximum(u, v)[~loop]
    w = np.maximum(lengths[~loop], ZERO_LENGTH_WEIGHT_M)
    a, b, w = _collapse_min(a, b, w)
    graph = sparse.csr_matrix((np.concatenate([w, w]), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n))
    graph.sort_indices()
    ncomp, comp = csgraph.connected_components(graph, directed=False)
    comp_len = np.bincount(comp[u], weights=lengths, minlength=ncomp)
    if min_component_m is None:
        kept_comp = np.array([int(np.argmax(comp_len))])
    else:
        kept_comp = np.flatnonzero(comp_len >= min_component_m)
        if len(kept_comp) == 0:
            kept_comp = np.array([int(np.argmax(comp_len))])
    kept_edge = np.isin(comp[u], kept_comp)
    if ncomp > len(kept_comp):
        dropped = ~kept_edge
        problems.append(Problem(
            "warning", "roads", None,
            f"{ncomp - len(kept_comp)} disconnected piece(s) of the walking network ({lengths[dropped].sum():.0f} m of road) "
            "are not used; points near them are snapped to the main network and flagged off_main",
            "connect the pieces to the street network (check for gaps at junctions) or ignore if intended",
            "disconnected_roads"))
    log.info("walking network: %d nodes, %d segments, %d components", n, len(parts), ncomp)
    return WalkNetwork(node_xy=node_xy, edge_u=u.astype(np.int64), edge_v=v.astype(np.int64), edge_len_m=lengths,
                       edge_geom=parts, edge_road=np.asarray(road_of, dtype=object), graph=graph, component=comp,
                       kept_component=kept_comp, kept_edge=kept_edge, crs=crs, problems=tuple(problems))


def _box_pairs(lo: np.ndarray, hi: np.ndarray):
    """All pairs ``i < j`` of boxes that intersect (closed), by hashing boxes to a uniform grid."""
    n = len(lo)
    if n < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    size = hi - lo
    c = float(max(np.median(size.max(axis=1)), 1e-6))
    g0 = np.floor(lo / c).astype(np.int64)
    g1 = np.floor(hi / c).astype(np.int64)
    nx_ = g1[:, 0] - g0[:, 0] + 1
    ny_ = g1[:, 1] - g0[:, 1] + 1
    cnt = nx_ * ny_
    huge = np.flatnonzero(cnt > 4096)  # very long pieces: checked against every box directly
    extra_i, extra_j = [], []
    for h in huge:
        hit = np.flatnonzero(((lo <= hi[h]) & (lo[h] <= hi)).all(axis=1))
        hit = hit[hit != h]
        extra_i.append(np.full(len(hit), h))
        extra_j.append(hit)
    cnt[huge] = 0
    box = np.repeat(np.arange(n), cnt)
    r = np.arange(len(box)) - np.repeat(np.r_[0, np.cumsum(cnt)[:-1]], cnt)
    cx = g0[box, 0] + r % nx_[box]
    cy = g0[box, 1] + r // nx_[box]
    cell = (cx - cx.min()) * (cy.max() - cy.min() + 1) + (cy - cy.min())
    order = np.lexsort((box, cell))
    box, cell = box[order], cell[order]
    start = np.r_[0, np.flatnonzero(cell[1:] != cell[:-1]) + 1]
    end = np.r_[start[1:], len(cell)]
    gend = np.repeat(end, end - start)
    pos = np.arange(len(box))
    npart = gend - pos - 1  # partners after this entry in its cell
    a = np.repeat(pos, npart)
    b = a + 1 + (np.arange(len(a)) - np.repeat(np.r_[0, np.cumsum(npart)[:-1]], npart))
    i, j = box[a], box[b]
    ok = ((lo[i] <= hi[j]) & (lo[j] <= hi[i])).all(axis=1) & (i != j)
    # report each pair once: in the cell holding the lower-left corner of the boxes' overlap
    corner = np.floor(np.maximum(lo[i], lo[j]) / c).astype(np.int64)
    ok &= (corner[:, 0] == cx[order][a]) & (corner[:, 1] == cy[order][a])
    i, j = np.concatenate([i[ok], *extra_i]).astype(np.int64), np.concatenate([j[ok], *extra_j]).astype(np.int64)
    i, j = np.minimum(i, j), np.maximum(i, j)
    if extra_i:  # pairs with a huge box may also have been found in the grid
        key = np.unique(i * np.int64(n) + j)
        return key // n, key % n
    order2 = np.lexsort((j, i))
    return i[order2], j[order2]


def _orient(ax, ay, bx, by, cx, cy):
    return np.sign((bx - ax) * (cy - ay) - (by - ay) * (cx - ax))


def _needs_noding(lines: np.ndarray) -> np.ndarray:
    """Lines that cross, overlap or touch a line anywhere but at end points both lines share (or
    touch themselves). Exact, on the straight pieces: candidate pairs by bounding box, then
    orientation tests in numpy; only the few pairs that touch are looked at more closely."""
    n = len(lines)
    need = np.zeros(n, dtype=bool)
    if n < 2:
        return need
    coords, lid = shapely.get_coordinates(lines, return_index=True)
    last = np.r_[lid[1:] != lid[:-1], True]
    first = np.r_[True, lid[1:] != lid[:-1]]
    k = np.flatnonzero(~last)  # segment k runs from vertex k to k + 1
    sl = lid[k]
    P, Q = coords[k], coords[k + 1]
    p_end, q_end = first[k], last[k + 1]  # is the segment's start/end point an end of its line?
    i, j = _box_pairs(np.minimum(P, Q), np.maximum(P, Q))
    same_line = sl[i] == sl[j]
    adjacent = same_line & (j == i + 1)
    if adjacent.any():  # a line folding back on itself (consecutive pieces overlapping)
        a, b = i[adjacent], j[adjacent]
        d1, d2 = Q[a] - P[a], Q[b] - P[b]
        fold = (d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0] == 0) & ((d1 * d2).sum(axis=1) < 0)
        need[sl[a[fold]]] = True
    keep = ~adjacent
    i, j, same_line = i[keep], j[keep], same_line[keep]
    if len(i) == 0:
        return need
    px, py, qx, qy = P[i, 0], P[i, 1], Q[i, 0], Q[i, 1]
    rx, ry, tx, ty = P[j, 0], P[j, 1], Q[j, 0], Q[j, 1]
    o1, o2 = _orient(px, py, qx, qy, rx, ry), _orient(px, py, qx, qy, tx, ty)
    o3, o4 = _orient(rx, ry, tx, ty, px, py), _orient(rx, ry, tx, ty, qx, qy)
    colin = (o1 == 0) & (o2 == 0)

    def within(a, b, c):  # c within the closed box of a..b (per coordinate)
        return (np.minimum(a, b) <= c) & (c <= np.maximum(a, b))

    def on_seg(ax, ay, bx, by, cx, cy):
        return within(ax, bx, cx) & within(ay, by, cy)

    touch = ((o1 * o2 <= 0) & (o3 * o4 <= 0)) & ~colin
    touch |= colin & (on_seg(px, py, qx, qy, rx, ry) | on_seg(px, py, qx, qy, tx, ty)
                      | on_seg(rx, ry, tx, ty, px, py) | on_seg(rx, ry, tx, ty, qx, qy))
    eq_pr = (px == rx) & (py == ry)
    eq_pt = (px == tx) & (py == ty)
    eq_qr = (qx == rx) & (qy == ry)
    eq_qt = (qx == tx) & (qy == ty)
    nshared = eq_pr.astype(int) + eq_pt + eq_qr + eq_qt
    # a contact is harmless only when it is one shared point that ends both lines and the
    # segments are not collinear and overlapping; two identical whole-line segments are parallels
    end_i = np.where(eq_pr | eq_pt, p_end[i], q_end[i])
    end_j = np.where(eq_pr | eq_qr, p_end[j], q_end[j])
    one_ok = (nshared == 1) & end_i & end_j & ~same_line
    # for one shared point, collinear segments must point away from each other
    sx = np.where(eq_pr | eq_pt, px, qx)
    sy = np.where(eq_pr | eq_pt, py, qy)
    oix, oiy = np.where(eq_pr | eq_pt, qx, px) - sx, np.where(eq_pr | eq_pt, qy, py) - sy
    ojx, ojy = np.where(eq_pr | eq_qr, tx, rx) - sx, np.where(eq_pr | eq_qr, ty, ry) - sy
    overlap = colin & ((oix * ojx + oiy * ojy) > 0)
    one_ok &= ~overlap
    twin = (nshared == 2) & p_end[i] & q_end[i] & p_end[j] & q_end[j] & ~same_line
    bad = touch & ~(one_ok | twin)
    need[sl[i[bad]]] = True
    need[sl[j[bad]]] = True
    return need


def _collapse_min(a, b, w):
    """Collapse duplicate ``(a, b)`` pairs to their minimum weight."""
    if len(a) == 0:
        return a, b, w
    order = np.lexsort((w, b, a))
    a, b, w = a[order], b[order], w[order]
    first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
    return a[first], b[first], w[first]


def _cluster_points(pts: np.ndarray, tol: float):
    """Merge points within ``tol`` (transitively). Returns (label per point, coordinates per label)."""
    # exact duplicates first (as complex numbers: a fast 1-D sort)
    z = np.ascontiguousarray(pts, dtype=np.float64).view(np.complex128).ravel() + 0.0
    uz, inv = np.unique(z, return_inverse=True)
    inv = inv.ravel()
    uniq = np.column_stack([uz.real, uz.imag])
    if tol > 0 and len(uniq) > 1:
        pairs = cKDTree(uniq).query_pairs(tol, output_type="ndarray")
        if len(pairs):
            g = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(uniq), len(uniq)))
            _, lab = csgraph.connected_components(g, directed=False)
            # representative: first point of each cluster
            rep = np.full(lab.max() + 1, -1)
            order = np.arange(len(uniq))[::-1]
            rep[lab[order]] = order
            return lab[inv], uniq[rep]
    return inv, uniq


def _walkable(w: pd.Series) -> np.ndarray:
    """The ``walkable`` flags as booleans; missing values count as walkable."""
    if w.dtype == bool:
        return w.to_numpy()
    o = w.astype(object)
    miss = o.isna().to_numpy()
    txt = o.astype(str).str.strip().str.lower()
    false = txt.isin(["false", "0", "no", "n", "f", "否", "0.0"]).to_numpy()
    return miss | ~false


def _as_points(points) -> np.ndarray:
    if isinstance(points, (gpd.GeoSeries, gpd.GeoDataFrame)):
        g = np.asarray(points.geometry.values if isinstance(points, gpd.GeoDataFrame) else points.values, dtype=object)
    elif isinstance(points, np.ndarray) and points.dtype != object:
        return shapely.points(np.asarray(points, dtype=float).reshape(-1, 2))
    else:
        g = np.asarray(list(points), dtype=object) if not isinstance(points, np.ndarray) else points
    if len(g) == 0:
        return np.empty(0, dtype=object)
    t = shapely.get_type_id(g)
    out = g.copy()
    nonpt = (t != 0) & (t >= 0)
    if nonpt.any():
        out[nonpt] = shapely.point_on_surface(g[nonpt])
    return out
