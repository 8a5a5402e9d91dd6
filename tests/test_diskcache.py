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
