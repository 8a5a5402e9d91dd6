"""Shared state, cached resources and callbacks of the app's pages.

Authoritative state lives in plain ``st.session_state`` keys (see :func:`init_state`) and is changed
only in callbacks. Heavy work is cached: the loaded :class:`~gridplan.Dataset` per source
(``st.cache_resource``), the first partition per (dataset, rule, seed), per-plan grid layers keyed by
the plan's fingerprint, and the walking network / snapped buildings per dataset. Every edit is a
library call on an immutable plan (:mod:`gridplan.edit`); this module holds no geometry code.
"""
from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from gridplan import PlanError, Rule, ValidationError
from gridplan import edit as ed
from gridplan.i18n import t as _t

log = logging.getLogger("gridplan.app")

ALL = "__all__"
UPLOAD_LIMIT_MB = 200
UPLOAD_TYPES = ["geojson", "json", "gpkg", "fgb", "zip"]
MAP_HEIGHT = 640
TOOLS = ("select", "paint", "station")


# --------------------------------------------------------------------------- state
DEFAULTS = {
    "lang": "zh",
    "source": {"kind": "sample"},       # where the dataset comes from (see dataset_key)
    "load_problems": None,              # problems of the last failed load (list of dicts)
    "history": None,                    # gridplan.edit.History of the current plan
    "history_key": None,                # the dataset key the history belongs to
    "rule": Rule(),
    "seed": 0,
    "code_width": 2,
    "focus": None,                      # community shown in detail (None: first)
    "tool": "select",
    "unit": "building",
    "target": None,                     # target grid of moves
    "selection": (),                    # selected building ids
    "selected_grid": None,
    "map_center": None,
    "map_zoom": None,
    "report": None,                     # the check report of the last edit (dict)
    "flash": [],                        # messages shown once: (kind, text)
    "active_stations": None,            # None: all dataset stations active
    "added_stations": (),               # ((x, y, station_id), …) in the metric CRS
    "suggested": None,                  # list of dicts (x, y, gain_households, rank)
    "show_coverage": True,
    "show_isochrones": False,
    "cov_minutes": (5.0, 10.0, 15.0),
    "cov_speed": 4.0,
    "cov_kinds": ("red_station",),
    "timings": {},
}


def favicon():
    """A small grid icon drawn in memory: an emoji or material icon would make the browser fetch
    its image from a public CDN, and the app must not contact any outside host."""
    import numpy as np
    img = np.full((32, 32, 3), 255, dtype=np.uint8)
    img[2:30, 2:30] = (200, 30, 40)
    for k in (2, 11, 20, 29):
        img[k:k + 2, 2:30] = 255
        img[2:30, k:k + 2] = 255
    from PIL import Image
    return Image.fromarray(img)


def init_state() -> None:
    for k, v in DEFAULTS.items():
        if k not in st.session_state:
            st.session_state[k] = v() if callable(v) else (list(v) if isinstance(v, list) else v)


def mark(what: str, t0: float) -> None:
    """Record how long a step took (shown in the log when GRIDPLAN_APP_TIMINGS is set)."""
    import os
    dt = round(time.perf_counter() - t0, 3)
    st.session_state.setdefault("timings", {})[f"{what}_s"] = dt
    if os.environ.get("GRIDPLAN_APP_TIMINGS"):
        import sys
        print(f"[gridplan-timing] {what} {dt:.3f}s", file=sys.stderr, flush=True)


def lang() -> str:
    return st.session_state.get("lang", "zh")


def T(key: str, **fmt) -> str:
    return _t(key, lang(), **fmt)


_MD_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:=\"'&^%@")


def md(value) -> str:
    """Text from user files made inert for Streamlit markdown: every markdown/HTML/LaTeX character is
    backslash-escaped (so a name like ``![x](http://host/x.png)`` is shown, never fetched)."""
    s = "" if value is None else str(value)
    s = s.replace("\r", " ").replace("\n", " ")
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in s)


def flash(kind: str, text: str) -> None:
    st.session_state["flash"] = list(st.session_state.get("flash", [])) + [(kind, text)]


def show_flash() -> None:
    for kind, text in st.session_state.get("flash", []):
        getattr(st, kind, st.info)(text)
    st.session_state["flash"] = []


# --------------------------------------------------------------------------- dataset
def dataset_key(source: dict) -> str:
    if source.get("kind") == "sample":
        return "sample"
    return json.dumps({k: source.get(k) for k in ("kind", "path", "name", "coord_system", "column_map")},
                      ensure_ascii=False, sort_keys=True)


@st.cache_resource(max_entries=4, show_spinner=False)
def _load(key: str):
    from app_pages._worker import load_by_key
    return load_by_key(key)


