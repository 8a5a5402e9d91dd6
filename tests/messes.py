"""Other offices' files: the base dataset of :mod:`tests.malformed` moved to another city and written the way
other 街道 offices bring their data (benchmarks/bench_messes.py runs them all end to end through the CLI).

Each :class:`Mess` writes real files into a folder and says what the user's path must give: ``ok`` (the
numbers checked: households preserved, positions within a metre) or ``error`` (a clear message that
names the file/layer and, where there is one, the feature or row). The base layout is placed in 苏州
(≈ 120.6°E, CGCS2000 3° Gauss-Krüger zone 40, CM 120°E: EPSG:4549 without the zone prefix, EPSG:4528
with it), far from the Shifang fixtures of the other tests.
"""
from __future__ import annotations

import json
import shutil
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

try:
    from .malformed import ORIGIN_4544, base_layers_at
except ImportError:  # run as a script from benchmarks/ (tests/ on sys.path)
    from malformed import ORIGIN_4544, base_layers_at

#: EPSG codes of CGCS2000 3° GK zone 40 (CM 120°E): without and with the zone number in front of x
GK_NO_PREFIX, GK_PREFIX = 4549, 4528
#: where the base layout's origin lands in EPSG:4549 (苏州姑苏区, ≈ 120.62°E 31.30°N)
ORIGIN = (559000.0, 3463500.0)


def layers_gk() -> dict[str, gpd.GeoDataFrame]:
    """The base dataset moved to 苏州, in EPSG:4549 (metres, no zone prefix)."""
    return base_layers_at(GK_NO_PREFIX, ORIGIN)


def layers(crs=4326) -> dict[str, gpd.GeoDataFrame]:
    """:func:`layers_gk` in ``crs``."""
    return {k: v.to_crs(crs) for k, v in layers_gk().items()}


def truth() -> pd.DataFrame:
    """Per building: households, persons and the WGS 84 lon/lat of its centroid (the yardstick)."""
    b = layers_gk()["buildings"]
    c = b.geometry.centroid.to_crs(4326)
    return pd.DataFrame({"households": b["households"].to_numpy(), "persons": b["persons"].to_numpy(),
                         "lon": c.x.to_numpy(), "lat": c.y.to_numpy()}, index=b["building_id"].to_numpy())


def write(gdf: gpd.GeoDataFrame, path: Path, **kw) -> Path:
    """One layer file by its extension (a .shp in ``encoding`` UTF-8 unless told otherwise)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver = {".geojson": "GeoJSON", ".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".fgb": "FlatGeobuf"}[path.suffix]
    if driver == "ESRI Shapefile":
        kw.setdefault("encoding", "UTF-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gdf.to_file(path, driver=driver, engine="pyogrio", **kw)
    return path


def write_all(lay: dict, folder: Path, ext: str = ".geojson", **kw) -> Path:
    for name, g in lay.items():
        write(g, Path(folder) / f"{name}{ext}", **kw)
    return Path(folder)


class _GBKName(zipfile.ZipInfo):
    """A member whose name is stored as GBK bytes without the UTF-8 flag (Python would set the flag)."""

    def _encodeFilenameFlags(self):
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def zip_folder(folder: Path, target: Path, *, gbk_names: bool = False) -> Path:
    """Zip every file of ``folder`` (flat) into ``target``; ``gbk_names``: names stored in GBK without the
    UTF-8 flag, as Chinese Windows zip tools do."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(Path(folder).iterdir()):
            if gbk_names:
                info = _GBKName(f.name)
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, f.read_bytes())
            else:
                z.write(f, f.name)
    return target


def chinese_buildings(b: gpd.GeoDataFrame, hh="户数", pp="人口") -> gpd.GeoDataFrame:
    """Buildings with Chinese headers (``hh``/``pp`` for the counts)."""
    return b.rename(columns={"building_id": "楼栋编号", "households": hh, "persons": pp, "party_members": "党员数",
                             "floors": "层数", "compound_id": "所属小区", "community_id": "所属社区", "name": "名称"})


