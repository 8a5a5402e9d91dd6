"""Loading in every format, every alias and CRS path, writing back, estimation and spatial joins."""
from __future__ import annotations

import json
import warnings
import zipfile

import geopandas as gpd
import malformed as M
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import CRS
from shapely.geometry import box

from gridplan import ValidationError
from gridplan.checks import ALIASES, FIELDS, ID_FIELD, LAYER_ALIASES, rename_columns
from gridplan.crs import from_wgs84
from gridplan.io import read_dataset, read_layers, to_output_crs, write_layers, write_zip_shapefile


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GDAL's notes about Shapefile field names while writing fixtures
        yield


def same_layers(a, b, *, tol_m=0.01, extra_ok=False):
    """Two datasets hold the same canonical layers (order of rows aside: FlatGeobuf sorts spatially).

    ``extra_ok``: ``b`` may hold extra columns (a Shapefile round trip keeps gridplan's own flag columns
    under truncated names such as ``persons_es``).
    """
    assert set(a.layers()) == set(b.layers())
    for name, g in a.layers().items():
        h = b.layer(name).loc[g.index]
        if extra_ok:
            h = h[list(g.columns)]
        assert list(g.columns) == list(h.columns), name
        pd.testing.assert_frame_equal(pd.DataFrame(g.drop(columns="geometry")),
                                      pd.DataFrame(h.drop(columns="geometry")), check_dtype=False, obj=name)
        d = shapely.hausdorff_distance(np.asarray(g.geometry.array), np.asarray(h.geometry.array))
        assert d.max() < tol_m, (name, d.max())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    return read_dataset(M.write_dataset(M.base_layers(), d, "geojson"))


# --------------------------------------------------------------------------- formats
@pytest.mark.parametrize("fmt", M.ALL_FORMATS)
def test_every_format_gives_the_same_canonical_layers(fmt, tmp_path, reference):
    ds = read_dataset(M.write_dataset(M.base_layers(), tmp_path, fmt))
    assert ds.problems == ()
    assert ds.crs.to_epsg() == 4544
    same_layers(reference, ds)


def test_in_memory_layers_match_files(reference):
    same_layers(reference, read_dataset(M.base_layers()))


def test_zipped_shapefile_layer(tmp_path, reference):
    d = tmp_path / "ds"
    layers = M.base_layers()
    M.write_dataset({k: v for k, v in layers.items() if k != "buildings"}, d, "geojson")
    shp = M.write_layer(layers["buildings"], tmp_path / "shp" / "buildings.shp")
    with zipfile.ZipFile(d / "buildings.zip", "w") as z:
        for f in shp.parent.iterdir():
            z.write(f, f.name)
    same_layers(reference, read_dataset(d))


def test_a_single_layer_file_is_a_buildings_dataset(tmp_path):
    b = M.base_layers()["buildings"]
    b["community_id"] = ["510682001001"] * 8 + ["510682001002"] * 4 + ["510682001001", "510682001002"]
    p = M.write_layer(b, tmp_path / "my_buildings.geojson")
    ds = read_dataset(p)
    assert len(ds.buildings) == 14
    # community ids given, no communities layer: boundaries are drawn around the buildings
    assert set(ds.communities.index) >= {"510682001001", "510682001002"}
    assert any(p.code == "communities_derived" for p in ds.problems)


def test_per_layer_gpkg_with_several_layers_reads_the_named_one(tmp_path, reference):
    d = M.write_dataset(M.base_layers(), tmp_path, "gpkg_per_layer")
    M.base_layers()["roads"].to_file(d / "buildings.gpkg", layer="roads_extra", driver="GPKG", engine="pyogrio")
    same_layers(reference, read_dataset(d))


def test_read_layers_keeps_raw_headers(tmp_path):
    b = M.base_layers()["buildings"].rename(columns={"households": "户数"})
    layers, formats, problems = read_layers({"楼栋": b, "parks": b})
    assert list(layers) == ["buildings"] and "户数" in layers["buildings"]
    assert formats == {"buildings": "memory"}
    assert [p.code for p in problems] == ["unknown_layer"]


# --------------------------------------------------------------------------- aliases
ALIAS_CASES = [(layer, target, alias) for layer, m in ALIASES.items() for target, names in m.items()
               for alias in names]


@pytest.mark.parametrize("layer,target,alias", ALIAS_CASES, ids=[f"{a}-{b}-{c}" for a, b, c in ALIAS_CASES])
def test_every_alias_maps_to_its_field(layer, target, alias):
    gdf = gpd.GeoDataFrame({alias: ["x"]}, geometry=[shapely.Point(0, 0)], crs=4326)
    out, applied = rename_columns(gdf, layer)
    assert applied == {alias: target}
    assert target in out.columns and out[target].iloc[0] == "x"


def test_aliases_are_case_and_space_insensitive():
    gdf = gpd.GeoDataFrame({" 户 数 ": [1], "Building_ID": ["a"], "POP": [3]}, geometry=[shapely.Point(0, 0)])
    out, applied = rename_columns(gdf, "buildings")
    assert applied == {" 户 数 ": "households", "Building_ID": "building_id", "POP": "persons"}


