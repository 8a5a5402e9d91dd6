"""Plan files: write_plan / read_plan round trip the assignment, rule and locks, in the input CRS."""
import pyogrio
import pytest

import gridplan as gp
from gridplan.io import read_plan, write_plan
from gridplan.sample import tiny_city


@pytest.fixture(scope="module")
def ds():
    return gp.read_dataset(tiny_city(), name="tiny")


def test_round_trip(ds, tmp_path):
    rule = gp.Rule(min_households=100, max_households=600, mode="households")
    plan = gp.partition(ds, rule=rule, seed=0)
    plan = plan.lock(plan.grid_ids[:1])
    path = write_plan(ds, plan, tmp_path / "plan.gpkg")
    layers = {row[0] for row in pyogrio.list_layers(path)}
    assert {"assignment", "grids", "plan_info"} <= layers
    grids = pyogrio.read_dataframe(path, layer="grids")
    assert grids.crs.to_epsg() == 4326                      # the input CRS of tiny_city
    assert {"grid_id", "community_id", "households", "persons", "compliant", "note"} <= set(grids.columns)
    assert grids["households"].sum() == ds.buildings["households"].sum()
    back = read_plan(path, ds)
    assert back.same_assignment(plan)
    assert back.rule == rule and back.locked == plan.locked


def test_read_plan_errors(ds, tmp_path):
    with pytest.raises(FileNotFoundError, match="gridplan partition"):
        read_plan(tmp_path / "missing.gpkg", ds)
    other = gp.Plan.from_mapping({"nope": "g1"})
    p = write_plan(ds, gp.partition(ds), tmp_path / "ok.gpkg")
    bad = tmp_path / "bad.gpkg"
    write_plan(ds, gp.partition(ds), bad)
    pyogrio.write_dataframe(__import__("pandas").DataFrame({"building_id": ["nope"], "grid_id": ["g1"]}), bad,
                            layer="assignment", driver="GPKG")
    with pytest.raises(gp.PlanError, match="does not match"):
        read_plan(bad, ds)
    assert read_plan(p).grid_ids and other.grid_ids == ["g1"]
    with pytest.raises(ValueError, match="GeoPackage"):
        write_plan(ds, gp.partition(ds), tmp_path / "plan.geojson")