@dataclass
class Mess:
    """One user's files.

    ``build(folder)`` writes them and returns ``(dataset path, extra CLI options)``. ``expect`` is
    ``"ok"`` or ``"error"``. For ``ok``: ``households`` the total the plan must hold (default: the
    base total), ``buildings`` their number, ``position_m`` the largest allowed distance of a loaded
    building's centroid from its true place (None: not checked). For ``error``: ``mentions`` are texts
    the message must contain (the file or layer, the feature or row).
    """

    name: str
    build: Callable[[Path], tuple[Path, list[str]]]
    expect: str = "ok"
    mentions: tuple[str, ...] = ()
    households: int | None = None
    buildings: int | None = None
    position_m: float | None = 1.0
    kind: str = "dataset"
    roster: Callable[[Path], list[Path]] | None = None
    roster_expect: dict = field(default_factory=dict)
    exports: bool = False          # also export the ledger and the HTML map, and look inside them


MESSES: list[Mess] = []


#: user text that must come out inert: HTML escaped, no spreadsheet formula
HOSTILE_NAME = '<img src=x onerror=alert(1)>=HYPERLINK("http://x","点")'


def mess(name, expect="ok", **kw):
    def deco(fn):
        MESSES.append(Mess(name, fn, expect, **kw))
        return fn
    return deco


# --------------------------------------------------------------------------- coordinates
@mess("wgs84_geojson")
def _(d):
    return write_all(layers(4326), d), []


@mess("gk3_no_prefix_gpkg")
def _(d):
    p = d / "苏州.gpkg"
    for k, g in layers_gk().items():
        write(g, p, layer=k)
    return p, []


@mess("gk3_zone_prefix_shp_with_prj")
def _(d):
    return write_all(layers(GK_PREFIX), d, ".shp"), []


@mess("gk3_zone_prefix_shp_no_prj", "error", mentions=("buildings", "EPSG:4528"))
def _(d):
    write_all(layers(GK_PREFIX), d, ".shp")
    for f in d.glob("*.prj"):
        f.unlink()
    return d, []


@mess("gk3_zone_prefix_no_prj_assumed")
def _(d):
    write_all(layers(GK_PREFIX), d, ".shp")
    for f in d.glob("*.prj"):
        f.unlink()
    return d, ["--assume-crs", "EPSG:4528"]


@mess("gk3_no_prefix_no_prj_assumed")
def _(d):
    write_all(layers_gk(), d, ".shp")
    for f in d.glob("*.prj"):
        f.unlink()
    return d, ["--assume-crs", "EPSG:4549"]


@mess("gk3_no_prefix_geojson_no_crs", "error", mentions=("buildings", "EPSG:4534"))
def _(d):
    """A GeoJSON of projected metres without a ``crs`` member (QGIS's "save as" without reprojecting)."""
    for k, g in layers_gk().items():
        obj = json.loads(g.to_json(drop_id=True))
        obj.pop("crs", None)
        (d / f"{k}.geojson").write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return d, []


@mess("gcj02_declared")
def _(d):
    from gridplan.crs import from_wgs84
    lay = layers(4326)
    for k, g in lay.items():
        lay[k] = g.set_geometry(gpd.GeoSeries(from_wgs84(g.geometry.to_numpy(), "gcj02"), index=g.index, crs=4326))
    return write_all(lay, d), ["--coord-system", "gcj02"]


@mess("swapped_lat_lon", "error", mentions=("buildings", "swap"))
def _(d):
    lay = layers(4326)
    lay["buildings"] = lay["buildings"].set_geometry(lay["buildings"].geometry.map(
        lambda g: shapely.transform(g, lambda xy: xy[:, ::-1])))
    return write_all(lay, d), []


# --------------------------------------------------------------------------- Shapefiles and encodings
def _gbk_shp(d: Path, *, cpg: str | None, zipped: bool, gbk_names: bool = False):
    src = d / "src" if zipped else d
    lay = layers(4326)
    lay["buildings"] = chinese_buildings(lay["buildings"], "住户数", "常住人口")
    lay["compounds"] = lay["compounds"].rename(columns={"compound_id": "小区编号", "name": "小区名称",
                                                        "community_id": "所属社区"})
    names = {"buildings": "楼栋", "compounds": "小区", "communities": "社区"} if gbk_names else {}
    for k, g in lay.items():
        write(g, src / f"{names.get(k, k)}.shp", encoding="GBK")
    for f in src.glob("*.cpg"):
        if cpg is None:
            f.unlink()
        else:
            f.write_text(cpg)
    if zipped:
        zip_folder(src, d / "上传.zip", gbk_names=gbk_names)
        shutil.rmtree(src)
        return d / "上传.zip", []
    return d, []


