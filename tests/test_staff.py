"""Grid staff: reading lists in every shape people keep them (title rows, GBK CSV, Excel), per-row
problems, phone masking, the staffing checks, and staff following merges, splits and renames."""
from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from gridplan import PlanError, ValidationError
from gridplan.model import Plan
from gridplan.staff import StaffAssignment, follow_grids, mask_phone, normalise_phone, read_staff, staff_sheet

HEAD = ["姓名", "电话", "职务", "网格", "社区"]
ROWS = [
    ["张伟", "13812345678", "网格长", "G1", "阳光社区"],
    ["李娜", "139-0000-1111", "专职网格员", "G1", "阳光社区"],
    ["王芳", "", "兼职网格员", "G1", ""],
    ["刘洋", "+86 137 2222 3333", "网格长", "G2", "阳光社区"],
    ["陈静", "028-87654321", "专职网格员", "", "雍城社区"],
]


def _csv(path, rows, *, encoding="utf-8-sig", title="阳光社区网格员名单（2026年）"):
    lines = ([title] if title else []) + [",".join(HEAD)] + [",".join(r) for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


class _Comms:
    """Just enough of a dataset for community lookups."""
    communities = pd.DataFrame({"name": ["阳光社区", "雍城社区"]},
                               index=pd.Index(["510682001001", "510682001002"], name="community_id"))


def test_read_csv_with_title_row_utf8_and_gbk(tmp_path):
    for enc in ("utf-8-sig", "utf-8", "gbk"):
        s = read_staff(_csv(tmp_path / f"s_{enc}.csv", ROWS, encoding=enc), dataset=_Comms())
        t = s.table
        assert list(t["name"]) == ["张伟", "李娜", "王芳", "刘洋", "陈静"], enc
        assert list(t["role"]) == ["leader", "full_time", "part_time", "leader", "full_time"]
        assert list(t["phone"]) == ["13812345678", "13900001111", None, "13722223333", "02887654321"]
        assert list(t["grid_id"]) == ["G1", "G1", "G1", "G2", None]
        assert t.loc[4, "community_id"] == "510682001002" and t.loc[0, "community_id"] == "510682001001"
        assert list(t["source_row"]) == [3, 4, 5, 6, 7]  # the rows a spreadsheet shows (title, header first)


def test_read_excel_with_merged_title_and_numeric_cells(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["城东社区网格员花名册"])
    ws.merge_cells("A1:E1")
    ws.append([])
    ws.append(["序号", "姓名", "联系电话", "岗位", "所属网格"])
    ws.append([1, "赵磊", 13811112222, "网格长", 51068200100101])  # numbers as Excel stores them
    ws.append([2, "孙丽", 13833334444, "兼职", 51068200100101])
    ws.append([None, None, None, None, None])  # a blank row is skipped
    ws.append([3, "周强", 13855556666, "专职", 51068200100102])
    p = tmp_path / "staff.xlsx"
    wb.save(p)
    t = read_staff(p).table
    assert list(t["name"]) == ["赵磊", "孙丽", "周强"]
    assert list(t["grid_id"]) == ["51068200100101", "51068200100101", "51068200100102"]
    assert list(t["phone"]) == ["13811112222", "13833334444", "13855556666"]
    assert list(t["source_row"]) == [4, 5, 7]


def test_read_xls_with_the_grid_merged_down_and_unicode_text(tmp_path):
    import xlwt
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("网格员")
    ws.write_merge(0, 0, 0, 3, "阳光社区网格员名单")
    for j, h in enumerate(["姓名", "电话", "职务", "网格"]):
        ws.write(1, j, h)
    for i, (n, ph, r) in enumerate([("张伟", "13812345678", "网格长"), ("李娜", "13900001111", "专职网格员"),
                                    ("刘洋", "13722223333", "网格长")], start=2):
        ws.write(i, 0, n)
        ws.write(i, 1, ph)
        ws.write(i, 2, r)
    ws.write_merge(2, 3, 3, 3, "G1")     # one 网格 cell merged over the first two people
    ws.write(4, 3, "G2")
    wb.save(str(tmp_path / "s.xls"))
    t = read_staff(tmp_path / "s.xls").table
    assert list(t["grid_id"]) == ["G1", "G1", "G2"] and list(t["source_row"]) == [3, 4, 5]
    # Excel's "Unicode text": UTF-16 with a BOM, tab separated
    lines = ["\t".join(HEAD)] + ["\t".join(r) for r in ROWS]
    (tmp_path / "s.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-16"))
    t = read_staff(tmp_path / "s.txt", dataset=_Comms()).table
    assert list(t["name"]) == [r[0] for r in ROWS] and list(t["source_row"]) == [2, 3, 4, 5, 6]


