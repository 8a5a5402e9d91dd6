"""State and callbacks of the party chain page (党建链条, issue 15): the grid staff list that follows
the plan, 郁心站 suggestions adopted into the what-if stations, the 流动郁心站 of a weekday, the
党员中心户 need, 三无 → 三有 progress and the five-level chain with the node shown on the map.

Every figure comes from the library (``gridplan.staff``, ``gridstations``, ``mobile``, ``chain``,
``sanwu``); this module keeps the planner's choices in ``st.session_state`` (keys ``pc_*``) and
caches what is shared by every session.
"""
from __future__ import annotations

import datetime as _dt
import tempfile
from pathlib import Path

import streamlit as st

from app_pages import common as c
from app_pages import plans, whatif
from app_pages.common import T, flash, md
from gridplan import GridplanError, ValidationError
from gridplan import edit as ed

STAFF_TYPES = ["csv", "txt", "xlsx", "xls"]
DEFAULTS = {"pc_staff": None, "pc_staff_problems": None, "pc_max_grids": 1, "pc_show_phones": False,
            "pc_within_m": 0.0, "pc_weekday": None, "pc_show_reach": False, "pc_per": 15, "pc_since": None,
            "pc_node": None}


def init() -> None:
    for k, v in DEFAULTS.items():
        st.session_state.setdefault(k, v)
    if st.session_state["pc_weekday"] is None:
        st.session_state["pc_weekday"] = _dt.date.today().isoweekday()


def _dkey() -> str:
    return c.dataset_key(st.session_state["source"])


def beside_dataset(name: str) -> Path | None:
    """A table kept beside the dataset's layers (the sample's ``staff.csv``, ``mobile_schedule.csv``;
    the same names in a dataset folder), ``None`` for an upload or when there is none."""
    src = st.session_state["source"]
    if src.get("kind") == "sample":
        from gridplan.demo import SAMPLE_DIR
        folder = SAMPLE_DIR
    elif src.get("kind") == "path" and src.get("path"):
        p = Path(src["path"])
        folder = p if p.is_dir() else p.parent
    else:
        return None
    path = folder / name
    return path if path.is_file() else None


# --------------------------------------------------------------------------- staff
def staff(ds, h):
    """The staff assignment of the current plan (``None`` without a list). A list is kept with the
    plan it was made for; when the plan changes the staff follow their grids (``StaffAssignment.follow``).
    The list beside the dataset was made for the first plan of the history."""
    r = st.session_state
    p = h.current
    cur = r.get("pc_staff")
    if cur is None or cur.get("dkey") != _dkey():
        cur = None
        path = beside_dataset("staff.csv")
        if path is not None:
            from gridplan.staff import read_staff
            try:
                cur = {"dkey": _dkey(), "plan": h.plans[0], "staff": read_staff(path, dataset=ds), "name": path.name}
            except ValidationError as e:
                r["pc_staff_problems"] = [x.as_dict() for x in e.problems]
        r["pc_staff"] = cur
    if cur is None:
        return None
    if cur["plan"] is not p and ed.fingerprint(cur["plan"]) != ed.fingerprint(p):
        cur = {**cur, "plan": p, "staff": cur["staff"].follow(cur["plan"], p)}
        r["pc_staff"] = cur
    return cur["staff"]


def _set_staff(new, message: str | None = None) -> None:
    r = st.session_state
    r["pc_staff"] = {**r["pc_staff"], "staff": new}
    if message:
        flash("success", message)


def cb_staff_upload():
    """Read the uploaded staff list (in a private folder deleted at once); it serves the current plan."""
    from gridplan.staff import read_staff
    r = st.session_state
    f = r.get("_pc_staff_file")
    ds, p = c.dataset(), plans.plan()
    if f is None or ds is None or p is None:
        return
    if f.size > c.UPLOAD_LIMIT_MB * 1e6:
        flash("error", T("too_big", name=md(f.name), mb=f.size / 1e6, limit=c.UPLOAD_LIMIT_MB))
        return
    with tempfile.TemporaryDirectory(prefix="gridplan-staff-") as d:
        path = Path(d) / (Path(f.name).name or "staff.csv")
        path.write_bytes(f.getvalue())
        try:
            s = read_staff(path, dataset=ds)
        except ValidationError as e:
            r["pc_staff_problems"] = [x.as_dict() for x in e.problems]
            flash("error", T("pc_staff_bad", name=md(f.name)))
            return
    r["pc_staff"] = {"dkey": _dkey(), "plan": p, "staff": s, "name": f.name}
    r["pc_staff_problems"] = [x.as_dict() for x in s.problems] or None
    flash("success", T("pc_staff_loaded", name=md(f.name), n=int(s.table["person_id"].nunique())))


