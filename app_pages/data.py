"""Load a dataset (the sample, uploaded files or a path), the validation report and the basemap."""
import pandas as pd
import streamlit as st

from app_pages import callbacks as cb
from app_pages import common as c
from app_pages import tables
from gridplan.i18n import layer_name
from gridplan.io import UPLOAD_TYPES

T = c.T
r = st.session_state

st.header(T("load_title"))
c.show_flash()

kinds = ["sample", "upload", "path"]
r["_src_kind"] = r["src_kind"]          # the choice survives a visit to another page
st.radio(T("source"), kinds, key="_src_kind", horizontal=True, format_func=lambda k: T("src_" + k),
         on_change=cb.cb_copy, args=("_src_kind", "src_kind"))
kind = r["src_kind"]
if kind == "upload":
    st.file_uploader(T("upload_help", mb=c.UPLOAD_LIMIT_MB), type=list(UPLOAD_TYPES), accept_multiple_files=True,
                     key="_uploads")
elif kind == "path":
    st.text_input(T("path_label"), key="_path", placeholder="/data/shifang  或  /data/shifang.gpkg")
if kind != "sample":
    cs_opts = ["", "gcj02", "bd09"]
    st.selectbox(T("coord_system"), cs_opts, key="_coord_system",
                 format_func=lambda k: {"": T("cs_wgs84"), "gcj02": T("cs_gcj02"), "bd09": T("cs_bd09")}[k])
    st.text_area(T("column_map"), key="_column_map", height=80)
st.button(T("load_button"), on_click=cb.cb_load, type="primary", key="load_btn")

problems = r.get("load_problems")
if problems:
    errs = [x for x in problems if x.get("severity") == "error"]
    st.error(T("load_failed", n=len(errs)))
    st.dataframe(tables.problems_frame(problems), hide_index=True, width="stretch")

ds = c.dataset()
if ds is not None:
    st.subheader(T("layers_overview") + f" · {c.md(ds.name)}")
    rows = [{T("col_layer"): layer_name(name, c.lang()), T("features"): len(gdf)} for name, gdf in ds.layers().items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption(f"{T('crs')}: EPSG:{ds.crs.to_epsg()} · {c.md(ds.source_crs.name) if ds.source_crs else '—'}")
    if ds.warnings:
        st.markdown(T("load_warnings"))
        st.dataframe(tables.problems_frame([x.as_dict() for x in ds.warnings]), hide_index=True, width="stretch")

# --- household rosters (住户台账) → building counts: gridplan.roster via the callbacks
if ds is not None:
    from gridplan.roster import report_tables, rows_not_counted
    st.subheader(T("roster_title"))
    st.caption(T("roster_help"))
    st.file_uploader(T("roster_upload", mb=c.UPLOAD_LIMIT_MB), type=cb.ROSTER_TYPES, accept_multiple_files=True,
                     key="_roster_files")
    st.button(T("roster_match"), on_click=cb.cb_roster_match, key="roster_match_btn")
    if r.get("roster_error"):
        st.error(T("roster_failed", msg=c.md(r["roster_error"])))
    res = cb.roster_result()
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
        st.button(T("roster_apply"), on_click=cb.cb_roster_apply, type="primary", key="roster_apply_btn")
    if r.get("roster_prev_source") is not None:
        st.button(T("roster_undo"), on_click=cb.cb_roster_undo, key="roster_undo_btn")

with st.expander(T("basemap"), expanded=bool((r.get("basemap") or {}).get("url"))):
    st.caption(T("basemap_help"))
    bm = r.get("basemap") or {}
    if bm.get("url"):
        from urllib.parse import urlparse
        st.markdown(T("basemap_set", host=c.md(urlparse(bm["url"]).netloc)))
    r.setdefault("_tile_url", bm.get("url", ""))
    st.text_input(T("basemap_url"), key="_tile_url", placeholder="http://10.0.0.5/tiles/{z}/{x}/{y}.png")
    crs_opts = ["wgs84", "gcj02"]
    r.setdefault("_tile_crs", bm.get("crs") or "wgs84")
    st.selectbox(T("basemap_crs"), crs_opts, key="_tile_crs", format_func=lambda k: T("basemap_crs_" + k))
    r.setdefault("_tile_attr", bm.get("attribution", ""))
    st.text_input(T("basemap_attribution"), key="_tile_attr")
    b1, b2 = st.columns(2)
    b1.button(T("basemap_apply"), on_click=cb.cb_basemap, args=(True,), key="basemap_btn", type="primary")
    b2.button(T("basemap_clear"), on_click=cb.cb_basemap, args=(False,), key="basemap_clear_btn")
