"""The 15-minute walking service circle (SPEC §4): exact per-building walk distances, coverage
tables, isochrone polygons for display, and cheap what-if edits.

Coverage is decided per building by arithmetic on the walking network (see
:mod:`gridplan.network`): a building's walk is its snap distance, plus the network distance to
the nearest point of its road reached from a station, plus that station's snap distance. The
polygons of :func:`isochrones` are for display only.

Typical use::

    cov = Coverage(dataset, plan=plan)          # builds the network and snaps buildings once
    res = cov.result()                           # CoverageResult: tables per building/grid/…
    cov2 = cov.with_station((x, y))              # what-if: a new station, milliseconds
    res2 = cov2.result()
    gdf = isochrones(res, per_station=True)

Defaults follow GB 50180-2018: 15 minutes at 4 km/h (1,000 m), bands of 5/10/15 minutes.
"""
from __future__ import annotations

import copy
import functools
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import Problem
from .model import STATION_KINDS, Dataset, Plan
from .network import Snapped, WalkNetwork, _as_points, build_network, same_edge_improve

log = logging.getLogger(__name__)

#: walking speeds (km/h): the GB 50180-2018 default and a preset for elderly residents
WALK_SPEED_KMH: dict[str, float] = {"default": 4.0, "elderly": 3.2}
#: default time bands (minutes)
DEFAULT_MINUTES: tuple[float, ...] = (5.0, 10.0, 15.0)
#: tolerance when comparing a walk with a band limit (metres)
_EPS_M = 1e-7


def minutes_to_m(minutes, speed_kmh: float = 4.0):
    """Walk distance in metres for ``minutes`` at ``speed_kmh`` (15 min at 4 km/h = 1,000 m).

    Examples
    --------
    >>> minutes_to_m([5, 15]).tolist()
    [333.3333333333333, 1000.0]
    """
    return np.asarray(minutes, dtype=float) * float(speed_kmh) * 1000.0 / 60.0


def _norm_minutes(minutes) -> tuple[float, ...]:
    if isinstance(minutes, (int, float)):
        minutes = (minutes,)
    m = sorted({float(x) for x in minutes})
    if not m or any(x <= 0 or not np.isfinite(x) for x in m):
        raise ValueError(f"minutes must be positive numbers, got {minutes!r}")
    return tuple(m)


def _speed(speed_kmh) -> float:
    if isinstance(speed_kmh, str):
        try:
            return WALK_SPEED_KMH[speed_kmh]
        except KeyError:
            raise ValueError(f"unknown speed preset {speed_kmh!r}; use one of {', '.join(WALK_SPEED_KMH)} "
                             "or a number of km/h") from None
    s = float(speed_kmh)
    if not (s > 0 and np.isfinite(s)):
        raise ValueError(f"speed_kmh must be a positive number, got {speed_kmh!r}")
    return s


def parse_minutes(text) -> tuple[float, ...]:
    """Time bands typed by a user: ``"5,10,15"`` (full-width commas and spaces too) → ``(5.0, 10.0, 15.0)``.

    Raises ValueError with a message that says what is wrong and how to write it.

    Examples
    --------
    >>> parse_minutes("15，5, 10")
    (5.0, 10.0, 15.0)
    """
    parts = [x for x in str(text).replace("，", ",").replace("、", ",").replace(" ", ",").split(",") if x.strip()]
    try:
        vals = [float(x) for x in parts]
    except ValueError:
        raise ValueError(f"步行时间圈应为逗号分隔的正数分钟，如 5,10,15；收到 {text!r} / "
                         f"minutes take positive numbers separated by commas (e.g. 5,10,15), got {text!r}") from None
    if not vals or any(not (v > 0 and np.isfinite(v)) for v in vals):
        raise ValueError(f"步行时间圈必须是大于 0 的分钟数，如 5,10,15；收到 {text!r} / "
                         f"minutes must be positive numbers (e.g. 5,10,15), got {text!r}")
    return _norm_minutes(vals)


def parse_speed(text):
    """A walking speed typed by a user: a number of km/h or a preset name (``elderly``).

    Raises ValueError with a message that says what is wrong and how to write it.

    Examples
    --------
    >>> parse_speed(" 4.5 "), parse_speed("elderly")
    (4.5, 'elderly')
    """
    t = str(text).strip()
    if t in WALK_SPEED_KMH:
        return t
    try:
        return _speed(float(t))
    except ValueError:
        raise ValueError(f"步行速度应为正数（公里/小时）或 {', '.join(WALK_SPEED_KMH)}；收到 {text!r} / "
                         f"speed takes a positive number of km/h or a preset ({', '.join(WALK_SPEED_KMH)}), "
                         f"got {text!r}") from None


def parse_kinds(text) -> tuple[str, ...]:
    """Station kinds typed by a user: ``"red_station,service_center"``.

    Examples
    --------
    >>> parse_kinds("red_station，service_center")
    ('red_station', 'service_center')
    """
    from .model import STATION_KINDS
    kinds = tuple(k.strip() for k in str(text).replace("，", ",").split(",") if k.strip())
    bad = [k for k in kinds if k not in STATION_KINDS]
    if bad or not kinds:
        raise ValueError(f"站点类型应取 {', '.join(STATION_KINDS)}；收到 {text!r} / "
                         f"station kinds are among {', '.join(STATION_KINDS)}, got {text!r}")
    return kinds


