"""The plan store on both backends (a GeoPackage file and a real PostgreSQL/PostGIS server started
for the session by ``tests/_pg.py``): round trips, community-level merges, conflicts, concurrent
savers in separate processes, SIGKILL mid-save, the audit trail, users, roles and scopes."""
from __future__ import annotations

import logging
import multiprocessing
import os
import queue as queue_module
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from _store_worker import base_plan, change_in, city

from gridplan._errors import PlanError
from gridplan.metrics import grid_table
from gridplan.model import Plan, Rule
from gridplan.store import (
    PlanStore,
    StoreAccessError,
    StoreConflict,
    StoreError,
    dataset_fingerprint,
    default_project_path,
    open_store,
)

HERE = Path(__file__).resolve().parent
BACKENDS = ["gpkg", "postgresql"]


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    """A fresh, empty store URL on each backend."""
    if request.param == "gpkg":
        return str(tmp_path / "projects" / "city.gpkg")
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="module")
def ds():
    return city(1200, n_communities=6)


@pytest.fixture(scope="module")
def plan0(ds):
    return base_plan(ds)


def _communities(ds):
    return sorted(ds.communities.index)


def _row_counts(store: PlanStore) -> dict:
    with store._engine.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                for t in store.t.metadata.sorted_tables}


# ----------------------------------------------------------------------------- round trips
def test_save_list_load_round_trip(store_url, ds, plan0):
    store = open_store(store_url)
    assert len(store.list()) == 0 and store.head() == 0
    rule = Rule(min_households=250, max_households=450, mode="households")
    p = Plan(plan0.assignment, rule=rule, locked=[plan0.grid_ids[1], plan0.grid_ids[3]], label="draft")
    vid = store.save(p, name="初稿 <b>draft</b> **x**", user="王<i>五</i>", note="第一版 [link](http://x)", dataset=ds)
    assert vid == 1 and store.head() == 1
    versions = store.list()
    assert list(versions.index) == [1]
    row = versions.loc[1]
    assert row["name"] == "初稿 <b>draft</b> **x**" and row["note"] == "第一版 [link](http://x)"
    assert row["user"] == "王<i>五</i>" and row["base"] == 0 and row["dataset"] == "测试城"
    assert row["communities_changed"] == _communities(ds)          # the first version writes every community
    assert row["grids"] == len(p.grid_ids) and row["buildings"] == len(ds.buildings)
    back = store.load(1)
    assert back.same_assignment(p)
    assert back.rule == rule
    assert back.locked == frozenset(p.locked)
    # a second store object (another planner's session) sees the same
    assert open_store(store_url).load("初稿 <b>draft</b> **x**").same_assignment(p)


def test_names_ids_and_compare(store_url, ds, plan0):
    store = open_store(store_url)
    cx = _communities(ds)[0]
    p2 = change_in(ds, plan0, cx, "m1")
    p3 = change_in(ds, p2, cx, "m2", n=2)
    assert store.save(plan0, name="a", user="u", dataset=ds) == 1
    assert store.save(p2, name="b", user="u", dataset=ds) == 2
    assert store.save(p3, name="a", user="u", dataset=ds) == 3      # same name again: a new version
    assert store.resolve("a") == 3 and store.resolve(1) == 1 and store.resolve("2") == 2
    assert store.load("b").same_assignment(p2)
    d = store.compare(1, 3)
    assert set(d.index) == set(plan0.diff(p3).index)
    assert len(store.compare("b", "b")) == 0
    with pytest.raises(StoreError, match="no version named"):
        store.load("nope")
    with pytest.raises(StoreError):
        store.load(99)
    with pytest.raises(StoreError, match="name"):
        store.save(plan0, name="  ", user="u")
    with pytest.raises(StoreError, match="user"):
        store.save(plan0, name="x", user=" ")


def test_default_project_path_is_safe():
    p = default_project_path('../we/ird:name*?')
    assert p.parent == Path("projects") and p.suffix == ".gpkg"
    assert "/" not in p.name and ".." not in p.stem.split("_")[0] + "x"