def test_every_bad_row_is_reported_at_once(tmp_path):
    rows = ROWS + [["", "13800000000", "网格长", "G3", ""],        # row 8: no name
                   ["吴敏", "77777", "专职网格员", "G3", ""],         # row 9: bad phone
                   ["郑刚", "13800000001", "书记", "G3", ""],         # row 10: unknown role
                   ["冯雪", "13800000002", "兼职网格员", "", ""],      # row 11: neither grid nor community
                   ["何平", "13800000003", "专职网格员", "", "火星社区"]]  # row 12: unknown community
    with pytest.raises(ValidationError) as e:
        read_staff(_csv(tmp_path / "bad.csv", rows), dataset=_Comms())
    got = {(p.feature, p.code) for p in e.value.problems if p.severity == "error"}
    assert got == {("row 8", "missing_name"), ("row 9", "bad_phone"), ("row 10", "bad_role"),
                   ("row 11", "no_place"), ("row 12", "bad_community")}
    assert all(p.layer == "staff" and p.fix for p in e.value.problems)
    assert "77777" not in str(e.value)  # even the bad phone is shown masked


def test_file_level_problems(tmp_path):
    (tmp_path / "nohead.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "norole.csv").write_text("姓名,网格\n张三,G1\n", encoding="utf-8")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    for name, code in (("nohead.csv", "no_header"), ("norole.csv", "missing_field"), ("old.xls", "unsupported_format"),
                       ("missing.csv", "no_such_file")):
        with pytest.raises(ValidationError) as e:
            read_staff(tmp_path / name)
        assert [p.code for p in e.value.problems if p.severity == "error"] == [code], name


def test_warnings_for_assumed_role_and_repeated_rows(tmp_path):
    s = read_staff(_csv(tmp_path / "w.csv", [["张伟", "13812345678", "网格员", "G1", ""],
                                              ["张伟", "13812345678", "网格员", "G1", ""]]))
    assert len(s) == 1 and s.table.loc[0, "role"] == "full_time"
    assert {p.code for p in s.problems} == {"role_assumed", "duplicate_row"}


def test_mask_phone():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+86 138-1234-5678") == "138****5678"
    assert mask_phone("028-87654321") == "028****4321"
    assert mask_phone("87654321") == "87****21"  # at least four digits hidden, always
    assert mask_phone(None) == "" and mask_phone("") == ""
    assert normalise_phone(" 0086 139 0000 1111 ") == "13900001111"


def _staff(rows):
    return StaffAssignment(pd.DataFrame(rows, columns=["person_id", "name", "phone", "role", "grid_id"]))


def test_checks_one_leader_per_grid_and_grids_per_leader():
    plan = Plan(pd.Series(["G1", "G1", "G2", "G3", "G4"], index=["b1", "b2", "b3", "b4", "b5"]))
    s = _staff([("p1", "张伟", "13812345678", "leader", "G1"), ("p1", "张伟", "13812345678", "leader", "G2"),
                ("p2", "李娜", None, "leader", "G3"), ("p3", "王芳", None, "leader", "G3"),
                ("p4", "刘洋", None, "full_time", "G4"), ("p5", "陈静", None, "leader", "G9"),
                ("p6", "何平", None, "part_time", None)])
    v = s.check(plan)
    assert sorted(map(tuple, v[["code", "grid_id"]].fillna("").values.tolist())) == sorted([
        ("no_leader", "G4"), ("several_leaders", "G3"), ("too_many_grids", "G1, G2"), ("unknown_grid", "G9"),
        ("no_grid", "")])
    assert v.set_index("code").loc["several_leaders", "count"] == 2
    assert "王芳" in v.set_index("code").loc["several_leaders", "message"]
    # two grids per leader allowed: that violation goes away
    assert "too_many_grids" not in set(s.check(plan, max_grids_per_leader=2)["code"])
    en = s.check(plan, lang="en").set_index("code")
    assert en.loc["no_leader", "message"] == "grid G4 has no grid leader"
    with pytest.raises(ValueError):
        s.check(plan, max_grids_per_leader=0)


