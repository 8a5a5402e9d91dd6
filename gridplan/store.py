"""The plan store: named versions of the plans of one dataset, shared by several planners.

A store is either a GeoPackage file (a path ending in ``.gpkg``; embedded, zero setup, the
default ``projects/<dataset>.gpkg`` of the app) or a PostgreSQL database with PostGIS (a URL
``postgresql://user@host:port/dbname``; an office where several planners save at once). Both are
used through the same :class:`PlanStore` (:func:`open_store`) and hold the same plain tables
(SQLAlchemy Core over ``sqlite3`` or psycopg 3):

``gp_versions``
    one row per version: ``version_id`` (1, 2, … in commit order), ``name``, ``note``,
    ``user_name``, ``created`` (UTC), ``base`` (the version the saver started from), ``parent``
    (the newest version the save was applied on), ``communities_changed``, ``rule``, counts.
``gp_assignments`` (key ``version_id, community_id, building_id``)
    the building → grid rows of *only the communities a version changed*; the plan of version
    ``v`` is, per community, the rows of the newest version ``≤ v`` that wrote that community
    (``gp_version_communities``). The first version writes every community.
``gp_grids``
    per version and changed community: each grid's households, persons, buildings, whether it is
    locked, and its polygon (PostGIS geometry, or a GeoPackage geometry blob).
``gp_audit``
    the trail (留痕): per version, each grid it changed with households/persons/buildings before
    and after.
``gp_buildings``, ``gp_communities``, ``gp_meta``
    the dataset the store is bound to (on its first save): building ids with community, counts and
    position, the communities with their street, and a content fingerprint
    (:func:`dataset_fingerprint`). A plan or dataset that does not match is refused.
``gp_users``
    who may save (see :meth:`PlanStore.add_user`); passwords are kept as argon2 hashes.
``gp_newest_grids`` (a view)
    the grids of the newest version with their polygons, for QGIS and other GIS tools.

Saving (:meth:`PlanStore.save`) works out which communities the plan changed relative to its
``base`` (default: the newest version) and writes only those, on top of the newest version, so a
save never reverts what another planner saved in other communities. If a changed community was
also changed by a version saved after the base, the save raises :class:`StoreConflict` and
writes nothing. Each save is one database transaction; concurrent saves are serialised by the
database (PostgreSQL: ``SELECT … FOR UPDATE`` on the one row of ``gp_head``; GeoPackage:
``BEGIN IMMEDIATE``) and the conflict check runs inside that transaction, so two saves can never
both pass it. A process killed at any moment leaves either the whole version or none of it.

Example::

    store = open_store("projects/sample.gpkg")
    v = store.save(plan, name="初稿", user="wang", dataset=ds)
    store.list()
    store.load(v).same_assignment(plan)
"""
from __future__ import annotations

import builtins
import contextlib
import csv
import datetime as _dt
import hashlib
import io
import json
import logging
import os
import re
import sqlite3
import struct
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from ._errors import PlanError, StoreAccessError, StoreConflict, StoreError
from .model import Dataset, Plan, Rule

if TYPE_CHECKING:   # for annotations; the functions import it where they use it
    import geopandas as gpd

log = logging.getLogger(__name__)

#: the folder project files go to by default (gitignored)
PROJECTS_DIR = Path("projects")

#: format of the tables (``gp_meta.format``)
FORMAT = "2"

#: user roles: admins may change everything and manage users, planners only the communities of
#: their scope, viewers nothing
ROLES = ("admin", "planner", "viewer")

#: community id of buildings that lie in no community
NO_COMMUNITY = ""

#: columns of :meth:`PlanStore.list` (index ``version_id``)
VERSION_COLUMNS = ["version_id", "name", "note", "user", "created", "base", "communities_changed", "grids",
                   "buildings", "label", "rule", "dataset"]

#: columns of :meth:`PlanStore.audit`
AUDIT_COLUMNS = ["version_id", "user", "created", "base", "community_id", "community", "grid_id", "status",
                 "households_before", "persons_before", "buildings_before", "households_after", "persons_after",
                 "buildings_after"]

#: positions may differ this much (m) between two loads of the same dataset
POSITION_TOLERANCE_M = 1.0

MIN_PASSWORD_LENGTH = 8

_GPKG_APPLICATION_ID = 0x47504B47   # "GPKG"
_GPKG_USER_VERSION = 10300          # GeoPackage 1.3


def default_project_path(dataset_name: str, *, folder: str | os.PathLike = PROJECTS_DIR) -> Path:
    """``projects/<dataset>.gpkg`` with the dataset name made safe as a file name."""
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", str(dataset_name)).strip(" .") or "project"
    return Path(folder) / f"{safe[:80]}.gpkg"


# =========================================================================== URLs and engines
def is_postgres_url(url) -> bool:
    """Whether ``url`` names a PostgreSQL database (``postgresql://…`` or ``postgres://…``)."""
    return str(url).split("://", 1)[0].lower() in ("postgresql", "postgres", "postgresql+psycopg")


def mask_url(url) -> str:
    """The store's URL or path with any password replaced by ``***`` (for messages and logs)."""
    if not is_postgres_url(url):
        return str(url)
    try:
        from urllib.parse import unquote
        return unquote(sa.engine.make_url(_sqlalchemy_url(str(url))).set(drivername="postgresql").render_as_string(
            hide_password=True))
    except Exception:  # noqa: BLE001 - a malformed URL: drop everything between :// and @
        return re.sub(r"://[^@/]*@", "://***@", str(url))


def _sqlalchemy_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return "postgresql+psycopg://" + rest


_ENGINES: dict[tuple, sa.Engine] = {}


def close_engines(url=None) -> None:
    """Close the pooled database connections of the store at ``url`` (every store when ``None``),
    e.g. before a test drops its database."""
    for key in [k for k in _ENGINES if url is None or k[1] in (str(url), os.path.abspath(str(url)))]:
        _ENGINES.pop(key).dispose()


def _sqlite_connect(dbapi_connection, _record) -> None:
    # take transactions out of the sqlite3 module's hands: gridplan emits BEGIN / BEGIN IMMEDIATE itself
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql(conn.get_execution_options().get("gp_begin", "BEGIN"))


def _engine(kind: str, url: str) -> sa.Engine:
    """One engine per store URL and process (engines hold connection pools; a forked child gets its own)."""
    if kind == "gpkg":
        url = os.path.abspath(url)
    key = (kind, url, os.getpid())
    eng = _ENGINES.get(key)
    if eng is not None:
        return eng
    if kind == "postgresql":
        eng = sa.create_engine(_sqlalchemy_url(url), hide_parameters=True, pool_size=2, max_overflow=8,
                               pool_pre_ping=True, connect_args={"connect_timeout": 15, "application_name": "gridplan"})
    else:
        eng = sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(url, timeout=300), poolclass=NullPool,
                               hide_parameters=True)
        sa.event.listen(eng, "connect", _sqlite_connect)
        sa.event.listen(eng, "begin", _sqlite_begin)
    _ENGINES[key] = eng
    return eng


