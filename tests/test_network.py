"""The walking network: exact distances against a brute-force networkx graph with the snapped
points inserted as nodes, node-set agreement, and the awkward cases (dead ends, disconnected
pieces, zero-length and duplicate edges, a point on the same edge as a station)."""
from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from gridplan import CRSError, ValidationError
from gridplan.network import build_network

CRS = "EPSG:4544"


def roads_gdf(lines, walkable=None):
    g = gpd.GeoDataFrame(geometry=list(lines), crs=CRS,
                         index=pd.Index([f"r{i}" for i in range(len(lines))], name="road_id"))
    if walkable is not None:
        g["walkable"] = walkable
    return g


def random_planar_roads(seed: int, n: int = 7, spacing: float = 100.0):
    """A jittered grid with bent edges, some edges removed, some doubled by a parallel path,
    and a few dead-end spurs; noded (segments only meet at their ends)."""
    rng = np.random.default_rng(seed)
    P = np.stack(np.meshgrid(np.arange(n) * spacing, np.arange(n) * spacing), -1).astype(float)
    P += rng.uniform(-20, 20, P.shape)
    lines = []
    for i in range(n):
        for j in range(n):
            for di, dj in ((0, 1), (1, 0)):
                a, b = (i, j), (i + di, j + dj)
                if b[0] >= n or b[1] >= n or rng.random() < 0.15:
                    continue
                pa, pb = P[a], P[b]
                mid = (pa + pb) / 2 + rng.uniform(-15, 15, 2)
                lines.append(shapely.LineString([pa, mid, pb]))
                if rng.random() < 0.1:  # a longer parallel path between the same nodes
                    mid2 = (pa + pb) / 2 + rng.uniform(-35, 35, 2)
                    lines.append(shapely.LineString([pa, mid2, pb]))
            if rng.random() < 0.1:  # dead-end spur
                d = rng.uniform(-30, 30, 2)
                lines.append(shapely.LineString([P[i, j], P[i, j] + d]))
    return lines


def brute_force(lines, edge_ok, buildings, stations, max_snap_m=1e9):
    """Exact distances by inserting every snapped point as a node of a networkx graph."""
    lines = np.asarray(lines, dtype=object)
    usable = np.flatnonzero(edge_ok)
    pts_all = list(buildings) + list(stations)
    G = nx.Graph()

    def key(c):
        return (round(float(c[0]), 9), round(float(c[1]), 9))

    def add(a, b, w):
        if a == b:
            return
        if G.has_edge(a, b):
            w = min(w, G[a][b]["weight"])
        G.add_edge(a, b, weight=w)

    on_edge: dict[int, list] = {}
    snaps = []
    for k, p in enumerate(pts_all):
        d = shapely.distance(lines[usable], p)
        e = usable[int(np.argmin(d))]
        pos = shapely.line_locate_point(lines[e], p)
        snaps.append((e, pos, float(d.min())))
        on_edge.setdefault(e, []).append((pos, k))
    for e in usable:
        geom = lines[e]
        cs = shapely.get_coordinates(geom)
        a, b, L = key(cs[0]), key(cs[-1]), geom.length
        chain = [(0.0, a)] + [(pos, ("p", k)) for pos, k in sorted(on_edge.get(e, []))] + [(L, b)]
        for (p0, n0), (p1, n1) in zip(chain[:-1], chain[1:]):
            add(n0, n1, p1 - p0)
    for k, (_, _, s) in enumerate(snaps):
        G.add_edge(("p", k), ("pt", k), weight=s)
    nb = len(buildings)
    src = [("pt", nb + i) for i in range(len(stations))]
    dist = nx.multi_source_dijkstra_path_length(G, src, weight="weight") if src else {}
    return np.array([dist.get(("pt", k), np.inf) for k in range(nb)]), G, dist


