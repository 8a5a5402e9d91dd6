"""The app's pages and state transitions, headless with ``streamlit.testing.v1.AppTest``.

The map is the app's own component (a ``bidi_component``); its data hold the map script, the plan
layers (feature groups) and the asset links, so the offline promise is checked on them (the
st_folium fallback shows up as a ``component_instance`` with the same pieces in its ``json_args``).
Real clicks on the map are covered by ``test_app_browser.py``; here map events are fed to the
same handler the component's ``on_change`` calls.
"""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(ROOT / "app_main.py")
TIMEOUT = 180


@pytest.fixture(autouse=True)
def _projects(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDPLAN_PROJECTS_DIR", str(tmp_path / "projects"))


def ready(at: AppTest, timeout_s: float = 300) -> AppTest:
    """Run until the first partition (running in the background) is on the page."""
    at.run(timeout=TIMEOUT)
    deadline = time.monotonic() + timeout_s

    def has_plan():
        return "history" in at.session_state and at.session_state["history"] is not None

    while not has_plan() and time.monotonic() < deadline:
        assert not at.exception, [e.message for e in at.exception]
        time.sleep(0.3)
        at.run(timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)      # the page with the plan
    assert not at.exception, [e.message for e in at.exception]
    assert has_plan(), "the plan never appeared"
    return at


def app() -> AppTest:
    return ready(AppTest.from_file(APP, default_timeout=TIMEOUT))


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def version_field(at: AppTest, label: str):
    """The version name or note field of 方案版本 (its key changes after every save)."""
    return next(t for t in at.text_input if t.label == label)


def map_args(at: AppTest) -> dict:
    """What the page hands its map: the app's own component (``bidi_component``, its data), or
    streamlit-folium's (``component_instance``, its arguments) when the page falls back to st_folium."""
    own = at.get("bidi_component")
    if own:           # the same keys as streamlit-folium's: the script read from its file, the groups joined
        d = json.loads(own[-1].proto.json)
        d["script_inline"] = d.get("script")
        d["script"] = map_script(d)
        d["feature_group"] = "".join(code for code, _ in d["feature_groups"])
        return d
    comps = at.get("component_instance")
    assert comps, "no map component on the page"
    return json.loads(comps[-1].proto.json_args)


def served(url: str) -> str:
    """A file the app serves from static/cache/."""
    return (ROOT / url.replace("/app/", "", 1)).read_text(encoding="utf-8")


def map_script(args: dict) -> str:
    """The base map's script: a file the app serves (its URL in the data), or inline."""
    return served(args["script_url"]) if args.get("script_url") else args["script"]


def footprints(args: dict) -> dict:
    """The footprint file the map script fetches (served from static/cache/)."""
    url = re.search(r'fetch\("(/app/static/cache/[0-9a-f]+\.json)"\)', map_script(args)).group(1)
    return json.loads(served(url))


def _new_code(at: AppTest, building_id: str) -> str:
    from gridplan import edit as ed
    from gridplan.demo import load_sample
    ds = load_sample()
    p = at.session_state["history"].current
    return ed.new_grid_id(ds, p, ds.buildings.at[building_id, "community_id"])


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def selectbox(at: AppTest, label: str):
    return next(s for s in at.selectbox if s.label == label)


# ----------------------------------------------------------------------------- opening
def test_the_first_run_with_a_plan_draws_the_map_alone_then_the_page():
    """Issue 16 (first map): the session's first run with a plan sends the map alone (the browser then
    loads and draws one component, not every widget and the grid table) and asks it to report once it
    is drawn; that report, or any later run, brings the figures, the tools and the table around it."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    deadline = time.monotonic() + 300
    while ("history" not in at.session_state or at.session_state["history"] is None) and time.monotonic() < deadline:
        time.sleep(0.3)
        at.run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    first = map_args(at)
    assert first["first_paint"] is True
    assert not at.metric and not at.dataframe and not at.radio[1:], "the first paint holds more than the map"
    assert first["feature_group"] and "window.__gp = s" in first["feature_group"]     # the plan is on it
    at.run(timeout=TIMEOUT)                  # what the map's report triggers
    again = map_args(at)
    assert again["first_paint"] is False
    assert [m.label for m in at.metric][:4] == ["网格", "合规", "连续", "户数"] and at.dataframe
    assert again["base"] == first["base"] and map_script(again) == map_script(first)   # the same map, kept
    at.run(timeout=TIMEOUT)
    assert map_args(at)["first_paint"] is False                          # once per session


def test_opens_on_the_sample_in_chinese_with_a_local_map():
    at = app()
    assert [m.label for m in at.metric][:4] == ["网格", "合规", "连续", "户数"]
    assert int(metric(at, "网格")) > 100
    args = map_args(at)
    links = args["js_links"] + args["css_links"]
    assert links and all(u.startswith("/app/static/vendor/") for u in links), links
    assert args["script_url"].startswith("/app/static/cache/") and not args["script_inline"]  # not resent each rerun
    everything = map_script(args) + "".join(str(args.get(k) or "") for k in ("feature_group", "header", "html",
                                                                             "layer_control"))
    assert not re.findall(r"https?://", everything), "the map must not reference outside hosts"
    # the footprints are a file the map fetches once from the app's own static folder; the plan travels
    # as feature groups swapped in place on edits: a small state that restyles them, grids and labels
    fc = footprints(args)
    assert fc["features"] and fc["features"][0]["properties"]["layer"] == "building"
    assert '"layer": "community"' in map_script(args) and '"layer": "building"' not in map_script(args)
    assert '"layer": "building"' not in args["feature_group"]
    assert "window.__gp = s" in args["feature_group"] and '"layer": "grid"' in args["feature_group"]
    assert "L.Control.Draw" in map_script(args) or "Draw" in map_script(args)
    # the app's own map component (drawn in the page), not streamlit-folium's iframe
    assert at.get("bidi_component") and not at.get("component_instance")


def test_language_switch_to_english():
    at = app()
    at.radio(key="_lang_radio").set_value("en").run(timeout=TIMEOUT)
    assert not at.exception
    assert [m.label for m in at.metric][:2] == ["Grids", "Compliant"]
    assert any(b.label == "Undo" for b in at.button)


# ----------------------------------------------------------------------------- editing
def test_move_selection_to_a_new_grid_then_undo_redo():
    at = app()
    grids0 = int(metric(at, "网格"))
    p = at.session_state["history"].current
    bid = p.assignment.index[0]
    at.session_state["selection"] = (bid,)
    at.run(timeout=TIMEOUT)
    target = selectbox(at, "目标网格")
    assert "新网格" in target.options[-1]
    target.set_value(_new_code(at, bid)).run(timeout=TIMEOUT)
    button(at, "移到目标网格").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert int(metric(at, "网格")) == grids0 + 1
    h = at.session_state["history"]
    assert len(h) == 2 and h.current.grid_of(bid) != p.grid_of(bid)
    assert at.session_state["report"]["changed"]
    assert any("已将 1 栋楼移到" in s.value for s in at.success)
    button(at, "撤销").click().run(timeout=TIMEOUT)
    assert int(metric(at, "网格")) == grids0
    assert at.session_state["history"].current.grid_of(bid) == p.grid_of(bid)
    button(at, "重做").click().run(timeout=TIMEOUT)
    assert int(metric(at, "网格")) == grids0 + 1


def test_grid_operations_merge_split_lock_reoptimise():
    at = app()
    p = at.session_state["history"].current
    g0 = p.grid_ids[0]
    at.session_state["selected_grid"] = g0
    at.run(timeout=TIMEOUT)
    n0 = int(metric(at, "网格"))
    from gridplan import edit as ed
    from gridplan.demo import load_sample
    ds = load_sample()
    same = [g for g in ed.grids_of_community(ds, p, ed.community_of_grid(ds, p, g0)) if g != g0]
    selectbox(at, "并入的网格").set_value(same[0]).run(timeout=TIMEOUT)
    button(at, f"合并网格 → {g0}").click().run(timeout=TIMEOUT)
    assert int(metric(at, "网格")) == n0 - 1
    # the report says what broke (a merged grid of two compliant grids is too large)
    rep = at.session_state["report"]
    assert rep["newly_broken"] and rep["newly_broken"][0][1]
    button(at, "拆分网格").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert int(metric(at, "网格")) >= n0
    button(at, "锁定").click().run(timeout=TIMEOUT)
    assert g0 in at.session_state["history"].current.locked
    locked_buildings = set(at.session_state["history"].current.buildings_of(g0))
    button(at, "重新优化社区（保留锁定网格）").click().run(timeout=TIMEOUT)
    assert not at.exception
    cur = at.session_state["history"].current
    assert set(cur.buildings_of(g0)) == locked_buildings
    button(at, "解锁").click().run(timeout=TIMEOUT)
    assert g0 not in at.session_state["history"].current.locked
    assert len(at.session_state["history"]) == 6


def test_a_failing_edit_leaves_the_plan_and_says_why():
    at = app()
    p = at.session_state["history"].current
    g0 = p.grid_ids[0]
    at.session_state["selected_grid"] = g0
    at.run(timeout=TIMEOUT)
    button(at, "锁定").click().run(timeout=TIMEOUT)
    # move a building of the locked grid to a neighbour: refused with a message, the plan stays as it was
    from gridplan import edit as ed
    from gridplan.demo import load_sample
    ds = load_sample()
    other = next(g for g in ed.grids_of_community(ds, p, ed.community_of_grid(ds, p, g0)) if g != g0)
    at.session_state["selection"] = (p.buildings_of(g0)[0],)
    at.session_state["target"] = other
    at.run(timeout=TIMEOUT)
    before = at.session_state["history"].current
    button(at, "移到目标网格").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert at.session_state["history"].current is before
    assert any("locked" in e.value or "锁定" in e.value for e in at.error)


def test_grid_table_row_selects_the_grid_on_the_map():
    at = app()
    ids = at.session_state["_grid_table_ids"]
    assert len(ids) >= 2 and at.dataframe
    code = f"""
import streamlit as st
from app_pages import callbacks as cb
from app_pages import common as c
from app_pages import plans
c.init_state()
plans.history(wait=True)
st.session_state["_grid_table_ids"] = {ids!r}
st.session_state["grid_table"] = type("S", (), {{"selection": type("R", (), {{"rows": [1]}})()}})()
cb.cb_select_grid_row()
"""
    t = AppTest.from_string(code, default_timeout=TIMEOUT)
    t.run(timeout=TIMEOUT)
    assert not t.exception, [e.message for e in t.exception]
    assert t.session_state["selected_grid"] == ids[1] and t.session_state["target"] == ids[1]
    lat, lon = t.session_state["map_center"]
    assert 30 < lat < 32 and 103 < lon < 105 and t.session_state["map_zoom"] == 17


def test_rule_change_repartitions():
    at = app()
    at.number_input(key="_min_hh").set_value(250)
    at.number_input(key="_max_hh").set_value(450)
    button(at, "重新划分网格").click().run(timeout=TIMEOUT)
    assert not at.exception
    rule = at.session_state["history"].current.rule
    assert (rule.min_households, rule.max_households) == (250, 450)
    assert len(at.session_state["history"]) == 2          # undoable like any edit


# ----------------------------------------------------------------------------- map events
def _run_event(ev: dict, tool: str, unit: str = "building"):
    code = f"""
import json as _json
import streamlit as st
from app_pages import callbacks as cb
from app_pages import common as c
from app_pages import plans
c.init_state()
h = plans.history(wait=True)
st.session_state["tool"] = {tool!r}
st.session_state["unit"] = {unit!r}
if "done" not in st.session_state:
    st.session_state["done"] = True
    if {tool!r} == "paint":
        st.session_state["target"] = "5106820010019X"
    cb.handle_map_event(_json.loads({json.dumps(ev)!r}))
"""
    at = AppTest.from_string(code, default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_click_on_a_building_selects_it_or_its_compound():
    from gridplan.demo import load_sample
    ds = load_sample()
    b = ds.buildings
    bid = b.index[b["compound_id"].notna()][0]
    ev = {"last_active_drawing": {"type": "Feature", "properties": {"layer": "building", "building_id": bid},
                                  "geometry": None}, "last_clicked": {"lat": 31.1, "lng": 104.1}}
    at = _run_event(ev, "select")
    assert at.session_state["selection"] == (bid,)
    at = _run_event(ev, "select", unit="compound")
    comp = b.at[bid, "compound_id"]
    assert set(at.session_state["selection"]) == set(b.index[b["compound_id"] == comp])


def test_paint_click_and_drawn_polygon_move_buildings():
    from pyproj import Transformer

    from gridplan.demo import load_sample
    ds = load_sample()
    bid = ds.buildings.index[5]
    ev = {"last_active_drawing": {"type": "Feature", "properties": {"layer": "building", "building_id": bid},
                                  "geometry": None}, "last_clicked": {"lat": 31.1, "lng": 104.1}}
    at = _run_event(ev, "paint")
    h = at.session_state["history"]
    assert len(h) == 2 and h.current.grid_of(bid) == "5106820010019X"
    # a rectangle drawn around a few buildings (lon/lat, as leaflet.draw sends it)
    x0, y0, x1, y1 = ds.buildings.loc[[bid]].total_bounds
    tr = Transformer.from_crs(ds.crs, 4326, always_xy=True)
    (a, b_), (c_, d) = tr.transform(x0 - 60, y0 - 60), tr.transform(x1 + 60, y1 + 60)
    poly = {"type": "Feature", "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [[[a, b_], [c_, b_], [c_, d], [a, d], [a, b_]]]}}
    at = _run_event({"last_active_drawing": poly, "all_drawings": [poly], "last_clicked": None}, "paint")
    h = at.session_state["history"]
    moved = h.current.buildings_of("5106820010019X")
    assert bid in moved and len(moved) >= 1


def test_add_station_by_click_changes_coverage():
    from gridplan.demo import load_sample
    ds = load_sample()
    from pyproj import Transformer
    ev_pt = ds.buildings.geometry.iloc[len(ds.buildings) // 3].representative_point()
    lon, lat = Transformer.from_crs(ds.crs, 4326, always_xy=True).transform(ev_pt.x, ev_pt.y)
    at = _run_event({"last_active_drawing": None, "last_clicked": {"lat": lat, "lng": lon}}, "station")
    added = at.session_state["added_stations"]
    assert len(added) == 1
    x, y = added[0]
    assert abs(x - ev_pt.x) < 1 and abs(y - ev_pt.y) < 1
    assert any("已在点击处添加站点 new1" in m for _, m in at.session_state["flash"])   # the library's id


# ----------------------------------------------------------------------------- other pages
def test_versions_save_list_open_compare(tmp_path):
    at = app()
    at.switch_page("app_pages/versions.py").run(timeout=TIMEOUT)
    assert not at.exception
    version_field(at, "版本名称").input("初稿")
    version_field(at, "备注").input("note")
    button(at, "保存").click().run(timeout=TIMEOUT)
    assert any("已保存版本 1" in s.value for s in at.success)
    files = list((tmp_path / "projects").glob("*.gpkg"))
    assert len(files) == 1
    # edit, save again, compare the two versions
    at.switch_page("app_pages/map_edit.py").run(timeout=TIMEOUT)
    p = at.session_state["history"].current
    at.session_state["selection"] = tuple(p.buildings_of(p.grid_ids[0])[:2])
    at.run(timeout=TIMEOUT)
    selectbox(at, "目标网格").set_value(_new_code(at, p.buildings_of(p.grid_ids[0])[0])).run(timeout=TIMEOUT)
    button(at, "移到目标网格").click().run(timeout=TIMEOUT)
    at.switch_page("app_pages/versions.py").run(timeout=TIMEOUT)
    version_field(at, "版本名称").input("二稿")
    button(at, "保存").click().run(timeout=TIMEOUT)
    at.selectbox(key="_cmp_a").select(1).run(timeout=TIMEOUT)
    at.selectbox(key="_cmp_b").select(2).run(timeout=TIMEOUT)
    assert not at.exception
    assert any("2 栋楼换了网格" in m.value for m in at.markdown), [m.value for m in at.markdown]
    # reopen the first version: it becomes the current plan (and is undoable)
    at.selectbox(key="_open_vid").select(1).run(timeout=TIMEOUT)
    button(at, "打开").click().run(timeout=TIMEOUT)
    assert at.session_state["history"].current.same_assignment(p)


def test_export_page_prepares_downloads():
    at = app()
    at.switch_page("app_pages/export.py").run(timeout=TIMEOUT)
    assert not at.exception
    buttons = [b for b in at.button if b.label == "生成"]
    assert len(buttons) >= 2
    buttons[1].click().run(timeout=TIMEOUT)           # the building → grid table
    assert not at.exception
    ready = at.session_state["exports"]["assignment"]
    data, name, mime = ready[:3]
    assert name.endswith(".csv") and data.decode("utf-8-sig").startswith("building_id,grid_id")


def test_data_page_shows_problems_as_a_table(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point
    bad = tmp_path / "bad"
    bad.mkdir()
    gpd.GeoDataFrame({"building_id": ["a", "a"], "households": [-5, 10]},
                     geometry=[Point(104.17, 31.13), Point(104.171, 31.131)], crs=4326).to_file(
        bad / "buildings.geojson")
    at = app()
    at.switch_page("app_pages/data.py").run(timeout=TIMEOUT)
    at.radio(key="_src_kind").set_value("path").run(timeout=TIMEOUT)
    at.text_input(key="_path").input(str(bad))
    button(at, "载入").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert at.error and "个问题" in at.error[0].value
    table = at.dataframe[0].value
    assert list(table.columns) == ["级别", "图层", "要素", "问题", "修正方法"]
    assert table["图层"].str.contains("buildings").any()
    # the sample is still the loaded dataset
    assert at.session_state["source"] == {"kind": "sample"}


def test_data_page_loads_a_folder_and_escapes_user_names(tmp_path):
    from gridplan.sample import tiny_city, write_city
    layers = tiny_city()
    layers["communities"].loc[0, "name"] = "<script>alert('x')</script>社区"
    layers["compounds"].loc[0, "name"] = '<img src=x onerror="alert(1)">'
    write_city(layers, tmp_path / "city")
    at = app()
    at.switch_page("app_pages/data.py").run(timeout=TIMEOUT)
    at.radio(key="_src_kind").set_value("path").run(timeout=TIMEOUT)
    at.text_input(key="_path").input(str(tmp_path / "city"))
    button(at, "载入").click().run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["source"]["kind"] == "path"
    at.switch_page("app_pages/map_edit.py")
    ready(at)
    args = map_args(at)
    everything = "".join(str(args.get(k) or "") for k in ("script", "feature_group", "html", "header"))
    everything += json.dumps(footprints(args), ensure_ascii=False)
    assert "<script>alert" not in everything and "<img src=x" not in everything
    assert int(metric(at, "网格")) >= 2


def test_uploads_are_read_from_a_temp_folder_that_is_deleted(tmp_path):
    """Issue 16: an upload is named after its files, keyed by its content, and its files are deleted."""
    import tempfile

    from gridplan.sample import tiny_city, write_city
    write_city(tiny_city(), tmp_path / "city")
    files = {p.name: p.read_bytes() for p in (tmp_path / "city").iterdir()}
    before = set(Path(tempfile.gettempdir()).glob("gridplan-upload-*"))
    code = f"""
import streamlit as st
from app_pages import common as c
c.init_state()

class F:
    def __init__(self, name, data):
        self.name, self._d, self.size = name, data, len(data)
    def getvalue(self):
        return self._d

files = {files!r}
if "done" not in st.session_state:
    st.session_state["done"] = True
    limit = c.UPLOAD_LIMIT_MB
    c.UPLOAD_LIMIT_MB = 0.5                       # half a megabyte, for the test
    ok_bad = c.load_uploads([F("../../etc/buildings.geojson", files["buildings.geojson"]), F("x.exe", b"MZ"),
                             F("roads.geojson", b" " * 600_000)])
    c.UPLOAD_LIMIT_MB = limit
    st.session_state["bad"] = (ok_bad, len(st.session_state["load_problems"]))
    ok = c.load_uploads([F(n, d) for n, d in files.items()])
    st.session_state["ok"] = ok
"""
    at = AppTest.from_string(code, default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["bad"] == (False, 2)            # a wrong type and a file above the limit
    assert at.session_state["ok"] is True
    src = at.session_state["source"]
    assert src["kind"] == "upload" and len(src["fingerprint"]) == 16
    assert src["name"] == "buildings+communities+compounds+…"
    assert set(Path(tempfile.gettempdir()).glob("gridplan-upload-*")) == before     # nothing left on disk


def test_coverage_page_and_suggestions():
    at = app()
    at.switch_page("app_pages/coverage.py").run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    assert any("户" in m.value for m in at.markdown)
    button(at, "计算建议站址").click().run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    sug = at.session_state["suggested"]
    assert sug and sug[0]["gain_households"] > 0
    base = at.session_state["added_stations"]
    button(at, "采纳建议站址").click().run(timeout=TIMEOUT)
    assert len(at.session_state["added_stations"]) == len(base) + len(sug)
    assert any("较原有站点 +" in c.value for c in at.caption), [c.value for c in at.caption]


def test_every_export_prepares_a_real_file():
    at = app()
    at.switch_page("app_pages/export.py").run(timeout=TIMEOUT)
    magic = {"html": b"<!DOCTYPE", "data": b"SQLite format 3", "ledger": b"PK", "hierarchy": "\ufeff".encode(),
             "poster": b"%PDF"}
    for kind, head in magic.items():
        at.button(key=f"prep_{kind}").click().run(timeout=TIMEOUT)
        assert not at.exception, [e.message for e in at.exception]
        assert not at.error, [e.value for e in at.error]
        data, name, mime, _ = at.session_state["exports"][kind]
        assert data[:64].lstrip().upper().startswith(head.upper()), (kind, data[:20])
        assert len(data) > 500
    # each prepared file is offered as a download button
    assert any(d.label.startswith("下载") for d in at.get("download_button"))


def test_user_text_is_inert_in_markdown(tmp_path):
    """A dataset named like a markdown image must be shown as text, never fetched."""
    from gridplan.sample import tiny_city, write_city
    folder = tmp_path / "[x](http:__evil.example_x.png) *b*"   # GDAL cannot write to a '!' folder
    write_city(tiny_city(), folder)
    at = app()
    at.switch_page("app_pages/data.py").run(timeout=TIMEOUT)
    at.radio(key="_src_kind").set_value("path").run(timeout=TIMEOUT)
    at.text_input(key="_path").input(str(folder))
    button(at, "载入").click().run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    shown = [m.value for m in at.markdown] + [s.value for s in at.success] + [h.value for h in at.subheader]
    assert any("evil" in v for v in shown)
    for v in shown:
        assert "](http" not in v and " *b*" not in v, v


def test_entry_file_does_nothing_in_a_worker_process():
    import runpy
    ns = runpy.run_path(APP, run_name="__mp_main__")
    assert "main" in ns          # defined, not run (running it outside streamlit would warn and render)


def test_all_communities_view_and_english_map():
    at = app()
    at.selectbox(key="_focus").set_value("__all__").run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    args = map_args(at)
    n_all = len(footprints(args)["features"])
    assert n_all == len(at.session_state["history"].current)          # every building is drawn
    at.radio(key="_lang_radio").set_value("en").run(timeout=TIMEOUT)
    args = map_args(at)
    assert "Buildings" in args["feature_group"] or "Buildings" in (args["layer_control"] or "")


def test_import_an_assignment_csv():
    """The building → grid CSV the export page writes can be brought back as the current plan."""
    code = """
import io
import streamlit as st
from app_pages import callbacks as cb
from app_pages import common as c
from app_pages import plans
c.init_state()
h = plans.history(wait=True)
p = h.current
a = p.assignment.copy()
a.iloc[:3] = "IMPORTED01"
class F:
    name = "plan.csv"
    def __init__(self, data):
        self._d = data
        self.size = len(data)
    def getvalue(self):
        return self._d
if "done" not in st.session_state:
    st.session_state["done"] = True
    st.session_state["_import_csv"] = F(a.rename("grid_id").reset_index().to_csv(index=False).encode("utf-8-sig"))
    cb.cb_import_assignment()
    st.session_state["_import_csv"] = F(b"building_id,grid_id\\nnope,G1\\n")
    cb.cb_import_assignment()
"""
    at = AppTest.from_string(code, default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    h = at.session_state["history"]
    assert len(h) == 2 and len(h.current.buildings_of("IMPORTED01")) == 3
    msgs = [m for _, m in at.session_state["flash"]]
    assert any("已导入" in m for m in msgs) and any("无法使用" in m for m in msgs)


def test_data_page_applies_household_rosters_and_undoes_it():
    """Upload the sample rosters, see the summary and the rows not counted (masked), use the counts as
    the dataset (the partition follows), then 撤销 back to the sample."""
    import geopandas as gpd

    from gridplan.sample_roster import CSV_NAME, ROSTER_DIR, XLSX_NAME, generate_rosters
    sample = ROOT / "data" / "sample"
    _, truth = generate_rosters(*(gpd.read_file(sample / f"{n}.geojson") for n in ("buildings", "compounds",
                                                                                     "communities")))
    at = app()
    at.switch_page("app_pages/data.py").run(timeout=TIMEOUT)
    files = [(n, (ROSTER_DIR / n).read_bytes(), "application/octet-stream") for n in (XLSX_NAME, CSV_NAME)]
    at.file_uploader(key="_roster_files").set_value(files).run(timeout=TIMEOUT)
    button(at, "匹配台账").click().run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    m = {x.label: x.value for x in at.metric}
    assert int(m["台账行数"]) == truth["rows"]
    assert int(m["未匹配"]) == truth["unmatched"] and int(m["歧义"]) == truth["ambiguous"]
    assert int(m["重复"]) == truth["duplicate"]
    assert int(m["匹配楼栋"]) == len(truth["buildings"])
    assert int(m["台账户数"]) == int(truth["buildings"]["households"].sum())
    rows = at.dataframe[-2].value                       # the rows not counted, masked
    assert len(rows) == truth["unmatched"] + truth["ambiguous"] + truth["duplicate"]
    assert rows["姓名（脱敏）"].str.fullmatch(r".{1,2}\*").all()
    assert rows["身份证号（脱敏）"].str.fullmatch(r"\d{6}\*{8}[\dX]{4}").all()
    button(at, "把台账户数用作当前数据").click().run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    src = at.session_state["source"]
    assert src["kind"] == "upload" and at.session_state["roster_prev_source"] == {"kind": "sample"}
    from app_pages import common
    applied = common._uploads()[src["fingerprint"]].buildings   # kept in memory, no files left behind
    tb = truth["buildings"]
    assert (applied.loc[tb.index, "households"].to_numpy() == tb["households"].to_numpy()).all()
    assert (applied.loc[tb.index, "count_source"] == "roster").all()
    assert any("已按台账更新" in s.value for s in at.success)
    button(at, "撤销（恢复原数据）").click().run(timeout=TIMEOUT)
    assert not at.exception
    assert at.session_state["source"] == {"kind": "sample"}
    assert not any(b.label == "撤销（恢复原数据）" for b in at.button)


def test_background_worker_gives_the_plan_the_library_gives():
    # the first partition runs in a separate process with the engine's defaults: same seed, same
    # plan as a notebook or the command line (the search is budgeted in work units, not seconds)
    from _toy import toy_dataset

    from app_pages._worker import partition_job
    from gridplan.engine import partition
    from gridplan.model import Rule

    ds = toy_dataset()
    rule = Rule(mode="households", min_households=100, max_households=250)
    assignment, _, _ = partition_job(ds, tuple(rule.as_dict().values()), 3, 2)
    direct = partition(ds, rule=rule, seed=3, code_width=2)
    assert assignment.sort_index().equals(direct.assignment.sort_index())


def test_a_draft_is_written_a_moment_after_the_edit_once_and_at_once_when_read(tmp_path):
    """The draft waits DRAFT_DELAY_S (the edit's rerun goes first); quick edits are written once, the
    newest; a visit reading drafts (or a save clearing them) writes a waiting one at once."""
    import threading

    from _toy import toy_dataset

    from app_pages import projects
    from gridplan.engine import partition
    from gridplan.io import read_plan_json
    ds = toy_dataset()
    p1 = partition(ds)
    p2 = p1.move(p1.buildings_of(p1.grid_ids[0])[:1], p1.grid_ids[1])
    path = tmp_path / "city.draft.json"
    threads = []
    for plan in (p1, p2):                     # two edits in a row
        with projects._PENDING_LOCK:
            projects._PENDING[path] = (plan, "fp")
        threads.append(threading.Thread(target=projects._write_later, args=(path,)))
        threads[-1].start()
    assert not path.exists()                 # not during the edit's rerun
    for th in threads:
        th.join(10)
    d, meta = read_plan_json(path)
    assert d.same_assignment(p2) and meta["dataset"] == "fp"
    with projects._PENDING_LOCK:
        projects._PENDING[path] = (p1, "fp")
    projects.write_pending_drafts(path)       # asked for: written now
    assert read_plan_json(path)[0].same_assignment(p1) and path not in projects._PENDING


def test_the_partition_worker_ends_with_the_server(tmp_path):
    """A server killed outright (no shutdown of its pool) must not leave its partition worker
    process running: the worker watches its parent and ends."""
    import os
    import signal
    import subprocess
    import sys

    def running(pid: int) -> bool:           # an ended process not reaped yet (a zombie) is not running
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (FileNotFoundError, ProcessLookupError):
            return False

    script = tmp_path / "server.py"
    script.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from app_pages._worker import PartitionJobs\n"
        "if __name__ == '__main__':\n"
        "    jobs = PartitionJobs()\n"
        "    jobs.warm()\n"
        "    pids = jobs._pool._processes\n"
        "    while not pids: time.sleep(0.05)\n"
        "    print(list(pids)[0], flush=True)\n"
        "    time.sleep(600)\n", encoding="utf-8")
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(server.stdout.readline())
        assert running(worker)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if not running(worker):
                break
            time.sleep(0.2)
        else:
            os.kill(worker, signal.SIGKILL)
            raise AssertionError(f"the partition worker {worker} outlived its server")
    finally:
        if server.poll() is None:
            server.kill()


# ----------------------------------------------------------------------------- issue 16: the planner's day
def test_coverage_headline_names_its_band_and_formats_numbers():
    at = app()
    assert any(m.label == "15分钟覆盖户数" for m in at.metric)
    at.switch_page("app_pages/coverage.py").run(timeout=TIMEOUT)
    at.text_input(key="_cov_minutes").input("5，10，15，20").run(timeout=TIMEOUT)
    assert at.session_state["cov_minutes"] == (5.0, 10.0, 15.0, 20.0)
    summary = next(m.value for m in at.markdown if "户（" in m.value)
    assert re.search(r"（\d+\.\d%）", summary), summary                     # one decimal, not four
    at.switch_page("app_pages/map_edit.py").run(timeout=TIMEOUT)
    labels = [m.label for m in at.metric]
    assert "20分钟覆盖户数" in labels and "15分钟覆盖户数" not in labels       # the figure is the 20-minute one
    value = int(metric(at, "20分钟覆盖户数").replace(",", ""))
    from gridplan.demo import load_sample
    from gridplan.reach import Coverage
    assert value == Coverage(load_sample(), minutes=(5, 10, 15, 20)).result().covered_households
    assert re.fullmatch(r"\d+\.\d%", metric(at, "覆盖率"))


def test_a_bad_minutes_entry_says_what_to_write_in_the_chosen_language():
    at = app()
    at.switch_page("app_pages/coverage.py").run(timeout=TIMEOUT)
    at.text_input(key="_cov_minutes").input("5,十").run(timeout=TIMEOUT)
    err = " ".join(e.value for e in at.error)
    assert "5,10,15" in err and "分钟" in err and "minutes" not in err
    assert at.session_state["cov_minutes"] == (5.0, 10.0, 15.0)            # the old bands stay


def test_moving_into_the_own_grid_adds_no_step():
    at = app()
    p = at.session_state["history"].current
    bid = p.assignment.index[0]
    at.session_state["selection"] = (bid,)
    at.session_state["target"] = p.grid_of(bid)
    at.run(timeout=TIMEOUT)
    button(at, "移到目标网格").click().run(timeout=TIMEOUT)
    assert len(at.session_state["history"]) == 1
    assert any("方案未改变" in i.value for i in at.info) and not any("已将" in s.value for s in at.success)


def test_history_and_versions_speak_chinese_with_local_times():
    at = app()
    p = at.session_state["history"].current
    at.session_state["selection"] = (p.assignment.index[0],)
    at.run(timeout=TIMEOUT)
    selectbox(at, "目标网格").set_value(_new_code(at, p.assignment.index[0])).run(timeout=TIMEOUT)
    button(at, "移到目标网格").click().run(timeout=TIMEOUT)
    captions = [x.value for x in at.caption]
    assert any("网格划分（随机种子 0）" in x for x in captions), captions
    assert any("移动楼栋" in x for x in captions) and not any("partition (seed" in x for x in captions)
    at.switch_page("app_pages/versions.py").run(timeout=TIMEOUT)
    version_field(at, "版本名称").input("初稿")
    button(at, "保存").click().run(timeout=TIMEOUT)
    table = at.dataframe[0].value
    assert "保存时间" in table.columns and "(UTC)" not in " ".join(table.columns)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", str(table["保存时间"].iloc[0]))
    assert table["来源操作"].iloc[0].startswith("移动楼栋")


def test_english_interface_has_no_chinese_outside_data_names():
    at = app()
    at.radio(key="_lang_radio").set_value("en").run(timeout=TIMEOUT)
    cjk = re.compile(r"[\u4e00-\u9fff]")
    texts = [x.value for x in at.caption] + [m.label for m in at.metric] + [b.label for b in at.button]
    bad = [x for x in texts if cjk.search(x) and "Language" not in x]
    assert not bad, bad
    assert any(re.search(r"partition \\?\(seed 0", x) for x in texts), texts


def test_the_data_page_keeps_the_chosen_source():
    at = app()
    at.switch_page("app_pages/data.py").run(timeout=TIMEOUT)
    at.radio(key="_src_kind").set_value("path").run(timeout=TIMEOUT)
    at.switch_page("app_pages/map_edit.py").run(timeout=TIMEOUT)
    at.switch_page("app_pages/data.py").run(timeout=TIMEOUT)
    assert at.radio(key="_src_kind").value == "path"
    assert at.text_input(key="_path") is not None


def test_validation_fixes_are_in_chinese(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point
    bad = tmp_path / "bad"
    bad.mkdir()
    gpd.GeoDataFrame({"building_id": ["a", "a"], "households": ["x", 10]},
                     geometry=[Point(104.17, 31.13), Point(104.171, 31.131)], crs=4326).to_file(bad / "buildings.geojson")
    at = app()
    at.switch_page("app_pages/data.py").run(timeout=TIMEOUT)
    at.radio(key="_src_kind").set_value("path").run(timeout=TIMEOUT)
    at.text_input(key="_path").input(str(bad))
    button(at, "载入").click().run(timeout=TIMEOUT)
    fixes = at.dataframe[0].value["修正方法"].tolist()
    cjk = re.compile(r"[\u4e00-\u9fff]")
    assert fixes and all(cjk.search(f) for f in fixes), fixes


def test_an_edit_leaves_a_draft_the_next_visit_offers(tmp_path):
    at = app()
    p = at.session_state["history"].current
    bid = p.assignment.index[0]
    at.session_state["selection"] = (bid,)
    at.run(timeout=TIMEOUT)
    selectbox(at, "目标网格").set_value(_new_code(at, bid)).run(timeout=TIMEOUT)
    button(at, "移到目标网格").click().run(timeout=TIMEOUT)
    deadline = time.monotonic() + 20                     # the draft is written beside the edit (a thread)
    while not list((tmp_path / "projects").glob("*.draft.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    drafts = list((tmp_path / "projects").glob("*.draft.json"))
    assert len(drafts) == 1
    assert any("未保存的修改" in x.value for x in at.caption)
    edited = at.session_state["history"].current
    again = app()                                          # a new session (a reload)
    assert len(again.session_state["history"]) == 1
    assert any("发现未保存的修改" in i.value for i in again.info)
    button(again, "恢复草稿").click().run(timeout=TIMEOUT)
    assert again.session_state["history"].current.same_assignment(edited)
    assert len(again.session_state["history"]) == 2           # undoable
    # saving a version clears the draft
    again.switch_page("app_pages/versions.py").run(timeout=TIMEOUT)
    version_field(again, "版本名称").input("草稿转正")
    button(again, "保存").click().run(timeout=TIMEOUT)
    assert not list((tmp_path / "projects").glob("*.draft.json"))


def test_exports_take_the_what_if_stations():
    """Issue 16, defect 3: the HTML map, the poster and the ledger get the stations the planner sees."""
    import openpyxl

    from app_pages import exports
    from gridplan.demo import load_sample
    from gridplan.engine import partition
    from gridplan.reach import Coverage
    ds = load_sample()
    plan = partition(ds, seed=0)
    off = str(ds.stations[ds.stations["kind"] == "red_station"].index[0])
    x, y = ds.buildings.geometry.iloc[100].representative_point().coords[0]
    cov = Coverage(ds).with_active([s for s in ds.stations.index if s != off]).with_stations([(x, y)])
    res = cov.result()
    shown = res.stations[res.stations["active"].astype(bool)]
    html, _, _ = exports.build("html", ds, plan, coverage=res, stations=shown)
    ids = set(re.findall(r'"layer": "station", "station_id": "([^"]+)"', html.decode()))
    assert "new1" in ids and off not in ids
    data, _, _ = exports.build("ledger", ds, plan, "xlsx", coverage=res, stations=shown)
    import io
    ws = openpyxl.load_workbook(io.BytesIO(data))["网格台账"]
    head = [cell.value for cell in ws[1]]
    col = head.index("15分钟服务圈覆盖户数")
    total = sum(row[col] or 0 for row in ws.iter_rows(min_row=2, max_row=ws.max_row - 1, values_only=True))
    assert total == res.covered_households
    seen = {}
    import gridplan.poster as poster
    real = poster.render_poster

    def spy(*a, **kw):
        seen.update(kw)
        return real(*a, **kw)
    poster.render_poster = spy
    try:
        exports.build("poster", ds, plan, "A3", "landscape", "png", coverage=res, stations=shown)
    finally:
        poster.render_poster = real
    assert seen["stations"] is shown and seen["coverage"] is res


def test_chrome_and_config():
    import tomllib
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["client"]["toolbarMode"] in ("minimal", "viewer")             # no Deploy button, no dev menu
    from app_pages import mapview
    assert mapview._fast_path() is not None, "streamlit-folium changed: the map would render its base every rerun"


def test_reruns_do_not_grow_the_cached_map():
    """The base map is cached for every session; the plan's layers rendered against it on each rerun
    must not stay attached to it (memory would grow with every edit)."""
    import gc

    import folium
    at = app()
    at.run(timeout=TIMEOUT)
    maps = [o for o in gc.get_objects() if isinstance(o, folium.Map) and getattr(o, "_gridplan_inline", None) is False]

    def sizes():
        return {id(m): (len(m._children), len(m.get_root().script._children), len(m.get_root().header._children))
                for m in maps}
    assert maps
    before = sizes()
    for k in range(3):
        at.session_state["selection"] = (at.session_state["history"].current.assignment.index[k],)
        at.run(timeout=TIMEOUT)
    assert sizes() == before


def test_the_map_still_works_through_st_folium():
    """Without the streamlit-folium internals the fast path uses, the map goes through st_folium."""
    code = """
import runpy
from app_pages import mapview
mapview._fast_path = lambda: None
runpy.run_path("app_main.py", run_name="__main__")
"""
    from app_pages import mapview
    fast_path = mapview._fast_path      # the page patches the module every later test shares: put it back
    path = ROOT / "_fallback_app.py"
    path.write_text(code, encoding="utf-8")
    try:
        at = AppTest.from_file(str(path), default_timeout=TIMEOUT)
        ready(at)
        args = map_args(at)
        assert '"layer": "building"' in args["script"] and "window.__gp = s" in args["feature_group"]
    finally:
        path.unlink()
        mapview._fast_path = fast_path
        mapview._base.clear()           # bases cached without the fast path's script


# ---- issue 15: the party chain
CHAIN = "app_pages/chain.py"


def _chain_page():
    at = app()
    at.switch_page(CHAIN).run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    return at


def _table(at: AppTest, *columns: str):
    """The page's dataframe that has these (localised) columns."""
    return next(d.value for d in at.dataframe if set(columns) <= set(d.value.columns))


def _sample_staff_gap(at: AppTest):
    """The sample's staff list (checked by the library), its one grid without a 网格长 in the page's
    plan, and a full-time worker of another grid to put there."""
    from gridplan.demo import SAMPLE_DIR, load_sample
    from gridplan.staff import read_staff
    lib = read_staff(SAMPLE_DIR / "staff.csv", dataset=load_sample())
    gap = lib.check(at.session_state["history"].current).query("code == 'no_leader'")["grid_id"].tolist()
    t = lib.table
    who = t[(t["role"] == "full_time") & t["grid_id"].notna() & ~t["grid_id"].isin(gap)].iloc[0]
    return lib, gap, who


def _assign_leader(at: AppTest, person_id: str, grid: str) -> None:
    """Pick a person, a grid and the role 网格长 on the chain page, then 分配到网格."""
    at.selectbox(key="_pc_person").set_value(person_id).run(timeout=TIMEOUT)
    at.selectbox(key="_pc_grid").set_value(grid)
    at.selectbox(key="_pc_role").set_value("leader")
    button(at, "分配到网格").click().run(timeout=TIMEOUT)


def test_chain_page_assigns_reassigns_and_removes_grid_staff():
    at = _chain_page()
    p = at.session_state["history"].current
    lib, gap, who = _sample_staff_gap(at)                        # the sample's list, checked by the library
    assert len(gap) == 1 and metric(at, "无网格长的网格") == "1"
    grid = gap[0]
    staff = _table(at, "网格编码", "网格长", "网格长电话")
    assert staff.set_index("网格编码").at[grid, "网格长"] in ("", None)
    # phones are masked on screen …
    assert staff["网格长电话"].str.contains(r"^\d{3}\*{4}\d{4}$").sum() > 100
    assert not staff["网格长电话"].str.contains(r"^\d{11}$").any()
    # … pick a full-time worker of another grid, the empty grid and the role 网格长, then assign
    _assign_leader(at, who["person_id"], grid)
    assert not at.exception, [e.message for e in at.exception]
    assert _table(at, "网格编码", "网格长").set_index("网格编码").at[grid, "网格长"] == who["name"]
    assert metric(at, "无网格长的网格") == "0"
    # reassign the new duty to a grid that has a leader: the grid is empty again, the other has two
    other = next(g for g in p.grid_ids if g not in (grid, who["grid_id"]))
    at.selectbox(key="_pc_from").set_value(grid)
    at.selectbox(key="_pc_grid").set_value(other)
    button(at, "改派到所选网格").click().run(timeout=TIMEOUT)
    gs = _table(at, "网格编码", "网格长").set_index("网格编码")
    assert gs.at[grid, "网格长"] in ("", None) and who["name"] in gs.at[other, "网格长"]
    assert metric(at, "无网格长的网格") == "1" and metric(at, "网格长多于一名") == "1"
    # remove the person from both grids: they stay on the list, without a grid
    for g in (other, who["grid_id"]):
        at.selectbox(key="_pc_from").set_value(g)
        button(at, "移出现任网格").click().run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    assert who["name"] in _table(at, "名称", "职务", "原网格")["名称"].tolist()
    assert metric(at, "未分配网格的人员") == "3"
    # the explicit toggle shows full numbers
    at.toggle(key="_pc_show_phones").set_value(True).run(timeout=TIMEOUT)
    assert _table(at, "网格编码", "网格长电话")["网格长电话"].str.contains(r"^\d{11}$").sum() > 100


def test_chain_page_staff_follow_an_edit_and_name_the_leader_on_the_map():
    at = _chain_page()
    p = at.session_state["history"].current
    from gridplan import edit as ed
    from gridplan.demo import load_sample
    ds = load_sample()
    gs = _table(at, "网格编码", "网格长").set_index("网格编码")
    in_view = ed.grids_of_community(ds, p, at.session_state["focus"])
    grid = next(g for g in in_view if gs.at[g, "网格长"])
    leader = gs.at[grid, "网格长"]
    fg = map_args(at)["feature_group"]
    assert leader in fg or json.dumps(leader).strip('"') in fg        # grid tooltips name the 网格长
    # merge the grid into a neighbour of its community on the map page: its staff follow the buildings
    keep = next(g for g in ed.grids_of_community(ds, p, ed.community_of_grid(ds, p, grid)) if g != grid)
    at.switch_page("app_pages/map_edit.py").run(timeout=TIMEOUT)
    at.session_state["selected_grid"] = keep
    at.run(timeout=TIMEOUT)
    at.selectbox(key="_merge_absorb").set_value(grid).run(timeout=TIMEOUT)
    button(at, f"合并网格 → {keep}").click().run(timeout=TIMEOUT)
    assert grid not in at.session_state["history"].current.grid_ids
    at.switch_page(CHAIN).run(timeout=TIMEOUT)
    after = _table(at, "网格编码", "网格长").set_index("网格编码")
    assert grid not in after.index and leader in after.at[keep, "网格长"]
    assert metric(at, "网格长多于一名") == "1"


def test_chain_page_adopting_a_suggested_grid_station_changes_coverage():
    from gridplan.demo import load_sample
    from gridplan.gridstations import grid_station_coverage
    from gridplan.reach import Coverage
    at = _chain_page()
    ds = load_sample()
    missing0 = int(metric(at, "没有郁心站的网格").split("/")[0])
    cov0 = int(metric(at, "郁心站5分钟覆盖户数").replace(",", ""))
    sug = _table(at, "网格编码", "楼栋编码", "户均步行距离 m")
    assert len(sug) == missing0
    grid = sug.sort_values("户数").iloc[-1]["网格编码"]
    bid = sug.set_index("网格编码").at[grid, "楼栋编码"]
    at.selectbox(key="_pc_gs_grid").set_value(grid)
    button(at, "采纳为郁心站").click().run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    added = at.session_state["added_stations"]
    assert len(added) == 1 and added[0][2] == "grid_station"
    # the grid now has its 郁心站 and drops out of the list; the short-walk coverage grows
    assert int(metric(at, "没有郁心站的网格").split("/")[0]) == missing0 - 1
    assert grid not in _table(at, "网格编码", "楼栋编码", "户均步行距离 m")["网格编码"].tolist()
    cov1 = int(metric(at, "郁心站5分钟覆盖户数").replace(",", ""))
    pt = ds.buildings.geometry.loc[bid].representative_point()
    lib = Coverage(ds, minutes=(5, 10, 15)).with_stations([pt], kind="grid_station").result()
    assert cov1 == grid_station_coverage(lib, 5)["covered_households"] > cov0
    # it is a what-if station like the others: the library named it, the coverage page lists it
    at.switch_page("app_pages/coverage.py").run(timeout=TIMEOUT)
    assert any("new1" in m.value for m in at.markdown)


def test_chain_page_weekday_switch_changes_the_households_reached():
    from gridplan.demo import SAMPLE_DIR, load_sample
    from gridplan.mobile import mobile_coverage, read_schedule
    ds = load_sample()
    lib = mobile_coverage(ds, schedule=read_schedule(SAMPLE_DIR / "mobile_schedule.csv", stations=ds.stations))
    want = lib.by_weekday["households"]
    at = _chain_page()
    seen = {}
    for day, name in ((2, "周二"), (6, "周六")):
        at.radio(key="_pc_weekday").set_value(day).run(timeout=TIMEOUT)
        assert not at.exception, [e.message for e in at.exception]
        seen[day] = int(metric(at, f"{name}5分钟覆盖户数").replace(",", ""))
        assert seen[day] == int(want.loc[day])
        stops = set(lib.schedule.loc[lib.schedule["weekday"] == day, "station_id"])
        fg = map_args(at)["feature_group"]
        assert all(f'"station_id": "{s}"' in fg for s in stops)          # that day's stops are on the map
        others = set(lib.schedule["station_id"]) - stops
        assert not any(f'"station_id": "{s}"' in fg for s in others)      # the others are not
    assert seen[2] != seen[6]
    week = _table(at, "星期", "出勤站点", "户数")
    assert week["户数"].tolist() == want.tolist()


def test_chain_tree_counts_equal_the_library_and_a_node_focuses_the_map():
    from gridplan.chain import party_chain
    from gridplan.demo import load_sample
    at = _chain_page()
    ds, p = load_sample(), at.session_state["history"].current
    ch = party_chain(ds, p)
    levels = _table(at, "层级", "数量", "已建组织")
    assert levels["数量"].tolist() == [int((ch["level"] == k).sum()) for k in range(1, 6)]
    assert levels["已建组织"].tolist() == [int(ch.loc[ch["level"] == k, "has_org"].sum()) for k in range(1, 6)]
    top = ch[ch["level"] == 1]
    assert f"{int(top['households'].sum()):,} 户" in " ".join(x.value for x in at.caption)
    assert int(top["households"].sum()) == int(ds.buildings["households"].sum())
    for _, row in top.iterrows():
        assert any(b.label == f"{row['name']} · {int(row['households'])}户" for b in at.button)
    # down to a community: its compounds are listed with their counts, the map goes there
    street = top.iloc[0]
    next(b for b in at.button if b.label.startswith(street["name"] + " ·")).click().run(timeout=TIMEOUT)
    comm = ch[(ch["level"] == 2) & (ch["parent"] == street["id"])].iloc[0]
    next(b for b in at.button if b.label.startswith(comm["name"] + " ·")).click().run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["pc_node"] == comm["id"] and at.session_state["focus"] == comm["id"]
    kids = ch[ch["parent"] == comm["id"]]
    shown = _table(at, "名称", "党组织", "户数")
    assert len(shown) == len(kids) and shown["户数"].sum() == comm["households"]
    lat, lon = at.session_state["map_center"]
    (s, w), (n, e) = __import__("gridplan.edit", fromlist=["view_bounds"]).view_bounds(
        ds.buildings[ds.buildings["community_id"] == comm["id"]])
    assert s <= lat <= n and w <= lon <= e and at.session_state["map_zoom"] >= 14
    # the node's buildings are outlined on the map (the plan state carries the selection)
    args = map_args(at)
    assert args["center"] == [lat, lon] and args["zoom"] == at.session_state["map_zoom"]


def test_chain_page_sanwu_chart_matches_the_library():
    import pyarrow as pa

    from gridplan.demo import load_sample
    from gridplan.sanwu import progress_timeline, sanwu_progress, timeline_labels
    at = _chain_page()
    ds = load_sample()
    since = ds.compound_status["date"].min()
    pr = sanwu_progress(ds, since)
    a = pr.attrs
    assert metric(at, f"{a['since']} 时的三无小区") == str(a["sanwu_since"])
    assert (metric(at, "已成为三有"), metric(at, "仍为三无"), metric(at, "其中红色物业")) == tuple(
        str(a[k]) for k in ("became_sanyou", "remain", "red_property"))
    chart = (at.get("arrow_vega_lite_chart") + at.get("vega_lite_chart"))[0].proto
    data = pa.ipc.open_stream(chart.datasets[0].data.data).read_all().to_pandas()
    wide = data.pivot(index="月份", columns="color -- streamlit-generated", values="value -- streamlit-generated")
    tl = progress_timeline(ds, since)
    assert wide.index.tolist() == timeline_labels(tl.index)     # one bar per point, today's too
    for k, zh in (("sanwu", "三无"), ("partial", "部分具备"), ("sanyou", "三有")):
        assert wide[zh].astype(int).tolist() == tl[k].tolist()
    remain, red = [d.value for d in at.dataframe if {"小区编码", "现状", "红色物业"} <= set(d.value.columns)]
    assert len(remain) == a["remain"] and set(remain["现状"]) == {"三无"}
    assert len(red) == a["red_property"] and red["红色物业"].all()
    # a later start date: a smaller cohort, the chart starts there
    at.date_input(key="_pc_since").set_value(__import__("datetime").date(2025, 1, 1)).run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    assert metric(at, "2025-01-01 时的三无小区") == str(sanwu_progress(ds, "2025-01-01").attrs["sanwu_since"])


def test_chain_page_on_a_folder_with_hostile_names_and_its_own_staff_list(tmp_path):
    """A dataset folder with its own staff.csv: names from it and from the layers are shown as text
    (button labels escaped, map tooltips HTML-escaped); what the folder lacks is said, not a crash."""
    from gridplan.engine import partition
    from gridplan.io import read_dataset
    from gridplan.sample import tiny_city, write_city
    layers = tiny_city()
    layers["communities"].loc[0, "name"] = "[x](http://evil.example/x.png) *b*社区"
    layers["compounds"].loc[0, "name"] = '<img src=x onerror="alert(1)">'
    folder = tmp_path / "city"
    write_city(layers, folder)
    ds = read_dataset(folder)
    grid = partition(ds, seed=0).grid_ids[0]
    (folder / "staff.csv").write_text("姓名,电话,职务,网格\n"
                                      f"\"<img src=y onerror=alert(2)>\",13812345678,网格长,{grid}\n", encoding="utf-8")
    at = app()
    at.switch_page("app_pages/data.py").run(timeout=TIMEOUT)
    at.radio(key="_src_kind").set_value("path").run(timeout=TIMEOUT)
    at.text_input(key="_path").input(str(folder))
    button(at, "载入").click().run(timeout=TIMEOUT)
    at.switch_page(CHAIN)
    ready(at)
    at.switch_page(CHAIN).run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    gs = _table(at, "网格编码", "网格长", "网格长电话").set_index("网格编码")
    assert gs.at[grid, "网格长"] == "<img src=y onerror=alert(2)>" and gs.at[grid, "网格长电话"] == "138****5678"
    labels = [b.label for b in at.button] + [m.value for m in at.markdown] + [x.value for x in at.caption]
    for v in labels:
        assert "](http" not in v and "<img" not in v, v
    # down to the hostile community: its button label is escaped markdown
    street = next(b for b in at.button if b.label.endswith("户") and " · " in b.label)
    street.click().run(timeout=TIMEOUT)
    comm = next(b for b in at.button if "evil" in b.label)
    assert "\\[x\\]\\(http" in comm.label
    comm.click().run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    fg = map_args(at)["feature_group"]
    assert "<img src=y" not in fg and "13812345678" not in fg
    assert "pc_node" in at.session_state and at.session_state["pc_node"]


def test_the_chain_page_map_does_not_edit_on_a_click():
    """The chain page draws the map with ``editable=False``: a paint click there (the map component's
    ``event``) moves nothing; the same handler on the map page does."""
    from gridplan.demo import load_sample
    ds = load_sample()
    bid = str(ds.buildings.index[0])
    ev = {"last_active_drawing": {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]},
                                  "properties": {"layer": "building", "building_id": bid}}, "last_clicked": None}
    code = f"""
import json as _json
import streamlit as st
from app_pages import common as c
from app_pages import mapview, plans
c.init_state()
h = plans.history(wait=True)
st.session_state["tool"], st.session_state["unit"] = "paint", "building"
st.session_state["target"] = [g for g in h.current.grid_ids if g != h.current.assignment[{bid!r}]][0]
st.session_state["map_leaflet"] = {{"event": _json.loads({json.dumps(ev)!r})}}     # the component's trigger
if "done" not in st.session_state:
    st.session_state["done"] = True
    mapview._on_map("map", False, "map_leaflet")()
    st.session_state["steps_chain"] = len(st.session_state["history"])
    mapview._on_map("map", True, "map_leaflet")()
    st.session_state["steps_map"] = len(st.session_state["history"])
"""
    at = AppTest.from_string(code, default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["steps_chain"] == 1 and at.session_state["steps_map"] == 2


def test_the_ledger_shows_the_chain_pages_staff_and_mobile_stops():
    """Issue 15: the ledger exported from the app carries the staff as assigned on the chain page
    (phones masked) and the 流动郁心站 sheet, like the command line's ledger."""
    import io

    from openpyxl import load_workbook

    at = _chain_page()
    _, gap, who = _sample_staff_gap(at)
    grid = gap[0]
    _assign_leader(at, who["person_id"], grid)
    at.switch_page("app_pages/export.py").run(timeout=TIMEOUT)
    at.button(key="prep_ledger").click().run(timeout=TIMEOUT)
    assert not at.exception and not at.error, [e.value for e in at.error]
    data = at.session_state["exports"]["ledger"][0]
    wb = load_workbook(io.BytesIO(data), read_only=True)
    assert {"网格员", "流动郁心站"} <= set(wb.sheetnames), wb.sheetnames
    rows = list(wb["网格员"].values)
    body = pd.DataFrame(rows[1:], columns=rows[0])
    assert who["name"] in body.loc[body["网格编码"] == grid, "姓名"].tolist()   # the assignment made on the page
    phones = body["电话"].dropna().astype(str)
    assert len(phones) > 100 and phones.str.fullmatch(r"\d{3}\*{4}\d{4}").all(), phones.head().tolist()


# ----------------------------------------------------------------------------- issue 12: sign-in, scopes, conflicts
C1, C2 = "510682001001", "510682001002"       # 学院社区, 柳荫社区 (方亭街道)


def _signin_store(path, users):
    """A plan store bound to the sample (version 1: one grid per community) with ``users``
    ``(name, role, scope)``; each password is ``pw-<name>-123``."""
    from gridplan.demo import load_sample
    from gridplan.model import Plan
    from gridplan.store import open_store
    ds = load_sample()
    plan = Plan(ds.buildings["community_id"].astype(str) + "01", label="base")
    store = open_store(path, create=True)
    store.save(plan, name="底图", user="setup", dataset=ds)
    for name, role, scope in users:
        store.add_user(name, f"pw-{name}-123", role=role, scope=scope)
    return ds, store


@pytest.fixture()
def signin_store(tmp_path, monkeypatch):
    path = tmp_path / "office.gpkg"
    ds, store = _signin_store(path, [("admin1", "admin", []), ("wang", "planner", [C1]), ("li", "planner", [C1, C2]),
                                     ("zhao", "viewer", [])])
    monkeypatch.setenv("GRIDPLAN_STORE", str(path))
    return ds, store


def _sign_in(at: AppTest, user: str, password: str) -> AppTest:
    at.text_input(key="_auth_user").input(user)
    at.text_input(key="_auth_password").input(password)
    button(at, "登录").click().run(timeout=TIMEOUT)
    return at


def signed_in(user: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    _sign_in(at, user, f"pw-{user}-123")
    assert at.session_state["auth"]["user"] == user
    return ready(at)


def _move(at: AppTest, ids, community: str) -> None:
    """Select ``ids`` and move them to a new grid of their community (the 移到目标网格 button)."""
    from gridplan import edit as ed
    from gridplan.demo import load_sample
    at.switch_page("app_pages/map_edit.py")
    at.session_state["selection"] = tuple(ids)
    at.run(timeout=TIMEOUT)
    p = at.session_state["history"].current
    selectbox(at, "目标网格").set_value(ed.new_grid_id(load_sample(), p, community)).run(timeout=TIMEOUT)
    button(at, "移到目标网格").click().run(timeout=TIMEOUT)


def _save(at: AppTest, name: str) -> None:
    at.switch_page("app_pages/versions.py").run(timeout=TIMEOUT)
    version_field(at, "版本名称").input(name)
    button(at, "保存").click().run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]


def test_signin_single_user_note_without_users():
    at = app()
    assert any("单用户模式：未配置用户" in x.value for x in at.sidebar.caption)
    assert "auth" not in at.session_state or at.session_state["auth"] is None


def test_signin_refused_on_a_public_address_without_users():
    from streamlit import config
    old = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT).run(timeout=TIMEOUT)
    finally:
        config.set_option("server.address", old)
    assert any("gridplan store user add" in e.value and "--role admin" in e.value for e in at.error)
    assert not at.metric and not at.get("bidi_component") and not at.get("component_instance")  # no page ran


