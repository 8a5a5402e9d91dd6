"""三无 → 三有 over time: the dated status history of compounds and the progress since a date.

A 三无小区 has no property management (物业), no competent department (主管部门) and no owners'
committee (业委会); it becomes 三有 when it has all three. 红色物业 are property companies with a
party organisation. The history is a table, one row per compound and date on which its status was
recorded (a survey, or each plan version):

====================  ==========================================================
``compound_id``       the compound (小区编号; ids of the compounds layer)
``date``              the day of the record (日期: 2024-03-31, 2024/3/31, 2024年3月31日)
``has_property_mgmt``, ``has_competent_dept``, ``has_owners_committee``   yes/no (是/否, 1/0 …)
``property_company``  the company's name (optional)
``red_property``      the company has a party organisation (红色物业; optional, default no)
====================  ==========================================================

It lives beside the layers: ``compound_status.csv`` in a dataset folder, or an attribute table
``compound_status`` in a dataset GeoPackage; :func:`gridplan.io.read_dataset` loads and validates
it when present (``Dataset.compound_status``). :func:`read_compound_status` /
:func:`write_compound_status` read and write it directly (CSV, Excel or GeoPackage table).

A compound's status on a day is its latest record on or before that day; a compound without any
record has the flags of the compounds layer all along; a compound whose first record comes later is
``unknown`` before it. :func:`sanwu_progress` lists the compounds that were 三无 on ``since`` and
where they stand on ``until`` (三有, partly there, still 三无) and which have 红色物业;
:func:`plot_sanwu_progress` draws the same as a chart for exports.
"""
from __future__ import annotations

import datetime as _dt
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ._atomic import atomic_path
from ._errors import Problem, ValidationError
from .tables import ROW, read_user_table

FLAGS: tuple[str, ...] = ("has_property_mgmt", "has_competent_dept", "has_owners_committee")
COLUMNS: list[str] = ["compound_id", "date", *FLAGS, "property_company", "red_property"]
FILE_NAME = "compound_status.csv"
TABLE_NAME = "compound_status"

STATUS_ALIASES: dict[str, tuple[str, ...]] = {
    "compound_id": ("小区编号", "小区编码", "小区id", "小区代码", "小区"),
    "date": ("日期", "记录日期", "变更日期", "登记日期", "date"),
    "has_property_mgmt": ("有物业", "有物业管理", "物业管理", "是否有物业"),
    "has_competent_dept": ("有主管部门", "主管部门", "是否有主管部门"),
    "has_owners_committee": ("有业委会", "业委会", "业主委员会", "是否有业委会"),
    "property_company": ("物业公司", "物业服务企业", "物业企业"),
    "red_property": ("红色物业", "是否红色物业", "红色物业企业"),
}

#: status names; the texts are in :mod:`gridplan.i18n` (``sanwu_status_<name>``)
STATUSES = ("sanwu", "partial", "sanyou", "unknown")


