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

from gridplan import assets, webmap
from gridplan.export import export_html
from _toy import EVIL, EVIL_IMG, toy_dataset, toy_grids, toy_plan

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Chromium not installed at {CHROMIUM} "
                                 "(bash scripts/setup.sh --tests installs it)")]

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
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
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
    path = export_html(ds, tmp_path / "网格地图.html", grids=grids, plan=plan)
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
    from gridplan.partition import partition

    ds = load_sample()
    plan = partition(ds, seed=0)
    grids = metrics.grids(ds, plan)
    path = export_html(ds, tmp_path / "sample.html", grids=grids, plan=plan)
    assert path.stat().st_size < 15e6
    ctx, page, seen = _open(browser, path.as_uri())
    try:
        counts = page.evaluate(COUNT_JS)
        assert counts["grid"] == len(grids) and counts["building"] == len(ds.buildings)
        assert seen["outside"] == [] and seen["errors"] == []
    finally:
        ctx.close()