def test_shapefile_truncated_names_are_recognised():
    gdf = gpd.GeoDataFrame({"building_i": ["a"], "compound_i": ["q"], "community_": ["c"], "party_memb": [1]},
                           geometry=[shapely.Point(0, 0)])
    _, applied = rename_columns(gdf, "buildings")
    assert applied == {"building_i": "building_id", "compound_i": "compound_id", "community_": "community_id",
                       "party_memb": "party_members"}
    q = gpd.GeoDataFrame({"has_proper": [1], "has_compet": [0], "has_owners": [0], "property_c": ["x"]},
                         geometry=[shapely.Point(0, 0)])
    _, applied = rename_columns(q, "compounds")
    assert set(applied.values()) == {"has_property_mgmt", "has_competent_dept", "has_owners_committee",
                                     "property_company"}


CHINESE = {
    "communities": {"community_id": "社区编码", "name": "社区名称", "street": "街道"},
    "compounds": {"compound_id": "小区编号", "name": "小区名称", "community_id": "所属社区", "property_company": "物业公司",
                  "has_property_mgmt": "有物业", "has_competent_dept": "主管部门", "has_owners_committee": "业委会",
                  "party_org": "党组织"},
    "buildings": {"building_id": "楼栋编号", "households": "户数", "persons": "人口", "party_members": "党员数",
                  "floors": "楼层", "units": "单元数", "compound_id": "所属小区", "community_id": "所属社区", "name": "名称"},
    "roads": {"road_id": "道路编号", "name": "路名", "kind": "道路等级", "walkable": "可步行"},
    "stations": {"station_id": "站点编号", "name": "站点名称", "kind": "类型"},
}


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp"])
def test_chinese_headers_and_layer_names(fmt, tmp_path, reference):
    layers = {k: v.rename(columns=CHINESE[k]) for k, v in M.base_layers().items()}
    names = {"buildings": "楼栋", "communities": "社区", "compounds": "小区", "roads": "道路", "stations": "驿站"}
    path = M.write_dataset(layers, tmp_path, fmt, names=names)
    ds = read_dataset(path)
    assert ds.problems == ()
    same_layers(reference, ds)


def test_column_map_flat_and_per_layer(reference):
    layers = M.base_layers()
    layers["buildings"] = layers["buildings"].rename(columns={"households": "HH", "persons": "居民"})
    layers["compounds"] = layers["compounds"].rename(columns={"compound_id": "XQ"})
    flat = read_dataset(layers, column_map={"HH": "households", "居民": "persons", "XQ": "compound_id"})
    same_layers(reference, flat)
    per = read_dataset(layers, column_map={"buildings": {"HH": "households", "居民": "persons"},
                                           "compounds": {"XQ": "compound_id"}})
    same_layers(reference, per)


def test_column_map_wins_over_canonical_and_aliases():
    layers = M.base_layers()
    b = layers["buildings"]
    b["住户"] = b["households"] * 2
    layers["buildings"] = b
    ds = read_dataset(layers, column_map={"buildings": {"住户": "households"}})
    assert ds.buildings.loc["B001", "households"] == 2 * 43
    assert ds.buildings.loc["B001", "households_original"] == 43


def test_flat_column_map_only_touches_layers_with_that_field():
    layers = M.base_layers()
    layers["buildings"] = layers["buildings"].rename(columns={"building_id": "编号x"})
    layers["compounds"] = layers["compounds"].rename(columns={"compound_id": "编号x"})
    with pytest.raises(ValidationError):
        # 编号x is mapped to building_id in buildings only: the compounds lose their ids and are generated,
        # so the buildings' compound_id references point nowhere
        read_dataset(layers, column_map={"编号x": "building_id"})
    ds = read_dataset(layers, column_map={"buildings": {"编号x": "building_id"}, "compounds": {"编号x": "compound_id"}})
    assert ds.buildings.index[0] == "B001" and ds.compounds.index[0] == "Q1"


def test_unused_column_map_entry_is_a_warning():
    ds = read_dataset(M.base_layers(), column_map={"buildings": {"Nope": "households"}})
    assert any(p.code == "column_map_unused" for p in ds.problems)


# --------------------------------------------------------------------------- CRS
def _raw_geojson_without_crs(gdf, path):
    fc = json.loads(gdf.to_crs(4326).to_json(drop_id=True))
    fc.pop("crs", None)
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return path


def test_geojson_without_crs_is_4326(tmp_path):
    for name, g in M.base_layers().items():
        _raw_geojson_without_crs(g, tmp_path / f"{name}.geojson")
    ds = read_dataset(tmp_path)
    assert ds.source_crs.to_epsg() == 4326 and ds.crs.to_epsg() == 4544
    assert not any(p.code == "crs_assumed" for p in ds.problems)


def test_memory_layer_without_crs_is_4326():
    layers = {k: v.set_crs(None, allow_override=True) for k, v in M.base_layers().items()}
    ds = read_dataset(layers)
    assert ds.source_crs.to_epsg() == 4326


def test_shapefile_without_prj_in_degrees_is_assumed_4326_with_a_warning(tmp_path):
    M.write_dataset(M.base_layers(), tmp_path, "shp")
    (tmp_path / "buildings.prj").unlink()
    ds = read_dataset(tmp_path)
    assert any(p.code == "crs_assumed" and p.layer == "buildings" for p in ds.problems)


