"""Every change of the app's state: widget callbacks and map events (each calls one or two library
functions on immutable values and keeps the result in ``st.session_state``)."""
from __future__ import annotations

import json
import logging
import time

import streamlit as st

from app_pages import common as c
from app_pages import partychain, plans, projects, whatif
from app_pages.common import T, flash, md
from gridplan import PlanError, Rule
from gridplan import edit as ed

log = logging.getLogger("gridplan.app")


# --------------------------------------------------------------------------- frame
def cb_lang():
    st.session_state["lang"] = st.session_state["_lang_radio"]


def cb_copy(src: str, dst: str):
    st.session_state[dst] = st.session_state[src]


def _jump(step: int):
    h = st.session_state.get("history")
    if h is None or not (h.can_undo if step < 0 else h.can_redo):
        return
    new = h.undo() if step < 0 else h.redo()
    st.session_state["history"] = new
    plans.set_report(ed.check(c.dataset(), new.current, before=h.current), label=new.current.label)
    projects.mark_dirty()


def cb_undo():
    _jump(-1)


def cb_redo():
    _jump(+1)


# --------------------------------------------------------------------------- partition and edits
def cb_partition():
    r = st.session_state
    try:
        rule = Rule(int(r["_min_hh"]), int(r["_max_hh"]), int(r["_min_pp"]), int(r["_max_pp"]), r["_mode"])
    except ValueError as e:
        flash("error", T("edit_failed", msg=c.message(e)))
        return
    from app_pages import auth
    before = plans.plan()
    old = (r["rule"], r["seed"], r["code_width"])
    new = plans.partition_now(rule, r["_seed"], r["_code_width"])
    if before is not None and auth.refuse_edit(before, new):
        r["rule"], r["seed"], r["code_width"] = old
        return
    plans.push_plan(new)
    tb = ed.check(c.dataset(), new).table
    flash("success", T("partition_done", grids=len(tb), ok=int(tb["compliant"].sum())))
    r["selection"], r["selected_grid"] = (), None


def cb_move_selection():
    sel = st.session_state.get("selection") or ()
    target = st.session_state.get("target")
    if sel and target and plans.do_edit(ed.Edit.move(sel, target), message=T("moved_n", n=len(sel), grid=md(target))):
        st.session_state["selection"] = ()


def cb_clear_selection():
    st.session_state["selection"] = ()


def cb_merge():
    keep, absorb = st.session_state.get("selected_grid"), st.session_state.get("_merge_absorb")
    if keep and absorb and plans.do_edit(ed.Edit.merge(keep, absorb)):
        st.session_state["selected_grid"] = keep


def cb_split():
    g = st.session_state.get("selected_grid")
    parts = int(st.session_state.get("_split_parts") or 0) or None
    if g:
        plans.do_edit(ed.Edit.split(g, parts, int(st.session_state.get("seed", 0))))


def cb_lock(lock: bool):
    g = st.session_state.get("selected_grid")
    if g:
        plans.do_edit(ed.Edit.lock([g]) if lock else ed.Edit.unlock([g]))


def cb_reoptimise():
    ds, p = c.dataset(), plans.plan()
    g = st.session_state.get("selected_grid")
    cid = ed.community_of_grid(ds, p, g) if g else c.current_focus(ds)
    if cid and cid != c.ALL:
        plans.do_edit(ed.Edit.reoptimise(cid, int(st.session_state.get("seed", 0))))


def cb_select_grid_row():
    """The grid table's on_select: select the grid, focus its community and centre the map on it."""
    sel = st.session_state.get("grid_table")
    rows = list(getattr(getattr(sel, "selection", None), "rows", []) or [])
    ids = st.session_state.get("_grid_table_ids") or []
    if rows and rows[0] < len(ids):
        select_grid(ids[rows[0]])


