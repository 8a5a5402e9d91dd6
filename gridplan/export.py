"""Exports of a plan (SPEC §6): data files, the grid ledger (网格台账), interactive HTML, posters.

* :func:`export_data` — the grid layer and the assignment as GeoJSON (EPSG:4326), GeoPackage (input
  CRS, with a QGIS ``layer_styles`` table so the grids open coloured and labelled) and zipped
  Shapefiles (with a ``.cpg`` so Chinese attributes survive);
* :func:`export_ledger` — the ledger as Excel with Chinese headers (grids, the five-level party
  hierarchy 街道党工委 → 社区党组织 → 小区党支部 → 楼栋党小组 → 党员中心户 with the grids, 党员中心户
  need, and with the inputs given: grid staff, mobile stops per weekday, 三无 → 三有 progress; notes)
  and as CSV (UTF-8 with BOM, so Excel reads Chinese);
* :func:`export_html` — one self-contained interactive map that works from ``file://``;
* :func:`export_poster` — see :mod:`gridplan.poster`.

Personal data (party-member counts per building, staff phone numbers) stays out unless
``include_personal=True``: phones are masked (``138****5678``). Staff names stay: they are the
duty information grid signage shows. User text is escaped in HTML and never becomes a spreadsheet
formula.
Everything is written under ``maps/`` by default, atomically (a temporary file moved into place).
"""
from __future__ import annotations

import datetime as _dt
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape as _xml

import geopandas as gpd
import numpy as np
import pandas as pd

from ._atomic import atomic_path
from .io import write_layers, write_zip_shapefile
from .model import Dataset, Plan

if TYPE_CHECKING:
    from .chain import CentralNeed

log = logging.getLogger(__name__)

DEFAULT_DIR = Path("maps")
DATA_FORMATS = ("geojson", "gpkg", "shp")

#: grid-layer columns written to data files (English names; Shapefile gets ≤10-character names)
GRID_COLUMNS = ["grid_id", "code", "community_id", "community", "street", "households", "balance", "persons",
                "party_members", "buildings", "compounds", "compliant", "note"]
SHP_NAMES = {"community_id": "comm_id", "community": "comm_name", "party_members": "party_mem",
             "compound_id": "comp_id", "building_id": "bldg_id"}

LEDGER_HEADERS = {
    "grid_id": "网格编码", "code": "网格序号", "street": "街道", "community": "社区", "community_id": "社区编码",
    "households": "户数", "balance": "户数偏差", "persons": "人口", "party_members": "党员数", "buildings": "楼栋数",
    "compounds": "小区数", "compound_names": "包含小区", "sanwu": "三无小区数", "sanwu_names": "三无小区",
    "covered_households": "15分钟服务圈覆盖户数", "coverage_pct": "覆盖率(%)", "compliant": "是否合规",
    "note": "说明",
}


# --------------------------------------------------------------------------- helpers
def _out_dir(folder) -> Path:
    p = Path(folder) if folder is not None else DEFAULT_DIR
    p.mkdir(parents=True, exist_ok=True)
    return p


def _assignment_of(plan) -> pd.Series:
    a = plan.assignment if isinstance(plan, Plan) else pd.Series(plan)
    return pd.Series(a.astype(str).to_numpy(), index=pd.Index(a.index.astype(str), name="building_id"), name="grid_id")


def _grid_layer(dataset: Dataset, plan: Plan, grids):
    """The grid layer given, or the plan's (cached per dataset and plan)."""
    if grids is not None:
        return grids
    if not isinstance(plan, Plan):
        raise TypeError("export_* takes a Plan (or give grids= and an assignment Series)")
    from .metrics import grids as grid_layer
    return grid_layer(dataset, plan)


def _names(layer: gpd.GeoDataFrame | None, col: str) -> dict:
    if layer is None or col not in layer.columns:
        return {}
    return {str(k): v for k, v in layer[col].items() if v is not None and v == v}


def _compliant(grids: pd.DataFrame) -> np.ndarray:
    from .webmap import _compliant as c
    return c(grids)


def grid_attributes(dataset: Dataset, plan, grids: gpd.GeoDataFrame, *, include_personal: bool = True) -> gpd.GeoDataFrame:
    """The grid layer for export: :data:`GRID_COLUMNS` (community name and street joined) and polygons."""
    from .webmap import short_code

    a = _assignment_of(plan)
    g = grids.copy()
    g.index = g.index.astype(str)
    comm_name = _names(dataset.communities, "name")
    comm_street = _names(dataset.communities, "street")
    b = dataset.buildings
    bb = pd.DataFrame({"grid_id": a.reindex(b.index.astype(str)).to_numpy(),
                       "compound_id": b["compound_id"].to_numpy() if "compound_id" in b.columns else None})
    n_comp = bb.dropna().groupby("grid_id")["compound_id"].nunique() if "compound_id" in b.columns else pd.Series(dtype=int)
    cid = g["community_id"].astype(object) if "community_id" in g.columns else pd.Series(None, index=g.index)
    out = pd.DataFrame(index=g.index)
    out["grid_id"] = g.index
    out["code"] = [short_code(i, c) for i, c in zip(g.index, cid)]
    out["community_id"] = cid.to_numpy()
    out["community"] = [comm_name.get(str(c)) for c in cid]
    out["street"] = [comm_street.get(str(c)) for c in cid]
    if "balance" in g.columns:
        out["balance"] = pd.to_numeric(g["balance"], errors="coerce").fillna(0).astype("int64").to_numpy()
    for c in ("households", "persons", "party_members", "buildings"):
        if c in g.columns:
            out[c] = pd.to_numeric(g[c], errors="coerce").fillna(0).astype("int64").to_numpy()
        elif c in b.columns or c == "buildings":
            vals = b[c] if c in b.columns else pd.Series(1, index=b.index)
            out[c] = pd.Series(pd.to_numeric(vals, errors="coerce").fillna(0).to_numpy(), index=b.index.astype(str)) \
                .groupby(a.reindex(b.index.astype(str)).to_numpy()).sum().reindex(g.index).fillna(0).astype("int64").to_numpy()
    out["compounds"] = n_comp.reindex(g.index).fillna(0).astype("int64").to_numpy()
    out["compliant"] = _compliant(g)
    note = g["note"] if "note" in g.columns else (g["reason_text"] if "reason_text" in g.columns else "")
    out["note"] = pd.Series(note, index=g.index).fillna("").astype(str).to_numpy()
    if not include_personal and "party_members" in out.columns:
        pass  # per-grid totals are aggregates, not personal data; per-building counts are left out elsewhere
    out = out[[c for c in GRID_COLUMNS if c in out.columns]]
    return gpd.GeoDataFrame(out.reset_index(drop=True), geometry=g.geometry.to_numpy(), crs=grids.crs)


