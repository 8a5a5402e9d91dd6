"""Editing: edits as library calls on immutable plans, the check report, selections, undo/redo."""
from __future__ import annotations

import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from gridplan import PlanError
from gridplan.edit import (
    Edit,
    History,
    apply,
    building_at,
    buildings_within,
    check,
    compound_buildings,
    compound_of,
    grid_changes,
    grids_of_community,
    new_grid_id,
    selection_summary,
)
from gridplan.io import read_dataset
from gridplan.model import Plan
from gridplan.sample import tiny_city

A, B = "510682001001", "510682001002"


@pytest.fixture(scope="module")
def tiny():
    return read_dataset(tiny_city(), name="tiny")


@pytest.fixture()
def plan(tiny):
    # hand-made: A01 = C1 + C3 + B09 (530 hh, too many), A02 = C2 + B10 (370), B01 = all of B (too small)
    m = {"B01": A + "01", "B02": A + "01", "B03": A + "01", "B06": A + "01", "B07": A + "01", "B08": A + "01",
         "B09": A + "01", "B04": A + "02", "B05": A + "02", "B10": A + "02",
         "B11": B + "01", "B12": B + "01", "B13": B + "01"}
    return Plan.from_mapping(m, label="hand")


def test_move_returns_new_plan_and_report(tiny, plan):
    new = apply(tiny, plan, Edit.move(["B09"], A + "02"))
    assert plan.grid_of("B09") == A + "01"
    assert new.grid_of("B09") == A + "02"
    r = check(tiny, new, before=plan)
    assert set(r.changed) == {A + "01", A + "02"}
    t = r.table
    assert t.loc[A + "01", "households"] == 450 and t.loc[A + "02", "households"] == 450
    assert r.fixed == (A + "01",)                    # 530 → 450 households: now compliant
    assert r.broken == (B + "01",) and r.ok          # the tiny community stays marked, with a reason
    assert r.reasons()[B + "01"]
    assert r.summary()["compliant"] == 2


def test_move_that_breaks_size_is_reported(tiny, plan):
    new = apply(tiny, plan, Edit.move(["B01", "B02", "B03"], A + "02"))
    r = check(tiny, new, before=plan)
    assert r.newly_broken == (A + "02",)
    assert r.table.loc[A + "02", "reason"] == "too_many_households"
    assert r.table.loc[A + "01", "reason"] == "too_few_households"
    assert not r.ok


def test_move_that_breaks_contiguity_is_reported(tiny, plan):
    new = apply(tiny, plan, Edit.move(["B01"], A + "02"))     # B01 is cut off from B04/B05 by B02
    r = check(tiny, new, before=plan)
    assert not r.table.loc[A + "02", "contiguous"]
    assert r.table.loc[A + "02", "reason"] == "not_contiguous"
    assert A + "02" in r.newly_broken


def test_move_across_communities_is_flagged(tiny, plan):
    new = apply(tiny, plan, Edit.move(["B13"], A + "02"))
    r = check(tiny, new, before=plan)
    assert r.table.loc[A + "02", "reason"] == "spans_communities"
    assert not r.table.loc[A + "02", "compliant"]


def test_move_compound_and_selection_helpers(tiny, plan):
    assert list(compound_buildings(tiny, "C3")) == ["B06", "B07", "B08"]
    assert compound_of(tiny, "B07") == "C3" and compound_of(tiny, "B09") is None
    new = apply(tiny, plan, Edit.move_compound("C3", A + "02"))
    assert all(new.grid_of(b) == A + "02" for b in ("B06", "B07", "B08"))
    s = selection_summary(tiny, plan, ["B06", "B07", "B08"])
    assert s["households"] == 150 and s["compounds"] == ["C3"] and s["grids"] == [A + "01"]
    with pytest.raises(PlanError):
        apply(tiny, plan, Edit.move_compound("nope", A + "01"))


def test_failed_edit_leaves_plan_unchanged(tiny, plan):
    before = plan.assignment
    with pytest.raises(PlanError):
        apply(tiny, plan, Edit.move(["B99"], A + "01"))
    with pytest.raises(PlanError):
        apply(tiny, plan, Edit.merge(A + "01", A + "01"))
    locked = apply(tiny, plan, Edit.lock([A + "01"]))
    with pytest.raises(PlanError, match="locked"):
        apply(tiny, locked, Edit.move(["B01"], A + "02"))
    with pytest.raises(PlanError, match="unknown"):
        apply(tiny, plan, Edit.lock(["nope"]))
    assert plan.assignment.equals(before)


def test_merge_split_lock_reoptimise(tiny, plan):
    merged = apply(tiny, plan, Edit.merge(A + "01", A + "02"))
    assert merged.grid_ids == [A + "01", B + "01"]
    r = check(tiny, merged, before=plan)
    assert A + "02" in r.removed
    split = apply(tiny, merged, Edit.split(A + "01"))
    assert len([g for g in split.grid_ids if g.startswith(A)]) >= 2
    assert len(split) == 13
    locked = apply(tiny, plan, Edit.lock([A + "01"]))
    assert locked.locked == {A + "01"}
    re = apply(tiny, locked, Edit.reoptimise(A))
    kept = plan.buildings_of(A + "01")
    assert all(re.grid_of(b) == A + "01" for b in kept)      # the locked grid is untouched
    assert apply(tiny, re, Edit.unlock([A + "01"])).locked == frozenset()


