"""Editing a plan by hand: edits, the check after every edit, selections and undo/redo.

Everything here is a pure function of immutable values, so the browser app (and a notebook) only
keeps a :class:`History` and calls :func:`apply` / :func:`check`::

    h = History.start(plan)
    new = apply(ds, h.current, Edit.move(["B0001", "B0002"], "510682001003"))
    report = check(ds, new, before=h.current)
    h = h.push(new); h = h.undo(); h = h.redo()

An edit that fails raises :class:`~gridplan.PlanError` and the plan stays as it was (plans never
change). The check report says, per grid, whether it meets the size rule, is contiguous and lies
in one community, and which grids the edit broke or fixed (from :func:`gridplan.metrics.grid_table`).
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from ._errors import PlanError
from .model import Dataset, Plan, dataset_cache, plan_value

log = logging.getLogger(__name__)

#: how many plans the undo history keeps
HISTORY_LIMIT = 200


# --------------------------------------------------------------------------- edits
@dataclass(frozen=True)
class Edit:
    """One editing step, as plain data (so it can be logged, replayed or sent over the wire).

    ``kind`` is one of ``move``, ``move_compound``, ``merge``, ``split``, ``lock``, ``unlock``,
    ``reoptimise``; ``args`` holds its arguments. Use the constructors (``Edit.move(...)``).
    """

    kind: str
    args: tuple = ()

    @classmethod
    def move(cls, building_ids: Iterable[str], to_grid: str) -> Edit:
        """Move buildings to a grid."""
        return cls("move", (tuple(str(b) for b in building_ids), str(to_grid)))

    @classmethod
    def move_compound(cls, compound_id: str, to_grid: str) -> Edit:
        """Move a whole compound to a grid."""
        return cls("move_compound", (str(compound_id), str(to_grid)))

    @classmethod
    def merge(cls, keep: str, absorb: str) -> Edit:
        """Merge grid ``absorb`` into grid ``keep``."""
        return cls("merge", (str(keep), str(absorb)))

    @classmethod
    def split(cls, grid_id: str, parts: int | None = None, seed: int = 0) -> Edit:
        """Split a grid (into ``parts``, or as many as the rule asks)."""
        return cls("split", (str(grid_id), None if parts is None else int(parts), int(seed)))

    @classmethod
    def lock(cls, grid_ids: Iterable[str]) -> Edit:
        """Lock grids (re-optimising leaves them alone)."""
        return cls("lock", (tuple(str(g) for g in grid_ids),))

    @classmethod
    def unlock(cls, grid_ids: Iterable[str]) -> Edit:
        """Unlock grids."""
        return cls("unlock", (tuple(str(g) for g in grid_ids),))

    @classmethod
    def reoptimise(cls, community_id: str, seed: int = 0) -> Edit:
        """Re-optimise one community, keeping its locked grids."""
        return cls("reoptimise", (str(community_id), int(seed)))

    def to_json(self) -> str:
        """The edit as a JSON object with its kind and arguments."""
        return json.dumps({"kind": self.kind, "args": self.args}, ensure_ascii=False)


def apply(dataset: Dataset, plan: Plan, edit: Edit, *, time_limit_s: float = 5.0) -> Plan:
    """The plan after ``edit``. Raises :class:`PlanError` if the edit is invalid.

    An edit that would change nothing (moving buildings into the grid they are already in)
    returns ``plan`` itself, so callers can tell with ``new is plan`` and keep no history step
    (:meth:`History.push` ignores it too).

    ``time_limit_s`` is the wall-clock safety cap of a split or re-optimisation (as everywhere in
    :mod:`gridplan.engine`): their search is budgeted in work units, so the same edit gives the
    same plan on any machine unless the cap fires.
    """
    k, a = edit.kind, edit.args
    if k == "move":
        ids, to_grid = a
        if _already_in(plan, ids, to_grid):
            return plan
        return plan.move(ids, to_grid, label=f"move {_few(ids)} → {to_grid}")
    if k == "move_compound":
        compound_id, to_grid = a
        ids = compound_buildings(dataset, compound_id)
        if len(ids) == 0:
            raise PlanError(f"compound {compound_id!r} has no buildings")
        if _already_in(plan, ids, to_grid):
            return plan
        return plan.move(ids, to_grid, label=f"move compound {compound_id} → {to_grid}")
    if k == "merge":
        keep, absorb = a
        return plan.merge(keep, absorb)
    if k == "split":
        from .engine import split_grid
        grid_id, parts, seed = a
        return split_grid(dataset, plan, grid_id, parts=parts, seed=seed, time_limit_s=time_limit_s)
    if k == "lock":
        unknown = set(a[0]) - set(plan.grid_ids)
        if unknown:
            raise PlanError(f"unknown grid(s): {', '.join(sorted(unknown))}")
        return plan.lock(a[0])
    if k == "unlock":
        return plan.unlock(a[0])
    if k == "reoptimise":
        from .engine import reoptimise
        community_id, seed = a
        return reoptimise(dataset, plan, community_id, seed=seed, time_limit_s=time_limit_s)
    raise PlanError(f"unknown edit {k!r}")


def _already_in(plan: Plan, building_ids, grid_id: str) -> bool:
    """True when every (known) building is in ``grid_id`` already (unknown ids are left to
    :meth:`Plan.move` to report)."""
    ids = [str(b) for b in building_ids]
    if not ids:
        return False
    a = plan._assignment
    pos = a.index.get_indexer(ids)          # a hash lookup per id (isin scanned the whole index per edit)
    if (pos < 0).any():
        return False
    return bool((a.to_numpy()[pos] == str(grid_id)).all())


def _few(ids, n: int = 3) -> str:
    ids = list(ids)
    head = ", ".join(ids[:n])
    return head + (f" … (+{len(ids) - n})" if len(ids) > n else "")


# --------------------------------------------------------------------------- checking
@dataclass(frozen=True, eq=False)
class CheckReport:
    """What an edit did to the grids.

    Attributes
    ----------
    table
        :func:`gridplan.metrics.grid_table` of the new plan (index ``grid_id``).
    changed
        Grids whose buildings changed (including grids that disappeared).
    broken
        Grids that do not comply after the edit (``compliant`` false), with ``reason_text``.
    newly_broken, fixed
        Grids that complied before and do not now, and the other way round.
    removed, added
        Grid ids that disappeared / appeared.
    """

    table: pd.DataFrame
    changed: tuple[str, ...] = ()
    broken: tuple[str, ...] = ()
    newly_broken: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the edit broke nothing that was fine before."""
        return not self.newly_broken

    def reasons(self, grid_ids: Iterable[str] | None = None) -> dict[str, str]:
        """Why each (given, else each broken) grid is not compliant."""
        t = self.table
        ids = [g for g in (self.broken if grid_ids is None else grid_ids) if g in t.index]
        col = "reason_text" if "reason_text" in t.columns else "reason"
        return {g: str(t.at[g, col]) if col in t.columns else "" for g in ids}

    def summary(self) -> dict:
        """Counts and grid ids of the check as a plain dict (for JSON and the CLI)."""
        return {"grids": int(len(self.table)), "compliant": int(self.table["compliant"].sum()),
                "changed": list(self.changed), "newly_broken": list(self.newly_broken),
                "fixed": list(self.fixed), "removed": list(self.removed), "added": list(self.added)}


