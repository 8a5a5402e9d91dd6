"""流动郁心站: schedules as people write them, and weekday coverage on a hand-checkable street."""
from __future__ import annotations

import datetime as dt

import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from test_gridstations import _dataset

from gridplan import ValidationError
from gridplan.mobile import mobile_coverage, parse_time, parse_weekdays, read_schedule, schedule_from_stations
from gridplan.model import Plan


def test_parse_weekdays_and_times():
    assert parse_weekdays("周二、周四") == [2, 4]
    assert parse_weekdays("1,3,5") == [1, 3, 5]
    assert parse_weekdays("周一至周五") == [1, 2, 3, 4, 5]
    assert parse_weekdays("星期六 星期日") == [6, 7] == parse_weekdays("Sat/sun")
    assert parse_weekdays(3) == [3] and parse_weekdays("周天") == [7] and parse_weekdays("Mon-Wed") == [1, 2, 3]
    for bad in ("周八", "", "周五至周一"):
        with pytest.raises(ValueError):
            parse_weekdays(bad)
    assert parse_time("8:30") == "08:30" == parse_time("08:30:00") == parse_time("8点半") == parse_time(dt.time(8, 30))
    assert parse_time("9点") == "09:00" and parse_time("14：05") == "14:05"
    for bad in ("25:00", "8:61", "早上"):
        with pytest.raises(ValueError):
            parse_time(bad)


@pytest.fixture(scope="module")
def street():
    """One straight street (x 0–1000 m); stops M1 at x = 100, M2 at x = 600 and a red station R at
    x = 800; buildings on the street at x = 0, 400, 500, 950 and one 50 m off it at x = 300."""
    lines = [shapely.LineString([(0, 0), (1000, 0)])]
    pts = [shapely.Point(0, 0), shapely.Point(400, 0), shapely.Point(500, 0), shapely.Point(950, 0),
           shapely.Point(300, 50)]
    ds = _dataset(lines, pts, [10, 20, 30, 40, 50], stations=[("M1", "mobile", (100.0, 0.0)),
                                                               ("M2", "mobile", (600.0, 0.0)),
                                                               ("R", "red_station", (800.0, 0.0))])
    plan = Plan(pd.Series(["G1", "G1", "G2", "G2", "G1"], index=ds.buildings.index))
    return ds, plan


def _schedule_csv(path, rows, encoding="utf-8-sig"):
    text = "流动郁心站服务安排\n站点编号,星期,开始时间,结束时间\n" + "\n".join(",".join(r) for r in rows) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


def test_weekday_coverage_by_hand(street, tmp_path):
    """5 minutes at 4 km/h = 333.3 m. M1 (周一、周三) reaches x = 0 (100 m), 400 (300 m) and the off-street
    building (200 + 50 m); M2 (周三至周五) reaches 400 (200 m) and 500 (100 m); nobody reaches x = 950
    (350 m from M2)."""
    ds, plan = street
    sched = read_schedule(_schedule_csv(tmp_path / "s.csv", [["M1", "周一、周三", "8:30", "11:30"],
                                                              ["M2", "周三至周五", "14:00", "16:00"]]),
                          stations=ds.stations)
    assert len(sched) == 5 and list(sched.columns) == ["station_id", "weekday", "start", "end"]
    mc = mobile_coverage(ds, plan, schedule=sched)
    b = mc.by_building
    assert list(b["weekdays"]) == ["周一、周三", "周一、周三、周四、周五", "周三、周四、周五", "", "周一、周三"]
    assert list(b["days"]) == [2, 4, 3, 0, 2]
    assert list(b["stations"]) == ["M1", "M1,M2", "M2", "", "M1"]
    assert list(b["covered"]) == [True, True, True, False, True]
    g = mc.by_grid
    assert g.loc["G1", ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]].tolist() == [80, 0, 80, 20, 20, 0, 0]
    assert g.loc["G2", ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]].tolist() == [0, 0, 30, 30, 30, 0, 0]
    assert g.loc["G1", "households_any"] == 80 and g.loc["G2", "households_any"] == 30
    assert g.loc["G2", "pct_any"] == pytest.approx(100 * 30 / 70)
    assert mc.by_weekday.loc[3, "households"] == 110 and mc.by_weekday.loc[3, "stations"] == 2
    assert mc.by_station.loc["M1", "windows"] == "周一 08:30–11:30；周三 08:30–11:30"
    assert mc.by_station.loc["M2", "households"] == 50
    # a longer walk (6 minutes = 400 m) reaches x = 950 from M2 on its days
    assert mobile_coverage(ds, plan, schedule=sched, minutes=6).by_building["weekdays"].iloc[3] == "周三、周四、周五"
    assert mc.summary()["by_weekday"]["wed"] == 110
    en = mobile_coverage(ds, plan, schedule=sched, lang="en").by_building
    assert en["weekdays"].iloc[1] == "Mon, Wed, Thu, Fri"


