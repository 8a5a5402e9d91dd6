"""End to end in headless Chromium against ``streamlit run app.py`` (SPEC §5, §8).

Every request is routed: anything not addressed to 127.0.0.1/localhost is aborted and fails the
test. The timings (first map, edit round trip) are printed and written to
``<tmp>/app_timings.json``; set GRIDPLAN_STRICT_PERF=1 to enforce the 5 s / 1 s targets.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

STRICT = bool(os.environ.get("GRIDPLAN_STRICT_PERF"))
TIMINGS: dict[str, float] = {}
MAP = "#map_div"          # the Leaflet container, in the page (the app's own component: no iframe)


def _record(name: str, value: float) -> None:
    TIMINGS[name] = round(value, 3)
    print(f"[timing] {name} = {value:.3f} s")
    out = Path(os.environ.get("GRIDPLAN_TIMINGS_FILE", "/tmp/gridplan_app_timings.json"))
    try:
        old = json.loads(out.read_text()) if out.exists() else {}
    except ValueError:
        old = {}
    old.update(TIMINGS)
    out.write_text(json.dumps(old, indent=2))


def _frame(page):
    return page


def _open(ctx, url, path=""):
    page = ctx.new_page()
    t0 = time.perf_counter()
    page.goto(url + path)
    return page, t0


def _wait_map(page, timeout_ms=120_000):
    fr = _frame(page)
    fr.locator("path.leaflet-interactive").first.wait_for(timeout=timeout_ms)
    return fr


def _wait_plan(page, timeout_ms=180_000):
    """Wait until the grids are on the page (the first partition may run in the background)."""
    fr = _wait_map(page)
    fr.locator(".gp-grid-label").first.wait_for(timeout=timeout_ms)
    page.get_by_text(re.compile(r"操作记录 \(\d+/\d+\)")).first.wait_for(timeout=timeout_ms)
    return fr


def _metric(page, label: str) -> str:
    m = page.get_by_test_id("stMetric").filter(has_text=label).first
    return m.get_by_test_id("stMetricValue").inner_text().strip()


def _history_step(page) -> tuple[int, int]:
    txt = page.get_by_text(re.compile(r"操作记录 \(\d+/\d+\)")).first.inner_text()
    a, b = re.search(r"\((\d+)/(\d+)\)", txt).groups()
    return int(a), int(b)


def _choose(page, label: str, option_text: str | re.Pattern):
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    box.click()
    page.get_by_role("option").filter(has_text=option_text).first.click()


def _selected(page, label: str) -> str:
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    return box.locator("input").first.input_value()


def _assert_offline(ctx):
    assert ctx.outside_requests == [], f"requests left the machine: {ctx.outside_requests[:5]}"


def _wait_until(fn, timeout_s=60.0, every_s=0.05):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - keep polling while the page reruns
            last = e
        time.sleep(every_s)
    raise AssertionError(f"condition not met in {timeout_s} s (last: {last!r})")


# ----------------------------------------------------------------------------- tests
def test_map_renders_with_outside_requests_blocked(app_server, browser_context):
    assets = []
    browser_context.on("request", lambda r: assets.append(r.url) if "/app/static/vendor/" in r.url else None)
    page, t0 = _open(browser_context, app_server.url)
    _wait_map(page)
    first_map = time.perf_counter() - t0
    _record("first_map_cold_s", first_map)
    _wait_plan(page)
    _record("plan_on_map_cold_s", time.perf_counter() - t0)
    # Chinese interface by default; the map is fed from the app's own static files
    assert page.get_by_text("地图与编辑").first.is_visible()
    assert any(u.endswith("/leaflet/leaflet.js") for u in assets), assets
    assert any("leaflet.draw" in u for u in assets), assets
    # a second session hits the warm caches (the dataset, the partition, the network)
    page2, t1 = _open(browser_context, app_server.url)
    _wait_map(page2)
    warm = time.perf_counter() - t1
    _record("first_map_warm_s", warm)
    _assert_offline(browser_context)
    if STRICT:
        assert warm < 5.0


FIRST_PAINT_JS = """(() => {
  function look() {
    var host = document.querySelector('#map_div');
    if (host && window.map && window.__gpB && window.__gpB.getLayers().length) {     // the footprints are on it
      window.__gp_first = {metrics: document.querySelectorAll('[data-testid="stMetric"]').length,
                           table: document.querySelectorAll('[data-testid="stDataFrame"]').length,
                           top: host.getBoundingClientRect().top};
      window.map.__gp_first = 1;
      return;
    }
    requestAnimationFrame(look);
  }
  requestAnimationFrame(look);
})();"""


def test_the_map_comes_first_and_the_page_follows_around_it(app_server, browser_context):
    """Issue 16 (first map): a new visit's first run sends the map alone, drawn in the page itself (no
    iframe to load); the figures, the tools and the grid table then follow by themselves, around the
    same map: not rebuilt, and not moved down by the figures above it."""
    _wait_plan(_open(browser_context, app_server.url)[0])      # the server has the plan (cached) by now
    page = browser_context.new_page()
    page.add_init_script(FIRST_PAINT_JS)
    page.goto(app_server.url)
    first = _wait_until(lambda: page.evaluate("() => window.__gp_first"))
    assert first["metrics"] == 0 and first["table"] == 0, first          # the map came alone
    assert page.locator('iframe[title*="folium"]').count() == 0
    _wait_plan(page)
    page.get_by_test_id("stDataFrame").first.wait_for(timeout=60_000)
    _wait_until(lambda: page.get_by_test_id("stMetric").count() >= 4)
    assert _metric(page, "网格") not in ("", "—")
    time.sleep(0.5)
    assert page.evaluate("() => window.map.__gp_first") == 1, "the map was rebuilt when the page came"
    top = page.evaluate("() => document.querySelector('#map_div').getBoundingClientRect().top")
    assert abs(top - first["top"]) <= 12, (first["top"], top)
    _assert_offline(browser_context)


def test_click_moves_building_and_table_updates(app_server, browser_context):
    page, _ = _open(browser_context, app_server.url)
    fr = _wait_plan(page)
    grids_before = int(_metric(page, "网格").replace(",", ""))
    step0 = _history_step(page)
    page.get_by_text("涂刷到目标网格").click()
    _choose(page, "目标网格", "新网格")
    _wait_until(lambda: "新网格" in _selected(page, "目标网格"))
    buildings = fr.locator('path.leaflet-interactive[fill-opacity="0.85"]')
    n = buildings.count()
    assert n > 10
    target = buildings.nth(n // 2)
    t0 = time.perf_counter()
    target.click(force=True)
    # the round trip: click → rerun → the history counter and the figures on the page are updated
    page.get_by_text(f"操作记录 ({step0[0] + 1}/").first.wait_for(timeout=60_000)
    _record("edit_round_trip_s", time.perf_counter() - t0)
    page.get_by_text(re.compile(r"已将 1 栋楼移到")).first.wait_for(timeout=60_000)
    _wait_until(lambda: int(_metric(page, "网格").replace(",", "")) == grids_before + 1)
    # the check ran: the report says what the edit did
    assert page.get_by_text(re.compile("检查通过|此次修改使以下网格不合规")).first.is_visible()
    # more clicks (other buildings into the same, now existing grid): the warm round trips
    trips = []
    for k in range(1, 4):
        t1 = time.perf_counter()
        buildings.nth(n // 2 + k).click(force=True)
        page.get_by_text(f"操作记录 ({step0[0] + 1 + k}/").first.wait_for(timeout=60_000)
        trips.append(time.perf_counter() - t1)
        time.sleep(0.3)
    _record("edit_round_trip_warm_s", sorted(trips)[len(trips) // 2])
    _assert_offline(browser_context)
    if STRICT:
        assert TIMINGS["edit_round_trip_warm_s"] < 1.0


def test_drawn_polygon_moves_a_group_and_undo_restores(app_server, browser_context):
    page, _ = _open(browser_context, app_server.url)
    fr = _wait_plan(page)
    grids_before = int(_metric(page, "网格").replace(",", ""))
    step0 = _history_step(page)
    page.get_by_text("涂刷到目标网格").click()
    _choose(page, "目标网格", "新网格")
    _wait_until(lambda: "新网格" in _selected(page, "目标网格"))
    fr.locator("a.leaflet-draw-draw-rectangle").click()
    box = page.locator(MAP).last.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 110, cy - 80)
    page.mouse.down()
    page.mouse.move(cx, cy, steps=5)
    page.mouse.move(cx + 110, cy + 80, steps=5)
    page.mouse.up()
    msg = page.get_by_text(re.compile(r"已将 \d+ 栋楼移到")).first
    msg.wait_for(timeout=60_000)
    moved = int(re.search(r"已将 (\d+) 栋楼", msg.inner_text()).group(1))
    assert moved > 1
    _wait_until(lambda: int(_metric(page, "网格").replace(",", "")) == grids_before + 1)
    _wait_until(lambda: _history_step(page)[0] == step0[0] + 1)
    # undo restores the plan as it was; redo brings the edit back
    page.get_by_role("button", name=re.compile("撤销")).click()
    _wait_until(lambda: int(_metric(page, "网格").replace(",", "")) == grids_before)
    _wait_until(lambda: _history_step(page)[0] == step0[0])
    page.get_by_role("button", name=re.compile("重做")).click()
    _wait_until(lambda: int(_metric(page, "网格").replace(",", "")) == grids_before + 1)
    _assert_offline(browser_context)


def test_saved_version_survives_an_app_restart(tmp_path, browser_context):
    from conftest import AppServer
    projects = tmp_path / "projects"
    projects.mkdir()
    server = AppServer(projects, tmp_path / "streamlit.log").start()
    try:
        page, _ = _open(browser_context, server.url, "/versions")
        page.get_by_label("版本名称").fill("第一稿 <b>x</b>")
        page.get_by_label("备注").fill("浏览器测试")
        page.get_by_role("button", name="保存", exact=True).click()
        page.get_by_text(re.compile(r"已保存版本 1")).wait_for(timeout=180_000)
    finally:
        server.stop()
    assert list(projects.glob("*.gpkg"))
    server = AppServer(projects, tmp_path / "streamlit2.log").start()
    try:
        page, _ = _open(browser_context, server.url, "/versions")
        page.get_by_test_id("stSelectbox").filter(has_text="打开版本").first.wait_for(timeout=180_000)
        assert "第一稿 <b>x</b>" in _selected(page, "打开版本")       # shown as text, not as HTML
        page.get_by_role("button", name="打开", exact=True).click()
        page.get_by_text(re.compile("已打开版本")).wait_for(timeout=60_000)
    finally:
        server.stop()
    _assert_offline(browser_context)


def test_export_downloads_a_real_file(app_server, browser_context, tmp_path):
    page, _ = _open(browser_context, app_server.url, "/export")
    page.get_by_text("离线交互地图（HTML）").wait_for(timeout=180_000)
    dl_button = page.get_by_role("button", name=re.compile(r"下载 .*\.html"))
    # a click that lands while the page is rerunning (e.g. when the background partition finishes)
    # is dropped by Streamlit, so press again until the download appears
    deadline = time.monotonic() + 180
    while True:
        page.get_by_role("button", name="生成").first.click()
        try:
            dl_button.wait_for(timeout=30_000)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError
            if time.monotonic() > deadline:
                page.screenshot(path=str(tmp_path / "export_page.png"), full_page=True)  # kept for diagnosis
                raise
    with page.expect_download(timeout=60_000) as info:
        dl_button.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    text = path.read_text(encoding="utf-8")
    assert path.stat().st_size > 10_000
    assert "<html" in text.lower() and "L.map" in text
    assert "cdn.jsdelivr" not in text and "unpkg.com" not in text   # standalone: no CDN links
    _assert_offline(browser_context)


def test_add_a_station_by_clicking_changes_coverage(app_server, browser_context):
    page, _ = _open(browser_context, app_server.url)
    _wait_plan(page)
    before = _metric(page, "15分钟覆盖户数")
    page.get_by_text("添加驿站").click()
    page.get_by_test_id("stRadio").filter(has_text="地图点击").locator("input:checked").wait_for()
    time.sleep(0.5)
    # the plan's layers on the map now: a new station redoes the stations and the plan state (the
    # coverage), not the grid outlines and labels before them
    page.evaluate("() => window.feature_group.forEach(function (l, i) { l.__gp_was = i; })")
    cov0 = page.evaluate("() => window.__gp.cov")
    box = page.locator(MAP).last.bounding_box()
    # a click on the map (anywhere: a new red station goes where the planner clicks)
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.7)
    page.get_by_text(re.compile(r"已在点击处添加站点 new\d+")).first.wait_for(timeout=60_000)
    _wait_until(lambda: _metric(page, "15分钟覆盖户数") != before)
    _wait_until(lambda: page.evaluate("() => window.__gp.cov") != cov0)
    kept = page.evaluate("() => window.feature_group.map(function (l) { return l.__gp_was === undefined ? null : l.__gp_was; })")
    assert kept[0] is None, "the plan state was not redone"                  # the coverage is in it
    assert kept[1:3] == [1, 2], kept                                         # grid outlines and labels kept
    assert None in kept[3:], kept                                            # the stations redone
    _assert_offline(browser_context)


# ----------------------------------------------------------------------------- issue 16: a planner's day
def _map_frame(page):
    """The frame the map lives in: the page's own (a rebuilt map is a new ``window.map``)."""
    return page.main_frame


