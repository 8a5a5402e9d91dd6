// gridplan's map component (Streamlit components v2: in the page itself, no iframe).
//
// The Python side (app_pages/mapview.py) sends folium's rendered pieces: the base map's script (as
// the URL of a file the app serves, so reruns do not resend it), its header styles, the scripts and
// stylesheets it needs, and the plan's layers (feature groups and a layer control). The base is built once per `base` key and kept across reruns, so Leaflet keeps its
// map and the planner's view; on every rerun only the plan's layers are swapped in place.
//
// Clicks and drawn shapes go back to Python as one trigger value `event`, shaped the way the
// app's map handler reads it: {last_clicked, last_active_drawing, all_drawings}.

const loading = {};   // url → Promise (each script and stylesheet once per page)

function loadScript(src) {
  if (!loading[src]) {
    loading[src] = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.async = false;            // fetched in parallel, run in order (leaflet.draw needs Leaflet)
      s.onload = resolve;
      s.onerror = () => reject(new Error("gridplan map: cannot load " + src));
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
    });
  }
  return loading[url];
}

function run(code) {
  if (code) (0, eval)(code);      // global scope: the plan's layers refer to the base's layers by name
}

function runLocal(code) {
  if (code) new Function(code)();  // its own scope: evaluated again on every change (its `let`s too)
}

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

  // what Python last heard from the map (a click is sent once; the next one only when it differs)
  const state = host.__gpState || (host.__gpState = {last_clicked: null, last_active_drawing: null,
                                                     all_drawings: null, sent: null});
  const send = () => {
    const ev = {last_clicked: state.last_clicked, last_active_drawing: state.last_active_drawing,
                all_drawings: state.all_drawings};
    if (sameJSON(ev, state.sent)) return;
    state.sent = ev;
    setTriggerValue("event", ev);
  };
  window.__gpReport = (latlng, drawing) => {
    if (drawing) state.last_active_drawing = drawing;
    if (latlng) state.last_clicked = {lat: latlng.lat, lng: latlng.lng};
    send();
  };

  (d.css_links || []).forEach(loadStyle);
  // the base's script is a file the app serves (fetched once, beside Leaflet), or sent inline
  const script = d.script_url ? fetchText(d.script_url) : Promise.resolve(d.script);
  Promise.all([script, ...(d.js_links || []).map(loadScript)]).then(([baseScript]) => {
    if (!host.isConnected) return;
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
      host.__gpPlan = null;
      host.__gpView = null;
      const drawn = () => ((window.drawnItems && window.drawnItems.toGeoJSON) ?
                           window.drawnItems.toGeoJSON().features : []);
      map.on("draw:created", (e) => {
        state.all_drawings = drawn();
        state.last_active_drawing = e.layer.toGeoJSON();
        send();
      });
      map.on("draw:deleted draw:edited", () => {
        state.all_drawings = drawn();
        send();
      });
    }
    // the plan's layers, swapped in place
    const plan = (d.feature_group || "") + "\n" + (d.layer_control || "");
    if (host.__gpPlan !== plan) {
      (window.feature_group || []).forEach((l) => map.removeLayer(l));
      window.feature_group = [];
      if (window.layer_control) map.removeControl(window.layer_control);
      window.layer_control = null;
      runLocal(plan);
      host.__gpPlan = plan;
    }
    // a view asked for by the page (e.g. "show this building"), applied once
    const view = d.center && d.zoom ? [d.center, d.zoom] : null;
    if (view && !sameJSON(view, host.__gpView)) {
      const c = Array.isArray(view[0]) ? view[0] : [view[0].lat, view[0].lng];
      map.setView(c, view[1]);
    }
    host.__gpView = view;
    if (d.first_paint && !host.__gpDrawn) {       // the page's first run drew the map alone: now the rest
      host.__gpDrawn = true;
      requestAnimationFrame(() => setTriggerValue("drawn", true));
    }
  }).catch((err) => {
    host.textContent = String(err && err.message ? err.message : err);
    if (d.first_paint) setTriggerValue("drawn", false);       // the rest of the page all the same
  });
}
