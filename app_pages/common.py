"""State, texts and the shared resources of the app's pages.

Authoritative state lives in plain ``st.session_state`` keys (see :data:`DEFAULTS`) and is changed
only in callbacks (:mod:`app_pages.callbacks`). Heavy work is shared by every session: the loaded
:class:`~gridplan.Dataset` per source (``st.cache_resource``), the first partition per (dataset,
rule, seed) in a worker process (:class:`app_pages._worker.PartitionJobs`), the coverage analysis
per dataset. Figures of a plan (grid table, grid polygons) are computed once per (dataset, plan) by
the library itself. This module holds no geometry and no GIS logic.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import streamlit as st

from gridplan import PlanError, Rule, ValidationError
from gridplan import edit as ed
from gridplan import i18n

log = logging.getLogger("gridplan.app")

ROOT = Path(__file__).resolve().parent.parent
ALL = "__all__"
UPLOAD_LIMIT_MB = 200
UPLOAD_TYPES = ["geojson", "json", "gpkg", "fgb", "zip"]
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


def favicon():
    """A small grid icon drawn in memory: an emoji or material icon would make the browser fetch
    its image from a public CDN, and the app must not contact any outside host."""
    import numpy as np
    from PIL import Image
    img = np.full((32, 32, 3), 255, dtype=np.uint8)
    img[2:30, 2:30] = (200, 30, 40)
    for k in (2, 11, 20, 29):
        img[k:k + 2, 2:30] = 255
        img[2:30, k:k + 2] = 255
    return Image.fromarray(img)


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


def upload_name(names: list[str]) -> str:
    """A dataset uploaded as files is named after them (one GeoPackage or zip: its name)."""
    stems = sorted(dict.fromkeys(Path(n).stem for n in names if n))
    if not stems:
        return "upload"
    return "+".join(stems[:3]) + ("+…" if len(stems) > 3 else "")


def load_uploads(files, *, coord_system=None, column_map=None) -> bool:
    """Read uploaded files (callback side): written to a fresh temporary folder, read, and deleted
    again whatever happens; the dataset is kept in memory under its content fingerprint, so two
    uploads never share saved versions."""
    from gridplan.io import read_dataset
    if not files:
        st.session_state["load_problems"] = [problem("upload", T("no_files"), T("upload_help", mb=UPLOAD_LIMIT_MB))]
        return False
    folder = Path(tempfile.mkdtemp(prefix="gridplan-upload-"))
    try:
        errors = _write_uploads(files, folder)
        if errors:
            st.session_state["load_problems"] = [problem("upload", e, T("upload_help", mb=UPLOAD_LIMIT_MB))
                                                 for e in errors]
            return False
        name = upload_name([f.name for f in files])
        try:
            ds = read_dataset(folder, coord_system=coord_system, column_map=column_map, name=name)
        except ValidationError as e:
            st.session_state["load_problems"] = [p.as_dict() for p in e.problems]
            return False
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    fp = ed.dataset_fingerprint(ds)
    reg = _uploads()
    reg[fp] = ds
    while len(reg) > 8:
        reg.pop(next(iter(reg)))
    use_source({"kind": "upload", "fingerprint": fp, "name": name}, ds)
    return True


def _write_uploads(files, folder: Path) -> list[str]:
    """Write uploaded files into ``folder`` (never elsewhere: names are stripped of paths); returns errors."""
    errors = []
    for f in files:
        name = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", Path(f.name).name).strip(" .") or "upload"
        mb = f.size / 1e6
        if mb > UPLOAD_LIMIT_MB:
            errors.append(T("too_big", name=name, mb=mb, limit=UPLOAD_LIMIT_MB))
            continue
        if Path(name).suffix.lower().lstrip(".") not in UPLOAD_TYPES:
            errors.append(T("bad_file_type", name=name))
            continue
        target, i = folder / name, 1
        while target.exists():
            target = folder / f"{Path(name).stem}_{i}{Path(name).suffix}"
            i += 1
        target.write_bytes(f.getvalue())
    return errors


def parse_column_map(text: str) -> dict | None:
    """The column mapping typed on the data page, one ``原列名=字段`` per line (the CLI's parser;
    a malformed line raises with a message saying how to write it)."""
    from gridplan.cli._common import parse_column_map as parse
    return parse([line for line in (text or "").splitlines() if line.strip()])


# --------------------------------------------------------------------------- plans
@st.cache_resource(show_spinner=False)
def jobs():
    """The partition jobs of this server (one worker process, shared by every session)."""
    from app_pages._worker import PartitionJobs
    j = PartitionJobs()
    j.warm()
    return j


def _job(ds):
    from app_pages._worker import JobKey
    r = st.session_state
    rule = r["rule"]
    key = JobKey(dataset_key(r["source"]), (rule.min_households, rule.max_households, rule.min_persons,
                                            rule.max_persons, rule.mode), int(r["seed"]), int(r["code_width"]))
    # the worker reads files itself (beside this process); an upload exists only in memory here
    return key, (ds if key.dataset.startswith("upload:") else key.dataset)


def start_partition(ds) -> None:
    key, source = _job(ds)
    jobs().submit(key, source)


def history(*, wait: bool = False):
    """The undo history of the current plan; ``None`` while the first partition still runs (with
    ``wait`` false). The partition is started if it is not running yet."""
    ds = dataset()
    if ds is None:
        return None
    r = st.session_state
    dkey = dataset_key(r["source"])
    h = r.get("history")
    if h is None or r.get("history_key") != dkey:
        key, source = _job(ds)
        jobs().submit(key, source)
        done = jobs().result(key, wait=wait, source=source)
        if done is None:
            return None
        r["timings"]["partition_s"] = round(done.seconds, 3)
        h = ed.History.start(done.plan)
        r["history"], r["history_key"] = h, dkey
    return h


def plan():
    h = history(wait=True)
    return None if h is None else h.current


def wait_for_partition() -> None:
    """Shown while the first partition runs: a status line that reruns the app when it is done."""
    st.info(T("partitioning"), icon=":material/hourglass_top:")

    @st.fragment(run_every=0.4)
    def _poll():
        if history() is not None:
            st.rerun(scope="app")
    _poll()


def partition_now(rule: Rule, seed: int, code_width: int):
    """The engine's plan for other parameters (callback side; waits for the worker)."""
    r = st.session_state
    r["rule"], r["seed"], r["code_width"] = rule, int(seed), int(code_width)
    ds = dataset()
    key, source = _job(ds)
    jobs().submit(key, source)
    return jobs().result(key, wait=True, source=source).plan