def _nav(page, title: str):
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()


_BUILDING_IN_VIEW_JS = """() => {
  var out = null, view = window.map.getBounds().pad(-0.25);
  window.map.eachLayer(function (l) {
    var f = l.feature;
    if (out || !f || !f.properties || f.properties.layer !== 'building' || !l.getBounds) return;
    var c = l.getBounds().getCenter();
    if (view.contains(c)) { var p = window.map.latLngToContainerPoint(c); out = [p.x, p.y, f.properties.building_id]; }
  });
  return out;
}"""


def _click_building(page, frame):
    """Click a building inside the current view; returns its id."""
    x, y, bid = frame.evaluate(_BUILDING_IN_VIEW_JS)
    box = page.locator(MAP).last.bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    return bid


def _alive(frame, mark) -> bool:
    try:
        return frame.evaluate("() => window.map && window.map.__gp_mark") == mark
    except Exception:  # noqa: BLE001 - the page itself went away
        return False


def test_an_edit_keeps_the_map_its_view_and_never_blanks(app_server, browser_context):
    """Issue 16, defects 2 and 6: select → 移到目标网格 redraws the plan in place (same map document,
    same zoom, never without buildings), and moving a building into its own grid changes nothing."""
    page, _ = _open(browser_context, app_server.url)
    _wait_plan(page)
    frame = _map_frame(page)
    frame.evaluate("""() => {
      window.map.__gp_mark = 4242; window.map.setZoom(window.map.getZoom() + 2, {animate: false});
      window.__gp_min = 1e9;
      setInterval(function () {
        var n = document.querySelectorAll('path.leaflet-interactive').length;
        window.__gp_min = Math.min(window.__gp_min, n);
      }, 15);
    }""")
    time.sleep(1.0)
    zoom0 = frame.evaluate("() => window.map.getZoom()")
    step0 = _history_step(page)
    bid = _click_building(page, frame)
    page.get_by_text(re.compile(r"^1 栋楼")).first.wait_for(timeout=30_000)
    _choose(page, "目标网格", "新网格")
    _wait_until(lambda: "新网格" in _selected(page, "目标网格"))
    page.get_by_role("button", name="移到目标网格").click()
    page.get_by_text(re.compile(r"已将 1 栋楼移到")).first.wait_for(timeout=60_000)
    _wait_until(lambda: _history_step(page)[0] == step0[0] + 1)
    time.sleep(1.0)
    assert _alive(frame, 4242), "the map was rebuilt by the edit"
    assert frame.evaluate("() => window.map.getZoom()") == zoom0, "the edit reset the planner's view"
    assert frame.evaluate("() => window.__gp_min") > 0, "the map went blank during the edit"
    # the same building again, into the grid it is already in: nothing changes, and the app says so
    x, y = frame.evaluate("(bid) => { var out = null; window.map.eachLayer(function (l) { var f = l.feature;"
                          " if (!out && f && f.properties && f.properties.layer === 'building' &&"
                          " f.properties.building_id === bid) { var p = window.map.latLngToContainerPoint("
                          "l.getBounds().getCenter()); out = [p.x, p.y]; } }); return out; }", bid)
    box = page.locator(MAP).last.bounding_box()
    page.mouse.click(box["x"] + x + 2, box["y"] + y + 1)     # not the very same point: a new click
    page.get_by_text(re.compile(r"^1 栋楼")).first.wait_for(timeout=30_000)
    own = page.get_by_text(re.compile(r"所在网格：")).first.inner_text().split("：")[-1].strip()
    _choose(page, "目标网格", own.replace("\\", ""))
    page.get_by_role("button", name="移到目标网格").click()
    page.get_by_text(re.compile("方案未改变")).first.wait_for(timeout=30_000)
    assert _history_step(page)[0] == step0[0] + 1
    assert _alive(frame, 4242)
    _assert_offline(browser_context)


