"""The building adjacency graph: symmetric, within communities, islands apart, weights."""
from __future__ import annotations

import numpy as np
import shapely
from scipy.sparse.csgraph import connected_components

try:
    from test_engine import X0, Y0, dataset_from, make_city, row_of_buildings
except ImportError:  # pragma: no cover
    from tests.test_engine import X0, Y0, dataset_from, make_city, row_of_buildings

from gridplan.adjacency import SAME_COMPOUND_FACTOR, building_adjacency, grid_components


def test_symmetric_within_communities_and_connected():
    ds = make_city(0, (2, 2), blocks=3)
    A = building_adjacency(ds)
    n = len(ds.buildings)
    assert A.shape == (n, n)
    assert abs(A - A.T).max() < 1e-9
    assert A.diagonal().max() == 0
    comm = ds.buildings["community_id"].to_numpy()
    r, c = A.nonzero()
    assert (comm[r] == comm[c]).all()
    ncomp, _ = connected_components(A, directed=False)
    assert ncomp == len(ds.communities)
    assert building_adjacency(ds) is A  # cached


def test_islands_stay_apart_and_compounds_weigh_more():
    west = shapely.box(X0 - 10, Y0 - 10, X0 + 200, Y0 + 30)
    east = shapely.box(X0 + 500, Y0 - 10, X0 + 700, Y0 + 30)
    bl = row_of_buildings("I", 6, 10, compound="K") + row_of_buildings("I", 6, 10, x=X0 + 510, prefix="e")
    ds = dataset_from(bl, {"I": shapely.MultiPolygon([west, east])})
    A = building_adjacency(ds)
    ncomp, lab = connected_components(A, directed=False)
    assert ncomp == 2 and len(set(lab[:6])) == 1 and len(set(lab[6:])) == 1
    # same spacing: the compound edges cost SAME_COMPOUND_FACTOR times more to cut
    w_in = A[0, 1]
    w_out = A[6, 7]
    assert np.isclose(w_in / w_out, SAME_COMPOUND_FACTOR, rtol=0.05)


def test_grid_components_counts_pieces():
    bl = row_of_buildings("C", 6, 10)
    ds = dataset_from(bl, {"C": shapely.box(X0 - 10, Y0 - 10, X0 + 200, Y0 + 30)})
    A = building_adjacency(ds)
    codes = np.array([0, 0, 1, 1, 0, 0])
    assert grid_components(A, codes).tolist() == [2, 1]