def check(dataset: Dataset, plan: Plan, *, before: Plan | None = None) -> CheckReport:
    """Re-check the rule and contiguity of every grid of ``plan`` and compare with ``before``
    (the grid tables are computed once per plan, so checking after every edit is cheap)."""
    from . import metrics  # the engine and its imports are loaded when a plan is checked, not with this module
    t = metrics.grid_table(dataset, plan)
    compliant = t["compliant"].astype(bool)
    broken = tuple(t.index[~compliant].astype(str))
    if before is None:
        return CheckReport(table=t, broken=broken)
    bt = metrics.grid_table(dataset, before)
    moved = before.diff(plan)
    changed = sorted(set(moved["from_grid"].dropna().astype(str)) | set(moved["to_grid"].dropna().astype(str)))
    if before.locked != plan.locked:
        changed = sorted(set(changed) | (before.locked ^ plan.locked))
    was_ok = bt["compliant"].astype(bool)
    newly = [g for g in t.index[~compliant] if g not in was_ok.index or bool(was_ok.get(g, False))]
    # a grid that did not exist before and is broken now also counts as newly broken
    fixed = [g for g in t.index[compliant] if g in was_ok.index and not bool(was_ok[g])]
    removed = sorted(set(bt.index) - set(t.index))
    added = sorted(set(t.index) - set(bt.index))
    return CheckReport(table=t, changed=tuple(changed), broken=broken, newly_broken=tuple(map(str, newly)),
                       fixed=tuple(map(str, fixed)), removed=tuple(removed), added=tuple(added))


