"""The plan the planner works on: the first partition (in the worker process, shared by every
session), the undo history, every edit with its check, and grid colours that stay put."""
from __future__ import annotations

import time

import streamlit as st

from app_pages import common as c
from app_pages.common import T, flash, md
from gridplan import PlanError, Rule, i18n
from gridplan import edit as ed


@st.cache_resource(show_spinner=False)
def jobs():
    """The partition jobs of this server (one worker process, shared by every session; started by
    :func:`history` when a plan is not in the persistent cache)."""
    from app_pages._worker import PartitionJobs
    return PartitionJobs()


def job(ds, dkey: str, state):
    """The partition job of a dataset (its source key ``dkey``) with the options in ``state`` (the
    session state, or :data:`common.DEFAULTS` for the server's warm-up): its key and what the worker
    reads (the key itself: the worker reads files beside this process; an upload exists only in
    memory here, so it is sent)."""
    from app_pages._worker import JobKey
    rule = state["rule"]
    key = JobKey(dkey, (rule.min_households, rule.max_households, rule.min_persons, rule.max_persons, rule.mode),
                 int(state["seed"]), int(state["code_width"]))
    return key, (ds if dkey.startswith("upload:") else dkey)


def _job(ds):
    r = st.session_state
    return job(ds, c.dataset_key(r["source"]), r)


def history(*, wait: bool = False, start: bool = True):
    """The undo history of the current plan; ``None`` while the first partition still runs (with
    ``wait`` false). The partition is started if it is not running yet — unless ``start`` is false
    (the map page draws the city first and starts the engine then, so they do not compete); a plan
    in the persistent cache is taken at once either way (the server's warm-up has it ready)."""
    ds = c.dataset()
    if ds is None:
        return None
    r = st.session_state
    dkey = c.dataset_key(r["source"])
    h = r.get("history")
    if h is None or r.get("history_key") != dkey:
        key, source = _job(ds)
        if not start and not wait and not jobs().take_cached(key, ds):
            jobs().warm()           # the worker process starts (and imports the engine) while the map is drawn
            return None
        jobs().submit(key, source, ds)
        done = jobs().result(key, wait=wait, source=source)
        if done is None:
            return None
        r["timings"]["partition_s"] = round(done.seconds, 3)
        from gridplan import diskcache
        diskcache.restore_derived(ds)       # the cells, adjacency … of the last server, for the grid table
        from app_pages import auth
        h = ed.History.start(auth.starting_plan(done.plan))
        r["history"], r["history_key"] = h, dkey
    return h


@st.cache_resource(max_entries=8, show_spinner=False)
def _warm(_ds, dkey: str):
    """What every plan of a dataset needs (building adjacency, tessellation cells, the walking
    network and the snapped buildings), computed in a background thread while the first partition
    runs in the worker, so the grids appear as soon as the partition is back; then kept in the
    persistent cache for the next server (:func:`gridplan.diskcache.keep_derived`)."""
    import threading

    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    def run():
        try:
            import pandas as pd

            from gridplan import diskcache
            diskcache.restore_derived(_ds)

            from gridplan import metrics
            from gridplan.model import Plan
            b = _ds.buildings
            by_community = b["community_id"].astype(str) if "community_id" in b.columns else "all"
            metrics.grid_table(_ds, Plan(pd.Series(by_community, index=b.index)))
            from app_pages import whatif
            if whatif.coverage_available(_ds):      # the default options (no session state in a thread)
                whatif.coverage_of(_ds, dkey, c.DEFAULTS)
            diskcache.keep_derived(_ds)             # the next server starts with these arrays
        except Exception:  # noqa: BLE001 - a warm-up only saves time; the page computes what it needs
            c.log.exception("warming up %s failed", dkey)

    th = threading.Thread(target=run, name="gridplan-warm", daemon=True)
    add_script_run_ctx(th, get_script_run_ctx())
    th.start()
    return th


def warm(ds) -> None:
    """Start the background warm-up of a dataset (once per dataset and server)."""
    _warm(ds, c.dataset_key(st.session_state["source"]))


