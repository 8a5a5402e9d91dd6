"""Load a dataset (the sample, uploaded files or a path) and show the validation report."""
import pandas as pd
import streamlit as st

from app_pages import common as c

T = c.T
r = st.session_state

st.header(T("load_title"))
c.show_flash()


def _load():
    kind = r["_src_kind"]
    cs = r.get("_coord_system") or None
    cmap = c.parse_column_map(r.get("_column_map", ""))
    if kind == "sample":
        c.load_source({"kind": "sample"})
        return
    if kind == "upload":
        folder, errors = c.save_uploads(r.get("_uploads"))
        if errors:
            r["load_problems"] = [{"severity": "error", "layer": "upload", "feature": None, "message": e,
                                   "fix": T("upload_help", mb=c.UPLOAD_LIMIT_MB)} for e in errors]
            return
        names = [f.name for f in r.get("_uploads") or []]
        name = next((n.rsplit(".", 1)[0] for n in names if n.lower().endswith(".gpkg")), None) or "upload"
        c.load_source({"kind": "upload", "path": str(folder), "name": name, "coord_system": cs, "column_map": cmap})
        return
    path = (r.get("_path") or "").strip()
    if not path:
        r["load_problems"] = [{"severity": "error", "layer": "dataset", "feature": None,
                               "message": T("path_label") + " ?", "fix": T("src_path")}]
        return
    from pathlib import Path
    p = Path(path).expanduser()
    c.load_source({"kind": "path", "path": str(p.resolve()), "name": p.stem, "coord_system": cs, "column_map": cmap})


kinds = ["sample", "upload", "path"]
st.radio(T("source"), kinds, key="_src_kind", horizontal=True, format_func=lambda k: T("src_" + k))
kind = r.get("_src_kind", "sample")
if kind == "upload":
    st.file_uploader(T("upload_help", mb=c.UPLOAD_LIMIT_MB), type=c.UPLOAD_TYPES, accept_multiple_files=True,
                     key="_uploads")
elif kind == "path":
    st.text_input(T("path_label"), key="_path", placeholder="/data/shifang  或  /data/shifang.gpkg")
if kind != "sample":
    cs_opts = ["", "gcj02", "bd09"]
    st.selectbox(T("coord_system"), cs_opts, key="_coord_system",
                 format_func=lambda k: {"": T("cs_wgs84"), "gcj02": T("cs_gcj02"), "bd09": T("cs_bd09")}[k])
    st.text_area(T("column_map"), key="_column_map", height=80)
st.button(T("load_button"), on_click=_load, type="primary", key="load_btn")

problems = r.get("load_problems")
if problems:
    errs = [p for p in problems if p.get("severity") == "error"]
    st.error(T("load_failed", n=len(errs)))
    st.dataframe(c.problems_frame(problems), hide_index=True, width="stretch")

ds = c.dataset()
if ds is not None:
    st.subheader(T("layers_overview") + f" · {c.md(ds.name)}")
    from gridplan.i18n import layer_name
    rows = [{T("col_layer"): layer_name(name, c.lang()), T("features"): len(gdf)} for name, gdf in ds.layers().items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption(f"CRS: EPSG:{ds.crs.to_epsg()} (metric) · source: {c.md(ds.source_crs.name) if ds.source_crs else '—'}")
    if ds.warnings:
        st.markdown(T("load_warnings"))
        st.dataframe(c.problems_frame([p.as_dict() for p in ds.warnings]), hide_index=True, width="stretch")

# --- household rosters (住户台账) → building counts: gridplan.roster via the callbacks in common
if ds is not None:
    from gridplan.roster import rows_not_counted, report_tables
    st.subheader(T("roster_title"))
    st.caption(T("roster_help"))
    st.file_uploader(T("roster_upload", mb=c.UPLOAD_LIMIT_MB), type=c.ROSTER_TYPES, accept_multiple_files=True,
                     key="_roster_files")
    st.button(T("roster_match"), on_click=c.cb_roster_match, key="roster_match_btn")
    if r.get("roster_error"):
        st.error(T("roster_failed", msg=c.md(r["roster_error"])))
    res = c.roster_result()
    if res is not None:
        s = res.summary
        cols = st.columns(8)
        for col, (key, value) in zip(cols, [("rows", s["rows"]), ("matched", s["matched_rows"]),
                                            ("unmatched", s["unmatched_rows"]), ("ambiguous", s["ambiguous_rows"]),
                                            ("duplicate", s["duplicate_rows"]), ("buildings", s["buildings_matched"]),
                                            ("households", s["households"]), ("persons", s["persons"])]):
            col.metric(T(f"roster_m_{key}"), value)
        for w in res.warnings:
            st.caption(c.md(w))
        st.markdown(f"**{T('roster_unmatched_title')}**")
        st.dataframe(rows_not_counted(res, lang=c.lang()), hide_index=True, width="stretch")
        st.markdown(f"**{T('roster_buildings_title')}**")
        st.dataframe(report_tables(res, lang=c.lang())["楼栋"], hide_index=True, width="stretch")
        st.button(T("roster_apply"), on_click=c.cb_roster_apply, type="primary", key="roster_apply_btn")
    if r.get("roster_prev_source") is not None:
        st.button(T("roster_undo"), on_click=c.cb_roster_undo, key="roster_undo_btn", icon=":material/undo:")
