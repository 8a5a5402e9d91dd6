"""Interactive HTML in headless Chromium with every outside request blocked.

* the standalone export renders from file:// with no request leaving the machine;
* the app-style map (assets under /app/static/vendor) renders from a local server the same way;
* names from user files show as text: no dialog fires, no injected element exists.
"""
from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
from _toy import EVIL, EVIL_IMG, toy_dataset, toy_grids, toy_plan

from gridplan import assets, webmap
from gridplan.export import export_html

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.browser]


@pytest.fixture(autouse=True)
def _chromium_present():
    from conftest import require
    require(None if os.path.exists(CHROMIUM) else f"Chromium is not installed at {CHROMIUM}")

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

COUNT_JS = """() => {
  const key = Object.keys(window).find(k => k.startsWith('map_') && window[k] && window[k].eachLayer);
  if (!key) return null;
  const m = window[key];
  const out = {};
  m.eachLayer(l => { if (l.feature && l.feature.properties) {
      const k = l.feature.properties.layer; out[k] = (out[k] || 0) + 1; } });
  out.paths = document.querySelectorAll('path.leaflet-interactive').length;
  out.labels = document.querySelectorAll('.gp-grid-label').length;
  out.legend = document.querySelectorAll('.gp-legend').length;
  return out;
}"""

TOOLTIP_JS = """(cid) => {
  const key = Object.keys(window).find(k => k.startsWith('map_') && window[k] && window[k].eachLayer);
  const m = window[key];
  let text = null;
  m.eachLayer(l => { if (l.feature && l.feature.properties.compound_id === cid && l.feature.properties.layer === 'compound') {
      l.openTooltip(l.getBounds().getCenter()); text = l.getTooltip().getElement().innerText; l.closeTooltip(); } });
  return text;
}"""


@pytest.fixture(scope="module")
def toy():
    assets.install()
    ds = toy_dataset()
    plan = toy_plan(ds)
    return ds, plan, toy_grids(ds, plan)


@pytest.fixture(scope="module")
def browser(playwright_instance):
    # one Playwright per session (conftest.py): a second sync_playwright() in the same thread fails
    b = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    yield b
    b.close()


def _open(browser, url: str, allowed=("file:", "data:", "about:", "blob:")):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    seen = {"outside": [], "dialogs": [], "errors": []}

    def route(r):
        u = r.request.url
        if u.startswith(allowed):
            r.continue_()
        else:
            seen["outside"].append(u)
            r.abort()

    page.route("**/*", route)
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.goto(url)
    page.wait_for_function("() => document.querySelectorAll('path.leaflet-interactive').length > 0", timeout=20000)
    page.wait_for_timeout(300)
    return ctx, page, seen


def test_standalone_html_renders_offline_and_escapes(toy, browser, tmp_path):
    ds, plan, grids = toy
    path = export_html(ds, plan, tmp_path / "网格地图.html", grids=grids)[0]
    html = path.read_text(encoding="utf-8")
    assert "<script src=" not in html and 'rel="stylesheet" href=' not in html
    ctx, page, seen = _open(browser, path.as_uri())
    try:
        counts = page.evaluate(COUNT_JS)
        assert counts["grid"] == len(grids)
        assert counts["building"] == len(ds.buildings)
        assert counts["compound"] == len(ds.compounds)
        assert counts["labels"] == len(grids) and counts["legend"] == 1
        assert counts["paths"] >= len(grids) + len(ds.buildings)
        tip = page.evaluate(TOOLTIP_JS, "C01")
        assert EVIL in tip  # shown as text
        tip2 = page.evaluate(TOOLTIP_JS, "C02")
        assert EVIL_IMG in tip2
        assert page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
        assert page.evaluate("() => [...document.scripts].some(s => s.text.trim() === 'alert(1)')") is False
        # Leaflet's own images (layer control icon) come from data URIs, not files or the network
        assert seen["outside"] == [], seen["outside"]
        assert seen["dialogs"] == [] and seen["errors"] == [], seen
    finally:
        ctx.close()


class _AppStatic(http.server.SimpleHTTPRequestHandler):
    """Serves the repo's static/ at /app/static/ like Streamlit, and one page at /."""
    page = b""

    def do_GET(self):  # noqa: N802
        if self.path in ("/", "/index.html"):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(self.page)
            return
        if self.path.startswith("/app/static/"):
            self.path = self.path[len("/app/static"):]
            return super().do_GET()
        self.send_error(404)

    def log_message(self, *a):
        pass


