"""Tables typed by people (CSV/TXT or Excel): the one reader behind rosters, staff lists, schedules, status history.

社区 staff keep their lists in spreadsheets: a title row (``阳光社区网格员名单``) and blank rows above
the header, Chinese headers in many spellings, merged cells, one sheet per 小区, files saved by Excel or
WPS in UTF-8, UTF-8 with BOM, UTF-16 ("Unicode text") or GBK/GB18030. Reading them takes two steps,
both here and shared by :mod:`gridplan.roster` (household rosters) and :func:`read_user_table` (staff
lists, mobile-stop schedules, the compound status history):

1. :func:`read_sheets` turns a file into :class:`Sheet`\\ s of raw rows. Workbooks (.xlsx/.xlsm/.xls,
   or a workbook saved under another name) are read with python-calamine, every sheet, merged cells
   filled with their value; text files are decoded (:func:`decode_text`: BOM, UTF-16, UTF-8, else
   GB18030, a superset of GBK; the encoding used is reported) and split on the delimiter that splits
   the most lines alike (:func:`sniff_delimiter`: comma, tab, semicolon, bar or full-width comma).
   Row ``i`` of a sheet is row ``i + 1`` as Excel shows it.
2. :func:`find_header` finds the header row among the first :data:`HEADER_SCAN_ROWS` rows: the row
   naming the most fields by their aliases (:func:`alias_index`; headers compared with
   :func:`gridplan.checks._norm_header`: case, blanks, ``_``/``-`` and a bracketed unit ignored), after
   any hand mapping.

A file that cannot be read raises :class:`~gridplan.ValidationError` with one :class:`Problem`
naming the file (and the sheet or line) and the fix, Chinese first; its ``code`` is
``no_such_file``, ``empty_file``, ``unsupported_format`` (not a workbook or not a text table),
``unreadable`` (a damaged workbook, text in no known encoding, broken CSV quoting) or
``no_such_sheet``. Nothing is ever written.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ._errors import Problem, ValidationError
from .checks import _norm_header

log = logging.getLogger(__name__)

#: how many rows from the top are searched for the header (title rows, notes and blank rows above it)
HEADER_SCAN_ROWS = 30

#: file types read as workbooks by their name (others are sniffed: a workbook under another name is read too)
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls")
#: file types read as delimited text
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")

ROW = "_row"

_ZIP = b"PK\x03\x04"                              # .xlsx/.xlsm (and a password-free zip)
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"      # .xls, and an encrypted .xlsx
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SNIFF_LINES = 60
_REFILL = "请用 Excel/WPS 打开后另存为 .xlsx 或“CSV UTF-8” / open it in Excel or WPS and save it as .xlsx or CSV UTF-8"


# --------------------------------------------------------------------------- cells
#: text a spreadsheet user wraps so that Excel keeps it as text: ``="510682199003071233"`` (a formula returning
#: the literal) and ``'510682199003071233`` (the apostrophe before digits)
_WRAPPED = re.compile(r'="(.*)"|\'([0-9][0-9Xx\-]*)', re.S)


def _unwrap(s: str) -> str:
    m = _WRAPPED.fullmatch(s)
    if m is None:
        return s
    return (m.group(1) if m.group(1) is not None else m.group(2)).strip()


def cell(v):
    """A cell as read: ``None`` when empty, text stripped, whole numbers as text without ``.0``
    (``13812345678``), other numbers as text (``1.5``); booleans, times and dates kept (a date as a
    datetime at midnight, whichever reader gave it)."""
    if v is None:
        return None
    if isinstance(v, str):
        s = v.strip()
        if s[:1] in ("=", "'"):
            s = _unwrap(s)
        return s or None
    if isinstance(v, bool):
        return v
    if isinstance(v, (_dt.datetime, _dt.time)):
        return v
    if isinstance(v, _dt.date):
        return _dt.datetime(v.year, v.month, v.day)
    if isinstance(v, float):
        if math.isnan(v):
            return None
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, int):
        return str(v)
    s = str(v).strip()
    return s or None


def cell_text(v) -> str | None:
    """:func:`cell` as text: dates as ISO days (``2024-03-31``), booleans as ``True``/``False``."""
    if isinstance(v, str):                       # most cells: skip the dispatch of cell()
        s = v.strip()
        if s[:1] in ("=", "'"):
            s = _unwrap(s)
        return s or None
    v = cell(v)
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, _dt.datetime):
        return v.date().isoformat()
    return str(v)


def place(file: str, sheet: str = "") -> str:
    """Where a problem is: ``台账.xlsx [蓥华小区]``, or the file name alone for a text file."""
    return file + (f" [{sheet}]" if sheet else "")


# --------------------------------------------------------------------------- files to sheets
@dataclass(frozen=True)
class Sheet:
    """One sheet of raw rows as read.

    ``name`` is the sheet's name (``""`` for a text file); ``rows`` are lists of cells (text, numbers,
    dates; an empty cell is ``None`` or ``""``), ``rows[i]`` being row ``i + 1`` as Excel shows it;
    ``encoding`` (text files) is the encoding used (``UTF-8``, ``UTF-8 (BOM)``, ``UTF-16``,
    ``GB18030``), ``delimiter`` the delimiter.
    """

    name: str
    rows: list = field(repr=False)
    encoding: str | None = None
    delimiter: str | None = None


def _fail(layer: str, message: str, fix: str, code: str) -> ValidationError:
    return ValidationError([Problem("error", layer, None, message, fix, code)])


def _first_line(e: Exception) -> str:
    s = str(e).strip()
    return s.splitlines()[0][:160] if s else type(e).__name__


def read_sheets(path, *, sheet=None, layer: str = "table") -> list[Sheet]:
    """The sheets of a table file, as raw rows.

    Parameters
    ----------
    path
        A workbook (.xlsx/.xlsm/.xls; a workbook saved as .csv/.txt is recognised by its content) or
        a delimited text file (.csv/.txt/.tsv or any other name).
    sheet
        ``None``: every sheet; a sheet name or a 0-based index: that sheet only (ignored for text).
    layer
        The name problems are reported under.

    Raises
    ------
    ValidationError
        with one problem naming the file and the fix (see the module's codes).
    """
    path = Path(path)
    if not path.is_file():
        raise _fail(layer, f"{path}: 文件不存在 / the file does not exist",
                    "请检查路径，给出 CSV 或 Excel 文件 / check the path (a CSV or Excel file)", "no_such_file")
    if path.suffix.lower() in WORKBOOK_SUFFIXES:
        return _read_workbook(path, sheet, layer)
    raw = path.read_bytes()
    if raw.startswith((_ZIP, _OLE)):
        log.info("%s is a workbook; read as Excel", path.name)
        return _read_workbook(path, sheet, layer)
    if not raw.strip():
        raise _fail(layer, f"{path.name}: 文件是空的 / the file is empty",
                    "请确认选择了正确的文件 / check that it is the right file", "empty_file")
    text, encoding = decode_text(raw, path.name, layer=layer)
    delim = sniff_delimiter(text.splitlines()[:_SNIFF_LINES], path.suffix.lower())
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delim))
    except csv.Error as e:
        raise _fail(layer, f"{path.name}: 无法按 CSV 读取 / cannot be read as CSV ({e})",
                    "请用 Excel/WPS 另存为 .xlsx / save it as .xlsx", "unreadable") from None
    log.info("%s read as %s text, delimiter %r", path.name, encoding, delim)
    return [Sheet("", rows, encoding, delim)]


def _read_workbook(path: Path, sheet, layer: str) -> list[Sheet]:
    try:
        from python_calamine import CalamineWorkbook
    except ImportError as e:  # pragma: no cover - a dependency of gridplan
        raise _fail(layer, "读取 Excel 需要 python-calamine / reading Excel needs python-calamine",
                    "pip install python-calamine", "unreadable") from e
    with path.open("rb") as f:
        head = f.read(len(_OLE))
    if not head.startswith((_ZIP, _OLE)):
        raise _fail(layer, f"{path.name}: 不是 Excel 工作簿（内容不是 .xlsx/.xls 格式）/ is not an Excel workbook",
                    _REFILL, "unsupported_format")
    try:
        wb = CalamineWorkbook.from_path(str(path))
    except Exception as e:  # noqa: BLE001 - calamine raises its own error types
        raise _fail(layer, f"{path.name}: 无法作为 Excel 文件读取 / cannot be read as an Excel workbook ({_first_line(e)})",
                    "请确认文件完整、未加密，用 Excel/WPS 打开后另存为 .xlsx / check the file is complete and not "
                    "password-protected, re-save it as .xlsx", "unreadable") from None
    names = list(wb.sheet_names)
    if sheet is None:
        wanted = names
    elif isinstance(sheet, str) and sheet in names:
        wanted = [sheet]
    elif not isinstance(sheet, str) and -len(names) <= int(sheet) < len(names):
        wanted = [names[int(sheet)]]
    else:
        raise _fail(layer, f"{path.name}: 没有工作表 {sheet!r}（有：{'、'.join(names)}）/ no sheet {sheet!r}",
                    "请给出其中一个工作表的名称或序号 / give one of the sheet names", "no_such_sheet")
    out = []
    for name in wanted:
        try:
            ws = wb.get_sheet_by_name(name)
            out.append(Sheet(name, _filled(ws.to_python(skip_empty_area=False), ws.merged_cell_ranges or [])))
        except Exception as e:  # noqa: BLE001
            raise _fail(layer, f"{place(path.name, name)}: 工作表无法读取 / the sheet cannot be read ({_first_line(e)})",
                        "请另存为 .xlsx / re-save the workbook as .xlsx", "unreadable") from None
    return out


def _filled(rows: list, merged) -> list:
    """The rows with every merged range holding its top-left value (as Excel shows it)."""
    if not merged:
        return rows
    rows = [list(r) for r in rows]
    for (r0, c0), (r1, c1) in merged:
        if r0 >= len(rows):
            continue
        v = rows[r0][c0] if c0 < len(rows[r0]) else None
        for r in range(r0, min(r1, len(rows) - 1) + 1):
            row = rows[r]
            if len(row) <= c1:
                row.extend([""] * (c1 + 1 - len(row)))
            for c in range(c0, c1 + 1):
                if (r, c) != (r0, c0):
                    row[c] = v
    return rows


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le``/``utf-16-be`` when the NUL bytes sit at odd/even offsets as in UTF-16 text."""
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if odd >= 0.1 * (len(head) // 2) and even * 8 <= odd:
        return "utf-16-le"
    if even >= 0.1 * (len(head) // 2) and odd * 8 <= even:
        return "utf-16-be"
    return None


def decode_text(raw: bytes, name: str, *, layer: str = "table") -> tuple[str, str]:
    """The text of a CSV/TXT file and the encoding used: UTF-8 with BOM, UTF-16 (with a BOM, or told
    by its NUL bytes), UTF-8, else GB18030 (which reads GBK).

    Raises
    ------
    ValidationError
        ``unsupported_format`` for binary content (not a text table), ``unreadable`` naming the
        first line that is in none of these encodings.
    """
    head = raw[:65536]
    if raw.startswith(b"\xef\xbb\xbf"):
        candidates = [("utf-8", "UTF-8 (BOM)")]
        raw = raw[3:]
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = [("utf-16", "UTF-16")]
    elif b"\x00" in head and (enc := _utf16_without_bom(head)):
        candidates = [(enc, enc.upper())]
    elif len(_CONTROL.findall(head)) > max(2, len(head) // 100):
        raise _fail(layer, f"{name}: 不是文本表格（含二进制内容）/ is not a text table (binary content)",
                    "请确认选择的是表格文件；" + _REFILL.replace(" / ", " / check that it is a table; ", 1),
                    "unsupported_format")
    else:
        candidates = [("utf-8", "UTF-8"), ("gb18030", "GB18030")]
    err = None
    for enc, label in candidates:
        try:
            return raw.decode(enc), label
        except UnicodeDecodeError as e:
            err = e
    assert err is not None   # every candidate failed
    line = raw[:err.start].decode(err.encoding, errors="replace").count("\n") + 1
    raise _fail(layer, f"{name}: 第 {line} 行无法按 UTF-8 或 GBK 解码 / line {line} is neither UTF-8 nor GBK text "
                f"(byte {err.start})", "请用 Excel/WPS 另存为“CSV UTF-8”或 .xlsx / save it as CSV UTF-8 or .xlsx",
                "unreadable")


def sniff_delimiter(lines: list[str], suffix: str = ".csv") -> str:
    """The delimiter of a text table: among comma, tab, semicolon, bar and full-width comma, the one
    whose most frequent per-line count (lines without it, such as a title row, do not vote) is shared
    by the most lines; ties go to the larger count, then to comma for ``.csv``, tab otherwise."""
    first = [",", "\t"] if suffix == ".csv" else ["\t", ","]
    best, best_score = first[0], (0, 0)
    for d in (*first, ";", "|", "，"):
        counts = Counter(n for line in lines if (n := line.count(d)))
        if not counts:
            continue
        k, freq = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        if (freq, k) > best_score:
            best, best_score = d, (freq, k)
    return best


# --------------------------------------------------------------------------- the header row
def alias_index(aliases: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Normalised header → field, for ``{field: (alias, …)}`` (the field's own name accepted; where two
    fields share an alias, the first wins)."""
    out: dict[str, str] = {}
    for f, names in aliases.items():
        for a in (f, *names):
            out.setdefault(_norm_header(a), f)
    return out


@dataclass(frozen=True)
class Header:
    """The header row of a sheet: ``index`` into the sheet's rows (Excel row ``index + 1``), ``fields``
    column → field, ``repeated`` the columns ignored because an earlier one gives the same field,
    as (column, field)."""

    index: int
    fields: dict[int, str]
    repeated: tuple[tuple[int, str], ...] = ()

    @property
    def row(self) -> int:
        """The header's row number as Excel shows it."""
        return self.index + 1

    def texts(self, rows: list) -> list[str | None]:
        """The header cells as stripped text."""
        return [None if c is None else str(c).strip() or None for c in rows[self.index]]


def header_fields(cells: list, index: Mapping[str, str], *, hand: Mapping[str, str] | None = None
                  ) -> tuple[dict[int, str], tuple[tuple[int, str], ...]]:
    """Column → field for one candidate header row: the hand mapping first (a header as written or
    normalised), then the aliases of ``index`` (:func:`alias_index`). A field is given by its first
    column; the later ones are returned as ``repeated`` (column, field)."""
    hand = hand or {}
    hand_norm = {_norm_header(k): v for k, v in hand.items()}
    texts = [None if c is None else str(c).strip() or None for c in cells]
    out: dict[int, str] = {}
    repeated: list[tuple[int, str]] = []

    def take(j: int, f: str | None) -> None:
        if f is None:
            return
        if f in out.values():
            repeated.append((j, f))
        else:
            out[j] = f

    for j, txt in enumerate(texts):
        if txt:
            take(j, hand.get(txt) or hand_norm.get(_norm_header(txt)))
    done = {j for j, _ in repeated} | set(out)
    for j, txt in enumerate(texts):
        if txt and j not in done:
            take(j, index.get(_norm_header(txt)))
    return out, tuple(repeated)


def find_header(rows: list, index: Mapping[str, str], *, hand: Mapping[str, str] | None = None,
                accept: Callable[[set], bool] | None = None, scan: int = HEADER_SCAN_ROWS) -> Header | None:
    """The header row: among the first ``scan`` rows, the first of those naming the most fields whose
    set of fields ``accept`` takes (default: any); ``None`` when no row qualifies."""
    best = None
    for i, r in enumerate(rows[:scan]):
        fields, repeated = header_fields(list(r), index, hand=hand)
        if not fields or (accept is not None and not accept(set(fields.values()))):
            continue
        if best is None or len(fields) > len(best.fields):
            best = Header(i, fields, repeated)
    return best


# --------------------------------------------------------------------------- one table with known columns
def read_user_table(source, aliases: Mapping[str, tuple[str, ...]], *, layer: str, required: tuple[str, ...] = (),
                    sheet=None) -> tuple[pd.DataFrame, list[Problem]]:
    """Read a table typed by people and map its headers.

    Parameters
    ----------
    source
        A path (any file :func:`read_sheets` reads) or a DataFrame (already with headers).
    aliases
        Canonical column → accepted headers (the canonical name itself is always accepted).
    layer
        The name problems are reported under (``staff``, ``schedule``, …).
    required
        Canonical columns that must be present.
    sheet
        Excel sheet name or 0-based index (default: the first).

    Returns
    -------
    table, problems
        ``table`` holds the canonical columns found (cells as by :func:`cell`: stripped text, dates
        and times kept) and :data:`ROW`, the row number in the file (1-based, as a spreadsheet shows
        it); empty rows are dropped; ``table.attrs`` names the ``file``, ``sheet``, ``where`` (both, for
        a message), ``header_row`` and ``encoding``. ``problems`` lists file-level problems (unreadable, no header row, missing or
        repeated columns) naming the file and sheet; an error there leaves ``table`` empty. Nothing
        is raised for bad content.
    """
    problems: list[Problem] = []
    index = alias_index(aliases)
    empty = pd.DataFrame(columns=[*aliases, ROW])
    if isinstance(source, pd.DataFrame):
        rows = [list(source.columns)] + source.astype(object).where(source.notna(), None).values.tolist()
        src = Sheet("", rows)
        file, where = "", "表格 (the table)"
    else:
        path = Path(source)
        try:
            src = read_sheets(path, sheet=0 if sheet is None else sheet, layer=layer)[0]
        except ValidationError as e:
            return empty, list(e.problems)
        file = path.name
        where = place(file, src.name)
    rows = src.rows
    need = min(2, len(aliases))
    header = find_header(rows, index, accept=lambda fields: len(fields) >= need)
    if header is None:
        exp = "、".join(f"{al[0] if al else c}（{c}）" for c, al in aliases.items() if c in required or not required)
        problems.append(Problem("error", layer, None, f"{where}: 前 {HEADER_SCAN_ROWS} 行中找不到表头 / has no header "
                                "row naming the columns", f"请在前 {HEADER_SCAN_ROWS} 行内放一行表头，列名如 {exp} / put "
                                f"a header row with these columns within the first {HEADER_SCAN_ROWS} rows", "no_header"))
        return empty, problems
    texts = header.texts(rows)
    first_col = {f: j for j, f in header.fields.items()}
    for j, f in header.repeated:
        a, b = texts[first_col[f]], texts[j]
        problems.append(Problem("warning", layer, f"row {header.row}", f"{where}: 列 {a!r} 和 {b!r} 都表示 {f}，"
                                f"已忽略 {b!r} / columns {a!r} and {b!r} both give {f}; {b!r} is ignored",
                                "删除或重命名其中一列 / delete or rename one of them", "ambiguous_field"))
    missing = [c for c in required if c not in first_col]
    if missing:
        absent = ", ".join(f"{aliases[c][0] if aliases[c] else c}（{c}）" for c in missing)
        problems.append(Problem("error", layer, f"row {header.row}", f"{where}: 缺少必需的列 {absent} / lacks the "
                                f"column(s) {absent}", f"请添加一列，列名为 {' / '.join(aliases[missing[0]][:3]) or missing[0]} "
                                "/ add a column with that header", "missing_field"))
        return empty, problems
    cols = sorted(header.fields.items())
    data = []
    for r in range(header.index + 1, len(rows)):
        row = rows[r]
        vals = {c: (cell(row[j]) if j < len(row) else None) for j, c in cols}
        if all(v is None for v in vals.values()):
            continue
        vals[ROW] = r + 1
        data.append(vals)
    names = [c for _, c in cols]
    table = pd.DataFrame(data, columns=[*names, ROW]) if data else pd.DataFrame(columns=[*names, ROW])
    table = table.astype(object).where(table.notna(), None) if len(table) else table
    table.attrs.update(file=file, sheet=src.name, where=where, header_row=header.row, encoding=src.encoding)
    return table, problems