@mess("gbk_dbf_no_cpg_folder")
def _(d):
    return _gbk_shp(d, cpg=None, zipped=False)


@mess("gbk_dbf_cpg_936_zip")
def _(d):
    return _gbk_shp(d, cpg="936", zipped=True)


@mess("gbk_dbf_no_cpg_zip_gbk_member_names")
def _(d):
    return _gbk_shp(d, cpg=None, zipped=True, gbk_names=True)


# --------------------------------------------------------------------------- geometry
@mess("multipolygon_buildings_with_holes")
def _(d):
    lay = layers_gk()
    b = lay["buildings"].copy()
    g0 = b.geometry.iloc[0]
    x0, y0, x1, y1 = g0.bounds
    b.loc[b.index[0], "geometry"] = MultiPolygon([box(x0, y0, x0 + 25, y1), box(x0 + 35, y0, x1, y1)])
    g1 = b.geometry.iloc[1]
    b.loc[b.index[1], "geometry"] = g1.difference(g1.centroid.buffer(8))        # a courtyard
    lay["buildings"] = b
    return write_all({k: v.to_crs(4326) for k, v in lay.items()}, d), []


@mess("self_intersecting_rings")
def _(d):
    lay = layers_gk()
    b = lay["buildings"].copy()
    x0, y0, x1, y1 = b.geometry.iloc[2].bounds
    b.loc[b.index[2], "geometry"] = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])     # bow tie
    lay["buildings"] = b
    return write_all(lay, d, ".gpkg"), []


@mess("duplicate_building_footprints", "error", mentions=("buildings", "B001"))
def _(d):
    """The same building twice under two ids (two surveys merged): its households would count twice."""
    lay = layers(4326)
    b = lay["buildings"]
    twin = b.iloc[[0]].copy()
    twin["building_id"] = "B901"
    lay["buildings"] = pd.concat([b, twin], ignore_index=True)
    return write_all(lay, d), []


@mess("points_instead_of_footprints", position_m=1.0)
def _(d):
    lay = layers_gk()
    b = lay["buildings"].copy()
    b["geometry"] = b.geometry.centroid
    lay["buildings"] = b
    return write_all({k: v.to_crs(4326) for k, v in lay.items()}, d), []


@mess("z_coordinates")
def _(d):
    lay = layers(4326)
    for k in ("buildings", "communities", "roads"):
        lay[k] = lay[k].set_geometry(shapely.force_3d(lay[k].geometry.to_numpy(), 12.5), crs=4326)
    return write_all(lay, d, ".gpkg"), []


@mess("empty_geometries", "error", mentions=("buildings", "B004"))
def _(d):
    lay = layers(4326)
    b = lay["buildings"].copy()
    b.loc[b.index[3], "geometry"] = Polygon()
    lay["buildings"] = b
    return write_all(lay, d, ".gpkg"), []


@mess("building_outside_every_community", "error", mentions=("buildings", "B902"))
def _(d):
    lay = layers_gk()
    b = lay["buildings"]
    far = b.iloc[[0]].copy()
    far["building_id"] = "B902"
    far["community_id"] = None
    far["compound_id"] = None
    far["geometry"] = far.geometry.translate(3000, 0)
    lay["buildings"] = pd.concat([b, far], ignore_index=True)
    return write_all({k: v.to_crs(4326) for k, v in lay.items()}, d), []


def _first_grown(d, layer: str, metres: float):
    """The city with the first polygon of ``layer`` grown by ``metres`` over its neighbours."""
    lay = layers_gk()
    g = lay[layer].copy()
    g.loc[g.index[0], "geometry"] = g.geometry.iloc[0].buffer(metres, join_style="mitre")
    lay[layer] = g
    return write_all({k: v.to_crs(4326) for k, v in lay.items()}, d), []


