"""gridplan's map component: Streamlit components v2, drawn in the page itself (no iframe, no React
bundle of its own to load). gridplan's own code, kept here as the JavaScript string Streamlit
registers (the third-party parts it loads, Leaflet and leaflet.draw, come from ``static/vendor``,
installed by the setup: see :mod:`gridplan.assets`).

:func:`app_pages.mapview.render_map` sends folium's rendered pieces: the base map's script (as the URL
of a file the app serves, so reruns do not resend it), its header styles, the scripts and stylesheets
it needs, and the plan's layers (feature groups and a layer control). The base is built once per
``base`` key and kept across reruns, so Leaflet keeps its map and the planner's view; on every rerun
only the plan's layers that changed are evaluated again.

Clicks and drawn shapes go back to Python as one trigger value ``event``, shaped the way the app's map
handler reads it (``{last_clicked, last_active_drawing, all_drawings}``); with ``first_paint`` in the
data the map also triggers ``drawn`` once its buildings are on it.
"""
from __future__ import annotations

import streamlit as st

HTML = '<div class="gp-map-host"></div>'

JS = r"""
const loading = {};   // url → Promise (each script and stylesheet once per page)

function loadScript(src) {
  if (!loading[src]) {
    loading[src] = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.async = false;            // fetched in parallel, run in order (leaflet.draw needs Leaflet)
      s.onload = resolve;
      s.onerror = () => {             // the next call tries again
        delete loading[src];
        s.remove();
        reject(new Error("gridplan map: cannot load " + src));
      };
      document.head.appendChild(s);
    });
  }
  return loading[src];
}

function loadStyle(href) {
  if (!loading[href]) {
    const l = document.createElement("link");
    l.rel = "stylesheet";
    l.href = href;
    document.head.appendChild(l);
    loading[href] = true;
  }
}

function fetchText(url) {
  if (!loading[url]) {
    loading[url] = fetch(url).then((r) => {
      if (!r.ok) throw new Error("gridplan map: cannot load " + url + " (" + r.status + ")");
      return r.text();
    }).catch((err) => {
      delete loading[url];            // the next call tries again
      throw err;
    });
  }
  return loading[url];
}

function run(code) {
  if (code) (0, eval)(code);      // global scope: the plan's layers refer to the base's layers by name
}
// the plan's layers are each evaluated in a scope of their own (new Function): again on every change,
// `let`s and all


// folium's header: its styles (not the whole-page `html, body` and `#map` rules, written for a page of
// its own) and its inline scripts
function applyHeader(header) {
  const old = document.getElementById("gp-map-header");
  if (old) old.remove();
  const tpl = document.createElement("template");
  tpl.innerHTML = header || "";
  const css = [];
  tpl.content.querySelectorAll("style").forEach((st) => {
    const text = st.textContent;
    if (!/^\s*(html\s*,\s*body|#map\s*\{)/.test(text)) css.push(text);
  });
  const el = document.createElement("style");
  el.id = "gp-map-header";
  el.textContent = css.join("\n");
  document.head.appendChild(el);
  tpl.content.querySelectorAll("script").forEach((sc) => run(sc.textContent));
}

function sameJSON(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const d = data || {};
  const host = parentElement.querySelector(".gp-map-host");
  if (!host) return;
  host.style.height = (d.height || 600) + "px";
  // the map's thousands of paths are laid out and painted apart from the page around them (an iframe
  // was that boundary): a change in the page does not lay out the map again, nor the map the page
  host.style.contain = "strict";

  // what Python last heard from the map (a click is sent once; the next one only when it differs)
  const state = host.__gpState || (host.__gpState = {last_clicked: null, last_active_drawing: null,
                                                     all_drawings: null, sent: null});
  const send = host.__gpSend = () => {     // the handlers below call the latest (a rerun's own trigger)
    const ev = {last_clicked: state.last_clicked, last_active_drawing: state.last_active_drawing,
                all_drawings: state.all_drawings};
    if (sameJSON(ev, state.sent)) return;
    state.sent = ev;
    setTriggerValue("event", ev);
  };
  const gen = host.__gpGen = (host.__gpGen || 0) + 1;   // an older call finishing later does nothing
  window.__gpReport = (latlng, drawing) => {
    if (drawing) state.last_active_drawing = drawing;
    if (latlng) state.last_clicked = {lat: latlng.lat, lng: latlng.lng};
    send();
  };

  (d.css_links || []).forEach(loadStyle);
  // the base's script is a file the app serves (fetched once, beside Leaflet), or sent inline
  const script = d.script_url ? fetchText(d.script_url) : Promise.resolve(d.script);
  Promise.all([script, ...(d.js_links || []).map(loadScript)]).then(([baseScript]) => {
    if (!host.isConnected || gen !== host.__gpGen) return;
    const old = host.querySelector(".gp-map-error");
    if (old) old.remove();
    let map = host.__gpMap;
    if (!map || host.__gpBase !== d.base || map !== window.map) {
      if (map) map.remove();
      // a map left by another page (its element is gone): let Leaflet drop its listeners
      if (window.map && window.map !== map && window.map.remove && !window.map.getContainer().isConnected) {
        window.map.remove();
      }
      applyHeader(d.header);
      host.innerHTML = (d.html || "") + '<div id="map_div" class="gp-map"></div>';
      window.feature_group = [];
      window.layer_control = null;
      run(baseScript);
      map = window.map_div;
      window.map = map;
      host.__gpMap = map;
      host.__gpBase = d.base;
      host.__gpControl = null;
      host.__gpGroups = [];
      host.__gpView = null;
      const drawn = () => ((window.drawnItems && window.drawnItems.toGeoJSON) ?
                           window.drawnItems.toGeoJSON().features : []);
      map.on("draw:created", (e) => {
        state.all_drawings = drawn();
        state.last_active_drawing = e.layer.toGeoJSON();
        host.__gpSend();
      });
      map.on("draw:deleted draw:edited", () => {
        state.all_drawings = drawn();
        host.__gpSend();
      });
    }
    // the plan's layers, swapped in place: only the groups that changed are evaluated again; a group
    // after a redone one is taken off and put back (it stays above it), unless the redone one draws
    // nothing (the plan state)
    const groups = d.feature_groups || [];
    const prev = host.__gpGroups || [];
    const changed = host.__gpControl !== (d.layer_control || "") || prev.length !== groups.length ||
                    groups.some(([code], i) => prev[i].code !== code);
    if (changed) {
      const next = [];
      let after = false;
      groups.forEach(([code, orderFree], i) => {
        const old = prev[i];
        if (old && old.code === code) {
          if (after && map.hasLayer(old.layer)) { map.removeLayer(old.layer); map.addLayer(old.layer); }
          next.push(old);
          return;
        }
        if (old) map.removeLayer(old.layer);
        if (!orderFree) after = true;
        next.push({code, layer: new Function(code + "\nreturn feature_group_feature_group_" + i + ";")()});
      });
      prev.slice(groups.length).forEach((g) => map.removeLayer(g.layer));
      host.__gpGroups = next;
      window.feature_group = next.map((g) => g.layer);
      if (window.layer_control) map.removeControl(window.layer_control);
      window.layer_control = null;
      const names = next.map((_, i) => "feature_group_feature_group_" + i);
      if (d.layer_control) new Function(...names, d.layer_control)(...window.feature_group);
      host.__gpControl = d.layer_control || "";
    }
    // a view asked for by the page (e.g. "show this building"), applied once
    const view = d.center && d.zoom ? [d.center, d.zoom] : null;
    if (view && !sameJSON(view, host.__gpView)) {
      const c = Array.isArray(view[0]) ? view[0] : [view[0].lat, view[0].lng];
      map.setView(c, view[1]);
    }
    host.__gpView = view;
    if (d.first_paint && !host.__gpDrawn) {       // the page's first run drew the map alone: once its
      host.__gpDrawn = true;                        // buildings are on it, the rest
      Promise.resolve(window.__gpFootprints).then(() => requestAnimationFrame(() => setTriggerValue("drawn", true)));
    }
  }).catch((err) => {
    if (gen !== host.__gpGen) return;
    if (host.__gpMap) host.__gpMap.remove();
    host.__gpMap = null;
    host.__gpBase = null;
    host.innerHTML = "";
    const box = document.createElement("div");
    box.className = "gp-map-error";
    box.textContent = String(err && err.message ? err.message : err);
    host.appendChild(box);
    if (d.first_paint && !host.__gpDrawn) {         // the rest of the page all the same
      host.__gpDrawn = true;
      setTriggerValue("drawn", false);
    }
  });
}
"""

_COMPONENT = None


def component():
    """The registered component's mount function (registered once per process)."""
    global _COMPONENT
    if _COMPONENT is None:
        _COMPONENT = st.components.v2.component("gridplan_map", html=HTML, js=JS, isolate_styles=False)
    return _COMPONENT