def _station_table(stations: gpd.GeoDataFrame | None, crs) -> gpd.GeoDataFrame:
    cols = ["name", "kind", "active"]
    if stations is None or len(stations) == 0:
        g = gpd.GeoDataFrame({c: pd.Series(dtype=object if c != "active" else bool) for c in cols},
                             geometry=gpd.GeoSeries([], crs=crs), crs=crs)
        g.index = pd.Index([], dtype=object, name="station_id")
        return g
    if stations.crs is not None and crs is not None and stations.crs != crs:
        stations = stations.to_crs(crs)
    g = gpd.GeoDataFrame(index=stations.index.astype(str), geometry=stations.geometry.values, crs=stations.crs or crs)
    g["name"] = stations["name"].astype(object).to_numpy() if "name" in stations.columns else None
    if "kind" in stations.columns:
        g["kind"] = stations["kind"].fillna("red_station").astype(str).to_numpy()
    else:
        g["kind"] = "red_station"
    g["active"] = stations["active"].fillna(True).astype(bool).to_numpy() if "active" in stations.columns else True
    g.index.name = "station_id"
    return g


@dataclass(frozen=True, eq=False)
class _Reach:
    """Node and building distances for one set of sources."""

    node_dist: np.ndarray
    node_owner: np.ndarray  # index into the station table, -1 = none
    dist: np.ndarray  # per building, inf = unreachable
    owner: np.ndarray


