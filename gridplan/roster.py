"""Household rosters (住户台账 / 实有人口, the 一标三实 data) to building counts.

A 社区 keeps its residents in spreadsheets with one row per person, keyed by address (小区, 楼栋,
单元, 户室). This module reads such files, places every row on a building of a dataset and counts:

* households = distinct (单元, 户室) per building; persons = distinct 身份证号 (a row without an ID
  counts once); party members = 政治面貌 中共党员 / 中共预备党员;
* a row whose 社区, 小区 or 楼栋 is not in the dataset is **unmatched** (with the reason), a row that
  fits several compounds or buildings is **ambiguous**, a row repeating an ID already counted is a
  **duplicate**; none of them is counted, all are reported. Nothing is guessed silently.

Spellings are folded before comparing: full-width characters and blanks (NFKC), building numbers
(``7栋`` = ``7号楼`` = ``7幢`` = ``7#`` = ``7号`` = ``七号楼`` = ``07栋`` = ``７栋`` = ``7``), units
(``1单元`` = ``一单元`` = ``1``), room numbers (``0302室`` = ``302``) and the generic word closing a name
(``方亭社区居民委员会`` = ``方亭社区`` = ``方亭``, ``金河小区`` = ``金河``). A 楼栋 cell holding the whole address
(``1幢1单元101室``) is split; buildings without ``building_no`` are numbered by a name like ``1栋``; a
15-digit first-generation ID is the same person as its 18-digit form.

Privacy: names and ID numbers stay in memory. :class:`RosterResult` holds them masked only
(:func:`mask_name`: 王*, :func:`mask_id`: 510682********1234); the output dataset carries counts, never
a name or an ID. Roster files are only read.

Typical use::

    res = apply_roster(dataset, ["台账.xlsx", "台账.csv"])      # read, match, count
    res.summary                                                  # rows, matched_rows, households …
    write_roster_output(res, "out/")                            # dataset + roster_report.xlsx

This module writes a report, so it sits on the presentation floor beside :mod:`gridplan.export`
(whose spreadsheet writer and formula guard it uses).
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import shutil
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._atomic import atomic_path
from ._errors import RosterError, ValidationError
from .checks import _norm_header
from .i18n import column, t
from .model import Dataset
from .tables import HEADER_SCAN_ROWS, WORKBOOK_SUFFIXES, Sheet, alias_index, cell_text, find_header, place, read_sheets

log = logging.getLogger(__name__)

#: roster fields and the headers recognised for each (compared without blanks, case or a bracketed note)
ROSTER_FIELDS: dict[str, tuple[str, ...]] = {
    "community": ("社区", "社区名称", "所属社区", "社区名", "社区(村)", "社区居委会"),
    "compound": ("小区", "小区名称", "小区名", "所属小区", "小区(院落)", "院落", "院落名称", "小区院落"),
    "building": ("楼栋", "楼栋号", "楼号", "幢", "幢号", "栋", "栋号", "楼幢", "楼幢号", "楼栋名称"),
    "unit": ("单元", "单元号"),
    "room": ("户室", "户室号", "房号", "房间号", "门牌", "门牌号", "室号", "户号"),
    "name": ("姓名", "人员姓名", "居民姓名"),
    "id_number": ("身份证号", "公民身份号码", "身份证号码", "身份证件号码", "证件号码", "身份证"),
    "relation": ("与户主关系", "与户主的关系", "关系"),
    "category": ("人员类别", "人口类别", "人员类型", "居住类别"),
    "politics": ("政治面貌",),
}

#: the Chinese label of each field (also accepted as a ``column_map`` target)
FIELD_LABELS: dict[str, str] = {
    "community": "社区", "compound": "小区", "building": "楼栋", "unit": "单元", "room": "户室", "name": "姓名",
    "id_number": "身份证号", "relation": "与户主关系", "category": "人员类别", "politics": "政治面貌",
}

#: file types read, by extension
ROSTER_SUFFIXES = (*WORKBOOK_SUFFIXES, ".csv", ".txt")

#: 政治面貌 values counted as party members
PARTY_VALUES = frozenset({"中共党员", "中共预备党员", "中国共产党党员", "中国共产党预备党员"})

#: 人员类别 values (by their first two characters) and the column each is counted in
CATEGORIES = {"常住": "resident", "流动": "floating", "寄住": "lodger"}

STATUSES = ("matched", "unmatched", "ambiguous", "duplicate")

#: sheets of roster_report.xlsx
REPORT_SHEETS = ("汇总", "楼栋", "未匹配", "重复", "歧义", "证件号警告")

#: columns of the per-row tables (masked), in the report's order
ROW_COLUMNS = ("file", "sheet", "row", "community", "compound", "building", "unit", "room", "person_name",
               "id_number", "id_check", "reason")

# --------------------------------------------------------------------------- folding and keys
_WS = re.compile(r"\s+")


def _text(v) -> str | None:
    """A cell as comparable text: NFKC (full-width → half-width), no blanks; ``None`` when empty."""
    if v is None:
        return None
    if isinstance(v, float):
        if v != v:
            return None
        if v.is_integer():
            v = int(v)
    s = _WS.sub("", unicodedata.normalize("NFKC", str(v)))
    return s or None


def fold_name(v) -> str | None:
    """A 社区/小区 name as compared: trimmed, blanks removed, full-width folded, case-folded."""
    s = _text(v)
    return s.casefold() if s else None


#: generic words at the end of a 社区/小区 name that rosters write or leave out: 方亭社区居委会 = 方亭社区 = 方亭,
#: 金河小区 = 金河
_COMMUNITY_WORDS = re.compile(r"(社区居民委员会|社区居委会|居民委员会|居委会|社区)$")
_COMPOUND_WORDS = re.compile(r"(小区)$")


def community_key(v) -> str | None:
    """A 社区 name as compared: :func:`fold_name` without a closing 社区/社区居委会/居民委员会."""
    s = fold_name(v)
    return (_COMMUNITY_WORDS.sub("", s) or s) if s else None


def compound_key(v) -> str | None:
    """A 小区 name as compared: :func:`fold_name` without a closing 小区."""
    s = fold_name(v)
    return (_COMPOUND_WORDS.sub("", s) or s) if s else None


_CN_DIGITS = {"零": 0, "〇": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}


def _cn_int(s: str) -> int | None:
    """``七`` → 7, ``十二`` → 12, ``二十`` → 20, ``一百零五`` → 105, ``一〇五`` → 105; ``None`` otherwise."""
    if not s or any(ch not in _CN_DIGITS and ch not in _CN_UNITS for ch in s):
        return None
    if not any(ch in _CN_UNITS for ch in s):
        return int("".join(str(_CN_DIGITS[ch]) for ch in s))
    total, num = 0, 0
    for ch in s:
        if ch in _CN_DIGITS:
            num = _CN_DIGITS[ch]
        else:
            total += (num or 1) * _CN_UNITS[ch]
            num = 0
    return total + num


_DIGITS = re.compile(r"[0-9]+")
_BUILDING_SUFFIX = re.compile(r"(号楼|号栋|号幢|栋楼|幢楼|#楼|栋|幢|座|号|#|楼)$")
_UNIT_SUFFIX = re.compile(r"(单元)$")
_ROOM_SUFFIX = re.compile(r"(室|号|房)$")


def _core_key(core: str) -> str:
    if _DIGITS.fullmatch(core):
        return str(int(core))
    n = _cn_int(core)
    if n is not None:
        return str(n)
    return _DIGITS.sub(lambda m: str(int(m.group())), core)


def _suffixed_key(v, suffix: re.Pattern, *, prefix: str = "第") -> str | None:
    s = _text(v)
    if s is None:
        return None
    s = s.upper()
    if prefix and s.startswith(prefix) and len(s) > 1:
        s = s[1:]
    core = suffix.sub("", s) or s
    return _core_key(core)


def building_key(v) -> str | None:
    """The building number as compared: ``7栋``, ``7号楼``, ``7幢``, ``7#``, ``7号``, ``七号楼``, ``07栋``,
    ``７栋`` and ``7`` all give ``"7"``; ``A座`` gives ``"A"``; empty gives ``None``."""
    return _suffixed_key(v, _BUILDING_SUFFIX)


def unit_key(v) -> str:
    """The unit as compared: ``1单元``, ``一单元``, ``01`` and ``1`` give ``"1"``; empty gives ``""``."""
    return _suffixed_key(v, _UNIT_SUFFIX) or ""


def room_key(v) -> str:
    """The room as compared: ``0302室``, ``302号`` and ``302`` give ``"302"``; empty gives ``""``."""
    return _suffixed_key(v, _ROOM_SUFFIX, prefix="") or ""


#: a whole address in the 楼栋 column: ``1幢1单元101室``, ``3号楼2单元0502``, ``七栋-一单元-301``, ``5-2-302``
_ADDRESS = re.compile(
    r"(?P<b>.+?(?:号楼|号栋|号幢|栋|幢|座|#))[-－—_/]?(?P<u>[0-9]+|[一二两三四五六七八九十]+)单元[-－—_/]?(?P<r>[0-9]+)(?:室|号|房)?"
    r"|(?P<b2>[0-9]+)[-－—](?P<u2>[0-9]+)[-－—](?P<r2>[0-9]+)")


def split_address(v) -> tuple[str, str, str] | None:
    """``(楼栋, 单元, 户室)`` of an address written whole in one cell (``1幢1单元101室`` → ``("1幢", "1", "101")``,
    ``5-2-302`` → ``("5", "2", "302")``); ``None`` when the text is not such an address."""
    t = _text(v)
    if t is None:
        return None
    m = _ADDRESS.fullmatch(t)
    if m is None:
        return None
    if m.group("b") is not None:
        return m.group("b"), m.group("u"), m.group("r")
    return m.group("b2"), m.group("u2"), m.group("r2")


def _split_addresses(rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows whose 楼栋 cell holds the whole address and whose 单元 and 户室 are empty, split into the three
    (so that households are told apart); returns the rows and how many were split."""
    empty = rows["unit"].isna() & rows["room"].isna() & rows["building"].notna()
    if not empty.any():
        return rows, 0
    parts = _map_unique(rows.loc[empty, "building"], split_address)
    hit = parts.dropna()
    if hit.empty:
        return rows, 0
    out = rows.copy()
    out.loc[hit.index, "building"] = [p[0] for p in hit]
    out.loc[hit.index, "unit"] = [p[1] for p in hit]
    out.loc[hit.index, "room"] = [p[2] for p in hit]
    return out, len(hit)


