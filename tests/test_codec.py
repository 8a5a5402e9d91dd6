"""The persistent cache's format (gridplan._codec): every kind of value it holds comes back equal
(type, dtype, shape, index, CRS …); what it cannot hold is refused on writing; and reading refuses
anything it did not write (unknown tags and classes, object arrays, wrong shapes, missing or
truncated blobs) without running any code named by the data."""
from __future__ import annotations

import ast
import io
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from _same import assert_same, rewrite
from _toy import toy_dataset
from pyproj import CRS
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from gridplan import _codec
from gridplan._codec import CodecError, Unencodable, decode, encode, encode_dict
from gridplan._errors import Problem
from gridplan.model import Plan
from gridplan.rule import Rule

ROOT = Path(__file__).resolve().parent.parent


def roundtrip(v):
    out = decode(encode(v))
    assert_same(v, out)
    return out


# --------------------------------------------------------------------------- what comes back equal
@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2**80, 1.5, -0.0, float("inf"), "", "网格 <b>&", b"", b"\x00\xff" * 9, b"x" * 5000,
    [1, "a", None], (1, (2.5, "b")), (), [], {}, {"a": 1, ("k", 2): [None], 3: "x", b"\x01": 2.0, None: True},
    {1, 2, "三"}, frozenset({("a", 1)}), np.int32(-3), np.float32(1.25), np.bool_(True), np.uint64(2**63),
])
def test_scalars_and_containers(value):
    roundtrip(value)


def test_nan_float_and_nested_types_kept():
    out = decode(encode({"n": float("nan"), "t": ([1], (2,)), "f": np.float64("nan")}))
    assert np.isnan(out["n"]) and type(out["t"][0]) is list and type(out["t"][1]) is tuple
    assert type(out["f"]) is np.float64


@pytest.mark.parametrize("arr", [
    np.arange(12, dtype=np.int16).reshape(3, 4), np.asfortranarray(np.random.default_rng(0).random((4, 3))),
    np.array([True, False]), np.array(["甲", "bc"]), np.array([b"ab", b"c"]), np.zeros((0, 2)),
    np.array(["2024-01-02", "NaT"], dtype="datetime64[s]"), np.array([5, -1], dtype="timedelta64[ms]"),
    np.array([1 + 2j]), np.array(["x", "东区", ""], dtype=object), np.array([["a", "b"], ["c", "d"]], dtype=object),
    np.array(["a", None, True, 3, 2.5, float("nan")], dtype=object), np.empty(0, dtype=object),
])
def test_numpy_arrays(arr):
    out = roundtrip(arr)
    assert out.flags.writeable


def test_geometries_scalar_and_arrays():
    geoms = [box(0, 0, 1, 1), Point(1, 2, 3), LineString([(0, 0), (1.123456789012345, 2)]),
             MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)]), Polygon(), None, Point()]
    for g in geoms:
        roundtrip(g)
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = geoms
    roundtrip(arr)
    roundtrip({"c1": box(0, 0, 1, 1), "c2": Point(5, 5)})         # a dict of geometries (one WKB blob)


@pytest.mark.parametrize("geoms", [
    [Point(1, 2), Point(3.5, -4)], [Point(1, 2, 3), Point(0, 0, -1)], [LineString([(0, 0), (1, 1), (2, 0)])] * 2,
    [box(0, 0, 4, 4).difference(box(1, 1, 2, 2)), box(5, 5, 6, 7)],
    [MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3).difference(box(2.2, 2.2, 2.4, 2.4))]), MultiPolygon([box(9, 9, 10, 10)])],
    [shapely.MultiPoint([(0, 0), (1, 1)])], [shapely.MultiLineString([[(0, 0), (1, 1)], [(2, 2), (3, 1), (4, 4)]])],
])
def test_geometry_arrays_of_one_kind_are_stored_as_coordinates(geoms):
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = geoms
    data = encode(arr)
    assert "ragged" in json.loads(zipfile.ZipFile(io.BytesIO(data)).read(_codec.MANIFEST))["root"]["v"]
    assert_same(arr, decode(data))


def test_bad_geometry_offsets_are_refused():
    arr = np.empty(2, dtype=object)
    arr[:] = [box(0, 0, 1, 1), box(2, 2, 3, 3)]
    data = encode(arr)
    root = json.loads(zipfile.ZipFile(io.BytesIO(data)).read(_codec.MANIFEST))["root"]
    name = root["v"]["offsets"][0]["b"]
    for bad in ([0, 5, 3], [0, 5, 99], [1, 5, 10]):
        buf = io.BytesIO()
        np.save(buf, np.array(bad, dtype=np.int32), allow_pickle=False)
        member = {name: buf.getvalue()}
        with pytest.raises(CodecError):
            decode(rewrite(data, lambda m, member=member: m.update(member)))
    r = json.loads(json.dumps(root))
    r["v"]["ragged"] = 7                                            # a GeometryCollection cannot be ragged
    with pytest.raises(CodecError):
        decode(rewrite(data, set_root(r)))