class Coverage:
    """A reusable coverage analysis: the network is built and the buildings snapped once; station
    edits (:meth:`with_station`, :meth:`without_stations`, :meth:`with_active`) return new
    analyses sharing that work, so a what-if costs one multi-source Dijkstra.

    Parameters
    ----------
    dataset
        The city; needs ``buildings`` and ``roads`` (``stations`` may be empty or missing).
    plan
        Optional plan, for coverage per grid.
    minutes
        Time bands in minutes (the largest decides ``covered``).
    speed_kmh
        Walking speed in km/h, or a preset name of :data:`WALK_SPEED_KMH` (``"elderly"``).
    kinds
        Station kinds that count for coverage (default: red stations 红色驿站).
    stations
        A station layer replacing ``dataset.stations`` (indexed by station_id, ``kind`` column,
        optional boolean ``active``).
    network
        A prebuilt :class:`~gridplan.network.WalkNetwork` (built from ``dataset.roads`` otherwise).
    max_snap_m
        Buildings and stations further than this from the walkable network are unreachable.
    limit_m
        Stop the search this far from the stations (``None``: the whole network, so the nearest
        station of each kind is known however far). Must be at least the largest band.
    """

    def __init__(self, dataset: Dataset, *, plan: Plan | None = None, minutes: Sequence[float] = DEFAULT_MINUTES,
                 speed_kmh: float | str = 4.0, kinds: Iterable[str] = ("red_station",),
                 stations: gpd.GeoDataFrame | None = None, network: WalkNetwork | None = None,
                 max_snap_m: float = 300.0, limit_m: float | None = None, _shared: dict | None = None):
        self.dataset = dataset
        self.plan = plan
        self.minutes = _norm_minutes(minutes)
        self.speed_kmh = _speed(speed_kmh)
        self.kinds = tuple(kinds) if not isinstance(kinds, str) else (kinds,)
        unknown = [k for k in self.kinds if k not in STATION_KINDS]
        if unknown:
            raise ValueError(f"unknown station kind(s) {unknown}; use {', '.join(STATION_KINDS)}")
        self.max_snap_m = float(max_snap_m)
        self.band_m = tuple(float(x) for x in minutes_to_m(self.minutes, self.speed_kmh))
        self.limit_m = np.inf if limit_m is None else max(float(limit_m), self.band_m[-1])
        if _shared is not None:
            self.network = _shared["network"]
            self.building_snap = _shared["building_snap"]
            self._bdata = _shared["bdata"]
            self.stations = _shared["stations"]
            self.station_snap = _shared["station_snap"]
        else:
            if plan is not None:
                plan.check_against(dataset.buildings.index)
            self.network = network if network is not None else build_network(dataset.roads)
            self.building_snap = self.network.snap(dataset.buildings.geometry, max_snap_m=self.max_snap_m)
            self._bdata = _building_frame(dataset, plan)
            st = dataset.stations if stations is None else stations
            self.stations = _station_table(st, dataset.crs)
            self.station_snap = self.network.snap(self.stations.geometry, max_snap_m=self.max_snap_m)
        self._cache: dict = {}

    # ------------------------------------------------------------------ what-if (each returns a new analysis)
    def _derive(self, stations: gpd.GeoDataFrame, station_snap: Snapped, changed_kinds=None, **opts) -> Coverage:
        kw: dict[str, Any] = dict(plan=self.plan, minutes=self.minutes, speed_kmh=self.speed_kmh, kinds=self.kinds,
                  max_snap_m=self.max_snap_m, limit_m=None if not np.isfinite(self.limit_m) else self.limit_m)
        kw.update(opts)
        new = Coverage(self.dataset, _shared={"network": self.network, "building_snap": self.building_snap,
                                               "bdata": self._bdata, "stations": stations,
                                               "station_snap": station_snap}, **kw)
        if changed_kinds is not None and not opts:
            # distances from stations of kinds that did not change stay valid (station rows are
            # only ever appended, so owner indices keep their meaning)
            for key, val in self._cache.items():
                if key[0] == "reach" and not set(key[1]) & set(changed_kinds):
                    new._cache[key] = val
        return new

    def with_options(self, *, minutes=None, speed_kmh=None, kinds=None) -> Coverage:
        """The same stations and network with other bands, speed or counted kinds."""
        opts = {}
        if minutes is not None:
            opts["minutes"] = minutes
        if speed_kmh is not None:
            opts["speed_kmh"] = speed_kmh
        if kinds is not None:
            opts["kinds"] = kinds
        return self._derive(self.stations, self.station_snap, **opts)

    def with_station(self, point, *, station_id: str | None = None, kind: str = "red_station",
                     name: str = "") -> Coverage:
        """A new analysis with one more (active) station at ``point`` (a shapely Point or ``(x, y)``
        in the dataset's metric CRS)."""
        return self.with_stations([point], station_ids=None if station_id is None else [station_id],
                                  kind=kind, names=[name])

    def with_stations(self, points, *, station_ids: Sequence[str] | None = None, kind: str = "red_station",
                      names: Sequence[str] | None = None) -> Coverage:
        """A new analysis with several more stations."""
        pts = [p if isinstance(p, shapely.Geometry) else shapely.Point(*p) for p in points]
        if kind not in STATION_KINDS:
            raise ValueError(f"unknown station kind {kind!r}; use {', '.join(STATION_KINDS)}")
        if station_ids is None:
            existing = set(self.stations.index)
            station_ids, i = [], 1
            while len(station_ids) < len(pts):
                sid = f"new{i}"
                if sid not in existing:
                    station_ids.append(sid)
                i += 1
        station_ids = [str(s) for s in station_ids]
        dup = set(station_ids) & set(self.stations.index)
        if dup or len(set(station_ids)) != len(station_ids):
            raise ValueError(f"station id(s) already used: {sorted(dup) or station_ids}")
        names = list(names) if names is not None else [""] * len(pts)
        new = gpd.GeoDataFrame({"name": names, "kind": kind, "active": True},
                               index=pd.Index(station_ids, name="station_id"), geometry=pts, crs=self.dataset.crs)
        snap = self.network.snap(new.geometry, max_snap_m=self.max_snap_m)
        st = pd.concat([self.stations, new])
        st.index.name = "station_id"
        return self._derive(gpd.GeoDataFrame(st, geometry="geometry", crs=self.dataset.crs),
                            Snapped.concat([self.station_snap, snap]), changed_kinds={kind})

    def with_active(self, active: Iterable[str] | dict) -> Coverage:
        """A new analysis where exactly the given station ids are active (or ``{id: bool}`` changes)."""
        st = self.stations.copy()
        if isinstance(active, dict):
            self._check_ids(active.keys())
            for k, v in active.items():
                st.loc[str(k), "active"] = bool(v)
        else:
            ids = [str(a) for a in active]
            self._check_ids(ids)
            st["active"] = st.index.isin(ids)
        changed = st["active"].to_numpy(dtype=bool) != self.stations["active"].to_numpy(dtype=bool)
        return self._derive(st, self.station_snap, changed_kinds=set(st["kind"].to_numpy()[changed]))

    def without_stations(self, station_ids: Iterable[str]) -> Coverage:
        """A new analysis with these stations switched off."""
        return self.with_active({s: False for s in station_ids})

    def _check_ids(self, ids):
        unknown = [str(i) for i in ids if str(i) not in self.stations.index]
        if unknown:
            raise ValueError(f"unknown station id(s): {unknown[:5]}")

    # ------------------------------------------------------------------ computation
    def _station_mask(self, kinds) -> np.ndarray:
        st = self.stations
        return st["active"].to_numpy(dtype=bool) & st["kind"].isin(list(kinds)).to_numpy()

    def reach(self, kinds: Iterable[str] | None = None) -> _Reach:
        """Distances from the active stations of ``kinds`` (default: the counted kinds)."""
        kinds = tuple(self.kinds if kinds is None else kinds)
        key = ("reach", kinds)
        if key not in self._cache:
            mask = self._station_mask(kinds)
            snap = self.station_snap
            sel = np.flatnonzero(mask)
            sub = snap.take(sel)
            nd, no = self.network.node_distances(sub, limit_m=self.limit_m)
            bd, bo = self.network.point_distances(nd, no, self.building_snap, sub)
            if len(sel):
                no = np.where(no >= 0, sel[np.maximum(no, 0)], -1)
                bo = np.where(bo >= 0, sel[np.maximum(bo, 0)], -1)
            self._cache[key] = _Reach(nd, no, bd, bo)
        return self._cache[key]

    def reach_kinds(self) -> list[tuple[str, ...]]:
        """The sets of station kinds :meth:`result` asks :meth:`reach` for: the counted kinds, then
        each kind present in the station table."""
        st = self.stations
        out = [tuple(self.kinds)]
        for k in STATION_KINDS:
            if len(st) and (st["kind"] == k).any() and (k,) not in out:
                out.append((k,))
        return out

    def adopt_reach(self, kinds: Iterable[str], reach: _Reach) -> None:
        """Use distances computed elsewhere (e.g. on a Dask cluster by :mod:`gridplan.cluster`) for
        ``kinds``, as if :meth:`reach` had computed them here. Only before :meth:`result`."""
        if "result" in self._cache:
            raise RuntimeError("adopt_reach after result(): the result would not use it")
        n_nodes, n_b = self.network.n_nodes, len(self.building_snap)
        if len(reach.node_dist) != n_nodes or len(reach.dist) != n_b:
            raise ValueError(f"reach arrays do not fit this analysis ({n_nodes} nodes, {n_b} buildings)")
        self._cache[("reach", tuple(kinds))] = reach

    def result(self) -> CoverageResult:
        """Every table of the analysis (computed once, then cached)."""
        if "result" not in self._cache:
            t0 = time.perf_counter()
            self._cache["result"] = _make_result(self)
            log.info("coverage computed in %.3f s", time.perf_counter() - t0)
        return self._cache["result"]

    def __repr__(self) -> str:
        return (f"Coverage({int(self._station_mask(self.kinds).sum())} active station(s) of {self.kinds}, "
                f"{len(self._bdata)} buildings, bands {self.minutes} min at {self.speed_kmh} km/h)")