@pytest.mark.parametrize("node", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_distances_match_brute_force(seed, node):
    rng = np.random.default_rng(100 + seed)
    lines = random_planar_roads(seed)
    net = build_network(roads_gdf(lines), snap_tolerance_m=0.0, node=node)
    if node:  # the reference walks the lines split at every crossing
        lines = list(shapely.get_parts(shapely.union_all(lines)))
    assert net.n_edges == len(lines)
    bpts = shapely.points(rng.uniform(-40, 640, (60, 2)))
    spts = shapely.points(rng.uniform(0, 600, (4, 2)))
    # edges of the kept component, in input order (noding kept the pieces; match by geometry)
    kept_geoms = net.edge_geom[net.kept_edge]
    edge_ok = np.array([any(shapely.equals_exact(g, k, 1e-9) or shapely.equals_exact(g.reverse(), k, 1e-9)
                            for k in kept_geoms) for g in lines])
    expected, _, _ = brute_force(lines, edge_ok, bpts, spts)
    bs = net.snap(bpts, max_snap_m=1e9)
    ss = net.snap(spts, max_snap_m=1e9)
    nd, no = net.node_distances(ss)
    got, owner = net.point_distances(nd, no, bs, ss)
    assert np.isfinite(expected).sum() == np.isfinite(got).sum()
    fin = np.isfinite(expected)
    np.testing.assert_allclose(got[fin], expected[fin], rtol=0, atol=1e-6)
    # the owner really is at that distance
    for i in np.flatnonzero(fin):
        one = ss.take([owner[i]])
        d1, o1 = net.node_distances(one)
        g1, _ = net.point_distances(d1, o1, bs.take([i]), one)
        assert abs(g1[0] - got[i]) < 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_reached_node_sets_match_networkx(seed):
    rng = np.random.default_rng(seed)
    lines = random_planar_roads(seed, n=8)
    net = build_network(roads_gdf(lines), snap_tolerance_m=0.0)
    spts = shapely.points(rng.uniform(0, 700, (3, 2)))
    ss = net.snap(spts)
    G = nx.Graph()
    for u, v, w, ok in zip(net.edge_u, net.edge_v, net.edge_len_m, net.kept_edge):
        if ok and u != v and (not G.has_edge(u, v) or G[u][v]["weight"] > w):
            G.add_edge(int(u), int(v), weight=float(w))
    for k in range(len(ss)):
        e = ss.edge[k]
        G.add_edge(("s", k), int(net.edge_u[e]), weight=ss.snap_m[k] + ss.pos_m[k])
        G.add_edge(("s", k), int(net.edge_v[e]), weight=ss.snap_m[k] + net.edge_len_m[e] - ss.pos_m[k])
    for limit in (150.0, 300.0, 600.0):
        ref = nx.multi_source_dijkstra_path_length(G, [("s", k) for k in range(len(ss))], cutoff=limit,
                                                   weight="weight")
        ref_nodes = {n for n in ref if not isinstance(n, tuple)}
        nd, _ = net.node_distances(ss, limit_m=limit)
        got = set(np.flatnonzero(nd <= limit).tolist())
        assert got == ref_nodes
        for n in ref_nodes:
            assert abs(nd[n] - ref[n]) < 1e-6


def test_noding_splits_crossings_and_merges_near_ends():
    lines = [shapely.LineString([(0, 0), (200, 0)]), shapely.LineString([(100, -100), (100, 100)]),
             shapely.LineString([(200.3, 0.2), (300, 0)])]  # end 0.36 m from the first line's end
    net = build_network(roads_gdf(lines), snap_tolerance_m=0.5)
    assert net.n_edges == 5
    assert len(net.kept_component) == 1 and net.kept_edge.all()
    assert net.edge_road.tolist().count("r1") == 2
    # from (0,0) to (300,0) is one connected walk of ~300 m
    ss = net.snap(np.array([[0.0, 0.0]]))
    bs = net.snap(np.array([[300.0, 0.0]]))
    nd, no = net.node_distances(ss)
    d, _ = net.point_distances(nd, no, bs, ss)
    assert d[0] == pytest.approx(300.0, abs=0.5)


def test_duplicate_and_parallel_edges_collapse_to_the_shortest():
    straight = shapely.LineString([(0, 0), (100, 0)])
    detour = shapely.LineString([(0, 0), (50, 40), (100, 0)])
    lines = [straight, straight, detour, shapely.LineString([(100, 0), (200, 0)])]
    net = build_network(roads_gdf(lines), node=False, snap_tolerance_m=0.0)
    a = net.node_distances(net.snap(np.array([[0.0, 0.0]])))[0]
    far_node = int(np.argmin(np.hypot(*(net.node_xy - [200, 0]).T)))
    assert a[far_node] == pytest.approx(200.0, abs=1e-9)  # not 2×100, not the detour
    w = net.graph.toarray()
    assert np.sort(w[w > 0])[:2] == pytest.approx([100.0, 100.0])  # min, not a sum
    # a building beside the detour snaps to the detour and walks along it
    bs = net.snap(np.array([[50.0, 45.0]]))
    assert net.edge_geom[bs.edge[0]].equals(detour)
    ss = net.snap(np.array([[0.0, 0.0]]))
    nd, no = net.node_distances(ss)
    d, _ = net.point_distances(nd, no, bs, ss)
    assert d[0] == pytest.approx(np.hypot(50, 40) + 5.0, abs=1e-6)


def test_zero_length_edges_are_harmless():
    lines = [shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(100, 0), (100, 0)]),
             shapely.LineString([(100, 0), (100.0000001, 0)]), shapely.LineString([(100.0000001, 0), (200, 0)])]
    for node in (False, True):
        net = build_network(roads_gdf(lines), node=node, snap_tolerance_m=0.0)
        assert np.all(net.graph.data > 0)
        ss = net.snap(np.array([[0.0, 0.0]]))
        bs = net.snap(np.array([[150.0, 10.0]]))
        nd, no = net.node_distances(ss)
        d, _ = net.point_distances(nd, no, bs, ss)
        assert d[0] == pytest.approx(160.0, abs=1e-6)


