"""Reading the persistent cache (gridplan.diskcache) for the sample city, on demand.

    python benchmarks/bench_diskcache.py               # median of 15 runs

Times what a cold app server does when the sample is in the cache: read the dataset (key of the
files + entry), restore its derived arrays (cells, adjacency, the engine's arrays …) and take its
first plan. The peer is what the cache stored before it became data-only: ``pickle`` of the very
same values, read in the same run (the benchmark pickles only values it computed itself; the
library reads no pickle). Prints both and their ratio, and the entries' sizes.
"""
from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args(argv)
    os.environ["GRIDPLAN_CACHE_DIR"] = tempfile.mkdtemp(prefix="gridplan-bench-")
    from gridplan import _codec, diskcache
    from gridplan.demo import SAMPLE_NAME, sample_path, warm_sample_cache
    from gridplan.rule import Rule
    warm_sample_cache()
    import gridplan.engine  # noqa: F401  (imported by the app before derived arrays are read; not timed)

    def cached_load():
        t0 = time.perf_counter()
        ds = diskcache.read_dataset(sample_path(), name=SAMPLE_NAME, derived=False)
        t1 = time.perf_counter()
        assert diskcache.restore_derived(ds)
        assert diskcache.stored_plan(ds, rule=Rule()) is not None
        return t1 - t0, time.perf_counter() - t0

    ds = diskcache.read_dataset(sample_path(), name=SAMPLE_NAME, derived=False)
    key = diskcache.stored_key(ds)
    values = [diskcache.get("dataset", key), diskcache.get("derived", key)]
    blobs = [_codec.encode(v) for v in values]
    pickles = [pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL) for v in values]

    runs = [cached_load() for _ in range(args.repeat)]
    codec_t, pickle_t = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for b in blobs:
            _codec.decode(b)
        t1 = time.perf_counter()
        for p in pickles:
            pickle.loads(p)
        codec_t.append(t1 - t0)
        pickle_t.append(time.perf_counter() - t1)
    med = statistics.median
    print(f"load avg: {os.getloadavg()[0]:.2f}; median of {args.repeat}")
    print(f"cached sample: dataset {med(r[0] for r in runs) * 1e3:.1f} ms, "
          f"+ restore_derived + first plan {med(r[1] for r in runs) * 1e3:.1f} ms")
    print(f"decode dataset+derived: codec {med(codec_t) * 1e3:.1f} ms, pickle {med(pickle_t) * 1e3:.1f} ms, "
          f"ratio {med(codec_t) / med(pickle_t):.2f}x")
    print(f"sizes: codec {sum(map(len, blobs)) / 1e6:.2f} MB, pickle {sum(map(len, pickles)) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