def walk_context(dataset: Dataset, *, coverage=None, network: WalkNetwork | None = None,
                 max_snap_m: float = 300.0) -> tuple[WalkNetwork, Snapped]:
    """The walking network and the buildings snapped onto it, exactly as :class:`Coverage` has them:
    reused from a :class:`Coverage` (or its result) when given, else built from ``dataset.roads``
    once per dataset (:meth:`~gridplan.model.Dataset.cache`), or snapped onto the given ``network``."""
    if coverage is not None:
        cov = getattr(coverage, "analysis", coverage)
        return cov.network, cov.building_snap
    if network is None:
        network = dataset.cache("walk_network", lambda: build_network(dataset.roads))
        snap = dataset.cache(f"building_snap:{float(max_snap_m)}",
                             lambda: network.snap(dataset.buildings.geometry, max_snap_m=max_snap_m))
        return network, snap
    return network, network.snap(dataset.buildings.geometry, max_snap_m=max_snap_m)


def _building_frame(dataset: Dataset, plan: Plan | None) -> pd.DataFrame:
    b = dataset.buildings
    out = pd.DataFrame(index=b.index.astype(str))
    out.index.name = "building_id"
    for c in ("households", "persons"):
        out[c] = pd.to_numeric(b[c], errors="coerce").fillna(0).to_numpy() if c in b.columns else 0
    for c in ("compound_id", "community_id"):
        out[c] = b[c].astype(object).to_numpy() if c in b.columns else None
    if plan is not None:
        out["grid_id"] = plan.assignment.reindex(out.index).to_numpy()
    return out


# ---------------------------------------------------------------------- results

@dataclass(eq=False)
class CoverageResult:
    """Coverage tables. Distances in metres, times in minutes, percentages 0–100.

    Attributes
    ----------
    buildings
        Per building (index ``building_id``): ``station_id`` (nearest counted station), ``walk_m``
        (snap + network + station snap; NaN when unreachable), ``walk_min``, ``band_min`` (the
        smallest band reached, NaN if none), ``covered``, ``snap_m``, ``snap_flag`` (``ok`` /
        ``off_main`` / ``far``), counts and ids, and per station kind ``<kind>_station_id``,
        ``<kind>_walk_m``, ``<kind>_walk_min``.
    by_grid, by_compound, by_community, by_station
        Aggregates (``by_grid`` is ``None`` without a plan).
    uncovered_buildings
        The uncovered buildings with their geometry (metric CRS).
    uncovered_sanwu
        三无小区 not fully covered, most uncovered households first.
    stations
        The station table with snap distance, flags and ``counted`` (active and of a counted kind).
    bands
        Cumulative buildings/households/persons per band.
    """

    buildings: pd.DataFrame
    by_grid: pd.DataFrame | None
    by_compound: pd.DataFrame
    by_community: pd.DataFrame
    by_station: pd.DataFrame
    uncovered_buildings: gpd.GeoDataFrame
    uncovered_sanwu: pd.DataFrame
    stations: gpd.GeoDataFrame
    bands: pd.DataFrame
    minutes: tuple
    speed_kmh: float
    band_m: tuple
    analysis: Coverage = field(repr=False)
    problems: tuple = ()

    @property
    def covered_households(self) -> int:
        """Households in covered buildings (within the largest band)."""
        b = self.buildings
        return int(b.loc[b["covered"], "households"].sum())

    def summary(self) -> dict:
        """The headline figures as a plain dict (for JSON and the CLI); computed once (a result is
        not changed after it is made), each call gets its own copy."""
        return copy.deepcopy(self._summary)

    @functools.cached_property
    def _summary(self) -> dict:
        b = self.buildings
        hh = float(b["households"].sum())
        pp = float(b["persons"].sum())
        ch = float(b.loc[b["covered"], "households"].sum())
        cp = float(b.loc[b["covered"], "persons"].sum())
        return {
            "stations": int(self.stations["counted"].sum()),
            "stations_total": int(len(self.stations)),
            "buildings": int(len(b)),
            "covered_buildings": int(b["covered"].sum()),
            "households": int(hh),
            "covered_households": int(ch),
            "pct_households": round(100.0 * ch / hh, 2) if hh else None,
            "persons": int(pp),
            "covered_persons": int(cp),
            "pct_persons": round(100.0 * cp / pp, 2) if pp else None,
            "minutes": list(self.minutes),
            "speed_kmh": self.speed_kmh,
            "walk_m": [round(x, 3) for x in self.band_m],
            "unreachable_buildings": int(b["walk_m"].isna().sum()),
            "far_buildings": int((b["snap_flag"] == "far").sum()),
            "off_main_buildings": int((b["snap_flag"] == "off_main").sum()),
            "uncovered_sanwu": int(len(self.uncovered_sanwu)),
            "bands": self.bands.reset_index().to_dict(orient="records"),
        }

    def isochrones(self, **kw) -> gpd.GeoDataFrame:
        """Display polygons; see :func:`isochrones`."""
        return isochrones(self, **kw)


