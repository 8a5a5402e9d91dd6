"""A restricted, data-only serialisation for the persistent cache (:mod:`gridplan.diskcache`).

A value is written as a zip archive (stored, not compressed) of

* ``manifest.json`` — a tree of typed nodes (``{"t": tag, …}``; JSON scalars stand for themselves),
* ``<n>.npy`` — numeric, boolean and fixed-width numpy arrays in numpy's own format, read back with
  ``allow_pickle=False`` (an object array is refused),
* ``<n>.bin`` — raw bytes: UTF-8 JSON lists (object arrays of str and scalars), WKB (shapely
  geometries, vectorised through ``shapely.to_wkb``/``from_wkb``; an array of non-empty geometries of
  one type is kept as coordinate and offset arrays instead, ``shapely.to_ragged_array``, faster to read).

What it can hold: ``None``/bool/int/float/str/bytes, list, tuple, set, frozenset, dict (keys of those
scalars or tuples of them), numpy scalars and arrays, shapely geometries, ``scipy.sparse``
matrices, pyproj ``CRS`` (PROJJSON), pandas ``Index``/``RangeIndex``/``MultiIndex``/``Series``/
``DataFrame`` (numpy, nullable, string, category and datetime dtypes), geopandas ``GeoSeries``/
``GeoDataFrame`` (WKB and CRS), and the gridplan value classes named in :data:`CLASSES` (rebuilt from
their fields). Anything else raises :class:`Unencodable` on :func:`encode`.

Reading never runs code named by the data: a tag is looked up in a fixed table, a class only in
:data:`CLASSES`, a dtype only among the kinds above; an unknown tag, a refused dtype, a shape that
differs from the manifest's or a missing blob raises :class:`CodecError`.
"""
from __future__ import annotations

import dataclasses
import importlib
import io
import json
import zipfile
from typing import Any

import numpy as np

#: format version (part of the cache's code version)
FORMAT = 1
MANIFEST = "manifest.json"
#: deepest nesting a manifest may have
MAX_DEPTH = 64

#: the gridplan classes a cache entry may hold, by tag: (module, class name); rebuilt from their
#: dataclass fields (``cls(**fields)``) or, for :class:`~gridplan.model.Plan`, its constructor
CLASSES: dict[str, tuple[str, str]] = {
    "Dataset": ("gridplan.model", "Dataset"),
    "Plan": ("gridplan.model", "Plan"),
    "Rule": ("gridplan.rule", "Rule"),
    "Problem": ("gridplan._errors", "Problem"),
    "engine._Ctx": ("gridplan.engine", "_Ctx"),
    "search.Graph": ("gridplan._search", "Graph"),
}
_PLAN_FIELDS = ("assignment", "rule", "locked", "label")
_NUMPY_KINDS = set("biufcmMSU")
_SCALARS = (type(None), bool, int, float, str)
_JSON_SCALARS = frozenset(_SCALARS)
_SPARSE = ("csr_matrix", "csc_matrix", "coo_matrix", "csr_array", "csc_array", "coo_array")
#: geometry type ids written as coordinates + offsets, with their number of offset levels
_RAGGED = {0: 0, 1: 1, 3: 2, 4: 1, 5: 2, 6: 3}
_MASKED = {f"{p}{b}" for p in ("Int", "UInt") for b in (8, 16, 32, 64)} | {"Float32", "Float64", "boolean"}


class Unencodable(TypeError):
    """A value the format cannot hold (it is then simply not cached)."""


class CodecError(ValueError):
    """A stored entry that is not a value this format writes (it is deleted and recomputed)."""


def _class(tag: str):
    try:
        mod, name = CLASSES[tag]
    except KeyError:
        raise CodecError(f"unknown class {tag!r}") from None
    return getattr(importlib.import_module(mod), name)


def _class_tag(v) -> str | None:
    t = type(v)
    if not t.__module__.startswith("gridplan"):
        return None
    for tag, (mod, name) in CLASSES.items():
        if t.__module__ == mod and t.__qualname__ == name and _class(tag) is t:
            return tag
    return None


