"""Plan versions: save, list, reopen and compare (the plan store: the project GeoPackage or PostgreSQL)."""
import streamlit as st

from app_pages import auth, conflict, plans, projects, tables
from app_pages import callbacks as cb
from app_pages import common as c
from gridplan import edit as ed

T = c.T
r = st.session_state
ds = c.require_dataset()
st.header(T("page_versions"))
c.show_flash()
p = plans.plan()
store = projects.project_store()

if auth.is_viewer():
    st.info(T("auth_read_only"))
else:
    st.subheader(T("save_version"))
    a, b, d = st.columns([2, 3, 1])
    key_name, key_note = cb.version_keys()
    a.text_input(T("version_name"), key=key_name, max_chars=200)
    b.text_input(T("version_note"), key=key_note)
    d.button(T("save"), on_click=cb.cb_save_version, type="primary", key="save_version_btn")
    conflict.show_conflict(ds)

    with st.expander(T("import_assignment")):
        st.file_uploader(T("import_assignment"), type=["csv"], key="_import_csv", label_visibility="collapsed")
        st.button(T("import_button"), on_click=cb.cb_import_assignment, key="import_btn")

st.subheader(T("versions"))
st.caption(T("project_file", path=c.md(store.location)))
versions = store.list()
if not len(versions):
    st.info(T("no_versions"))
    st.stop()
shown = versions.drop(columns=["rule", "locked"], errors="ignore").copy()
if "communities_changed" in shown.columns:
    shown["communities_changed"] = ["、".join(map(str, x)) for x in shown["communities_changed"]]
if "created" in shown.columns:
    shown["created"] = [c.when(x) for x in shown["created"]]
if "label" in shown.columns:
    from gridplan.i18n import plan_label
    shown["label"] = [plan_label(x, c.lang()) for x in shown["label"]]
tables.show(shown, width="stretch")


def _label(v):
    return T("compare_current") if v == "current" else f"{v} · {versions.at[v, 'name']}"


conflict.show_audit(store, versions)

ids = list(versions.index)
o1, o2 = st.columns([3, 1])
o1.selectbox(T("open_version"), ids, index=len(ids) - 1, format_func=_label, key="_open_vid")
o2.button(T("open"), on_click=cb.cb_open_version, key="open_version_btn")

st.subheader(T("compare"))
choices = ids + ["current"]
x, y = st.columns(2)
va = x.selectbox(T("compare_a"), choices, index=max(len(ids) - 1, 0), format_func=_label, key="_cmp_a")
vb = y.selectbox(T("compare_b"), choices, index=len(choices) - 1, format_func=_label, key="_cmp_b")
pa = p if va == "current" else cb.load_version(int(va))
pb = p if vb == "current" else (pa if vb == va else cb.load_version(int(vb)))
if pa is not None and pb is not None:
    moved = pa.diff(pb)
    changes = ed.grid_changes(pa, pb)
    changed = changes[changes["status"] != "unchanged"].copy()
    changed["status"] = [T("status_" + x) for x in changed["status"]]
    st.markdown("**" + T("compare_moved", n=len(moved), g=len(changed)) + "**")
    m1, m2 = st.columns(2)
    m1.markdown(T("moved_buildings"))
    with m1:
        tables.show(moved, width="stretch", height=300)
    m2.markdown(T("changed_grids"))
    with m2:
        tables.show(changed, width="stretch", height=300)
else:
    c.show_flash()