def test_projected_4544_input_is_kept_and_written_back(tmp_path, reference):
    path = M.write_dataset(M.base_layers(4544), tmp_path / "in", "gpkg")
    ds = read_dataset(path)
    assert ds.crs.to_epsg() == 4544 and ds.source_crs.to_epsg() == 4544
    same_layers(reference, ds)
    out = write_layers({"buildings": ds.buildings}, tmp_path / "out.gpkg", dataset=ds)
    back = gpd.read_file(out, layer="buildings")
    assert CRS.from_user_input(back.crs).to_epsg() == 4544
    orig = M.base_layers_metric()["buildings"].set_index("building_id")
    d = shapely.hausdorff_distance(np.asarray(back.set_index("building_id").loc[orig.index].geometry.array),
                                   np.asarray(orig.geometry.array))
    assert d.max() < 1e-6


def test_web_mercator_input(tmp_path, reference):
    ds = read_dataset(M.write_dataset(M.base_layers(3857), tmp_path, "gpkg"))
    assert ds.crs.to_epsg() == 4544 and ds.source_crs.to_epsg() == 3857
    same_layers(reference, ds)
    # true areas, not Mercator-inflated ones
    assert ds.buildings.geometry.area.loc["B001"] == pytest.approx(2400, rel=1e-3)


def test_cgcs2000_geographic_input(tmp_path, reference):
    ds = read_dataset(M.write_dataset(M.base_layers(4490), tmp_path, "gpkg"))
    assert ds.source_crs.to_epsg() == 4490 and ds.crs.to_epsg() == 4544
    same_layers(reference, ds)


def test_utm_outside_china(tmp_path):
    layers = M.base_layers_at(32635, (385000.0, 6672000.0))  # Helsinki
    ds = read_dataset(M.write_dataset({k: v.to_crs(4326) for k, v in layers.items()}, tmp_path, "geojson"))
    assert ds.crs.to_epsg() == 32635
    assert ds.buildings.geometry.area.loc["B001"] == pytest.approx(2400, rel=1e-3)


def test_other_chinese_zone(tmp_path):
    # Beijing: the CGCS2000 3° zone with CM 117°E
    layers = M.base_layers_at(4548, (448000.0, 4416000.0))
    ds = read_dataset({k: v.to_crs(4326) for k, v in layers.items()})
    assert ds.crs.to_epsg() == 4548


def test_metric_crs_override_and_bad_override():
    ds = read_dataset(M.base_layers(), metric_crs=32648)
    assert ds.crs.to_epsg() == 32648
    with pytest.raises(ValidationError) as ei:
        read_dataset(M.base_layers(), metric_crs=4326)
    assert ei.value.problems[0].code == "bad_metric_crs"


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_web_map_offsets_are_removed_on_load(system, tmp_path):
    layers = M.base_layers()
    shifted = {k: v.set_geometry(gpd.GeoSeries(from_wgs84(np.asarray(v.geometry.array), system), index=v.index,
                                               crs=4326)) for k, v in layers.items()}
    path = M.write_dataset(shifted, tmp_path, "geojson")
    # loading without the declaration leaves the offset (hundreds of metres)
    naive = read_dataset(path).buildings.to_crs(4326)
    ds = read_dataset(path, coord_system=system)
    assert ds.source_crs.to_epsg() == 4326
    back = ds.buildings.to_crs(4326)
    orig = layers["buildings"].set_index("building_id").loc[back.index]
    c_back = shapely.get_coordinates(np.asarray(back.geometry.array))
    c_orig = shapely.get_coordinates(np.asarray(orig.geometry.array))
    c_naive = shapely.get_coordinates(np.asarray(naive.loc[back.index].geometry.array))
    assert np.abs(c_back - c_orig).max() < 1e-6
    assert np.abs(c_naive - c_orig).max() > 1e-3


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_offset_data_is_written_back_in_its_system(system, tmp_path):
    """Exports of GCJ-02/BD-09 data line up with the Amap/Baidu basemap it was drawn on, unless the
    user chooses plain WGS 84; the CLI offers the same choice."""
    layers = M.base_layers()
    shifted = {k: v.set_geometry(gpd.GeoSeries(from_wgs84(np.asarray(v.geometry.array), system), index=v.index,
                                               crs=4326)) for k, v in layers.items()}
    src = M.write_dataset(shifted, tmp_path / "in", "geojson")
    ds = read_dataset(src, coord_system=system)
    assert ds.coord_system == system
    orig = shifted["buildings"].set_index("building_id")
    for driver, name in (("GeoJSON", "b.geojson"), ("GPKG", "b.gpkg")):
        out = write_layers({"buildings": ds.buildings}, tmp_path / name, dataset=ds, driver=driver)
        back = gpd.read_file(out).set_index("building_id").loc[orig.index]
        d = np.abs(shapely.get_coordinates(np.asarray(back.geometry.array))
                   - shapely.get_coordinates(np.asarray(orig.geometry.array))).max()
        assert d < 1e-6, (driver, d)  # the input's own coordinates
        plain = write_layers({"buildings": ds.buildings}, tmp_path / f"w{name}", dataset=ds, driver=driver,
                             coord_system="wgs84")
        back = gpd.read_file(plain).set_index("building_id").loc[orig.index]
        truth = layers["buildings"].set_index("building_id").loc[orig.index]
        d = np.abs(shapely.get_coordinates(np.asarray(back.geometry.array))
                   - shapely.get_coordinates(np.asarray(truth.geometry.array))).max()
        assert d < 1e-6, (driver, d)
    with pytest.raises(ValueError, match="output coordinate system"):
        write_layers({"buildings": ds.buildings}, tmp_path / "x.gpkg", dataset=ds, coord_system="utm")
    from gridplan.cli import main
    assert main(["partition", str(src), "--coord-system", system, "--out", str(tmp_path / "p.gpkg")]) == 0
    g = gpd.read_file(tmp_path / "p.gpkg", layer="grids")
    # grids tile the communities: the plan file is in the input's frame, not shifted by hundreds of metres
    assert np.abs(g.total_bounds - shifted["communities"].total_bounds).max() < 1e-6
    assert np.abs(g.total_bounds - layers["communities"].total_bounds).max() > 1e-3