def test_a_version_note_keeps_its_focus_and_is_saved(app_server, browser_context, projects_dir):
    """Issue 16, defect 1: after a save, typing a name and then a note keeps the focus in the note."""
    page, _ = _open(browser_context, app_server.url, "/versions")
    name, note = page.get_by_label("版本名称"), page.get_by_label("备注")
    name.wait_for(timeout=180_000)
    name.fill("焦点测试一")
    page.get_by_role("button", name="保存", exact=True).click()
    page.get_by_text(re.compile(r"已保存版本 \d+：焦点测试一")).wait_for(timeout=180_000)
    _wait_until(lambda: name.input_value() == "", timeout_s=30)      # a saved name leaves an empty field
    name.click()
    page.keyboard.type("焦点测试二", delay=20)
    note.click()
    time.sleep(0.8)                                   # a rerun (or a poll) would have stolen the focus by now
    page.keyboard.type("check the c key", delay=40)
    focused = page.evaluate("() => document.activeElement && document.activeElement.getAttribute('aria-label')")
    assert focused == "备注", f"the focus left the note field (now on {focused!r})"
    assert page.get_by_role("dialog").count() == 0, "stray keystrokes opened a Streamlit dialog"
    page.get_by_role("button", name="保存", exact=True).click()
    try:
        page.get_by_text(re.compile(r"已保存版本 \d+：焦点测试二")).wait_for(timeout=180_000)
    except Exception as e:  # noqa: BLE001 - say what the page showed instead
        raise AssertionError(f"no saved message; the page shows: {page.inner_text('body')[:2500]}") from e
    from gridplan.store import open_store
    notes = {}
    for f in projects_dir.glob("*.gpkg"):
        v = open_store(f).list()
        notes.update(dict(zip(v["name"], v["note"])))
    assert notes.get("焦点测试二") == "check the c key", notes
    _assert_offline(browser_context)