# --------------------------------------------------------------------------- undo / redo
@dataclass(frozen=True, eq=False)
class History:
    """An immutable undo/redo history: ``plans[index]`` is the current plan.

    ``push`` drops the redo tail (like every editor). At most :data:`HISTORY_LIMIT` plans are kept.
    """

    plans: tuple[Plan, ...]
    index: int = 0

    @classmethod
    def start(cls, plan: Plan) -> History:
        """A history holding one plan."""
        return cls((plan,), 0)

    @property
    def current(self) -> Plan:
        """The plan at the current position."""
        return self.plans[self.index]

    @property
    def can_undo(self) -> bool:
        """Whether there is a step to undo."""
        return self.index > 0

    @property
    def can_redo(self) -> bool:
        """Whether there is a step to redo."""
        return self.index < len(self.plans) - 1

    def push(self, plan: Plan) -> History:
        """The history with ``plan`` as the new current step (``self`` when ``plan`` is the
        current plan already: an edit that changed nothing adds no step)."""
        if plan is self.current:
            return self
        plans = self.plans[: self.index + 1] + (plan,)
        if len(plans) > HISTORY_LIMIT:
            plans = plans[-HISTORY_LIMIT:]
        return History(plans, len(plans) - 1)

    def undo(self) -> History:
        """One step back; raises :class:`PlanError` when there is none."""
        if not self.can_undo:
            raise PlanError("nothing to undo")
        return History(self.plans, self.index - 1)

    def redo(self) -> History:
        """One step forward; raises :class:`PlanError` when there is none."""
        if not self.can_redo:
            raise PlanError("nothing to redo")
        return History(self.plans, self.index + 1)

    def labels(self) -> list[str]:
        """The label of every step, oldest first."""
        return [p.label for p in self.plans]

    def __len__(self) -> int:
        return len(self.plans)


# --------------------------------------------------------------------------- selections
def _points(dataset: Dataset) -> np.ndarray:
    """A representative point (x, y in the metric CRS) per building, in ``dataset.buildings`` order."""
    def compute():
        g = dataset.buildings.geometry.values
        pts = shapely.point_on_surface(g)
        return np.column_stack([shapely.get_x(pts), shapely.get_y(pts)])
    return dataset_cache(dataset, "edit_points", compute)


def _to_metric(dataset: Dataset, crs) -> Transformer:
    from .crs import transformer
    return transformer(crs, dataset.crs)


def _geometry(geom) -> shapely.Geometry:
    if isinstance(geom, shapely.Geometry):
        return geom
    if isinstance(geom, Mapping):
        if geom.get("type") == "Feature":
            geom = geom.get("geometry")
        if geom is None:
            raise PlanError("the drawn shape has no geometry")
        from shapely.geometry import shape
        try:
            return shape(geom)
        except Exception as e:  # noqa: BLE001 - a malformed drawing is a clear error, not a traceback
            raise PlanError(f"cannot read the drawn shape ({e})") from None
    raise PlanError(f"cannot read a shape from {type(geom).__name__}")