def test_store_url_forms(tmp_path):
    assert open_store(tmp_path / "x.gpkg").kind == "gpkg"
    assert PlanStore("postgresql://u:secret@db.example:5432/gp").kind == "postgresql"
    s = PlanStore("postgres://u:secret@db.example/gp")
    assert "secret" not in s.location and "secret" not in repr(s)
    with pytest.raises(StoreError, match="gpkg"):
        open_store(tmp_path / "x.sqlite")


def test_a_file_that_is_no_store_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.gpkg"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot use the store file"):
        open_store(bad).list()
    assert bad.read_bytes() == b"this is not a database" * 100        # left as it was


def test_unreachable_server_is_a_clear_error():
    store = open_store("postgresql://nobody:pw-should-not-show@/gp?host=/nonexistent-socket-dir&port=1")
    with pytest.raises(StoreError) as e:
        store.init()
    msg = str(e.value)
    assert "cannot use the PostgreSQL store" in msg and "PGPASSWORD" in msg and "pw-should-not-show" not in msg


# ----------------------------------------------------------------------------- merges and conflicts
def test_two_planners_in_different_communities_both_land(store_url, ds, plan0):
    cx, cy = _communities(ds)[:2]
    store = open_store(store_url)
    v1 = store.save(plan0, name="初稿", user="admin", dataset=ds)
    mine = change_in(ds, plan0, cx, "A")                 # planner A, from version 1, changes X
    theirs = change_in(ds, plan0, cy, "B")               # planner B, also from version 1, changes Y
    va = open_store(store_url).save(mine, name="A", user="a", base=v1, dataset=ds)
    vb = open_store(store_url).save(theirs, name="B", user="b", base=v1, dataset=ds)
    assert (va, vb) == (2, 3)
    newest = store.load(vb)
    expected = plan0.assignment
    for p in (mine, theirs):
        moved = plan0.diff(p)
        expected.loc[moved.index] = moved["to_grid"]
    assert newest.assignment.sort_index().equals(expected.sort_index())   # both changes, nothing reverted
    assert store.load(va).same_assignment(mine)                            # A's version is A's plan
    v = store.list()
    assert v.loc[va, "communities_changed"] == [cx] and v.loc[vb, "communities_changed"] == [cy]
    assert v.loc[vb, "base"] == v1
    # only the changed community's rows were written for versions 2 and 3
    with store._engine.connect() as conn:
        a = store.t.assignments
        n = dict(conn.execute(sa.select(a.c.version_id, sa.func.count()).group_by(a.c.version_id)).all())
    per_comm = ds.buildings.groupby("community_id").size()
    assert n == {1: len(ds.buildings), 2: per_comm[cx], 3: per_comm[cy]}


def test_same_community_conflict_names_version_user_communities_and_writes_nothing(store_url, ds, plan0):
    cx = _communities(ds)[0]
    store = open_store(store_url)
    v1 = store.save(plan0, name="初稿", user="admin", dataset=ds)
    v2 = store.save(change_in(ds, plan0, cx, "A"), name="A 的方案", user="李四", base=v1, dataset=ds)
    before = _row_counts(store)
    with pytest.raises(StoreConflict) as e:
        store.save(change_in(ds, plan0, cx, "B", n=7), name="B", user="张三", base=v1, dataset=ds)
    msg = str(e.value)
    assert f"版本 {v2}" in msg and "李四" in msg and cx in msg and "社区1" in msg
    assert e.value.conflicts == [{"version": v2, "name": "A 的方案", "user": "李四",
                                  "created": e.value.conflicts[0]["created"], "communities": [cx]}]
    assert e.value.base == v1 and e.value.head == v2
    assert _row_counts(store) == before and store.head() == v2
    # keep mine: save again with the newest version as base → lands and wins in X
    mine = change_in(ds, store.load(v2), cx, "B", n=7)
    v3 = store.save(mine, name="B again", user="张三", base=v2, dataset=ds)
    assert store.load(v3).same_assignment(mine)