def test_dead_end_and_same_edge():
    # a main line with a 300 m dead-end spur; station and building both on the spur
    lines = [shapely.LineString([(0, 0), (1000, 0)]), shapely.LineString([(500, 0), (500, 300)])]
    net = build_network(roads_gdf(lines))
    ss = net.snap(np.array([[510.0, 250.0]]))  # on the spur, 10 m off
    bs = net.snap(np.array([[495.0, 100.0], [520.0, 290.0], [900.0, 5.0]]))
    assert bs.edge[0] == bs.edge[1] == ss.edge[0]
    nd, no = net.node_distances(ss)
    d, own = net.point_distances(nd, no, bs, ss)
    assert d[0] == pytest.approx(10 + 150 + 5, abs=1e-6)  # along the same edge, not via a node
    assert d[1] == pytest.approx(10 + 40 + 20, abs=1e-6)  # towards the dead end
    assert d[2] == pytest.approx(10 + 250 + 400 + 5, abs=1e-6)
    assert (own == 0).all()


def test_disconnected_piece_is_flagged_and_not_used():
    lines = [shapely.LineString([(0, 0), (1000, 0)]), shapely.LineString([(0, 200), (100, 200)])]
    net = build_network(roads_gdf(lines))
    assert net.kept_edge.tolist() == [True, False]
    assert any(p.code == "disconnected_roads" for p in net.problems)
    bs = net.snap(np.array([[50.0, 190.0], [50.0, 20.0]]))
    assert bs.off_main.tolist() == [True, False]
    assert bs.snap_m[0] == pytest.approx(190.0)  # snapped to the main network, walk includes it
    assert net.kept_edge[bs.edge].all()


def test_far_points_are_unreachable():
    net = build_network(roads_gdf([shapely.LineString([(0, 0), (1000, 0)])]))
    bs = net.snap(np.array([[10.0, 500.0], [10.0, 5.0]]), max_snap_m=300)
    assert bs.far.tolist() == [True, False]
    ss = net.snap(np.array([[0.0, 0.0]]))
    nd, no = net.node_distances(ss)
    d, own = net.point_distances(nd, no, bs, ss)
    assert np.isinf(d[0]) and own[0] == -1
    assert d[1] == pytest.approx(15.0)


def test_unwalkable_roads_are_excluded():
    lines = [shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(0, 0), (0, 100), (100, 100), (100, 0)])]
    net = build_network(roads_gdf(lines, walkable=[False, True]))
    ss = net.snap(np.array([[0.0, 0.0]]))
    bs = net.snap(np.array([[100.0, 0.0]]))
    nd, no = net.node_distances(ss)
    d, _ = net.point_distances(nd, no, bs, ss)
    assert d[0] == pytest.approx(300.0)


def test_missing_roads_and_bad_crs_have_clear_errors():
    with pytest.raises(ValidationError, match="roads"):
        build_network(None)
    with pytest.raises(ValidationError, match="roads"):
        build_network(roads_gdf([]))
    g = roads_gdf([shapely.LineString([(104.1, 31.1), (104.2, 31.1)])]).set_crs(4326, allow_override=True)
    with pytest.raises(CRSError, match="projected"):
        build_network(g)


def test_noding_check_finds_every_kind_of_contact():
    from gridplan.network import _needs_noding
    L = shapely.LineString
    lines = np.array([
        L([(0, 0), (10, 0)]), L([(10, 0), (20, 0)]),          # 0,1: meet end to end (clean)
        L([(10, 0), (10, 10)]),                                # 2: shares the end (clean)
        L([(30, -5), (30, 5)]), L([(25, 0), (35, 0)]),         # 3,4: cross
        L([(50, 0), (60, 0)]), L([(55, 0), (55, 9)]),          # 5,6: T (end on interior)
        L([(70, 0), (80, 0)]), L([(70, 0), (75, 0)]),          # 7,8: collinear overlap from a shared end
        L([(90, 0), (100, 0)]), L([(90, 0), (95, 5), (100, 0)]),  # 9,10: polylines sharing both ends only (clean)
        L([(110, 0), (115, 5), (120, 0), (112, 3)]),           # 11: self-crossing
        L([(130, 0), (140, 0)]), L([(140, 0), (130, 0)]),      # 12,13: the same segment twice (parallel, clean)
        L([(150, 0), (160, 0)]), L([(150, 0), (155, 1), (155, -1), (160, 0)]),  # 14,15: share ends and cross
    ], dtype=object)
    need = _needs_noding(lines)
    assert np.flatnonzero(need).tolist() == [3, 4, 5, 6, 7, 8, 11, 14, 15]
    net = build_network(roads_gdf(list(lines)), snap_tolerance_m=0.0)
    # untouched lines keep their road id; split ones name their source road
    assert set(net.edge_road) == {f"r{i}" for i in range(len(lines))}
    assert net.edge_road.tolist().count("r3") == 2 and net.edge_road.tolist().count("r4") == 2


