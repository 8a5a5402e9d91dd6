"""Plan versions in the project GeoPackage: round trips, names, comparison, atomic saves."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gridplan.model import Plan, Rule
from gridplan.store import ProjectStore, StoreError, default_project_path


def _plan(n=50, grids=5, rule=None, locked=()):
    a = {f"B{i:04d}": f"G{i % grids:02d}" for i in range(n)}
    return Plan.from_mapping(a, rule=rule, locked=locked, label="test")


def test_save_list_load_round_trip(tmp_path):
    store = ProjectStore(tmp_path / "projects" / "city.gpkg")
    assert len(store.list()) == 0
    rule = Rule(min_households=250, max_households=450, mode="households")
    p = _plan(rule=rule, locked=["G01", "G03"])
    vid = store.save("初稿 <b>draft</b>", p, note="第一版", dataset_name="什邡")
    assert vid == 1 and store.path.exists()
    versions = store.list()
    assert list(versions.index) == [1]
    row = versions.loc[1]
    assert row["name"] == "初稿 <b>draft</b>" and row["note"] == "第一版" and row["dataset"] == "什邡"
    assert row["grids"] == 5 and row["buildings"] == 50
    back = store.load(1)
    assert back.same_assignment(p)
    assert back.rule == rule
    assert back.locked == frozenset({"G01", "G03"})


def test_names_ids_and_newest_wins(tmp_path):
    store = ProjectStore(tmp_path / "p.gpkg")
    p1 = _plan()
    p2 = p1.move(["B0000"], "G04")
    p3 = p2.move(["B0001"], "G04")
    assert store.save("a", p1) == 1
    assert store.save("b", p2) == 2
    assert store.save("a", p3) == 3          # same name again: a new version
    assert store.resolve("a") == 3            # the newest of a name
    assert store.resolve(1) == 1 and store.resolve("2") == 2
    assert store.load("b").same_assignment(p2)
    with pytest.raises(StoreError, match="no version named"):
        store.load("nope")
    with pytest.raises(StoreError):
        store.load(99)
    with pytest.raises(StoreError, match="name"):
        store.save("  ", p1)


def test_compare_lists_moved_buildings(tmp_path):
    store = ProjectStore(tmp_path / "p.gpkg")
    p1 = _plan()
    p2 = p1.move(["B0000", "B0006"], "G03")
    store.save("v1", p1)
    store.save("v2", p2)
    d = store.compare("v1", "v2")
    assert sorted(d.index) == ["B0000", "B0006"]
    assert d.loc["B0000", "from_grid"] == "G00" and d.loc["B0000", "to_grid"] == "G03"
    assert len(store.compare("v1", "v1")) == 0


def test_default_project_path_is_safe():
    p = default_project_path('../we/ird:name*?')
    assert p.parent == Path("projects") and p.suffix == ".gpkg"
    assert "/" not in p.name and ".." not in p.stem.split("_")[0] + "x"


def test_failure_before_replace_leaves_last_good_version(tmp_path, monkeypatch):
    store = ProjectStore(tmp_path / "p.gpkg")
    store.save("good", _plan())
    before = store.path.read_bytes()

    def boom(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", boom)      # the step that would make the new file visible
    with pytest.raises(OSError, match="simulated"):
        store.save("bad", _plan().move(["B0000"], "G01"))
    monkeypatch.undo()
    assert store.path.read_bytes() == before
    assert list(store.list()["name"]) == ["good"]
    assert store.load("good").same_assignment(_plan())
    # no temp files left beside the project
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["p.gpkg"]


def test_failure_while_writing_leaves_last_good_version(tmp_path, monkeypatch):
    import pyogrio
    store = ProjectStore(tmp_path / "p.gpkg")
    store.save("good", _plan())
    real = pyogrio.write_dataframe
    calls = {"n": 0}

    def flaky(df, path, **kw):
        calls["n"] += 1
        if kw.get("layer") == "assignments":
            raise RuntimeError("crash between the two layers (simulated)")
        return real(df, path, **kw)

    monkeypatch.setattr(pyogrio, "write_dataframe", flaky)
    with pytest.raises(RuntimeError):
        store.save("half", _plan())
    monkeypatch.setattr(pyogrio, "write_dataframe", real)
    assert list(store.list()["name"]) == ["good"]
    assert store.save("next", _plan()) == 2


def test_kill_mid_save_leaves_a_readable_project(tmp_path):
    """A subprocess saves versions in a loop and is killed with SIGKILL at random moments."""
    path = tmp_path / "p.gpkg"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        from gridplan.model import Plan
        from gridplan.store import ProjectStore
        a = {{f"B{{i:05d}}": f"G{{i % 40:02d}}" for i in range(20000)}}
        p = Plan.from_mapping(a)
        s = ProjectStore({str(path)!r})
        i = 0
        while True:
            i += 1
            s.save(f"v{{i}}", p)
            print(i, flush=True)
    """)
    survivors = 0
    for delay in (0.0, 0.01, 0.03, 0.05, 0.08):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # wait until at least one version is saved, then kill at some moment of a later save
        first = proc.stdout.readline()
        assert first.strip(), proc.stderr.read().decode()[-2000:]
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        store = ProjectStore(path)
        versions = store.list()               # never raises: the file is always complete
        assert len(versions) >= 1
        last = int(versions.index.max())
        assert len(store.load(last)) == 20000
        assert list(versions.index) == list(range(1, last + 1))
        survivors += 1
    assert survivors >= 1
    # the next save clears the temp copies the killed savers left behind
    ProjectStore(path).save("after", Plan.from_mapping({"B1": "G1"}))
    assert not list(tmp_path.glob(".p.*.tmp.gpkg*"))


def test_concurrent_saves_get_distinct_versions(tmp_path):
    """Two sessions (threads) saving at once: the lock serialises them, nothing is lost."""
    import threading
    store = ProjectStore(tmp_path / "p.gpkg")
    errors = []

    def worker(k):
        try:
            for i in range(3):
                ProjectStore(store.path).save(f"t{k}-{i}", _plan())
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    versions = store.list()
    assert sorted(versions.index) == list(range(1, 10))
    assert len(set(versions["name"])) == 9
