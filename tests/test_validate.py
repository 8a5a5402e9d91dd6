"""Validation: the malformed corpus (tests/malformed.py) and the checks of gridplan.checks one by one.

For every malformed dataset: ``read_dataset`` raises ValidationError (or loads with the expected
warning), each problem names its layer and has a fix, ``gridplan validate`` exits 1 (0 when only
warnings) with no traceback, and the input files are byte-for-byte and mtime unchanged.
"""
from __future__ import annotations

import contextlib
import io as _io
import json
import warnings

import geopandas as gpd
import malformed as M
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

from gridplan import Problem, ValidationError
from gridplan.checks import LoadOptions, normalise
from gridplan.cli import main
from gridplan.io import read_dataset

CASE_IDS = [c.name for c in M.CASES]


def test_corpus_is_large_and_varied():
    assert len(M.CASES) >= 40
    assert len(set(CASE_IDS)) == len(CASE_IDS)
    codes = {code for c in M.CASES for _, _, code in c.expect}
    assert len(codes) >= 30


def _matches(problem, layer, feature, code):
    if problem.layer != layer or problem.code != code:
        return False
    return feature == "*" or problem.feature == feature


def cli_args(case, path):
    args = ["validate", str(path)]
    cs = case.kwargs.get("coord_system")
    if cs:
        args += ["--coord-system", cs]
    cmap = case.kwargs.get("column_map") or {}
    flat = {}
    for k, v in cmap.items():
        if isinstance(v, dict):
            flat.update(v)
        else:
            flat[k] = v
    for k, v in flat.items():
        args += ["--map", f"{k}={v}"]
    return args


def run_cli(args):
    out, err = _io.StringIO(), _io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("case", M.CASES, ids=CASE_IDS)
