"""Download buttons for every export the library offers (posters, HTML, data, ledger)."""
import streamlit as st

from app_pages import auth, plans
from app_pages import callbacks as cb
from app_pages import common as c

T = c.T
r = st.session_state
ds = c.require_dataset()
p = plans.plan()
st.header(T("export_title"))
c.show_flash()
viewer = auth.is_viewer()
if viewer:          # no per-building counts: only the exports that hold none
    r["_include_personal"] = False
    st.info(T("auth_viewer_exports"))
else:
    st.checkbox(T("include_personal"), key="_include_personal")
ready = r.get("exports", {})


def row(kind, title, options=None):
    """One export: its options (widgets returning the arguments), a prepare button and the download."""
    if viewer and kind not in auth.VIEWER_EXPORTS:
        return
    with st.container(border=True):
        st.markdown(f"**{title}**")
        cols = st.columns([3, 1, 3])
        args = tuple(options(cols[0]) if options else ())
        cols[1].button(T("export_prepare"), key=f"prep_{kind}", on_click=cb.cb_prepare_export, args=(kind, *args))
        if kind in ready and ready[kind][3] == cb.export_key(kind, *args):
            data, fname, mime, _ = ready[kind]
            cols[2].download_button(f"{T('export_download')} {fname} ({len(data) / 1024:,.0f} kB)", data=data,
                                    file_name=fname, mime=mime, key=f"dl_{kind}")


def _data_opts(col):
    return [col.selectbox(T("format"), ["gpkg", "geojson", "shp"], key="_data_fmt",
                          format_func=lambda k: {"gpkg": "GeoPackage", "geojson": "GeoJSON (zip)",
                                                 "shp": "Shapefile (zip)"}[k])]


def _ledger_opts(col):
    return [col.selectbox(T("format"), ["xlsx", "csv"], key="_ledger_fmt",
                          format_func=lambda k: {"xlsx": "Excel", "csv": "CSV"}[k])]


def _poster_opts(col):
    x, y, z = col.columns(3)
    return [x.selectbox(T("paper"), ["A3", "A2", "A1", "A0"], key="_paper"),
            y.selectbox(T("orientation"), ["landscape", "portrait"], format_func=lambda k: T(k), key="_orient"),
            z.selectbox(T("format"), ["pdf", "png"], key="_poster_fmt")]


row("html", T("export_html"))
row("assignment", T("export_assignment"))
row("data", T("export_data"), _data_opts)
row("ledger", T("export_ledger"), _ledger_opts)
row("hierarchy", T("export_hierarchy"))
row("poster", T("export_poster"), _poster_opts)