def status(ds) -> None:
    """The plan's summary, undo/redo and the unsaved-changes note (the sidebar, or beside the map)."""
    from app_pages import auth
    from app_pages import callbacks as cb
    h = history(start=False)
    if h is None:
        st.caption(T("partitioning"))
        return
    from gridplan import metrics
    tb = metrics.grid_table(ds, h.current)
    st.markdown(f"**{T('plan')}**: {len(tb)} {T('summary_grids')} · {int(tb['compliant'].sum())} {T('summary_compliant')}")
    if auth.may_edit():
        u, r = st.columns(2)
        u.button(T("undo"), on_click=cb.cb_undo, disabled=not h.can_undo, width="stretch", key="undo_btn",
                 icon=":material/undo:")
        r.button(T("redo"), on_click=cb.cb_redo, disabled=not h.can_redo, width="stretch", key="redo_btn",
                 icon=":material/redo:")
    if st.session_state.get("dirty"):
        st.caption(":material/edit_note: " + T("unsaved"))


def plan():
    h = history(wait=True)
    return None if h is None else h.current


def wait_for_partition(ds=None) -> None:
    """Shown while the first partition runs: a status line that reruns the app when it is done.

    With ``ds``, the dataset's warm-up (:func:`warm`) starts a second after the map went out: not
    earlier, or it would slow the server while the browser still loads the map."""
    st.info(T("partitioning"), icon=":material/hourglass_top:")
    st.session_state["_polls"] = 0

    @st.fragment(run_every=0.4)
    def _poll():
        r = st.session_state
        r["_polls"] = r.get("_polls", 0) + 1
        if ds is not None and r["_polls"] == 3:
            warm(ds)
        if history() is not None:
            st.rerun(scope="app")
    _poll()


def partition_now(rule: Rule, seed: int, code_width: int):
    """The engine's plan for other parameters (callback side; waits for the worker)."""
    r = st.session_state
    r["rule"], r["seed"], r["code_width"] = rule, int(seed), int(code_width)
    ds = c.dataset()
    key, source = _job(ds)
    jobs().submit(key, source, ds)
    return jobs().result(key, wait=True, source=source).plan


def grid_colors(ds, p) -> dict:
    """Grid colours that stay put: a grid keeps its colour from edit to edit, a new grid gets one
    unlike its neighbours (kept in the session)."""
    from gridplan import metrics, webmap
    r = st.session_state
    if r.get("_colors_for") is not p:       # (an edit colours only the grids that have none yet: cheap)
        r["colors"] = {**r.get("colors", {}), **webmap.grid_colors(metrics.grids(ds, p), keep=r.get("colors"))}
        r["_colors_for"] = p
    return r["colors"]


def push_plan(new, *, message: str | None = None) -> None:
    """Make ``new`` the current plan (undoable), check it against the old one, keep the report
    and the draft."""
    ds = c.dataset()
    r = st.session_state
    h = r["history"]
    report = ed.check(ds, new, before=h.current)
    r["history"] = h.push(new)
    set_report(report, label=new.label)
    from app_pages import projects
    projects.mark_dirty()
    if message:
        flash("success", message)


def set_report(report, *, label: str = "") -> None:
    tb = report.table
    st.session_state["report"] = {
        "label": label,
        "newly_broken": [(g, i18n.reason(str(tb.at[g, "reason"]), c.lang())) for g in report.newly_broken
                         if g in tb.index],
        "fixed": list(report.fixed), "changed": list(report.changed),
        "compliant": int(tb["compliant"].sum()), "grids": int(len(tb)),
    }


def do_edit(edit: ed.Edit, *, message: str | None = None) -> bool:
    """Apply an edit (callback side). A failing edit leaves the plan as it was and says why; an edit
    that changes nothing says so and adds no step."""
    ds, p = c.dataset(), plan()
    if ds is None or p is None:
        return False
    t0 = time.perf_counter()
    try:
        new = ed.apply(ds, p, edit)
    except PlanError as e:
        flash("error", T("edit_failed", msg=md(e)))
        return False
    if new is p:
        flash("info", T("move_noop", grid=md(edit.args[-1])))
        return False
    from app_pages import auth
    if auth.refuse_edit(p, new):
        return False
    push_plan(new, message=message)
    st.session_state["timings"]["edit_s"] = round(time.perf_counter() - t0, 3)
    return True