def test_rebase_keeps_my_communities_and_takes_the_rest_from_the_newest(store_url, ds, plan0):
    """After a conflict, 另存为分支版本: my changed communities on top of the newest version."""
    cx, cy, cz = _communities(ds)[:3]
    store = open_store(store_url)
    v1 = store.save(plan0.lock([f"{cz}01"]), name="初稿", user="admin", dataset=ds)
    theirs = change_in(ds, plan0, cx, "A")
    theirs = change_in(ds, theirs, cy, "A2")
    v2 = store.save(theirs.lock([f"{cz}01"]), name="A", user="a", base=v1, dataset=ds)
    mine = change_in(ds, plan0, cx, "B", n=7)                 # from version 1: X changed, Y still as in 1
    with pytest.raises(StoreConflict):
        store.save(mine, name="B", user="b", base=v1, dataset=ds)
    branch, onto = store.rebase(mine, v1)
    assert onto == v2
    comm = ds.buildings["community_id"].astype(str)
    a, b, t = branch.assignment, mine.assignment, store.load(v2).assignment
    in_x = comm.index[comm == cx]
    others = comm.index[comm != cx]
    assert a[in_x].equals(b[in_x])                            # my community is mine
    assert a[others].equals(t.reindex(others))                 # Y (their change) is not reverted
    assert f"{cz}01" in branch.locked                          # their locks elsewhere are kept
    v3 = store.save(branch, name="B 分支", user="b", base=onto, dataset=ds)
    assert store.list().at[v3, "communities_changed"] == [cx]
    assert store.load(v3).same_assignment(branch)
    # nothing changed since: the rebase of a plan made on the newest version is that plan
    again, onto2 = store.rebase(store.load(v3), v3)
    assert onto2 == v3 and again.same_assignment(store.load(v3))


def test_a_grid_id_taken_meanwhile_in_another_community_is_a_conflict(store_url, ds, plan0):
    cx, cy = _communities(ds)[:2]
    store = open_store(store_url)
    v1 = store.save(plan0, name="v1", user="u", dataset=ds)
    bx = ds.buildings.index[ds.buildings["community_id"] == cx][:2]
    by = ds.buildings.index[ds.buildings["community_id"] == cy][:2]
    store.save(plan0.move(bx, "NEW-01"), name="x", user="a", base=v1, dataset=ds)
    with pytest.raises(StoreConflict, match="NEW-01"):
        store.save(plan0.move(by, "NEW-01"), name="y", user="b", base=v1, dataset=ds)


def test_saving_an_unchanged_plan_records_a_version_without_communities(store_url, ds, plan0):
    store = open_store(store_url)
    store.save(plan0, name="v1", user="u", dataset=ds)
    v2 = store.save(plan0.with_rule(Rule(mode="both")), name="milestone", user="u", dataset=ds)
    assert store.list().loc[v2, "communities_changed"] == []
    assert store.load(v2).same_assignment(plan0) and store.load(v2).rule == Rule(mode="both")


def test_base_must_exist(store_url, ds, plan0):
    store = open_store(store_url)
    with pytest.raises(StoreError, match="no versions yet"):
        store.save(plan0, name="x", user="u", base=3, dataset=ds)
    store.save(plan0, name="x", user="u", dataset=ds)
    with pytest.raises(StoreError, match="no version 5"):
        store.save(plan0, name="y", user="u", base=5, dataset=ds)


# ----------------------------------------------------------------------------- dataset and plan checks
def test_plan_with_missing_or_unknown_building_is_refused(store_url, ds, plan0):
    store = open_store(store_url)
    a = plan0.assignment
    with pytest.raises(PlanError, match="1 building.*no grid"):
        store.save(Plan(a.iloc[1:]), name="x", user="u", dataset=ds)
    with pytest.raises(PlanError, match="not in the dataset"):
        store.save(Plan(pd.concat([a, pd.Series({"B99999": "G"})])), name="x", user="u", dataset=ds)
    assert store.head() == 0
    store.save(plan0, name="ok", user="u", dataset=ds)
    with pytest.raises(PlanError, match="no grid"):              # also without the dataset (stored building ids)
        store.save(Plan(a.iloc[:-1]), name="x", user="u")
    # a draft that breaks the size rule and contiguity is fine
    draft = plan0.with_assignment(pd.Series("ONE", index=a.index), label="one grid")
    assert store.save(draft, name="draft", user="u") == 2


def test_first_save_needs_the_dataset(store_url, plan0):
    with pytest.raises(StoreError, match="first save needs the dataset"):
        open_store(store_url).save(plan0, name="x", user="u")