def test_staff_follow_a_merge_a_split_and_a_rename():
    b = [f"b{i}" for i in range(1, 10)]
    old = Plan(pd.Series(["G1"] * 6 + ["G2"] * 3, index=b))
    s = _staff([("p1", "张伟", "13812345678", "leader", "G1"), ("p2", "李娜", None, "full_time", "G1"),
                ("p3", "刘洋", None, "leader", "G2")])
    # merge G2 into G1: G2's staff join G1, which then has two leaders
    merged = old.merge("G1", "G2")
    m = s.follow(old, merged)
    assert list(m.table["grid_id"]) == ["G1", "G1", "G1"]
    assert list(m.table["previous_grid_id"]) == [None, None, "G2"]
    assert m.parent is s and s.table.loc[2, "grid_id"] == "G2"  # the old assignment is unchanged
    assert set(m.check(merged)["code"]) == {"several_leaders"}
    # split G1 keeping the id for two buildings: the staff stay in G1
    split_keep = Plan(pd.Series(["G1"] * 2 + ["G3"] * 4 + ["G2"] * 3, index=b))
    assert list(s.follow(old, split_keep).table["grid_id"]) == ["G1", "G1", "G2"]
    # split G1 into two new ids: the staff follow the majority of its buildings (4 of 6 → G5)
    split_new = Plan(pd.Series(["G4"] * 2 + ["G5"] * 4 + ["G2"] * 3, index=b))
    f = s.follow(old, split_new)
    assert list(f.table["grid_id"]) == ["G5", "G5", "G2"]
    assert set(f.check(split_new)["code"]) == {"no_leader"}  # G4 now needs a leader
    # renumbering swapped G1 and G2: an id that holds none of its old buildings is not "the same grid"
    swapped = old.relabel({"G1": "G2", "G2": "G1"})
    assert list(s.follow(old, swapped).table["grid_id"]) == ["G2", "G2", "G1"]
    # a tie (3 and 3 buildings) goes to the smaller id
    assert follow_grids(old, Plan(pd.Series(["G8"] * 3 + ["G7"] * 3 + ["G2"] * 3, index=b)), ["G1"]) == {"G1": "G7"}


def test_staff_left_without_a_grid_are_listed():
    b = [f"b{i}" for i in range(1, 10)]
    old = Plan(pd.Series(["G1"] * 6 + ["G2"] * 3, index=b))
    new = Plan(pd.Series(["G1"] * 6, index=b[:6]))  # G2's buildings left the data
    s = _staff([("p1", "张伟", None, "leader", "G1"), ("p3", "刘洋", None, "leader", "G2"),
                ("p4", "何平", None, "part_time", None)])
    f = s.follow(old, new)
    w = f.without_grid()
    assert list(w["name"]) == ["刘洋", "何平"] and list(w["reason"]) == ["grid_gone", "community_only"]
    assert w.iloc[0]["previous_grid_id"] == "G2"
    assert "刘洋" in f.check(new).set_index("person_id").loc["p3", "message"]


def test_assignment_is_immutable_and_edits_return_new_values():
    s = _staff([("p1", "张伟", "13812345678", "leader", "G1"), ("p4", "何平", None, "part_time", None)])
    with pytest.raises(AttributeError):
        s.label = "x"
    t = s.table
    t.loc[0, "name"] = "改了"
    assert s.table.loc[0, "name"] == "张伟"
    a = s.assign("p4", "G2")  # fills the duty without a grid
    assert a.table.set_index("person_id").loc["p4", "grid_id"] == "G2" and len(a) == 2
    b2 = a.assign("p1", "G3")  # a second duty for a known person, same role
    assert sorted(b2.table.loc[b2.table["person_id"] == "p1", "grid_id"]) == ["G1", "G3"]
    n = s.assign("p9", "G1", role="full_time", name="新人", phone="13800000009")
    assert n.table.iloc[-1][["name", "role", "phone"]].tolist() == ["新人", "full_time", "13800000009"]
    with pytest.raises(PlanError):
        s.assign("p9", "G1")
    assert len(b2.unassign("p1", "G1")) == len(b2) - 1
    with pytest.raises(PlanError):
        s.unassign("p1", "G7")