def _map_unique(s: pd.Series, fn) -> pd.Series:
    """``s.map(fn)`` computed once per distinct value."""
    values = pd.unique(s.to_numpy(dtype=object))
    table = {v: fn(v) for v in values if v is not None}
    return pd.Series([None if v is None else table[v] for v in s.to_numpy(dtype=object)], index=s.index,
                     dtype=object)


# --------------------------------------------------------------------------- ID numbers and masking
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = "10X98765432"


def _valid_date(y: int, m: int, d: int) -> bool:
    try:
        day = _dt.date(y, m, d)
    except ValueError:
        return False
    return _dt.date(1890, 1, 1) <= day <= _dt.date.today()


def id_check(v) -> str:
    """Check a 公民身份号码 (GB 11643-1999): ``""`` valid (or empty), ``"checksum"`` wrong check digit,
    ``"format"`` not 18 characters of the form (or an impossible birth date), ``"old15"`` a 15-digit
    number of the first generation (no check digit)."""
    s = _text(v)
    if s is None:
        return ""
    s = s.upper()
    if len(s) == 15 and s.isdigit() and s.isascii():
        return "old15" if _valid_date(1900 + int(s[6:8]), int(s[8:10]), int(s[10:12])) else "format"
    if len(s) != 18 or not (s[:17].isdigit() and s[:17].isascii()) or s[17] not in "0123456789X":
        return "format"
    if not _valid_date(int(s[6:10]), int(s[10:12]), int(s[12:14])):
        return "format"
    total = int(np.dot(_ID_WEIGHTS, [int(c) for c in s[:17]]))
    return "" if _ID_CHECK[total % 11] == s[17] else "checksum"