def _is_false(x) -> bool:
    """Explicitly false (a missing flag is unknown, not false)."""
    if x is None or (isinstance(x, float) and np.isnan(x)) or x is pd.NA:
        return False
    if isinstance(x, str):
        return x.strip().lower() in ("false", "0", "no", "否", "无", "f", "n")
    return not bool(x)


def _flag(snap: Snapped) -> np.ndarray:
    return np.where(snap.far, "far", np.where(snap.off_main, "off_main", "ok")).astype(object)


def _agg(df: pd.DataFrame, key: str) -> pd.DataFrame:
    d = df[df[key].notna()]
    cov = d["covered"].to_numpy()
    t = pd.DataFrame({key: d[key].to_numpy(), "buildings": 1, "covered_buildings": cov.astype(int),
                      "households": d["households"].to_numpy(), "covered_households": d["households"].to_numpy() * cov,
                      "persons": d["persons"].to_numpy(), "covered_persons": d["persons"].to_numpy() * cov})
    g = t.groupby(key, sort=True).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        g["pct_households"] = np.where(g["households"] > 0, 100.0 * g["covered_households"] / g["households"], np.nan)
        g["pct_persons"] = np.where(g["persons"] > 0, 100.0 * g["covered_persons"] / g["persons"], np.nan)
    return g