@mess("overlapping_communities", "error", mentions=("communities", "510682001001", "510682001002"))
def _(d):
    """Two community polygons drawn over each other: grids could not tile each community without overlaps."""
    return _first_grown(d, "communities", 150)


# --------------------------------------------------------------------------- attributes
@mess("headers_zongHuShu_renShu")
def _(d):
    lay = layers(4326)
    lay["buildings"] = chinese_buildings(lay["buildings"], "总户数", "人数")
    return write_all(lay, d), []


@mess("headers_hu_changzhurenkou_with_units")
def _(d):
    lay = layers(4326)
    b = chinese_buildings(lay["buildings"], "户", "常住人口")
    b["户"] = b["户"].map(lambda v: f"{v}户")
    b["常住人口"] = b["常住人口"].map(lambda v: f"{v}人")
    lay["buildings"] = b
    return write_all(lay, d), []


@mess("counts_thousands_and_fullwidth")
def _(d):
    lay = layers(4326)
    b = lay["buildings"].copy()
    fw = str.maketrans("0123456789", "０１２３４５６７８９")
    b["households"] = [str(v).translate(fw) if i % 2 else str(v) for i, v in enumerate(b["households"])]
    b["persons"] = [f"{v // 1000},{v % 1000:03d}" if v >= 1000 else f" {v} " for v in b["persons"] * 10]
    lay["buildings"] = b
    return write_all(lay, d), []


@mess("counts_blank_negative_decimal", "error", mentions=("buildings", "B002", "B003"))
def _(d):
    lay = layers(4326)
    b = lay["buildings"].copy()
    b["households"] = b["households"].astype(object)
    b.loc[b.index[1], "households"] = -40
    b.loc[b.index[2], "households"] = 12.5
    b.loc[b.index[4], "households"] = None
    b.loc[b.index[4], "floors"] = None
    b.loc[b.index[4], "persons"] = None
    lay["buildings"] = b
    return write_all(lay, d), []


@mess("csv_buildings_lonlat", "ok")
def _(d):
    """A building table with 经度/纬度 columns (points) from a spreadsheet, beside GeoJSON layers."""
    lay = layers(4326)
    b = lay["buildings"]
    c = b.geometry.to_crs(GK_NO_PREFIX).centroid.to_crs(4326)
    t = pd.DataFrame({"楼栋编号": b["building_id"], "户数": b["households"], "人口": b["persons"],
                      "所属小区": b["compound_id"], "经度": c.x.round(7), "纬度": c.y.round(7)})
    lay.pop("buildings")
    write_all(lay, d)
    (d / "buildings.csv").write_bytes(t.to_csv(index=False).encode("gbk"))
    return d, []


@mess("xlsx_buildings_wkt", "ok")
def _(d):
    lay = layers(4326)
    b = lay["buildings"]
    t = pd.DataFrame({"building_id": b["building_id"], "households": b["households"], "persons": b["persons"],
                      "compound_id": b["compound_id"], "community_id": b["community_id"],
                      "WKT": b.geometry.to_wkt(rounding_precision=-1)})
    lay.pop("buildings")
    write_all(lay, d)
    t.to_excel(d / "楼栋.xlsx", index=False)
    return d, []


# --------------------------------------------------------------------------- rosters
def _ids(n: int, seed: int = 3) -> list[str]:
    from gridplan.roster import id_check_digit
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        f = f"320508{1950 + int(rng.integers(0, 50))}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 28)):02d}{i:03d}"
        out.append(f + id_check_digit(f))
    return out


def roster_people() -> pd.DataFrame:
    """People of the compound 金河小区 (Q1: buildings B001–B004 = 1栋–4栋): 3 households per building, 2
    persons each, building numbers spelt four ways."""
    ids = _ids(24)
    rows = []
    spell = {1: "1幢", 2: "二栋", 3: "３号楼", 4: "4#"}
    k = 0
    for b in (1, 2, 3, 4):
        for h in range(3):
            for p in range(2):
                rows.append({"社区": "方亭社区", "小区": "金河小区", "楼栋": spell[b], "单元": "1单元",
                             "户室": f"{h + 1}0{p and 1 or 1}", "姓名": f"王{'明华伟芳'[k % 4]}{k}",
                             "身份证号": ids[k], "政治面貌": "中共党员" if k % 5 == 0 else "群众"})
                k += 1
    return pd.DataFrame(rows)