# --------------------------------------------------------------------------- writing
def test_geojson_is_always_written_in_4326(tmp_path):
    ds = read_dataset(M.write_dataset(M.base_layers(4544), tmp_path / "in", "gpkg"))
    out = write_layers({"buildings": ds.buildings}, tmp_path / "b.geojson", dataset=ds)
    back = gpd.read_file(out)
    assert CRS.from_user_input(back.crs).to_epsg() == 4326
    assert back["building_id"].tolist() == ds.buildings.index.tolist()
    orig = M.base_layers()["buildings"]
    assert np.abs(shapely.get_coordinates(back.geometry.array) - shapely.get_coordinates(orig.geometry.array)).max() < 2e-7
    assert to_output_crs(ds.buildings, ds, driver="GPKG").crs.to_epsg() == 4544
    assert json.loads(out.read_text())["name"] == "buildings"  # not the temporary file's name
    fgb = write_layers({"buildings": ds.buildings}, tmp_path / "b.fgb", dataset=ds)
    assert [r[0] for r in pyogrio.list_layers(fgb)] == ["buildings"]
    assert CRS.from_user_input(pyogrio.read_info(fgb)["crs"]).to_epsg() == 4544


def test_gpkg_holds_several_layers_in_the_input_crs(tmp_path):
    ds = read_dataset(M.write_dataset(M.base_layers(3857), tmp_path / "in", "gpkg"))
    out = write_layers(ds.layers(), tmp_path / "all.gpkg", dataset=ds)
    assert sorted(r[0] for r in pyogrio.list_layers(out)) == sorted(ds.layers())
    assert CRS.from_user_input(pyogrio.read_info(out, layer="roads")["crs"]).to_epsg() == 3857


def test_written_dataset_reads_back_the_same(tmp_path, reference):
    out = write_layers(reference.layers(), tmp_path / "round.gpkg", dataset=reference)
    same_layers(reference, read_dataset(out))


def test_shapefile_folder_round_trip(tmp_path, reference):
    d = tmp_path / "shp"
    for name, g in reference.layers().items():
        write_layers({name: g}, d / f"{name}.shp", dataset=reference)
    assert (d / "buildings.cpg").read_text().strip().upper().replace("-", "") == "UTF8"
    same_layers(reference, read_dataset(d), extra_ok=True)


def test_zip_shapefile_keeps_chinese_text(tmp_path, reference):
    out = write_zip_shapefile(reference.buildings, tmp_path / "buildings.zip", dataset=reference)
    names = zipfile.ZipFile(out).namelist()
    assert {"buildings.shp", "buildings.shx", "buildings.dbf", "buildings.prj", "buildings.cpg"} <= set(names)
    back = pyogrio.read_dataframe(f"/vsizip/{out}")
    assert back["name"].tolist() == reference.buildings["name"].tolist()
    assert "1栋" in back["name"].tolist()
    same = read_dataset(out)
    assert same.buildings["name"].tolist() == reference.buildings["name"].tolist()
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_write_is_atomic_and_respects_overwrite(tmp_path, reference, monkeypatch):
    target = tmp_path / "out.gpkg"
    write_layers({"buildings": reference.buildings}, target, dataset=reference)
    before = M.snapshot(target)
    with pytest.raises(FileExistsError):
        write_layers({"buildings": reference.buildings}, target, dataset=reference, overwrite=False)
    real_to_file = gpd.GeoDataFrame.to_file

    def crash_midway(self, path, *a, **k):  # write part of the file, then fail (a full disk, a killed process)
        real_to_file(self.iloc[:2], path, *a, **k)
        raise OSError("disk full")
    monkeypatch.setattr(gpd.GeoDataFrame, "to_file", crash_midway)
    with pytest.raises(OSError):
        write_layers({"buildings": reference.buildings}, target, dataset=reference)
    assert M.snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gpkg"]


def test_write_refuses_unknown_format_and_many_layers_in_one_layer_file(tmp_path, reference):
    with pytest.raises(ValueError):
        write_layers({"buildings": reference.buildings}, tmp_path / "x.txt")
    with pytest.raises(ValueError):
        write_layers(reference.layers(), tmp_path / "x.geojson")