def _edit_staff(fn, message: str) -> None:
    r = st.session_state
    cur = r.get("pc_staff")
    if cur is None:
        return
    try:
        new = fn(cur["staff"])
    except (GridplanError, ValueError) as e:
        flash("error", T("edit_failed", msg=c.message(e)))
        return
    _set_staff(new, message)


def cb_assign():
    r = st.session_state
    pid, grid, role = r.get("_pc_person"), r.get("_pc_grid"), r.get("_pc_role")
    if pid and grid:
        _edit_staff(lambda s: s.assign(pid, grid, role=role), T("pc_assigned", name=md(_name(pid)), grid=md(grid)))


def cb_reassign():
    r = st.session_state
    pid, old, new = r.get("_pc_person"), r.get("_pc_from"), r.get("_pc_grid")
    if pid and old and new:
        _edit_staff(lambda s: s.reassign(pid, old, new), T("pc_reassigned", name=md(_name(pid)), old=md(old),
                                                               grid=md(new)))


def cb_unassign():
    r = st.session_state
    pid, old = r.get("_pc_person"), r.get("_pc_from")
    if pid and old:
        _edit_staff(lambda s: s.unassign(pid, old, keep=True), T("pc_unassigned", name=md(_name(pid)), grid=md(old)))


def _name(pid: str) -> str:
    cur = st.session_state.get("pc_staff") or {}
    s = cur.get("staff")
    if s is None:
        return pid
    t = s.table
    hit = t.loc[t["person_id"] == pid, "name"]
    return str(hit.iloc[0]) if len(hit) else pid


# --------------------------------------------------------------------------- 郁心站 in every grid
def _what_if_key() -> tuple:
    r = st.session_state
    a = r.get("active_stations")
    return (tuple(a) if a is not None else None, tuple(tuple(x) for x in r.get("added_stations") or ()),
            tuple(r["cov_minutes"]), float(r["cov_speed"]), tuple(r["cov_kinds"]))


@st.cache_resource(max_entries=8, show_spinner=False)
def _grid_stations(_ds, _p, _res, key: tuple):
    from gridplan import metrics
    from gridplan.gridstations import grid_station_status, suggest_grid_stations
    within_m = key[-1]
    grids = metrics.grids(_ds, _p)
    status = grid_station_status(_ds, _p, grids=grids, within_m=within_m, stations=_res.stations,
                                 coverage=_res.analysis)
    missing = status.index[~status["has_station"].to_numpy(dtype=bool)].tolist()
    sug = suggest_grid_stations(_ds, _p, grid_ids=missing, grids=grids, stations=_res.stations,
                                coverage=_res.analysis)
    return status, sug


def grid_stations(ds, p):
    """``(status, suggestions)`` for the plan and the what-if stations (``None`` without roads)."""
    res = whatif.coverage_result(ds)
    if res is None:
        return None
    w = float(st.session_state.get("pc_within_m") or 0.0)
    return _grid_stations(ds, p, res, (_dkey(), ed.fingerprint(p), _what_if_key(), w))


def cb_adopt_gs(grid_ids):
    """Adopt the suggested sites of ``grid_ids``: they join the what-if stations as 郁心站 (the
    coverage page, the maps and the exports see them; the library gives their ids)."""
    from gridplan.i18n import t
    from gridplan.webmap import short_code
    ds, p = c.dataset(), plans.plan()
    got = grid_stations(ds, p)
    if got is None:
        return
    sug = got[1]
    ids = [g for g in grid_ids if g in sug.index]
    if not ids:
        return
    new = tuple((round(float(sug.at[g, "geometry"].x), 2), round(float(sug.at[g, "geometry"].y), 2), "grid_station",
                 t("gs_station_name", c.lang(), code=short_code(g, sug.at[g, "community_id"]))) for g in ids)
    st.session_state["added_stations"] = tuple(st.session_state.get("added_stations") or ()) + new
    flash("success", T("pc_gs_adopted", n=len(ids), grids=md(", ".join(ids[:5]) + (" …" if len(ids) > 5 else ""))))


def cb_adopt_one():
    g = st.session_state.get("_pc_gs_grid")
    if g:
        cb_adopt_gs([g])


def cb_adopt_all():
    ds, p = c.dataset(), plans.plan()
    got = grid_stations(ds, p)
    if got is not None:
        cb_adopt_gs(list(got[1].index))


# --------------------------------------------------------------------------- 流动郁心站
@st.cache_resource(max_entries=8, show_spinner=False)
def _mobile(_ds, _p, _cov, dkey: str, fp: str, path: str | None):
    from gridplan.mobile import mobile_coverage, read_schedule
    sched = read_schedule(path, stations=_ds.stations) if path else None
    return mobile_coverage(_ds, _p, schedule=sched, coverage=_cov)