def dataset():
    """The loaded dataset (``None`` if it cannot be loaded; the problems are in ``load_problems``)."""
    key = dataset_key(st.session_state["source"])
    try:
        t0 = time.perf_counter()
        ds = _load(key)
        mark("dataset", t0)
        return ds
    except ValidationError as e:
        st.session_state["load_problems"] = [p.as_dict() for p in e.problems]
        return None


def require_dataset():
    """The loaded dataset; a page without one shows a notice and stops there."""
    ds = dataset()
    if ds is None:
        st.warning(T("no_dataset"))
        st.page_link("app_pages/data.py", label=T("page_data"), icon=":material/folder_open:")
        st.stop()
    return ds


def load_source(source: dict) -> bool:
    """Try a new source; keep it (and reset the plan) only when it loads. Called from callbacks."""
    key = dataset_key(source)
    try:
        ds = _load(key)
    except ValidationError as e:
        st.session_state["load_problems"] = [p.as_dict() for p in e.problems]
        return False
    except Exception as e:  # noqa: BLE001 - never a traceback in the app
        st.session_state["load_problems"] = [{"severity": "error", "layer": "dataset", "feature": None,
                                              "message": f"{type(e).__name__}: {e}",
                                              "fix": "check the files (open them in QGIS) and try again"}]
        return False
    st.session_state["source"] = source
    st.session_state["load_problems"] = None
    reset_plan_state()
    flash("success", T("loaded", name=md(ds.name)))
    return True


def reset_plan_state() -> None:
    for k in ("history", "history_key", "focus", "target", "selected_grid", "report", "map_center", "map_zoom",
              "active_stations", "suggested"):
        st.session_state[k] = DEFAULTS[k]
    st.session_state["selection"] = ()
    st.session_state["added_stations"] = ()


def save_uploads(files, types=None) -> tuple[Path | None, list[str]]:
    """Write uploaded files into a fresh temporary folder (never over anything); returns it and errors.
    ``types``: the accepted extensions (default :data:`UPLOAD_TYPES`)."""
    types = UPLOAD_TYPES if types is None else types
    errors = []
    if not files:
        return None, [T("no_files")]
    folder = Path(tempfile.mkdtemp(prefix="gridplan-upload-"))
    for f in files:
        name = Path(f.name).name
        name = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", name).strip(" .") or "upload"
        mb = f.size / 1e6
        if mb > UPLOAD_LIMIT_MB:
            errors.append(T("too_big", name=name, mb=mb, limit=UPLOAD_LIMIT_MB))
            continue
        if Path(name).suffix.lower().lstrip(".") not in types:
            errors.append(T("bad_file_type", name=name))
            continue
        target = folder / name
        i = 1
        while target.exists():
            target = folder / f"{Path(name).stem}_{i}{Path(name).suffix}"
            i += 1
        target.write_bytes(f.getvalue())
    return folder, errors


def parse_column_map(text: str) -> dict | None:
    out = {}
    for line in (text or "").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            if k.strip() and v.strip():
                out[k.strip()] = v.strip()
    return out or None


# --------------------------------------------------------------------------- household rosters (数据 page)
ROSTER_TYPES = ["xlsx", "xlsm", "xls", "csv", "txt"]


def cb_roster_match():
    """Read the uploaded rosters (then delete them from the server) and match them to the dataset."""
    import shutil

    from gridplan import GridplanError
    from gridplan.roster import apply_roster
    r = st.session_state
    r["roster_result"], r["roster_error"] = None, None
    ds = dataset()
    folder, errors = save_uploads(r.get("_roster_files"), types=ROSTER_TYPES)
    try:
        if errors or ds is None:
            r["roster_error"] = "; ".join(errors) or T("no_dataset")
            return
        r["roster_result"] = apply_roster(ds, sorted(folder.iterdir()))
        r["roster_key"] = dataset_key(r["source"])
    except (GridplanError, ValueError) as e:
        r["roster_error"] = str(e)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def roster_result():
    """The last roster match, if it belongs to the current dataset."""
    r = st.session_state
    res = r.get("roster_result")
    return res if res is not None and r.get("roster_key") == dataset_key(r["source"]) else None


def cb_roster_apply():
    """Use the roster's counts as the current dataset (written to a private folder); keep the previous
    source for 撤销."""
    from gridplan.roster import write_roster_output
    r = st.session_state
    res = roster_result()
    if res is None:
        return
    previous = r["source"]
    folder = Path(tempfile.mkdtemp(prefix="gridplan-roster-")) / "dataset"
    write_roster_output(res, folder)
    if load_source({"kind": "path", "path": str(folder), "name": f"{res.dataset.name}+台账"}):
        r["roster_prev_source"] = previous
        r["roster_result"] = None
        flash("success", T("roster_applied", n=res.summary["buildings_matched"]))


def cb_roster_undo():
    r = st.session_state
    previous = r.get("roster_prev_source")
    if previous is not None and load_source(previous):
        r["roster_prev_source"] = None
        flash("info", T("roster_undone"))


