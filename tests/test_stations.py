"""Station suggestions (maximal covering): coverage matrix exactness, greedy vs exact, gains."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import sparse
from test_coverage import CRS, grid_city

from gridplan.reach import Coverage
from gridplan.stations import exact_mclp, greedy_swap, pairs_within, suggest_stations


@pytest.fixture(scope="module")
def city():
    return grid_city(n=14, n_buildings=500, seed=3, stations=[("s1", (215.0, 430.0), "red_station")])


def test_pairs_within_is_exact(city):
    cov = Coverage(city)
    net, bs = cov.network, cov.building_snap
    src = bs.take(np.arange(0, 40))
    dst = bs.take(np.arange(40, 500))
    A = pairs_within(net, src, dst, 600.0).toarray()
    for i in range(len(src)):
        one = src.take([i])
        nd, no = net.node_distances(one)
        d, _ = net.point_distances(nd, no, dst, one)
        assert (A[i] == (d <= 600.0 + 1e-7)).all()


def brute_mclp(A, w, k):
    from itertools import combinations
    A = np.asarray(A.todense() if sparse.issparse(A) else A) > 0
    best = 0.0
    for S in combinations(range(A.shape[1]), k):
        best = max(best, float(w[A[:, list(S)].any(axis=1)].sum()))
    return best


@pytest.mark.parametrize("seed", range(5))
def test_solvers_on_random_instances(seed):
    rng = np.random.default_rng(seed)
    A = sparse.csc_matrix((rng.random((40, 12)) < 0.2).astype(float))
    w = rng.integers(1, 30, 40).astype(float)
    k = 3
    opt = brute_mclp(A, w, k)
    sel, optimal, bound, status = exact_mclp(A, w, k)
    got = float(w[np.asarray(A[:, sel].sum(axis=1)).ravel() > 0].sum())
    assert optimal and got == pytest.approx(opt)
    assert bound >= opt - 1e-6
    g = greedy_swap(A, w, k)
    gv = float(w[np.asarray(A[:, g].sum(axis=1)).ravel() > 0].sum())
    assert gv <= opt + 1e-9
    assert gv >= 0.95 * opt


@pytest.mark.parametrize("candidates", ["buildings", "nodes"])
def test_suggestions_greedy_vs_exact(city, candidates):
    cov = Coverage(city)
    base = cov.result()
    uncovered = float(base.buildings.loc[~base.buildings["covered"], "households"].sum())
    g = suggest_stations(cov, 3, candidates=candidates)
    e = suggest_stations(cov, 3, method="exact", candidates=candidates)
    assert e.attrs["optimal"], e.attrs["status"]
    assert e.attrs["total_gain"] >= g.attrs["total_gain"] - 1e-9
    assert g.attrs["total_gain"] >= 0.99 * e.attrs["total_gain"]
    for s in (g, e):
        assert len(s) <= 3
        assert s["gain_households"].is_monotonic_decreasing
        assert s["gain_households"].sum() == pytest.approx(s.attrs["total_gain"])
        assert s["cum_households"].iloc[-1] == pytest.approx(s.attrs["total_gain"])
        assert s.attrs["total_gain"] <= uncovered + 1e-9
        assert s.attrs["bound"] >= s.attrs["total_gain"] - 1e-6
        # the claimed gain is what adding those stations really does
        after = cov.with_stations(list(s.geometry), kind="red_station").result()
        assert after.covered_households - base.covered_households == pytest.approx(s.attrs["total_gain"])


def test_user_candidate_layer_and_persons(city):
    cov = Coverage(city)
    cand = gpd.GeoDataFrame({"name": ["a", "b", "c", "far"]},
                            geometry=[shapely.Point(1000, 1000), shapely.Point(1200, 300), shapely.Point(600, 1250),
                                      shapely.Point(9000, 9000)],
                            crs=CRS, index=pd.Index(["a", "b", "c", "far"], name="site_id"))
    s = suggest_stations(cov, 2, candidates=cand, method="exact")
    assert set(s["candidate_id"]) <= {"a", "b", "c"}
    assert s.attrs["n_candidates"] == 3  # the far one cannot be reached
    p = suggest_stations(cov, 1, candidates=cand, weight="persons")
    assert p.attrs["weight"] == "persons"
    assert p["gain_persons"].iloc[0] == pytest.approx(p.attrs["total_gain"])


def test_from_dataset_and_bad_arguments(city):
    s = suggest_stations(city, 2)
    assert len(s) == 2 and s.crs == city.crs
    with pytest.raises(ValueError):
        suggest_stations(city, 0)
    with pytest.raises(ValueError):
        suggest_stations(city, 2, method="magic")
    with pytest.raises(ValueError):
        suggest_stations(city, 2, candidates="everything")


def test_everything_covered_gives_no_sites():
    stations = [(f"s{i}{j}", (i * 300.0 + 5, j * 300.0 + 5), "red_station") for i in range(5) for j in range(5)]
    ds = grid_city(n=12, n_buildings=100, stations=stations)
    s = suggest_stations(ds, 2)
    assert len(s) == 0 and s.attrs["total_gain"] == 0


def test_suggestions_do_not_depend_on_the_clock(city, monkeypatch):
    """The heuristic's work is a fixed number of restarts: a machine 1000× slower (a clock that jumps
    ten seconds per reading) gives the same sites; only the safety cap can cut it, and says so."""
    import gridplan.stations as S

    normal = suggest_stations(city, 4, time_cap_s=None)
    assert normal.attrs["budget_reached"] is False
    t = [0.0]

    def slow_clock():
        t[0] += 10.0
        return t[0]

    monkeypatch.setattr(S.time, "perf_counter", slow_clock)
    slow = suggest_stations(city, 4, time_cap_s=None)
    assert list(slow["candidate_id"]) == list(normal["candidate_id"])
    assert slow.attrs["total_gain"] == normal.attrs["total_gain"]
    capped = suggest_stations(city, 4, time_cap_s=5.0)
    assert capped.attrs["budget_reached"] is True


def test_describe_places_names_road_compound_community_and_coordinates():
    from gridplan.io import read_dataset
    from gridplan.sample import tiny_city
    from gridplan.stations import describe_places
    layers = tiny_city()
    ds = read_dataset(layers, name="tiny")
    comp = ds.compounds.iloc[0]
    inside = comp.geometry.representative_point()
    far = shapely.Point(inside.x + 50_000, inside.y)                  # 50 km away: nothing near
    t = describe_places(ds, [inside, far])
    assert list(t.columns) == ["road", "compound", "community", "lon", "lat"]
    assert t.loc[0, "compound"] == comp["name"]
    cname = ds.communities["name"].to_dict()
    assert t.loc[0, "community"] == cname[comp["community_id"]]
    assert t.loc[0, "road"] in set(ds.roads["name"])
    assert 103 < t.loc[0, "lon"] < 105 and 30 < t.loc[0, "lat"] < 32
    assert (t.loc[1, ["road", "compound", "community"]] == "").all()