def assignment_layer(dataset: Dataset, plan, *, include_personal: bool = False) -> gpd.GeoDataFrame:
    """One row per building: ``building_id``, ``grid_id``, ``compound_id``, ``community_id``, counts, geometry.

    ``party_members`` (personal) only with ``include_personal``.
    """
    a = _assignment_of(plan)
    b = dataset.buildings
    out = pd.DataFrame({"building_id": b.index.astype(str), "grid_id": a.reindex(b.index.astype(str)).to_numpy()})
    for c in ("compound_id", "community_id", "name", "households", "persons"):
        if c in b.columns:
            out[c] = b[c].to_numpy()
    if include_personal and "party_members" in b.columns:
        out["party_members"] = b["party_members"].to_numpy()
    return gpd.GeoDataFrame(out, geometry=b.geometry.to_numpy(), crs=b.crs)


# --------------------------------------------------------------------------- QGIS style
def _rgb(hex_color: str, alpha: int = 255) -> str:
    h = hex_color.lstrip("#")
    return f"{int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha}"


def _qml_fill(name: str, fill: str, outline: str = "#333333", width: float = 0.4, alpha: int = 150) -> str:
    opts = {"color": _rgb(fill, alpha), "outline_color": _rgb(outline), "outline_style": "solid",
            "outline_width": str(width), "outline_width_unit": "MM", "style": "solid", "joinstyle": "bevel"}
    o = "".join(f'<Option type="QString" name="{k}" value="{_xml(v)}"/>' for k, v in opts.items())
    p = "".join(f'<prop k="{k}" v="{_xml(v)}"/>' for k, v in opts.items())
    return (f'<symbol type="fill" name="{_xml(name)}" alpha="1" clip_to_extent="1" force_rhr="0">'
            f'<layer class="SimpleFill" enabled="1" locked="0" pass="0"><Option type="Map">{o}</Option>{p}</layer></symbol>')


def grid_qml(grids: gpd.GeoDataFrame, colors: dict[str, str], *, font: str = "Noto Sans CJK SC") -> str:
    """A QGIS style: grids categorised by ``grid_id`` in ``colors``, red outline when not compliant,
    labelled with the grid code and household count."""
    cats, syms = [], []
    ok = dict(zip(grids["grid_id"], _compliant(grids)))
    for i, gid in enumerate(grids["grid_id"]):
        label = f"{gid}"
        cats.append(f'<category render="true" symbol="{i}" value="{_xml(str(gid))}" label="{_xml(label)}" type="string"/>')
        syms.append(_qml_fill(str(i), colors.get(gid, "#cccccc"), "#333333" if ok[gid] else "#d7191c",
                              0.4 if ok[gid] else 0.9))
    expr = "\"code\" || '\\n' || to_string(\"households\") || '户'"
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.28.0" styleCategories="Symbology|Labeling" labelsEnabled="1">'
        '<renderer-v2 type="categorizedSymbol" attr="grid_id" forceraster="0" symbollevels="0" enableorderby="0">'
        f'<categories>{"".join(cats)}</categories><symbols>{"".join(syms)}</symbols>'
        f'<source-symbol>{_qml_fill("0", "#cccccc")}</source-symbol>'
        '</renderer-v2>'
        '<labeling type="simple"><settings calloutType="simple">'
        f'<text-style fieldName="{_xml(expr, {chr(34): "&quot;"})}" isExpression="1" fontFamily="{_xml(font)}" '
        'fontSize="9" fontSizeUnit="Point" fontWeight="75" textColor="20,20,20,255" textOpacity="1" '
        'multilineHeight="1" namedStyle="Bold">'
        '<text-buffer bufferDraw="1" bufferSize="1" bufferSizeUnits="MM" bufferColor="255,255,255,255" '
        'bufferOpacity="0.9" bufferJoinStyle="128"/></text-style>'
        '<text-format multilineAlign="1" wrapChar="" autoWrapLength="0"/>'
        '<placement placement="1" offsetType="0" centroidWhole="0" centroidInside="1" fitInPolygonOnly="0" '
        'priority="5" overrunDistance="0"/>'
        '<rendering obstacle="1" displayAll="0" upsidedownLabels="0" labelPerPart="0" mergeLines="0" '
        'minFeatureSize="0" limitNumLabels="0" maxNumLabels="2000" drawLabels="1" scaleVisibility="0"/>'
        '</settings></labeling>'
        '</qgis>'
    )


def grid_sld(grids: gpd.GeoDataFrame, colors: dict[str, str], *, layer: str = "grids") -> str:
    """The same style as OGC SLD 1.1 (for GeoServer and friends): one rule per colour, labels."""
    by_color: dict[str, list[str]] = {}
    for gid in grids["grid_id"]:
        by_color.setdefault(colors.get(gid, "#cccccc"), []).append(str(gid))
    rules = []
    for col, ids in by_color.items():
        eq = "".join(f"<ogc:PropertyIsEqualTo><ogc:PropertyName>grid_id</ogc:PropertyName>"
                     f"<ogc:Literal>{_xml(i)}</ogc:Literal></ogc:PropertyIsEqualTo>" for i in ids)
        flt = f"<ogc:Or>{eq}</ogc:Or>" if len(ids) > 1 else eq
        rules.append(
            f"<se:Rule><se:Name>{_xml(col)}</se:Name><ogc:Filter>{flt}</ogc:Filter><se:PolygonSymbolizer>"
            f'<se:Fill><se:SvgParameter name="fill">{col}</se:SvgParameter>'
            f'<se:SvgParameter name="fill-opacity">0.6</se:SvgParameter></se:Fill>'
            f'<se:Stroke><se:SvgParameter name="stroke">#333333</se:SvgParameter>'
            f'<se:SvgParameter name="stroke-width">1</se:SvgParameter></se:Stroke></se:PolygonSymbolizer></se:Rule>')
    rules.append(
        "<se:Rule><se:Name>labels</se:Name><se:TextSymbolizer><se:Label><ogc:PropertyName>code</ogc:PropertyName>"
        "</se:Label><se:Font><se:SvgParameter name=\"font-family\">Noto Sans CJK SC</se:SvgParameter>"
        "<se:SvgParameter name=\"font-size\">11</se:SvgParameter></se:Font><se:Halo><se:Radius>1</se:Radius>"
        "<se:Fill><se:SvgParameter name=\"fill\">#ffffff</se:SvgParameter></se:Fill></se:Halo>"
        "</se:TextSymbolizer></se:Rule>")
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<StyledLayerDescriptor xmlns="http://www.opengis.net/sld" xmlns:ogc="http://www.opengis.net/ogc" '
            'xmlns:se="http://www.opengis.net/se" version="1.1.0">'
            f"<NamedLayer><se:Name>{_xml(layer)}</se:Name><UserStyle><se:Name>{_xml(layer)}</se:Name>"
            f"<se:FeatureTypeStyle>{''.join(rules)}</se:FeatureTypeStyle></UserStyle></NamedLayer>"
            "</StyledLayerDescriptor>")


