"""Data exports and the grid ledger: round-trips with Chinese text, QGIS styles, sums, personal fields."""
from __future__ import annotations

import sqlite3
import zipfile

import openpyxl
import pandas as pd
import pyogrio
import pytest
from _toy import EVIL, EVIL_IMG, toy_dataset, toy_grids, toy_plan

from gridplan import export


@pytest.fixture(scope="module")
def toy():
    ds = toy_dataset()
    plan = toy_plan(ds)
    return ds, plan, toy_grids(ds, plan)


def _by_kind(files):
    """The exporters return every file written; name them by kind for the assertions."""
    out = {}
    for f in files:
        n = f.name
        kind = ("gpkg" if n.endswith(".gpkg") else "shp" if n.endswith(".zip") else "geojson" if n.endswith(".geojson")
                else "xlsx" if n.endswith(".xlsx") else "hierarchy_csv" if n.endswith("_党建层级.csv") else "csv")
        if "assignment" in n:
            kind = "assignment_" + kind
        out[kind] = f
    return out


def test_data_formats_round_trip_with_chinese(toy, tmp_path):
    ds, plan, grids = toy
    w = _by_kind(export.export_data(ds, plan, tmp_path, grids=grids))
    # every file written is listed, the assignment files too
    assert set(w) == {"geojson", "gpkg", "shp", "assignment_geojson", "assignment_shp"}
    assert all(f.exists() for f in w.values())
    a = plan.assignment
    for src, layer in ((w["gpkg"], "grids"), (w["geojson"], None), (f"/vsizip/{w['shp']}", None)):
        g = pyogrio.read_dataframe(src, layer=layer) if layer else pyogrio.read_dataframe(src)
        assert sorted(g["grid_id"]) == sorted(grids.index)
        name_col = "community" if "community" in g.columns else "comm_name"
        assert set(g[name_col]) == {"方亭社区", "皂角社区"}
        assert int(g["households"].sum()) == int(ds.buildings["households"].sum())
    # assignment in every format, every building once
    for src in (w["gpkg"], tmp_path / "assignment.geojson", f"/vsizip/{tmp_path / 'assignment_shp.zip'}"):
        kw = {"layer": "assignment"} if str(src).endswith(".gpkg") else {}
        t = pyogrio.read_dataframe(src, read_geometry=False, **kw)
        bid = "building_id" if "building_id" in t.columns else "bldg_id"
        assert dict(zip(t[bid], t["grid_id"])) == a.to_dict()
        assert "party_members" not in t.columns and "party_mem" not in t.columns  # personal: left out
    comp_col = pyogrio.read_dataframe(w["gpkg"], layer="assignment", read_geometry=False)
    assert "compound_id" in comp_col.columns


def test_crs_of_outputs(toy, tmp_path):
    ds, plan, grids = toy
    w = _by_kind(export.export_data(ds, plan, tmp_path, grids=grids))
    assert pyogrio.read_info(w["geojson"])["crs"] == "EPSG:4326"
    assert pyogrio.read_info(w["gpkg"], layer="grids")["crs"] == f"EPSG:{ds.source_crs.to_epsg()}"


def test_shapefile_zip_has_utf8_cpg(toy, tmp_path):
    ds, plan, grids = toy
    p = export.export_data(ds, plan, tmp_path / "g.zip", grids=grids)[0]
    with zipfile.ZipFile(p) as z:
        names = z.namelist()
        cpg = next(n for n in names if n.endswith(".cpg"))
        assert z.read(cpg).decode().strip().upper().replace("-", "") == "UTF8"
    g = pyogrio.read_dataframe(f"/vsizip/{p}")
    assert "方亭街道" in set(g["street"])


def test_gpkg_has_qgis_layer_style(toy, tmp_path):
    ds, plan, grids = toy
    p = export.export_data(ds, plan, tmp_path / "plan.gpkg", grids=grids)[0]
    con = sqlite3.connect(p)
    rows = con.execute("SELECT f_table_name, f_geometry_column, styleQML, styleSLD, useAsDefault FROM layer_styles").fetchall()
    contents = {r[0]: r[1] for r in con.execute("SELECT table_name, data_type FROM gpkg_contents")}
    con.close()
    assert contents.get("layer_styles") == "attributes"
    (table, geom, qml, sld, default), = rows
    assert table == "grids" and geom == "geom" and default == 1
    import xml.etree.ElementTree as ET
    root = ET.fromstring(qml.split("\n", 1)[1])
    assert root.find("renderer-v2").get("type") == "categorizedSymbol"
    cats = root.findall("renderer-v2/categories/category")
    assert {c.get("value") for c in cats} == set(grids.index)
    assert root.get("labelsEnabled") == "1" and root.find("labeling/settings/text-style") is not None
    ET.fromstring(sld)  # well-formed
    # QGIS's own reader goes through OGR: the style table is readable as a layer
    assert "layer_styles" in [r[0] for r in pyogrio.list_layers(p)]


