"""The sample city's party-chain tables: a grid staff list, the 流动郁心站 schedule and a 三无/三有 history.

Made from a loaded sample dataset (so the staff list refers to the grids of its default partition,
``gridplan partition DATASET`` with seed 0), seeded and deterministic; everything is fictional —
names are drawn from common surnames and given-name characters, phone numbers have ``0000`` in the
middle (``138 0000 1234``), so they are obviously not real numbers.

* ``staff.csv`` — one 网格长 and one 专职网格员 per grid, 0–2 兼职网格员, a title row above the
  header (as such lists are kept); two deliberate irregularities for the checks: one grid has no
  网格长 and one person leads two neighbouring grids; two community-level workers have no grid.
* ``mobile_schedule.csv`` — each 流动郁心站 stands on 2–3 weekdays in a morning or afternoon window.
* ``compound_status.csv`` — every compound that is 三无 today stayed so since 2022-06-30; about a
  sixth of the others were 三无 then and reached today's status (as in the compounds layer) on a
  later date, some through an intermediate step; some of their property companies are 红色物业.

:func:`write_sample_chain` writes them beside a written sample (``python -m gridplan.sample`` calls
it); :func:`generate_chain` returns them as DataFrames.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ._atomic import atomic_path

__all__ = ["generate_chain", "write_sample_chain", "chain_targets", "FILES"]

FILES = {"staff": "staff.csv", "mobile_schedule": "mobile_schedule.csv", "compound_status": "compound_status.csv"}

_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
                 "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴孔向汤")
_GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建文辉力斌宇鑫浩凯欣怡婷雪琳晨阳帆佳颖思雨嘉")
_PREFIX = ("138", "139", "158", "177", "180", "181")
_DAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_WINDOWS = (("08:30", "11:30"), ("09:00", "11:00"), ("14:30", "17:00"), ("15:00", "17:30"))
_BASELINE = pd.Timestamp("2022-06-30")


def _name(rng, used: set) -> str:
    for _ in range(50):
        n = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN, size=int(rng.integers(1, 3))))
        if n not in used:
            used.add(n)
            return n
    n = f"{rng.choice(_SURNAMES)}{len(used)}"
    used.add(n)
    return n


def _phone(rng, used: set) -> str:
    """A unique fake number (a shared number would make two people one person)."""
    while True:
        p = f"{rng.choice(_PREFIX)}0000{int(rng.integers(0, 10000)):04d}"
        if p not in used:
            used.add(p)
            return p


def _staff(dataset, plan, rng) -> pd.DataFrame:
    comm = dataset.communities
    cname = {str(k): v for k, v in comm["name"].items()} if comm is not None and "name" in comm.columns else {}
    b = dataset.buildings
    gcomm = pd.Series(b["community_id"].to_numpy(), index=b.index).groupby(plan.assignment.reindex(b.index).to_numpy()) \
        .first()
    grids = plan.grid_ids
    used: set = set()
    phones: set = set()
    rows = []
    no_leader = grids[len(grids) // 3] if len(grids) > 2 else None
    double = grids[2 * len(grids) // 3] if len(grids) > 3 else None  # its leader also leads the next grid
    lead_of: dict[str, tuple[str, str]] = {}
    for k, g in enumerate(grids):
        c = cname.get(str(gcomm.get(g)), "")
        if g != no_leader:
            if k > 0 and grids[k - 1] == double:
                n, p = lead_of[double]
            else:
                n, p = _name(rng, used), _phone(rng, phones)
            lead_of[g] = (n, p)
            rows.append((n, p, "网格长", g, c))
        rows.append((_name(rng, used), _phone(rng, phones), "专职网格员", g, c))
        for _ in range(int(rng.integers(0, 3))):
            rows.append((_name(rng, used), _phone(rng, phones), "兼职网格员", g, c))
    for c in list(cname.values())[:2]:
        rows.append((_name(rng, used), _phone(rng, phones), "专职网格员", "", c))
    return pd.DataFrame(rows, columns=["姓名", "电话", "职务", "网格", "社区"])


def _schedule(dataset, rng) -> pd.DataFrame:
    st = dataset.stations
    rows = []
    if st is not None and "kind" in st.columns:
        for sid, r in st[st["kind"] == "mobile"].sort_index().iterrows():
            days = sorted(rng.choice(7, size=int(rng.integers(2, 4)), replace=False).tolist())
            s, e = _WINDOWS[int(rng.integers(len(_WINDOWS)))]
            rows.append((sid, r.get("name", sid), "、".join(_DAYS[d] for d in days), s, e))
    return pd.DataFrame(rows, columns=["站点编号", "站点名称", "星期", "开始时间", "结束时间"])


def _status(dataset, rng) -> pd.DataFrame:
    from .sanwu import COLUMNS, FLAGS
    comp = dataset.compounds
    if comp is None or not all(f in comp.columns for f in FLAGS):
        return pd.DataFrame(columns=COLUMNS)
    flags = comp[list(FLAGS)].astype(bool)
    sanwu = ~flags.any(axis=1)
    others = comp.index[~sanwu.to_numpy()].astype(str).to_numpy()
    improved: Iterable[str] = (np.sort(rng.choice(others, size=max(1, len(others) // 6), replace=False))
                               if len(others) else [])
    span = (pd.Timestamp("2025-10-31") - _BASELINE).days
    rows = []

    def rec(cid, day, f, company=None, red=False):
        rows.append({"compound_id": cid, "date": day, **dict(zip(FLAGS, map(bool, f))),
                     "property_company": company, "red_property": bool(red)})

    for cid in comp.index[sanwu.to_numpy()].astype(str):
        rec(cid, _BASELINE, (False, False, False))
    for cid in improved:
        rec(cid, _BASELINE, (False, False, False))
        final = tuple(bool(x) for x in flags.loc[cid])
        company = comp.loc[cid, "property_company"] if "property_company" in comp.columns else None
        company = company if isinstance(company, str) and company else None
        day = _BASELINE + pd.Timedelta(days=int(rng.integers(60, span)))
        if sum(final) > 1 and rng.random() < 0.5:  # an intermediate step: management first
            step = _BASELINE + pd.Timedelta(days=int(rng.integers(30, (day - _BASELINE).days)))
            rec(cid, step, (final[0], False, False) if final[0] else (False, final[1], False),
                company if final[0] else None)
        rec(cid, day, final, company, bool(company) and rng.random() < 0.4)
    out = pd.DataFrame(rows, columns=COLUMNS).sort_values(["compound_id", "date"], kind="stable")
    return out.reset_index(drop=True)


def generate_chain(dataset, *, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The three tables for a loaded sample dataset (same dataset and seed → same tables)."""
    from .engine import partition
    rng = np.random.default_rng(seed + 15)
    plan = partition(dataset, seed=0)
    return {"staff": _staff(dataset, plan, rng), "mobile_schedule": _schedule(dataset, rng),
            "compound_status": _status(dataset, rng)}


