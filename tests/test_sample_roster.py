"""Tests of gridplan.sample_roster: the bundled sample rosters in data/rosters/."""
from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from gridplan import sample_roster as sr
from gridplan.roster import apply_roster, id_check, read_roster

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
FILES = [sr.ROSTER_DIR / sr.XLSX_NAME, sr.ROSTER_DIR / sr.CSV_NAME]


@pytest.fixture(scope="module")
def layers():
    return {n: gpd.read_file(SAMPLE / f"{n}.geojson") for n in ("buildings", "compounds", "communities")}


@pytest.fixture(scope="module")
def generated(layers):
    return sr.generate_rosters(layers["buildings"], layers["compounds"], layers["communities"])


def test_committed_rosters_equal_the_generator(tmp_path, layers):
    written = sr.write_sample_rosters(layers["buildings"], layers["compounds"], layers["communities"], tmp_path)
    assert [p.name for p in written] == [p.name for p in FILES]
    fresh, committed = read_roster(written), read_roster(FILES)
    pd.testing.assert_frame_equal(fresh.rows.drop(columns="file"), committed.rows.drop(columns="file"))
    with pytest.raises(FileExistsError):
        sr.write_sample_rosters(layers["buildings"], layers["compounds"], layers["communities"], tmp_path)


def test_files_are_small_messy_and_gbk():
    assert all(p.stat().st_size < 400_000 for p in FILES)
    raw = FILES[1].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gbk")
    assert text.splitlines()[0].startswith("雍城社区住户台账")         # a title row above the header
    from openpyxl import load_workbook
    wb = load_workbook(FILES[0])
    assert wb.sheetnames == ["住户台账", "填表说明"]
    ws = wb["住户台账"]
    assert "A1" in {str(r).split(":")[0] for r in ws.merged_cells.ranges}   # the merged title
    assert len(ws.merged_cells.ranges) > 5                                  # merged 小区 cells
    spellings = {str(c.value) for c in ws["C"][3:] if c.value}          # 楼栋号, as people type it
    for pattern in (r"\d+栋", r"\d+号楼", r"\d+幢", r"\d+#", r"\d+号", r"[一二三四五六七八九十]+号楼", r"0\d+栋",
                    r"[０-９]+栋", r"\d+"):
        assert any(re.fullmatch(pattern, v) for v in spellings), pattern


def test_ids_are_valid_but_two(generated):
    tables, truth = generated
    ids = pd.concat([tables["xlsx"]["公民身份号码"], tables["csv"]["身份证号"]])
    checks = ids.map(id_check)
    assert (checks != "").sum() == truth["invalid_ids"] == 2
    assert ids.str.startswith("510682").all()


def test_sample_rosters_match_the_sample_city_as_generated(generated):
    from gridplan.demo import load_sample
    _, truth = generated
    res = apply_roster(load_sample(), FILES)
    s = res.summary
    assert s["rows"] == truth["rows"]
    assert s["unmatched_rows"] == truth["unmatched"] > 0
    assert s["ambiguous_rows"] == truth["ambiguous"] > 0
    assert s["duplicate_rows"] == truth["duplicate"] > 0
    assert s["invalid_ids"] == truth["invalid_ids"]
    got = res.buildings.dropna(subset=["households"]).set_index("building_id")[["households", "persons",
                                                                                 "party_members"]].astype(int)
    pd.testing.assert_frame_equal(got.sort_index(), truth["buildings"].sort_index(), check_dtype=False)
    amb = res.rows[res.rows["status"] == "ambiguous"]
    assert set(amb["reason"]) == {"building_ambiguous"}
    assert all(b in amb["detail"].iat[0] for b in truth["ambiguous_buildings"])
