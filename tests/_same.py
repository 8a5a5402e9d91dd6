"""``assert_same(a, b)``: two values are equal in every way a cached value must be (type, dtype, shape,
index, names, CRS, geometry coordinates, dataclass fields …), recursively. Shared by the codec and
persistent-cache tests; ``rewrite(data, change)`` changes the members of a stored archive."""
from __future__ import annotations

import dataclasses
import io
import math
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from geopandas.testing import assert_geodataframe_equal, assert_geoseries_equal

from gridplan.model import Plan


def assert_same(a, b, where: str = "value") -> None:
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, gpd.GeoDataFrame):
        assert_geodataframe_equal(a, b, check_dtype=True, check_index_type=True, check_crs=True)
        for c in a.columns[(a.dtypes == "geometry").to_numpy()]:
            _same_geometries(a[c].values, b[c].values, f"{where}[{c!r}]")
        assert a.columns.equals(b.columns) and a.columns.dtype == b.columns.dtype, where
        assert a.attrs == b.attrs and a.index.names == b.index.names, where
    elif isinstance(a, gpd.GeoSeries):
        assert_geoseries_equal(a, b, check_dtype=True, check_index_type=True, check_crs=True)
        _same_geometries(a.values, b.values, where)
        assert a.name == b.name and a.index.names == b.index.names, where
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True, check_column_type=True, check_index_type=True)
        assert a.attrs == b.attrs and a.index.names == b.index.names, where
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True, check_index_type=True)
        assert a.index.names == b.index.names, where
    elif isinstance(a, pd.Index):
        pd.testing.assert_index_equal(a, b, exact=True, check_names=True)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape} != {b.dtype}{b.shape}"
        if a.dtype == object:
            for i, (x, y) in enumerate(zip(a.ravel(), b.ravel())):
                assert_same(x, y, f"{where}[{i}]")
        else:
            np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, shapely.Geometry):
        assert shapely.to_wkb(a) == shapely.to_wkb(b), where
    elif sp.issparse(a):
        assert a.format == b.format and a.shape == b.shape and a.dtype == b.dtype, where
        assert (a != b).nnz == 0, where
    elif isinstance(a, Plan):
        assert_same(a.assignment, b.assignment, f"{where}.assignment")
        assert (a.rule, a.locked, a.label) == (b.rule, b.locked, b.label), where
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys differ"
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif a is pd.NA:
        assert b is pd.NA, where
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    elif isinstance(a, np.floating) and np.isnan(a):
        assert np.isnan(b) and a.dtype == b.dtype, where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _same_geometries(a, b, where) -> None:
    """The same geometries, coordinate for coordinate (their WKB), not merely the same shapes."""
    wa, wb = shapely.to_wkb(np.asarray(a, dtype=object)), shapely.to_wkb(np.asarray(b, dtype=object))
    assert list(wa) == list(wb), f"{where}: geometries differ"


def rewrite(data: bytes, change) -> bytes:
    """``data`` (a zip archive, as the cache format stores) with its members changed by
    ``change(members: dict[str, bytes])``."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = {n: z.read(n) for n in z.namelist()}
    change(members)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    return buf.getvalue()
