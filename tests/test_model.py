import numpy as np
import pandas as pd
import pytest

from gridplan import Plan, PlanError, Rule


def make_plan():
    return Plan.from_mapping({"b1": "g1", "b2": "g1", "b3": "g2", "b4": "g2"}, label="start")


def test_plan_is_immutable():
    p = make_plan()
    a = p.assignment
    a.iloc[0] = "zz"
    assert p.grid_of("b1") == "g1"
    with pytest.raises(AttributeError):
        p.label = "x"
    with pytest.raises(AttributeError):
        p.rule = Rule(mode="both")


def test_move_returns_a_new_plan_and_leaves_the_old():
    p = make_plan()
    q = p.move(["b1"], "g2")
    assert q.grid_of("b1") == "g2"
    assert p.grid_of("b1") == "g1"
    assert q.diff(p).index.tolist() == ["b1"]
    assert not hasattr(q, "parent")  # undo is the bounded edit.History, not a chain of parents


def test_derived_numbers_are_computed_once_per_plan_and_never_stale():
    from gridplan.engine import partition
    from gridplan.io import read_dataset
    from gridplan.metrics import grid_table
    from gridplan.sample import tiny_city

    ds = read_dataset(tiny_city())
    plan = partition(ds, seed=0)
    calls = []
    import gridplan.metrics as M
    real = M._table
    M._table = lambda d, p: calls.append(1) or real(d, p)
    try:
        t1 = grid_table(ds, plan)
        t2 = grid_table(ds, plan)
        assert len(calls) == 1 and t1.equals(t2)
        t1.loc[t1.index[0], "households"] = -1  # a caller's copy: the cached table is untouched
        assert grid_table(ds, plan).iloc[0]["households"] != -1
        # an in-place write to a layer is refused; a replaced column is seen at once
        b = ds.buildings.index[0]
        with pytest.raises(ValueError):
            ds.buildings.loc[b, "households"] = 5000
        g = plan.grid_of(b)
        before = int(grid_table(ds, plan).loc[g, "households"])
        h = ds.buildings["households"].copy()
        h.loc[b] = h.loc[b] + 5000
        ds.buildings["households"] = h
        assert int(grid_table(ds, plan).loc[g, "households"]) == before + 5000
        assert len(calls) == 2
    finally:
        M._table = real


def test_move_unknown_building_and_locked():
    p = make_plan()
    with pytest.raises(PlanError, match="unknown building"):
        p.move(["nope"], "g1")
    locked = p.lock(["g2"])
    with pytest.raises(PlanError, match="locked"):
        locked.move(["b1"], "g2")
    assert locked.unlock(["g2"]).move(["b1"], "g2").grid_of("b1") == "g2"


def test_merge_and_relabel():
    p = make_plan()
    m = p.merge("g1", "g2")
    assert m.grid_ids == ["g1"]
    with pytest.raises(PlanError):
        p.merge("g1", "g1")
    r = p.relabel({"g1": "510682001001-01"})
    assert set(r.grid_ids) == {"510682001001-01", "g2"}


def test_plan_rejects_duplicates_and_gaps():
    with pytest.raises(PlanError):
        Plan(pd.Series(["g1", "g2"], index=["b1", "b1"]))
    with pytest.raises(PlanError):
        Plan(pd.Series(["g1", None], index=["b1", "b2"]))
    p = make_plan()
    with pytest.raises(PlanError, match="does not match"):
        p.check_against(["b1", "b2", "b3"])
    p.check_against(["b4", "b3", "b2", "b1"])


@pytest.mark.parametrize("mode,expected", [
    ("either", [True, True, True, False, False]),
    ("households", [True, True, False, False, False]),
    ("persons", [True, False, True, False, False]),
    ("both", [True, False, False, False, False]),
])
def test_rule_modes(mode, expected):
    h = np.array([400, 400, 200, 200, 600])
    p = np.array([1200, 500, 1200, 500, 2000])
    assert Rule(mode=mode).meets(h, p).tolist() == expected


def test_rule_rejects_bad_bounds():
    with pytest.raises(ValueError):
        Rule(min_households=600, max_households=500)
    with pytest.raises(ValueError):
        Rule(mode="any")


def test_for_communities_keeps_only_their_buildings_and_compounds():
    import gridplan as gp
    from gridplan.sample import tiny_city
    ds = gp.read_dataset(tiny_city())
    cid = ds.communities.index[0]
    sub = ds.for_communities(cid)
    assert len(sub.buildings) and (sub.buildings["community_id"] == cid).all()
    assert len(sub.buildings) < len(ds.buildings)
    assert (sub.compounds["community_id"] == cid).all()
    assert len(sub.communities) == len(ds.communities)          # other layers whole
    assert len(ds.for_communities(list(ds.communities.index)).buildings) == len(ds.buildings)
