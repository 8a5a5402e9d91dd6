"""``gridplan store …`` on both backends: init, save (merge, conflict → exit 3), list, get, audit,
users (passwords only from a prompt or stdin, never echoed)."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from _store_worker import base_plan, change_in, city

from gridplan.cli import main
from gridplan.io import read_dataset, read_plan, write_layers, write_plan
from gridplan.store import open_store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["gpkg", "postgresql"])
def url(request, tmp_path):
    if request.param == "gpkg":
        return str(tmp_path / "store.gpkg")
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A dataset folder and plan files made from it: the base plan, and edits of two communities."""
    root = tmp_path_factory.mktemp("cli_store")
    mem = city(900, n_communities=4)
    folder = root / "city"
    folder.mkdir()
    for name, layer in mem.layers().items():
        write_layers({name: layer}, folder / f"{name}.gpkg", dataset=mem)
    ds = read_dataset(folder)
    cs = sorted(ds.communities.index)
    p0 = base_plan(ds)
    plans = {"base": p0, "x": change_in(ds, p0, cs[0], "X"), "x2": change_in(ds, p0, cs[0], "X2", n=8),
             "y": change_in(ds, p0, cs[2], "Y")}   # cs[0], cs[1] on one street, cs[2], cs[3] on the other
    paths = {k: write_plan(ds, p, root / f"{k}.gpkg") for k, p in plans.items()}
    return {"folder": str(folder), "ds": ds, "plans": plans, "paths": {k: str(v) for k, v in paths.items()},
            "communities": cs, "root": root}


