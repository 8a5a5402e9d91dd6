"""Turn raw layers into the canonical data contract, collecting every problem on the way.

:func:`normalise` takes the layers as read from the user's files (any CRS, any headers) and
returns the canonical layers in a metric CRS plus the list of :class:`~gridplan.Problem` found.
It never raises for a problem in the data: each one is recorded with the layer, the feature id
and the fix, so the user sees all of them at once. :func:`gridplan.io.read_dataset` raises one
:class:`~gridplan.ValidationError` when any of them is an error.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ._errors import Problem
from .crs import metric_crs_for, normalise_offset_system, require_metric, to_wgs84
from .model import FIELDS, ID_FIELD, LAYERS, STATION_KINDS

log = logging.getLogger(__name__)

#: how many features of one kind of problem are listed one by one before a summary line
MAX_LISTED = 20

# --------------------------------------------------------------------------- aliases
#: accepted header aliases per layer (matched case-insensitively after stripping blanks)
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "communities": {
        "community_id": ("社区编码", "社区代码", "社区编号", "社区id", "统计代码", "区划代码", "统计用区划代码", "code", "id",
                         "comm_id"),
        "name": ("名称", "社区名称", "社区名", "社区"),
        "street": ("街道", "所属街道", "街道名称", "街道办"),
        "street_id": ("街道编码", "街道代码", "街道编号"),
    },
    "compounds": {
        "compound_id": ("小区编号", "小区编码", "小区id", "小区代码", "编号", "id", "comp_id"),
        "name": ("名称", "小区名称", "小区名", "小区"),
        "community_id": ("社区", "社区编号", "社区编码", "所属社区", "社区代码", "comm_id"),
        "property_company": ("物业公司", "物业", "物业企业", "物业服务企业"),
        "has_property_mgmt": ("有物业", "有物业管理", "物业管理", "是否有物业"),
        "has_competent_dept": ("有主管部门", "主管部门", "是否有主管部门"),
        "has_owners_committee": ("有业委会", "业委会", "业主委员会", "是否有业委会"),
        "party_org": ("党组织", "党支部", "党组织类型", "党组织形式"),
    },
    "buildings": {
        "building_id": ("楼栋编号", "楼栋编码", "楼栋id", "建筑编号", "楼号编码", "编号", "bid", "id", "bldg_id"),
        "households": ("户数", "住户数", "住户", "总户数", "户", "实有户数", "居民户数", "住户户数", "户数量", "住户数量",
                       "常住户数", "实住户数", "入住户数", "居住户数", "hh", "households_count", "n_households"),
        "persons": ("人口", "人数", "人口数", "常住人口", "居民人数", "总人口", "实有人口", "居住人口", "人口数量", "常住人口数",
                    "实有人口数", "居住人数", "居住人口数量", "population", "pop"),
        "party_members": ("党员数", "党员", "党员人数", "党员数量", "party_mem"),
        "central_households": ("党员中心户", "党员中心户数", "中心户数", "中心户"),
        "floors": ("楼层", "层数", "楼层数", "地上层数", "建筑层数", "storeys", "stories", "levels", "floor"),
        "units": ("单元", "单元数"),
        "building_no": ("楼栋号", "楼号", "栋号", "幢号", "楼幢号", "building_number", "bldg_no"),
        "compound_id": ("小区", "小区编号", "小区编码", "小区id", "所属小区", "comp_id"),
        "community_id": ("社区", "社区编号", "社区编码", "所属社区", "社区代码", "comm_id"),
        "name": ("名称", "楼栋名称", "楼栋"),
    },
    "roads": {
        "road_id": ("道路编号", "道路id", "编号", "id", "osmid"),
        "walkable": ("可步行", "步行", "是否可步行", "foot"),
        "kind": ("类型", "道路类型", "道路等级", "等级", "highway", "fclass"),
        "name": ("名称", "道路名称", "路名"),
    },
    "stations": {
        "station_id": ("站点编号", "驿站编号", "站点id", "编号", "id"),
        "name": ("名称", "站点名称", "驿站名称"),
        "kind": ("类型", "站点类型", "种类"),
        "community_id": ("社区", "社区编号", "所属社区", "comm_id"),
    },
}

#: layer file-name aliases (a folder may hold 楼栋.geojson instead of buildings.geojson)
LAYER_ALIASES: dict[str, tuple[str, ...]] = {
    "communities": ("communities", "community", "社区"),
    "compounds": ("compounds", "compound", "小区"),
    "buildings": ("buildings", "building", "楼栋", "建筑"),
    "roads": ("roads", "road", "道路", "路网"),
    "stations": ("stations", "station", "站点", "驿站", "红色驿站"),
}

STATION_KIND_ALIASES: dict[str, str] = {
    **{k: k for k in STATION_KINDS},
    **{v: k for k, v in STATION_KINDS.items()},
    "红色先锋驿站": "red_station", "驿站": "red_station", "red": "red_station",
    "郁心站": "grid_station", "网格站": "grid_station", "网格服务站": "grid_station",
    "流动站": "mobile", "流动": "mobile",
    "党群服务中心": "service_center", "服务中心": "service_center", "center": "service_center",
}

_TRUE = {"true", "t", "yes", "y", "1", "是", "有", "对", "√", "✓", "可以", "能",
         "designated", "permissive", "destination", "official"}  # the last four: OSM foot=* values
_FALSE = {"false", "f", "no", "n", "0", "否", "无", "没有", "×", "✗", "", "不能", "不可",
          "private", "use_sidepath", "discouraged"}

_ALLOWED_GEOMS = {
    "communities": {"Polygon", "MultiPolygon"},
    "compounds": {"Polygon", "MultiPolygon"},
    "buildings": {"Polygon", "MultiPolygon", "Point"},
    "roads": {"LineString", "MultiLineString"},
    "stations": {"Point"},
}

#: columns gridplan adds to a layer, placed right after the canonical fields
_DERIVED = {"buildings": ("households_estimated", "persons_estimated"), "compounds": ("sanwu",)}

_ID_PREFIX = {"communities": "C", "compounds": "Q", "buildings": "B", "roads": "R", "stations": "S"}


@dataclass
class LoadOptions:
    """Options of the loading pipeline (all keyword arguments of :func:`gridplan.io.read_dataset`)."""

    coord_system: str | None = None          # None/'wgs84' or 'gcj02' / 'bd09' for web-map digitised data
    column_map: dict | None = None           # {"buildings": {"HH": "households"}} or a flat {"HH": "households"}
    area_per_household_m2: float = 90.0      # for estimating missing households from footprint × floors
    persons_per_household: float = 2.7       # for estimating missing persons
    metric_crs: object = None                # override the automatic metric CRS
    max_file_mb: float = 1024.0              # a file larger than this is refused
    name: str = ""
    assume_crs: object = None                # the CRS of layers that declare none (default: EPSG:4326)


@dataclass
class _Collector:
    problems: list[Problem] = field(default_factory=list)
    _counts: dict = field(default_factory=dict)

    def add(self, severity, layer, feature, message, fix, code=""):
        key = (severity, layer, code or message)
        n = self._counts.get(key, 0) + 1
        self._counts[key] = n
        if feature is None or n <= MAX_LISTED:
            self.problems.append(Problem(severity, layer, None if feature is None else str(feature), message, fix, code))

    def error(self, layer, feature, message, fix, code=""):
        self.add("error", layer, feature, message, fix, code)

    def warn(self, layer, feature, message, fix, code=""):
        self.add("warning", layer, feature, message, fix, code)

    def finish(self) -> list[Problem]:
        out = list(self.problems)
        for (severity, layer, code), n in self._counts.items():
            if n > MAX_LISTED:
                first = next(p for p in self.problems if p.layer == layer and (p.code or p.message) == code)
                out.append(Problem(severity, layer, None, f"{n - MAX_LISTED} more feature(s) with the same problem: "
                                   f"{first.message}", first.fix, code))
        return out


# --------------------------------------------------------------------------- helpers
_UNIT_BRACKETS = re.compile(r"[（(【\[][^）)】\]]*[）)】\]]")


def _norm_header(h) -> str:
    """Headers compared without blanks, ``_``/``-``, case, or a bracketed unit: ``户数（户）`` is ``户数``,
    ``Building ID`` is ``building_id``."""
    t = re.sub(r"[\s_\-]+", "", str(h)).lower()
    bare = _UNIT_BRACKETS.sub("", t)
    return bare or t


def flat_column_map(column_map, layer):
    """The hand mapping for one layer, from either a per-layer or a flat dict.

    A flat mapping applies to every layer, but only its entries whose target is a field of that
    layer (so ``{"编号": "building_id"}`` does not rename the compounds' 编号).
    """
    if not column_map:
        return {}
    if any(k in LAYERS for k in column_map):
        return {str(k): str(v) for k, v in dict(column_map.get(layer, {}) or {}).items()}
    canon = {ID_FIELD[layer], *FIELDS[layer]}
    return {str(k): str(v) for k, v in column_map.items() if v in canon}


def _canonical_variants(target: str) -> tuple[str, ...]:
    """The canonical name itself and its Shapefile (DBF, 10-character) truncation."""
    return (target, target[:10]) if len(target) > 10 else (target,)


def _looks_truncated(header: str) -> bool:
    """Whether a header may have been cut at the 10 bytes of a DBF field name (UTF-8 or GBK)."""
    try:
        return len(header.encode("utf-8")) >= 9 or len(header.encode("gb18030")) >= 9
    except UnicodeEncodeError:
        return False


def rename_columns(gdf: gpd.GeoDataFrame, layer: str, column_map=None, *,
                   shadowed: list | None = None) -> tuple[gpd.GeoDataFrame, dict]:
    """Rename user headers to canonical names: the hand mapping first, then canonical names in any
    case (and their 10-character Shapefile truncations, ``building_i``), then the aliases.

    Returns the renamed frame and the mapping applied ``{original: canonical}``. When ``shadowed``
    is a list, ``(column, canonical)`` pairs of columns that would also map to an already taken
    field are appended to it (they are kept under their own name).
    """
    canon = [ID_FIELD[layer], *FIELDS[layer]]
    geom = gdf.geometry.name
    applied: dict[str, str] = {}
    hand = flat_column_map(column_map, layer)
    cols = [c for c in gdf.columns if c != geom]
    for src, dst in hand.items():
        if src in cols and dst in canon and dst not in applied.values():
            applied[src] = dst
    taken = set(applied.values()) | {c for c in cols if c in canon and c not in applied}
    normed = {c: _norm_header(c) for c in cols if c not in applied and c not in canon}
    for target in canon:
        names = [*_canonical_variants(target), *ALIASES[layer].get(target, ())]
        for alias in names:
            key = _norm_header(alias)
            hit = [c for c, n in normed.items() if n == key and c not in applied]
            for c in hit:
                if target in taken:
                    if shadowed is not None and (c, target) not in shadowed:
                        shadowed.append((c, target))
                else:
                    applied[c] = target
                    taken.add(target)
    # headers cut by the 10-byte DBF limit of Shapefiles (所属社区 → 所属社): a unique alias they start
    for c, n in normed.items():
        if c in applied or not _looks_truncated(n):
            continue
        targets = {t for t in canon for a in (*_canonical_variants(t), *ALIASES[layer].get(t, ()))
                   if _norm_header(a).startswith(n) and _norm_header(a) != n}
        if len(targets) == 1:
            (t,) = targets
            if t in taken:
                if shadowed is not None:
                    shadowed.append((c, t))
            else:
                applied[c] = t
                taken.add(t)
    # a canonical column that is also the target of a hand mapping is kept under its own name suffixed
    clash = {c: f"{c}_original" for c in cols if c in applied.values() and c not in applied}
    out = gdf.rename(columns={**clash, **applied})
    return out, applied


def _id_string(v) -> str | None:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if v.is_integer():
            return str(int(v))
    if isinstance(v, (np.floating,)):
        if np.isnan(v):
            return None
        if float(v).is_integer():
            return str(int(v))
    if isinstance(v, (np.integer,)):
        return str(int(v))
    s = str(v).strip()
    return s if s and s.lower() not in ("nan", "none", "null") else None


_NULL_WORDS = {"", "nan", "none", "null", "<na>"}


def _id_strings(s: pd.Series) -> pd.Series:
    """:func:`_id_string` over a column, vectorised for the common dtypes (object dtype, ``None`` for missing)."""
    def build(values, null):
        return pd.Series(np.where(np.asarray(null, dtype=bool), None, np.asarray(values, dtype=object)),
                         index=s.index, dtype=object)
    if len(s) == 0:
        return s.astype(object)
    dt = s.dtype
    if pd.api.types.is_integer_dtype(dt) and not pd.api.types.is_bool_dtype(dt):
        null = s.isna().to_numpy()
        return build(s.astype("Int64").astype(str).to_numpy(dtype=object), null)
    if pd.api.types.is_float_dtype(dt):
        v = s.to_numpy(dtype=float, na_value=np.nan)
        finite = np.isfinite(v)
        if np.all(np.floor(v[finite]) == v[finite]) and (np.abs(v[finite]) < 2 ** 53).all():
            return build(np.where(finite, v, 0).astype(np.int64).astype(str).astype(object), ~finite)
    elif isinstance(dt, pd.StringDtype) or (pd.api.types.is_object_dtype(dt) and all(isinstance(v, str) for v in s.dropna())):
        txt = s.to_numpy(dtype=object, na_value=None)
        strs = np.array([v.strip() if isinstance(v, str) else None for v in txt], dtype=object)
        null = np.array([v is None or v.lower() in _NULL_WORDS for v in strs], dtype=bool)
        return build(strs, null)
    out = s.map(_id_string)
    return build(out.to_numpy(dtype=object), out.isna().to_numpy())


def _to_bool(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer, float, np.floating)):
        return bool(v)
    s = str(v).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    return "invalid"


def _labels(gdf, layer) -> list[str]:
    """How each feature is named in messages: its id, or ``row N`` (1-based, in the file) when it has none."""
    idf = ID_FIELD[layer]
    ids = gdf[idf].tolist() if idf in gdf else [None] * len(gdf)
    return [v if v is not None and not (isinstance(v, float) and math.isnan(v)) else f"row {int(r) + 1}"
            for v, r in zip(ids, gdf.index)]


# --------------------------------------------------------------------------- per-layer steps
def _check_ids(gdf, layer, col: _Collector):
    idf = ID_FIELD[layer]
    if idf not in gdf.columns:
        gen = [f"{_ID_PREFIX[layer]}{i + 1:06d}" for i in range(len(gdf))]
        gdf[idf] = gen
        if layer in ("buildings", "communities", "compounds", "stations"):
            col.warn(layer, None, f"no `{idf}` column; ids {gen[0]}… were generated from the row order",
                     f"add a `{idf}` column so that saved plans keep referring to the same features",
                     "ids_generated")
        return gdf
    ids = _id_strings(gdf[idf])
    null = ids.isna()
    for i in np.flatnonzero(null.to_numpy()):
        col.error(layer, f"row {i + 1}", f"`{idf}` is empty", f"give every feature a unique `{idf}`", "null_id")
    dup = ids[ids.duplicated(keep=False) & ~null]
    one = {"communities": "community", "compounds": "compound", "buildings": "building", "roads": "road",
           "stations": "station"}.get(layer, layer)
    parts = (f", or, if they are the parts of one {one}, merge them into one multi-part feature (QGIS: Dissolve "
             f"by {idf})") if layer in ("communities", "compounds") else ""
    if layer == "buildings" and len(dup) and "compound_id" in gdf.columns:
        pair = _id_strings(gdf["compound_id"]).fillna("").astype(str) + "\x1f" + ids.fillna("").astype(str)
        if not pair[ids.duplicated(keep=False) & ~null].duplicated().any():
            parts = ("; the ids repeat only across compounds, so they look like building numbers: name that column "
                     "楼栋号 (building_no) and add a unique building_id (e.g. compound id + number), or leave "
                     "building_id out to have ids generated")
    for v in dup.unique():
        col.error(layer, v, f"`{idf}` {v!r} is used by {int((ids == v).sum())} features",
                  f"make `{idf}` unique (each {one} once){parts}", "duplicate_id")
    gdf[idf] = ids.astype(object)
    return gdf


def _check_geometry(gdf, layer, col: _Collector):
    geoms = gdf.geometry.array
    ids = _labels(gdf, layer)
    keep = np.ones(len(gdf), dtype=bool)
    is_null = shapely.is_missing(np.asarray(geoms)) | shapely.is_empty(np.asarray(geoms))
    for i in np.flatnonzero(is_null).tolist():
        col.error(layer, ids[i], "has no geometry", "draw the feature or delete it", "null_geometry")
        keep[i] = False
    arr = np.asarray(geoms, dtype=object)
    if shapely.has_z(arr).any():  # heights are not used; 2D keeps every later operation simple
        arr = shapely.force_2d(arr)
    types = np.array([g.geom_type if g is not None and not g.is_empty else "" for g in arr], dtype=object)
    allowed = _ALLOWED_GEOMS[layer]
    # single-part multi-points are points
    if layer in ("stations",):
        for m in np.flatnonzero(types == "MultiPoint"):
            if len(arr[m].geoms) == 1:
                arr[m] = arr[m].geoms[0]
                types[m] = "Point"
    bad = [i for i in range(len(arr)) if keep[i] and types[i] not in allowed]
    for i in bad:
        col.error(layer, ids[i], f"has geometry type {types[i]}, expected {' or '.join(sorted(allowed))}",
                  f"save only {'/'.join(sorted(allowed))} features in the {layer} layer", "geometry_type")
        keep[i] = False
    present = {t for t, k in zip(types, keep) if k}
    if layer == "buildings" and "Point" in present and present & {"Polygon", "MultiPolygon"}:
        col.warn(layer, None, "mixes footprints (polygons) and points",
                 "points are treated as small footprints; draw footprints where you can", "mixed_geometry")
    # invalid geometry: repair where it stays of the same family
    cand = np.flatnonzero(keep)
    if len(cand):
        valid = shapely.is_valid(arr[cand])
        for j in np.flatnonzero(~valid):
            i = cand[j]
            reason = shapely.is_valid_reason(arr[i])
            fixed = shapely.make_valid(arr[i])
            if layer in ("communities", "compounds", "buildings") and types[i] in ("Polygon", "MultiPolygon"):
                polys = [g for g in getattr(fixed, "geoms", [fixed]) if g.geom_type in ("Polygon", "MultiPolygon")]
                fixed = shapely.union_all(polys) if polys else None
            if fixed is None or fixed.is_empty or fixed.geom_type not in allowed:
                col.error(layer, ids[i], f"invalid geometry ({reason}) that cannot be repaired safely",
                          "redraw the feature in a GIS (e.g. QGIS: Fix geometries)", "invalid_geometry")
                keep[i] = False
            else:
                col.warn(layer, ids[i], f"invalid geometry ({reason}) was repaired",
                         "check the repaired shape; fix it in the source file to silence this", "repaired_geometry")
                arr[i] = fixed
    gdf = gdf.set_geometry(gpd.GeoSeries(arr, index=gdf.index, crs=gdf.crs))
    return gdf[keep]


def _guess_projected(xmin, ymin, xmax, ymax) -> str:
    """A hint at the projected CRS metre coordinates may be in (Chinese survey data first)."""
    if 1.3e6 <= ymin and ymax <= 6.1e6:
        zone = int(xmin // 1e6)
        if xmax // 1e6 == zone and 25 <= zone <= 45 and 1e5 <= xmin - zone * 1e6 <= 9e5:
            return (f"x starts with the zone number {zone}: probably CGCS2000 3° Gauss-Kruger zone {zone} "
                    f"(EPSG:{4513 + zone - 25}, central meridian {3 * zone}°E)")
        if 13 <= zone <= 23 and xmax // 1e6 == zone:
            return (f"x starts with the zone number {zone}: probably CGCS2000 6° Gauss-Kruger zone {zone} "
                    f"(EPSG:{4491 + zone - 13})")
        if 1e5 <= xmin and xmax <= 9e5:
            return ("probably a CGCS2000 3° Gauss-Kruger zone without zone number (EPSG:4534–4554, e.g. "
                    "EPSG:4544 for central meridian 105°E around 什邡) or UTM")
    if max(abs(xmin), abs(xmax)) <= 2.0038e7 and max(abs(ymin), abs(ymax)) <= 2.0038e7:
        return "perhaps Web Mercator (EPSG:3857) or UTM"
    return "check which projection the data was saved in"


def _check_crs(gdf, layer, col: _Collector, source_format: str, assume=None):
    """Assume EPSG:4326 (or ``assume``) where none is declared; catch swapped or projected coordinates."""
    arr = np.asarray(gdf.geometry.array, dtype=object)
    ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
    if not ok.any():
        return (gdf if gdf.crs is not None else gdf.set_crs(assume or 4326, allow_override=True)), True
    xmin, ymin, xmax, ymax = shapely.total_bounds(arr[ok])
    lonlat_range = max(abs(xmin), abs(xmax)) <= 180 and max(abs(ymin), abs(ymax)) <= 90
    if assume is not None and source_format == "geojson" and gdf.crs is not None and not lonlat_range \
            and CRS.from_user_input(gdf.crs).is_geographic:
        gdf = gdf.set_crs(None, allow_override=True)  # GDAL reads every GeoJSON as EPSG:4326 (RFC 7946)
    if gdf.crs is None and assume is not None:
        gdf = gdf.set_crs(assume, allow_override=True)
    if gdf.crs is None:
        if max(abs(xmin), abs(xmax)) > 180 or max(abs(ymin), abs(ymax)) > 90:
            col.error(layer, None, "has no CRS and its coordinates are not longitude/latitude "
                      f"(x {xmin:.0f}…{xmax:.0f}, y {ymin:.0f}…{ymax:.0f}) / 缺少坐标系; "
                      + _guess_projected(xmin, ymin, xmax, ymax),
                      "declare the CRS (a .prj file, or the CRS in the GeoPackage), or load with "
                      "assume_crs='EPSG:…'", "no_crs_projected")
            return gdf, False
        if source_format == "table":
            col.warn(layer, None, "is a table of longitude/latitude; assumed WGS 84 (EPSG:4326) / 表格坐标按 WGS 84 读取",
                     "if the coordinates come from Amap/Tencent or Baidu, load with --coord-system gcj02 / bd09 "
                     "(coord_system=); for CGCS2000 or projected x/y give --assume-crs (assume_crs=)", "crs_assumed")
        elif source_format not in ("geojson", "json", "memory"):
            col.warn(layer, None, "has no CRS; assumed EPSG:4326 (WGS 84 longitude/latitude)",
                     "declare the CRS in the file if it is not WGS 84", "crs_assumed")
        gdf = gdf.set_crs(4326, allow_override=True)
    crs = CRS.from_user_input(gdf.crs)
    if crs.is_geographic:
        lonlat = max(abs(xmin), abs(xmax)) <= 180 and max(abs(ymin), abs(ymax)) <= 90
        swapped = max(abs(xmin), abs(xmax)) <= 90 and max(abs(ymin), abs(ymax)) <= 180
        china_swapped = 18 <= xmin and xmax <= 54 and 73 <= ymin and ymax <= 136
        if (swapped and not lonlat) or china_swapped:
            col.error(layer, None, f"coordinates look swapped: x is {xmin:.2f}…{xmax:.2f} and y {ymin:.2f}…{ymax:.2f} "
                      "(latitude, longitude) / 经纬度顺序颠倒",
                      "swap the coordinate order to (longitude, latitude), e.g. QGIS: Swap X and Y coordinates",
                      "swapped_axes")
            return gdf, False
        if not lonlat:
            col.error(layer, None, f"coordinates look projected (x {xmin:.0f}…{xmax:.0f}, y {ymin:.0f}…{ymax:.0f}) "
                      f"but the file declares {crs.name} (EPSG:{crs.to_epsg()}) / 投影坐标被声明为经纬度; "
                      + _guess_projected(xmin, ymin, xmax, ymax),
                      "declare the real projected CRS of the data (e.g. EPSG:4544 for CGCS2000 3° GK CM 105°E) "
                      "instead of longitude/latitude", "projected_as_geographic")
            return gdf, False
    elif crs.is_projected:
        if (max(abs(xmin), abs(xmax)) <= 180 and max(abs(ymin), abs(ymax)) <= 90
                and xmax - xmin < 5 and ymax - ymin < 5):
            col.error(layer, None, f"coordinates look like longitude/latitude (x {xmin:.4f}…{xmax:.4f}) but the file "
                      f"declares the projected {crs.name} / 经纬度被声明为投影坐标",
                      "declare EPSG:4326 (or EPSG:4490 for CGCS2000 longitude/latitude) instead",
                      "geographic_as_projected")
            return gdf, False
        if _gk_prefix_mismatch(crs, xmin, xmax) or not _inside_area_of_use(crs, xmin, ymin, xmax, ymax):
            col.error(layer, None, f"coordinates (x {xmin:.0f}…{xmax:.0f}, y {ymin:.0f}…{ymax:.0f}) lie outside the "
                      f"area of the declared {crs.name} (EPSG:{crs.to_epsg()}) / 坐标不在所声明坐标系的范围内; "
                      + _gk_counterpart(crs, xmin, xmax, ymin, ymax),
                      "declare the CRS the data was really saved in (the .prj file, or the CRS of the GeoPackage "
                      "layer), or load with assume_crs / --assume-crs for files without one", "outside_crs_area")
            return gdf, False
    return gdf, True


def _check_datum_shift(src, metric: CRS, layer: str, col: _Collector) -> None:
    """Warn when a layer's datum differs from the metric CRS's and PROJ knows no transformation between them
    (Beijing 1954, Xian 1980 → CGCS2000/WGS 84 is only a "ballpark" offset here: tens of metres, up to
    about 100 m). Distances within the layer stay right; its place against other data and in lon/lat
    outputs does not."""
    crs = CRS.from_user_input(src)
    if crs.datum is None or metric.datum is None or crs.datum.name == metric.datum.name:
        return
    quiet = {"world geodetic system 1984", "china 2000", "china geodetic coordinate system 2000"}
    if {crs.datum.name.lower(), metric.datum.name.lower()} <= quiet | {n + " ensemble" for n in quiet}:
        return   # WGS 84 and CGCS2000 agree to a few centimetres
    from pyproj import Transformer
    try:
        desc = Transformer.from_crs(crs, metric, always_xy=True).description or ""
    except Exception:  # noqa: BLE001 - no transformation at all is reported when projecting
        return
    if "ballpark" in desc.lower():
        col.warn(layer, None, f"is in {crs.name} (datum {crs.datum.name}); no datum transformation to "
                 f"{metric.datum.name} is known here, so its place may be off by tens of metres (up to ~100 m) "
                 "against WGS 84/CGCS2000 data and in lon/lat outputs / 缺少基准转换参数，位置可能偏差数十米",
                 "convert the layer to CGCS2000 (EPSG:4490 or its Gauss-Kruger zone) in your GIS with the local "
                 "transformation parameters (七参数), then load it", "datum_ballpark")


def _inside_area_of_use(crs: CRS, xmin, ymin, xmax, ymax, *, margin_deg: float = 30.0) -> bool:
    """Whether the bounding box of projected coordinates maps to finite longitudes/latitudes within
    ``margin_deg`` of the CRS's area of use (true when the CRS names none): coordinates thousands of
    kilometres off, not merely a zone over (nor local test coordinates near the false origin)."""
    area = crs.area_of_use
    if area is None:
        return True
    from .crs import transformer
    try:
        xs = np.array([xmin, xmax, xmin, xmax, (xmin + xmax) / 2])
        ys = np.array([ymin, ymin, ymax, ymax, (ymin + ymax) / 2])
        lon, lat = transformer(crs, 4326).transform(xs, ys)
    except Exception:  # noqa: BLE001 - pyproj's own errors: the coordinates do not project
        return False
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        return False
    w, s, e, n = area.bounds
    if w > e:  # an area across the antimeridian: only the latitude is checked
        return bool(((lat >= s - margin_deg) & (lat <= n + margin_deg)).all())
    return bool(((lon >= w - margin_deg) & (lon <= e + margin_deg) & (lat >= s - margin_deg)
                 & (lat <= n + margin_deg)).all())


def _cgcs_gk3(crs: CRS) -> tuple[int, float] | None:
    """``(zone, false easting)`` of a CGCS2000 3° Gauss-Krüger CRS (EPSG:4513–4554), else ``None``."""
    from .crs import central_meridian
    cm = central_meridian(crs)
    fe = next((p.value for p in (crs.coordinate_operation.params if crs.coordinate_operation else [])
               if "false easting" in p.name.lower()), None)
    datum = (crs.datum.name if crs.datum else "").lower()
    cgcs = "china 2000" in datum or "china geodetic coordinate system 2000" in datum or "cgcs2000" in datum
    if cgcs and cm is not None and fe is not None and float(cm) % 3 == 0 and 75 <= cm <= 135:
        return int(cm) // 3, float(fe)
    return None


def _gk_prefix_mismatch(crs: CRS, xmin, xmax) -> bool:
    """A CGCS2000 3° zone declared with the zone number in front of x where x lacks it, or the reverse."""
    gk = _cgcs_gk3(crs)
    if gk is None:
        return False
    zone, fe = gk
    return (fe > 1e6 and xmax < 1e6) or (fe < 1e6 and xmin // 1e6 == zone and xmax // 1e6 == zone)


def _gk_counterpart(crs: CRS, xmin, xmax, ymin, ymax) -> str:
    """A hint at the CRS projected coordinates are really in, for a CGCS2000 3° Gauss-Krüger zone declared
    with the zone number in front of x (EPSG:4513–4533) where the data lacks it, or the other way round."""
    gk = _cgcs_gk3(crs)
    if gk is not None:
        zone, fe = gk
        if fe > 1e6 and xmax < 1e6:
            return (f"x lacks the zone number {zone}: probably CGCS2000 3° Gauss-Kruger CM {3 * zone}°E without the "
                    f"zone prefix, EPSG:{4534 + (3 * zone - 75) // 3}")
        if fe < 1e6 and xmin // 1e6 == zone and xmax // 1e6 == zone:
            return (f"x starts with the zone number {zone}: probably CGCS2000 3° Gauss-Kruger zone {zone} with the "
                    f"zone prefix, EPSG:{4513 + zone - 25}")
    return _guess_projected(xmin, ymin, xmax, ymax)


def _coerce_fields(gdf, layer, col: _Collector):
    ids = _labels(gdf, layer)
    for name, kind in FIELDS[layer].items():
        if name not in gdf.columns:
            continue
        s = gdf[name]
        if kind == "str":
            gdf[name] = _id_strings(s)
        elif kind == "bool":
            vals = s.map(_to_bool)
            for i in np.flatnonzero((vals == "invalid").to_numpy()):
                col.error(layer, ids[i], f"`{name}` = {s.iloc[i]!r} is not yes/no",
                          f"use true/false, 是/否 or 1/0 in `{name}`", "bad_bool")
            gdf[name] = vals.where(vals != "invalid", None).astype(object)
        elif kind == "int":
            if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
                num = pd.to_numeric(s, errors="coerce").astype(float)
                not_num = pd.Series(False, index=s.index)
            else:
                text = s.astype(object)
                num = pd.to_numeric(text.map(_clean_number), errors="coerce").astype(float)
                not_num = num.isna() & _id_strings(text).notna()
            for i in np.flatnonzero(not_num.to_numpy()):
                col.error(layer, ids[i], f"`{name}` = {s.iloc[i]!r} is not a number",
                          f"write `{name}` as a whole number (e.g. 48)", "not_a_number")
            neg = (num < 0).fillna(False)
            for i in np.flatnonzero(neg.to_numpy()):
                col.error(layer, ids[i], f"`{name}` = {num.iloc[i]:g} is negative",
                          f"counts must be ≥ 0; correct `{name}`", "negative_count")
            frac = (num.notna()) & (np.abs(num - np.round(num)) > 1e-9)
            for i in np.flatnonzero(frac.fillna(False).to_numpy()):
                col.error(layer, ids[i], f"`{name}` = {num.iloc[i]:g} is not a whole number",
                          f"counts are whole numbers; round `{name}`", "fractional_count")
            bad = (neg | frac.fillna(False) | not_num).to_numpy(dtype=bool)
            gdf[name] = num.where(~bad).astype("Float64")
            if bad.any():
                gdf[_BAD + name] = bad
    return gdf


#: prefix of the temporary columns flagging values that failed coercion (dropped before returning)
_BAD = "__bad__"

_FULLWIDTH = str.maketrans("０１２３４５６７８９．－＋", "0123456789.-+")


#: a count followed by its unit word, as spreadsheets hold them: ``350户``, ``1200人``, ``6层``
_COUNT_WITH_UNIT = re.compile(r"([+\-]?[0-9]+(?:\.[0-9]+)?)(?:户|人|口|层|套|名|个|栋|幢|F|f)")


def _clean_number(v):
    """Numbers as people type them: blanks, thousands separators, full-width digits, a unit word after
    the number (``350户``, ``1,200人``)."""
    if isinstance(v, str):
        t = v.strip().translate(_FULLWIDTH).replace(",", "").replace("，", "").replace(" ", "").replace("\u3000", "")
        m = _COUNT_WITH_UNIT.fullmatch(t)
        return m.group(1) if m else (t if t else None)
    return v


def _estimate_counts(b, col: _Collector, opts: LoadOptions):
    """Fill missing households/persons, flagged, never mixed silently with counted values."""
    ids = _labels(b, "buildings")
    n = len(b)
    hh = b["households"] if "households" in b else pd.Series([pd.NA] * n, index=b.index, dtype="Float64")
    pp = b["persons"] if "persons" in b else pd.Series([pd.NA] * n, index=b.index, dtype="Float64")
    floors = b["floors"] if "floors" in b else pd.Series([pd.NA] * n, index=b.index, dtype="Float64")
    area = b.geometry.area.to_numpy()
    is_poly = b.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    invalid = {c[len(_BAD):]: b[c].fillna(False).to_numpy(dtype=bool) for c in b.columns if str(c).startswith(_BAD)}
    need_h = hh.isna().to_numpy() & ~invalid.get("households", np.zeros(n, dtype=bool))
    est_h = np.zeros(n, dtype=bool)
    h = hh.to_numpy(dtype=float, na_value=np.nan)
    f = floors.to_numpy(dtype=float, na_value=np.nan)
    if need_h.any():
        can = need_h & is_poly & ~np.isnan(f) & (f > 0)
        h[can] = np.round(area[can] * f[can] / opts.area_per_household_m2)
        est_h[can] = True
        cant = need_h & ~can & np.isnan(pp.to_numpy(dtype=float, na_value=np.nan))
        if cant.any() and "households" not in b:
            known = {ID_FIELD["buildings"], *FIELDS["buildings"], "geometry"}
            other = [str(c) for c in b.columns if c not in known and not str(c).startswith(_BAD)]
            example = other[0] if other else "户数列"
            col.error("buildings", None, "has no households column (户数) / 没有户数列"
                      + (f"; columns not recognised: {', '.join(other[:15])}" if other else ""),
                      f"name the column 户数 (or households), or map it by hand: --map {example}=households "
                      f"(column_map={{'{example}': 'households'}}); persons the same way (--map …=persons)",
                      "no_count_column")
        for i in np.flatnonzero(cant):
            col.error("buildings", ids[i], "has no households and nothing to estimate them from",
                      "give `households` (户数), or `floors` (楼层) with a footprint polygon, or `persons`",
                      "missing_households")
        only_p = need_h & ~can & ~np.isnan(pp.to_numpy(dtype=float, na_value=np.nan))
        h[only_p] = np.round(pp.to_numpy(dtype=float, na_value=np.nan)[only_p] / opts.persons_per_household)
        est_h[only_p] = True
        if est_h.any():
            col.warn("buildings", None, f"households estimated for {int(est_h.sum())} building(s) "
                     f"(footprint × floors ÷ {opts.area_per_household_m2:g} m², or persons ÷ "
                     f"{opts.persons_per_household:g}); they are flagged `households_estimated`",
                     "enter counted households where you have them", "households_estimated")
    p = pp.to_numpy(dtype=float, na_value=np.nan)
    both = ~est_h & ~np.isnan(h) & ~np.isnan(p) & (h > 0) & (p > 0)
    if both.sum() >= 5 and (h[both] > p[both]).mean() > 0.5:
        col.warn("buildings", None, f"households exceed persons in {int((h[both] > p[both]).sum())} of "
                 f"{int(both.sum())} buildings: the two columns look swapped / 户数大于人口，两列可能填反",
                 "check which column holds 户数 (households) and which 人口 (persons); map them by hand if the "
                 "headers are swapped (--map 人口=households --map 户数=persons)", "counts_swapped")
    est_p = np.isnan(p) & ~np.isnan(h) & ~invalid.get("persons", np.zeros(n, dtype=bool))
    if est_p.any():
        p[est_p] = np.round(h[est_p] * opts.persons_per_household)
        col.warn("buildings", None, f"persons estimated for {int(est_p.sum())} building(s) as households × "
                 f"{opts.persons_per_household:g}; flagged `persons_estimated`",
                 "enter counted persons (人口) where you have them", "persons_estimated")
    b["households"] = np.nan_to_num(h, nan=0).astype(np.int64)
    b["persons"] = np.nan_to_num(p, nan=0).astype(np.int64)
    b["households_estimated"] = est_h
    b["persons_estimated"] = est_p
    if "party_members" in b:
        b["party_members"] = b["party_members"].fillna(0).astype(np.int64)
    else:
        b["party_members"] = np.zeros(n, dtype=np.int64)
    if "central_households" not in b:  # 党员中心户 per building: unknown unless given (gridplan.chain)
        b["central_households"] = pd.array([pd.NA] * n, dtype="Int64")
    for c in ("floors", "units", "central_households"):
        if c in b:
            b[c] = b[c].astype("Int64")
    return b.drop(columns=[c for c in b.columns if str(c).startswith(_BAD)])


def _rep_points(gdf):
    return gpd.GeoSeries(shapely.point_on_surface(np.asarray(gdf.geometry.array, dtype=object)),
                         index=gdf.index, crs=gdf.crs)


def _join_by_location(points: gpd.GeoSeries, polys: gpd.GeoDataFrame, id_name: str) -> pd.Series:
    """The id of the polygon containing each point (boundary included; the first polygon when they overlap)."""
    out = pd.Series([None] * len(points), index=points.index, dtype=object)
    if len(points) == 0 or len(polys) == 0:
        return out
    tree = shapely.STRtree(np.asarray(polys.geometry.array, dtype=object))
    pi, gi = tree.query(np.asarray(points.array, dtype=object), predicate="intersects")
    if len(pi):
        first = pd.Series(gi, index=pi).groupby(level=0).min()
        out.iloc[first.index.to_numpy()] = polys[id_name].to_numpy()[first.to_numpy()]
    return out


def _lookup(frame, key: str, value: str) -> pd.Series:
    """``frame[value]`` indexed by ``frame[key]`` (the first row of a duplicated key wins)."""
    f = frame[frame[key].notna()].drop_duplicates(key)
    return pd.Series(f[value].to_numpy(), index=f[key].to_numpy())


def _resolve_refs(child, parent, child_layer, parent_layer, ref, col: _Collector, *, severity="error"):
    """Map a reference column that holds parent *names* to parent ids; report dangling references."""
    pid = ID_FIELD[parent_layer]
    ids = set(parent[pid].dropna())
    vals = child[ref]
    have = vals.notna()
    unknown = have & ~vals.isin(ids)
    if unknown.any() and "name" in parent:
        by_name = _lookup(parent, "name", pid)
        as_name = vals[unknown].map(by_name)
        mapped = as_name.notna()
        if mapped.any():
            child.loc[as_name[mapped].index, ref] = as_name[mapped]
            col.warn(child_layer, None, f"`{ref}` held {parent_layer} names for {int(mapped.sum())} feature(s); "
                     "they were matched to ids by name", f"store {parent_layer} ids in `{ref}`", "ref_by_name")
        unknown = child[ref].notna() & ~child[ref].isin(ids)
    cid = ID_FIELD[child_layer]
    for i in np.flatnonzero(unknown.to_numpy()):
        col.add(severity, child_layer, child[cid].iloc[i],
                f"`{ref}` = {child[ref].iloc[i]!r} is not in the {parent_layer} layer (指向不存在的要素)",
                f"correct `{ref}`, add that feature to {parent_layer}, or leave `{ref}` empty to join by location",
                "dangling_ref")
    if severity == "warning" and unknown.any():
        child.loc[unknown, ref] = None
    return child


def _check_layers_apart(layers, col: _Collector, *, margin_m: float = 2000.0) -> bool:
    """Layers that lie far from the buildings have a wrong CRS. Returns True when all are together."""
    b = layers["buildings"]
    if len(b) == 0:
        return True
    bb = shapely.box(*b.total_bounds).buffer(margin_m)
    apart = []
    others = [n for n in layers if n != "buildings" and len(layers[n])]
    for name in others:
        box = shapely.box(*layers[name].total_bounds)
        if not bb.intersects(box):
            apart.append((name, bb.distance(box) + margin_m))
    if not apart:
        return True
    if len(others) >= 2 and len(apart) == len(others):
        km = min(d for _, d in apart) / 1000
        col.error("buildings", None, f"lies {km:.0f} km away from every other layer "
                  f"({', '.join(n for n, _ in apart)}): its CRS is probably wrong / 坐标系可能有误",
                  "declare the CRS the buildings were really saved in (.prj / GeoPackage CRS), "
                  "the same data as the other layers", "layers_apart")
    else:
        for name, d in apart:
            col.error(name, None, f"lies {d / 1000:.0f} km away from the buildings: one of the two has a wrong CRS "
                      "/ 图层相距过远，坐标系可能有误",
                      f"declare the CRS {name} was really saved in (.prj / GeoPackage CRS)", "layers_apart")
    return False


def _pairs(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``i < j`` of geometries whose bounding boxes intersect."""
    if len(geoms) < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    i, j = shapely.STRtree(geoms).query(geoms)
    keep = i < j
    return i[keep], j[keep]


def _check_duplicate_footprints(b, col: _Collector, *, min_iou: float = 0.9):
    """Two buildings drawn on the same footprint (two surveys merged, a feature pasted twice) would count
    their households twice: an error for polygons that cover each other to ``min_iou`` (area of the
    intersection over the union), a warning for points at the same spot (addresses geocoded alike)."""
    geoms = np.asarray(b.geometry.array, dtype=object)
    if len(geoms) < 2:
        return
    ids = _labels(b, "buildings")
    i, j = _pairs(geoms)
    if not len(i):
        return
    ti, tj = shapely.get_type_id(geoms[i]), shapely.get_type_id(geoms[j])
    poly = np.isin(ti, (3, 6)) & np.isin(tj, (3, 6))
    pts = (ti == 0) & (tj == 0)
    same_pt = pts & shapely.equals_exact(geoms[i], geoms[j], tolerance=0.01)
    area = shapely.area(geoms)
    ai, aj = area[i], area[j]
    # footprints of nearly the same size whose centroids nearly coincide: the only candidates for a high overlap
    near = poly & (np.minimum(ai, aj) >= min_iou * np.maximum(ai, aj)) & (np.maximum(ai, aj) > 0)
    cand = np.flatnonzero(near)
    cand = cand[shapely.distance(shapely.centroid(geoms[i[cand]]), shapely.centroid(geoms[j[cand]]))
                <= np.sqrt(np.maximum(ai[cand], aj[cand])) * (1 - min_iou)]
    inter = shapely.area(shapely.intersection(geoms[i[cand]], geoms[j[cand]]))
    iou = inter / np.maximum(ai[cand] + aj[cand] - inter, 1e-9)
    for k in cand[iou >= min_iou]:
        col.error("buildings", ids[j[k]], f"has the same footprint as building {ids[i[k]]} (a duplicate: its "
                  "households would be counted twice) / 与楼栋重复", f"delete one of {ids[i[k]]} and {ids[j[k]]}, "
                  "or merge them into one building with the sum of their counts", "duplicate_geometry")
    for k in np.flatnonzero(same_pt):
        col.warn("buildings", ids[j[k]], f"stands on the same point as building {ids[i[k]]} / 与楼栋位置相同",
                 f"check that {ids[i[k]]} and {ids[j[k]]} are two buildings (not one entered twice); draw their "
                 "footprints where you can", "duplicate_point")


def _check_overlaps(polys, layer: str, col: _Collector, *, min_share: float = 0.01):
    """Communities (or compounds) drawn over each other. A building in the overlap could belong to either,
    and grids that tile each community would overlap: for communities an overlap above ``min_share`` of
    the smaller polygon is an error, a thinner sliver (two digitisations of one boundary) a warning and
    is cut from the later community, so that grids tile without overlaps; for compounds a warning.
    Returns the layer (a copy when a sliver was cut)."""
    geoms = np.asarray(polys.geometry.array, dtype=object)
    ids = _labels(polys, layer)
    i, j = _pairs(geoms)
    if not len(i):
        return polys
    cut = geoms.copy()
    hit = shapely.intersects(geoms[i], geoms[j]) & ~shapely.touches(geoms[i], geoms[j])
    i, j = i[hit], j[hit]
    inter = shapely.area(shapely.intersection(geoms[i], geoms[j]))
    smaller = np.minimum(shapely.area(geoms[i]), shapely.area(geoms[j]))
    what = "community" if layer == "communities" else "compound"
    for k in np.flatnonzero(inter > 1.0):
        share = inter[k] / max(smaller[k], 1e-9)
        big = layer == "communities" and share > min_share
        msg = (f"overlaps {what} {ids[i[k]]} by {inter[k]:,.0f} m² ({share:.0%} of the smaller one) / "
               f"{'社区' if layer == 'communities' else '小区'}边界重叠")
        fix = (f"redraw the common boundary of {ids[i[k]]} and {ids[j[k]]} so they do not overlap "
               "(e.g. QGIS: Difference, or snap both to one line)")
        if big:
            col.error(layer, ids[j[k]], msg + "; grids of the two would overlap", fix, "overlapping_polygons")
            continue
        if layer == "communities":
            rest = shapely.difference(cut[j[k]], geoms[i[k]])
            parts = [g for g in getattr(rest, "geoms", [rest]) if g.geom_type in ("Polygon", "MultiPolygon")]
            if parts:
                cut[j[k]] = shapely.union_all(parts)
        col.warn(layer, ids[j[k]], msg + f"; the overlap (and a building in it) was given to {ids[i[k]]}", fix,
                 "overlapping_polygons")
    if any(a is not b for a, b in zip(cut, geoms)):
        polys = polys.set_geometry(gpd.GeoSeries(cut, index=polys.index, crs=polys.crs))
    return polys


def _check_column_map(raw_columns: dict[str, list], column_map, col: _Collector):
    """Hand mappings that point at unknown fields or at columns no layer has."""
    if not column_map:
        return
    per_layer = any(k in LAYERS for k in column_map)
    if per_layer:
        for layer, m in column_map.items():
            if layer not in LAYERS:
                col.error("dataset", None, f"column_map names an unknown layer {layer!r}",
                          f"use the layer names {', '.join(LAYERS)}", "bad_column_map")
                continue
            canon = [ID_FIELD[layer], *FIELDS[layer]]
            for src, dst in (m or {}).items():
                if dst not in canon:
                    col.error(layer, None, f"column_map maps {src!r} to {dst!r}, which is not a {layer} field",
                              f"map to one of {', '.join(canon)}", "bad_column_map")
                elif layer in raw_columns and src not in raw_columns[layer]:
                    col.warn(layer, None, f"column_map names a column {src!r} the layer does not have",
                             f"the columns are {', '.join(map(str, raw_columns[layer][:30]))}", "column_map_unused")
    else:
        every = {f for lay in LAYERS for f in (ID_FIELD[lay], *FIELDS[lay])}
        for src, dst in column_map.items():
            if dst not in every:
                col.error("dataset", None, f"column_map maps {src!r} to {dst!r}, which is not a field of any layer",
                          f"map to one of {', '.join(sorted(every))}", "bad_column_map")
            elif raw_columns and not any(src in c for c in raw_columns.values()):
                col.warn("dataset", None, f"column_map names a column {src!r} that no layer has",
                         "check the spelling of the column header", "column_map_unused")


# --------------------------------------------------------------------------- the pipeline
def normalise(raw: dict[str, gpd.GeoDataFrame], *, formats: dict[str, str] | None = None,
              options: LoadOptions | None = None, preproblems: list[Problem] | None = None):
    """Canonical layers in a metric CRS, and every problem found.

    Parameters
    ----------
    raw
        Layers as read, by canonical layer name.
    formats
        The file format each layer came from (``geojson``, ``gpkg``, ``shp``, ``fgb``, ``memory``),
        used for the CRS default.
    options
        :class:`LoadOptions`.
    preproblems
        Problems found while reading the files, reported together with these.

    Returns
    -------
    layers, problems, source_crs, metric_crs
        ``layers`` is ``None`` when an error prevents building them.
    """
    opts = options or LoadOptions()
    formats = formats or {}
    col = _Collector()
    for p in preproblems or []:
        col.problems.append(p)
    offset = None
    if opts.coord_system and str(opts.coord_system).lower() not in ("wgs84", "epsg:4326", "4326"):
        try:
            offset = normalise_offset_system(opts.coord_system)
        except ValueError as e:
            col.error("dataset", None, str(e), "use coord_system='gcj02' or 'bd09', or leave it empty for WGS 84",
                      "bad_coord_system")
    metric = None
    if opts.metric_crs is not None:
        try:
            metric = require_metric(opts.metric_crs, "metric_crs")
        except Exception as e:  # noqa: BLE001 - pyproj raises its own errors for unknown CRSs
            col.error("dataset", None, f"metric_crs {opts.metric_crs!r} cannot be used ({e})",
                      "give a projected metre CRS such as EPSG:4544, or leave metric_crs empty", "bad_metric_crs")

    assume_crs = None
    if opts.assume_crs is not None:
        try:
            assume_crs = CRS.from_user_input(opts.assume_crs)
        except Exception as e:  # noqa: BLE001 - pyproj's own error types
            col.error("dataset", None, f"assume_crs {opts.assume_crs!r} is not a CRS ({e})",
                      "give an EPSG code such as 'EPSG:4544'", "bad_assume_crs")
            return None, col.finish(), None, None

    raw_columns = {n: [c for c in g.columns if c != g.geometry.name] for n, g in raw.items()
                   if isinstance(g, gpd.GeoDataFrame) and g._geometry_column_name in g.columns}
    _check_column_map(raw_columns, opts.column_map, col)

    if "buildings" not in raw:
        fatal = {"unreadable", "no_such_path", "no_layers", "file_too_big", "missing_sidecar", "unsupported_format"}
        if not any(p.layer == "buildings" or (p.layer == "dataset" and p.code in fatal) for p in col.problems):
            col.error("buildings", None, "the required layer is missing / 缺少楼栋图层",
                      "add a buildings layer (buildings.geojson / .gpkg layer 'buildings' / 楼栋)", "missing_layer")
        return None, col.finish(), None, None

    layers: dict[str, gpd.GeoDataFrame] = {}
    source_crs = None
    crs_ok = True
    for name in LAYERS:
        if name not in raw:
            continue
        gdf = raw[name]
        if len(gdf) == 0:
            if name == "buildings":
                col.error(name, None, "the layer is empty / 图层为空", "add building features", "empty_layer")
            else:
                col.warn(name, None, "the layer is empty and is ignored", f"add {name} features or remove the layer",
                         "empty_layer")
            continue
        gdf = gdf.copy()
        if gdf.geometry.name != "geometry":
            gdf = gdf.rename_geometry("geometry")
        shadowed: list = []
        gdf, applied = rename_columns(gdf, name, opts.column_map, shadowed=shadowed)
        for c, target in shadowed:
            if c not in applied:
                col.warn(name, None, f"columns `{target}` and `{c}` both give {target}; `{c}` is ignored",
                         "delete or rename one of them, or map the one to use with column_map", "ambiguous_field")
        gdf = gdf.reset_index(drop=True)
        gdf, ok = _check_crs(gdf, name, col, formats.get(name, "memory"), assume_crs)
        crs_ok &= ok
        if name == "buildings" and ok:
            source_crs = CRS.from_user_input(gdf.crs)
        gdf = _check_ids(gdf, name, col)
        gdf = _coerce_fields(gdf, name, col)
        layers[name] = gdf
    if "buildings" not in layers or not crs_ok:
        return None, col.finish(), source_crs, None

    # to WGS 84 (from web-map offsets), then to the metric CRS
    if offset is not None:
        projected = [n for n, g in layers.items() if not CRS.from_user_input(g.crs).is_geographic]
        for name in projected:
            col.error(name, None, f"declared as {offset.upper()} but its CRS is projected ({layers[name].crs.name})",
                      "GCJ-02/BD-09 data is longitude/latitude; declare coord_system only for such data",
                      "offset_on_projected")
        if projected:
            return None, col.finish(), source_crs, None
        for name, gdf in layers.items():
            g = np.asarray(gdf.to_crs(4326).geometry.array, dtype=object)
            layers[name] = gdf.set_geometry(gpd.GeoSeries(to_wgs84(g, offset), index=gdf.index, crs=4326))
        source_crs = CRS.from_epsg(4326)
    if metric is None:
        if opts.metric_crs is not None:
            return None, col.finish(), source_crs, None
        b = layers["buildings"]
        g = np.asarray(b.geometry.array, dtype=object)
        g = g[~(shapely.is_missing(g) | shapely.is_empty(g))]
        if len(g) == 0:
            col.error("buildings", None, "no building has a geometry", "draw the buildings", "no_geometry")
            return None, col.finish(), source_crs, None
        bounds = gpd.GeoSeries(g, crs=b.crs).to_crs(4326).total_bounds
        if not np.isfinite(bounds).all():
            col.error("buildings", None, f"the coordinates cannot be turned into longitude/latitude from the declared "
                      f"{b.crs.name} / 坐标无法换算为经纬度", "check the coordinates and declare the CRS the data was "
                      "really saved in", "unprojectable")
            return None, col.finish(), source_crs, None
        metric = metric_crs_for((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    for name in list(layers):
        _check_datum_shift(layers[name].crs, metric, name, col)
        projected = layers[name].to_crs(metric)
        xy = shapely.get_coordinates(np.asarray(projected.geometry.array, dtype=object))
        if len(xy) and not np.isfinite(xy).all():
            col.error(name, None, f"some coordinates cannot be projected to {metric.name} (EPSG:{metric.to_epsg()})",
                      "check the coordinates and the declared CRS of the layer", "unprojectable")
            return None, col.finish(), source_crs, metric
        layers[name] = _check_geometry(projected, name, col)

    if not _check_layers_apart(layers, col):
        return None, col.finish(), source_crs, metric
    _check_duplicate_footprints(layers["buildings"], col)
    for name in ("communities", "compounds"):
        if name in layers:
            layers[name] = _check_overlaps(layers[name], name, col)
    _finish_layers(layers, col, opts)
    problems = col.finish()
    if any(p.severity == "error" for p in problems):
        return None, problems, source_crs, metric
    for name, gdf in layers.items():
        first = [c for c in (*FIELDS[name], *_DERIVED.get(name, ())) if c in gdf.columns]
        rest = [c for c in gdf.columns if c not in first and c not in (ID_FIELD[name], "geometry")]
        gdf = gdf[[ID_FIELD[name], *first, *rest, "geometry"]]
        gdf = gdf.set_index(ID_FIELD[name])
        gdf.index = gdf.index.astype(str)
        gdf.index.name = ID_FIELD[name]
        layers[name] = gdf
    return layers, problems, source_crs, metric


def _finish_layers(layers, col: _Collector, opts: LoadOptions):
    b = layers["buildings"]
    b = _estimate_counts(b, col, opts)

    comm = layers.get("communities")
    comp = layers.get("compounds")
    if comm is not None:
        for c in ("name", "street", "street_id"):
            if c not in comm:
                comm[c] = None
        if comm["name"].isna().any():
            comm["name"] = comm["name"].fillna(comm["community_id"])
        if comm["street"].isna().all() and comm["street_id"].notna().any():
            comm["street"] = comm["street_id"]
    if comp is not None:
        for c in FIELDS["compounds"]:
            if c not in comp:
                comp[c] = None
        comp["name"] = comp["name"].fillna(comp["compound_id"])
        if comm is not None:
            comp = _resolve_refs(comp, comm, "compounds", "communities", "community_id", col)
            miss = comp["community_id"].isna()
            if miss.any():
                comp.loc[miss, "community_id"] = _largest_overlap(comp[miss], comm)
                for i in np.flatnonzero(comp["community_id"].isna().to_numpy()):
                    col.error("compounds", comp["compound_id"].iloc[i], "lies outside every community / 不在任何社区内",
                              "move the compound inside a community polygon or fix the communities layer",
                              "outside_communities")
        # 三无 (no property management, no competent department, no owners' committee)
        flags = comp[["has_property_mgmt", "has_competent_dept", "has_owners_committee"]]
        known = flags.notna().all(axis=1)
        comp["sanwu"] = (known & ~flags.fillna(False).astype(bool).any(axis=1)).astype(bool)
        layers["compounds"] = comp

    for c in ("compound_id", "community_id", "name", "building_no"):
        if c not in b:
            b[c] = None
    pts = _rep_points(b)
    if comp is not None:
        b = _resolve_refs(b, comp, "buildings", "compounds", "compound_id", col)
        miss = b["compound_id"].isna()
        if miss.any():
            b.loc[miss, "compound_id"] = _join_by_location(pts[miss], comp, "compound_id")
    if comm is not None:
        b = _resolve_refs(b, comm, "buildings", "communities", "community_id", col)
        miss = b["community_id"].isna()
        if miss.any():
            # a building in a compound inherits the compound's community, else it is joined by location
            if comp is not None:
                via = b.loc[miss, "compound_id"].map(_lookup(comp, "compound_id", "community_id"))
                b.loc[via.dropna().index, "community_id"] = via.dropna()
                miss = b["community_id"].isna()
            if miss.any():
                b.loc[miss, "community_id"] = _join_by_location(pts[miss], comm, "community_id")
                miss = b["community_id"].isna()
                if miss.any():  # a footprint straddling a boundary: the community it overlaps most
                    b.loc[miss, "community_id"] = _largest_overlap(b[miss], comm)
        # a building must touch a community polygon, whatever its community_id says
        geoms = np.asarray(b.geometry.array, dtype=object)
        inside = np.zeros(len(b), dtype=bool)
        if len(comm):
            tree = shapely.STRtree(np.asarray(comm.geometry.array, dtype=object))
            hit, _ = tree.query(geoms, predicate="intersects")
            inside[np.unique(hit)] = True
        for i in np.flatnonzero(~inside | b["community_id"].isna().to_numpy()):
            col.error("buildings", b["building_id"].iloc[i], "lies outside every community / 不在任何社区内",
                      "move the building inside a community polygon, extend the community, or delete the building",
                      "outside_communities")
        # a building whose community_id names another community than the one it stands in
        where = _join_by_location(pts, comm, "community_id")
        other = (inside & where.notna().to_numpy() & b["community_id"].notna().to_numpy()
                 & (where.to_numpy() != b["community_id"].to_numpy()))
        for i in np.flatnonzero(other):
            col.warn("buildings", b["building_id"].iloc[i], f"has `community_id` {b['community_id'].iloc[i]!r} "
                     f"(given, or from its compound) but stands in community {where.iloc[i]!r} / 社区归属与位置不符",
                     "check `community_id` of the building or its compound; grids follow the id, their polygons the "
                     "community boundary", "community_mismatch")
    else:
        if comp is not None and b["community_id"].isna().any():
            miss = b["community_id"].isna()
            via = b.loc[miss, "compound_id"].map(_lookup(comp, "compound_id", "community_id")).dropna()
            b.loc[via.index, "community_id"] = via
        if b["community_id"].isna().all():
            b["community_id"] = "000000000000"
            col.warn("communities", None, "no communities layer and no `community_id`: all buildings form one community",
                     "add a communities layer (社区) to nest grids in communities", "no_communities")
        else:
            for i in np.flatnonzero(b["community_id"].isna().to_numpy()):
                col.error("buildings", b["building_id"].iloc[i], "has no `community_id` and there is no communities layer",
                          "fill `community_id` or add a communities layer", "missing_community")
        layers["communities"] = _derive_communities(b, col)
    layers["buildings"] = b

    r = layers.get("roads")
    if r is not None:
        if "walkable" not in r:
            r["walkable"] = True
        r["walkable"] = r["walkable"].map(lambda v: True if v is None else bool(v)).astype(bool)
        for c in ("kind", "name"):
            if c not in r:
                r[c] = None
        layers["roads"] = r
    s = layers.get("stations")
    if s is not None:
        if "kind" not in s:
            col.error("stations", None, "has no `kind` column",
                      "add `kind` (类型): red_station 红色驿站, grid_station 郁心站, mobile 流动郁心站, "
                      "service_center 党群服务中心", "missing_field")
        else:
            kinds = s["kind"].map(lambda v: None if v is None else STATION_KIND_ALIASES.get(
                str(v).strip().lower(), STATION_KIND_ALIASES.get(str(v).strip())))
            for i in np.flatnonzero(kinds.isna().to_numpy()):
                col.error("stations", s["station_id"].iloc[i], f"unknown station kind {s['kind'].iloc[i]!r}",
                          "use red_station (红色驿站), grid_station (郁心站), mobile (流动郁心站) or "
                          "service_center (党群服务中心)", "bad_kind")
            s["kind"] = kinds.astype(object)
        for c in ("name", "community_id"):
            if c not in s:
                s[c] = None
        s["name"] = s["name"].fillna(s["station_id"])
        if layers.get("communities") is not None and s["community_id"].notna().any():
            s = _resolve_refs(s, layers["communities"], "stations", "communities", "community_id", col)
        layers["stations"] = s


def _largest_overlap(polys: gpd.GeoDataFrame, comm: gpd.GeoDataFrame) -> list:
    """The ``community_id`` of the community each polygon overlaps most (``None`` when it touches none)."""
    out: list[str | None] = []
    tree = shapely.STRtree(np.asarray(comm.geometry.array, dtype=object))
    cg = np.asarray(comm.geometry.array, dtype=object)
    cids = comm["community_id"].to_numpy()
    for g in polys.geometry.array:
        hits = tree.query(g, predicate="intersects")
        if len(hits) == 0:
            out.append(None)
            continue
        areas = shapely.area(shapely.intersection(cg[hits], g))
        out.append(cids[hits[int(np.argmax(areas))]] if areas.max() > 0 else cids[hits.min()])
    return out


def _derive_communities(b, col: _Collector) -> gpd.GeoDataFrame:
    """Community polygons drawn around their buildings when no communities layer is given."""
    rows = []
    for cid, grp in b.groupby("community_id", sort=True):
        hull = shapely.concave_hull(shapely.union_all(np.asarray(grp.geometry.buffer(15).array)), ratio=0.3)
        rows.append({"community_id": cid, "name": cid, "street": None, "street_id": None, "geometry": hull.buffer(30)})
    g = gpd.GeoDataFrame(rows, geometry="geometry", crs=b.crs)
    # remove overlaps: earlier communities keep the overlap
    taken = None
    geoms = []
    for geom in g.geometry:
        geoms.append(geom if taken is None else geom.difference(taken))
        taken = geom if taken is None else taken.union(geom)
    g["geometry"] = geoms
    col.warn("communities", None, f"boundaries of {len(g)} communit(ies) were drawn around their buildings",
             "add a communities layer with the official boundaries", "communities_derived")
    return g