# --------------------------------------------------------------------------- plans
@st.cache_resource(show_spinner=False)
def _executor():
    """One worker process for partitions (a thread if processes are not available)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
    try:
        return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    except (OSError, ValueError, NotImplementedError):  # pragma: no cover - restricted platforms
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="gridplan-partition")


@st.cache_resource(max_entries=8, show_spinner=False)
def _partition_job(_ds, key: str, rule: tuple, seed: int, code_width: int):
    """The first partition of a dataset runs in the background (shared by every session), so the
    map shows at once and the grids appear when the engine is done."""
    from app_pages._worker import partition_dataset
    try:
        return _executor().submit(partition_dataset, _ds, rule, seed, code_width)
    except Exception:  # noqa: BLE001 - a broken pool: compute here instead
        from concurrent.futures import Future
        fut = Future()
        fut.set_result(partition_dataset(_ds, rule, seed, code_width))
        return fut


@st.cache_resource(show_spinner=False)
def _started() -> set:
    """Partition jobs submitted so far in this server (shared by every session)."""
    return set()


def _initial_plan(ds, key: str, rule: tuple, seed: int, code_width: int, *, wait: bool = True,
                  start: bool = True):
    """The engine's partition (``None`` while it runs and ``wait`` is false); one shared Plan per job.

    ``start=False`` does not submit a job that is not running yet: the very first map of a fresh
    server is sent before the worker process starts competing for the CPU.
    """
    job = (key, rule, seed, code_width)
    if not start and not wait and job not in _started():
        return None
    _started().add(job)
    fut = _partition_job(ds, key, rule, seed, code_width)
    if not wait and not fut.done():
        return None
    plan = getattr(fut, "gridplan_plan", None)
    if plan is None:
        from gridplan.model import Plan
        try:
            assignment, label, secs = fut.result()
        except Exception:  # noqa: BLE001 - the worker process died: partition here
            from app_pages._worker import partition_dataset
            log.exception("background partition failed; partitioning in the app process")
            assignment, label, secs = partition_dataset(ds, rule, seed, code_width)
        plan = Plan(assignment, rule=Rule(*rule), label=label)
        fut.gridplan_plan, fut.gridplan_seconds = plan, secs
    st.session_state["timings"]["partition_s"] = round(fut.gridplan_seconds, 3)
    return plan


def _rule_tuple(rule: Rule) -> tuple:
    return (rule.min_households, rule.max_households, rule.min_persons, rule.max_persons, rule.mode)


def history(*, wait: bool = False, start: bool = False):
    """The undo history of the current plan; ``None`` while the first partition is still running
    (or, with ``start`` false, not started yet: :func:`wait_for_partition` starts it)."""
    ds = dataset()
    if ds is None:
        return None
    key = dataset_key(st.session_state["source"])
    h = st.session_state.get("history")
    if h is None or st.session_state.get("history_key") != key:
        plan = _initial_plan(ds, key, _rule_tuple(st.session_state["rule"]), int(st.session_state["seed"]),
                             int(st.session_state["code_width"]), wait=wait, start=start)
        if plan is None:
            return None
        h = ed.History.start(plan)
        st.session_state["history"] = h
        st.session_state["history_key"] = key
    return h


def wait_for_partition() -> None:
    """Shown while the first partition runs: a status line that reruns the app when it is done."""
    st.info(T("partitioning"), icon=":material/hourglass_top:")

    @st.fragment(run_every=0.5)
    def _poll():
        # the first call runs inline, while the page (and the map) is still being sent: start the
        # engine from the next poll on
        r = st.session_state
        r["_polls"] = r.get("_polls", 0) + 1
        if r["_polls"] >= 2 and history(start=True) is not None:
            st.rerun(scope="app")
    _poll()


def plan():
    h = history(wait=True, start=True)
    return None if h is None else h.current


@st.cache_resource(max_entries=64, show_spinner=False)
def _grids(_ds, dkey: str, _plan, pkey: str):
    from gridplan import metrics
    return metrics.grids(_ds, _plan)


def grids(ds, p):
    """The grid layer (polygons + ledger columns) of a plan, cached by its fingerprint."""
    return _grids(ds, dataset_key(st.session_state["source"]), p, ed.fingerprint(p))


def grid_table(ds, p) -> pd.DataFrame:
    g = grids(ds, p)
    return pd.DataFrame(g.drop(columns=g.geometry.name))


@st.cache_resource(max_entries=64, show_spinner=False)
def _colors(_ds, dkey: str, _plan, pkey: str):
    from gridplan import webmap
    return webmap.grid_colors(_grids(_ds, dkey, _plan, pkey))


def push_plan(new, *, message: str | None = None) -> None:
    """Make ``new`` the current plan, check it against the old one and keep the report."""
    ds = dataset()
    h = st.session_state["history"]
    old = h.current
    report = ed.check(ds, new, before=old)
    st.session_state["history"] = h.push(new)
    set_report(report, label=new.label)
    if message:
        flash("success", message)


def set_report(report, *, label: str = "") -> None:
    from gridplan.i18n import reason
    tb = report.table
    st.session_state["report"] = {
        "label": label,
        "newly_broken": [(g, reason(str(tb.at[g, "reason"]), lang())) for g in report.newly_broken if g in tb.index],
        "fixed": list(report.fixed),
        "changed": list(report.changed),
        "compliant": int(tb["compliant"].sum()),
        "grids": int(len(tb)),
    }


def do_edit(edit: ed.Edit, *, message: str | None = None) -> bool:
    """Apply an edit (callback side). A failing edit leaves the plan as it was and says why."""
    ds, p = dataset(), plan()
    if ds is None or p is None:
        return False
    t0 = time.perf_counter()
    try:
        new = ed.apply(ds, p, edit)
    except PlanError as e:
        flash("error", T("edit_failed", msg=md(e)))
        return False
    push_plan(new, message=message)
    st.session_state["timings"]["edit_s"] = round(time.perf_counter() - t0, 3)
    return True


# --------------------------------------------------------------------------- callbacks
def cb_lang():
    st.session_state["lang"] = st.session_state["_lang_radio"]


def cb_undo():
    h = st.session_state.get("history")
    if h is not None and h.can_undo:
        st.session_state["history"] = h.undo()
        _report_after_jump(h.current, st.session_state["history"].current)


def cb_redo():
    h = st.session_state.get("history")
    if h is not None and h.can_redo:
        st.session_state["history"] = h.redo()
        _report_after_jump(h.current, st.session_state["history"].current)


def _report_after_jump(old, new):
    ds = dataset()
    report = ed.check(ds, new, before=old)
    set_report(report, label=new.label)


def cb_partition():
    r = st.session_state
    try:
        rule = Rule(int(r["_min_hh"]), int(r["_max_hh"]), int(r["_min_pp"]), int(r["_max_pp"]), r["_mode"])
    except ValueError as e:
        flash("error", T("edit_failed", msg=md(e)))
        return
    r["rule"], r["seed"], r["code_width"] = rule, int(r["_seed"]), int(r["_code_width"])
    ds = dataset()
    key = dataset_key(r["source"])
    new = _initial_plan(ds, key, _rule_tuple(rule), r["seed"], r["code_width"])
    if r.get("history") is None:
        r["history"] = ed.History.start(new)
        r["history_key"] = key
    else:
        push_plan(new)
    tb = grid_table(ds, new)
    flash("success", T("partition_done", grids=len(tb), ok=int(tb["compliant"].sum())))
    r["selection"], r["selected_grid"] = (), None


def cb_move_selection():
    sel = st.session_state.get("selection") or ()
    target = st.session_state.get("target")
    if not sel or not target:
        return
    if do_edit(ed.Edit.move(sel, target), message=T("moved_n", n=len(sel), grid=md(target))):
        st.session_state["selection"] = ()


def cb_clear_selection():
    st.session_state["selection"] = ()


def cb_merge():
    keep, absorb = st.session_state.get("_merge_keep"), st.session_state.get("_merge_absorb")
    if keep and absorb:
        if do_edit(ed.Edit.merge(keep, absorb)):
            st.session_state["selected_grid"] = keep


def cb_split():
    g = st.session_state.get("selected_grid")
    parts = int(st.session_state.get("_split_parts") or 0) or None
    if g:
        do_edit(ed.Edit.split(g, parts, int(st.session_state.get("seed", 0))))


def cb_lock(lock: bool):
    g = st.session_state.get("selected_grid")
    if g:
        do_edit(ed.Edit.lock([g]) if lock else ed.Edit.unlock([g]))


def cb_reoptimise():
    ds, p = dataset(), plan()
    g = st.session_state.get("selected_grid")
    cid = ed.community_of_grid(ds, p, g) if g else current_focus(ds)
    if cid and cid != ALL:
        do_edit(ed.Edit.reoptimise(cid, int(st.session_state.get("seed", 0))))


def cb_select_grid_row():
    """The grid table's on_select: select the grid, focus its community and centre the map on it."""
    sel = st.session_state.get("grid_table")
    rows = list(getattr(getattr(sel, "selection", None), "rows", []) or [])
    ids = st.session_state.get("_grid_table_ids") or []
    if not rows or rows[0] >= len(ids):
        return
    select_grid(ids[rows[0]])