def _make_result(cov: Coverage) -> CoverageResult:
    ds = cov.dataset
    st = cov.stations
    sids = st.index.to_numpy()
    speed_m_min = cov.speed_kmh * 1000.0 / 60.0
    b = cov._bdata.copy()
    r = cov.reach()
    dist = np.where(np.isfinite(r.dist), r.dist, np.nan)
    b["station_id"] = np.where(r.owner >= 0, sids[np.maximum(r.owner, 0)] if len(sids) else None, None)
    b["walk_m"] = dist
    b["walk_min"] = dist / speed_m_min
    band = np.full(len(b), np.nan)
    for m, d in zip(cov.minutes[::-1], cov.band_m[::-1]):
        band = np.where(dist <= d + _EPS_M, m, band)
    b["band_min"] = band
    b["covered"] = dist <= cov.band_m[-1] + _EPS_M
    b["snap_m"] = np.where(np.isfinite(cov.building_snap.snap_m), cov.building_snap.snap_m, np.nan)
    b["snap_flag"] = _flag(cov.building_snap)
    kinds_present = [k for k in STATION_KINDS if (st["kind"] == k).any()] if len(st) else []
    for k in kinds_present:
        rk = r if (k,) == tuple(cov.kinds) else cov.reach((k,))
        dk = np.where(np.isfinite(rk.dist), rk.dist, np.nan)
        b[f"{k}_station_id"] = np.where(rk.owner >= 0, sids[np.maximum(rk.owner, 0)], None)
        b[f"{k}_walk_m"] = dk
        b[f"{k}_walk_min"] = dk / speed_m_min

    by_grid = _agg(b, "grid_id") if "grid_id" in b.columns else None
    by_compound = _agg(b, "compound_id")
    by_community = _agg(b, "community_id")
    comps = ds.compounds
    if comps is not None and len(comps):
        by_compound = by_compound.reindex(comps.index.astype(str).union(by_compound.index))
        by_compound.index.name = "compound_id"
        for c in ("buildings", "covered_buildings", "households", "covered_households", "persons", "covered_persons"):
            by_compound[c] = by_compound[c].fillna(0).astype(float)
        for c in ("name", "community_id"):
            if c in comps.columns:
                by_compound[c] = comps[c].reindex(by_compound.index).to_numpy()
        flags = ["has_property_mgmt", "has_competent_dept", "has_owners_committee"]
        if all(f in comps.columns for f in flags):
            f = comps[flags].reindex(by_compound.index)
            sanwu = np.ones(len(f), dtype=bool)
            for c in flags:
                sanwu &= f[c].map(_is_false).to_numpy(dtype=bool)
            by_compound["sanwu"] = sanwu
        else:
            by_compound["sanwu"] = False
    else:
        by_compound["sanwu"] = False
    if ds.communities is not None and len(ds.communities) and "name" in ds.communities.columns:
        by_community["name"] = ds.communities["name"].reindex(by_community.index.astype(str)).to_numpy()

    # per station: households whose nearest counted station it is, within each band
    counted = cov._station_mask(cov.kinds)
    bs = pd.DataFrame(index=pd.Index(sids[counted], name="station_id"))
    bs["kind"] = st["kind"].to_numpy()[counted]
    bs["name"] = st["name"].to_numpy()[counted]
    for m, d in zip(cov.minutes, cov.band_m):
        within = b["walk_m"].to_numpy() <= d + _EPS_M
        sub = b[within]
        bs[f"households_{m:g}min"] = sub.groupby("station_id")["households"].sum().reindex(bs.index).fillna(0).to_numpy()
    sub = b[b["covered"]]
    grp = sub.groupby("station_id")
    bs["buildings"] = grp.size().reindex(bs.index).fillna(0).astype(int).to_numpy()
    bs["households"] = grp["households"].sum().reindex(bs.index).fillna(0).to_numpy()
    bs["persons"] = grp["persons"].sum().reindex(bs.index).fillna(0).to_numpy()
    ssnap = cov.station_snap
    bs["snap_m"] = ssnap.snap_m[counted]
    bs["snap_flag"] = _flag(ssnap)[counted]

    stt = st.copy()
    stt["counted"] = counted
    stt["snap_m"] = np.where(np.isfinite(ssnap.snap_m), ssnap.snap_m, np.nan)
    stt["snap_flag"] = _flag(ssnap)

    unc = b[~b["covered"]]
    unc_g = gpd.GeoDataFrame(unc, geometry=ds.buildings.geometry.reindex(unc.index).values, crs=ds.crs)

    sw = by_compound[by_compound["sanwu"] & (by_compound["households"] > by_compound["covered_households"])].copy()
    sw["uncovered_households"] = sw["households"] - sw["covered_households"]
    sw = sw.sort_values(["uncovered_households", "pct_households"], ascending=[False, True])

    bands_rows = []
    hh, pp = float(b["households"].sum()), float(b["persons"].sum())
    for m, d in zip(cov.minutes, cov.band_m):
        w = b["walk_m"].to_numpy() <= d + _EPS_M
        ch, cp = float(b["households"].to_numpy()[w].sum()), float(b["persons"].to_numpy()[w].sum())
        bands_rows.append({"band_min": m, "walk_m": d, "buildings": int(w.sum()), "households": ch,
                           "pct_households": 100 * ch / hh if hh else np.nan, "persons": cp,
                           "pct_persons": 100 * cp / pp if pp else np.nan})
    bands = pd.DataFrame(bands_rows).set_index("band_min")

    problems = list(cov.network.problems)
    nfar = int(cov.building_snap.far.sum())
    if nfar:
        problems.append(Problem("warning", "buildings", None,
                                f"{nfar} building(s) are more than {cov.max_snap_m:g} m from the walking network "
                                "and count as unreachable",
                                "add the missing roads/paths or check the building positions", "far_from_road"))
    noff = int(cov.building_snap.off_main.sum())
    if noff:
        problems.append(Problem("warning", "buildings", None,
                                f"{noff} building(s) are nearest to a disconnected piece of road; "
                                "they were snapped to the main network",
                                "connect those roads to the network", "off_main"))
    for sid in sids[(ssnap.far | ssnap.off_main)]:
        problems.append(Problem("warning", "stations", str(sid),
                                "the station is far from the walking network or nearest to a disconnected road",
                                "move the station onto a connected walkable road", "station_snap"))
    if not counted.any():
        problems.append(Problem("warning", "stations", None,
                                f"no active station of kind {', '.join(cov.kinds)}: every building is uncovered",
                                "add stations or change the counted kinds", "no_stations"))
    return CoverageResult(buildings=b, by_grid=by_grid, by_compound=by_compound, by_community=by_community,
                          by_station=bs, uncovered_buildings=unc_g, uncovered_sanwu=sw, stations=stt, bands=bands,
                          minutes=cov.minutes, speed_kmh=cov.speed_kmh, band_m=cov.band_m, analysis=cov,
                          problems=tuple(problems))


def coverage(dataset: Dataset, *, plan: Plan | None = None, minutes: Sequence[float] = DEFAULT_MINUTES,
             speed_kmh: float | str = 4.0, kinds: Iterable[str] = ("red_station",),
             stations: gpd.GeoDataFrame | None = None, network: WalkNetwork | None = None,
             max_snap_m: float = 300.0) -> CoverageResult:
    """Walking coverage of a dataset's stations; see :class:`Coverage` for the parameters."""
    return Coverage(dataset, plan=plan, minutes=minutes, speed_kmh=speed_kmh, kinds=kinds, stations=stations,
                    network=network, max_snap_m=max_snap_m).result()


# ---------------------------------------------------------------------- isochrones