def grid_colors(ds, p) -> dict:
    """Grid colours that stay put: a grid keeps its colour from edit to edit, a new grid gets one
    unlike its neighbours (kept in the session)."""
    from gridplan import metrics, webmap
    r = st.session_state
    fp = ed.fingerprint(p)
    if r.get("_colors_for") != fp:
        r["colors"] = {**r.get("colors", {}), **webmap.grid_colors(metrics.grids(ds, p), keep=r.get("colors"))}
        r["_colors_for"] = fp
    return r["colors"]


def push_plan(new, *, message: str | None = None) -> None:
    """Make ``new`` the current plan (undoable), check it against the old one, keep the report
    and the draft."""
    ds = dataset()
    r = st.session_state
    h = r["history"]
    report = ed.check(ds, new, before=h.current)
    r["history"] = h.push(new)
    set_report(report, label=new.label)
    mark_dirty()
    if message:
        flash("success", message)


def set_report(report, *, label: str = "") -> None:
    tb = report.table
    st.session_state["report"] = {
        "label": label,
        "newly_broken": [(g, i18n.reason(str(tb.at[g, "reason"]), lang())) for g in report.newly_broken
                         if g in tb.index],
        "fixed": list(report.fixed), "changed": list(report.changed),
        "compliant": int(tb["compliant"].sum()), "grids": int(len(tb)),
    }


def do_edit(edit: ed.Edit, *, message: str | None = None) -> bool:
    """Apply an edit (callback side). A failing edit leaves the plan as it was and says why; an edit
    that changes nothing says so and adds no step."""
    ds, p = dataset(), plan()
    if ds is None or p is None:
        return False
    t0 = time.perf_counter()
    try:
        new = ed.apply(ds, p, edit)
    except PlanError as e:
        flash("error", T("edit_failed", msg=md(e)))
        return False
    if new is p:
        flash("info", T("move_noop", grid=md(edit.args[-1])))
        return False
    push_plan(new, message=message)
    st.session_state["timings"]["edit_s"] = round(time.perf_counter() - t0, 3)
    return True


# --------------------------------------------------------------------------- saved versions and drafts
def project_stem(ds) -> str:
    """A dataset's file name in ``projects/``: its name and content fingerprint (so two datasets
    of the same name never share versions)."""
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f\s]+', "_", ds.name or "dataset").strip("._")[:40] or "dataset"
    return f"{safe}-{ed.dataset_fingerprint(ds)[:10]}"