# --------------------------------------------------------------------------- estimation
def test_households_estimated_from_footprint_and_floors():
    layers = M.base_layers()
    b = layers["buildings"].copy()
    b["households"] = b["households"].astype(object)
    b.loc[b.index[:3], "households"] = None
    b.loc[b.index[3], "persons"] = None
    layers["buildings"] = b
    ds = read_dataset(layers, area_per_household_m2=80)
    got = ds.buildings
    # B001: 60 m × 40 m footprint × 7 floors ÷ 80 m²
    assert got.loc["B001", "households"] == round(2400 * 7 / 80)
    assert got["households_estimated"].tolist() == [True] * 3 + [False] * 11
    assert got.loc["B004", "persons"] == round(got.loc["B004", "households"] * 2.7)
    assert got["persons_estimated"].sum() == 1 and got.loc["B004", "persons_estimated"]
    assert got.loc["B005", "households"] == 55 and not got.loc["B005", "households_estimated"]
    codes = {p.code for p in ds.problems}
    assert {"households_estimated", "persons_estimated"} <= codes


def test_households_from_persons_for_points():
    layers = M.base_layers()
    b = layers["buildings"].copy()
    b["geometry"] = b.geometry.representative_point()
    b = b.drop(columns=["households", "floors"])
    layers["buildings"] = b
    ds = read_dataset(layers, persons_per_household=2.5)
    assert ds.buildings.loc["B001", "households"] == round(118 / 2.5)
    assert ds.buildings["households_estimated"].all()


def test_no_estimation_when_counts_are_given(reference):
    assert not reference.buildings["households_estimated"].any()
    assert not reference.buildings["persons_estimated"].any()
    assert reference.buildings["households"].dtype == np.int64


# --------------------------------------------------------------------------- spatial joins
def test_buildings_join_compounds_and_communities_by_location():
    layers = M.base_layers()
    layers["buildings"] = layers["buildings"].drop(columns=["compound_id", "community_id"])
    ds = read_dataset(layers)
    b = ds.buildings
    assert b.loc["B001", "compound_id"] == "Q1" and b.loc["B005", "compound_id"] == "Q2"
    assert b.loc["B009", "compound_id"] == "Q3"
    assert pd.isna(b.loc["B013", "compound_id"])
    assert b.loc["B001", "community_id"] == "510682001001"
    assert b.loc["B009", "community_id"] == "510682001002"
    assert b.loc["B014", "community_id"] == "510682001002"


def test_building_community_comes_from_its_compound():
    layers = M.base_layers()
    q = layers["compounds"].copy()
    # Q3 lies in community 2, but the office says it belongs to community 1: its buildings follow the compound
    q.loc[q.index[2], "community_id"] = "510682001001"
    layers["compounds"] = q
    ds = read_dataset(layers)
    assert (ds.buildings.loc[["B009", "B010", "B011", "B012"], "community_id"] == "510682001001").all()
    assert {p.feature for p in ds.problems if p.code == "community_mismatch"} == {"B009", "B010", "B011", "B012"}


def test_compound_community_by_largest_overlap():
    layers = M.base_layers_metric()
    q = layers["compounds"].copy()
    x0, y0 = M.ORIGIN_4544
    # Q3 now straddles the boundary at x=500: 60 m in community 1, 300 m in community 2
    q.loc[q.index[2], "geometry"] = box(x0 + 440, y0 + 40, x0 + 800, y0 + 300)
    q["community_id"] = None
    layers["compounds"] = q
    ds = read_dataset({k: v.to_crs(4326) for k, v in layers.items()})
    assert ds.compounds["community_id"].to_dict() == {"Q1": "510682001001", "Q2": "510682001001",
                                                      "Q3": "510682001002"}


def test_no_communities_layer_and_no_ids():
    layers = M.base_layers()
    layers.pop("communities")
    layers.pop("compounds")
    layers["buildings"] = layers["buildings"].drop(columns=["community_id", "compound_id"])
    ds = read_dataset(layers)
    assert (ds.buildings["community_id"] == "000000000000").all()
    assert len(ds.communities) == 1
    assert ds.communities.geometry.iloc[0].contains(ds.buildings.geometry.union_all())


def test_canonical_contract(reference):
    for name, g in reference.layers().items():
        assert g.index.name == ID_FIELD[name] and g.index.is_unique
        assert g.crs.to_epsg() == 4544
        for f in FIELDS[name]:
            assert f in g.columns, (name, f)
    assert reference.roads["walkable"].dtype == bool
    assert reference.compounds["sanwu"].dtype == bool


# --------------------------------------------------------------------------- archives, names, mixed inputs
@pytest.mark.parametrize("fmt", ["shp", "geojson", "gpkg"])
def test_zip_of_a_whole_dataset(fmt, tmp_path, reference):
    src = M.write_dataset(M.base_layers(), tmp_path / "src", fmt)
    src = src if src.is_dir() else src.parent
    z = M._zip_folder(src, tmp_path / "upload.zip", prefix="我的数据/")
    before = M.snapshot(z)
    same_layers(reference, read_dataset(z))
    assert M.snapshot(z) == before
    # the same archive inside an upload folder (how the app stores uploads)
    up = tmp_path / "uploads"
    up.mkdir()
    (up / "upload.zip").write_bytes(z.read_bytes())
    same_layers(reference, read_dataset(up))


