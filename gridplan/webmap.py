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
from dataclasses import dataclass, field
from typing import Any, Iterable

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
        "party_compound": "Compound with a party organisation",
    },
}


def _t(lang: str) -> dict[str, str]:
    if lang not in TEXT:
        raise ValueError(f"unknown language {lang!r}; use 'zh' or 'en'")
    return TEXT[lang]


def station_kind_label(kind: str, lang: str = "zh") -> str:
    table = STATION_KINDS if lang == "zh" else STATION_KINDS_EN
    return table.get(str(kind), str(kind))


# --------------------------------------------------------------------------- colours
def _grid_adjacency(grids: gpd.GeoDataFrame | None, dataset: Dataset | None, assignment: pd.Series | None,
                    gap_m: float = 1.0) -> tuple[list[str], set[tuple[str, str]]]:
    """Grid ids and pairs of grids that touch (or, without polygons, whose buildings are near)."""
    if grids is not None and len(grids):
        ids = [str(i) for i in grids.index]
        geoms = grids.geometry.to_numpy()
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="dwithin", distance=gap_m)
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
                assignment: pd.Series | None = None, palette: Iterable[str] = PALETTE) -> dict[str, str]:
    """A colour per grid such that touching grids differ (greedy colouring, most neighbours first).

    Give the grid layer (polygons indexed by ``grid_id``), or a dataset and an assignment
    (adjacency then comes from buildings within 40 m of each other). Deterministic.
    """
    palette = list(palette)
    ids, pairs = _grid_adjacency(grids, dataset, assignment)
    nbrs: dict[str, set[str]] = {g: set() for g in ids}
    for a, b in pairs:
        nbrs[a].add(b)
        nbrs[b].add(a)
    order = sorted(ids, key=lambda g: (-len(nbrs[g]), g))
    use = [0] * len(palette)
    out: dict[str, int] = {}
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


def _to_wgs84(gdf: gpd.GeoDataFrame, simplify_m: float = 0.0) -> gpd.GeoDataFrame:
    g = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if simplify_m and g.crs is not None and g.crs.is_projected:
        g = g.set_geometry(g.geometry.simplify(simplify_m, preserve_topology=True))
    return g.to_crs(4326) if g.crs is not None else g


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


def _feature_collection(gdf4326: gpd.GeoDataFrame, props: dict[str, list]) -> dict:
    """A FeatureCollection from geometries and JSON-native property columns."""
    geoms = _geojson_geoms(gdf4326.geometry.to_numpy())
    keys = list(props)
    feats = [{"type": "Feature", "geometry": geom, "properties": dict(zip(keys, row))}
             for geom, row in zip(geoms, zip(*(props[k] for k in keys)))]
    return {"type": "FeatureCollection", "features": feats}