def projects_dir() -> Path:
    return Path(os.environ.get("GRIDPLAN_PROJECTS_DIR") or ROOT / "projects")


def project_store():
    """The project file of the loaded dataset (``projects/<name>-<fingerprint>.gpkg``)."""
    from gridplan.store import ProjectStore
    return ProjectStore(projects_dir() / f"{project_stem(dataset())}.gpkg")


def draft_path(ds) -> Path:
    return projects_dir() / f"{project_stem(ds)}.draft.json"


def mark_dirty() -> None:
    """After every edit, undo or redo: the plan differs from what was saved; keep it as a draft."""
    from gridplan.io import write_plan_json
    r = st.session_state
    r["dirty"] = True
    ds, h = dataset(), r.get("history")
    if ds is None or h is None:
        return
    try:
        write_plan_json(h.current, draft_path(ds), dataset=ed.dataset_fingerprint(ds),
                        saved=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    except OSError as e:  # a full disk must not break editing
        log.warning("draft not written: %s", e)


def clear_draft() -> None:
    ds = dataset()
    st.session_state["dirty"] = False
    if ds is not None:
        draft_path(ds).unlink(missing_ok=True)


def pending_draft(ds, p):
    """The draft left by an earlier visit, if it differs from the current plan and was not answered
    yet: ``(plan, meta)`` or ``None``."""
    from gridplan.io import read_plan_json
    r = st.session_state
    if r.get("draft_seen") == dataset_key(r["source"]) or r.get("dirty"):
        return None
    path = draft_path(ds)
    if not path.exists():
        return None
    try:
        d, meta = read_plan_json(path)
        d.check_against(ds.buildings.index)
    except (ValueError, PlanError, OSError) as e:
        log.warning("draft %s not usable: %s", path, e)
        return None
    if d.same_assignment(p) and d.locked == p.locked:
        return None
    return d, meta


# --------------------------------------------------------------------------- coverage
def coverage_available(ds) -> bool:
    return ds is not None and ds.roads is not None and len(ds.roads) > 0 and ds.stations is not None


@st.cache_resource(max_entries=4, show_spinner=False)
def _coverage_base(_ds, dkey: str, minutes: tuple, speed: float, kinds: tuple):
    from gridplan.reach import Coverage
    return Coverage(_ds, minutes=minutes, speed_kmh=speed, kinds=kinds)


@st.cache_resource(max_entries=32, show_spinner=False)
def _coverage(_ds, dkey: str, minutes: tuple, speed: float, kinds: tuple, active: tuple | None, added: tuple):
    cov = _coverage_base(_ds, dkey, minutes, speed, kinds)
    if active is not None:
        cov = cov.with_active(list(active))
    if added:
        cov = cov.with_stations(list(added))       # the library allocates the ids (new1, new2 …)
    return cov.result()


def coverage_result(ds, *, what_if: bool = True):
    """The coverage for the current station settings (``what_if=False``: the dataset's stations)."""
    if not coverage_available(ds):
        return None
    r = st.session_state
    active = r.get("active_stations")
    return _coverage(ds, dataset_key(r["source"]), tuple(float(m) for m in r["cov_minutes"]), float(r["cov_speed"]),
                     tuple(r["cov_kinds"]), tuple(active) if (what_if and active is not None) else None,
                     tuple(tuple(x) for x in r["added_stations"]) if what_if else ())


@st.cache_resource(max_entries=16, show_spinner=False)
def _isochrones(_res, key: str):
    from gridplan.reach import isochrones
    return isochrones(_res)


def isochrones(ds, res):
    r = st.session_state
    key = json.dumps([dataset_key(r["source"]), list(r["cov_minutes"]), r["cov_speed"], list(r["cov_kinds"]),
                      r.get("active_stations"), list(r["added_stations"])], default=str)
    return _isochrones(res, key)


def shown_stations(ds, res):
    """The stations the planner sees: the active ones and the what-if ones (what maps and exports draw)."""
    if res is None:
        return ds.stations
    s = res.stations
    return s[s["active"].astype(bool)] if "active" in s.columns else s


def added_ids(res) -> list[str]:
    """The ids the library gave the what-if stations (the last rows of the station table)."""
    n = len(st.session_state.get("added_stations") or ())
    return [] if res is None or not n else [str(s) for s in res.stations.index[-n:]]


def current_focus(ds) -> str:
    f = st.session_state.get("focus")
    if ds is None or ds.communities is None or not len(ds.communities):
        return ALL
    if f is None or (f != ALL and f not in ds.communities.index):
        f = str(ds.communities.index[0])
        st.session_state["focus"] = f
    return f
