"""Benchmark: an A1 landscape poster of the whole sample city at 200 dpi (target: under 15 s),
plus the web map build and the standalone HTML size.

    python benchmarks/bench_poster.py [--formats png,pdf] [--repeat 1]

Prints one JSON line with wall and CPU times (``*_cpu_s``, less sensitive to a busy machine) and the
load average. Partitioning the sample is not timed.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--formats", default="png,pdf")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--paper", default="A1")
    p.add_argument("--dpi", type=int, default=200)
    args = p.parse_args()

    from gridplan import metrics, poster, webmap
    from gridplan.demo import load_sample
    from gridplan.engine import partition
    from gridplan.export import export_html

    ds = load_sample()
    plan = partition(ds, seed=0)
    grids = metrics.grids(ds, plan)
    poster.cjk_font()
    out: dict = {"buildings": len(ds.buildings), "grids": len(grids), "paper": args.paper, "dpi": args.dpi}
    with tempfile.TemporaryDirectory() as d:
        for fmt in args.formats.split(","):
            times, cpu = [], []
            for _ in range(args.repeat):
                t0, c0 = time.perf_counter(), time.process_time()
                f = poster.render_poster(ds, grids, Path(d) / f"poster.{fmt}", paper=args.paper, dpi=args.dpi,
                                         assignment=plan.assignment)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            out[f"poster_{fmt}_s"] = round(min(times), 2)
            out[f"poster_{fmt}_cpu_s"] = round(min(cpu), 2)
            out[f"poster_{fmt}_mb"] = round(f[0].stat().st_size / 1e6, 1)
        t0, c0 = time.perf_counter(), time.process_time()
        m = webmap.make_map(ds, grids=grids, assignment=plan.assignment)
        out["map_build_s"] = round(time.perf_counter() - t0, 2)
        m.get_root().render()
        out["map_build_render_s"] = round(time.perf_counter() - t0, 2)
        out["map_build_render_cpu_s"] = round(time.process_time() - c0, 2)
        t0 = time.perf_counter()
        h = export_html(ds, plan, Path(d) / "map.html", grids=grids)[0]
        out["html_s"] = round(time.perf_counter() - t0, 2)
        out["html_mb"] = round(h.stat().st_size / 1e6, 2)
    out["load_avg_1min"] = round(os.getloadavg()[0], 1)
    out["cpus"] = os.cpu_count()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