def test_grid_staff_masks_phones_unless_asked(tmp_path):
    s = read_staff(_csv(tmp_path / "s.csv", ROWS))
    g = s.grid_staff(["G1", "G2", "G3"])
    assert g.loc["G1", "leader"] == "张伟" and g.loc["G1", "leader_phone"] == "138****5678"
    assert g.loc["G1", "full_time"] == "李娜" and g.loc["G1", "part_time"] == "王芳" and g.loc["G1", "staff"] == 3
    assert g.loc["G3", "leader"] == "" and g.loc["G3", "staff"] == 0
    assert s.grid_staff(include_personal=True).loc["G1", "leader_phone"] == "13812345678"
    sheet = staff_sheet(s)
    assert "13812345678" not in sheet.to_csv() and "138****5678" in sheet.to_csv()
    assert list(sheet.columns[:3]) == ["姓名", "职务", "电话"]
    assert list(staff_sheet(s, lang="en").columns[:3]) == ["Name", "Role", "Phone"]


def test_a_list_without_grid_or_community_names_the_file_and_header_row(tmp_path):
    p = tmp_path / "名单.csv"
    p.write_bytes("阳光社区网格员名单\n姓名,电话,职务\n张伟,13812345678,网格长\n".encode("gbk"))
    with pytest.raises(ValidationError) as e:
        read_staff(p)
    (q,) = e.value.problems
    assert (q.code, q.feature) == ("missing_field", "row 2")
    assert q.message.startswith("名单.csv: 缺少网格或社区列") and "网格" in q.fix


def test_unassign_can_keep_the_person_and_reassign_moves_duties():
    s = _staff([("p1", "张伟", "13812345678", "leader", "G1"), ("p2", "李娜", None, "full_time", "G1"),
                ("p2", "李娜", None, "full_time", "G2")])
    # without keep a person whose only duty goes leaves the list; with keep they wait without a grid
    assert "p1" not in set(s.unassign("p1", "G1").table["person_id"])
    k = s.unassign("p1", "G1", keep=True)
    assert k.without_grid()[["person_id", "role", "reason"]].values.tolist() == [["p1", "leader", "community_only"]]
    assert "no_leader" in set(k.check(["G1", "G2"])["code"])
    # a person with another duty loses just this one, keep or not
    assert s.unassign("p2", "G1", keep=True).table.query("person_id == 'p2'")["grid_id"].tolist() == ["G2"]
    # reassign: the leader moves from G1 to G2 with the role; G1 then lacks a leader, G2 has one
    r = s.reassign("p1", "G1", "G2")
    gs = r.grid_staff(["G1", "G2"])
    assert gs.loc["G1", "leader"] == "" and gs.loc["G2", "leader"] == "张伟"
    assert len(r) == len(s) and r.parent is s
    # moving into a grid where the person already has that duty leaves one row of it
    assert s.reassign("p2", "G1", "G2").table.query("person_id == 'p2'")["grid_id"].tolist() == ["G2"]
    with pytest.raises(PlanError):
        s.reassign("p1", "G9", "G2")


def test_persons_lists_each_person_once_leader_role_first():
    s = _staff([("p2", "李娜", None, "full_time", "G2"), ("p2", "李娜", None, "leader", "G1"),
                ("p4", "何平", None, "part_time", None)])
    p = s.persons()
    assert p.index.tolist() == ["p2", "p4"]
    assert p.loc["p2"].tolist() == ["李娜", "leader", "G1,G2", 2]
    assert p.loc["p4", "grids"] == "" and p.loc["p4", "duties"] == 1
