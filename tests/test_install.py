"""A non-editable install (a wheel in a fresh virtual environment) finds the bundled sample city, its
rosters and the offline map assets: package data through importlib.resources (gridplan._data,
gridplan.assets.asset_path), not the repository's folders."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, sys
import gridplan
from gridplan.demo import load_sample, sample_path
from gridplan.sample_roster import ROSTER_DIR
from gridplan import assets
ds = load_sample()
out = {"gridplan": gridplan.__file__, "sample": str(sample_path()), "buildings": len(ds.buildings),
       "households": int(ds.buildings["households"].sum()), "communities": len(ds.communities),
       "rosters": sorted(p.name for p in ROSTER_DIR.iterdir())}
leaflet = assets.asset_path("leaflet")
out["leaflet"] = str(leaflet)
out["leaflet_head"] = leaflet.read_text(encoding="utf-8")[:400]
import folium, re
page = folium.Map().get_root().render()           # folium's own page: it links its assets on public CDNs
out["cdn_links_before"] = len(re.findall(r'<(?:script|link)[^>]+(?:src|href)="https?://', page))
html = assets.inline_assets(page)
out["inlined"] = len(html)
out["outside_links"] = len(re.findall(r'<(?:script|link)[^>]+(?:src|href)="https?://', html))
try:
    assets.asset_path("leaflet_draw_js")
    out["draw"] = "found"
except assets.AssetsMissingError as e:
    out["draw"] = str(e)
print(json.dumps(out))
"""


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_finds_sample_and_assets(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-w", str(wheels), "-q",
                            "--disable-pip-version-check"], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = wheels.glob("gridplan-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sample_files = sorted(p.name for p in (ROOT / "data" / "sample").iterdir() if p.is_file())
    assert {f"gridplan/data/sample/{n}" for n in sample_files} <= names
    assert not any(n.startswith(("tests/", "app_pages/", "static/")) for n in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    inst = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                           "--disable-pip-version-check", str(wheel)], capture_output=True, text=True, timeout=600)
    assert inst.returncode == 0, inst.stdout + inst.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GRIDPLAN_VENDOR_DIR")}
    run = subprocess.run([str(py), "-c", PROBE], cwd=elsewhere, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    site = str(venv)
    assert out["gridplan"].startswith(site), out["gridplan"]          # the installed copy, not the checkout
    assert out["sample"].startswith(site) and out["sample"].endswith("gridplan/data/sample")
    # the same city as the repository's data/sample (read independently here)
    repo = json.loads((ROOT / "data" / "sample" / "buildings.geojson").read_text(encoding="utf-8"))
    assert out["buildings"] == len(repo["features"])
    assert out["households"] == sum(int(f["properties"]["households"]) for f in repo["features"])
    assert out["communities"] > 1
    assert out["rosters"] == sorted(p.name for p in (ROOT / "data" / "rosters").iterdir() if p.is_file())
    # Leaflet from the installed XStatic package, inlined so the page needs no network
    assert "xstatic" in out["leaflet"] and out["leaflet"].endswith("leaflet.js")
    assert "Leaflet" in out["leaflet_head"]
    assert out["cdn_links_before"] >= 2                       # the page did link outside before
    assert out["inlined"] > 100_000 and out["outside_links"] == 0
    # leaflet.draw comes from npm into a vendor folder only: a clear message, not a traceback
    assert "setup.sh" in out["draw"]
