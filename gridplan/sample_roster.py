"""The sample household rosters (住户台账) of two communities of the sample city, in ``data/rosters/``.

Made up like a 社区's real files, to try :mod:`gridplan.roster` on: one row per person with fake names
(a few compound surnames such as 欧阳) and fake ID numbers with valid GB 11643 check digits, the
address spelt in all the usual ways (``7栋``, ``7号楼``, ``7幢``, ``7#``, ``七号楼``, ``07栋``, ``７栋`` …;
``1单元`` / ``一单元`` / ``1``), a title row above the header, merged 小区 cells, an extra notes sheet,
and on purpose: repeated rows (same ID), rows that cannot be placed (a compound or a building the
map does not have, no building given), a compound named with a stray blank, two wrong check digits,
and the building number the sample map carries twice (an ambiguous match).

* ``城西社区住户台账.xlsx`` — 城西社区 (510682003004), sheets 住户台账 and 填表说明;
* ``雍城社区住户台账.csv`` — 雍城社区 (510682003001), GBK, other header names, some rows without 社区.

:func:`generate_rosters` returns the tables and the truth they encode (per building: households,
persons, party members; and the rows expected unmatched, ambiguous, duplicate), so a test can check
the matcher against it. ``python -m gridplan.sample`` writes the files.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ._atomic import atomic_path
from ._data import data_dir
from .roster import id_check_digit

log = logging.getLogger(__name__)

ROSTER_DIR = data_dir("rosters")
DEFAULT_SEED = 20261201

XLSX_COMMUNITY = "510682003004"    # 城西社区
CSV_COMMUNITY = "510682003001"     # 雍城社区
XLSX_NAME = "城西社区住户台账.xlsx"
CSV_NAME = "雍城社区住户台账.csv"

_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢钟") + [
    "欧阳", "司马", "上官", "诸葛"]
_GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力鹏宇浩然欣怡子涵梓轩雨桐思远俊熙")
_RELATIONS = ["配偶", "子", "女", "父亲", "母亲", "孙子", "孙女", "兄弟姐妹", "其他"]
_CN = "〇一二三四五六七八九"
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_BUILDING_SPELLINGS = ("{n}栋", "{n}号楼", "{n}幢", "{n}#", "{n}号", "{cn}号楼", "0{n}栋", "{fw}栋", "{n}")
_UNIT_SPELLINGS = ("{u}单元", "{cu}单元", "{u}")
HEADER_XLSX = ["社区", "小区名称", "楼栋号", "单元", "户室", "姓名", "公民身份号码", "与户主关系", "人员类别", "政治面貌"]
HEADER_CSV = ["序号", "社区", "小区", "楼号", "单元", "房号", "姓名", "身份证号", "与户主关系", "人员类别", "政治面貌", "备注"]


def _cn_number(n: int) -> str:
    """7 → 七, 12 → 十二, 21 → 二十一 (the way building numbers are written in words)."""
    if n < 10:
        return _CN[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN[tens]) + "十" + (_CN[ones] if ones else "")


def _id_number(rng: np.random.Generator, used: set) -> str:
    while True:
        birth = np.datetime64("1938-01-01") + np.timedelta64(int(rng.integers(0, 30000)), "D")
        first17 = f"510682{str(birth).replace('-', '')}{int(rng.integers(0, 1000)):03d}"
        s = first17 + id_check_digit(first17)
        if s not in used:
            used.add(s)
            return s


def _name(rng: np.random.Generator) -> str:
    s = _SURNAMES[int(rng.integers(len(_SURNAMES)))] if rng.random() > 0.03 else ["欧阳", "司马"][int(rng.integers(2))]
    return s + "".join(_GIVEN[int(i)] for i in rng.integers(0, len(_GIVEN), int(rng.integers(1, 3))))


def _spell_building(n: str, rng) -> str:
    k = int(n)
    pattern = _BUILDING_SPELLINGS[int(rng.integers(len(_BUILDING_SPELLINGS)))]
    return pattern.format(n=k, cn=_cn_number(k), fw=str(k).translate(_FULLWIDTH))


def _spell_unit(u: int, rng) -> str:
    pattern = _UNIT_SPELLINGS[int(rng.integers(len(_UNIT_SPELLINGS)))]
    return pattern.format(u=u, cu=_cn_number(u))


def generate_rosters(buildings: pd.DataFrame, compounds: pd.DataFrame, communities: pd.DataFrame, *,
                     seed: int = DEFAULT_SEED) -> tuple[dict[str, pd.DataFrame], dict]:
    """The two sample rosters as tables (columns as in the files) and the truth they encode.

    Parameters
    ----------
    buildings, compounds, communities
        The sample city's layers as written (``building_id``, ``households``, ``units``,
        ``building_no``, ``compound_id``, ``community_id`` …), e.g. read from ``data/sample``.
    seed
        Seed of the random generator (one :class:`numpy.random.Generator`, no global randomness).

    Returns
    -------
    tables, truth
        ``tables`` maps ``"xlsx"`` and ``"csv"`` to DataFrames (the files' columns, rows in file
        order). ``truth`` has ``buildings`` (per building_id: households, persons, party_members
        the roster gives), ``unmatched``, ``ambiguous``, ``duplicate`` (row counts), ``invalid_ids``
        and ``ambiguous_buildings`` (the buildings sharing a number).
    """
    rng = np.random.default_rng(seed)
    comp_name = dict(zip(compounds["compound_id"], compounds["name"]))
    comm_name = dict(zip(communities["community_id"], communities["name"]))
    b = buildings[buildings["compound_id"].notna() & buildings["building_no"].notna()]
    used_ids: set = set()
    truth_rows = []
    tables: dict[str, list] = {"xlsx": [], "csv": []}
    ambiguous_rows = 0
    ambiguous_buildings: list[str] = []
    for kind, community in (("xlsx", XLSX_COMMUNITY), ("csv", CSV_COMMUNITY)):
        mine = b[b["community_id"] == community].sort_values(["compound_id", "building_id"])
        twice = mine.groupby("compound_id")["building_no"].transform(lambda s: s.map(s.value_counts()) > 1)
        for bid, cid, no, hh, units, amb in zip(mine["building_id"], mine["compound_id"], mine["building_no"],
                                                mine["households"], mine["units"], twice):
            units = max(int(units), 1)
            n_hh = max(1, int(hh) - int(rng.binomial(int(hh), 0.06))) if hh > 0 else 0
            persons = party = 0
            for h in range(n_hh):
                unit = h % units + 1
                floor, door = divmod(h // units, 2)
                room = f"{floor + 1}{door + 1:02d}"
                room = room if rng.random() > 0.2 else ("0" + room if rng.random() < 0.5 else room + "室")
                for p in range(int(rng.choice([1, 2, 2, 3, 3, 3, 4, 5]))):
                    member = rng.random() < 0.07
                    row = {
                        "社区": comm_name[community], "小区": comp_name[cid], "楼栋": _spell_building(no, rng),
                        "单元": _spell_unit(unit, rng), "户室": room, "姓名": _name(rng),
                        "身份证号": _id_number(rng, used_ids), "与户主关系": "户主" if p == 0 else
                        _RELATIONS[int(rng.integers(len(_RELATIONS)))],
                        "人员类别": rng.choice(["常住", "常住", "常住", "常住", "常住", "常住", "流动", "寄住"]),
                        "政治面貌": "中共党员" if member and rng.random() < 0.85 else ("中共预备党员" if member else
                                                                                   rng.choice(["群众", "群众", "共青团员"])),
                    }
                    tables[kind].append(row)
                    persons += 1
                    party += member
            if amb:
                ambiguous_rows += persons
                ambiguous_buildings.append(bid)
            elif n_hh:
                truth_rows.append((bid, n_hh, persons, party))
    # messy on purpose -------------------------------------------------------------------------------
    x, c = tables["xlsx"], tables["csv"]
    # two wrong check digits (still counted)
    invalid = 0
    wrong = []
    for rows in (x, c):
        i = int(rng.integers(len(rows)))
        s = rows[i]["身份证号"]
        rows[i]["身份证号"] = s[:17] + ("0" if s[17] != "0" else "1")
        wrong.append(i)
        invalid += 1
    # repeated rows (the same person entered twice)
    dup_x = [dict(x[int(i)]) for i in rng.choice([i for i in range(len(x)) if i != wrong[0]], 6, replace=False)]
    dup_c = [dict(c[int(i)]) for i in rng.choice([i for i in range(len(c)) if i != wrong[1]], 2, replace=False)]
    # a compound name with a stray blank and a full-width blank (folded, still matched)
    for i in rng.choice(len(x), 5, replace=False):
        nm = x[int(i)]["小区"]
        x[int(i)]["小区"] = f" {nm[:2]} {nm[2:]}\u3000"
    # 社区 left blank on some rows of the CSV
    for i in np.flatnonzero(rng.random(len(c)) < 0.3).tolist():
        c[int(i)]["社区"] = ""
    unmatched = []
    some_compound = comp_name[b[b["community_id"] == XLSX_COMMUNITY]["compound_id"].iloc[0]]
    for k in range(4):     # a compound the map does not have
        unmatched.append(dict(x[0], 小区="幸福里小区", 楼栋=f"{k + 1}栋", 户室=f"{k + 1}01", 姓名=_name(rng),
                              身份证号=_id_number(rng, used_ids)))
    for k in range(3):     # a building the compound does not have
        unmatched.append(dict(x[0], 小区=some_compound, 楼栋="99栋", 户室=f"{k + 1}02", 姓名=_name(rng),
                              身份证号=_id_number(rng, used_ids)))
    for k in range(2):     # no building given
        unmatched.append(dict(x[0], 楼栋="", 户室=f"{k + 1}03", 姓名=_name(rng), 身份证号=_id_number(rng, used_ids)))
    unmatched_c = [dict(c[0], 社区=comm_name[CSV_COMMUNITY], 小区=some_compound, 户室="909", 姓名=_name(rng),
                        身份证号=_id_number(rng, used_ids))]
    x = x + unmatched + dup_x
    c = c + unmatched_c + dup_c
    order_x = rng.permutation(len(x))
    order_c = rng.permutation(len(c))
    x = [x[int(i)] for i in order_x]
    c = [c[int(i)] for i in order_c]
    # rows of one compound together, as offices keep them (so the xlsx can merge the 小区 cells)
    x.sort(key=lambda r: (r["小区"].strip(), r["楼栋"] == ""))
    c.sort(key=lambda r: r["小区"])
    xlsx = pd.DataFrame(x).rename(columns={"小区": "小区名称", "楼栋": "楼栋号", "身份证号": "公民身份号码"})[HEADER_XLSX]
    csv = pd.DataFrame(c).rename(columns={"楼栋": "楼号", "户室": "房号"})
    csv.insert(0, "序号", np.arange(1, len(csv) + 1))
    csv["备注"] = ""
    csv = csv[HEADER_CSV]
    truth = {
        "buildings": pd.DataFrame(truth_rows, columns=["building_id", "households", "persons", "party_members"])
        .set_index("building_id"),
        "unmatched": len(unmatched) + len(unmatched_c),
        "ambiguous": ambiguous_rows,
        "duplicate": len(dup_x) + len(dup_c),
        "invalid_ids": invalid,
        "ambiguous_buildings": ambiguous_buildings,
        "rows": len(xlsx) + len(csv),
    }
    return {"xlsx": xlsx, "csv": csv}, truth


def _write_xlsx(table: pd.DataFrame, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = "住户台账"
    ncol = len(table.columns)
    ws.append(["什邡市方亭街道城西社区实有人口登记表（样例数据，姓名与身份证号均为虚构）"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=ncol)
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append([])
    ws.append(list(table.columns))
    for row in table.itertuples(index=False):
        ws.append([v if v != "" else None for v in row])
    # the 小区 column merged over each compound's rows, as offices lay such sheets out
    col = list(table.columns).index("小区名称") + 1
    values = table["小区名称"].tolist()
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            if i - start > 1:
                ws.merge_cells(start_row=4 + start, start_column=col, end_row=3 + i, end_column=col)
            start = i
    notes = wb.create_sheet("填表说明")
    notes.append(["一人一行；身份证号请以文本格式录入。"])
    notes.append(["人员类别：常住 / 流动 / 寄住。"])
    wb.properties.creator = "gridplan sample"
    wb.save(path)


def write_sample_rosters(buildings, compounds, communities, folder=ROSTER_DIR, *, seed: int = DEFAULT_SEED,
                         overwrite: bool = False) -> list[Path]:
    """Write the two sample rosters into ``folder`` (atomically; existing files only with ``overwrite``)."""
    folder = Path(folder)
    tables, _ = generate_rosters(buildings, compounds, communities, seed=seed)
    targets = [folder / XLSX_NAME, folder / CSV_NAME]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"refusing to overwrite existing file(s): {', '.join(existing)}; pass overwrite=True "
                              "(--overwrite)")
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(targets[0]) as tmp:
        _write_xlsx(tables["xlsx"], tmp)
    with atomic_path(targets[1]) as tmp:
        title = "雍城社区住户台账（样例数据，姓名与身份证号均为虚构）\r\n"
        body = tables["csv"].to_csv(index=False, lineterminator="\r\n")
        tmp.write_bytes((title + body).encode("gbk"))
    return targets
