"""gridplan on a Dask cluster (gridplan.cluster, gridplan.province, the CLI's --scheduler and
partition-many): the same plans and coverage as on one process, what is shipped, a worker killed
mid-run, a scheduler address where nothing listens, one GeoPackage per city and the PostGIS store.

A real ``distributed.LocalCluster`` of worker *processes* (shared by the module), on a few tiny
generated cities."""
from __future__ import annotations

import json
import os
import signal
import socket
import time

import distributed
import numpy as np
import pandas as pd
import pytest
import shapely

from gridplan.cli import main
from gridplan.engine import partition_run
from gridplan.io import read_dataset, read_plan
from gridplan.sample import generate_city, write_city


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes (with nannies, so a killed worker comes back)."""
    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                 scheduler_kwargs={"dashboard": False})
    yield c
    c.close()


@pytest.fixture()
def client(cluster):
    with distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    """Three tiny cities, each its own dataset folder (GeoPackage layers)."""
    root = tmp_path_factory.mktemp("province")
    for i, seed in enumerate((11, 12, 13)):
        write_city(generate_city(seed=seed, n_communities=3, households_per_community=1800), root / f"city{i}",
                   driver="GPKG")
    return root


@pytest.fixture(scope="module")
def city(province):
    return read_dataset(province / "city0", name="city0")


def _same_plan(a, b):
    sa, sb = a.assignment.sort_index(), b.assignment.sort_index()
    assert sa.index.equals(sb.index)
    assert (sa.to_numpy() == sb.to_numpy()).all(), "the plans differ building by building"


# ------------------------------------------------------------------------------- scheduler strings
def test_parse_scheduler():
    from gridplan.cluster import parse_scheduler
    assert parse_scheduler("local") == ("local", None)
    assert parse_scheduler("local:3") == ("local", 3)
    assert parse_scheduler("local[2]") == ("local", 2)
    assert parse_scheduler("tcp://10.0.0.5:8786") == ("remote", "tcp://10.0.0.5:8786")
    for bad in ("local:0", "local:x", "10.0.0.5:8786", "", "tcp://"):
        with pytest.raises(ValueError, match="tcp://HOST:PORT|local:N"):
            parse_scheduler(bad)


# ------------------------------------------------------------------------------- partition
def test_library_plan_identical_to_one_process_and_shipping_reported(city, client):
    one = partition_run(city, n_jobs=1)
    dist = partition_run(city, client=client)
    _same_plan(one.plan, dist.plan)
    pd.testing.assert_frame_equal(one.communities, dist.communities)
    assert dist.scheduler == client.scheduler.address
    assert 1 <= dist.workers <= 2
    assert one.scheduler is None and one.shipping is None
    sh = dist.shipping
    assert sh["tasks"] == len(one.communities)
    # the dataset's arrays went once; a task carries a reference, a community code and the rule
    assert sh["bytes_scattered"] > 100 * len(city.buildings)
    assert 0 < sh["bytes_task_args"] / sh["tasks"] < 2_000
    # a task's result is the labels, not the data: far less than what was scattered
    assert 0 < sh["bytes_task_results"] < sh["bytes_scattered"] / 4
    assert sh["bytes_per_task"] == round((sh["bytes_task_args"] + sh["bytes_task_results"]) / sh["tasks"])


def test_partition_with_some_communities_and_a_duration_cap(city, client):
    ids = sorted(city.buildings["community_id"].astype(str).unique())[:2]
    one = partition_run(city, n_jobs=1, communities=ids)
    dist = partition_run(city, client=client, communities=ids, time_limit_s=600)
    _same_plan(one.plan, dist.plan)
    assert list(dist.communities.index) == ids


def test_a_worker_killed_mid_run_changes_nothing(client, tmp_path):
    """Kill (SIGKILL) the worker process that is executing a task: its tasks run elsewhere (the
    nanny restarts it), scattered data it held is sent again, and the plan is complete and the same."""
    from gridplan.cluster import ClusterPartitioner
    ds = read_dataset(generate_city(seed=5, n_communities=4, households_per_community=6000))
    one = partition_run(ds, n_jobs=1)
    pids = client.run(os.getpid)

    def executing(dask_worker):
        return [str(k) for k, ts in dask_worker.state.tasks.items() if ts.state == "executing"]

    cp = ClusterPartitioner(client)
    cj = cp.submit(ds, key="killed")
    victim, keys = None, []
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        for addr, ks in client.run(executing).items():
            if ks and any(k.startswith("gridplan-solve-") for k in ks):
                victim, keys = addr, ks
                break
        else:
            time.sleep(0.02)
    assert victim is not None, "no task was seen executing"
    os.kill(pids[victim], signal.SIGKILL)
    done = [j for j in cp.completed()]
    cp.close()
    assert done == [cj]
    run = cp.finish(cj)
    _same_plan(one.plan, run.plan)
    assert set(run.plan.assignment.index) == set(ds.buildings.index.astype(str))
    # the task that was executing on the killed worker finished on another worker
    killed = [t for t in cj.tasks.values() if t.future is not None and any(t.community in k for k in keys)]
    assert killed
    assert all(t.done.worker != victim for t in killed)
    client.wait_for_workers(2, timeout=60)


def test_lost_scattered_data_is_sent_again(city, client):
    """Scattered data cannot be recomputed by Dask: when it is lost (here: cancelled, as when its
    only holder dies) the tasks that need it are cancelled; they are resubmitted with the data
    scattered again, and the plan is the same."""
    from gridplan.cluster import ClusterPartitioner
    one = partition_run(city, n_jobs=1)
    cp = ClusterPartitioner(client)
    scatter, calls = cp._scatter, []

    def scatter_then_lose(job):            # the first copy is lost before any task could use it
        scatter(job)
        calls.append(job.bytes_scattered)
        if len(calls) == 1:
            client.cancel([job.data_future])

    cp._scatter = scatter_then_lose
    cj = cp.submit(city, key="lost")
    once = calls[0]
    assert list(cp.completed()) == [cj]
    cp.close()
    run = cp.finish(cj)
    _same_plan(one.plan, run.plan)
    assert run.shipping["retries"] == len(cj.tasks)        # every task needed the lost copy
    assert run.shipping["bytes_scattered"] == 2 * once and len(calls) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_listens_is_a_clear_error_and_exit_1(province, tmp_path, capsys):
    address = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.perf_counter()
    code = main(["partition", str(province / "city0"), "--out", str(tmp_path / "p.gpkg"), "--scheduler", address,
                 "--connect-timeout", "1"])
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert code == 1
    assert elapsed < 20
    assert address in err
    assert "无法连接" in err and "cannot reach" in err
    assert "dask scheduler" in err and "dask worker" in err
    assert "Traceback" not in err
    assert not (tmp_path / "p.gpkg").exists()


def test_bad_scheduler_string_is_usage_error(province, tmp_path, capsys):
    assert main(["partition", str(province / "city0"), "--out", str(tmp_path / "p.gpkg"),
                 "--scheduler", "somewhere"]) == 2
    assert "tcp://HOST:PORT" in capsys.readouterr().err


def test_cli_scheduler_plan_identical_to_jobs_1(province, cluster, tmp_path, capsys):
    src = str(province / "city1")
    assert main(["partition", src, "--out", str(tmp_path / "one.gpkg"), "--jobs", "1", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert main(["partition", src, "--out", str(tmp_path / "dist.gpkg"), "--json",
                 "--scheduler", cluster.scheduler_address]) == 0
    dist = json.loads(capsys.readouterr().out)
    ds = read_dataset(src)
    _same_plan(read_plan(tmp_path / "one.gpkg", ds), read_plan(tmp_path / "dist.gpkg", ds))
    assert dist["scheduler"] == cluster.scheduler_address and "scheduler" not in one
    assert 1 <= dist["workers"] <= 2
    assert dist["bytes_scattered"] > 0 and dist["bytes_per_task"] > 0
    assert dist["grids"] == one["grids"] and dist["compliant_grids"] == one["compliant_grids"]


def test_cli_local_cluster(province, tmp_path, capsys):
    src = str(province / "city2")
    assert main(["partition", src, "--out", str(tmp_path / "one.gpkg"), "--jobs", "1", "--json"]) == 0
    capsys.readouterr()
    assert main(["partition", src, "--out", str(tmp_path / "local.gpkg"), "--json", "--scheduler", "local:2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scheduler"].startswith("tcp://127.0.0.1:")
    assert 1 <= out["workers"] <= 2
    ds = read_dataset(src)
    _same_plan(read_plan(tmp_path / "one.gpkg", ds), read_plan(tmp_path / "local.gpkg", ds))


# ------------------------------------------------------------------------------- coverage
def _split_roads(ds):
    """The sample city with the roads crossing a north-south line removed: two network pieces."""
    r = ds.roads
    x = float(np.median(r.geometry.centroid.x))
    line = shapely.LineString([(x, r.total_bounds[1] - 10), (x, r.total_bounds[3] + 10)])
    return ds.replace(roads=r[~r.geometry.intersects(line)])


def test_coverage_on_cluster_equals_one_machine(client):
    import gridplan as gp
    from gridplan.cluster import coverage_on_cluster
    from gridplan.network import build_network
    ds = _split_roads(gp.load_sample())
    net = build_network(ds.roads, min_component_m=0)          # keep both pieces
    assert len(net.kept_component) == 2
    plan = partition_run(ds, n_jobs=1).plan
    one = gp.Coverage(ds, plan=plan, network=net).result()
    run = coverage_on_cluster(ds, client=client, plan=plan, network=net)
    two = run.result
    assert run.shipping["components"] == 2 and run.shipping["tasks"] == 2 * run.shipping["kind_sets"]
    assert run.shipping["bytes_scattered"] > 0 and run.shipping["bytes_per_task"] > 0
    assert 1 <= run.workers <= 2
    b1, b2 = one.buildings, two.buildings
    assert b1.index.equals(b2.index)
    walk = [c for c in b1.columns if c.endswith("walk_m")]
    ids = [c for c in b1.columns if c.endswith("station_id")]
    assert "walk_m" in walk and "station_id" in ids and len(walk) > 1
    for c in walk:
        np.testing.assert_array_equal(b1[c].to_numpy(), b2[c].to_numpy())
    for c in ids:
        assert (b1[c].fillna("-").to_numpy() == b2[c].fillna("-").to_numpy()).all(), c
    assert b1["covered"].any() and b1["walk_m"].isna().sum() < len(b1)     # something to compare
    pd.testing.assert_frame_equal(one.by_grid, two.by_grid)
    pd.testing.assert_frame_equal(one.by_station, two.by_station)
    assert len(gp.isochrones(two)) == len(gp.isochrones(one))


def test_cli_coverage_scheduler_equals_one_machine(cluster, tmp_path, capsys):
    import pyogrio

    from gridplan.demo import sample_path
    src = str(sample_path())
    assert main(["coverage", src, "--out", str(tmp_path / "one.gpkg"), "--no-isochrones", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert main(["coverage", src, "--out", str(tmp_path / "dist.gpkg"), "--no-isochrones", "--json",
                 "--scheduler", cluster.scheduler_address]) == 0
    dist = json.loads(capsys.readouterr().out)
    assert dist["scheduler"] == cluster.scheduler_address and dist["workers"] >= 1
    assert dist["bytes_scattered"] > 0 and dist["bytes_per_task"] > 0
    assert dist["covered_households"] == one["covered_households"]
    a = pyogrio.read_dataframe(tmp_path / "one.gpkg", layer="building_coverage").set_index("building_id")
    b = pyogrio.read_dataframe(tmp_path / "dist.gpkg", layer="building_coverage").set_index("building_id")
    np.testing.assert_array_equal(a["walk_m"].to_numpy(), b["walk_m"].to_numpy())
    assert (a["station_id"].fillna("-") == b["station_id"].fillna("-")).all()


# ------------------------------------------------------------------------------- a province
def test_partition_many_writes_one_geopackage_per_city(province, cluster, tmp_path, capsys):
    out = tmp_path / "plans"
    assert main(["partition-many", str(province), "--out-dir", str(out), "--json",
                 "--scheduler", cluster.scheduler_address]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["datasets"] == 3 and res["failed"] == 0
    assert res["scheduler"] == cluster.scheduler_address and res["workers"] >= 1
    assert res["bytes_scattered"] > 0 and res["bytes_per_task"] > 0
    assert sorted(p.name for p in out.iterdir()) == ["city0.gpkg", "city1.gpkg", "city2.gpkg"]
    for name in ("city0", "city1", "city2"):
        ds = read_dataset(province / name)
        _same_plan(partition_run(ds, n_jobs=1).plan, read_plan(out / f"{name}.gpkg", ds))
    assert res["grids"] == sum(c["grids"] for c in res["cities"])


def test_partition_many_with_cities_as_tasks(province, cluster, tmp_path, capsys):
    """--city-tasks: the workers read the datasets and write the plans (same paths here)."""
    out = tmp_path / "plans"
    assert main(["partition-many", str(province), "--out-dir", str(out), "--json", "--city-tasks",
                 "--scheduler", cluster.scheduler_address]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["datasets"] == 3 and res["failed"] == 0 and res["shipping"]["tasks"] == 3
    assert res["shipping"]["tasks_are"] == "datasets" and res["bytes_scattered"] == 0 and res["bytes_per_task"] > 0
    assert 1 <= res["workers"] <= 2
    for name in ("city0", "city1", "city2"):
        ds = read_dataset(province / name)
        _same_plan(partition_run(ds, n_jobs=1).plan, read_plan(out / f"{name}.gpkg", ds))
    assert main(["partition-many", str(province), "--out-dir", str(out), "--city-tasks"]) == 2   # needs --scheduler


def test_partition_many_on_one_machine_and_a_bad_city(province, tmp_path, capsys):
    import shutil
    src = tmp_path / "prov"
    shutil.copytree(province / "city0", src / "city0")
    (src / "broken").mkdir()
    (src / "broken" / "buildings.geojson").write_text("{not json", encoding="utf-8")
    out = tmp_path / "plans"
    assert main(["partition-many", str(src), "--out-dir", str(out), "--jobs", "1", "--json"]) == 1
    res = json.loads(capsys.readouterr().out)
    assert res["datasets"] == 2 and res["failed"] == 1
    bad = next(c for c in res["cities"] if c["dataset"] == "broken")
    assert "buildings" in bad["error"]
    assert [p.name for p in out.iterdir()] == ["city0.gpkg"]


def test_partition_many_saves_to_the_postgis_store(province, cluster, pg_url, tmp_path):
    from gridplan.province import partition_many
    from gridplan.store import open_store, schema_url
    run = partition_many(province / "city0", province / "city1", store=pg_url, user="wang", version_name="全省初稿",
                         scheduler=cluster.scheduler_address, keep_plans=True)
    assert run.failed.empty
    for name in ("city0", "city1"):
        v = run.cities.loc[name, "store_version"]
        assert v == 1
        st = open_store(schema_url(pg_url, name, create=False))
        try:
            assert st.list().loc[v, "name"] == "全省初稿"
            _same_plan(run.plans[name], st.load(v))
            ds = read_dataset(province / name)
            _same_plan(partition_run(ds, n_jobs=1).plan, st.load(v))
        finally:
            st.close()
    # a second run saves version 2 in each city's own schema
    again = partition_many(province / "city0", store=pg_url, user="wang", n_jobs=1)
    assert again.cities.loc["city0", "store_version"] == 2


def test_partition_many_needs_a_destination(province, capsys):
    assert main(["partition-many", str(province)]) == 2
    assert main(["partition-many", str(province), "--store", "x/"]) == 2      # no --user


def test_coverage_many_per_city_equals_one_machine(province, cluster, tmp_path, capsys):
    import pyogrio
    plans, cov = tmp_path / "plans", tmp_path / "cov"
    assert main(["partition-many", str(province / "city0"), str(province / "city1"), "--out-dir", str(plans),
                 "--jobs", "1", "--json"]) == 0
    capsys.readouterr()
    assert main(["coverage-many", str(province), "--out-dir", str(cov), "--plans-dir", str(plans), "--no-isochrones",
                 "--json", "--scheduler", cluster.scheduler_address]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["datasets"] == 3 and res["failed"] == 0 and res["scheduler"] == cluster.scheduler_address
    assert res["bytes_scattered"] > 0 and res["bytes_per_task"] > 0
    assert sorted(p.name for p in cov.iterdir()) == ["city0.gpkg", "city1.gpkg", "city2.gpkg"]
    by_city = {c["dataset"]: c for c in res["cities"]}
    assert by_city["city0"]["plan"] and by_city["city2"]["plan"] is None      # city2 has no plan
    assert "coverage_by_grid" in pyogrio.list_layers(cov / "city0.gpkg")[:, 0]
    one = tmp_path / "one.gpkg"
    assert main(["coverage", str(province / "city1"), "--out", str(one), "--no-isochrones", "--json"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single["covered_households"] == by_city["city1"]["covered_households"]
    a = pyogrio.read_dataframe(one, layer="building_coverage").set_index("building_id")
    b = pyogrio.read_dataframe(cov / "city1.gpkg", layer="building_coverage").set_index("building_id")
    np.testing.assert_array_equal(a["walk_m"].to_numpy(), b["walk_m"].to_numpy())
    assert (a["station_id"].fillna("-") == b["station_id"].fillna("-")).all()
