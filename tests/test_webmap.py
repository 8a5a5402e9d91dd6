"""The folium map: layers, click properties, escaping, offline links, speed."""
from __future__ import annotations

import json
import re
import time

import pytest
from _toy import EVIL, EVIL_IMG, toy_dataset, toy_grids, toy_plan

from gridplan import assets, webmap


@pytest.fixture(scope="module")
def toy():
    assets.install()
    ds = toy_dataset()
    plan = toy_plan(ds)
    return ds, plan, toy_grids(ds, plan)


def _geojson_layers(m):
    import folium
    out = {}
    for el in m._children.values():
        if isinstance(el, folium.GeoJson):
            out[el.layer_name] = el.data
    return out


def _state(m) -> dict:
    """The plan state (per building grid, colours, coverage) of a map or of MapParts."""
    roots = [m.base, *m.layers] if isinstance(m, webmap.MapParts) else [m]
    stack = list(roots)
    while stack:
        el = stack.pop()
        if getattr(el, "_name", "") == "PlanState":
            return el.state
        stack.extend(el._children.values())
    raise AssertionError("no plan state on the map")


def _grid_of_features(m, features) -> dict:
    st = _state(m)
    return {f["properties"]["building_id"]: (st["grids"][st["g"][f["properties"]["i"]]]
                                             if st["g"][f["properties"]["i"]] >= 0 else None) for f in features}


def test_layers_and_click_properties(toy):
    ds, plan, grids = toy
    m = webmap.make_map(ds, grids=grids, assignment=plan.assignment, draw_tools=True)
    layers = _geojson_layers(m)
    kinds = {f["properties"]["layer"] for fc in layers.values() for f in fc["features"]}
    assert {"community", "grid", "compound", "building", "station"} <= kinds
    b = next(fc for fc in layers.values() if fc["features"][0]["properties"]["layer"] == "building")
    assert len(b["features"]) == len(ds.buildings)
    p = b["features"][0]["properties"]
    assert {"building_id", "compound_id", "i"} <= set(p)
    # each building's grid (and colour) comes from the plan state, so an edit restyles in place
    a = plan.assignment
    assert _grid_of_features(m, b["features"]) == a.to_dict()
    assert all(f["properties"]["grid_id"] == a[f["properties"]["building_id"]] for f in b["features"])
    c = next(fc for fc in layers.values() if fc["features"][0]["properties"]["layer"] == "compound")
    assert {f["properties"]["compound_id"] for f in c["features"]} == set(ds.compounds.index)
    # 三无 compounds flagged for highlighting
    assert sum(f["properties"]["sanwu"] for f in c["features"]) == 2
    # coordinates in EPSG:4326 with at most 6 decimals
    x, y = b["features"][0]["geometry"]["coordinates"][0][0]
    assert 104 < x < 105 and 31 < y < 32
    assert len(repr(x).split(".")[1]) <= 6


def test_adjacent_grids_get_distinct_colours(toy):
    ds, plan, grids = toy
    col = webmap.grid_colors(grids)
    assert set(col) == set(grids.index)
    geoms = grids.geometry
    for a in grids.index:
        for b in grids.index:
            if a < b and geoms[a].distance(geoms[b]) < 1:
                assert col[a] != col[b], (a, b)
    # the same from buildings only (no polygons)
    col2 = webmap.grid_colors(dataset=ds, assignment=plan.assignment)
    assert len(set(col2.values())) == 4


def test_user_text_is_escaped_everywhere(toy):
    ds, plan, grids = toy
    m = webmap.make_map(ds, grids=grids, assignment=plan.assignment, lang="zh")
    html = m.get_root().render()
    assert EVIL not in html and EVIL_IMG not in html
    assert "alert(1)</script>" not in html and "<img src=x" not in html
    html = html.replace("\\u0026", "&")  # JSON in <script> spells & as \u0026
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    # Jinja-looking names are not evaluated by folium's template pass
    assert "&#123;&#123;7*7&#125;&#125;" in html and "小区49" not in html


