"""State, texts and the shared resources of the app's pages.

Authoritative state lives in plain ``st.session_state`` keys (see :data:`DEFAULTS`) and is changed
only in callbacks (:mod:`app_pages.callbacks`). Heavy work is shared by every session: the loaded
:class:`~gridplan.Dataset` per source (``st.cache_resource``), the first partition per (dataset,
rule, seed) in a worker process (:class:`app_pages._worker.PartitionJobs`), the coverage analysis
per dataset. Figures of a plan (grid table, grid polygons) are computed once per (dataset, plan) by
the library itself. This module holds no geometry and no GIS logic.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import streamlit as st

from gridplan import Rule, ValidationError, i18n
from gridplan import edit as ed

log = logging.getLogger("gridplan.app")

ROOT = Path(__file__).resolve().parent.parent
ALL = "__all__"
UPLOAD_LIMIT_MB = 200
MAP_HEIGHT = 640
TOOLS = ("select", "paint", "station")

# --------------------------------------------------------------------------- state
DEFAULTS = {
    "lang": "zh",
    "source": {"kind": "sample"},       # where the dataset comes from (see dataset_key)
    "src_kind": "sample",               # the data page's choice (kept while the planner is elsewhere)
    "load_problems": None,              # problems of the last failed load (list of dicts)
    "history": None,                    # gridplan.edit.History of the current plan
    "history_key": None,                # the dataset key the history belongs to
    "dirty": False,                     # edits since the last save (a draft keeps them)
    "draft_seen": None,                 # the dataset key whose draft offer was answered
    "colors": {},                       # grid → colour, kept from edit to edit
    "rule": Rule(),
    "seed": 0,
    "code_width": 2,
    "focus": None,                      # community shown in detail (None: first)
    "tool": "select",
    "unit": "building",
    "target": None,                     # target grid of moves
    "selection": (),                    # selected building ids
    "selected_grid": None,
    "map_center": None,
    "map_zoom": None,
    "report": None,                     # the check report of the last edit (dict)
    "flash": [],                        # messages shown once: (kind, text)
    "active_stations": None,            # None: all dataset stations active
    "added_stations": (),               # ((x, y), …) what-if stations in the metric CRS
    "suggested": None,                  # list of dicts (x, y, gain_households, rank, place …)
    "show_coverage": True,
    "show_isochrones": False,
    "cov_minutes": (5.0, 10.0, 15.0),
    "cov_speed": 4.0,
    "cov_kinds": ("red_station",),
    "basemap": None,                    # {"url", "crs", "attribution"} or None (see settings())
    "timings": {},
}


def init_state() -> None:
    for k, v in DEFAULTS.items():
        if k not in st.session_state:
            st.session_state[k] = dict(v) if isinstance(v, dict) else (list(v) if isinstance(v, list) else v)
    if st.session_state["basemap"] is None:
        st.session_state["basemap"] = settings().get("basemap") or {}


@st.cache_resource(show_spinner=False)
def settings() -> dict:
    """The office's settings in ``.streamlit/gridplan.toml``: ``[app] timezone``, ``[basemap] url, crs,
    attribution`` (an intranet tile service). Missing file or keys: no basemap, the machine's zone."""
    import tomllib
    path = Path(os.environ.get("GRIDPLAN_SETTINGS") or ROOT / ".streamlit" / "gridplan.toml")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("settings %s not read: %s", path, e)
        return {}


def favicon() -> str:
    """A small grid icon, as SVG (the page gets it inline, as a data URL): an emoji or material icon
    would make the browser fetch its image from a public CDN, and the app must not contact any
    outside host."""
    lines = "".join(f'<rect x="{k}" y="2" width="2" height="28"/><rect x="2" y="{k}" width="28" height="2"/>'
                    for k in (2, 11, 20, 28))
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32" viewBox="0 0 32 32">'
            f'<rect x="2" y="2" width="28" height="28" fill="#c81e28"/><g fill="#fff">{lines}</g></svg>')


def mark(what: str, t0: float) -> None:
    """Record how long a step took (printed when GRIDPLAN_APP_TIMINGS is set)."""
    dt = round(time.perf_counter() - t0, 3)
    st.session_state.setdefault("timings", {})[f"{what}_s"] = dt
    if os.environ.get("GRIDPLAN_APP_TIMINGS"):
        import sys
        print(f"[gridplan-timing] {what} {dt:.3f}s", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- text
def lang() -> str:
    return st.session_state.get("lang", "zh")


def T(key: str, **fmt) -> str:
    return i18n.t(key, lang(), **fmt)


_MD_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:=\"'&^%@")


def md(value) -> str:
    """Text from user files made inert for Streamlit markdown (labels, messages): every markdown/HTML/
    LaTeX character is backslash-escaped, so a name like ``![x](http://host/x.png)`` is shown, never
    fetched."""
    s = "" if value is None else str(value)
    s = s.replace("\r", " ").replace("\n", " ")
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in s)


def step(label) -> str:
    """A plan's label (the step that made it) in the interface's language, made inert."""
    return md(i18n.plan_label(str(label or ""), lang()))


def message(e) -> str:
    """A library error message in the interface's language, made inert."""
    return md(i18n.in_language(str(e), lang()))


def when(iso) -> str:
    """A stored (UTC) time in the office's time zone."""
    return i18n.local_time(iso, settings().get("app", {}).get("timezone") or os.environ.get("GRIDPLAN_TZ"))


def flash(kind: str, text: str) -> None:
    """A message for the next run (once: the same text is not queued twice)."""
    queued = list(st.session_state.get("flash", []))
    if (kind, text) not in queued:
        st.session_state["flash"] = queued + [(kind, text)]


