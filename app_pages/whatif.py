"""Walking coverage as the planner set it up: the analysis per dataset and options (shared by every
session), the what-if stations (on/off, added by a click or from the suggestions) and the
stations every map and export draws."""
from __future__ import annotations

import json

import streamlit as st

from app_pages import common as c


def coverage_available(ds) -> bool:
    return ds is not None and ds.roads is not None and len(ds.roads) > 0 and ds.stations is not None


@st.cache_resource(max_entries=4, show_spinner=False)
def _coverage_base(_ds, dkey: str, minutes: tuple, speed: float, kinds: tuple):
    from gridplan.reach import Coverage
    return Coverage(_ds, minutes=minutes, speed_kmh=speed, kinds=kinds)


@st.cache_resource(max_entries=32, show_spinner=False)
def _coverage(_ds, dkey: str, minutes: tuple, speed: float, kinds: tuple, active: tuple | None, added: tuple):
    cov = _coverage_base(_ds, dkey, minutes, speed, kinds)
    if active is not None:
        cov = cov.with_active(list(active))
    for kind, names, points in _runs(added):
        cov = cov.with_stations(points, kind=kind, names=names)   # the library allocates the ids (new1, new2 …)
    return cov.result()


def _runs(added: tuple):
    """The what-if stations as runs of one kind, in the order they were added: ``(x, y)`` is a red
    station (a click, a coverage suggestion), ``(x, y, kind, name)`` one of another kind (an adopted
    郁心站)."""
    out: list = []
    for a in added:
        kind, name = (str(a[2]), str(a[3]) if len(a) > 3 else "") if len(a) > 2 else ("red_station", "")
        if out and out[-1][0] == kind:
            out[-1][1].append(name)
            out[-1][2].append((float(a[0]), float(a[1])))
        else:
            out.append((kind, [name], [(float(a[0]), float(a[1]))]))
    return out


def coverage_result(ds, *, what_if: bool = True):
    """The coverage for the current station settings (``what_if=False``: the dataset's stations)."""
    if not coverage_available(ds):
        return None
    r = st.session_state
    return coverage_of(ds, c.dataset_key(r["source"]), r, what_if=what_if)


def coverage_of(ds, dkey: str, state, *, what_if: bool = True):
    """The coverage for the station settings in ``state`` (the session state, or ``common.DEFAULTS``
    where there is no session: the server's warm-ups), through the same cache."""
    active = state.get("active_stations")
    return _coverage(ds, dkey, tuple(float(m) for m in state["cov_minutes"]), float(state["cov_speed"]),
                     tuple(state["cov_kinds"]), tuple(active) if (what_if and active is not None) else None,
                     tuple(tuple(x) for x in state["added_stations"]) if what_if else ())


@st.cache_resource(max_entries=16, show_spinner=False)
def _isochrones(_res, key: str):
    from gridplan.reach import isochrones
    return isochrones(_res)


def isochrones(ds, res):
    r = st.session_state
    key = json.dumps([c.dataset_key(r["source"]), list(r["cov_minutes"]), r["cov_speed"], list(r["cov_kinds"]),
                      r.get("active_stations"), list(r["added_stations"])], default=str)
    return _isochrones(res, key)


def shown_stations(ds, res):
    """The stations the planner sees: the active ones and the what-if ones (what maps and exports draw)."""
    if res is None:
        return ds.stations
    s = res.stations
    return s[s["active"].astype(bool)] if "active" in s.columns else s


def added_ids(res) -> list[str]:
    """The ids the library gave the what-if stations (the last rows of the station table)."""
    n = len(st.session_state.get("added_stations") or ())
    return [] if res is None or not n else [str(s) for s in res.stations.index[-n:]]