def select_grid(grid_id: str) -> None:
    from gridplan import metrics
    ds, p = c.dataset(), plans.plan()
    if ds is None or p is None or grid_id not in set(p.grid_ids):
        return
    r = st.session_state
    r["selected_grid"] = r["target"] = grid_id
    cid = ed.community_of_grid(ds, p, grid_id)
    if cid and r.get("focus") != c.ALL:
        r["focus"] = cid
    center = ed.grid_center(metrics.grids(ds, p), grid_id)
    if center is not None:
        r["map_center"], r["map_zoom"] = center, 17


def cb_focus():
    st.session_state["focus"] = st.session_state["_focus"]
    st.session_state["map_center"] = st.session_state["map_zoom"] = None


def cb_restore_draft():
    from gridplan.io import read_plan_json
    ds = c.dataset()
    try:
        d, _ = read_plan_json(projects.draft_path(ds))
        d.check_against(ds.buildings.index)
    except (ValueError, PlanError, OSError) as e:
        flash("error", T("edit_failed", msg=c.message(e)))
        return
    st.session_state["draft_seen"] = c.dataset_key(st.session_state["source"])
    plans.push_plan(d, message=T("draft_restored", label=c.step(d.label)))


def cb_discard_draft():
    st.session_state["draft_seen"] = c.dataset_key(st.session_state["source"])
    projects.clear_draft()


# --------------------------------------------------------------------------- map events
def cb_map():
    """The map's on_change: a click on a feature, a drawn shape, or a click on the map."""
    t0 = time.perf_counter()
    try:
        handle_map_event(st.session_state.get("map") or {})
    except PlanError as e:
        flash("error", T("edit_failed", msg=md(e)))
    c.mark("map_event", t0)


def handle_map_event(ev: dict) -> None:
    from gridplan.webmap import feature_from_display, from_display
    ds, p = c.dataset(), plans.plan()
    if ds is None or p is None:
        return
    r = st.session_state
    tiles_crs = (r.get("basemap") or {}).get("crs") or "wgs84"
    tool = r.get("tool", "select")
    sig = json.dumps([ev.get("last_active_drawing"), ev.get("last_clicked")], sort_keys=True, default=str)
    if sig == r.get("_last_map_sig"):
        return
    r["_last_map_sig"] = sig
    if tool == "station":
        click = ev.get("last_clicked")
        if click and "lat" in click and "lng" in click:
            add_station(ds, *from_display(float(click["lng"]), float(click["lat"]), tiles_crs))
        return
    feat = ev.get("last_active_drawing")
    if not feat:
        return
    props = feat.get("properties") or {}
    layer = props.get("layer")
    if layer == "building":
        bid = str(props.get("building_id"))
        comp = ed.compound_of(ds, bid) if r.get("unit") == "compound" else None
        ids = list(ed.compound_buildings(ds, comp)) if comp else [bid]
    elif layer == "compound":
        ids = list(ed.compound_buildings(ds, str(props.get("compound_id"))))
    elif layer == "grid":
        if tool == "select":
            r["selected_grid"] = r["target"] = str(props.get("grid_id"))
        return
    elif layer is None and (feat.get("geometry") or {}).get("type") in ("Polygon", "MultiPolygon"):
        ids = list(ed.buildings_within(ds, feature_from_display(feat, tiles_crs)))
    else:
        return
    if not ids:
        return
    if tool == "paint" and r.get("target"):
        target = r["target"]
        plans.do_edit(ed.Edit.move(ids, target), message=T("moved_n", n=len(ids), grid=md(target)))
        r["selection"] = ()
    else:
        r["selection"] = tuple(ids)
        grids_hit = sorted(set(p.assignment.reindex(ids).dropna()))
        if len(grids_hit) == 1:
            r["selected_grid"] = grids_hit[0]


# --------------------------------------------------------------------------- coverage
def add_station(ds, lon: float, lat: float) -> None:
    x, y = ed.to_metric(ds, lon, lat)
    st.session_state["added_stations"] = tuple(st.session_state.get("added_stations") or ()) + ((round(x, 2), round(y, 2)),)
    ids = whatif.added_ids(whatif.coverage_result(ds))
    flash("success", T("station_added", sid=md(ids[-1] if ids else "")))


