"""The grid ledger, grid layer and summary, with reasons for hand-edited plans."""
from __future__ import annotations

import time

try:
    from test_engine import make_city
except ImportError:  # pragma: no cover
    from tests.test_engine import make_city

from gridplan.engine import partition
from gridplan.metrics import COLUMNS, REASONS, grid_table, grids, plan_summary


def test_table_columns_and_totals():
    ds = make_city(0, (2, 1), blocks=4)
    plan = partition(ds)
    t = grid_table(ds, plan)
    assert list(t.columns) == COLUMNS
    assert t.index.name == "grid_id"
    assert t["households"].sum() == ds.buildings["households"].sum()
    assert t["party_members"].sum() == ds.buildings["party_members"].sum()
    assert ((t["polsby_popper"] > 0) & (t["polsby_popper"] <= 1)).all()
    assert set(t["reason"]) <= set(REASONS)


def test_balance_is_the_distance_from_the_middle_of_the_rule():
    from gridplan.rule import Rule
    ds = make_city(0, (2, 1), blocks=4)
    plan = partition(ds, rule=Rule(300, 500, 1000, 1500, "either"))
    t = grid_table(ds, plan)
    # 400 households is balanced under 300–500; the sign says which way a grid leans
    assert (t["balance"] == (t["households"] - 400)).all()
    wider = grid_table(ds, plan.with_rule(Rule(200, 500, 1000, 1500, "either")))
    assert (wider["balance"] == t["households"] - 350).all()


def test_reasons_for_broken_edits():
    ds = make_city(1, (2, 1), blocks=4)
    plan = partition(ds)
    g = plan.grid_ids
    a, b = g[0], g[-1]  # different communities
    crossing = plan.move(plan.buildings_of(b)[:1], a)
    t = grid_table(ds, crossing)
    assert t.loc[a, "reason"] == "spans_communities"
    assert not t.loc[a, "compliant"]
    # a grid in two pieces
    same = [x for x in g if x[:12] == a[:12]]
    far = plan.buildings_of(same[-1])[:1]
    t2 = grid_table(ds, plan.move(far, same[0]))
    if not t2.loc[same[0], "contiguous"]:
        assert t2.loc[same[0], "reason"] == "not_contiguous"
    merged = plan.merge(same[0], same[1])
    t3 = grid_table(ds, merged)
    assert t3.loc[same[0], "reason"] == "too_many_households"
    assert t3.loc[same[0], "reason_text"] == "户数超过上限"


def test_grid_layer_and_summary():
    ds = make_city(2, (1, 1), blocks=4)
    plan = partition(ds)
    gl = grids(ds, plan)
    assert gl.crs == ds.crs and "note" in gl.columns and gl.geometry.notna().all()
    s = plan_summary(ds, plan)
    for k in ("grids", "compliant_grids", "infeasible_grids", "contiguous_grids", "households"):
        assert isinstance(s[k], int)
    assert s["grids"] == len(gl)


def test_edit_round_trip_is_fast():
    ds = make_city(3, (2, 2), blocks=5)
    plan = partition(ds)
    grid_table(ds, plan)
    g = plan.grid_ids
    t0 = time.perf_counter()
    edited = plan.move(plan.buildings_of(g[1])[:3], g[0])
    grid_table(ds, edited)
    assert time.perf_counter() - t0 < 1.0