def _html_station_ids(text: str) -> set[str]:
    return set(re.findall(r'"layer": "station", "station_id": "([^"]+)"', text))


def test_exports_show_the_what_if_stations(app_server, browser_context, tmp_path):
    """Issue 16, defect 3: a station turned off and one added on the map are what the export draws."""
    page, _ = _open(browser_context, app_server.url)
    _wait_plan(page)
    page.get_by_text("添加驿站").click()
    page.get_by_test_id("stRadio").filter(has_text="地图点击").locator("input:checked").wait_for()
    time.sleep(0.5)
    box = page.locator(MAP).last.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.65)
    page.get_by_text(re.compile(r"已在点击处添加站点 new\d+")).first.wait_for(timeout=60_000)
    added = re.search(r"new\d+", page.get_by_text(re.compile(r"已在点击处添加站点 new\d+")).first.inner_text()).group(0)
    _nav(page, "服务覆盖")
    page.get_by_text(re.compile(r"启用的站点 \(")).first.click()
    chips = page.get_by_test_id("stMultiSelect").filter(has_text="S00").locator('[role="button"][title]')
    chip = page.get_by_test_id("stMultiSelect").filter(has_text="S00").get_by_text(re.compile(r"\(S\d+\)")).first
    off = re.search(r"S\d+", chip.inner_text()).group(0)
    chip.locator("xpath=..").locator("[role=presentation], svg").last.click()
    page.get_by_text(re.compile(r"启用的站点 \(\d+/")).first.wait_for()
    del chips
    _nav(page, "导出")
    page.get_by_text("离线交互地图（HTML）").wait_for(timeout=60_000)
    dl_button = page.get_by_role("button", name=re.compile(r"下载 .*\.html"))
    deadline = time.monotonic() + 120
    while True:
        page.get_by_role("button", name="生成").first.click()
        try:
            dl_button.wait_for(timeout=30_000)
            break
        except Exception:  # noqa: BLE001
            if time.monotonic() > deadline:
                raise
    with page.expect_download(timeout=60_000) as info:
        dl_button.click()
    path = tmp_path / "map.html"
    info.value.save_as(path)
    ids = _html_station_ids(path.read_text(encoding="utf-8"))
    assert added in ids, (added, sorted(ids)[:5])
    assert off not in ids, f"the station turned off ({off}) is still drawn"
    _assert_offline(browser_context)


