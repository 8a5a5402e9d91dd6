"""A throwaway PostgreSQL + PostGIS cluster for tests (reusable by any test module).

``PgCluster`` runs ``initdb`` into a fresh temporary folder, starts ``postgres`` on a free port with
its own socket folder (no TCP listener: ``listen_addresses=''``), creates a template database
with PostGIS, and stops and deletes everything again. It never touches a server that was already
running. As root the server runs as the ``postgres`` system user (``runuser -u postgres --``),
as any other user it runs as that user.

A missing PostgreSQL or PostGIS raises :class:`PgUnavailable` with the fix
(``bash scripts/setup.sh --tests``): the test run fails, nothing is skipped.

    with PgCluster() as pg:
        url = pg.new_database("mytest")      # postgresql://postgres@/mytest?host=SOCKDIR&port=PORT
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

SETUP_HINT = "install it with `bash scripts/setup.sh --tests` (apt packages postgresql-15 and postgresql-15-postgis-3)"


class PgUnavailable(RuntimeError):
    """PostgreSQL or PostGIS is not installed here."""


def pg_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin`` holding ``initdb`` (or ``pg_config --bindir``)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        if (Path(out) / "initdb").exists():
            return Path(out)
    except (OSError, subprocess.CalledProcessError):
        pass
    raise PgUnavailable(f"PostgreSQL server programs (initdb, pg_ctl) were not found; {SETUP_HINT}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """A private PostgreSQL cluster in a temporary folder (see the module doc)."""

    def __init__(self, *, bindir: Path | None = None):
        self.bindir = bindir or pg_bindir()
        self.root: Path | None = None
        self.port = 0
        self.started = False

    # ------------------------------------------------------------------ helpers
    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run(self, *cmd, check=True, **kw) -> subprocess.CompletedProcess:
        cmd = [str(c) for c in cmd]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, **kw)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def sockdir(self) -> Path:
        return self.root / "sock"

    def url(self, dbname: str = "postgres") -> str:
        """A URL gridplan (and SQLAlchemy/psycopg) understands, over the private Unix socket."""
        return f"postgresql://postgres@/{dbname}?host={self.sockdir}&port={self.port}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        out = self._run(self.bindir / "psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", self.sockdir,
                        "-p", self.port, "-U", "postgres", "-d", dbname, "-c", sql, check=False)
        if out.returncode:
            raise RuntimeError(f"psql failed ({sql[:80]}): {out.stderr.strip()}")
        return out.stdout.strip()

    # ------------------------------------------------------------------ life cycle
    def start(self) -> PgCluster:
        # /tmp is traversable by every user; the folder is chowned to postgres when running as root
        self.root = Path(tempfile.mkdtemp(prefix="gridplan-pg-"))
        self.sockdir.mkdir()
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockdir, "postgres", "postgres")
        init = self._run(self.bindir / "initdb", "-D", self.datadir, "-A", "trust", "-U", "postgres",
                         "-E", "UTF8", "--locale=C", check=False)
        if init.returncode:
            self.stop()
            raise RuntimeError(f"initdb failed: {init.stderr.strip()[-800:]}")
        for _attempt in range(5):
            self.port = free_port()
            opts = (f"-p {self.port} -k {self.sockdir} -c listen_addresses='' -c fsync=on "
                    "-c max_connections=60 -c shared_buffers=64MB")
            st = self._run(self.bindir / "pg_ctl", "-D", self.datadir, "-o", opts, "-w", "-t", "60",
                           "-l", self.sockdir / "pg.log", "start", check=False)
            if st.returncode == 0:
                break
            time.sleep(0.2)
        else:
            log_text = (self.sockdir / "pg.log").read_text(errors="replace")[-1500:] if (
                self.sockdir / "pg.log").exists() else st.stderr
            self.stop()
            raise RuntimeError(f"the test PostgreSQL server did not start: {log_text}")
        self.started = True
        try:
            self.psql("CREATE DATABASE gp_template")
            self.psql("CREATE EXTENSION postgis", dbname="gp_template")
        except RuntimeError as e:
            self.stop()
            if "postgis" in str(e).lower():
                raise PgUnavailable(f"PostGIS is not installed for PostgreSQL ({e}); {SETUP_HINT}") from None
            raise
        return self

    def new_database(self, prefix: str = "t") -> str:
        """A fresh database with PostGIS (a copy of the template); returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}".lower()
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE gp_template')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.split("/", 3)[3].split("?")[0]
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.root is None:
            return
        if self.started:
            self._run(self.bindir / "pg_ctl", "-D", self.datadir, "-m", "fast", "-w", "stop", check=False)
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
