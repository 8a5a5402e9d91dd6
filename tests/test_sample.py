"""Tests of gridplan.sample: the bundled sample city and the tiny fixture."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from gridplan import sample
from gridplan.model import FIELDS, ID_FIELD, LAYERS, STATION_KINDS

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def city():
    layers, extras = sample._generate()
    return layers, extras


@pytest.fixture(scope="module")
def layers(city):
    return city[0]


@pytest.fixture(scope="module")
def metric(city):
    return city[1]["metric"]


def _sanwu(compounds):
    return ~compounds.has_property_mgmt & ~compounds.has_competent_dept & ~compounds.has_owners_committee


def _graph(roads: gpd.GeoDataFrame):
    """Undirected graph of the lines on their (rounded) end points: (csr, edge ends, node keys)."""
    g = roads.geometry.array
    ends = np.concatenate([shapely.get_coordinates(shapely.get_point(g, 0)),
                           shapely.get_coordinates(shapely.get_point(g, -1))])
    keys, inv = np.unique(np.round(ends, 3), axis=0, return_inverse=True)
    inv = inv.ravel()
    n = len(g)
    a, b = inv[:n], inv[n:]
    w = np.maximum(shapely.length(g), 1e-6)
    m = coo_matrix((np.concatenate([w, w]), (np.concatenate([a, b]), np.concatenate([b, a]))),
                   shape=(len(keys), len(keys))).tocsr()
    return m, a, b, keys


# --------------------------------------------------------------------------------------------- contract
def test_layers_follow_the_data_contract(layers):
    assert set(layers) == set(LAYERS)
    for name, gdf in layers.items():
        assert gdf.crs.to_epsg() == 4326, name
        idf = ID_FIELD[name]
        assert idf in gdf.columns
        assert gdf[idf].is_unique, name
        assert gdf[idf].map(type).eq(str).all(), name
        # optional fields the generator leaves out: building names, and the 党员中心户 a roster designates
        expected = {f for f in FIELDS[name] if not (name == "buildings" and f in ("name", "central_households"))}
        assert expected <= set(gdf.columns), (name, expected - set(gdf.columns))
        assert gdf.geometry.is_valid.all(), name
        assert not gdf.geometry.is_empty.any(), name
        xy = shapely.get_coordinates(gdf.geometry.array)
        assert np.allclose(xy * 1e6, np.round(xy * 1e6), atol=1e-3), f"{name}: not rounded to 6 decimals"
        assert (np.abs(xy[:, 0] - 104.17) < 0.2).all() and (np.abs(xy[:, 1] - 31.13) < 0.2).all(), name
    assert set(layers["communities"].geom_type) == {"Polygon"}
    assert set(layers["compounds"].geom_type) == {"Polygon"}
    assert set(layers["buildings"].geom_type) == {"Polygon"}
    assert set(layers["roads"].geom_type) == {"LineString"}
    assert set(layers["stations"].geom_type) == {"Point"}


def test_codes_and_names(layers):
    cm = layers["communities"]
    assert cm.community_id.str.fullmatch(r"510682\d{6}").all()
    assert (cm.community_id.str[:9] == cm.street_id).all()
    assert cm.name.str.endswith("社区").all() and cm.name.is_unique
    assert cm.street.str.endswith("街道").all()
    assert cm.groupby("street").street_id.nunique().eq(1).all()
    cp = layers["compounds"]
    assert cp.name.is_unique
    assert set(cp.community_id) <= set(cm.community_id)
    b = layers["buildings"]
    assert set(b.community_id) <= set(cm.community_id)
    assert set(b.compound_id.dropna()) <= set(cp.compound_id)
    assert set(layers["roads"].kind) <= {"arterial", "secondary", "local", "path", "gate"}
    assert set(layers["stations"].kind) <= set(STATION_KINDS)
    for col in ("households", "persons", "party_members", "floors", "units"):
        assert pd.api.types.is_integer_dtype(b[col]) and (b[col] >= 0).all(), col
    assert (b.persons >= b.households).all()
    assert (b.party_members <= b.persons).all()


# --------------------------------------------------------------------------------------------- proportions
def test_proportions_of_the_article(layers):
    cm, cp, b, st = layers["communities"], layers["compounds"], layers["buildings"], layers["stations"]
    assert len(cm) == 18
    assert 3 <= cm.street.nunique() <= 4
    assert 450 <= len(cp) <= 550
    assert 8000 <= len(b) <= 10000
    assert 55_000 <= b.households.sum() <= 65_000
    assert 2.5 <= b.persons.sum() / b.households.sum() <= 3.0
    assert 0.04 <= b.party_members.sum() / b.persons.sum() <= 0.06
    sanwu = _sanwu(cp)
    assert 0.12 <= sanwu.mean() <= 0.18
    assert cp.property_company[sanwu].isna().all()
    assert (cp.property_company.notna() == cp.has_property_mgmt).all()
    assert cp.property_company.notna().mean() > 0.5
    assert 0.28 <= cp.party_org.notna().mean() <= 0.38
    assert set(cp.party_org.dropna()) == {"独立党支部", "联合党支部"}
    kinds = st.kind.value_counts()
    assert 6 <= kinds["red_station"] <= 8
    assert kinds["grid_station"] == len(cm)
    assert kinds["service_center"] >= 2 and kinds["mobile"] >= 2
    assert st.name[st.kind == "red_station"].str.endswith("红色驿站").all()
    assert "雍城印象红色驿站" in set(st.name)
    # buildings outside any compound exist (street-front shops, self-built houses)
    assert 0.2 < b.compound_id.isna().mean() < 0.5


def test_household_distribution_exercises_the_grid_rule(layers):
    b = layers["buildings"]
    per = b.groupby("community_id")[["households", "persons"]].sum()
    assert (per.households < 300).any(), "a community too small for a grid"
    gap = per[(per.households > 500) & (per.households < 600)]
    assert len(gap) >= 1, "a community in the 500–600 household gap"
    assert ((gap.persons > 1500) & (gap.persons < 2000)).any(), "…and in the 1,500–2,000 person gap"
    assert 3 <= (b.households > 500).sum() <= 10, "a handful of towers over 500 households"
    assert ((b.households > 500) & (b.persons > 1500)).sum() >= 2, "…some over the person bound as well"
    apartments = b.households[b.households >= 12]
    assert apartments.between(12, 150).mean() > 0.9, "typical apartment buildings hold 12–150 households"
    assert (b.households <= 600).all()


# --------------------------------------------------------------------------------------------- geometry
def test_buildings_do_not_overlap(metric):
    g = metric["buildings"].geometry.array
    i, j = shapely.STRtree(g).query(g, predicate="intersects")
    assert ((i < j).sum()) == 0


def test_buildings_lie_in_their_community_and_compound(layers):
    b = layers["buildings"]
    cm = layers["communities"].set_index("community_id").geometry
    assert shapely.contains(cm.loc[b.community_id].array, b.geometry.array).all()
    inside = b[b.compound_id.notna()]
    cp = layers["compounds"].set_index("compound_id").geometry
    assert shapely.contains(cp.loc[inside.compound_id].array, inside.geometry.array).all()
    # compounds lie in their community, and no building outside a compound sits inside one
    c = layers["compounds"]
    assert shapely.contains(cm.loc[c.community_id].array, c.geometry.array).all()
    outside = b[b.compound_id.isna()]
    i, _ = shapely.STRtree(cp.array).query(outside.geometry.array, predicate="intersects")
    assert len(i) == 0


def test_compounds_do_not_overlap(metric):
    g = metric["compounds"].geometry.array
    i, j = shapely.STRtree(g).query(g, predicate="intersects")
    m = i < j
    shared = shapely.area(shapely.intersection(g[i[m]], g[j[m]]))
    assert (shared < 1e-6).all()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="n_communities"):
        sample.generate_city(n_communities=0)
    with pytest.raises(ValueError, match="scale"):
        sample.generate_city(scale=0)


def test_communities_tile_the_city(metric):
    cm = metric["communities"]
    union = shapely.union_all(cm.geometry.array)
    assert union.geom_type == "Polygon" and len(union.interiors) == 0
    assert cm.area.sum() == pytest.approx(union.area, rel=1e-9)
    i, j = shapely.STRtree(cm.geometry.array).query(cm.geometry.array, predicate="overlaps")
    assert (i != j).sum() == 0
    # not identical squares: areas differ a lot
    assert cm.area.max() / cm.area.min() > 1.5
    # every building's community is the one its polygon falls in (tiling is consistent)
    assert 8 < union.area / 1e6 < 20  # km²


def test_road_network_is_noded_and_connected(metric):
    roads = metric["roads"]
    g = roads.geometry.array
    i, j = shapely.STRtree(g).query(g, predicate="crosses")
    assert len(i) == 0, "lines cross without a shared node"
    walk = roads[roads.walkable]
    m, a, b, _ = _graph(walk)
    n, lab = connected_components(m, directed=False)
    length = pd.Series(walk.length.to_numpy()).groupby(lab[a]).sum()
    assert length.max() / length.sum() > 0.95
    assert set(roads.kind) == {"arterial", "secondary", "local", "path", "gate"}
    assert 1 <= (~roads.walkable).sum() <= 0.05 * len(roads)
    # every gate meets a street: one of its ends is shared with a non-gate, non-path line
    ends = {}
    for kind, geom in zip(roads.kind, g):
        for p in (geom.coords[0], geom.coords[-1]):
            ends.setdefault(tuple(np.round(p, 3)), set()).add(kind)
    gates = roads[roads.kind == "gate"].geometry.array
    meets = [any(ends[tuple(np.round(p, 3))] - {"gate", "path"} for p in (gg.coords[0], gg.coords[-1]))
             for gg in gates]
    assert np.mean(meets) > 0.99


def test_river_has_few_crossings_and_lengthens_walks(city):
    layers, extras = city
    roads = extras["metric"]["roads"]
    river_poly = extras["river_polygon"].iloc[0]
    on = roads[roads.walkable & roads.intersects(river_poly)]
    assert 2 <= on.name.nunique() <= 5
    assert on.name.str.endswith("桥").all()
    # the river does cross the city
    city_poly = shapely.union_all(extras["metric"]["communities"].geometry.array)
    assert extras["river"].iloc[0].intersection(city_poly).length > 3000
    # opposite banks: walking distance ≫ straight line away from the bridges
    walk = roads[roads.walkable]
    m, a, b, keys = _graph(walk)
    north = walk[walk.name == "滨江北路"]
    south = walk[walk.name == "滨江南路"]
    nk = np.unique(np.round(shapely.get_coordinates(north.geometry.array), 3), axis=0)
    sk = np.unique(np.round(shapely.get_coordinates(south.geometry.array), 3), axis=0)
    index = {tuple(k): n for n, k in enumerate(keys)}
    nk = np.array([k for k in nk if tuple(k) in index])
    sk = np.array([k for k in sk if tuple(k) in index])
    assert len(nk) > 10 and len(sk) > 10
    rng = np.random.default_rng(0)
    pick = nk[rng.choice(len(nk), size=min(25, len(nk)), replace=False)]
    dist = dijkstra(m, directed=False, indices=[index[tuple(p)] for p in pick])
    ratios = []
    for row, p in zip(dist, pick):
        straight = np.hypot(*(sk - p).T)
        s = int(np.argmin(straight))
        ratios.append(row[index[tuple(sk[s])]] / straight[s])
    ratios = np.array(ratios)
    assert np.isfinite(ratios).all()
    assert np.median(ratios) > 3


def test_stations_sit_in_their_community_and_off_buildings(layers):
    st = layers["stations"]
    cm = layers["communities"].set_index("community_id").geometry
    assert shapely.contains(cm.loc[st.community_id].array, st.geometry.array).all()
    i, _ = shapely.STRtree(layers["buildings"].geometry.array).query(st.geometry.array, predicate="intersects")
    assert len(i) == 0


# --------------------------------------------------------------------------------------------- determinism
def test_same_seed_same_city_other_seed_other_city():
    a = sample.generate_city(seed=7, n_communities=6, scale=0.25)
    b = sample.generate_city(seed=7, n_communities=6, scale=0.25)
    c = sample.generate_city(seed=8, n_communities=6, scale=0.25)
    for name in LAYERS:
        pd.testing.assert_frame_equal(pd.DataFrame(a[name].drop(columns="geometry")),
                                      pd.DataFrame(b[name].drop(columns="geometry")))
        assert a[name].geometry.geom_equals_exact(b[name].geometry, tolerance=0).all()
    assert len(a["buildings"]) != len(c["buildings"]) or not a["buildings"].geometry.geom_equals_exact(
        c["buildings"].geometry, tolerance=1e-6).all()


def test_generate_does_not_touch_global_random_state():
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    sample.generate_city(seed=3, n_communities=6, scale=0.3)
    assert np.random.random() == before


def test_scale_and_communities_grow_the_city():
    half = sample.generate_city(seed=5, n_communities=8, scale=0.3)
    full = sample.generate_city(seed=5, n_communities=8, scale=0.6)
    assert 1.5 < len(full["buildings"]) / len(half["buildings"]) < 4
    assert full["buildings"].households.sum() == round(60000 / 18 * 8 * 0.6)
    many = sample.generate_city(seed=5, n_communities=22, scale=0.12)
    assert len(many["communities"]) == 22 and many["communities"].community_id.is_unique
    assert len(sample.generate_city(seed=5, n_communities=3, scale=0.3)["communities"]) == 3


def test_committed_files_equal_the_generator(layers):
    for name in LAYERS:
        path = SAMPLE / f"{name}.geojson"
        assert path.exists(), f"{path} missing: run python -m gridplan.sample --overwrite"
        disk = gpd.read_file(path, engine="pyogrio")
        gen = layers[name]
        assert list(disk.columns) == list(gen.columns), name
        assert len(disk) == len(gen), name
        for col in gen.columns.drop("geometry"):
            x, y = disk[col], gen[col]
            if pd.api.types.is_bool_dtype(y) or pd.api.types.is_integer_dtype(y):
                assert (x.to_numpy() == y.to_numpy()).all(), (name, col)
            else:
                assert (x.fillna("∅").astype(str).to_numpy() == y.fillna("∅").astype(str).to_numpy()).all(), \
                    (name, col)
        same = shapely.equals_exact(disk.geometry.array, gen.geometry.array, tolerance=2e-6)
        assert same.all(), f"{name}: {(~same).sum()} geometries differ"
    total = sum(f.stat().st_size for f in SAMPLE.glob("*.geojson"))
    assert total < 6 * 2**20


# --------------------------------------------------------------------------------------------- writing
def test_write_city_geojson_refuses_to_overwrite(tmp_path):
    t = sample.tiny_city()
    written = sample.write_city(t, tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(f"{n}.geojson" for n in LAYERS)
    before = {p.name: p.read_bytes() for p in written}
    with pytest.raises(FileExistsError, match="overwrite"):
        sample.write_city(t, tmp_path / "out")
    assert {p.name: p.read_bytes() for p in written} == before
    # a user's unrelated file in the folder is left alone; overwrite=True replaces only our layers
    (tmp_path / "out" / "notes.txt").write_text("mine")
    sample.write_city(t, tmp_path / "out", overwrite=True)
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"
    back = gpd.read_file(tmp_path / "out" / "buildings.geojson")
    assert back.households.sum() == 1120
    assert back.crs.to_epsg() == 4326


def test_write_city_refuses_when_a_single_layer_exists(tmp_path):
    (tmp_path / "roads.geojson").write_text("{}")
    with pytest.raises(FileExistsError, match="roads.geojson"):
        sample.write_city(sample.tiny_city(), tmp_path)
    assert not (tmp_path / "buildings.geojson").exists(), "nothing is written when refusing"
    assert (tmp_path / "roads.geojson").read_text() == "{}"


def test_write_city_geopackage(tmp_path):
    t = sample.tiny_city()
    [path] = sample.write_city(t, tmp_path, driver="GPKG")
    assert path.name == "city.gpkg"
    assert sorted(pyogrio.list_layers(path)[:, 0]) == sorted(LAYERS)
    with pytest.raises(FileExistsError):
        sample.write_city(t, tmp_path, driver="GPKG")
    [p2] = sample.write_city(t, tmp_path / "x.gpkg", driver="GPKG")
    assert p2 == tmp_path / "x.gpkg"
    assert gpd.read_file(p2, layer="compounds").shape[0] == 4
    with pytest.raises(ValueError, match="driver"):
        sample.write_city(t, tmp_path / "y", driver="KML")


def test_cli_writes_and_refuses(tmp_path):
    out = tmp_path / "city"
    args = ["--out", str(out), "--communities", "6", "--scale", "0.15", "--seed", "9"]
    assert sample.main(args) == 0
    chain = ["compound_status.csv", "mobile_schedule.csv", "staff.csv"]  # gridplan.sample_chain
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{n}.geojson" for n in LAYERS] + chain)
    assert sample.main(args) == 1
    assert sample.main(args + ["--overwrite"]) == 0


# --------------------------------------------------------------------------------------------- tiny city
def test_tiny_city_documented_totals():
    t = sample.tiny_city()
    assert set(t) == set(LAYERS)
    for name, gdf in t.items():
        assert gdf.crs.to_epsg() == 4326
        assert gdf[ID_FIELD[name]].is_unique
    b = t["buildings"]
    assert len(t["communities"]) == 2 and len(t["compounds"]) == 4 and len(b) == 13
    per = b.groupby("community_id")[["households", "persons", "party_members"]].sum()
    assert per.loc["510682001001"].tolist() == [900, 2700, 44]
    assert per.loc["510682001002"].tolist() == [220, 660, 11]
    assert (b.households.sum(), b.persons.sum(), b.party_members.sum()) == (1120, 3360, 55)
    per_c = b.groupby("compound_id").households.sum().to_dict()
    assert per_c == {"C1": 300, "C2": 300, "C3": 150, "C4": 160}
    assert b.compound_id.isna().sum() == 3
    cp = t["compounds"]
    assert _sanwu(cp).tolist() == [False, False, True, False]
    assert t["stations"].kind.tolist() == ["red_station", "grid_station"]
    roads = t["roads"]
    assert len(roads) == 17 and roads.walkable.all()
    # geometry: buildings inside compounds and communities, no overlaps, roads noded
    m = {n: g.to_crs(4544) for n, g in t.items()}
    cm = m["communities"].set_index("community_id").geometry
    assert shapely.contains(cm.loc[m["buildings"].community_id].array, m["buildings"].geometry.array).all()
    ins = m["buildings"][m["buildings"].compound_id.notna()]
    cpg = m["compounds"].set_index("compound_id").geometry
    assert shapely.contains(cpg.loc[ins.compound_id].array, ins.geometry.array).all()
    g = m["buildings"].geometry.array
    i, j = shapely.STRtree(g).query(g, predicate="intersects")
    assert (i < j).sum() == 0
    mm, a, bb, _ = _graph(m["roads"])
    assert connected_components(mm, directed=False)[0] == 1
    assert m["communities"].area.sum() == pytest.approx(180_000, rel=1e-3)


def test_sample_loads_with_the_library_reader():
    from gridplan import io
    ds = io.read_dataset(SAMPLE)
    assert not [p for p in ds.problems if p.severity == "error"]
    assert len(ds.buildings) == len(gpd.read_file(SAMPLE / "buildings.geojson"))