# =========================================================================== tables
class _Tables:
    """The store's tables for one backend (the geometry column differs)."""

    def __init__(self, postgis: bool):
        m = self.metadata = sa.MetaData()
        text, integer, real = sa.Text, sa.Integer, sa.Float
        # GeoPackage column types (INTEGER is 64-bit in SQLite; BIGINT is no GeoPackage type)
        big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
        # UTC times; in a GeoPackage as its DATETIME text, YYYY-MM-DDTHH:MM:SSZ
        from sqlalchemy.dialects import sqlite as _sqlite
        ts = sa.DateTime(timezone=True).with_variant(_sqlite.DATETIME(
            storage_format="%(year)04d-%(month)02d-%(day)02dT%(hour)02d:%(minute)02d:%(second)02dZ",
            regexp=r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z"), "sqlite")
        if postgis:
            from geoalchemy2 import Geometry
            geom_type: sa.types.TypeEngine | type[sa.types.TypeEngine] = Geometry(geometry_type=None, srid=-1,
                                                                                   spatial_index=False)
        else:
            geom_type = sa.LargeBinary  # a GeoPackage geometry blob
        self.meta = sa.Table("gp_meta", m, sa.Column("key", text, primary_key=True), sa.Column("value", text))
        self.head = sa.Table("gp_head", m, sa.Column("id", integer, primary_key=True, autoincrement=False),
                             sa.Column("version", integer, nullable=False))
        self.buildings = sa.Table(
            "gp_buildings", m, sa.Column("building_id", text, primary_key=True),
            sa.Column("community_id", text, nullable=False), sa.Column("households", big, nullable=False),
            sa.Column("persons", big, nullable=False), sa.Column("x", real), sa.Column("y", real))
        self.communities = sa.Table(
            "gp_communities", m, sa.Column("community_id", text, primary_key=True), sa.Column("name", text),
            sa.Column("street", text), sa.Column("street_id", text))
        self.versions = sa.Table(
            "gp_versions", m, sa.Column("version_id", integer, primary_key=True, autoincrement=False),
            sa.Column("name", text, nullable=False), sa.Column("note", text), sa.Column("user_name", text, nullable=False),
            sa.Column("created", ts, nullable=False), sa.Column("base", integer, nullable=False),
            sa.Column("parent", integer, nullable=False), sa.Column("communities_changed", text, nullable=False),
            sa.Column("label", text), sa.Column("rule", text), sa.Column("grids", integer),
            sa.Column("buildings", integer), sa.Column("dataset", text), sa.Column("seconds", real))
        self.version_communities = sa.Table(
            "gp_version_communities", m, sa.Column("version_id", integer, primary_key=True, autoincrement=False),
            sa.Column("community_id", text, primary_key=True),
            sa.Index("gp_version_communities_community", "community_id", "version_id"))
        self.assignments = sa.Table(
            "gp_assignments", m, sa.Column("version_id", integer, primary_key=True, autoincrement=False),
            sa.Column("community_id", text, primary_key=True), sa.Column("building_id", text, primary_key=True),
            sa.Column("grid_id", text, nullable=False))
        self.grids = sa.Table(
            "gp_grids", m, sa.Column("version_id", integer, primary_key=True, autoincrement=False),
            sa.Column("community_id", text, primary_key=True), sa.Column("grid_id", text, primary_key=True),
            sa.Column("households", big), sa.Column("persons", big),
            sa.Column("buildings", integer), sa.Column("locked", sa.Boolean), sa.Column("geom", geom_type))
        self.audit = sa.Table(
            "gp_audit", m, sa.Column("version_id", integer, primary_key=True, autoincrement=False),
            sa.Column("community_id", text, primary_key=True), sa.Column("grid_id", text, primary_key=True),
            sa.Column("status", text, nullable=False),
            *[sa.Column(f"{q}_{w}", big) for w in ("before", "after")
              for q in ("households", "persons", "buildings")])
        self.users = sa.Table(
            "gp_users", m, sa.Column("user_name", text, primary_key=True), sa.Column("display_name", text),
            sa.Column("role", text, nullable=False), sa.Column("scope", text, nullable=False),
            sa.Column("password_hash", text, nullable=False), sa.Column("created", ts, nullable=False),
            sa.Column("disabled", ts))


_TABLES: dict[bool, _Tables] = {}


def _tables(postgis: bool) -> _Tables:
    if postgis not in _TABLES:
        _TABLES[postgis] = _Tables(postgis)
    return _TABLES[postgis]


# =========================================================================== GeoPackage geometry blobs
def _gpkg_blob(wkb: bytes, srs_id: int) -> bytes:
    """A GeoPackage geometry blob (header without envelope, then little-endian WKB)."""
    return b"GP" + bytes([0, 0b00000001]) + struct.pack("<i", int(srs_id)) + wkb


def _gpkg_wkb(blob: bytes) -> bytes:
    """The WKB inside a GeoPackage geometry blob."""
    flags = blob[3]
    envelope = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get((flags >> 1) & 0b111, 0)
    return bytes(blob[8 + envelope:])


# =========================================================================== the dataset a store is bound to
def _building_frame(dataset: Dataset) -> pd.DataFrame:
    """``building_id`` (sorted) → community_id, households, persons, x, y (centroid, metric CRS)."""
    b = dataset.buildings
    comm = b["community_id"] if "community_id" in b.columns else pd.Series(np.nan, index=b.index)
    cent = b.geometry.centroid
    out = pd.DataFrame({
        "community_id": comm.astype(object).where(comm.notna(), NO_COMMUNITY).astype(str).to_numpy(),
        "households": pd.to_numeric(b["households"], errors="coerce").fillna(0).astype("int64").to_numpy()
        if "households" in b.columns else np.zeros(len(b), dtype="int64"),
        "persons": pd.to_numeric(b["persons"], errors="coerce").fillna(0).astype("int64").to_numpy()
        if "persons" in b.columns else np.zeros(len(b), dtype="int64"),
        "x": cent.x.to_numpy(dtype=float), "y": cent.y.to_numpy(dtype=float),
    }, index=pd.Index(b.index.astype(str), name="building_id"))
    return out.sort_index()


def _fingerprint_of(frame: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update(f"gridplan-dataset-v1:{len(frame)}\n".encode())
    h.update("\x1f".join(frame.index.to_numpy(dtype=object).tolist()).encode("utf-8"))
    h.update(b"\x1e" + "\x1f".join(frame["community_id"].to_numpy(dtype=object).tolist()).encode("utf-8"))
    for c in ("households", "persons"):
        h.update(frame[c].to_numpy(dtype="<i8").tobytes())
    for c in ("x", "y"):
        h.update(np.round(frame[c].to_numpy(dtype=float), 1).astype("<f8").tobytes())
    return h.hexdigest()


def dataset_fingerprint(dataset: Dataset) -> str:
    """A content hash of a dataset's buildings: ids, community, households, persons and position
    (centroid rounded to 0.1 m). Equal datasets give equal fingerprints, whatever the file format."""
    return _bound_frame(dataset)[1]


def _bound_frame(dataset: Dataset) -> tuple[pd.DataFrame, str]:
    """:func:`_building_frame` and its fingerprint, computed once per dataset."""
    return dataset.cache("store:buildings", lambda: (lambda f: (f, _fingerprint_of(f)))(_building_frame(dataset)))


def _community_frame(dataset: Dataset) -> pd.DataFrame:
    c = dataset.communities
    if c is None or not len(c):
        return pd.DataFrame(columns=["name", "street", "street_id"], index=pd.Index([], name="community_id"))
    out = pd.DataFrame(index=pd.Index(c.index.astype(str), name="community_id"))
    for f in ("name", "street", "street_id"):
        col = c[f] if f in c.columns else pd.Series(None, index=c.index)
        out[f] = col.astype(object).where(col.notna(), None).map(lambda v: None if v is None else str(v)).to_numpy()
    return out


# =========================================================================== users
@dataclass(frozen=True)
class User:
    """A user of a store (never carries the password or its hash)."""

    name: str
    display_name: str
    role: str
    scope: tuple[str, ...]
    created: pd.Timestamp | None
    disabled: pd.Timestamp | None

    @property
    def active(self) -> bool:
        """Whether the user may log in and save (not disabled)."""
        return self.disabled is None


_HASHER = None
_DUMMY_HASH = None


def _hasher():
    global _HASHER
    if _HASHER is None:
        try:
            from argon2 import PasswordHasher
        except ImportError as e:  # pragma: no cover - a dependency of gridplan
            raise StoreError("argon2-cffi is not installed (pip install argon2-cffi)") from e
        _HASHER = PasswordHasher()
    return _HASHER


def _check_user_name(user) -> str:
    name = unicodedata.normalize("NFC", str(user or "")).strip()
    if not name:
        raise StoreError("give a user name")
    if len(name) > 64:
        raise StoreError("a user name has at most 64 characters")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise StoreError("a user name may not hold control characters")
    return name


def _check_password(password) -> str:
    if not isinstance(password, str):
        raise StoreError("a password is text")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StoreError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise StoreError("a password has at most 1024 characters")
    return password


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _utc(ts) -> pd.Timestamp | None:
    """A stored time (aware on PostgreSQL, naive UTC on SQLite) as an aware UTC Timestamp."""
    if ts is None or (isinstance(ts, float) and np.isnan(ts)):
        return None
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _local(ts) -> pd.Timestamp | None:
    """An aware Timestamp in the machine's local time zone (times are stored in UTC)."""
    t = _utc(ts)
    return None if t is None else t.tz_convert(_dt.datetime.now().astimezone().tzinfo)


def format_time(ts) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in local time (empty for none)."""
    t = _local(ts)
    return "" if t is None else t.strftime("%Y-%m-%d %H:%M:%S")


def _fetch(conn, query) -> np.ndarray:
    """The rows of ``query`` as a 2-D object array, straight from the driver's cursor (skipping
    SQLAlchemy's Row objects, which cost more than the query for 100,000+ rows)."""
    res = conn.execute(query)
    try:
        rows = res.cursor.fetchall()
    finally:
        res.close()
    return np.array(rows, dtype=object).reshape(len(rows), len(query.selected_columns))


def _frame(rows, columns) -> pd.DataFrame:
    """Result rows (or a :func:`_fetch` array) as a DataFrame with inferred column types."""
    if isinstance(rows, np.ndarray):
        return pd.DataFrame(rows, columns=columns).infer_objects()
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    return pd.DataFrame(dict(zip(columns, map(list, zip(*rows)))))


# =========================================================================== the store
class PlanStore:
    """The versions of the plans of one dataset, in a GeoPackage or a PostgreSQL/PostGIS database.

    Parameters
    ----------
    url
        A path ending in ``.gpkg`` (created on first use, with its folder) or a URL
        ``postgresql://[user[:password]@][host][:port]/dbname[?host=/socket/dir&port=…]``. Leave
        the password out of the URL and give it in ``PGPASSWORD`` or ``~/.pgpass`` (libpq reads both).

    Use :func:`open_store`. Methods are safe to call from several threads and processes at once.
    """

    def __init__(self, url: str | os.PathLike):
        raw = os.fspath(url)
        if is_postgres_url(raw):
            self.kind = "postgresql"
            self.url = raw
            self.path: Path | None = None
        elif str(raw).lower().endswith(".gpkg"):
            self.kind = "gpkg"
            self.path = Path(raw)
            self.url = str(self.path)
        else:
            raise StoreError(f"a plan store is a .gpkg file or a postgresql:// URL, not {mask_url(raw)!r}")
        self._pg = self.kind == "postgresql"
        self._engine = _engine(self.kind, self.url)
        self.t = _tables(self._pg)
        self._ready = False

    @property
    def location(self) -> str:
        """The file path or the URL with its password masked (safe to show)."""
        return mask_url(self.url)

    def __repr__(self) -> str:
        return f"PlanStore({self.location!r})"

    def close(self) -> None:
        """Close the pooled connections to this store (they reopen on the next call)."""
        close_engines(self.url)
        self._engine = _engine(self.kind, self.url)

    # ------------------------------------------------------------------ connections
    @contextlib.contextmanager
    def _read(self):
        if not self._pg and not self.path.exists():
            raise _Missing()
        try:
            with self._engine.connect() as conn:
                yield conn
        except sa.exc.DBAPIError as e:
            raise self._connection_error(e) from None

    @contextlib.contextmanager
    def _write(self):
        """One write transaction: BEGIN IMMEDIATE on a GeoPackage (the file's write lock is taken at
        once); on PostgreSQL the caller locks the head row."""
        if not self._pg:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._engine.connect() as conn:
                if not self._pg:
                    conn.execution_options(gp_begin="BEGIN IMMEDIATE")
                with conn.begin():
                    yield conn
        except sa.exc.DBAPIError as e:
            raise self._connection_error(e) from None

    def _connection_error(self, e: Exception) -> StoreError:
        msg = str(getattr(e, "orig", e) or e).strip().splitlines()
        first = msg[0][:300] if msg else type(e).__name__
        if not isinstance(e, sa.exc.OperationalError) and (self._pg or "not a database" not in first):
            return StoreError(f"the store {self.location} refused the operation ({first})")
        if self._pg:
            return StoreError(f"cannot use the PostgreSQL store {self.location} ({first}); check that the server runs, "
                              "the URL (host, port, database) and the password (PGPASSWORD or ~/.pgpass)")
        return StoreError(f"cannot use the store file {self.location} ({first}); check that it is a gridplan "
                          "GeoPackage and that the folder is writable")

    # ------------------------------------------------------------------ setup
    def initialised(self) -> bool:
        """Whether the store's tables exist."""
        if self._ready:
            return True
        try:
            with self._read() as conn:
                ok = sa.inspect(conn).has_table("gp_head")
        except _Missing:
            return False
        self._ready = ok
        return ok

    def init(self) -> PlanStore:
        """Create the tables (and on PostgreSQL the PostGIS extension) if they are missing; safe to
        repeat and to run from several processes at once. Returns the store."""
        if self.initialised():
            return self
        with self._write() as conn:
            if self._pg:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('gridplan.store.init'))"))
                self._ensure_postgis(conn)
            else:
                self._gpkg_core(conn)
            if not sa.inspect(conn).has_table("gp_head"):
                self.t.metadata.create_all(conn)
                conn.execute(self.t.head.insert().values(id=1, version=0))
                conn.execute(self.t.meta.insert(), [{"key": "format", "value": FORMAT},
                                                    {"key": "created", "value": _now().isoformat()}])
                if not self._pg:
                    self._gpkg_register(conn)
                log.info("created the plan store %s", self.location)
        self._ready = True
        return self

    def _ensure_postgis(self, conn) -> None:
        have = conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first()
        if have:
            return
        try:
            with conn.begin_nested():
                conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
        except sa.exc.DBAPIError as e:
            first = str(getattr(e, "orig", e)).strip().splitlines()[0][:200]
            db = sa.engine.make_url(_sqlalchemy_url(self.url)).database
            raise StoreError(f"the database {db!r} has no PostGIS and gridplan may not add it ({first}); install "
                             "PostGIS on the server (apt-get install postgresql-15-postgis-3) and run "
                             f"`CREATE EXTENSION postgis;` in {db!r} as a superuser") from None

    def _gpkg_core(self, conn) -> None:
        """The GeoPackage system tables, so the file stays a GeoPackage that GDAL/QGIS open."""
        from pyproj import CRS
        conn.exec_driver_sql(f"PRAGMA application_id = {_GPKG_APPLICATION_ID}")
        if conn.exec_driver_sql("PRAGMA user_version").scalar() < _GPKG_USER_VERSION:
            conn.exec_driver_sql(f"PRAGMA user_version = {_GPKG_USER_VERSION}")
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL "
            "PRIMARY KEY, organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT "
            "NOT NULL, description TEXT)")
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT "
            "NULL, identifier TEXT UNIQUE, description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT "
            "(strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, "
            "srs_id INTEGER, CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))")
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT "
            "NULL, geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT "
            "NULL, CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name), CONSTRAINT uk_gc_table_name "
            "UNIQUE (table_name), CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES "
            "gpkg_contents(table_name), CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES "
            "gpkg_spatial_ref_sys (srs_id))")
        rows = [("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate reference system"),
                ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system"),
                ("WGS 84 geodetic", 4326, "EPSG", 4326, CRS.from_epsg(4326).to_wkt("WKT1_GDAL"),
                 "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid")]
        conn.exec_driver_sql("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", rows)

    def _gpkg_register(self, conn) -> None:
        rows = [(t.name, "attributes", t.name, "gridplan plan store") for t in self.t.metadata.sorted_tables]
        conn.exec_driver_sql("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) "
                             "VALUES (?, ?, ?, ?)", rows)

    def _ensure(self) -> None:
        if not self.initialised():
            self.init()

    # ------------------------------------------------------------------ the bound dataset
    def _meta(self, conn) -> dict:
        return dict(conn.execute(sa.select(self.t.meta.c.key, self.t.meta.c.value)).all())

    def dataset_info(self) -> dict | None:
        """The dataset the store is bound to: ``name``, ``fingerprint``, ``buildings``,
        ``communities``, ``crs`` (WKT of the metric CRS); ``None`` before the first save."""
        if not self.initialised():
            return None
        with self._read() as conn:
            meta = self._meta(conn)
        if "fingerprint" not in meta:
            return None
        return {"name": meta.get("dataset", ""), "fingerprint": meta["fingerprint"],
                "buildings": int(meta.get("buildings", 0)), "communities": int(meta.get("communities", 0)),
                "crs": meta.get("metric_crs", ""), "source_crs": meta.get("source_crs", ""),
                "srid": int(meta.get("srid", 0) or 0)}

    def communities(self) -> pd.DataFrame:
        """The communities of the bound dataset (index ``community_id``; ``name``, ``street``, ``street_id``)."""
        empty = pd.DataFrame(columns=["name", "street", "street_id"], index=pd.Index([], name="community_id"))
        if not self.initialised():
            return empty
        with self._read() as conn:
            rows = conn.execute(sa.select(self.t.communities).order_by(self.t.communities.c.community_id)).all()
        if not rows:
            return empty
        return pd.DataFrame(rows, columns=["community_id", "name", "street", "street_id"]).set_index("community_id")

    def buildings(self) -> pd.DataFrame:
        """The buildings of the bound dataset (index ``building_id``, sorted; ``community_id``,
        ``households``, ``persons``, ``x``, ``y`` in the metric CRS)."""
        try:
            with self._read() as conn:
                if sa.inspect(conn).has_table("gp_buildings"):
                    return self._buildings(conn)
        except _Missing:
            pass
        return pd.DataFrame(columns=["community_id", "households", "persons", "x", "y"],
                            index=pd.Index([], name="building_id"))

    def _buildings(self, conn) -> pd.DataFrame:
        t = self.t.buildings
        rows = _fetch(conn, sa.select(t.c.building_id, t.c.community_id, t.c.households, t.c.persons, t.c.x, t.c.y))
        df = _frame(rows, ["building_id", "community_id", "households", "persons", "x", "y"])
        df["building_id"] = df["building_id"].astype(object)
        df = df.set_index("building_id").sort_index()
        for c in ("households", "persons"):
            df[c] = df[c].astype("int64")
        return df

    def check_dataset(self, dataset: Dataset) -> None:
        """Raise :class:`StoreError` unless ``dataset`` is the one the store is bound to (nothing
        to check before the first save)."""
        info = self.dataset_info()
        if info is None:
            return
        frame, fingerprint = _bound_frame(dataset)
        if fingerprint == info["fingerprint"]:
            return
        with self._read() as conn:
            stored = self._buildings(conn)
        problem = _dataset_difference(stored, frame)
        if problem:
            raise StoreError(
                f"数据集与方案库不一致 / the dataset does not match this store: the store {self.location} was made "
                f"for dataset {info['name']!r} ({info['buildings']} buildings); {problem}. Use the dataset the store "
                "was made for, or start a new store for this dataset.")

    def _bind(self, conn, dataset: Dataset, frame: pd.DataFrame, fingerprint: str) -> None:
        """Record the dataset (inside the first save's transaction)."""
        t = self.t
        crs = dataset.crs
        srid = int(crs.to_epsg() or 0)
        self._copy(conn, t.buildings, frame.reset_index()[["building_id", "community_id", "households", "persons",
                                                           "x", "y"]])
        comm = _community_frame(dataset)
        extra = sorted(set(frame["community_id"]) - set(comm.index))
        for cid in extra:  # buildings in no (known) community still form a "community" of their own
            comm.loc[cid] = [None, None, None]
        if len(comm):
            conn.execute(t.communities.insert(), [
                {"community_id": cid, "name": r["name"], "street": r["street"], "street_id": r["street_id"]}
                for cid, r in comm.iterrows()])
        src = dataset.source_crs
        conn.execute(t.meta.insert(), [
            {"key": "dataset", "value": str(dataset.name or "")}, {"key": "fingerprint", "value": fingerprint},
            {"key": "buildings", "value": str(len(frame))}, {"key": "communities", "value": str(len(comm))},
            {"key": "metric_crs", "value": crs.to_wkt()}, {"key": "srid", "value": str(srid)},
            {"key": "source_crs", "value": src.to_wkt() if src is not None else ""}])
        self._create_view(conn, srid, crs)

    def _create_view(self, conn, srid: int, crs) -> None:
        body = ("SELECT row_number() OVER (ORDER BY g.community_id, g.grid_id) AS fid, g.grid_id, g.community_id, "
                "g.households, g.persons, g.buildings, g.locked, g.version_id, {geom} AS geom FROM gp_grids g JOIN "
                "(SELECT community_id, max(version_id) AS v FROM gp_version_communities GROUP BY community_id) w "
                "ON g.community_id = w.community_id AND g.version_id = w.v")
        if self._pg:
            geom = f"ST_Multi(g.geom)::geometry(MultiPolygon, {srid})" if srid else "g.geom"
            conn.execute(sa.text(f"CREATE OR REPLACE VIEW gp_newest_grids AS {body.format(geom=geom)}"))
            return
        conn.exec_driver_sql(f"CREATE VIEW IF NOT EXISTS gp_newest_grids AS {body.format(geom='g.geom')}")
        srs_id = srid if srid else -1
        if srid:
            conn.exec_driver_sql("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)",
                                 [(crs.name, srid, "EPSG", srid, crs.to_wkt("WKT1_GDAL"), crs.name)])
        conn.exec_driver_sql("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, "
                             "srs_id) VALUES ('gp_newest_grids', 'features', 'gp_newest_grids', "
                             "'grids of the newest version', ?)", [(srs_id,)])
        conn.exec_driver_sql("INSERT OR IGNORE INTO gpkg_geometry_columns VALUES ('gp_newest_grids', 'geom', "
                             "'MULTIPOLYGON', ?, 0, 0)", [(srs_id,)])

    def _copy(self, conn, table: sa.Table, df: pd.DataFrame) -> None:
        """Insert many rows: COPY on PostgreSQL, one executemany on SQLite."""
        if not len(df):
            return
        cols = list(df.columns)
        if self._pg:
            buf = io.StringIO()
            df.to_csv(buf, index=False, header=False, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
            raw = conn.connection.driver_connection
            with raw.cursor() as cur:
                with cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)") as cp:
                    cp.write(buf.getvalue())
        else:
            marks = ", ".join("?" * len(cols))
            rows = list(zip(*[df[c].tolist() for c in cols]))   # tolist(): Python scalars sqlite3 can bind
            conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({marks})", rows)

    # ------------------------------------------------------------------ reading versions
    def head(self) -> int:
        """The newest version id (0 when nothing is saved)."""
        if not self.initialised():
            return 0
        with self._read() as conn:
            return int(conn.execute(sa.select(self.t.head.c.version).where(self.t.head.c.id == 1)).scalar() or 0)

    def list(self) -> pd.DataFrame:
        """Every version, oldest first: index ``version_id``, columns :data:`VERSION_COLUMNS`
        (``created`` in local time, ``base`` 0 for the first version, ``communities_changed`` a list)."""
        cols = [c for c in VERSION_COLUMNS if c != "version_id"]
        if not self.initialised():
            return pd.DataFrame(columns=cols, index=pd.Index([], name="version_id", dtype="int64"))
        v = self.t.versions
        with self._read() as conn:
            rows = conn.execute(sa.select(v.c.version_id, v.c.name, v.c.note, v.c.user_name, v.c.created, v.c.base,
                                          v.c.communities_changed, v.c.grids, v.c.buildings, v.c.label, v.c.rule,
                                          v.c.dataset).order_by(v.c.version_id)).all()
        df = _frame(rows, ["version_id", "name", "note", "user", "created", "base", "communities_changed", "grids",
                           "buildings", "label", "rule", "dataset"])
        df["created"] = pd.Series([_local(x) for x in df["created"]], index=df.index, dtype=object)
        df["communities_changed"] = [json.loads(x) for x in df["communities_changed"]]
        for c in ("note", "label", "rule", "dataset"):
            df[c] = df[c].fillna("").astype(object)
        for c in ("version_id", "base", "grids", "buildings"):
            df[c] = pd.to_numeric(df[c]).fillna(0).astype("int64")
        return df.set_index("version_id")

    def resolve(self, name_or_id) -> int:
        """The version id of a version given by id (an int) or by name (the newest of that name; a
        string of digits that is no version name is read as an id)."""
        versions = self.list()
        if len(versions) == 0:
            raise StoreError(f"no version is saved in {self.location} yet")
        if not isinstance(name_or_id, str):
            vid = int(name_or_id)
            if vid not in versions.index:
                raise StoreError(f"no version {vid}; saved versions are 1 … {int(versions.index.max())}")
            return vid
        hit = versions.index[versions["name"] == name_or_id]
        if len(hit):
            return int(hit.max())
        if name_or_id.strip().isdigit() and int(name_or_id) in versions.index:
            return int(name_or_id)
        names = ", ".join(list(dict.fromkeys(versions["name"].tolist()))[-20:])
        raise StoreError(f"no version named {name_or_id!r}; saved versions: {names}")

    def info(self, name_or_id) -> dict:
        """One row of :meth:`list` as a dict (with ``version_id``)."""
        vid = self.resolve(name_or_id)
        row = self.list().loc[vid].to_dict()
        row["version_id"] = vid
        return row

    def _writers(self, upto: int):
        vc = self.t.version_communities
        return (sa.select(vc.c.community_id, sa.func.max(vc.c.version_id).label("v"))
                .where(vc.c.version_id <= upto).group_by(vc.c.community_id).subquery("w"))

    def _assignment(self, conn, vid: int) -> pd.Series:
        a = self.t.assignments
        w = self._writers(vid)
        q = sa.select(a.c.building_id, a.c.grid_id).join(
            w, sa.and_(a.c.community_id == w.c.community_id, a.c.version_id == w.c.v))
        rows = _fetch(conn, q)
        return pd.Series(rows[:, 1], index=pd.Index(rows[:, 0], dtype=object, name="building_id"), name="grid_id",
                         dtype=object)

    def _state_grids(self, conn, vid: int) -> pd.DataFrame:
        """The grid rows (community_id, grid_id, version_id, counts, locked) of version ``vid``."""
        g = self.t.grids
        w = self._writers(vid)
        q = sa.select(g.c.community_id, g.c.grid_id, g.c.version_id, g.c.households, g.c.persons, g.c.buildings,
                      g.c.locked).join(w, sa.and_(g.c.community_id == w.c.community_id, g.c.version_id == w.c.v))
        return _frame(conn.execute(q).all(), ["community_id", "grid_id", "version_id", "households", "persons",
                                              "buildings", "locked"])

    def assignment(self, name_or_id) -> pd.Series:
        """building_id → grid_id of a version (sorted by building id)."""
        vid = self.resolve(name_or_id)
        with self._read() as conn:
            return self._assignment(conn, vid).sort_index()

    def load(self, name_or_id) -> Plan:
        """The plan of a version (its rule and locked grids; ``parent`` is ``None``)."""
        vid = self.resolve(name_or_id)
        v = self.t.versions
        with self._read() as conn:
            row = conn.execute(sa.select(v.c.name, v.c.rule).where(v.c.version_id == vid)).one()
            a = self._assignment(conn, vid)
            grids = self._state_grids(conn, vid)
        if len(a) == 0:
            raise StoreError(f"version {vid} has no assignment rows; the store {self.location} is damaged")
        try:
            rule = Rule(**json.loads(row.rule)) if row.rule else Rule()
        except (ValueError, TypeError):
            rule = Rule()
        locked = sorted(set(grids.loc[grids["locked"].fillna(False).astype(bool), "grid_id"]))
        return Plan(a, rule=rule, locked=locked, label=f"version {vid}: {row.name}")

    def compare(self, a, b) -> pd.DataFrame:
        """Buildings whose grid differs between versions ``a`` and ``b`` (``from_grid``, ``to_grid``)."""
        return self.load(a).diff(self.load(b))

    def changes_since(self, base: int) -> pd.DataFrame:
        """The versions saved after ``base`` (what another planner saved since one opened ``base``):
        a slice of :meth:`list`."""
        v = self.list()
        return v[v.index > int(base)]

    def rebase(self, plan: Plan, base, onto=None) -> tuple[Plan, int]:
        """Carry a planner's changes over to a newer version (after a :class:`StoreConflict`:
        keep working as a branch of the newest version).

        The communities where ``plan`` differs from version ``base`` (its own changes) keep the
        plan's buildings and locks; every other community is taken from version ``onto`` (default
        the newest), so nothing another planner saved elsewhere is reverted. Returns the new plan
        and the version it is based on; save it with ``base=`` that version. In a community both
        changed, the planner's state wins: that is what keeping one's own work means.
        """
        onto_id = self.head() if onto is None else self.resolve(onto)
        base_id = self.resolve(base)
        if not onto_id:
            raise StoreError(f"no version is saved in {self.location} yet")
        b = self.buildings()
        bids = b.index
        _check_plan_covers(plan.assignment, bids)
        mine = plan.assignment.reindex(bids).to_numpy(dtype=object)
        with self._read() as conn:
            old = self._assignment(conn, base_id).reindex(bids).to_numpy(dtype=object)
            theirs = self._assignment(conn, onto_id).reindex(bids).to_numpy(dtype=object)
            onto_grids = self._state_grids(conn, onto_id)
        comm = b["community_id"].to_numpy(dtype=object)
        changed = sorted(set(comm[mine != old].tolist()))
        take = np.isin(comm, np.array(changed, dtype=object)) if changed else np.zeros(len(comm), bool)
        out = np.where(take, mine, theirs)
        kept = onto_grids[~onto_grids["community_id"].isin(changed) & onto_grids["locked"].fillna(False).astype(bool)]
        my_grids = set(out[take].tolist())
        locked = set(kept["grid_id"]) | {g for g in plan.locked if g in my_grids}
        a = pd.Series(out, index=pd.Index(bids, name="building_id"), name="grid_id", dtype=object)
        log.info("rebased a plan from version %d onto %d (its communities: %s)", base_id, onto_id, ", ".join(changed))
        return Plan(a, rule=plan.rule, locked=sorted(locked), label=f"branch of version {onto_id}"), onto_id

    def grids(self, name_or_id) -> gpd.GeoDataFrame:
        """The stored grid polygons of a version (index ``grid_id``; ``community_id``, ``households``,
        ``persons``, ``buildings``, ``locked``; metric CRS). Grids of communities saved without a
        dataset have no polygon (``None``)."""
        import geopandas as gpd
        import shapely
        from pyproj import CRS
        vid = self.resolve(name_or_id)
        g = self.t.grids
        w = self._writers(vid)
        geom = sa.func.ST_AsBinary(g.c.geom) if self._pg else g.c.geom
        q = sa.select(g.c.grid_id, g.c.community_id, g.c.households, g.c.persons, g.c.buildings, g.c.locked,
                      geom.label("geom")).join(
            w, sa.and_(g.c.community_id == w.c.community_id, g.c.version_id == w.c.v)).order_by(g.c.grid_id)
        with self._read() as conn:
            rows = conn.execute(q).all()
            meta = self._meta(conn)
        df = _frame(rows, ["grid_id", "community_id", "households", "persons", "buildings", "locked", "geom"])
        wkb = [None if b is None else (bytes(b) if self._pg else _gpkg_wkb(bytes(b))) for b in df.pop("geom")]
        geoms = shapely.from_wkb(np.array(wkb, dtype=object)) if len(wkb) else []
        crs = CRS.from_wkt(meta["metric_crs"]) if meta.get("metric_crs") else None
        return gpd.GeoDataFrame(df.set_index("grid_id"), geometry=list(geoms), crs=crs)

    def write_plan(self, name_or_id, path, *, dataset: Dataset | None = None) -> Path:
        """Write a version as a plan GeoPackage (:func:`gridplan.io.write_plan`: layers
        ``assignment``, ``grids``, ``plan_info``), in the dataset's input CRS.

        With ``dataset`` (checked against the store) the grid layer is computed afresh with every
        figure of :func:`gridplan.metrics.grids`; without it the stored polygons and counts are
        written.
        """
        import geopandas as gpd
        from pyproj import CRS

        from .io import write_plan
        plan = self.load(name_or_id)
        if dataset is not None:
            self.check_dataset(dataset)
            return write_plan(dataset, plan, path)
        layer = self.grids(name_or_id)
        if layer.geometry.isna().any():
            raise StoreError("some grids of this version were saved without polygons; give the dataset "
                             "(--dataset DATASET) to compute them")
        info = self.dataset_info() or {}
        b = self.buildings()
        stub = Dataset(buildings=gpd.GeoDataFrame(b, geometry=gpd.points_from_xy(b["x"], b["y"]), crs=layer.crs),
                       source_crs=CRS.from_wkt(info["source_crs"]) if info.get("source_crs") else layer.crs,
                       name=info.get("name", ""))
        return write_plan(stub, plan, path, grid_layer=layer)

    def audit(self, name_or_id=None) -> pd.DataFrame:
        """The audit trail (留痕): per version, every grid it changed, with who saved it, when
        (local time) and its base, and households/persons/buildings before and after.

        ``status`` is ``added`` (a new grid), ``removed`` or ``changed`` (other buildings). A grid
        whose buildings lie in several communities has one row per community. ``name_or_id=None``
        gives every version.
        """
        if not self.initialised():
            return pd.DataFrame(columns=AUDIT_COLUMNS)
        a, v, c = self.t.audit, self.t.versions, self.t.communities
        q = (sa.select(a.c.version_id, v.c.user_name, v.c.created, v.c.base, a.c.community_id, c.c.name, a.c.grid_id,
                       a.c.status, a.c.households_before, a.c.persons_before, a.c.buildings_before,
                       a.c.households_after, a.c.persons_after, a.c.buildings_after)
             .join(v, v.c.version_id == a.c.version_id)
             .outerjoin(c, c.c.community_id == a.c.community_id)
             .order_by(a.c.version_id, a.c.community_id, a.c.grid_id))
        if name_or_id is not None:
            q = q.where(a.c.version_id == self.resolve(name_or_id))
        with self._read() as conn:
            rows = conn.execute(q).all()
        df = _frame(rows, AUDIT_COLUMNS)
        df["created"] = pd.Series([_local(x) for x in df["created"]], index=df.index, dtype=object)
        df["community"] = df["community"].fillna("")
        for col in AUDIT_COLUMNS[8:]:
            df[col] = pd.to_numeric(df[col]).fillna(0).astype("int64")
        return df

    # ------------------------------------------------------------------ saving
    def save(self, plan: Plan, *, name: str, user: str, base: int | str | None = None, note: str = "",
             dataset: Dataset | None = None, grids=None) -> int:
        """Save ``plan`` as a new version; returns its version id.

        Parameters
        ----------
        plan
            Any plan that assigns every building of the dataset exactly once (drafts need not
            comply with the rule).
        name, note
            The version's name (required, ≤ 200 characters) and an optional note.
        user
            Who saves. When the store has users (:meth:`add_user`) it must be one of them, enabled,
            and not a viewer; a planner may only change the communities of their scope.
        base
            The version the planner started from (id or name); default the newest version. Only the
            communities where ``plan`` differs from ``base`` are written, on top of the newest
            version. Pass the version the plan was loaded from: with the default, every community
            where the plan differs from the newest version counts as changed by this save, so a
            plan made from an older version would put back that version's state there.
        dataset
            The plan's dataset: required by the first save (it binds the store to the dataset),
            checked against the store's fingerprint afterwards, and used to store grid polygons.
        grids
            The plan's grid layer if the caller has it (:func:`gridplan.metrics.grids`: index
            ``grid_id``, ``community_id``, polygons in the dataset's metric CRS); otherwise the
            polygons of the changed communities are computed from ``dataset``.

        Raises
        ------
        StoreConflict
            A community the plan changed was changed by a version saved after ``base`` (names the
            versions, their users and the communities). Nothing is written. To keep one's own
            changes anyway, save again with ``base=`` the newest version; to take the other
            planner's, :meth:`load` the newest version.
        StoreAccessError
            The user may not make this save.
        StoreError, PlanError
            The plan or dataset does not match the store, or the store cannot be used.
        """
        t0 = time.perf_counter()
        name = str(name or "").strip()
        if not name:
            raise StoreError("give the version a name")
        if len(name) > 200:
            raise StoreError("the version name is too long (200 characters at most)")
        user = _check_user_name(user)
        note = str(note or "")
        if not isinstance(plan, Plan):
            raise PlanError("save takes a gridplan Plan (building → grid)")
        self._ensure()
        info = self.dataset_info()
        frame = fingerprint = None
        if info is None:
            if dataset is None:
                raise StoreError(f"the store {self.location} has no dataset yet: its first save needs the dataset "
                                 "(save(…, dataset=ds); on the command line the DATASET argument)")
            frame, fingerprint = _bound_frame(dataset)
            bframe = frame
        elif dataset is not None and _bound_frame(dataset)[1] == info["fingerprint"]:
            bframe = _bound_frame(dataset)[0]
        else:
            if dataset is not None:
                self.check_dataset(dataset)        # raises unless the difference is within tolerance
            bframe = self.buildings()
        bids = bframe.index
        a = plan.assignment
        _check_plan_covers(a, bids)
        new = a.reindex(bids).to_numpy(dtype=object)
        comm = bframe["community_id"].to_numpy(dtype=object)

        # what changed relative to the base (versions never change once written: read outside the lock)
        head0 = self.head()
        if base is None or (isinstance(base, str) and not base.strip()):
            base_id = head0
        else:
            base_id = self.resolve(base) if head0 else _no_base(base)
        if base_id:
            with self._read() as conn:
                old = self._assignment(conn, base_id).reindex(bids).to_numpy(dtype=object)
                base_grids = self._state_grids(conn, base_id)
            changed_mask = new != old
            changed = sorted(set(comm[changed_mask].tolist()))
        else:
            old, base_grids = None, None
            changed = sorted(set(comm.tolist()))
        in_changed = np.isin(comm, np.array(changed, dtype=object)) if changed else np.zeros(len(comm), bool)
        rows = pd.DataFrame({"community_id": comm[in_changed], "building_id": bids.to_numpy(dtype=object)[in_changed],
                             "grid_id": new[in_changed]})
        hh = bframe["households"].to_numpy()[in_changed]
        pp = bframe["persons"].to_numpy()[in_changed]
        after = _grid_stats(rows["community_id"], rows["grid_id"], hh, pp)
        after["locked"] = after["grid_id"].isin(plan.locked)
        if old is not None:
            before = _grid_stats(rows["community_id"], pd.Series(old[in_changed]), hh, pp)
            audit = _audit_rows(rows["community_id"].to_numpy(), old[in_changed], new[in_changed], before, after)
        else:
            audit = _audit_rows(rows["community_id"].to_numpy(), None, new[in_changed], None, after)
        shapes = self._shapes(dataset, plan, changed, comm, grids) if dataset is not None and changed else {}

        with self._write() as conn:
            t = self.t
            head = int(conn.execute(sa.select(t.head.c.version).where(t.head.c.id == 1).with_for_update()).scalar())
            if frame is not None:  # binding: unless another first save got there while we computed
                meta = self._meta(conn)
                if "fingerprint" not in meta:
                    assert dataset is not None and fingerprint is not None   # set with frame, above
                    self._bind(conn, dataset, frame, fingerprint)
                elif meta["fingerprint"] != fingerprint:
                    raise StoreError(f"another save bound the store {self.location} to a different dataset "
                                     f"({meta.get('dataset', '')!r}) meanwhile; nothing was saved")
            if base_id > head:
                raise StoreError(f"base version {base_id} is newer than the newest version {head}")
            if base_id < head and changed:
                self._check_conflicts(conn, base_id, head, changed)
            self._check_user(conn, user, changed)
            if changed and head:
                self._check_grid_ids(conn, head, changed, after, base_grids)
            vid = head + 1
            log.debug("writing version %d (%d communities, %d buildings) to %s", vid, len(changed), len(rows),
                      self.location)
            others = self._state_grids(conn, head) if head else pd.DataFrame(columns=["community_id", "grid_id"])
            others = others[~others["community_id"].isin(changed)]
            n_grids = len(set(others["grid_id"]) | set(after["grid_id"]))
            conn.execute(t.versions.insert().values(
                version_id=vid, name=name, note=note, user_name=user, created=_now(), base=base_id, parent=head,
                communities_changed=json.dumps(changed, ensure_ascii=False), label=str(plan.label or ""),
                rule=json.dumps(plan.rule.as_dict(), ensure_ascii=False), grids=n_grids, buildings=len(bids),
                dataset=(dataset.name if dataset is not None else (info or {}).get("name", "")) or "",
                seconds=round(time.perf_counter() - t0, 3)))
            srid = int(self._meta(conn).get("srid") or 0)
            if changed:
                conn.execute(t.version_communities.insert(), [{"version_id": vid, "community_id": c} for c in changed])
                self._copy(conn, t.assignments, rows.assign(version_id=vid)[["version_id", "community_id",
                                                                              "building_id", "grid_id"]])
                conn.execute(t.grids.insert(), [
                    {"version_id": vid, "community_id": r.community_id, "grid_id": r.grid_id,
                     "households": int(r.households), "persons": int(r.persons), "buildings": int(r.buildings),
                     "locked": bool(r.locked), "geom": self._geom_value(shapes.get((r.community_id, r.grid_id)), srid)}
                    for r in after.itertuples(index=False)])
                if len(audit):
                    conn.execute(t.audit.insert(), [dict(r._asdict(), version_id=vid)
                                                    for r in audit.itertuples(index=False)])
            conn.execute(t.head.update().where(t.head.c.id == 1).values(version=vid))
        log.info("saved version %d %r by %r: %d communities changed (%s)", vid, name, user, len(changed),
                 self.location)
        return vid

    def _shapes(self, dataset: Dataset, plan: Plan, changed: builtins.list[str], comm: np.ndarray, grids=None) -> dict:
        """(community_id, grid_id) → WKB of the grid polygon, for the grids of the changed communities."""
        import shapely

        from .tessellate import grid_polygons
        if grids is not None and "community_id" in grids.columns:
            polys = grids[grids["community_id"].astype(str).isin(changed)]
        else:
            known = set(dataset.communities.index.astype(str)) if dataset.communities is not None else set()
            if set(changed) >= set(comm.tolist()) or not set(changed) <= known:
                sub = dataset
            else:   # tessellate only the changed communities (cells never cross a community boundary)
                sub = dataset.for_communities(changed)
            polys = grid_polygons(sub, plan.assignment.reindex(sub.buildings.index.astype(str)))
        out = {}
        for gid, cid, g in zip(polys.index, polys["community_id"], polys.geometry.to_numpy()):
            if g is None or g.is_empty:
                continue
            if g.geom_type == "Polygon":
                g = shapely.MultiPolygon([g])
            out[(str(cid), str(gid))] = shapely.to_wkb(g, byte_order=1)
        return out

    def _geom_value(self, wkb: bytes | None, srid: int):
        if wkb is None:
            return None
        if self._pg:
            from geoalchemy2.elements import WKBElement
            return WKBElement(wkb, srid=srid or -1, extended=False)
        return _gpkg_blob(wkb, srid or -1)

    def _check_conflicts(self, conn, base: int, head: int, changed: builtins.list[str]) -> None:
        vc, v = self.t.version_communities, self.t.versions
        q = (sa.select(vc.c.version_id, vc.c.community_id, v.c.user_name, v.c.name, v.c.created)
             .join(v, v.c.version_id == vc.c.version_id)
             .where(vc.c.version_id > base, vc.c.version_id <= head,
                    vc.c.community_id.in_(sa.bindparam("changed", expanding=True)))
             .order_by(vc.c.version_id, vc.c.community_id))
        hits = conn.execute(q, {"changed": list(changed)}).all()
        if not hits:
            return
        names = dict(conn.execute(sa.select(self.t.communities.c.community_id, self.t.communities.c.name)).all())
        by_version: dict[int, dict] = {}
        for r in hits:
            d = by_version.setdefault(int(r.version_id), {"version": int(r.version_id), "name": r.name,
                                                          "user": r.user_name, "created": format_time(r.created),
                                                          "communities": []})
            d["communities"].append(r.community_id)

        def comms(ids):
            return "、".join(f"{c} {names.get(c) or ''}".strip() for c in ids)

        zh = "；".join(f"版本 {d['version']}（{d['name']}，用户 {d['user']}，{d['created']}）修改了社区 {comms(d['communities'])}"
                      for d in by_version.values())
        en = "; ".join(f"version {d['version']} ({d['name']!r}) by {d['user']} at {d['created']} changed "
                       f"{', '.join(d['communities'])}" for d in by_version.values())
        raise StoreConflict(
            f"保存冲突：在基准版本 {base} 之后，{zh}，本次保存也改了这些社区，未写入任何内容。"
            f"请打开最新版本 {head} 后重做这些社区的修改，或以最新版本为基准（--base {head}）再保存以覆盖。 / "
            f"conflict: since your base version {base}, {en}; your plan changes the same communities, so nothing was "
            f"saved. Open the newest version {head} and redo your changes there, or save with base {head} to "
            "overwrite them.", conflicts=list(by_version.values()), base=base, head=head)

    def _check_grid_ids(self, conn, head: int, changed: builtins.list[str], after: pd.DataFrame,
                        base_grids: pd.DataFrame | None) -> None:
        """A grid id the plan uses in its changed communities that another version meanwhile gave to a
        grid of another community would merge two unrelated grids: refuse (a conflict)."""
        state = self._state_grids(conn, head)
        other_now = state[~state["community_id"].isin(changed)]
        mine = set(after["grid_id"])
        seen_by_me = set()
        if base_grids is not None:
            seen_by_me = set(base_grids.loc[~base_grids["community_id"].isin(changed), "grid_id"])
        clash = other_now[other_now["grid_id"].isin(mine - seen_by_me)]
        if not len(clash):
            return
        v = self.t.versions
        first = clash.iloc[0]
        who = conn.execute(sa.select(v.c.user_name, v.c.name).where(v.c.version_id == int(first["version_id"]))).one()
        ids = ", ".join(sorted(set(clash["grid_id"]))[:5])
        raise StoreConflict(
            f"保存冲突：网格编号 {ids} 已被版本 {int(first['version_id'])}（用户 {who.user_name}）用于社区 "
            f"{first['community_id']}，未写入任何内容；请重新编号后再保存。 / conflict: grid id(s) {ids} are now used in "
            f"community {first['community_id']} by version {int(first['version_id'])} ({who.user_name}); renumber "
            "your grids and save again. Nothing was saved.",
            conflicts=[{"version": int(first["version_id"]), "name": who.name, "user": who.user_name, "created": "",
                        "communities": sorted(set(clash["community_id"]))}], base=0, head=head)

    # ------------------------------------------------------------------ users
    def _user_row(self, conn, user: str):
        u = self.t.users
        return conn.execute(sa.select(u).where(u.c.user_name == user)).first()

    @staticmethod
    def _user_of(row) -> User:
        return User(name=row.user_name, display_name=row.display_name or "", role=row.role,
                    scope=tuple(json.loads(row.scope or "[]")), created=_local(row.created),
                    disabled=_local(row.disabled))

    def _has_users(self, conn) -> bool:
        return conn.execute(sa.select(sa.func.count()).select_from(self.t.users)).scalar() > 0

    def _check_user(self, conn, user: str, changed: builtins.list[str]) -> None:
        """Inside the save's transaction: the user may make this save (no users: anyone may)."""
        if not self._has_users(conn):
            return
        row = self._user_row(conn, user)
        if row is None:
            raise StoreAccessError(f"{user!r} is not a user of this store; an admin adds users with "
                                   "`gridplan store user add`")
        u = self._user_of(row)
        if not u.active:
            raise StoreAccessError(f"user {user!r} is disabled")
        if u.role == "viewer":
            raise StoreAccessError(f"user {user!r} is a viewer and may not save versions")
        if u.role == "planner":
            allowed = self._resolve_scope(conn, u.scope)
            outside: builtins.list[str] = sorted(set(changed) - allowed)
            if outside:
                names = dict(conn.execute(sa.select(self.t.communities.c.community_id,
                                                    self.t.communities.c.name)).all())
                shown = "、".join(f"{c} {names.get(c) or ''}".strip() for c in outside[:10])
                raise StoreAccessError(
                    f"超出权限：用户 {user} 只能修改其负责范围（{', '.join(u.scope)}）内的社区，本次保存还改了 {shown}，"
                    f"未写入任何内容。 / user {user!r} (planner) may only change the communities of their scope "
                    f"({', '.join(u.scope)}); this plan also changes {', '.join(outside[:10])}. Nothing was saved.")

    def _resolve_scope(self, conn, codes: Iterable[str]) -> frozenset[str]:
        c = self.t.communities
        rows = conn.execute(sa.select(c.c.community_id, c.c.street, c.c.street_id)).all()
        out: set[str] = set()
        for code in codes:
            code = str(code).strip()
            hit = {r.community_id for r in rows if code in (r.community_id, r.street_id, r.street)}
            if not hit:
                log.warning("scope code %r names no community or street of the store's dataset", code)
            out |= hit
        return frozenset(out)

    def _unknown_codes(self, conn, codes: Iterable[str]) -> builtins.list[str]:
        c = self.t.communities
        rows = conn.execute(sa.select(c.c.community_id, c.c.street, c.c.street_id)).all()
        if not rows:
            return []  # no dataset yet: codes are checked when they are used
        known = {x for r in rows for x in (r.community_id, r.street_id, r.street) if x}
        return [x for x in codes if x not in known]

    def add_user(self, user: str, password: str, *, role: str = "planner", display_name: str = "",
                 scope: Iterable[str] = ()) -> User:
        """Add a user. ``role`` is one of :data:`ROLES`; a planner's ``scope`` lists community ids
        and/or street ids or names (a street stands for all its communities). The password
        (≥ 8 characters) is stored only as an argon2 hash."""
        user = _check_user_name(user)
        if role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        scope = _clean_scope(scope)
        if role == "planner" and not scope:
            raise StoreError("a planner needs a scope: the community or street codes they may change")
        digest = _hasher().hash(_check_password(password))
        self._ensure()
        with self._write() as conn:
            if self._user_row(conn, user) is not None:
                raise StoreError(f"user {user!r} exists already; change the password with `gridplan store user passwd`")
            unknown = self._unknown_codes(conn, scope)
            if unknown:
                raise StoreError(f"unknown community or street code(s) in the scope: {', '.join(unknown)}")
            conn.execute(self.t.users.insert().values(
                user_name=user, display_name=str(display_name or ""), role=role, scope=json.dumps(scope, ensure_ascii=False),
                password_hash=digest, created=_now(), disabled=None))
            row = self._user_row(conn, user)
        log.info("added user %r (%s) to %s", user, role, self.location)
        return self._user_of(row)

    def set_password(self, user: str, password: str) -> None:
        """Replace a user's password."""
        user = _check_user_name(user)
        digest = _hasher().hash(_check_password(password))
        self._ensure()
        with self._write() as conn:
            n = conn.execute(self.t.users.update().where(self.t.users.c.user_name == user)
                             .values(password_hash=digest)).rowcount
        if not n:
            raise StoreError(f"no user {user!r}")
        log.info("changed the password of user %r", user)

    def set_user(self, user: str, *, role: str | None = None, display_name: str | None = None,
                 scope: Iterable[str] | None = None, disabled: bool | None = None) -> User:
        """Change a user's role, display name, scope, or disable/enable them."""
        user = _check_user_name(user)
        values: dict = {}
        if role is not None:
            if role not in ROLES:
                raise StoreError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
            values["role"] = role
        if display_name is not None:
            values["display_name"] = str(display_name)
        if scope is not None:
            values["scope"] = json.dumps(_clean_scope(scope), ensure_ascii=False)
        if disabled is not None:
            values["disabled"] = _now() if disabled else None
        self._ensure()
        with self._write() as conn:
            row = self._user_row(conn, user)
            if row is None:
                raise StoreError(f"no user {user!r}")
            new_scope = json.loads(values.get("scope", row.scope))
            if values.get("role", row.role) == "planner" and not new_scope:
                raise StoreError("a planner needs a scope: the community or street codes they may change")
            unknown = self._unknown_codes(conn, new_scope)
            if unknown:
                raise StoreError(f"unknown community or street code(s) in the scope: {', '.join(unknown)}")
            if values:
                conn.execute(self.t.users.update().where(self.t.users.c.user_name == user).values(**values))
            row = self._user_row(conn, user)
        return self._user_of(row)

    def has_users(self) -> bool:
        """Whether the store has users (then only they may save, and an app should ask for a sign-in)."""
        if not self.initialised():
            return False
        with self._read() as conn:
            return self._has_users(conn)

    def get_user(self, user: str) -> User | None:
        """A user (without password) or ``None``."""
        if not self.initialised():
            return None
        with self._read() as conn:
            row = self._user_row(conn, str(user).strip())
        return None if row is None else self._user_of(row)

    def list_users(self) -> pd.DataFrame:
        """Every user: index ``user``; ``display_name``, ``role``, ``scope`` (list), ``created``,
        ``disabled`` (local time or None). Never holds passwords or hashes."""
        cols = ["display_name", "role", "scope", "created", "disabled"]
        if not self.initialised():
            return pd.DataFrame(columns=cols, index=pd.Index([], name="user"))
        u = self.t.users
        with self._read() as conn:
            rows = conn.execute(sa.select(u.c.user_name, u.c.display_name, u.c.role, u.c.scope, u.c.created,
                                          u.c.disabled).order_by(u.c.user_name)).all()
        df = pd.DataFrame([{"user": r.user_name, "display_name": r.display_name or "", "role": r.role,
                            "scope": json.loads(r.scope or "[]"), "created": _local(r.created),
                            "disabled": _local(r.disabled)} for r in rows], columns=["user", *cols])
        return df.set_index("user")

    def verify(self, user: str, password: str) -> User | None:
        """The user if ``password`` is theirs and they are enabled, else ``None``.

        Takes about the same time whether or not the user exists (an unknown user is checked
        against a dummy hash); never logs or returns the password or its hash.
        """
        from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
        global _DUMMY_HASH
        ph = _hasher()
        name = unicodedata.normalize("NFC", str(user or "")).strip()
        row = None
        if self.initialised() and name:
            with self._read() as conn:
                row = self._user_row(conn, name)
        if not isinstance(password, str):
            password = ""
        if row is None:
            if _DUMMY_HASH is None:
                _DUMMY_HASH = ph.hash("gridplan: no such user")
            with contextlib.suppress(VerificationError, InvalidHashError):
                ph.verify(_DUMMY_HASH, password)
            return None
        try:
            ph.verify(row.password_hash, password)
        except VerifyMismatchError:
            return None
        except (VerificationError, InvalidHashError):
            log.warning("the stored password hash of user %r is unreadable; set a new password", name)
            return None
        if row.disabled is not None:
            return None
        if ph.check_needs_rehash(row.password_hash):
            with contextlib.suppress(StoreError), self._write() as conn:
                conn.execute(self.t.users.update().where(self.t.users.c.user_name == name)
                             .values(password_hash=ph.hash(password)))
        return self._user_of(row)

    def user_scope(self, user: str) -> frozenset[str]:
        """The community ids ``user`` may change: every community for an admin, none for a viewer or
        a disabled user, the communities of their scope (streets resolved via the dataset's
        communities) for a planner."""
        if not self.initialised():
            raise StoreAccessError(f"{user!r} is not a user of this store (it has no users yet)")
        with self._read() as conn:
            row = self._user_row(conn, str(user).strip())
            if row is None:
                raise StoreAccessError(f"{user!r} is not a user of this store")
            u = self._user_of(row)
            if not u.active or u.role == "viewer":
                return frozenset()
            if u.role == "admin":
                return frozenset(r[0] for r in conn.execute(sa.select(self.t.communities.c.community_id)).all())
            return self._resolve_scope(conn, u.scope)

    def check_scope(self, user: str, communities: Iterable[str]) -> None:
        """Raise :class:`StoreAccessError` unless ``user`` may change all of ``communities``
        (the check :meth:`save` makes inside its transaction)."""
        self._ensure()
        with self._read() as conn:
            self._check_user(conn, _check_user_name(user), sorted({str(c) for c in communities}))


