"""The app's pages and state transitions, headless with ``streamlit.testing.v1.AppTest``.

st_folium shows up as a ``component_instance``; its ``json_args`` hold the map script, the plan
layers (feature groups) and the asset links, so the offline promise is checked on them.
Real clicks on the map are covered by ``test_app_browser.py``; here map events are fed to the
same handler the component's ``on_change`` calls.
"""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(ROOT / "app.py")
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


def map_args(at: AppTest) -> dict:
    comps = at.get("component_instance")
    assert comps, "no map component on the page"
    return json.loads(comps[-1].proto.json_args)


def footprints(args: dict) -> dict:
    """The footprint file the map script fetches (served from static/cache/)."""
    url = re.search(r'fetch\("(/app/static/cache/[0-9a-f]+\.json)"\)', args["script"]).group(1)
    return json.loads((ROOT / url.replace("/app/", "", 1)).read_text(encoding="utf-8"))


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
def test_opens_on_the_sample_in_chinese_with_a_local_map():
    at = app()
    assert [m.label for m in at.metric][:4] == ["网格", "合规", "连续", "户数"]
    assert int(metric(at, "网格")) > 100
    args = map_args(at)
    links = args["js_links"] + args["css_links"]
    assert links and all(u.startswith("/app/static/vendor/") for u in links), links
    everything = "".join(str(args.get(k) or "") for k in ("script", "feature_group", "header", "html", "layer_control"))
    assert not re.findall(r"https?://", everything), "the map must not reference outside hosts"
    # the footprints are a file the map fetches once from the app's own static folder; the plan travels
    # as feature groups swapped in place on edits: a small state that restyles them, grids and labels
    fc = footprints(args)
    assert fc["features"] and fc["features"][0]["properties"]["layer"] == "building"
    assert '"layer": "community"' in args["script"] and '"layer": "building"' not in args["script"]
    assert '"layer": "building"' not in args["feature_group"]
    assert "window.__gp = s" in args["feature_group"] and '"layer": "grid"' in args["feature_group"]
    assert "L.Control.Draw" in args["script"] or "Draw" in args["script"]
    assert args["returned_objects"] == ["last_active_drawing", "all_drawings", "last_clicked"]


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
    at.text_input(key="_version_name").input("初稿")
    at.text_input(key="_version_note").input("note")
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
    at.text_input(key="_version_name").input("二稿")
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
    at.text_input(key="_version_name").input("初稿")
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
    again.text_input(key="_version_name").input("草稿转正")
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
runpy.run_path("app.py", run_name="__main__")
"""
    path = ROOT / "_fallback_app.py"
    path.write_text(code, encoding="utf-8")
    try:
        at = AppTest.from_file(str(path), default_timeout=TIMEOUT)
        ready(at)
        args = map_args(at)
        assert '"layer": "building"' in args["script"] and "window.__gp = s" in args["feature_group"]
    finally:
        path.unlink()