def test_upper_case_file_names(tmp_path, reference):
    d = M.write_dataset(M.base_layers(), tmp_path, "shp")
    for f in list(d.iterdir()):
        f.rename(d / f"{f.stem.upper()}{f.suffix.upper()}")
    same_layers(reference, read_dataset(d))


def test_layers_in_different_crs(tmp_path, reference):
    layers = M.base_layers()
    layers["communities"] = layers["communities"].to_crs(4544)
    layers["roads"] = layers["roads"].to_crs(3857)
    layers["stations"] = layers["stations"].to_crs(4490)
    ds = read_dataset(M.write_dataset(layers, tmp_path, "gpkg"))
    assert ds.source_crs.to_epsg() == 4326  # the buildings' CRS
    same_layers(reference, ds)


def test_z_coordinates_are_dropped(reference):
    layers = M.base_layers()
    b = layers["buildings"]
    b["geometry"] = shapely.force_3d(b.geometry.array, 12.0)
    ds = read_dataset(layers)
    assert not shapely.has_z(ds.buildings.geometry.array).any()
    same_layers(reference, ds)


def test_assume_crs_for_files_without_one(tmp_path, reference):
    d = M.write_dataset(M.base_layers(4544), tmp_path / "shp", "shp")
    for f in d.glob("*.prj"):
        f.unlink()
    with pytest.raises(ValidationError) as ei:
        read_dataset(d)
    p = next(p for p in ei.value.problems if p.code == "no_crs_projected")
    assert "EPSG:4544" in p.message and "assume_crs" in p.fix
    ds = read_dataset(d, assume_crs="EPSG:4544")
    assert ds.source_crs.to_epsg() == 4544
    same_layers(reference, ds)
    # an old GeoJSON in metres without a crs member (GDAL reads every GeoJSON as EPSG:4326)
    g = tmp_path / "gj"
    g.mkdir()
    for name, layer in M.base_layers(4544).items():
        fc = json.loads(layer.to_json(drop_id=True))
        fc.pop("crs", None)
        (g / f"{name}.geojson").write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValidationError):
        read_dataset(g)
    same_layers(reference, read_dataset(g, assume_crs=4544))
    with pytest.raises(ValidationError) as ei:
        read_dataset(g, assume_crs="EPSG:nonsense")
    assert ei.value.problems[0].code == "bad_assume_crs"


def test_zone_prefixed_coordinates_get_a_hint(tmp_path):
    layers = {k: v.set_geometry(v.geometry.translate(35_000_000, 0)).set_crs(None, allow_override=True)
              for k, v in M.base_layers(4544).items()}
    with pytest.raises(ValidationError) as ei:
        read_dataset(layers)
    msg = next(p.message for p in ei.value.problems if p.code == "no_crs_projected")
    assert "zone 35" in msg and "EPSG:4523" in msg
    ds = read_dataset(layers, assume_crs=4523)
    assert ds.crs.to_epsg() == 4544 and ds.source_crs.to_epsg() == 4523


def test_headers_with_units_in_brackets():
    gdf = gpd.GeoDataFrame({"户数（户）": [1], "人口(人)": [3], "楼层 (层)": [6], "Building ID": ["a"]},
                           geometry=[shapely.Point(0, 0)])
    _, applied = rename_columns(gdf, "buildings")
    assert applied == {"户数（户）": "households", "人口(人)": "persons", "楼层 (层)": "floors",
                       "Building ID": "building_id"}


def test_osm_foot_values_for_walkable():
    layers = M.base_layers()
    layers["roads"] = layers["roads"].drop(columns=["walkable"]).assign(foot=["designated", "yes", "private", None])
    ds = read_dataset(layers)
    assert ds.roads["walkable"].tolist() == [True, True, False, True]


@pytest.mark.parametrize("layer,alias", [(k, a) for k, names in LAYER_ALIASES.items() for a in names])
def test_every_layer_file_name_alias(layer, alias, tmp_path):
    g = M.base_layers()[layer]
    M.write_layer(g, tmp_path / f"{alias}.geojson")
    layers, formats, problems = read_layers(tmp_path)
    assert list(layers) == [layer] and formats == {layer: "geojson"} and problems == []


class _GBKZipInfo(zipfile.ZipInfo):
    """A member name stored as GBK bytes without the UTF-8 flag, as Windows' own zip tool does in China."""

    def _encodeFilenameFlags(self):
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def test_zip_with_gbk_member_names(tmp_path, reference):
    src = M.write_dataset(M.base_layers(), tmp_path / "src", "shp",
                          names={"buildings": "楼栋", "communities": "社区", "compounds": "小区", "roads": "道路",
                                 "stations": "驿站"})
    z = tmp_path / "数据.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted(src.iterdir()):
            zf.writestr(_GBKZipInfo(f.name), f.read_bytes())
    with zipfile.ZipFile(z) as zf:
        assert not any(n.endswith("楼栋.shp") for n in zf.namelist())  # Python alone misreads the names
    same_layers(reference, read_dataset(z))