def test_ledger_excel_and_csv(toy, tmp_path):
    ds, plan, grids = toy
    b = ds.buildings
    cov = pd.DataFrame({"covered": [i % 3 != 0 for i in range(len(b))]}, index=b.index)
    w = _by_kind(export.export_ledger(ds, plan, tmp_path / "台账.xlsx", grids=grids, coverage=cov))
    wb = openpyxl.load_workbook(w["xlsx"])
    assert wb.sheetnames == ["网格台账", "党建层级", "五级组织", "党员中心户", "说明"]
    rows = list(wb["网格台账"].iter_rows(values_only=True))
    head, body, total = rows[0], rows[1:-1], rows[-1]
    for col in ("网格编码", "社区", "街道", "户数", "人口", "党员数", "小区数", "楼栋数", "三无小区数",
                "15分钟服务圈覆盖户数", "覆盖率(%)"):
        assert col in head, col
    idx = {c: i for i, c in enumerate(head)}
    assert len(body) == len(grids) and total[0] == "合计"
    assert sum(r[idx["户数"]] for r in body) == int(b["households"].sum()) == total[idx["户数"]]
    assert sum(r[idx["人口"]] for r in body) == int(b["persons"].sum())
    assert sum(r[idx["党员数"]] for r in body) == int(b["party_members"].sum())
    assert sum(r[idx["楼栋数"]] for r in body) == len(b)
    assert sum(r[idx["三无小区数"]] for r in body) == 2
    assert sum(r[idx["15分钟服务圈覆盖户数"]] for r in body) == int(b["households"][cov["covered"]].sum())
    # the hierarchy: one row per building, 街道 → 社区 → 网格 → 小区 → 楼栋, no personal counts
    hier = list(wb["党建层级"].iter_rows(values_only=True))
    assert hier[0][:1] == ("街道",) and "党员数" not in hier[0]
    assert len(hier) - 1 == len(b)
    assert EVIL in {r[hier[0].index("小区")] for r in hier[1:]}  # text stays text
    # CSV: UTF-8 with BOM, Chinese headers
    raw = w["csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "网格编码".encode() in raw
    df = pd.read_csv(w["csv"], encoding="utf-8-sig", dtype={"网格编码": str})
    assert df["户数"].sum() == int(b["households"].sum())


def test_ledger_personal_fields_on_request(toy, tmp_path):
    ds, plan, grids = toy
    w = _by_kind(export.export_ledger(ds, plan, tmp_path / "l.xlsx", grids=grids, include_personal=True, csv=False))
    hier = list(openpyxl.load_workbook(w["xlsx"])["党建层级"].iter_rows(values_only=True))
    i = hier[0].index("党员数")
    assert sum(r[i] for r in hier[1:]) == int(ds.buildings["party_members"].sum())
    assert set(w) == {"xlsx"}


def test_formula_injection_is_neutralised(toy, tmp_path):
    ds, plan, grids = toy
    comp = ds.compounds.copy()
    comp.loc[comp.index[0], "name"] = "=HYPERLINK(\"http://x\",\"y\")"
    ds2 = ds.replace(compounds=comp)
    w = _by_kind(export.export_ledger(ds2, plan, tmp_path / "f.xlsx", grids=grids))
    ws = openpyxl.load_workbook(w["xlsx"])["党建层级"]
    cells = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert cells and all(c.data_type == "s" and c.value.startswith("'=") for c in cells)


def test_assignment_csv_neutralises_formulas_and_reads_back(tmp_path):
    from gridplan.io import read_assignment_csv, read_dataset
    from gridplan.model import Plan
    from gridplan.sample import tiny_city
    layers = tiny_city()
    layers["buildings"].loc[0, "building_id"] = "=1+2"
    layers["buildings"].loc[1, "building_id"] = "@SUM(A1)"
    ds = read_dataset(layers, name="evil")
    plan = Plan.from_mapping({b: ("-G1" if i % 2 else "+G2") for i, b in enumerate(ds.buildings.index)})
    path, = export.export_assignment(ds, plan, tmp_path / "a.csv")
    text = path.read_text(encoding="utf-8-sig")
    assert text.startswith("building_id,grid_id")
    cells = [c for line in text.splitlines()[1:] for c in line.split(",")]
    assert not [c for c in cells if c[:1] in "=+-@"], cells                  # no cell a spreadsheet would run
    back = read_assignment_csv(path)
    assert len(back) == len(ds.buildings) and back.loc["=1+2"] == "+G2"   # the ' is taken off again


def test_bad_format_is_refused(toy, tmp_path):
    ds, plan, grids = toy
    with pytest.raises(ValueError, match="format"):
        export.export_data(ds, plan, tmp_path, grids=grids, formats=("kml",))


# --------------------------------------------------------------------------- command line
def _parser():
    import argparse

    from gridplan import cli
    from gridplan.cli.export import register as add_export_parser

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "export" not in sub.choices:  # until cli.py wires it
        add_export_parser(sub)
    return parser


def _run(argv, capsys):
    import json

    args = _parser().parse_args(argv)
    rc = args.func(args)
    out = capsys.readouterr()
    return rc, (json.loads(out.out) if "--json" in argv and rc == 0 else out)


@pytest.fixture(scope="module")
def toy_folder(tmp_path_factory):
    from _toy import toy_layers
    d = tmp_path_factory.mktemp("toyds")
    for k, g in toy_layers().items():
        g.to_file(d / f"{k}.geojson")
    return d


def test_cli_export_all_kinds(toy_folder, tmp_path, capsys):
    from gridplan.io import read_dataset

    ds = read_dataset(toy_folder)  # no --plan: the CLI partitions with the engine
    rc, js = _run(["export", "data", str(toy_folder), "--out", str(tmp_path / "d"), "--formats", "gpkg", "--json"],
                  capsys)
    assert rc == 0 and js["files"][0].endswith("grids.gpkg")
    g = pyogrio.read_dataframe(js["files"][0], layer="grids")
    assert int(g["households"].sum()) == int(ds.buildings["households"].sum())
    rc, js = _run(["export", "ledger", str(toy_folder), "--out", str(tmp_path / "l"), "--coverage", "--json"], capsys)
    assert rc == 0 and any(f.endswith(".xlsx") for f in js["files"]) and "covered_households" in js
    rc, js = _run(["export", "poster", str(toy_folder), "--out", str(tmp_path / "p.png"), "--paper", "A4",
                   "--dpi", "30", "--json"], capsys)
    assert rc == 0 and js["files"] == [str(tmp_path / "p.png")]
    rc, js = _run(["export", "html", str(toy_folder), "--out", str(tmp_path / "m.html"), "--json"], capsys)
    assert rc == 0 and (tmp_path / "m.html").stat().st_size > 100_000


def test_cli_export_with_saved_plan_and_errors(toy_folder, tmp_path, capsys):
    import pandas as pd
    import pyogrio as po

    from gridplan.io import read_dataset

    ds = read_dataset(toy_folder)
    a = toy_plan(ds).assignment
    po.write_dataframe(pd.DataFrame({"building_id": a.index, "grid_id": a.to_numpy()}), tmp_path / "plan.gpkg",
                       layer="assignment", driver="GPKG")
    rc, js = _run(["export", "data", str(toy_folder), "--plan", str(tmp_path / "plan.gpkg"), "--out",
                   str(tmp_path / "x.geojson"), "--json"], capsys)
    assert rc == 0
    g = pyogrio.read_dataframe(js["files"][0])
    assert sorted(g["grid_id"]) == sorted(a.unique())
    rc, out = _run(["export", "poster", str(toy_folder), "--plan", str(tmp_path / "plan.gpkg"), "--scope", "火星",
                    "--out", str(tmp_path / "p.pdf")], capsys)
    assert rc == 1 and "unknown scope" in out.err
    with pytest.raises(FileNotFoundError, match="gridplan partition"):
        _run(["export", "html", str(toy_folder), "--plan", str(tmp_path / "none.gpkg")], capsys)


def test_grid_layer_derived_from_plan_when_omitted(toy, tmp_path):
    ds, plan, _ = toy
    w = export.export_data(ds, plan, tmp_path / "g.gpkg")
    g = pyogrio.read_dataframe(w[0], layer="grids")
    assert sorted(g["grid_id"]) == sorted(plan.assignment.unique())
    led = export.export_ledger(ds, plan, tmp_path / "l.xlsx", csv=False)
    assert led == [tmp_path / "l.xlsx"] and led[0].exists()
    h, = export.export_hierarchy(ds, plan, tmp_path / "h.csv")
    df = pd.read_csv(h, encoding="utf-8-sig", dtype=str)
    assert list(df.columns[:6]) == ["街道", "街道党工委", "社区", "社区党组织", "网格编码", "网格序号"]
    assert len(df) == len(ds.buildings)


# --------------------------------------------------------------------------- grid staff, the chain, mobile stops, 三无
FULL_PHONE, MASKED = "13812345678", "138****5678"


def _toy_staff():
    from gridplan.staff import StaffAssignment
    rows = [("p1", "张伟", FULL_PHONE, "leader", "51068200100101"),
            ("p2", EVIL, "13900001111", "full_time", "51068200100101"),
            ("p3", "=SUM(A1:A9)", "13722223333", "leader", "51068200100102"),
            ("p4", "王芳", "13655554444", "leader", "51068200100102"),   # a second leader in …02
            ("p5", "刘洋", "13566667777", "leader", "51068200100201")]  # …202 has none
    return StaffAssignment(pd.DataFrame(rows, columns=["person_id", "name", "phone", "role", "grid_id"]))


def _cells(path):
    wb = openpyxl.load_workbook(path)
    return {name: [c for row in wb[name].iter_rows() for c in row] for name in wb.sheetnames}


def test_ledger_with_staff_masks_phones_and_neutralises_formulas(toy, tmp_path):
    ds, plan, grids = toy
    w = _by_kind(export.export_ledger(ds, plan, tmp_path / "s.xlsx", grids=grids, staff=_toy_staff()))
    cells = _cells(w["xlsx"])
    assert {"网格员", "网格员核查"} <= set(cells)
    values = [str(c.value) for cs in cells.values() for c in cs if c.value is not None]
    assert not any(FULL_PHONE in v for v in values) and any(MASKED in v for v in values)
    assert not any("13900001111" in v for v in values)  # every phone, not only the leaders'
    rows = list(openpyxl.load_workbook(w["xlsx"])["网格台账"].iter_rows(values_only=True))
    head = rows[0]
    for col in ("网格长", "网格长电话", "专职网格员", "兼职网格员", "党员中心户需设数"):
        assert col in head, col
    by_grid = {r[head.index("网格编码")]: r for r in rows[1:-1]}
    assert by_grid["51068200100101"][head.index("网格长")] == "张伟"
    assert by_grid["51068200100101"][head.index("网格长电话")] == MASKED
    assert by_grid["51068200100101"][head.index("专职网格员")] == EVIL  # text stays text
    formula = [c for c in cells["网格台账"] + cells["网格员"] if isinstance(c.value, str) and "SUM(A1" in c.value]
    assert formula and all(c.data_type == "s" and c.value.startswith("'=") for c in formula)
    check = list(openpyxl.load_workbook(w["xlsx"])["网格员核查"].iter_rows(values_only=True))
    kinds = {(r[0], r[1]) for r in check[1:]}
    assert ("缺少网格长", "51068200100202") in kinds and ("网格长多于一名", "51068200100102") in kinds
    # the CSV ledger masks too
    assert FULL_PHONE not in w["csv"].read_text(encoding="utf-8-sig") and MASKED in w["csv"].read_text(encoding="utf-8-sig")
    # on request (internal use) the full numbers are written
    w2 = _by_kind(export.export_ledger(ds, plan, tmp_path / "p.xlsx", grids=grids, staff=_toy_staff(),
                                       include_personal=True, csv=False))
    assert any(FULL_PHONE in str(c.value) for cs in _cells(w2["xlsx"]).values() for c in cs)


def test_html_map_names_leaders_with_masked_phones(toy, tmp_path):
    import html as _html
    ds, plan, grids = toy
    p, = export.export_html(ds, plan, tmp_path / "m.html", grids=grids, staff=_toy_staff())
    text = p.read_text(encoding="utf-8")
    import json
    assert MASKED in text and FULL_PHONE not in text
    assert "张伟" in text or json.dumps("张伟")[1:-1] in text  # the map data may be JSON-escaped
    assert EVIL not in text.replace(_html.escape(EVIL), "")  # the evil name only ever appears escaped
    p2, = export.export_html(ds, plan, tmp_path / "m2.html", grids=grids, staff=_toy_staff(), include_personal=True)
    assert FULL_PHONE in p2.read_text(encoding="utf-8")


def test_poster_labels_leaders_with_masked_phones(toy, tmp_path):
    import subprocess
    ds, plan, grids = toy
    pdf, = export.export_poster(ds, plan, tmp_path / "p.pdf", grids=grids, paper="A3", dpi=40, staff=_toy_staff())
    txt = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "张伟" in txt and MASKED in txt and FULL_PHONE not in txt
    pdf2, = export.export_poster(ds, plan, tmp_path / "p2.pdf", grids=grids, paper="A3", dpi=40, staff=_toy_staff(),
                                 include_personal=True)
    assert FULL_PHONE in subprocess.run(["pdftotext", str(pdf2), "-"], capture_output=True, text=True).stdout


def test_hierarchy_carries_all_five_levels(toy, tmp_path):
    from gridplan.chain import central_household_need
    ds, plan, grids = toy
    h, = export.export_hierarchy(ds, plan, tmp_path / "h.xlsx")
    wb = openpyxl.load_workbook(h)
    assert wb.sheetnames == ["党建层级", "五级组织"]
    rows = list(wb["党建层级"].iter_rows(values_only=True))
    head = rows[0]
    for col in ("街道党工委", "社区党组织", "小区党支部", "楼栋党小组", "党员中心户需设数"):
        assert col in head, col
    assert "党员数" not in head and "党员中心户已设数" not in head  # personal: left out
    body = rows[1:]
    assert {r[head.index("街道党工委")] for r in body} == {"方亭街道党工委"}
    assert sum(r[head.index("党员中心户需设数")] for r in body) == int(central_household_need(ds).buildings["need"].sum())
    # a compound with a party branch names it; one without leaves the cell empty
    branch = {r[head.index("小区")]: r[head.index("小区党支部")] for r in body}
    assert branch["小区3号"] == "小区3号独立党支部" and branch[EVIL_IMG] in ("", None)
    tree = list(wb["五级组织"].iter_rows(values_only=True))
    levels = {r[0] for r in tree[1:]}
    assert levels == {"街道党工委", "社区党组织", "小区党支部"}
    street = next(r for r in tree[1:] if r[0] == "街道党工委")
    assert street[tree[0].index("户数")] == int(ds.buildings["households"].sum())
    assert street[tree[0].index("楼栋党小组数")] == int((ds.buildings["households"] > 0).sum())


def test_ledger_sheets_for_mobile_stops_and_sanwu_progress(toy, tmp_path):
    from gridplan.mobile import mobile_coverage, read_schedule
    ds, plan, grids = toy
    st = ds.stations.copy()
    st.loc["S3", "kind"] = "mobile"
    ds2 = ds.replace(stations=st, compound_status=pd.DataFrame({
        "compound_id": ["C03", "C03", "C06"], "date": pd.to_datetime(["2024-01-01", "2025-01-01", "2024-01-01"]),
        "has_property_mgmt": [False, True, False], "has_competent_dept": [False, True, False],
        "has_owners_committee": [False, True, False], "property_company": [None, "红星物业", None],
        "red_property": [False, True, False]}))
    sched = read_schedule(pd.DataFrame({"站点": ["S3"], "星期": ["周二、周六"], "时间": ["09:00-11:00"]}), stations=st)
    mc = mobile_coverage(ds2, plan, schedule=sched)
    w = _by_kind(export.export_ledger(ds2, plan, tmp_path / "m.xlsx", grids=grids, mobile=mc, csv=False,
                                      sanwu_since="2024-06-30", sanwu_until="2025-06-30"))
    wb = openpyxl.load_workbook(w["xlsx"])
    assert {"流动郁心站", "流动站排班", "三无小区治理"} <= set(wb.sheetnames)
    rows = list(wb["流动郁心站"].iter_rows(values_only=True))
    head = rows[0]
    assert head[2:9] == ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
    tue = sum(r[head.index("周二")] for r in rows[1:])
    assert tue == mc.by_weekday.loc[2, "households"] > 0 and sum(r[head.index("周一")] for r in rows[1:]) == 0
    sw = list(wb["三无小区治理"].iter_rows(values_only=True))
    assert [(r[0], r[3], r[4], r[7]) for r in sw[1:]] == [("C06", "三无", "三无", None), ("C03", "三无", "三有", "是")]
    assert len(wb["三无小区治理"]._images) == 1  # the progress chart
    notes = dict(list(wb["说明"].iter_rows(values_only=True))[1:])
    assert "已达三有 1 个" in notes["三无小区治理"]
