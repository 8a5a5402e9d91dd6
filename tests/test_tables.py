"""Tables typed by people: the shared reader (every encoding, delimiters, workbooks .xlsx and .xls with merged cells
and several sheets, files that are not tables) and read_user_table (header below title rows, aliases, problems)."""
from __future__ import annotations

import datetime as dt
import zipfile

import openpyxl
import pandas as pd
import pytest

from gridplan import ValidationError
from gridplan.tables import (
    ROW,
    alias_index,
    cell,
    cell_text,
    find_header,
    header_fields,
    read_sheets,
    read_user_table,
    sniff_delimiter,
)

ALIASES = {"name": ("姓名",), "phone": ("电话", "联系电话"), "day": ("日期",)}


def test_header_below_title_rows_with_tabs_and_gbk(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_bytes("名单\n\n制表：某某\n 姓名 \t联系电话（手机）\t备注\n张三\t13800000001\t\n\n李四\t\t x \n".encode("gbk"))
    t, problems = read_user_table(p, ALIASES, layer="x", required=("name",))
    assert not problems
    assert list(t.columns) == ["name", "phone", ROW]  # unknown columns are not carried
    assert t.to_dict("records") == [{"name": "张三", "phone": "13800000001", ROW: 5},
                                    {"name": "李四", "phone": None, ROW: 7}]


def test_excel_cells_keep_dates_and_whole_numbers(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["姓名", "电话", "日期"])
    wb.active.append(["王五", 13800000002, dt.datetime(2024, 3, 31)])
    wb.active.append(["赵六", 1.5, None])
    wb.save(tmp_path / "t.xlsx")
    t, problems = read_user_table(tmp_path / "t.xlsx", ALIASES, layer="x")
    assert not problems
    assert t.loc[0, "phone"] == "13800000002" and t.loc[0, "day"] == dt.datetime(2024, 3, 31)
    assert t.loc[1, "phone"] == "1.5" and t.loc[1, "day"] is None


def test_problems_are_returned_not_raised(tmp_path):
    (tmp_path / "a.csv").write_text("x,y\n1,2\n", encoding="utf-8")
    t, problems = read_user_table(tmp_path / "a.csv", ALIASES, layer="x")
    assert [p.code for p in problems] == ["no_header"] and t.empty
    (tmp_path / "b.csv").write_text("电话,日期\n1,2\n", encoding="utf-8")
    _, problems = read_user_table(tmp_path / "b.csv", ALIASES, layer="x", required=("name",))
    assert [p.code for p in problems] == ["missing_field"] and "姓名" in problems[0].message
    (tmp_path / "c.csv").write_text("姓名,电话,联系电话\n张三,1,2\n", encoding="utf-8")
    t, problems = read_user_table(tmp_path / "c.csv", ALIASES, layer="x")
    assert [p.code for p in problems] == ["ambiguous_field"] and t.loc[0, "phone"] == "1"
    t, problems = read_user_table(pd.DataFrame({"姓名": ["甲"], "电话": [None]}), ALIASES, layer="x")
    assert not problems and t.to_dict("records") == [{"name": "甲", "phone": None, ROW: 2}]
    _, problems = read_user_table(tmp_path / "none.csv", ALIASES, layer="x")
    assert [p.code for p in problems] == ["no_such_file"]


# --------------------------------------------------------------------------- the shared reader (read_sheets, find_header)
TITLE = "阳光社区网格员名单"
HEADER = ["姓名", "电话", "备注"]
PEOPLE = [["张三", "13800000001", "一楼"], ["李四", "13800000002", ""]]


def _text_table(sep=",", people=PEOPLE) -> str:
    lines = [TITLE, "", sep.join(HEADER), *(sep.join(p) for p in people)]
    return "\r\n".join(lines) + "\r\n"


def _plain(sheet) -> list[list]:
    """A sheet's rows as cells, trailing empty cells and rows cut (what a user sees)."""
    rows = [[cell(v) for v in r] for r in sheet.rows]
    rows = [r[:max([j + 1 for j, v in enumerate(r) if v is not None], default=0)] for r in rows]
    while rows and not rows[-1]:
        rows.pop()
    return rows


EXPECTED_ROWS = [[TITLE], [], HEADER, PEOPLE[0], PEOPLE[1][:2]]


@pytest.mark.parametrize("encoding,data,label", [
    ("utf-8", None, "UTF-8"),
    ("utf-8-sig", None, "UTF-8 (BOM)"),
    ("utf-16", None, "UTF-16"),                 # Excel's "Unicode text": UTF-16 with a BOM
    ("utf-16-le", None, "UTF-16-LE"),           # the same without a BOM, told by its NUL bytes
    ("utf-16-be", None, "UTF-16-BE"),
    ("gbk", None, "GB18030"),                   # GB18030 is a superset of GBK
    ("gb18030", [["䶮四", "13800000002", "𠀀"]], "GB18030"),  # characters GBK lacks (2- and 4-byte GB18030)
])
def test_every_encoding_is_read_and_named(tmp_path, encoding, data, label):
    people = [PEOPLE[0], *(data or PEOPLE[1:])]
    p = tmp_path / "t.csv"
    p.write_bytes(_text_table(people=people).encode(encoding))
    (sheet,) = read_sheets(p)
    assert (sheet.name, sheet.encoding, sheet.delimiter) == ("", label, ",")
    want = [[TITLE], [], HEADER, people[0], [v for v in people[1] if v]]
    assert _plain(sheet) == want
    t, problems = read_user_table(p, ALIASES, layer="x")
    assert not problems and t.attrs["encoding"] == label and t.attrs["header_row"] == 3
    assert t["name"].tolist() == [people[0][0], people[1][0]] and t[ROW].tolist() == [4, 5]


def test_text_that_is_not_in_a_known_encoding_names_the_line(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes(b"a,b\r\n1,2\r\n\xff\xfe\xfd,3\r\n")
    with pytest.raises(ValidationError) as e:
        read_sheets(p, layer="staff")
    (q,) = e.value.problems
    assert (q.code, q.layer) == ("unreadable", "staff")
    assert q.message.startswith("bad.csv: 第 3 行") and "另存为" in q.fix
    # a UTF-16 file with a broken character: the same kind of message, no traceback
    p.write_bytes(b"\xff\xfe" + "姓名,电话\n".encode("utf-16-le") + b"\x00\xd8A\x00")
    with pytest.raises(ValidationError) as e:
        read_sheets(p)
    assert [q.code for q in e.value.problems] == ["unreadable"] and "第 2 行" in e.value.problems[0].message


def test_delimiters_by_the_lines_that_agree():
    # more title lines than data lines: the lines without a delimiter do not vote
    assert sniff_delimiter(["住户台账", "说明：本表由社区填报", "备注", "小区;楼栋;单元", "蓥华;1;1"]) == ";"
    # full-width commas inside a note do not beat the commas of every line
    assert sniff_delimiter(["姓名,电话,备注", "张三,1,住在一楼，右手边，靠窗", "李四,2,无"]) == ","
    # a table typed with the Chinese input method's comma
    assert sniff_delimiter(["姓名，电话", "张三，1", "李四，2"]) == "，"
    # tabs, with commas inside an address; the .txt default is tab, .csv comma
    assert sniff_delimiter(["姓名\t地址", "张三\t北京,海淀", "李四\t上海"], ".txt") == "\t"
    assert sniff_delimiter(["姓名|电话", "张三|1"]) == "|"
    assert sniff_delimiter(["姓名"], ".csv") == "," and sniff_delimiter(["姓名"], ".txt") == "\t"


def test_tab_and_semicolon_files_read_by_their_delimiter(tmp_path):
    for name, sep in (("t.txt", "\t"), ("s.csv", ";")):
        p = tmp_path / name
        p.write_bytes(_text_table(sep=sep).encode("gbk"))
        (sheet,) = read_sheets(p)
        assert sheet.delimiter == sep and _plain(sheet) == EXPECTED_ROWS


def _workbook(path, *, merged_title=True, start_col=0, more_sheets=()):
    """The same little table as an .xlsx (openpyxl) or an .xls (xlwt): a title merged over the header's
    width, a blank row, the header, two people whose 备注 is merged down over both rows."""
    rows = [[TITLE], [], HEADER, PEOPLE[0], PEOPLE[1][:2]]
    if path.suffix == ".xlsx":
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "名单"
        for i, r in enumerate(rows, start=1):
            for j, v in enumerate(r):
                ws.cell(row=i, column=start_col + j + 1, value=v)
        c = start_col + 1
        if merged_title:
            ws.merge_cells(start_row=1, start_column=c, end_row=1, end_column=c + 2)
        ws.merge_cells(start_row=4, start_column=c + 2, end_row=5, end_column=c + 2)
        for name, srows in more_sheets:
            s = wb.create_sheet(name)
            for r in srows:
                s.append(r)
        wb.save(path)
    else:
        import xlwt
        wb = xlwt.Workbook(encoding="utf-8")
        ws = wb.add_sheet("名单")
        c = start_col
        ws.write_merge(0, 0, c, c + 2, TITLE)
        for i, r in enumerate(rows[2:], start=2):
            for j, v in enumerate(r):
                if not (i == 3 and j == 2):
                    ws.write(i, c + j, v)
        ws.write_merge(3, 4, c + 2, c + 2, PEOPLE[0][2])
        for name, srows in more_sheets:
            s = wb.add_sheet(name)
            for i, r in enumerate(srows):
                for j, v in enumerate(r):
                    s.write(i, j, v)
        wb.save(str(path))
    return path


@pytest.mark.parametrize("suffix", [".xlsx", ".xls"])
def test_workbooks_fill_merged_cells_and_keep_excel_row_numbers(tmp_path, suffix):
    p = _workbook(tmp_path / f"t{suffix}")
    (sheet,) = read_sheets(p)
    assert sheet.name == "名单" and sheet.encoding is None
    # the title fills its merged width; 备注 一楼, merged down over both people, is on both rows
    assert _plain(sheet) == [[TITLE] * 3, [], HEADER, PEOPLE[0], [*PEOPLE[1][:2], "一楼"]]
    t, problems = read_user_table(p, {**ALIASES, "note": ("备注",)}, layer="x")
    assert not problems and t.attrs["sheet"] == "名单" and t.attrs["header_row"] == 3
    assert t.to_dict("records") == [{"name": "张三", "phone": "13800000001", "note": "一楼", ROW: 4},
                                    {"name": "李四", "phone": "13800000002", "note": "一楼", ROW: 5}]


def test_row_numbers_when_the_table_starts_below_and_right_of_a1(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["C6"], ws["D6"] = "姓名", "联系电话"        # header in row 6, columns C–D; nothing above
    ws["C7"], ws["D7"] = "张三", 13800000001
    ws["C9"] = "李四"                               # row 8 left blank
    wb.save(tmp_path / "t.xlsx")
    (sheet,) = read_sheets(tmp_path / "t.xlsx")
    h = find_header(sheet.rows, alias_index(ALIASES))
    assert (h.row, h.fields) == (6, {2: "name", 3: "phone"})
    t, _ = read_user_table(tmp_path / "t.xlsx", ALIASES, layer="x")
    assert t[ROW].tolist() == [7, 9] and t["phone"].tolist() == ["13800000001", None]


@pytest.mark.parametrize("suffix", [".xlsx", ".xls"])
def test_several_sheets_in_order_and_one_by_name_or_index(tmp_path, suffix):
    more = [("一组", [["说明：本表由社区填报"], HEADER, ["王五", "13800000003"]]), ("二组", [HEADER, ["赵六", "13800000004"]])]
    p = _workbook(tmp_path / f"t{suffix}", more_sheets=more)
    sheets = read_sheets(p)
    assert [s.name for s in sheets] == ["名单", "一组", "二组"]
    assert _plain(sheets[1]) == [["说明：本表由社区填报"], HEADER, ["王五", "13800000003"]]
    assert [s.name for s in read_sheets(p, sheet="二组")] == ["二组"]
    assert [s.name for s in read_sheets(p, sheet=1)] == ["一组"]
    with pytest.raises(ValidationError) as e:
        read_sheets(p, sheet="三组", layer="staff")
    (q,) = e.value.problems
    assert q.code == "no_such_sheet" and "三组" in q.message and "一组" in q.message and q.message.startswith(p.name)
    t, problems = read_user_table(p, ALIASES, layer="x", sheet="一组")
    assert not problems and t.to_dict("records") == [{"name": "王五", "phone": "13800000003", ROW: 3}]
    # problems name the file and the sheet
    _, problems = read_user_table(p, {"grid": ("网格",), "role": ("职务",)}, layer="x", sheet="二组")
    assert [q.code for q in problems] == ["no_header"] and f"{p.name} [二组]" in problems[0].message


def test_a_workbook_saved_under_a_text_name_is_read_as_a_workbook(tmp_path):
    p = _workbook(tmp_path / "t.xlsx")
    q = tmp_path / "t.csv"
    q.write_bytes(p.read_bytes())
    assert [(s.name, _plain(s)) for s in read_sheets(q)] == [(s.name, _plain(s)) for s in read_sheets(p)]


def _one_problem(path, **kw):
    with pytest.raises(ValidationError) as e:
        read_sheets(path, **kw)
    (q,) = e.value.problems
    assert q.severity == "error" and q.fix and path.name in q.message and "Traceback" not in q.message
    return q


def test_files_that_are_not_tables_get_a_clear_error(tmp_path):
    png = tmp_path / "photo.csv"                       # an image renamed to .csv
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    q = _one_problem(png)
    assert q.code == "unsupported_format" and "不是文本表格" in q.message
    fake = tmp_path / "notes.xlsx"                     # text saved with an Excel name
    fake.write_text("这不是工作簿", encoding="utf-8")
    q = _one_problem(fake)
    assert q.code == "unsupported_format" and "不是 Excel 工作簿" in q.message and "另存为" in q.fix
    zipped = tmp_path / "data.xlsx"                    # a zip that is not a workbook
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("readme.txt", "hello")
    q = _one_problem(zipped)
    assert q.code == "unreadable" and "无法作为 Excel 文件读取" in q.message
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"\r\n  \r\n")
    assert _one_problem(empty).code == "empty_file"
    assert _one_problem(tmp_path / "missing.xlsx").code == "no_such_file"
    # read_user_table returns the same problem instead of raising
    t, problems = read_user_table(png, ALIASES, layer="staff")
    assert t.empty and [(q.code, q.layer) for q in problems] == [("unsupported_format", "staff")]


def test_header_by_aliases_hand_mapping_first_and_repeats_named():
    index = alias_index({"name": ("姓名", "名字"), "phone": ("电话", "联系电话"), "note": ("名字",)})
    assert index["名字"] == "name" and index["note"] == "note"      # a shared alias goes to the first field
    rows = [["通讯录"], [], ["序号", " 姓名 ", "联系电话（手机）", "电话", "住户"], ["1", "张三", "1", "2", "x"]]
    h = find_header(rows, index)
    assert (h.index, h.row, h.fields, h.repeated) == (2, 3, {1: "name", 2: "phone"}, ((3, "phone"),))
    assert h.texts(rows) == ["序号", "姓名", "联系电话（手机）", "电话", "住户"]
    # a hand mapping wins over the aliases: 电话 now gives the phone, 联系电话 repeats it
    fields, repeated = header_fields(rows[2], index, hand={"电话": "phone", "住户": "note"})
    assert fields == {3: "phone", 4: "note", 1: "name"} and repeated == ((2, "phone"),)
    # accept: the row naming the most fields among those accepted, not the most fields overall
    rows = [["姓名", "电话", "名字"], ["名字", "备注"]]
    assert find_header(rows, index).index == 0
    assert find_header(rows, index, accept=lambda f: "note" in f) is None
    assert find_header([["x"], ["姓名"]], index, scan=1) is None


def test_cells_as_people_read_them():
    assert [cell(v) for v in (None, "", "  ", float("nan"), " 张三 ")] == [None, None, None, None, "张三"]
    assert [cell(v) for v in (13800000002.0, 5, 1.5, -0.0)] == ["13800000002", "5", "1.5", "0"]
    assert cell(True) is True and cell(dt.time(8, 30)) == dt.time(8, 30)
    assert cell(dt.date(2024, 3, 31)) == dt.datetime(2024, 3, 31) == cell(dt.datetime(2024, 3, 31))
    assert [cell_text(v) for v in (dt.date(2024, 3, 31), dt.datetime(2024, 3, 31, 9), True, 7.0, " ")] == [
        "2024-03-31", "2024-03-31", "True", "7", None]


def test_text_kept_from_excel_by_a_formula_or_an_apostrophe(tmp_path):
    # ="510682…" keeps Excel from showing 5.10682E+17; '510682… does the same when typed
    for f in (cell, cell_text):
        assert f('="510682199003071233"') == "510682199003071233"
        assert f("'51068219491231002X") == "51068219491231002X"
        assert f(" ='13800000002' ") == "='13800000002'"          # not the wrapper: left as it is
        assert f("=SUM(A1:A3)") == "=SUM(A1:A3)" and f("'张三") == "'张三"
    p = tmp_path / "t.csv"
    p.write_bytes('姓名,身份证号\r\n甲,="510682199003071233"\r\n乙,\'11010519491231002X\r\n'.encode("gbk"))
    (sheet,) = read_sheets(p)
    assert [cell_text(v) for v in sheet.rows[1] + sheet.rows[2]] == ["甲", "510682199003071233", "乙",
                                                                     "11010519491231002X"]
