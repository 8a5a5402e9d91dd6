"""郁心站 in every grid: the exact 1-median against networkx brute force, a hand-checkable river,
grids with a station inside are not listed, ``within_m``, and adopting suggestions updates coverage."""
from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from test_network import brute_force, random_planar_roads

from gridplan.gridstations import adopt_grid_stations, grid_station_status, one_median, suggest_grid_stations
from gridplan.io import read_dataset
from gridplan.model import Plan
from gridplan.network import build_network
from gridplan.reach import Coverage

CRS = "EPSG:4544"
O = np.array([500_000.0, 3_445_000.0])  # noqa: E741 - the origin; near CM 105°E, so EPSG:4544 is the metric CRS


def _dataset(lines, pts, households, *, stations=None):
    roads = gpd.GeoDataFrame({"road_id": [f"R{i}" for i in range(len(lines))]},
                             geometry=[shapely.transform(g, lambda c: c + O) for g in lines], crs=CRS)
    b = gpd.GeoDataFrame({"building_id": [f"B{i:03d}" for i in range(len(pts))], "households": households,
                          "persons": np.asarray(households) * 3, "community_id": "C1"},
                         geometry=[shapely.transform(p, lambda c: c + O) for p in pts], crs=CRS)
    layers = {"buildings": b, "roads": roads}
    if stations is not None:
        layers["stations"] = gpd.GeoDataFrame(
            {"station_id": [s[0] for s in stations], "kind": [s[1] for s in stations]},
            geometry=[shapely.Point(np.add(s[2], O)) for s in stations], crs=CRS)
    return read_dataset(layers, metric_crs=CRS, name="t")


def _halves(ds, plan):
    """Grid polygons: the west (x < 300) and east halves of the area."""
    x0, y0 = O - 100
    g = gpd.GeoDataFrame({"community_id": ["C1", "C1"]}, index=pd.Index(["G1", "G2"], name="grid_id"),
                         geometry=[shapely.box(x0, y0, O[0] + 300, O[1] + 800),
                                   shapely.box(O[0] + 300, y0, O[0] + 800, O[1] + 800)], crs=CRS)
    return g


@pytest.fixture(scope="module")
def city():
    rng = np.random.default_rng(5)
    lines = random_planar_roads(3)
    xy = rng.uniform(0, 600, (60, 2))
    pts = list(shapely.points(xy))
    hh = rng.integers(0, 40, len(pts))
    ds = _dataset(lines, pts, hh, stations=[("S1", "grid_station", (150.0, 300.0)),
                                             ("S2", "red_station", (450.0, 300.0))])
    plan = Plan(pd.Series(np.where(xy[:, 0] < 300, "G1", "G2"), index=ds.buildings.index))
    return ds, plan, lines, pts, hh


def _brute_means(lines, pts, hh, members, ds):
    """Weighted mean walk of every member to every member, from a networkx graph with the points
    inserted as nodes (a point to itself: to the road and back)."""
    net = build_network(ds.roads)
    edge_ok = np.ones(len(lines), dtype=bool)
    _, G, _ = brute_force(lines, edge_ok, pts, [])
    snap = net.snap(ds.buildings.geometry)
    w = hh[members].astype(float)
    out = {}
    for i in members:
        d = nx.single_source_dijkstra_path_length(G, ("pt", i), weight="weight")
        walks = np.array([d[("pt", j)] if j != i else 2 * snap.snap_m[i] for j in members])
        out[i] = float((walks * w).sum() / w.sum())
    return out


def test_one_median_is_exact_against_networkx(city):
    ds, plan, lines, pts, hh = city
    sug = suggest_grid_stations(ds, plan, grid_ids=["G1", "G2"])
    assert list(sug.index) == ["G1", "G2"]
    for gid in ("G1", "G2"):
        members = np.flatnonzero(plan.assignment.reindex(ds.buildings.index).to_numpy() == gid)
        brute = _brute_means(lines, pts, hh, members, ds)
        best = min(brute.values())
        row = sug.loc[gid]
        assert row["mean_walk_m"] == pytest.approx(best, abs=1e-6)
        chosen = int(row["building_id"][1:])
        assert brute[chosen] == pytest.approx(best, abs=1e-6)
        assert brute[int(row["centre_building_id"][1:])] == pytest.approx(row["centre_mean_walk_m"], abs=1e-6)
        assert row["households"] == int(hh[members].sum()) and row["buildings"] == len(members)
        # the site is the chosen building's point
        assert sug.geometry[gid].distance(ds.buildings.geometry[row["building_id"]]) < 1e-6