def test_history_undo_redo(tiny, plan):
    h = History.start(plan)
    assert not h.can_undo and not h.can_redo
    p1 = apply(tiny, plan, Edit.move(["B10"], A + "01"))
    p2 = apply(tiny, p1, Edit.move(["B09"], A + "02"))
    h = h.push(p1).push(p2)
    assert h.current is p2 and len(h) == 3
    u = h.undo()
    assert u.current is p1 and h.current is p2          # the history value never changes
    assert u.undo().current is plan
    assert u.redo().current is p2
    branched = u.push(apply(tiny, p1, Edit.move(["B01"], A + "02")))
    assert not branched.can_redo and len(branched) == 3
    with pytest.raises(PlanError):
        History.start(plan).undo()
    assert h.labels()[0] == "hand"


def test_history_is_bounded(tiny, plan):
    from gridplan import edit
    h = History.start(plan)
    p = plan
    for i in range(edit.HISTORY_LIMIT + 5):
        p = p.move(["B10"], A + ("01" if i % 2 else "02"))
        h = h.push(p)
    assert len(h) == edit.HISTORY_LIMIT and h.current is p


def _lonlat(tiny, x, y):
    return Transformer.from_crs(tiny.crs, 4326, always_xy=True).transform(x, y)


def test_buildings_within_drawn_polygon(tiny):
    b = tiny.buildings
    x0, y0 = b.total_bounds[:2]
    # a box around C3 (B06, B07, B08) in metric coordinates, sent as lon/lat GeoJSON
    ring = [(x0 - 5, y0 + 140), (x0 + 130, y0 + 140), (x0 + 130, y0 + 210), (x0 - 5, y0 + 210)]
    ll = [_lonlat(tiny, x, y) for x, y in ring]
    feature = {"type": "Feature", "properties": {},
               "geometry": {"type": "Polygon", "coordinates": [[*ll, ll[0]]]}}
    assert list(buildings_within(tiny, feature)) == ["B06", "B07", "B08"]
    assert list(buildings_within(tiny, feature["geometry"])) == ["B06", "B07", "B08"]
    pt = {"type": "Point", "coordinates": list(ll[0])}
    assert len(buildings_within(tiny, pt)) == 0
    metric = shapely.Polygon(ring)
    assert list(buildings_within(tiny, metric, crs=None)) == ["B06", "B07", "B08"]
    with pytest.raises(PlanError):
        buildings_within(tiny, {"type": "Polygon", "coordinates": "garbage"})


def test_building_at_click(tiny):
    g = tiny.buildings.geometry["B05"].centroid
    lon, lat = _lonlat(tiny, g.x, g.y)
    assert building_at(tiny, lon, lat) == "B05"
    far = _lonlat(tiny, g.x + 5000, g.y)
    assert building_at(tiny, *far) is None


def test_targets_and_new_ids(tiny, plan):
    assert grids_of_community(tiny, plan, A) == [A + "01", A + "02"]
    assert new_grid_id(tiny, plan, A) == A + "03"
    new = apply(tiny, plan, Edit.move(["B10"], new_grid_id(tiny, plan, A)))
    assert A + "03" in new.grid_ids


def test_grid_changes(tiny, plan):
    new = plan.move(["B10"], A + "01")
    t = grid_changes(plan, new)
    assert t.loc[A + "01", "moved_in"] == 1 and t.loc[A + "02", "moved_out"] == 1
    assert t.loc[B + "01", "status"] == "unchanged" and t.loc[A + "01", "status"] == "changed"
    merged = plan.merge(A + "01", A + "02")
    assert grid_changes(plan, merged).loc[A + "02", "status"] == "removed"
    assert grid_changes(merged, plan).loc[A + "02", "status"] == "added"


def test_edit_is_plain_data():
    e = Edit.move(["B1", "B2"], "G1")
    assert e == Edit.move(("B1", "B2"), "G1")
    assert '"move"' in e.to_json()


def test_map_helpers(tiny, plan):
    from gridplan.edit import buildings_geojson, grid_center, to_metric, view_bounds
    from gridplan.metrics import grids
    (s, w), (n, e) = view_bounds(tiny.buildings)
    assert 31 < s < n < 31.2 and 104.1 < w < e < 104.3
    assert view_bounds(tiny.buildings.iloc[:0]) is None
    g = grids(tiny, plan)
    lat, lon = grid_center(g, A + "01")
    assert s - 0.01 < lat < n + 0.01 and w - 0.01 < lon < e + 0.01
    assert grid_center(g, "nope") is None
    x, y = to_metric(tiny, lon, lat)
    assert g.loc[A + "01"].geometry.buffer(1).contains(shapely.Point(x, y))
    fc = buildings_geojson(tiny, ["B01", "B02", "zz"], layer="selection")
    assert len(fc["features"]) == 2 and fc["features"][0]["properties"] == {"layer": "selection"}
    assert buildings_geojson(tiny, ["zz"]) is None