@pytest.mark.parametrize("cls", [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.coo_array])
def test_sparse(cls):
    m = cls(sp.random(30, 20, density=0.1, random_state=1, format="csr"))
    roundtrip(m)
    roundtrip(cls((5, 5), dtype=np.float32))


def test_crs():
    for crs in (CRS.from_epsg(4547), CRS.from_epsg(4326),
                CRS.from_proj4("+proj=tmerc +lat_0=0 +lon_0=104.5 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m")):
        out = roundtrip(crs)
        assert out == crs and out.to_epsg() == crs.to_epsg()


def test_pandas_values_with_their_dtypes():
    idx = pd.Index(["b1", "b2", "b3"], dtype=object, name="building_id")
    df = pd.DataFrame({
        "户数": np.array([1, 2, 3]),
        "name": pd.Series(["a", None, "c"], dtype=object).to_numpy(),
        "s": pd.array(["x", None, "z"], dtype="str"),
        "s_na": pd.array(["x", pd.NA, "z"], dtype="string"),
        "i": pd.array([1, None, 3], dtype="Int64"),
        "f": pd.array([1.5, None, 3], dtype="Float64"),
        "b": pd.array([True, None, False], dtype="boolean"),
        "mixed": np.array([True, None, "是"], dtype=object),
        "cat": pd.Categorical(["甲", "乙", "甲"], categories=["乙", "甲"], ordered=True),
        "t": pd.to_datetime(["2024-01-01", None, "2024-03-01"]),
        "tz": pd.to_datetime(["2024-01-01", None, "2024-03-01"]).tz_localize("Asia/Shanghai"),
        "dt": pd.to_timedelta([1, 2, None], unit="s"),
    }, index=idx)
    df.attrs = {"source": "测试"}
    roundtrip(df)
    roundtrip(df.reset_index())                                   # a RangeIndex
    roundtrip(df.set_index(["户数", "cat"]))                      # a MultiIndex with names
    roundtrip(pd.DataFrame([[1, 2]], columns=["a", "a"]))         # duplicate column names
    roundtrip(pd.DataFrame(index=pd.Index(["x"], name="id")))     # no columns
    roundtrip(df["i"])
    roundtrip(pd.Series([1.0, 2.0], index=pd.Index(["p", "q"], dtype="str"), name=("a", 1)))
    roundtrip(pd.Index(["a", "b"], dtype="str", name="x"))
    roundtrip(pd.RangeIndex(2, 20, 3, name="r"))
    roundtrip(pd.DatetimeIndex(["2024-01-01"], name="d"))
    roundtrip(pd.NA)


def test_geopandas_frames_and_series():
    ds = toy_dataset()
    for gdf in ds.layers().values():
        roundtrip(gdf)
    g = ds.buildings.rename_geometry("形状")
    roundtrip(g)
    roundtrip(ds.buildings.geometry)
    roundtrip(gpd.GeoSeries([None, Point(1, 2)], crs=None))
    roundtrip(gpd.GeoDataFrame({"a": [1]}, geometry=[Point(0, 0)], crs="EPSG:4326").to_crs(4547))


def test_gridplan_values():
    ds = toy_dataset()
    out = roundtrip(ds.replace(problems=(Problem("warning", "buildings", "B1", "缺户数", "补上", "code"),),
                               compound_status=pd.DataFrame({"compound_id": ["C1"], "date": pd.to_datetime(["2024-01-01"])})))
    assert out.crs == ds.crs
    with pytest.raises(ValueError):                              # read-only layers, like any dataset
        out.buildings["households"].to_numpy()[0] = 1
    rule = Rule(min_households=20, max_households=40, min_persons=60, max_persons=120, mode="both")
    roundtrip(rule)
    roundtrip(Plan.from_mapping({"B1": "G1", "B2": "G2"}, rule=rule, locked=["G2"], label="手工"))
    from gridplan.engine import _context
    roundtrip(_context(ds))                                       # the engine's arrays (Graph, sparse …)


# --------------------------------------------------------------------------- what is refused on writing
class Custom:
    pass


@pytest.mark.parametrize("value", [
    lambda: 1, Custom(), {"k": Custom()}, {(1, Custom()): 1}, {frozenset(): 1}, np.array([Custom()], dtype=object),
    pd.Series([1], dtype="int64[pyarrow]"), type("Sub", (pd.DataFrame,), {})(), shapely.STRtree([Point(0, 0)]),
    np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]), range(3), Rule,
])
def test_what_the_format_cannot_hold_is_refused(value):
    with pytest.raises(Unencodable):
        encode(value)


def test_a_dict_keeps_what_it_can_hold():
    data, skipped = encode_dict({"a": np.arange(3), "tree": shapely.STRtree([Point(0, 0)]), "b": [box(0, 0, 1, 1)]})
    assert skipped == ["tree"]
    out = decode(data)
    assert list(out) == ["a", "b"]
    np.testing.assert_array_equal(out["a"], np.arange(3))


