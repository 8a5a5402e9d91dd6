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


def _toy_source(tmp_path):
    from _toy import toy_layers

    from gridplan.io import write_layers

    src = tmp_path / "toy.gpkg"
    write_layers(toy_layers(), src)
    return src


def test_partition_jobs_gives_the_same_plan_and_reports_the_search(tmp_path, capsys):
    src = _toy_source(tmp_path)
    payloads, plans = [], []
    for jobs in ("1", "2"):
        out = tmp_path / f"plan{jobs}.gpkg"
        assert main(["partition", str(src), "--out", str(out), "--json", "--jobs", jobs]) == 0
        payloads.append(json.loads(capsys.readouterr().out))
        a = pyogrio.read_dataframe(out, layer="assignment", read_geometry=False)
        plans.append(a.set_index("building_id")["grid_id"].sort_index())
    assert plans[0].equals(plans[1])
    one, two = payloads
    assert one["workers"] == 1 and two["workers"] == 2
    for p in payloads:
        assert p["budget_reached"] is False
        assert p["compounds_split"] == p["compounds_split_necessary"] == 0
        assert set(p["communities"]) == {"510682001001", "510682001002"}
        for row in p["communities"].values():
            assert {"fitting_compounds", "compounds_split", "compounds_split_necessary", "work",
                    "budget_reached"} <= set(row)
    assert one["communities"] == two["communities"]


def test_partition_tight_budget_says_so(tmp_path, capsys):
    src = _toy_source(tmp_path)
    assert main(["partition", str(src), "--out", str(tmp_path / "p.gpkg"), "--json",
                 "--work-per-building", "0.5"]) == 0
    assert json.loads(capsys.readouterr().out)["budget_reached"] is True


def test_partition_bad_search_options_are_usage_errors(tmp_path, capsys):
    src = _toy_source(tmp_path)
    for opt in (["--jobs", "0"], ["--time-limit", "0"], ["--work-per-building", "-1"], ["--jobs", "two"]):
        assert main(["partition", str(src), "--out", str(tmp_path / "p.gpkg"), *opt]) == 2, opt
    assert not (tmp_path / "p.gpkg").exists()


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


def test_out_never_overwrites_an_input(tmp_path, capsys):
    """`partition city.gpkg --out city.gpkg` used to replace the user's dataset by the plan."""
    import malformed as M
    gpkg = M.write_dataset(M.base_layers(), tmp_path / "one", "gpkg")
    folder = M.write_dataset(M.base_layers(), tmp_path / "folder", "shp")
    plan = tmp_path / "plan.gpkg"
    assert main(["partition", str(folder), "--out", str(plan)]) == 0
    before = {**M.snapshot(tmp_path / "one"), **M.snapshot(folder), **M.snapshot(plan)}
    refused = [
        ["partition", str(gpkg), "--out", str(gpkg)],
        ["partition", str(folder), "--out", str(folder / "buildings.shp")],         # a layer file of the dataset
        ["partition", str(folder), "--out", str(folder / "楼栋.gpkg")],             # a new file read as a layer
        ["coverage", str(folder), "--plan", str(plan), "--out", str(plan)],
        ["export", "data", str(folder), "--plan", str(plan), "--out", str(folder)],
        ["export", "data", str(gpkg), "--out", str(tmp_path / "one" / "." / gpkg.name)],
        ["suggest-stations", str(folder), "--count", "1", "--out", str(folder / "stations.shp")],
    ]
    for argv in refused:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "would overwrite" in err and "Traceback" not in err, argv
    assert {**M.snapshot(tmp_path / "one"), **M.snapshot(folder), **M.snapshot(plan)} == before
    assert main(["partition", str(gpkg), "--out", str(tmp_path / "one" / "plan.gpkg")]) == 0     # beside it: fine


def test_output_into_a_closed_pipe_is_no_traceback(tmp_path):
    """`gridplan validate DATA | head -1`: head closes the pipe; no BrokenPipeError traceback."""
    import malformed as M
    layers = M.base_layers()
    layers["buildings"] = layers["buildings"].assign(households=-1)      # many lines of output
    folder = M.write_dataset(layers, tmp_path / "d", "geojson")
    proc = subprocess.Popen([sys.executable, "-m", "gridplan.cli", "validate", str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()                                                   # the reader went away
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipe" not in err, err[-1500:]
