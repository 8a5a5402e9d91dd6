"""三无 → 三有: the status history (read, validated, loaded with the dataset, written back) and the
progress counts on a hand-made history of the tiny city."""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from gridplan import ValidationError
from gridplan.io import read_dataset
from gridplan.sample import tiny_city, write_city
from gridplan.sanwu import (
    plot_sanwu_progress,
    progress_timeline,
    read_compound_status,
    sanwu_progress,
    status_at,
    timeline_labels,
    write_compound_status,
)

HISTORY = """小区状态登记表
小区编号,日期,有物业,有主管部门,有业委会,物业公司,红色物业
C1,2023-01-01,否,否,否,,否
C1,2023/9/1,是,否,是,什邡市雍城物业管理有限公司,是
C3,2023年1月1日,否,否,否,,
C4,2023-01-01,0,0,0,,0
C4,2024-01-15,1,1,1,什邡亭江物业服务有限公司,1
"""


def _layers():
    layers = tiny_city()
    comp = layers["compounds"].copy()
    comp.loc[comp["compound_id"] == "C4", "has_owners_committee"] = True  # C4 is 三有 now
    layers["compounds"] = comp
    return layers


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("city")
    write_city(_layers(), d)
    (d / "compound_status.csv").write_text(HISTORY, encoding="gbk")
    return d


@pytest.fixture(scope="module")
def ds(folder):
    return read_dataset(folder)


def test_history_is_loaded_with_the_dataset(ds):
    h = ds.compound_status
    assert list(h.columns) == ["compound_id", "date", "has_property_mgmt", "has_competent_dept", "has_owners_committee",
                               "property_company", "red_property"]
    assert len(h) == 5 and list(h["compound_id"]) == ["C1", "C1", "C3", "C4", "C4"]
    assert str(h["date"].iloc[1].date()) == "2023-09-01" and str(h["date"].iloc[2].date()) == "2023-01-01"
    assert h["red_property"].tolist() == [False, True, False, False, True]
    assert not [p for p in ds.problems if p.layer == "compound_status"]  # latest records agree with the layer


def test_status_on_a_day(ds):
    s = status_at(ds, "2023-06-30")
    assert s.loc[["C1", "C2", "C3", "C4"], "status"].tolist() == ["sanwu", "partial", "sanwu", "sanwu"]
    assert pd.isna(s.loc["C2", "as_of"]) and str(s.loc["C1", "as_of"].date()) == "2023-01-01"  # C2: the layer
    s = status_at(ds, "2024-02-01")
    assert s.loc[["C1", "C4"], "status"].tolist() == ["partial", "sanyou"] and s.loc["C4", "red_property"]
    assert status_at(ds, "2022-12-31").loc[["C1", "C2", "C3"], "status"].tolist() == ["unknown", "partial", "unknown"]


def test_progress_counts(ds):
    p = sanwu_progress(ds, "2023-06-30", until="2025-01-01")
    a = p.attrs
    assert (a["sanwu_since"], a["became_sanyou"], a["partial"], a["remain"], a["red_property"]) == (3, 1, 1, 1, 2)
    assert list(p.index) == ["C3", "C1", "C4"]  # still 三无 first, then partly, then 三有
    assert p.loc["C4", ["status_since", "status_now", "status_text"]].tolist() == ["sanwu", "sanyou", "三有"]
    assert str(p.loc["C4", "sanyou_on"].date()) == "2024-01-15" and str(p.loc["C1", "left_sanwu_on"].date()) == "2023-09-01"
    assert pd.isna(p.loc["C1", "sanyou_on"]) and p.loc["C4", "property_company"] == "什邡亭江物业服务有限公司"
    assert p.loc["C3", "name"] == "粮食局宿舍"
    # later: C1 had already left 三无
    assert sanwu_progress(ds, "2023-10-01", until="2025-01-01").attrs["sanwu_since"] == 2
    # before the first records nothing is known about C1, C3, C4
    early = sanwu_progress(ds, "2022-06-30", until="2025-01-01").attrs
    assert early["unknown_since"] == 3 and early["sanwu_since"] == 0 and early["new_sanwu"] == 0
    assert sanwu_progress(ds, "2023-06-30", until="2025-01-01", lang="en").loc["C4", "status_text"] == "three-have"
    with pytest.raises(ValueError, match="before"):
        sanwu_progress(ds, "2025-01-01", until="2024-01-01")


