"""The map of the app: a base drawn once per (dataset, community in view, language, basemap) and the
plan's layers swapped in place on every rerun.

``webmap.make_map_parts`` splits the map: the base holds the footprints and the dataset's layers,
the plan's layers are FeatureGroups (first a small plan state that restyles the footprints). The
base is rendered once and cached (shared by every session); each rerun renders only the plan's
layers. Both go, as the scripts streamlit-folium's helpers write, to the app's own component
(:mod:`app_pages.leafletmap`, Streamlit components v2): it is drawn in the page itself, with no iframe and no
React bundle of its own to load, builds the base once per base key, and swaps the plan's layers in
place, so Leaflet keeps its map and the planner's view, and the map never goes blank. When
streamlit-folium's helpers are not the ones this was written for, ``st_folium`` itself is used
(slower: an iframe, and the base rendered on every rerun).
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import streamlit as st

from app_pages import common as c
from app_pages import leafletmap, plans, whatif

RETURNED = ["last_active_drawing", "all_drawings", "last_clicked"]


@dataclass
class Base:
    """A rendered base map: the pieces the component takes, and the folium map the plan's layers
    are rendered against (under ``lock``: rendering attaches them to it for a moment)."""

    folium_map: object
    script: str
    header: str
    html: str
    css_links: list
    js_links: list
    lock: threading.Lock
    hash_key: str = ""
    script_url: str | None = None       # the script as a file the app serves (not resent on every rerun)


def _fast_path():
    """streamlit-folium's internals used here, or ``None`` when they are not available."""
    try:
        import streamlit_folium as sf
        need = ("_component_func", "_get_html", "_get_header", "_get_map_string", "_get_feature_group_string",
                "_get_layer_control_string", "generate_js_hash", "get_full_id")
        return sf if all(hasattr(sf, n) for n in need) else None
    except ImportError:  # pragma: no cover - the app needs streamlit-folium
        return None


@st.cache_resource(max_entries=32, show_spinner=False)
def _focus_dataset(_ds, dkey: str, focus: str):
    return _ds if focus == c.ALL else _ds.for_communities(focus)


def basemap_key(basemap: dict) -> tuple:
    """The basemap settings as the base map's cache key (unset entries left out)."""
    return tuple(sorted((k, v) for k, v in (basemap or {}).items() if v))


def _base_options(basemap: dict) -> dict:
    return {"tiles": basemap.get("url") or None, "tiles_crs": basemap.get("crs") or "wgs84",
            "tiles_attribution": basemap.get("attribution") or None}


@st.cache_resource(max_entries=24, show_spinner=False)
def _base(_ds, dkey: str, focus: str, lang: str, bkey: tuple, height: int, counts: bool = True) -> Base:
    """The base map of the community in view, rendered once."""
    import folium

    from gridplan import edit as ed
    from gridplan import webmap

    fds = _focus_dataset(_ds, dkey, focus)
    opts = _base_options(dict(bkey))
    url = _footprints_file(fds, lang, opts["tiles_crs"], counts)
    parts = webmap.make_map_parts(fds, lang=lang, draw_tools=True, height=height, footprints_url=url,
                                  building_counts=counts, **opts)
    m = parts.base
    bounds = ed.view_bounds(fds.buildings)
    if bounds is not None:
        if bkey and dict(bkey).get("crs") == "gcj02":
            from gridplan.crs import wgs84_to_gcj02
            (s, w), (n, e) = bounds
            (w, e), (s, n) = wgs84_to_gcj02([w, e], [s, n])
            bounds = [[float(s), float(w)], [float(n), float(e)]]
        folium.FitBounds(bounds).add_to(m)
    sf = _fast_path()
    if sf is None:
        return Base(m, "", "", "", [], [], threading.Lock())
    m.get_root().render()
    m.render()
    html, header = sf._get_html(m), sf._get_header(m)
    script = sf._get_map_string(m)
    css, js, popups = [], [], False
    stack = [m]
    while stack:
        el = stack.pop(0)
        css += [href for _, href in getattr(el, "default_css", [])]
        js += [src for _, src in getattr(el, "default_js", [])]
        popups = popups or isinstance(el, folium.Popup)
        stack.extend(getattr(el, "_children", {}).values())
    if not popups:      # only folium's popups use jQuery: the map loads one script less, one after another
        from gridplan import assets
        js = [src for src in js if not src.endswith("/" + assets.FILES["jquery"])]
    return Base(m, script, header, html, list(dict.fromkeys(css)), list(dict.fromkeys(js)), threading.Lock(),
                sf.generate_js_hash(script, "map", False), _served_file(script, ".js"))