# --------------------------------------------------------------------------- what is refused on reading

def set_root(root):
    def change(m):
        m[_codec.MANIFEST] = json.dumps({"format": _codec.FORMAT, "root": root}).encode()
    return change


@pytest.mark.parametrize("root", [
    {"t": "pickle", "b": "0.bin"},
    {"t": "obj", "cls": "subprocess.Popen", "f": {"args": ["touch", "PWNED"]}},
    {"t": "obj", "cls": "Rule", "f": {"__class__": 1}},
    {"t": "sparse", "cls": "lil_matrix", "shape": [1, 1]},
    {"t": "npscalar", "dtype": "O", "v": 1},
    {"t": "list", "v": [{"no": "tag"}]},
    {"t": "dict", "k": [{"t": "list", "v": []}], "v": [1]},         # an unhashable key
    {"t": "frame", "columns": {"t": "range", "start": 0, "stop": 1, "step": 1},
     "index": {"t": "range", "start": 0, "stop": 1, "step": 1}, "cols": [{"t": "arrow"}]},
    {"t": "bytes", "b": "../../etc/passwd"},
])
def test_unknown_tags_and_classes_are_refused(root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CodecError):
        decode(rewrite(encode(1), set_root(root)))
    assert not (tmp_path / "PWNED").exists()


def test_an_object_npy_is_refused_and_never_unpickled(tmp_path, monkeypatch):
    data = encode(np.arange(3))
    evil = io.BytesIO()
    np.save(evil, np.array([Custom()], dtype=object), allow_pickle=True)     # a pickle inside a .npy

    def change(m):
        (name,) = [n for n in m if n.endswith(".npy")]
        m[name] = evil.getvalue()
    with pytest.raises(CodecError, match="pickle|object"):
        decode(rewrite(data, change))


def test_wrong_shapes_and_broken_blobs_are_refused():
    data = encode({"a": np.arange(6).reshape(2, 3), "s": np.array(["x", "y"], dtype=object),
                   "g": np.array([Point(0, 0), None], dtype=object)})
    man = json.loads(zipfile.ZipFile(io.BytesIO(data)).read(_codec.MANIFEST))
    root = man["root"]
    bad_shape = json.loads(json.dumps(root))
    bad_shape["v"][0]["shape"] = [3, 2]
    bad_strs = json.loads(json.dumps(root))
    bad_strs["v"][1]["shape"] = [3]
    for r in (bad_shape, bad_strs):
        with pytest.raises(CodecError):
            decode(rewrite(data, set_root(r)))

    def truncate(m):
        for n in m:
            if n != _codec.MANIFEST:
                m[n] = m[n][: len(m[n]) // 2]
    with pytest.raises(CodecError):
        decode(rewrite(data, truncate))

    def drop(m):
        del m[[n for n in m if n.endswith(".bin")][0]]
    with pytest.raises(CodecError):
        decode(rewrite(data, drop))
    for junk in (b"", b"not a zip", data[: len(data) // 2]):
        with pytest.raises(CodecError):
            decode(junk)
    with pytest.raises(CodecError):
        decode(rewrite(data, lambda m: m.update({_codec.MANIFEST: b'{"format": 999, "root": 1}'})))


def test_sparse_indices_out_of_range_are_refused():
    data = encode(sp.csr_matrix(np.eye(3)))

    def change(m):
        man = json.loads(m[_codec.MANIFEST])
        name = man["root"]["indices"]["b"]
        buf = io.BytesIO()
        np.save(buf, np.array([0, 1, 7], dtype=np.int32), allow_pickle=False)
        m[name] = buf.getvalue()
    with pytest.raises(CodecError):
        decode(rewrite(data, change))


def test_the_codec_uses_no_pickle():
    tree = ast.parse((ROOT / "gridplan" / "_codec.py").read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}


def test_the_equality_check_sees_what_a_careless_format_would_lose():
    """A str Index read back as object, a column's nullable dtype lost, a coordinate rounded: all differ."""
    for a, b in ((pd.Index(["a"], dtype=object), pd.Index(["a"], dtype="str")),
                 (pd.Series([1, 2], dtype="Int64"), pd.Series([1, 2], dtype="int64")),
                 (Point(0, 0.1 + 0.2), Point(0, 0.3)), ((1,), [1]), (np.int64(1), 1)):
        with pytest.raises(AssertionError):
            assert_same(a, b)


def test_the_same_value_gives_the_same_bytes_at_any_time(monkeypatch):
    """An entry holds no write time (a zip member's time is fixed): the cache writes identical
    bytes for identical values (the refused-and-recomputed entry test compares them)."""
    import time
    ds = toy_dataset()
    first = encode(ds)
    later = time.time() + 3 * 3600 + 7
    monkeypatch.setattr(time, "time", lambda: later)
    assert encode(ds) == first
    assert {i.date_time for i in zipfile.ZipFile(io.BytesIO(first)).infolist()} == {(1980, 1, 1, 0, 0, 0)}
