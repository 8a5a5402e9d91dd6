"""The chain commands on the command line: JSON keys, human output, files, and exit codes (0 ok,
1 bad input such as a bad staff file, 2 bad usage)."""
from __future__ import annotations

import json

import openpyxl
import pandas as pd
import pyogrio
import pytest
from _toy import toy_layers, toy_plan

from gridplan import cli
from gridplan.io import read_dataset, write_plan

G1, G2, G3, G4 = "51068200100101", "51068200100102", "51068200100201", "51068200100202"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("toyds")
    for k, g in toy_layers().items():
        if k == "stations":
            g = g.copy()
            g.loc[2, "kind"] = "mobile"  # S3 becomes a 流动郁心站
        g.to_file(d / f"{k}.geojson")
    ds = read_dataset(d)
    write_plan(ds, toy_plan(ds), d / "plan.gpkg")
    (d / "staff.csv").write_text(
        "网格员名单\n姓名,电话,职务,网格\n"
        f"张伟,13812345678,网格长,{G1}\n李娜,13900001111,专职网格员,{G1}\n"
        f"张伟,13812345678,网格长,{G2}\n刘洋,13566667777,网格长,{G3}\n", encoding="gbk")
    (d / "schedule.csv").write_text("站点编号,星期,开始时间,结束时间\nS3,周二、周六,9:00,11:00\n", encoding="utf-8")
    return d