def test_schedule_in_excel_gbk_and_on_the_stations_layer(street, tmp_path):
    ds, plan = street
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["站点", "服务日", "时段"])
    ws.append(["M1", "1,3", "08:30-11:30"])
    ws.append(["M2", "周三至周五", "14:00~16:00"])
    wb.save(tmp_path / "s.xlsx")
    a = read_schedule(tmp_path / "s.xlsx", stations=ds.stations)
    b = read_schedule(_schedule_csv(tmp_path / "g.csv", [["M1", "周一、周三", "8:30", "11:30"],
                                                          ["M2", "周三至周五", "14:00", "16:00"]], "gbk"),
                      stations=ds.stations)
    pd.testing.assert_frame_equal(a, b)
    # the same schedule as columns of the stations layer (the mobile rows)
    st = ds.stations.copy()
    st["星期"] = ["周一、周三", "周三至周五", None]
    st["开始时间"] = ["08:30", "14:00", None]
    st["结束时间"] = ["11:30", "16:00", None]
    c = schedule_from_stations(st)
    pd.testing.assert_frame_equal(a.reset_index(drop=True), c.reset_index(drop=True))
    mc = mobile_coverage(ds.replace(stations=st), plan)  # read from the layer by default
    assert list(mc.by_building["days"]) == [2, 4, 3, 0, 2]
    assert len(schedule_from_stations(ds.stations)) == 0
    with pytest.raises(ValueError, match="schedule"):
        mobile_coverage(ds, plan)


def test_bad_schedule_rows_are_all_reported(street, tmp_path):
    ds, _ = street
    p = _schedule_csv(tmp_path / "bad.csv", [["M1", "周一", "8:30", "11:30"],
                                              ["M9", "周一", "8:30", "11:30"],      # row 4: unknown stop
                                              ["M2", "周八", "8:30", "11:30"],      # row 5: bad weekday
                                              ["M2", "周二", "11:30", "8:30"],      # row 6: ends before it starts
                                              ["M2", "周二", "早上", "8:30"],       # row 7: not a time
                                              ["R", "周二", "8:30", "9:30"]])      # row 8: not a mobile stop (warning)
    with pytest.raises(ValidationError) as e:
        read_schedule(p, stations=ds.stations)
    got = {(q.feature, q.code, q.severity) for q in e.value.problems}
    assert got == {("row 4", "unknown_station", "error"), ("row 5", "bad_weekday", "error"),
                   ("row 6", "bad_time", "error"), ("row 7", "bad_time", "error"), ("row 8", "not_mobile", "warning")}
    (tmp_path / "notimes.csv").write_text("站点编号,星期\nM1,周一\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="times"):
        read_schedule(tmp_path / "notimes.csv")
    # names work as well as ids; the warning is kept with the result
    ok = read_schedule(pd.DataFrame({"站点名称": ["M1", "R"], "星期": ["周一", "周二"], "时间": ["8:00-9:00", "8:00-9:00"]}),
                       stations=ds.stations)
    assert list(ok["station_id"]) == ["M1", "R"] and [q.code for q in ok.attrs["problems"]] == ["not_mobile"]
    assert np.issubdtype(ok["weekday"].dtype, np.integer)


def test_missing_columns_name_the_file_sheet_and_header_row(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "说明"
    wb.active.append(["本表每周更新"])
    ws = wb.create_sheet("三月")
    ws.append(["流动郁心站服务安排"])
    ws.append(["站点编号", "星期"])                      # no times
    ws.append(["M1", "周一"])
    wb.save(tmp_path / "排班.xlsx")
    with pytest.raises(ValidationError) as e:
        read_schedule(tmp_path / "排班.xlsx", sheet="三月")
    (q,) = e.value.problems
    assert (q.code, q.feature) == ("missing_field", "row 2")
    assert q.message.startswith("排班.xlsx [三月]: 缺少服务时间") and q.fix.startswith("请添加")
