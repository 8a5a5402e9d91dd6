"""Run every mess of ``tests/messes.py`` (other offices' files) end to end through the CLI and the library.

For each case the user's path: ``validate``, then ``partition --json``, ``coverage --json`` and
``export data`` (datasets), or ``roster --json`` (rosters), in-process through ``gridplan.cli.main``
so that a traceback is caught and classed as a defect. Outcomes:

* ``ok`` — exit 0 and the numbers right: households preserved by the plan, every building assigned,
  loaded and exported positions within a metre of the truth, roster counts as built, no unmasked name
  or ID number in any output file, input files unchanged;
* ``clear error`` — exit 1 with a message naming the file/layer and the feature/row, input files unchanged;
* ``DEFECT`` — anything else (with the reason).

Usage::

    python3 benchmarks/bench_messes.py [-k SUBSTRING] [--keep DIR]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
from malformed import snapshot  # noqa: E402
from messes import MESSES, Mess, roster_people, truth  # noqa: E402


def cli(*argv) -> tuple[int | str, str, str]:
    """``gridplan.cli.main(argv)`` in-process: (exit status or "traceback", stdout, stderr)."""
    from gridplan.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:
            rc = e.code
        except BaseException:  # noqa: BLE001 - any escape is the defect we look for
            traceback.print_exc(file=err)
            rc = "traceback"
    return rc, out.getvalue(), err.getvalue()


def _positions(gdf: gpd.GeoDataFrame, ids, tr) -> float:
    """The largest distance (m) of a feature's centroid from the true building centroid."""
    from gridplan.crs import metric_crs_for
    m = metric_crs_for(float(tr["lon"].mean()), float(tr["lat"].mean()))
    g = gdf.to_crs(m)
    c = g.geometry.centroid
    t = gpd.GeoSeries(gpd.points_from_xy(tr["lon"], tr["lat"]), index=tr.index, crs=4326).to_crs(m)
    d = [c.iloc[i].distance(t[str(b)]) for i, b in enumerate(ids) if str(b) in t.index]
    return max(d) if d else float("nan")


def run_dataset(m: Mess, path: Path, opts: list[str], work: Path) -> tuple[str, str]:
    tr = truth()
    rc, out, err = cli("validate", path, *opts)
    if rc == "traceback":
        return "DEFECT", "validate: traceback " + err.strip().splitlines()[-1]
    if m.expect == "error":
        if rc != 1:
            return "DEFECT", f"validate exit {rc}, expected a clear error"
        missing = [s for s in m.mentions if s not in err + out]
        if missing:
            return "DEFECT", f"message lacks {missing}: {err.strip()[:300]}"
        lines = [ln.strip() for ln in (out + err).splitlines() if ln.strip().startswith("- 错误")]
        return "clear error", (lines[0] if lines else err.strip())[:110]
    if rc != 0:
        return "DEFECT", f"validate exit {rc}: {(err or out).strip()[:400]}"
    plan = work / "plan.gpkg"
    rc, out, err = cli("partition", path, *opts, "--json", "--out", plan)
    if rc != 0:
        return "DEFECT", f"partition exit {rc}: {err.strip()[-300:]}"
    res = json.loads(out)
    if m.name.startswith("city_"):              # a generated city: its own totals
        from messes import _city_households
        m.households, m.buildings = _city_households()
    want_h = m.households if m.households is not None else int(tr["households"].sum())
    if res["households"] != want_h:
        return "DEFECT", f"plan holds {res['households']} households, the files {want_h}"
    from gridplan.io import read_dataset, read_table_layer
    asg = read_table_layer(plan, "assignment")
    want_b = m.buildings if m.buildings is not None else len(tr)
    if len(asg) != want_b or asg["grid_id"].isna().any():
        return "DEFECT", f"{len(asg)} buildings assigned, expected {want_b}"
    ds = read_dataset(path, **_kwargs(opts))
    if m.position_m is not None:
        b = ds.buildings
        d = _positions(b, b.index, tr)
        if not d <= m.position_m:
            return "DEFECT", f"loaded buildings lie up to {d:.1f} m from their true place"
    rc, out, err = cli("coverage", path, *opts, "--json", "--out", work / "cov.gpkg", "--plan", plan,
                       "--no-isochrones")
    if rc != 0:
        return "DEFECT", f"coverage exit {rc}: {err.strip()[-300:]}"
    cov = json.loads(out)
    if cov["households"] != want_h:
        return "DEFECT", f"coverage counts {cov['households']} households, the files {want_h}"
    exp = work / "export"
    rc, out, err = cli("export", "data", path, *opts, "--plan", plan, "--out", exp, "--formats", "geojson,gpkg,shp")
    if rc != 0:
        return "DEFECT", f"export data exit {rc}: {err.strip()[-300:]}"
    if m.position_m is not None:
        for f in (exp / "assignment.geojson", exp / "grids.gpkg", exp / "assignment_shp.zip"):
            a = gpd.read_file(f, layer="assignment") if f.suffix == ".gpkg" else gpd.read_file(f)
            if f.suffix != ".geojson" and a.crs is not None and ds.source_crs is not None \
                    and not a.crs.equals(ds.source_crs) and _kwargs(opts).get("coord_system") is None:
                return "DEFECT", f"exported {f.name} is in {a.crs.to_epsg()}, the input in {ds.source_crs.to_epsg()}"
            system = _kwargs(opts).get("coord_system")
            if system in ("gcj02", "bd09"):   # written back in the offset system: compare in WGS 84
                from gridplan.crs import to_wgs84
                a = a.to_crs(4326)
                a = a.set_geometry(gpd.GeoSeries(to_wgs84(a.geometry.to_numpy(), system), crs=4326))
            d = _positions(a, a["building_id" if "building_id" in a else "bldg_id"], tr)   # a .dbf name has 10 chars
            if not d <= m.position_m:
                return "DEFECT", f"exported {f.name} puts buildings up to {d:.1f} m from their true place"
    if m.exports:
        bad = _check_exports(path, opts, plan, work)
        if bad:
            return "DEFECT", bad
    return "ok", f"{res['grids']} grids, {want_h} households, {len(ds.problems)} warning(s)"


