"""gridplan — grid planning and the 15-minute red service circle for urban community governance.

The public API in one namespace (modules are imported on first use, so ``import gridplan`` stays
light)::

    import gridplan as gp
    ds = gp.load_sample()                      # or gp.read_dataset("my/folder", coord_system="gcj02")
    plan = gp.partition(ds, rule=gp.Rule(), seed=0)
    table = gp.grid_table(ds, plan)
    cov = gp.Coverage(ds, plan=plan)
    sites = gp.suggest_stations(cov, 3)
    m = gp.make_map(ds, grids=gp.grids(ds, plan), assignment=plan.assignment)

Where things live (floors from the ground up; imports only point down):

1. ``_errors`` (exceptions), ``rule`` (the size rule and its arithmetic), ``model`` (Dataset, Plan)
2. ``crs``, ``checks`` (collecting validation), ``io`` (read and write every format)
3. engines: ``adjacency``, ``tessellate``, ``engine`` (partition), ``codes``, ``metrics``;
   ``network``, ``reach`` (coverage), ``stations``; ``edit``, ``store``, ``diskcache`` (loaded datasets and
   first partitions kept on disk, keyed by content and code version); the party chain: ``tables``
   (reading typed tables), ``staff`` (网格长/网格员), ``gridstations`` (郁心站 per grid), ``mobile``
   (流动郁心站), ``chain`` (五级组织, 党员中心户), ``sanwu`` (三无 → 三有); ``cluster`` (the same partition and
   coverage on a Dask cluster), ``province`` (many datasets in one run)
4. presentation: ``webmap``, ``poster``, ``export``, ``roster`` (household rosters to building counts,
   with its report)
5. entry points: ``cli``, ``demo``, ``sample`` (and ``sample_chain``, ``sample_roster``); the app (``app.py``) lives
   outside the package.

No module is named like a function of this namespace, so ``import gridplan.engine`` always gives
the module and ``gridplan.partition`` always the function.
"""
from importlib import import_module

from ._errors import (
    ClusterError,
    CRSError,
    GridplanError,
    PlanError,
    Problem,
    RosterError,
    StoreAccessError,
    StoreConflict,
    StoreError,
    ValidationError,
)
from .model import FIELDS, ID_FIELD, LAYERS, STATION_KINDS, Dataset, Plan
from .rule import Rule

__version__ = "0.2.0"

_LAZY = {
    "read_dataset": "io", "write_layers": "io", "validate": "io",
    "load_sample": "demo", "sample_path": "demo",
    "partition": "engine", "partition_run": "engine", "reoptimise": "engine", "split_grid": "engine",
    "grid_table": "metrics", "grids": "metrics", "plan_summary": "metrics",
    "Coverage": "reach", "coverage": "reach", "isochrones": "reach", "WALK_SPEED_KMH": "reach",
    "suggest_stations": "stations",
    "make_map": "webmap",
    "export_data": "export", "export_ledger": "export", "export_hierarchy": "export", "export_html": "export",
    "export_poster": "export",
    "export_audit": "export",
    "open_store": "store", "PlanStore": "store",
    "grid_changes": "edit", "History": "edit",
    # the party chain (issue 15): grid staff, 郁心站 per grid, mobile stops, 党员中心户, 三无 → 三有
    "read_staff": "staff", "StaffAssignment": "staff", "mask_phone": "staff",
    "grid_station_status": "gridstations", "suggest_grid_stations": "gridstations",
    "adopt_grid_stations": "gridstations",
    "read_schedule": "mobile", "mobile_coverage": "mobile",
    "central_household_need": "chain", "party_chain": "chain",
    "read_compound_status": "sanwu", "write_compound_status": "sanwu", "sanwu_progress": "sanwu",
    "plot_sanwu_progress": "sanwu",
    "apply_roster": "roster", "read_roster": "roster", "match_roster": "roster", "write_roster_output": "roster",
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
    "ClusterError", "CRSError", "GridplanError", "PlanError", "Problem", "RosterError", "StoreAccessError", "StoreConflict",
    "StoreError", "ValidationError",
    "FIELDS", "ID_FIELD", "LAYERS", "STATION_KINDS", "Dataset", "Plan", "Rule", *_LAZY,
]