class _Missing(Exception):
    """The GeoPackage file does not exist yet (reads see an empty store)."""


def _no_base(base):
    raise StoreError(f"the store has no versions yet, so there is no base version {base!r}")


def _clean_scope(scope) -> list[str]:
    if isinstance(scope, str):
        scope = re.split(r"[,，\s]+", scope)
    return sorted({str(s).strip() for s in scope or () if str(s).strip()})


def _check_plan_covers(a: pd.Series, bids: pd.Index) -> None:
    """The store accepts any plan that assigns every building of the dataset exactly once."""
    if a.index.has_duplicates:
        dup = a.index[a.index.duplicated()].unique()[:5].tolist()
        raise PlanError(f"the plan assigns building(s) {dup} more than once; every building needs exactly one grid")
    missing = bids.difference(a.index)
    extra = a.index.difference(bids)
    if len(missing) or len(extra):
        parts = []
        if len(missing):
            parts.append(f"{len(missing)} building(s) of the dataset have no grid (e.g. {missing[:3].tolist()})")
        if len(extra):
            parts.append(f"{len(extra)} building(s) are not in the dataset (e.g. {extra[:3].tolist()})")
        raise PlanError("the plan does not match the store's dataset: " + "; ".join(parts)
                        + "; a plan must assign every building of the dataset exactly once")
    empty = a.index[(a.astype(str).str.strip() == "").to_numpy()]
    if len(empty):
        raise PlanError(f"building(s) {empty[:3].tolist()} have an empty grid id")


