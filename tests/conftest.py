"""Shared fixtures of the app tests: a running ``streamlit run app.py`` and a headless Chromium
that fails on any request leaving the machine."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """``streamlit run app.py`` on a free port; ``stop()`` ends it by its PID."""

    def __init__(self, projects_dir: Path, log_path: Path, root: Path = ROOT, env: dict | None = None):
        self.projects_dir = projects_dir
        self.log_path = log_path
        self.root = Path(root)
        self.env = env or {}
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout_s: float = 90.0) -> AppServer:
        port = _free_port()
        env = dict(os.environ, GRIDPLAN_PROJECTS_DIR=str(self.projects_dir), GRIDPLAN_APP_TIMINGS="1",
                   PYTHONUNBUFFERED="1", PYTHONPATH=str(self.root), **self.env)
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
             # the tree may change under a running test session: never hot-reload modules mid-test
             "--server.fileWatcherType", "none"],
            cwd=self.root, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"streamlit did not become healthy in {timeout_s} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None


def _browser_ready() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (bash scripts/setup.sh --tests)"
    try:
        import playwright  # noqa: F401  (is it installed?)
    except ImportError:
        return "playwright is not installed"
    try:
        from gridplan import assets
        assets.check_installed()
    except Exception as e:  # noqa: BLE001
        return f"offline map assets are missing: {e}"
    return None


def require(why: str | None) -> None:
    """Fail (never skip) when a part the suite needs is missing: CI must not pass by skipping.
    ``bash scripts/setup.sh --tests`` installs every part."""
    if why:
        pytest.fail(f"{why} — run `bash scripts/setup.sh --tests` to install it", pytrace=False)


_NO_SKIP = ("skipped, which this suite never allows: a missing browser, font, database or asset must "
            "fail the run (install it with `bash scripts/setup.sh --tests`). Reason given: ")


def _fail_skip(rep) -> None:
    """Turn a skip report into a failure (an expected failure, ``xfail``, is not allowed either)."""
    if rep.skipped:
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = _NO_SKIP + str(getattr(rep, "wasxfail", "") or reason)


def pytest_configure(config):
    """The test session keeps gridplan's persistent cache (:mod:`gridplan.diskcache`) in a folder of
    its own, deleted at the end: tests neither read what the user's app cached nor leave entries in
    ``~/.cache/gridplan`` (app servers and workers started by tests inherit it). A folder given in
    ``GRIDPLAN_CACHE_DIR`` is kept."""
    if "GRIDPLAN_CACHE_DIR" not in os.environ:
        import tempfile
        folder = tempfile.mkdtemp(prefix="gridplan-test-cache-")
        os.environ["GRIDPLAN_CACHE_DIR"] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """No test may skip, whatever skips it (a marker, ``unittest.SkipTest``, a doctest ``+SKIP``, a
    plugin): CI on a fresh clone must fail, not pass, when a part is missing."""
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """The same for a whole module skipped at collection."""
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Streamlit's AppTest runs a page as ``__main__`` (it replaces ``sys.modules["__main__"]``); a
    process started later with ``spawn`` (Dask workers, the store race, the app's worker) would then
    re-run that page, or fail on a temporary page that is gone. Put the real ``__main__`` back."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def projects_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("projects")


@pytest.fixture(scope="session")
def app_server(projects_dir, tmp_path_factory):
    """The app, started once per test session (its caches warm up across tests)."""
    require(_browser_ready())
    server = AppServer(projects_dir, tmp_path_factory.mktemp("logs") / "streamlit.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def playwright_instance():
    require(_browser_ready())
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        yield pw


def offline_context(playwright_instance, user_data: Path):
    """A headless Chromium context with a fresh profile in ``user_data``; every request to a host
    other than 127.0.0.1/localhost is aborted and recorded in ``context.outside_requests``."""
    ctx = playwright_instance.chromium.launch_persistent_context(
        str(user_data), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1500, "height": 1100}, accept_downloads=True, locale="zh-CN")
    outside: list[str] = []

    def route(r):
        url = r.request.url
        host = urlparse(url).hostname
        if url.startswith(("data:", "blob:", "about:")) or host in LOCAL_HOSTS:
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    ctx.route("**/*", route)

    def on_ws(ws):
        host = urlparse(ws.url).hostname
        if host not in LOCAL_HOSTS:
            outside.append(ws.url)

    ctx.on("page", lambda page: page.on("websocket", on_ws))
    ctx.outside_requests = outside
    return ctx


def close_context(ctx, user_data: Path) -> None:
    ctx.unroute_all(behavior="ignoreErrors")
    ctx.close()
    shutil.rmtree(user_data, ignore_errors=True)


@pytest.fixture()
def browser_context(playwright_instance, tmp_path):
    """A fresh Chromium profile that fails on outside requests (:func:`offline_context`; tests
    assert ``context.outside_requests`` stays empty)."""
    user_data = tmp_path / "chromium-profile"
    ctx = offline_context(playwright_instance, user_data)
    yield ctx
    close_context(ctx, user_data)


# ----------------------------------------------------------------------------- PostgreSQL + PostGIS
@pytest.fixture(scope="session")
def pg_cluster():
    """A private PostgreSQL + PostGIS server for the whole test session (see ``tests/_pg.py``);
    a missing PostgreSQL/PostGIS fails the tests that need it (never skips)."""
    from _pg import PgCluster
    cluster = PgCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture()
def pg_url(pg_cluster):
    """A fresh PostGIS database of :func:`pg_cluster` for one test; its URL."""
    url = pg_cluster.new_database("t")
    yield url
    from gridplan.store import close_engines
    close_engines(url)
    pg_cluster.drop_database(url)
