"""Coverage tables, bands, isochrone polygons and what-if edits on small generated cities."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridplan import Dataset, Plan, ValidationError
from gridplan.network import build_network
from gridplan.reach import WALK_SPEED_KMH, Coverage, coverage, isochrones, minutes_to_m

CRS = "EPSG:4544"


def grid_city(n=12, spacing=100.0, n_buildings=300, seed=0, stations=None):
    segs = []
    for i in range(n):
        segs.append(shapely.LineString([(0, i * spacing), ((n - 1) * spacing, i * spacing)]))
        segs.append(shapely.LineString([(i * spacing, 0), (i * spacing, (n - 1) * spacing)]))
    roads = gpd.GeoDataFrame({"walkable": True, "kind": "street"}, geometry=segs, crs=CRS,
                             index=pd.Index([f"r{i}" for i in range(len(segs))], name="road_id"))
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, (n - 1) * spacing, (n_buildings, 2))
    ext = (n - 1) * spacing
    comp = np.where(pts[:, 0] < ext / 2, np.where(pts[:, 1] < ext / 2, "c1", "c2"), np.where(pts[:, 1] < ext / 2, "c3", "c4"))
    b = gpd.GeoDataFrame({"households": rng.integers(1, 50, n_buildings), "persons": rng.integers(1, 120, n_buildings),
                          "compound_id": comp, "community_id": np.where(pts[:, 0] < ext / 2, "A", "B")},
                         geometry=shapely.buffer(shapely.points(pts), 5, quad_segs=1), crs=CRS,
                         index=pd.Index([f"b{i}" for i in range(n_buildings)], name="building_id"))
    compounds = gpd.GeoDataFrame({"name": ["一", "二", "三", "四"], "community_id": ["A", "A", "B", "B"],
                                  "has_property_mgmt": [True, False, False, False],
                                  "has_competent_dept": [False, False, False, True],
                                  "has_owners_committee": [False, False, False, False]},
                                 geometry=[shapely.box(0, 0, 1, 1)] * 4, crs=CRS,
                                 index=pd.Index(["c1", "c2", "c3", "c4"], name="compound_id"))
    if stations is None:
        stations = [("s1", (215.0, 430.0), "red_station"), ("s2", (900.0, 900.0), "grid_station"),
                    ("s3", (760.0, 180.0), "red_station")]
    st = gpd.GeoDataFrame({"name": [s[0] for s in stations], "kind": [s[2] for s in stations]},
                          geometry=[shapely.Point(s[1]) for s in stations], crs=CRS,
                          index=pd.Index([s[0] for s in stations], name="station_id"))
    return Dataset(buildings=b, roads=roads, stations=st, compounds=compounds, name="grid")


@pytest.fixture(scope="module")
def city():
    return grid_city()


def manhattan_walk(p, s):
    """Walk between two points in the full 100 m street grid (exact for this layout)."""
    def snap(q):
        x, y = q
        cx, cy = round(x / 100) * 100, round(y / 100) * 100
        if abs(x - cx) <= abs(y - cy):  # onto the vertical street x = cx
            return ("v", cx), (cx, y), abs(x - cx), [((cx, np.floor(y / 100) * 100), y - np.floor(y / 100) * 100),
                                                    ((cx, np.ceil(y / 100) * 100), np.ceil(y / 100) * 100 - y)]
        return ("h", cy), (x, cy), abs(y - cy), [((np.floor(x / 100) * 100, cy), x - np.floor(x / 100) * 100),
                                                ((np.ceil(x / 100) * 100, cy), np.ceil(x / 100) * 100 - x)]
    la, a, da, ea = snap(p)
    lb, b, db, eb = snap(s)
    net = min(oa + ob + abs(ca[0] - cb[0]) + abs(ca[1] - cb[1]) for ca, oa in ea for cb, ob in eb)
    if la == lb:
        net = min(net, abs(a[0] - b[0]) + abs(a[1] - b[1]))
    return da + net + db


def test_per_building_walk_matches_grid_geometry(city):
    res = coverage(city)
    b = res.buildings
    pts = shapely.point_on_surface(city.buildings.geometry.values)
    for bid, p in list(zip(city.buildings.index, pts))[:80]:
        exp = min(manhattan_walk((p.x, p.y), s) for s in [(215.0, 430.0), (760.0, 180.0)])
        assert b.loc[bid, "walk_m"] == pytest.approx(exp, abs=1e-6)
    assert b["walk_min"].to_numpy() == pytest.approx(b["walk_m"].to_numpy() / (4000 / 60))
    assert set(b["station_id"].dropna()) <= {"s1", "s3"}  # only red stations count by default
    assert (b["grid_station_station_id"] == "s2").all()
    assert {"red_station_walk_m", "grid_station_walk_min"} <= set(b.columns)


def test_defaults_follow_gb50180():
    assert minutes_to_m(15, 4.0) == pytest.approx(1000.0)
    assert minutes_to_m(15, WALK_SPEED_KMH["elderly"]) == pytest.approx(800.0)


def test_bands_are_nested_and_consistent(city):
    prev = -1
    cov = Coverage(city, minutes=(5, 10, 15))
    res = cov.result()
    b = res.buildings
    for m, d in zip(res.minutes, res.band_m):
        inside = b["walk_m"] <= d + 1e-7
        assert ((b["band_min"] <= m) == inside).all()
        assert inside.sum() >= prev
        prev = inside.sum()
    assert (b["covered"] == (b["walk_m"] <= 1000 + 1e-7)).all()
    assert list(res.bands["buildings"]) == sorted(res.bands["buildings"])
    # coverage never shrinks as minutes grow (and shrinks with the elderly speed)
    covered = [coverage(city, minutes=(m,)).covered_households for m in (3, 6, 9, 12, 15, 20)]
    assert covered == sorted(covered)
    elderly = Coverage(city, speed_kmh="elderly").result()
    assert elderly.band_m[-1] == pytest.approx(800.0)
    assert elderly.covered_households <= res.covered_households


def test_aggregates_add_up(city):
    plan = Plan.from_mapping({b: ("g1" if i % 3 else "g2") for i, b in enumerate(city.buildings.index)})
    res = coverage(city, plan=plan)
    b = res.buildings
    tot = b.loc[b["covered"], "households"].sum()
    assert res.by_grid["covered_households"].sum() == tot
    assert res.by_compound["covered_households"].sum() == tot
    assert res.by_community["covered_households"].sum() == tot
    assert res.by_station["households"].sum() == tot
    g = res.by_grid.loc["g1"]
    assert g["pct_households"] == pytest.approx(100 * g["covered_households"] / g["households"])
    s = res.summary()
    for k in ("stations", "buildings", "covered_households", "households"):
        assert k in s
    assert s["stations"] == 2 and s["buildings"] == 300
    assert len(res.uncovered_buildings) == (~b["covered"]).sum()
    assert res.uncovered_buildings.geometry.notna().all()


def test_sanwu_listed_when_not_fully_covered(city):
    res = coverage(city)
    bc = res.by_compound
    assert bc["sanwu"].tolist() == [False, True, True, False]
    expect = [c for c in ("c2", "c3") if bc.loc[c, "covered_households"] < bc.loc[c, "households"]]
    assert sorted(res.uncovered_sanwu.index) == sorted(expect)
    assert (res.uncovered_sanwu["uncovered_households"] > 0).all()


def test_no_stations_means_everything_uncovered():
    ds = grid_city(stations=[])
    res = coverage(ds)
    assert not res.buildings["covered"].any()
    assert res.buildings["walk_m"].isna().all()
    assert res.summary()["covered_households"] == 0
    assert any(p.code == "no_stations" for p in res.problems)
    assert len(isochrones(res)) == 0
    ds2 = ds.replace(stations=None)
    assert coverage(ds2).summary()["stations"] == 0


def test_no_roads_is_a_clear_error(city):
    with pytest.raises(ValidationError, match="roads"):
        coverage(city.replace(roads=None))


def test_what_if_add_and_remove(city):
    cov = Coverage(city)
    base = cov.result()
    added = cov.with_station((640.0, 820.0), station_id="new")
    r2 = added.result()
    assert r2.covered_households >= base.covered_households
    assert (r2.buildings["walk_m"].fillna(np.inf) <= base.buildings["walk_m"].fillna(np.inf) + 1e-9).all()
    # identical to a fresh analysis with the station in the layer
    st = pd.concat([city.stations, gpd.GeoDataFrame({"name": ["new"], "kind": ["red_station"]},
                                                    geometry=[shapely.Point(640, 820)], crs=CRS,
                                                    index=pd.Index(["new"], name="station_id"))])
    fresh = coverage(city.replace(stations=st))
    np.testing.assert_allclose(r2.buildings["walk_m"], fresh.buildings["walk_m"], atol=1e-9)
    assert (r2.buildings["station_id"] == fresh.buildings["station_id"]).all()
    # switching it off again restores the original numbers; the earlier analysis is untouched
    back = added.without_stations(["new"]).result()
    np.testing.assert_allclose(back.buildings["walk_m"], base.buildings["walk_m"], atol=1e-9)
    assert cov.result() is base
    only_s1 = cov.with_active(["s1"]).result()
    assert set(only_s1.buildings["station_id"].dropna()) == {"s1"}
    assert only_s1.covered_households <= base.covered_households
    with pytest.raises(ValueError):
        cov.with_active(["nope"])
    # counting grid stations too
    both = cov.with_options(kinds=("red_station", "grid_station")).result()
    assert both.covered_households >= base.covered_households


def test_isochrones_nested_valid(city):
    res = coverage(city)
    iso = isochrones(res)
    assert list(iso["band_min"]) == [5.0, 10.0, 15.0]
    geoms = iso.geometry.to_numpy()
    assert shapely.is_valid(geoms).all()
    for g in geoms:
        for poly in shapely.get_parts(g):
            for ring in poly.interiors:  # every hole sits inside its shell
                assert shapely.Polygon(poly.exterior).contains(shapely.Polygon(ring))
    for small, big in zip(geoms[:-1], geoms[1:]):
        assert shapely.difference(small, big).area <= 1e-6 * small.area
        assert big.area > small.area
    # covered buildings' snapped points lie inside the 15-minute polygon (display agrees)
    cov = res.analysis
    snap = cov.building_snap
    inside = shapely.contains_xy(geoms[-1], snap.x, snap.y)
    covered = res.buildings["covered"].to_numpy()
    assert inside[covered].mean() > 0.98
    per = isochrones(res, per_station=True)
    assert set(per["station_id"]) == {"s1", "s3"}
    assert shapely.is_valid(per.geometry.to_numpy()).all()
    for _sid, grp in per.groupby("station_id"):
        gs = grp.sort_values("band_min").geometry.to_numpy()
        for small, big in zip(gs[:-1], gs[1:]):
            assert shapely.difference(small, big).area <= 1e-6 * small.area


def test_building_on_disconnected_piece_is_flagged(city):
    extra = gpd.GeoDataFrame({"walkable": [True]}, geometry=[shapely.LineString([(2000, 0), (2100, 0)])], crs=CRS,
                             index=pd.Index(["island"], name="road_id"))
    roads = pd.concat([city.roads, extra])
    b = pd.concat([city.buildings, gpd.GeoDataFrame({"households": [10], "persons": [20]},
                                                    geometry=[shapely.Point(2050, 5)], crs=CRS,
                                                    index=pd.Index(["lonely"], name="building_id"))])
    res = coverage(city.replace(roads=gpd.GeoDataFrame(roads, crs=CRS), buildings=gpd.GeoDataFrame(b, crs=CRS)))
    row = res.buildings.loc["lonely"]
    assert row["snap_flag"] == "far"  # nearest kept road is > 300 m away
    assert not row["covered"] and np.isnan(row["walk_m"])
    assert any(p.code == "disconnected_roads" for p in res.problems)


def test_network_can_be_shared(city):
    net = build_network(city.roads)
    a = coverage(city, network=net)
    b = coverage(city)
    np.testing.assert_allclose(a.buildings["walk_m"], b.buildings["walk_m"])


# ---------------------------------------------------------------------- the bundled sample and the CLI
SAMPLE = __import__("pathlib").Path(__file__).resolve().parent.parent / "data" / "sample"


@pytest.fixture(scope="module")
def sample():
    from gridplan.io import read_dataset
    return read_dataset(SAMPLE)


def test_sample_city_end_to_end(sample):
    import time
    cov = Coverage(sample)
    res = cov.result()
    s = res.summary()
    assert s["buildings"] == len(sample.buildings)
    assert 0 < s["covered_households"] < s["households"]
    assert s["stations"] == int((sample.stations["kind"] == "red_station").sum())
    b = res.buildings
    # the river has 3 bridges: walks are never shorter than the straight line between the snapped points
    st = sample.stations
    xy = np.column_stack([cov.building_snap.x, cov.building_snap.y])
    own = b["station_id"].to_numpy()
    ok = b["covered"].to_numpy()
    sxy = np.column_stack([cov.station_snap.x, cov.station_snap.y])
    pos = st.index.get_indexer(own[ok])
    straight = np.hypot(*(xy[ok] - sxy[pos]).T)
    assert (b["walk_m"].to_numpy()[ok] + 1e-6 >= straight + b["snap_m"].to_numpy()[ok]).all()
    # what-if on the pre-snapped city is interactive
    t = time.perf_counter()
    p = sample.buildings.geometry[b["covered"].to_numpy() == False].iloc[0].representative_point()  # noqa: E712
    r2 = cov.with_station(p).result()
    assert time.perf_counter() - t < 1.0
    assert r2.covered_households > res.covered_households
    iso = isochrones(res)
    assert shapely.is_valid(iso.geometry.to_numpy()).all() and len(iso) == 3


def _run(argv):
    from gridplan.cli import main
    return main(argv)


def test_cli_coverage_and_suggest(sample, tmp_path, capsys):
    import json

    import pyogrio
    out = tmp_path / "cov.gpkg"
    assert _run(["coverage", str(SAMPLE), "--minutes", "5,10,15", "--speed-kmh", "4", "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    for k in ("stations", "buildings", "covered_households", "households", "seconds"):
        assert k in payload
    layers = dict(pyogrio.list_layers(out))
    assert {"building_coverage", "isochrones"} <= set(layers)
    bc = gpd.read_file(out, layer="building_coverage")
    assert {"building_id", "station_id", "walk_m", "walk_min"} <= set(bc.columns)
    assert bc.crs == sample.source_crs
    assert len(bc) == len(sample.buildings)
    assert _run(["suggest-stations", str(SAMPLE), "--count", "2", "--candidates", "nodes", "--json"]) == 0
    sj = json.loads(capsys.readouterr().out)
    assert sj["count"] == 2 and sj["sites"][0]["gain_households"] >= sj["sites"][1]["gain_households"] > 0
    # bad usage → 2; bad input → 1
    assert _run(["coverage", str(SAMPLE), "--minutes", "five", "--out", str(out)]) == 2
    assert _run(["coverage", str(SAMPLE), "--out", str(tmp_path / "x.txt")]) == 2
    assert _run(["suggest-stations", str(SAMPLE)]) == 2
    assert _run(["coverage", str(tmp_path / "missing"), "--out", str(out)]) == 1


def test_cli_no_roads_is_bad_input(tmp_path, capsys):
    ds = grid_city(n=4, n_buildings=10)
    folder = tmp_path / "city"
    folder.mkdir()
    ds.buildings.reset_index().to_file(folder / "buildings.geojson")
    ds.stations.reset_index().to_file(folder / "stations.geojson")
    assert _run(["coverage", str(folder), "--out", str(tmp_path / "o.gpkg")]) == 1
    assert "roads" in capsys.readouterr().err