def test_signin_required_and_a_wrong_password_says_nothing_more(signin_store):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run(timeout=TIMEOUT)
    assert not at.exception
    assert [t.label for t in at.text_input] == ["用户名", "密码"]
    assert not at.metric and not at.get("bidi_component") and not at.get("component_instance")
    for user, pw in (("wang", "wrong-password"), ("nobody", "pw-wang-123")):
        _sign_in(at, user, pw)
        msgs = [e.value for e in at.error]
        assert msgs == ["用户名或密码不正确。"], msgs             # the same for a wrong user and a wrong password
        assert at.session_state["auth"] is None and not at.metric
    everything = json.dumps([str(x) for x in at.main] + [str(x) for x in at.sidebar], ensure_ascii=False)
    assert "wrong-password" not in everything and "pw-wang-123" not in everything
    # English interface on the sign-in page too
    at.radio(key="_lang_radio").set_value("en").run(timeout=TIMEOUT)
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    at.radio(key="_lang_radio").set_value("zh").run(timeout=TIMEOUT)
    _sign_in(at, "wang", "pw-wang-123")
    at = ready(at)
    side = " ".join(m.value for m in at.sidebar.markdown)
    assert "wang" in side and "规划员" in side
    # signed in, the session starts from the newest version of the shared store
    assert at.session_state["history"].current.same_assignment(signin_store[1].load(1))
    button(at, "退出登录").click().run(timeout=TIMEOUT)
    assert at.session_state["auth"] is None and [t.label for t in at.text_input] == ["用户名", "密码"]