def cb_cov_options():
    from gridplan.reach import parse_minutes
    r = st.session_state
    try:
        minutes = parse_minutes(r.get("_cov_minutes", ""))
    except ValueError as e:
        flash("error", T("edit_failed", msg=c.message(e)))
        return
    r["cov_kinds"] = tuple(r.get("_cov_kinds") or ()) or ("red_station",)
    r["cov_minutes"], r["cov_speed"] = minutes, float(r.get("_cov_speed") or 4.0)


def cb_active():
    ds = c.dataset()
    chosen = list(st.session_state.get("_active") or [])
    all_ids = [str(s) for s in ds.stations.index]
    st.session_state["active_stations"] = None if sorted(chosen) == sorted(all_ids) else tuple(chosen)


def cb_clear_added():
    st.session_state["added_stations"] = ()


def cb_suggest():
    from gridplan.stations import describe_places, suggest_stations
    ds = c.dataset()
    k = int(st.session_state.get("_suggest_k") or 3)
    try:
        sg = suggest_stations(whatif.coverage_result(ds), k)
    except (ValueError, PlanError) as e:      # a failed suggestion is a message, not a traceback
        flash("error", T("edit_failed", msg=c.message(e)))
        return
    places = describe_places(ds, sg.geometry)
    st.session_state["suggested"] = [
        {"rank": int(row["rank"]), "gain_households": int(row["gain_households"]),
         "cum_households": int(row["cum_households"]), **places.iloc[i].to_dict(),
         "x": float(row.geometry.x), "y": float(row.geometry.y)}
        for i, (_, row) in enumerate(sg.iterrows())]


def cb_adopt_suggested():
    sug = st.session_state.get("suggested") or []
    st.session_state["added_stations"] = tuple(st.session_state.get("added_stations") or ()) + tuple(
        (round(s["x"], 2), round(s["y"], 2)) for s in sug)
    st.session_state["suggested"] = None


# --------------------------------------------------------------------------- versions
def version_keys() -> tuple[str, str]:
    """The widget keys of the version name and note. A save moves them on to new keys, so the browser
    draws two new, empty fields (clearing the old ones' values raced with the planner typing the
    next name: the text was appended to the old one)."""
    n = st.session_state.get("version_form", 0)
    return f"_version_name_{n}", f"_version_note_{n}"


def version_inputs() -> tuple[str, str]:
    """The version name (stripped) and note the planner typed."""
    r = st.session_state
    kn, kd = version_keys()
    return (r.get(kn) or "").strip(), r.get(kd) or ""


def clear_version_inputs() -> None:
    r = st.session_state
    for k in version_keys():
        r.pop(k, None)
    r["version_form"] = r.get("version_form", 0) + 1


def cb_save_version():
    from app_pages import auth, conflict
    from gridplan.store import StoreConflict, StoreError
    r = st.session_state
    name, note = version_inputs()
    ds, p = c.dataset(), plans.plan()
    if auth.is_viewer():
        flash("error", T("auth_read_only"))
        return
    try:
        store = projects.project_store()
        if auth.current() is not None:      # a planner's scope, checked before (and again inside) the save
            conflict.check_scope(store, ds, p)
        from gridplan import metrics
        vid = store.save(p, name=name, user=projects.store_user(), note=note, dataset=ds,
                         base=projects.store_base(store), grids=metrics.grids(ds, p))
    except StoreConflict as e:
        conflict.keep(e)
        flash("error", T("save_conflict", msg=c.message(e)))
        return
    except (StoreError, PlanError, OSError) as e:
        flash("error", T("edit_failed", msg=md(e)))
        return
    r["store_base"] = (store.location, vid)
    r["conflict"] = None
    flash("success", T("saved", vid=vid, name=md(name)))
    _take_saved(store, vid, p)
    clear_version_inputs()
    projects.clear_draft()