def _roster_dataset(d: Path, *, building_no: bool = True) -> Path:
    """The dataset the rosters are matched to; its buildings' numbers in ``building_no`` (1栋 …) or, with
    ``building_no=False``, only in ``name`` (as many offices keep them)."""
    lay = layers(4326)
    if building_no:
        lay["buildings"]["building_no"] = lay["buildings"]["name"].where(lay["buildings"]["compound_id"].notna())
    write_all(lay, d / "data")
    return d / "data"


@mess("roster_two_level_header_xlsx", kind="roster", roster_expect={"persons": 24, "households": 12})
def _(d):
    from openpyxl import Workbook
    data = _roster_dataset(d)
    p = d / "台账.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["姑苏区实有人口登记表"])
    ws.merge_cells("A1:H1")
    ws.append(["地址", None, None, None, None, "人员信息", None, None])
    ws.merge_cells("A2:E2")
    ws.merge_cells("F2:H2")
    ws.append(["社区", "小区", "楼栋", "单元", "户室", "姓名", "身份证号", "政治面貌"])
    for r in roster_people().itertuples(index=False):
        ws.append(list(r))
    wb.save(p)
    return data, [p]


@mess("roster_ids_lower_x_dupes_and_15digit", kind="roster", roster_expect={"persons": 24, "households": 12})
def _(d):
    """The same people entered twice: once with a lower-case x check digit, once with the 15-digit first-generation
    number of an 18-digit ID (the same person)."""
    data = _roster_dataset(d)
    ppl = roster_people()
    x = [i for i, v in enumerate(ppl["身份证号"]) if v.endswith("X")]
    ppl.loc[x, "身份证号"] = ppl.loc[x, "身份证号"].str.lower()
    again = ppl.iloc[[0, 5, 9]].copy()
    again["身份证号"] = [v[:6] + v[8:17] for v in again["身份证号"]]       # the old 15-digit number
    again2 = ppl.iloc[[1, 2]].copy()
    again2["身份证号"] = again2["身份证号"].str.upper()
    t = pd.concat([ppl, again, again2], ignore_index=True)
    p = d / "台账.csv"
    p.write_bytes(t.to_csv(index=False).encode("gbk"))
    return data, [p]


@mess("roster_merged_compound_cells_title_xlsx", kind="roster", roster_expect={"persons": 24, "households": 12})
def _(d):
    from openpyxl import Workbook
    data = _roster_dataset(d)
    p = d / "台账.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["金河小区住户台账（2026年12月）"])
    ws.append(["填报单位：方亭社区", None, None, None, "填报日期：2026-12-01"])
    ws.append(["序号", "小区名称", "楼栋号", "单元号", "房号", "居民姓名", "公民身份号码", "政治面貌"])
    ppl = roster_people()
    for i, r in enumerate(ppl.itertuples(index=False)):
        ws.append([i + 1, r.小区 if i == 0 else None, r.楼栋, r.单元, r.户室, r.姓名, r.身份证号, r.政治面貌])
    ws.merge_cells(start_row=4, start_column=2, end_row=3 + len(ppl), end_column=2)
    wb.save(p)
    return data, [p]


@mess("roster_building_numbers_only_in_name", kind="roster", roster_expect={"persons": 24, "households": 12})
def _(d):
    data = _roster_dataset(d, building_no=False)
    p = d / "台账.csv"
    p.write_bytes(roster_people().to_csv(index=False).encode("utf-8-sig"))
    return data, [p]


@mess("cgcs2000_geographic_4490_gpkg")
def _(d):
    return write_all(layers(4490), d, ".gpkg"), []


@mess("web_mercator_3857_fgb")
def _(d):
    return write_all(layers(3857), d, ".fgb"), []


@mess("bd09_declared")
def _(d):
    from gridplan.crs import from_wgs84
    lay = layers(4326)
    for k, g in lay.items():
        lay[k] = g.set_geometry(gpd.GeoSeries(from_wgs84(g.geometry.to_numpy(), "bd09"), index=g.index, crs=4326))
    return write_all(lay, d), ["--coord-system", "bd09"]