def add_layer_styles(gpkg: Path, table: str, qml: str, sld: str, *, style_name: str | None = None,
                     description: str = "gridplan") -> None:
    """Add (or replace) the default QGIS style of ``table`` in the GeoPackage's ``layer_styles`` table,
    registering the table in ``gpkg_contents`` as attributes like QGIS does."""
    con = sqlite3.connect(gpkg)
    try:
        geom_col = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (table,)).fetchone()
        geom_col = geom_col[0] if geom_col else "geom"
        con.execute(
            "CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), "
            "f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), "
            "styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
            "update_time DATETIME DEFAULT CURRENT_TIMESTAMP)")
        con.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, "
                    "last_change) VALUES ('layer_styles', 'attributes', 'layer_styles', '', "
                    "strftime('%Y-%m-%dT%H:%M:%fZ','now'))")
        con.execute("DELETE FROM layer_styles WHERE f_table_name = ?", (table,))
        con.execute("INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
                    "styleName, styleQML, styleSLD, useAsDefault, description, owner, ui) "
                    "VALUES ('', '', ?, ?, ?, ?, ?, 1, ?, '', NULL)",
                    (table, geom_col, style_name or table, qml, sld, description))
        con.commit()
    finally:
        con.close()


# --------------------------------------------------------------------------- data
def export_data(dataset: Dataset, plan: Plan, path=None, *, grids: gpd.GeoDataFrame | None = None,
                formats: Iterable[str] = DATA_FORMATS, include_personal: bool = False,
                stem: str = "grids", colors: dict[str, str] | None = None,
                coord_system: str = "input") -> list[Path]:
    """Write the grid layer and the assignment.

    Parameters
    ----------
    dataset, plan
        The dataset and the plan to write.
    path
        Output folder (default ``maps/``), or a file path whose suffix picks one format
        (``.geojson``, ``.gpkg``, ``.zip``).
    grids
        The grid layer (:func:`gridplan.metrics.grids`); derived from ``plan`` when omitted.
    formats
        Any of ``"geojson"`` (``grids.geojson`` + ``assignment.geojson``, EPSG:4326), ``"gpkg"``
        (``grids.gpkg`` with layers ``grids``, ``assignment`` and QGIS ``layer_styles``, input CRS),
        ``"shp"`` (``grids_shp.zip`` and ``assignment_shp.zip``, input CRS, UTF-8 ``.cpg``).
    coord_system
        ``"input"`` (default: data read as GCJ-02/BD-09 is written back in it, so it lines up with
        the Amap/Baidu basemap it was drawn on), ``"wgs84"``, ``"gcj02"`` or ``"bd09"``.

    Returns
    -------
    list of Path
        Every file written: the grid files and the assignment files beside them.
    """
    from .webmap import grid_colors

    grids = _grid_layer(dataset, plan, grids)
    folder = path
    single = None
    if folder is not None and Path(folder).suffix.lower() in (".geojson", ".json", ".gpkg", ".zip"):
        single = Path(folder)
        formats = [{".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".zip": "shp"}[single.suffix.lower()]]
        out_dir = _out_dir(single.parent)
        stem = single.stem
    else:
        out_dir = _out_dir(folder)
    formats = [f.lower() for f in formats]
    bad = [f for f in formats if f not in DATA_FORMATS]
    if bad:
        raise ValueError(f"unknown export format(s) {bad}; use {', '.join(DATA_FORMATS)}")
    g = grid_attributes(dataset, plan, grids, include_personal=include_personal)
    asg = assignment_layer(dataset, plan, include_personal=include_personal)
    written: list[Path] = []
    if "geojson" in formats:
        p = single or out_dir / f"{stem}.geojson"
        pa = p.with_name(f"{p.stem}_assignment.geojson") if single else out_dir / "assignment.geojson"
        write_layers({"grids": g}, p, dataset=dataset, driver="GeoJSON", coord_system=coord_system)
        write_layers({"assignment": asg}, pa, dataset=dataset, driver="GeoJSON", coord_system=coord_system)
        written += [p, pa]
    if "gpkg" in formats:
        p = single or out_dir / f"{stem}.gpkg"
        colors = colors or grid_colors(grids)
        with atomic_path(p) as tmp:
            write_layers({"grids": g, "assignment": asg}, tmp, dataset=dataset, driver="GPKG",
                         coord_system=coord_system)
            add_layer_styles(tmp, "grids", grid_qml(g, colors), grid_sld(g, colors), style_name="网格 grids")
        written.append(p)
    if "shp" in formats:
        p = single or out_dir / f"{stem}_shp.zip"
        pa = p.with_name(f"{p.stem}_assignment.zip") if single else out_dir / "assignment_shp.zip"
        write_zip_shapefile(g.rename(columns=SHP_NAMES), p, dataset=dataset, coord_system=coord_system)
        write_zip_shapefile(asg.rename(columns=SHP_NAMES), pa, dataset=dataset, coord_system=coord_system)
        written += [p, pa]
    log.info("data written: %s", [str(w) for w in written])
    return written


# --------------------------------------------------------------------------- ledger
def _coverage_by_building(coverage, minutes: float = 15.0) -> pd.Series | None:
    from .webmap import coverage_table
    cov = coverage_table(coverage, minutes=minutes)
    return None if cov is None else cov["covered"]


@dataclass(frozen=True)
class _LedgerBase:
    """What the ledger's sheets share: the plan, per-building and per-grid attributes and the 党员中心户 need."""

    plan: Plan
    bid: pd.Index                  # building ids (str)
    bt: pd.DataFrame               # per building: grid_id, compound_id, households
    attrs: pd.DataFrame            # per grid (index grid_id): grid_attributes without geometry
    comp_name: dict
    sw: pd.Series                  # compound_id → 三无
    need: CentralNeed
    need_grids: pd.DataFrame       # need.grids (there is a plan)


def _ledger_base(dataset: Dataset, plan, grids: gpd.GeoDataFrame, per: int) -> _LedgerBase:
    from .chain import central_household_need
    from .webmap import sanwu_mask

    a = _assignment_of(plan)
    b = dataset.buildings
    bid = pd.Index(b.index.astype(str).to_numpy())
    attrs = grid_attributes(dataset, plan, grids)
    attrs = pd.DataFrame(attrs.drop(columns="geometry"))
    attrs.index = pd.Index(attrs["grid_id"].to_numpy())
    comp = dataset.compounds
    sw = sanwu_mask(comp) if comp is not None else pd.Series(dtype=bool)
    sw.index = sw.index.astype(str)
    bt = pd.DataFrame({"grid_id": a.reindex(bid).to_numpy(),
                       "compound_id": b["compound_id"].astype(object).to_numpy() if "compound_id" in b.columns else None,
                       "households": pd.to_numeric(b["households"], errors="coerce").fillna(0).to_numpy()},
                      index=bid)
    plan_obj = plan if isinstance(plan, Plan) else Plan(a)
    need = central_household_need(dataset, plan_obj, households_per_central=per)
    assert need.grids is not None   # there is a plan
    return _LedgerBase(plan=plan_obj, bid=bid, bt=bt, attrs=attrs, comp_name=_names(comp, "name"), sw=sw,
                       need=need, need_grids=need.grids)


def _grid_ledger(lb: _LedgerBase, *, coverage, staff, include_personal: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``网格台账``: one row per grid, with Chinese headers; also the per-grid table in ledger order."""
    from .i18n import column

    bt, comp_name, sw, bid = lb.bt, lb.comp_name, lb.sw, lb.bid
    comp_of_grid = bt.dropna(subset=["compound_id"]).groupby("grid_id")["compound_id"].agg(lambda s: sorted(set(s)))
    t_ = lb.attrs.copy()
    t_["compound_names"] = ["、".join(str(comp_name.get(c, c)) for c in comp_of_grid.get(g, [])) for g in t_.index]
    sanwu_lists = [[c for c in comp_of_grid.get(g, []) if bool(sw.get(c, False))] for g in t_.index]
    t_["sanwu"] = [len(x) for x in sanwu_lists]
    t_["sanwu_names"] = ["、".join(str(comp_name.get(c, c)) for c in x) for x in sanwu_lists]
    t_["central_need"] = lb.need_grids["need"].reindex(t_.index).fillna(0).astype("int64").to_numpy()
    cov = _coverage_by_building(coverage)
    cols = ["grid_id", "code", "street", "community", "community_id", "households", "balance", "persons",
            "party_members", "buildings", "compounds", "compound_names", "sanwu", "sanwu_names", "central_need"]
    if cov is not None:
        covered = bt["households"] * cov.reindex(bid).fillna(False).astype(bool).to_numpy()
        ch = covered.groupby(bt["grid_id"].to_numpy()).sum()
        t_["covered_households"] = ch.reindex(t_.index).fillna(0).astype("int64").to_numpy()
        t_["coverage_pct"] = np.where(t_["households"] > 0, (100.0 * t_["covered_households"] / t_["households"].where(
            t_["households"] > 0, 1)).round(1), np.nan)
        cols += ["covered_households", "coverage_pct"]
    if staff is not None:
        gs = staff.grid_staff(t_.index, include_personal=include_personal)
        for c in ("leader", "leader_phone", "full_time", "part_time"):
            t_[c] = gs[c].reindex(t_.index).fillna("").to_numpy()
        cols += ["leader", "leader_phone", "full_time", "part_time"]
    t_["compliant"] = np.where(t_["compliant"].to_numpy(dtype=bool), "是", "否")
    cols += ["compliant", "note"]
    t_ = t_.sort_values(["street", "community_id", "grid_id"], na_position="last", kind="stable")
    headers = {**LEDGER_HEADERS, **{c: column(c, "zh") for c in ("central_need", "leader", "leader_phone",
                                                                  "full_time", "part_time")}}
    ledger = t_[[c for c in cols if c in t_.columns]].rename(columns=headers).reset_index(drop=True)
    ledger.insert(0, "序号", np.arange(1, len(ledger) + 1))
    return ledger, t_


def _hierarchy_sheet(dataset: Dataset, lb: _LedgerBase, *, include_personal: bool) -> pd.DataFrame:
    """``党建层级``: one row per building, the five levels of the party chain as columns."""
    from .i18n import column, t

    b, bid, bt, attrs, comp_name, sw = dataset.buildings, lb.bid, lb.bt, lb.attrs, lb.comp_name, lb.sw
    comm = dataset.communities
    cname, cstreet = _names(comm, "name"), _names(comm, "street")
    party = _names(dataset.compounds, "party_org")
    g_comm = attrs["community_id"].to_dict()
    h = pd.DataFrame(index=bid)
    h["grid_id"] = bt["grid_id"].to_numpy()
    bcomm = (b["community_id"].astype(object).to_numpy() if "community_id" in b.columns
             else h["grid_id"].map(g_comm).to_numpy())
    h["street"] = [cstreet.get(str(c), "") for c in bcomm]
    h["street_party"] = [t("chain_org_street", "zh", name=s) if s else "" for s in h["street"]]
    h["community"] = [cname.get(str(c), str(c)) for c in bcomm]
    h["community_party"] = [t("chain_org_community", "zh", name=n) for n in h["community"]]
    h["code"] = h["grid_id"].map(attrs["code"].to_dict())
    h["compound"] = [comp_name.get(str(c), "") if c is not None and c == c else "" for c in bt["compound_id"]]
    h["compound_party"] = [f"{comp_name.get(str(c), c)}{party[str(c)]}" if c is not None and c == c and party.get(str(c))
                           else "" for c in bt["compound_id"]]
    h["sanwu"] = ["是" if c is not None and c == c and bool(sw.get(str(c), False)) else "" for c in bt["compound_id"]]
    h["building_id"] = bid
    h["building"] = b["name"].astype(object).where(b["name"].notna(), "").to_numpy() if "name" in b.columns else ""
    h["households"] = pd.to_numeric(b["households"], errors="coerce").fillna(0).astype("int64").to_numpy()
    h["building_party"] = [t("chain_org_building", "zh", name=n or i) if hh > 0 else ""
                           for n, i, hh in zip(h["building"], h.index, h["households"])]
    h["persons"] = pd.to_numeric(b["persons"], errors="coerce").fillna(0).astype("int64").to_numpy() \
        if "persons" in b.columns else 0
    nb = lb.need.buildings.reindex(bid)
    h["central_need"] = nb["need"].to_numpy()
    hcols = {"street": "街道", "street_party": column("chain_street", "zh"), "community": "社区",
             "community_party": column("chain_community", "zh"), "grid_id": "网格编码", "code": "网格序号",
             "compound": "小区", "compound_party": column("chain_compound", "zh"), "sanwu": "三无小区",
             "building_id": "楼栋编号", "building": "楼栋名称", "building_party": column("chain_building", "zh"),
             "households": "户数", "persons": "人口", "central_need": column("central_need", "zh")}
    if include_personal:
        h["party_members"] = nb["party_members"].to_numpy()
        h["central_designated"] = nb["designated"].to_numpy()
        h["central_shortfall"] = nb["shortfall"].to_numpy()
        hcols.update({"party_members": "党员数", "central_designated": column("central_designated", "zh"),
                      "central_shortfall": column("central_shortfall", "zh")})
    h = h.sort_values(["street", "community", "grid_id", "compound", "building_id"], kind="stable")
    return h[list(hcols)].rename(columns=hcols).reset_index(drop=True)


def _chain_sheet(dataset: Dataset, plan: Plan, *, per: int, include_personal: bool) -> pd.DataFrame:
    """``五级组织``: the chain's upper levels (street, community, compound) with counts at every level."""
    from .chain import party_chain
    from .i18n import column

    pc = party_chain(dataset, plan, households_per_central=per)
    kids = pc[pc["level"] == 4].groupby("parent").apply(lambda d: int(d["has_org"].sum()), include_groups=False)
    up = pc[pc["level"] <= 3].copy()
    up["groups"] = [int(kids.get(i, 0)) if lv == 3 else None for i, lv in zip(up["id"], up["level"])]
    for lv, col in ((2, 3), (1, 2)):  # building party groups summed upwards
        s_ = up[up["level"] == col].groupby("parent")["groups"].sum()
        m = up["level"] == lv
        up.loc[m, "groups"] = up.loc[m, "id"].map(s_).fillna(0).to_numpy()
    up["groups"] = up["groups"].astype("int64")
    tree_cols = {"level_name": column("chain_level", "zh"), "name": "名称", "organisation": column("chain_org", "zh"),
                 "parent": column("chain_parent", "zh"), "households": "户数", "persons": "人口", "buildings": "楼栋数",
                 "groups": column("chain_groups", "zh"), "central_need": column("central_need", "zh")}
    if include_personal:
        tree_cols.update({"party_members": "党员数", "central_designated": column("central_designated", "zh")})
    parent_name = dict(zip(pc["id"], pc["name"]))
    up["parent"] = [parent_name.get(p_, "") if p_ is not None else "" for p_ in up["parent"]]
    return up[list(tree_cols)].rename(columns=tree_cols).reset_index(drop=True)


def _central_sheets(lb: _LedgerBase, grid_order: np.ndarray, *, include_personal: bool) -> dict[str, pd.DataFrame]:
    """``党员中心户``: need against party members per grid (aggregates; per building only when personal)."""
    from .i18n import column, t

    gneed = lb.need_grids.reindex(grid_order)
    tables = {t("sheet_central", "zh"): pd.DataFrame({
        "网格编码": gneed.index, "户数": gneed["households"].to_numpy(),
        column("central_need", "zh"): gneed["need"].to_numpy(), "党员数": gneed["party_members"].to_numpy(),
        column("central_shortfall", "zh"): gneed["shortfall"].to_numpy(),
        column("central_met", "zh"): np.where(gneed["met"].to_numpy(dtype=bool), "是", "否"),
        column("buildings_short", "zh"): gneed["buildings_short"].to_numpy(),
    })}
    if include_personal:
        sb = lb.need.short_buildings
        tables[t("sheet_central_buildings", "zh")] = pd.DataFrame({
            "楼栋编号": sb.index, "网格编码": sb["grid_id"].to_numpy(), "户数": sb["households"].to_numpy(),
            column("central_need", "zh"): sb["need"].to_numpy(), "党员数": sb["party_members"].to_numpy(),
            column("central_shortfall", "zh"): sb["shortfall"].to_numpy(),
            column("central_designated", "zh"): sb["designated"].to_numpy()})
    return tables


def _staff_sheets(dataset: Dataset, plan: Plan, staff, *, include_personal: bool, max_grids_per_leader: int
                  ) -> tuple[dict[str, pd.DataFrame], tuple[str, object]]:
    """``网格员`` and ``网格员核查``, and their note."""
    from .i18n import column, t
    from .staff import staff_sheet

    tables = {t("sheet_staff", "zh"): staff_sheet(staff, include_personal=include_personal,
                                                  communities=_names(dataset.communities, "name"))}
    v = staff.check(plan, max_grids_per_leader=max_grids_per_leader)
    tables[t("sheet_staff_check", "zh")] = pd.DataFrame({
        column("violation", "zh"): [t(f"violation_{c}", "zh") for c in v["code"]],
        "网格编码": v["grid_id"].fillna("").to_numpy(), "姓名": v["name"].fillna("").to_numpy(),
        column("violation_text", "zh"): v["message"].to_numpy()})
    note = (t("note_staff", "zh"), t("note_staff_text", "zh", n=int(staff.table["person_id"].nunique()),
                                     v=len(v), max=max_grids_per_leader))
    return tables, note


def _mobile_sheets(mobile, grid_order: np.ndarray) -> tuple[dict[str, pd.DataFrame], tuple[str, object]]:
    """``流动郁心站`` (households reached per grid and weekday) and ``流动站排班``, and their note."""
    from .i18n import column, t
    from .mobile import WEEKDAY_KEYS, WEEKDAYS_ZH

    mg = mobile.by_grid if mobile.by_grid is not None else pd.DataFrame()
    mg = mg.reindex(grid_order)
    mt = pd.DataFrame({"网格编码": mg.index, "户数": mg["households"].fillna(0).astype("int64").to_numpy()})
    for k, zh in zip(WEEKDAY_KEYS, WEEKDAYS_ZH):
        mt[zh] = mg[k].fillna(0).astype("int64").to_numpy()
    mt[column("households_any", "zh")] = mg["households_any"].fillna(0).astype("int64").to_numpy()
    mt["覆盖率(%)"] = mg["pct_any"].round(1).to_numpy()
    bs = mobile.by_station
    tables = {t("sheet_mobile", "zh"): mt, t("sheet_mobile_schedule", "zh"): pd.DataFrame({
        "站点编码": bs.index, "名称": bs["name"].to_numpy(), column("weekdays", "zh"): bs["weekdays"].to_numpy(),
        column("windows", "zh"): bs["windows"].to_numpy(), "覆盖楼栋": bs["buildings"].to_numpy(),
        "覆盖户数": bs["households"].astype("int64").to_numpy()})}
    note = (t("note_mobile", "zh"), t("note_mobile_text", "zh", m=f"{mobile.minutes:g}", d=f"{mobile.walk_m:.0f}"))
    return tables, note


def _sanwu_sheet(dataset: Dataset, since, until) -> tuple[dict[str, pd.DataFrame], tuple[str, object]]:
    """``三无小区治理``: progress since ``since`` (default the first record), and its note."""
    from .i18n import column, t
    from .sanwu import sanwu_progress

    status = dataset.compound_status
    assert status is not None   # asked only with a status history
    cname = _names(dataset.communities, "name")
    since = since if since is not None else status["date"].min()
    pr = sanwu_progress(dataset, since, until=until)
    stxt = {k: t(f"sanwu_status_{k}", "zh") for k in ("sanwu", "partial", "sanyou", "unknown")}
    sheet = pd.DataFrame({
        "小区编码": pr.index, "小区": pr["name"].to_numpy(),
        "社区": [cname.get(str(c), c) for c in pr["community_id"]],
        column("status_since", "zh"): pr["status_since"].map(stxt).to_numpy(),
        column("status_now", "zh"): pr["status_now"].map(stxt).to_numpy(),
        column("left_sanwu_on", "zh"): pr["left_sanwu_on"].dt.strftime("%Y-%m-%d").fillna("").to_numpy(),
        column("sanyou_on", "zh"): pr["sanyou_on"].dt.strftime("%Y-%m-%d").fillna("").to_numpy(),
        column("red_property", "zh"): np.where(pr["red_property"].to_numpy(dtype=bool), "是", ""),
        column("property_company", "zh"): pr["property_company"].fillna("").to_numpy()})
    return {t("sheet_sanwu", "zh"): sheet}, (t("note_sanwu", "zh"), t("note_sanwu_text", "zh", **pr.attrs))


def _notes_sheet(dataset: Dataset, plan, ledger: pd.DataFrame, *, include_personal: bool,
                 notes_extra: list[tuple[str, object]]) -> pd.DataFrame:
    """``说明``: what the ledger holds (data, date, totals, rule, personal data, the chain) and the notes."""
    rule = plan.rule if isinstance(plan, Plan) else None
    notes: list[tuple[str, object]] = [
        ("数据", dataset.name or ""), ("导出日期", _dt.date.today().isoformat()),
        ("网格数", len(ledger)), ("楼栋数", len(dataset.buildings)),
        ("总户数", int(ledger["户数"].sum())), ("总人口", int(ledger["人口"].sum()) if "人口" in ledger else ""),
        ("合规网格数", int((ledger["是否合规"] == "是").sum()))]
    if rule is not None:
        notes.append(("网格规模规则", f"户数 {rule.min_households}–{rule.max_households} 或/且 人口 "
                                      f"{rule.min_persons}–{rule.max_persons}（模式 {rule.mode}）"))
    notes.append(("个人信息", "包含楼栋党员数、网格员完整电话（内部使用，请勿公开）" if include_personal
                  else "不含楼栋党员数等个人信息（网格党员数为汇总），网格员电话已隐去中间四位"))
    notes.append(("层级", "街道党工委 → 社区党组织 → 小区党支部 → 楼栋党小组 → 党员中心户（网格与党组织一体化）"))
    notes += notes_extra
    return pd.DataFrame(notes, columns=["项目", "内容"])


def ledger_tables(dataset: Dataset, plan, grids: gpd.GeoDataFrame, *, coverage=None,
                  include_personal: bool = False, staff=None, mobile=None, sanwu_since=None, sanwu_until=None,
                  households_per_central: int | None = None, max_grids_per_leader: int = 1) -> dict[str, pd.DataFrame]:
    """The ledger as DataFrames with Chinese headers, one per sheet.

    Always: ``网格台账`` (one row per grid, with the 党员中心户 each grid needs), ``党建层级`` (one row
    per building with all five levels of the party chain 街道党工委 → 社区党组织 → 小区党支部 →
    楼栋党小组 → 党员中心户, and the grid), ``五级组织`` (the chain's upper levels with counts, see
    :func:`gridplan.chain.party_chain`), ``党员中心户`` (need against party members per grid) and
    ``说明`` (notes). With ``staff`` (a :class:`gridplan.staff.StaffAssignment`): the grid ledger
    names each grid's 网格长 (phone masked unless ``include_personal``) and grid workers, plus the
    sheets ``网格员`` and ``网格员核查``. With ``mobile`` (a :class:`gridplan.mobile.MobileCoverage`):
    ``流动郁心站`` (households reached per grid and weekday) and ``流动站排班``. With a status history
    (``dataset.compound_status``): ``三无小区治理`` (progress since ``sanwu_since``, default the
    first record). ``include_personal`` adds per-building party-member figures.
    """
    from .chain import HOUSEHOLDS_PER_CENTRAL
    from .i18n import t

    per = HOUSEHOLDS_PER_CENTRAL if households_per_central is None else households_per_central
    lb = _ledger_base(dataset, plan, grids, per)
    ledger, by_grid = _grid_ledger(lb, coverage=coverage, staff=staff, include_personal=include_personal)
    grid_order = by_grid["grid_id"].to_numpy()
    tables = {"网格台账": ledger, "党建层级": _hierarchy_sheet(dataset, lb, include_personal=include_personal),
              t("sheet_chain", "zh"): _chain_sheet(dataset, lb.plan, per=per, include_personal=include_personal)}
    tables.update(_central_sheets(lb, grid_order, include_personal=include_personal))
    notes_extra: list[tuple[str, object]] = [
        (t("note_central", "zh"), t("note_central_text", "zh", per=per, need=int(lb.need.buildings["need"].sum()),
                                     short=int((~lb.need_grids["met"]).sum())))]
    if staff is not None:
        sheets, note = _staff_sheets(dataset, lb.plan, staff, include_personal=include_personal,
                                     max_grids_per_leader=max_grids_per_leader)
        tables.update(sheets)
        notes_extra.append(note)
    if mobile is not None:
        sheets, note = _mobile_sheets(mobile, grid_order)
        tables.update(sheets)
        notes_extra.append(note)
    if dataset.compound_status is not None and len(dataset.compound_status):
        sheets, note = _sanwu_sheet(dataset, sanwu_since, sanwu_until)
        tables.update(sheets)
        notes_extra.append(note)
    tables["说明"] = _notes_sheet(dataset, plan, ledger, include_personal=include_personal, notes_extra=notes_extra)
    return tables


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _no_formula(v):
    """Text from user files never becomes a spreadsheet formula (CSV/formula injection)."""
    if isinstance(v, str) and v.startswith(_FORMULA_START):
        return "'" + v
    return v


def _plain_text(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(_no_formula)
    return out


def _write_xlsx(tables: dict[str, pd.DataFrame], path: Path, title: str, images: dict[str, bytes] | None = None) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    head_font, head_fill = Font(bold=True, color="FFFFFF"), PatternFill("solid", fgColor="B22222")
    for name, df in tables.items():
        ws = wb.create_sheet(name)
        ws.append(list(df.columns))
        for row in _plain_text(df).itertuples(index=False):
            ws.append([None if (v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v))
                       else (v.item() if hasattr(v, "item") else v) for v in row])
        for c in ws[1]:
            c.font, c.fill = head_font, head_fill
            c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.freeze_panes = "A2"
        if len(df) and name != "说明":
            ws.auto_filter.ref = f"A1:{get_column_letter(len(df.columns))}{len(df) + 1}"
        for j, col in enumerate(df.columns, start=1):
            sample = [len(str(col)) * 2] + [len(str(v)) * (2 if any(ord(ch) > 255 for ch in str(v)) else 1)
                                           for v in df.iloc[:200, j - 1].tolist()]
            ws.column_dimensions[get_column_letter(j)].width = min(max(sample) + 2, 60)
    if "网格台账" in tables:
        df = tables["网格台账"]
        ws = wb["网格台账"]
        total: list[object] = ["合计"] + [None] * (len(df.columns) - 1)
        for j, col in enumerate(df.columns):
            if col in ("户数", "人口", "党员数", "楼栋数", "小区数", "三无小区数", "15分钟服务圈覆盖户数"):
                total[j] = int(pd.to_numeric(df[col], errors="coerce").fillna(0).sum())
        ws.append(total)
        for c in ws[ws.max_row]:
            c.font = Font(bold=True)
    for name, png in (images or {}).items():
        if name in wb.sheetnames:
            import io as _io

            from openpyxl.drawing.image import Image as XLImage
            ws = wb[name]
            ws.add_image(XLImage(_io.BytesIO(png)), f"{get_column_letter(len(tables[name].columns) + 2)}2")
    wb.properties.title = title
    wb.save(path)


def export_ledger(dataset: Dataset, plan: Plan, path=None, *, grids: gpd.GeoDataFrame | None = None,
                  coverage=None, include_personal: bool = False, csv: bool = True, staff=None, mobile=None,
                  sanwu_since=None, sanwu_until=None, households_per_central: int | None = None,
                  max_grids_per_leader: int = 1) -> list[Path]:
    """Write the grid ledger (网格台账) as Excel (the sheets of :func:`ledger_tables`; the ledger ends
    with a 合计 row, the 三无小区治理 sheet carries the progress chart) and, with ``csv``, the grid
    ledger and the hierarchy as CSV files (UTF-8 with BOM) beside it.

    ``path`` defaults to ``maps/网格台账.xlsx``; a ``.csv`` path writes only the CSVs. ``staff``,
    ``mobile``, ``sanwu_since``/``sanwu_until``, ``households_per_central`` and
    ``max_grids_per_leader`` as :func:`ledger_tables`. Phones are masked unless ``include_personal``.
    Returns every file written (the workbook first).
    """
    grids = _grid_layer(dataset, plan, grids)
    path = Path(path) if path is not None else DEFAULT_DIR / "网格台账.xlsx"
    if path.suffix.lower() not in (".xlsx", ".csv"):
        raise ValueError(f"the ledger is written as .xlsx or .csv, not {path.suffix or 'a folder'}")
    _out_dir(path.parent)
    tables = ledger_tables(dataset, plan, grids, coverage=coverage, include_personal=include_personal, staff=staff,
                           mobile=mobile, sanwu_since=sanwu_since, sanwu_until=sanwu_until,
                           households_per_central=households_per_central, max_grids_per_leader=max_grids_per_leader)
    written: list[Path] = []
    if path.suffix.lower() == ".xlsx":
        images = {}
        from .i18n import t
        sheet = t("sheet_sanwu", "zh")
        if sheet in tables:
            import io as _io

            from .sanwu import plot_sanwu_progress
            assert dataset.compound_status is not None   # the sheet is there only with a status history
            since = sanwu_since if sanwu_since is not None else dataset.compound_status["date"].min()
            fig = plot_sanwu_progress(dataset, since, until=sanwu_until)
            buf = _io.BytesIO()
            fig.savefig(buf, format="png", dpi=90)
            images[sheet] = buf.getvalue()
        with atomic_path(path) as tmp:
            _write_xlsx(tables, tmp, title=f"{dataset.name} 网格台账", images=images)
        written.append(path)
    if csv or path.suffix.lower() == ".csv":
        for name, suffix in (("网格台账", ""), ("党建层级", "_党建层级")):
            p = path.with_suffix(".csv") if not suffix else path.with_name(f"{path.stem}{suffix}.csv")
            with atomic_path(p) as tmp:
                _plain_text(tables[name]).to_csv(tmp, index=False, encoding="utf-8-sig")
            written.append(p)
    return written


def export_hierarchy(dataset: Dataset, plan: Plan, path=None, *, grids: gpd.GeoDataFrame | None = None,
                     include_personal: bool = False, households_per_central: int | None = None) -> list[Path]:
    """Only the party hierarchy — all five levels 街道党工委 → 社区党组织 → 小区党支部 → 楼栋党小组 →
    党员中心户, with the grid of each building — as CSV (UTF-8 with BOM, one row per building) or .xlsx
    (that table, and the upper levels with their counts in a second sheet 五级组织)."""
    from .i18n import t
    grids = _grid_layer(dataset, plan, grids)
    path = Path(path) if path is not None else DEFAULT_DIR / "党建层级.csv"
    if path.suffix.lower() not in (".xlsx", ".csv"):
        raise ValueError(f"the hierarchy is written as .csv or .xlsx, not {path.suffix or 'a folder'}")
    _out_dir(path.parent)
    tables = ledger_tables(dataset, plan, grids, include_personal=include_personal,
                           households_per_central=households_per_central)
    table = tables["党建层级"]
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".xlsx":
            _write_xlsx({"党建层级": table, t("sheet_chain", "zh"): tables[t("sheet_chain", "zh")]}, tmp,
                        title=f"{dataset.name} 党建层级")
        else:
            _plain_text(table).to_csv(tmp, index=False, encoding="utf-8-sig")
    return [path]


def audit_tables(store, *, versions=None, lang: str = "zh") -> dict[str, pd.DataFrame]:
    """The audit trail of a plan store as tables with localized headers: ``留痕`` (every grid each
    version changed, before and after) and ``版本`` (the versions: who, when, base, communities).

    ``store`` is a :class:`gridplan.store.PlanStore`; ``versions`` limits the trail to some versions.
    Times are local time.
    """
    from .i18n import column, t
    from .store import format_time

    audit = store.audit() if versions is None else pd.concat([store.audit(v) for v in versions], ignore_index=True)
    audit = audit.copy()
    audit["created"] = [format_time(x) for x in audit["created"]]
    audit["status"] = [t(f"audit_{s}", lang) for s in audit["status"]]
    listed = store.list()
    if versions is not None:
        listed = listed.loc[[store.resolve(v) for v in versions]]
    vers = listed.reset_index()[["version_id", "name", "user", "created", "base", "communities_changed", "grids",
                                 "buildings", "note"]].copy()
    vers["created"] = [format_time(x) for x in vers["created"]]
    vers["communities_changed"] = ["、".join(c) for c in vers["communities_changed"]]
    return {"留痕" if lang == "zh" else "audit": audit.rename(columns=lambda c: column(c, lang)),
            "版本" if lang == "zh" else "versions": vers.rename(columns=lambda c: column(c, lang))}


def export_audit(store, path=None, *, versions=None, lang: str = "zh") -> list[Path]:
    """Write the audit trail (留痕) of a plan store to Excel (:func:`audit_tables`; Chinese headers,
    text that looks like a formula is neutralised). ``path`` defaults to ``maps/方案留痕.xlsx``."""
    path = Path(path) if path is not None else DEFAULT_DIR / "方案留痕.xlsx"
    if path.suffix.lower() != ".xlsx":
        raise ValueError(f"the audit trail is written as .xlsx, not {path.suffix or 'a folder'}")
    _out_dir(path.parent)
    tables = audit_tables(store, versions=versions, lang=lang)
    with atomic_path(path) as tmp:
        _write_xlsx(tables, tmp, title="方案留痕")
    return [path]


def export_assignment(dataset: Dataset, plan: Plan, path=None, *, grids: gpd.GeoDataFrame | None = None) -> list[Path]:
    """The building → grid table as CSV (UTF-8 with BOM; columns ``building_id``, ``grid_id``), the file
    :func:`gridplan.io.read_assignment_csv` reads back. Ids that a spreadsheet would run as a formula
    (``=``, ``+``, ``-``, ``@`` …) are written as text (a leading ``'``)."""
    del grids  # the table needs no grid layer; the parameter keeps the exporters' shape
    path = Path(path) if path is not None else DEFAULT_DIR / "楼栋网格对照表.csv"
    if path.suffix.lower() != ".csv":
        raise ValueError(f"the building → grid table is written as .csv, not {path.suffix or 'a folder'}")
    _out_dir(path.parent)
    a = _assignment_of(plan).reindex(dataset.buildings.index.astype(str))
    table = pd.DataFrame({"building_id": a.index.to_numpy(dtype=object), "grid_id": a.to_numpy(dtype=object)})
    with atomic_path(path) as tmp:
        _plain_text(table).to_csv(tmp, index=False, encoding="utf-8-sig")
    return [path]


# --------------------------------------------------------------------------- HTML and poster
def export_html(dataset: Dataset, plan: Plan | None, path=None, *, grids: gpd.GeoDataFrame | None = None,
                coverage=None, isochrones=None, stations=None, suggested=None, lang: str = "zh",
                title: str | None = None, include_personal: bool = False, staff=None) -> list[Path]:
    """One self-contained interactive HTML map (scripts, styles, icons inlined; no network needed).

    ``plan`` may be ``None`` for a map of the dataset alone. ``stations`` overrides the dataset's
    stations (the what-if set the planner sees). ``staff`` names each grid's 网格长 and workers in
    its tooltip (phones masked unless ``include_personal``).
    """
    from .webmap import make_map, to_html

    if plan is not None:
        grids = _grid_layer(dataset, plan, grids)
    path = Path(path) if path is not None else DEFAULT_DIR / "网格地图.html"
    _out_dir(path.parent)
    assignment = _assignment_of(plan) if plan is not None else None
    m = make_map(dataset, grids=grids, assignment=assignment, coverage=coverage, isochrones=isochrones,
                 stations=stations, suggested=suggested, lang=lang, asset_base="inline",
                 include_personal=include_personal, staff=staff)
    page = to_html(m, title=title or (f"{dataset.name} 网格划分图" if lang == "zh" else f"{dataset.name} grids"))
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return [path]


def export_poster(dataset: Dataset, plan: Plan, path=None, *, grids: gpd.GeoDataFrame | None = None,
                  **options) -> list[Path]:
    """A wall poster (PDF and/or PNG) of the plan; ``options`` as :func:`gridplan.poster.render_poster`
    (paper, orientation, scope, title, dpi, coverage, isochrones, stations, lang, formats, staff,
    include_personal …): with ``staff`` each grid label names its 网格长 (phone masked unless
    ``include_personal``)."""
    from .poster import render_poster

    grids = _grid_layer(dataset, plan, grids)
    options.setdefault("assignment", _assignment_of(plan))
    return render_poster(dataset, grids, path, **options)