def _take_saved(store, vid, p) -> None:
    """A save applies the plan's communities on top of the newest version: when others saved other
    communities meanwhile, the saved version holds them too, and it becomes the session's plan (the
    next save's base is that version, so it must not look as if the planner had undone them)."""
    from gridplan.store import StoreError
    try:
        saved = store.load(vid)
    except StoreError as e:
        log.warning("version %s not read back: %s", vid, e)
        return
    if not saved.same_assignment(p) or saved.locked != p.locked:
        # a fresh history: undoing past this point would make the next save revert the others' work
        st.session_state["history"] = ed.History.start(saved)
        st.session_state["report"] = None
        flash("info", T("saved_merged", vid=vid))


def load_version(vid):
    """A saved plan, checked against the dataset (``None`` and one message when it does not fit)."""
    from gridplan.store import StoreError
    try:
        p = projects.project_store().load(vid)
        p.check_against(c.dataset().buildings.index)
    except (StoreError, PlanError) as e:
        flash("error", T("version_mismatch", msg=md(e)))
        return None
    return p


def cb_open_version():
    vid = st.session_state.get("_open_vid")
    p = None if vid is None else load_version(int(vid))
    if p is not None:
        plans.push_plan(p, message=T("opened", name=c.step(p.label)))
        st.session_state["store_base"] = (projects.project_store().location, int(vid))
        st.session_state["selection"], st.session_state["selected_grid"] = (), None


def cb_import_assignment():
    """A building → grid CSV (exported earlier or edited in a spreadsheet) becomes the current plan."""
    from gridplan.io import read_assignment_csv
    f = st.session_state.get("_import_csv")
    ds, p = c.dataset(), plans.plan()
    if f is None or ds is None or p is None:
        return
    try:
        if f.size > c.UPLOAD_LIMIT_MB * 1e6:
            raise ValueError(T("too_big", name=f.name, mb=f.size / 1e6, limit=c.UPLOAD_LIMIT_MB))
        new = p.with_assignment(read_assignment_csv(f.getvalue(), name=f.name), label=f"import {f.name}")
        new.check_against(ds.buildings.index)
    except (ValueError, PlanError) as e:
        flash("error", T("import_bad", msg=c.message(e)))
        return
    from app_pages import auth
    if auth.refuse_edit(p, new):
        return
    plans.push_plan(new, message=T("imported", n=len(new)))
    st.session_state["selection"], st.session_state["selected_grid"] = (), None


# --------------------------------------------------------------------------- exports
def export_key(kind: str, *args) -> str:
    """What a prepared download depends on: a file made for another plan, station set or option is
    not offered."""
    r = st.session_state
    p = plans.plan()
    return json.dumps([kind, list(map(str, args)), ed.fingerprint(p) if p is not None else "", c.lang(),
                       bool(r.get("_include_personal")), r.get("active_stations"), list(r.get("added_stations") or ()),
                       list(r["cov_minutes"]), r["cov_speed"], list(r["cov_kinds"]), partychain.export_state()],
                      default=str)


def cb_prepare_export(kind: str, *args):
    """Build one export into memory (bytes, file name, MIME type) for the download button, showing
    the state the planner sees (what-if stations included)."""
    from app_pages import auth, exports
    ds, p = c.dataset(), plans.plan()
    if auth.is_viewer() and kind not in auth.VIEWER_EXPORTS:     # per-building counts: not for viewers
        flash("error", T("auth_read_only"))
        return
    t0 = time.perf_counter()
    try:
        res = whatif.coverage_result(ds)
        data, fname, mime = exports.build(kind, ds, p, *args, lang=c.lang(), coverage=res,
                                          stations=whatif.shown_stations(ds, res),
                                          include_personal=bool(st.session_state.get("_include_personal")),
                                          chain=partychain.export_inputs(ds))
    except Exception as e:  # noqa: BLE001 - an export failure is a message, never a traceback
        log.exception("export %s failed", kind)
        flash("error", T("export_failed", msg=md(f"{type(e).__name__}: {e}")))
        return
    st.session_state.setdefault("exports", {})[kind] = (data, fname, mime, export_key(kind, *args))
    st.session_state["timings"][f"export_{kind}_s"] = round(time.perf_counter() - t0, 3)