def mobile(ds, p):
    """The 流动郁心站 coverage per weekday (``None`` and a reason when there is no schedule)."""
    res = whatif.coverage_result(ds, what_if=False)
    if res is None:
        return None, T("coverage_none")
    path = beside_dataset("mobile_schedule.csv")
    try:
        return _mobile(ds, p, res.analysis, _dkey(), ed.fingerprint(p), None if path is None else str(path)), None
    except (GridplanError, ValueError) as e:
        return None, c.message(e)


# --------------------------------------------------------------------------- 党员中心户 and the chain
@st.cache_resource(max_entries=8, show_spinner=False)
def _need(_ds, _p, dkey: str, fp: str, per: int):
    from gridplan.chain import central_household_need
    return central_household_need(_ds, _p, households_per_central=per)


def need(ds, p):
    return _need(ds, p, _dkey(), ed.fingerprint(p), int(st.session_state["pc_per"]))


@st.cache_resource(max_entries=8, show_spinner=False)
def _chain(_ds, _p, dkey: str, fp: str, per: int, lang: str):
    from gridplan.chain import party_chain
    return party_chain(_ds, _p, households_per_central=per, lang=lang)


def chain(ds, p):
    return _chain(ds, p, _dkey(), ed.fingerprint(p), int(st.session_state["pc_per"]), c.lang())


def cb_node(node_id: str | None):
    """Show a node of the chain: it becomes the current node, its community comes into view and the
    map zooms to its buildings (outlined)."""
    r = st.session_state
    r["pc_node"] = node_id
    if node_id is None:
        return
    from gridplan.chain import node_buildings, node_path
    ds, p = c.dataset(), plans.plan()
    ch = chain(ds, p)
    try:
        ids = node_buildings(ch, node_id)
        path = node_path(ch, node_id)
    except KeyError:
        r["pc_node"] = None
        return
    r["focus"] = path[1] if len(path) > 1 else c.ALL
    view = ed.view_of(ed.view_bounds(ds.buildings.loc[ids]), width_px=800, height_px=c.MAP_HEIGHT, max_zoom=18)
    if view is not None:
        r["map_center"], r["map_zoom"] = list(view[0]), view[1]


def node_buildings(ds, p) -> list[str] | None:
    node = st.session_state.get("pc_node")
    if not node:
        return None
    from gridplan.chain import node_buildings as nb
    try:
        return nb(chain(ds, p), node)
    except KeyError:
        return None


# --------------------------------------------------------------------------- 三无 → 三有
def since_default(ds):
    h = ds.compound_status
    if h is None or not len(h):
        return None
    import pandas as pd
    return pd.Timestamp(h["date"].min()).date()


@st.cache_resource(max_entries=8, show_spinner=False)
def _sanwu(_ds, dkey: str, since, lang: str):
    from gridplan.sanwu import progress_timeline, sanwu_progress
    return sanwu_progress(_ds, since, lang=lang), progress_timeline(_ds, since)


def sanwu(ds, since):
    return _sanwu(ds, _dkey(), since, c.lang())


# --------------------------------------------------------------------------- exports
def export_inputs(ds) -> dict:
    """What the ledger, posters and HTML map add from this page's state — the staff list (following
    the plan), the 流动郁心站 coverage, the 三无 → 三有 start date and the households per 党员中心户 —
    so every export shows what the planner set here. Parts that are missing are left out."""
    init()
    r = st.session_state
    out: dict = {"households_per_central": int(r["pc_per"]), "max_grids_per_leader": int(r["pc_max_grids"])}
    h = plans.history(start=False)
    staff_now = staff(ds, h) if h is not None else None
    if staff_now is not None:
        out["staff"] = staff_now
    mob, _ = mobile(ds, h.current) if h is not None else (None, None)
    if mob is not None:
        out["mobile"] = mob
    since = r.get("pc_since") or since_default(ds)
    if since is not None:
        out["sanwu_since"] = since
    return out


def export_state() -> list:
    """The part of this page's state that changes an export (for the download's key)."""
    r = st.session_state
    cur = r.get("pc_staff") or {}
    table = cur["staff"].table if cur.get("staff") is not None else None
    digest = "" if table is None else str(_table_digest(table))
    return [r.get("pc_per"), r.get("pc_max_grids"), str(r.get("pc_since")), digest]


def _table_digest(table) -> int:
    """A content hash of a table (for the download key)."""
    import pandas as pd
    return int(pd.util.hash_pandas_object(table.astype(str), index=False).sum())