def test_personal_fields_only_when_asked(toy):
    ds, plan, grids = toy
    off = webmap.make_map(ds, grids=grids, assignment=plan.assignment).get_root().render()
    on = webmap.make_map(ds, grids=grids, assignment=plan.assignment, include_personal=True).get_root().render()
    assert "党员" not in off
    assert "党员" in on


def test_english_labels(toy):
    ds, plan, grids = toy
    html = webmap.make_map(ds, grids=grids, assignment=plan.assignment, lang="en").get_root().render()
    assert "Households" in html and "Legend" in html
    with pytest.raises(ValueError):
        webmap.make_map(ds, lang="fr")


def test_no_outside_links_and_no_tiles_by_default(toy):
    ds, plan, grids = toy
    html = webmap.make_map(ds, grids=grids, assignment=plan.assignment, draw_tools=True).get_root().render()
    links = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert links and all(u.startswith("/app/static/vendor/") for u in links)
    assert "tile.openstreetmap" not in html and "L.tileLayer" not in html
    user = webmap.make_map(ds, tiles="http://intranet.local/tiles/{z}/{x}/{y}.png").get_root().render()
    assert "L.tileLayer" in user and "intranet.local" in user


def test_coverage_isochrones_selection_and_suggestions(toy):
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import Point

    ds, plan, grids = toy
    b = ds.buildings
    walk = pd.Series(range(len(b)), index=b.index, dtype=float) / 5.0  # 0 … 25 min
    cov = pd.DataFrame({"walk_min": walk, "covered": walk <= 15})
    st = ds.stations
    iso = gpd.GeoDataFrame({"band_min": [5, 10, 15] * len(st)},
                           geometry=[p.buffer(r) for p in st.geometry for r in (300, 600, 900)], crs=ds.crs)
    sug = gpd.GeoDataFrame({"gain_households": [120]}, geometry=[Point(b.geometry.iloc[-1].centroid)], crs=ds.crs)
    gid = grids.index[0]
    m = webmap.make_map(ds, grids=grids, assignment=plan.assignment, coverage=cov, isochrones=iso,
                        suggested=sug, selected_grid=gid, lang="en")
    layers = _geojson_layers(m)
    iso_fc = next(fc for fc in layers.values() if fc["features"][0]["properties"]["layer"] == "isochrone")
    assert sorted(f["properties"]["band_min"] for f in iso_fc["features"]) == [5, 10, 15]  # merged per band
    st = _state(m)
    assert st["cov"].count("0") == int((~cov["covered"]).sum())        # uncovered buildings get a red outline
    assert st["walk"][3] == round(walk.iloc[3] * 10)
    grid_fc = next(fc for fc in layers.values() if fc["features"][0]["properties"]["layer"] == "grid")
    assert [f["properties"]["grid_id"] for f in grid_fc["features"] if f["properties"]["sel"]] == [gid]
    html = m.get_root().render()
    assert "5-min walk" in html and "Suggested new stations" in html


def test_map_without_plan(toy):
    ds, _, _ = toy
    m = webmap.make_map(ds)
    assert "building" in json.dumps(_geojson_layers(m))


def test_sample_city_map_is_fast():
    from gridplan import metrics
    from gridplan.demo import load_sample
    from gridplan.engine import partition
    ds = load_sample()
    plan = partition(ds, seed=0)
    grids = metrics.grids(ds, plan)
    t0 = time.perf_counter()
    m = webmap.make_map(ds, grids=grids, assignment=plan.assignment)
    m.get_root().render()
    assert time.perf_counter() - t0 < 5.0