def select_grid(grid_id: str) -> None:
    ds, p = dataset(), plan()
    if ds is None or p is None or grid_id not in set(p.grid_ids):
        return
    r = st.session_state
    r["selected_grid"] = grid_id
    r["target"] = grid_id
    cid = ed.community_of_grid(ds, p, grid_id)
    if cid and r.get("focus") != ALL:
        r["focus"] = cid
    center = ed.grid_center(grids(ds, p), grid_id)
    if center is not None:
        r["map_center"] = center
        r["map_zoom"] = 17


def cb_focus():
    st.session_state["focus"] = st.session_state["_focus"]
    st.session_state["map_center"] = None
    st.session_state["map_zoom"] = None


def cb_copy(src: str, dst: str):
    st.session_state[dst] = st.session_state[src]


def cb_target():
    st.session_state["target"] = st.session_state["_target"]


def cb_tool():
    st.session_state["tool"] = st.session_state["_tool"]


def cb_unit():
    st.session_state["unit"] = st.session_state["_unit"]


def current_focus(ds) -> str | None:
    f = st.session_state.get("focus")
    if ds is None or ds.communities is None or not len(ds.communities):
        return ALL
    if f is None or (f != ALL and f not in ds.communities.index):
        f = str(ds.communities.index[0])
        st.session_state["focus"] = f
    return f