def test_timeline_and_chart(ds, tmp_path):
    tl = progress_timeline(ds, "2023-06-30", until="2024-03-01")
    assert tl.iloc[0][["sanwu", "partial", "sanyou", "red_property"]].tolist() == [3, 0, 0, 0]
    assert tl.loc["2023-10-01"][["sanwu", "partial", "sanyou", "red_property"]].tolist() == [2, 1, 0, 1]
    assert tl.iloc[-1][["sanwu", "partial", "sanyou", "red_property"]].tolist() == [1, 1, 1, 2]
    assert (tl[["sanwu", "partial", "sanyou"]].sum(axis=1) == 3).all()
    fig = plot_sanwu_progress(ds, "2023-06-30", until="2024-03-01")
    ax = fig.axes[0]
    assert "三无小区" in ax.get_title() and [t.get_text() for t in ax.get_legend().get_texts()] == \
        ["三有", "部分具备", "三无", "红色物业"]
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(tmp_path / "c.png")
    assert not [w for w in caught if "missing from font" in str(w.message)]  # no tofu boxes
    assert (tmp_path / "c.png").stat().st_size > 5000


def test_timeline_labels_name_each_point_once(ds):
    """A timeline up to a day within a month ends with that day beside its month's first day; their
    labels differ (a chart by month would draw both as one bar, stacked twice)."""
    tl = progress_timeline(ds, "2023-06-30", until="2024-03-15")
    labels = timeline_labels(tl.index)
    assert labels[0] == "2023-06-30" and labels[1] == "2023-07" and labels[-2:] == ["2024-03", "2024-03-15"]
    assert len(set(labels)) == len(labels) and labels == sorted(labels)


def test_bad_history_stops_loading_with_every_problem(tmp_path):
    d = tmp_path / "bad"
    write_city(_layers(), d)
    (d / "compound_status.csv").write_text(
        "compound_id,date,has_property_mgmt,has_competent_dept,has_owners_committee\n"
        "C9,2023-01-01,否,否,否\n"          # row 2: unknown compound
        "C1,31/12/2023,否,否,否\n"          # row 3: not a date
        "C1,2023-01-01,也许,否,否\n"        # row 4: not yes/no
        "C3,2023-01-01,否,否,否\n"
        "C3,2023-01-01,否,否,是\n",         # row 6: a second record the same day
        encoding="utf-8")
    with pytest.raises(ValidationError) as e:
        read_dataset(d)
    got = {(p.feature, p.code) for p in e.value.problems if p.layer == "compound_status" and p.severity == "error"}
    assert got == {("row 2", "dangling_ref"), ("row 3", "bad_date"), ("row 4", "bad_bool"), ("row 6", "duplicate_record")}
    (d / "compound_status.csv").write_text("compound_id,date,has_property_mgmt\nC1,2023-01-01,否\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="lacks the column"):
        read_dataset(d)


def test_mismatch_with_the_layer_is_a_warning(tmp_path):
    layers = _layers()
    h = pd.DataFrame({"compound_id": ["C4"], "date": ["2024-01-01"], "has_property_mgmt": [False],
                      "has_competent_dept": [False], "has_owners_committee": [False]})
    ds = read_dataset({**layers, "compound_status": h})
    assert [p.code for p in ds.problems if p.layer == "compound_status"] == ["status_mismatch"]
    assert len(ds.compound_status) == 1 and not ds.compound_status["red_property"].any()


def test_write_and_read_back_csv_and_geopackage(ds, tmp_path):
    h = ds.compound_status
    p = write_compound_status(h, tmp_path / "s.csv")
    assert p.read_bytes().startswith(b"\xef\xbb\xbf")
    pd.testing.assert_frame_equal(read_compound_status(p, compounds=ds.compounds), h)
    # into a dataset GeoPackage: the layers stay, the table is found by read_dataset
    g = tmp_path / "city.gpkg"
    for name, layer in _layers().items():
        layer.to_file(g, layer=name, driver="GPKG", engine="pyogrio")
    write_compound_status(h, g)
    assert {"buildings", "compounds", "compound_status"} <= set(pyogrio.list_layers(g)[:, 0])
    back = read_dataset(g)
    pd.testing.assert_frame_equal(back.compound_status, h)
    assert not [q for q in back.problems if q.code == "unknown_layer"]
    write_compound_status(h.iloc[:2], g)  # replaces the table, keeps the layers
    assert len(read_compound_status(g)) == 2 and len(gpd.read_file(g, layer="buildings")) == 13
    with pytest.raises(ValueError):
        write_compound_status(h, tmp_path / "s.txt")
