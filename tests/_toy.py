"""A small generated city for the presentation tests (webmap, poster, export), independent of the engines.

Two communities side by side near 什邡 (104.17°E, 31.13°N), four compounds each (one of them 三无,
one named like an HTML attack), 16 buildings per compound, roads on the compound edges, stations
of several kinds, and a simple plan: one grid per pair of compounds, with its grid layer made by
dissolving compound polygons (which tile each community).
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString, Point, box

from gridplan.io import read_dataset
from gridplan.model import Plan

EVIL = "<script>alert(1)</script>"
EVIL_IMG = "<img src=x onerror=alert(1)>"
X0, Y0 = 104.17, 31.13


def _lonlat(x_m, y_m):
    # metres to degrees near 31°N (good enough for a test fixture)
    return X0 + x_m / 95_300.0, Y0 + y_m / 110_900.0


def _box(x0, y0, x1, y1):
    (a, b), (c, d) = _lonlat(x0, y0), _lonlat(x1, y1)
    return box(a, b, c, d)


def toy_layers() -> dict[str, gpd.GeoDataFrame]:
    rng = np.random.default_rng(7)
    comm = gpd.GeoDataFrame(
        {"community_id": ["510682001001", "510682001002"], "name": ["方亭社区", "皂角社区"],
         "street": ["方亭街道", "方亭街道"]},
        geometry=[_box(0, 0, 600, 600), _box(600, 0, 1200, 600)], crs=4326)
    comps, blds = [], []
    k = 0
    for ci, cid in enumerate(comm["community_id"]):
        for j in range(4):
            x0, y0 = ci * 600 + (j % 2) * 300, (j // 2) * 300
            k += 1
            name = {1: EVIL, 2: EVIL_IMG, 4: "小区{{7*7}}"}.get(k, f"小区{k}号")
            sanwu = k in (3, 6)
            comps.append({"compound_id": f"C{k:02d}", "name": name, "community_id": cid,
                          "property_company": None if sanwu else "某物业公司",
                          "has_property_mgmt": not sanwu, "has_competent_dept": not sanwu,
                          "has_owners_committee": not sanwu,
                          "party_org": "独立党支部" if k % 2 else None, "geometry": _box(x0, y0, x0 + 300, y0 + 300)})
            for u in range(4):
                for v in range(4):
                    bx, by = x0 + 30 + u * 65, y0 + 30 + v * 65
                    hh = int(rng.integers(6, 14))
                    blds.append({"building_id": f"B{len(blds) + 1:04d}", "households": hh,
                                 "persons": int(hh * 3), "party_members": int(rng.integers(0, 4)),
                                 "floors": 6, "compound_id": f"C{k:02d}", "community_id": cid,
                                 "name": f"{k}-{u * 4 + v + 1}栋",
                                 "geometry": _box(bx, by, bx + 30, by + 18)})
    compounds = gpd.GeoDataFrame(comps, crs=4326)
    buildings = gpd.GeoDataFrame(blds, crs=4326)
    lines = []
    for x in (0, 300, 600, 900, 1200):
        lines.append(LineString([_lonlat(x, 0), _lonlat(x, 600)]))
    for y in (0, 300, 600):
        lines.append(LineString([_lonlat(0, y), _lonlat(1200, y)]))
    roads = gpd.GeoDataFrame({"road_id": [f"R{i}" for i in range(len(lines))], "kind": "street"},
                             geometry=lines, crs=4326)
    stations = gpd.GeoDataFrame(
        {"station_id": ["S1", "S2", "S3"], "name": ["红色驿站一", EVIL, "党群服务中心"],
         "kind": ["red_station", "grid_station", "service_center"]},
        geometry=[Point(_lonlat(300, 300)), Point(_lonlat(900, 300)), Point(_lonlat(600, 0))], crs=4326)
    return {"communities": comm, "compounds": compounds, "buildings": buildings, "roads": roads,
            "stations": stations}


def toy_dataset():
    return read_dataset(toy_layers(), name="toy")


def toy_plan(ds) -> Plan:
    """Grid = community code + 01 (compounds 1–2 of the community) or 02 (compounds 3–4)."""
    b = ds.buildings
    comp_no = b["compound_id"].str[1:].astype(int)
    serial = np.where(((comp_no - 1) % 4) < 2, "01", "02")
    a = pd.Series(b["community_id"].astype(str).to_numpy() + serial, index=b.index)
    return Plan(a)


def toy_grids(ds, plan) -> gpd.GeoDataFrame:
    """A grid layer shaped like ``gridplan.metrics.grids`` (compound polygons dissolved by grid)."""
    a = plan.assignment
    b = ds.buildings
    comp_grid = pd.Series(a.reindex(b.index).to_numpy(), index=b["compound_id"].to_numpy()).groupby(level=0).first()
    comp = ds.compounds.copy()
    comp["grid_id"] = comp_grid.reindex(comp.index.astype(str)).to_numpy()
    geo = comp.dissolve("grid_id")[["geometry"]]
    bb = b.assign(grid_id=a.reindex(b.index).to_numpy())
    agg = bb.groupby("grid_id").agg(community_id=("community_id", "first"), households=("households", "sum"),
                                    persons=("persons", "sum"), party_members=("party_members", "sum"),
                                    buildings=("households", "size"))
    agg["compliant"] = agg["households"].between(300, 500) | agg["persons"].between(1000, 1500)
    agg["reason_text"] = np.where(agg["compliant"], "", "户数不足")
    agg["polsby_popper"] = 0.78
    out = gpd.GeoDataFrame(agg, geometry=geo.geometry.reindex(agg.index).to_numpy(), crs=ds.crs)
    out.index.name = "grid_id"
    out["note"] = out["reason_text"]
    return out