# --------------------------------------------------------------------------- map events
def cb_map():
    """st_folium's on_change: a click on a feature, a drawn shape, or a click on the map."""
    ev = st.session_state.get("map") or {}
    t0 = time.perf_counter()
    try:
        handle_map_event(ev)
    except PlanError as e:
        flash("error", T("edit_failed", msg=md(e)))
    st.session_state["timings"]["map_event_s"] = round(time.perf_counter() - t0, 3)


def handle_map_event(ev: dict) -> None:
    ds, p = dataset(), plan()
    if ds is None or p is None:
        return
    r = st.session_state
    tool = r.get("tool", "select")
    sig = json.dumps([ev.get("last_active_drawing"), ev.get("last_clicked")], sort_keys=True, default=str)
    if sig == r.get("_last_map_sig"):
        return
    r["_last_map_sig"] = sig
    if tool == "station":
        click = ev.get("last_clicked")
        if click and "lat" in click and "lng" in click:
            add_station(ds, float(click["lng"]), float(click["lat"]))
        return
    feat = ev.get("last_active_drawing")
    if not feat:
        return
    props = feat.get("properties") or {}
    layer = props.get("layer")
    ids: list[str] = []
    if layer == "building":
        bid = str(props.get("building_id"))
        comp = ed.compound_of(ds, bid) if r.get("unit") == "compound" else None
        ids = list(ed.compound_buildings(ds, comp)) if comp else [bid]
    elif layer == "compound":
        ids = list(ed.compound_buildings(ds, str(props.get("compound_id"))))
    elif layer == "grid":
        if tool == "select":
            gid = str(props.get("grid_id"))
            r["selected_grid"] = gid
            r["target"] = gid
        return
    elif layer is None and (feat.get("geometry") or {}).get("type") in ("Polygon", "MultiPolygon"):
        ids = list(ed.buildings_within(ds, feat))
    else:
        return
    if not ids:
        return
    if tool == "paint" and r.get("target"):
        target = r["target"]
        do_edit(ed.Edit.move(ids, target), message=T("moved_n", n=len(ids), grid=md(target)))
        r["selection"] = ()
    else:
        r["selection"] = tuple(ids)
        grids_hit = sorted(set(p.assignment.reindex(ids).dropna()))
        if len(grids_hit) == 1:
            r["selected_grid"] = grids_hit[0]


# --------------------------------------------------------------------------- coverage
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
    if added:
        cov = cov.with_stations([(x, y) for x, y, _ in added], station_ids=[s for _, _, s in added],
                                names=[s for _, _, s in added])
    return cov.result()


def coverage_result(ds, *, what_if: bool = True):
    """The coverage result for the current station settings (``what_if=False``: dataset stations only)."""
    if not coverage_available(ds):
        return None
    r = st.session_state
    active = r.get("active_stations")
    args = (tuple(float(m) for m in r["cov_minutes"]), float(r["cov_speed"]), tuple(r["cov_kinds"]))
    return _coverage(ds, dataset_key(r["source"]), *args,
                     tuple(active) if (what_if and active is not None) else None,
                     tuple(r["added_stations"]) if what_if else ())


@st.cache_resource(max_entries=16, show_spinner=False)
def _isochrones(_res, key: str):
    from gridplan.reach import isochrones
    return isochrones(_res)


def isochrones(ds, res):
    r = st.session_state
    key = json.dumps([dataset_key(r["source"]), list(r["cov_minutes"]), r["cov_speed"], list(r["cov_kinds"]),
                      r.get("active_stations"), list(r["added_stations"])], default=str)
    return _isochrones(res, key)


def add_station(ds, lon: float, lat: float) -> None:
    x, y = ed.to_metric(ds, lon, lat)
    added = tuple(st.session_state.get("added_stations") or ())
    existing = set(ds.stations.index.astype(str)) if ds.stations is not None else set()
    i = len(added) + 1
    while f"new{i}" in existing or any(s == f"new{i}" for *_, s in added):
        i += 1
    sid = f"new{i}"
    st.session_state["added_stations"] = added + ((round(x, 2), round(y, 2), sid),)
    flash("success", T("station_added", sid=sid))


