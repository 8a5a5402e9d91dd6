"""A persistent cache of what is slow to redo and depends only on files and code: a dataset loaded
from its files, the first partition of such a dataset.

A loaded dataset is the same value as long as its files, the load options and gridplan's code are
the same; a partition with a given rule and seed is the same plan (the engine's search is budgeted
in deterministic work units). So both are kept on disk under a key made of

* the **content** of every input file (a SHA-256 of the bytes, not a modification time),
* the load options,
* the **code version**: a hash of every ``gridplan`` source file and of the versions of Python and
  of the libraries whose objects are stored (pandas, geopandas, shapely, numpy, pyproj),

and a changed file, option or line of code is a different key: a stale value is never served.

Where: ``GRIDPLAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/gridplan``, else ``~/.cache/gridplan`` —
a folder of its own, never beside the user's data, safe to delete at any time.
``GRIDPLAN_CACHE_DIR=off`` (or ``0``, ``none``, empty) turns the cache off.

Format: no pickle. An entry (``<kind>/<key>.gpz``) is a short header (a magic line, its key and a
SHA-256 of the payload) followed by a zip archive written by :mod:`gridplan._codec`: a JSON manifest
of typed nodes plus binary blobs — numpy arrays in ``.npy`` form read with ``allow_pickle=False``,
object arrays of str as JSON, geometries as WKB, CRSs as PROJJSON, pandas/geopandas frames column by
column with their dtypes, and gridplan's own values (Dataset, Plan, Rule, Problem, the engine's
arrays) rebuilt from their fields through a fixed list of allowed classes. Reading can only produce
data, never call code named by the file. A value the format cannot hold is simply not cached (a
debug line in the log).

Safety: the folder is created private (mode 0700) and is used only when it belongs to the current
user and nobody else may write to it; every entry carries its key and a SHA-256 of its payload, and
an entry that is truncated, corrupt, of another key, or holds an unknown type tag, a refused dtype
or a wrong shape is deleted and recomputed. Only datasets read from files on disk are cached
(uploads and datasets made from rosters stay in memory). If the folder cannot be created or
written, everything is computed as without a cache (a warning in the log, never an error).
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from ._codec import Unencodable, decode, encode, encode_dict

log = logging.getLogger(__name__)

ENV = "GRIDPLAN_CACHE_DIR"
_OFF = {"", "0", "off", "none", "false", "no"}
_MAGIC = b"GRIDPLAN-CACHE-2\n"
#: the file name ending of an entry
SUFFIX = ".gpz"
#: entries kept per kind (the oldest are deleted beyond this)
KEEP = 32


def cache_dir() -> Path | None:
    """The cache folder (not created here), or ``None`` when the cache is turned off."""
    env = os.environ.get(ENV)
    if env is not None:
        return None if env.strip().lower() in _OFF else Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gridplan"


def _usable(folder: Path, *, create: bool) -> bool:
    """The folder exists (or was created, private) and is ours alone."""
    try:
        if create:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = folder.stat()
    except OSError:
        return False
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
        log.warning("cache folder %s is not private to this user: not used (delete it or set %s)", folder, ENV)
        return False
    return True


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of gridplan's source files and of the versions of the libraries stored objects come from."""
    import platform

    import geopandas
    import numpy
    import pandas
    import pyproj
    import scipy
    import shapely

    from ._codec import FORMAT
    h = hashlib.sha256()
    h.update(json.dumps([platform.python_version(), pandas.__version__, geopandas.__version__, shapely.__version__,
                         numpy.__version__, pyproj.__version__, scipy.__version__, FORMAT]).encode())
    pkg = Path(__file__).resolve().parent
    for f in sorted(pkg.rglob("*.py")):
        h.update(str(f.relative_to(pkg)).encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()[:20]


def source_files(source) -> list[Path]:
    """The files a dataset source is read from: every file of a folder (the reader looks at its
    top level only), or a file and its side files (a Shapefile's ``.dbf``, ``.prj`` …, a GeoPackage's
    ``-wal``; more files than are read only make the key stricter)."""
    p = Path(source)
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
    if p.is_file():
        return sorted(f for f in p.parent.iterdir() if f.is_file() and f.name.startswith(p.stem))
    raise FileNotFoundError(str(p))


def files_fingerprint(files, root=None) -> str:
    """A SHA-256 of the names (relative to ``root``) and the bytes of ``files``."""
    h = hashlib.sha256()
    for f in files:
        f = Path(f)
        name = str(f.relative_to(root)) if root is not None else f.name
        h.update(name.encode("utf-8") + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def key_of(*parts) -> str:
    """A cache key from JSON-able parts (the code version is always one of them)."""
    text = json.dumps([code_version(), *parts], ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _entry(kind: str, key: str) -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder / kind / f"{key[:40]}{SUFFIX}"


def get(kind: str, key: str) -> Any | None:
    """The value stored under ``(kind, key)``, or ``None`` (missing, corrupt or unusable cache)."""
    path = _entry(kind, key)
    if path is None or not path.exists() or not _usable(path.parent.parent, create=False):
        return None
    try:
        blob = path.read_bytes()
        head, digest, payload = blob[:len(_MAGIC)], blob[len(_MAGIC):len(_MAGIC) + 96], blob[len(_MAGIC) + 96:]
        if (head != _MAGIC or digest[:64].decode("ascii") != key
                or digest[64:].decode("ascii") != hashlib.sha256(payload).hexdigest()[:32]):
            raise ValueError("bad header or checksum")
        value = decode(payload)
    except Exception as e:  # noqa: BLE001 - a broken entry (CodecError …) is recomputed, never an error
        log.warning("cache entry %s is unreadable (%s): recomputing", path, e)
        try:
            path.unlink()
        except OSError:
            pass
        return None
    try:
        os.utime(path)            # recently used: kept longest
    except OSError:
        pass
    return value


def put(kind: str, key: str, value) -> bool:
    """Store ``value`` under ``(kind, key)``; False (and a log line) when the cache cannot be written
    or the value is not one the format holds (:mod:`gridplan._codec`)."""
    try:
        payload = encode(value)
    except Unencodable as e:
        log.debug("%s %s: not cached (%s)", kind, key[:12], e)
        return False
    return _write(kind, key, payload)


def _write(kind: str, key: str, payload: bytes) -> bool:
    path = _entry(kind, key)
    if path is None:
        return False
    folder = path.parent.parent
    if not _usable(folder, create=True):
        log.warning("cache folder %s is not usable: computing without a cache", folder)
        return False
    from ._atomic import atomic_path
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
                fh.write(_MAGIC + key[:64].ljust(64, "0").encode("ascii")
                         + hashlib.sha256(payload).hexdigest()[:32].encode("ascii") + payload)
        _prune(path.parent)
    except OSError as e:
        log.warning("cache entry %s not written (%s)", path, e)
        return False
    return True


def _prune(folder: Path) -> None:
    try:
        for old in folder.glob("*.pkl"):          # entries of the former pickle format: never read
            old.unlink(missing_ok=True)
        entries = sorted(folder.glob(f"*{SUFFIX}"), key=lambda f: f.stat().st_mtime)
        for old in entries[:-KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


# --------------------------------------------------------------------------- what is cached
_KEY = "diskcache_key"


def _memo(dataset, key, compute):
    from .model import dataset_cache
    return dataset_cache(dataset, key, compute)


def dataset_key(source, **options) -> str:
    """The cache key of reading ``source`` (a folder or file) with ``read_dataset`` options."""
    from .io import default_max_file_mb
    files = source_files(source)
    root = Path(source) if Path(source).is_dir() else Path(source).parent
    options.setdefault("max_file_mb", default_max_file_mb())
    return key_of("dataset", str(Path(source).resolve()), files_fingerprint(files, root), options)


def read_dataset(source, *, derived: bool = True, **options):
    """:func:`gridplan.io.read_dataset` through the cache: the same :class:`~gridplan.Dataset`, read
    from the cache when the files, options and code are unchanged, with the derived arrays kept by
    :func:`keep_derived` (cells, adjacency …; ``derived=False``: later, by :func:`restore_derived`).
    A source that is not a folder or file on disk is read directly. Invalid data raises as usual (a
    failed load is not cached)."""
    from . import io
    if not isinstance(source, (str, os.PathLike)) or cache_dir() is None:
        return io.read_dataset(source, **options)
    t0 = time.perf_counter()
    try:
        key = dataset_key(source, **options)
    except OSError:
        return io.read_dataset(source, **options)
    ds = get("dataset", key)
    if ds is not None:
        ds = ds.replace()        # a fresh value: read-only layers, an empty in-memory cache
        log.info("dataset %s from the cache in %.2f s", source, time.perf_counter() - t0)
    else:
        ds = io.read_dataset(source, **options)
        put("dataset", key, ds)
    _memo(ds, _KEY, lambda: key)
    if derived:
        restore_derived(ds)
    return ds


def restore_derived(dataset) -> bool:
    """Give a dataset read by :func:`read_dataset` the derived arrays kept by :func:`keep_derived`
    (once; a separate step because reading them imports the engine). True when some were restored."""
    key = stored_key(dataset)
    done = _memo(dataset, "diskcache_restored", dict)
    if key is None or done:
        return False
    done["names"] = set()          # the names the entry holds (keep_derived writes it again only for new ones)
    values = get("derived", key)
    if not values:
        return False
    from .model import restore_cached
    restore_cached(dataset, values)
    done["names"] = set(values)
    return True


def keep_derived(dataset) -> bool:
    """Store what the dataset's in-memory cache holds now (cells, adjacency, the engine's arrays …),
    so the next :func:`read_dataset` of the same files starts with it. Only for a dataset read by
    :func:`read_dataset`; False otherwise or when nothing new is there."""
    from .model import cached_values
    key = stored_key(dataset)
    if key is None:
        return False
    restore_derived(dataset)      # what the entry holds is then in memory too (read once per dataset)
    stored = _memo(dataset, "diskcache_restored", dict)["names"]
    values = {k: v for k, v in cached_values(dataset).items() if not k.startswith(("\x00", "diskcache_"))}
    new = set(values) - stored
    if not new:
        return False
    payload, skipped = encode_dict(values)       # a value the format cannot hold is left out
    if skipped:
        log.debug("derived values not cached (not of a stored kind): %s", ", ".join(map(str, skipped)))
    stored |= new                                 # asked again, only what comes after is new
    if new <= set(skipped):
        return False
    return _write("derived", key, payload)


def stored_key(dataset) -> str | None:
    """The :func:`dataset_key` of a dataset read by :func:`read_dataset` (``None`` for any other
    dataset, e.g. one changed since with ``Dataset.replace``)."""
    return _memo(dataset, _KEY, lambda: None)


def plan_key(dataset_key: str, rule, seed: int, code_width: int) -> str:
    """The cache key of a partition of a dataset read through the cache (its :func:`dataset_key`)."""
    r = (rule.min_households, rule.max_households, rule.min_persons, rule.max_persons, rule.mode)
    return key_of("plan", dataset_key, r, int(seed), int(code_width))


def stored_plan(dataset, *, rule, seed: int = 0, code_width: int = 2):
    """The partition of ``dataset`` with these parameters from the cache, or ``None`` (not there, or
    a dataset not read through :func:`read_dataset`)."""
    from .model import Plan
    dkey = stored_key(dataset)
    if dkey is None:
        return None
    hit = get("plan", plan_key(dkey, rule, seed, code_width))
    if hit is None:
        return None
    assignment, label = hit
    ids = dataset.buildings.index
    if len(assignment) != len(ids) or not (assignment.index.equals(ids) or (ids.get_indexer(assignment.index) >= 0).all()):
        return None
    return Plan(assignment, rule=rule, label=label)


def partition(dataset, *, rule, seed: int = 0, code_width: int = 2):
    """:func:`gridplan.engine.partition_run` through the cache (for a dataset read by
    :func:`read_dataset`; any other is partitioned as usual). Only a plan whose search ran to its
    end is stored: one cut short by the wall-clock safety cap could depend on timing. Returns the
    :class:`~gridplan.Plan`."""
    hit = stored_plan(dataset, rule=rule, seed=seed, code_width=code_width)
    if hit is not None:
        return hit
    from .engine import partition_run
    run = partition_run(dataset, rule=rule, seed=seed, code_width=code_width)
    dkey = stored_key(dataset)
    if dkey is not None and not run.budget_reached:
        put("plan", plan_key(dkey, rule, seed, code_width), (run.plan.assignment, run.plan.label))
    return run.plan