def _tiny_upload(folder: Path, households: int) -> list[Path]:
    from gridplan.sample import tiny_city, write_city
    layers = tiny_city()
    layers["buildings"].loc[0, "households"] = households
    return write_city(layers, folder)


def _upload_and_load(page, files):
    _nav(page, "数据")
    page.get_by_text("上传文件").first.click()
    page.locator("input[type=file][accept*='.geojson']").set_input_files([str(f) for f in files])
    for f in files:
        page.get_by_text(f.name).first.wait_for(timeout=30_000)
    page.get_by_role("button", name="载入", exact=True).click()
    page.get_by_text(re.compile("已载入")).first.wait_for(timeout=120_000)


def test_uploaded_datasets_keep_their_own_versions(app_server, browser_context, tmp_path):
    """Issue 16, defect 5: two uploads do not share a project file; temp uploads are deleted; the
    data page keeps the source the planner chose."""
    import tempfile
    before = set(Path(tempfile.gettempdir()).glob("gridplan-upload-*"))
    page, _ = _open(browser_context, app_server.url, "/data")
    page.get_by_text("载入数据").first.wait_for(timeout=120_000)
    _upload_and_load(page, _tiny_upload(tmp_path / "a", 90))
    _nav(page, "方案版本")
    page.get_by_label("版本名称").fill("上传甲")
    page.get_by_role("button", name="保存", exact=True).click()
    page.get_by_text(re.compile(r"已保存版本 1：上传甲")).wait_for(timeout=120_000)
    _nav(page, "数据")
    page.get_by_text("载入数据").first.wait_for()
    checked = page.get_by_test_id("stRadio").filter(has_text="数据来源").locator("label:has(input:checked)")
    assert "上传文件" in checked.first.inner_text(), "the data page forgot the source the planner chose"
    _upload_and_load(page, _tiny_upload(tmp_path / "b", 95))
    _nav(page, "方案版本")
    page.get_by_text("还没有保存的版本").wait_for(timeout=60_000)
    assert page.get_by_test_id("stAlert").filter(has_text="不一致").count() == 0
    left = set(Path(tempfile.gettempdir()).glob("gridplan-upload-*")) - before
    assert not left, f"uploaded files were left on disk: {left}"
    _assert_offline(browser_context)