def _ids(raw: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """:func:`id_check` and :func:`mask_id` over a column at once: (comparable key or None, check code,
    masked text). Vectorised: a roster has one distinct ID per row."""
    txt = pd.Series(raw.to_numpy(dtype=object), dtype="string")
    txt = txt.str.normalize("NFKC").str.replace(r"\s+", "", regex=True).str.upper()
    txt = txt.mask(txt == "")
    has = txt.notna().to_numpy()
    key = pd.Series(np.where(has, txt.to_numpy(dtype=object, na_value=None), None), index=raw.index, dtype=object)
    n = len(txt)
    check = np.full(n, "", dtype=object)
    is18 = txt.str.fullmatch(r"[0-9]{17}[0-9X]").fillna(False).to_numpy(dtype=bool)
    is15 = txt.str.fullmatch(r"[0-9]{15}").fillna(False).to_numpy(dtype=bool)
    check[has & ~is18 & ~is15] = "format"
    today = pd.Timestamp(_dt.date.today())
    if is18.any():
        t18 = txt[is18].to_numpy(dtype=object)
        b = np.frombuffer("".join(t18).encode("ascii"), dtype=np.uint8).reshape(-1, 18)
        total = (b[:, :17].astype(np.int64) - 48) @ _ID_WEIGHTS
        ok_sum = np.frombuffer(_ID_CHECK.encode("ascii"), dtype=np.uint8)[total % 11] == b[:, 17]
        born = pd.to_datetime(pd.Series([t[6:14] for t in t18]), format="%Y%m%d", errors="coerce")
        ok_date = (born.notna() & (born >= pd.Timestamp(1890, 1, 1)) & (born <= today)).to_numpy()
        check[np.flatnonzero(is18)] = np.where(~ok_date, "format", np.where(ok_sum, "", "checksum"))
    if is15.any():
        t15 = txt[is15].to_numpy(dtype=object)
        born = pd.to_datetime(pd.Series(["19" + t[6:12] for t in t15]), format="%Y%m%d", errors="coerce")
        check[np.flatnonzero(is15)] = np.where(born.notna().to_numpy(), "old15", "format")
    masked = np.array([("" if t is None else t[:6] + "*" * (len(t) - 10) + t[-4:] if len(t) >= 15 else mask_id(t))
                       for t in key.to_numpy(dtype=object)], dtype=object)
    old = np.flatnonzero(check == "old15")
    if len(old):  # a first-generation number is the same person as its 18-digit form: one key for both
        key17 = [t[:6] + "19" + t[6:] for t in key.iloc[old].to_numpy(dtype=object)]
        key.iloc[old] = [k + id_check_digit(k) for k in key17]
    return key, check, masked


def id_check_digit(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits (``"0"``–``"9"`` or ``"X"``)."""
    return _ID_CHECK[int(np.dot(_ID_WEIGHTS, [int(c) for c in first17])) % 11]


def mask_id(v) -> str:
    """An ID number with at most its first 6 and last 4 characters shown: ``510682********1234``
    (shorter numbers show a quarter at each end)."""
    s = (_text(v) or "").upper()
    n = len(s)
    if n == 0:
        return ""
    head, tail = (6, 4) if n >= 15 else (n // 4, n // 4)
    return s[:head] + "*" * (n - head - tail) + (s[n - tail:] if tail else "")


#: two-character surnames (复姓): 欧阳娜娜 → 欧阳*
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 钟离 闾丘 端木 南宫 西门 独孤 澹台 公冶 宗政 "
    "濮阳 太史 申屠 呼延 百里 东郭 拓跋 万俟 司空 左丘 梁丘 赫连 淳于 单于 仲孙 公羊 谷梁 太叔 乐正 羊舌 微生 段干 巫马 "
    "公良 漆雕 亓官 司寇 颛孙 壤驷 公西 东门 南门 夹谷 宰父 第五".split())


def mask_name(v) -> str:
    """A name reduced to its surname: 王小明 → 王*, 欧阳娜娜 → 欧阳*, John Smith → J*."""
    s = "" if v is None or (isinstance(v, float) and v != v) else _WS.sub("", str(v))
    if not s:
        return ""
    if len(s) >= 3 and s[:2] in COMPOUND_SURNAMES:
        return s[:2] + "*"
    return s[0] + "*"


# --------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Roster:
    """Rows read from roster files, one per person, with the address and person fields as text.

    ``rows`` has the columns ``file``, ``sheet``, ``row`` (1-based, as the spreadsheet shows it),
    ``id_numeric`` (the ID was stored as a number: digits may be lost) and the fields of
    :data:`ROSTER_FIELDS` (missing ones empty). It holds names and ID numbers: keep it in memory
    only; :func:`match_roster` masks them. ``sheets`` lists each sheet read (file, sheet, header
    row, data rows, the columns recognised, the encoding of a text file); ``warnings`` what was skipped.
    """

    rows: pd.DataFrame
    sheets: pd.DataFrame
    warnings: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"Roster({len(self.rows)} rows from {len(self.sheets)} sheet(s))"


def parse_field_map(column_map: Mapping[str, str] | None) -> dict[str, str]:
    """``{"住址楼号": "building", "房间": "户室"}`` → ``{header: field}``; targets are field names of
    :data:`ROSTER_FIELDS` or their Chinese labels. Raises ValueError on an unknown target."""
    out: dict[str, str] = {}
    by_label = {v: k for k, v in FIELD_LABELS.items()}
    for src, dst in (column_map or {}).items():
        d = str(dst).strip()
        target = d if d in ROSTER_FIELDS else by_label.get(d)
        if target is None:
            raise ValueError(f"--map {src}={dst}: {dst!r} is not a roster field; use one of "
                             + ", ".join(f"{k} ({v})" for k, v in FIELD_LABELS.items()))
        out[str(src).strip()] = target
    return out


def is_roster_field(name: str) -> bool:
    """Whether ``name`` is a roster field or its Chinese label (a ``--map`` target of ``gridplan roster``)."""
    return name in ROSTER_FIELDS or name in FIELD_LABELS.values()


_ALIAS_INDEX = alias_index(ROSTER_FIELDS)


def _has_address(fields: set) -> bool:
    """A roster header names at least two fields, one of them 小区 or 楼栋."""
    return len(fields) >= 2 and bool({"compound", "building"} & fields)


def _sheet_frame(path: Path, sheet: Sheet, hand: dict[str, str], warnings: list[str]):
    where = place(path.name, sheet.name)
    rows = sheet.rows
    found = find_header(rows, _ALIAS_INDEX, hand=hand, accept=_has_address)
    if found is None:
        return None, where
    h, fields = found.index, found.fields
    missing = [f for f in ("compound", "building") if f not in fields.values()]
    if missing:
        present = [str(c) for c in rows[h] if c not in (None, "")]
        raise RosterError(
            f"{where} 第 {found.row} 行 (表头): 没有{'、'.join(FIELD_LABELS[f] for f in missing)}列 / the header row {found.row} "
            f"has no {' or '.join(FIELD_LABELS[f] for f in missing)} column (columns: {', '.join(present[:20])}) — "
            f"请把列名改为{'、'.join(FIELD_LABELS[f] for f in missing)}，或用 --map 列名={missing[0]} 指定 / rename the "
            f"column or map it: --map 列名={missing[0]}")
    header_text = found.texts(rows)
    for j, f in found.repeated:
        warnings.append(f"{where} 第 {found.row} 行 (表头): 列 {header_text[j]} 与已识别的{FIELD_LABELS[f]}列重复，已忽略 / "
                        f"column {header_text[j]} repeats the {f} column and is ignored — 请删除或重命名该列 / delete or "
                        "rename it")
    data = rows[h + 1:]
    n = len(data)
    cols: dict[str, list] = {}
    id_numeric = np.zeros(n, dtype=bool)
    for j, f in fields.items():
        raw = [r[j] if j < len(r) else None for r in data]
        if f == "id_number":
            id_numeric = np.array([isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw], dtype=bool)
        cache: dict = {}
        vals = []
        for v in raw:
            key = (type(v), v)
            try:
                vals.append(cache[key])
            except KeyError:
                cache[key] = c = cell_text(v)
                vals.append(c)
            except TypeError:  # unhashable
                vals.append(cell_text(v))
        cols[f] = vals
    frame = pd.DataFrame({f: pd.Series(cols.get(f, [None] * n), dtype=object) for f in ROSTER_FIELDS})
    frame.insert(0, "row", np.arange(h + 2, h + 2 + n, dtype=np.int64))
    frame.insert(0, "sheet", sheet.name)
    frame.insert(0, "file", path.name)
    frame["id_numeric"] = id_numeric
    field_cols = list(ROSTER_FIELDS)
    filled = frame[field_cols].notna()
    blank = ~filled.any(axis=1)
    # a header repeated inside the data (printed exports repeat it on every page)
    repeat = np.ones(n, dtype=bool)
    for j, f in fields.items():
        repeat &= (frame[f].to_numpy(dtype=object) == header_text[j])
    keep = ~(blank.to_numpy() | repeat)
    frame = frame[keep].reset_index(drop=True)
    hand_unused = [k for k in hand if k not in header_text and _norm_header(k) not in {_norm_header(x) for x in header_text if x}]
    if hand_unused:
        warnings.append(f"{where}: --map 列 {', '.join(hand_unused)} 不在表头中 / mapped column(s) not in the header")
    info = {"file": path.name, "sheet": sheet.name, "header_row": found.row, "rows": len(frame),
            "columns": "; ".join(f"{header_text[j]}→{FIELD_LABELS[f]}" for j, f in sorted(fields.items())),
            "encoding": sheet.encoding or ""}
    return (frame, info), where


def read_roster(paths, *, column_map: Mapping[str, str] | None = None) -> Roster:
    """Read roster files: .xlsx/.xlsm/.xls (every sheet; merged cells filled), .csv and .txt (UTF-8 with
    or without BOM, UTF-16, GBK/GB18030; comma, tab, semicolon, bar or full-width comma separated),
    by the shared reader :func:`gridplan.tables.read_sheets`.

    The header row is found among the first :data:`~gridplan.tables.HEADER_SCAN_ROWS` rows of each
    sheet (a title row or blank rows may sit above it) by its Chinese headers (:data:`ROSTER_FIELDS`;
    :func:`gridplan.tables.find_header`); ``column_map`` maps other headers by hand
    (``{"住址楼号": "building"}``). A sheet without any recognisable header (a notes sheet) is skipped
    with a warning, and so is a second column giving a field already found. ``sheets`` names each
    text file's encoding. The files are only read.

    Raises
    ------
    RosterError
        naming the file, sheet and row and the fix, when a file cannot be read, a header lacks the
        小区 or 楼栋 column, or no sheet of a file has a header.
    """
    hand = parse_field_map(column_map)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    frames: list[pd.DataFrame] = []
    infos: list[dict] = []
    warnings: list[str] = []
    for p in paths:
        path = Path(p)
        ext = path.suffix.lower()
        if path.is_file() and ext not in ROSTER_SUFFIXES:
            raise RosterError(f"{path.name}: 不支持的台账格式 / unsupported roster type {ext or '(none)'} — 请使用 "
                              f"{' '.join(ROSTER_SUFFIXES)} / use one of these")
        try:
            sheets = read_sheets(path, layer="roster")
        except ValidationError as e:
            raise RosterError("; ".join(f"{q.message} — {q.fix}" for q in e.problems)) from None
        got = 0
        skipped = []
        for sheet in sheets:
            res, where = _sheet_frame(path, sheet, hand, warnings)
            if res is None:
                if any(any(c not in (None, "") for c in r) for r in sheet.rows):
                    skipped.append(where)
                continue
            frames.append(res[0])
            infos.append(res[1])
            got += 1
        if got == 0:
            raise RosterError(
                f"{path.name}: 前 {HEADER_SCAN_ROWS} 行中找不到表头（需要小区、楼栋等列名）/ no header row with 小区 and 楼栋 "
                f"columns in the first {HEADER_SCAN_ROWS} rows of any sheet — 请添加表头行（如 小区 楼栋 单元 户室 姓名 "
                "身份证号），或用 --map 列名=字段 指定列 / add a header row or map the columns with --map")
        for w in skipped:
            warnings.append(f"{w}: 没有表头，已跳过 / no header row, sheet skipped")
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["file", "sheet", "row", *ROSTER_FIELDS, "id_numeric"])
    return Roster(rows=rows, sheets=pd.DataFrame(infos), warnings=tuple(warnings))


# --------------------------------------------------------------------------- matching
@dataclass(frozen=True)
class RosterResult:
    """What a roster gives a dataset.

    Attributes
    ----------
    dataset
        The input dataset with the roster's counts on the matched buildings and a ``count_source``
        column on every building (``roster``, ``input`` or ``estimate``).
    rows
        One row per roster row, **masked** (``person_name`` 王*, ``id_number`` 510682********1234):
        :data:`ROW_COLUMNS` plus ``status`` (matched/unmatched/ambiguous/duplicate), ``detail``,
        ``building_id`` and ``kept_row`` (the row a duplicate repeats).
    buildings
        One row per building of a compound the roster names: counts from the roster (empty for a
        building no row mentions), the counts before and their source.
    sheets
        The sheets read (file, sheet, header row, rows, columns recognised, encoding).
    summary
        ``rows``, ``duplicate_rows``, ``matched_rows``, ``unmatched_rows``, ``ambiguous_rows``,
        ``buildings_matched``, ``households``, ``persons``, ``party_members`` and more.
    """

    dataset: Dataset
    rows: pd.DataFrame
    buildings: pd.DataFrame
    sheets: pd.DataFrame
    summary: dict
    warnings: tuple[str, ...] = field(default=())

    def __repr__(self) -> str:
        s = self.summary
        return (f"RosterResult({s['rows']} rows: {s['matched_rows']} matched, {s['unmatched_rows']} unmatched, "
                f"{s['ambiguous_rows']} ambiguous, {s['duplicate_rows']} duplicate; {s['buildings_matched']} buildings)")


def _communities_derived(dataset: Dataset) -> bool:
    """Whether the dataset's communities were drawn by the loader (no communities layer: names are ids)."""
    comm = dataset.communities
    return comm is not None and len(comm) > 0 and "name" in comm and bool(
        (comm["name"].astype(str).to_numpy() == comm.index.astype(str).to_numpy()).all())


def _lookups(dataset: Dataset):
    comm = dataset.communities
    comm_keys: dict[str, list[str]] = {}
    if comm is not None and not _communities_derived(dataset):
        for cid, name in zip(comm.index, comm["name"] if "name" in comm else comm.index):
            for k in {community_key(name), fold_name(cid)}:
                if k and cid not in comm_keys.setdefault(k, []):
                    comm_keys[k].append(cid)
    comp = dataset.compounds
    comp_keys: dict[str, list[tuple[str, str]]] = {}
    if comp is not None:
        cc = comp["community_id"] if "community_id" in comp else pd.Series(None, index=comp.index)
        for cpid, name, cid in zip(comp.index, comp["name"], cc):
            k = compound_key(name)
            if k:
                comp_keys.setdefault(k, []).append((cpid, cid))
    b = dataset.buildings
    bno = _building_numbers(b)
    keys = _map_unique(bno, building_key)
    frame = pd.DataFrame({"compound_id": b["compound_id"].to_numpy(dtype=object), "key": keys.to_numpy(),
                          "building_id": b.index.to_numpy()})
    frame = frame[frame["compound_id"].notna() & frame["key"].notna()]
    bld: dict[tuple[str, str], list[str]] = {}
    for cpid, k, bid in frame.itertuples(index=False):
        bld.setdefault((cpid, k), []).append(bid)
    numbered = set(frame["compound_id"])
    return comm_keys, comp_keys, bld, numbered


def _building_numbers(b: pd.DataFrame) -> pd.Series:
    """Each building's 楼栋号: ``building_no``, else its ``name`` when that is a bare number such as
    ``1栋``/``3号楼``/``七幢`` (many offices keep the number only in the name, or in a 楼栋 column, read as name)."""
    bno = (b["building_no"] if "building_no" in b else pd.Series(None, index=b.index)).astype(object)
    bno = bno.where(bno.notna(), None)
    if "name" in b:
        name = b["name"].astype(object).where(b["name"].notna(), None)
        numeric = _map_unique(name, lambda v: building_key(v) if _NUMBER_NAME.fullmatch(_text(v) or "") else None)
        bno = bno.where(bno.notna(), numeric.where(numeric.isna(), name))
    return bno


#: a building name that is only its number: 1栋, 03号楼, 七幢, 12#, 第5栋, A座
_NUMBER_NAME = re.compile(r"第?([0-9]+|[零〇○一二两三四五六七八九十百]+|[A-Za-z])"
                          r"(号楼|号栋|号幢|栋楼|幢楼|#楼|栋|幢|座|号|#|楼)?")


def _numbers_from_names(dataset: Dataset) -> int:
    """How many buildings get their 楼栋号 from their name (see :func:`_building_numbers`)."""
    b = dataset.buildings
    has = b["building_no"].notna() if "building_no" in b else pd.Series(False, index=b.index)
    return int((_building_numbers(b).notna() & ~has).sum())


def _resolve(ckey, pkey, bkey, raw_comm, raw_comp, raw_bld, lookups, dataset: Dataset):
    """(status, reason, detail, building_id, compound_id) of one address."""
    comm_keys, comp_keys, bld, numbered = lookups
    if pkey is None:
        return "unmatched", "missing_compound", "", None, None
    if bkey is None:
        return "unmatched", "missing_building", "", None, None
    if dataset.compounds is None:
        return "unmatched", "no_compounds_layer", "", None, None
    comm = None
    if ckey is not None and comm_keys:
        comms = comm_keys.get(ckey, [])
        if not comms:
            return "unmatched", "unknown_community", str(raw_comm), None, None
        if len(comms) > 1:
            return "ambiguous", "community_ambiguous", ", ".join(comms), None, None
        comm = comms[0]
    cands = comp_keys.get(pkey, [])
    if not cands:
        return "unmatched", "unknown_compound", str(raw_comp), None, None
    if comm is not None:
        inside = [c for c in cands if c[1] == comm]
        if not inside:
            where = ", ".join(sorted({_community_label(dataset, c[1]) for c in cands}))
            return "unmatched", "compound_elsewhere", where, None, None
        cands = inside
    if len(cands) > 1:
        return "ambiguous", "compound_ambiguous", ", ".join(f"{c[0]} ({_community_label(dataset, c[1])})"
                                                            for c in cands), None, None
    cpid = cands[0][0]
    if cpid not in numbered:
        return "unmatched", "no_building_numbers", cpid, None, cpid
    ids = bld.get((cpid, bkey), [])
    if not ids:
        return "unmatched", "unknown_building", f"{raw_bld} ({cpid})", None, cpid
    if len(ids) > 1:
        return "ambiguous", "building_ambiguous", ", ".join(ids), None, cpid
    return "matched", "", "", ids[0], cpid


def _community_label(dataset: Dataset, cid) -> str:
    comm = dataset.communities
    if cid is None:
        return "?"
    if comm is not None and "name" in comm and cid in comm.index:
        return f"{comm.at[cid, 'name']}"
    return str(cid)


def match_roster(dataset: Dataset, roster: Roster) -> RosterResult:
    """Place every roster row on a building, count, and apply the counts to a copy of the dataset.

    See the module documentation for the rules. The dataset is not changed (a new one is returned
    in :attr:`RosterResult.dataset`).
    """
    t0 = time.perf_counter()
    r, n_split = _split_addresses(roster.rows)
    n = len(r)
    ckey = _map_unique(r["community"], community_key)
    pkey = _map_unique(r["compound"], compound_key)
    bkey = _map_unique(r["building"], building_key)
    lookups = _lookups(dataset)
    combo = [f"{c}\x1f{q}\x1f{b}" for c, q, b in zip(ckey.to_numpy(dtype=object), pkey.to_numpy(dtype=object),
                                                     bkey.to_numpy(dtype=object))]
    codes, _ = pd.factorize(np.asarray(combo, dtype=object))
    first = pd.Series(np.arange(n)).groupby(codes).first().to_numpy() if n else np.array([], dtype=int)
    resolved = []
    arrays = [a.to_numpy(dtype=object) for a in (ckey, pkey, bkey, r["community"], r["compound"], r["building"])]
    for i in first:
        ck, pk, bk, rc, rq, rb = (a[i] for a in arrays)
        resolved.append(_resolve(ck, pk, bk, rc, rq, rb, lookups, dataset))
    res = pd.DataFrame(resolved, columns=["status", "reason", "detail", "building_id", "compound_id"])
    per_row = res.iloc[codes].reset_index(drop=True) if n else res.iloc[:0]
    status = per_row["status"].to_numpy(dtype=object).copy()
    reason = per_row["reason"].to_numpy(dtype=object).copy()
    detail = per_row["detail"].to_numpy(dtype=object).copy()

    # ID numbers: checked, masked, and repeated ones counted once
    idk, idcheck, idmasked = _ids(r["id_number"])
    numeric = r["id_numeric"].to_numpy(dtype=bool) & idk.notna().to_numpy()
    idcheck = np.where(numeric, "numeric", idcheck)
    lossy = numeric & (idk.str.len().fillna(0).to_numpy() > 15)
    if lossy.any():
        # an 18-digit number kept as a number lost its last digits (a double holds ~15): neighbours born on one
        # day collapse to one value. Such rows are the same person only when name and address agree as well.
        same = (r["name"].map(lambda v: _text(v) or "") + "\x1f" + bkey.fillna("") + "\x1f"
                + _map_unique(r["unit"], unit_key).fillna("") + "\x1f" + _map_unique(r["room"], room_key).fillna(""))
        idk = idk.copy()
        idk[lossy] = idk[lossy] + "\x1f" + same[lossy]
    kept_row = np.full(n, "", dtype=object)
    has_id = idk.notna().to_numpy()
    if has_id.any():
        order = pd.DataFrame({"id": idk.to_numpy(dtype=object), "unmatched": status != "matched", "i": np.arange(n)})
        order = order[has_id].sort_values(["id", "unmatched", "i"], kind="stable")
        firsts = order.drop_duplicates("id")
        keep_of = pd.Series(firsts["i"].to_numpy(), index=firsts["id"].to_numpy())
        dup = order.loc[~order.index.isin(firsts.index), ["id", "i"]]
        if len(dup):
            di = dup["i"].to_numpy()
            ki = keep_of.loc[dup["id"].to_numpy()].to_numpy()
            status[di] = "duplicate"
            reason[di] = "duplicate_id"
            files, sheets, nums = r["file"].to_numpy(dtype=object), r["sheet"].to_numpy(dtype=object), r["row"].to_numpy()
            where = np.array([f"{files[k]}{f' [{sheets[k]}]' if sheets[k] else ''} 第{nums[k]}行" for k in ki],
                             dtype=object)
            kept_row[di] = where
            detail[di] = where

    matched = status == "matched"
    bids = per_row["building_id"].to_numpy(dtype=object)
    ukey = _map_unique(r["unit"], unit_key).fillna("")
    rkey = _map_unique(r["room"], room_key).fillna("")
    household = (ukey + "\x1f" + rkey).to_numpy(dtype=object)
    politics = _map_unique(r["politics"], _text).to_numpy(dtype=object)
    party = np.array([p in PARTY_VALUES for p in politics], dtype=bool)
    cat = _map_unique(r["category"], lambda v: CATEGORIES.get((_text(v) or "")[:2], "other")).fillna("")
    bad_id = np.isin(idcheck, ["checksum", "format", "numeric", "old15"])
    m = pd.DataFrame({"building_id": bids[matched], "household": household[matched], "party": party[matched],
                      "cat": cat.to_numpy(dtype=object)[matched], "bad_id": bad_id[matched],
                      "no_room": (rkey.to_numpy(dtype=object) == "")[matched]})
    for c in CATEGORIES.values():
        m[c] = m["cat"].to_numpy(dtype=object) == c
    g = m.groupby("building_id", sort=True)
    counts = pd.DataFrame({
        "households": g["household"].nunique(),
        "persons": g.size(),
        "party_members": g["party"].sum(),
        **{c: g[c].sum() for c in CATEGORIES.values()},
        "invalid_ids": g["bad_id"].sum(),
        "rows_without_room": g["no_room"].sum(),
    }) if len(m) else pd.DataFrame(columns=["households", "persons", "party_members", *CATEGORIES.values(),
                                            "invalid_ids", "rows_without_room"])
    counts = counts.astype(np.int64)
    counts.index.name = "building_id"

    new_ds, before = _apply_counts(dataset, counts)
    buildings = _building_table(dataset, new_ds, counts, before, per_row["compound_id"].to_numpy(dtype=object)[matched])
    rows = pd.DataFrame({
        "file": r["file"].to_numpy(dtype=object), "sheet": r["sheet"].to_numpy(dtype=object),
        "row": r["row"].to_numpy(), "community": r["community"].to_numpy(dtype=object),
        "compound": r["compound"].to_numpy(dtype=object), "building": r["building"].to_numpy(dtype=object),
        "unit": r["unit"].to_numpy(dtype=object), "room": r["room"].to_numpy(dtype=object),
        "person_name": _map_unique(r["name"], mask_name).to_numpy(dtype=object),
        "id_number": idmasked,
        "id_check": idcheck, "status": status, "reason": reason, "detail": detail, "building_id": bids,
        "kept_row": kept_row,
    })
    rows.loc[rows["status"] != "matched", "building_id"] = None
    st = pd.Series(status).value_counts()
    summary = {
        "rows": int(n),
        "duplicate_rows": int(st.get("duplicate", 0)),
        "matched_rows": int(st.get("matched", 0)),
        "unmatched_rows": int(st.get("unmatched", 0)),
        "ambiguous_rows": int(st.get("ambiguous", 0)),
        "buildings_matched": int(len(counts)),
        "households": int(counts["households"].sum()),
        "persons": int(counts["persons"].sum()),
        "party_members": int(counts["party_members"].sum()),
        **{k: int(counts[k].sum()) for k in CATEGORIES.values()},
        "invalid_ids": int(bad_id.sum()),
        "rows_without_room": int(counts["rows_without_room"].sum()),
        "buildings_without_rows": int((buildings["count_source"] != "roster").sum()) if len(buildings) else 0,
        "files": int(roster.sheets["file"].nunique()) if len(roster.sheets) else 0,
        "sheets": int(len(roster.sheets)),
        "match_seconds": round(time.perf_counter() - t0, 3),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    warnings = list(roster.warnings)
    if n_split:
        warnings.append(f"{n_split} 行的楼栋列写了完整地址（如 1幢1单元101室），已拆分为楼栋、单元、户室 / {n_split} row(s) held "
                        "the whole address in the building column; it was split into building, unit and room")
    from_names = _numbers_from_names(dataset)
    if from_names:
        warnings.append(f"{from_names} 栋楼没有楼栋号（building_no），楼栋号取自名称（如 1栋）/ {from_names} building(s) have "
                        "no building_no: their number was taken from their name (e.g. 1栋) — 请在数据集中填写楼栋号 / "
                        "fill building_no in the dataset to be sure")
    if _communities_derived(dataset) and r["community"].notna().any():
        warnings.append("数据集没有社区图层，台账的社区列未用于匹配 / the dataset has no communities layer: the 社区 "
                        "column was not used")
    return RosterResult(dataset=new_ds, rows=rows, buildings=buildings, sheets=roster.sheets, summary=summary,
                        warnings=tuple(warnings))


def _apply_counts(dataset: Dataset, counts: pd.DataFrame):
    b = dataset.buildings.copy()
    est = b["households_estimated"].to_numpy(dtype=bool) if "households_estimated" in b else np.zeros(len(b), bool)
    before = pd.DataFrame({"households_before": b["households"].to_numpy(), "persons_before": b["persons"].to_numpy(),
                           "source_before": np.where(est, "estimate", "input")}, index=b.index)
    source = before["source_before"].to_numpy(dtype=object).copy()
    if len(counts):
        pos = b.index.get_indexer(counts.index)
        for col in ("households", "persons", "party_members"):
            vals = b[col].to_numpy(dtype=np.int64).copy()
            vals[pos] = counts[col].to_numpy(dtype=np.int64)
            b[col] = vals
        for flag in ("households_estimated", "persons_estimated"):
            if flag in b:
                f = b[flag].to_numpy(dtype=bool).copy()
                f[pos] = False
                b[flag] = f
        source[pos] = "roster"
    b["count_source"] = source
    return dataset.replace(buildings=b), before


def _building_table(dataset: Dataset, new_ds: Dataset, counts: pd.DataFrame, before: pd.DataFrame,
                    matched_compounds) -> pd.DataFrame:
    """Every building of a compound the roster reaches (matched buildings and their unlisted neighbours)."""
    b = new_ds.buildings
    comps = set(c for c in matched_compounds if c is not None)
    ids = b.index[b["compound_id"].isin(comps).to_numpy() | b.index.isin(counts.index)]
    sub = b.loc[ids]
    comp = dataset.compounds
    names = comp["name"] if comp is not None else pd.Series(dtype=object)
    out = pd.DataFrame({
        "building_id": ids,
        "community": sub["community_id"].map({c: _community_label(dataset, c)
                                              for c in sub["community_id"].unique()}).to_numpy(dtype=object),
        "compound": sub["compound_id"].map(names).to_numpy(dtype=object),
        "building_no": sub["building_no"].to_numpy(dtype=object) if "building_no" in sub else None,
        "count_source": sub["count_source"].to_numpy(dtype=object),
    })
    c = counts.reindex(ids)
    for col in ("households", "persons", "party_members", *CATEGORIES.values(), "invalid_ids"):
        out[col] = c[col].astype("Int64").to_numpy()
    bf = before.loc[ids]
    out["households_before"] = bf["households_before"].to_numpy()
    out["persons_before"] = bf["persons_before"].to_numpy()
    out["source_before"] = bf["source_before"].to_numpy()
    return out.sort_values(["community", "compound", "building_id"], kind="stable").reset_index(drop=True)


def apply_roster(dataset: Dataset, rosters, *, column_map: Mapping[str, str] | None = None) -> RosterResult:
    """:func:`read_roster` then :func:`match_roster`: the one call for the CLI, the app and notebooks.

    ``rosters`` is a path, a list of paths, or a :class:`Roster` already read.
    """
    t0 = time.perf_counter()
    roster = rosters if isinstance(rosters, Roster) else read_roster(rosters, column_map=column_map)
    res = match_roster(dataset, roster)
    res.summary["seconds"] = round(time.perf_counter() - t0, 3)
    return res


# --------------------------------------------------------------------------- the report and the output folder
def reason_text(code: str, detail: str = "", lang: str = "zh") -> str:
    """The reason of an unmatched/ambiguous/duplicate row as a sentence."""
    if not code:
        return ""
    return t(f"roster_reason_{code}", lang, detail=detail or "")


def _row_table(rows: pd.DataFrame, lang: str) -> pd.DataFrame:
    out = rows.copy()
    out["reason"] = [reason_text(c, d, lang) for c, d in zip(out["reason"], out["detail"])]
    out["id_check"] = [t(f"roster_id_{c}", lang) if c else "" for c in out["id_check"]]
    out["sheet"] = out["sheet"].replace("", None)
    return out[list(ROW_COLUMNS)]


def rows_not_counted(result: RosterResult, *, lang: str = "zh") -> pd.DataFrame:
    """The unmatched, ambiguous and duplicate rows (masked), with the status and the reason in ``lang``
    and headers in ``lang``: what a planner fixes in the roster or the map."""
    rows = result.rows[result.rows["status"] != "matched"]
    out = _row_table(rows, lang)
    out.insert(0, "status", [t(f"roster_status_{v}", lang) for v in rows["status"]])
    return out.rename(columns=lambda c: column(c, lang)).reset_index(drop=True)


def report_tables(result: RosterResult, *, lang: str = "zh") -> dict[str, pd.DataFrame]:
    """The sheets of ``roster_report.xlsx`` (:data:`REPORT_SHEETS`) as DataFrames with headers in ``lang``.
    Names and ID numbers appear masked only."""
    s = result.summary
    items = [(t(f"roster_sum_{k}", lang), s[k]) for k in
             ("rows", "matched_rows", "unmatched_rows", "ambiguous_rows", "duplicate_rows", "buildings_matched",
              "households", "persons", "party_members", "resident", "floating", "lodger", "invalid_ids",
              "rows_without_room", "buildings_without_rows")]
    for _, sh in result.sheets.iterrows():
        where = sh["file"] + (f" [{sh['sheet']}]" if sh["sheet"] else "")
        items.append((t("roster_sum_sheet", lang, where=where), t("roster_sum_sheet_value", lang, header=sh["header_row"],
                                                                      rows=sh["rows"], columns=sh["columns"])))
    for w in result.warnings:
        items.append((t("roster_sum_warning", lang), w))
    items.append((t("roster_sum_privacy_key", lang), t("roster_sum_privacy", lang)))
    summary = pd.DataFrame(items, columns=[t("roster_sum_item", lang), t("roster_sum_value", lang)], dtype=object)
    rows = result.rows
    b = result.buildings.copy()
    b["count_source"] = [t(f"roster_source_{v}", lang) for v in b["count_source"]]
    b["source_before"] = [t(f"roster_source_{v}", lang) for v in b["source_before"]]
    tables = {
        "汇总": summary,
        "楼栋": b,
        "未匹配": _row_table(rows[rows["status"] == "unmatched"], lang),
        "重复": _row_table(rows[rows["status"] == "duplicate"], lang).assign(kept_row=rows.loc[
            rows["status"] == "duplicate", "kept_row"].to_numpy()),
        "歧义": _row_table(rows[rows["status"] == "ambiguous"], lang),
        "证件号警告": _row_table(rows[rows["id_check"] != ""], lang).assign(
            status=[t(f"roster_status_{v}", lang) for v in rows.loc[rows["id_check"] != "", "status"]]),
    }
    return {k: v.rename(columns=lambda c: column(c, lang)) if k != "汇总" else v for k, v in tables.items()}


def write_roster_report(result: RosterResult, path, *, lang: str = "zh") -> Path:
    """Write ``roster_report.xlsx`` (sheets :data:`REPORT_SHEETS`) atomically, formulas neutralised."""
    from .export import _write_xlsx

    path = Path(path)
    with atomic_path(path) as tmp:
        _write_xlsx(report_tables(result, lang=lang), tmp, title=f"{result.dataset.name} 住户台账匹配报告")
    return path


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def check_output_folder(out_dir, *, dataset_path=None, rosters=(), force: bool = False) -> Path:
    """Refuse an output folder that is the input dataset (or holds it, or a roster file), or that
    exists and is not empty (unless ``force``). Raises ValueError with the reason."""
    out = Path(out_dir)
    if dataset_path is not None:
        src = Path(dataset_path)
        if out.exists() and src.exists() and (out.resolve() == src.resolve() or _inside(src, out)):
            raise ValueError(f"--out {out} is the input dataset (or holds it); write to another folder "
                             "/ 输出文件夹不能是输入数据集")
        if src.is_file() and out.resolve() == src.resolve():
            raise ValueError(f"--out {out} is the input dataset; write to another folder")
    for p in rosters:
        if out.exists() and _inside(Path(p), out):
            raise ValueError(f"--out {out} holds the roster {Path(p).name}; write to another folder "
                             "/ 输出文件夹不能包含台账文件")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise ValueError(f"--out {out} exists and is not empty; choose a new folder or add --force to replace it "
                         "/ 输出文件夹已存在且非空（加 --force 覆盖）")
    return out


def write_roster_output(result: RosterResult, out_dir, *, dataset_path=None, rosters=(), force: bool = False,
                        driver: str = "GPKG", lang: str = "zh") -> list[Path]:
    """Write the dataset with the roster's counts and ``roster_report.xlsx`` into ``out_dir``.

    The folder is built beside the target and moved into place, so a failure leaves the previous
    folder as it was; with ``force`` an existing non-empty folder is replaced (never the input
    dataset, never a folder holding a roster: see :func:`check_output_folder`). Returns the files.
    """
    from .io import write_dataset

    out = check_output_folder(out_dir, dataset_path=dataset_path, rosters=rosters, force=force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_dataset(result.dataset, tmp, driver=driver)
        write_roster_report(result, tmp / "roster_report.xlsx", lang=lang)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(out.iterdir())


def human_summary(result: RosterResult, *, lang: str = "zh", limit: int = 10) -> str:
    """A few lines for the terminal: the counts and the most frequent reasons rows were not counted."""
    s = result.summary
    lines = [t("roster_cli_summary", lang, **s)]
    bad = result.rows[result.rows["status"].isin(["unmatched", "ambiguous"])]
    if len(bad):
        top = bad.groupby(["status", "reason", "detail"], sort=False).size().sort_values(ascending=False)
        for (status, code, detail), k in top.head(limit).items():
            lines.append(f"  {t('roster_status_' + status, lang)} ×{k}: {reason_text(code, detail, lang)}")
        if len(top) > limit:
            lines.append(f"  … {len(top) - limit} more")
    for w in result.warnings:
        lines.append(f"  ! {w}")
    return "\n".join(lines)


def roster_files(paths: Iterable) -> list[Path]:
    """The roster files among ``paths`` (folders are searched one level for roster files)."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in ROSTER_SUFFIXES and not f.name.startswith("."))
        else:
            out.append(p)
    return out
