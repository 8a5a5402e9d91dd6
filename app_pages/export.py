"""Download buttons for every export the library offers (posters, HTML, data, ledger)."""
import streamlit as st

from app_pages import common as c

T = c.T
r = st.session_state
ds = c.dataset()
if ds is None:
    st.warning(T("no_dataset"))
    st.stop()
p = c.plan()
st.header(T("export_title"))
c.show_flash()
st.checkbox(T("include_personal"), key="_include_personal")
ready = r.get("exports", {})


def row(kind, title, *args):
    st.markdown(f"**{title}**")
    a, b = st.columns([1, 3])
    a.button(T("export_prepare"), key=f"prep_{kind}", on_click=c.cb_prepare_export, args=(kind, *args))
    if kind in ready and ready[kind][3] == c.export_key(kind, *args):
        data, fname, mime, _ = ready[kind]
        b.download_button(f"{T('export_download')} {fname} ({len(data) / 1024:,.0f} kB)", data=data, file_name=fname,
                          mime=mime, key=f"dl_{kind}")


row("html", T("export_html"))
row("assignment", T("export_assignment"))
from app_pages import exports  # noqa: E402

if exports.available("export", "export_data"):
    fmt = st.selectbox(T("format"), ["gpkg", "geojson", "shp"], key="_data_fmt")
    row("data", T("export_data"), fmt)
else:
    st.caption(T("export_unavailable", what="gridplan.export"))
if exports.available("export", "export_ledger"):
    lf = st.selectbox(T("format") + " ", ["xlsx", "csv"], key="_ledger_fmt")
    row("ledger", T("export_ledger"), lf)
if exports.available("export", "export_hierarchy"):
    row("hierarchy", T("export_hierarchy"))
if exports.available("poster", "export_poster"):
    x, y, z = st.columns(3)
    paper = x.selectbox(T("paper"), ["A3", "A2", "A1", "A0"], key="_paper")
    orient = y.selectbox(T("orientation"), ["landscape", "portrait"], format_func=lambda k: T(k), key="_orient")
    pf = z.selectbox(T("format") + "  ", ["pdf", "png"], key="_poster_fmt")
    row("poster", T("export_poster"), paper, orient, pf)
else:
    st.caption(T("export_unavailable", what="gridplan.poster"))