def _js(obj) -> str:
    """JSON safe to embed inside a <script> element."""
    return (json.dumps(obj, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


# --------------------------------------------------------------------------- folium elements
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
        child.render(**kwargs)


_FastGeoJson = None


def _fast_geojson_class():
    global _FastGeoJson
    if _FastGeoJson is None:
        import folium
        from folium.features import get_obj_in_upper_tree

        class FastGeoJson(folium.GeoJson):
            """GeoJson styled in JavaScript and rendered without a second Jinja pass."""

            def render(self, **kwargs):
                self.parent_map = get_obj_in_upper_tree(self, folium.Map)
                _raw_render(self, **kwargs)

        _FastGeoJson = FastGeoJson
    return _FastGeoJson


def _geojson(fc: dict, *, name: str, style_js: str, show: bool = True, tip_js: str | None = None,
             interactive: bool = True, marker=None, highlight: bool = False):
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
        parts.append("}")
        on_each = JsCode("".join(parts))
    kw = {"style": JsCode(style_js)}
    if not interactive:
        kw["interactive"] = False
    cls = _fast_geojson_class()
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


def _label_layer(points: list, *, name: str, show: bool = True):
    """Grid labels as DivIcon markers in one toggleable layer (text escaped in Python)."""
    from folium.map import Layer
    from folium.template import Template

    class GridLabels(Layer):
        _template = Template("""
            {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.layerGroup();
            (function(lg){
              var pts = {{ this.points_js }}, marks = [];
              for (var i = 0; i < pts.length; i++) {
                var p = pts[i];
                var mk = L.marker([p[0], p[1]], {interactive: false, keyboard: false,
                  icon: L.divIcon({className: 'gp-grid-label', iconSize: null, html: p[2]})});
                mk._gpW = p[3]; mk._gpH = p[4];
                marks.push(mk); mk.addTo(lg);
              }
              // hide labels that would overlap a larger grid's label (points come largest grid first)
              function declutter() {
                var map = lg._map; if (!map) return;
                var placed = [];
                for (var i = 0; i < marks.length; i++) {
                  var el = marks[i].getElement(); if (!el) continue;
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
            super().__init__(name=_safe(name), overlay=True, control=True, show=show)
            self._name = "GridLabels"
            self.points_js = _js(points)

        def render(self, **kwargs):
            _raw_render(self, **kwargs)

    return GridLabels()


def _legend(items: list[tuple[str, str]], title: str):
    """A Leaflet control (works inside st_folium, which keeps only the map's script)."""
    from folium.elements import MacroElement
    from folium.template import Template

    rows = "".join(f"<div style='margin:2px 0;white-space:nowrap'>{sw}&nbsp;{_safe(lbl)}</div>" for sw, lbl in items)
    box = (f"<div style='background:rgba(255,255,255,0.92);padding:6px 9px;border-radius:4px;"
           f"box-shadow:0 1px 4px rgba(0,0,0,.35);font:12px/1.35 sans-serif;max-height:60vh;overflow:auto'>"
           f"<b>{_safe(title)}</b>{rows}</div>")

    class Legend(MacroElement):
        _template = Template("""
            {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.control({position: 'bottomright'});
            {{ this.get_name() }}.onAdd = function () {
              var d = L.DomUtil.create('div', 'gp-legend');
              d.innerHTML = {{ this.html_js }};
              L.DomEvent.disableClickPropagation(d);
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
    from folium.template import Template

    el = MacroElement()
    el._template = Template("{% macro script(this, kwargs) %}\n"
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
@dataclass
class MapParts:
    """A map split for redrawing in place (:func:`make_map_parts`).

    ``base`` holds what only depends on the dataset (communities, compounds, draw tools, scale,
    legend): its script stays the same when the plan, the coverage or the selection changes, so
    ``st_folium`` keeps the same Leaflet map. ``layers`` are the plan-dependent layers (grids,
    buildings, isochrones, uncovered buildings, grid labels, stations, suggested sites), each a
    ``folium.FeatureGroup`` named as in the layer control, in drawing order — pass them as
    ``st_folium(base, feature_group_to_add=layers, layer_control=control)``. ``control`` is the
    layer control, not added to ``base``.
    """

    base: Any
    layers: list = field(default_factory=list)
    control: Any = None


def make_map(dataset: Dataset, **options):
    """The interactive map of a dataset and (optionally) a plan and its coverage: a ``folium.Map``.

    Options are those of :func:`_build_map` (grids, assignment, coverage, isochrones, stations,
    suggested, lang, asset_base, selected_grid, draw_tools, tiles, height, include_personal,
    colors, minutes, show_compounds, show_isochrones, fit).
    """
    return _build_map(dataset, parts=False, **options)


def make_map_parts(dataset: Dataset, **options) -> MapParts:
    """The map split for redrawing in place: a :class:`MapParts` (base map, plan-dependent layers,
    layer control); options as :func:`make_map`. The base depends on the dataset only, so
    ``st_folium`` keeps the same Leaflet map (and the planner's view) from one edit to the next."""
    options.setdefault("fit", False)
    return _build_map(dataset, parts=True, **options)


def _build_map(dataset: Dataset, *, grids: gpd.GeoDataFrame | None = None, assignment: pd.Series | None = None,
             coverage=None, isochrones: gpd.GeoDataFrame | None = None, stations: gpd.GeoDataFrame | None = None,
             suggested: gpd.GeoDataFrame | None = None, lang: str = "zh", asset_base: str = assets.DEFAULT_BASE,
             selected_grid: str | None = None, draw_tools: bool = False, tiles: str | None = None,
             tiles_attribution: str | None = None, height: int | str = "100%", include_personal: bool = False,
             colors: dict[str, str] | None = None, minutes: float | None = None, check_assets: bool = True,
             show_compounds: bool = True, show_isochrones: bool = True, parts: bool = False, fit: bool = True,
             staff=None):
    """The interactive map of a dataset and (optionally) a plan and its coverage.

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
        result with a ``buildings`` table.
    isochrones
        Walking bands (``band_min``, polygon); polygons of one band are merged.
    stations
        Stations to show (default ``dataset.stations``), with ``kind`` and ``name``.
    suggested
        Suggested new sites (points; optional ``gain_households``).
    lang
        ``"zh"`` (default) or ``"en"`` for tooltips, layer names and legend.
    asset_base
        URL base of the local assets (``/app/static/vendor``, what Streamlit serves), or ``"inline"``
        for a map shown in Jupyter or saved with :func:`to_html` (scripts, styles and marker icons
        inlined, so it renders with no server and no network).
    selected_grid
        A grid to emphasise (thick outline, its buildings outlined) and zoom to.
    draw_tools
        Add the leaflet.draw toolbar (polygon and rectangle) for lasso selection.
    tiles
        A background tile URL template the user configured; none by default (no online tiles).
    include_personal
        Show party-member counts in tooltips (personal data; off by default).
    colors
        grid_id → colour; computed with :func:`grid_colors` when not given.
    minutes
        The coverage threshold when ``coverage`` has no ``covered`` column (default: the largest
        isochrone band, else 15).
    staff
        A :class:`gridplan.staff.StaffAssignment`: each grid's tooltip names its 网格长 and phone
        (masked, ``138****5678``, unless ``include_personal``) and its grid workers.
    parts
        Return a :class:`MapParts` (base map, plan-dependent layers, layer control) instead of one
        map, for redrawing the plan layers without reloading the map (``st_folium``'s
        ``feature_group_to_add``). The legend then lists every entry the given layers could need
        (e.g. the non-compliant grid entry even when all grids comply), so the base stays the same
        from one edit to the next.
    fit
        Zoom the map to the buildings (or the selected grid). ``False`` leaves the view to the
        caller.

    Returns
    -------
    folium.Map or MapParts
        Features carry ``layer`` (``building``/``compound``/``grid``/``community``/``station``/
        ``suggested``) and their ids, for click handling (``st_folium``'s ``last_active_drawing``).
    """
    import folium

    t0 = time.perf_counter()
    T = _t(lang)
    inline = asset_base == "inline"
    base = assets.DEFAULT_BASE if inline else asset_base
    m = folium.Map(location=None, tiles=None, zoom_start=14, control_scale=False, prefer_canvas=False,
                   height=height, width="100%")
    if tiles:
        folium.TileLayer(tiles=tiles, attr=_safe(tiles_attribution or "user-configured tiles"),
                         name=_safe(T.get("basemap", "basemap")), overlay=False, control=False).add_to(m)
    legend: list[tuple[str, str]] = []
    layers: list = []

    def dynamic(el) -> None:
        """A plan-dependent layer: on the map, or (parts mode) in its own named FeatureGroup."""
        if not parts:
            el.add_to(m)
            return
        fg = folium.FeatureGroup(name=el.layer_name, show=el.show)
        fg.add_child(el)
        layers.append(fg)

    b = dataset.buildings
    if assignment is not None:
        assignment = pd.Series(assignment)
        assignment = pd.Series(assignment.astype(str).to_numpy(), index=assignment.index.astype(str))
    if colors is None and (grids is not None or assignment is not None):
        colors = grid_colors(grids, dataset=dataset, assignment=assignment)
    colors = colors or {}
    selected_grid = None if selected_grid is None else str(selected_grid)

    # --- communities (bottom)
    comm = dataset.communities
    comm_name: dict = {}
    if comm is not None and len(comm):
        g = _to_wgs84(comm, 1.0)
        comm_name = dict(zip(comm.index.astype(str), _escape_all(_col(comm, "name"))))
        ids = g.index.astype(str).tolist()
        title = [f"{_safe(T['community'])} {comm_name.get(c, _safe(c))}" for c in ids]
        props = {"layer": ["community"] * len(g), "community_id": ids,
                 "t": _tips(title, [_escape_all(_col(g, "street")), [_safe(c) for c in ids]])}
        _geojson(_feature_collection(g, props), name=T["communities"],
                 style_js="function(f){return {color:'#252525', weight:2.5, dashArray:'8 4', fill:true, fillOpacity:0.0};}",
                 tip_js=_tip_js("community", [T["street"], T["id"]])).add_to(m)
        legend.append((_swatch("none", "#252525", dash=True), T["community_outline"]))

    # --- grids (outline and faint fill, under the buildings)
    if grids is not None and len(grids):
        g = _to_wgs84(grids, 1.0)
        gid = g.index.astype(str).tolist()
        ok = _compliant(g)
        cid = _native(_col(g, "community_id"))
        reason = _col(g, "reason_text") if "reason_text" in g.columns else _col(g, "note")
        if lang != "zh" and "reason" in g.columns:
            try:
                from .i18n import reason as reason_in
                reason = pd.Series([reason_in(str(r), lang) if _py(r) else "" for r in g["reason"]], index=g.index)
            except (ImportError, KeyError):
                pass
        cols = [[comm_name.get(str(c), _esc(c)) if c is not None else "—" for c in cid],
                _escape_all(_col(g, "households")), _escape_all(_col(g, "persons"))]
        labels = [T["community"], T["households"], T["persons"]]
        if include_personal and "party_members" in g.columns:
            cols.append(_escape_all(g["party_members"]))
            labels.append(T["party_members"])
        cols.append([_safe(T["yes"] if x else T["no"]) for x in ok])
        labels.append(T["compliant"])
        cols.append([None if x or not _py(r) else _esc(r) for x, r in zip(ok, reason.tolist())])
        labels.append(T["reason"])
        if staff is not None:
            from .i18n import column as col_label
            gs = staff.grid_staff(gid, include_personal=include_personal, sep="、" if lang == "zh" else ", ")
            for key in ("leader", "leader_phone", "full_time", "part_time"):
                cols.append([_esc(v) if v else None for v in gs[key]])
                labels.append(col_label(key, lang))
        props = {"layer": ["grid"] * len(g), "grid_id": gid, "community_id": cid,
                 "fill": [colors.get(x, "#cccccc") for x in gid], "ok": ok.tolist(),
                 "sel": [x == selected_grid for x in gid],
                 "t": _tips([f"{_safe(T['grid'])} {_safe(x)}" for x in gid], cols)}
        dynamic(_geojson(_feature_collection(g, props), name=T["grids"], tip_js=_tip_js("grid", labels), style_js=(
            "function(f){var p=f.properties; return {color: p.sel ? '#000000' : (p.ok ? '#2b2b2b' : '"
            + NONCOMPLIANT_COLOR + "'), weight: p.sel ? 5 : (p.ok ? 2 : 3), fillColor: p.fill, "
            "fillOpacity: p.sel ? 0.18 : 0.08, dashArray: p.ok ? null : '6 3'};}")))
        legend.append((_swatch("none", "#2b2b2b"), T["grid_outline"]))
        if parts or (~ok).any():
            legend.append((_swatch("none", NONCOMPLIANT_COLOR, dash=True), T["grid_bad"]))

    # --- compounds
    comp = dataset.compounds
    comp_name: dict = {}
    if comp is not None and len(comp):
        g = _to_wgs84(comp, 0.5)
        comp_name = dict(zip(comp.index.astype(str), _escape_all(_col(comp, "name"))))
        ids = g.index.astype(str).tolist()
        sw = sanwu_mask(comp).reindex(g.index).fillna(False).to_numpy(dtype=bool)
        cc = _native(_col(g, "community_id"))
        none = _safe(T["none"])
        cols = [[comm_name.get(str(c), _esc(c)) if c is not None else "—" for c in cc],
                [x if x != "—" else none for x in _escape_all(_col(g, "property_company"))],
                [x if x != "—" else none for x in _escape_all(_col(g, "party_org"))],
                [_safe(T["yes"] if x else T["no"]) for x in sw], [_safe(c) for c in ids]]
        title = [f"{_safe(T['compound'])} {comp_name.get(c) if comp_name.get(c, '—') != '—' else _safe(c)}" for c in ids]
        props = {"layer": ["compound"] * len(g), "compound_id": ids, "community_id": cc, "sanwu": sw.tolist(),
                 "party": _truthy(_col(g, "party_org")).tolist(), "t": _tips(title, cols)}
        _geojson(_feature_collection(g, props), name=T["compounds"], show=show_compounds,
                 tip_js=_tip_js("compound", [T["community"], T["property"], T["party_org"], T["sanwu"], T["id"]]),
                 style_js=("function(f){var p=f.properties; return p.sanwu ? {color:'" + SANWU_COLOR + "', weight:2, "
                           "dashArray:'4 3', fillColor:'" + SANWU_COLOR + "', fillOpacity:0.22} : {color: p.party ? '"
                           + PARTY_COLOR + "' : '#636363', weight: p.party ? 1.6 : 1, fillColor:'#ffffff', "
                           "fillOpacity:0.05};}")).add_to(m)
        legend.append((_swatch("#ffffff", "#636363", opacity=1), T["compound_outline"]))
        if any(props["party"]):
            legend.append((_swatch("#ffffff", PARTY_COLOR, opacity=1), T["party_compound"]))
        if sw.any():
            legend.append((_swatch(SANWU_COLOR, SANWU_COLOR, dash=True, opacity=0.5), T["sanwu_fill"]))

    # --- isochrone bands (not clickable)
    if isochrones is not None and len(isochrones):
        bm_all = isochrones["band_min"].astype(float).to_numpy()
        bands = sorted(set(bm_all.tolist()), reverse=True)
        geoms = [shapely.union_all(isochrones.geometry.to_numpy()[bm_all == bm]) for bm in bands]
        ig = _to_wgs84(gpd.GeoDataFrame({"band_min": bands}, geometry=geoms, crs=isochrones.crs), 2.0)
        order = sorted(bands)
        col = {bm: BAND_COLORS[min(i, len(BAND_COLORS) - 1)] for i, bm in enumerate(order)}
        props = {"layer": ["isochrone"] * len(ig), "band_min": _native(ig["band_min"]),
                 "fill": [col[x] for x in ig["band_min"]]}
        dynamic(_geojson(_feature_collection(ig, props), name=T["isochrones"], interactive=False, show=show_isochrones,
                 style_js="function(f){return {color: f.properties.fill, weight:1, fillColor: f.properties.fill, "
                          "fillOpacity:0.25};}"))
        for bm in order:
            legend.append((_swatch(col[bm], col[bm], opacity=0.5), T["band"].format(m=f"{bm:g}")))
        if minutes is None:
            minutes = max(bands)

    # --- buildings
    cov = coverage_table(coverage, minutes=minutes)
    if len(b):
        g = _to_wgs84(b, 0.3)
        bid = g.index.astype(str).tolist()
        gr = assignment.reindex(bid).tolist() if assignment is not None else [None] * len(g)
        gr = [None if (x is None or x != x) else x for x in gr]
        cid = _native(_col(g, "compound_id"))
        names = _escape_all(_col(g, "name"))
        title = [f"{_safe(T['building'])} {n if n != '—' else _safe(i)}" for n, i in zip(names, bid)]
        cols = [[_safe(x) if x is not None else "—" for x in gr],
                [comp_name.get(str(c), _esc(c)) if c is not None else "—" for c in cid],
                _escape_all(_col(g, "households")), _escape_all(_col(g, "persons"))]
        labels = [T["grid"], T["compound"], T["households"], T["persons"]]
        if include_personal:
            cols.append(_escape_all(_col(g, "party_members")))
            labels.append(T["party_members"])
        if cov is not None:
            c2 = cov.reindex(bid)
            cols.append(_walk_text(_col(c2, "walk_min"), T["min"]))
            cols.append([_safe(T["yes"] if x else T["no"]) for x in _truthy(_col(c2, "covered"))])
            labels += [T["walk"], T["covered"]]
        props = {"layer": ["building"] * len(g), "building_id": bid, "grid_id": gr, "compound_id": cid,
                 "fill": [colors.get(x, "#9e9e9e") if x is not None else "#9e9e9e" for x in gr],
                 "sel": [selected_grid is not None and x == selected_grid for x in gr],
                 "t": _tips(title, cols)}
        dynamic(_geojson(_feature_collection(g, props), name=T["buildings"], highlight=True,
                         tip_js=_tip_js("building", labels), style_js=(
                             "function(f){var p=f.properties; return {color: p.sel ? '#000000' : '#4d4d4d', "
                             "weight: p.sel ? 1.6 : 0.5, fillColor: p.fill, fillOpacity: 0.85};}")))

    # --- uncovered buildings
    if cov is not None and len(b):
        unc = set(cov.index[~_truthy(cov["covered"])]) if "covered" in cov.columns else set()
        ub = b.loc[b.index.astype(str).isin(unc)]
        if len(ub):
            g = _to_wgs84(ub, 0.3)
            props = {"layer": ["uncovered"] * len(g), "building_id": g.index.astype(str).tolist()}
            dynamic(_geojson(_feature_collection(g, props), name=T["uncovered"], interactive=False,
                             style_js="function(f){return {color:'" + UNCOVERED_COLOR + "', weight:2.2, fill:false};}"))
        if len(ub) or parts:
            legend.append((_swatch("none", UNCOVERED_COLOR), T["uncovered_b"]))

    # --- grid labels (code and households)
    if grids is not None and len(grids):
        pts = gpd.GeoSeries(grids.geometry.representative_point(), crs=grids.crs).to_crs(4326)
        ok = _compliant(grids)
        data = []
        order = np.argsort(-grids.geometry.area.to_numpy(), kind="stable")  # largest grids keep their labels
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
                    f"{'' if h is None else int(h)}{_safe(T['hh'])}</span></div>")
            data.append([round(p.y, 6), round(p.x, 6), text, w_px, 30])
        dynamic(_label_layer(data, name=T["grid_labels"]))

    # --- stations, one layer per kind
    st = dataset.stations if stations is None else stations
    known = list(STATION_STYLE)

    def kind_order(k):
        return (known.index(k) if k in known else 99, k)

    def point_kinds(frame) -> np.ndarray:
        return _col(frame, "kind", "other").fillna("other").astype(str).to_numpy()

    if st is not None and len(st):
        g = _to_wgs84(st)
        g = g[g.geom_type == "Point"]
        kinds = point_kinds(g)
        for kind in sorted(set(kinds.tolist()), key=kind_order):
            sg = g[kinds == kind]
            sty = STATION_STYLE.get(kind, OTHER_STATION)
            label = station_kind_label(kind, lang)
            ids = sg.index.astype(str).tolist()
            names = _escape_all(_col(sg, "name"))
            props = {"layer": ["station"] * len(sg), "station_id": ids, "kind": [kind] * len(sg),
                     "t": _tips([n if n != "—" else _safe(i) for n, i in zip(names, ids)],
                                [[_safe(label)] * len(sg), [_safe(i) for i in ids]])}
            dynamic(_geojson(_feature_collection(sg, props), name=f"{T['station']}: {label}",
                             marker=folium.CircleMarker(radius=sty["radius"]),
                             tip_js=_tip_js("station", [T["kind"], T["id"]]),
                             style_js=("function(f){return {color:'" + sty["color"] + "', weight:2, fill:true, "
                                       "fillColor:'" + sty["fillColor"] + "', fillOpacity:0.95, radius:"
                                       + str(sty["radius"]) + "};}")))
            if not parts:
                legend.append((_swatch(sty["fillColor"], sty["color"], circle=True, opacity=1), label))
    if parts:
        # the stations shown may change (what-if stations, the kinds counted for coverage): list the
        # dataset's kinds and the given ones, so the legend (in the base) stays the same
        seen: set[str] = set()
        for frame in (dataset.stations, stations):
            if frame is not None and len(frame):
                seen.update(point_kinds(frame[frame.geom_type == "Point"]).tolist())
        for kind in sorted(seen, key=kind_order):
            sty = STATION_STYLE.get(kind, OTHER_STATION)
            legend.append((_swatch(sty["fillColor"], sty["color"], circle=True, opacity=1),
                           station_kind_label(kind, lang)))

    # --- suggested sites
    if suggested is not None and len(suggested):
        g = _to_wgs84(suggested)
        gain_col = next((c for c in ("gain_households", "gain", "households") if c in g.columns), None)
        gain = _escape_all(g[gain_col]) if gain_col else ["—"] * len(g)
        props = {"layer": ["suggested"] * len(g), "rank": list(range(1, len(g) + 1)),
                 "t": _tips([f"{_safe(T['suggested'])} {i + 1}" for i in range(len(g))], [gain])}
        dynamic(_geojson(_feature_collection(g, props), name=T["suggested"], marker=folium.CircleMarker(radius=9),
                         tip_js=_tip_js("suggested", [T["gain"]]), style_js=(
                             "function(f){return {color:'#e41a1c', weight:3, dashArray:'3 3', fill:true, "
                             "fillColor:'#ffff33', fillOpacity:0.9, radius:9};}")))
        legend.append((_swatch("#ffff33", "#e41a1c", circle=True, dash=True, opacity=1), T["suggested"]))

    if draw_tools:
        from folium.plugins import Draw
        Draw(export=False, draw_options={"polyline": False, "circle": False, "marker": False, "circlemarker": False,
                                         "polygon": {"allowIntersection": False, "showArea": False},
                                         "rectangle": True},
             edit_options={"edit": False}).add_to(m)

    _metric_scale().add_to(m)
    if legend:
        _legend(legend, T["legend"]).add_to(m)
    control = folium.LayerControl(collapsed=False, position="topright")
    if not parts:
        control.add_to(m)
    bounds = b.to_crs(4326).total_bounds if (fit and len(b)) else None
    if fit and selected_grid is not None and grids is not None and selected_grid in set(grids.index.astype(str)):
        bounds = grids.loc[grids.index.astype(str) == selected_grid].to_crs(4326).total_bounds
    if bounds is not None and np.all(np.isfinite(bounds)):
        m.fit_bounds([[float(bounds[1]), float(bounds[0])], [float(bounds[3]), float(bounds[2])]])

    assets.localize_map(m, base, check=check_assets)
    for fg in layers:  # the layers are rendered apart from the map: point their resources at local copies too
        assets.localize_map(fg, base, check=False, icon_fix=False)
    if inline:
        assets._add_icon_fix(m, None, data_uris=assets.marker_icon_data_uris())
        # notebooks show the map through Figure.render() in an iframe: inline the assets there too
        fig = m.get_root()
        plain_render = fig.render
        fig.render = lambda **kw: assets.inline_assets(plain_render(**kw))
    m._gridplan_inline = inline
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