def test_inline_map_is_self_contained_in_notebooks(toy):
    ds, plan, grids = toy
    m = webmap.make_map(ds, grids=grids, assignment=plan.assignment, asset_base="inline")
    nb = m._repr_html_()  # what Jupyter shows (an iframe with srcdoc)
    assert "/app/static" not in nb and "leaflet/leaflet.js (inlined)" in nb
    page = webmap.to_html(m, title="<b>标题</b>")
    assert page.count("leaflet/leaflet.js (inlined)") == 1
    assert "<title>&lt;b&gt;标题&lt;/b&gt;</title>" in page


def _script(m) -> str:
    """The rendered page with folium's random element ids taken out (as streamlit-folium compares maps)."""
    return re.sub(r"_[0-9a-f]{32}", "", m.get_root().render())


def _layer_features(parts) -> dict[str, list]:
    """Layer name → features of the GeoJson layers inside the dynamic FeatureGroups."""
    import folium
    out = {}
    for fg in parts.layers:
        assert isinstance(fg, folium.FeatureGroup)
        for el in fg._children.values():
            if isinstance(el, folium.GeoJson):
                out[fg.layer_name] = el.data["features"]
    return out


def test_parts_base_is_the_same_for_every_plan(toy):
    import folium
    import pandas as pd

    from gridplan.model import Plan

    ds, plan, grids = toy
    b = ds.buildings
    cov = pd.DataFrame({"covered": [True] * len(b)}, index=b.index)
    # another plan: a community's two grids merged (its grid then fails the rule), some buildings uncovered
    a2 = plan.assignment.copy()
    first = min(a2.unique())
    a2[a2.str[:-2] == first[:-2]] = first
    plan2 = Plan(a2)
    grids2 = toy_grids(ds, plan2)
    cov2 = cov.copy()
    cov2.iloc[:5, 0] = False
    assert not grids2["compliant"].equals(grids["compliant"].reindex(grids2.index))
    p1 = webmap.make_map_parts(ds, grids=grids, assignment=plan.assignment, coverage=cov, draw_tools=True)
    p2 = webmap.make_map_parts(ds, grids=grids2, assignment=plan2.assignment, coverage=cov2, draw_tools=True,
                               selected_grid=first)
    assert isinstance(p1, webmap.MapParts) and isinstance(p1.base, folium.Map)
    assert isinstance(p1.control, folium.LayerControl)
    s1, s2 = _script(p1.base), _script(p2.base)
    assert s1 == s2
    # the plan's legend entries travel with the plan state (into the legend's slot)
    assert "不合规网格" in _state(p2)["legend"] and "未覆盖楼栋" in _state(p2)["legend"]
    assert "不合规网格" not in _state(p1)["legend"]
    # the base keeps the dataset's layers (footprints included); the plan's layers and the layer control are apart
    assert "LayerControl" not in " ".join(type(c).__name__ for c in p1.base._children.values())
    base_kinds = {el.data["features"][0]["properties"]["layer"] for el in p1.base._children.values()
                  if isinstance(el, folium.GeoJson)}
    assert base_kinds == {"community", "compound", "building", "road"}


def test_parts_layers_hold_the_plan(toy):
    import pandas as pd

    ds, plan, grids = toy
    b = ds.buildings
    cov = pd.DataFrame({"covered": [i % 3 != 0 for i in range(len(b))]}, index=b.index)
    parts = webmap.make_map_parts(ds, grids=grids, assignment=plan.assignment, coverage=cov)
    names = [fg.layer_name for fg in parts.layers]
    T = webmap.TEXT["zh"]
    assert names[:3] == ["plan", T["grids"], T["grid_labels"]]
    assert not parts.layers[0].control                     # the state is no layer to switch off
    assert any(n.startswith(T["station"]) for n in names[3:])
    feats = _layer_features(parts)
    assert {f["properties"]["grid_id"] for f in feats[T["grids"]]} == set(grids.index)
    st = _state(parts)
    assert len(st["g"]) == len(b) and st["cov"].count("0") == int((~cov["covered"]).sum())
    # a few kilobytes per edit, not the footprints again
    assert len(json.dumps(st)) < 40 * len(b) + 2000
    # the same layers as the one-piece map
    whole = webmap.make_map(ds, grids=grids, assignment=plan.assignment, coverage=cov)
    assert set(_geojson_layers(whole)) == set(feats) | {T["communities"], T["compounds"], T["buildings"], T["roads"]}
    assert _state(whole)["g"] == st["g"]


