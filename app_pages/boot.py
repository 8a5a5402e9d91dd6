"""What the server does once as it starts, before any visitor: import the app's modules and prepare
the first visit's map of the bundled sample city (its dataset, first plan, grid outlines, coverage
and base map), in a background thread of the server process.

Everything goes through the same caches the pages use (``st.cache_resource`` functions and the
dataset's own cache), with the arguments a first visit uses, so that visit finds them ready; a
later change of those arguments simply computes again. The thread only saves time: a failure is
logged and the pages compute what they need as before. The server takes its first visitor once the
warm-up is done (a few seconds; at most :data:`WAIT_S`). ``GRIDPLAN_WARM=0`` turns it off.
"""
from __future__ import annotations

import logging
import os
import threading
import time

log = logging.getLogger("gridplan.app")

_started = threading.Event()


def warm() -> None:
    """Prepare the first visit's map (see the module doc); blocking."""
    t0 = time.perf_counter()
    _register_map_component()
    from app_pages import auth, callbacks, mapview, plans, projects, tables, whatif  # noqa: F401 - what the map page imports
    from app_pages import common as c
    from gridplan import diskcache, metrics, webmap  # noqa: F401 - imported for the first visit

    _streamlit_first_use()
    d = c.DEFAULTS
    dkey = c.dataset_key(d["source"])
    ds = c._load(dkey)
    # the first visit's plan object itself (the server's partition jobs hand every session the same
    # one): its grid table and outlines are then computed here, not in the first visit
    key, source = plans.job(ds, dkey, d)
    if plans.jobs().take_cached(key, ds):
        plan = plans.jobs().result(key, source=source).plan
        diskcache.restore_derived(ds)
        metrics.grid_table(ds, plan)
        metrics.grids(ds, plan)
    if whatif.coverage_available(ds):
        whatif.coverage_of(ds, dkey, d)
    basemap = c.settings().get("basemap") or {}
    mapview._base(ds, dkey, c.first_focus(ds), d["lang"], mapview.basemap_key(basemap), c.MAP_HEIGHT, True)
    log.info("server warm-up done in %.2f s", time.perf_counter() - t0)


def _streamlit_first_use() -> None:
    """Streamlit's once-per-process check before its first output (whether it runs in a REPL: a walk
    of the call stack that reads the source of every frame, ~0.1 s): done here rather than in the
    first visit. Outside a script run the element is not sent anywhere."""
    import PIL.Image  # noqa: F401 - streamlit's page icon code imports it
    import streamlit as st
    import streamlit.components.v2.bidi_component  # noqa: F401 - what the first run's map imports
    import streamlit.material_icon_names  # noqa: F401 - what the first run's icons import
    st.empty()
    from streamlit.string_util import extract_leading_emoji
    extract_leading_emoji("✓")       # the first message (st.success …) compiles a regex of every emoji: ~0.15 s


def _register_map_component() -> None:
    """Declare the map's component (the app's own, read once per process) and register
    streamlit-folium's, which the map falls back to, with the server. Streamlit registers a v1
    component only when it is declared inside a script run, and a module is imported once: imported
    first here, outside any run, that component would never be registered (its page: 404)."""
    import streamlit_folium
    from streamlit.runtime import exists, get_instance

    from app_pages import leafletmap
    leafletmap.component()
    if exists():
        get_instance().component_registry.register_component(streamlit_folium._component_func)


def start() -> threading.Thread | None:
    """Start :func:`warm` in a daemon thread, once per process (``None`` when turned off or started
    before). The server waits for it, at most :data:`WAIT_S` seconds, before it takes visitors."""
    if os.environ.get("GRIDPLAN_WARM", "1").strip().lower() in {"0", "off", "no", "false"} or _started.is_set():
        return None
    _started.set()

    def run():
        try:
            warm()
        except Exception:  # noqa: BLE001 - a warm-up only saves time; the pages compute what they need
            log.exception("server warm-up failed")

    th = threading.Thread(target=run, name="gridplan-server-warm", daemon=True)
    th.start()
    return th


#: the longest the server waits for the warm-up before it takes visitors (it then goes on beside them)
WAIT_S = 30.0