def chain_targets(out, *, driver: str = "GeoJSON", overwrite: bool = False) -> list[Path]:
    """Where :func:`write_sample_chain` writes; raises FileExistsError (before anything is written)
    when one exists and ``overwrite`` is false."""
    out = Path(out)
    folder = out.parent if out.suffix.lower() == ".gpkg" else out
    gpkg = driver == "GPKG"
    paths = [folder / f for k, f in FILES.items() if not (gpkg and k == "compound_status")]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"refusing to overwrite existing file(s): {', '.join(existing)}; "
                              "choose another folder or pass overwrite=True (--overwrite)")
    return paths


def write_sample_chain(out, *, seed: int = 0, driver: str = "GeoJSON", overwrite: bool = False) -> list[Path]:
    """Generate the tables for the sample written at ``out`` and write them beside it (CSV, UTF-8 with
    BOM; a GeoPackage sample gets the status history as its ``compound_status`` table)."""
    from .io import read_dataset
    from .sanwu import write_compound_status

    out = Path(out)
    chain_targets(out, driver=driver, overwrite=overwrite)
    src = (out if out.suffix.lower() == ".gpkg" else out / "city.gpkg") if driver == "GPKG" else out
    ds = read_dataset(src)
    tables = generate_chain(ds, seed=seed)
    folder = src.parent if driver == "GPKG" else out
    written = []
    for key in ("staff", "mobile_schedule"):
        p = folder / FILES[key]
        with atomic_path(p) as tmp:
            text = tables[key].to_csv(index=False, lineterminator="\n")
            if key == "staff":
                text = "示例城区网格员名单（虚构人员，仅供演示）\n" + text
            tmp.write_bytes(text.encode("utf-8-sig"))
        written.append(p)
    written.append(write_compound_status(tables["compound_status"], src if driver == "GPKG"
                                         else folder / FILES["compound_status"]))
    return written