def test_no_fit_bounds_when_fit_is_false(toy):
    ds, plan, grids = toy

    def fits(m):
        return [c for c in m._children.values() if type(c).__name__ == "FitBounds"]

    assert fits(webmap.make_map(ds, grids=grids, assignment=plan.assignment))
    assert not fits(webmap.make_map(ds, grids=grids, assignment=plan.assignment, fit=False))
    parts = webmap.make_map_parts(ds, grids=grids, assignment=plan.assignment, selected_grid=grids.index[0])
    assert not fits(parts.base) and "fitBounds" not in parts.base.get_root().render()
    assert fits(webmap.make_map_parts(ds, grids=grids, assignment=plan.assignment, fit=True).base)


def test_grid_colours_stay_after_an_edit(toy):
    from gridplan.model import Plan
    ds, plan, grids = toy
    before = webmap.grid_colors(grids)
    # split a grid: its id keeps its colour, the new grid gets one unlike its neighbours
    g0 = grids.index[0]
    members = plan.buildings_of(g0)
    a = plan.assignment.copy()
    a[members[: len(members) // 2]] = g0 + "X"
    plan2 = Plan(a)
    grids2 = toy_grids(ds, plan2)
    after = webmap.grid_colors(grids2, keep=before)
    assert all(after[g] == before[g] for g in grids.index if g in after)
    geoms = grids2.geometry
    for other in grids2.index:
        if other != g0 + "X" and geoms[other].distance(geoms[g0 + "X"]) < 1:
            assert after[other] != after[g0 + "X"]
    # without keep the greedy colouring may reassign: keep is what makes colours stable
    assert webmap.grid_colors(grids2, keep=before) == after


def test_legend_folds_and_roads_are_the_default_base(toy):
    ds, plan, grids = toy
    roads = ds.roads.copy()
    roads["name"] = ["<b>蓥华山路</b>" if i % 2 else "北街" for i in range(len(roads))]
    ds = ds.replace(roads=roads)
    m = webmap.make_map(ds, grids=grids, assignment=plan.assignment)
    html = m.get_root().render()
    assert "<details open" in html.replace("\\u003c", "<") or "\\u003cdetails open" in html
    layers = _geojson_layers(m)
    T = webmap.TEXT["zh"]
    assert T["roads"] in layers
    assert "gp-road-label" in html and "北街" in html
    assert "<b>蓥华山路" not in html and "&lt;b&gt;蓥华山路" in html.replace("\\u0026", "&")
    tiled = webmap.make_map(ds, grids=grids, assignment=plan.assignment, tiles="http://10.0.0.5/t/{z}/{x}/{y}.png")
    assert T["roads"] not in _geojson_layers(tiled)          # with tiles, the tiles show the streets


def test_gcj02_tiles_shift_every_layer_and_clicks_come_back(toy):
    import numpy as np

    from gridplan.crs import wgs84_to_gcj02
    ds, plan, grids = toy
    plain = _geojson_layers(webmap.make_map(ds, grids=grids, assignment=plan.assignment))
    shifted = _geojson_layers(webmap.make_map(ds, grids=grids, assignment=plan.assignment,
                                              tiles="http://10.0.0.5/t/{z}/{x}/{y}.png", tiles_crs="gcj02"))
    T = webmap.TEXT["zh"]
    for name in (T["buildings"], T["grids"], T["communities"]):
        x, y = plain[name]["features"][0]["geometry"]["coordinates"][0][0]
        gx, gy = shifted[name]["features"][0]["geometry"]["coordinates"][0][0]
        ex, ey = wgs84_to_gcj02(np.array([x]), np.array([y]))
        assert abs(gx - float(ex[0])) < 2e-6 and abs(gy - float(ey[0])) < 2e-6
        assert abs(gx - x) > 1e-4                           # a real shift (hundreds of metres)
    lon, lat = webmap.from_display(gx, gy, "gcj02")
    assert abs(lon - x) < 2e-6 and abs(lat - y) < 2e-6
    feat = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[
        [gx, gy], [gx + 1e-3, gy], [gx + 1e-3, gy + 1e-3], [gx, gy]]]}}
    back = webmap.feature_from_display(feat, "gcj02")["geometry"]["coordinates"][0][0]
    assert abs(back[0] - x) < 2e-6
    with pytest.raises(ValueError):
        webmap.make_map(ds, tiles_crs="bd09")


