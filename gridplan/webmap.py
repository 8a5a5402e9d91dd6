"""The interactive web map (folium), shared by the app, notebooks and the HTML export.

:func:`make_map` draws a dataset and, optionally, a plan's grid layer, coverage results,
isochrone bands, stations and suggested sites as toggleable layers, with Chinese (or English)
tooltips and a legend. It never loads anything from the internet: every script and stylesheet
points at the local copies of :mod:`gridplan.assets` (or is inlined for a standalone file), and
there are no background tiles unless the user configures a tile URL.

Each kind of feature is one ``GeoJson`` layer styled in JavaScript from a per-feature property,
so the ~9,000 buildings of the sample city build in well under a second. Every feature carries a
``layer`` property (``building``, ``compound``, ``grid``, ``community``, ``station``,
``suggested``) and its ids (``building_id``, ``grid_id``, ``compound_id``, …), which is what
``st_folium`` returns in ``last_active_drawing`` when the user clicks it.

Everything that comes from user files is escaped with :func:`html.escape` before it reaches HTML.
"""
from __future__ import annotations

import html
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import assets
from .model import STATION_KINDS, Dataset

log = logging.getLogger(__name__)

#: distinct fill colours for grids (adjacent grids never share one when the palette allows)
PALETTE: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
    "#ff9da7", "#86bcb6", "#a0cbe8", "#ffbe7d", "#8cd17d", "#d4a6c8", "#bab0ac", "#d37295",
)

STATION_STYLE: dict[str, dict[str, Any]] = {
    "red_station": {"color": "#8b0000", "fillColor": "#e41a1c", "radius": 7},
    "grid_station": {"color": "#08306b", "fillColor": "#377eb8", "radius": 6},
    "mobile": {"color": "#3f007d", "fillColor": "#984ea3", "radius": 5},
    "service_center": {"color": "#7f2704", "fillColor": "#ff7f00", "radius": 8},
}
OTHER_STATION = {"color": "#333333", "fillColor": "#999999", "radius": 5}

STATION_KINDS_EN: dict[str, str] = {
    "red_station": "Red station", "grid_station": "Grid service point", "mobile": "Mobile service point",
    "service_center": "Party-and-people service centre",
}

BAND_COLORS: tuple[str, ...] = ("#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fdae61")
SANWU_COLOR = "#d95f0e"
NONCOMPLIANT_COLOR = "#d7191c"
UNCOVERED_COLOR = "#e31a1c"
PARTY_COLOR = "#b2182b"

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "communities": "社区", "compounds": "小区", "buildings": "楼栋（按网格着色）", "grids": "网格边界",
        "grid_labels": "网格编号与户数", "isochrones": "步行圈", "uncovered": "未覆盖楼栋", "suggested": "建议新增站点",
        "community": "社区", "street": "街道", "compound": "小区", "building": "楼栋", "grid": "网格",
        "households": "户数", "persons": "人口", "party_members": "党员", "walk": "步行时间",
        "min": "分钟", "covered": "已覆盖", "not_covered": "未覆盖", "property": "物业公司",
        "party_org": "党组织", "sanwu": "三无小区", "yes": "是", "no": "否", "compliant": "合规",
        "noncompliant": "不合规", "reason": "原因", "station": "站点", "kind": "类型", "gain": "新增覆盖户数",
        "legend": "图例", "hh": "户", "band": "{m}分钟步行圈", "uncovered_b": "未覆盖楼栋",
        "grid_outline": "网格边界", "grid_bad": "不合规网格", "community_outline": "社区边界",
        "compound_outline": "小区", "sanwu_fill": "三无小区", "nearest": "最近站点", "id": "编号",
        "buildings_n": "楼栋数", "none": "无", "basemap": "底图", "party_compound": "设有党组织的小区",
        "roads": "道路", "road_names": "道路名称",
        "suggested_gs": "建议郁心站站址", "mean_walk": "户均步行距离（米）",
    },
    "en": {
        "communities": "Communities", "compounds": "Compounds", "buildings": "Buildings (by grid)",
        "grids": "Grid outlines", "grid_labels": "Grid codes and households", "isochrones": "Walking bands",
        "uncovered": "Uncovered buildings", "suggested": "Suggested new stations",
        "community": "Community", "street": "Street", "compound": "Compound", "building": "Building",
        "grid": "Grid", "households": "Households", "persons": "Persons", "party_members": "Party members",
        "walk": "Walk", "min": "min", "covered": "covered", "not_covered": "not covered",
        "property": "Property company", "party_org": "Party organisation", "sanwu": "'Three-none' compound",
        "yes": "yes", "no": "no", "compliant": "compliant", "noncompliant": "not compliant", "reason": "Reason",
        "station": "Station", "kind": "Kind", "gain": "Households gained", "legend": "Legend", "hh": "hh",
        "band": "{m}-min walk", "uncovered_b": "Uncovered building", "grid_outline": "Grid outline",
        "grid_bad": "Non-compliant grid", "community_outline": "Community boundary",
        "compound_outline": "Compound", "sanwu_fill": "'Three-none' compound", "nearest": "Nearest station",
        "id": "ID", "buildings_n": "Buildings", "none": "none", "basemap": "Basemap",
        "party_compound": "Compound with a party organisation", "roads": "Roads", "road_names": "Road names",
        "suggested_gs": "Suggested grid service points", "mean_walk": "Mean walk per household (m)",
    },
}


def _t(lang: str) -> dict[str, str]:
    if lang not in TEXT:
        raise ValueError(f"unknown language {lang!r}; use 'zh' or 'en'")
    return TEXT[lang]


def station_kind_label(kind: str, lang: str = "zh") -> str:
    """The display name of a station kind in ``lang`` (the kind itself when unknown)."""
    table = STATION_KINDS if lang == "zh" else STATION_KINDS_EN
    return table.get(str(kind), str(kind))


# --------------------------------------------------------------------------- colours
def _grid_adjacency(grids: gpd.GeoDataFrame | None, dataset: Dataset | None, assignment: pd.Series | None,
                    gap_m: float = 1.0, only: np.ndarray | None = None) -> tuple[list[str], set[tuple[str, str]]]:
    """Grid ids and pairs of grids that touch (or, without polygons, whose buildings are near); with
    ``only`` (positions of some of the grids), the pairs of those grids only."""
    if grids is not None and len(grids):
        ids = [str(i) for i in grids.index]
        geoms = grids.geometry.to_numpy()
        tree = shapely.STRtree(geoms)
        at = np.arange(len(geoms)) if only is None else np.asarray(only, dtype=np.int64)
        left, right = tree.query(geoms[at], predicate="dwithin", distance=gap_m)
        left = at[left]
    elif assignment is not None and dataset is not None:
        b = dataset.buildings
        a = assignment.reindex(b.index.astype(str))
        ok = a.notna().to_numpy()
        ids = sorted(pd.unique(a[ok]).tolist())
        pos = {g: i for i, g in enumerate(ids)}
        lab = np.array([pos[g] for g in a[ok]])
        geoms = b.geometry.to_numpy()[ok]
        tree = shapely.STRtree(geoms)
        bl, br = tree.query(geoms, predicate="dwithin", distance=40.0)
        left, right = lab[bl], lab[br]
    else:
        return [], set()
    pairs = {(ids[i], ids[j]) for i, j in zip(left.tolist(), right.tolist()) if i != j}
    return ids, pairs


def grid_colors(grids: gpd.GeoDataFrame | None = None, *, dataset: Dataset | None = None,
                assignment: pd.Series | None = None, palette: Iterable[str] = PALETTE,
                keep: Mapping[str, str] | None = None) -> dict[str, str]:
    """A colour per grid such that touching grids differ (greedy colouring, most neighbours first).

    Give the grid layer (polygons indexed by ``grid_id``), or a dataset and an assignment
    (adjacency then comes from buildings within 40 m of each other). Deterministic.

    ``keep`` (grid id → colour, e.g. the colours of the plan before an edit) keeps those grids'
    colours, so an edit recolours nothing; only grids without one get a colour, unlike their
    neighbours' where the palette allows.
    """
    palette = list(palette)
    index = {c: k for k, c in enumerate(palette)}
    out: dict[str, int] = {}
    only = None
    if grids is not None and len(grids) and keep:
        # the grids that keep their colour need no neighbours: only the others' are looked up (an
        # edit colours one or two grids of a city's hundreds)
        gids = [str(i) for i in grids.index]
        out = {g: index[keep[g]] for g in gids if keep.get(g) in index}
        if len(out) == len(gids):
            return {g: palette[c] for g, c in out.items()}
        only = np.array([k for k, g in enumerate(gids) if g not in out])
    ids, pairs = _grid_adjacency(grids, dataset, assignment, only=only)
    nbrs: dict[str, set[str]] = {g: set() for g in ids}
    for a, b in pairs:
        nbrs[a].add(b)
        nbrs[b].add(a)
    for g in ids:
        colour = (keep or {}).get(g)
        if colour in index:
            out[g] = index[colour]
    use = [0] * len(palette)
    for c in out.values():
        use[c] += 1
    order = sorted((g for g in ids if g not in out), key=lambda g: (-len(nbrs[g]), g))
    for g in order:
        taken = {out[n] for n in nbrs[g] if n in out}
        free = [c for c in range(len(palette)) if c not in taken]
        # least-used free colour spreads the palette; when all are taken, the least-used overall
        c = min(free or range(len(palette)), key=lambda k: (use[k], k))
        out[g] = c
        use[c] += 1
    return {g: palette[c] for g, c in out.items()}