def buildings_within(dataset: Dataset, shape, *, crs="EPSG:4326") -> pd.Index:
    """Buildings whose representative point lies inside ``shape`` (a lasso/rectangle/circle drawn
    on the map: a GeoJSON Feature or geometry dict, or a shapely geometry, in ``crs``).

    A drawn point or line selects nothing; the ids come back in dataset order.
    """
    g = _geometry(shape)
    if g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
        return pd.Index([], name="building_id", dtype=object)
    if crs is not None:
        tr = _to_metric(dataset, crs)
        g = shapely.transform(g, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))
    if not g.is_valid:
        g = shapely.make_valid(g)
    xy = _points(dataset)
    inside = shapely.contains_xy(g, xy[:, 0], xy[:, 1])
    return pd.Index(dataset.buildings.index[inside].astype(str), name="building_id", dtype=object)


def building_at(dataset: Dataset, lon: float, lat: float, *, crs="EPSG:4326", max_m: float = 25.0) -> str | None:
    """The building under (or within ``max_m`` metres of) a clicked point, or ``None``."""
    tree = dataset_cache(dataset, "edit_tree", lambda: shapely.STRtree(dataset.buildings.geometry.values))
    x, y = _to_metric(dataset, crs).transform(lon, lat)
    p = shapely.Point(x, y)
    idx, dist = tree.query_nearest(p, max_distance=max_m, return_distance=True)
    if len(idx) == 0:
        return None
    return str(dataset.buildings.index[int(idx[np.argmin(dist)])])


def compound_of(dataset: Dataset, building_id: str) -> str | None:
    """The compound of a building, or ``None`` when it has none (or the dataset has no compounds)."""
    b = dataset.buildings
    if "compound_id" not in b.columns or str(building_id) not in b.index:
        return None
    v = b.at[str(building_id), "compound_id"]
    return None if pd.isna(v) or v == "" else str(v)


def compound_buildings(dataset: Dataset, compound_id: str) -> pd.Index:
    """The buildings of a compound (a whole 小区 moves together)."""
    b = dataset.buildings
    if "compound_id" not in b.columns:
        return pd.Index([], name="building_id", dtype=object)
    return pd.Index(b.index[b["compound_id"].astype(str).to_numpy() == str(compound_id)].astype(str),
                    name="building_id", dtype=object)


def selection_summary(dataset: Dataset, plan: Plan, building_ids: Iterable[str]) -> dict:
    """Households, persons, the grids and compounds a selection touches."""
    ids = pd.Index([str(b) for b in building_ids]).unique()
    ids = ids.intersection(dataset.buildings.index)
    b = dataset.buildings.loc[ids]
    a = plan.assignment.reindex(ids)
    comps = b["compound_id"].dropna().astype(str) if "compound_id" in b.columns else pd.Series(dtype=object)
    comms = b["community_id"].dropna().astype(str) if "community_id" in b.columns else pd.Series(dtype=object)
    return {
        "buildings": int(len(ids)),
        "households": int(b["households"].sum()) if "households" in b.columns else 0,
        "persons": int(b["persons"].sum()) if "persons" in b.columns else 0,
        "grids": sorted(a.dropna().unique().tolist()),
        "compounds": sorted(comps.unique().tolist()),
        "communities": sorted(comms.unique().tolist()),
    }


def community_of_grid(dataset: Dataset, plan: Plan, grid_id: str) -> str | None:
    """The community most buildings of a grid belong to (a tie: the lowest id; the grid table's
    ``community_id``)."""
    from .tessellate import grid_community
    if "community_id" not in dataset.buildings.columns:
        return None
    return grid_community(dataset, plan, grid_id)


def grids_of_community(dataset: Dataset, plan: Plan, community_id: str) -> list[str]:
    """The grids holding buildings of a community (move targets that keep the nesting)."""
    from .tessellate import community_labels, grid_codes
    b = dataset.buildings
    if "community_id" not in b.columns:
        return plan.grid_ids
    codes, grid_ids = grid_codes(dataset, plan)         # once per plan (the app asks on every rerun)
    return sorted(grid_ids[np.unique(codes[community_labels(dataset) == str(community_id)])].tolist())