def test_dataset_fingerprint_refuses_another_dataset_and_accepts_a_reloaded_one(store_url, ds, plan0, tmp_path):
    store = open_store(store_url)
    store.save(plan0, name="v1", user="u", dataset=ds)
    assert store.dataset_info()["fingerprint"] == dataset_fingerprint(ds)
    # the same data written to GeoJSON (EPSG:4326, 7 decimals) and read back: accepted
    from gridplan.io import read_dataset, write_layers
    folder = tmp_path / "geojson"
    folder.mkdir()
    for name, layer in ds.layers().items():
        write_layers({name: layer}, folder / f"{name}.geojson", dataset=ds)
    again = read_dataset(folder)
    assert store.save(plan0, name="v2", user="u", dataset=again) == 2
    # one household count changed: refused, naming the building and the fix
    b = ds.buildings.copy()
    bid = b.index[10]
    hh = b["households"].to_numpy().copy()
    hh[10] += 1
    b["households"] = hh
    other = ds.replace(buildings=b)
    with pytest.raises(StoreError, match=rf"other household counts \(e.g. {bid}") as e:
        store.save(plan0, name="v3", user="u", dataset=other)
    assert "start a new store" in str(e.value)
    # another city altogether
    with pytest.raises(StoreError, match="does not match"):
        store.check_dataset(city(1300, n_communities=6, seed=5))
    assert store.head() == 2


def test_failure_inside_the_save_transaction_leaves_the_store_as_it_was(store_url, ds, plan0, monkeypatch):
    store = open_store(store_url)
    store.save(plan0, name="good", user="u", dataset=ds)
    before = _row_counts(store)
    real = PlanStore._copy

    def flaky(self, conn, table, df):
        real(self, conn, table, df)
        if table.name == "gp_assignments":
            raise RuntimeError("crash after the rows were written (simulated)")

    monkeypatch.setattr(PlanStore, "_copy", flaky)
    with pytest.raises(RuntimeError, match="simulated"):
        store.save(change_in(ds, plan0, _communities(ds)[0], "X"), name="half", user="u", dataset=ds)
    monkeypatch.undo()
    assert _row_counts(store) == before
    assert list(store.list()["name"]) == ["good"]
    assert store.save(change_in(ds, plan0, _communities(ds)[0], "X"), name="next", user="u", dataset=ds) == 2


# ----------------------------------------------------------------------------- the audit trail
def test_audit_numbers_equal_the_metrics_of_the_plans(store_url, ds, plan0):
    store = open_store(store_url)
    v1 = store.save(plan0, name="v1", user="wang", dataset=ds)
    cx = _communities(ds)[2]
    members = ds.buildings.index[ds.buildings["community_id"] == cx]
    g_from = plan0.grid_of(members[0])
    g_to = next(g for g in plan0.grid_ids if g.startswith(cx) and g != g_from)
    edited = plan0.move(list(plan0.buildings_of(g_from)[:4]), g_to)       # two grids change
    edited = change_in(ds, edited, cx, "new", n=2)                         # and a new one appears
    v2 = store.save(edited, name="v2", user="li", base=v1, dataset=ds)
    t0, t1 = grid_table(ds, plan0), grid_table(ds, edited)
    # first version: every grid added, with the numbers of the metrics
    a1 = store.audit(v1).set_index("grid_id")
    assert set(a1.index) == set(t0.index) and set(a1["status"]) == {"added"}
    assert (a1["households_after"] == t0.loc[a1.index, "households"]).all()
    assert (a1["persons_after"] == t0.loc[a1.index, "persons"]).all()
    # second version: exactly the grids whose buildings differ, before and after
    d = plan0.diff(edited)
    touched = set(d["from_grid"]) | set(d["to_grid"])
    a2 = store.audit(v2).set_index("grid_id")
    assert set(a2.index) == touched
    assert (a2["user"] == "li").all() and (a2["base"] == v1).all() and (a2["community_id"] == cx).all()
    for g, r in a2.iterrows():
        hb = int(t0.at[g, "households"]) if g in t0.index else 0
        ha = int(t1.at[g, "households"]) if g in t1.index else 0
        pb = int(t0.at[g, "persons"]) if g in t0.index else 0
        pa = int(t1.at[g, "persons"]) if g in t1.index else 0
        assert (r["households_before"], r["households_after"], r["persons_before"], r["persons_after"]) == (hb, ha, pb, pa)
        assert r["buildings_after"] == (int(t1.at[g, "buildings"]) if g in t1.index else 0)
        assert r["status"] == ("added" if g not in t0.index else "changed")
    assert a2.loc[f"{cx}-new", "status"] == "added"


