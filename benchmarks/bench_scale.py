"""A province on one process, a local pool and a Dask cluster (run on demand, issue 13).

    python benchmarks/bench_scale.py                                   # 60 cities × 150,000 households ≈ 9 M
    python benchmarks/bench_scale.py --cities 4 --households-per-city 20000     # a quick run
    python benchmarks/bench_scale.py --modes serial,dask2 --json scale.json

**Input.** A province generated once into ``benchmarks/out/province_<cities>x<households>/`` (ignored
by git) and reused: city ``i`` is the :mod:`benchmarks.cities` family ``FAMILIES[i % 5]`` (small
compounds, lognormal, estates, organic, uneven) with seed ``--seed + i``, each its own dataset folder.

**Runs** (the same command, :func:`gridplan.province.partition_many` — load, cells and adjacency,
solve, grid polygons, one plan GeoPackage per city — with the same seed), each in a fresh
subprocess so that its memory is its own:

* ``serial`` — one process (``n_jobs=1``);
* ``pool`` — gridplan's local process pool (``n_jobs=2``, per city);
* ``dask1``, ``dask2`` — a Dask ``LocalCluster`` of 1 and 2 single-threaded worker processes
  (``scheduler="local:N"``): the client loads and prepares the cities (pipelined with the
  workers' solving), scatters each city's compact arrays once and writes the plans;
* ``dask2c`` — the same 2 workers with whole cities as tasks (``--city-tasks``: the workers read the
  datasets and write the plans themselves; a shared folder).

**Reported**: wall time, tasks (communities) per second, the client's time split into loading,
preparing (cells, adjacency) and finishing (grid polygons, GeoPackage), the workers' solve time, peak
memory (the client process; the pool's children; each Dask worker as it reports through
``client.run``), bytes shipped (scattered, per task), Dask's own overhead per task (500 no-op tasks
on the same cluster), the machine's load average before and after; and whether all runs gave the
same plan for every city, building by building (from the GeoPackages written).

**Projection** to 16 and 64 workers, stated with its assumptions: the client-side work ``S``
(loading, preparing, finishing, measured in the ``serial`` run) stays on one machine; the solve
time ``P`` (the smaller of the workers' task seconds in ``dask1`` and the serial run's solve, as load
from other users inflates either) divides over N workers; the scheduler
spends the measured overhead per task serially; every byte shipped crosses a network of
``--bandwidth-mbps`` (default 1,000 Mbit/s) from the client. Two bounds are given: Amdahl (nothing
overlaps: ``S + P/N + tasks·o + bytes/B``) and pipelined (the client's work overlaps the workers':
``max(S, P/N + tasks·o) + bytes/B``, which this implementation approaches); and the longest single
task bounds any N from below.

The machine has 2 cores shared with other engineers: ``dask2`` and ``pool`` cannot beat ``serial``
by much, and timings are noisy; the load average is printed with each run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "benchmarks" / "out"
MODES = ("serial", "pool", "dask1", "dask2", "dask2c")


# --------------------------------------------------------------------------------- the province
def _write_city(args):
    family, folder, seed, households = args
    from benchmarks.cities import write
    t = time.perf_counter()
    write(family, folder, seed=seed, households=households)
    return time.perf_counter() - t


def province(cities: int, households: int, seed: int, jobs: int = 2) -> Path:
    """The province folder, generated on first use (a ``.complete`` marker is written last)."""
    from benchmarks.cities import FAMILIES
    root = OUT / f"province_{cities}x{households}_s{seed}"
    if (root / ".complete").exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    fams = sorted(FAMILIES)
    todo = []
    for i in range(cities):
        folder = root / f"city_{i:03d}"
        if not (folder / "city.gpkg").exists():
            todo.append((fams[i % len(fams)], folder, seed + i, households))
    t0 = time.perf_counter()
    print(f"generating {len(todo)} of {cities} cities of {households:,} households into {root} …", flush=True)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for k, _ in enumerate(pool.map(_write_city, todo), 1):
            if k % 10 == 0 or k == len(todo):
                print(f"  {k}/{len(todo)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    (root / ".complete").write_text(time.strftime("%Y-%m-%d %H:%M:%S"), encoding="utf-8")
    return root


# --------------------------------------------------------------------------------- one run (subprocess)
def _noop(i):
    return i


def _run(mode: str, prov: Path, out_dir: Path, seed: int) -> dict:
    from gridplan.province import partition_many
    load0 = os.getloadavg()
    res: dict = {"mode": mode}
    t0 = time.perf_counter()
    if mode in ("serial", "pool"):
        run = partition_many(prov, out_dir=out_dir, seed=seed, n_jobs=1 if mode == "serial" else 2)
        res["worker_peak_mb"] = {"pool children (largest)": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)} if mode == "pool" else {}
    else:
        from gridplan.cluster import connect, worker_memory
        n = int(mode[4:5])
        with connect(f"local:{n}") as client:
            t0 = time.perf_counter()            # the cluster's start-up is not the province's time
            run = partition_many(prov, out_dir=out_dir, seed=seed, client=client, city_tasks=mode.endswith("c"))
            wall = time.perf_counter() - t0
            res["worker_peak_mb"] = worker_memory(client)
            k = 500
            t = time.perf_counter()
            client.gather(client.map(_noop, range(k), pure=False))
            res["overhead_per_task_s"] = (time.perf_counter() - t) / k
        res["shipping"] = run.shipping
    res["seconds"] = wall if mode.startswith("dask") else time.perf_counter() - t0
    c = run.cities
    res.update({
        "cities": int(len(c)), "failed": int(c["error"].notna().sum()), "workers": run.workers,
        "tasks": int(c["communities"].sum()), "buildings": int(c["buildings"].sum()),
        "households": int(c["households"].sum()), "grids": int(c["grids"].sum()),
        "compliant_grids": int(c["compliant_grids"].sum()), "budget_reached": bool(c["budget_reached"].any()),
        "load_s": float(c["load_seconds"].sum()), "prepare_s": float(c["prepare_seconds"].sum()),
        "solve_s": float(c["solve_seconds"].sum()), "finish_s": float(c["finish_seconds"].sum()),
        "largest_task_s": run.shipping["task_seconds_max"] if run.shipping else None,
        "city_seconds": [float(x) for x in c[["load_seconds", "prepare_seconds", "solve_seconds",
                                              "finish_seconds"]].fillna(0).sum(axis=1)],
        "client_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_before": [round(x, 2) for x in load0], "load_after": [round(x, 2) for x in os.getloadavg()],
    })
    res["tasks_per_s"] = res["tasks"] / res["seconds"]
    return res


def _compare(prov: Path, dirs: dict[str, Path]) -> dict:
    """Per mode: cities whose plan differs from the first mode's (building by building)."""
    import pyogrio
    modes = list(dirs)
    ref = modes[0]
    diff = {m: [] for m in modes[1:]}
    for f in sorted(dirs[ref].glob("*.gpkg")):
        a = pyogrio.read_dataframe(f, layer="assignment", read_geometry=False).set_index("building_id")["grid_id"]
        for m in modes[1:]:
            g = dirs[m] / f.name
            if not g.exists():
                diff[m].append(f.stem)
                continue
            b = pyogrio.read_dataframe(g, layer="assignment", read_geometry=False).set_index("building_id")["grid_id"]
            if not (a.sort_index().index.equals(b.sort_index().index) and (a.sort_index() == b.sort_index()).all()):
                diff[m].append(f.stem)
    return diff