def _grid_stats(community: pd.Series, grid: pd.Series, hh: np.ndarray, pp: np.ndarray) -> pd.DataFrame:
    df = pd.DataFrame({"community_id": np.asarray(community, dtype=object), "grid_id": np.asarray(grid, dtype=object),
                       "households": hh, "persons": pp, "buildings": 1})
    out = df.groupby(["community_id", "grid_id"], sort=True).sum().reset_index()
    for c in ("households", "persons", "buildings"):
        out[c] = out[c].astype("int64")
    return out


def _audit_rows(comm: np.ndarray, old: np.ndarray | None, new: np.ndarray, before: pd.DataFrame | None,
                after: pd.DataFrame) -> pd.DataFrame:
    """The (community, grid) pieces whose buildings differ between ``old`` and ``new``, with their
    counts before and after (0 for a grid that did not exist)."""
    key = ["community_id", "grid_id"]
    q = ["households", "persons", "buildings"]
    if old is None:
        keys = after[key]
    else:
        pairs = pd.DataFrame({"community_id": comm, "o": old, "n": new}).drop_duplicates()
        moved = pairs[pairs["o"] != pairs["n"]]
        keys = pd.concat([moved[["community_id", "o"]].set_axis(key, axis=1),
                          moved[["community_id", "n"]].set_axis(key, axis=1)]).drop_duplicates()
    out = keys.merge(after[key + q].rename(columns={c: f"{c}_after" for c in q}), on=key, how="left")
    if before is not None:
        out = out.merge(before[key + q].rename(columns={c: f"{c}_before" for c in q}), on=key, how="left")
    else:
        for c in q:
            out[f"{c}_before"] = np.nan
    had, has = out["buildings_before"].notna().to_numpy(), out["buildings_after"].notna().to_numpy()
    out["status"] = np.where(had & has, "changed", np.where(had, "removed", "added"))
    cols = key + ["status"] + [f"{c}_{w}" for w in ("before", "after") for c in q]
    for c in cols[3:]:
        out[c] = out[c].fillna(0).astype("int64")
    return out[cols].sort_values(key).reset_index(drop=True)


