"""Tables typed by people: header found below title rows, aliases, encodings, delimiters, Excel cells."""
from __future__ import annotations

import datetime as dt

import openpyxl
import pandas as pd

from gridplan.tables import ROW, read_user_table

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
