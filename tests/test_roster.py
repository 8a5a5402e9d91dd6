"""Tests of gridplan.roster and ``gridplan roster``: household rosters (住户台账) to building counts.

Rosters are written as real files in every supported type and encoding (xlsx by openpyxl, xls by
xlwt, CSV/TXT in UTF-8, UTF-8 with BOM, GBK, GB18030, UTF-16) and matched against the tiny city,
whose counts are known by hand.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridplan import RosterError
from gridplan.cli import main
from gridplan.io import read_dataset
from gridplan.roster import (
    apply_roster,
    building_key,
    fold_name,
    id_check,
    mask_id,
    mask_name,
    read_roster,
    room_key,
    unit_key,
    write_roster_output,
)
from gridplan.sample import tiny_city

ROOT = Path(__file__).resolve().parents[1]
A, B = "510682001001", "510682001002"          # 阳光社区, 雍城社区 of the tiny city
HEADER = ["社区", "小区", "楼栋", "单元", "户室", "姓名", "身份证号", "与户主关系", "人员类别", "政治面貌"]

# ID numbers with check digits computed by hand from GB 11643 (weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2,
# check characters 1 0 X 9 8 7 6 5 4 3 2); 11010519491231002X is the standard's own example.
# 11010519491231002X: Σ = 167, 167 mod 11 = 2 → X; 51068219900307123·: Σ = 295, mod 11 = 9 → 3;
# 51068220051231002·: Σ = 229, mod 11 = 9 → 3
ID_VALID = ["11010519491231002X", "510682199003071233", "510682200512310023"]


def _id(first17: str) -> str:
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return first17 + "10X98765432"[sum(int(c) * k for c, k in zip(first17, w)) % 11]


def tiny_dataset(*, twin_compound: bool = False, estimate_b09: bool = False, double_number: bool = False):
    """The tiny city with building numbers (header 楼号, to exercise the alias): C1 蓥华小区 B01–B03 = 1–3,
    C2 金桂花园 B04/B05 = 7/8, C3 粮食局宿舍 B06–B08 = 1–3, C4 亭江新村 B11/B12 = 7/8."""
    layers = tiny_city()
    b = layers["buildings"].copy()
    nos = {"B01": "1", "B02": "2", "B03": "3", "B04": "7", "B05": "8", "B06": "1", "B07": "2", "B08": "3",
           "B11": "7", "B12": "8"}
    if double_number:
        nos["B05"] = "7"
    b["楼号"] = b["building_id"].map(nos)
    if estimate_b09:
        b["households"] = b["households"].astype(object)
        b.loc[b["building_id"] == "B09", "households"] = None
        b.loc[b["building_id"] == "B09", "persons"] = None
    layers["buildings"] = b
    if twin_compound:  # 亭江新村 renamed: two compounds 金桂花园, one per community
        c = layers["compounds"].copy()
        c.loc[c["compound_id"] == "C4", "name"] = "金桂花园"
        layers["compounds"] = c
    return read_dataset(layers, name="tiny")


def person(compound, building, unit, room, name, idn, *, community="", politics="群众", category="常住",
           relation="户主"):
    return [community, compound, building, unit, room, name, idn, relation, category, politics]


# a roster of the tiny city: 蓥华小区 building 1 (B01) with 2 households, 3 persons (1 party member),
# building 2 (B02) with 1 household of 2 (one without an ID number), 金桂花园 7 (B04) with 1 household
ROWS = [
    person("蓥华小区", "1栋", "1单元", "101", "王小明", _id("51068219800101001"), politics="中共党员"),
    person("蓥华小区", "1号楼", "一单元", "0101室", "李芳", _id("51068219820202002")),
    person("蓥华小区", "01栋", "1", "102", "欧阳娜娜", _id("51068219900303003"), politics="中共预备党员"),
    person("蓥华小区", "二号楼", "1单元", "201", "张伟", _id("51068219700404004")),
    person("蓥华小区", "2#", "1单元", "201", "张小伟", ""),
    person(" 金桂 花园 ", "７栋", "2单元", "301", "刘洋", _id("51068219750505005"), community="阳光社区"),
]
EXPECTED = {"B01": (2, 3, 2), "B02": (1, 2, 0), "B04": (1, 1, 0)}   # households, persons, party members


# --------------------------------------------------------------------------- writing rosters as files
def write_roster(path: Path, rows, *, header=HEADER, title: str | None = "阳光社区实有人口登记表",
                 blank_rows: int = 1, encoding: str = "utf-8", sep: str = ",") -> Path:
    """A roster file of the type its suffix names, with a title row and blank rows above the header."""
    lines = ([[title]] if title else []) + [[] for _ in range(blank_rows)] + [header] + [list(r) for r in rows]
    ext = path.suffix.lower()
    if ext == ".xlsx":
        from openpyxl import Workbook
        wb = Workbook()
        ws = wb.active
        ws.title = "台账"
        for line in lines:
            ws.append([v if v != "" else None for v in line])
        if title:
            ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
        wb.save(path)
    elif ext == ".xls":
        import xlwt
        wb = xlwt.Workbook(encoding="utf-8")
        ws = wb.add_sheet("台账")
        for i, line in enumerate(lines):
            if i == 0 and title:
                ws.write_merge(0, 0, 0, len(header) - 1, title)
                continue
            for j, v in enumerate(line):
                if v != "":
                    ws.write(i, j, v)
        wb.save(str(path))
    else:
        text = "\r\n".join(sep.join(str(v) for v in line) for line in lines) + "\r\n"
        path.write_bytes(text.encode(encoding))
    return path


def counts(result) -> dict:
    b = result.buildings.dropna(subset=["households"]).set_index("building_id")
    return {k: (int(r.households), int(r.persons), int(r.party_members)) for k, r in b.iterrows()}


@pytest.fixture(scope="module")
def ds():
    return tiny_dataset()


# --------------------------------------------------------------------------- file types and encodings
CASES = [
    ("r.xlsx", {}), ("r.xls", {}), ("r.csv", {"encoding": "utf-8"}), ("r.csv", {"encoding": "utf-8-sig"}),
    ("r.csv", {"encoding": "gbk"}), ("r.csv", {"encoding": "gb18030"}), ("r.txt", {"encoding": "gbk", "sep": "\t"}),
    ("r.txt", {"encoding": "utf-16", "sep": "\t"}), ("r.csv", {"encoding": "utf-8", "sep": ";"}),
]


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{k.get('encoding', 'binary')}-{k.get('sep', '')!r}" for n, k in CASES])
def test_every_file_type_and_encoding_gives_the_same_counts(tmp_path, ds, name, kw):
    path = write_roster(tmp_path / name, ROWS, **kw)
    res = apply_roster(ds, path)
    assert counts(res) == EXPECTED
    s = res.summary
    assert (s["rows"], s["matched_rows"], s["unmatched_rows"], s["duplicate_rows"]) == (6, 6, 0, 0)
    assert (s["households"], s["persons"], s["party_members"]) == (4, 6, 2)
    assert res.sheets["header_row"].tolist() == [3]         # title row, one blank row, then the header


def test_gb18030_only_characters_survive(tmp_path, ds):
    rows = [person("蓥华小区", "1栋", "1", "101", "刘䶮", _id("51068219800101001"))]   # 䶮 is not in GBK
    path = write_roster(tmp_path / "r.csv", rows, encoding="gb18030")
    with pytest.raises(UnicodeEncodeError):
        "刘䶮".encode("gbk")
    res = apply_roster(ds, path)
    assert res.rows["person_name"].tolist() == ["刘*"]
    assert res.summary["matched_rows"] == 1


def test_a_repeated_column_is_warned_and_the_encoding_reported(tmp_path, ds):
    path = write_roster(tmp_path / "r.csv", [[*r, "99"] for r in ROWS], header=[*HEADER, "楼号"], encoding="gbk")
    res = apply_roster(ds, path)
    assert counts(res) == EXPECTED              # the first building column (楼栋) counts; 楼号 (all 99) is ignored
    assert res.sheets["encoding"].tolist() == ["GB18030"]
    assert any(w.startswith("r.csv 第 3 行") and "楼号" in w for w in res.warnings)


def test_several_files_and_sheets_add_up(tmp_path, ds):
    from openpyxl import Workbook
    wb = Workbook()
    ws1 = wb.active
    ws1.title = "蓥华小区"
    ws1.append(HEADER)
    for r in ROWS[:3]:
        ws1.append(r)
    ws2 = wb.create_sheet("其他")
    ws2.append(["说明：本表由社区填报"])
    ws2.append([])
    ws2.append(HEADER)
    for r in ROWS[3:5]:
        ws2.append(r)
    wb.create_sheet("填表说明").append(["身份证号请以文本格式录入"])
    wb.save(tmp_path / "a.xlsx")
    write_roster(tmp_path / "b.csv", ROWS[5:], title=None, blank_rows=0, encoding="gbk")
    res = apply_roster(ds, [tmp_path / "a.xlsx", tmp_path / "b.csv"])
    assert counts(res) == EXPECTED
    assert res.sheets[["sheet", "header_row", "rows"]].values.tolist() == [["蓥华小区", 1, 3], ["其他", 3, 2],
                                                                            ["", 1, 1]]
    assert any("填表说明" in w for w in res.warnings)


def test_header_found_under_title_and_blank_rows_with_other_names(tmp_path, ds):
    header = ["序号", "所属社区", "小区名称", "楼号", "单元号", "房号", "人员姓名", "公民身份号码（18位）", "与户主关系",
              "人员类别", "政治面貌", "备注"]
    rows = [[i + 1, *r, ""] for i, r in enumerate(ROWS)]
    path = write_roster(tmp_path / "r.xlsx", rows, header=header, title="什邡市 方亭街道 实有人口", blank_rows=4)
    res = apply_roster(ds, path)
    assert res.sheets["header_row"].tolist() == [6]
    assert counts(res) == EXPECTED
    assert res.rows["row"].tolist() == list(range(7, 13))      # rows as the spreadsheet numbers them


def test_merged_cells_are_filled(tmp_path, ds):
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for r in ROWS[:5]:
        ws.append(r)
    for i in range(3, 7):       # 小区 written once, merged down over the five rows of 蓥华小区
        ws.cell(row=i, column=2).value = None
    ws.merge_cells("B2:B6")
    wb.save(tmp_path / "m.xlsx")
    res = apply_roster(ds, tmp_path / "m.xlsx")
    assert res.summary["matched_rows"] == 5
    assert counts(res) == {k: v for k, v in EXPECTED.items() if k != "B04"}


def test_column_map_by_hand(tmp_path, ds):
    header = ["小区", "楼", "门", "住户", "证件"]
    rows = [[r[1], r[2], r[3], r[4], r[6]] for r in ROWS[:5]]
    path = write_roster(tmp_path / "r.csv", rows, header=header, title=None, blank_rows=0)
    with pytest.raises(RosterError, match="楼栋"):
        apply_roster(ds, path)
    res = apply_roster(ds, path, column_map={"楼": "building", "门": "单元", "住户": "room", "证件": "id_number"})
    assert counts(res) == {"B01": (2, 3, 0), "B02": (1, 2, 0)}
    with pytest.raises(ValueError, match="not a roster field"):
        apply_roster(ds, path, column_map={"楼": "floor"})


# --------------------------------------------------------------------------- spellings
@pytest.mark.parametrize("spelling", ["7栋", "7号楼", "7幢", "7#", "7号", "七号楼", "07栋", "７栋", "7", " 7 栋", "第7栋",
                                      "7#楼", 7, 7.0])
def test_building_seven_in_every_spelling(spelling):
    assert building_key(spelling) == "7"


@pytest.mark.parametrize("spelling,key", [("十二号楼", "12"), ("二十栋", "20"), ("二十一幢", "21"), ("一百零五号", "105"),
                                          ("A座", "A"), ("b栋", "B"), ("12-1栋", "12-1"), ("", None), (None, None)])
def test_other_building_numbers(spelling, key):
    assert building_key(spelling) == key


@given(n=st.integers(min_value=0, max_value=9999), zeros=st.integers(0, 2),
       suffix=st.sampled_from(["", "栋", "号楼", "幢", "#", "号", "座", "#楼"]), fullwidth=st.booleans(),
       pad=st.sampled_from(["", " ", "\u3000"]))
@settings(max_examples=300, deadline=None)
def test_building_key_property(n, zeros, suffix, fullwidth, pad):
    digits = "0" * zeros + str(n)
    if fullwidth:
        digits = digits.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert building_key(f"{pad}{digits}{suffix}{pad}") == str(n)


@pytest.mark.parametrize("spelling", ["1单元", "一单元", "1", "01", "１单元", 1, 1.0, "第一单元"])
def test_unit_one_in_every_spelling(spelling):
    assert unit_key(spelling) == "1"


def test_rooms_and_names_fold():
    assert room_key("0302室") == room_key("302") == room_key("３０２号") == "302"
    assert unit_key(None) == "" and room_key("") == ""
    assert fold_name(" 金桂 花园\u3000") == fold_name("金桂花园") == fold_name("金桂花园")
    assert fold_name("ＡＢＣ小区") == fold_name("abc小区")


# --------------------------------------------------------------------------- unmatched, ambiguous, duplicates
def test_unmatched_rows_are_reported_and_never_counted(tmp_path, ds):
    rows = ROWS + [
        person("幸福里", "1栋", "1", "101", "赵一", _id("51068219800101011")),                     # no such compound
        person("蓥华小区", "9栋", "1", "101", "赵二", _id("51068219800101012")),                   # no such building
        person("蓥华小区", "", "1", "101", "赵三", _id("51068219800101013")),                       # no building
        person("", "1栋", "1", "101", "赵四", _id("51068219800101014")),                           # no compound
        person("蓥华小区", "1栋", "1", "103", "赵五", _id("51068219800101015"), community="雍城社区"),  # elsewhere
        person("蓥华小区", "1栋", "1", "103", "赵六", _id("51068219800101016"), community="火星社区"),  # no community
    ]
    res = apply_roster(ds, write_roster(tmp_path / "r.xlsx", rows))
    assert counts(res) == EXPECTED
    bad = res.rows[res.rows["status"] == "unmatched"]
    assert bad["reason"].tolist() == ["unknown_compound", "unknown_building", "missing_building", "missing_compound",
                                      "compound_elsewhere", "unknown_community"]
    assert res.summary["unmatched_rows"] == 6 and res.summary["matched_rows"] == 6
    assert bad["person_name"].tolist() == ["赵*"] * 6


def test_ambiguous_compound_and_building(tmp_path):
    twin = tiny_dataset(twin_compound=True)
    rows = [
        person("金桂花园", "7栋", "1", "101", "甲", _id("51068219800101021")),                        # which 金桂花园?
        person("金桂花园", "7栋", "1", "101", "乙", _id("51068219800101022"), community="雍城社区"),   # C4 → B11
        person("金桂花园", "8栋", "1", "101", "丙", _id("51068219800101023"), community="阳光社区"),   # C2 → B05
    ]
    res = apply_roster(twin, write_roster(tmp_path / "r.csv", rows))
    assert res.rows["status"].tolist() == ["ambiguous", "matched", "matched"]
    assert res.rows["reason"].iat[0] == "compound_ambiguous"
    assert "C2" in res.rows["detail"].iat[0] and "C4" in res.rows["detail"].iat[0]
    assert counts(res) == {"B11": (1, 1, 0), "B05": (1, 1, 0)}
    double = tiny_dataset(double_number=True)     # B04 and B05 both numbered 7 in 金桂花园
    res = apply_roster(double, write_roster(tmp_path / "r2.csv", [ROWS[5]]))
    assert res.rows["status"].tolist() == ["ambiguous"] and res.rows["reason"].iat[0] == "building_ambiguous"
    assert res.summary["ambiguous_rows"] == 1 and res.summary["buildings_matched"] == 0


def test_duplicates_count_once_and_prefer_the_matched_row(tmp_path, ds):
    dup_idn = ROWS[0][6]
    rows = [
        person("幸福里", "1栋", "1", "101", "王小明", dup_idn),      # the same person first at an unknown address
        *ROWS,
        list(ROWS[0]),                                               # and repeated verbatim
        person("蓥华小区", "1栋", "1", "101", "王小明", dup_idn.lower().replace("x", "X")),
    ]
    res = apply_roster(ds, write_roster(tmp_path / "r.xlsx", rows))
    assert counts(res) == EXPECTED
    s = res.summary
    assert (s["rows"], s["matched_rows"], s["duplicate_rows"], s["unmatched_rows"]) == (9, 6, 3, 0)
    dups = res.rows[res.rows["status"] == "duplicate"]
    assert dups["row"].tolist() == [4, 11, 12]                       # the unknown-address row is a duplicate
    assert set(dups["kept_row"]) == {"r.xlsx [台账] 第5行"}


def test_old_15_digit_number_is_the_same_person_as_its_18_digit_form(tmp_path, ds):
    # GB 11643: the 15-digit number 110105491231002 of the first generation is 11010519491231002X today
    rows = [person("蓥华小区", "3栋", "1", "101", "甲", "11010519491231002X"),
            person("蓥华小区", "3栋", "1", "101", "甲", "110105491231002"),
            person("蓥华小区", "3栋", "1", "102", "乙", "510682700404004"),      # an old number alone
            person("蓥华小区", "3栋", "1", "102", "乙", "510682700404005")]      # another person
    res = apply_roster(ds, write_roster(tmp_path / "r.csv", rows))
    assert counts(res) == {"B03": (2, 3, 0)}
    assert res.rows["status"].tolist() == ["matched", "duplicate", "matched", "matched"]
    assert res.rows["id_number"].tolist()[1:3] == ["110105*****1002", "510682*****4004"]   # masked as written
    assert res.rows["id_check"].tolist()[1] == "old15"


def test_building_numbers_taken_from_names_when_the_dataset_has_none(tmp_path):
    layers = tiny_city()
    b = layers["buildings"].copy()
    # no 楼栋号 column: the numbers are only in the name (B01–B03 of 蓥华小区 named 1栋, 2号楼, 三幢)
    b["name"] = b["building_id"].map({"B01": "1栋", "B02": "2号楼", "B03": "三幢", "B04": "金桂花园综合楼"})
    layers["buildings"] = b.drop(columns=[c for c in ("building_no",) if c in b])
    plain = read_dataset(layers, name="tiny")
    rows = [person("蓥华小区", "1幢", "1", "101", "甲", _id("51068219800101041")),
            person("蓥华小区", "二栋", "1", "101", "乙", _id("51068219800101042")),
            person("蓥华小区", "3号楼", "1", "101", "丙", _id("51068219800101043")),
            person("金桂花园", "7栋", "1", "101", "丁", _id("51068219800101044"))]
    res = apply_roster(plain, write_roster(tmp_path / "r.csv", rows))
    assert counts(res) == {"B01": (1, 1, 0), "B02": (1, 1, 0), "B03": (1, 1, 0)}
    assert res.rows["reason"].tolist()[3] == "no_building_numbers"    # 金桂花园's names are no numbers
    assert any("building_no" in w for w in res.warnings)


def test_community_and_compound_names_with_or_without_their_generic_word(tmp_path, ds):
    # 阳光社区 written as its 居委会 or bare; 蓥华小区 as 蓥华; 金桂花园 keeps its own word (花园 is a name)
    rows = [person("蓥华", "1栋", "1", "101", "甲", _id("51068219800101061"), community="阳光社区居民委员会"),
            person("蓥华小区", "1栋", "1", "102", "乙", _id("51068219800101062"), community="阳光"),
            person("金桂", "7栋", "1", "101", "丙", _id("51068219800101063"), community="阳光社区居委会")]
    res = apply_roster(ds, write_roster(tmp_path / "r.csv", rows))
    assert res.rows["status"].tolist() == ["matched", "matched", "unmatched"]
    assert counts(res) == {"B01": (2, 2, 0)}
    assert res.rows["reason"].iat[2] == "unknown_compound"


def test_rows_without_id_count_once_each(tmp_path, ds):
    rows = [person("蓥华小区", "3栋", "1", "101", n, "") for n in ("甲", "乙", "丙")]
    res = apply_roster(ds, write_roster(tmp_path / "r.csv", rows))
    assert counts(res) == {"B03": (1, 3, 0)} and res.summary["duplicate_rows"] == 0


# --------------------------------------------------------------------------- ID numbers and masking
def test_id_check():
    for idn in ID_VALID:
        assert id_check(idn) == "", idn
    assert id_check("110105194912310021") == "checksum"
    assert id_check("11010519491231002x") == ""                 # lower-case x accepted
    assert id_check("110105194913310027") == "format"           # month 13
    assert id_check("1101051949123100") == "format"
    assert id_check("110105491231002") == "old15"
    assert id_check("") == "" and id_check(None) == ""


def test_masks():
    assert mask_id("510682199003071233") == "510682********1233"
    assert mask_id("110105491231002") == "110105*****1002"
    assert mask_id("12345678") == "12****78" and mask_id("") == ""
    assert mask_name("王小明") == "王*" and mask_name("王明") == "王*"
    assert mask_name("欧阳娜娜") == "欧阳*" and mask_name("司马光") == "司马*"
    assert mask_name("欧阳") == "欧*"            # too short to be 复姓 + given name
    assert mask_name("John Smith") == "J*" and mask_name(None) == ""


def test_invalid_ids_are_warned_masked_and_still_counted(tmp_path, ds):
    good = _id("51068219800101031")
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    rows = [person("蓥华小区", "3栋", "1", "101", "甲", bad), person("蓥华小区", "3栋", "1", "102", "乙", "123")]
    res = apply_roster(ds, write_roster(tmp_path / "r.csv", rows))
    assert counts(res) == {"B03": (2, 2, 0)}
    assert res.rows["id_check"].tolist() == ["checksum", "format"]
    assert res.rows["id_number"].tolist() == [mask_id(bad), mask_id("123")]
    assert res.summary["invalid_ids"] == 2


def test_id_stored_as_a_number_is_flagged(tmp_path, ds):
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append(["", "蓥华小区", "3栋", "1", "101", "甲", 510682198001010311, "户主", "常住", "群众"])
    wb.save(tmp_path / "n.xlsx")
    res = apply_roster(ds, tmp_path / "n.xlsx")
    assert res.rows["id_check"].tolist() == ["numeric"]


def test_ids_stored_as_numbers_do_not_merge_neighbours(tmp_path, ds):
    # 18 digits do not fit a double: 510682198001013000 and …3019 (one birthday, one district) become the same
    # number in Excel; they are two people unless name and address agree too
    from openpyxl import Workbook
    a, b = _id("51068219800101300"), _id("51068219800101301")
    assert a != b and float(a) == float(b)
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append(["", "蓥华小区", "3栋", "1", "101", "甲", float(a), "户主", "常住", "群众"])
    ws.append(["", "蓥华小区", "3栋", "1", "102", "乙", float(b), "户主", "常住", "群众"])
    ws.append(["", "蓥华小区", "3栋", "1", "102", "乙", float(b), "户主", "常住", "群众"])      # 乙 entered twice
    wb.save(tmp_path / "n.xlsx")
    res = apply_roster(ds, tmp_path / "n.xlsx")
    assert counts(res) == {"B03": (2, 2, 0)}
    assert res.rows["status"].tolist() == ["matched", "matched", "duplicate"]
    assert res.rows["id_check"].tolist() == ["numeric"] * 3


def test_whole_address_in_the_building_column_is_split(tmp_path, ds):
    rows = [person("蓥华小区", "1幢1单元101室", "", "", "甲", _id("51068219800101051")),
            person("蓥华小区", "1幢1单元101室", "", "", "乙", _id("51068219800101052")),
            person("蓥华小区", "1号楼-一单元-102", "", "", "丙", _id("51068219800101053")),
            person("蓥华小区", "2-1-301", "", "", "丁", _id("51068219800101054")),
            person("蓥华小区", "3栋", "2单元", "", "戊", _id("51068219800101055"))]      # a unit given: left alone
    res = apply_roster(ds, write_roster(tmp_path / "r.csv", rows))
    assert counts(res) == {"B01": (2, 3, 0), "B02": (1, 1, 0), "B03": (1, 1, 0)}
    assert any("split" in w for w in res.warnings)
    assert res.rows.loc[0, ["building", "unit", "room"]].tolist() == ["1幢", "1", "101"]   # the report shows the parts


def _all_text(folder: Path) -> str:
    """Every cell of every layer and every report sheet in ``folder``, as one string."""
    from openpyxl import load_workbook
    parts = []
    for f in folder.iterdir():
        if f.suffix == ".gpkg":
            for layer, _ in pyogrio.list_layers(f):
                parts.append(pyogrio.read_dataframe(f, layer=layer, read_geometry=False).to_csv())
        elif f.suffix == ".xlsx":
            wb = load_workbook(f, read_only=True)
            for ws in wb.worksheets:
                for row in ws.iter_rows(values_only=True):
                    parts.append(" ".join("" if v is None else str(v) for v in row))
        else:
            parts.append(f.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(parts)


def test_no_name_or_id_number_reaches_the_outputs(tmp_path, ds):
    rows = ROWS + [person("幸福里", "1栋", "1", "101", "赵大宝", _id("51068219800101041")), list(ROWS[1])]
    res = apply_roster(ds, write_roster(tmp_path / "r.xlsx", rows))
    out = tmp_path / "out"
    write_roster_output(res, out)
    text = _all_text(out)
    for r in rows:
        name, idn = r[5], r[6]
        assert name not in text, name
        if idn:
            assert idn not in text and idn[6:14] not in text, idn      # not even the birth date
    assert "赵*" in text and mask_id(rows[-2][6]) in text               # the unmatched row, masked


def test_report_sheets_and_formula_guard(tmp_path, ds):
    from openpyxl import load_workbook
    rows = ROWS + [person("=HYPERLINK(\"http://x\")", "1栋", "1", "101", "+钱", _id("51068219800101051"))]
    res = apply_roster(ds, write_roster(tmp_path / "r.csv", rows, sep="\t"))   # text, as a CSV export holds it
    write_roster_output(res, tmp_path / "out")
    wb = load_workbook(tmp_path / "out" / "roster_report.xlsx")
    assert wb.sheetnames[:5] == ["汇总", "楼栋", "未匹配", "重复", "歧义"]
    cells = [c.value for row in wb["未匹配"].iter_rows() for c in row]
    assert "'=HYPERLINK(\"http://x\")" in cells and "'+*" in cells
    assert not any(isinstance(v, str) and v.startswith("=") for v in cells)
    assert all(c.data_type != "f" for row in wb["未匹配"].iter_rows() for c in row)
    summary = {r[0]: r[1] for r in wb["汇总"].iter_rows(values_only=True)}
    assert summary["户数"] == 4 and summary["人数"] == 6 and summary["未匹配行数"] == 1


# --------------------------------------------------------------------------- the output dataset
def test_output_dataset_carries_counts_and_their_source(tmp_path):
    ds = tiny_dataset(estimate_b09=True)
    assert bool(ds.buildings.at["B09", "households_estimated"])
    res = apply_roster(ds, write_roster(tmp_path / "r.csv", ROWS))
    assert res.dataset.buildings.at["B01", "households"] == 2
    assert ds.buildings.at["B01", "households"] == 100                 # the input dataset is unchanged
    write_roster_output(res, tmp_path / "out")
    back = read_dataset(tmp_path / "out")
    b = back.buildings
    src = b["count_source"]
    assert set(src[src == "roster"].index) == set(EXPECTED)
    assert src["B09"] == "estimate" and bool(b.at["B09", "households_estimated"])
    assert (src.drop(list(EXPECTED) + ["B09"]) == "input").all()
    for bid, (h, p, party) in EXPECTED.items():
        assert (b.at[bid, "households"], b.at[bid, "persons"], b.at[bid, "party_members"]) == (h, p, party)
    assert b.at["B03", "households"] == 100 and not b["households_estimated"].drop("B09").any()
    assert b["building_no"].notna().sum() == 10
    assert set(back.layers()) == set(ds.layers())
    assert back.compounds["sanwu"].tolist() == ds.compounds["sanwu"].tolist()


def test_output_folder_is_refused_when_it_would_overwrite(tmp_path, ds):
    res = apply_roster(ds, write_roster(tmp_path / "r.csv", ROWS))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        write_roster_output(res, out)
    assert (out / "keep.txt").read_text() == "mine"
    write_roster_output(res, out, force=True)
    assert not (out / "keep.txt").exists() and (out / "roster_report.xlsx").exists()
    with pytest.raises(ValueError, match="roster"):
        write_roster_output(res, tmp_path, force=True, rosters=[tmp_path / "r.csv"])


# --------------------------------------------------------------------------- unreadable files
def test_unreadable_rosters_name_the_file_and_the_fix(tmp_path, ds):
    (tmp_path / "broken.xlsx").write_bytes(b"this is not a workbook")
    with pytest.raises(RosterError, match=r"broken\.xlsx.*另存为"):
        apply_roster(ds, tmp_path / "broken.xlsx")
    (tmp_path / "bad.csv").write_bytes("小区,楼栋\n".encode() + b"\xff\xfe\xfd,1\n")
    with pytest.raises(RosterError, match=r"bad\.csv: 第 2 行"):
        apply_roster(ds, tmp_path / "bad.csv")
    write_roster(tmp_path / "nohead.csv", ROWS, header=["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"])
    with pytest.raises(RosterError, match=r"nohead\.csv.*表头.*--map"):
        apply_roster(ds, tmp_path / "nohead.csv")
    write_roster(tmp_path / "nobuilding.xlsx", [r[:2] for r in ROWS], header=["社区", "小区"])
    with pytest.raises(RosterError, match=r"nobuilding\.xlsx \[台账\] 第 3 行.*楼栋"):
        apply_roster(ds, tmp_path / "nobuilding.xlsx")
    with pytest.raises(RosterError, match="does not exist"):
        read_roster(tmp_path / "missing.xlsx")


# --------------------------------------------------------------------------- the command line
@pytest.fixture()
def tiny_folder(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    for name, gdf in tiny_city().items():
        if name == "buildings":
            gdf = gdf.assign(楼栋号=gdf["building_id"].map({"B01": "1", "B02": "2", "B03": "3", "B04": "7"}))
        gdf.to_file(d / f"{name}.geojson", driver="GeoJSON")
    return d


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_exit_codes_and_untouched_rosters(tmp_path, tiny_folder, capsys):
    rosters = [write_roster(tmp_path / "a.xlsx", ROWS[:3]),
               write_roster(tmp_path / "b.csv", ROWS[3:] + [person("幸福里", "1栋", "1", "1", "某", "")],
                            encoding="gbk")]
    before = [(p.read_bytes(), os.stat(p).st_mtime_ns) for p in rosters]
    out = tmp_path / "out"
    code, stdout, err = run(["roster", str(tiny_folder), *map(str, rosters), "--out", str(out), "--json"], capsys)
    assert code == 0, err
    j = json.loads(stdout)
    for k in ("rows", "duplicate_rows", "matched_rows", "unmatched_rows", "ambiguous_rows", "buildings_matched",
              "households", "persons", "party_members", "seconds", "out"):
        assert k in j, k
    assert (j["rows"], j["matched_rows"], j["unmatched_rows"], j["households"], j["persons"]) == (7, 6, 1, 4, 6)
    assert [(p.read_bytes(), os.stat(p).st_mtime_ns) for p in rosters] == before
    # the output is a dataset every command reads: partition it
    code, stdout, err = run(["partition", str(out), "--out", str(tmp_path / "plan.gpkg"), "--json"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["households"] == 1120 - (100 + 100 + 150) + (2 + 1 + 1)   # B01, B02, B04 from the roster
    # again into the same folder: refused without --force (usage, exit 2), done with it
    code, _, err = run(["roster", str(tiny_folder), str(rosters[0]), "--out", str(out)], capsys)
    assert code == 2 and "--force" in err
    code, stdout, err = run(["roster", str(tiny_folder), str(rosters[0]), "--out", str(out), "--force"], capsys)
    assert code == 0 and "已匹配 3" in stdout, err
    # never the input dataset, even with --force
    code, _, err = run(["roster", str(tiny_folder), str(rosters[0]), "--out", str(tiny_folder), "--force"], capsys)
    assert code == 2 and "input dataset" in err
    assert sorted(p.name for p in tiny_folder.iterdir()) == sorted(f"{n}.geojson" for n in tiny_city())


def test_cli_map_and_bad_input(tmp_path, tiny_folder, capsys):
    header = ["小区", "楼", "单元", "户室", "姓名", "身份证号"]
    path = write_roster(tmp_path / "r.csv", [[r[1], r[2], r[3], r[4], r[5], r[6]] for r in ROWS[:2]], header=header)
    code, stdout, err = run(["roster", str(tiny_folder), str(path), "--out", str(tmp_path / "o1"), "--json",
                             "--map", "楼=楼栋"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["matched_rows"] == 2
    for bad in ("楼", "楼=", "楼=floorplan"):
        code, _, err = run(["roster", str(tiny_folder), str(path), "--out", str(tmp_path / "o2"), "--map", bad], capsys)
        assert code == 2, (bad, err)
    code, _, err = run(["roster", str(tiny_folder), str(path), "--out", str(tmp_path / "o3")], capsys)
    assert code == 1 and "r.csv" in err and "--map" in err          # no 楼栋 column: names the file and the fix
    (tmp_path / "x.xls").write_bytes(b"\x00" * 100)
    code, _, err = run(["roster", str(tiny_folder), str(tmp_path / "x.xls"), "--out", str(tmp_path / "o4")], capsys)
    assert code == 1 and "x.xls" in err and "Traceback" not in err
    code, _, err = run(["roster", str(tmp_path / "nowhere"), str(path), "--out", str(tmp_path / "o5")], capsys)
    assert code == 1
    assert not (tmp_path / "o4").exists() and not (tmp_path / "o5").exists()


def test_community_column_ignored_when_the_dataset_has_no_communities(tmp_path):
    layers = tiny_city()
    layers.pop("communities")
    b = layers["buildings"].copy()
    b["building_no"] = b["building_id"].map({"B01": "1", "B02": "2"})
    layers["buildings"] = b
    ds = read_dataset(layers)
    res = apply_roster(ds, write_roster(tmp_path / "r.csv", [person("蓥华小区", "1栋", "1", "101", "甲", "",
                                                                      community="阳光社区")]))
    assert res.summary["matched_rows"] == 1
    assert any("社区" in w for w in res.warnings)


@given(st.lists(st.one_of(st.text(alphabet="0123456789Xx ", min_size=0, max_size=19),
                          st.integers(10 ** 16, 10 ** 17 - 1).map(lambda k: _id(str(k))),
                          st.integers(10 ** 14, 10 ** 15 - 1).map(str), st.none()), max_size=30))
@settings(max_examples=200, deadline=None)
def test_vectorised_id_checks_agree_with_the_scalar_ones(values):
    from gridplan.roster import _ids
    key, check, masked = _ids(pd.Series(values, dtype=object))
    assert list(check) == [id_check(v) for v in values]
    assert list(masked) == [mask_id(v) for v in values]