def _footprints_file(fds, lang: str, tiles_crs: str, counts: bool = True) -> str | None:
    """The footprints written once as a file the app serves: the map's script then stays small, so a
    rerun does not send megabytes of buildings again (the browser fetches them once)."""
    import json

    from gridplan import webmap
    text = json.dumps(webmap.footprints(fds, lang=lang, tiles_crs=tiles_crs, building_counts=counts), ensure_ascii=False,
                      separators=(",", ":"))
    return _served_file(text, ".json")


_SERVED: set[str] = set()      # the files this server handed out (its cached maps point at them)


def _served_file(text: str, suffix: str) -> str | None:
    """``text`` written once as ``static/cache/<hash><suffix>`` (Streamlit serves it at
    ``/app/static/cache/``); its URL, or ``None`` (the caller embeds it) when it cannot be written.
    Files a week old that this server has not handed out are removed."""
    import hashlib

    from gridplan._atomic import atomic_path
    name = hashlib.sha1(text.encode("utf-8")).hexdigest()[:20] + suffix
    folder = c.ROOT / "static" / "cache"
    try:
        path = folder / name
        if path.exists():
            os.utime(path)                  # in use again: not "a week old"
        else:
            folder.mkdir(parents=True, exist_ok=True)
            for old in (*folder.glob("*.json"), *folder.glob("*.js")):
                if old.name not in _SERVED and time.time() - old.stat().st_mtime > 7 * 86400:
                    old.unlink(missing_ok=True)
            with atomic_path(path) as tmp:
                tmp.write_text(text, encoding="utf-8")
        _SERVED.add(name)
    except OSError as e:
        c.log.warning("%s embedded in the map (%s)", suffix, e)
        return None
    return f"/app/static/cache/{name}"


def _plan_strings(sf, base: Base, layers, control) -> tuple[list, str]:
    """The plan's layers (``[script, order_free]`` per FeatureGroup; the component redoes only those
    that changed) and the layer control, as the scripts the component evaluates."""
    with base.lock:
        m = base.folium_map
        root = m.get_root()
        sections = [root.header, root.html, root.script]
        before = [set(sec._children) for sec in sections]
        try:
            fg = [[sf._get_feature_group_string(layer, map=m, idx=i), bool(getattr(layer, "gp_order_free", False))]
                  for i, layer in enumerate(layers)]
            lc = sf._get_layer_control_string(control, m)
        finally:   # the cached base keeps only its own layers (rendering added theirs to its page)
            for el in [*layers, control]:
                m._children.pop(el.get_name(), None)
            for sec, keys in zip(sections, before):
                for k in set(sec._children) - keys:
                    del sec._children[k]
    return fg, lc