def run(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    js = json.loads(out.out) if "--json" in argv and rc == 0 else None
    return rc, js, out


def test_staff_json_and_exit_codes(folder, tmp_path, capsys):
    rc, js, _ = run(["staff", folder, folder / "staff.csv", "--plan", folder / "plan.gpkg", "--json"], capsys)
    assert rc == 0
    assert (js["persons"], js["duties"], js["grids"], js["grids_with_one_leader"]) == (3, 4, 4, 3)
    assert sorted((v["code"], v["grid_id"]) for v in js["violations"]) == [("no_leader", G4),
                                                                         ("too_many_grids", f"{G1}, {G2}")]
    rc, js, _ = run(["staff", folder, folder / "staff.csv", "--plan", folder / "plan.gpkg", "--max-grids", "2",
                     "--json"], capsys)
    assert [v["code"] for v in js["violations"]] == ["no_leader"]
    rc, _, out = run(["staff", folder, folder / "staff.csv", "--plan", folder / "plan.gpkg"], capsys)
    assert rc == 0 and "网格 51068200100202 没有网格长" in out.out
    # a bad staff file: exit 1, every bad row named
    bad = tmp_path / "bad.csv"
    bad.write_text("姓名,电话,职务,网格\n,13812345678,网格长,G1\n王五,123,书记,G1\n", encoding="utf-8")
    rc, _, out = run(["staff", folder, bad, "--plan", folder / "plan.gpkg", "--json"], capsys)
    assert rc == 1 and "row 2" in out.err and "row 3" in out.err and out.out == ""
    rc, _, out = run(["staff", folder, tmp_path / "none.csv", "--plan", folder / "plan.gpkg"], capsys)
    assert rc == 1 and "does not exist" in out.err
    # bad usage: exit 2
    assert run(["staff", folder, folder / "staff.csv", "--plan", folder / "plan.gpkg", "--max-grids", "0"], capsys)[0] == 2
    assert run(["staff", folder, folder / "staff.csv"], capsys)[0] == 2  # --plan is required
    assert run(["staff", folder, folder / "staff.csv", "--plan", folder / "plan.gpkg", "--out", tmp_path / "x.txt"],
               capsys)[0] == 2


def test_staff_follow_a_new_plan_and_write_the_list(folder, tmp_path, capsys):
    ds = read_dataset(folder)
    old = toy_plan(ds)
    new = old.merge(G1, G2)  # G2 merged into G1: both of 张伟's duties land in G1
    write_plan(ds, new, tmp_path / "new.gpkg")
    rc, js, _ = run(["staff", folder, folder / "staff.csv", "--plan", tmp_path / "new.gpkg", "--from-plan",
                     folder / "plan.gpkg", "--out", tmp_path / "s.csv", "--json"], capsys)
    assert rc == 0 and js["grids"] == 3 and js["files"] == [str(tmp_path / "s.csv")]
    assert sorted(v["code"] for v in js["violations"]) == ["no_leader"]  # G4 still has none; G1 one leader
    text = (tmp_path / "s.csv").read_text(encoding="utf-8-sig")
    assert "138****5678" in text and "13812345678" not in text and f"{G2}" not in text
    rc, _, _ = run(["staff", folder, folder / "staff.csv", "--plan", tmp_path / "new.gpkg", "--from-plan",
                    folder / "plan.gpkg", "--out", tmp_path / "s.xlsx", "--include-personal", "--json"], capsys)
    cells = [c.value for row in openpyxl.load_workbook(tmp_path / "s.xlsx").active.iter_rows() for c in row]
    assert "13812345678" in cells


def test_grid_stations_json(folder, tmp_path, capsys):
    rc, js, _ = run(["grid-stations", folder, "--plan", folder / "plan.gpkg", "--out", tmp_path / "g.gpkg", "--json"],
                    capsys)
    assert rc == 0
    assert {"grids", "grids_without_station", "suggestions"} <= set(js)
    assert js["grids"] == 4 and js["grids_without_station"] == len(js["suggestions"]) >= 1
    for s in js["suggestions"]:
        assert {"grid_id", "building_id", "mean_walk_m"} <= set(s) and s["mean_walk_m"] > 0
    layers = set(pyogrio.list_layers(tmp_path / "g.gpkg")[:, 0])
    assert layers == {"grid_station_status", "suggested_grid_stations", "stations_adopted"}
    adopted = pyogrio.read_dataframe(tmp_path / "g.gpkg", layer="stations_adopted")
    assert int(adopted["adopted"].sum()) == js["grids_without_station"]
    # a generous mean walk lets the nearby 郁心站 serve every grid
    rc, js2, _ = run(["grid-stations", folder, "--plan", folder / "plan.gpkg", "--within-m", "5000", "--json"], capsys)
    assert js2["grids_without_station"] == 0 and js2["suggestions"] == []
    rc, _, out = run(["grid-stations", folder, "--plan", folder / "plan.gpkg"], capsys)
    assert rc == 0 and "郁心站" in out.out
    assert run(["grid-stations", folder, "--plan", folder / "plan.gpkg", "--within-m", "-1"], capsys)[0] == 2
    assert run(["grid-stations", folder], capsys)[0] == 2


def test_mobile_party_chain_and_sanwu(folder, tmp_path, capsys):
    rc, js, _ = run(["mobile", folder, "--plan", folder / "plan.gpkg", "--schedule", folder / "schedule.csv", "--json"],
                    capsys)
    assert rc == 0 and js["stations"] == 1 and js["by_weekday"]["mon"] == 0 and js["by_weekday"]["tue"] > 0
    assert js["stops"][0]["windows"] == "周二 09:00–11:00；周六 09:00–11:00"
    (tmp_path / "bad.csv").write_text("站点编号,星期,开始时间,结束时间\nS9,周八,9:00,8:00\n", encoding="utf-8")
    rc, _, out = run(["mobile", folder, "--schedule", tmp_path / "bad.csv"], capsys)
    assert rc == 1 and "S9" in out.err and "周八" in out.err and out.out == ""
    assert run(["mobile", folder], capsys)[0] == 2  # no schedule anywhere: say how to give one
    assert run(["mobile", folder, "--schedule", folder / "schedule.csv", "--minutes", "0"], capsys)[0] == 2

    rc, js, _ = run(["party-chain", folder, "--plan", folder / "plan.gpkg", "--out", tmp_path / "c.csv", "--json"],
                    capsys)
    assert rc == 0 and js["levels"]["1"] == 1 and js["levels"]["2"] == 2 and js["levels"]["4"] == 128
    assert js["grids"] == 4 and js["need"] > 0
    t = pd.read_csv(tmp_path / "c.csv", encoding="utf-8-sig")
    assert "party_members" not in t.columns and set(t["level"]) == {1, 2, 3, 4, 5}
    assert run(["party-chain", folder, "--per", "0"], capsys)[0] == 2

    rc, _, out = run(["sanwu-progress", folder, "--since", "2024-01-01"], capsys)
    assert rc == 1 and "compound_status" in out.err
    (tmp_path / "h.csv").write_text("小区编号,日期,有物业,有主管部门,有业委会,红色物业\nC03,2023-01-01,否,否,否,否\n"
                                    "C03,2024-05-01,是,是,是,是\n", encoding="utf-8")
    rc, js, _ = run(["sanwu-progress", folder, "--since", "2024-01-01", "--until", "2025-01-01", "--history",
                     tmp_path / "h.csv", "--chart", tmp_path / "c.png", "--json"], capsys)
    assert rc == 0 and js["sanwu_since"] == 2 and js["sanyou"] == ["C03"] and js["remaining"] == ["C06"]
    assert js["red_property_compounds"] == ["C03"] and (tmp_path / "c.png").stat().st_size > 5000
    assert run(["sanwu-progress", folder, "--since", "昨天"], capsys)[0] == 2


def test_export_ledger_with_the_chain_inputs(folder, tmp_path, capsys):
    rc, js, _ = run(["export", "ledger", folder, "--plan", folder / "plan.gpkg", "--out", tmp_path / "l.xlsx",
                     "--staff", folder / "staff.csv", "--schedule", folder / "schedule.csv", "--no-csv", "--json"], capsys)
    assert rc == 0
    wb = openpyxl.load_workbook(tmp_path / "l.xlsx")
    assert {"网格员", "网格员核查", "流动郁心站", "流动站排班", "党员中心户", "五级组织"} <= set(wb.sheetnames)
    cells = [str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]
    assert "138****5678" in cells and not any("13812345678" in c for c in cells)
    rc, js, _ = run(["export", "poster", folder, "--plan", folder / "plan.gpkg", "--out", tmp_path / "p.pdf",
                     "--paper", "A4", "--dpi", "30", "--staff", folder / "staff.csv", "--json"], capsys)
    assert rc == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("姓名,职务,网格\n张三,司令,G1\n", encoding="utf-8")
    assert run(["export", "html", folder, "--plan", folder / "plan.gpkg", "--staff", bad], capsys)[0] == 1
    assert run(["export", "ledger", folder, "--plan", folder / "plan.gpkg", "--since", "someday"], capsys)[0] == 2