# --------------------------------------------------------------------------- writing
class _Writer:
    def __init__(self):
        self.blobs: list[tuple[str, bytes]] = []

    def blob(self, data: bytes, ext: str = "bin") -> str:
        name = f"{len(self.blobs)}.{ext}"
        self.blobs.append((name, data))
        return name

    def nd(self, a: np.ndarray) -> dict:
        if a.dtype.kind not in _NUMPY_KINDS or a.dtype.hasobject:
            raise Unencodable(f"numpy dtype {a.dtype}")
        buf = io.BytesIO()
        np.save(buf, a, allow_pickle=False)
        return {"t": "nd", "b": self.blob(buf.getvalue(), "npy"), "dtype": a.dtype.str, "shape": list(a.shape)}

    def array(self, a: np.ndarray) -> dict:
        """Any numpy array: raw, or an object array of str / geometries / scalars."""
        if a.dtype != object:
            return self.nd(a)
        flat = a.ravel(order="C")
        shape = list(a.shape)
        if set(map(type, flat)) <= {str}:
            return {"t": "ndstr", "b": self.blob(_dumps(flat.tolist())), "shape": shape}
        if _all_geometries(flat):
            return {"t": "ndgeom", "v": self.wkb(flat), "shape": shape}
        return {"t": "ndobj", "b": self.blob(_dumps([self.node(x, 1) for x in flat])), "shape": shape}

    def wkb(self, flat: np.ndarray) -> dict:
        """Geometries (and None): coordinate arrays and offsets (``shapely.to_ragged_array``) when all
        are non-empty of one type and dimension, else WKB."""
        import shapely
        ragged = self.ragged(flat)
        if ragged is not None:
            return ragged
        w = shapely.to_wkb(flat)
        lengths = np.fromiter((-1 if b is None else len(b) for b in w), dtype=np.int64, count=len(w))
        return {"lengths": self.nd(lengths), "b": self.blob(b"".join(b for b in w if b is not None))}

    def ragged(self, flat: np.ndarray) -> dict | None:
        import shapely
        if not len(flat) or shapely.is_missing(flat).any() or shapely.is_empty(flat).any():
            return None
        kinds = np.unique(shapely.get_type_id(flat))
        z = np.unique(shapely.has_z(flat))
        if len(kinds) != 1 or int(kinds[0]) not in _RAGGED or len(z) != 1:
            return None
        kind, coords, offsets = shapely.to_ragged_array(flat, include_z=bool(z[0]))
        return {"ragged": int(kind), "n": len(flat), "coords": self.nd(coords),
                "offsets": [self.nd(np.asarray(o)) for o in offsets]}

    def node(self, v, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise Unencodable("nested too deeply")
        t = type(v)
        if t in _SCALARS:
            return v
        d = depth + 1
        if t is list or t is tuple:
            return {"t": t.__name__, "v": [self.node(x, d) for x in v]}
        if t is dict:
            keys = list(v)
            for k in keys:
                _check_key(k)
            out: dict[str, Any] = {"t": "dict", "k": [self.node(k, d) for k in keys]}
            vals = np.empty(len(keys), dtype=object)
            vals[:] = list(v.values())
            if len(keys) > 1 and _all_geometries(vals):      # one WKB blob for all (read in one call)
                out["g"] = self.wkb(vals)
            else:
                out["v"] = [self.node(x, d) for x in v.values()]
            return out
        if t is set or t is frozenset:
            for k in v:
                _check_key(k)
            return {"t": t.__name__, "v": [self.node(x, d) for x in v]}
        if t is bytes:
            if len(v) <= 256:
                return {"t": "bytes", "x": v.hex()}
            return {"t": "bytes", "b": self.blob(v)}
        if isinstance(v, np.generic) and v.dtype.kind in "biuf":
            return {"t": "npscalar", "dtype": v.dtype.str, "v": v.item()}
        if t is np.ndarray:
            return self.array(v)
        return self.other(v, d)

    def other(self, v, d: int) -> Any:
        import pandas as pd
        if v is pd.NA:
            return {"t": "pdna"}
        mod = type(v).__module__.split(".")[0]
        if mod == "shapely":
            import shapely
            if isinstance(v, shapely.Geometry):
                return {"t": "geom", "b": self.blob(shapely.to_wkb(v))}
        if mod == "pyproj":
            from pyproj import CRS
            if type(v) is CRS:
                return {"t": "crs", "json": v.to_json()}
        if mod == "scipy":
            import scipy.sparse as sp
            name = type(v).__name__
            if name in _SPARSE and type(v) is getattr(sp, name):
                if v.format == "coo":
                    parts = {"row": v.row, "col": v.col, "data": v.data}
                else:
                    parts = {"data": v.data, "indices": v.indices, "indptr": v.indptr}
                return {"t": "sparse", "cls": name, "shape": list(v.shape),
                        **{k: self.nd(np.asarray(a)) for k, a in parts.items()}}
        if mod in ("pandas", "geopandas"):
            return self.pandas(v, d)
        tag = _class_tag(v)
        if tag is not None:
            if tag == "Plan":
                state = {"assignment": v._assignment, "rule": v.rule, "locked": v.locked, "label": v.label}
            else:
                state = {f.name: getattr(v, f.name) for f in dataclasses.fields(v) if f.init}
            return {"t": "obj", "cls": tag, "f": {k: self.node(x, d) for k, x in state.items()}}
        raise Unencodable(f"{type(v).__module__}.{type(v).__qualname__}")

    def pandas(self, v, d: int) -> dict:
        import geopandas as gpd
        import pandas as pd
        t = type(v)
        if t is pd.RangeIndex:
            return {"t": "range", "start": v.start, "stop": v.stop, "step": v.step, "name": self.node(v.name, d)}
        if t is pd.MultiIndex:
            return {"t": "multi", "levels": [self.pandas(lv, d) for lv in v.levels],
                    "codes": [self.nd(np.asarray(c)) for c in v.codes], "names": [self.node(n, d) for n in v.names]}
        if isinstance(v, pd.Index) and t in (pd.Index, pd.DatetimeIndex, pd.TimedeltaIndex, pd.CategoricalIndex):
            return {"t": "index", "v": self.values(v.array, d), "name": self.node(v.name, d)}
        if t is pd.Series or t is gpd.GeoSeries:
            return {"t": "series" if t is pd.Series else "geoseries", "v": self.values(v.array, d),
                    "index": self.pandas(v.index, d), "name": self.node(v.name, d),
                    **({"attrs": self.node(dict(v.attrs), d)} if v.attrs else {})}
        if t is pd.DataFrame or t is gpd.GeoDataFrame:
            out = {"t": "frame", "columns": self.pandas(v.columns, d), "index": self.pandas(v.index, d),
                   "cols": [self.values(v.iloc[:, i].array, d) for i in range(v.shape[1])]}
            if v.attrs:
                out["attrs"] = self.node(dict(v.attrs), d)
            if t is gpd.GeoDataFrame:
                out["t"] = "geoframe"
                out["geometry"] = self.node(v._geometry_column_name, d)
            return out
        raise Unencodable(f"{t.__module__}.{t.__qualname__}")

    def values(self, arr, d: int) -> dict:
        """The values of a pandas column or index (a numpy or extension array) with its dtype."""
        import pandas as pd
        from geopandas.array import GeometryArray, GeometryDtype
        dt = arr.dtype
        if isinstance(dt, np.dtype) or type(arr) is pd.arrays.NumpyExtensionArray:
            return {"t": "np", "v": self.array(np.asarray(arr))}
        if isinstance(dt, GeometryDtype) and type(arr) is GeometryArray:
            crs = None if arr.crs is None else self.other(arr.crs, d)
            return {"t": "geometry", "v": self.wkb(np.asarray(arr, dtype=object)), "crs": crs}
        if isinstance(dt, pd.StringDtype):
            na = "nan" if dt.na_value is not pd.NA else "NA"
            vals = np.asarray(arr, dtype=object).copy()
            vals[np.asarray(pd.isna(arr), dtype=bool)] = None
            return {"t": "string", "storage": dt.storage, "na": na, "v": self.array(vals)}
        if isinstance(dt, pd.CategoricalDtype):
            return {"t": "category", "codes": self.nd(np.asarray(arr.codes)), "ordered": bool(dt.ordered),
                    "categories": self.pandas(dt.categories, d)}
        if isinstance(dt, pd.DatetimeTZDtype):
            return {"t": "datetimetz", "unit": dt.unit, "tz": str(dt.tz), "v": self.nd(np.asarray(arr.asi8))}
        if str(dt) in _MASKED and isinstance(arr, pd.arrays.BooleanArray | pd.arrays.IntegerArray
                                             | pd.arrays.FloatingArray):
            return {"t": "masked", "dtype": str(dt), "data": self.nd(arr._data), "mask": self.nd(arr._mask)}
        raise Unencodable(f"pandas dtype {dt}")


def _all_geometries(a: np.ndarray) -> bool:
    """Whether an object array holds shapely geometries (and None), at least one geometry."""
    import shapely
    types = set(map(type, a))
    return bool(types - {type(None)}) and all(t is type(None) or issubclass(t, shapely.Geometry) for t in types)


def _check_key(k) -> None:
    if type(k) in _SCALARS or type(k) is bytes:
        return
    if type(k) is tuple:
        for x in k:
            _check_key(x)
        return
    raise Unencodable(f"dict key of type {type(k).__name__}")


def _dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _member(name: str) -> zipfile.ZipInfo:
    """A member with a fixed time: the same value gives the same bytes, whenever it is written."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o600 << 16
    return info


def _archive(w: _Writer, root) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(_member(MANIFEST), _dumps({"format": FORMAT, "root": root}))
        for name, data in w.blobs:
            z.writestr(_member(name), data)
    return buf.getvalue()


def encode(value) -> bytes:
    """The bytes of ``value`` (a zip archive); :class:`Unencodable` for what the format cannot hold."""
    w = _Writer()
    try:
        root = w.node(value)
    except RecursionError:
        raise Unencodable("nested too deeply") from None
    return _archive(w, root)


def encode_dict(values: dict) -> tuple[bytes, list]:
    """Encode the items of a dict that the format can hold (the others are left out); returns the
    bytes and the keys left out."""
    w = _Writer()
    keys, vals, skipped = [], [], []
    for k, v in values.items():
        mark = len(w.blobs)
        try:
            _check_key(k)
            kn, vn = w.node(k), w.node(v)
        except (Unencodable, RecursionError):
            del w.blobs[mark:]           # the blobs of a value left out
            skipped.append(k)
            continue
        keys.append(kn)
        vals.append(vn)
    return _archive(w, {"t": "dict", "k": keys, "v": vals}), skipped


# --------------------------------------------------------------------------- reading
class _Reader:
    def __init__(self, z: zipfile.ZipFile):
        self.z = z
        self.names = set(z.namelist())
        self.crs_memo: dict[str, Any] = {}

    def blob(self, name) -> bytes:
        if not isinstance(name, str) or name not in self.names or name == MANIFEST:
            raise CodecError(f"missing blob {name!r}")
        return self.z.read(name)

    def nd(self, n) -> np.ndarray:
        _expect(n, "nd")
        try:
            a = np.lib.format.read_array(io.BytesIO(self.blob(n["b"])), allow_pickle=False)
        except ValueError as e:
            raise CodecError(f"array {n['b']}: {e}") from None
        if a.dtype.hasobject or a.dtype.kind not in _NUMPY_KINDS:
            raise CodecError(f"array {n['b']}: dtype {a.dtype} refused")
        if a.dtype.str != n.get("dtype") or list(a.shape) != n.get("shape"):
            raise CodecError(f"array {n['b']}: {a.dtype.str} {a.shape} is not {n.get('dtype')} {n.get('shape')}")
        return a

    def shape(self, n, size: int) -> tuple:
        shape = n.get("shape")
        if (not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape)
                or int(np.prod(shape)) != size):
            raise CodecError(f"{n['t']}: {size} values do not fill the shape {shape}")
        return tuple(shape)

    def json_blob(self, name) -> list:
        out = json.loads(self.blob(name).decode("utf-8"))
        if not isinstance(out, list):
            raise CodecError(f"blob {name} is not a list")
        return out

    def array(self, n, depth: int) -> np.ndarray:
        t = _tag(n)
        if t == "nd":
            return self.nd(n)
        if t == "ndstr":
            vals = self.json_blob(n["b"])
            if not set(map(type, vals)) <= {str}:
                raise CodecError("ndstr holds a value that is not a str")
            out = np.empty(len(vals), dtype=object)
            out[:] = vals
        elif t == "ndgeom":
            out = self.wkb(n["v"])
        elif t == "ndobj":
            vals = [x if type(x) in _JSON_SCALARS else self.node(x, depth + 1) for x in self.json_blob(n["b"])]
            out = np.empty(len(vals), dtype=object)
            for i, x in enumerate(vals):
                out[i] = x
        else:
            raise CodecError(f"{t!r} is not an array")
        return out.reshape(self.shape(n, len(out)))

    def wkb(self, n) -> np.ndarray:
        import shapely
        if not isinstance(n, dict):
            raise CodecError("bad geometry node")
        if "ragged" in n:
            return self.ragged(n)
        lengths = self.nd(n.get("lengths"))
        data = self.blob(n.get("b"))
        if lengths.ndim != 1 or lengths.dtype.kind != "i" or int(lengths[lengths > 0].sum()) != len(data):
            raise CodecError("geometry lengths do not match their bytes")
        ends = np.cumsum(np.maximum(lengths, 0))
        starts = ends - np.maximum(lengths, 0)
        raw = np.empty(len(lengths), dtype=object)
        raw[:] = [None if ln < 0 else data[s:e] for ln, s, e in zip(lengths.tolist(), starts.tolist(), ends.tolist())]
        return shapely.from_wkb(raw)

    def ragged(self, n) -> np.ndarray:
        import shapely
        kind, count = n.get("ragged"), n.get("n")
        if kind not in _RAGGED or type(count) is not int:
            raise CodecError(f"bad geometry kind {kind!r}")
        coords = self.nd(n.get("coords"))
        offsets = [self.nd(o) for o in _list(n, "offsets")]
        if coords.dtype != np.float64 or coords.ndim != 2 or coords.shape[1] not in (2, 3) \
                or len(offsets) != _RAGGED[kind]:
            raise CodecError("bad geometry coordinates")
        size = len(coords)
        for o in offsets:          # each level: 0 … the size of the level below, never decreasing
            if o.ndim != 1 or o.dtype.kind != "i" or not len(o) or o[0] != 0 or o[-1] != size \
                    or (np.diff(o) < 0).any():
                raise CodecError("bad geometry offsets")
            size = len(o) - 1
        if size != count:
            raise CodecError("geometry count differs from the manifest's")
        return np.asarray(shapely.from_ragged_array(shapely.GeometryType(kind), coords, offsets or None), dtype=object)

    def node(self, n, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise CodecError("nested too deeply")
        if n is None or type(n) in (bool, int, float, str):
            return n
        t = _tag(n)
        d = depth + 1
        if t in ("list", "tuple", "set", "frozenset"):
            items = [self.node(x, d) for x in _list(n, "v")]
            return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[t](items)
        if t == "dict":
            keys = [self.key(k, d) for k in _list(n, "k")]
            vals = self.wkb(n["g"]).tolist() if "g" in n else [self.node(v, d) for v in _list(n, "v")]
            if len(keys) != len(vals):
                raise CodecError("dict keys and values differ in number")
            return dict(zip(keys, vals))
        if t == "bytes":
            if "x" in n:
                try:
                    return bytes.fromhex(n["x"])
                except (TypeError, ValueError):
                    raise CodecError("bad bytes") from None
            return self.blob(n.get("b"))
        if t == "npscalar":
            dt = _dtype(n.get("dtype"), "biuf")
            return dt.type(n.get("v"))
        if t in ("nd", "ndstr", "ndgeom", "ndobj"):
            return self.array(n, d)
        if t == "geom":
            import shapely
            return shapely.from_wkb(self.blob(n.get("b")))
        if t == "crs":
            return self.crs(n)
        if t == "sparse":
            return self.sparse(n)
        if t == "pdna":
            import pandas as pd
            return pd.NA
        if t == "obj":
            return self.obj(n, d)
        if t in ("range", "multi", "index", "series", "geoseries", "frame", "geoframe"):
            return self.pandas(n, d)
        raise CodecError(f"unknown type tag {t!r}")

    def key(self, k, d):
        v = self.node(k, d)
        try:
            _check_key(v)
        except Unencodable as e:
            raise CodecError(str(e)) from None
        return v

    def crs(self, n):
        from pyproj import CRS
        text = n.get("json")
        if not isinstance(text, str):
            raise CodecError("bad CRS node")
        if text not in self.crs_memo:
            self.crs_memo[text] = CRS.from_json(text)
        return self.crs_memo[text]

    def sparse(self, n):
        import scipy.sparse as sp
        name = n.get("cls")
        if name not in _SPARSE:
            raise CodecError(f"unknown sparse class {name!r}")
        shape = tuple(n.get("shape") or ())
        if len(shape) != 2 or not all(type(s) is int and s >= 0 for s in shape):
            raise CodecError("bad sparse shape")
        cls = getattr(sp, name)
        if name.startswith("coo"):
            row, col, data = self.nd(n.get("row")), self.nd(n.get("col")), self.nd(n.get("data"))
            if (len(row) and (row.min() < 0 or row.max() >= shape[0])) or \
                    (len(col) and (col.min() < 0 or col.max() >= shape[1])):
                raise CodecError("sparse index out of range")
            return cls((data, (row, col)), shape=shape)
        m = cls((self.nd(n.get("data")), self.nd(n.get("indices")), self.nd(n.get("indptr"))), shape=shape)
        try:
            m.check_format(full_check=True)
        except (ValueError, TypeError) as e:
            raise CodecError(f"sparse matrix: {e}") from None
        return m

    def obj(self, n, d):
        cls = _class(n.get("cls"))
        fields = n.get("f")
        if not isinstance(fields, dict):
            raise CodecError("bad object node")
        state = {str(k): self.node(v, d) for k, v in fields.items()}
        if n["cls"] == "Plan":
            if set(state) != set(_PLAN_FIELDS):
                raise CodecError("bad Plan fields")
            return cls(state["assignment"], rule=state["rule"], locked=state["locked"], label=state["label"])
        allowed = {f.name for f in dataclasses.fields(cls) if f.init}
        if not set(state) <= allowed:
            raise CodecError(f"{n['cls']}: unknown fields {sorted(set(state) - allowed)}")
        return cls(**state)

    def pandas(self, n, d):
        import pandas as pd
        t = n["t"]
        if t == "range":
            a = [n.get(x) for x in ("start", "stop", "step")]
            if not all(type(x) is int for x in a):
                raise CodecError("bad range")
            return pd.RangeIndex(*a, name=self.node(n.get("name"), d))
        if t == "multi":
            levels = [self.pandas(_expect(x, "range", "index"), d) for x in _list(n, "levels")]
            codes = [self.nd(c) for c in _list(n, "codes")]
            names = [self.node(x, d) for x in _list(n, "names")]
            return pd.MultiIndex(levels=levels, codes=codes, names=names, verify_integrity=True)
        if t == "index":
            vals = self.values(n.get("v"), d)
            return pd.Index(vals, dtype=vals.dtype, name=self.node(n.get("name"), d), copy=False)
        index = self.pandas(_expect(n.get("index"), "range", "multi", "index"), d)
        if t in ("series", "geoseries"):
            vals = self.values(n.get("v"), d)
            _same_length(vals, index)
            if t == "series":
                out = pd.Series(vals, index=index, dtype=vals.dtype, name=self.node(n.get("name"), d), copy=False)
            else:
                import geopandas as gpd
                out = gpd.GeoSeries(vals, index=index, name=self.node(n.get("name"), d))
            if "attrs" in n:
                out.attrs = self.node(n["attrs"], d)
            return out
        # frame / geoframe
        columns = self.pandas(_expect(n.get("columns"), "range", "multi", "index"), d)
        cols = [self.values(c, d) for c in _list(n, "cols")]
        if len(cols) != len(columns):
            raise CodecError("frame: columns and values differ in number")
        for c in cols:
            _same_length(c, index)
        # each column with its own dtype (pandas would infer ``str`` for an object array of str)
        df = pd.DataFrame({i: pd.Series(c, index=index, dtype=c.dtype, copy=False) for i, c in enumerate(cols)},
                          index=index, copy=False)
        if not cols:
            df = pd.DataFrame(index=index)
        df.columns = columns
        if t == "geoframe":
            import geopandas as gpd
            geom = self.node(n.get("geometry"), d)
            if geom is not None and geom not in df.columns:
                raise CodecError(f"geometry column {geom!r} missing")
            df = gpd.GeoDataFrame(df, geometry=geom) if geom is not None else gpd.GeoDataFrame(df)
        if "attrs" in n:
            df.attrs = self.node(n["attrs"], d)
        return df

    def values(self, n, d):
        import pandas as pd
        t = _tag(n)
        if t == "np":
            return self.array(n.get("v"), d)
        if t == "geometry":
            from geopandas.array import GeometryArray
            crs = n.get("crs")
            return GeometryArray(self.wkb(n.get("v")), crs=None if crs is None else self.crs(_expect(crs, "crs")))
        if t == "string":
            if n.get("storage") not in ("python", "pyarrow") or n.get("na") not in ("nan", "NA"):
                raise CodecError("bad string dtype")
            dt = pd.StringDtype(n["storage"], na_value=np.nan if n["na"] == "nan" else pd.NA)
            vals = self.array(n.get("v"), d)
            if not set(map(type, vals)) <= {str, type(None)}:
                raise CodecError("a string column holds a value that is not a str")
            return pd.array(vals, dtype=dt)
        if t == "category":
            cats = self.pandas(_expect(n.get("categories"), "index", "range"), d)
            codes = self.nd(n.get("codes"))
            if codes.ndim != 1 or codes.dtype.kind != "i" or (len(codes) and (codes.min() < -1
                                                                             or codes.max() >= len(cats))):
                raise CodecError("bad category codes")
            return pd.Categorical.from_codes(codes, categories=cats, ordered=bool(n.get("ordered")))
        if t == "datetimetz":
            unit, tz = n.get("unit"), n.get("tz")
            if unit not in ("s", "ms", "us", "ns") or not isinstance(tz, str):
                raise CodecError("bad datetime dtype")
            i8 = self.nd(n.get("v"))
            if i8.dtype != np.int64 or i8.ndim != 1:
                raise CodecError("bad datetime values")
            return pd.Series(i8.view(f"M8[{unit}]")).dt.tz_localize("UTC").dt.tz_convert(tz).array
        if t == "masked":
            name = n.get("dtype")
            if name not in _MASKED:
                raise CodecError(f"bad nullable dtype {name!r}")
            data, mask = self.nd(n.get("data")), self.nd(n.get("mask"))
            if mask.dtype != bool or data.shape != mask.shape or data.ndim != 1:
                raise CodecError("bad nullable values")
            dt = pd.api.types.pandas_dtype(name)
            if data.dtype != dt.numpy_dtype:
                raise CodecError("nullable values of another dtype")
            return dt.construct_array_type()(data, mask)
        raise CodecError(f"unknown values tag {t!r}")


def _tag(n) -> str:
    if not isinstance(n, dict) or not isinstance(n.get("t"), str):
        raise CodecError("a node without a type tag")
    return n["t"]


def _expect(n, *tags):
    if _tag(n) not in tags:
        raise CodecError(f"expected {'/'.join(tags)}, found {n['t']!r}")
    return n


def _list(n, k) -> list:
    v = n.get(k)
    if not isinstance(v, list):
        raise CodecError(f"{n['t']}: {k!r} is not a list")
    return v


def _dtype(s, kinds: str) -> np.dtype:
    try:
        dt = np.dtype(s) if isinstance(s, str) else None
    except TypeError:
        dt = None
    if dt is None or dt.kind not in kinds or dt.hasobject:
        raise CodecError(f"dtype {s!r} refused")
    return dt


def _same_length(vals, index) -> None:
    if len(vals) != len(index) or getattr(vals, "ndim", 1) != 1:
        raise CodecError("values and index differ in length")


def decode(data: bytes):
    """The value :func:`encode` wrote; :class:`CodecError` for anything else."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        manifest = json.loads(z.read(MANIFEST).decode("utf-8"))
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, ValueError, EOFError) as e:
        raise CodecError(f"not a cache archive ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "root" not in manifest:
        raise CodecError("not a manifest of this format")
    with z:
        return _Reader(z).node(manifest["root"])