@mess("upper_case_shapefile_extensions_gk_prefix")
def _(d):
    write_all(layers(GK_PREFIX), d, ".shp")
    for f in list(d.iterdir()):
        f.rename(f.with_suffix(f.suffix.upper()))
    return d, []


@mess("chinese_layer_names_gpkg_prefix_crs")
def _(d):
    p = d / "姑苏区网格底图.gpkg"
    names = {"buildings": "楼栋", "communities": "社区", "compounds": "小区", "roads": "道路", "stations": "驿站"}
    lay = layers(GK_PREFIX)
    lay["buildings"] = chinese_buildings(lay["buildings"], "住户户数", "实有人口")
    for k, g in lay.items():
        write(g, p, layer=names[k])
    return p, []


@mess("overlapping_compounds")
def _(d):
    return _first_grown(d, "compounds", 60)


@mess("multipolygon_communities_and_text_float_counts")
def _(d):
    lay = layers_gk()
    c = lay["communities"].copy()
    c["geometry"] = [MultiPolygon([g]) for g in c.geometry]
    lay["communities"] = c
    b = lay["buildings"].copy()
    b["households"] = b["households"].map(lambda v: f"{v}.0")
    lay["buildings"] = b
    return write_all({k: v.to_crs(4326) for k, v in lay.items()}, d, ".shp"), []


@mess("gk3_prefixed_x_declared_without_prefix", "error", mentions=("buildings", "EPSG:4528"))
def _(d):
    """x carries the zone number 40 but the .prj names the zone without it (EPSG:4549)."""
    lay = {k: v.set_geometry(v.geometry.translate(40_000_000, 0)) for k, v in layers_gk().items()}
    return write_all(lay, d, ".shp"), []


@mess("gk3_plain_x_declared_with_prefix", "error", mentions=("buildings", "EPSG:4549"))
def _(d):
    """x without the zone number, but the .prj names the zone-prefixed CRS (EPSG:4528)."""
    return write_all({k: v.set_crs(GK_PREFIX, allow_override=True) for k, v in layers_gk().items()}, d, ".gpkg"), []


@mess("headers_zhuHuShuLiang_juZhuRenKouShuLiang")
def _(d):
    lay = layers(4326)
    lay["buildings"] = lay["buildings"].rename(columns={"households": "住户数量", "persons": "居住人口数量"}).drop(
        columns=["floors"])
    return write_all(lay, d), []


@mess("headers_pinyin_abbreviations_shp", "error", mentions=("buildings", "HS", "--map"))
def _(d):
    """户数/人口 as the pinyin initials GIS staff use for DBF fields (HS, RKS): not guessable, must be mapped."""
    lay = layers(4326)
    lay["buildings"] = lay["buildings"].rename(columns={"households": "HS", "persons": "RKS"}).drop(columns=["floors"])
    return write_all(lay, d, ".shp"), []


@mess("headers_pinyin_abbreviations_mapped")
def _(d):
    lay = layers(4326)
    lay["buildings"] = lay["buildings"].rename(columns={"households": "HS", "persons": "RKS"}).drop(columns=["floors"])
    return write_all(lay, d, ".shp"), ["--map", "HS=households", "--map", "RKS=persons"]


@mess("roster_id_numbers_stored_as_numbers_xlsx", kind="roster", roster_expect={"persons": 24, "households": 12})
def _(d):
    """ID numbers typed into Excel as numbers: 18 digits do not fit a double, neighbours collapse."""
    from openpyxl import Workbook
    data = _roster_dataset(d)
    p = d / "台账.xlsx"
    wb = Workbook()
    ws = wb.active
    from gridplan.roster import id_check_digit
    ws.append(list(roster_people().columns))
    for i, r in enumerate(roster_people().itertuples(index=False)):
        row = list(r)
        first17 = f"32050819800101{i * 7:03d}"        # a big roster has people of one birthday and district
        idn = first17 + id_check_digit(first17)
        row[6] = float(idn) if idn[-1] != "X" else idn
        ws.append(row)
    wb.save(p)
    return data, [p]