def render_map(ds, p, *, key: str = "map", layers: dict | None = None, editable: bool = True,
               first_paint: bool = False):
    """Show the map of the community in view with the plan ``p`` (``None``: the dataset alone).

    ``layers`` replaces some of the plan's layers (``make_map_parts`` arguments: ``stations``,
    ``suggested``, ``selection``, ``selected_grid``, ``staff`` …) — a page showing something of its
    own on the same map, e.g. the party chain page. With ``editable`` false a click on the map changes
    nothing (the editing tools belong to the map page). With ``first_paint`` the map reports once it is
    drawn (a rerun: the page's first run holds the map alone, the rest follows it)."""
    from gridplan import webmap

    r = st.session_state
    t0 = time.perf_counter()
    dkey = c.dataset_key(r["source"])
    focus = c.current_focus(ds)
    basemap = r.get("basemap") or {}
    bkey = basemap_key(basemap)
    from app_pages import auth
    counts = auth.building_counts()          # a viewer sees grid totals only
    base = _base(ds, dkey, focus, c.lang(), bkey, c.MAP_HEIGHT, counts)
    fds = _focus_dataset(ds, dkey, focus)
    data: dict = {}
    if p is not None:
        from gridplan import metrics  # (the engine's imports: not on the way to the first map)
        g = metrics.grids(ds, p)
        if focus != c.ALL:
            g = g[g["community_id"].astype(str).to_numpy() == focus]
        res = whatif.coverage_result(ds) if (r.get("show_coverage") and whatif.coverage_available(ds)) else None
        data = dict(grids=g, assignment=p.assignment, colors=plans.grid_colors(ds, p),
                    coverage=None if res is None else res.buildings,
                    isochrones=whatif.isochrones(ds, res) if (res is not None and r.get("show_isochrones")) else None,
                    stations=whatif.shown_stations(ds, res), suggested=_suggested(ds),
                    selected_grid=r.get("selected_grid"), selection=r.get("selection") or None)
        data.update(layers or {})
    sf = _fast_path()
    fast = sf is not None and bool(base.script) and key == "map"
    parts = webmap.make_map_parts(fds, lang=c.lang(), draw_tools=True, height=c.MAP_HEIGHT, with_base=not fast,
                                  building_counts=counts, **_base_options(basemap), **data)
    parts.control.options["collapsed"] = True
    c.mark("map_layers", t0)
    if not fast:       # st_folium renders everything again (slower, same map)
        from streamlit_folium import st_folium
        return st_folium(parts.base, key=key, height=c.MAP_HEIGHT, use_container_width=True, returned_objects=RETURNED,
                         feature_group_to_add=parts.layers, layer_control=parts.control,
                         center=r.get("map_center"), zoom=r.get("map_zoom"), on_change=_on_map(key, editable))
    fg, lc = _plan_strings(sf, base, parts.layers, parts.control)
    out = leafletmap.component()(
        key=f"{key}_leaflet", data=dict(base=base.hash_key, script_url=base.script_url,
                                        script=None if base.script_url else base.script, header=base.header, html=base.html,
                                        css_links=base.css_links, js_links=base.js_links, feature_groups=fg,
                                        layer_control=lc, height=c.MAP_HEIGHT, zoom=r.get("map_zoom"),
                                        center=r.get("map_center"), first_paint=first_paint),
        on_event_change=_on_map(key, editable, f"{key}_leaflet"), on_drawn_change=_drawn)
    c.mark("map_total", t0)
    return out


def _drawn():
    """The map is drawn (first paint): the rerun this triggers draws the rest of the page."""


def _on_map(key: str, editable: bool, component_key: str | None = None):
    """The map's callback: the event goes to ``st.session_state[key]`` (st_folium puts its value there
    itself; the app's component has it as ``event`` under ``component_key``), then to the map page's
    handler unless the map is not ``editable``."""
    def run():
        from app_pages.callbacks import cb_map
        if component_key is not None:
            st.session_state[key] = (st.session_state.get(component_key) or {}).get("event") or {}
        if editable:
            cb_map()
    return run


def _suggested(ds):
    sug = st.session_state.get("suggested")
    if not sug:
        return None
    import geopandas as gpd
    import pandas as pd
    sg = pd.DataFrame(sug)
    return gpd.GeoDataFrame(sg[["rank", "gain_households"]], geometry=gpd.points_from_xy(sg["x"], sg["y"]), crs=ds.crs)
