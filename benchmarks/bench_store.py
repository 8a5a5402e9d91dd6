"""Plan store speed on both backends (GeoPackage file, PostgreSQL/PostGIS), on demand.

    python benchmarks/bench_store.py                 # ~24,000 buildings (generate_city(20, scale=2.4))
    python benchmarks/bench_store.py --scale 16      # ~160,000 buildings
    python benchmarks/bench_store.py --pg-url postgresql://…   # an existing server instead of a throwaway one

For each backend: the grid polygons of the plan (tessellation, part of gridplan rather than of the
store, reported apart), the first save (binds the dataset, writes every community with those
polygons), a save that changes one community (a planner's edit; its polygons are computed by the
save, as on the command line), a save that changes every community, loading a version (``load``), writing it as a
plan GeoPackage (``gridplan store get``) and listing versions. The peer is the plain way to keep
versions: every save writes every building's row (``pandas.DataFrame.to_sql`` into the same database),
timed for the one-community edit; the ratio shows what writing only changed communities saves.
Repeated saves/loads report the median of ``--repeat`` runs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from gridplan.io import read_dataset  # noqa: E402
from gridplan.model import Plan  # noqa: E402
from gridplan.sample import generate_city  # noqa: E402
from gridplan.store import open_store  # noqa: E402


def cheap_plan(ds, per_grid_households: int = 400, tag: str = "") -> Plan:
    """Grids of about 400 households, cut west → east inside each community (the store does not
    care about plan quality, and partitioning 160k buildings would dominate the run)."""
    b = ds.buildings
    x = b.geometry.centroid.x.to_numpy()
    out = pd.Series(index=b.index.astype(str), dtype=object)
    for cid, idx in b.groupby("community_id").indices.items():
        order = idx[np.argsort(x[idx], kind="stable")]
        serial = np.cumsum(b["households"].to_numpy()[order]) // per_grid_households
        out.iloc[order] = [f"{cid}{s + 1:03d}{tag}" for s in serial]
    return Plan(out, label="cheap")


def edit(ds, plan: Plan, communities, marker: str) -> Plan:
    """Move ten buildings of each given community into a new grid."""
    a = plan.assignment
    for cid in communities:
        ids = ds.buildings.index[ds.buildings["community_id"] == cid][:10].astype(str)
        a.loc[ids] = f"{cid}-{marker}"
    return plan.with_assignment(a, label=marker)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def store_size(store) -> float:
    if store.kind == "gpkg":
        return store.path.stat().st_size / 1e6
    import sqlalchemy as sa
    with store._engine.connect() as conn:
        return float(conn.execute(sa.text("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                                          "WHERE c.relname LIKE 'gp\\_%' AND c.relkind = 'r'")).scalar()) / 1e6


def bench_backend(label: str, url: str, layers, repeat: int, tmp: Path) -> dict:
    ds = read_dataset(layers, name="bench")              # a fresh dataset: nothing cached
    comms = sorted(ds.communities.index)
    base = cheap_plan(ds)
    store = open_store(url, create=True)
    res = {"backend": label}
    from gridplan.tessellate import grid_polygons
    res["grid polygons of the plan (s)"], layer = timed(lambda: grid_polygons(ds, base))   # gridplan, not the store
    res["first save (s)"], v = timed(lambda: store.save(base, name="v1", user="bench", dataset=ds, grids=layer))
    import sqlalchemy as sa
    # the peer writes into its own file next to the GeoPackage (so the store's size stays its own)
    peer_engine = store._engine if store.kind == "postgresql" else sa.create_engine(f"sqlite:///{tmp / 'peer.sqlite'}")
    one, allc, loads, gets, lists, peer = [], [], [], [], [], []
    for r in range(repeat):
        head = store.head()
        mine = edit(ds, store.load(head), [comms[r % len(comms)]], f"e{r}")
        t, head = timed(lambda: store.save(mine, name=f"one{r}", user="bench", base=head, dataset=ds))
        one.append(t)
        mine = edit(ds, store.load(head), comms, f"a{r}")
        t, head = timed(lambda: store.save(mine, name=f"all{r}", user="bench", base=head, dataset=ds))
        allc.append(t)
        t, _ = timed(lambda: store.load(head))
        loads.append(t)
        t, _ = timed(lambda: store.write_plan(head, tmp / f"{label}-{r}.gpkg"))
        gets.append(t)
        t, _ = timed(store.list)
        lists.append(t)
        # the peer: every building's row again for a one-community edit
        full = store.load(head).assignment.rename("grid_id").rename_axis("building_id").reset_index()
        full.insert(0, "version_id", 1000 + r)
        with peer_engine.begin() as conn:
            t, _ = timed(lambda: full.to_sql("peer_full_rows", conn, if_exists="append", index=False,
                                             chunksize=10000, method="multi"))
        peer.append(t)
    med = statistics.median
    res.update({"save 1 community (s)": med(one), "save all communities (s)": med(allc), "load (s)": med(loads),
                "get → plan.gpkg (s)": med(gets), "list (s)": med(lists),
                "peer: all rows per save (s)": med(peer), "peer / ours (1 community)": med(peer) / med(one),
                "store MB": store_size(store), "versions": store.head()})
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--communities", type=int, default=20)
    ap.add_argument("--scale", type=float, default=2.4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pg-url", default=None, help="an existing PostGIS database (default: a throwaway server)")
    args = ap.parse_args(argv)
    print(f"load: {os.getloadavg()}")
    t, layers = timed(lambda: generate_city(n_communities=args.communities, scale=args.scale))
    print(f"city: {len(layers['buildings'])} buildings, {args.communities} communities (generated in {t:.1f} s)")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows.append(bench_backend("GeoPackage", str(tmp / "bench.gpkg"), layers, args.repeat, tmp))
        if args.pg_url:
            rows.append(bench_backend("PostgreSQL", args.pg_url, layers, args.repeat, tmp))
        else:
            from _pg import PgCluster
            with PgCluster() as pg:
                rows.append(bench_backend("PostgreSQL", pg.new_database("bench"), layers, args.repeat, tmp))
    table = pd.DataFrame(rows).set_index("backend").T
    table["PostgreSQL / GeoPackage"] = table["PostgreSQL"] / table["GeoPackage"]
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 160):
        print(table)
    print(f"load: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