def stations_layer(ds, res):
    """Stations to draw: the active dataset stations plus the what-if ones (from the coverage result)."""
    if res is not None:
        s = res.stations
        s = s[s["active"].astype(bool)] if "active" in s.columns else s
        return s
    return ds.stations


# --------------------------------------------------------------------------- map
def _selection_layer(ds, ids):
    import folium
    if not ids:
        return None
    fc = ed.buildings_geojson(ds, ids, layer="selection")
    if fc is None:
        return None
    fg = folium.FeatureGroup(name="已选楼栋" if lang() == "zh" else "Selected buildings")
    folium.GeoJson(fc, style_function=lambda f: {"color": "#00e5ff", "weight": 3, "fill": False},
                   interactive=False).add_to(fg)
    return fg


@st.cache_resource(max_entries=32, show_spinner=False)
def _focus_dataset(_ds, dkey: str, focus: str):
    return _ds if focus == ALL else _ds.for_communities(focus)


@st.cache_resource(max_entries=32, show_spinner=False)
def _focus_bounds(_ds, dkey: str, focus: str):
    """[[south, west], [north, east]] of the buildings in view (lon/lat)."""
    return ed.view_bounds(_focus_dataset(_ds, dkey, focus).buildings)


def render_map(ds, p, *, key: str = "map"):
    """Build and show the map; returns the st_folium value."""
    from streamlit_folium import st_folium

    from gridplan import webmap

    r = st.session_state
    t0 = time.perf_counter()
    dkey = dataset_key(r["source"])
    focus = current_focus(ds)
    fds = _focus_dataset(ds, dkey, focus)
    g = grids(ds, p) if p is not None else None
    if g is not None and focus != ALL:
        g = g[g["community_id"].astype(str).to_numpy() == focus]
    colors = _colors(ds, dkey, p, ed.fingerprint(p)) if p is not None else None
    t1 = time.perf_counter()
    res = coverage_result(ds) if (p is not None and r.get("show_coverage") and coverage_available(ds)) else None
    mark("map_coverage", t1)
    iso = isochrones(ds, res) if (res is not None and r.get("show_isochrones")) else None
    cov_b = res.buildings if res is not None else None
    suggested = None
    if r.get("suggested"):
        import geopandas as gpd
        sg = pd.DataFrame(r["suggested"])
        suggested = gpd.GeoDataFrame(sg.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(sg["x"], sg["y"]),
                                     crs=ds.crs)
    # the base map keeps its script from one run to the next, so streamlit-folium keeps the same
    # Leaflet map; the plan layers go to feature_group_to_add and are swapped in place: an edit
    # redraws them without reloading the map. The view is set once per community (below); a
    # selected grid uses center/zoom.
    mp = webmap.make_map_parts(fds, grids=g, assignment=None if p is None else p.assignment, coverage=cov_b,
                         isochrones=iso, stations=stations_layer(ds, res), suggested=suggested, lang=lang(),
                         selected_grid=r.get("selected_grid") if p is not None else None, draw_tools=True,
                         colors=colors, height=MAP_HEIGHT)
    mark("map_make", t1)
    m, groups, control = mp.base, list(mp.layers), mp.control
    bounds = _focus_bounds(ds, dkey, focus)
    if bounds is not None:
        import folium
        folium.FitBounds(bounds).add_to(m)
    if control is not None:
        control.options["collapsed"] = True
    sel = _selection_layer(ds, r.get("selection"))
    if sel is not None:
        groups.append(sel)
    mark("map_build", t0)
    out = st_folium(m, key=key, height=MAP_HEIGHT, use_container_width=True,
                    returned_objects=["last_active_drawing", "all_drawings", "last_clicked"],
                    feature_group_to_add=groups, layer_control=control,
                    center=r.get("map_center"), zoom=r.get("map_zoom"), on_change=cb_map)
    mark("map_total", t0)
    return out


# --------------------------------------------------------------------------- tables
def grid_frame(ds, p, res=None) -> pd.DataFrame:
    """The grid table as shown (localised headers, status and reason text)."""
    from gridplan.i18n import reason
    tb = grid_table(ds, p)
    L = lang()
    cname = ds.communities["name"].to_dict() if ds.communities is not None and "name" in ds.communities.columns else {}
    df = pd.DataFrame({
        T("col_grid"): tb.index.astype(str),
        T("col_community"): [cname.get(c, c) for c in tb["community_id"]],
        T("col_status"): [T("ok") if ok else T("not_ok") for ok in tb["compliant"]],
        T("col_households"): tb["households"].astype(int).to_numpy(),
        # balance: households above (+) or below (−) the middle of the rule's range
        T("col_deviation"): (tb["households"] - (p.rule.min_households + p.rule.max_households) / 2).round().astype(int)
        .to_numpy(),
        T("col_persons"): tb["persons"].astype(int).to_numpy(),
        T("col_party"): tb["party_members"].astype(int).to_numpy() if "party_members" in tb.columns else 0,
        T("col_buildings"): tb["buildings"].astype(int).to_numpy(),
        T("col_contiguous"): tb["contiguous"].astype(bool).to_numpy(),
        T("col_compounds_split"): tb["compounds_split"].astype(int).to_numpy(),
        T("col_pp"): tb["polsby_popper"].round(2).to_numpy(),
        T("col_locked"): [T("locked") if g in p.locked else "" for g in tb.index],
        T("col_reason"): [reason(str(c), L) for c in tb["reason"]],
    })
    if res is not None:
        gc = ed.grid_coverage(p, res.buildings)
        df.insert(6, T("col_coverage"), gc["pct_covered"].reindex(tb.index).round(1).to_numpy())
    return df


