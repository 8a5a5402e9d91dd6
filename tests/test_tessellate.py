"""Building cells tile each community; grid polygons are single polygons when contiguous."""
from __future__ import annotations

import numpy as np
import pytest
import shapely

try:
    from test_engine import X0, Y0, dataset_from, make_city, row_of_buildings
except ImportError:  # pragma: no cover
    from tests.test_engine import X0, Y0, dataset_from, make_city, row_of_buildings

from gridplan.engine import partition
from gridplan.metrics import grid_table
from gridplan.tessellate import building_cells, grid_polygons


def test_cells_tile_each_community():
    ds = make_city(0, (2, 2), blocks=3)
    cells = building_cells(ds)
    assert len(cells) == len(ds.buildings) and (cells.index == ds.buildings.index).all()
    comm = ds.buildings["community_id"]
    for cid, poly in ds.communities.geometry.items():
        mine = cells[comm == cid]
        assert abs(mine.area.sum() - poly.area) < 1e-3 * poly.area
        union = shapely.union_all(mine.to_numpy())
        assert abs(union.area - poly.area) < 1e-3 * poly.area  # no overlaps, no gaps
        assert union.difference(poly.buffer(1e-6)).area < 1e-6  # clipped to the community
    # every cell holds its building's representative point
    pts = shapely.point_on_surface(ds.buildings.geometry.to_numpy())
    assert shapely.covers(cells.to_numpy(), pts).all()


def test_concave_community_cells_are_single_polygons():
    u = shapely.box(X0, Y0, X0 + 300, Y0 + 300).difference(shapely.box(X0 + 100, Y0 + 80, X0 + 200, Y0 + 301))
    bl = row_of_buildings("U", 10, 30, x=X0 + 5, y=Y0 + 20, dx=29)
    bl += row_of_buildings("U", 3, 30, x=X0 + 10, y=Y0 + 250, dx=25, prefix="l")
    bl += row_of_buildings("U", 3, 30, x=X0 + 210, y=Y0 + 250, dx=25, prefix="r")
    ds = dataset_from(bl, {"U": u})
    cells = building_cells(ds)
    assert abs(cells.area.sum() - u.area) < 1e-3 * u.area
    assert (shapely.get_num_geometries(cells.to_numpy()) == 1).all()


def test_grid_polygons_are_single_polygons_and_tile():
    ds = make_city(1, (2, 1), blocks=4)
    plan = partition(ds)
    polys = grid_polygons(ds, plan)
    t = grid_table(ds, plan)
    assert set(polys.index) == set(plan.grid_ids)
    assert (polys.geom_type[t["contiguous"]] == "Polygon").all()
    for cid, poly in ds.communities.geometry.items():
        mine = polys[polys["community_id"] == cid]
        assert abs(mine.area.sum() - poly.area) < 1e-3 * poly.area
        assert abs(shapely.union_all(mine.geometry.to_numpy()).area - poly.area) < 1e-3 * poly.area


def test_grid_polygons_cache_follows_edits():
    ds = make_city(2, (1, 1), blocks=3)
    plan = partition(ds)
    g = plan.grid_ids
    merged = plan.merge(g[0], g[1])
    a = grid_polygons(ds, plan)
    b = grid_polygons(ds, merged)
    assert len(b) == len(a) - 1
    assert abs(b.loc[g[0]].geometry.area - (a.loc[g[0]].geometry.area + a.loc[g[1]].geometry.area)) < 1e-3
    assert np.isclose(b.area.sum(), a.area.sum())


def _row_houses():
    """Long row houses whose footprints reach over the Voronoi edge of their small neighbours."""
    bl = []
    for i in range(12):
        x = X0 + 40 * i
        bl.append({"building_id": f"long{i}", "households": 40, "persons": 120, "party_members": 0,
                   "compound_id": None, "community_id": "C",
                   "geometry": shapely.box(x, Y0, x + 38, Y0 + 8)})
        bl.append({"building_id": f"small{i}", "households": 10, "persons": 30, "party_members": 0,
                   "compound_id": None, "community_id": "C",
                   "geometry": shapely.box(x + 30, Y0 + 10, x + 34, Y0 + 14)})
    return dataset_from(bl, {"C": shapely.box(X0 - 10, Y0 - 20, X0 + 500, Y0 + 40)})


def test_grid_outlines_do_not_cut_buildings():
    ds = _row_houses()
    plan = partition(ds)
    polys = grid_polygons(ds, plan)
    own = polys.geometry.reindex(plan.assignment.reindex(ds.buildings.index).to_numpy()).to_numpy()
    fp = ds.buildings.geometry.to_numpy()
    assert (shapely.area(shapely.intersection(fp, own)) / shapely.area(fp) > 0.999).all()
    assert abs(polys.area.sum() - ds.communities.geometry.iloc[0].area) < 1e-3


def test_footprints_are_claimed_the_same_with_the_per_grid_cache():
    """Which footprints poke out of their grid is found once per member set, with its outline (an
    edit looks again only at the grids it changed): the outlines are those of the whole-city
    search, edit after edit."""
    from gridplan import tessellate
    ds = _row_houses()
    plan = partition(ds)
    fp = ds.buildings.geometry.to_numpy()
    cells = building_cells(ds).to_numpy()
    assert (~shapely.covers(cells, fp)).sum() >= 10          # footprints over their cell: there is work
    plans = [plan]
    for k in range(4):       # one building after another into the next grid
        p = plans[-1]
        b = f"small{3 * k + 1}"
        other = next(g for g in p.grid_ids if g != p.assignment[b])
        plans.append(p.move([b], other))
    whole = tessellate._claim_footprints
    for p in plans:
        cached = grid_polygons(ds, p)
        try:
            tessellate._claim_footprints = lambda d, g, c, lab, cand=None: whole(d, g, c, lab, None)
            searched = grid_polygons(ds, p)
        finally:
            tessellate._claim_footprints = whole
        assert list(cached.index) == list(searched.index)
        assert shapely.equals_exact(cached.geometry.to_numpy(), searched.geometry.to_numpy(), 0).all()
    assert len(tessellate.dataset_cache(ds, "grid_polygon_cache", dict)) > len(plan.grid_ids)   # kept per member set


def test_dissolve_survives_a_self_intersecting_cell():
    """The cells of one grid of a generated city (province benchmark) where one cell self-intersects
    and GEOS's union fails: the outline is still made, valid, from the repaired cells."""
    from pathlib import Path

    from gridplan.tessellate import _dissolve
    lines = (Path(__file__).parent / "data" / "invalid_cells.txt").read_text().splitlines()
    cells = shapely.from_wkb([bytes.fromhex(x) for x in lines if x and not x.startswith("#")])
    assert (~shapely.is_valid(cells)).sum() == 1
    with pytest.raises(shapely.errors.GEOSException):      # what made the province run fail
        shapely.union_all(cells)
    g = _dissolve(cells, np.arange(len(cells)))
    assert shapely.is_valid(g) and not g.is_empty
    assert shapely.get_type_id(g) in (3, 6)
    good = shapely.union_all(cells[shapely.is_valid(cells)])
    assert g.area >= good.area - 1e-6                          # nothing of the valid cells is lost
    assert g.area <= shapely.area(cells).sum() + 1e-6
