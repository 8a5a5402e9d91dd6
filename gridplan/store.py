"""Named plan versions in a project GeoPackage, saved atomically.

A project file (by default ``projects/<dataset>.gpkg``) holds two attribute tables:

* ``versions`` — one row per saved version: ``version_id`` (1, 2, …), ``name``, ``note``,
  ``created`` (UTC, ISO 8601), ``label`` (the edit step the plan came from), ``grids``,
  ``buildings``, ``rule`` (JSON of :meth:`Rule.as_dict`), ``locked`` (JSON list of grid ids) and
  ``dataset`` (the dataset name it was made on);
* ``assignments`` — ``version_id``, ``building_id``, ``grid_id`` for every version.

Saving never edits the project file in place: the current file is copied beside it, the new
version is appended to the copy, the copy is flushed to disk (``fsync``) and moved over the
original with :func:`os.replace` (:func:`gridplan._atomic.atomic_path`). A crash or a kill at any moment therefore leaves either the old
file or the new one, both complete. A lock file serialises concurrent savers (two browser tabs).

>>> store = ProjectStore("projects/sample.gpkg")          # doctest: +SKIP
>>> vid = store.save("初稿", plan, note="first draft")    # doctest: +SKIP
>>> store.list()                                          # doctest: +SKIP
>>> plan2 = store.load("初稿")                             # doctest: +SKIP
>>> store.compare("初稿", vid)                             # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pyogrio

from ._atomic import atomic_path
from ._errors import StoreError
from .model import Plan, Rule

log = logging.getLogger(__name__)

#: the folder project files go to by default (gitignored)
PROJECTS_DIR = Path("projects")

VERSION_COLUMNS = ["version_id", "name", "note", "created", "label", "grids", "buildings", "rule", "locked",
                   "dataset"]


def default_project_path(dataset_name: str, *, folder: str | os.PathLike = PROJECTS_DIR) -> Path:
    """``projects/<dataset>.gpkg`` with the dataset name made safe as a file name."""
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", str(dataset_name)).strip(" .") or "project"
    return Path(folder) / f"{safe[:80]}.gpkg"


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive advisory lock on ``<path>.lock`` (POSIX); a no-op where fcntl is missing."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    lock = path.with_name(path.name + ".lock")
    with open(lock, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class ProjectStore:
    """The saved versions of plans for one dataset, in one GeoPackage.

    Parameters
    ----------
    path
        The project file (created on the first save; its folder too).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"ProjectStore({str(self.path)!r}, {len(self.list())} version(s))"

    # ------------------------------------------------------------------ reading
    def exists(self) -> bool:
        return self.path.exists()

    def list(self) -> pd.DataFrame:
        """Every saved version, oldest first (columns :data:`VERSION_COLUMNS`, index ``version_id``)."""
        if not self.path.exists():
            return pd.DataFrame(columns=VERSION_COLUMNS).set_index("version_id")
        try:
            df = pyogrio.read_dataframe(self.path, layer="versions", read_geometry=False)
        except Exception as e:  # noqa: BLE001 - any driver failure is one clear message
            raise StoreError(f"the project file {self.path} cannot be read ({e}); "
                             "restore it from a backup or choose another project file") from e
        for c in VERSION_COLUMNS:
            if c not in df.columns:
                df[c] = None
        df = df[VERSION_COLUMNS]
        df["version_id"] = df["version_id"].astype(int)
        for c in ("grids", "buildings"):
            df[c] = pd.to_numeric(df[c], errors="coerce").fillna(0).astype(int)
        for c in ("name", "note", "label", "created", "rule", "locked", "dataset"):
            df[c] = df[c].fillna("").astype(object)
        return df.sort_values("version_id").set_index("version_id")

    def resolve(self, name_or_id) -> int:
        """The version id of a version given by id (an int) or by name (the newest of that name;
        a string of digits that is no version name is read as an id)."""
        versions = self.list()
        if len(versions) == 0:
            raise StoreError(f"no version is saved in {self.path} yet")
        if not isinstance(name_or_id, str):
            vid = int(name_or_id)
            if vid not in versions.index:
                raise StoreError(f"no version {vid}; saved versions are {', '.join(map(str, versions.index))}")
            return vid
        hit = versions.index[versions["name"] == name_or_id]
        if len(hit):
            return int(hit.max())
        if name_or_id.strip().isdigit() and int(name_or_id) in versions.index:
            return int(name_or_id)
        names = ", ".join(dict.fromkeys(versions["name"].tolist()))
        raise StoreError(f"no version named {name_or_id!r}; saved versions: {names}")

    def info(self, name_or_id) -> dict:
        vid = self.resolve(name_or_id)
        row = self.list().loc[vid].to_dict()
        row["version_id"] = vid
        return row

    def load(self, name_or_id) -> Plan:
        """The plan of a saved version (rule and locked grids included; ``parent`` is ``None``)."""
        vid = self.resolve(name_or_id)
        row = self.list().loc[vid]
        a = pyogrio.read_dataframe(self.path, layer="assignments", where=f"version_id = {vid}",
                                   read_geometry=False)
        if len(a) == 0:
            raise StoreError(f"version {vid} has no assignment rows; the project file is damaged")
        s = pd.Series(a["grid_id"].astype(str).to_numpy(dtype=object),
                      index=pd.Index(a["building_id"].astype(str).to_numpy(dtype=object), name="building_id"))
        try:
            rule = Rule(**json.loads(row["rule"])) if row["rule"] else Rule()
        except (ValueError, TypeError):
            rule = Rule()
        try:
            locked = json.loads(row["locked"]) if row["locked"] else []
        except ValueError:
            locked = []
        return Plan(s, rule=rule, locked=locked, label=f"version {vid}: {row['name']}")

    def compare(self, a, b) -> pd.DataFrame:
        """Buildings whose grid differs between versions ``a`` and ``b`` (``from_grid``, ``to_grid``)."""
        return self.load(a).diff(self.load(b))

    # ------------------------------------------------------------------ writing
    def save(self, name: str, plan: Plan, *, note: str = "", dataset_name: str = "") -> int:
        """Save ``plan`` as a new version called ``name``; returns its version id.

        The project file is replaced atomically (see the module doc); on any failure the previous
        file is left exactly as it was and the error is raised.
        """
        name = str(name).strip()
        if not name:
            raise StoreError("give the version a name")
        if len(name) > 200:
            raise StoreError("the version name is too long (200 characters at most)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.path):
            self._remove_stale_temps()
            versions = self.list()
            vid = int(versions.index.max()) + 1 if len(versions) else 1
            a = plan.assignment
            row = pd.DataFrame([{
                "version_id": vid, "name": name, "note": str(note or ""),
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "label": str(plan.label or ""), "grids": int(a.nunique()), "buildings": int(len(a)),
                "rule": json.dumps(plan.rule.as_dict(), ensure_ascii=False),
                "locked": json.dumps(sorted(plan.locked), ensure_ascii=False),
                "dataset": str(dataset_name or ""),
            }])
            rows = pd.DataFrame({"version_id": vid, "building_id": a.index.to_numpy(dtype=object),
                                 "grid_id": a.to_numpy(dtype=object)})
            tmp = None
            try:
                with atomic_path(self.path) as tmp:
                    append = self.path.exists()
                    if append:
                        shutil.copyfile(self.path, tmp)
                    pyogrio.write_dataframe(row, tmp, layer="versions", driver="GPKG", append=append)
                    pyogrio.write_dataframe(rows, tmp, layer="assignments", driver="GPKG", append=append)
                _fsync_dir(self.path.parent)
            finally:
                if tmp is not None:
                    for side in ("-journal", "-wal", "-shm"):
                        with contextlib.suppress(FileNotFoundError):
                            tmp.with_name(tmp.name + side).unlink()
        log.info("saved version %d %r (%d buildings) to %s", vid, name, len(a), self.path)
        return vid

    def _remove_stale_temps(self) -> None:
        """Temp copies left by a saver that was killed (under the lock no other save is running)."""
        for p in self.path.parent.glob(f".{self.path.stem}.*.tmp.gpkg*"):
            try:
                p.unlink()
            except OSError:  # pragma: no cover - e.g. removed meanwhile
                pass