def test_unsaved_edits_survive_a_reload_as_a_draft(tmp_path, browser_context):
    """Issue 16, defect 8: an edit is kept as a draft; the next visit offers it back."""
    from conftest import AppServer
    projects = tmp_path / "projects"
    projects.mkdir()
    server = AppServer(projects, tmp_path / "streamlit.log").start()
    try:
        page, _ = _open(browser_context, server.url)
        fr = _wait_plan(page)
        grids0 = int(_metric(page, "网格").replace(",", ""))
        page.get_by_text("涂刷到目标网格").click()
        _choose(page, "目标网格", "新网格")
        _wait_until(lambda: "新网格" in _selected(page, "目标网格"))
        _click_building(page, _map_frame(page))
        page.get_by_text(re.compile(r"已将 1 栋楼移到")).first.wait_for(timeout=60_000)
        _wait_until(lambda: int(_metric(page, "网格").replace(",", "")) == grids0 + 1)
        assert page.get_by_text(re.compile("未保存的修改")).first.is_visible()
        page.reload()
        page.get_by_role("button", name=re.compile("恢复草稿")).wait_for(timeout=120_000)
        page.get_by_role("button", name=re.compile("恢复草稿")).click()
        _wait_until(lambda: int(_metric(page, "网格").replace(",", "")) == grids0 + 1)
        del fr
    finally:
        server.stop()
    _assert_offline(browser_context)


def _hostile_city(folder: Path) -> Path:
    from gridplan.sample import tiny_city, write_city
    layers = tiny_city()
    bad = "![x](http://evil.example/a.png)"
    for k in ("communities", "compounds", "buildings", "stations"):
        layers[k]["community_id"] = layers[k]["community_id"].replace("510682001001", bad)
    layers["communities"].loc[0, "name"] = "[社区](http://evil.example/b) <img src=http://evil.example/c.png>"
    write_city(layers, folder)
    return folder


def test_labels_from_user_data_fetch_nothing(app_server, browser_context, tmp_path):
    """Issue 14: grid ids built from a hostile community code are shown as text in every label."""
    city = _hostile_city(tmp_path / "hostile")
    page, _ = _open(browser_context, app_server.url, "/data")
    page.get_by_text("本机路径").first.click()
    page.get_by_label("路径", exact=True).fill(str(city))
    page.get_by_role("button", name="载入", exact=True).click()
    page.get_by_text(re.compile("已载入")).first.wait_for(timeout=120_000)
    _nav(page, "地图与编辑")
    _wait_plan(page)
    frame = _map_frame(page)
    _click_building(page, frame)
    page.get_by_role("button", name=re.compile("合并网格")).wait_for(timeout=60_000)
    assert "evil.example" in page.get_by_role("button", name=re.compile("合并网格")).inner_text()
    time.sleep(1.0)
    _assert_offline(browser_context)


class _TileServer:
    """A tile service on 127.0.0.1 (an intranet GeoServer/天地图 stand-in): a grey PNG for every tile."""

    def __init__(self):
        import http.server
        import io
        import threading

        from PIL import Image
        buf = io.BytesIO()
        Image.new("RGB", (256, 256), (225, 225, 225)).save(buf, format="PNG")
        png, hits = buf.getvalue(), []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.end_headers()
                self.wfile.write(png)

            def log_message(self, *args):
                pass

        self.hits = hits
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_configured_basemap_is_the_only_other_host(app_server, browser_context):
    """Issue 16: a basemap from an intranet tile URL; the browser asks that host and the app, nothing else."""
    from urllib.parse import urlparse
    tiles = _TileServer()
    seen: list[str] = []
    browser_context.on("request", lambda r: seen.append(r.url))
    try:
        page, _ = _open(browser_context, app_server.url, "/data")
        page.get_by_text("载入数据").first.wait_for(timeout=120_000)
        page.get_by_text("底图", exact=True).first.click()
        page.get_by_label(re.compile("瓦片地址")).fill(tiles.url + "/tiles/{z}/{x}/{y}.png")
        page.get_by_role("button", name="应用底图").click()
        page.get_by_text(re.compile(r"底图：127\.0\.0\.1")).first.wait_for(timeout=30_000)
        _nav(page, "地图与编辑")
        _wait_map(page)
        _frame(page).locator("img.leaflet-tile").first.wait_for(timeout=60_000)
        _wait_until(lambda: len(tiles.hits) > 0, timeout_s=30)
        assert all(h.startswith("/tiles/") for h in tiles.hits)
        app_host, tile_host = urlparse(app_server.url).netloc, urlparse(tiles.url).netloc
        other = [u for u in seen if not u.startswith(("data:", "blob:", "about:"))
                 and urlparse(u).netloc not in (app_host, tile_host)]
        assert other == [], other[:5]
        _assert_offline(browser_context)
    finally:
        tiles.stop()