def test_river_with_one_bridge_beats_the_straight_line_centre():
    """Two rows of six buildings (10 households each) on roads at y = ±100, joined only by a bridge
    at x = 0: the best site is at the bridge (mean walk 300 m); the building nearest the straight-line
    centre (x = 160, north) makes its households walk 340 m on average (hand-computed)."""
    xs = [0, 80, 160, 240, 320, 400]
    lines = [shapely.LineString([(0, 100), (400, 100)]), shapely.LineString([(0, -100), (400, -100)]),
             shapely.LineString([(0, -100), (0, 100)])]
    pts = [shapely.Point(x, 100) for x in xs] + [shapely.Point(x, -100) for x in xs]
    ds = _dataset(lines, pts, [10] * 12)
    plan = Plan(pd.Series("G1", index=ds.buildings.index))
    sug = suggest_grid_stations(ds, plan, grid_ids=["G1"])
    row = sug.loc["G1"]
    assert row["building_id"] == "B000" and row["mean_walk_m"] == pytest.approx(300.0)
    assert row["centre_building_id"] == "B002" and row["centre_mean_walk_m"] == pytest.approx(340.0)
    assert row["centre_excess_pct"] == pytest.approx(100 * (340 / 300 - 1))
    assert row["max_walk_m"] == pytest.approx(600.0)  # to the far end of the other bank


def test_one_median_weights_and_unreachable_points():
    lines = [shapely.LineString([(0, 0) + O, (300, 0) + O])]
    net = build_network(gpd.GeoDataFrame(geometry=lines, crs=CRS))
    pts = shapely.points(np.array([[0, 0], [100, 0], [300, 0], [150, 5000]]) + O)
    snap = net.snap(pts)
    best, mean = one_median(net, snap, [1, 0, 5, 100])  # the far point has weight but cannot walk
    assert best == 2 and mean[2] == pytest.approx(300 / 6) and np.isinf(mean[3])
    best0, mean0 = one_median(net, snap, [0, 0, 0, 0])  # no households: weighted by building
    assert best0 == 1 and mean0[1] == pytest.approx((100 + 0 + 200) / 3)


def test_grid_with_a_station_inside_is_not_listed(city):
    ds, plan, lines, pts, hh = city
    grids = _halves(ds, plan)
    st = grid_station_status(ds, plan, grids=grids)
    assert st.loc["G1", "has_station"] and st.loc["G1", "stations_inside"] == 1 and st.loc["G1", "station_ids"] == "S1"
    assert not st.loc["G2", "has_station"] and st.loc["G2", "stations_inside"] == 0  # S2 is a red station
    assert st["nearest_mean_walk_m"].isna().all()  # no walking needed without within_m
    assert st["households"].sum() == hh.sum()
    # the default listing suggests a site only for G2
    sug = suggest_grid_stations(ds, plan, grids=grids)
    assert list(sug.index) == ["G2"]
    # an inactive station does not count
    stations = ds.stations.assign(active=[False, True])
    assert not grid_station_status(ds, plan, grids=grids, stations=stations)["has_station"].any()