def new_grid_id(dataset: Dataset, plan: Plan, community_id: str) -> str:
    """The next free grid code of a community (community code + serial)."""
    from .codes import next_codes
    grids = plan.grid_ids
    width = max([len(g) - len(community_id) for g in grids
                 if g.startswith(community_id) and g[len(community_id):].isdigit()] or [2])
    return next_codes(str(community_id), grids, 1, width)[0]


# --------------------------------------------------------------------------- comparing plans
def grid_changes(a: Plan, b: Plan) -> pd.DataFrame:
    """Per grid of either plan: buildings in ``a`` and ``b``, buildings moved out and in, status.

    ``status`` is ``unchanged``, ``changed``, ``added`` (only in ``b``) or ``removed`` (only in ``a``).
    Only grids that are not unchanged are listed unless ``all`` is wanted (filter on ``status``).
    """
    sa, sb = a.assignment, b.assignment
    na, nb = sa.value_counts(), sb.value_counts()
    moved = a.diff(b)
    out_ = moved["from_grid"].dropna().value_counts()
    in_ = moved["to_grid"].dropna().value_counts()
    ids = sorted(set(na.index) | set(nb.index))
    t = pd.DataFrame({
        "buildings_a": na.reindex(ids).fillna(0).astype(int),
        "buildings_b": nb.reindex(ids).fillna(0).astype(int),
        "moved_out": out_.reindex(ids).fillna(0).astype(int),
        "moved_in": in_.reindex(ids).fillna(0).astype(int),
    }, index=pd.Index(ids, name="grid_id"))
    status = np.where(t["buildings_a"] == 0, "added",
                      np.where(t["buildings_b"] == 0, "removed",
                               np.where((t["moved_out"] + t["moved_in"]) > 0, "changed", "unchanged")))
    t["status"] = status
    return t


# --------------------------------------------------------------------------- keys and per-grid coverage
def fingerprint(plan: Plan) -> str:
    """A short content hash of a plan (assignment, rule, locked grids): equal plans, equal keys.

    Used as a cache key for figures derived from ``(dataset, plan)``; computed once per plan.
    """
    def compute():
        a = plan.assignment.sort_index()
        h = hashlib.sha1(pd.util.hash_pandas_object(a, index=True).to_numpy().tobytes())
        h.update(json.dumps(plan.rule.as_dict(), sort_keys=True).encode())
        h.update("|".join(sorted(plan.locked)).encode())
        return h.hexdigest()[:16]
    return plan_value(plan, "fingerprint", compute)


def dataset_fingerprint(dataset: Dataset) -> str:
    """A short content hash of a dataset: building ids, counts and footprints, and the ids of the
    other layers. Two uploads of the same files give the same key; any change to a building gives
    another. Used to key a dataset's saved versions and drafts (computed once per dataset)."""
    def compute():
        h = hashlib.sha1()
        for name, gdf in dataset.layers().items():
            h.update(f"{name}:{len(gdf)}".encode())
            h.update(pd.util.hash_pandas_object(pd.Series(gdf.index.astype(str)), index=False).to_numpy().tobytes())
            if name == "buildings":
                for c in ("households", "persons", "community_id", "compound_id"):
                    if c in gdf.columns:
                        h.update(pd.util.hash_pandas_object(gdf[c].astype(str), index=False).to_numpy().tobytes())
                h.update(np.round(shapely.bounds(gdf.geometry.values), 2).tobytes())
        return h.hexdigest()[:16]
    return dataset_cache(dataset, "fingerprint", compute)