# --------------------------------------------------------------------------------- projection
def project(serial: dict, dask1: dict, overhead_s: float, bandwidth_mbps: float, workers=(1, 2, 4, 16, 64)) -> list:
    city = serial.get("city_seconds") or []
    S = serial["load_s"] + serial["prepare_s"] + serial["finish_s"] + max(
        serial["seconds"] - serial["load_s"] - serial["prepare_s"] - serial["finish_s"] - serial["solve_s"], 0.0)
    # the solve: the workers' task seconds, or the serial run's solve if that was measured on a quieter machine
    P = min(dask1["solve_s"], serial["solve_s"])
    tasks = dask1["tasks"]
    sh = dask1["shipping"]
    bytes_ = sh["bytes_scattered"] + sh["bytes_task_args"] + sh["bytes_task_results"]
    net = bytes_ * 8 / (bandwidth_mbps * 1e6)
    rows = []
    for n in workers:
        amdahl = S + P / n + tasks * overhead_s + net
        piped = max(S, P / n + tasks * overhead_s) + net
        cities = max(sum(city) / n, max(city, default=0.0)) + len(city) * overhead_s
        rows.append({"workers": n, "amdahl_s": amdahl, "pipelined_s": piped, "city_tasks_s": cities,
                     "speedup_amdahl": serial["seconds"] / amdahl, "speedup_pipelined": serial["seconds"] / piped,
                     "speedup_city_tasks": serial["seconds"] / cities if cities else None})
    return [{"S_client_s": S, "P_solve_s": P, "tasks": tasks, "overhead_per_task_s": overhead_s,
             "bytes_shipped": bytes_, "network_s": net, "serial_fraction": S / (S + P)}, rows]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cities", type=int, default=60)
    ap.add_argument("--households-per-city", type=int, default=150_000)
    ap.add_argument("--seed", type=int, default=0, help="seed of the first city (city i: seed + i)")
    ap.add_argument("--partition-seed", type=int, default=0)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--bandwidth-mbps", type=float, default=1000.0, help="assumed network for the projection")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    ap.add_argument("--run", default=None, help=argparse.SUPPRESS)       # internal: one mode in a subprocess
    ap.add_argument("--province", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out-dir", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.run:
        print(json.dumps(_run(a.run, Path(a.province), Path(a.out_dir), a.partition_seed)))
        return 0
    modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    bad = set(modes) - set(MODES)
    if bad:
        ap.error(f"unknown modes {sorted(bad)}; use {', '.join(MODES)}")
    prov = province(a.cities, a.households_per_city, a.seed)
    results, dirs = {}, {}
    for m in modes:
        out = OUT / f"{prov.name}_plans_{m}"
        out.mkdir(parents=True, exist_ok=True)
        for f in out.glob("*.gpkg"):
            f.unlink()
        print(f"— {m} (load {os.getloadavg()[0]:.2f}) …", flush=True)
        proc = subprocess.run([sys.executable, __file__, "--run", m, "--province", str(prov), "--out-dir", str(out),
                               "--partition-seed", str(a.partition_seed)], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        results[m] = json.loads(proc.stdout.strip().splitlines()[-1])
        dirs[m] = out
        r = results[m]
        print(f"  {r['seconds']:.1f} s, {r['tasks_per_s']:.2f} tasks/s, workers {r['workers']}, "
              f"load {r['load_before'][0]:.2f} → {r['load_after'][0]:.2f}", flush=True)
    diff = _compare(prov, dirs) if len(dirs) > 1 else {}
    first = next(iter(results.values()))
    print(f"\nprovince: {first['cities']} cities, {first['households']:,} households, {first['buildings']:,} buildings, "
          f"{first['tasks']} communities (tasks), {first['grids']:,} grids ({first['compliant_grids']:,} compliant)")
    print(f"{'mode':7} {'wall s':>8} {'×serial':>8} {'tasks/s':>8} {'load s':>7} {'prep s':>7} {'solve s':>8} "
          f"{'finish s':>8} {'client MB':>9}  worker peak MB")
    base = results.get("serial", first)["seconds"]
    for m, r in results.items():
        wp = ", ".join(f"{v:.0f}" for v in r["worker_peak_mb"].values()) or "—"
        print(f"{m:7} {r['seconds']:8.1f} {base / r['seconds']:8.2f} {r['tasks_per_s']:8.2f} {r['load_s']:7.1f} "
              f"{r['prepare_s']:7.1f} {r['solve_s']:8.1f} {r['finish_s']:8.1f} {r['client_peak_mb']:9.0f}  {wp}")
    for m, r in results.items():
        if "shipping" in r:
            sh = r["shipping"]
            print(f"{m}: scattered {sh['bytes_scattered'] / 1e6:.1f} MB once ({sh['bytes_scattered'] / r['buildings']:.0f} B "
                  f"per building), {sh['bytes_per_task'] / 1e3:.1f} kB per task "
                  f"(arguments {sh['bytes_task_args'] / sh['tasks']:.0f} B, "
                  f"result {sh['bytes_task_results'] / sh['tasks'] / 1e3:.1f} kB), retries {sh['retries']}, "
                  f"Dask overhead {r['overhead_per_task_s'] * 1e3:.1f} ms per task")
    same = all(not v for v in diff.values())
    print("identical plans in every run:", "yes" if same else f"NO: {diff}")
    proj = None
    if "serial" in results and "dask1" in results:
        o = min(r["overhead_per_task_s"] for r in results.values() if "overhead_per_task_s" in r)
        params, rows = project(results["serial"], results["dask1"], o, a.bandwidth_mbps)
        proj = {"assumptions": params, "rows": rows}
        print(f"\nprojection: client-side S = {params['S_client_s']:.0f} s (load, cells/adjacency, grid polygons + "
              f"GeoPackage; serial fraction {params['serial_fraction']:.1%}), solve P = {params['P_solve_s']:.0f} s over "
              f"{params['tasks']} tasks, Dask overhead {o * 1e3:.1f} ms/task, {params['bytes_shipped'] / 1e6:.0f} MB over "
              f"{a.bandwidth_mbps:g} Mbit/s = {params['network_s']:.1f} s")
        print(f"the longest single task took {results['dask1']['largest_task_s']:.1f} s: no N finishes sooner")
        print(f"{'workers':>7} {'Amdahl s':>9} {'×':>6} {'pipelined s':>11} {'×':>6} {'city tasks s':>12} {'×':>6}")
        for r in rows:
            print(f"{r['workers']:7d} {r['amdahl_s']:9.0f} {r['speedup_amdahl']:6.2f} {r['pipelined_s']:11.0f} "
                  f"{r['speedup_pipelined']:6.2f} {r['city_tasks_s']:12.0f} {r['speedup_city_tasks']:6.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"results": results, "identical": same, "differences": diff,
                                            "projection": proj}, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
