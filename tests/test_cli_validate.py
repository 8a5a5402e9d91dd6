"""``gridplan validate``: human and JSON output, exit codes 0/1/2, in process and as a subprocess."""
from __future__ import annotations

import contextlib
import io as _io
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import malformed as M
import pytest

from gridplan.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"


def run(args):
    out, err = _io.StringIO(), _io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def good(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return M.write_dataset(M.base_layers(), tmp_path / "good", "geojson")


@pytest.fixture
def bad(tmp_path):
    layers = M.base_layers()
    b = layers["buildings"]
    b.loc[b.index[1], "building_id"] = "B001"
    b.loc[b.index[3], "households"] = -4
    return M.write_dataset(layers, tmp_path / "bad", "geojson")


def test_valid_dataset_exits_0(good):
    code, out, err = run(["validate", str(good)])
    assert code == 0, out + err
    assert "✓" in out and "valid" in out


def test_valid_dataset_json(good):
    code, out, _ = run(["validate", str(good), "--json"])
    payload = json.loads(out)
    assert code == 0
    assert payload["valid"] is True and payload["errors"] == 0 and payload["problems"] == []
    assert payload["seconds"] >= 0


def test_invalid_dataset_exits_1_and_lists_everything(bad):
    code, out, err = run(["validate", str(bad)])
    assert code == 1
    assert "✗" in out and "Traceback" not in out + err
    assert "buildings [B001]" in out and "buildings [B004]" in out
    assert "duplicate" in out or "used by 2" in out
    code, out, _ = run(["validate", str(bad), "--json"])
    payload = json.loads(out)
    assert code == 1 and payload["valid"] is False and payload["errors"] >= 2
    feats = {(p["layer"], p["feature"], p["code"]) for p in payload["problems"]}
    assert ("buildings", "B001", "duplicate_id") in feats and ("buildings", "B004", "negative_count") in feats
    assert all(p["fix"] for p in payload["problems"])


def test_warnings_only_exit_0(tmp_path):
    layers = M.base_layers()
    layers["buildings"] = layers["buildings"].drop(columns=["households"])
    path = M.write_dataset(layers, tmp_path, "geojson")
    code, out, _ = run(["validate", str(path)])
    assert code == 0
    assert "households estimated" in out and "警告" in out


def test_missing_path_exits_1(tmp_path):
    code, out, err = run(["validate", str(tmp_path / "nope")])
    assert code == 1 and "does not exist" in out and "Traceback" not in out + err


@pytest.mark.parametrize("args", [[], ["validate"], ["validate", "x", "--coord-system", "mars"], ["frobnicate"],
                                  ["validate", "x", "--bogus"]])
def test_bad_usage_exits_2(args):
    code, out, err = run(args)
    assert code == 2 and "Traceback" not in out + err


def test_help_exits_0():
    code, out, _ = run(["validate", "--help"])
    assert code == 0 and "dataset" in out


def test_map_option(tmp_path):
    layers = M.base_layers()
    layers["buildings"] = layers["buildings"].rename(columns={"households": "ZHS"})
    path = M.write_dataset(layers, tmp_path, "geojson")
    code, out, _ = run(["validate", str(path), "--json"])
    # unmapped, ZHS is not recognised: households are estimated from footprint × floors (a warning)
    assert code == 0 and "households_estimated" in {p["code"] for p in json.loads(out)["problems"]}
    code2, out2, _ = run(["validate", str(path), "--map", "ZHS=households", "--json"])
    assert code2 == 0 and json.loads(out2)["problems"] == []


def test_coord_system_option(tmp_path):
    import geopandas as gpd
    import numpy as np

    from gridplan.crs import from_wgs84
    layers = {k: v.set_geometry(gpd.GeoSeries(from_wgs84(np.asarray(v.geometry.array), "gcj02"), index=v.index,
                                              crs=4326)) for k, v in M.base_layers().items()}
    path = M.write_dataset(layers, tmp_path, "geojson")
    code, out, _ = run(["validate", str(path), "--coord-system", "gcj02", "--json"])
    assert code == 0, out


def test_subprocess_python_m(tmp_path, bad, good):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-m", "gridplan.cli", "validate", str(bad)], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 1
    assert "Traceback" not in r.stdout + r.stderr
    assert "buildings [B001]" in r.stdout
    r = subprocess.run([sys.executable, "-m", "gridplan.cli", "validate", str(good), "--json"], capture_output=True,
                       text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["valid"] is True
    r = subprocess.run([sys.executable, "-m", "gridplan.cli", "validate"], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_bundled_sample_is_valid():
    before = M.snapshot(SAMPLE)
    code, out, err = run(["validate", str(SAMPLE), "--json"])
    assert code == 0, out + err
    payload = json.loads(out)
    assert payload["errors"] == 0
    assert M.snapshot(SAMPLE) == before


def test_assume_crs_option(tmp_path):
    d = M.write_dataset(M.base_layers(4544), tmp_path / "shp", "shp")
    for f in d.glob("*.prj"):
        f.unlink()
    code, out, _ = run(["validate", str(d)])
    assert code == 1 and "EPSG:4544" in out
    code, out, _ = run(["validate", str(d), "--assume-crs", "EPSG:4544", "--json"])
    assert code == 0, out