def test_footprints_can_come_from_a_file(toy):
    ds, plan, grids = toy
    fc = webmap.footprints(ds)
    assert len(fc["features"]) == len(ds.buildings)
    assert [f["properties"]["i"] for f in fc["features"]] == list(range(len(ds.buildings)))
    embedded = webmap.make_map_parts(ds, grids=grids, assignment=plan.assignment)
    inline = next(el.data for el in embedded.base._children.values()
                  if getattr(el, "data", None) and el.data["features"] and
                  el.data["features"][0]["properties"]["layer"] == "building")
    assert inline == fc                                   # the same features, whichever way they travel
    parts = webmap.make_map_parts(ds, grids=grids, assignment=plan.assignment, footprints_url="/app/static/x.json")
    html = parts.base.get_root().render()
    assert 'fetch("/app/static/x.json")' in html
    assert '"layer": "building"' not in html


def test_suggested_grid_stations_have_their_own_markers(toy):
    import geopandas as gpd
    from shapely.geometry import Point

    ds, plan, grids = toy
    b = ds.buildings
    gid = str(grids.index[0])
    sug = gpd.GeoDataFrame({"grid_id": [f"{gid}<b>"], "households": [42], "mean_walk_m": [123.4],
                            "kind": ["grid_station"]}, geometry=[Point(b.geometry.iloc[0].centroid)], crs=ds.crs)
    m = webmap.make_map(ds, grids=grids, assignment=plan.assignment, suggested=sug)
    layers = _geojson_layers(m)
    assert "建议郁心站站址" in layers and "建议新增站点" not in layers
    f = layers["建议郁心站站址"]["features"][0]["properties"]
    assert f["layer"] == "suggested" and f["kind"] == "grid_station"
    assert "&lt;b&gt;" in f["t"][0] and "<b>" not in f["t"][0] and f["t"][2] == "123"
    red = gpd.GeoDataFrame({"gain_households": [7]}, geometry=[Point(b.geometry.iloc[0].centroid)], crs=ds.crs)
    assert "建议新增站点" in _geojson_layers(webmap.make_map(ds, suggested=red))


def test_footprints_without_building_counts_for_viewers(toy):
    ds, plan, grids = toy
    full = webmap.footprints(ds)
    bare = webmap.footprints(ds, building_counts=False)
    assert all(len(f["properties"]["t"]) == 4 for f in full["features"])     # title, compound, households, persons
    assert all(len(f["properties"]["t"]) == 2 for f in bare["features"])     # title, compound
    hh = [str(int(x)) for x in ds.buildings["households"]]
    assert [f["properties"]["t"][2] for f in full["features"]] == hh
    html = webmap.make_map_parts(ds, grids=grids, assignment=plan.assignment, building_counts=False,
                                 include_personal=True).base.get_root().render()
    assert '"fixed": ["' in html
    fixed = json.loads(re.search(r'"fixed": (\[[^\]]*\])', html).group(1))
    assert len(fixed) == 1                                    # only the compound: no counts, no party members
