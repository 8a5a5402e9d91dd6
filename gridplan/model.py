"""The two values everything else works on: a :class:`Dataset` of layers and an immutable :class:`Plan`.

Conventions (the data contract of SPEC §2, after loading):

* every layer is a GeoDataFrame in the dataset's *metric* CRS (metres), whatever the input CRS was;
  ``Dataset.source_crs`` remembers the input CRS so outputs go back to it;
* each layer is indexed by its id as a string (``building_id``, ``compound_id``, ``community_id``,
  ``station_id``, ``road_id``), and the index is the join key between layers;
* field names are the canonical English ones of :data:`FIELDS`, whatever the input headers were.

A :class:`Plan` maps every building to one grid. It never changes: an edit returns a new plan (undo and
redo are a bounded :class:`gridplan.edit.History` of plans). Derived numbers (households per grid,
compliance, polygons) are computed from ``(dataset, plan)`` by :mod:`gridplan.metrics` and friends, once
per pair (:func:`derived`).
"""
from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from ._errors import PlanError, Problem
from .rule import Rule, RuleMode  # noqa: F401  (the rule is part of the model)

LAYERS: tuple[str, ...] = ("communities", "compounds", "buildings", "roads", "stations")

ID_FIELD: dict[str, str] = {
    "communities": "community_id",
    "compounds": "compound_id",
    "buildings": "building_id",
    "roads": "road_id",
    "stations": "station_id",
}

#: canonical non-id fields of each layer, with their kind (``str``, ``int``, ``bool``, ``float``)
FIELDS: dict[str, dict[str, str]] = {
    "communities": {"name": "str", "street": "str", "street_id": "str"},
    "compounds": {
        "name": "str",
        "community_id": "str",
        "property_company": "str",
        "has_property_mgmt": "bool",
        "has_competent_dept": "bool",
        "has_owners_committee": "bool",
        "party_org": "str",
    },
    "buildings": {
        "households": "int",
        "persons": "int",
        "party_members": "int",
        "central_households": "int",  # 党员中心户 designated in the building (gridplan.chain); a roster fills it
        "floors": "int",
        "units": "int",
        "building_no": "str",
        "compound_id": "str",
        "community_id": "str",
        "name": "str",
    },
    "roads": {"walkable": "bool", "kind": "str", "name": "str"},
    "stations": {"name": "str", "kind": "str", "community_id": "str"},
}

STATION_KINDS: dict[str, str] = {
    "red_station": "红色驿站",
    "grid_station": "郁心站",
    "mobile": "流动郁心站",
    "service_center": "党群服务中心",
}