def test_the_coverage_headline_names_the_band_it_counts(app_server, browser_context):
    """Issue 16, defect 4: with bands 5,10,15,20 the headline counts (and says) 20 minutes."""
    page, _ = _open(browser_context, app_server.url)
    _wait_plan(page)
    before = _metric(page, "15分钟覆盖户数")
    _nav(page, "服务覆盖")
    box = page.get_by_label("步行时间圈（分钟）")
    box.wait_for(timeout=60_000)
    box.fill("5，10，15，20")
    box.press("Enter")
    page.get_by_text(re.compile(r"覆盖 [\d,]+ / [\d,]+ 户（\d+\.\d%）")).first.wait_for(timeout=60_000)
    _nav(page, "地图与编辑")
    page.get_by_test_id("stMetric").filter(has_text="20分钟覆盖户数").first.wait_for(timeout=60_000)
    assert page.get_by_test_id("stMetric").filter(has_text="15分钟覆盖户数").count() == 0
    after = int(_metric(page, "20分钟覆盖户数").replace(",", ""))
    assert after >= int(before.replace(",", ""))                 # a wider band never covers fewer
    assert re.fullmatch(r"\d+\.\d%", _metric(page, "覆盖率"))
    _assert_offline(browser_context)


# ----------------------------------------------------------------------------- issue 15: the party chain
def test_a_chain_node_click_brings_the_map_there_offline(app_server, browser_context):
    """The party chain page: click 街道 → 社区 in the tree; the map moves to the community and
    outlines its buildings; the 三无 chart (vega-lite) draws; no request leaves the machine."""
    from gridplan.chain import party_chain
    from gridplan.demo import load_sample
    from gridplan.edit import view_bounds
    from gridplan.engine import partition
    ds = load_sample()
    ch = party_chain(ds, partition(ds, seed=0))
    street = ch[ch["level"] == 1].iloc[-1]
    comm = ch[(ch["level"] == 2) & (ch["parent"] == street["id"])].iloc[-1]
    (s, w), (n, e) = view_bounds(ds.buildings[ds.buildings["community_id"] == comm["id"]])
    page, _ = _open(browser_context, app_server.url)
    _wait_plan(page)
    _nav(page, "党建链条")
    first = page.get_by_role("button", name=f"{street['name']} · {int(street['households'])}户")
    first.wait_for(timeout=180_000)

    def view():
        return _map_frame(page).evaluate("() => { var c = window.map.getCenter(); return [c.lat, c.lng,"
                                         " window.map.getZoom()]; }")
    lat0, lon0, _ = _wait_until(view, timeout_s=60)
    assert not (s <= lat0 <= n and w <= lon0 <= e), "the map is there before the click: the test proves nothing"
    first.click()
    page.get_by_role("button", name=re.compile("^" + re.escape(comm["name"]) + " · ")).click(timeout=60_000)
    page.get_by_text("下级：小区党支部").first.wait_for(timeout=60_000)

    def there():
        c = view()
        return c if (s <= c[0] <= n and w <= c[1] <= e and c[2] >= 14) else None
    _wait_until(there, timeout_s=60)
    # the community's buildings are outlined: the plan state picks every one of them, and they are drawn so
    n_comm = int((ds.buildings["community_id"] == comm["id"]).sum())
    _wait_until(lambda: _map_frame(page).evaluate("() => Object.keys((window.__gp || {}).pick || {}).length")
                == n_comm, timeout_s=30)
    _wait_until(lambda: _map_frame(page).evaluate(
        "() => document.querySelectorAll('path.leaflet-interactive[stroke=\"#00e5ff\"]').length") > 0, timeout_s=30)
    # the 三无 → 三有 tab draws its chart from the bundled vega-lite
    page.get_by_role("tab", name="三无 → 三有").click()
    page.locator("[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg").first.wait_for(
        timeout=60_000)
    _assert_offline(browser_context)


# ----------------------------------------------------------------------------- issue 12: two app servers, one PostGIS store
def _sign_in_page(ctx, url: str, user: str):
    page, _ = _open(ctx, url)
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill(f"pw-{user}-123")
    page.get_by_role("button", name="登录").click()
    _wait_plan(page)
    page.get_by_text(user, exact=True).first.wait_for(timeout=30_000)     # the sidebar names the user
    return page


_BUILDING_IN_VIEW_BUT_JS = _BUILDING_IN_VIEW_JS.replace("() => {", "(avoid) => {").replace(
    "if (view.contains(c))", "if (view.contains(c) && avoid.indexOf(f.properties.building_id) < 0)")


