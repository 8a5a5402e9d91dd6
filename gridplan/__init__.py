"""gridplan — grid planning and the 15-minute red service circle for urban community governance.

The public API in one namespace (modules are imported on first use, so ``import gridplan`` stays
light)::

    import gridplan as gp
    ds = gp.load_sample()                      # or gp.read_dataset("my/folder", coord_system="gcj02")
    plan = gp.partition(ds, rule=gp.Rule(), seed=0)
    table = gp.grid_table(ds, plan)
    cov = gp.coverage(ds, plan=plan)
    sites = gp.suggest_stations(cov, 3)
    m = gp.make_map(ds, grids=gp.grids(ds, plan), assignment=plan.assignment)
"""
from importlib import import_module

from ._errors import CRSError, GridplanError, PlanError, Problem, ValidationError
from .model import FIELDS, ID_FIELD, LAYERS, STATION_KINDS, Dataset, Plan, Rule

__version__ = "0.1.0"

# These functions share their module's name, so they are bound eagerly: a lazy binding would
# be shadowed by the submodule the first time anything imports it.
from .coverage import coverage  # noqa: E402
from .io import validate  # noqa: E402
from .partition import partition  # noqa: E402

_LAZY = {
    "read_dataset": "io", "write_layers": "io",
    "load_sample": "demo", "sample_path": "demo",
    "reoptimise": "partition", "split_grid": "partition",
    "grid_table": "metrics", "grids": "metrics", "plan_summary": "metrics",
    "Coverage": "coverage", "isochrones": "coverage", "WALK_SPEED_KMH": "coverage",
    "suggest_stations": "stations",
    "make_map": "webmap",
    "export_data": "export", "export_ledger": "export", "export_html": "export", "export_poster": "export",
    "ProjectStore": "store",
    "grid_changes": "edit",
}


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'gridplan' has no attribute {name!r}")
    value = getattr(import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CRSError", "GridplanError", "PlanError", "Problem", "ValidationError",
    "FIELDS", "ID_FIELD", "LAYERS", "STATION_KINDS", "Dataset", "Plan", "Rule", "coverage", "partition", "validate", *_LAZY,
]
