"""Helpers of the plan-store tests: a quick synthetic city, and workers that run in other processes
(two planners saving at the same moment; a saver killed with SIGKILL mid-save).

Run as a script for the kill test::

    python tests/_store_worker.py kill URL N_BUILDINGS
"""
from __future__ import annotations

import logging
import random
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
from shapely.geometry import Point, box

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gridplan.io import read_dataset  # noqa: E402
from gridplan.model import Plan  # noqa: E402

#: (street id, street name) of the synthetic city's communities, in order
STREETS = [("510682001", "方亭街道"), ("510682002", "皂角街道")]


def city(n_buildings: int = 2000, n_communities: int = 6, seed: int = 1):
    """A deterministic city of point buildings in ``n_communities`` square communities on two streets
    (EPSG:4544 metres near 什邡). Community ids ``510682001001``…; buildings ``B00001``…"""
    rng = np.random.default_rng(seed)
    side = 1000.0
    comms, blds = [], []
    per = n_buildings // n_communities
    for c in range(n_communities):
        street_id, street = STREETS[c % 2]
        cid = f"{street_id}{c + 1:03d}"
        x0, y0 = 420000.0 + c * side, 3445000.0
        comms.append({"community_id": cid, "name": f"社区{c + 1}", "street": street, "street_id": street_id,
                      "geometry": box(x0, y0, x0 + side, y0 + side)})
        n = per if c < n_communities - 1 else n_buildings - per * (n_communities - 1)
        xy = rng.uniform(20, side - 20, size=(n, 2))
        hh = rng.integers(5, 40, size=n)
        for i in range(n):
            blds.append({"building_id": f"B{len(blds) + 1:05d}", "households": int(hh[i]), "persons": int(hh[i] * 3),
                         "community_id": cid, "geometry": Point(x0 + xy[i, 0], y0 + xy[i, 1])})
    layers = {"communities": gpd.GeoDataFrame(comms, crs=4544), "buildings": gpd.GeoDataFrame(blds, crs=4544)}
    return read_dataset(layers, name="测试城")


def base_plan(ds, per_grid: int = 40, tag: str = "") -> Plan:
    """Grids of about ``per_grid`` buildings inside each community, cut west → east."""
    b = ds.buildings
    grid = {}
    for cid, g in b.groupby("community_id"):
        order = g.geometry.x.sort_values(kind="stable").index
        for k, bid in enumerate(order):
            grid[str(bid)] = f"{cid}{k // per_grid + 1:02d}{tag}"
    return Plan.from_mapping(grid, label="base")


def change_in(ds, plan: Plan, community: str, marker: str, n: int = 5) -> Plan:
    """Move ``n`` buildings of ``community`` into a new grid ``<community>-<marker>``."""
    ids = ds.buildings.index[ds.buildings["community_id"] == community][:n]
    return plan.move(ids, f"{community}-{marker}", label=marker)


# --------------------------------------------------------------------------- two planners at once
def race_worker(url: str, k: int, rounds: int, communities: list[str], barrier, queue, n_buildings: int) -> None:
    """One planner: each round, wait for the other, read the newest version as base, wait again,
    then save a change to a community picked from ``communities`` (seeded per worker and round)."""
    try:
        _race_rounds(url, k, rounds, communities, barrier, queue, n_buildings)
    except BaseException as e:  # noqa: BLE001 - a broken barrier or a failed start, reported to the test
        queue.put({"worker": k, "round": -1, "error": repr(e)})
        raise


def _race_rounds(url, k, rounds, communities, barrier, queue, n_buildings) -> None:
    from gridplan.store import StoreConflict, open_store
    ds = city(n_buildings)
    store = open_store(url)
    for r in range(rounds):
        barrier.wait(timeout=120)
        base = store.head()
        plan = store.load(base)
        cid = random.Random(f"{k}-{r}").choice(communities)
        mine = change_in(ds, plan, cid, f"w{k}r{r}", n=3 + k)
        barrier.wait(timeout=120)
        try:
            vid = store.save(mine, name=f"w{k}r{r}", user=f"planner{k}", base=base, dataset=ds)
            queue.put({"worker": k, "round": r, "base": base, "community": cid, "version": vid})
        except StoreConflict as e:
            queue.put({"worker": k, "round": r, "base": base, "community": cid, "version": None,
                       "conflicts": e.conflicts})
        except Exception as e:  # noqa: BLE001 - reported to the test
            queue.put({"worker": k, "round": r, "base": base, "community": cid, "error": repr(e)})


# --------------------------------------------------------------------------- killed mid-save
class _Announce(logging.Handler):
    def emit(self, record):
        msg = record.getMessage()
        if msg.startswith("writing version"):
            print("writing", msg.split()[2], flush=True)


def kill_target(url: str, n_buildings: int) -> None:
    """Save versions that change every community, forever, announcing each write (the parent kills us)."""
    from gridplan.store import open_store
    ds = city(n_buildings, n_communities=8)
    plans = [base_plan(ds, tag=t) for t in ("a", "b")]
    log = logging.getLogger("gridplan.store")
    log.setLevel(logging.DEBUG)
    log.addHandler(_Announce())
    store = open_store(url)
    while True:
        head = store.head()
        vid = store.save(plans[head % 2], name=f"k{head + 1}", user="killed", dataset=ds)
        print("saved", vid, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "kill":
        kill_target(sys.argv[2], int(sys.argv[3]))