# --------------------------------------------------------------------------- names, assignment tables, drafts
def _building_table(gdf):
    """The base buildings as an office keeps them in a spreadsheet: Chinese headers, 经度/纬度 of the centroid."""
    c = gdf.geometry.to_crs(4544).centroid.to_crs(4326)
    return pd.DataFrame({"楼栋编号": gdf["building_id"], "户数": gdf["households"].map(lambda v: f"{v}户"),
                         "人口": gdf["persons"], "所属小区": gdf["compound_id"], "经度": c.x.round(8),
                         "纬度": c.y.round(8)})


@pytest.mark.parametrize("kind", ["csv_gbk_title_row", "xlsx", "xlsx_wkt"])
def test_a_layer_kept_as_a_table(kind, tmp_path, reference):
    """buildings.csv / 楼栋.xlsx beside the other layers: points from 经度/纬度 (or polygons from WKT), counts
    as typed, in the right place to the centimetre; the files are not touched."""
    layers = M.base_layers()
    b = layers.pop("buildings")
    M.write_dataset(layers, tmp_path, "geojson")
    t = _building_table(b)
    if kind == "csv_gbk_title_row":
        (tmp_path / "buildings.csv").write_bytes(("方亭街道楼栋台账\r\n" + t.to_csv(index=False)).encode("gbk"))
    elif kind == "xlsx":
        t.to_excel(tmp_path / "楼栋.xlsx", index=False)
    else:
        t = t.drop(columns=["经度", "纬度"]).assign(WKT=b.geometry.to_wkt(rounding_precision=-1).to_numpy())
        t.to_excel(tmp_path / "楼栋.xlsx", index=False)
    before = M.snapshot(tmp_path)
    ds = read_dataset(tmp_path)
    assert M.snapshot(tmp_path) == before
    got = ds.buildings
    ref = reference.buildings.loc[got.index]
    assert len(got) == 14 and (got["households"] == ref["households"]).all()
    assert (got["compound_id"].fillna("") == ref["compound_id"].fillna("")).all()
    d = got.geometry.centroid.distance(ref.geometry.centroid)
    assert d.max() < 0.01
    if kind == "xlsx_wkt":
        assert (got.geometry.geom_type == "Polygon").all()
        assert np.allclose(got.geometry.area, ref.geometry.area, rtol=1e-6)
    assert [p.code for p in ds.problems] == ["crs_assumed"]     # a table declares no CRS: said so


def test_a_table_layer_of_gcj02_or_projected_coordinates(tmp_path, reference):
    layers = M.base_layers()
    b = layers.pop("buildings")
    t = _building_table(b)
    x = from_wgs84(shapely.points(t["经度"], t["纬度"]), "gcj02")
    gcj = t.assign(经度=shapely.get_x(x), 纬度=shapely.get_y(x))
    M.write_dataset({k: v.set_geometry(gpd.GeoSeries(from_wgs84(np.asarray(v.geometry.array), "gcj02"), index=v.index,
                                                     crs=4326)) for k, v in layers.items()}, tmp_path / "gcj", "geojson")
    gcj.to_csv(tmp_path / "gcj" / "buildings.csv", index=False)
    ds = read_dataset(tmp_path / "gcj", coord_system="gcj02")
    assert ds.buildings.geometry.distance(reference.buildings.geometry.centroid.loc[ds.buildings.index]).max() < 0.01
    # x/y in metres of EPSG:4544 without a CRS: a clear error with the hint, then read with assume_crs
    m = b.geometry.to_crs(4544).centroid
    xy = t.drop(columns=["经度", "纬度"]).assign(X=m.x.round(3), Y=m.y.round(3))
    M.write_dataset({k: v.to_crs(4544) for k, v in layers.items()}, tmp_path / "xy", "gpkg_per_layer")
    xy.to_csv(tmp_path / "xy" / "楼栋.csv", index=False)
    with pytest.raises(ValidationError) as ei:
        read_dataset(tmp_path / "xy")
    assert [(p.layer, p.code) for p in ei.value.problems if p.severity == "error"] == [("buildings", "no_crs_projected")]
    ds = read_dataset(tmp_path / "xy", assume_crs="EPSG:4544")
    assert ds.buildings.geometry.distance(reference.buildings.geometry.centroid.loc[ds.buildings.index]).max() < 0.01


def test_a_folder_can_name_its_dataset(tmp_path):
    from gridplan.io import METADATA_FILE, dataset_name
    from gridplan.sample import tiny_city, write_city
    folder = tmp_path / "city_2026"
    write_city(tiny_city(), folder)
    assert read_dataset(folder).name == "city_2026"
    (folder / METADATA_FILE).write_text(json.dumps({"name": "雍城测试区"}, ensure_ascii=False), encoding="utf-8")
    ds = read_dataset(folder)
    assert ds.name == "雍城测试区" and dataset_name(folder) == "雍城测试区"
    assert not [w for w in ds.warnings if METADATA_FILE in w.message]     # not mistaken for a layer file
    from pathlib import Path

    import gridplan
    sample = Path(gridplan.__file__).resolve().parent.parent / "data" / "sample"
    assert dataset_name(sample) == "什邡市示例城区"