def short_code(grid_id: str, community_id: str | None) -> str:
    """The serial part of a grid code (``510682001001`` + ``03`` → ``03``), or the whole id."""
    g, c = str(grid_id), (str(community_id) if community_id is not None else "")
    if c and g.startswith(c) and len(g) > len(c):
        return g[len(c):]
    return g


# --------------------------------------------------------------------------- values and escaping
_NUM = re.compile(r"(-?\d+\.\d{6})\d+")


def _geojson_geoms(geoms) -> list:
    """GeoJSON geometry dicts with coordinates rounded to 6 decimals (~0.1 m).

    Built from shapely's ragged arrays (no JSON round trip); mixed geometry kinds fall back to
    ``shapely.to_geojson``.
    """
    arr = np.asarray(geoms, dtype=object)
    if len(arr) == 0:
        return []
    try:
        gtype, coords, offsets = shapely.to_ragged_array(arr, include_z=False)
    except (ValueError, NotImplementedError):
        s = ",".join(shapely.to_geojson(arr).tolist())
        return json.loads("[" + _NUM.sub(r"\1", s) + "]")
    c = np.round(coords, 6).tolist()
    o = [x.tolist() for x in offsets]

    def split(items, offs):
        return [items[offs[i]:offs[i + 1]] for i in range(len(offs) - 1)]

    T = shapely.GeometryType
    if gtype == T.POINT:
        return [{"type": "Point", "coordinates": p} for p in c]
    if gtype == T.LINESTRING:
        return [{"type": "LineString", "coordinates": x} for x in split(c, o[0])]
    if gtype == T.POLYGON:
        return [{"type": "Polygon", "coordinates": x} for x in split(split(c, o[0]), o[1])]
    if gtype == T.MULTILINESTRING:
        return [{"type": "MultiLineString", "coordinates": x} for x in split(split(c, o[0]), o[1])]
    if gtype == T.MULTIPOLYGON:
        return [{"type": "MultiPolygon", "coordinates": x} for x in split(split(split(c, o[0]), o[1]), o[2])]
    if gtype == T.MULTIPOINT:
        return [{"type": "MultiPoint", "coordinates": x} for x in split(c, o[0])]
    raise ValueError(f"unexpected geometry type {gtype}")


def _each_once(memo: dict | None, geoms: np.ndarray, fn) -> np.ndarray:
    """``fn(geoms)`` (vectorised, one result per geometry), computed once per geometry object when a
    ``memo`` is given: a plan's grids that an edit left alone are the same objects edit after edit
    (:mod:`gridplan.tessellate` caches them per member set), so only the changed ones are done again."""
    if memo is None:
        return np.asarray(fn(geoms), dtype=object)
    out = np.empty(len(geoms), dtype=object)
    hits = [memo.get(id(x)) for x in geoms]
    todo = []
    for i, (h, x) in enumerate(zip(hits, geoms)):
        if h is not None and h[0] is x:
            out[i] = h[1]
        else:
            todo.append(i)
    if todo:
        new = np.asarray(fn(geoms[todo]), dtype=object)
        out[todo] = new
        if len(memo) > 20_000:
            memo.clear()
        for i, x in zip(todo, new):     # the source object is kept with its result: its id stays its own
            memo[id(geoms[i])] = (geoms[i], x)
    return out


def _in_display(geoms: np.ndarray, crs, simplify_m: float = 0.0, tiles_crs: str = "wgs84") -> np.ndarray:
    """Geometries of ``crs`` simplified by ``simplify_m`` metres (a projected ``crs`` only), in WGS 84
    lon/lat, or GCJ-02 for ``tiles_crs="gcj02"`` (no CRS: taken as lon/lat)."""
    from .crs import from_wgs84, transform_geoms
    if simplify_m and crs is not None and crs.is_projected:
        geoms = shapely.simplify(geoms, simplify_m, preserve_topology=True)
    if not (crs is None or crs.equals(4326)):
        geoms = transform_geoms(geoms, crs, 4326)
    return from_wgs84(geoms, "gcj02") if tiles_crs == "gcj02" else geoms


def _to_wgs84(gdf: gpd.GeoDataFrame, simplify_m: float = 0.0, tiles_crs: str = "wgs84",
              memo: dict | None = None) -> gpd.GeoDataFrame:
    """The drawable rows of a layer (geometry not missing or empty) as :func:`_in_display` gives
    them; with a ``memo``, each geometry once (:func:`_each_once`)."""
    arr = np.asarray(gdf.geometry.array, dtype=object)
    keep = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
    g = gdf if keep.all() else gdf[keep]
    if (g.crs is None or g.crs.equals(4326)) and tiles_crs != "gcj02":
        return g                    # lon/lat already (nothing to simplify in metres)
    out = _each_once(memo, arr[keep], lambda geoms: _in_display(geoms, g.crs, simplify_m, tiles_crs))
    return g.set_geometry(gpd.GeoSeries(out, index=g.index, crs=4326), crs=4326)


def _text(values) -> pd.Series:
    """A Series with text values and a text index: ``values`` itself when it is one already (a plan's
    assignment is: converting 10⁵ values to pandas' string type and back costs milliseconds a rerun)."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if (s.dtype == object and pd.api.types.infer_dtype(s.to_numpy(), skipna=False) == "string"
            and pd.api.types.infer_dtype(s.index, skipna=False) == "string"):
        return s
    return pd.Series(s.astype(str).to_numpy(), index=s.index.astype(str))


def _py(v):
    """A JSON-native scalar (NaN/NA → None, numpy → Python)."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if v != v else float(v)
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def _native(values) -> list:
    """A JSON-native list (ints stay ints, NaN/NA → None)."""
    arr = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_bool_dtype(arr):
        return arr.astype(bool).tolist()
    if pd.api.types.is_integer_dtype(arr) and not arr.isna().any():
        return arr.astype("int64").tolist()
    if pd.api.types.is_numeric_dtype(arr):
        f = arr.astype(float).tolist()
        return [None if v != v else (int(v) if float(v).is_integer() else v) for v in f]
    return [_py(v) for v in arr.astype(object).tolist()]


def _safe(text: str) -> str:
    """Escape for HTML — and braces, since folium compiles some rendered output as Jinja templates."""
    return html.escape(str(text), quote=True).replace("{", "&#123;").replace("}", "&#125;")


def _esc(v) -> str:
    v = _py(v)
    if v is None:
        return "—"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return _safe(str(v))


def _escape_all(values) -> list[str]:
    """The escaped text of each value ("—" when missing), escaping each distinct value once."""
    cache: dict = {}
    out = []
    for v in _native(values):
        if v not in cache:
            cache[v] = _esc(v)
        out.append(cache[v])
    return out


def _col(df: pd.DataFrame, name: str, default=None) -> pd.Series:
    if name in df.columns:
        return df[name]
    return pd.Series([default] * len(df), index=df.index, dtype=object)


def _is_false(x) -> bool:
    x = _py(x)
    if x is None:
        return False
    if isinstance(x, str):
        return x.strip().lower() in ("false", "0", "no", "n", "否", "无", "")
    return not bool(x)


def _truthy(values) -> np.ndarray:
    arr = pd.Series(values)
    if pd.api.types.is_bool_dtype(arr) and not arr.isna().any():
        return arr.to_numpy(dtype=bool)
    return np.array([(_py(v) is not None) and not _is_false(v) for v in values], dtype=bool)


def coverage_table(coverage, *, minutes: float | None = None) -> pd.DataFrame | None:
    """Per-building coverage as a DataFrame indexed by ``building_id`` (str) with a boolean ``covered``.

    ``coverage`` is a :class:`~gridplan.reach.CoverageResult` or any table with ``covered`` or
    ``walk_min`` per building (then covered means ``walk_min <= minutes``, default 15).
    """
    if coverage is None:
        return None
    cov = coverage.buildings if hasattr(coverage, "buildings") else coverage
    cov = pd.DataFrame(cov).copy()
    if "building_id" in cov.columns:
        cov = cov.set_index("building_id")
    cov.index = cov.index.astype(str)
    if "covered" in cov.columns:
        cov["covered"] = _truthy(cov["covered"])
    elif "walk_min" in cov.columns:
        cov["covered"] = cov["walk_min"].astype(float) <= (minutes or 15)
    else:
        raise ValueError("coverage needs a 'covered' or 'walk_min' column per building")
    return cov


def sanwu_mask(compounds: gpd.GeoDataFrame | None) -> pd.Series:
    """三无小区: no property management, no competent department and no owners' committee."""
    flags = ["has_property_mgmt", "has_competent_dept", "has_owners_committee"]
    if compounds is None:
        return pd.Series(dtype=bool)
    if not all(f in compounds.columns for f in flags):
        return pd.Series(False, index=compounds.index)
    m = np.ones(len(compounds), dtype=bool)
    for f in flags:
        m &= compounds[f].map(_is_false).to_numpy(dtype=bool)
    return pd.Series(m, index=compounds.index)


def _compliant(grids: pd.DataFrame) -> np.ndarray:
    if "compliant" not in grids.columns:
        return np.ones(len(grids), dtype=bool)
    return np.array([True if _py(v) is None else not _is_false(v) for v in grids["compliant"]], dtype=bool)


