"""The persistent cache (gridplan.diskcache): the same dataset and plan as without it, never a stale
one (a changed file, option or code version is another key), a corrupt entry recomputed, and a
folder that cannot be used never an error."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from _toy import toy_layers
from geopandas.testing import assert_geodataframe_equal

from gridplan import diskcache, metrics
from gridplan.engine import partition_run
from gridplan.io import read_dataset
from gridplan.rule import Rule

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("GRIDPLAN_CACHE_DIR", str(d))
    return d


@pytest.fixture
def folder(tmp_path) -> Path:
    """The toy city as a folder of GeoJSON files (real files on disk)."""
    d = tmp_path / "city"
    d.mkdir()
    for name, gdf in toy_layers().items():
        gdf.to_file(d / f"{name}.geojson", driver="GeoJSON")
    return d


def entries(cache: Path, kind: str) -> list[Path]:
    return sorted((cache / kind).glob("*" + diskcache.SUFFIX)) if (cache / kind).exists() else []


def assert_same_dataset(a, b):
    assert a.name == b.name and a.coord_system == b.coord_system and a.source_crs == b.source_crs
    assert [p.as_dict() for p in a.problems] == [p.as_dict() for p in b.problems]
    assert a.layers().keys() == b.layers().keys()
    for n, gdf in a.layers().items():
        assert_geodataframe_equal(gdf, b.layers()[n], check_dtype=True, check_index_type=True, check_crs=True)
    if a.compound_status is None:
        assert b.compound_status is None
    else:
        pd.testing.assert_frame_equal(a.compound_status, b.compound_status)


def test_a_cached_dataset_is_the_dataset_read_from_the_files(cache, folder):
    fresh = read_dataset(folder)
    first = diskcache.read_dataset(folder)            # read and stored
    assert len(entries(cache, "dataset")) == 1
    second = diskcache.read_dataset(folder)           # from the cache
    assert second is not first
    assert_same_dataset(fresh, first)
    assert_same_dataset(fresh, second)
    # read-only layers, like any loaded dataset
    with pytest.raises(ValueError):
        second.buildings["households"].to_numpy()[0] = 1


def test_the_sample_from_the_cache_is_the_sample(cache, tmp_path):
    from gridplan.demo import SAMPLE_NAME, load_sample, sample_path
    copy = tmp_path / "sample"
    shutil.copytree(sample_path(), copy)
    diskcache.read_dataset(copy, name=SAMPLE_NAME)
    assert_same_dataset(load_sample(), diskcache.read_dataset(copy, name=SAMPLE_NAME))


def test_a_changed_file_is_read_again(cache, folder):
    before = diskcache.read_dataset(folder)
    path = folder / "buildings.geojson"
    doc = json.loads(path.read_text(encoding="utf-8"))
    feat = doc["features"][0]
    bid = str(feat["properties"]["building_id"])
    feat["properties"]["households"] = int(feat["properties"]["households"]) + 123
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    after = diskcache.read_dataset(folder)
    assert int(after.buildings.at[bid, "households"]) == int(before.buildings.at[bid, "households"]) + 123
    assert_same_dataset(read_dataset(folder), after)
    assert len(entries(cache, "dataset")) == 2
    # a new file in the folder (e.g. stations added) is a change too
    k = diskcache.dataset_key(folder)
    (folder / "notes.txt").write_text("x", encoding="utf-8")
    assert diskcache.dataset_key(folder) != k


def test_other_options_or_code_are_another_key(cache, folder, monkeypatch):
    k = diskcache.dataset_key(folder)
    assert diskcache.dataset_key(folder, area_per_household_m2=60.0) != k
    assert diskcache.dataset_key(folder, name="其他") != k
    diskcache.read_dataset(folder)
    monkeypatch.setattr(diskcache, "code_version", lambda: "another-version")
    assert diskcache.dataset_key(folder) != k
    calls = []
    import gridplan.io as gio
    real = gio.read_dataset
    monkeypatch.setattr(gio, "read_dataset", lambda *a, **kw: calls.append(a) or real(*a, **kw))
    diskcache.read_dataset(folder)
    assert calls, "a dataset stored by other code must be read from the files again"


def test_a_corrupt_entry_is_recomputed(cache, folder):
    diskcache.read_dataset(folder)
    (entry,) = entries(cache, "dataset")
    blob = entry.read_bytes()
    entry.write_bytes(blob[: len(blob) // 2])                       # truncated
    ds = diskcache.read_dataset(folder)
    assert_same_dataset(read_dataset(folder), ds)
    (entry,) = entries(cache, "dataset")
    assert entry.read_bytes() == blob                                # written again, whole
    entry.write_bytes(blob[:-10] + b"0123456789")                    # same length, other bytes
    assert diskcache.get("dataset", diskcache.dataset_key(folder)) is None
    assert not entry.exists()                                        # a broken entry is deleted
    entry.parent.mkdir(exist_ok=True)
    entry.write_bytes(b"not a cache file at all")
    assert_same_dataset(read_dataset(folder), diskcache.read_dataset(folder))


def test_an_unusable_folder_is_no_cache_and_no_error(tmp_path, folder, monkeypatch, caplog):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    monkeypatch.setenv("GRIDPLAN_CACHE_DIR", str(blocker / "cache"))     # cannot be created
    assert diskcache.put("dataset", "0" * 64, {"x": 1}) is False
    assert_same_dataset(read_dataset(folder), diskcache.read_dataset(folder))
    plan = diskcache.partition(diskcache.read_dataset(folder), rule=Rule(), seed=0)
    assert len(plan.assignment) == len(read_dataset(folder).buildings)
    # a folder others may write to is not trusted (nothing read from it, nothing written)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setenv("GRIDPLAN_CACHE_DIR", str(shared))
    assert diskcache.put("dataset", "0" * 64, {"x": 1}) is False
    assert not any(shared.rglob("*" + diskcache.SUFFIX))
    assert "not private" in caplog.text


def test_the_cache_can_be_turned_off(tmp_path, folder, monkeypatch):
    monkeypatch.setenv("GRIDPLAN_CACHE_DIR", "off")
    assert diskcache.cache_dir() is None
    assert_same_dataset(read_dataset(folder), diskcache.read_dataset(folder))
    assert diskcache.stored_key(diskcache.read_dataset(folder)) is None


def test_entries_are_private(cache, folder):
    diskcache.read_dataset(folder)
    assert (cache.stat().st_mode & 0o077) == 0
    (entry,) = entries(cache, "dataset")
    assert (entry.stat().st_mode & 0o077) == 0


def test_a_cached_plan_is_the_engine_plan_and_keyed_by_rule_and_seed(cache, folder, monkeypatch):
    ds = diskcache.read_dataset(folder)
    rule = Rule(min_households=20, max_households=40, min_persons=60, max_persons=120)
    engine = partition_run(read_dataset(folder), rule=rule, seed=3).plan
    first = diskcache.partition(ds, rule=rule, seed=3)
    pd.testing.assert_series_equal(first.assignment, engine.assignment)
    assert first.label == engine.label
    import gridplan.engine as eng

    def no_engine(*a, **kw):
        raise AssertionError("the engine ran for a cached plan")
    monkeypatch.setattr(eng, "partition_run", no_engine)
    again = diskcache.partition(diskcache.read_dataset(folder), rule=rule, seed=3)   # a new server: from the cache
    pd.testing.assert_series_equal(again.assignment, engine.assignment)
    assert again.rule == rule
    for other in (dict(rule=rule, seed=4), dict(rule=Rule(min_households=10, max_households=40, min_persons=60,
                                                              max_persons=120), seed=3),
                  dict(rule=rule, seed=3, code_width=3)):
        with pytest.raises(AssertionError, match="engine ran"):
            diskcache.partition(ds, **other)
    # a dataset changed in memory is not the one the files hold: never served from the cache
    changed = ds.replace(buildings=ds.buildings.assign(households=ds.buildings["households"] + 1))
    assert diskcache.stored_key(changed) is None
    assert diskcache.stored_plan(changed, rule=rule, seed=3) is None


def test_a_plan_cut_short_by_the_safety_cap_is_not_stored(cache, folder, monkeypatch):
    import gridplan.engine as eng
    real = eng.partition_run

    def capped(*a, **kw):
        run = real(*a, **kw)
        return type(run)(**{**run.__dict__, "budget_reached": True})
    monkeypatch.setattr(eng, "partition_run", capped)
    ds = diskcache.read_dataset(folder)
    diskcache.partition(ds, rule=Rule(), seed=0)
    assert not entries(cache, "plan")


def test_derived_arrays_are_kept_and_give_the_same_figures(cache, folder):
    ds = diskcache.read_dataset(folder)
    plan = diskcache.partition(ds, rule=Rule(min_households=20, max_households=40, min_persons=60, max_persons=120))
    table = metrics.grid_table(ds, plan)
    assert diskcache.keep_derived(ds)
    assert entries(cache, "derived")
    from gridplan.model import cached_values
    again = diskcache.read_dataset(folder)
    assert "building_cells" in cached_values(again)               # restored, not computed
    pd.testing.assert_frame_equal(metrics.grid_table(again, plan), table)
    later = diskcache.read_dataset(folder, derived=False)           # the app: the first map needs none of them
    assert "building_cells" not in cached_values(later)
    assert diskcache.restore_derived(later) and "building_cells" in cached_values(later)
    assert diskcache.restore_derived(later) is False                # once
    assert_geodataframe_equal(metrics.grids(again, plan), metrics.grids(read_dataset(folder), plan))


def test_setup_warms_the_sample(cache):
    from gridplan.demo import warm_sample_cache
    out = warm_sample_cache()
    assert out["cache_dir"] == str(cache) and out["derived_stored"]
    assert len(entries(cache, "dataset")) == len(entries(cache, "plan")) == len(entries(cache, "derived")) == 1
    assert warm_sample_cache()["derived_stored"] is False          # the second run finds everything there


def test_data_held_only_in_memory_never_reaches_the_cache(cache, folder):
    """Uploads and datasets made from rosters live in memory: not stored, nor their plans."""
    ds = diskcache.read_dataset(toy_layers())                 # layers given as frames, not files
    assert diskcache.stored_key(ds) is None
    diskcache.partition(ds, rule=Rule(min_households=20, max_households=40, min_persons=60, max_persons=120))
    assert not diskcache.keep_derived(ds)
    assert not cache.exists() or not any(cache.rglob("*" + diskcache.SUFFIX))


# --------------------------------------------------------------------------- the format: data only, no pickle
def test_the_sample_and_its_derived_values_come_back_equal(cache, tmp_path):
    """Every layer (dtypes, index, CRS, exact coordinates), the problems, the first plan and every
    derived value the app keeps, read from the cache equal to what was computed."""
    from _same import assert_same

    from gridplan.demo import SAMPLE_NAME, load_sample, sample_path
    from gridplan.model import cached_values
    copy = tmp_path / "sample"
    shutil.copytree(sample_path(), copy)
    ds = diskcache.read_dataset(copy, name=SAMPLE_NAME)
    plan = diskcache.partition(ds, rule=Rule(), seed=0)
    table, grids = metrics.grid_table(ds, plan), metrics.grids(ds, plan)
    computed = {k: v for k, v in cached_values(ds).items() if not k.startswith("diskcache_")}
    assert diskcache.keep_derived(ds)
    stored = diskcache.get("derived", diskcache.stored_key(ds))
    assert set(stored) == set(computed)          # every derived value of the sample is of a stored kind
    for k, v in computed.items():
        assert_same(v, stored[k], k)
    again = diskcache.read_dataset(copy, name=SAMPLE_NAME)
    assert_same(load_sample(), again)                                  # the whole Dataset value
    cached_plan = diskcache.stored_plan(again, rule=Rule(), seed=0)
    assert cached_plan is not None
    assert_same(plan, cached_plan)
    assert_same(table, metrics.grid_table(again, cached_plan))
    assert_same(grids, metrics.grids(again, cached_plan))


def rewrite_entry(entry: Path, key: str, change) -> None:
    """Change an entry's archive members with ``change(members)`` and give it a valid header again
    (so only the format itself can refuse it)."""
    import hashlib

    from _same import rewrite
    payload = rewrite(entry.read_bytes()[len(diskcache._MAGIC) + 96:], change)
    entry.write_bytes(diskcache._MAGIC + key.encode() + hashlib.sha256(payload).hexdigest()[:32].encode() + payload)


class Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_an_entry_with_an_unknown_tag_or_an_object_array_is_refused_and_recomputed(cache, folder, tmp_path,
                                                                                    monkeypatch, caplog):
    import io

    import numpy as np
    monkeypatch.chdir(tmp_path)
    diskcache.read_dataset(folder)
    key = diskcache.dataset_key(folder)
    (entry,) = entries(cache, "dataset")
    good = entry.read_bytes()

    def unknown_tag(m):
        man = json.loads(m["manifest.json"])
        assert man["root"]["t"] == "obj" and man["root"]["cls"] == "Dataset"
        man["root"] = {"t": "obj", "cls": "posix.system", "f": {"command": "touch PWNED"}}
        m["manifest.json"] = json.dumps(man).encode()

    def object_npy(m):
        evil = io.BytesIO()
        np.save(evil, np.array([Evil()], dtype=object), allow_pickle=True)
        for n in m:
            if n.endswith(".npy"):
                m[n] = evil.getvalue()

    for change in (unknown_tag, object_npy):
        rewrite_entry(entry, key, change)
        assert diskcache.get("dataset", key) is None and not entry.exists()      # refused and deleted
        entry.write_bytes(good)
        rewrite_entry(entry, key, change)
        assert_same_dataset(read_dataset(folder), diskcache.read_dataset(folder))  # recomputed
        assert entry.read_bytes() == good                                          # and written again
    assert not (tmp_path / "PWNED").exists()
    assert "unknown class" in caplog.text and "pickle" in caplog.text.lower()


def test_the_cache_modules_import_no_pickle():
    import ast
    for mod in ("diskcache.py", "_codec.py"):
        tree = ast.parse((ROOT / "gridplan" / mod).read_text(encoding="utf-8"))
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert names and not names & {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve"}, mod


def test_no_numpy_load_allows_pickle_anywhere_in_gridplan():
    """No ``np.load``/``read_array`` call in gridplan passes ``allow_pickle`` other than a literal False."""
    import ast
    seen = 0
    for f in sorted((ROOT / "gridplan").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "allow_pickle":
                        seen += 1
                        assert isinstance(kw.value, ast.Constant) and kw.value.value is False, \
                            f"{f.name}:{node.lineno} allow_pickle={ast.unparse(kw.value)}"
                    assert kw.arg is not None or not isinstance(kw.value, ast.Dict) or all(
                        not (isinstance(k, ast.Constant) and k.value == "allow_pickle") for k in kw.value.keys), \
                        f"{f.name}:{node.lineno} allow_pickle passed through **"
    assert seen >= 2          # the codec's writer and reader say so explicitly


def test_a_value_of_another_kind_is_simply_not_cached(cache, folder, caplog):
    import logging

    import shapely
    caplog.set_level(logging.DEBUG, logger="gridplan.diskcache")
    assert diskcache.put("dataset", "0" * 64, {"tree": shapely.STRtree([])}) is False      # no error, no file
    assert not entries(cache, "dataset") and "not cached" in caplog.text
    ds = diskcache.read_dataset(folder)
    from gridplan.model import cached_values, dataset_cache
    from gridplan.tessellate import building_points
    building_points(ds)
    dataset_cache(ds, "edit_tree", lambda: shapely.STRtree(ds.buildings.geometry.values))
    assert diskcache.keep_derived(ds)                       # what the format holds is kept, the tree left out
    stored = diskcache.get("derived", diskcache.stored_key(ds))
    assert "building_points" in stored and "edit_tree" not in stored
    assert "edit_tree" in cached_values(ds)
    assert diskcache.keep_derived(ds) is False              # nothing new it could hold


def test_entries_of_the_former_pickle_format_are_deleted_never_read(cache, folder):
    diskcache.read_dataset(folder)
    old = cache / "dataset" / ("0" * 40 + ".pkl")
    old.write_bytes(b"\x80\x04N.")
    diskcache.put("dataset", "1" * 64, 1)
    assert not old.exists()
