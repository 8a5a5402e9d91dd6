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


def test_community_of_a_grid_and_compounds_whole_or_split():
    """A grid's community is the one holding most of its buildings (a tie: the first by id); a
    compound counts as whole in the one grid that holds it, as split in each grid holding a part."""
    ds = make_city(1, (2, 1), blocks=4)
    plan = partition(ds)
    b = ds.buildings
    comms = sorted(b["community_id"].astype(str).unique())
    g = plan.grid_ids
    in_c0 = [x for x in g if b.loc[plan.buildings_of(x), "community_id"].astype(str).iloc[0] == comms[0]]
    in_c1 = [x for x in g if b.loc[plan.buildings_of(x), "community_id"].astype(str).iloc[0] == comms[1]]
    a, z = in_c0[0], in_c1[0]
    # a grid of three buildings of the second community and two of the first: the second's
    three, two = plan.buildings_of(z)[:3], plan.buildings_of(a)[:2]
    p = plan.move([*three, *two], "NEWGRID")
    assert grid_table(ds, p).loc["NEWGRID", "community_id"] == comms[1]
    # two and two: a tie goes to the first by id
    p = plan.move([*plan.buildings_of(z)[:2], *two], "NEWGRID")
    t = grid_table(ds, p)
    assert t.loc["NEWGRID", "community_id"] == comms[0] and t.loc["NEWGRID", "reason"] == "spans_communities"
    # a compound cut in two: split in both grids, whole nowhere
    comp = b["compound_id"].dropna()
    cid = comp[comp.map(comp.value_counts()) >= 2].iloc[0]
    members = list(comp[comp == cid].index.astype(str))
    home = plan.assignment[members[0]]
    assert (plan.assignment[members] == home).all()          # the engine keeps it whole
    t0 = grid_table(ds, plan)
    cut = plan.move(members[:1], "NEWGRID")
    t1 = grid_table(ds, cut)
    assert t1.loc[home, "compounds_split"] == t0.loc[home, "compounds_split"] + 1
    assert t1.loc[home, "compounds_whole"] == t0.loc[home, "compounds_whole"] - 1
    assert t1.loc["NEWGRID", "compounds_split"] == 1 and t1.loc["NEWGRID", "compounds_whole"] == 0
    assert t1["compounds_whole"].sum() + t1["compounds_split"].sum() == \
        t0["compounds_whole"].sum() + t0["compounds_split"].sum() + 1


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


def test_an_edited_plans_figures_are_those_of_a_fresh_computation():
    """The grid outlines, footprint claims, grid codes and map geometries are kept from plan to plan (by
    member set and by the objects they were made from): after a chain of edits — moves into a new grid,
    across communities, a merge, a lock — the table, outlines and map layers equal those computed for
    the same plan on a dataset with nothing cached."""
    import json

    import numpy as np

    from gridplan import edit as ed
    from gridplan import webmap
    from gridplan.demo import load_sample
    from gridplan.metrics import plan_polygons
    from gridplan.model import Plan

    def layers(d, focus, p):
        g = grids(d, p)
        parts = webmap.make_map_parts(focus, with_base=False, grids=g[g["community_id"] == c0],
                                      assignment=p.assignment, colors=webmap.grid_colors(g), tiles_crs="gcj02")
        return [json.dumps(getattr(el, "data", None) or getattr(el, "points_js", None) or getattr(el, "state_js", None),
                           sort_keys=True, default=str) for fg in parts.layers for el in fg._children.values()]

    ds = load_sample()
    plan = partition(ds, seed=0)
    c0 = next(c for c in ds.communities.index.astype(str) if len(ed.grids_of_community(ds, plan, c)) > 2)
    focus = ds.for_communities(c0)             # one per session in the app: its geometries are kept
    rng = np.random.default_rng(3)
    ids = np.asarray(ds.buildings.index.astype(str))
    comm = ds.buildings["community_id"].astype(str)
    for k in range(12):
        b = str(rng.choice(ids[comm.to_numpy() == c0])) if k % 2 else str(rng.choice(ids))
        c = comm[b]
        to = ed.new_grid_id(ds, plan, c) if k % 3 == 0 else rng.choice(plan.grid_ids if k % 3 == 1
                                                                        else ed.grids_of_community(ds, plan, c))
        plan = plan.move([b], str(to))
        grid_table(ds, plan)                   # every step computed and drawn, as the app does
        layers(ds, focus, plan)
    kept = ed.grids_of_community(ds, plan, c0)
    plan = plan.merge(kept[0], kept[1]).lock([kept[0]])
    fresh = load_sample()
    again = Plan(plan.assignment, rule=plan.rule, locked=plan.locked)
    assert grid_table(ds, plan).equals(grid_table(fresh, again))
    a, b = plan_polygons(ds, plan), plan_polygons(fresh, again)
    assert a.index.equals(b.index) and all(x.equals_exact(y, 0) for x, y in zip(a.geometry, b.geometry))
    assert ed.grids_of_community(ds, plan, c0) == ed.grids_of_community(fresh, again, c0)
    assert layers(ds, focus, plan) == layers(fresh, fresh.for_communities(c0), again)
