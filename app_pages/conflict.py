"""The 方案版本 page's shared-store parts (issue 12): a save conflict (who, what, which communities;
take theirs or keep working as a branch), the planner's scope before a save, and the audit trail
(留痕) with its Excel download."""
from __future__ import annotations

import logging

import streamlit as st

from app_pages import common as c
from app_pages import plans, projects
from app_pages.common import T, flash, md
from gridplan import edit as ed

log = logging.getLogger("gridplan.app")


# --------------------------------------------------------------------------- state (callback side)
def keep(e) -> None:
    """Remember a :class:`~gridplan.store.StoreConflict` for the page (plain data only)."""
    st.session_state["conflict"] = {"conflicts": [dict(x) for x in e.conflicts], "base": int(e.base),
                                    "head": int(e.head)}
    st.session_state["conflict_confirm"] = False


def check_scope(store, ds, p) -> None:
    """Raise :class:`~gridplan.store.StoreAccessError` unless the signed-in user may change every
    community the plan changed since its base (the library checks again inside the save)."""
    from gridplan import access
    head = store.head()
    if not head:
        changed = access.changed_communities(ds, None, p)
    else:
        base = projects.store_base(store) or head
        changed = access.changed_communities(ds, store.load(base), p)
    store.check_scope(projects.store_user(), changed)


def cb_reload_ask() -> None:
    st.session_state["conflict_confirm"] = True


def cb_reload_cancel() -> None:
    st.session_state["conflict_confirm"] = False


def cb_reload() -> None:
    """Take the newest version; the planner's unsaved edits are dropped (they confirmed)."""
    from gridplan.store import StoreError
    r = st.session_state
    try:
        store = projects.project_store()
        head = store.head()
        p = store.load(head)
        p.check_against(c.dataset().buildings.index)
    except (StoreError, ValueError) as e:
        flash("error", T("version_mismatch", msg=c.message(e)))
        return
    r["history"] = ed.History.start(p)
    r["store_base"] = (store.location, head)
    r["conflict"], r["conflict_confirm"] = None, False
    r["selection"], r["selected_grid"], r["report"] = (), None, None
    projects.clear_draft()
    flash("success", T("conflict_reloaded", vid=head))


def cb_branch() -> None:
    """Keep working: the planner's own communities carried over to the newest version, saved as a
    new version (a branch) based on it."""
    from gridplan import PlanError, metrics
    from gridplan.store import StoreConflict, StoreError
    r = st.session_state
    ds, p = c.dataset(), plans.plan()
    from app_pages.callbacks import clear_version_inputs, version_inputs
    name, note = version_inputs()
    name = name or T("conflict_branch_name")
    try:
        store = projects.project_store()
        base = projects.store_base(store) or (r.get("conflict") or {}).get("base") or store.head()
        new, onto = store.rebase(p, base)
        r["store_base"] = (store.location, onto)
        check_scope(store, ds, new)
        vid = store.save(new, name=name, user=projects.store_user(), note=note, dataset=ds,
                         base=onto, grids=metrics.grids(ds, new))
    except StoreConflict as e:      # someone saved again meanwhile: the same choice, one version later
        keep(e)
        flash("error", T("save_conflict", msg=c.message(e)))
        return
    except (StoreError, PlanError, OSError) as e:
        flash("error", T("edit_failed", msg=c.message(e)))
        return
    plans.push_plan(new)
    r["store_base"] = (store.location, vid)
    r["conflict"], r["conflict_confirm"] = None, False
    clear_version_inputs()
    projects.clear_draft()
    flash("success", T("conflict_branched", vid=vid, name=md(name), base=onto))


# --------------------------------------------------------------------------- rendering
def show_conflict(ds) -> None:
    """The conflict of the last save, if any: who saved what in which communities, and the choice."""
    r = st.session_state
    k = r.get("conflict")
    if not k:
        return
    names = {} if ds.communities is None else ds.communities["name"].astype(str).to_dict()
    with st.container(border=True):
        st.markdown(f"**:material/warning: {T('conflict_title')}**")
        for x in k["conflicts"]:
            comms = "、".join(f"{names.get(cid, '')} ({cid})".strip() for cid in x.get("communities") or [])
            st.markdown(T("conflict_line", vid=int(x.get("version") or 0), name=md(x.get("name") or ""),
                          user=md(x.get("user") or ""), when=md(x.get("created") or ""), communities=md(comms)))
        a, b = st.columns(2)
        if r.get("conflict_confirm"):
            a.warning(T("conflict_reload_warn"))
            a.button(T("conflict_reload_confirm"), on_click=cb_reload, key="conflict_reload_ok", type="primary")
            a.button(T("cancel"), on_click=cb_reload_cancel, key="conflict_reload_cancel")
        else:
            a.button(T("conflict_reload"), on_click=cb_reload_ask, key="conflict_reload_btn",
                     icon=":material/download:")
        b.button(T("conflict_branch"), on_click=cb_branch, key="conflict_branch_btn", type="primary",
                 icon=":material/call_split:")
        b.caption(T("conflict_branch_help"))


@st.cache_data(max_entries=16, show_spinner=False)
def _audit_xlsx(_store, location: str, head: int, lang: str) -> bytes:
    """The audit trail as Excel bytes (one file per store state and language)."""
    import tempfile
    from pathlib import Path

    from gridplan.export import export_audit
    with tempfile.TemporaryDirectory(prefix="gridplan-audit-") as d:
        path, = export_audit(_store, Path(d) / "方案留痕.xlsx", lang=lang)
        return path.read_bytes()


def show_audit(store, versions) -> None:
    """留痕: the changed grids of a chosen version (households and persons before and after) and
    the whole trail as an Excel download."""
    from app_pages import tables
    st.subheader(T("audit_title"))
    ids = list(versions.index)
    r = st.session_state
    if r.get("_audit_head") != ids[-1] or r.get("_audit_vid") not in ids:    # a new version: show it
        r["_audit_vid"], r["_audit_head"] = ids[-1], ids[-1]
    vid = st.selectbox(T("audit_version"), ids, key="_audit_vid",
                       format_func=lambda v: f"{v} · {versions.at[v, 'name']} · {versions.at[v, 'user']}")
    trail = store.audit(int(vid))
    if not len(trail):
        st.caption(T("audit_none"))
    else:
        shown = trail.drop(columns=["version_id", "user", "created", "base"]).copy()
        shown["status"] = [T("audit_" + s) for s in shown["status"]]
        tables.show(shown, width="stretch", hide_index=True)
    head = int(max(ids))
    fname = f"方案留痕_{head}.xlsx" if c.lang() == "zh" else f"audit_{head}.xlsx"
    st.download_button(T("audit_download"), data=_audit_xlsx(store, str(store.location), head, c.lang()), file_name=fname,
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="audit_dl",
                       icon=":material/table_view:")
