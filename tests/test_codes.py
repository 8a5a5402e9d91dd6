"""Grid codes: community code + serial, west→east, north→south, width 2 or 3."""
from __future__ import annotations

import pandas as pd
import pytest
import shapely

try:
    from test_engine import X0, Y0, dataset_from
except ImportError:  # pragma: no cover
    from tests.test_engine import X0, Y0, dataset_from

from gridplan.codes import next_codes, number_grids, reading_order


def six_grid_dataset():
    # 2 rows × 3 columns of single-building grids, ids in scrambled order
    bl, assignment = [], {}
    names = iter(["q", "w", "e", "r", "t", "y"])
    for row, y in enumerate([Y0 + 250, Y0 + 50]):          # north row first
        for col, x in enumerate([X0 + 50, X0 + 250, X0 + 450]):
            bid = f"b{row}{col}"
            bl.append({"building_id": bid, "households": 400, "persons": 1200, "party_members": 0,
                       "compound_id": None, "community_id": "510682001001",
                       "geometry": shapely.box(x, y + (col * 7), x + 20, y + 10 + col * 7)})
            assignment[bid] = next(names)
    ds = dataset_from(bl, {"510682001001": shapely.box(X0, Y0, X0 + 600, Y0 + 400)})
    return ds, pd.Series(assignment)


@pytest.mark.parametrize("width", [2, 3])
def test_numbered_west_to_east_north_to_south(width):
    ds, a = six_grid_dataset()
    m = number_grids(ds, a, width=width)
    new = a.map(m)
    expect = {"b00": 1, "b01": 2, "b02": 3, "b10": 4, "b11": 5, "b12": 6}
    for bid, serial in expect.items():
        assert new[bid] == "510682001001" + str(serial).zfill(width)


def test_keep_and_next_codes():
    ds, a = six_grid_dataset()
    a = a.copy()
    a["b00"] = "51068200100105"
    m = number_grids(ds, a, keep=["51068200100105"])
    assert m["51068200100105"] == "51068200100105"
    assert "51068200100105" not in [v for k, v in m.items() if k != "51068200100105"]
    assert next_codes("510682001001", ["51068200100103", "51068200100107"], 2) == ["51068200100108", "51068200100109"]
    assert next_codes("510682001001", [], 1, width=3) == ["510682001001001"]


def test_reading_order_rows():
    x = [0, 100, 200, 0, 100, 200]
    y = [0, 5, -5, 100, 95, 105]
    assert reading_order(x, y).tolist() == [3, 4, 5, 0, 1, 2]


def test_width_grows_when_a_community_has_too_many_grids():
    bl, a = [], {}
    for i in range(120):
        bl.append({"building_id": f"b{i}", "households": 1, "persons": 1, "party_members": 0,
                   "compound_id": None, "community_id": "C",
                   "geometry": shapely.box(X0 + 10 * i, Y0, X0 + 10 * i + 5, Y0 + 5)})
        a[f"b{i}"] = f"g{i}"
    ds = dataset_from(bl, {"C": shapely.box(X0 - 5, Y0 - 5, X0 + 1300, Y0 + 10)})
    m = number_grids(ds, pd.Series(a), width=2)
    assert len(set(m.values())) == 120
    assert all(len(v) == 4 for v in m.values())  # "C" + 3 digits
    assert m["g0"] == "C001" and m["g119"] == "C120"
