"""郁心站 per grid (issue 15), run on demand: ``python benchmarks/bench_gridstations.py``.

On the bundled sample city and its default partition (seed 0), in one run:

* **gridplan** — :func:`gridplan.gridstations.suggest_grid_stations` for every grid: the exact
  household-weighted 1-median of each grid's buildings on the walking network (one multi-source
  CSR Dijkstra per grid, limited by the triangle bound);
* **networkx reference** — every building inserted as a node of a networkx graph (edges split at the
  snapped points), one single-source Dijkstra per building of the grid, brute-force 1-median; on a
  subset of grids (``--grids``, default 12) because it is slow;
* **the straight-line centre** — the building nearest each grid's household-weighted centroid, and
  how much longer its households walk on the network.

Prints times, the ratio, agreement (max |difference| of the best mean walk) and the centre's excess.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import networkx as nx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gridplan.demo import load_sample  # noqa: E402
from gridplan.engine import partition  # noqa: E402
from gridplan.gridstations import suggest_grid_stations  # noqa: E402
from gridplan.reach import walk_context  # noqa: E402


def reference_graph(net, snap) -> nx.Graph:
    """The network with every snapped building as a node ("p", i) and its footprint point ("b", i)."""
    G = nx.Graph()
    on_edge: dict[int, list] = {}
    for i in np.flatnonzero(snap.ok):
        on_edge.setdefault(int(snap.edge[i]), []).append((float(snap.pos_m[i]), i))
    for e in range(net.n_edges):
        if not net.kept_edge[e]:
            continue
        u, v, L = int(net.edge_u[e]), int(net.edge_v[e]), float(net.edge_len_m[e])
        chain = [(0.0, ("n", u))] + [(p, ("p", i)) for p, i in sorted(on_edge.get(e, []))] + [(L, ("n", v))]
        for (p0, a), (p1, b) in zip(chain[:-1], chain[1:]):
            if a == b:
                continue
            w = max(p1 - p0, 1e-9)
            if not G.has_edge(a, b) or G[a][b]["weight"] > w:
                G.add_edge(a, b, weight=w)
    for i in np.flatnonzero(snap.ok):
        G.add_edge(("p", i), ("b", i), weight=float(snap.snap_m[i]))
    return G


def reference_median(G, members, hh, snap) -> float:
    w = hh[members].astype(float)
    w = w if w.sum() > 0 else np.ones(len(members))
    best = np.inf
    for i in members:
        d = nx.single_source_dijkstra_path_length(G, ("b", i), weight="weight")
        walks = np.array([d[("b", j)] if j != i else 2 * snap.snap_m[i] for j in members])
        best = min(best, float((walks * w).sum() / w.sum()))
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grids", type=int, default=12, help="grids for the networkx reference (default 12)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    ds = load_sample()
    plan = partition(ds, seed=0)
    grids = plan.grid_ids
    net, snap = walk_context(ds)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        sug = suggest_grid_stations(ds, plan, grid_ids=grids)
        times.append(time.perf_counter() - t0)
    t_gp = statistics.median(times)
    print(f"gridplan: {len(grids)} grids in {t_gp:.2f} s (median of {args.repeats}), {1000 * t_gp / len(grids):.1f} ms/grid")
    print(f"straight-line centre: households walk {sug.attrs['centre_excess_pct']:.1f}% further on the network "
          f"(household-weighted over all grids); per grid median {sug['centre_excess_pct'].median():.1f}%, "
          f"mean {sug['centre_excess_pct'].mean():.1f}%, max {sug['centre_excess_pct'].max():.1f}%; "
          f"the centre building is the best one in {int((sug['centre_building_id'] == sug['building_id']).sum())} "
          f"of {len(sug)} grids")
    rng = np.random.default_rng(0)
    pick = sorted(rng.choice(len(grids), size=min(args.grids, len(grids)), replace=False).tolist())
    G = reference_graph(net, snap)
    hh = ds.buildings["households"].to_numpy()
    a = plan.assignment.reindex(ds.buildings.index).to_numpy()
    t0 = time.perf_counter()
    diffs = []
    for k in pick:
        members = np.flatnonzero((a == grids[k]) & snap.ok)
        ref = reference_median(G, members, hh, snap)
        diffs.append(abs(ref - sug.loc[grids[k], "mean_walk_m"]))
    t_nx = time.perf_counter() - t0
    t0 = time.perf_counter()
    suggest_grid_stations(ds, plan, grid_ids=[grids[k] for k in pick])
    t_gp_sub = time.perf_counter() - t0
    print(f"networkx reference: {len(pick)} grids in {t_nx:.2f} s; gridplan on the same grids {t_gp_sub:.2f} s "
          f"→ {t_nx / max(t_gp_sub, 1e-9):.0f}× faster; max |difference| of the best mean walk {max(diffs):.2e} m")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