def _feature_collection(gdf4326, props: dict[str, list]) -> dict:
    """A FeatureCollection from geometries (a layer in lon/lat, or its geometries) and JSON-native
    property columns."""
    geoms = _geojson_geoms(gdf4326.geometry.to_numpy() if isinstance(gdf4326, (gpd.GeoDataFrame, gpd.GeoSeries))
                           else gdf4326)
    keys = list(props)
    feats = [{"type": "Feature", "geometry": geom, "properties": dict(zip(keys, row))}
             for geom, row in zip(geoms, zip(*(props[k] for k in keys)))]
    return {"type": "FeatureCollection", "features": feats}


def _js(obj) -> str:
    """JSON safe to embed inside a <script> element."""
    return (json.dumps(obj, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


# --------------------------------------------------------------------------- folium elements
_TEMPLATES: dict[str, Any] = {}


def _tmpl(source: str):
    """A folium Template compiled once per source text (compiling costs milliseconds per element,
    and the app builds the plan's elements on every rerun)."""
    t = _TEMPLATES.get(source)
    if t is None:
        from folium.template import Template
        t = _TEMPLATES[source] = Template(source)
    return t


def _raw_render(self, **kwargs):
    """MacroElement.render without folium's re-compilation of the rendered script as a Jinja template
    (slow for megabytes of GeoJSON, and it would evaluate ``{{ … }}`` found in user data)."""
    from branca.element import Element
    from folium.elements import ElementAddToElement

    class _Raw(Element):
        def __init__(self, text):
            super().__init__()
            self._text = text

        def render(self, **kw):
            return self._text

    if getattr(self, "show", False) and hasattr(self, "layer_name"):
        self.add_child(ElementAddToElement(element_name=self.get_name(), element_parent_name=self._parent.get_name()),
                       name=self.get_name() + "_add")
    figure = self.get_root()
    script = self._template.module.__dict__.get("script")
    if script is not None:
        figure.script.add_child(_Raw(script(self, kwargs)), name=self.get_name())
    for child in list(self._children.values()):
        if type(child) is ElementAddToElement:      # (folium's own would be compiled as a template too)
            figure.script.add_child(_Raw(child._template.module.script(child, kwargs)), name=child.get_name())
        else:
            child.render(**kwargs)


_RAW_CLASSES: dict = {}


def _raw_class(name: str):
    """folium's ``GeoJson`` or ``FeatureGroup`` rendered by :func:`_raw_render` (no second Jinja pass:
    the app renders the plan's layers on every rerun); a GeoJson also finds its map first, as
    folium's own render does."""
    cls = _RAW_CLASSES.get(name)
    if cls is None:
        import folium
        from folium.features import get_obj_in_upper_tree

        def render(self, **kwargs):
            if isinstance(self, folium.GeoJson):
                self.parent_map = get_obj_in_upper_tree(self, folium.Map)
            _raw_render(self, **kwargs)
        cls = _RAW_CLASSES[name] = type("Fast" + name, (getattr(folium, name),), {"render": render})
    return cls


def _geojson(fc: dict, *, name: str, style_js: str, show: bool = True, tip_js: str | None = None,
             interactive: bool = True, marker=None, highlight: bool = False, pane: str | None = None):
    """One GeoJson layer; ``tip_js`` is a JS function(props) → HTML (values pre-escaped in Python)."""
    from folium.utilities import JsCode

    on_each = None
    if interactive and (tip_js or highlight):
        parts = ["function(feature, layer) {"]
        if tip_js:
            parts.append(" var tipf = " + tip_js + ";"
                         " layer.bindTooltip(function(l){ return tipf(l.feature.properties); }, {sticky: true});")
        if highlight:
            parts.append(" layer.on('mouseover', function(e){ if (e.target.setStyle) e.target.setStyle({weight: 3}); });"
                         " layer.on('mouseout', function(e){ if (e.target.setStyle) e.target.setStyle((" + style_js
                         + ")(feature)); });")
        # a click is reported at once (streamlit-folium waits a quarter second before it does)
        parts.append(" layer.on('click', function(e){ if (window.__gpSend) window.__gpSend(e, e.target); });")
        parts.append("}")
        on_each = JsCode("".join(parts))
    kw: dict[str, Any] = {"style": JsCode(style_js)}
    if not interactive:
        kw["interactive"] = False
    if pane:
        kw["pane"] = pane
    cls = _raw_class("GeoJson")
    return cls(fc, name=_safe(name), show=show, on_each_feature=on_each, marker=marker, **kw)


def _tip_js(title_key: str, labels: list[str]) -> str:
    """JS building a tooltip table from ``p.t`` = [title, value1, value2, …] (all pre-escaped)."""
    lab = _js([_safe(x) for x in labels])
    return ("function(p){ var t = p.t || [], L = " + lab + "; var h = '<b>' + (t[0] || '') + '</b>"
            "<table style=\"font-size:12px\">'; for (var i = 0; i < L.length; i++) { if (t[i + 1] === null || "
            "t[i + 1] === undefined) continue; h += '<tr><th style=\"text-align:left;padding-right:6px\">' + L[i] + "
            "'</th><td>' + t[i + 1] + '</td></tr>'; } return h + '</table>'; }")


def _tips(title: list[str], columns: list[list]) -> list[list]:
    """Per-feature lists [title, v1, v2, …] of escaped strings (None drops the row)."""
    return [list(row) for row in zip(title, *columns)]


def _label_layer(points: list, *, name: str, show: bool = True, css_class: str = "gp-grid-label",
                 min_zoom: int | None = None, control: bool = True):
    """Labels as DivIcon markers in one toggleable layer (text escaped in Python): ``points`` are
    ``[lat, lon, html, width_px, height_px]``, most important first (a label that would overlap an
    earlier one is hidden). With ``min_zoom`` the labels show only from that zoom on."""
    from folium.map import Layer

    class GridLabels(Layer):
        _template = _tmpl("""
            {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.layerGroup();
            (function(lg){
              var pts = {{ this.points_js }}, marks = [];
              for (var i = 0; i < pts.length; i++) {
                var p = pts[i];
                var mk = L.marker([p[0], p[1]], {interactive: false, keyboard: false,
                  icon: L.divIcon({className: {{ this.css_js }}, iconSize: null, html: p[2]})});
                mk._gpW = p[3]; mk._gpH = p[4];
                marks.push(mk); mk.addTo(lg);
              }
              // hide labels that would overlap a larger grid's label (points come largest grid first)
              var minZoom = {{ this.min_zoom_js }};
              function declutter() {
                var map = lg._map; if (!map) return;
                var placed = [], tooFar = minZoom !== null && map.getZoom() < minZoom;
                for (var i = 0; i < marks.length; i++) {
                  var el = marks[i].getElement(); if (!el) continue;
                  if (tooFar) { el.style.display = 'none'; continue; }
                  var q = map.latLngToLayerPoint(marks[i].getLatLng());
                  var b = [q.x - marks[i]._gpW / 2, q.y - marks[i]._gpH / 2, q.x + marks[i]._gpW / 2, q.y + marks[i]._gpH / 2];
                  var hit = false;
                  for (var j = 0; j < placed.length && !hit; j++) {
                    var c = placed[j]; hit = b[0] < c[2] && b[2] > c[0] && b[1] < c[3] && b[3] > c[1];
                  }
                  el.style.display = hit ? 'none' : '';
                  if (!hit) placed.push(b);
                }
              }
              lg.on('add', function () { lg._map.on('zoomend', declutter); declutter(); });
              lg.on('remove', function () { if (lg._map) lg._map.off('zoomend', declutter); });
            })({{ this.get_name() }});
            {% endmacro %}
        """)

        def __init__(self):
            super().__init__(name=_safe(name), overlay=True, control=control, show=show)
            self._name = "GridLabels"
            self.points_js = _js(points)
            self.css_js = _js(css_class)
            self.min_zoom_js = "null" if min_zoom is None else str(int(min_zoom))

        def render(self, **kwargs):
            _raw_render(self, **kwargs)

    return GridLabels()


def _legend_rows(items: list[tuple[str, str]]) -> str:
    return "".join(f"<div style='margin:2px 0;white-space:nowrap'>{sw}&nbsp;{_safe(lbl)}</div>" for sw, lbl in items)


def _legend(items: list[tuple[str, str]], title: str):
    """A Leaflet control (works inside st_folium, which keeps only the map's script) that folds away
    with a click on its title. Below ``items`` it holds the plan's entries, which the plan state
    (:func:`_plan_state`) fills in, so the legend itself stays the same from one edit to the next."""
    from folium.elements import MacroElement

    box = (f"<details open style='background:rgba(255,255,255,0.92);padding:6px 9px;border-radius:4px;"
           f"box-shadow:0 1px 4px rgba(0,0,0,.35);font:12px/1.35 sans-serif;max-height:60vh;overflow:auto'>"
           f"<summary style='cursor:pointer;font-weight:bold'>{_safe(title)}</summary>{_legend_rows(items)}"
           f"<div class='gp-legend-plan'></div></details>")

    class Legend(MacroElement):
        _template = _tmpl("""
            {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.control({position: 'bottomright'});
            {{ this.get_name() }}.onAdd = function () {
              var d = L.DomUtil.create('div', 'gp-legend');
              d.innerHTML = {{ this.html_js }};
              var slot = d.querySelector('.gp-legend-plan');
              if (slot && window.__gp && window.__gp.legend) slot.innerHTML = window.__gp.legend;
              L.DomEvent.disableClickPropagation(d);
              L.DomEvent.disableScrollPropagation(d);
              return d;
            };
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
            {% endmacro %}
        """)

        def __init__(self):
            super().__init__()
            self._name = "Legend"
            self.html_js = _js(box)

        def render(self, **kwargs):
            _raw_render(self, **kwargs)

    return Legend()


def _metric_scale():
    """A metric-only scale bar (folium's control_scale also shows feet)."""
    from folium.elements import MacroElement

    el = MacroElement()
    el._template = _tmpl("{% macro script(this, kwargs) %}\n"
                            "L.control.scale({imperial: false, position: 'bottomleft'}).addTo({{ this._parent.get_name() }});\n"
                            "{% endmacro %}")
    return el


def _swatch(fill: str, stroke: str | None = None, *, dash: bool = False, circle: bool = False,
            opacity: float = 0.8) -> str:
    border = f"2px {'dashed' if dash else 'solid'} {stroke or fill}"
    radius = "50%" if circle else "2px"
    bg = "transparent" if fill == "none" else fill
    return (f"<span style='display:inline-block;width:14px;height:12px;vertical-align:middle;"
            f"background:{bg};opacity:{opacity};border:{border};border-radius:{radius}'></span>")


def _walk_text(values, unit: str) -> list:
    out = []
    for v in _native(values):
        out.append(f"{v:.1f} {unit}" if isinstance(v, (int, float)) and np.isfinite(v) else "—")
    return out


# --------------------------------------------------------------------------- the map
#: coordinate systems of background tiles: WGS 84 / CGCS2000 (Tianditu, GeoServer, OSM-style
#: intranet servers; the two differ by centimetres) or GCJ-02 (Amap/Tencent-style tiles)
TILE_CRS = ("wgs84", "gcj02")


@dataclass
class MapOptions:
    """How a map is drawn (everything that is not data).

    Attributes
    ----------
    lang
        ``"zh"`` (default) or ``"en"`` for tooltips, layer names and legend.
    asset_base
        URL base of the local assets (``/app/static/vendor``, what Streamlit serves), or
        ``"inline"`` for a map shown in Jupyter or saved with :func:`to_html` (scripts, styles and
        marker icons inlined, so it renders with no server and no network).
    draw_tools
        The leaflet.draw toolbar (polygon and rectangle) for lasso selection.
    tiles, tiles_attribution, tiles_crs
        A background tile URL template the user configured (none by default: no online tiles; the
        dataset's roads and their names are drawn instead), its attribution, and the coordinate
        system the tiles are drawn in: ``"wgs84"`` (also CGCS2000) or ``"gcj02"`` (everything is
        then shifted to GCJ-02 so buildings line up with the tiles; see :func:`from_display`).
    height
        Height of the map (CSS).
    include_personal
        Show party-member counts in tooltips (personal data; off by default).
    building_counts
        Show each building's households and persons in its tooltip (``False`` for a read-only
        viewer, who sees grid totals only; party members are then hidden too).
    minutes
        The coverage threshold when ``coverage`` has no ``covered`` column (default: the largest
        isochrone band, else 15).
    show_compounds, show_isochrones, show_roads
        Initial visibility of those layers (``show_roads`` ``None``: roads and road names when
        there are no tiles).
    fit
        Zoom the map to the buildings (or the selected grid); ``False`` leaves the view to the caller.
    check_assets
        Fail when the local assets are not installed.
    footprints_url
        Load the building footprints from this URL (a file of :func:`footprints`, served by the
        app) instead of embedding them in the map's script.
    """

    lang: str = "zh"
    asset_base: str = assets.DEFAULT_BASE
    draw_tools: bool = False
    tiles: str | None = None
    tiles_attribution: str | None = None
    tiles_crs: str = "wgs84"
    height: int | str = "100%"
    include_personal: bool = False
    building_counts: bool = True
    minutes: float | None = None
    show_compounds: bool = True
    show_isochrones: bool = True
    show_roads: bool | None = None
    fit: bool = True
    check_assets: bool = True
    footprints_url: str | None = None

    def __post_init__(self):
        _t(self.lang)
        if self.tiles_crs not in TILE_CRS:
            raise ValueError(f"unknown tile coordinate system {self.tiles_crs!r}; use one of {', '.join(TILE_CRS)}")


@dataclass
class PlanLayers:
    """The data a map shows on top of the dataset: all optional (see :func:`make_map`)."""

    grids: gpd.GeoDataFrame | None = None
    assignment: pd.Series | None = None
    coverage: Any = None
    isochrones: gpd.GeoDataFrame | None = None
    stations: gpd.GeoDataFrame | None = None
    suggested: gpd.GeoDataFrame | None = None
    selected_grid: str | None = None
    selection: Iterable[str] | None = None
    colors: Mapping[str, str] | None = None
    staff: Any = None


@dataclass
class MapParts:
    """A map split for redrawing in place (:func:`make_map_parts`).

    ``base`` holds what only depends on the dataset (communities, roads, compounds, the building
    footprints, draw tools, scale, legend): its script stays the same when the plan, the coverage
    or the selection changes, so ``st_folium`` keeps the same Leaflet map and the planner's view.
    ``layers`` are the plan-dependent layers, each a ``folium.FeatureGroup`` named as in the layer
    control, in drawing order: first the plan state (grid colours, selection and coverage of every
    building, applied to the footprints in place — kilobytes, not the footprints again), then grids,
    isochrones, grid labels, stations and suggested sites. Pass them as
    ``st_folium(base, feature_group_to_add=layers, layer_control=control)``. ``control`` is the
    layer control, not added to ``base``.
    """

    base: Any
    layers: list = field(default_factory=list)
    control: Any = None


def make_map(dataset: Dataset, *, grids=None, assignment=None, coverage=None, isochrones=None, stations=None,
             suggested=None, selected_grid=None, selection=None, colors=None, staff=None, **options):
    """The interactive map of a dataset and (optionally) a plan and its coverage: a ``folium.Map``.

    Parameters
    ----------
    dataset
        The loaded dataset (metric CRS).
    grids
        The grid layer (polygons indexed by ``grid_id`` with ``community_id``, ``households``,
        ``compliant``, …), e.g. :func:`gridplan.metrics.grids`.
    assignment
        ``building_id`` → ``grid_id`` (``plan.assignment``) to colour the buildings by grid.
    coverage
        Per-building coverage (``walk_min``, ``covered``), indexed by ``building_id``, or a coverage
        result with a ``buildings`` table; uncovered buildings get a red outline.
    isochrones
        Walking bands (``band_min``, polygon); polygons of one band are merged.
    stations
        Stations to show (default ``dataset.stations``), with ``kind`` and ``name``.
    suggested
        Suggested new sites (points; optional ``gain_households``).
    selected_grid
        A grid to emphasise (thick outline, its buildings outlined) and zoom to.
    selection
        Building ids to outline (what the planner picked).
    colors
        grid_id → colour; computed with :func:`grid_colors` when not given.
    staff
        A :class:`gridplan.staff.StaffAssignment`: each grid's tooltip names its 网格长 and phone
        (masked, ``138****5678``, unless ``include_personal``) and its grid workers.
    **options
        :class:`MapOptions` fields (``lang``, ``asset_base``, ``draw_tools``, ``tiles``,
        ``tiles_crs``, ``height``, ``include_personal``, ``fit`` …).

    Returns
    -------
    folium.Map
        Features carry ``layer`` (``building``/``compound``/``grid``/``community``/``station``/
        ``suggested``) and their ids, for click handling (``st_folium``'s ``last_active_drawing``).
    """
    data = PlanLayers(grids, assignment, coverage, isochrones, stations, suggested, selected_grid, selection, colors,
                      staff)
    return _build(dataset, data, MapOptions(**options), parts=False)


def make_map_parts(dataset: Dataset, *, grids=None, assignment=None, coverage=None, isochrones=None,
                   stations=None, suggested=None, selected_grid=None, selection=None, colors=None, staff=None,
                   with_base: bool = True, **options) -> MapParts:
    """The map split for redrawing in place: a :class:`MapParts` (base map, plan-dependent layers,
    layer control); arguments as :func:`make_map` (``fit`` defaults to ``False``). The base depends
    on the dataset and the options only, so ``st_folium`` keeps the same Leaflet map (and the
    planner's view) from one edit to the next, and an edit sends only the plan's layers.

    ``with_base=False`` skips the base (``MapParts.base`` is ``None``): for a caller that keeps the
    base it drew once and only needs the plan's layers again."""
    options.setdefault("fit", False)
    data = PlanLayers(grids, assignment, coverage, isochrones, stations, suggested, selected_grid, selection, colors,
                      staff)
    return _build(dataset, data, MapOptions(**options), parts=True, with_base=with_base)


def from_display(lon: float, lat: float, tiles_crs: str = "wgs84") -> tuple[float, float]:
    """A point clicked on a map drawn for ``tiles_crs`` tiles, back in WGS 84 lon/lat."""
    if tiles_crs == "gcj02":
        from .crs import gcj02_to_wgs84
        x, y = gcj02_to_wgs84(np.array([lon], dtype=float), np.array([lat], dtype=float))
        return float(np.asarray(x)[0]), float(np.asarray(y)[0])
    return float(lon), float(lat)


def feature_from_display(feature: Mapping, tiles_crs: str = "wgs84") -> dict:
    """A shape drawn on a map drawn for ``tiles_crs`` tiles (GeoJSON Feature), back in WGS 84."""
    if tiles_crs != "gcj02" or not feature or not feature.get("geometry"):
        return dict(feature or {})
    from shapely.geometry import mapping, shape

    from .crs import to_wgs84
    g = to_wgs84([shape(feature["geometry"])], "gcj02")[0]
    return {**feature, "geometry": mapping(g)}


class _Ctx:
    """What the layer functions share: the dataset, the options, texts, names and the legend."""

    def __init__(self, dataset: Dataset, opts: MapOptions, parts: bool):
        self.dataset, self.opts, self.parts = dataset, opts, parts
        self.T = _t(opts.lang)
        self.legend: list[tuple[str, str]] = []           # dataset entries (in the base)
        self.plan_legend: list[tuple[str, str]] = []      # plan entries (filled in by the plan state)
        comm, comp = dataset.communities, dataset.compounds
        self.comm_name = {} if comm is None else dict(zip(comm.index.astype(str), _escape_all(_col(comm, "name"))))
        self.comp_name = {} if comp is None else dict(zip(comp.index.astype(str), _escape_all(_col(comp, "name"))))

    def _memo(self, what: str, crs) -> dict:
        """Per geometry object, a result kept for the dataset's life (see :func:`_each_once`)."""
        return self.dataset.cache(f"webmap.{what}:{'' if crs is None else crs.srs}:{self.opts.tiles_crs}", dict)

    def display(self, gdf: gpd.GeoDataFrame, simplify_m: float = 0.0, *, keep: bool = True) -> gpd.GeoDataFrame:
        """A layer in the map's coordinates: WGS 84 lon/lat, or GCJ-02 for GCJ-02 tiles; each geometry
        done once per dataset, unless ``keep`` is false (geometries made for one map: road label points,
        the frame fitted to)."""
        memo = self._memo(f"display:{simplify_m}", gdf.crs) if keep else None
        return _to_wgs84(gdf, simplify_m, self.opts.tiles_crs, memo)

    def label_points(self, gdf: gpd.GeoDataFrame) -> np.ndarray:
        """A point inside each geometry (its representative point) in the map's coordinates, row for
        row (``None`` for a missing or empty geometry); each geometry once per dataset."""
        geoms = np.asarray(gdf.geometry.array, dtype=object)
        keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        out = np.full(len(geoms), None, dtype=object)
        out[keep] = _each_once(self._memo("label_points", gdf.crs), geoms[keep], lambda gs: _in_display(
            shapely.point_on_surface(gs), gdf.crs, tiles_crs=self.opts.tiles_crs))
        return out

    def lonlat(self, points: gpd.GeoSeries) -> gpd.GeoSeries:
        return self.display(gpd.GeoDataFrame(geometry=points), keep=False).geometry


def _panes(m) -> None:
    """Grid polygons and walking bands lie under the dataset's layers (so a click on a building or
    a compound reaches it), whatever order the plan's layers are added in."""
    from folium.map import CustomPane
    CustomPane("gpBands", z_index=330).add_to(m)
    CustomPane("gpGrids", z_index=350).add_to(m)


def _tile_layer(ctx: _Ctx):
    import folium
    o = ctx.opts
    return folium.TileLayer(tiles=o.tiles, attr=_safe(o.tiles_attribution or "user-configured tiles"),
                            name=_safe(ctx.T["basemap"]), overlay=False, control=False, max_zoom=20)


def _community_layer(ctx: _Ctx):
    comm = ctx.dataset.communities
    if comm is None or not len(comm):
        return None
    T = ctx.T
    g = ctx.display(comm, 1.0)
    ids = g.index.astype(str).tolist()
    title = [f"{_safe(T['community'])} {ctx.comm_name.get(c, _safe(c))}" for c in ids]
    props = {"layer": ["community"] * len(g), "community_id": ids,
             "t": _tips(title, [_escape_all(_col(g, "street")), [_safe(c) for c in ids]])}
    ctx.legend.append((_swatch("none", "#252525", dash=True), T["community_outline"]))
    # outline only: a filled community would catch the clicks meant for the grids under it
    return _geojson(_feature_collection(g, props), name=T["communities"],
                    style_js="function(f){return {color:'#252525', weight:2.5, dashArray:'8 4', fill:false};}",
                    tip_js=_tip_js("community", [T["street"], T["id"]]))


def _road_layers(ctx: _Ctx, extent) -> list:
    """The dataset's roads (thin grey lines) and their names (from zoom 16): the base when no
    tiles are configured. Only roads near ``extent`` (the buildings drawn) are sent."""
    roads = ctx.dataset.roads
    if roads is None or not len(roads):
        return []
    x0, y0, x1, y1 = extent
    near = roads.cx[x0 - 300:x1 + 300, y0 - 300:y1 + 300]
    if not len(near):
        return []
    T = ctx.T
    main = _col(near, "kind", "").astype(str).isin(["arterial", "secondary", "primary", "trunk", "main"]).to_numpy()
    g = ctx.display(near, 1.0)
    props = {"layer": ["road"] * len(g), "main": main.tolist()}
    lines = _geojson(_feature_collection(g, props), name=T["roads"], interactive=False,
                     style_js="function(f){return {color: f.properties.main ? '#a8a8a8' : '#cfcfcf', "
                              "weight: f.properties.main ? 3 : 1.6, opacity: 0.9};}")
    ctx.legend.append((_swatch("none", "#a8a8a8"), T["roads"]))
    names = _col(near, "name").astype(object)
    named = near[names.notna().to_numpy() & (names.astype(str).str.strip() != "").to_numpy()
                 & ~_col(near, "kind", "").astype(str).isin(["gate", "path"]).to_numpy()]
    if not len(named):
        return [lines]
    pts, order = [], []
    for name, grp in named.groupby(named["name"].astype(str), sort=True):
        merged = shapely.line_merge(shapely.union_all(grp.geometry.to_numpy()))
        parts_ = list(getattr(merged, "geoms", [merged]))
        longest = max(parts_, key=lambda p: p.length)
        pts.append(longest.interpolate(0.5, normalized=True))
        order.append((longest.length, name))
    ll = ctx.lonlat(gpd.GeoSeries(pts, crs=near.crs))
    data = []
    for (_length, name), p in sorted(zip(order, ll), key=lambda t: -t[0][0]):
        text = (f"<div style='transform:translate(-50%,-50%);white-space:nowrap;font:11px sans-serif;color:#666;"
                f"text-shadow:0 0 2px #fff,0 0 2px #fff'>{_safe(name)}</div>")
        data.append([round(p.y, 6), round(p.x, 6), text, 12 * len(name) + 6, 14])
    return [lines, _label_layer(data, name=T["road_names"], css_class="gp-road-label", min_zoom=16)]


def _compound_layer(ctx: _Ctx):
    comp = ctx.dataset.compounds
    if comp is None or not len(comp):
        return None
    T = ctx.T
    g = ctx.display(comp, 0.5)
    ids = g.index.astype(str).tolist()
    sw = sanwu_mask(comp).reindex(g.index).fillna(False).to_numpy(dtype=bool)
    cc = _native(_col(g, "community_id"))
    none = _safe(T["none"])
    cols = [[ctx.comm_name.get(str(c), _esc(c)) if c is not None else "—" for c in cc],
            [x if x != "—" else none for x in _escape_all(_col(g, "property_company"))],
            [x if x != "—" else none for x in _escape_all(_col(g, "party_org"))],
            [_safe(T["yes"] if x else T["no"]) for x in sw], [_safe(c) for c in ids]]
    title = [f"{_safe(T['compound'])} {ctx.comp_name.get(c) if ctx.comp_name.get(c, '—') != '—' else _safe(c)}"
             for c in ids]
    props = {"layer": ["compound"] * len(g), "compound_id": ids, "community_id": cc, "sanwu": sw.tolist(),
             "party": _truthy(_col(g, "party_org")).tolist(), "t": _tips(title, cols)}
    ctx.legend.append((_swatch("#ffffff", "#636363", opacity=1), T["compound_outline"]))
    if any(props["party"]):
        ctx.legend.append((_swatch("#ffffff", PARTY_COLOR, opacity=1), T["party_compound"]))
    if sw.any():
        ctx.legend.append((_swatch(SANWU_COLOR, SANWU_COLOR, dash=True, opacity=0.5), T["sanwu_fill"]))
    return _geojson(_feature_collection(g, props), name=T["compounds"], show=ctx.opts.show_compounds,
                    tip_js=_tip_js("compound", [T["community"], T["property"], T["party_org"], T["sanwu"], T["id"]]),
                    style_js=("function(f){var p=f.properties; return p.sanwu ? {color:'" + SANWU_COLOR + "', weight:2, "
                              "dashArray:'4 3', fillColor:'" + SANWU_COLOR + "', fillOpacity:0.22} : {color: p.party ? '"
                              + PARTY_COLOR + "' : '#636363', weight: p.party ? 1.6 : 1, fillColor:'#ffffff', "
                              "fillOpacity:0.05};}"))


_BUILDING_JS = """
            {% macro script(this, kwargs) %}
            window.__gpStyle = function (p) {
              var s = window.__gp, i = p.i;
              var st = {color: '#4d4d4d', weight: 0.5, fillColor: '#9e9e9e', fillOpacity: 0.85};
              if (!s) return st;
              var g = s.g[i];
              if (g !== null && g !== undefined && g >= 0) st.fillColor = s.fill[g];
              if (s.sg >= 0 && g === s.sg) { st.color = '#000000'; st.weight = 1.6; }
              if (s.cov && s.cov.charCodeAt(i) === 48) { st.color = {{ this.unc_js }}; st.weight = 2.2; }
              if (s.pick && s.pick[i]) { st.color = '#00e5ff'; st.weight = 3; }
              return st;
            };
            window.__gpTip = function (p) {
              var s = window.__gp || {}, t = p.t || [], L = {{ this.labels_js }}, rows = [];
              var g = s.g ? s.g[p.i] : -1;
              rows.push([L.grid, (g !== null && g !== undefined && g >= 0) ? s.grids[g] : '—']);
              for (var k = 0; k < L.fixed.length; k++) rows.push([L.fixed[k], t[k + 1]]);
              if (s.cov) {
                var w = s.walk[p.i];
                rows.push([L.walk, (w === null || w === undefined) ? '—' : (w / 10).toFixed(1) + ' ' + L.min]);
                rows.push([L.covered, s.cov.charCodeAt(p.i) === 49 ? L.yes : L.no]);
              }
              var h = '<b>' + (t[0] || '') + '</b><table style="font-size:12px">';
              for (var r = 0; r < rows.length; r++) {
                if (rows[r][1] === null || rows[r][1] === undefined) continue;
                h += '<tr><th style="text-align:left;padding-right:6px">' + rows[r][0] + '</th><td>' + rows[r][1] + '</td></tr>';
              }
              return h + '</table>';
            };
            // in the app's map component: report the click to it (window.__gpReport); in st_folium, which
            // reports a click 250 ms later (debounced): report it now, with exactly the value it would
            // send, so the later report finds nothing new. No-op elsewhere.
            window.__gpSend = function (e, layer) {
              if (window.__gpReport) {     // the app's own map component
                if (e && e.latlng) window.__gpReport(e.latlng, (layer && layer.toGeoJSON) ? layer.toGeoJSON() : null);
                return;
              }
              var g = window.__GLOBAL_DATA__, S = window.Streamlit;
              if (!g || !S || !g.returned_objects || !e || !e.latlng) return;
              if (layer && layer.toGeoJSON) g.last_active_drawing = layer.toGeoJSON();
              g.lat_lng_clicked = e.latlng;
              g.all_drawings = (window.drawnItems && window.drawnItems.toGeoJSON) ? window.drawnItems.toGeoJSON().features : [];
              var all = {last_clicked: e.latlng, all_drawings: g.all_drawings, last_active_drawing: g.last_active_drawing};
              var data = {};
              for (var k in all) if (g.returned_objects.indexOf(k) >= 0) data[k] = all[k];
              if (JSON.stringify(g.previous_data) !== JSON.stringify(data)) { g.previous_data = data; S.setComponentValue(data); }
            };
            {{ this._parent.get_name() }}.on('click', function (e) { window.__gpSend(e, null); });
            window.__gpApply = function () {
              var b = window.__gpB;
              // only the footprints whose style changed are restyled (an edit changes a few of thousands;
              // setting the same style again still costs the browser a repaint of the map)
              if (b) b.eachLayer(function (l) {
                if (!l.setStyle) return;
                var st = window.__gpStyle(l.feature.properties), k = st.fillColor + '|' + st.color + '|' + st.weight;
                if (l._gpStyleKey !== k) { l._gpStyleKey = k; l.setStyle(st); }
              });
              var slot = document.querySelector('.gp-legend-plan');
              if (slot && window.__gp) slot.innerHTML = window.__gp.legend || '';
            };
            {% endmacro %}
"""


def _support(ctx: _Ctx):
    """The JavaScript that styles the building footprints from the plan state (``window.__gp``) and
    writes their tooltips; defined once in the base."""
    from folium.elements import MacroElement

    T = ctx.T
    counts = ctx.opts.building_counts
    fixed = ([T["compound"]] + ([T["households"], T["persons"]] if counts else [])
             + ([T["party_members"]] if ctx.opts.include_personal and counts else []))
    labels = {"grid": _safe(T["grid"]), "fixed": [_safe(x) for x in fixed], "walk": _safe(T["walk"]),
              "min": _safe(T["min"]), "covered": _safe(T["covered"]), "yes": _safe(T["yes"]), "no": _safe(T["no"])}

    class BuildingSupport(MacroElement):
        _template = _tmpl(_BUILDING_JS)

        def __init__(self):
            super().__init__()
            self._name = "BuildingSupport"
            self.labels_js = _js(labels)
            self.unc_js = _js(UNCOVERED_COLOR)

        def render(self, **kwargs):
            _raw_render(self, **kwargs)

    return BuildingSupport()


def footprints(dataset: Dataset, *, lang: str = "zh", include_personal: bool = False,
               tiles_crs: str = "wgs84", building_counts: bool = True) -> dict:
    """The building footprints as the map draws them: a GeoJSON FeatureCollection in the map's
    coordinates with what never changes (``layer``, ``building_id``, ``i`` — the position the plan
    state refers to —, ``compound_id`` and the tooltip's fixed rows, all escaped).

    Written to a file served next to the app, it is what ``MapOptions.footprints_url`` loads."""
    ctx = _Ctx(dataset, MapOptions(lang=lang, include_personal=include_personal, tiles_crs=tiles_crs,
                                   building_counts=building_counts), True)
    return _footprint_collection(ctx, dataset.buildings, None)


def _footprint_collection(ctx: _Ctx, b: gpd.GeoDataFrame, assignment) -> dict:
    T = ctx.T
    g = ctx.display(b, 0.3)
    bid = g.index.astype(str).tolist()
    cid = _native(_col(g, "compound_id"))
    names = _escape_all(_col(g, "name"))
    title = [f"{_safe(T['building'])} {n if n != '—' else _safe(i)}" for n, i in zip(names, bid)]
    cols = [[ctx.comp_name.get(str(c), _esc(c)) if c is not None else "—" for c in cid]]
    if ctx.opts.building_counts:
        cols += [_escape_all(_col(g, "households")), _escape_all(_col(g, "persons"))]
    if ctx.opts.include_personal and ctx.opts.building_counts:
        cols.append(_escape_all(_col(g, "party_members")))
    props = {"layer": ["building"] * len(g), "building_id": bid, "i": list(range(len(g))), "compound_id": cid,
             "t": _tips(title, cols)}
    if assignment is not None and not ctx.parts:
        props["grid_id"] = [None if x is None or x != x else x for x in assignment.reindex(bid).tolist()]
    return _feature_collection(g, props)


def _building_layer(ctx: _Ctx, b: gpd.GeoDataFrame, assignment: pd.Series | None = None):
    """The building footprints with what never changes (ids, compound, counts); their colours,
    outlines and the plan's tooltip rows come from the plan state. A one-piece map (a snapshot)
    also gives each footprint its ``grid_id``, so a click on it says its grid. With
    ``footprints_url`` the footprints are loaded from that file (a few MB for a whole city that the
    app then sends once, not with every edit)."""
    from folium.elements import MacroElement

    url = ctx.opts.footprints_url
    fc = {"type": "FeatureCollection", "features": []} if url else _footprint_collection(ctx, b, assignment)
    layer = _geojson(fc, name=ctx.T["buildings"], highlight=True,
                     tip_js="function(p){ return window.__gpTip(p); }",
                     style_js="function(f){ return window.__gpStyle(f.properties); }")

    class Register(MacroElement):
        url_js = ""
        _template = _tmpl("""
            {% macro script(this, kwargs) %}
            window.__gpB = {{ this._parent.get_name() }};
            {% if this.url_js %}
            window.__gpFootprints = fetch({{ this.url_js }}).then(function (r) {
              if (!r.ok) throw new Error('footprints: HTTP ' + r.status);
              return r.json();
            }).then(function (fc) {
              {{ this._parent.get_name() }}.addData(fc);
              if (window.__gpApply) window.__gpApply();
            }).catch(function (e) { console.error('gridplan map: the buildings did not load', e); });
            {% endif %}
            {% endmacro %}
        """)

    reg = Register()
    reg._name = "Register"
    reg.url_js = _js(url) if url else ""
    layer.add_child(reg)
    return layer


def _plan_state(ctx: _Ctx, b: gpd.GeoDataFrame, data: PlanLayers, colors: Mapping[str, str], cov):
    """The plan as it shows on the footprints: per building (in ``b`` order) its grid, the grid
    colours, the selected grid and buildings, walk time and coverage, and the plan's legend entries.
    A small script that sets ``window.__gp`` and restyles the footprints in place."""
    from folium.elements import MacroElement

    bid = b.index.astype(str)
    if data.assignment is not None:
        a = _text(data.assignment)
        where = a.index.get_indexer(bid)
        vals = np.where(where >= 0, a.to_numpy(dtype=object)[np.maximum(where, 0)], None)
        codes, grid_ids = pd.factorize(vals, sort=True)
        grid_ids = [str(x) for x in grid_ids]
    else:
        codes, grid_ids = np.full(len(bid), -1), []
    sel_grid = -1 if data.selected_grid is None or str(data.selected_grid) not in grid_ids \
        else grid_ids.index(str(data.selected_grid))
    pick = [] if not data.selection else \
        np.flatnonzero(pd.Index([str(x) for x in data.selection]).get_indexer(bid) >= 0).tolist()
    state: dict[str, Any] = {"grids": [_safe(x) for x in grid_ids],
                             "fill": [colors.get(x, "#cccccc") for x in grid_ids],
                             "g": np.asarray(codes).astype(int).tolist(), "sg": sel_grid, "pick": pick}
    if cov is not None:
        where = cov.index.get_indexer(bid)
        known = where >= 0
        covered = cov["covered"].to_numpy(dtype=bool)[np.maximum(where, 0)] & known
        state["cov"] = "".join(np.where(~known, "-", np.where(covered, "1", "0")).tolist())
        walk = (pd.to_numeric(cov["walk_min"], errors="coerce").to_numpy(dtype=float)[np.maximum(where, 0)]
                if "walk_min" in cov.columns else np.full(len(bid), np.nan))
        walk = np.where(known, walk, np.nan)
        tenths = np.round(np.nan_to_num(walk, nan=-1.0) * 10).astype(int)
        state["walk"] = [None if not np.isfinite(w) else int(t) for w, t in zip(walk.tolist(), tenths.tolist())]
    state["legend"] = _legend_rows(ctx.plan_legend)
    state_js = _js(state)

    class PlanState(MacroElement):
        _template = _tmpl("""
            {% macro script(this, kwargs) %}
            (function () {
              var s = {{ this.state_js }}, pick = {};
              for (var k = 0; k < s.pick.length; k++) pick[s.pick[k]] = true;
              s.pick = pick;
              window.__gp = s;
              if (window.__gpApply) window.__gpApply();
            })();
            {% endmacro %}
        """)

        layer_name = "plan"
        control = False          # not a layer to switch off

        def __init__(self):
            super().__init__()
            self._name = "PlanState"
            self.state = state
            self.state_js = state_js

        def render(self, **kwargs):
            _raw_render(self, **kwargs)

    return PlanState()


def _grid_layer(ctx: _Ctx, grids, colors, selected_grid, staff=None):
    T = ctx.T
    g = ctx.display(grids, 2.0)
    gid = g.index.astype(str).tolist()
    ok = _compliant(g)
    cid = _native(_col(g, "community_id"))
    reason = _col(g, "reason_text") if "reason_text" in g.columns else _col(g, "note")
    if ctx.opts.lang != "zh" and "reason" in g.columns:
        from .i18n import reason as reason_in
        reason = pd.Series([reason_in(str(r), ctx.opts.lang) if _py(r) else "" for r in g["reason"]], index=g.index)
    cols = [[ctx.comm_name.get(str(c), _esc(c)) if c is not None else "—" for c in cid],
            _escape_all(_col(g, "households")), _escape_all(_col(g, "persons"))]
    labels = [T["community"], T["households"], T["persons"]]
    if ctx.opts.include_personal and "party_members" in g.columns:
        cols.append(_escape_all(g["party_members"]))
        labels.append(T["party_members"])
    cols.append([_safe(T["yes"] if x else T["no"]) for x in ok])
    labels.append(T["compliant"])
    cols.append([None if x or not _py(r) else _esc(r) for x, r in zip(ok, reason.tolist())])
    labels.append(T["reason"])
    if staff is not None:
        from .i18n import column as col_label
        gs = staff.grid_staff(gid, include_personal=ctx.opts.include_personal, sep="、" if ctx.opts.lang == "zh" else ", ")
        for key in ("leader", "leader_phone", "full_time", "part_time"):
            cols.append([_esc(v) if v else None for v in gs[key]])
            labels.append(col_label(key, ctx.opts.lang))
    props = {"layer": ["grid"] * len(g), "grid_id": gid, "community_id": cid,
             "fill": [colors.get(x, "#cccccc") for x in gid], "ok": ok.tolist(),
             "sel": [x == selected_grid for x in gid],
             "t": _tips([f"{_safe(T['grid'])} {_safe(x)}" for x in gid], cols)}
    ctx.plan_legend.append((_swatch("none", "#2b2b2b"), T["grid_outline"]))
    if (~ok).any():
        ctx.plan_legend.append((_swatch("none", NONCOMPLIANT_COLOR, dash=True), T["grid_bad"]))
    return _geojson(_feature_collection(g, props), name=T["grids"], tip_js=_tip_js("grid", labels), pane="gpGrids",
                    style_js=("function(f){var p=f.properties; return {color: p.sel ? '#000000' : (p.ok ? '#2b2b2b' : '"
                              + NONCOMPLIANT_COLOR + "'), weight: p.sel ? 5 : (p.ok ? 2 : 3), fillColor: p.fill, "
                              "fillOpacity: p.sel ? 0.18 : 0.08, dashArray: p.ok ? null : '6 3'};}"))


def _isochrone_layer(ctx: _Ctx, isochrones):
    T = ctx.T
    bm_all = isochrones["band_min"].astype(float).to_numpy()
    bands = sorted(set(bm_all.tolist()), reverse=True)
    geoms = [shapely.union_all(isochrones.geometry.to_numpy()[bm_all == bm]) for bm in bands]
    ig = ctx.display(gpd.GeoDataFrame({"band_min": bands}, geometry=geoms, crs=isochrones.crs), 2.0)
    order = sorted(bands)
    col = {bm: BAND_COLORS[min(i, len(BAND_COLORS) - 1)] for i, bm in enumerate(order)}
    props = {"layer": ["isochrone"] * len(ig), "band_min": _native(ig["band_min"]),
             "fill": [col[x] for x in ig["band_min"]]}
    for bm in order:
        ctx.plan_legend.append((_swatch(col[bm], col[bm], opacity=0.5), T["band"].format(m=f"{bm:g}")))
    return _geojson(_feature_collection(ig, props), name=T["isochrones"], interactive=False, pane="gpBands",
                    show=ctx.opts.show_isochrones,
                    style_js="function(f){return {color: f.properties.fill, weight:1, fillColor: f.properties.fill, "
                             "fillOpacity:0.25};}"), max(bands)


def _grid_label_layer(ctx: _Ctx, grids):
    """Grid code and households at a point inside each grid (largest grids keep their labels)."""
    pts = ctx.label_points(grids)
    ok = _compliant(grids)
    data = []
    order = np.argsort(-grids.geometry.area.to_numpy(), kind="stable")
    rows = list(zip(grids.index.astype(str), _native(_col(grids, "community_id")),
                    _native(_col(grids, "households")), pts, ok))
    for gi, c, h, p, good in (rows[i] for i in order):
        if p is None or p.is_empty:
            continue
        code = short_code(gi, c)
        w_px = 7 * max(len(code), len(f"{'' if h is None else int(h)}") + 2) + 8
        color = "#111" if good else NONCOMPLIANT_COLOR
        text = (f"<div style='transform:translate(-50%,-50%);white-space:nowrap;text-align:center;"
                f"font:bold 11px/1.15 sans-serif;color:{color};text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 2px #fff'>"
                f"{_safe(code)}<br><span style='font-weight:normal'>"
                f"{'' if h is None else int(h)}{_safe(ctx.T['hh'])}</span></div>")
        data.append([round(p.y, 6), round(p.x, 6), text, w_px, 30])
    return _label_layer(data, name=ctx.T["grid_labels"])


_KNOWN_KINDS = list(STATION_STYLE)


def _kind_order(k):
    return (_KNOWN_KINDS.index(k) if k in _KNOWN_KINDS else 99, k)


def _point_kinds(frame) -> np.ndarray:
    return _col(frame, "kind", "other").fillna("other").astype(str).to_numpy()


def _station_layers(ctx: _Ctx, st) -> list:
    """One layer per station kind (what-if stations included)."""
    import folium

    T = ctx.T
    out = []
    g = ctx.display(st)
    geoms = np.asarray(g.geometry.array, dtype=object)
    point = shapely.get_type_id(geoms) == 0
    if not point.all():
        g, geoms = g[point], geoms[point]
    kinds = _point_kinds(g)
    all_ids = np.asarray(g.index.astype(str), dtype=object)
    all_names = np.asarray(_escape_all(_col(g, "name")), dtype=object)
    for kind in sorted(set(kinds.tolist()), key=_kind_order):
        rows = np.flatnonzero(kinds == kind)          # (arrays, not a frame per kind: this runs on every rerun)
        n = len(rows)
        sty = STATION_STYLE.get(kind, OTHER_STATION)
        label = station_kind_label(kind, ctx.opts.lang)
        ids = all_ids[rows].tolist()
        names = all_names[rows].tolist()
        props = {"layer": ["station"] * n, "station_id": ids, "kind": [kind] * n,
                 "t": _tips([nm if nm != "—" else _safe(i) for nm, i in zip(names, ids)],
                            [[_safe(label)] * n, [_safe(i) for i in ids]])}
        out.append(_geojson(_feature_collection(geoms[rows], props), name=f"{T['station']}: {label}",
                            marker=folium.CircleMarker(radius=sty["radius"]),
                            tip_js=_tip_js("station", [T["kind"], T["id"]]),
                            style_js=("function(f){return {color:'" + sty["color"] + "', weight:2, fill:true, "
                                      "fillColor:'" + sty["fillColor"] + "', fillOpacity:0.95, radius:"
                                      + str(sty["radius"]) + "};}")))
        ctx.plan_legend.append((_swatch(sty["fillColor"], sty["color"], circle=True, opacity=1), label))
    return out


def _suggested_layer(ctx: _Ctx, suggested):
    import folium

    T = ctx.T
    g = ctx.display(suggested)
    if "kind" in g.columns and g["kind"].astype(str).eq("grid_station").all():
        return _suggested_gs_layer(ctx, g)
    gain_col = next((c for c in ("gain_households", "gain", "households") if c in g.columns), None)
    gain = _escape_all(g[gain_col]) if gain_col else ["—"] * len(g)
    props: dict[str, list] = {"layer": ["suggested"] * len(g), "rank": list(range(1, len(g) + 1)),
             "t": _tips([f"{_safe(T['suggested'])} {i + 1}" for i in range(len(g))], [gain])}
    ctx.plan_legend.append((_swatch("#ffff33", "#e41a1c", circle=True, dash=True, opacity=1), T["suggested"]))
    return _geojson(_feature_collection(g, props), name=T["suggested"], marker=folium.CircleMarker(radius=9),
                    tip_js=_tip_js("suggested", [T["gain"]]), style_js=(
                        "function(f){return {color:'#e41a1c', weight:3, dashArray:'3 3', fill:true, "
                        "fillColor:'#ffff33', fillOpacity:0.9, radius:9};}"))


def _suggested_gs_layer(ctx: _Ctx, g):
    """Suggested 郁心站 sites (``kind == "grid_station"``, one per grid without one): green circles with
    a thick double-weight rim, unlike the dashed yellow circles of suggested red stations; tooltip:
    grid, households, mean walk."""
    import folium

    T = ctx.T
    gid = [str(x) for x in (g["grid_id"] if "grid_id" in g.columns else g.index)]
    walk = [None if not _py(v) else _esc(f"{float(v):.0f}") for v in _col(g, "mean_walk_m")]
    props: dict[str, list] = {"layer": ["suggested"] * len(g), "kind": ["grid_station"] * len(g), "grid_id": gid,
             "rank": list(range(1, len(g) + 1)),
             "t": _tips([f"{_safe(T['suggested_gs'])} · {_safe(T['grid'])} {_esc(x)}" for x in gid],
                        [_escape_all(_col(g, "households")), walk])}
    ctx.plan_legend.append((_swatch("#a6d96a", "#1a9641", circle=True, opacity=1), T["suggested_gs"]))
    return _geojson(_feature_collection(g, props), name=T["suggested_gs"], marker=folium.CircleMarker(radius=8),
                    tip_js=_tip_js("suggested", [T["households"], T["mean_walk"]]), style_js=(
                        "function(f){return {color:'#005a32', weight:4, fill:true, fillColor:'#a6d96a', "
                        "fillOpacity:0.95, radius:8};}"))


def _draw_tools():
    from folium.plugins import Draw
    return Draw(export=False, draw_options={"polyline": False, "circle": False, "marker": False, "circlemarker": False,
                                            "polygon": {"allowIntersection": False, "showArea": False},
                                            "rectangle": True},
                edit_options={"edit": False})


def _fit(ctx: _Ctx, m, b, grids, selected_grid) -> None:
    if not len(b):
        return
    frame = b
    if selected_grid is not None and grids is not None and selected_grid in set(grids.index.astype(str)):
        frame = grids.loc[grids.index.astype(str) == selected_grid]
    x0, y0, x1, y1 = ctx.display(frame, keep=False).total_bounds
    if np.all(np.isfinite([x0, y0, x1, y1])):
        m.fit_bounds([[float(y0), float(x0)], [float(y1), float(x1)]])


def _build(dataset: Dataset, data: PlanLayers, opts: MapOptions, *, parts: bool, with_base: bool = True):
    """The map in named steps: the base (tiles, communities, roads, compounds, footprints, legend,
    tools), then the plan's layers (state, grids, bands, labels, stations, suggestions) — on the map,
    or (``parts``) in FeatureGroups beside it."""
    import folium

    t0 = time.perf_counter()
    ctx = _Ctx(dataset, opts, parts)
    T = ctx.T
    inline = opts.asset_base == "inline"
    base = assets.DEFAULT_BASE if inline else opts.asset_base
    m = folium.Map(location=None, tiles=None, zoom_start=14, control_scale=False, prefer_canvas=False,
                   height=opts.height, width="100%", max_zoom=20)
    layers: list = []

    def dynamic(el) -> None:
        """A plan-dependent element: on the map, or (parts) in its own named FeatureGroup."""
        if not parts:
            el.add_to(m)
            return
        fg = _raw_class("FeatureGroup")(name=getattr(el, "layer_name", None) or "plan", show=getattr(el, "show", True),
                                 control=getattr(el, "control", True))
        fg.add_child(el)
        layers.append(fg)

    b = dataset.buildings
    assignment = data.assignment
    if assignment is not None:
        assignment = _text(assignment)
    grids = data.grids
    colors = data.colors
    if colors is None and (grids is not None or assignment is not None):
        colors = grid_colors(grids, dataset=dataset, assignment=assignment)
    colors = dict(colors or {})
    selected_grid = None if data.selected_grid is None else str(data.selected_grid)
    show_roads = (not opts.tiles) if opts.show_roads is None else opts.show_roads

    # --- the base: what depends on the dataset and the options only
    if with_base:
        _panes(m)
        _support(ctx).add_to(m)
        if opts.tiles:
            _tile_layer(ctx).add_to(m)
        for el in [_community_layer(ctx), *(_road_layers(ctx, b.total_bounds) if show_roads and len(b) else []),
                   _compound_layer(ctx)]:
            if el is not None:
                el.add_to(m)

    # --- the plan's layers (their legend entries go to the plan state, drawn into the legend's slot)
    plan_els: list = []
    if grids is not None and len(grids):
        plan_els.append(_grid_layer(ctx, grids, colors, selected_grid, data.staff))
    minutes = opts.minutes
    if data.isochrones is not None and len(data.isochrones):
        layer, top = _isochrone_layer(ctx, data.isochrones)
        plan_els.append(layer)
        minutes = minutes if minutes is not None else top
    cov = coverage_table(data.coverage, minutes=minutes)
    if cov is not None and len(b):
        ctx.plan_legend.append((_swatch("none", UNCOVERED_COLOR), T["uncovered_b"]))
    if grids is not None and len(grids):
        plan_els.append(_grid_label_layer(ctx, grids))
    st = dataset.stations if data.stations is None else data.stations
    if st is not None and len(st) and len(b):
        x0, y0, x1, y1 = b.total_bounds                       # the stations within reach of what is drawn
        st = st.cx[x0 - 2000:x1 + 2000, y0 - 2000:y1 + 2000]
    if st is not None and len(st):
        plan_els.extend(_station_layers(ctx, st))
    if data.suggested is not None and len(data.suggested):
        plan_els.append(_suggested_layer(ctx, data.suggested))
    state = _plan_state(ctx, b, data, colors, cov) if len(b) else None

    if state is not None:
        dynamic(state)               # before the footprints on a one-piece map: they are styled from it
        if parts:                    # a script that draws nothing: redone alone, it leaves the order of the others
            layers[-1].gp_order_free = True
    if len(b) and with_base:
        _building_layer(ctx, b, assignment).add_to(m)
    for el in plan_els:
        dynamic(el)

    control = folium.LayerControl(collapsed=False, position="topright")
    if not with_base:
        for fg in layers:
            assets.localize_map(fg, base, check=False, icon_fix=False)
        return MapParts(base=None, layers=layers, control=control)
    if opts.draw_tools:
        _draw_tools().add_to(m)
    _metric_scale().add_to(m)
    _legend(ctx.legend, T["legend"]).add_to(m)
    if not parts:
        control.add_to(m)
    if opts.fit:
        _fit(ctx, m, b, grids, selected_grid)

    assets.localize_map(m, base, check=opts.check_assets)
    for fg in layers:  # the layers are rendered apart from the map: point their resources at local copies too
        assets.localize_map(fg, base, check=False, icon_fix=False)
    if inline:
        assets._add_icon_fix(m, None, data_uris=assets.marker_icon_data_uris())
        # notebooks show the map through Figure.render() in an iframe: inline the assets there too
        fig = m.get_root()
        plain_render = fig.render
        fig.render = lambda **kw: assets.inline_assets(plain_render(**kw))  # type: ignore[method-assign]
    m._gridplan_inline = inline  # type: ignore[attr-defined]  # our mark on folium's Map
    log.info("map built in %.2f s", time.perf_counter() - t0)
    if parts:
        return MapParts(base=m, layers=layers, control=control)
    return m


def to_html(m, *, title: str | None = None) -> str:
    """The map as one self-contained HTML page (scripts, styles and images inlined; works from file://)."""
    if not getattr(m, "_gridplan_inline", False):
        assets._add_icon_fix(m, None, data_uris=assets.marker_icon_data_uris())
    page = m.get_root().render()
    head = '<head>\n<meta charset="utf-8">'
    if title:
        head += f"\n<title>{_safe(title)}</title>"
    page = page.replace("<head>", head, 1)
    return assets.inline_assets(page)