def test_times_are_stored_in_utc_and_shown_in_local_time(store_url, ds, plan0, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        store = open_store(store_url)
        t_before = pd.Timestamp.now(tz="UTC").floor("s")
        store.save(plan0, name="v1", user="u", dataset=ds)
        shown = store.list().loc[1, "created"]
        assert shown.utcoffset() == pd.Timedelta(hours=8)
        with store._engine.connect() as conn:
            raw = conn.execute(sa.select(store.t.versions.c.created)).scalar()
            if store.kind == "gpkg":
                text = conn.exec_driver_sql("SELECT created FROM gp_versions").scalar()
                assert text.endswith("Z")                                   # GeoPackage DATETIME, UTC
        raw = pd.Timestamp(raw)
        raw = raw.tz_localize("UTC") if raw.tzinfo is None else raw
        assert raw == shown and abs(raw - t_before) < pd.Timedelta(minutes=2)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_audit_excel_has_chinese_headers_and_no_formulas(store_url, ds, plan0, tmp_path):
    from openpyxl import load_workbook

    from gridplan.export import export_audit
    store = open_store(store_url)
    v1 = store.save(plan0, name="v1", user="=cmd|' /C calc'!A0", dataset=ds)
    store.save(change_in(ds, plan0, _communities(ds)[0], "x"), name="+SUM(1,2)", user="wang", base=v1,
               note="@attack", dataset=ds)
    [path] = export_audit(store, tmp_path / "out" / "留痕.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == ["留痕", "版本"]
    ws = wb["留痕"]
    head = [c.value for c in ws[1]]
    assert head[:8] == ["版本号", "用户", "保存时间", "基准版本", "社区编码", "社区", "网格编码", "状态"]
    assert "原户数" in head and "现人口" in head
    values = [c.value for row in wb["版本"].iter_rows(min_row=2) for c in row] + \
             [c.value for row in ws.iter_rows(min_row=2) for c in row]
    texts = [v for v in values if isinstance(v, str)]
    assert "'=cmd|' /C calc'!A0" in texts and "'+SUM(1,2)" in texts and "'@attack" in texts
    assert not any(t.startswith(("=", "+", "@", "-")) for t in texts)
    assert {"新增", "调整"} <= set(texts)
    assert len(list(ws.iter_rows(min_row=2))) == len(store.audit())


# ----------------------------------------------------------------------------- the grids for GIS tools
def test_newest_grids_view_is_readable_by_gis_tools(store_url, ds, plan0):
    import geopandas as gpd
    import pyogrio
    store = open_store(store_url)
    v1 = store.save(plan0, name="v1", user="u", dataset=ds)
    cx = _communities(ds)[0]
    from gridplan.metrics import grids
    p2 = change_in(ds, plan0, cx, "N", n=30)
    store.save(p2, name="v2", user="u", base=v1, dataset=ds, grids=grids(ds, p2))   # the caller's grid layer
    if store.kind == "gpkg":
        layers = dict(pyogrio.list_layers(store.path))
        assert layers["gp_newest_grids"] == "MultiPolygon"
        view = pyogrio.read_dataframe(store.path, layer="gp_newest_grids")
    else:
        with store._engine.connect() as conn:
            view = gpd.read_postgis("SELECT * FROM gp_newest_grids", conn, geom_col="geom")
            typ = conn.execute(sa.text("SELECT type, srid FROM geometry_columns WHERE f_table_name = "
                                       "'gp_newest_grids'")).one()
        assert tuple(typ) == ("MULTIPOLYGON", 4544)
    assert view.crs.to_epsg() == 4544
    newest = store.load(2)
    assert set(view["grid_id"]) == set(newest.grid_ids)
    assert f"{cx}-N" in set(view["grid_id"])
    # the polygons are the grid polygons of the newest plan (tiling the communities)
    from gridplan.tessellate import grid_polygons
    ref = grid_polygons(ds, newest)
    got = view.set_index("grid_id").geometry
    assert np.allclose(got.area.sort_index(), ref.geometry.area.sort_index(), rtol=1e-6)
    assert abs(got.area.sum() - ds.communities.geometry.area.sum()) < 1.0


def test_write_plan_with_and_without_the_dataset(store_url, ds, plan0, tmp_path):
    from gridplan.io import read_plan, read_table_layer
    store = open_store(store_url)
    store.save(plan0, name="v1", user="u", dataset=ds)
    a = store.write_plan(1, tmp_path / "a.gpkg")
    b = store.write_plan(1, tmp_path / "b.gpkg", dataset=ds)
    for p in (a, b):
        assert read_plan(p, ds).same_assignment(plan0)
        g = read_table_layer(p, "grids")
        assert set(g["grid_id"]) == set(plan0.grid_ids)


# ----------------------------------------------------------------------------- users, roles, scopes
def test_users_roles_and_scopes(store_url, ds, plan0):
    store = open_store(store_url)
    cs = _communities(ds)            # 0, 1, 2 on street 510682001 (方亭街道); 3, 4, 5 on 510682002 (皂角街道)
    assert list(ds.communities.loc[cs, "street"]) == ["方亭街道"] * 3 + ["皂角街道"] * 3
    v1 = store.save(plan0, name="v1", user="anyone", dataset=ds)   # no users yet: anyone may save
    assert not store.has_users()
    store.add_user("admin", "admin-pass-1", role="admin", display_name="管理员")
    store.add_user("wang", "wang-pass-1", role="planner", display_name="<b>王</b>", scope="方亭街道")
    store.add_user("li", "li-pass-12", role="planner", scope=[cs[3]])
    store.add_user("zhao", "zhao-pass-1", role="viewer")
    assert store.has_users()
    assert store.user_scope("wang") == {cs[0], cs[1], cs[2]}
    assert store.user_scope("li") == {cs[3]}
    assert store.user_scope("admin") == set(cs) and store.user_scope("zhao") == set()
    store.set_user("li", scope=["510682002"])                       # a street id
    assert store.user_scope("li") == {cs[3], cs[4], cs[5]}
    users = store.list_users()
    assert list(users.index) == ["admin", "li", "wang", "zhao"]
    assert users.loc["wang", "display_name"] == "<b>王</b>" and users.loc["wang", "scope"] == ["方亭街道"]
    assert not any("hash" in c or "password" in c for c in users.columns)
    with pytest.raises(StoreError, match="exists already"):
        store.add_user("wang", "another-pass", role="planner", scope="方亭街道")
    with pytest.raises(StoreError, match="unknown community or street"):
        store.add_user("qian", "qian-pass-1", role="planner", scope="510682999")
    with pytest.raises(StoreError, match="needs a scope"):
        store.add_user("sun", "sun-pass-12", role="planner")
    with pytest.raises(StoreError, match="at least 8"):
        store.add_user("sun", "short", role="admin")
    with pytest.raises(StoreError, match="role"):
        store.add_user("sun", "sun-pass-12", role="root")

    # saves: a planner inside the scope may, outside may not (nothing written); viewer and strangers may not
    inside = change_in(ds, plan0, cs[1], "w")
    assert store.save(inside, name="w", user="wang", base=v1, dataset=ds) == 2
    before = _row_counts(store)
    outside = change_in(ds, change_in(ds, plan0, cs[2], "w2"), cs[3], "w3")
    with pytest.raises(StoreAccessError) as e:
        store.save(outside, name="w2", user="wang", base=v1, dataset=ds)
    assert cs[3] in str(e.value) and "wang" in str(e.value) and cs[2] not in str(e.value).split("还改了")[1][:40]
    with pytest.raises(StoreAccessError, match="viewer"):
        store.save(change_in(ds, plan0, cs[0], "z"), name="z", user="zhao", base=v1, dataset=ds)
    with pytest.raises(StoreAccessError, match="not a user"):
        store.save(change_in(ds, plan0, cs[0], "z"), name="z", user="stranger", base=v1, dataset=ds)
    assert _row_counts(store) == before
    with pytest.raises(StoreAccessError):
        store.check_scope("li", [cs[0]])
    store.check_scope("li", [cs[4]])
    assert store.save(outside, name="all", user="admin", base=2, dataset=ds) == 3
    # a disabled user can neither sign in nor save
    store.set_user("li", disabled=True)
    assert store.verify("li", "li-pass-12") is None
    with pytest.raises(StoreAccessError, match="disabled"):
        store.save(change_in(ds, store.load(3), cs[4], "l"), name="l", user="li", dataset=ds)
    store.set_user("li", disabled=False)
    assert store.verify("li", "li-pass-12").role == "planner"


def test_verify_and_passwords(store_url):
    store = open_store(store_url)
    assert store.verify("nobody", "whatever-1") is None          # no store yet
    u = store.add_user("王五", "correct horse 1", role="planner", scope=["510682001001"])
    assert u.name == "王五" and u.scope == ("510682001001",)   # no dataset yet: codes are taken as given
    ok = store.verify("王五", "correct horse 1")
    assert ok is not None and ok.name == "王五" and ok.role == "planner"
    assert not any("correct" in str(v) or "argon2" in str(v) for v in vars(ok).values())
    assert store.verify("王五", "correct horse 2") is None
    assert store.verify("王五", "") is None and store.verify("王五", None) is None
    assert store.verify("nobody", "correct horse 1") is None
    store.set_password("王五", "battery staple 2")
    assert store.verify("王五", "correct horse 1") is None and store.verify("王五", "battery staple 2") is not None
    with pytest.raises(StoreError, match="no user"):
        store.set_password("nobody", "battery staple 2")
    with store._engine.connect() as conn:
        digest = conn.execute(sa.select(store.t.users.c.password_hash)).scalar()
    assert digest.startswith("$argon2id$") and "battery" not in digest


def test_passwords_never_reach_logs_or_outputs(store_url, caplog, capsys):
    secret = "Sup3r-secret-pw"
    caplog.set_level(logging.DEBUG)                           # every logger, SQLAlchemy's statements included
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    try:
        store = open_store(store_url)
        store.add_user("admin", secret, role="admin")
        store.set_password("admin", secret + "2")
        store.verify("admin", secret + "2")
        store.verify("admin", secret)
        store.verify("ghost", secret)
        with pytest.raises(StoreError) as e:
            store.add_user("admin", secret, role="admin")
        users = store.list_users()
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    with store._engine.connect() as conn:
        digest = conn.execute(sa.select(store.t.users.c.password_hash)).scalar()
    assert "INSERT INTO gp_users" in caplog.text               # the statements were logged …
    out = capsys.readouterr()
    for text in (caplog.text, str(e.value), users.to_string(), out.out, out.err):
        assert secret not in text and digest not in text and "$argon2" not in text   # … their parameters not


def test_threads_saving_at_once_get_distinct_versions(store_url, ds, plan0):
    """Three sessions (threads) of one process, each editing its own community: all nine land."""
    import threading
    store = open_store(store_url)
    store.save(plan0, name="start", user="u", dataset=ds)
    cs = _communities(ds)
    errors = []

    def worker(k):
        try:
            s = open_store(store_url)
            for i in range(3):
                base = s.head()
                s.save(change_in(ds, s.load(base), cs[k], f"t{k}{i}", n=i + 1), name=f"t{k}-{i}", user=f"u{k}",
                       base=base, dataset=ds)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    versions = store.list()
    assert list(versions.index) == list(range(1, 11)) and len(set(versions["name"])) == 10
    newest = store.load(10)
    for k in range(3):
        ids = ds.buildings.index[ds.buildings["community_id"] == cs[k]][:3]
        assert set(newest.assignment.loc[ids]) == {f"{cs[k]}-t{k}2"}


# ----------------------------------------------------------------------------- two processes at once
def _race(url, ds_n, rounds, communities):
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    from _store_worker import race_worker
    procs = [ctx.Process(target=race_worker, args=(url, k, rounds, communities, barrier, queue, ds_n))
             for k in (0, 1)]
    for p in procs:
        p.start()
    results: list[dict] = []
    deadline = time.monotonic() + 600
    while len(results) < 2 * rounds and time.monotonic() < deadline:
        try:
            results.append(queue.get(timeout=2))
        except queue_module.Empty:
            if not any(p.is_alive() for p in procs) and queue.empty():
                break
        if results and "error" in results[-1] and results[-1].get("round") == -1:
            break
    for p in procs:
        if p.is_alive() and (len(results) < 2 * rounds):
            p.terminate()
    assert len(results) == 2 * rounds and not [r for r in results if "error" in r], \
        (results, [p.exitcode for p in procs])
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return results


@pytest.mark.slow
def test_two_processes_saving_at_once_never_lose_an_update(store_url):
    n, rounds = 600, 12
    ds = city(n)
    plan = base_plan(ds)
    store = open_store(store_url)
    store.save(plan, name="start", user="admin", dataset=ds)
    comms = sorted(ds.communities.index)[:3]             # few communities: many rounds pick the same one
    results = _race(store_url, n, rounds, comms)
    assert not [r for r in results if "error" in r], results
    by_round: dict[int, list] = {}
    for r in results:
        by_round.setdefault(r["round"], []).append(r)
    same = 0
    for _r, pair in sorted(by_round.items()):
        assert pair[0]["base"] == pair[1]["base"]          # both started from the same version
        landed = [x for x in pair if x["version"] is not None]
        if pair[0]["community"] == pair[1]["community"]:
            same += 1
            assert len(landed) == 1, pair                   # exactly one wins, the other gets a conflict
            loser = next(x for x in pair if x["version"] is None)
            assert loser["conflicts"][0]["version"] == landed[0]["version"]
            assert loser["conflicts"][0]["communities"] == [pair[0]["community"]]
        else:
            assert len(landed) == 2, pair                   # different communities: both land
    assert 0 < same < rounds
    # no lost update: replaying every landed change in version order gives the newest plan
    versions = store.list()
    assert list(versions.index) == list(range(1, len(versions) + 1))
    expected = plan.assignment
    landed = sorted((x for x in results if x["version"] is not None), key=lambda x: x["version"])
    assert [x["version"] for x in landed] == list(range(2, len(versions) + 1))
    for x in landed:
        k = x["worker"]
        ids = ds.buildings.index[ds.buildings["community_id"] == x["community"]][:3 + k]
        expected.loc[ids] = f"{x['community']}-w{k}r{x['round']}"
        assert versions.loc[x["version"], "communities_changed"] == [x["community"]]
        # and every version is exactly the state after its change
        assert store.assignment(x["version"]).sort_index().equals(expected.sort_index())


# ----------------------------------------------------------------------------- kill -9 mid-save
def _check_consistent(store: PlanStore, n_buildings: int) -> int:
    versions = store.list()                                # opens and reads without error
    head = store.head()
    assert list(versions.index) == list(range(1, head + 1))
    with store._engine.connect() as conn:
        for t in (store.t.assignments, store.t.grids, store.t.audit, store.t.version_communities):
            stray = conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.version_id > head)).scalar()
            assert stray == 0, f"{t.name} holds rows of a version that does not exist"
    for v in range(1, head + 1):
        assert len(store.assignment(v)) == n_buildings
    if store.kind == "gpkg":
        with sqlite3.connect(store.path) as c:
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return head


