"""Benchmark: household rosters (住户台账) of 60,000 rows (three communities of the sample city) to
building counts — target under 10 s — against a plain pandas baseline, on several kinds of messy roster.

    python benchmarks/bench_roster.py [--rows 60000] [--repeat 3] [--kinds xlsx_clean,csv_gbk,…]

Each kind is the same people written differently (header layout and title rows, encoding, spellings of
楼栋/单元/户室, merged cells, extra blank columns, one sheet per community). About 1 % of the rows name a
building the map does not have and 0.5 % repeat a person, so the expected match rate is known.

Per kind it prints: gridplan's time (read + match + count: ``apply_roster``; and with the output folder
written: ``+write``), the match rate against the expected one, the households found against the truth;
and the plain pandas baseline — ``read_excel``/``read_csv`` told the header row, then a naive
``groupby`` on the raw 小区/楼栋 columns — with its time, the share of rows whose raw address equals a
map address as written, the households it would count, and the time ratio. The default pandas engine
reads xlsx with openpyxl; ``pandas+calamine`` reads with the same engine gridplan uses, for a fair
reading-speed comparison. Prints a table and one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KINDS = ("xlsx_clean", "xlsx_title_merged", "xlsx_sheet_per_community", "xls_sheet_per_community", "csv_gbk",
         "csv_utf8_bom_blank_columns", "txt_tab_gb18030")
_CN = "〇一二三四五六七八九"
_FW = str.maketrans("0123456789", "０１２３４５６７８９")


def _cn(n: int) -> str:
    if n < 10:
        return _CN[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN[tens]) + "十" + (_CN[ones] if ones else "")


def make_people(ds, n_rows: int, seed: int = 7):
    """The people of the three most populous communities: a DataFrame of raw fields (canonical spellings:
    building number as in the map, unit and room as digits) plus the truth per building."""
    from gridplan.roster import id_check_digit
    rng = np.random.default_rng(seed)
    b = ds.buildings
    b = b[b["building_no"].notna() & b["compound_id"].notna() & (b["households"] > 0)]
    b = b[~b.duplicated(["compound_id", "building_no"], keep=False)]         # leave the sample's slip out
    top = b.groupby("community_id")["households"].sum().nlargest(3).index.tolist()
    b = b[b["community_id"].isin(top)]
    hh_total = int(b["households"].sum())
    mean = n_rows / hh_total
    comp_name = ds.compounds["name"]
    comm_name = ds.communities["name"]
    recs = []
    truth = {}
    for bid, row in b.iterrows():
        units = max(int(row["units"] or 1), 1)
        for h in range(int(row["households"])):
            k = max(1, int(rng.poisson(mean - 1) + 1))
            room = f"{h // units // 2 + 1}{h // units % 2 + 1:02d}"
            for _ in range(k):
                recs.append((comm_name[row["community_id"]], comp_name[row["compound_id"]], row["building_no"],
                             h % units + 1, room, bid, row["community_id"]))
    people = pd.DataFrame(recs, columns=["社区", "小区", "楼栋", "单元", "户室", "building_id", "community_id"])
    people = people.iloc[:n_rows].copy() if len(people) >= n_rows else people
    seq = np.arange(len(people))
    first17 = [f"510682{1940 + int(y)}{int(m):02d}{int(d):02d}{int(s) % 1000:03d}" for y, m, d, s in
               zip(rng.integers(0, 80, len(people)), rng.integers(1, 13, len(people)), rng.integers(1, 29, len(people)),
                   seq)]
    # (birth date, sequence) pairs may repeat: make IDs unique by construction below
    ids, seen = [], set()
    for f in first17:
        while f in seen:
            f = f[:14] + f"{(int(f[14:]) + 1) % 1000:03d}"
        seen.add(f)
        ids.append(f + id_check_digit(f))
    people["身份证号"] = ids
    people["姓名"] = ["王" + "明华伟芳"[i % 4] for i in range(len(people))]
    people["政治面貌"] = np.where(rng.random(len(people)) < 0.07, "中共党员", "群众")
    people["人员类别"] = rng.choice(["常住", "流动", "寄住"], len(people), p=[0.8, 0.15, 0.05])
    g = people.groupby("building_id")
    truth = pd.DataFrame({"households": g.apply(lambda x: len(set(zip(x["单元"], x["户室"])))), "persons": g.size()})
    # 1 % rows at a building the map lacks, 0.5 % people entered twice
    bad = rng.choice(len(people), len(people) // 100, replace=False)
    extra = people.iloc[bad].copy()
    extra["楼栋"] = "999"
    extra["身份证号"] = [f[:14] + "999" + id_check_digit(f[:14] + "999") for f in extra["身份证号"]]
    extra["building_id"] = None
    dups = people.iloc[rng.choice(len(people), len(people) // 200, replace=False)].copy()
    allp = pd.concat([people, extra, dups], ignore_index=True)
    allp = allp.iloc[rng.permutation(len(allp))].reset_index(drop=True)
    allp = allp.sort_values(["community_id", "小区"], kind="stable").reset_index(drop=True)
    return allp, truth, {"unmatched": len(extra), "duplicate": len(dups)}


def messy(people: pd.DataFrame, rng) -> pd.DataFrame:
    """The same rows with the building, unit and room spelt every which way."""
    out = people.copy()
    n = len(out)
    bno = out["楼栋"].astype(str)
    pick = rng.integers(0, 9, n)
    forms = [bno + "栋", bno + "号楼", bno + "幢", bno + "#", bno + "号", bno.map(lambda s: _cn(int(s)) + "号楼" if
             s.isdigit() and int(s) < 100 else s + "栋"), "0" + bno + "栋", bno.map(lambda s: s.translate(_FW) + "栋"), bno]
    out["楼栋"] = np.choose(pick, [f.to_numpy(dtype=object) for f in forms])
    u = out["单元"].astype(int)
    upick = rng.integers(0, 3, n)
    out["单元"] = np.choose(upick, [(u.astype(str) + "单元").to_numpy(dtype=object),
                                    (u.map(_cn) + "单元").to_numpy(dtype=object), u.astype(str).to_numpy(dtype=object)])
    rpick = rng.random(n)
    out["户室"] = np.where(rpick < 0.2, "0" + out["户室"], np.where(rpick < 0.4, out["户室"] + "室", out["户室"]))
    return out


COLUMNS = ["社区", "小区", "楼栋", "单元", "户室", "姓名", "身份证号", "人员类别", "政治面貌"]


def write_kind(kind: str, people: pd.DataFrame, folder: Path, rng) -> tuple[Path, int, list[str]]:
    """Write one kind; returns the file, its header row (0-based, for the pandas baseline) and its
    column names for 小区 and 楼栋."""
    from openpyxl import Workbook
    data = people[COLUMNS] if kind == "xlsx_clean" else messy(people, rng)[COLUMNS]
    if kind == "xlsx_clean":
        data = data.assign(楼栋=people["楼栋"].astype(str) + "栋")
        p = folder / "clean.xlsx"
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("台账")
        ws.append(COLUMNS)
        for r in data.itertuples(index=False):
            ws.append(list(r))
        wb.save(p)
        return p, 0, ["小区", "楼栋"]
    if kind == "xlsx_title_merged":
        p = folder / "title_merged.xlsx"
        wb = Workbook()
        ws = wb.active
        header = ["序号", "社区", "小区名称", "", "楼栋号", "单元", "户室", "姓名", "公民身份号码", "人员类别", "政治面貌",
                  "备注"]
        ws.append(["什邡市实有人口登记表（基准测试）"])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
        ws.append([])
        ws.append(header)
        vals = data.to_numpy(dtype=object)
        for i, r in enumerate(vals):
            ws.append([i + 1, r[0], r[1], None, r[2], r[3], r[4], r[5], r[6], r[7], r[8], None])
        start = 0
        names = data["小区"].tolist()
        for i in range(1, len(names) + 1):       # merge the 小区 cells of each compound
            if i == len(names) or names[i] != names[start]:
                if i - start > 1:
                    ws.merge_cells(start_row=4 + start, start_column=3, end_row=3 + i, end_column=3)
                start = i
        wb.save(p)
        return p, 2, ["小区名称", "楼栋号"]
    if kind in ("xlsx_sheet_per_community", "xls_sheet_per_community"):
        header = ["小区", "楼号", "单元号", "房号", "人员姓名", "身份证号码", "人员类别", "政治面貌"]
        groups = list(data.groupby("社区", sort=True))
        if kind.startswith("xlsx"):
            p = folder / "per_community.xlsx"
            wb = Workbook(write_only=True)
            for comm, g in groups:
                ws = wb.create_sheet(comm)
                ws.append([f"{comm}住户台账"])
                ws.append(header)
                for r in g[COLUMNS[1:]].itertuples(index=False):
                    ws.append(list(r))
            wb.save(p)
        else:
            import xlwt
            p = folder / "per_community.xls"
            wb = xlwt.Workbook(encoding="utf-8")
            for comm, g in groups:
                ws = wb.add_sheet(comm)
                ws.write(0, 0, f"{comm}住户台账")
                for j, h in enumerate(header):
                    ws.write(1, j, h)
                for i, r in enumerate(g[COLUMNS[1:]].itertuples(index=False), start=2):
                    for j, v in enumerate(r):
                        ws.write(i, j, v)
            wb.save(str(p))
        return p, 1, ["小区", "楼号"]
    if kind == "csv_gbk":
        p = folder / "gbk.csv"
        d = data.copy()
        d.loc[rng.random(len(d)) < 0.3, "社区"] = ""
        p.write_bytes(("住户台账（基准测试）\r\n" + d.to_csv(index=False, lineterminator="\r\n")).encode("gbk"))
        return p, 1, ["小区", "楼栋"]
    if kind == "csv_utf8_bom_blank_columns":
        p = folder / "utf8bom.csv"
        d = data.copy()
        d.insert(2, "", "")
        d.insert(5, " ", "")
        text = "\r\n\r\n\r\n" + d.to_csv(index=False, lineterminator="\r\n")
        p.write_bytes(text.encode("utf-8-sig"))
        return p, 3, ["小区", "楼栋"]
    if kind == "txt_tab_gb18030":
        p = folder / "tab.txt"
        p.write_bytes(("实有人口\n" + data.to_csv(index=False, sep="\t")).encode("gb18030"))
        return p, 1, ["小区", "楼栋"]
    raise ValueError(kind)


def pandas_baseline(path: Path, header: int, cols: list[str], addresses: set, engine: str | None):
    """What a plain pandas script does: read (told the header row), group on the raw columns."""
    t0 = time.perf_counter()
    ext = path.suffix.lower()
    if ext in (".xlsx", ".xls"):
        engine = engine or ("openpyxl" if ext == ".xlsx" else "xlrd")     # pandas' default engines
        frames = pd.read_excel(path, sheet_name=None, header=header, dtype=str, engine=engine)
        df = pd.concat(frames.values(), ignore_index=True)
    else:
        enc = {"gbk.csv": "gbk", "utf8bom.csv": "utf-8-sig", "tab.txt": "gb18030"}[path.name]
        df = pd.read_csv(path, header=header, dtype=str, encoding=enc, sep="\t" if ext == ".txt" else ",",
                         skip_blank_lines=False)
    unit = next(c for c in df.columns if str(c).startswith("单元"))
    room = next(c for c in df.columns if str(c) in ("户室", "房号"))
    hh = df.drop_duplicates([*cols, unit, room]).groupby(cols, sort=False).size()
    seconds = time.perf_counter() - t0
    raw = list(zip(df[cols[0]].fillna(""), df[cols[1]].fillna("")))
    exact = float(np.mean([a in addresses for a in raw]))
    return seconds, exact, int(hh.sum()), len(df)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=60000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()

    from gridplan.demo import load_sample
    from gridplan.roster import apply_roster, write_roster_output

    ds = load_sample()
    t0 = time.perf_counter()
    people, truth, injected = make_people(ds, args.rows)
    gen_s = time.perf_counter() - t0
    b = ds.buildings
    addresses = {(ds.compounds.at[c, "name"], str(n)) for c, n in zip(b["compound_id"], b["building_no"])
                 if c is not None and n is not None}
    expected_rate = 1 - (injected["unmatched"] + injected["duplicate"]) / len(people)
    rows_out, results = [], {}
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        for kind in args.kinds.split(","):
            t0 = time.perf_counter()
            path, header, cols = write_kind(kind, people, folder, rng)
            write_s = time.perf_counter() - t0
            times, cpu = [], []
            for _ in range(args.repeat):
                t0, c0 = time.perf_counter(), time.process_time()
                res = apply_roster(ds, path)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            t0 = time.perf_counter()
            write_roster_output(res, folder / f"out_{kind}", force=True)
            out_s = time.perf_counter() - t0
            s = res.summary
            got = res.buildings.dropna(subset=["households"]).set_index("building_id")["households"].astype(int)
            hh_ok = float((got.reindex(truth.index) == truth["households"]).mean())
            r = {"kind": kind, "rows": s["rows"], "mb": round(path.stat().st_size / 1e6, 1),
                 "gridplan_s": round(float(np.median(times)), 2), "gridplan_cpu_s": round(float(np.median(cpu)), 2),
                 "with_output_s": round(float(np.median(times)) + out_s, 2),
                 "match_rate": round(s["matched_rows"] / s["rows"], 4), "expected_rate": round(expected_rate, 4),
                 "unmatched": s["unmatched_rows"], "duplicates": s["duplicate_rows"],
                 "buildings_exact": round(hh_ok, 4), "write_fixture_s": round(write_s, 1)}
            if not args.no_baseline:
                engines = [None, "calamine"] if path.suffix.lower() in (".xlsx", ".xls") else [None]
                for eng in engines:
                    label = "pandas" if eng is None else "pandas+calamine"
                    if eng is None and path.suffix.lower() == ".xls":
                        try:
                            import xlrd  # noqa: F401 - pandas' default .xls engine
                        except ImportError:
                            continue
                    bs = []
                    for _ in range(args.repeat):
                        sec, exact, hh, nrows = pandas_baseline(path, header, cols, addresses, eng)
                        bs.append(sec)
                    r[f"{label}_s"] = round(float(np.median(bs)), 2)
                    r[f"{label}_exact_match"] = round(exact, 4)
                    r[f"{label}_households"] = hh
                    r[f"ratio_gridplan_over_{label}"] = round(float(np.median(times)) / float(np.median(bs)), 2)
            rows_out.append(r)
            results[kind] = r
            print(json.dumps(r, ensure_ascii=False), flush=True)
    table = pd.DataFrame(rows_out).set_index("kind")
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table)
    summary = {"rows": len(people), "buildings": len(truth), "true_households": int(truth["households"].sum()),
               "generate_s": round(gen_s, 1), "target_s": 10, "max_gridplan_s": float(table["gridplan_s"].max()),
               "load_avg_1min": round(os.getloadavg()[0], 1), "cpus": os.cpu_count()}
    print(json.dumps({"summary": summary, "kinds": results}, ensure_ascii=False))


if __name__ == "__main__":
    main()