@mess("roster_building_unit_room_in_one_column", kind="roster", roster_expect={"persons": 24, "households": 12})
def _(d):
    data = _roster_dataset(d)
    ppl = roster_people()
    ppl["楼栋"] = [f"{b}{u}{r}室" for b, u, r in zip(ppl["楼栋"], ppl["单元"], ppl["户室"])]
    ppl = ppl.drop(columns=["单元", "户室"])
    p = d / "台账.csv"
    p.write_bytes(ppl.to_csv(index=False).encode("gbk"))
    return data, [p]


@mess("roster_compound_without_suffix", kind="roster", roster_expect={"persons": 24, "households": 12})
def _(d):
    data = _roster_dataset(d)
    ppl = roster_people().assign(小区="金河")
    p = d / "台账.csv"
    p.write_bytes(ppl.to_csv(index=False).encode("utf-8"))
    return data, [p]


@mess("hostile_names_exported", exports=True)
def _(d):
    """Names a user typed (or pasted) that would run as HTML or as a spreadsheet formula."""
    lay = layers(4326)
    for k in ("communities", "compounds", "stations"):
        lay[k] = lay[k].assign(name=[f"{HOSTILE_NAME}{i}" for i in range(len(lay[k]))])
    lay["buildings"] = lay["buildings"].assign(name="=1+1")
    return write_all(lay, d), []


@mess("zip_nested_folders_upper_case_gk_prefix", exports=True)
def _(d):
    src = d / "src"
    write_all(layers(GK_PREFIX), src / "姑苏区" / "矢量数据", ".shp", encoding="GBK")
    with zipfile.ZipFile(d / "数据.zip", "w") as z:
        for f in sorted((src / "姑苏区" / "矢量数据").iterdir()):
            z.write(f, f"姑苏区/矢量数据/{f.stem}{f.suffix.upper()}")
    shutil.rmtree(src)
    return d / "数据.zip", []


@mess("community_in_two_features_same_id", "error", mentions=("communities", "510682001001", "Dissolve"))
def _(d):
    lay = layers_gk()
    c = lay["communities"]
    g = c.geometry.iloc[0]
    x0, y0, x1, y1 = g.bounds
    west = c.iloc[[0]].assign(geometry=[box(x0, y0, (x0 + x1) / 2, y1)])
    east = c.iloc[[0]].assign(geometry=[box((x0 + x1) / 2, y0, x1, y1)])
    lay["communities"] = pd.concat([west, east, c.iloc[1:]], ignore_index=True)
    return write_all({k: v.to_crs(4326) for k, v in lay.items()}, d, ".shp"), []


@mess("building_ids_repeat_per_compound", "error", mentions=("buildings", "building_id"))
def _(d):
    lay = layers(4326)
    b = lay["buildings"]
    lay["buildings"] = b.assign(building_id=b.groupby(b["compound_id"].fillna("-")).cumcount().add(1).astype(str))
    return write_all(lay, d), []


#: personal data an office keeps beside the buildings (building head's name and mobile, ID number)
PERSONAL = {"楼栋长": "赵铁柱", "联系电话": "13912345678", "身份证号": "320508198001013000"}


@mess("personal_columns_on_buildings", exports=True)
def _(d):
    lay = layers(4326)
    lay["buildings"] = lay["buildings"].assign(**PERSONAL)
    lay["compounds"] = lay["compounds"].assign(物业联系人="钱多多", 物业电话="13812345678")
    return write_all(lay, d), []



def _city(households: int = 6000):
    """A generated city (benchmarks/cities.py, family 'organic') moved from Shifang to 苏州 (EPSG:4549)."""
    import sys
    root = Path(__file__).resolve().parents[1]
    if str(root / "benchmarks") not in sys.path:
        sys.path.insert(0, str(root / "benchmarks"))
    import cities
    lay = cities.generate("organic", seed=1, households=households)
    dx, dy = ORIGIN[0] - ORIGIN_4544[0], ORIGIN[1] - ORIGIN_4544[1]
    return {k: v.set_geometry(v.geometry.translate(dx, dy)).set_crs(GK_NO_PREFIX, allow_override=True)
            for k, v in lay.items()}