@pytest.mark.slow
def test_kill_9_mid_save_leaves_a_consistent_store(store_url):
    """A subprocess saves 20,000-building versions in a loop and is killed with SIGKILL a few
    milliseconds after it starts writing a version (inside the transaction), again and again."""
    n = 20000
    rng = random.Random(7)
    cut_short = 0
    for _attempt in range(6):
        proc = subprocess.Popen([sys.executable, str(HERE / "_store_worker.py"), "kill", store_url, str(n)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            saved = writing = None
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:            # at least one save completes in this process …
                line = proc.stdout.readline()
                assert line, proc.stderr.read()[-3000:]
                if line.startswith("saved"):
                    saved = int(line.split()[1])
                elif line.startswith("writing") and saved is not None:
                    writing = int(line.split()[1])        # … then the next one starts writing
                    break
            assert writing is not None
            time.sleep(rng.uniform(0.0, 0.03))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            proc.stderr.close()
        head = _check_consistent(open_store(store_url), n)
        assert head in (writing - 1, writing)
        cut_short += head == writing - 1
    assert cut_short >= 1, "no kill landed inside a save's transaction"
    # the store takes new saves afterwards
    ds = city(n, n_communities=8)
    store = open_store(store_url)
    v = store.save(change_in(ds, store.load(store.head()), sorted(ds.communities.index)[0], "after"),
                   name="after", user="u", dataset=ds)
    assert v == store.head() and _check_consistent(store, n) == v