def _dataset_difference(stored: pd.DataFrame, given: pd.DataFrame) -> str:
    """What differs between the stored buildings and a dataset's (empty when only within tolerance)."""
    parts = []
    missing = stored.index.difference(given.index)
    extra = given.index.difference(stored.index)
    if len(missing):
        parts.append(f"{len(missing)} of its buildings are missing (e.g. {', '.join(missing[:3])})")
    if len(extra):
        parts.append(f"{len(extra)} buildings are new (e.g. {', '.join(extra[:3])})")
    common = stored.index.intersection(given.index)
    s, g = stored.loc[common], given.loc[common]
    for col, what in (("community_id", "lie in another community"), ("households", "have other household counts"),
                      ("persons", "have other person counts")):
        diff = common[(s[col].to_numpy() != g[col].to_numpy())]
        if len(diff):
            b = diff[0]
            parts.append(f"{len(diff)} buildings {what} (e.g. {b}: {s.at[b, col]} → {g.at[b, col]})")
    dist = np.hypot(s["x"].to_numpy() - g["x"].to_numpy(), s["y"].to_numpy() - g["y"].to_numpy())
    far = common[dist > POSITION_TOLERANCE_M]
    if len(far):
        parts.append(f"{len(far)} buildings moved more than {POSITION_TOLERANCE_M:g} m (e.g. {far[0]})")
    return "; ".join(parts)