# --------------------------------------------------------------------------- data
def cb_load():
    r = st.session_state
    kind = r["src_kind"]
    if kind == "sample":
        c.load_source({"kind": "sample"})
        return
    try:
        cmap = c.parse_column_map(r.get("_column_map", ""))
    except Exception as e:  # noqa: BLE001 - UsageError: a malformed mapping line
        r["load_problems"] = [c.problem("dataset", str(e), T("column_map"))]
        return
    cs = r.get("_coord_system") or None
    if kind == "upload":
        c.load_uploads(r.get("_uploads"), coord_system=cs, column_map=cmap)
        return
    path = (r.get("_path") or "").strip()
    if not path:
        r["load_problems"] = [c.problem("dataset", T("path_label") + " ?", T("src_path"))]
        return
    from pathlib import Path
    c.load_source({"kind": "path", "path": str(Path(path).expanduser().resolve()), "coord_system": cs,
                   "column_map": cmap})


def cb_basemap(use: bool):
    r = st.session_state
    if not use:
        r["basemap"] = {}
        return
    url = (r.get("_tile_url") or "").strip()
    if not url.lower().startswith(("http://", "https://")) or not all(k in url for k in ("{z}", "{x}", "{y}")):
        flash("error", T("basemap_bad"))
        return
    r["basemap"] = {"url": url, "crs": r.get("_tile_crs") or "wgs84",
                    "attribution": (r.get("_tile_attr") or "").strip()}


# --------------------------------------------------------------------------- household rosters (数据 page)
ROSTER_TYPES = ["xlsx", "xlsm", "xls", "csv", "txt"]


def cb_roster_match():
    """Match the uploaded rosters to the dataset (the files live in a private folder deleted at once)."""
    import tempfile
    from pathlib import Path

    from gridplan import GridplanError
    from gridplan.roster import apply_roster
    r = st.session_state
    r["roster_result"], r["roster_error"] = None, None
    ds = c.dataset()
    files = r.get("_roster_files") or []
    if ds is None or not files:
        r["roster_error"] = T("no_dataset") if ds is None else T("no_files")
        return
    too_big = [f.name for f in files if f.size > c.UPLOAD_LIMIT_MB * 1e6]
    if too_big:
        r["roster_error"] = T("too_big", name=md(too_big[0]), mb=0, limit=c.UPLOAD_LIMIT_MB)
        return
    with tempfile.TemporaryDirectory(prefix="gridplan-roster-") as d:
        paths = []
        for i, f in enumerate(files):
            name = Path(f.name).name or f"roster{i}"
            path = Path(d) / f"{i:02d}_{name}"
            path.write_bytes(f.getvalue())
            paths.append(path)
        try:
            r["roster_result"] = apply_roster(ds, paths)
            r["roster_key"] = c.dataset_key(r["source"])
        except (GridplanError, ValueError) as e:
            r["roster_error"] = c.message(e)


def roster_result():
    """The last roster match, if it belongs to the current dataset."""
    r = st.session_state
    res = r.get("roster_result")
    return res if res is not None and r.get("roster_key") == c.dataset_key(r["source"]) else None


def cb_roster_apply():
    """Use the roster's counts as the current dataset (kept in memory); keep the previous source for 撤销."""
    r = st.session_state
    res = roster_result()
    if res is None:
        return
    previous = r["source"]
    c.use_dataset(res.dataset.replace(name=f"{res.dataset.name}+台账"))
    r["roster_prev_source"] = previous
    r["roster_result"] = None
    flash("success", T("roster_applied", n=res.summary["buildings_matched"]))


def cb_roster_undo():
    r = st.session_state
    previous = r.get("roster_prev_source")
    if previous is not None and c.load_source(previous):
        r["roster_prev_source"] = None
        flash("info", T("roster_undone"))