def test_moving_buildings_into_their_own_grid_is_a_no_op(tiny, plan):
    """Issue 16: no history step and no "moved" message for an edit that changes nothing."""
    g = plan.grid_ids[0]
    ids = list(plan.buildings_of(g)[:2])
    assert apply(tiny, plan, Edit.move(ids, g)) is plan
    comp = tiny.buildings["compound_id"].dropna().iloc[0]
    members = compound_buildings(tiny, comp)
    home = plan.grid_of(members[0])
    assert len(set(plan.assignment.reindex(members))) == 1       # the fixture keeps compounds whole
    assert apply(tiny, plan, Edit.move_compound(comp, home)) is plan
    h = History.start(plan)
    assert h.push(apply(tiny, plan, Edit.move(ids, g))) is h and len(h) == 1
    # one building elsewhere makes it a real edit again
    other = plan.buildings_of(plan.grid_ids[1])[0]
    moved = apply(tiny, plan, Edit.move(ids + [other], g))
    assert moved is not plan and moved.grid_of(other) == g
    assert len(h.push(moved)) == 2


def test_a_plans_fingerprint_is_its_content_and_computed_once(tiny, plan, monkeypatch):
    from gridplan.edit import fingerprint
    from gridplan.model import Plan
    fp = fingerprint(plan)
    same = Plan(plan.assignment, rule=plan.rule, locked=plan.locked, label="another label")
    assert fingerprint(same) == fp                                         # equal plans, equal keys
    g = plan.grid_ids[0]
    assert fingerprint(Plan(plan.assignment, rule=plan.rule, locked=[g])) != fp
    moved = Plan(plan.assignment.replace({g: plan.grid_ids[1]}), rule=plan.rule)
    assert fingerprint(moved) != fp
    calls = []
    real = pd.util.hash_pandas_object
    monkeypatch.setattr(pd.util, "hash_pandas_object", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert fingerprint(plan) == fp and fingerprint(moved) != fp and calls == []   # kept with each plan


def test_dataset_fingerprint_follows_the_content(tmp_path):
    from gridplan.edit import dataset_fingerprint
    from gridplan.sample import write_city
    a, b = tmp_path / "a", tmp_path / "b"
    write_city(tiny_city(), a)
    write_city(tiny_city(), b)
    fa, fb = dataset_fingerprint(read_dataset(a)), dataset_fingerprint(read_dataset(b))
    assert fa == fb and len(fa) == 16        # the same files in another folder: the same dataset
    layers = tiny_city()
    layers["buildings"].loc[0, "households"] += 1
    c = tmp_path / "c"
    write_city(layers, c)
    assert dataset_fingerprint(read_dataset(c)) != fa


def test_view_of_fits_the_bounds_at_the_largest_zoom():
    from gridplan.edit import view_of
    bounds = [[31.12, 104.15], [31.13, 104.17]]
    (lat, lon), z = view_of(bounds, width_px=800, height_px=640, padding=0.1)
    assert lon == pytest.approx(104.16) and 31.12 < lat < 31.13
    # 0.02° of longitude in 640 px: 256·2^z·0.02/360 ≤ 640 holds for z = 15, not for 16
    assert z == 15
    assert view_of([[31.12, 104.15], [31.12, 104.15]], max_zoom=18)[1] == 18   # one point: the closest zoom
    assert view_of(None) is None
    # a tall box is limited by the height
    assert view_of([[31.0, 104.0], [31.4, 104.001]], width_px=800, height_px=640)[1] < z


def test_grid_coverage_sums_the_covered_households_of_each_grid(tiny, plan):
    """Per grid: the households, those covered and their share, from a per-building table; a building
    the plan does not know is left out, and fractional households stay fractional."""
    from gridplan.edit import grid_coverage
    b = tiny.buildings
    cov = pd.DataFrame({"households": b["households"].astype(int),
                        "covered": [i % 3 != 0 for i in range(len(b))]}, index=b.index)
    t = grid_coverage(plan, cov)
    grid = plan.assignment.reindex(b.index.astype(str)).to_numpy()
    for g in plan.grid_ids:
        here = grid == g
        hh = int(cov["households"][here].sum())
        covered = int(cov["households"][here & cov["covered"].to_numpy()].sum())
        assert (t.at[g, "households"], t.at[g, "covered_households"]) == (hh, covered)
        assert t.at[g, "pct_covered"] == pytest.approx(100.0 * covered / hh)
    assert t.index.tolist() == sorted(plan.grid_ids) and t["households"].dtype.kind == "i"
    extra = pd.concat([cov, pd.DataFrame({"households": [999], "covered": [True]}, index=["not-in-plan"])])
    assert grid_coverage(plan, extra).equals(t)
    half = grid_coverage(plan, cov.assign(households=cov["households"] / 2))
    assert half["covered_households"].to_numpy() == pytest.approx(t["covered_households"].to_numpy() / 2)