def _check_exports(path: Path, opts: list[str], plan: Path, work: Path) -> str | None:
    """The ledger (Excel/CSV) and the HTML map: written, user text inert (no formula, no live HTML)."""
    from messes import HOSTILE_NAME, PERSONAL
    out = work / "maps"
    for kind in ("ledger", "html"):
        rc, _, err = cli("export", kind, path, *opts, "--plan", plan, "--out", out / kind)
        if rc != 0:
            return f"export {kind} exit {rc}: {err.strip()[-300:]}"
    files = [f for f in out.rglob("*") if f.is_file()]
    for f in files:
        if f.suffix == ".xlsx":
            import openpyxl
            wb = openpyxl.load_workbook(f)
            for ws in wb.worksheets:
                for row in ws.iter_rows():
                    for c in row:
                        if c.data_type == "f" or (isinstance(c.value, str) and c.value[:1] in "=+-@" and
                                                  c.value not in ("-",)):
                            return f"{f.name} [{ws.title}] {c.coordinate} holds a formula: {c.value!r:.60}"
        elif f.suffix == ".csv":
            import csv
            text = f.read_bytes().decode("utf-8-sig", errors="replace")
            for row in csv.reader(io.StringIO(text)):
                hit = [c for c in row if c[:1] in ("=", "+", "@") or (c[:1] == "-" and c[1:2].isalpha())]
                if hit:
                    return f"{f.name} holds a cell a spreadsheet runs as a formula: {hit[0][:60]}"
        elif f.suffix == ".html":
            text = f.read_text(encoding="utf-8", errors="replace")
            if HOSTILE_NAME.split("=HYPER")[0] in text:
                return f"{f.name} carries the user's <img onerror> unescaped"
    if not files:
        return "the exports wrote no file"
    secrets = [*PERSONAL.values(), "13812345678", "钱多多"]
    for f in [*files, *(work / "export").rglob("*")]:
        if f.is_file():
            text = _file_text(f) if f.suffix in (".xlsx", ".gpkg") else _unzipped_text(f)
            leak = [x for x in secrets if x in text]
            if leak:
                return f"{f.name} carries personal data from the user's columns ({leak[0][:3]}…)"
    return None


def _unzipped_text(f: Path) -> str:
    if f.suffix == ".zip":
        import zipfile
        with zipfile.ZipFile(f) as z:
            return "\n".join(z.read(n).decode("utf-8", errors="replace") for n in z.namelist())
    return f.read_bytes().decode("utf-8", errors="replace")


