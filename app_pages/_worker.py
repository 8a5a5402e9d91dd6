"""Work the app hands to a separate process (no streamlit import here, so the process starts fast).

The first partition of a dataset is CPU-bound pure Python for seconds; run in a thread of the
server it would hold the GIL and starve the server's event loop, delaying the first map. In its
own process it runs beside the server.
"""
from __future__ import annotations

import json
import time
from pathlib import Path


def load_by_key(key: str):
    """The dataset a source key (see ``common.dataset_key``) names."""
    if key == "sample":
        from gridplan.demo import load_sample
        return load_sample()
    from gridplan.io import read_dataset
    source = json.loads(key)
    path = Path(source["path"])
    return read_dataset(path, coord_system=source.get("coord_system"), column_map=source.get("column_map"),
                        name=source.get("name") or path.stem)


def partition_dataset(ds, rule: tuple, seed: int, code_width: int):
    """Partition a dataset (sent pickled: ~0.1 s for the sample); returns (assignment, label, seconds).

    The engine's defaults apply (work budget, wall-clock safety cap, automatic worker processes),
    so the plan is the one ``gridplan partition`` or a notebook gets for the same seed."""
    from gridplan.model import Rule
    from gridplan.engine import partition
    t0 = time.perf_counter()
    plan = partition(ds, rule=Rule(*rule), seed=seed, code_width=code_width)
    return plan.assignment, plan.label, time.perf_counter() - t0