def reason_text(code) -> str:
    from gridplan.i18n import reason
    return reason(str(code or ""), lang())


def localized(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with localized column headers (and index name)."""
    from gridplan.i18n import column
    out = df.rename(columns=lambda c: column(c, lang()))
    if out.index.name:
        out.index.name = column(out.index.name, lang())
    return out


def problems_frame(problems: list[dict]) -> pd.DataFrame:
    from gridplan.i18n import layer_name
    return pd.DataFrame({
        T("col_severity"): [T("sev_error") if p.get("severity") == "error" else T("sev_warning") for p in problems],
        T("col_layer"): [layer_name(str(p.get("layer") or ""), lang()) for p in problems],
        T("col_feature"): [str(p.get("feature") or "—") for p in problems],
        T("col_problem"): [str(p.get("message") or "") for p in problems],
        T("col_fix"): [str(p.get("fix") or "") for p in problems],
    })


# --------------------------------------------------------------------------- coverage callbacks
def cb_cov_options():
    r = st.session_state
    kinds = tuple(r.get("_cov_kinds") or ()) or ("red_station",)
    try:
        minutes = tuple(sorted({float(x) for x in str(r.get("_cov_minutes", "")).replace("，", ",").split(",")
                                if x.strip()}))
        if not minutes or min(minutes) <= 0:
            raise ValueError
    except ValueError:
        flash("error", T("edit_failed", msg=T("minutes")))
        return
    r["cov_kinds"], r["cov_minutes"], r["cov_speed"] = kinds, minutes, float(r.get("_cov_speed") or 4.0)


def cb_active():
    ds = dataset()
    chosen = list(st.session_state.get("_active") or [])
    all_ids = [str(s) for s in ds.stations.index]
    st.session_state["active_stations"] = None if sorted(chosen) == sorted(all_ids) else tuple(chosen)


def cb_clear_added():
    st.session_state["added_stations"] = ()


def cb_suggest():
    from gridplan.stations import suggest_stations
    ds = dataset()
    res = coverage_result(ds)
    k = int(st.session_state.get("_suggest_k") or 3)
    try:
        sg = suggest_stations(res, k)
    except Exception as e:  # noqa: BLE001 - a failed suggestion is a message, not a traceback
        flash("error", T("edit_failed", msg=md(e)))
        return
    pts = sg.geometry
    st.session_state["suggested"] = [
        {"rank": int(row.get("rank", i + 1)), "gain_households": int(row.get("gain_households", 0)),
         "cum_households": int(row.get("cum_households", 0)), "x": float(pt.x), "y": float(pt.y)}
        for i, ((_, row), pt) in enumerate(zip(sg.iterrows(), pts))]


def cb_adopt_suggested():
    sug = st.session_state.get("suggested") or []
    added = tuple(st.session_state.get("added_stations") or ())
    ds = dataset()
    existing = set(ds.stations.index.astype(str)) | {s for *_, s in added}
    for row in sug:
        i = 1
        while f"new{i}" in existing:
            i += 1
        existing.add(f"new{i}")
        added = added + ((round(row["x"], 2), round(row["y"], 2), f"new{i}"),)
    st.session_state["added_stations"] = added
    st.session_state["suggested"] = None


# --------------------------------------------------------------------------- versions
def project_store():
    """The plan store of the loaded dataset: ``GRIDPLAN_STORE`` (a ``.gpkg`` path or a
    ``postgresql://`` URL) when set, else ``projects/<dataset>.gpkg`` (GRIDPLAN_PROJECTS_DIR overrides
    the folder)."""
    import os

    from gridplan.store import default_project_path, open_store
    url = os.environ.get("GRIDPLAN_STORE")
    if not url:
        ds = dataset()
        folder = os.environ.get("GRIDPLAN_PROJECTS_DIR") or str(Path(__file__).resolve().parent.parent / "projects")
        url = default_project_path(ds.name if ds is not None else "project", folder=folder)
    return open_store(url)


def store_user() -> str:
    """Who saves (until the app has a sign-in: ``GRIDPLAN_USER`` or the account running the app)."""
    import getpass
    import os
    return st.session_state.get("store_user") or os.environ.get("GRIDPLAN_USER") or getpass.getuser()


def store_base(store):
    """The version of ``store`` the current plan was opened from or last saved as (``None``: the newest)."""
    base = st.session_state.get("store_base")
    return base[1] if base and base[0] == store.location else None


def cb_save_version():
    from gridplan.store import StoreConflict, StoreError
    p = plan()
    name = (st.session_state.get("_version_name") or "").strip()
    note = st.session_state.get("_version_note") or ""
    store = project_store()
    try:
        vid = store.save(p, name=name, user=store_user(), note=note, dataset=dataset(), base=store_base(store),
                         grids=grids(dataset(), p))
    except StoreConflict as e:
        flash("error", T("save_conflict", msg=md(e)))
        return
    except (StoreError, PlanError, OSError) as e:
        flash("error", T("edit_failed", msg=md(e)))
        return
    st.session_state["store_base"] = (store.location, vid)
    flash("success", T("saved", vid=vid, name=md(name)))
    st.session_state["_version_name"] = ""
    st.session_state["_version_note"] = ""


def load_version(vid):
    """A saved plan, checked against the dataset (``None`` and a message when it does not fit)."""
    from gridplan.store import StoreError
    ds = dataset()
    try:
        p = project_store().load(vid)
        p.check_against(ds.buildings.index)
    except (StoreError, PlanError) as e:
        flash("error", T("version_mismatch", msg=md(e)))
        return None
    return p


def cb_import_assignment():
    """A building → grid CSV (e.g. exported earlier or edited in a spreadsheet) becomes the current plan."""
    import io
    f = st.session_state.get("_import_csv")
    ds, p = dataset(), plan()
    if f is None or ds is None or p is None:
        return
    try:
        if f.size > UPLOAD_LIMIT_MB * 1e6:
            raise ValueError(T("too_big", name=f.name, mb=f.size / 1e6, limit=UPLOAD_LIMIT_MB))
        df = pd.read_csv(io.BytesIO(f.getvalue()), dtype=str, encoding="utf-8-sig")
        cols = {c.strip().lower(): c for c in df.columns}
        bcol = cols.get("building_id") or cols.get("楼栋编码") or cols.get("楼栋")
        gcol = cols.get("grid_id") or cols.get("网格编码") or cols.get("网格")
        if bcol is None or gcol is None:
            raise ValueError("the CSV needs the columns building_id and grid_id")
        s = pd.Series(df[gcol].str.strip().to_numpy(), index=df[bcol].str.strip().to_numpy())
        new = p.with_assignment(s, label=f"import {Path(f.name).name}")
        new.check_against(ds.buildings.index)
    except (ValueError, PlanError, UnicodeDecodeError, pd.errors.ParserError) as e:
        flash("error", T("import_bad", msg=md(e)))
        return
    push_plan(new, message=T("imported", n=len(new)))
    st.session_state["selection"] = ()
    st.session_state["selected_grid"] = None


def cb_open_version():
    vid = st.session_state.get("_open_vid")
    if vid is None:
        return
    p = load_version(int(vid))
    if p is None:
        return
    push_plan(p, message=T("opened", name=md(p.label)))
    st.session_state["store_base"] = (project_store().location, int(vid))
    st.session_state["selection"] = ()
    st.session_state["selected_grid"] = None


# --------------------------------------------------------------------------- exports
def export_basename() -> str:
    ds = dataset()
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f\s]+', "_", ds.name if ds is not None else "gridplan").strip("._") or "gridplan"
    return safe[:60]


def export_key(kind: str, *args) -> str:
    """What a prepared download depends on: a file made for another plan or option is not offered."""
    p = plan()
    return json.dumps([kind, list(map(str, args)), ed.fingerprint(p) if p is not None else "", lang(),
                       bool(st.session_state.get("_include_personal"))])


def cb_prepare_export(kind: str, *args):
    """Build one export into memory (bytes, file name, MIME type) for the download button."""
    from app_pages import exports
    ds, p = dataset(), plan()
    t0 = time.perf_counter()
    try:
        res = coverage_result(ds) if coverage_available(ds) else None
        data, fname, mime = exports.build(kind, ds, p, grids(ds, p), *args, base=export_basename(), lang=lang(),
                                          include_personal=bool(st.session_state.get("_include_personal")),
                                          coverage=res)
    except Exception as e:  # noqa: BLE001 - an export failure is a message, never a traceback
        log.exception("export %s failed", kind)
        flash("error", T("export_failed", msg=md(f"{type(e).__name__}: {e}")))
        return
    st.session_state.setdefault("exports", {})[kind] = (data, fname, mime, export_key(kind, *args))
    st.session_state["timings"][f"export_{kind}_s"] = round(time.perf_counter() - t0, 3)