def test_malformed_dataset(case, tmp_path, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GDAL's notes while *building* the corpus
        path = case.build(tmp_path / case.name)
    before = M.snapshot(tmp_path)

    if case.ok:
        ds = read_dataset(path, **case.kwargs)
        problems = list(ds.problems)
        assert not [p for p in problems if p.severity == "error"]
    else:
        with pytest.raises(ValidationError) as ei:
            read_dataset(path, **case.kwargs)
        problems = list(ei.value.problems)
        assert any(p.severity == "error" for p in problems)
        assert str(ei.value)  # the message renders
    for layer, feature, code in case.expect:
        assert any(_matches(p, layer, feature, code) for p in problems), (
            f"expected {layer}/{feature}/{code}, got {[(p.layer, p.feature, p.code) for p in problems]}")
    for p in problems:
        assert p.layer and p.fix.strip() and p.message.strip(), p
        assert p.code != "internal", p
        assert str(p)

    if "max_file_mb" in case.kwargs:
        monkeypatch.setenv("GRIDPLAN_MAX_FILE_MB", str(case.kwargs["max_file_mb"]))
    expected_exit = case.cli_exit if case.cli_exit is not None else (0 if case.ok else 1)
    for json_flag in ([], ["--json"]):
        code, out, err = run_cli(cli_args(case, path) + json_flag)
        assert "Traceback" not in out + err
        assert code == expected_exit, out + err
        if expected_exit == 2 or "column_map" in case.kwargs:
            continue  # the CLI refused the options, or expresses the column map differently
        if json_flag:
            payload = json.loads(out)
            assert payload["valid"] is case.ok
            assert [Problem(**d) for d in payload["problems"]] == problems
        else:
            assert case.expect[0][0] in out

    after = M.snapshot(tmp_path)
    assert after == before, "loading changed, added or removed input files"


# --------------------------------------------------------------------------- checks one by one
def base():
    return M.base_layers()


def load(layers, **kw):
    return read_dataset(layers, **kw)


def errors_of(layers, **kw):
    with pytest.raises(ValidationError) as ei:
        read_dataset(layers, **kw)
    return ei.value.problems


def test_base_loads_clean_in_memory():
    ds = load(base())
    assert ds.problems == ()
    assert ds.crs.to_epsg() == 4544
    assert ds.source_crs.to_epsg() == 4326
    assert len(ds.buildings) == 14 and ds.buildings.index.name == "building_id"
    assert ds.buildings.index.is_unique


def test_every_problem_is_reported_at_once():
    layers = base()
    b = layers["buildings"].copy()
    b["households"] = b["households"].astype(object)
    b.loc[b.index[0], "households"] = -1
    b.loc[b.index[1], "households"] = 1.5
    b.loc[b.index[2], "households"] = "many"
    b.loc[b.index[3], "building_id"] = "B005"
    layers["buildings"] = b
    codes = {(p.feature, p.code) for p in errors_of(layers)}
    assert {("B001", "negative_count"), ("B002", "fractional_count"), ("B003", "not_a_number"),
            ("B005", "duplicate_id")} <= codes


def test_problem_list_is_capped_with_a_summary():
    layers = base()
    b = pd.concat([layers["buildings"]] * 3, ignore_index=True)
    b["building_id"] = [f"X{i}" for i in range(len(b))]
    b["households"] = -1
    layers["buildings"] = b
    probs = [p for p in errors_of(layers) if p.code == "negative_count"]
    assert len([p for p in probs if p.feature is not None]) == 20
    summary = [p for p in probs if p.feature is None]
    assert len(summary) == 1 and "22 more" in summary[0].message


def test_numbers_as_people_type_them():
    layers = base()
    b = layers["buildings"].copy()
    b["households"] = b["households"].astype(str)
    b.loc[b.index[0], "households"] = " 1,204 "
    b.loc[b.index[1], "households"] = "４８"
    layers["buildings"] = b
    ds = load(layers)
    assert ds.buildings.loc["B001", "households"] == 1204
    assert ds.buildings.loc["B002", "households"] == 48


def test_bool_words():
    layers = base()
    q = layers["compounds"].copy()
    q["has_property_mgmt"] = ["是", "否", "无"]
    q["has_competent_dept"] = ["有", "no", "0"]
    q["has_owners_committee"] = ["否", "false", "N"]
    layers["compounds"] = q
    ds = load(layers)
    assert ds.compounds["sanwu"].tolist() == [False, True, True]


def test_sanwu_flag():
    ds = load(base())
    # Q2 has no property management, no competent department and no owners' committee
    assert ds.compounds["sanwu"].to_dict() == {"Q1": False, "Q2": True, "Q3": False}


def test_repaired_bow_tie_keeps_polygon_and_warns():
    layers = base()
    b = layers["buildings"].copy()
    x0, y0, x1, y1 = b.geometry.iloc[0].bounds
    b.loc[b.index[0], "geometry"] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    layers["buildings"] = b
    ds = load(layers)
    g = ds.buildings.geometry.loc["B001"]
    assert g.is_valid and g.geom_type in ("Polygon", "MultiPolygon") and g.area > 0
    assert any(p.code == "repaired_geometry" and p.feature == "B001" for p in ds.problems)


def test_station_kind_aliases():
    layers = base()
    s = layers["stations"].copy()
    s["kind"] = ["红色驿站", "郁心站", "党群服务中心"]
    layers["stations"] = s
    ds = load(layers)
    assert ds.stations["kind"].tolist() == ["red_station", "grid_station", "service_center"]


def test_outside_building_with_explicit_community_id_is_caught():
    layers = base()
    b = layers["buildings"].to_crs(4544)
    b.loc[b.index[12], "geometry"] = shapely.affinity.translate(b.geometry.iloc[12], 0, 2000)
    layers["buildings"] = b.to_crs(4326)
    probs = errors_of(layers)
    assert any(p.code == "outside_communities" and p.feature == "B013" for p in probs)


def test_straddling_building_takes_the_community_it_overlaps_most():
    layers = base()
    b = layers["buildings"].to_crs(4544)
    x0, y0 = M.ORIGIN_4544
    # 30 m in community 1, 10 m in community 2; its representative point may fall on either side
    b.loc[b.index[12], "geometry"] = box(x0 + 470, y0 + 250, x0 + 510, y0 + 270)
    b.loc[b.index[12], "community_id"] = None
    layers["buildings"] = b.to_crs(4326)
    ds = load(layers)
    assert ds.buildings.loc["B013", "community_id"] == "510682001001"


def test_internal_failure_becomes_a_problem_not_a_traceback(monkeypatch):
    import gridplan.io as gio

    def boom(*a, **k):
        raise RuntimeError("simulated bug")
    monkeypatch.setattr(gio, "normalise", boom)
    with pytest.raises(ValidationError) as ei:
        read_dataset(base())
    assert ei.value.problems[-1].code == "internal"
    assert "simulated bug" in ei.value.problems[-1].message


def test_internal_failure_prints_no_traceback_in_the_cli(monkeypatch, tmp_path):
    import logging

    import gridplan.io as gio

    def boom(*a, **k):
        raise RuntimeError("simulated bug")
    monkeypatch.setattr(gio, "normalise", boom)
    path = M.write_dataset(base(), tmp_path, "geojson")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        root.handlers = []          # let the CLI set up logging as it does for a user
        out = _io.StringIO()
        with contextlib.redirect_stderr(out), contextlib.redirect_stdout(out):
            code = main(["validate", str(path)])
            for h in root.handlers:
                h.flush()
    finally:
        root.handlers, root.level = handlers, level
    assert code == 1
    assert "simulated bug" in out.getvalue() and "Traceback" not in out.getvalue()


def test_normalise_does_not_mutate_its_input():
    layers = base()
    copies = {k: v.copy() for k, v in layers.items()}
    normalise(layers, options=LoadOptions())
    for k in layers:
        pd.testing.assert_frame_equal(pd.DataFrame(layers[k]), pd.DataFrame(copies[k]))


# --------------------------------------------------------------------------- fuzzing (fixed seeds)
_VALUES = [None, np.nan, "", " ", "abc", "户", -1, 0, 1.5, 10 ** 15, "12", "１２", True, "是", "Q1", "B001",
           "510682001001", "红色驿站", float("inf"), pd.NA, "方亭社区"]


def _mutate(layers, rng):
    for _ in range(int(rng.integers(1, 12))):
        name = list(layers)[int(rng.integers(0, len(layers)))]
        g = layers[name]
        if len(g) == 0:
            continue
        cols = [c for c in g.columns if c != "geometry"]
        op = int(rng.integers(0, 5))
        if op == 0 and cols:
            col = cols[int(rng.integers(0, len(cols)))]
            v, row = _VALUES[int(rng.integers(0, len(_VALUES)))], int(rng.integers(0, len(g)))
            g[col] = [v if j == row else x for j, x in enumerate(g[col])]
        elif op == 1 and cols:
            g = g.drop(columns=[cols[int(rng.integers(0, len(cols)))]])
        elif op == 2:
            geoms = list(g.geometry)
            i = int(rng.integers(0, len(g)))
            x, y = 104.17, 31.13
            geoms[i] = [None, Point(x, y), shapely.LineString([(x, y), (x + 1e-4, y)]), shapely.Polygon(),
                        shapely.Polygon([(x, y), (x + 1e-4, y + 1e-4), (x + 1e-4, y), (x, y + 1e-4)]),
                        shapely.MultiPoint([(x, y), (x + 1e-4, y)]), Point(y, x)][int(rng.integers(0, 7))]
            g = g.set_geometry(gpd.GeoSeries(geoms, index=g.index, crs=g.crs))
        elif op == 3:
            g = g.iloc[: int(rng.integers(0, len(g) + 1))]
        elif op == 4 and name != "buildings":
            layers.pop(name)
            continue
        layers[name] = g
    return layers


@pytest.mark.parametrize("seed", range(40))
def test_random_damage_never_escapes_as_a_traceback(seed):
    rng = np.random.default_rng(seed)
    layers = _mutate({k: v.copy() for k, v in M.base_layers().items()}, rng)
    try:
        ds = read_dataset(layers)
    except ValidationError as e:
        assert e.problems and not any(p.code == "internal" for p in e.problems)
        assert all(p.fix and p.layer for p in e.problems)
    else:
        assert ds.buildings.index.is_unique and (ds.buildings["households"] >= 0).all()


@pytest.mark.parametrize("fmt", M.ALL_FORMATS)
def test_random_byte_damage_in_every_format(fmt, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = M.write_dataset(M.base_layers(), tmp_path / "src", fmt)
    files = sorted(src.iterdir()) if src.is_dir() else [src]
    original = {f: f.read_bytes() for f in files}
    rng = np.random.default_rng(len(fmt))
    for _ in range(6):
        f = files[int(rng.integers(0, len(files)))]
        data = bytearray(original[f])
        a = int(rng.integers(0, len(data)))
        data[a:a + 64] = bytes(rng.integers(0, 256, 64).astype(np.uint8))
        f.write_bytes(bytes(data[: int(rng.integers(a, len(data) + 1))]))
        try:
            read_dataset(src)
        except ValidationError as e:
            assert not any(p.code == "internal" for p in e.problems), e.problems
        f.write_bytes(original[f])


def test_counts_with_their_unit_word():
    # other offices' spreadsheets write the unit after the number: 350户, 1,200人, 6层
    layers = base()
    b = layers["buildings"].copy()
    for c in ("households", "persons", "floors"):
        b[c] = b[c].astype(object)
    b.loc[b.index[0], "households"] = "350户"
    b.loc[b.index[0], "persons"] = "1,200人"
    b.loc[b.index[1], "households"] = "４８ 户"
    b.loc[b.index[1], "floors"] = "6层"
    b.loc[b.index[2], "households"] = "-3户"
    b.loc[b.index[3], "households"] = "12.5户"
    b.loc[b.index[4], "households"] = "户"
    layers["buildings"] = b
    codes = {(p.feature, p.code) for p in errors_of(layers)}
    assert {("B003", "negative_count"), ("B004", "fractional_count"), ("B005", "not_a_number")} <= codes
    assert not {f for f, c in codes if f in ("B001", "B002")}
    for i in (2, 3, 4):
        b.loc[b.index[i], "households"] = 40
    layers["buildings"] = b
    ds = load(layers)
    assert ds.buildings.loc["B001", ["households", "persons"]].tolist() == [350, 1200]
    assert ds.buildings.loc["B002", ["households", "floors"]].tolist() == [48, 6]


@pytest.mark.parametrize("declared, shift, hint", [(4523, 0, "EPSG:4544"), (4544, 35_000_000, "EPSG:4523")])
def test_gauss_kruger_zone_prefix_mismatch_names_the_right_crs(declared, shift, hint):
    # a .prj naming the zone-prefixed CRS for plain x (or the other way round) used to crash on (inf, inf)
    layers = {k: v.set_geometry(v.geometry.translate(shift, 0)).set_crs(declared, allow_override=True)
              for k, v in M.base_layers(4544).items()}
    probs = [p for p in errors_of(layers) if p.severity == "error"]
    assert {p.code for p in probs} == {"outside_crs_area"}
    assert all(hint in p.message for p in probs), probs[0].message
    ds = load({k: v.set_crs(int(hint[5:]), allow_override=True) for k, v in layers.items()})
    assert ds.buildings.geometry.area.loc["B001"] == pytest.approx(2400, rel=1e-3)


def test_unrecognised_count_headers_are_named_with_the_mapping_to_use():
    layers = base()
    layers["buildings"] = layers["buildings"].rename(columns={"households": "HS", "persons": "RKS"}).drop(
        columns=["floors"])
    (p,) = [p for p in errors_of(layers) if p.code == "no_count_column"]
    assert p.feature is None and "HS" in p.message and "RKS" in p.message and "--map HS=households" in p.fix
    ds = load(layers, column_map={"HS": "households", "RKS": "persons"})
    assert ds.buildings["households"].sum() == base()["buildings"]["households"].sum()


@pytest.mark.parametrize("hh, pp", [("住户数量", "居住人口数量"), ("常住户数", "常住人口数"), ("户数量", "人口数量")])
def test_more_count_header_words(hh, pp):
    layers = base()
    b = layers["buildings"]
    layers["buildings"] = b.rename(columns={"households": hh, "persons": pp})
    ds = load(layers)
    assert (ds.buildings["households"].to_numpy() == b["households"].to_numpy()).all()
    assert (ds.buildings["persons"].to_numpy() == b["persons"].to_numpy()).all()


def test_a_community_in_two_parts_is_told_to_dissolve():
    layers = base()
    c = layers["communities"]
    layers["communities"] = pd.concat([c, c.iloc[[0]]], ignore_index=True)
    (p,) = [p for p in errors_of(layers) if p.code == "duplicate_id"]
    assert p.layer == "communities" and "each community once" in p.fix and "Dissolve by community_id" in p.fix


def test_building_ids_that_repeat_per_compound_are_called_building_numbers():
    layers = base()
    b = layers["buildings"]
    layers["buildings"] = b.assign(building_id=b.groupby(b["compound_id"].fillna("-")).cumcount().add(1).astype(str))
    probs = [p for p in errors_of(layers) if p.code == "duplicate_id"]
    assert probs and all("building numbers" in p.fix and "building_no" in p.fix for p in probs)
    layers["buildings"] = b.assign(building_id="B001")           # one id everywhere: no such hint
    assert all("building numbers" not in p.fix for p in errors_of(layers) if p.code == "duplicate_id")


def test_swapped_count_columns_are_warned():
    layers = base()
    b = layers["buildings"]
    layers["buildings"] = b.rename(columns={"households": "persons", "persons": "households"})
    ds = load(layers)
    assert [p.code for p in ds.problems] == ["counts_swapped"]
    assert load(base()).problems == ()


def test_floors_written_as_6F():
    layers = base()
    b = layers["buildings"].copy()
    b["floors"] = [f"{v}F" for v in b["floors"]]
    b["households"] = b["households"].astype(object)
    b.loc[b.index[0], "households"] = None
    layers["buildings"] = b
    ds = load(layers)
    assert (ds.buildings["floors"].to_numpy() == base()["buildings"]["floors"].to_numpy()).all()
    assert ds.buildings.loc["B001", "households_estimated"]


def test_a_sliver_overlap_of_two_communities_is_cut_from_the_later_one():
    layers = base()
    c = layers["communities"].to_crs(4544)
    g0 = c.geometry.iloc[0]
    c.loc[c.index[0], "geometry"] = shapely.affinity.scale(g0, 1.002, 1.0, origin=(g0.bounds[0], 0))
    layers["communities"] = c.to_crs(4326)
    ds = load(layers)
    assert [(p.code, p.feature) for p in ds.problems] == [("overlapping_polygons", "510682001002")]
    a, b = ds.communities.geometry.loc["510682001001"], ds.communities.geometry.loc["510682001002"]
    assert a.intersection(b).area < 1e-3 and a.area > 200_000
    assert a.union(b).area == pytest.approx(1000 * 400 + 1, rel=1e-3)


def test_old_chinese_datums_warn_that_no_shift_is_known():
    # Xian 1980 / 3° GK CM 105°E (EPSG:2380): PROJ has only a ballpark offset to CGCS2000 here
    ds = load({k: v.to_crs(2380) for k, v in base().items()})
    assert {p.code for p in ds.problems} == {"datum_ballpark"}
    assert {p.layer for p in ds.problems} == set(base())
    assert ds.buildings.geometry.area.loc["B001"] == pytest.approx(2400, rel=1e-3)
    assert load({k: v.to_crs(4490) for k, v in base().items()}).problems == ()