def test_read_assignment_csv_accepts_chinese_headers_and_gbk(tmp_path):
    from gridplan.io import read_assignment_csv
    p = tmp_path / "plan.csv"
    p.write_bytes("楼栋编码,网格编码,备注\nB01 , G1,x\nB02,G2,\n".encode("gb18030"))
    s = read_assignment_csv(p)
    assert s.to_dict() == {"B01": "G1", "B02": "G2"} and s.index.name == "building_id"
    s2 = read_assignment_csv("building_id,grid_id\n=cmd,G1\n".encode("utf-8-sig"), name="up.csv")
    assert s2.to_dict() == {"=cmd": "G1"}
    with pytest.raises(ValueError, match="grid_id"):
        read_assignment_csv(b"building_id,zone\nB01,G1\n", name="up.csv")
    with pytest.raises(ValueError, match="more than once"):
        read_assignment_csv(b"building_id,grid_id\nB01,G1\nB01,G2\n")
    with pytest.raises(ValueError, match=r"rows \[3\]"):
        read_assignment_csv(b"building_id,grid_id\nB01,G1\nB02,\n")


def test_plan_json_round_trip(tmp_path):
    from gridplan.io import plan_from_json, read_plan_json, write_plan_json
    from gridplan.model import Plan
    from gridplan.rule import Rule
    plan = Plan.from_mapping({"B1": "G1", "B2": "G2"}, rule=Rule(200, 400, 900, 1200, "both"), locked=["G2"],
                             label="move B1 → G1")
    path = write_plan_json(plan, tmp_path / "d" / "x.draft.json", dataset="abc", saved="2026-12-01T10:00:00+08:00")
    back, meta = read_plan_json(path)
    assert back.same_assignment(plan) and back.rule == plan.rule and back.locked == plan.locked
    assert back.label == plan.label and meta == {"dataset": "abc", "saved": "2026-12-01T10:00:00+08:00"}
    assert sorted(q.name for q in path.parent.iterdir()) == ["x.draft.json"]   # written atomically, no leftovers
    with pytest.raises(ValueError):
        plan_from_json('{"hello": 1}')
    import json

    from gridplan.io import plan_to_json
    assert json.loads(plan_to_json(plan))["assignment"] == plan.assignment.to_dict() == {"B1": "G1", "B2": "G2"}


def test_read_uploaded_refuses_what_it_cannot_read_and_leaves_nothing(tmp_path):
    import tempfile
    from pathlib import Path

    from gridplan.io import read_uploaded
    from gridplan.sample import tiny_city, write_city
    write_city(tiny_city(), tmp_path / "c")
    files = [(p.name, p.read_bytes()) for p in (tmp_path / "c").iterdir()]
    before = set(Path(tempfile.gettempdir()).glob("gridplan-upload-*"))
    ds = read_uploaded([("../../" + n, b) for n, b in files])
    assert len(ds.buildings) == 13 and ds.name == "buildings+communities+compounds+…"
    assert read_uploaded(files, name="甲").name == "甲"
    biggest = max(len(b) for _, b in files)
    with pytest.raises(ValidationError) as e:
        read_uploaded(files + [("tool.exe", b"MZ"), ("big.geojson", b" " * (biggest + 5000))],
                      max_file_mb=(biggest + 1000) / 1e6)
    codes = sorted(p.code for p in e.value.problems)
    assert codes == ["file_too_big", "unsupported_format"]
    assert set(Path(tempfile.gettempdir()).glob("gridplan-upload-*")) == before


def test_an_upload_may_hold_a_layer_kept_as_a_table(tmp_path, reference):
    """The app's upload takes 楼栋.xlsx / buildings.csv beside the layer files, as read_dataset does."""
    from gridplan.io import read_uploaded
    layers = M.base_layers()
    b = layers.pop("buildings")
    folder = M.write_dataset(layers, tmp_path / "up", "geojson")
    _building_table(b).to_excel(folder / "楼栋.xlsx", index=False)
    ds = read_uploaded([(p.name, p.read_bytes()) for p in folder.iterdir()])
    assert len(ds.buildings) == len(reference.buildings)
    assert ds.buildings["households"].sum() == reference.buildings["households"].sum()


def test_gridplans_own_shapefile_export_reads_back_as_buildings(tmp_path, reference):
    """The assignment Shapefile of `export data` (bldg_id, comp_id, comm_id: ≤10-character names) is a
    buildings layer gridplan reads back with its ids and references."""
    from gridplan import partition
    from gridplan.export import export_data
    plan = partition(reference)
    (z,) = [p for p in export_data(reference, plan, tmp_path / "out", formats=["shp"]) if "assignment" in p.name]
    layers = M.base_layers()
    layers.pop("buildings")
    folder = M.write_dataset(layers, tmp_path / "again", "geojson")
    z.rename(folder / "buildings.zip")
    ds = read_dataset(folder)
    assert "ids_generated" not in {p.code for p in ds.problems}
    assert sorted(ds.buildings.index) == sorted(reference.buildings.index)
    b, r = ds.buildings, reference.buildings.loc[ds.buildings.index]
    assert (b["compound_id"].fillna("") == r["compound_id"].fillna("")).all()
    assert (b["community_id"] == r["community_id"]).all() and (b["households"] == r["households"]).all()