def schema_url(url: str, schema: str, *, create: bool = True) -> str:
    """The URL of a store kept in a PostgreSQL schema of its own in the database at ``url`` (one
    store per dataset, so several datasets, e.g. the cities of a province, share one database).

    ``schema`` is made safe (letters, digits and ``_``; other text is replaced and a short hash
    keeps different names apart) and created when ``create`` is true. The returned URL sets
    ``search_path`` to that schema, then ``public`` (where PostGIS lives).
    """
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
    if not is_postgres_url(url):
        raise StoreError(f"{mask_url(url)} is not a postgresql:// URL")
    parts = urlsplit(str(url))
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k == "options" for k, _ in query):
        raise StoreError(f"{mask_url(url)} already sets options; give the database URL without them "
                         "(each dataset gets its own schema)")
    safe = re.sub(r"[^0-9a-z_]+", "_", unicodedata.normalize("NFKC", str(schema)).lower()).strip("_")
    if safe != str(schema) or not safe or safe[0].isdigit():
        safe = f"gp_{safe[:40]}_{hashlib.sha1(str(schema).encode()).hexdigest()[:8]}".replace("__", "_")
    if create:
        try:
            with _engine("postgresql", str(url)).begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{safe}"'))
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(f"cannot create schema {safe} in {mask_url(url)}: {str(e).splitlines()[0][:200]}") from None
    query.append(("options", f"-csearch_path={safe},public"))
    return urlunsplit(parts._replace(query=urlencode(query)))


def open_store(url: str | os.PathLike, *, create: bool = False) -> PlanStore:
    """The plan store at ``url`` (a ``.gpkg`` path or a ``postgresql://`` URL, see :class:`PlanStore`).

    With ``create=True`` the tables are made if missing (:meth:`PlanStore.init`); otherwise a
    GeoPackage is created by its first save and reading a store that does not exist yet gives an
    empty store.
    """
    store = PlanStore(url)
    if create:
        store.init()
    return store