def test_noding_check_never_misses_a_contact():
    """Random polylines on a coarse lattice (many collinear and touching cases): every line whose
    contact with another is not a shared end point, or that is not simple, is flagged."""
    from gridplan.network import _needs_noding
    rng = np.random.default_rng(0)
    for _ in range(300):
        lines = []
        for _ in range(int(rng.integers(2, 8))):
            pts = rng.integers(0, 4, (int(rng.integers(2, 4)), 2)).astype(float)
            if len(np.unique(pts, axis=0)) == len(pts):
                lines.append(shapely.LineString(pts))
        if len(lines) < 2:
            continue
        lines = np.array(lines, dtype=object)
        got = _needs_noding(lines)
        exp = ~shapely.is_simple(lines)
        for a in range(len(lines)):
            ea = {tuple(c) for c in shapely.get_coordinates(lines[a])[[0, -1]]}
            for b in range(a + 1, len(lines)):
                inter = lines[a].intersection(lines[b])
                if inter.is_empty:
                    continue
                eb = {tuple(c) for c in shapely.get_coordinates(lines[b])[[0, -1]]}
                ok = shapely.get_type_id(inter) in (0, 4) and all(
                    tuple(c) in ea and tuple(c) in eb for c in shapely.get_coordinates(inter))
                ok |= bool(lines[a].equals(lines[b])) and len(shapely.get_coordinates(lines[a])) == 2
                if not ok:
                    exp[a] = exp[b] = True
        assert not (exp & ~got).any(), [g.wkt for g in lines]


def test_box_pairs_match_brute_force():
    from gridplan.network import _box_pairs
    rng = np.random.default_rng(5)
    lo = rng.uniform(0, 100, (300, 2))
    hi = lo + rng.exponential(4, (300, 2))
    hi[0] = lo[0] + [5000, 3000]  # one very long piece
    lo[1], hi[1] = [10, 10], [10, 10]  # a degenerate box
    i, j = _box_pairs(lo, hi)
    got = set(zip(i.tolist(), j.tolist()))
    ov = ((lo[:, None] <= hi[None]) & (lo[None] <= hi[:, None])).all(axis=2)
    exp = {(a, b) for a, b in zip(*np.nonzero(np.triu(ov, 1)))}
    assert got == exp


@pytest.mark.parametrize("seed", range(3))
def test_distance_matrix_matches_networkx_all_pairs(seed):
    """Every source × target walk of ``distance_matrix`` equals the networkx shortest path with all
    snapped points inserted as nodes (a point to itself walks to the road and back, as coverage counts
    a station standing at a building); a limit only turns longer walks into inf."""
    rng = np.random.default_rng(200 + seed)
    lines = random_planar_roads(seed)
    net = build_network(roads_gdf(lines), snap_tolerance_m=0.0, node=False)
    edge_ok = np.ones(len(lines), dtype=bool)
    edge_ok[:] = [any(shapely.equals_exact(g, k, 1e-9) or shapely.equals_exact(g.reverse(), k, 1e-9)
                      for k in net.edge_geom[net.kept_edge]) for g in lines]
    pts = shapely.points(rng.uniform(-20, 620, (25, 2)))
    _, G, _ = brute_force(lines, edge_ok, pts, [])
    snap = net.snap(pts, max_snap_m=1e9)
    D = net.distance_matrix(snap.take(np.arange(8)), snap)
    for i in range(8):
        ref = nx.single_source_dijkstra_path_length(G, ("pt", i), weight="weight")
        exp = np.array([ref.get(("pt", k), np.inf) for k in range(len(pts))])
        exp[i] = 2 * snap.snap_m[i]  # a point to itself as to a copy of it: to the road and back (as coverage)
        fin = np.isfinite(exp)
        assert (np.isfinite(D[i]) == fin).all()
        np.testing.assert_allclose(D[i][fin], exp[fin], rtol=0, atol=1e-6)
    lim = float(np.median(D[np.isfinite(D)]))
    DL = net.distance_matrix(snap.take(np.arange(8)), snap, limit_m=lim)
    assert np.array_equal(np.isfinite(DL), D <= lim)
    np.testing.assert_allclose(DL[np.isfinite(DL)], D[D <= lim])