def isochrones(source: CoverageResult | Coverage, *, per_station: bool = False, minutes: Sequence[float] | None = None,
               buffer_m: float = 40.0, cell_m: float | None = None,
               min_hole_m2: float | None = None) -> gpd.GeoDataFrame:
    """Isochrone polygons for display: the area within ``buffer_m`` of the reached network.

    The reached network is exact (partial edges included, the station's own edge walked from the
    station's snapped point); it is sampled onto a raster of ``cell_m`` cells holding the walk
    distance, widened by ``buffer_m`` with a minimum filter and contoured, so the bands of one
    call are nested by construction. With ``per_station=True`` each band is split into the
    service areas of the stations (the part where that station is the nearest). Holes smaller
    than ``min_hole_m2`` (default: a square of twice the buffer) are filled: at display scale
    they are only the insides of street blocks.

    Returns a GeoDataFrame with ``band_min``, ``walk_m`` (and ``station_id``) in the metric CRS;
    each geometry is a valid (Multi)Polygon.
    """
    cov = source.analysis if isinstance(source, CoverageResult) else source
    mins = cov.minutes if minutes is None else _norm_minutes(minutes)
    dists = [float(x) for x in minutes_to_m(mins, cov.speed_kmh)]
    crs = cov.dataset.crs
    cols = ["band_min", "walk_m"] + (["station_id"] if per_station else [])
    empty = gpd.GeoDataFrame({c: [] for c in cols}, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    r = cov.reach()
    dmax = dists[-1]
    net = cov.network
    sel = np.flatnonzero(cov._station_mask(cov.kinds) & cov.station_snap.ok)
    if len(sel) == 0:
        return empty
    ssnap = cov.station_snap
    sp = _as_points(cov.stations.geometry.values[sel])
    sxy = np.column_stack([shapely.get_x(sp), shapely.get_y(sp)])
    if cell_m is None:
        near = net.node_xy[r.node_dist <= dmax]
        box = np.vstack([near, sxy]) if len(near) else sxy
        ext = np.ptp(box, axis=0) + 2 * buffer_m
        cell_m = max(buffer_m / 4.0, float(np.sqrt(ext[0] * ext[1] / 3e6)), 1.0)
    xy, val, own = _sample_reached(net, r.node_dist, r.node_owner, ssnap, sel, sxy, dmax, cell_m)
    if len(val) == 0:
        return empty
    big = 2.0 * dmax + 1.0
    pad = int(np.ceil(buffer_m / cell_m)) + 2
    x0 = xy[:, 0].min() - pad * cell_m
    y0 = xy[:, 1].min() - pad * cell_m
    ix = np.floor((xy[:, 0] - x0) / cell_m).astype(np.int64)
    iy = np.floor((xy[:, 1] - y0) / cell_m).astype(np.int64)
    nx, ny = int(ix.max()) + pad + 1, int(iy.max()) + pad + 1
    cid = iy * nx + ix
    order = np.lexsort((val, cid))
    first = np.r_[True, cid[order][1:] != cid[order][:-1]]
    o = order[first]
    field_: np.ndarray = np.full(ny * nx, big)
    field_[cid[o]] = val[o]
    owner: np.ndarray = np.full(ny * nx, -1, dtype=np.int64)
    owner[cid[o]] = own[o]
    field_ = field_.reshape(ny, nx)
    owner = owner.reshape(ny, nx)
    rad = buffer_m / cell_m
    hole = (2.0 * buffer_m) ** 2 if min_hole_m2 is None else float(min_hole_m2)
    xs = x0 + (np.arange(nx) + 0.5) * cell_m
    ys = y0 + (np.arange(ny) + 0.5) * cell_m
    rows = []
    if not per_station:
        f = _min_filter_disk(field_, rad, big)
        for m, d in zip(mins, dists):
            rows.append({"band_min": m, "walk_m": d, "geometry": _contour(xs, ys, f, d, min_hole_area=hole)})
    else:
        sids = cov.stations.index.to_numpy()
        oi, oj = np.nonzero(owner >= 0)
        ov = owner[oi, oj]
        nst = len(cov.stations)
        bi0 = np.full(nst, ny)
        bi1 = np.full(nst, -1)
        bj0 = np.full(nst, nx)
        bj1 = np.full(nst, -1)
        np.minimum.at(bi0, ov, oi)
        np.maximum.at(bi1, ov, oi)
        np.minimum.at(bj0, ov, oj)
        np.maximum.at(bj1, ov, oj)
        for s in sel:
            if bi1[s] < 0:
                continue
            i0, i1 = max(bi0[s] - pad, 0), min(bi1[s] + pad + 1, ny)
            j0, j1 = max(bj0[s] - pad, 0), min(bj1[s] + pad + 1, nx)
            sub = np.where(owner[i0:i1, j0:j1] == s, field_[i0:i1, j0:j1], big)
            f = _min_filter_disk(sub, rad, big)
            for m, d in zip(mins, dists):
                g = _contour(xs[j0:j1], ys[i0:i1], f, d, min_hole_area=hole)
                if not g.is_empty:
                    rows.append({"band_min": m, "walk_m": d, "station_id": sids[s], "geometry": g})
    if not rows:
        return empty
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    return out[cols + ["geometry"]]


def _sample_reached(net: WalkNetwork, nd, no, ssnap: Snapped, sel, station_xy, dmax: float, cell_m: float):
    """Points along the reached network with their walk distance and owning station."""
    u, v, L = net.edge_u, net.edge_v, net.edge_len_m
    du, dv = nd[u], nd[v]
    st_edges = ssnap.edge[sel]
    cand = (net.kept_edge & (np.minimum(du, dv) <= dmax))
    cand[st_edges] = True
    ce = np.flatnonzero(cand)
    geoms = shapely.segmentize(net.edge_geom[ce], max(cell_m / 2.0, 0.05))
    coords, gi = shapely.get_coordinates(geoms, return_index=True)
    seg = np.r_[0.0, np.hypot(*np.diff(coords, axis=0).T)]
    newg = np.r_[True, gi[1:] != gi[:-1]]
    seg[newg] = 0.0
    cum = np.cumsum(seg)
    starts = np.flatnonzero(newg)
    cum -= np.repeat(cum[starts], np.diff(np.r_[starts, len(cum)]))
    e = ce[gi]
    t = np.minimum(cum, L[e])
    vu = du[e] + t
    vv = dv[e] + (L[e] - t)
    val = np.minimum(vu, vv)
    own = np.where(vv < vu, no[v[e]], no[u[e]])
    # same-edge stations: walk along the edge from the station's snapped point
    same_edge_improve(e, t, st_edges, sel, ssnap, val, own)
    # the station's snap connector (from the station itself to its snapped point)
    n_seg = np.maximum(np.ceil(np.nan_to_num(ssnap.snap_m[sel], posinf=0.0) / (cell_m / 2.0)).astype(int), 1)
    ox, oy, cv, co = [], [], [], []
    for k, s in enumerate(sel):
        f = np.linspace(0.0, 1.0, n_seg[k] + 1)
        ox.append(station_xy[k, 0] + f * (ssnap.x[s] - station_xy[k, 0]))
        oy.append(station_xy[k, 1] + f * (ssnap.y[s] - station_xy[k, 1]))
        cv.append((1.0 - f) * ssnap.snap_m[s])
        co.append(np.full(len(f), s))
    keep = val <= dmax
    xy = np.column_stack([np.concatenate([coords[keep, 0], *ox]), np.concatenate([coords[keep, 1], *oy])])
    return xy, np.concatenate([val[keep], *cv]), np.concatenate([own[keep], *co]).astype(np.int64)


def _contour(xs, ys, f, level, *, min_hole_area: float = 0.0) -> shapely.Geometry:
    """The region ``f <= level`` as a valid (Multi)Polygon (marching squares, holes with shells)."""
    import contourpy
    if f.shape[0] < 2 or f.shape[1] < 2 or not (f <= level).any():
        return shapely.Polygon()
    gen = contourpy.contour_generator(xs, ys, f, fill_type=contourpy.FillType.OuterOffset, name="serial")
    # contourpy's annotations cover every fill type; OuterOffset gives (points, offsets)
    pts_list, off_list = gen.filled(-1.0, level)  # type: ignore[misc]
    coords_l, ring_l, poly_l, shell_l = [], [], [], []
    r = 0
    for p, (pts, off) in enumerate(zip(pts_list, off_list)):
        n = np.diff(off)
        coords_l.append(pts)
        ring_l.append(np.repeat(np.arange(r, r + len(n)), n))
        poly_l.append(np.full(len(n), p))
        shell_l.append(np.arange(len(n)) == 0)
        r += len(n)
    if r == 0:
        return shapely.Polygon()
    coords = np.concatenate(coords_l)
    ring_id = np.concatenate(ring_l)
    poly_id = np.concatenate(poly_l)
    is_shell = np.concatenate(shell_l)
    rings = shapely.linearrings(coords, indices=ring_id)
    keep = shapely.get_num_coordinates(rings) >= 4
    if min_hole_area > 0:  # drop specks of holes (display only)
        keep &= is_shell | (shapely.area(shapely.polygons(rings)) >= min_hole_area)
    keep &= np.isin(poly_id, poly_id[is_shell & keep])
    rings, poly_id = rings[keep], poly_id[keep]
    _, pid = np.unique(poly_id, return_inverse=True)
    polys = shapely.polygons(rings, indices=pid)
    bad = ~shapely.is_valid(polys)
    if bad.any():  # marching squares output is valid in practice; repair if ever not
        fixed = [shapely.union_all([q for q in shapely.get_parts(shapely.make_valid(g))
                                    if shapely.get_type_id(q) in (3, 6)]) for g in polys[bad]]
        polys = np.concatenate([polys[~bad], shapely.get_parts(np.asarray(fixed, dtype=object))])
        polys = polys[shapely.get_type_id(polys) == 3]
    polys = polys[~shapely.is_empty(polys)]
    if len(polys) == 0:
        return shapely.Polygon()
    return polys[0] if len(polys) == 1 else shapely.multipolygons(polys)


def _min_filter_disk(f: np.ndarray, rad: float, cval: float) -> np.ndarray:
    """Minimum over a disk of radius ``rad`` cells, as the minimum over a few separable rectangles
    whose union is the disk's lattice (exact for the lattice disk, O(cells × rectangles))."""
    from scipy import ndimage
    k = int(np.floor(rad))
    if k <= 0:
        return f.copy()
    out = None
    seen = set()
    for dy in range(0, k + 1):
        dx = int(np.floor(np.sqrt(max(rad * rad - dy * dy, 0.0)) + 1e-9))
        if (dx, dy) in seen:
            continue
        seen.add((dx, dy))
        g = ndimage.minimum_filter1d(f, size=2 * dy + 1, axis=0, mode="constant", cval=cval)
        g = ndimage.minimum_filter1d(g, size=2 * dx + 1, axis=1, mode="constant", cval=cval)
        out = g if out is None else np.minimum(out, g)
    assert out is not None   # dy = 0 always runs
    return out