_CITY_HH: dict = {}


def _city_households() -> tuple[int, int]:
    if not _CITY_HH:
        b = _city()["buildings"]
        _CITY_HH["v"] = (int(b["households"].sum()), len(b))
    return _CITY_HH["v"]


@mess("city_6000hh_gbk_zip_gk_prefix_chinese_headers", position_m=None)
def _(d):
    lay = {k: v.to_crs(GK_PREFIX) for k, v in _city().items()}
    lay["buildings"] = chinese_buildings(lay["buildings"])
    src = d / "src"
    for k, g in lay.items():
        write(g, src / f"{k}.shp", encoding="GBK")
    for f in src.glob("*.cpg"):
        f.unlink()
    zip_folder(src, d / "城区.zip")
    shutil.rmtree(src)
    return d / "城区.zip", []


@mess("points_geocoded_to_compound_centres", position_m=None)
def _(d):
    """Buildings geocoded from their address: every building of a compound on the compound's centre point."""
    lay = layers_gk()
    b = lay["buildings"].copy()
    centre = lay["compounds"].set_index("compound_id").geometry.centroid
    b["geometry"] = [centre[c] if isinstance(c, str) else g.centroid for c, g in zip(b["compound_id"], b.geometry)]
    lay["buildings"] = b
    return write_all({k: v.to_crs(4326) for k, v in lay.items()}, d), []


@mess("roster_two_level_header_vertical_merges_xlsx", kind="roster", roster_expect={"persons": 24, "households": 12,
                                                                                      "party_members": 5})
def _(d):
    """住址 over 小区/楼栋/单元/户室 in two header rows; 姓名, 身份证号, 政治面貌 merged down across both rows."""
    from openpyxl import Workbook
    data = _roster_dataset(d)
    p = d / "台账.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["序号", "社区", "住址", None, None, None, "姓名", "公民身份号码", "政治面貌"])
    ws.append([None, None, "小区", "楼栋", "单元", "户室", None, None, None])
    for col in ("A", "B", "G", "H", "I"):
        ws.merge_cells(f"{col}1:{col}2")
    ws.merge_cells("C1:F1")
    for i, r in enumerate(roster_people().itertuples(index=False)):
        ws.append([i + 1, r.社区, r.小区, r.楼栋, r.单元, r.户室, r.姓名, r.身份证号, r.政治面貌])
    wb.save(p)
    return data, [p]


@mess("roster_csv_ids_as_excel_text_formulas", kind="roster", roster_expect={"persons": 24, "households": 12,
                                                                              "invalid_ids": 0})
def _(d):
    """IDs written ="510682…" (how offices keep Excel from turning 18 digits into 5.10682E+17) or '510682…."""
    data = _roster_dataset(d)
    ppl = roster_people()
    ppl["身份证号"] = [f'="{v}"' if i % 2 else f"'{v}" for i, v in enumerate(ppl["身份证号"])]
    p = d / "台账.csv"
    p.write_bytes(ppl.to_csv(index=False).encode("gbk"))
    return data, [p]


@mess("roster_community_as_juweihui_compound_unknown", "error", kind="roster", mentions=("金沙苑",))
def _(d):
    """社区 written as its 居委会; one compound the map does not have (reported, not counted)."""
    data = _roster_dataset(d)
    ppl = roster_people().assign(社区="方亭社区居民委员会")
    ppl.loc[ppl.index[:6], "小区"] = "金沙苑"
    p = d / "台账.csv"
    p.write_bytes(ppl.to_csv(index=False).encode("utf-8"))
    return data, [p]


@mess("xian80_gk_zone_gpkg")
def _(d):
    """Survey data in Xian 1980 / 3° GK CM 120°E (EPSG:2385): loads, with the honest datum warning."""
    return write_all(layers(2385), d, ".gpkg"), []


@mess("buildings_from_ovital_kml", "error", mentions=("buildings", "楼栋.kml"))
def _(d):
    lay = layers(4326)
    lay.pop("buildings").to_file(d / "楼栋.kml", driver="KML", engine="pyogrio")
    return write_all(lay, d), []