def test_app_map_loads_only_local_assets(toy, browser):
    ds, plan, grids = toy
    m = webmap.make_map(ds, grids=grids, assignment=plan.assignment, draw_tools=True)
    _AppStatic.page = m.get_root().render().encode("utf-8")
    handler = functools.partial(_AppStatic, directory=str(assets.VENDOR_DIR.parent))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        ctx, page, seen = _open(browser, base + "/", allowed=(base, "data:", "about:", "blob:"))
        try:
            counts = page.evaluate(COUNT_JS)
            assert counts["grid"] == len(grids) and counts["building"] == len(ds.buildings)
            assert page.evaluate("() => !!document.querySelector('.leaflet-draw-toolbar')")
            assert seen["outside"] == [] and seen["dialogs"] == [] and seen["errors"] == [], seen
        finally:
            ctx.close()
    finally:
        srv.shutdown()


def test_sample_city_html_offline(browser, tmp_path):
    from gridplan import metrics
    from gridplan.demo import load_sample
    from gridplan.engine import partition

    ds = load_sample()
    plan = partition(ds, seed=0)
    grids = metrics.grids(ds, plan)
    path = export_html(ds, plan, tmp_path / "sample.html", grids=grids)[0]
    assert path.stat().st_size < 15e6
    ctx, page, seen = _open(browser, path.as_uri())
    try:
        counts = page.evaluate(COUNT_JS)
        assert counts["grid"] == len(grids) and counts["building"] == len(ds.buildings)
        assert seen["outside"] == [] and seen["errors"] == []
    finally:
        ctx.close()


STAPP = '''
import json, sys
sys.path[:0] = [{tests!r}, {root!r}]
import streamlit as st
from streamlit_folium import st_folium
from _toy import toy_dataset, toy_grids, toy_plan
from gridplan import webmap

@st.cache_resource
def data():
    ds = toy_dataset(); plan = toy_plan(ds)
    return ds, plan, toy_grids(ds, plan)

ds, plan, grids = data()
m = webmap.make_map(ds, grids=grids, assignment=plan.assignment, draw_tools=True)
out = st_folium(m, height=600, use_container_width=True, key="m",
                returned_objects=["last_active_drawing", "all_drawings"])
d = (out or {{}}).get("last_active_drawing")
st.code("CLICKED " + json.dumps((d or {{}}).get("properties", {{}}), ensure_ascii=False, sort_keys=True))
'''


def test_streamlit_folium_serves_local_assets_and_returns_clicks(toy, browser, tmp_path):
    """The real app path: Streamlit static serving + st_folium, no outside request, a building click
    comes back with its ids."""
    import shutil
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    import streamlit_folium  # noqa: F401  (a declared dependency)
    root = Path(__file__).resolve().parent.parent
    app = tmp_path / "app"
    (app / ".streamlit").mkdir(parents=True)
    shutil.copytree(assets.VENDOR_DIR, app / "static" / "vendor")
    shutil.copy(root / ".streamlit" / "config.toml", app / ".streamlit" / "config.toml")
    (app / "app.py").write_text(STAPP.format(tests=str(root / "tests"), root=str(root)), encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"], cwd=app,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(base + "/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.25)
        ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
        page = ctx.new_page()
        outside, failed = [], []
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith((base, "data:", "about:", "blob:"))
                   else (outside.append(r.request.url), r.abort()))
        page.on("response", lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None)
        page.goto(base + "/")
        frame = page.frame_locator("iframe[title*=folium]")
        frame.locator("path.leaflet-interactive").first.wait_for(timeout=30000)
        # click a building (its own SVG path) the way a planner would
        f = next(fr for fr in page.frames if fr.url.startswith(base + "/component/"))
        bid = f.evaluate("""() => { let id = null; window.map.eachLayer(l => {
            if (!id && l.feature && l.feature.properties.layer === 'building') { id = l.feature.properties.building_id;
              l._path.setAttribute('data-test', 'target'); } }); return id; }""")
        frame.locator("path[data-test=target]").click(force=True)
        page.get_by_text(f'"building_id": "{bid}"', exact=False).wait_for(timeout=20000)
        text = page.locator("code", has_text="CLICKED").inner_text()
        props = __import__("json").loads(text.split("CLICKED ", 1)[1])
        assert props["building_id"] == bid and props["grid_id"] == plan_grid(toy, bid)
        assert props["compound_id"] and props["layer"] == "building"
        assert outside == [] and failed == [], (outside, failed)
        ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def plan_grid(toy, bid):
    return toy[1].assignment[bid]