def grid_coverage(plan: Plan, buildings: pd.DataFrame) -> pd.DataFrame:
    """Households covered per grid of ``plan`` from a per-building coverage table
    (index ``building_id``, ``households``, ``covered``), e.g. ``CoverageResult.buildings``.

    Returns ``households``, ``covered_households`` and ``pct_covered`` (0–100) indexed by grid_id.
    """
    ids = buildings.index.astype(str)
    a = plan._assignment
    g = (a if a.index.equals(ids) else a.reindex(ids)).to_numpy()
    codes, grid_ids = pd.factorize(g, sort=True)          # a building in no grid of the plan: -1, left out
    known = codes >= 0
    hh = buildings["households"]
    h = pd.to_numeric(hh, errors="coerce").fillna(0).to_numpy(dtype=float)[known]     # (as a sum skips a gap)
    covered = buildings["covered"].astype(bool).to_numpy()[known]
    t = pd.DataFrame({"households": np.bincount(codes[known], h, minlength=len(grid_ids)),
                      "covered_households": np.bincount(codes[known], np.where(covered, h, 0.0), minlength=len(grid_ids))},
                     index=pd.Index(np.asarray(grid_ids, dtype=object), name="grid_id"))
    if pd.api.types.is_integer_dtype(hh):
        t = t.round().astype(np.int64)
    t["pct_covered"] = np.where(t["households"] > 0, 100.0 * t["covered_households"] / t["households"].clip(lower=1),
                                np.nan)
    return t


# --------------------------------------------------------------------------- map helpers (lon/lat for web maps)
def to_metric(dataset: Dataset, lon: float, lat: float, *, crs="EPSG:4326") -> tuple[float, float]:
    """A clicked point (lon/lat) in the dataset's metric CRS (e.g. where to add a station)."""
    x, y = _to_metric(dataset, crs).transform(lon, lat)
    return float(x), float(y)


def view_bounds(gdf) -> list[list[float]] | None:
    """``[[south, west], [north, east]]`` (lon/lat) of a layer, for fitting a web map; None if empty."""
    if gdf is None or not len(gdf):
        return None
    from .crs import transform_geoms
    x0, y0, x1, y1 = shapely.total_bounds(transform_geoms(gdf.geometry.to_numpy(), gdf.crs, 4326))
    if not np.all(np.isfinite([x0, y0, x1, y1])):
        return None
    return [[float(y0), float(x0)], [float(y1), float(x1)]]


def view_of(bounds, *, width_px: int = 800, height_px: int = 640, max_zoom: int = 18,
            padding: float = 0.1) -> tuple[tuple[float, float], int] | None:
    """The centre ``(lat, lon)`` and the largest web-map zoom (Web Mercator, 256-px tiles) at which
    ``bounds`` (``[[south, west], [north, east]]``, :func:`view_bounds`) fit a ``width_px`` ×
    ``height_px`` map with ``padding`` (share of each side) to spare; ``None`` for no bounds."""
    if bounds is None:
        return None
    (s, w), (n, e) = bounds

    def merc_y(lat):
        lat = np.clip(np.radians(lat), -1.4844, 1.4844)
        return np.log(np.tan(np.pi / 4 + lat / 2)) / (2 * np.pi)

    dx = max((e - w) / 360.0, 1e-12)
    dy = max(float(merc_y(n) - merc_y(s)), 1e-12)
    room = 1.0 - 2 * float(padding)
    z = np.floor(np.log2(min(width_px * room / (256 * dx), height_px * room / (256 * dy))))
    lat = float(np.degrees(2 * np.arctan(np.exp((merc_y(n) + merc_y(s)) * np.pi)) - np.pi / 2))
    return (round(lat, 6), round((w + e) / 2, 6)), int(min(max(z, 1), max_zoom))


def grid_center(grids, grid_id: str) -> tuple[float, float] | None:
    """(lat, lon) of a point inside a grid polygon (``grids`` as :func:`gridplan.metrics.grids`)."""
    if grids is None or grid_id not in grids.index:
        return None
    from .crs import transform_geoms
    p = transform_geoms([grids.loc[grid_id].geometry.representative_point()], grids.crs, 4326)[0]
    return round(p.y, 6), round(p.x, 6)


def buildings_geojson(dataset: Dataset, building_ids: Iterable[str], **properties) -> dict | None:
    """The footprints of some buildings as a lon/lat GeoJSON FeatureCollection (e.g. the selection)."""
    b = dataset.buildings
    b = b.loc[b.index.intersection([str(i) for i in building_ids])]
    if not len(b):
        return None
    fc = json.loads(b[[b.geometry.name]].to_crs(4326).to_json(drop_id=True))
    for f in fc["features"]:
        f["properties"] = dict(properties)
    return fc