def test_within_walking_distance(city):
    ds, plan, lines, pts, hh = city
    grids = _halves(ds, plan)
    members = np.flatnonzero(plan.assignment.reindex(ds.buildings.index).to_numpy() == "G2")
    _, G, _ = brute_force(lines, np.ones(len(lines), bool), pts, [shapely.Point(150, 300)])
    d = nx.single_source_dijkstra_path_length(G, ("pt", len(pts)), weight="weight")
    expect = float(sum(d[("pt", j)] * hh[j] for j in members) / hh[members].sum())
    st = grid_station_status(ds, plan, grids=grids, within_m=expect + 0.01)
    assert st.loc["G2", "nearest_station_id"] == "S1"
    assert st.loc["G2", "nearest_mean_walk_m"] == pytest.approx(expect, abs=1e-6)
    assert st["has_station"].all()
    assert not grid_station_status(ds, plan, grids=grids, within_m=expect - 0.01).loc["G2", "has_station"]
    with pytest.raises(ValueError, match="within_m"):
        grid_station_status(ds, plan, within_m=-5)


def test_adopting_suggestions_updates_coverage(city):
    ds, plan, lines, pts, hh = city
    grids = _halves(ds, plan)
    sug = suggest_grid_stations(ds, plan, grids=grids)
    layer = adopt_grid_stations(ds, sug)
    new = layer[layer["adopted"]]
    assert list(new.index) == ["YX-G2"] and new["kind"].tolist() == ["grid_station"]
    assert new["grid_id"].tolist() == ["G2"] and new["building_id"].tolist() == [sug.loc["G2", "building_id"]]
    assert ds.stations.index.tolist() == ["S1", "S2"]  # the dataset is not changed
    assert grid_station_status(ds, plan, grids=grids, stations=layer)["has_station"].all()
    base = Coverage(ds, plan=plan, kinds=("grid_station",), minutes=(5,))
    after = Coverage(ds, plan=plan, kinds=("grid_station",), minutes=(5,), stations=layer).result()
    what_if = base.with_stations(new.geometry, station_ids=new.index, kind="grid_station").result()
    np.testing.assert_allclose(after.buildings["walk_m"].to_numpy(), what_if.buildings["walk_m"].to_numpy())
    assert after.covered_households > base.result().covered_households
    # the households of the chosen building walk to the road and back, as the suggestion counted
    bid = sug.loc["G2", "building_id"]
    assert after.buildings.loc[bid, "walk_m"] == pytest.approx(2 * after.buildings.loc[bid, "snap_m"])


def test_sample_like_grids_and_unknown_grid():
    """The default grid layer (metrics.grids) and a real plan; unknown grids are refused."""
    from _toy import toy_dataset, toy_plan
    ds = toy_dataset()
    plan = toy_plan(ds)
    st = grid_station_status(ds, plan)
    # the toy's one 郁心站 (S2, at x = 900 m, y = 300 m) lies in the second community's grids
    assert st["stations_inside"].sum() >= 1 and not st["has_station"].all()
    sug = suggest_grid_stations(ds, plan)
    assert set(sug.index) == set(st.index[~st["has_station"]])
    layer = adopt_grid_stations(ds, sug)
    assert grid_station_status(ds, plan, stations=layer)["has_station"].all()
    with pytest.raises(ValueError, match="unknown grid"):
        suggest_grid_stations(ds, plan, grid_ids=["nope"])


def test_grid_station_coverage_counts_households_near_a_grid_station(city):
    from gridplan.gridstations import grid_station_coverage
    ds, plan, lines, pts, hh = city
    # counted kind red_station: the 郁心站 figure still comes from the 郁心站 distances
    res = Coverage(ds, plan=plan, minutes=(5,)).result()
    gs = grid_station_coverage(res)
    walk = Coverage(ds, plan=plan, minutes=(5,), kinds=("grid_station",)).result().buildings
    assert gs["covered_households"] == int(walk.loc[walk["covered"], "households"].sum())
    assert gs["households"] == int(hh.sum()) and gs["stations"] == 1
    assert 0 < gs["covered_households"] < gs["households"]
    more = Coverage(ds, plan=plan, minutes=(5,)).with_stations([(O[0] + 450, O[1] + 300)], kind="grid_station")
    g2 = grid_station_coverage(more.result())
    assert g2["stations"] == 2 and g2["covered_households"] > gs["covered_households"]
    assert grid_station_coverage(res, minutes=100)["covered_households"] >= gs["covered_households"]
