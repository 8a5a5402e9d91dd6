"""Where a dataset's saved versions and its draft live: ``projects/<name>-<fingerprint>.gpkg`` and
``….draft.json`` (GRIDPLAN_PROJECTS_DIR overrides the folder). The draft is the current plan,
written after every edit, undo and redo, offered back on the next visit and removed when the plan
is saved as a version."""
from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import threading
import time
from pathlib import Path

import streamlit as st

from app_pages import common as c
from gridplan import PlanError
from gridplan import edit as ed

log = logging.getLogger("gridplan.app")


def project_stem(ds) -> str:
    """A dataset's file name in ``projects/``: its name and content fingerprint (so two datasets
    of the same name never share versions)."""
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f\s]+', "_", ds.name or "dataset").strip("._")[:40] or "dataset"
    return f"{safe}-{ed.dataset_fingerprint(ds)[:10]}"


def projects_dir() -> Path:
    return Path(os.environ.get("GRIDPLAN_PROJECTS_DIR") or c.ROOT / "projects")


def project_path(ds) -> Path:
    """The dataset's own GeoPackage store (``projects/<name>-<fingerprint>.gpkg``)."""
    return projects_dir() / f"{project_stem(ds)}.gpkg"


def project_store():
    """The plan store of the loaded dataset: ``GRIDPLAN_STORE`` (a ``.gpkg`` path or a
    ``postgresql://`` URL, shared by an office) when set, else :func:`project_path`."""
    from gridplan.store import open_store
    return open_store(os.environ.get("GRIDPLAN_STORE") or project_path(c.dataset()))


def store_user() -> str:
    """Who saves: the signed-in user, else ``GRIDPLAN_USER`` or the account running the app."""
    import getpass
    return st.session_state.get("store_user") or os.environ.get("GRIDPLAN_USER") or getpass.getuser()


def store_base(store):
    """The version of ``store`` the current plan was opened from or last saved as (``None``: the newest)."""
    base = st.session_state.get("store_base")
    return base[1] if base and base[0] == store.location else None


def draft_path(ds) -> Path:
    """The draft of the dataset's current plan; with a signed-in user, one per user (two planners
    never restore each other's drafts)."""
    user = (st.session_state.get("auth") or {}).get("user")
    if not user:
        return projects_dir() / f"{project_stem(ds)}.draft.json"
    import hashlib
    safe = re.sub(r'[^0-9A-Za-z_\-]+', "_", user).strip("_")[:24]
    return projects_dir() / f"{project_stem(ds)}.u-{safe}-{hashlib.sha1(user.encode('utf-8')).hexdigest()[:8]}.draft.json"


_DRAFT_LOCK = threading.Lock()      # one writer at a time
_PENDING_LOCK = threading.Lock()
_PENDING: dict = {}                  # draft path → (plan, dataset fingerprint): the newest, not written yet
#: how long a draft waits before it is written: the edit's rerun goes first (writing takes the
#: interpreter for ~15 ms), and quick edits in a row are written once
DRAFT_DELAY_S = 0.3


def write_pending_drafts(path: Path) -> None:
    """Write the draft waiting for ``path`` now (nothing when none waits). The plan is immutable, so
    any thread may write it."""
    from gridplan.io import write_plan_json
    with _DRAFT_LOCK:
        with _PENDING_LOCK:
            item = _PENDING.pop(path, None)
        if item is None:
            return
        plan, fingerprint = item
        try:
            write_plan_json(plan, path, dataset=fingerprint, saved=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
        except OSError as e:  # a full disk must not break editing
            log.warning("draft not written: %s", e)


def _write_later(path: Path) -> None:
    time.sleep(DRAFT_DELAY_S)
    write_pending_drafts(path)


def mark_dirty() -> None:
    """After every edit, undo or redo: the plan differs from what was saved; keep it as a draft
    (written a moment after the edit, in a thread: the planner does not wait for the disk; a visit
    reading drafts writes a waiting one first)."""
    r = st.session_state
    r["dirty"] = True
    ds, h = c.dataset(), r.get("history")
    if ds is None or h is None:
        return
    path = draft_path(ds)
    with _PENDING_LOCK:
        _PENDING[path] = (h.current, ed.dataset_fingerprint(ds))
    threading.Thread(target=_write_later, args=(path,), name="gridplan-draft", daemon=True).start()


def wait_for_draft() -> None:
    """The last draft is on disk (before it is read or removed): written now if it still waits, or
    (a writer holding the lock) once the write under way is done."""
    ds = c.dataset()
    if ds is not None:
        write_pending_drafts(draft_path(ds))


def clear_draft() -> None:
    wait_for_draft()
    ds = c.dataset()
    st.session_state["dirty"] = False
    if ds is not None:
        draft_path(ds).unlink(missing_ok=True)


def pending_draft(ds, p):
    """The draft left by an earlier visit, if it differs from the current plan and was not answered
    yet: ``(plan, meta)`` or ``None``."""
    from gridplan.io import read_plan_json
    r = st.session_state
    if r.get("draft_seen") == c.dataset_key(r["source"]) or r.get("dirty"):
        return None
    path = draft_path(ds)
    write_pending_drafts(path)           # an edit a moment before this visit (a reload) is in it
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