def _to_date(v):
    if v is None:
        return None
    if isinstance(v, (_dt.datetime, _dt.date)):
        return pd.Timestamp(v).normalize()
    s = str(v).strip()
    m = re.fullmatch(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?", s)
    if m:
        s = f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"):
        try:
            return pd.Timestamp(_dt.datetime.strptime(s, fmt)).normalize()
        except ValueError:
            continue
    return None


def check_compound_status(table, compounds=None, *, where: str = TABLE_NAME, sheet=None
                          ) -> tuple[pd.DataFrame, list[Problem]]:
    """Validate and type a status history (raw cells as read); returns the clean table and every
    problem (errors: missing columns, unknown compounds, bad dates or flags, repeated days;
    warnings: a red property without management, a latest record that disagrees with the layer)."""
    from .checks import _id_strings, _to_bool

    problems: list[Problem] = []
    t, pre = read_user_table(table, STATUS_ALIASES, layer=where, required=("compound_id", "date", *FLAGS), sheet=sheet)
    problems += pre
    if any(p.severity == "error" for p in problems):
        return pd.DataFrame(columns=COLUMNS), problems
    known = set(compounds.index.astype(str)) if compounds is not None else None
    names = ({str(v): str(k) for k, v in compounds["name"].items() if isinstance(v, str)}
             if compounds is not None and "name" in compounds.columns else {})
    rows = []
    for rec in t.to_dict("records"):
        feat = f"row {rec[ROW]}"
        ok = True
        cid = _id_strings(pd.Series([rec.get("compound_id")], dtype=object)).iloc[0]
        if cid is None:
            problems.append(Problem("error", where, feat, "小区编号为空 / no compound", "fill compound_id", "null_id"))
            ok = False
        elif known is not None and cid not in known:
            if cid in names:
                cid = names[cid]
            else:
                problems.append(Problem("error", where, feat, f"compound {cid!r} is not in the compounds layer / 小区不存在",
                                        "use the compound_id of the compounds layer", "dangling_ref"))
                ok = False
        d = _to_date(rec.get("date"))
        if d is None:
            problems.append(Problem("error", where, feat, f"日期 {rec.get('date')!r} is not a date / 日期无法识别",
                                    "write the date as 2024-03-31", "bad_date"))
            ok = False
        flags = {}
        for f in (*FLAGS, "red_property"):
            v = _to_bool(rec.get(f)) if rec.get(f) is not None else (False if f == "red_property" else None)
            if v is None or v == "invalid":
                problems.append(Problem("error", where, feat, f"`{f}` = {rec.get(f)!r} is not yes/no / 应填是或否",
                                        f"write 是/否 (or true/false, 1/0) in `{f}`", "bad_bool"))
                ok = False
            flags[f] = v
        if not ok:
            continue
        comp = rec.get("property_company")
        comp = str(comp).strip() if comp is not None and str(comp).strip() else None
        if flags["red_property"] and not flags["has_property_mgmt"]:
            problems.append(Problem("warning", where, feat, "红色物业 is marked but the compound has no property "
                                    "management", "mark has_property_mgmt, or clear red_property", "red_without_mgmt"))
        rows.append({"compound_id": cid, "date": d, **{f: bool(flags[f]) for f in FLAGS},
                     "property_company": comp, "red_property": bool(flags["red_property"]), ROW: rec[ROW]})
    out = pd.DataFrame(rows, columns=[*COLUMNS, ROW])
    dup = out.duplicated(["compound_id", "date"], keep=False)
    for cid, d in out.loc[dup, ["compound_id", "date"]].drop_duplicates().itertuples(index=False):
        r = out.loc[(out["compound_id"] == cid) & (out["date"] == d), ROW].tolist()
        problems.append(Problem("error", where, f"row {r[1]}", f"compound {cid} has two records on {d.date()} "
                                f"(rows {', '.join(map(str, r))}) / 同一天重复登记", "keep one record per compound and day",
                                "duplicate_record"))
    if compounds is not None and len(out) and all(f in compounds.columns for f in FLAGS):
        last = out.sort_values("date").groupby("compound_id").last()
        for cid, r in last.iterrows():
            layer = [compounds.loc[cid, f] for f in FLAGS]
            if all(isinstance(x, (bool, np.bool_)) for x in layer) and [bool(x) for x in layer] != [r[f] for f in FLAGS]:
                problems.append(Problem("warning", where, f"row {r[ROW]}", f"the latest record of compound {cid} "
                                        f"({r['date'].date()}) differs from its flags in the compounds layer / "
                                        "最新状态与小区图层不一致", "update the compounds layer or add a newer record",
                                        "status_mismatch"))
    out = out.sort_values(["compound_id", "date"], kind="stable").drop(columns=ROW).reset_index(drop=True)
    out["date"] = pd.to_datetime(out["date"])
    for c in ("compound_id", "property_company"):
        out[c] = out[c].astype(object)
    return out, problems


def read_compound_status(source, *, compounds=None, sheet=None) -> pd.DataFrame:
    """Read a status history from CSV/TXT (UTF-8, UTF-16 or GBK), Excel (.xlsx/.xls), a GeoPackage table
    ``compound_status`` or a DataFrame, validated against ``compounds`` (the compounds layer) when given.

    Raises
    ------
    ValidationError
        listing every problem (layer ``compound_status``, ``row N``). Warnings are in
        ``result.attrs["problems"]``.
    """
    src = source
    if not isinstance(source, pd.DataFrame) and Path(source).suffix.lower() == ".gpkg" and Path(source).exists():
        from .io import read_table_layer
        src = read_table_layer(source, TABLE_NAME)
    out, problems = check_compound_status(src, compounds, sheet=sheet)
    if any(p.severity == "error" for p in problems):
        raise ValidationError(problems)
    out.attrs["problems"] = problems
    return out


def write_compound_status(table: pd.DataFrame, path) -> Path:
    """Write a status history atomically: ``.csv`` (UTF-8 with BOM, dates as 2024-03-31) or into a
    GeoPackage as the attribute table ``compound_status`` (the file's other layers are kept)."""
    from .export import _plain_text
    path = Path(path)
    t = pd.DataFrame(table)[COLUMNS].copy()
    t["date"] = pd.to_datetime(t["date"]).dt.strftime("%Y-%m-%d")
    ext = path.suffix.lower()
    if ext == ".csv":
        with atomic_path(path) as tmp:
            _plain_text(t).to_csv(tmp, index=False, encoding="utf-8-sig")
    elif ext == ".gpkg":
        import pyogrio
        with atomic_path(path) as tmp:
            if path.exists():
                shutil.copy2(path, tmp)
            pyogrio.write_dataframe(t, tmp, layer=TABLE_NAME, driver="GPKG")
    else:
        raise ValueError(f"the status history is written as .csv or into a .gpkg, not {path.suffix or 'a folder'}")
    return path


# --------------------------------------------------------------------------- status on a day
def _status(flags: np.ndarray) -> np.ndarray:
    n = flags.sum(axis=1)
    return np.where(n == 0, "sanwu", np.where(n == len(FLAGS), "sanyou", "partial")).astype(object)


def _history(dataset, history):
    h = dataset.compound_status if history is None else history
    return pd.DataFrame(columns=COLUMNS) if h is None else h


def status_at(dataset, date, *, history: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each compound's status on ``date``: the latest record on or before it, else the compounds
    layer's flags for compounds without any record, else ``unknown``.

    Returns a DataFrame indexed by ``compound_id``: the three flags, ``property_company``,
    ``red_property``, ``status`` (``sanwu``/``partial``/``sanyou``/``unknown``) and ``as_of`` (the
    record's date; NaT when taken from the layer).
    """
    day = pd.Timestamp(date).normalize()
    comp = dataset.compounds
    h = _history(dataset, history)
    ids = comp.index.astype(str) if comp is not None else pd.Index(sorted(set(h["compound_id"])))
    out = pd.DataFrame(index=pd.Index(ids, name="compound_id"))
    for f in FLAGS:
        out[f] = (comp[f].map(lambda v: bool(v) if isinstance(v, (bool, np.bool_)) else None).to_numpy()
                  if comp is not None and f in comp.columns else None)
    out["property_company"] = comp["property_company"].to_numpy() if comp is not None and "property_company" in comp else None
    out["red_property"] = False
    out["as_of"] = pd.NaT
    recorded = set(h["compound_id"]) if len(h) else set()
    before = h[pd.to_datetime(h["date"]) <= day] if len(h) else h
    last = before.sort_values("date").groupby("compound_id").last() if len(before) else None
    unknown = [c for c in recorded if last is None or c not in last.index]
    if last is not None:
        li = last.index.intersection(out.index)
        for f in (*FLAGS, "property_company", "red_property"):
            out.loc[li, f] = last.loc[li, f].to_numpy()
        out.loc[li, "as_of"] = pd.to_datetime(last.loc[li, "date"]).to_numpy()
    flags = out[list(FLAGS)]
    known = flags.notna().all(axis=1).to_numpy()
    st = np.full(len(out), "unknown", dtype=object)
    st[known] = _status(flags[known].astype(bool).to_numpy())
    st[out.index.isin(unknown)] = "unknown"
    out["status"] = st
    out["red_property"] = out["red_property"].fillna(False).astype(bool)
    return out


def sanwu_progress(dataset, since, *, until=None, history: pd.DataFrame | None = None, lang: str = "zh") -> pd.DataFrame:
    """三无小区 since ``since``: the compounds 三无 on ``since`` or on ``until`` (default today) and where
    they stand.

    Returns
    -------
    DataFrame
        Indexed by ``compound_id``: ``name``, ``community_id``, ``status_since``, ``status_now``
        (``sanwu``/``partial``/``sanyou``/``unknown``), ``status_text`` (in ``lang``),
        ``left_sanwu_on`` (the first record after ``since`` that is no longer 三无),
        ``sanyou_on`` (the first that is 三有), ``red_property``, ``property_company``. ``attrs``:
        ``since``, ``until``, ``sanwu_since`` (三无 on ``since``), ``became_sanyou``, ``partial``,
        ``remain`` (still 三无), ``red_property`` (of them, now with 红色物业), ``new_sanwu``
        (三无 on ``until`` though partly or fully there on ``since``), ``unknown_since`` (compounds
        whose first record comes after ``since``).
    """
    from .i18n import t

    d0 = pd.Timestamp(since).normalize()
    d1 = pd.Timestamp(until if until is not None else _dt.date.today()).normalize()
    if d1 < d0:
        raise ValueError(f"until ({d1.date()}) is before since ({d0.date()})")
    h = _history(dataset, history)
    a, b = status_at(dataset, d0, history=h), status_at(dataset, d1, history=h)
    keep = (a["status"] == "sanwu") | (b["status"] == "sanwu")
    out = pd.DataFrame(index=a.index[keep])
    comp = dataset.compounds
    for c in ("name", "community_id"):
        out[c] = comp[c].reindex(out.index).to_numpy() if comp is not None and c in comp.columns else None
    out["status_since"] = a.loc[keep, "status"].to_numpy()
    out["status_now"] = b.loc[keep, "status"].to_numpy()
    out["status_text"] = [t(f"sanwu_status_{s}", lang) for s in out["status_now"]]
    hh = h[(pd.to_datetime(h["date"]) > d0) & (pd.to_datetime(h["date"]) <= d1)] if len(h) else h
    left: dict[str, pd.Timestamp] = {}
    sanyou: dict[str, pd.Timestamp] = {}
    if len(hh):
        hh = hh.sort_values("date")
        st = _status(hh[list(FLAGS)].astype(bool).to_numpy())
        for cid, d, s in zip(hh["compound_id"], pd.to_datetime(hh["date"]), st):
            if s != "sanwu":
                left.setdefault(cid, d)
            if s == "sanyou":
                sanyou.setdefault(cid, d)
    out["left_sanwu_on"] = pd.to_datetime(pd.Series([left.get(c) for c in out.index], index=out.index, dtype=object))
    out["sanyou_on"] = pd.to_datetime(pd.Series([sanyou.get(c) for c in out.index], index=out.index, dtype=object))
    out["red_property"] = b.loc[keep, "red_property"].to_numpy(dtype=bool)
    out["property_company"] = b.loc[keep, "property_company"].to_numpy()
    cohort = out["status_since"] == "sanwu"
    out.attrs.update({
        "since": str(d0.date()), "until": str(d1.date()), "sanwu_since": int(cohort.sum()),
        "became_sanyou": int((cohort & (out["status_now"] == "sanyou")).sum()),
        "partial": int((cohort & (out["status_now"] == "partial")).sum()),
        "remain": int((cohort & (out["status_now"] == "sanwu")).sum()),
        "red_property": int((cohort & out["red_property"]).sum()),
        "new_sanwu": int((out["status_since"].isin(["partial", "sanyou"]) & (out["status_now"] == "sanwu")).sum()),
        "unknown_since": int((a["status"] == "unknown").sum()),
    })
    out.index.name = "compound_id"
    rank = {"sanwu": 0, "partial": 1, "sanyou": 2, "unknown": 3}
    order = np.lexsort((out.index.to_numpy(dtype=str), out["community_id"].astype(str).to_numpy(),
                        out["status_now"].map(rank).to_numpy(), out["status_since"].map(rank).to_numpy()))
    return out.iloc[order]


def progress_timeline(dataset, since, *, until=None, history: pd.DataFrame | None = None, freq: str = "MS") -> pd.DataFrame:
    """Month by month (``freq``): of the compounds 三无 on ``since``, how many are 三无, partly there,
    三有 and with 红色物业 (the data of :func:`plot_sanwu_progress`)."""
    d0 = pd.Timestamp(since).normalize()
    d1 = pd.Timestamp(until if until is not None else _dt.date.today()).normalize()
    h = _history(dataset, history)
    cohort = status_at(dataset, d0, history=h)
    ids = cohort.index[cohort["status"] == "sanwu"]
    days = [d0, *[d for d in pd.date_range(d0, d1, freq=freq) if d > d0]]
    if days[-1] < d1:
        days.append(d1)
    rows = []
    for d in days:
        s = status_at(dataset, d, history=h).loc[ids]
        rows.append({"date": d, **{k: int((s["status"] == k).sum()) for k in ("sanwu", "partial", "sanyou")},
                     "red_property": int(s["red_property"].sum())})
    return pd.DataFrame(rows).set_index("date")


def timeline_labels(index) -> list[str]:
    """Axis labels for the dates of :func:`progress_timeline`: the month (``2024-03``) for a month's
    first day, the whole date for any other point (a ``since`` within a month, and today), so that
    no two points share a label (today and the first of its month would both read ``2026-12``).

    Examples
    --------
    >>> timeline_labels(pd.to_datetime(["2026-11-01", "2026-12-01", "2026-12-02"]))
    ['2026-11', '2026-12', '2026-12-02']
    """
    return [d.strftime("%Y-%m") if d.day == 1 else d.strftime("%Y-%m-%d") for d in pd.DatetimeIndex(index)]


def plot_sanwu_progress(dataset, since, *, until=None, history: pd.DataFrame | None = None, lang: str = "zh",
                        ax=None, freq: str = "MS"):
    """A chart of :func:`progress_timeline`: the 三无 compounds of ``since`` stacked by status over time,
    with a line for those with 红色物业. Returns the matplotlib Figure (a bare Agg figure, no pyplot
    state, safe in notebooks and threads); Chinese labels use the CJK font of the posters, set on each
    text so the figure can be saved anywhere without tofu boxes."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .i18n import t
    from .poster import _rc, cjk_font

    tl = progress_timeline(dataset, since, until=until, history=history, freq=freq)
    family = cjk_font()
    with matplotlib.rc_context(_rc(family)):
        if ax is None:
            fig = Figure(figsize=(8, 4.5), dpi=100)
            FigureCanvasAgg(fig)
            ax = fig.add_subplot(111)
        else:
            fig = ax.figure
        x = tl.index.to_pydatetime()
        ax.stackplot(x, tl["sanyou"], tl["partial"], tl["sanwu"], step="post",
                     colors=["#1a9850", "#fee08b", "#d95f0e"],
                     labels=[t("sanwu_status_sanyou", lang), t("sanwu_status_partial", lang),
                             t("sanwu_status_sanwu", lang)], alpha=0.85)
        ax.step(x, tl["red_property"], where="post", color="#b2182b", lw=2, label=t("sanwu_red_property", lang))
        ax.set_ylabel(t("sanwu_chart_y", lang), fontfamily=family)
        n0 = int(tl[["sanwu", "partial", "sanyou"]].iloc[0].sum())
        ax.set_title(t("sanwu_chart_title", lang, since=str(tl.index[0].date()), n=n0), fontfamily=family)
        ax.legend(loc="upper left", prop={"family": family, "size": 8})
        ax.set_ylim(0, max(1, n0) * 1.08)
        fig.autofmt_xdate()
    return fig