def run(capsys, *argv, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_init_save_list_get_round_trip(url, files, capsys, tmp_path):
    code, out, _ = run(capsys, "store", "init", url, "--json")
    assert code == 0 and json.loads(out)["created"] is True
    code, out, _ = run(capsys, "store", "init", url, "--json")
    assert code == 0 and json.loads(out)["created"] is False
    code, out, err = run(capsys, "store", "save", url, files["folder"], files["paths"]["base"], "--name", "初稿",
                         "--user", "wang", "--json")
    assert code == 0, err
    assert json.loads(out)["version"] == 1
    code, out, _ = run(capsys, "store", "list", url, "--json")
    [v] = json.loads(out)["versions"]
    assert (v["version"], v["name"], v["user"], v["base"]) == (1, "初稿", "wang", 0)
    assert v["communities_changed"] == files["communities"] and v["created"]
    code, out, _ = run(capsys, "store", "list", url)
    assert "初稿" in out and "wang" in out
    for extra in ([], ["--dataset", files["folder"]]):
        target = tmp_path / f"got{len(extra)}.gpkg"
        code, out, err = run(capsys, "store", "get", url, "1", "--out", target, *extra)
        assert code == 0, err
        assert read_plan(target, files["ds"]).same_assignment(files["plans"]["base"])
        assert {"assignment", "grids"} <= set(pyogrio.list_layers(target)[:, 0])


def test_merge_conflict_exit_3_and_nothing_written(url, files, capsys):
    p = files["paths"]
    assert run(capsys, "store", "save", url, files["folder"], p["base"], "--name", "v1", "--user", "admin")[0] == 0
    code, out, err = run(capsys, "store", "save", url, files["folder"], p["x"], "--name", "X 社区", "--user", "李四",
                         "--base", "1", "--json")
    assert code == 0 and json.loads(out)["version"] == 2 and json.loads(out)["communities_changed"] == [
        files["communities"][0]]
    code, out, err = run(capsys, "store", "save", url, files["folder"], p["y"], "--name", "Y", "--user", "b",
                         "--base", "1", "--json")
    assert code == 0 and json.loads(out)["version"] == 3
    store = open_store(url)
    newest = store.load(3)
    for k in ("x", "y"):
        moved = files["plans"]["base"].diff(files["plans"][k])
        assert (newest.assignment.loc[moved.index] == moved["to_grid"]).all()      # both landed
    # the same community again from base 1: refused with exit 3, naming version 2, its user and the community
    code, out, err = run(capsys, "store", "save", url, files["folder"], p["x2"], "--name", "X2", "--user", "张三",
                         "--base", "1", "--json")
    assert code == 3
    assert "版本 2" in err and "李四" in err and files["communities"][0] in err and "Traceback" not in err
    payload = json.loads(out)
    assert payload["conflict"] is True and payload["conflicts"][0]["version"] == 2
    assert payload["conflicts"][0]["user"] == "李四"
    assert store.head() == 3 and len(store.list()) == 3


def test_bad_plans_and_datasets_exit_1_with_the_reason(url, files, capsys, tmp_path):
    p = files["paths"]
    # a building assigned twice
    a = pyogrio.read_dataframe(p["base"], layer="assignment", read_geometry=False)
    dup = pd.concat([a, a.iloc[[0]].assign(grid_id="OTHER")], ignore_index=True)
    twice = tmp_path / "twice.gpkg"
    pyogrio.write_dataframe(dup, twice, layer="assignment", driver="GPKG")
    code, _, err = run(capsys, "store", "save", url, files["folder"], twice, "--name", "x", "--user", "u")
    assert code == 1 and "twice.gpkg" in err and a.iloc[0]["building_id"] in err and "Traceback" not in err
    # a building missing
    short = tmp_path / "short.gpkg"
    pyogrio.write_dataframe(a.iloc[1:], short, layer="assignment", driver="GPKG")
    code, _, err = run(capsys, "store", "save", url, files["folder"], short, "--name", "x", "--user", "u")
    assert code == 1 and "no grid" in err
    assert open_store(url).head() == 0
    # another dataset after the first save
    assert run(capsys, "store", "save", url, files["folder"], p["base"], "--name", "v1", "--user", "u")[0] == 0
    other = tmp_path / "other"
    other.mkdir()
    ods = city(900, n_communities=4, seed=9)
    for name, layer in ods.layers().items():
        write_layers({name: layer}, other / f"{name}.gpkg", dataset=ods)
    code, _, err = run(capsys, "store", "save", url, other, p["base"], "--name", "v2", "--user", "u")
    assert code == 1 and "does not match" in err
    # not a store URL
    code, _, err = run(capsys, "store", "list", tmp_path / "x.csv")
    assert code == 1 and "gpkg" in err and "Traceback" not in err


def test_users_from_stdin_scope_and_no_password_echo(url, files, capsys, monkeypatch):
    secret = "Pa55-word-xyz"
    p = files["paths"]
    assert run(capsys, "store", "save", url, files["folder"], p["base"], "--name", "v1", "--user", "admin")[0] == 0
    code, out, err = run(capsys, "store", "user", "add", url, "admin", "--role", "admin", "--json",
                         stdin=secret + "\n", monkeypatch=monkeypatch)
    assert code == 0, err
    street = files["ds"].communities.loc[files["communities"][2], "street"]
    code, out, err = run(capsys, "store", "user", "add", url, "<b>wang</b>", "--scope", street,
                         "--display-name", "王 **五**", stdin=secret + "\n", monkeypatch=monkeypatch)
    assert code == 0, err
    code, out, err = run(capsys, "store", "user", "list", url, "--json")
    users = {u["user"]: u for u in json.loads(out)["users"]}
    assert users["<b>wang</b>"]["display_name"] == "王 **五**" and users["<b>wang</b>"]["scope"] == [street]
    assert secret not in out + err and "argon2" not in out
    code, out, err = run(capsys, "store", "user", "passwd", url, "admin", stdin="Another-pw-1\n", monkeypatch=monkeypatch)
    assert code == 0 and "Another-pw-1" not in out + err
    assert open_store(url).verify("admin", "Another-pw-1") is not None
    # a password on the command line is not an option
    code, _, _ = run(capsys, "store", "user", "add", url, "x", "--password", secret)
    assert code == 2
    # the planner changes a community outside their street: refused, exit 1, nothing written
    street_of_x = files["ds"].communities.loc[files["communities"][0], "street"]
    assert street_of_x != street
    code, out, err = run(capsys, "store", "save", url, files["folder"], p["x"], "--name", "x", "--user", "<b>wang</b>")
    assert code == 1 and files["communities"][0] in err and open_store(url).head() == 1
    code, out, err = run(capsys, "store", "save", url, files["folder"], p["y"], "--name", "y", "--user", "<b>wang</b>")
    assert code == 0, err
    code, out, err = run(capsys, "store", "user", "disable", url, "<b>wang</b>")
    assert code == 0 and open_store(url).verify("<b>wang</b>", secret) is None


def test_password_through_a_real_pipe(tmp_path):
    url = tmp_path / "s.gpkg"
    r = subprocess.run([sys.executable, "-m", "gridplan.cli", "store", "user", "add", str(url), "boss", "--role",
                        "admin"], input="piped-password-1\n", capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "piped-password-1" not in r.stdout + r.stderr
    assert open_store(url).verify("boss", "piped-password-1").role == "admin"


def test_audit_to_excel(url, files, capsys, tmp_path):
    from openpyxl import load_workbook
    p = files["paths"]
    run(capsys, "store", "save", url, files["folder"], p["base"], "--name", "v1", "--user", "admin")
    run(capsys, "store", "save", url, files["folder"], p["x"], "--name", "v2", "--user", "li", "--base", "1")
    code, out, err = run(capsys, "store", "audit", url, "2", "--json")
    rows = json.loads(out)["audit"]
    moved = files["plans"]["base"].diff(files["plans"]["x"])
    assert {r["grid_id"] for r in rows} == set(moved["from_grid"]) | set(moved["to_grid"])
    assert all(r["user"] == "li" for r in rows)
    code, out, err = run(capsys, "store", "audit", url, "--out", tmp_path / "a.xlsx")
    assert code == 0, err
    wb = load_workbook(tmp_path / "a.xlsx")
    assert wb["留痕"].cell(1, 1).value == "版本号"