def _paint_one(page, community_name: str | None = None, avoid=()) -> str:
    """Paint one building of the community in view (after focusing ``community_name``) into a new
    grid; not one of ``avoid`` (a click the map reported already is not reported again)."""
    if community_name:
        _choose(page, "显示社区", community_name)
        _wait_until(lambda: community_name in _selected(page, "显示社区"))
        time.sleep(1.0)
        _wait_until(lambda: _map_frame(page).evaluate(_BUILDING_IN_VIEW_JS), timeout_s=120)
    page.get_by_text("涂刷到目标网格").click()
    _choose(page, "目标网格", "新网格")
    _wait_until(lambda: "新网格" in _selected(page, "目标网格"))
    step0 = _history_step(page)
    x, y, bid = _map_frame(page).evaluate(_BUILDING_IN_VIEW_BUT_JS, list(avoid))
    box = page.locator(MAP).last.bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    _wait_until(lambda: _history_step(page)[0] == step0[0] + 1, timeout_s=60)
    return bid


def _save_version(page, name: str):
    _nav(page, "方案版本")
    page.get_by_label("版本名称").fill(name)
    page.get_by_role("button", name="保存", exact=True).click()


def test_signin_two_servers_one_postgis_store(pg_url, playwright_instance, tmp_path):
    """Two planners in two browsers on two app processes against one PostGIS store: different
    communities → both saves land; the same community → the second sees who changed it and keeps
    working as a branch version."""
    from conftest import AppServer, close_context, offline_context
    from test_app import C1, C2, _signin_store

    from gridplan.store import open_store
    ds, store = _signin_store(pg_url, [("wang", "planner", [C1]), ("li", "planner", [C1, C2])])
    comm = ds.buildings["community_id"].astype(str)
    servers, contexts = [], []
    try:
        for k in (0, 1):
            (tmp_path / f"projects{k}").mkdir()
            servers.append(AppServer(tmp_path / f"projects{k}", tmp_path / f"streamlit{k}.log",
                                     env={"GRIDPLAN_STORE": pg_url}).start())
            contexts.append(offline_context(playwright_instance, tmp_path / f"profile{k}"))
        wang = _sign_in_page(contexts[0], servers[0].url, "wang")
        li = _sign_in_page(contexts[1], servers[1].url, "li")
        # different communities: both land
        b_li = _paint_one(li, "柳荫社区")
        b_wang = _paint_one(wang)
        assert comm[b_wang] == C1 and comm[b_li] == C2
        _save_version(wang, "王：学院社区")
        wang.get_by_text(re.compile("已保存版本 2")).first.wait_for(timeout=60_000)
        _save_version(li, "李：柳荫社区")
        li.get_by_text(re.compile("已保存版本 3")).first.wait_for(timeout=60_000)
        v = open_store(pg_url).list()
        assert list(v.index) == [1, 2, 3]
        assert [v.at[2, "user"], v.at[3, "user"]] == ["wang", "li"]
        assert v.at[2, "communities_changed"] == [C1] and v.at[3, "communities_changed"] == [C2]
        newest = open_store(pg_url).load(3).assignment
        assert newest[b_wang] != C1 + "01" and newest[b_li] != C2 + "01"          # neither reverted the other
        # the same community: li saves a change to 学院社区 first; wang's save then conflicts
        _nav(li, "地图与编辑")
        _wait_plan(li)
        b_li2 = _paint_one(li, "学院社区")
        _save_version(li, "李：学院社区")
        li.get_by_text(re.compile("已保存版本 4")).first.wait_for(timeout=60_000)
        _nav(wang, "地图与编辑")
        _wait_plan(wang)
        b_wang2 = _paint_one(wang, avoid=[b_wang])
        _save_version(wang, "王：再改学院社区")
        wang.get_by_text("保存冲突：其他人已修改了相同的社区").first.wait_for(timeout=60_000)
        conflict = wang.get_by_text(re.compile(r"版本 4「李：学院社区」，用户 li")).first
        conflict.wait_for(timeout=10_000)
        assert "学院社区" in conflict.inner_text()
        assert list(open_store(pg_url).list().index) == [1, 2, 3, 4]              # nothing written
        wang.get_by_role("button", name=re.compile("另存为分支版本")).click()
        wang.get_by_text(re.compile("已另存为分支版本 5")).first.wait_for(timeout=60_000)
        v = open_store(pg_url).list()
        assert list(v.index) == [1, 2, 3, 4, 5]
        assert v.at[5, "user"] == "wang" and v.at[5, "base"] == 4 and v.at[5, "communities_changed"] == [C1]
        final = open_store(pg_url).load(5).assignment
        assert final[b_wang2] != C1 + "01" and final[b_li] != C2 + "01"            # li's 柳荫社区 kept
        del b_li2
        for ctx in contexts:
            _assert_offline(ctx)
    finally:
        for k, ctx in enumerate(contexts):
            close_context(ctx, tmp_path / f"profile{k}")
        for s in servers:
            s.stop()
        from gridplan.store import close_engines
        close_engines(pg_url)
