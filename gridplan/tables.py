"""Plain tables typed by people (CSV or Excel): staff lists, mobile-station schedules, compound status.

:func:`read_user_table` reads a CSV (UTF-8, with or without BOM, or GBK/GB18030 as Chinese Excel
saves it) or an Excel workbook (.xlsx/.xlsm), finds the header row among the first rows (a title
row such as ``阳光社区网格员名单`` above it is skipped), maps the headers to canonical names with
aliases (the same header normalisation as the layers: case, blanks, ``_``/``-`` and bracketed units
are ignored) and returns the rows with their row number in the file, so that every problem can name
the row the user sees. It never writes and never raises for bad content: problems are returned.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import math
from pathlib import Path
from typing import Mapping

import pandas as pd

from ._errors import Problem
from .checks import _norm_header

#: how many rows above the header (title rows, notes) are tolerated
MAX_HEADER_ROW = 10

ROW = "_row"


def _cell(v):
    """A cell as text, keeping dates and booleans: Excel numbers that are whole become ``"13812345678"``."""
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, (_dt.datetime, _dt.date, _dt.time)):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return None
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, int):
        return str(v)
    s = str(v).strip()
    return s if s else None


def _decode(raw: bytes) -> tuple[str, str]:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace"), "utf-8 (with replacement characters)"


def _raw_rows(path: Path, sheet) -> list[list]:
    ext = path.suffix.lower()
    if ext in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook
        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            ws = wb[sheet] if isinstance(sheet, str) else wb.worksheets[int(sheet or 0)]
            return [list(r) for r in ws.iter_rows(values_only=True)]
        finally:
            wb.close()
    text, _ = _decode(path.read_bytes())
    # the delimiter: the candidate that splits the first lines most (title rows have none)
    head = text.splitlines()[:20]
    delim = max((",", "\t", ";", "，"), key=lambda d: sum(line.count(d) for line in head))
    return [row for row in csv.reader(io.StringIO(text), delimiter=delim)]


def read_user_table(source, aliases: Mapping[str, tuple[str, ...]], *, layer: str, required: tuple[str, ...] = (),
                    sheet=None) -> tuple[pd.DataFrame, list[Problem]]:
    """Read a table typed by people and map its headers.

    Parameters
    ----------
    source
        A path (``.csv``/``.txt``/``.tsv``, ``.xlsx``/``.xlsm``) or a DataFrame (already with headers).
    aliases
        Canonical column → accepted headers (the canonical name itself is always accepted).
    layer
        The name problems are reported under (``staff``, ``schedule``, …).
    required
        Canonical columns that must be present.
    sheet
        Excel sheet name or index (default: the first).

    Returns
    -------
    table, problems
        ``table`` holds the canonical columns found (cells as stripped text, dates kept) and
        :data:`ROW`, the row number in the file (1-based, as a spreadsheet shows it); empty rows are
        dropped. ``problems`` lists file-level problems (unreadable, no header row, missing
        columns); an error there leaves ``table`` empty.
    """
    problems: list[Problem] = []
    keys = {c: {_norm_header(a) for a in (c, *al)} for c, al in aliases.items()}
    empty = pd.DataFrame(columns=[*aliases, ROW])
    if isinstance(source, pd.DataFrame):
        rows = [list(source.columns)] + source.astype(object).where(source.notna(), None).values.tolist()
        where = "the table"
    else:
        path = Path(source)
        where = path.name
        if not path.exists():
            problems.append(Problem("error", layer, None, f"{path} does not exist / 文件不存在",
                                    "give the path of a CSV or Excel (.xlsx) file", "no_such_file"))
            return empty, problems
        if path.suffix.lower() == ".xls":
            problems.append(Problem("error", layer, None, f"{path.name} is an old Excel 97–2003 file (.xls) / "
                                    "不支持 .xls 格式", "save it as .xlsx (Excel: 另存为 → Excel 工作簿) or as CSV",
                                    "unsupported_format"))
            return empty, problems
        try:
            rows = _raw_rows(path, sheet)
        except Exception as e:  # noqa: BLE001 - any reader failure becomes a message
            msg = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            problems.append(Problem("error", layer, None, f"{path.name} cannot be read ({msg}) / 无法读取",
                                    "save the table again as CSV (UTF-8) or Excel (.xlsx)", "unreadable"))
            return empty, problems
    rows = [[_cell(v) for v in r] for r in rows]
    # the header: among the first rows, the one naming the most known columns (at least two, or one
    # when only one column is known)
    best, best_n = -1, 0
    for r, row in enumerate(rows[:MAX_HEADER_ROW + 1]):
        n = len({c for v in row if isinstance(v, str) for c, k in keys.items() if _norm_header(v) in k})
        if n > best_n:
            best, best_n = r, n
    need = min(2, len(aliases))
    if best < 0 or best_n < need:
        exp = "、".join(f"{al[0] if al else c}（{c}）" for c, al in aliases.items() if c in required or not required)
        problems.append(Problem("error", layer, None, f"{where} has no header row naming the columns / 找不到表头",
                                f"put a header row with the columns {exp} within the first {MAX_HEADER_ROW} rows",
                                "no_header"))
        return empty, problems
    header = rows[best]
    col_of: dict[str, int] = {}
    for j, v in enumerate(header):
        if not isinstance(v, str):
            continue
        hits = [c for c, k in keys.items() if _norm_header(v) in k]
        if not hits:
            continue
        c = hits[0]
        if c in col_of:
            problems.append(Problem("warning", layer, None, f"columns {header[col_of[c]]!r} and {v!r} both give "
                                    f"{c}; {v!r} is ignored / 重复的列", "delete or rename one of them", "ambiguous_field"))
            continue
        col_of[c] = j
    missing = [c for c in required if c not in col_of]
    if missing:
        problems.append(Problem("error", layer, None, f"{where} lacks the column(s) "
                                f"{', '.join(f'{aliases[c][0] if aliases[c] else c} ({c})' for c in missing)} / 缺少必需的列",
                                f"add a column headed {' / '.join(aliases[missing[0]][:3]) or missing[0]}", "missing_field"))
        return empty, problems
    data = []
    for r in range(best + 1, len(rows)):
        row = rows[r]
        vals = {c: (row[j] if j < len(row) else None) for c, j in col_of.items()}
        if all(v is None for v in vals.values()):
            continue
        vals[ROW] = r + 1
        data.append(vals)
    table = pd.DataFrame(data, columns=[*col_of, ROW]) if data else pd.DataFrame(columns=[*col_of, ROW])
    return table.astype(object).where(table.notna(), None) if len(table) else table, problems
