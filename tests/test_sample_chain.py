"""The sample city's chain tables: the committed files equal the generator, load without errors and
carry the irregularities the checks are meant to find."""
from __future__ import annotations

import pandas as pd
import pytest

from gridplan import sample_chain
from gridplan.demo import load_sample
from gridplan.engine import partition
from gridplan.mobile import read_schedule
from gridplan.sample import SAMPLE_DIR, main
from gridplan.staff import read_staff


@pytest.fixture(scope="module")
def sample():
    ds = load_sample()
    return ds, partition(ds, seed=0)


def test_committed_files_equal_the_generator(sample):
    ds, _ = sample
    gen = sample_chain.generate_chain(ds, seed=20261126)
    staff = pd.read_csv(SAMPLE_DIR / "staff.csv", encoding="utf-8-sig", skiprows=1, dtype=str, keep_default_na=False)
    assert staff.equals(gen["staff"].astype(str)), "run python -m gridplan.sample --overwrite"
    sched = pd.read_csv(SAMPLE_DIR / "mobile_schedule.csv", encoding="utf-8-sig", dtype=str)
    assert sched.equals(gen["mobile_schedule"].astype(str))
    pd.testing.assert_frame_equal(ds.compound_status, gen["compound_status"].assign(
        date=pd.to_datetime(gen["compound_status"]["date"])), check_dtype=False)
    total = sum((SAMPLE_DIR / f).stat().st_size for f in sample_chain.FILES.values())
    assert total < 64 * 1024


def test_staff_list_has_the_documented_irregularities(sample):
    ds, plan = sample
    s = read_staff(SAMPLE_DIR / "staff.csv", dataset=ds)
    assert not s.problems
    v = s.check(plan)
    assert sorted(v["code"]) == ["no_grid", "no_grid", "no_leader", "too_many_grids"]
    assert set(s.grid_ids()) == set(plan.grid_ids)
    t = s.table
    assert t["phone"].str.slice(3, 7).eq("0000").all()  # obviously not real numbers
    assert t["name"].nunique() == t["person_id"].nunique()


def test_schedule_and_history_load_cleanly(sample):
    ds, _ = sample
    sched = read_schedule(SAMPLE_DIR / "mobile_schedule.csv", stations=ds.stations)
    assert set(sched["station_id"]) == set(ds.stations.index[ds.stations["kind"] == "mobile"])
    assert not sched.attrs["problems"]
    assert not [p for p in ds.problems if p.layer == "compound_status"]
    sw = ds.compounds["sanwu"]
    h = ds.compound_status
    # every compound 三无 today has a record from the baseline on, and nothing else after it
    assert set(sw.index[sw]) <= set(h["compound_id"])


def test_refuses_to_overwrite_chain_files(tmp_path):
    (tmp_path / "staff.csv").write_text("mine", encoding="utf-8")
    assert main(["--out", str(tmp_path), "--communities", "3", "--scale", "0.1"]) == 1
    assert (tmp_path / "staff.csv").read_text(encoding="utf-8") == "mine"
    assert not (tmp_path / "buildings.geojson").exists()  # nothing written when refusing