def _kwargs(opts: list[str]) -> dict:
    kw = {}
    for flag, key in (("--assume-crs", "assume_crs"), ("--coord-system", "coord_system")):
        if flag in opts:
            kw[key] = opts[opts.index(flag) + 1]
    cmap = dict(opts[i + 1].split("=", 1) for i, o in enumerate(opts) if o == "--map")
    if cmap:
        kw["column_map"] = cmap
    return kw


def run_roster(m: Mess, data: Path, rosters: list[Path], work: Path) -> tuple[str, str]:
    out_dir = work / "roster_out"
    if m.expect == "error":     # rows that cannot be placed: reported with the reason, none counted
        rc, out, err = cli("roster", data, *rosters, "--out", out_dir)
        missing = [s for s in m.mentions if s not in out + err]
        if rc not in (0, 1) or missing:
            return "DEFECT", f"exit {rc}, message lacks {missing}: {(out + err).strip()[:300]}"
        return "clear error", (out + err).strip().splitlines()[1][:110] if rc == 0 else err.strip()[:110]
    rc, out, err = cli("roster", data, *rosters, "--out", out_dir, "--json")
    if rc != 0:
        return ("DEFECT" if rc == "traceback" or m.expect == "ok" else "clear error"), f"exit {rc}: {err.strip()[-300:]}"
    res = json.loads(out)
    wrong = {k: (res.get(k), v) for k, v in m.roster_expect.items() if res.get(k) != v}
    if wrong:
        return "DEFECT", f"roster counts (got, want): {wrong}"
    ppl = roster_people()
    secrets = [*ppl["身份证号"], *ppl["身份证号"].str[:6].add(ppl["身份证号"].str[8:17]), *ppl["姓名"]]
    for f in out_dir.rglob("*"):
        if f.is_file():
            text = _file_text(f)
            leak = [s for s in secrets if s in text]
            if leak:
                return "DEFECT", f"{f.name} holds unmasked personal data, e.g. {leak[0][:3]}…"
    return "ok", f"{res['matched_rows']} rows matched, {res['duplicate_rows']} duplicate(s)"


def _file_text(f: Path) -> str:
    if f.suffix == ".xlsx":
        import openpyxl
        wb = openpyxl.load_workbook(f, read_only=True)
        return "\n".join(str(c) for ws in wb.worksheets for r in ws.iter_rows(values_only=True) for c in r
                         if c is not None)
    if f.suffix == ".gpkg":
        import pyogrio
        return "\n".join(gpd.read_file(f, layer=str(n)).to_csv() for n, _ in pyogrio.list_layers(f))
    return f.read_bytes().decode("utf-8", errors="replace")


def run(m: Mess, folder: Path) -> tuple[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / "in"
    src.mkdir()
    work = folder / "work"
    work.mkdir()
    if m.kind == "roster":
        data, rosters = m.build(src)
        before = snapshot(src)
        outcome = run_roster(m, data, rosters, work)
    else:
        path, opts = m.build(src)
        before = snapshot(src)
        outcome = run_dataset(m, path, opts, work)
    if snapshot(src) != before:
        return "DEFECT", "an input file was modified"
    return outcome


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="", help="run the cases whose name contains this")
    ap.add_argument("--keep", default=None, help="keep the files under this folder")
    args = ap.parse_args(argv)
    np.seterr(all="ignore")
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gridplan-messes-"))
    rows = []
    for m in MESSES:
        if args.k not in m.name:
            continue
        t0 = time.perf_counter()
        try:
            outcome, note = run(m, base / m.name)
        except Exception as e:  # noqa: BLE001 - a failure of the library call counts as a defect
            outcome, note = "DEFECT", f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
        rows.append((m.name, outcome, time.perf_counter() - t0, note))
        print(f"{m.name:42s} {outcome:12s} {rows[-1][2]:6.1f}  {note}", flush=True)
    print()
    print("| case | outcome | s |\n|---|---|---|")
    for name, outcome, s, _ in rows:
        print(f"| {name} | {outcome} | {s:.1f} |")
    n_def = sum(r[1] == "DEFECT" for r in rows)
    print(f"\n{len(rows)} cases: {sum(r[1] == 'ok' for r in rows)} ok, "
          f"{sum(r[1] == 'clear error' for r in rows)} clear error, {n_def} DEFECT")
    if not args.keep:
        import shutil
        shutil.rmtree(base, ignore_errors=True)
    return 1 if n_def else 0


if __name__ == "__main__":
    sys.exit(main())