@dataclass(frozen=True, eq=False)
class Dataset:
    """The layers of one city, in a metric CRS, with ids as index (see module doc)."""

    buildings: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame | None = None
    compounds: gpd.GeoDataFrame | None = None
    roads: gpd.GeoDataFrame | None = None
    stations: gpd.GeoDataFrame | None = None
    source_crs: CRS | None = None
    name: str = ""
    problems: tuple[Problem, ...] = ()
    #: the web-map offset of the input coordinates: ``"wgs84"`` (none), ``"gcj02"`` (Amap/Tencent) or
    #: ``"bd09"`` (Baidu); outputs are written back in it unless asked otherwise
    coord_system: str = "wgs84"
    #: the dated 三无/三有 status history of compounds (gridplan.sanwu), when the dataset has one
    compound_status: pd.DataFrame | None = None

    def __post_init__(self):
        for gdf in self.layers().values():
            _freeze(gdf)

    @property
    def crs(self) -> CRS:
        """The metric CRS every layer is in."""
        return self.buildings.crs

    def layer(self, name: str) -> gpd.GeoDataFrame | None:
        """The layer called ``name`` (``None`` when the dataset lacks it); ``KeyError`` for an unknown name."""
        if name not in LAYERS:
            raise KeyError(f"unknown layer {name!r}; layers are {', '.join(LAYERS)}")
        return getattr(self, name)

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """The layers present, by name."""
        return {n: getattr(self, n) for n in LAYERS if getattr(self, n) is not None}

    def replace(self, **changes) -> Dataset:
        """A new dataset with some layers or fields replaced (the original is untouched)."""
        return replace(self, **changes)

    def for_communities(self, community_ids) -> Dataset:
        """The buildings and compounds of some communities (the other layers kept whole), e.g. to
        draw one community in detail."""
        ids = {str(c) for c in ([community_ids] if isinstance(community_ids, str) else community_ids)}
        b = self.buildings
        changes = {"buildings": b[b["community_id"].astype(str).isin(ids).to_numpy()]}
        cp = self.compounds
        if cp is not None and "community_id" in cp.columns:
            changes["compounds"] = cp[cp["community_id"].astype(str).isin(ids).to_numpy()]
        return self.replace(**changes)

    def cache(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per dataset and key (cells, adjacency, engine arrays …).

        Layers are read-only (an in-place write raises), and a cached value is recomputed when a
        layer column was replaced since (``ds.buildings["households"] = …``), so a cache never
        serves numbers of data that changed. Use :meth:`replace` to change a dataset.
        """
        store = self._store()
        if key not in store:
            store[key] = compute()
        return store[key]

    def _store(self) -> dict:
        """The cache's store, emptied (and stamped anew) when a layer changed since it was filled."""
        stamp = self._stamp()
        try:
            store = _CACHE[self]
        except KeyError:
            store = _CACHE[self] = {}
        if not _same_stamp(store.get("\x00stamp"), stamp):
            for gdf in self.layers().values():     # columns added or replaced since: read-only too
                _freeze(gdf)
            store.clear()
            store["\x00stamp"] = stamp
        return store

    def _stamp(self) -> tuple:
        """Identity of every layer's columns: its blocks, their arrays and the labels of both axes. A
        replaced or added column gives its layer new blocks or a block a new array (``replace(…,
        inplace=True)``), renaming gives a new axis; numbers cannot change in place (layers are
        read-only). Compared by identity (:func:`_same_stamp`), as this runs on every cache lookup:
        the arrays' addresses and column positions took a tenth of a millisecond per layer."""
        return tuple((name, gdf._mgr.blocks, *gdf._mgr.axes, *(b.values for b in gdf._mgr.blocks))
                     for name, gdf in self.layers().items())

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """The problems of severity ``warning``."""
        return tuple(p for p in self.problems if p.severity == "warning")

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={len(g)}" for n, g in self.layers().items())
        return f"Dataset({self.name!r}, {parts}, crs=EPSG:{self.crs.to_epsg()})"


_CACHE: weakref.WeakKeyDictionary[Dataset, dict] = weakref.WeakKeyDictionary()


def _same_stamp(a, b) -> bool:
    """Whether two :meth:`Dataset._stamp` values are of the same layers' same columns."""
    return (a is not None and len(a) == len(b)
            and all(x[0] == y[0] and len(x) == len(y) and all(p is q for p, q in zip(x[1:], y[1:]))
                    for x, y in zip(a, b)))


def _freeze(gdf: pd.DataFrame) -> None:
    """Make a layer's numeric and geometry memory read-only, so an in-place write raises instead
    of changing data that cached results were computed from."""
    for blk in gdf._mgr.blocks:
        v = blk.values
        arr = v if isinstance(v, np.ndarray) else getattr(v, "_data", None)
        if isinstance(arr, np.ndarray) and arr.flags.writeable:
            arr.flags.writeable = False


def dataset_cache(dataset: Dataset, key: str, compute: Callable[[], Any]) -> Any:
    """:meth:`Dataset.cache` as a function (for the engine modules)."""
    return dataset.cache(key, compute)


def cached_values(dataset: Dataset) -> dict[str, Any]:
    """What :meth:`Dataset.cache` holds for ``dataset`` now (values of its current layers only), e.g.
    to keep them on disk (:mod:`gridplan.diskcache`)."""
    store = dict(dataset._store())                # a copy in one step: another thread may be adding to it
    return {k: v for k, v in store.items() if k != "\x00stamp"}


def restore_cached(dataset: Dataset, values: Mapping[str, Any]) -> None:
    """Give ``dataset`` cached values computed from the same data before (see :func:`cached_values`);
    keys it holds already are kept."""
    store = dataset._store()
    for k, v in values.items():
        store.setdefault(k, v)


def derived(dataset: Dataset, plan: Plan, key: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per (dataset, plan, key): the grid table, grid polygons … of a plan are
    computed once, whoever asks (GerryChain computes its partition statistics the same way).

    The value is dropped when the dataset's layers change (see :meth:`Dataset.cache`).
    """
    store = plan._derived
    stamp = dataset._stamp()
    hit = store.get((id(dataset), key))
    if hit is not None and hit[0]() is dataset and _same_stamp(hit[1], stamp):
        return hit[2]
    value = compute()
    if len(store) > 32:  # a plan is rarely asked about many datasets; keep the memory bounded
        store.clear()
    store[(id(dataset), key)] = (weakref.ref(dataset), stamp, value)
    return value


def plan_value(plan: Plan, key: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per plan: a value of the plan alone (its fingerprint …), kept beside the
    values :func:`derived` keeps for it (a plan is immutable)."""
    store = plan._derived
    k = (0, key)                        # 0: no dataset's id
    if k not in store:
        store[k] = compute()
    return store[k]


def _clean_assignment(values) -> pd.Series:
    s = values if isinstance(values, pd.Series) else pd.Series(dict(values), dtype=object)
    if s.index.has_duplicates:
        dup = s.index[s.index.duplicated()].unique()[:5].tolist()
        raise PlanError(f"a building appears more than once in the plan: {dup}")
    if s.isna().any():
        missing = s.index[s.isna()][:5].tolist()
        raise PlanError(f"buildings without a grid: {missing}")
    out = pd.Series(s.astype(str).to_numpy(dtype=object), index=pd.Index(s.index.astype(str), name="building_id"),
                    name="grid_id", dtype=object)
    return out


class Plan:
    """Which grid each building belongs to. Immutable: every edit returns a new Plan.

    Parameters
    ----------
    assignment
        Series (or mapping) from ``building_id`` to ``grid_id``.
    rule
        The size rule the plan is judged by.
    locked
        Grid ids the planner has locked (re-optimisation keeps them as they are).
    label
        A short description of the step that made this plan (shown in the app's history).

    ``plan.assignment`` returns a copy, so changing it never changes the plan.
    """

    __slots__ = ("_assignment", "rule", "locked", "label", "_derived")
    _assignment: pd.Series
    rule: Rule
    locked: frozenset[str]
    label: str
    _derived: dict[tuple[int, str], Any]

    def __init__(self, assignment, rule: Rule | None = None, locked: Iterable[str] = frozenset(),
                 label: str = ""):
        self._set(_clean_assignment(assignment), rule or Rule(), locked, label)

    def _set(self, assignment: pd.Series, rule: Rule, locked: Iterable[str], label: str) -> None:
        sa = object.__setattr__
        sa(self, "_assignment", assignment)
        sa(self, "rule", rule)
        sa(self, "locked", frozenset(str(g) for g in locked))
        sa(self, "label", label)
        sa(self, "_derived", {})

    def __setattr__(self, name, value):
        raise AttributeError("Plan is immutable; use an edit method (move, merge, …) to get a new plan")

    def __delattr__(self, name):
        self.__setattr__(name, None)

    @property
    def assignment(self) -> pd.Series:
        """building_id → grid_id (a copy)."""
        return self._assignment.copy()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str] | pd.Series, *, rule: Rule | None = None,
                     locked: Iterable[str] = (), label: str = "") -> Plan:
        """A plan from a building → grid mapping (a dict or a Series indexed by building id).

        Examples
        --------
        >>> plan = Plan.from_mapping({"B1": "G1", "B2": "G1", "B3": "G2"}, label="by hand")
        >>> len(plan), plan.grid_ids, plan.grid_of("B3")
        (3, ['G1', 'G2'], 'G2')
        >>> plan.move(["B3"], "G1").grid_ids, plan.grid_ids    # a new plan; this one is unchanged
        (['G1'], ['G1', 'G2'])
        """
        s = mapping if isinstance(mapping, pd.Series) else pd.Series(dict(mapping), dtype=object)
        return cls(s, rule=rule or Rule(), locked=frozenset(locked), label=label)

    def _derive(self, assignment: pd.Series, label: str, *, clean: bool = False, **changes) -> Plan:
        """A new plan; ``clean``: ``assignment`` is this plan's own, made by :meth:`_with_grids` (text grid
        ids on this plan's index), and is not checked again (an edit need not check 10⁵ ids)."""
        rule, locked = changes.get("rule", self.rule), changes.get("locked", self.locked)
        if not clean:
            return Plan(assignment, rule=rule, locked=locked, label=label)
        new = object.__new__(Plan)
        new._set(assignment, rule, locked, label)
        return new

    def _with_grids(self, positions, grid_id: str) -> pd.Series:
        """The assignment with the buildings at ``positions`` in ``grid_id`` (on this plan's index)."""
        values = self._assignment.to_numpy().copy()
        values[positions] = grid_id
        return pd.Series(values, index=self._assignment.index, name="grid_id", dtype=object)

    # ------------------------------------------------------------------ queries
    @property
    def grid_ids(self) -> list[str]:
        """The grid ids, sorted (a new list; computed once per plan)."""
        return list(plan_value(self, "grid_ids", lambda: sorted(self._assignment.unique().tolist())))

    def __len__(self) -> int:
        return len(self._assignment)

    def grid_of(self, building_id: str) -> str:
        """The grid of a building; :class:`PlanError` for an unknown building."""
        try:
            return self._assignment.loc[str(building_id)]
        except KeyError:
            raise PlanError(f"building {building_id!r} is not in the plan") from None

    def buildings_of(self, grid_id: str) -> pd.Index:
        """The ids of the buildings in a grid."""
        return self._assignment.index[self._assignment.to_numpy() == str(grid_id)]

    def same_assignment(self, other: Plan) -> bool:
        """Whether both plans assign every building to the same grid (ignoring rule, locks and label)."""
        a, b = self._assignment, other._assignment
        return len(a) == len(b) and a.sort_index().equals(b.sort_index())

    def diff(self, other: Plan) -> pd.DataFrame:
        """Buildings whose grid differs between ``self`` (``from``) and ``other`` (``to``)."""
        a, b = self._assignment, other._assignment
        if a.index.equals(b.index):         # the same buildings (an edit): no alignment
            x, y = a.to_numpy(), b.to_numpy()
            ne = x != y
            return pd.DataFrame({"from_grid": x[ne], "to_grid": y[ne]}, dtype=object,
                                index=pd.Index(a.index[ne], name="building_id"))
        j = pd.concat([a.rename("from_grid"), b.rename("to_grid")], axis=1)
        moved = j[j["from_grid"].fillna("∅") != j["to_grid"].fillna("∅")]
        moved.index.name = "building_id"
        return moved

    def check_against(self, building_ids: Iterable[str]) -> None:
        """Raise :class:`PlanError` unless the plan covers exactly these buildings."""
        ids = pd.Index([str(b) for b in building_ids])
        missing = ids.difference(self._assignment.index)
        extra = self._assignment.index.difference(ids)
        if len(missing) or len(extra):
            raise PlanError(
                f"the plan does not match the dataset: {len(missing)} building(s) without a grid "
                f"(e.g. {missing[:3].tolist()}), {len(extra)} unknown building(s) (e.g. {extra[:3].tolist()})"
            )

    # ------------------------------------------------------------------ edits (each returns a new Plan)
    def _require_unlocked(self, grid_ids: Iterable[str]) -> None:
        hit = sorted(set(grid_ids) & self.locked)
        if hit:
            raise PlanError(f"grid(s) {', '.join(hit)} are locked; unlock them first")

    def move(self, building_ids: Iterable[str], to_grid: str, *, label: str | None = None) -> Plan:
        """Move buildings to ``to_grid`` (an existing grid or a new id)."""
        ids = pd.Index([str(b) for b in building_ids]).unique()
        if len(ids) == 0:
            raise PlanError("no buildings selected to move")
        unknown = ids.difference(self._assignment.index)
        if len(unknown):
            raise PlanError(f"unknown building(s): {unknown[:5].tolist()}")
        to_grid = str(to_grid)
        pos = self._assignment.index.get_indexer(ids)
        self._require_unlocked(set(self._assignment.to_numpy()[pos].tolist()) | {to_grid})
        return self._derive(self._with_grids(pos, to_grid), label or f"move {len(ids)} building(s) to {to_grid}",
                            clean=True)

    def merge(self, keep: str, absorb: str, *, label: str | None = None) -> Plan:
        """Merge grid ``absorb`` into grid ``keep``."""
        keep, absorb = str(keep), str(absorb)
        for g in (keep, absorb):
            if g not in set(self._assignment.unique()):
                raise PlanError(f"unknown grid {g!r}")
        if keep == absorb:
            raise PlanError("cannot merge a grid with itself")
        self._require_unlocked([keep, absorb])
        return self._derive(self._with_grids(self._assignment.to_numpy() == absorb, keep),
                            label or f"merge {absorb} into {keep}", clean=True)

    def relabel(self, mapping: Mapping[str, str], *, label: str = "renumber") -> Plan:
        """Rename grids (e.g. after renumbering); locked ids follow their grids."""
        a = self._assignment.map(lambda g: mapping.get(g, g))
        locked = frozenset(mapping.get(g, g) for g in self.locked)
        return self._derive(a, label, locked=locked)

    def with_assignment(self, assignment: pd.Series | Mapping[str, str], *, label: str) -> Plan:
        """A child plan with a whole new assignment (the engine's re-optimisations use this)."""
        s = assignment if isinstance(assignment, pd.Series) else pd.Series(dict(assignment), dtype=object)
        return self._derive(s, label)

    def lock(self, grid_ids: Iterable[str]) -> Plan:
        """A plan with these grids locked as well."""
        g = frozenset(str(x) for x in grid_ids)
        return self._derive(self._assignment, f"lock {', '.join(sorted(g))}", locked=self.locked | g, clean=True)

    def unlock(self, grid_ids: Iterable[str]) -> Plan:
        """A plan with these grids no longer locked."""
        g = frozenset(str(x) for x in grid_ids)
        return self._derive(self._assignment, f"unlock {', '.join(sorted(g))}", locked=self.locked - g, clean=True)

    def with_rule(self, rule: Rule) -> Plan:
        """The same assignment under another size rule."""
        return self._derive(self._assignment, "change rule", rule=rule, clean=True)

    def __repr__(self) -> str:
        return f"Plan({len(self._assignment)} buildings, {self._assignment.nunique()} grids, label={self.label!r})"
