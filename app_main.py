"""gridplan in the browser, the app script (``streamlit run app.py`` serves it: see ``app.py``).

The frame and router only: page config, session state defaults, the sidebar (language, dataset,
plan status, undo/redo) and the pages. Everything else lives in :mod:`gridplan` and ``app_pages/``.
"""
import time


def main() -> None:
    """One run of the app: the frame, the sidebar and the page the planner is on."""
    import streamlit as st

    from app_pages import auth
    from app_pages import callbacks as cb
    from app_pages import common as c

    t0 = time.perf_counter()
    st.set_page_config(page_title="网格规划 · gridplan", page_icon=c.favicon(), layout="wide")
    c.init_state()
    with st.sidebar:
        st.markdown(f"### {c.T('app_title')}")
        st.caption(c.T("app_caption"))
        st.radio(c.T("language"), ["zh", "en"], index=["zh", "en"].index(c.lang()), horizontal=True,
                 format_func=lambda k: {"zh": "中文", "en": "English"}[k], key="_lang_radio", on_change=cb.cb_lang)
    auth.gate()                      # sign-in when the store has users (stops here until signed in)
    admin = [st.Page("app_pages/admin.py", title=c.T("page_admin"), icon=":material/manage_accounts:",
                     url_path="admin")] if auth.role() == "admin" else []
    nav = st.navigation([
        st.Page("app_pages/map_edit.py", title=c.T("page_map"), icon=":material/map:", default=True, url_path="map"),
        st.Page("app_pages/coverage.py", title=c.T("page_coverage"), icon=":material/directions_walk:",
                url_path="coverage"),
        st.Page("app_pages/versions.py", title=c.T("page_versions"), icon=":material/history:", url_path="versions"),
        st.Page("app_pages/chain.py", title=c.T("page_chain"), icon=":material/account_tree:", url_path="chain"),
        st.Page("app_pages/export.py", title=c.T("page_export"), icon=":material/download:", url_path="export"),
        st.Page("app_pages/data.py", title=c.T("page_data"), icon=":material/folder_open:", url_path="data"),
        *admin,
    ])
    try:
        nav.run()
    finally:        # the plan's summary and undo/redo after the page (an edit's map is sent first); also
        _sidebar_plan()  # when the page stops early (st.stop) or fails
    c.mark("script", t0)


def _sidebar_plan() -> None:
    """The dataset and (but on the map page, which has them beside the map) the plan's summary,
    undo/redo and the unsaved-changes note, in the sidebar."""
    import streamlit as st

    from app_pages import common as c
    from app_pages import plans
    with st.sidebar:
        ds = c.dataset()
        if ds is None:
            st.warning(c.T("no_dataset"))
        else:
            st.markdown(f"**{c.T('dataset')}**: {c.md(ds.name)}")
            if not st.session_state.pop("_plan_status_in_page", False):   # the map page shows it itself
                plans.status(ds)


# The partition worker is a spawned process, which imports the entry file as ``__mp_main__``: it
# must not run the app there (and imports nothing at the top, so the worker starts fast).
if __name__ != "__mp_main__":
    main()