def test_signin_planner_edits_only_their_scope_and_saves(signin_store, tmp_path):
    ds, store = signin_store
    at = signed_in("wang")
    p0 = at.session_state["history"].current
    outside = ds.buildings.index[ds.buildings["community_id"] == C2][:2]
    _move(at, outside, C2)
    assert any("超出负责范围" in e.value and "柳荫社区" in e.value for e in at.error), [e.value for e in at.error]
    assert at.session_state["history"].current.same_assignment(p0)
    inside = ds.buildings.index[ds.buildings["community_id"] == C1][:2]
    _move(at, inside, C1)
    assert not at.session_state["history"].current.same_assignment(p0)
    # the draft is the user's own
    deadline = time.monotonic() + 20
    while not list((tmp_path / "projects").glob("*.draft.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    drafts = [f.name for f in (tmp_path / "projects").glob("*.draft.json")]
    assert len(drafts) == 1 and ".u-wang-" in drafts[0], drafts
    _save(at, "学院社区 <b>调整</b>")
    assert any("已保存版本 2" in s.value for s in at.success), [s.value for s in at.success]
    v = store.list()
    assert list(v.index) == [1, 2] and v.at[2, "user"] == "wang" and v.at[2, "communities_changed"] == [C1]
    # the audit trail of that version: the changed grids with households before and after
    trail = next(d.value for d in at.dataframe if "原户数" in d.value.columns)
    expected = store.audit(2)
    assert len(trail) == len(expected) > 0
    assert trail["原户数"].sum() == expected["households_before"].sum() > 0
    assert sorted(trail["网格编码"]) == sorted(expected["grid_id"])
    assert any(d.label.startswith("下载留痕") for d in at.get("download_button"))
    # another planner's session does not restore wang's draft
    other = signed_in("li")
    assert not any("发现未保存的修改" in i.value for i in other.info)


def test_signin_viewer_is_read_only_and_sees_no_building_counts(signin_store):
    at = signed_in("zhao")
    assert not any(b.label == "移到目标网格" for b in at.button)
    assert not any(b.label in ("撤销", "重做") for b in at.button)
    assert any("只读" in i.value for i in at.info)
    tips = [f["properties"]["t"] for f in footprints(map_args(at))["features"][:50]]
    assert all(len(t) == 2 for t in tips), tips[:3]             # title and compound: no households, no persons
    at.switch_page("app_pages/versions.py").run(timeout=TIMEOUT)
    assert not any(b.label == "保存" for b in at.button)
    at.switch_page("app_pages/export.py").run(timeout=TIMEOUT)
    prep = [b.key for b in at.button if b.key and b.key.startswith("prep_")]
    assert sorted(prep) == ["prep_assignment", "prep_poster"]
    assert not any(cb.label == T_INCLUDE_PERSONAL for cb in at.checkbox)
    # the party chain page: no staff edits, no full phones, no per-building table of 党员中心户
    at.switch_page(CHAIN).run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    assert at.button(key="pc_assign_btn").disabled and at.toggle(key="_pc_show_phones").disabled
    assert not any(d.key == "pc_central_short" for d in at.dataframe if hasattr(d, "key"))
    assert not [d for d in at.dataframe if "楼栋编码" in d.value.columns or "building_id" in d.value.columns]
    # a planner's map does show them
    planner = signed_in("wang")
    tips = [f["properties"]["t"] for f in footprints(map_args(planner))["features"][:50]]
    assert all(len(t) == 4 for t in tips)
    planner.switch_page(CHAIN).run(timeout=TIMEOUT)
    assert not planner.button(key="pc_assign_btn").disabled
    assert [d for d in planner.dataframe if "楼栋编码" in d.value.columns or "building_id" in d.value.columns]


T_INCLUDE_PERSONAL = __import__("gridplan.i18n", fromlist=["t"]).t("include_personal", "zh")


def test_signin_two_planners_different_communities_both_land(signin_store):
    ds, store = signin_store
    a, b = signed_in("wang"), signed_in("li")
    _move(a, ds.buildings.index[ds.buildings["community_id"] == C1][:2], C1)
    _move(b, ds.buildings.index[ds.buildings["community_id"] == C2][:3], C2)
    _save(a, "A")
    _save(b, "B")
    assert list(store.list().index) == [1, 2, 3]
    head = store.load(3)
    # the saved version holds both changes, and it is b's plan now (the next save's base)
    assert head.same_assignment(b.session_state["history"].current)
    assert any("同时包含其他人" in s.value for s in b.info)
    assert len(b.session_state["history"]) == 1            # no undo back to a plan without a's change
    grids = head.assignment
    assert grids[ds.buildings.index[ds.buildings["community_id"] == C1][:2]].nunique() == 1
    assert (grids[ds.buildings.index[ds.buildings["community_id"] == C1][:2]] != C1 + "01").all()
    assert (grids[ds.buildings.index[ds.buildings["community_id"] == C2][:3]] != C2 + "01").all()


def test_signin_conflict_shows_who_and_saves_a_branch(signin_store):
    ds, store = signin_store
    a, b = signed_in("li"), signed_in("admin1")
    c1 = ds.buildings.index[ds.buildings["community_id"] == C1]
    c2 = ds.buildings.index[ds.buildings["community_id"] == C2]
    _move(a, c1[:2], C1)
    _move(b, c1[5:8], C1)
    _move(b, c2[:2], C2)
    _save(a, "A")
    _save(b, "B")
    assert list(store.list().index) == [1, 2]                     # b's save was refused
    text = " ".join(m.value for m in b.markdown)
    assert "保存冲突" in text and "li" in text and "学院社区" in text, text
    labels = [x.label for x in b.button]
    assert "载入对方版本" in labels and "另存为分支版本" in labels
    button(b, "另存为分支版本").click().run(timeout=TIMEOUT)
    assert not b.exception
    assert list(store.list().index) == [1, 2, 3]
    v3 = store.load(3).assignment
    mine = b.session_state["history"].current.assignment
    # b's communities are b's; nothing else a saved was reverted (a changed only C1, which b kept)
    assert (v3[c1] == mine[c1]).all() and (v3[c2] == mine[c2]).all()
    assert store.list().at[3, "base"] == 2
    # the other way: load their version (after a confirmation) drops the edits
    _move(a, c1[10:12], C1)
    _save(a, "A2")                                                  # base 2, but 3 changed C1: a conflict
    assert list(store.list().index) == [1, 2, 3]
    button(a, "载入对方版本").click().run(timeout=TIMEOUT)
    assert any("放弃" in w.value for w in a.warning)
    button(a, "确定载入，放弃我的修改").click().run(timeout=TIMEOUT)
    assert a.session_state["history"].current.same_assignment(store.load(3))


def test_signin_admin_manages_users(signin_store):
    ds, store = signin_store
    at = signed_in("admin1")
    at.switch_page("app_pages/admin.py").run(timeout=TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    users = next(d.value for d in at.dataframe if "角色" in d.value.columns)
    assert sorted(users.index) == ["admin1", "li", "wang", "zhao"]
    assert not any("hash" in str(c).lower() or "密码" in str(c) for c in users.columns)
    at.text_input(key="_adm_name").input("孙<b>")
    at.selectbox(key="_adm_role").set_value("planner")
    at.multiselect(key="_adm_scope").select(C2)
    at.text_input(key="_adm_password").input("sun-password-1")
    button(at, "添加用户").click().run(timeout=TIMEOUT)
    assert any("已添加用户" in s.value for s in at.success), [e.value for e in at.error]
    u = store.get_user("孙<b>")
    assert (u.role, u.scope) == ("planner", (C2,))
    assert store.verify("孙<b>", "sun-password-1") is not None
    # change wang to a viewer, reset li's password
    at.selectbox(key="_adm_pick").set_value("wang").run(timeout=TIMEOUT)
    at.selectbox(key="_adm_set_role").set_value("viewer")
    button(at, "应用").click().run(timeout=TIMEOUT)
    assert store.get_user("wang").role == "viewer"
    at.selectbox(key="_adm_pick").set_value("li").run(timeout=TIMEOUT)
    at.text_input(key="_adm_new_password").input("li-new-password")
    button(at, "重置密码").click().run(timeout=TIMEOUT)
    assert store.verify("li", "li-new-password") is not None and store.verify("li", "pw-li-123") is None
    # an admin cannot lock themselves out; a planner has no admin page
    at.selectbox(key="_adm_pick").set_value("admin1").run(timeout=TIMEOUT)
    at.selectbox(key="_adm_set_role").set_value("planner")
    button(at, "应用").click().run(timeout=TIMEOUT)
    assert store.get_user("admin1").role == "admin"
    viewer = signed_in("zhao")
    with pytest.raises(ValueError, match="admin.py"):                # not even registered as a page
        viewer.switch_page("app_pages/admin.py")


# --------------------------------------------------------------------------- the server's entry and warm-up
def test_app_py_is_served_as_an_st_app_with_the_warm_up():
    """``streamlit run app.py`` must find the st.App in app.py (else Streamlit would run the launcher
    as a page and show an empty app), serving app_main.py."""
    from streamlit.web.server.app_discovery import discover_asgi_app
    found = discover_asgi_app(ROOT / "app.py")
    assert found.is_asgi_app and found.import_string == "app:app"
    assert not discover_asgi_app(ROOT / "app_main.py").is_asgi_app
    assert 'st.App("app_main.py", lifespan=_lifespan)' in (ROOT / "app.py").read_text(encoding="utf-8")


def test_the_warm_up_prepares_what_the_first_visit_uses(monkeypatch):
    """After boot.warm(), the first visit's dataset, base map and coverage come from the caches the
    pages use, with the arguments the first visit passes (the same objects, not new ones)."""
    from app_pages import boot, mapview, plans, whatif
    from app_pages import common as c
    from gridplan.demo import warm_sample_cache
    monkeypatch.setenv("GRIDPLAN_WARM", "1")
    warm_sample_cache()                   # the sample's first plan in the persistent cache (as setup.sh does)
    for f in (c._load, mapview._base, whatif._coverage, plans.jobs):
        f.clear()
    boot.warm()
    d = c.DEFAULTS
    ds = c._load(c.dataset_key(d["source"]))
    assert ds is c._load("sample")
    # the plan every session starts from is the warmed one: its grid table and outlines are there
    key, _ = plans.job(ds, "sample", d)
    done = plans.jobs().result(key, wait=False)
    assert done is not None
    assert {"grid_table", "grids", "grid_polygons"} <= {k for _, k in done.plan._derived}
    focus = str(ds.communities.index[0])
    t0 = time.perf_counter()
    base = mapview._base(ds, "sample", focus, d["lang"], (), c.MAP_HEIGHT, True)
    assert time.perf_counter() - t0 < 0.2 and base is mapview._base(ds, "sample", focus, "zh", (), c.MAP_HEIGHT, True)
    assert base.script
    assert base.js_links and not any("jquery" in u for u in base.js_links)   # no popups: no jQuery to load
    mapview._base.clear()
    assert mapview._base(ds, "sample", focus, d["lang"], (), c.MAP_HEIGHT, True) is not base   # it was the cache
    cov = whatif._coverage(ds, "sample", tuple(float(m) for m in d["cov_minutes"]), float(d["cov_speed"]),
                           tuple(d["cov_kinds"]), None, ())
    assert cov.summary()["covered_households"] > 0


def test_the_warm_up_can_be_turned_off_and_runs_once(monkeypatch):
    from app_pages import boot
    monkeypatch.setenv("GRIDPLAN_WARM", "0")
    assert boot.start() is None
    monkeypatch.setenv("GRIDPLAN_WARM", "1")
    monkeypatch.setattr(boot, "_started", __import__("threading").Event())
    calls = []
    monkeypatch.setattr(boot, "warm", lambda: calls.append(1))
    th = boot.start()
    th.join(10)
    assert calls == [1] and boot.start() is None
