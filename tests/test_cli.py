"""The command line as a user runs it: exit codes, human and JSON output, the demo's files."""
import json
import subprocess
import sys
from pathlib import Path

import pyogrio

from gridplan.cli import main


def test_no_command_is_usage_error(capsys):
    assert main([]) == 2
    assert main(["partition"]) == 2          # missing dataset
    assert main(["no-such-command"]) == 2


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("demo", "validate", "partition", "coverage", "suggest-stations", "export"):
        assert cmd in out


def test_bad_dataset_is_exit_1_with_message(tmp_path, capsys):
    assert main(["partition", str(tmp_path / "missing"), "--out", str(tmp_path / "p.gpkg")]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "p.gpkg").exists()


def test_demo_runs_the_whole_pipeline(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gridplan.cli", "demo", "--out", str(tmp_path), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads(proc.stdout)
    assert s["buildings"] > 8000 and s["communities"] == 18
    p = s["partition"]
    assert p["grids"] == p["compliant_grids"] + p["infeasible_grids"]
    assert p["contiguous_grids"] == p["grids"]
    assert 0 < s["coverage"]["covered_households"] < s["households"]
    names = {f.split("/")[-1] for f in s["files"]}
    for expected in ("plan.gpkg", "网格台账.xlsx", "网格地图.html", "网格划分图.pdf", "网格划分图.png"):
        assert expected in names
    layers = {row[0] for row in pyogrio.list_layers(tmp_path / "plan.gpkg")}
    assert {"assignment", "grids"} <= layers
    a = pyogrio.read_dataframe(tmp_path / "plan.gpkg", layer="assignment", read_geometry=False)
    assert len(a) == s["buildings"] and a["building_id"].is_unique


def test_cli_poster_is_titled_with_the_datasets_display_name(tmp_path):
    """Issue 16: the sample's poster says 什邡市示例城区, as the demo does, not the folder name."""
    out = tmp_path / "poster.pdf"
    proc = subprocess.run([sys.executable, "-m", "gridplan.cli", "export", "poster",
                           str(Path(__file__).resolve().parent.parent / "data" / "sample"), "--paper", "A3",
                           "--dpi", "40", "--format", "pdf", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
    title = next(line for line in info.splitlines() if line.startswith("Title:"))
    assert "什邡市示例城区" in title and "sample" not in title, title
