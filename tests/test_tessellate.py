"""Building cells tile each community; grid polygons are single polygons when contiguous."""
from __future__ import annotations

import numpy as np
import shapely

try:
    from test_partition import X0, Y0, dataset_from, make_city, row_of_buildings
except ImportError:  # pragma: no cover
    from tests.test_partition import X0, Y0, dataset_from, make_city, row_of_buildings

from gridplan.metrics import grid_table
from gridplan.partition import partition
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
