"""A small valid dataset near 什邡 (Shifang), its writers in every format, and a corpus of malformed variants.

``base_layers()`` gives the raw layers (EPSG:4326, canonical headers): 2 communities, 3 compounds,
14 buildings, 4 roads, 3 stations. ``write_dataset`` writes layers as a folder (GeoJSON, Shapefile,
FlatGeobuf, one GeoPackage per layer) or as one GeoPackage. ``CASES`` lists the malformed datasets:
each :class:`Case` builds itself into a folder and says what loading it must report.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box

#: origin of the base dataset in EPSG:4544 metres (≈ 104.17°E, 31.13°N, Shifang)
ORIGIN_4544 = (416000.0, 3444700.0)

#: extensions written by each folder format
FOLDER_FORMATS = {"geojson": ".geojson", "shp": ".shp", "fgb": ".fgb", "gpkg_per_layer": ".gpkg"}
ALL_FORMATS = (*FOLDER_FORMATS, "gpkg")


def _m(geom):
    """A geometry drawn in local metres, moved to the EPSG:4544 origin."""
    return shapely.affinity.translate(geom, *ORIGIN_4544)


def base_layers_metric() -> dict[str, gpd.GeoDataFrame]:
    """The base dataset in EPSG:4544 (metres)."""
    communities = gpd.GeoDataFrame({
        "community_id": ["510682001001", "510682001002"],
        "name": ["方亭社区", "皂角社区"],
        "street": ["方亭街道", "方亭街道"],
    }, geometry=[_m(box(0, 0, 500, 400)), _m(box(500, 0, 1000, 400))], crs=4544)
    compounds = gpd.GeoDataFrame({
        "compound_id": ["Q1", "Q2", "Q3"],
        "name": ["金河小区", "蓥华小区", "雍城小区"],
        "community_id": ["510682001001", "510682001001", "510682001002"],
        "property_company": ["蓥峰物业", None, None],
        "has_property_mgmt": [True, False, False],
        "has_competent_dept": [True, False, True],
        "has_owners_committee": [False, False, False],
        "party_org": ["独立党支部", "联合党支部", None],
    }, geometry=[_m(box(20, 20, 220, 180)), _m(box(260, 20, 480, 380)), _m(box(540, 40, 800, 300))], crs=4544)
    rows = []
    k = 0
    for qid, (x0, y0) in [("Q1", (30, 30)), ("Q2", (270, 30)), ("Q3", (550, 50))]:
        for dx, dy in [(0, 0), (90, 0), (0, 70), (90, 70)]:
            k += 1
            rows.append(dict(building_id=f"B{k:03d}", households=40 + 3 * k, persons=110 + 8 * k,
                             party_members=k % 5, floors=6 + k % 3, units=2, compound_id=qid,
                             community_id=None, name=f"{k}栋",
                             geometry=_m(box(x0 + dx, y0 + dy, x0 + dx + 60, y0 + dy + 40))))
    # two buildings outside any compound, one in each community
    for bid, (x, y), cid in [("B013", (100, 300), "510682001001"), ("B014", (850, 330), "510682001002")]:
        rows.append(dict(building_id=bid, households=30, persons=80, party_members=1, floors=5, units=1,
                         compound_id=None, community_id=cid, name=f"{bid}栋", geometry=_m(box(x, y, x + 40, y + 30))))
    buildings = gpd.GeoDataFrame(rows, geometry="geometry", crs=4544)
    roads = gpd.GeoDataFrame({
        "road_id": ["R1", "R2", "R3", "R4"],
        "name": ["蓥华路", "方亭路", "雍城路", "北京大道"],
        "kind": ["primary", "secondary", "residential", "primary"],
        "walkable": [True, True, True, False],
    }, geometry=[_m(LineString([(-50, 200), (1050, 200)])), _m(LineString([(240, -50), (240, 450)])),
                 _m(LineString([(520, -50), (520, 450)])), _m(LineString([(-50, 420), (1050, 420)]))], crs=4544)
    stations = gpd.GeoDataFrame({
        "station_id": ["S1", "S2", "S3"],
        "name": ["方亭红色驿站", "皂角郁心站", "党群服务中心"],
        "kind": ["red_station", "grid_station", "service_center"],
    }, geometry=[_m(Point(240, 200)), _m(Point(520, 210)), _m(Point(700, 200))], crs=4544)
    return {"communities": communities, "compounds": compounds, "buildings": buildings, "roads": roads,
            "stations": stations}


def base_layers(crs=4326) -> dict[str, gpd.GeoDataFrame]:
    """The base dataset, in ``crs`` (EPSG:4326 by default)."""
    return {k: v.to_crs(crs) for k, v in base_layers_metric().items()}


def base_layers_at(epsg: int, origin: tuple[float, float]) -> dict[str, gpd.GeoDataFrame]:
    """The same local layout placed at ``origin`` of another projected CRS (e.g. Helsinki in UTM 35N)."""
    dx, dy = origin[0] - ORIGIN_4544[0], origin[1] - ORIGIN_4544[1]
    out = {}
    for k, v in base_layers_metric().items():
        g = v.copy()
        g["geometry"] = g.geometry.translate(dx, dy)
        out[k] = g.set_crs(epsg, allow_override=True)
    return out


# --------------------------------------------------------------------------- writers
def write_layer(gdf: gpd.GeoDataFrame, path: Path, **kw) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower()
    driver = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".shp": "ESRI Shapefile",
              ".fgb": "FlatGeobuf"}[ext]
    if ext == ".shp":
        kw.setdefault("encoding", "UTF-8")
    if ext == ".gpkg":
        kw.setdefault("layer", path.stem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "field names truncated" is what a Shapefile does, expected here
        gdf.to_file(path, driver=driver, engine="pyogrio", **kw)
    return path


def write_dataset(layers: dict[str, gpd.GeoDataFrame], folder: Path, fmt: str = "geojson",
                  names: dict[str, str] | None = None) -> Path:
    """Write layers as a dataset in ``fmt`` and return the path to pass to ``read_dataset``.

    ``fmt``: ``geojson``, ``shp``, ``fgb``, ``gpkg_per_layer`` (a folder) or ``gpkg`` (one file
    ``folder/dataset.gpkg``). ``names`` renames layer files (e.g. ``{"buildings": "楼栋"}``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = names or {}
    if fmt == "gpkg":
        path = folder / "dataset.gpkg"
        for lname, gdf in layers.items():
            gdf.to_file(path, driver="GPKG", layer=names.get(lname, lname), engine="pyogrio")
        return path
    ext = FOLDER_FORMATS[fmt]
    for lname, gdf in layers.items():
        write_layer(gdf, folder / f"{names.get(lname, lname)}{ext}")
    return folder


# --------------------------------------------------------------------------- snapshots
def snapshot(path: Path) -> dict[str, tuple[str, int, int]]:
    """sha256, size and mtime (ns) of every file under ``path`` (or of the file itself)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    out = {}
    for f in files:
        st = f.stat()
        out[str(f)] = (hashlib.sha256(f.read_bytes()).hexdigest(), st.st_size, st.st_mtime_ns)
    return out


# --------------------------------------------------------------------------- the corpus
@dataclass
class Case:
    """One malformed dataset.

    ``build(folder)`` writes it and returns the path to load. ``expect`` lists what loading must
    report: ``(layer, feature, code)`` with ``feature`` ``None`` for a layer-wide problem and
    ``"*"`` for "any feature". ``ok`` is True when the dataset loads (warnings only).
    ``kwargs`` are passed to ``read_dataset`` (and turned into CLI options where possible).
    ``cli_exit`` is the exit status of ``gridplan validate`` when it is not 1 (0 for ``ok``).
    """

    name: str
    build: Callable[[Path], Path]
    expect: list[tuple[str, str | None, str]]
    ok: bool = False
    kwargs: dict = field(default_factory=dict)
    cli_exit: int | None = None   # the CLI's exit status when it differs (2: the CLI refuses it as bad usage)


CASES: list[Case] = []


def case(name, expect, *, ok=False, kwargs=None, cli_exit=None):
    def deco(fn):
        CASES.append(Case(name, fn, expect, ok, kwargs or {}, cli_exit))
        return fn
    return deco


def _with(folder, fmt="geojson", **changes):
    """Write the base dataset with some layers replaced (a value of ``None`` drops the layer)."""
    layers = base_layers()
    for k, v in changes.items():
        if v is None:
            layers.pop(k, None)
        else:
            layers[k] = v
    return write_dataset(layers, folder, fmt)


def _b():
    return base_layers()["buildings"]


def _set(gdf, row, col, value):
    g = gdf.copy()
    if col not in g or g[col].dtype != object:
        g[col] = g[col].astype(object) if col in g else None
    g.at[g.index[row], col] = value
    return g


def _geojson_text(gdf) -> dict:
    return json.loads(gdf.to_json(drop_id=True))


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")


# ---- unreadable and missing files
@case("truncated_json", [("buildings", None, "unreadable")])
def _(d):
    _with(d)
    p = d / "buildings.geojson"
    p.write_bytes(p.read_bytes()[:500])
    return d


@case("zero_byte_buildings", [("buildings", None, "unreadable")])
def _(d):
    _with(d)
    (d / "buildings.geojson").write_bytes(b"")
    return d


@case("zero_byte_gpkg", [("dataset", None, "unreadable")])
def _(d):
    p = d / "dataset.gpkg"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")
    return p


@case("gpkg_not_sqlite", [("dataset", None, "unreadable")])
def _(d):
    p = d / "dataset.gpkg"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"this is not a GeoPackage\n" * 40)
    return p


@case("gpkg_layer_in_folder_not_sqlite", [("buildings", None, "unreadable")])
def _(d):
    _with(d, buildings=None)
    (d / "buildings.gpkg").write_bytes(b"PK\x03\x04 definitely not sqlite")
    return d


@case("shp_without_dbf", [("buildings", None, "missing_sidecar")])
def _(d):
    _with(d, "shp")
    (d / "buildings.dbf").unlink()
    return d


@case("shp_without_shx", [("buildings", None, "missing_sidecar")])
def _(d):
    _with(d, "shp")
    (d / "buildings.shx").unlink()
    return d


@case("fgb_garbage", [("buildings", None, "unreadable")])
def _(d):
    _with(d, "fgb")
    p = d / "buildings.fgb"
    p.write_bytes(p.read_bytes()[:100])
    return d


@case("json_not_geojson", [("buildings", None, "unreadable")])
def _(d):
    _with(d)
    _write_json(d / "buildings.geojson", {"hello": [1, 2, 3]})
    return d


@case("binary_garbage_geojson", [("buildings", None, "unreadable")])
def _(d):
    _with(d)
    (d / "buildings.geojson").write_bytes(bytes(range(256)) * 8)
    return d


@case("missing_path", [("dataset", None, "no_such_path")])
def _(d):
    return d / "does-not-exist"


@case("empty_folder", [("dataset", None, "no_layers")])
def _(d):
    d.mkdir(parents=True, exist_ok=True)
    (d / "README.txt").write_text("nothing here")
    return d


@case("missing_buildings_layer", [("buildings", None, "missing_layer")])
def _(d):
    return _with(d, buildings=None)


@case("gpkg_missing_buildings_layer", [("buildings", None, "missing_layer")])
def _(d):
    layers = base_layers()
    layers.pop("buildings")
    return write_dataset(layers, d, "gpkg")


@case("two_files_one_layer", [("buildings", None, "duplicate_layer")])
def _(d):
    _with(d)
    write_layer(_b(), d / "楼栋.geojson")
    return d


@case("huge_file", [("buildings", None, "file_too_big")], kwargs={"max_file_mb": 0.002})
def _(d):
    return _with(d)


@case("unknown_layer_file", [("parks.geojson", None, "unknown_layer")], ok=True)
def _(d):
    _with(d)
    write_layer(base_layers()["communities"], d / "parks.geojson")
    return d


@case("unknown_layer_in_gpkg", [("parks", None, "unknown_layer")], ok=True)
def _(d):
    layers = base_layers()
    layers["parks"] = layers["communities"]
    return write_dataset(layers, d, "gpkg")


# ---- empty layers
@case("empty_buildings", [("buildings", None, "empty_layer")])
def _(d):
    return _with(d, buildings=_b().iloc[:0])


@case("empty_buildings_gpkg", [("buildings", None, "empty_layer")])
def _(d):
    layers = base_layers()
    layers["buildings"] = layers["buildings"].iloc[:0]
    return write_dataset(layers, d, "gpkg")


@case("empty_stations", [("stations", None, "empty_layer")], ok=True)
def _(d):
    return _with(d, stations=base_layers()["stations"].iloc[:0])


@case("empty_feature_collection", [("buildings", None, "empty_layer")])
def _(d):
    _with(d)
    _write_json(d / "buildings.geojson", {"type": "FeatureCollection", "features": []})
    return d


# ---- fields and types
@case("missing_households_and_floors", [("buildings", "B003", "missing_households")])
def _(d):
    b = _b()
    b = _set(b, 2, "households", None)
    b = _set(b, 2, "persons", None)
    b = _set(b, 2, "floors", None)
    return _with(d, buildings=b)


@case("no_count_columns", [("buildings", "B001", "missing_households")])
def _(d):
    return _with(d, buildings=_b().drop(columns=["households", "persons", "floors"]))


@case("negative_households", [("buildings", "B004", "negative_count")])
def _(d):
    return _with(d, buildings=_set(_b(), 3, "households", -5))


@case("fractional_persons", [("buildings", "B005", "fractional_count")])
def _(d):
    return _with(d, buildings=_set(_b(), 4, "persons", 12.5))


@case("text_count", [("buildings", "B006", "not_a_number")])
def _(d):
    return _with(d, buildings=_set(_b(), 5, "households", "about forty"))


@case("text_count_shp", [("buildings", "B006", "not_a_number")])
def _(d):
    return _with(d, "shp", buildings=_set(_b(), 5, "households", "四十户"))


@case("negative_party_members_gpkg", [("buildings", "B002", "negative_count")])
def _(d):
    return _with(d, "gpkg", buildings=_set(_b(), 1, "party_members", -1))


@case("bad_bool", [("compounds", "Q2", "bad_bool")])
def _(d):
    return _with(d, compounds=_set(base_layers()["compounds"], 1, "has_property_mgmt", "maybe"))


@case("station_unknown_kind", [("stations", "S2", "bad_kind")])
def _(d):
    return _with(d, stations=_set(base_layers()["stations"], 1, "kind", "ufo_base"))


@case("station_without_kind", [("stations", None, "missing_field")])
def _(d):
    return _with(d, stations=base_layers()["stations"].drop(columns=["kind"]))


# ---- ids
@case("duplicate_building_ids", [("buildings", "B001", "duplicate_id")])
def _(d):
    return _with(d, buildings=_set(_b(), 1, "building_id", "B001"))


@case("duplicate_building_ids_fgb", [("buildings", "B001", "duplicate_id")])
def _(d):
    return _with(d, "fgb", buildings=_set(_b(), 1, "building_id", "B001"))


@case("duplicate_compound_ids", [("compounds", "Q1", "duplicate_id")])
def _(d):
    return _with(d, compounds=_set(base_layers()["compounds"], 1, "compound_id", "Q1"))


@case("null_building_id", [("buildings", "row 3", "null_id")])
def _(d):
    return _with(d, buildings=_set(_b(), 2, "building_id", None))


@case("dangling_compound_id", [("buildings", "B002", "dangling_ref")])
def _(d):
    return _with(d, buildings=_set(_b(), 1, "compound_id", "Q99"))


@case("dangling_community_id_on_compound", [("compounds", "Q3", "dangling_ref")])
def _(d):
    return _with(d, compounds=_set(base_layers()["compounds"], 2, "community_id", "999999999999"))


@case("dangling_community_id_on_building", [("buildings", "B013", "dangling_ref")])
def _(d):
    return _with(d, buildings=_set(_b(), 12, "community_id", "510682009999"))


@case("compound_names_instead_of_ids", [("buildings", None, "ref_by_name")], ok=True)
def _(d):
    b = _b()
    names = base_layers()["compounds"].set_index("compound_id")["name"]
    b["compound_id"] = b["compound_id"].map(names)
    return _with(d, buildings=b)


@case("community_names_on_compounds", [("compounds", None, "ref_by_name")], ok=True)
def _(d):
    q = base_layers()["compounds"]
    q["community_id"] = q["community_id"].map({"510682001001": "方亭社区", "510682001002": "皂角社区"})
    return _with(d, compounds=q)


@case("no_building_ids", [("buildings", None, "ids_generated")], ok=True)
def _(d):
    return _with(d, buildings=_b().drop(columns=["building_id"]))


# ---- geometry
@case("null_geometry", [("buildings", "B007", "null_geometry")])
def _(d):
    _with(d)
    fc = _geojson_text(_b())
    fc["features"][6]["geometry"] = None
    _write_json(d / "buildings.geojson", fc)
    return d


@case("empty_geometry_gpkg", [("buildings", "B008", "null_geometry")])
def _(d):
    b = _b()
    b.loc[b.index[7], "geometry"] = Polygon()
    return _with(d, "gpkg", buildings=b)


@case("bow_tie_building", [("buildings", "B009", "repaired_geometry")], ok=True)
def _(d):
    b = _b()
    x0, y0, x1, y1 = b.geometry.iloc[8].bounds
    b.loc[b.index[8], "geometry"] = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    return _with(d, buildings=b)


@case("self_intersecting_community_shp", [("communities", "510682001002", "repaired_geometry")], ok=True)
def _(d):
    c = base_layers()["communities"]
    x0, y0, x1, y1 = c.geometry.iloc[1].bounds
    eps = 1e-5  # a small loop at the south-west corner: the ring crosses itself
    c.loc[c.index[1], "geometry"] = Polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0 + eps, y0 - eps)])
    return _with(d, "shp", communities=c)


@case("degenerate_polygon", [("buildings", "B010", "invalid_geometry")])
def _(d):
    _with(d)
    fc = _geojson_text(_b())
    x, y = fc["features"][9]["geometry"]["coordinates"][0][0]
    fc["features"][9]["geometry"] = {"type": "Polygon", "coordinates": [[[x, y], [x + 1e-4, y], [x, y], [x, y]]]}
    _write_json(d / "buildings.geojson", fc)
    return d


@case("lines_in_buildings", [("buildings", "B011", "geometry_type")])
def _(d):
    b = _b()
    g = b.geometry.iloc[10]
    b.loc[b.index[10], "geometry"] = LineString(list(g.exterior.coords)[:2])
    return _with(d, buildings=b)


@case("points_and_lines_in_stations", [("stations", "S3", "geometry_type")])
def _(d):
    s = base_layers()["stations"]
    p = s.geometry.iloc[2]
    s.loc[s.index[2], "geometry"] = LineString([(p.x, p.y), (p.x + 1e-3, p.y)])
    return _with(d, stations=s)


@case("polygon_roads", [("roads", "R2", "geometry_type")])
def _(d):
    r = base_layers()["roads"]
    r.loc[r.index[1], "geometry"] = r.geometry.iloc[1].buffer(1e-4)
    return _with(d, roads=r)


@case("points_and_polygons_buildings", [("buildings", None, "mixed_geometry")], ok=True)
def _(d):
    b = _b()
    b.loc[b.index[12], "geometry"] = b.geometry.iloc[12].centroid
    return _with(d, buildings=b)


@case("multipoint_station", [("stations", "S1", "geometry_type")])
def _(d):
    s = base_layers()["stations"]
    p = s.geometry.iloc[0]
    s.loc[s.index[0], "geometry"] = MultiPoint([(p.x, p.y), (p.x + 1e-3, p.y)])
    return _with(d, stations=s)


@case("building_outside_communities", [("buildings", "B014", "outside_communities")])
def _(d):
    b = _b().to_crs(4544)
    b.loc[b.index[13], "geometry"] = shapely.affinity.translate(b.geometry.iloc[13], 3000, 0)
    b.loc[b.index[13], "community_id"] = None
    return _with(d, buildings=b.to_crs(4326))


@case("compound_outside_communities", [("compounds", "Q3", "outside_communities")])
def _(d):
    q = base_layers()["compounds"].to_crs(4544)
    q.loc[q.index[2], "geometry"] = shapely.affinity.translate(q.geometry.iloc[2], 5000, 0)
    q.loc[q.index[2], "community_id"] = None
    return _with(d, compounds=q.to_crs(4326))


# ---- CRS
@case("swapped_axes", [("buildings", None, "swapped_axes")])
def _(d):
    b = _b()
    b["geometry"] = shapely.transform(b.geometry.array, lambda c: c[:, ::-1])
    return _with(d, buildings=b)


@case("projected_declared_4326", [("buildings", None, "projected_as_geographic")])
def _(d):
    b = _b().to_crs(4544).set_crs(4326, allow_override=True)
    return _with(d, buildings=b)


@case("projected_no_crs_shp", [("buildings", None, "no_crs_projected")])
def _(d):
    _with(d, "shp")
    layers = base_layers(4544)
    write_layer(layers["buildings"], d / "buildings.shp")
    (d / "buildings.prj").unlink()
    return d


@case("wrong_crs_far_away", [("buildings", None, "layers_apart")])
def _(d):
    # the buildings were saved in EPSG:4544 (CM 105°E) but declared EPSG:4543 (CM 102°E): ~290 km off
    b = base_layers(4544)["buildings"].set_crs(4543, allow_override=True)
    return _with(d, buildings=b)


@case("gcj02_declared_on_projected", [("buildings", None, "offset_on_projected")],
      kwargs={"coord_system": "gcj02"})
def _(d):
    return write_dataset(base_layers(4544), d, "gpkg")


@case("unknown_coord_system", [("dataset", None, "bad_coord_system")], kwargs={"coord_system": "mars"},
      cli_exit=2)
def _(d):
    return _with(d)


# ---- encodings and headers
@case("gbk_shapefile_without_cpg", [("buildings", None, "encoding_assumed")], ok=True)
def _(d):
    _with(d, "shp", buildings=None)
    b = _b().rename(columns={"households": "户数", "persons": "人口", "name": "名称"})
    write_layer(b, d / "buildings.shp", encoding="GBK")
    (d / "buildings.cpg").unlink(missing_ok=True)
    return d


@case("chinese_headers_with_errors", [("buildings", "B002", "negative_count")])
def _(d):
    b = _set(_b(), 1, "households", -3).rename(columns={"households": "户数", "persons": "人口",
                                                          "party_members": "党员数", "floors": "楼层"})
    return _with(d, buildings=b)


@case("ambiguous_headers", [("buildings", None, "ambiguous_field")], ok=True)
def _(d):
    b = _b()
    b["户数"] = b["households"] + 1
    return _with(d, buildings=b)


@case("lonlat_declared_projected", [("buildings", None, "geographic_as_projected")])
def _(d):
    return _with(d, buildings=_b().set_crs(4544, allow_override=True))


@case("gbk_shapefile_cpg_says_utf8", [("buildings", None, "encoding_assumed")], ok=True)
def _(d):
    _with(d, "shp", buildings=None)
    b = _b().rename(columns={"households": "户数", "persons": "人口", "name": "名称"})
    write_layer(b, d / "buildings.shp", encoding="GBK")
    (d / "buildings.cpg").write_text("UTF-8")
    return d


@case("csv_without_coordinates", [("buildings", None, "no_geometry")])
def _(d):
    d.mkdir(parents=True, exist_ok=True)
    p = d / "buildings.csv"
    p.write_text("building_id,户数\nB1,40\n", encoding="utf-8")
    return p


@case("docx_instead_of_dataset", [("dataset", None, "unsupported_format")])
def _(d):
    d.mkdir(parents=True, exist_ok=True)
    p = d / "buildings.docx"
    p.write_bytes(b"PK\x03\x04 not a layer")
    return p


@case("xlsx_buildings_with_bad_coordinates", [("buildings", "row 4", "bad_coordinates")])
def _(d):
    _with(d, buildings=None)
    b = _b()
    c = b.geometry.to_crs(4544).centroid.to_crs(4326)
    t = pd.DataFrame({"楼栋编号": b["building_id"], "户数": b["households"], "经度": c.x, "纬度": c.y.astype(object)})
    t.loc[2, "纬度"] = "31.1.3"
    t.to_excel(d / "楼栋.xlsx", index=False)
    return d


@case("gpkg_table_without_geometry", [("buildings", None, "no_geometry")])
def _(d):
    layers = base_layers()
    path = write_dataset({k: v for k, v in layers.items() if k != "buildings"}, d, "gpkg")
    table = pd.DataFrame(layers["buildings"].drop(columns="geometry"))
    import pyogrio
    pyogrio.write_dataframe(table, path, layer="buildings", driver="GPKG")
    return path


@case("broken_zip_shapefile", [("buildings", None, "unreadable")])
def _(d):
    _with(d, buildings=None)
    (d / "buildings.zip").write_bytes(b"PK\x03\x04" + bytes(range(200)))
    return d


@case("bad_column_map_target", [("buildings", None, "bad_column_map")],
      kwargs={"column_map": {"buildings": {"households": "households_total"}}})
def _(d):
    return _with(d)


@case("dangling_station_community", [("stations", "S1", "dangling_ref")])
def _(d):
    s = base_layers()["stations"]
    s["community_id"] = ["510682001099", "510682001001", None]
    return _with(d, stations=s)


@case("duplicate_station_ids_gpkg", [("stations", "S1", "duplicate_id")])
def _(d):
    return _with(d, "gpkg", stations=_set(base_layers()["stations"], 2, "station_id", "S1"))


@case("negative_floors_fgb", [("buildings", "B012", "negative_count")])
def _(d):
    return _with(d, "fgb", buildings=_set(_b(), 11, "floors", -6))


@case("chinese_layer_names_gpkg_with_errors", [("buildings", "B003", "fractional_count")])
def _(d):
    layers = base_layers()
    layers["buildings"] = _set(layers["buildings"], 2, "households", 40.5)
    return write_dataset(layers, d, "gpkg", names={"buildings": "楼栋", "communities": "社区", "compounds": "小区"})


@case("many_problems_at_once", [("buildings", "B001", "duplicate_id"), ("buildings", "B004", "negative_count"),
                                ("buildings", "B007", "null_geometry"), ("stations", "S2", "bad_kind"),
                                ("compounds", "Q3", "dangling_ref"), ("buildings", "B006", "not_a_number"),
                                ("parks.geojson", None, "unknown_layer")])
def _(d):
    b = _set(_set(_set(_b(), 1, "building_id", "B001"), 3, "households", -2), 5, "persons", "n/a")
    b.loc[b.index[6], "geometry"] = None
    layers = base_layers()
    _with(d, buildings=b, stations=_set(layers["stations"], 1, "kind", "kiosk"),
          compounds=_set(layers["compounds"], 2, "community_id", "nowhere"))
    write_layer(layers["communities"], d / "parks.geojson")
    return d



def _zip_folder(folder: Path, target: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.iterdir()):
            z.write(f, prefix + f.name)
    return target


@case("zip_dataset_with_errors", [("buildings", "B004", "negative_count"), ("stations", "S1", "duplicate_id")])
def _(d):
    src = d / "src"
    layers = base_layers()
    write_dataset({**layers, "buildings": _set(layers["buildings"], 3, "households", -9),
                   "stations": _set(layers["stations"], 1, "station_id", "S1")}, src, "shp")
    d.mkdir(parents=True, exist_ok=True)
    out = _zip_folder(src, d / "什邡数据.zip", prefix="什邡数据/")
    shutil.rmtree(src)
    return out


@case("zip_over_the_limit", [("dataset", None, "file_too_big")], kwargs={"max_file_mb": 0.01})
def _(d):
    src = d / "src"
    write_dataset(base_layers(), src, "geojson")
    d.mkdir(parents=True, exist_ok=True)
    out = _zip_folder(src, d / "data.zip")
    shutil.rmtree(src)
    return out


@case("zip_without_layers", [("dataset", None, "no_layers")])
def _(d):
    d.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(d / "data.zip", "w") as z:
        z.writestr("readme.txt", "no layers here")
    return d / "data.zip"


@case("nan_coordinates", [("buildings", None, "unprojectable")])
def _(d):
    _with(d)
    fc = _geojson_text(_b())
    fc["features"][4]["geometry"]["coordinates"][0][1] = [float("nan"), 31.13]
    (d / "buildings.geojson").write_text(json.dumps(fc, ensure_ascii=False, allow_nan=True), encoding="utf-8")
    return d


@case("null_id_and_negative_count", [("buildings", "row 3", "null_id"), ("buildings", "row 3", "negative_count")])
def _(d):
    return _with(d, buildings=_set(_set(_b(), 2, "building_id", None), 2, "households", -1))


@case("points_and_lines_in_buildings_fgb", [("buildings", "B002", "geometry_type"),
                                            ("buildings", None, "mixed_geometry")])
def _(d):
    b = _b()
    p = b.geometry.iloc[0].centroid
    b.loc[b.index[0], "geometry"] = p
    b.loc[b.index[1], "geometry"] = LineString([(p.x, p.y), (p.x + 1e-3, p.y + 1e-3)])
    return _with(d, "fgb", buildings=b)


@case("chinese_headers_shp_with_duplicate_ids", [("buildings", "B005", "duplicate_id")])
def _(d):
    b = _set(_b(), 5, "building_id", "B005").rename(columns={
        "building_id": "楼栋编号", "households": "户数", "persons": "常住人口", "party_members": "党员人数",
        "floors": "层数", "compound_id": "所属小区", "community_id": "所属社区"})
    return _with(d, "shp", buildings=b)


@case("gk_zone_prefix_without_prj", [("buildings", None, "no_crs_projected")])
def _(d):
    # survey data in CGCS2000 3° GK zone 35 (x = 35 416 000 …) saved without its .prj
    layers = {k: v.set_geometry(v.geometry.translate(35_000_000, 0)) for k, v in base_layers(4544).items()}
    path = write_dataset({k: v.set_crs(4523, allow_override=True) for k, v in layers.items()}, d, "shp")
    for f in path.glob("*.prj"):
        f.unlink()
    return path


@case("building_community_id_names_another_community", [("buildings", "B013", "community_mismatch")], ok=True)
def _(d):
    return _with(d, buildings=_set(_b(), 12, "community_id", "510682001002"))


@case("gbk_geojson", [("buildings", None, "encoding_assumed")], ok=True)
def _(d):
    _with(d)
    b = _b().rename(columns={"households": "户数", "name": "名称"})
    (d / "buildings.geojson").write_bytes(b.to_json(drop_id=True, ensure_ascii=False).encode("gbk"))
    return d


@case("duplicate_footprint_under_another_id", [("buildings", "B901", "duplicate_geometry")])
def _(d):
    # two surveys merged: building B001 again as B901 (its households would count twice)
    b = _b()
    twin = b.iloc[[0]].assign(building_id="B901")
    return _with(d, "gpkg_per_layer", buildings=pd.concat([b, twin], ignore_index=True))


@case("same_point_twice", [("buildings", "B002", "duplicate_point")], ok=True)
def _(d):
    b = _b()
    b["geometry"] = b.geometry.to_crs(4544).centroid.to_crs(4326)
    b.loc[b.index[1], "geometry"] = b.geometry.iloc[0]
    return _with(d, buildings=b)


@case("overlapping_communities", [("communities", "510682001002", "overlapping_polygons")])
def _(d):
    c = base_layers(4544)["communities"]
    c.loc[c.index[0], "geometry"] = c.geometry.iloc[0].buffer(150, join_style="mitre")
    return _with(d, communities=c.to_crs(4326))


@case("community_boundaries_overlap_by_a_sliver", [("communities", "510682001002", "overlapping_polygons")],
      ok=True)
def _(d):
    c = base_layers(4544)["communities"]
    g = c.geometry.iloc[0]
    c.loc[c.index[0], "geometry"] = shapely.affinity.scale(g, 1.002, 1.0, origin=(g.bounds[0], 0))
    return _with(d, communities=c.to_crs(4326))


@case("overlapping_compounds", [("compounds", "Q2", "overlapping_polygons")], ok=True)
def _(d):
    c = base_layers(4544)["compounds"]
    c.loc[c.index[0], "geometry"] = c.geometry.iloc[0].buffer(60, join_style="mitre")
    return _with(d, compounds=c.to_crs(4326))


@case("gk_x_without_zone_number_declared_with_it", [("buildings", None, "outside_crs_area")])
def _(d):
    # x of EPSG:4544 (CM 105°E, no prefix) in a file whose CRS says zone 35 with the prefix (EPSG:4523)
    return write_dataset({k: v.set_crs(4523, allow_override=True) for k, v in base_layers(4544).items()}, d, "gpkg")


@case("gk_x_with_zone_number_declared_without_it", [("buildings", None, "outside_crs_area")])
def _(d):
    layers = {k: v.set_geometry(v.geometry.translate(35_000_000, 0)) for k, v in base_layers(4544).items()}
    return write_dataset(layers, d, "shp")


@case("count_headers_not_recognised", [("buildings", None, "no_count_column"), ("buildings", "B001", "missing_households")])
def _(d):
    b = _b().rename(columns={"households": "HS", "persons": "RKS"}).drop(columns=["floors"])
    return _with(d, "shp", buildings=b)


@case("buildings_as_kml_in_a_folder", [("buildings", None, "unsupported_format")])
def _(d):
    # a layer named as one but in a format gridplan does not read (奥维/Google Earth KML): named, not ignored
    _with(d, buildings=None)
    _b().to_file(d / "楼栋.kml", driver="KML", engine="pyogrio")
    return d


@case("stations_as_mapinfo_beside_valid_layers", [("stations", None, "unsupported_format")], ok=True)
def _(d):
    _with(d, stations=None)
    base_layers()["stations"].to_file(d / "stations.tab", driver="MapInfo File", engine="pyogrio")
    (d / "buildings.qml").write_text("<qgis/>", encoding="utf-8")     # a QGIS style beside a layer: no problem
    return d


@case("file_geodatabase_folder", [("dataset", None, "unsupported_format")])
def _(d):
    gdb = d / "城区.gdb"
    gdb.mkdir(parents=True)
    (gdb / "a00000001.gdbtable").write_bytes(b"\x03\x00\x00\x00")
    (gdb / "gdb").write_bytes(b"\x05\x00")
    return gdb