def show_flash():
    """The messages of the last action, in a container that is always there, so the page below
    keeps its place (a message appearing or going must not rebuild the map or steal the focus
    from a text field). Returns the container (the map page adds the draft offer to it)."""
    box = st.container()
    for kind, text in st.session_state.get("flash", []):
        getattr(box, kind, box.info)(text)
    st.session_state["flash"] = []
    return box


# --------------------------------------------------------------------------- datasets
class UploadGone(LookupError):
    """An uploaded dataset the server no longer holds (it restarted)."""


@st.cache_resource(show_spinner=False)
def _uploads() -> dict:
    """Uploaded datasets by content fingerprint (their files are deleted once read)."""
    return {}


def dataset_key(source: dict) -> str:
    kind = source.get("kind")
    if kind == "sample":
        return "sample"
    if kind == "upload":
        return "upload:" + str(source.get("fingerprint"))
    return json.dumps({k: source.get(k) for k in ("kind", "path", "coord_system", "column_map")},
                      ensure_ascii=False, sort_keys=True)


@st.cache_resource(max_entries=6, show_spinner=False)
def _load(key: str):
    if key.startswith("upload:"):
        ds = _uploads().get(key[7:])
        if ds is None:
            raise UploadGone(key)
        return ds
    from app_pages._worker import load_by_key
    return load_by_key(key)


def dataset():
    """The loaded dataset (``None`` if it cannot be loaded; the problems are in ``load_problems``)."""
    t0 = time.perf_counter()
    try:
        ds = _load(dataset_key(st.session_state["source"]))
    except ValidationError as e:
        st.session_state["load_problems"] = [p.as_dict() for p in e.problems]
        return None
    except UploadGone:
        st.session_state["load_problems"] = [problem("upload", T("upload_gone"), T("page_data"))]
        return None
    if time.perf_counter() - t0 > 0.001:      # a load, not the cached dataset (asked for many times a run)
        mark("dataset", t0)
    return ds


def require_dataset():
    """The loaded dataset; a page without one shows a notice and stops there."""
    ds = dataset()
    if ds is None:
        st.warning(T("no_dataset"))
        st.page_link("app_pages/data.py", label=T("page_data"), icon=":material/folder_open:")
        st.stop()
    return ds


def problem(layer: str, msg: str, fix: str) -> dict:
    return {"severity": "error", "layer": layer, "feature": None, "message": msg, "fix": fix, "code": ""}


def use_source(source: dict, ds) -> None:
    """Make a loaded dataset the current one (callback side): a fresh plan and settings."""
    st.session_state["source"] = source
    st.session_state["load_problems"] = None
    for k in ("history", "history_key", "focus", "target", "selected_grid", "report", "map_center", "map_zoom",
              "active_stations", "suggested", "draft_seen"):
        st.session_state[k] = DEFAULTS[k]
    st.session_state["selection"] = ()
    st.session_state["added_stations"] = ()
    st.session_state["colors"] = {}
    st.session_state["dirty"] = False
    flash("success", T("loaded", name=md(ds.name)))


def load_source(source: dict) -> bool:
    """Try a sample or path source; keep it only when it loads. Called from callbacks."""
    try:
        ds = _load(dataset_key(source))
    except ValidationError as e:
        st.session_state["load_problems"] = [p.as_dict() for p in e.problems]
        return False
    except Exception as e:  # noqa: BLE001 - never a traceback in the app
        log.exception("loading %s failed", source)
        st.session_state["load_problems"] = [problem("dataset", f"{type(e).__name__}: {e}", i18n.FIXES_ZH["unreadable"]
                                                     if lang() == "zh" else "check the files (open them in QGIS)")]
        return False
    use_source(source, ds)
    return True


def load_uploads(files, *, coord_system=None, column_map=None) -> bool:
    """Read uploaded files (callback side; the library deletes them once read). The dataset stays in
    memory under its content fingerprint, so two uploads never share saved versions."""
    from gridplan.io import read_uploaded
    try:
        ds = read_uploaded([(f.name, f.getvalue()) for f in files or ()], max_file_mb=UPLOAD_LIMIT_MB,
                           coord_system=coord_system, column_map=column_map)
    except ValidationError as e:
        st.session_state["load_problems"] = [p.as_dict() for p in e.problems]
        return False
    use_dataset(ds)
    return True


def use_dataset(ds) -> dict:
    """Keep a dataset made in this session (an upload, rosters applied) in memory under its content
    fingerprint and make it the current one; returns its source."""
    fp = ed.dataset_fingerprint(ds)
    reg = _uploads()
    reg[fp] = ds
    while len(reg) > 8:
        reg.pop(next(iter(reg)))
    source = {"kind": "upload", "fingerprint": fp, "name": ds.name}
    use_source(source, ds)
    return source


def parse_column_map(text: str) -> dict | None:
    """The column mapping typed on the data page, one ``原列名=字段`` per line (the CLI's parser;
    a malformed line raises with a message saying how to write it)."""
    from gridplan.cli._common import parse_column_map as parse
    return parse([line for line in (text or "").splitlines() if line.strip()])


def first_focus(ds) -> str:
    """The community a first visit shows: the dataset's first (``ALL`` when it has none)."""
    if ds is None or ds.communities is None or not len(ds.communities):
        return ALL
    return str(ds.communities.index[0])


def current_focus(ds) -> str:
    f = st.session_state.get("focus")
    if ds is None or ds.communities is None or not len(ds.communities):
        return ALL
    if f is None or (f != ALL and f not in ds.communities.index):
        f = first_focus(ds)
        st.session_state["focus"] = f
    return f
