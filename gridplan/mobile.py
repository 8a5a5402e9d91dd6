"""流动郁心站 (mobile service stops): their weekly schedule and who they reach on which day.

A mobile stop (``kind == "mobile"`` in the stations layer) stands at a gathering place on some
weekdays for a time window. The schedule is a table — ``station_id``, ``weekday`` (1–7 or
周一…周日; lists such as ``周二、周四`` and ranges such as ``周一至周五`` are expanded), ``start``,
``end`` (``08:30``; or one column ``09:00-11:30``) — read from a CSV/Excel file with
:func:`read_schedule` or from such columns on the stations layer with :func:`schedule_from_stations`.

:func:`mobile_coverage` decides per building which stops it reaches within a short walk (default 5
minutes at 4 km/h, about 333 m; exact on the walking network as in :mod:`gridplan.reach`, via
:func:`gridplan.stations.pairs_within`) and so on which weekdays it is served: per building a set of
weekdays, per grid the households reached on each weekday, per stop its schedule and reach.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._errors import Problem, ValidationError
from .model import Dataset, Plan
from .tables import ROW, read_user_table

#: weekday keys of the result columns (1 = Monday … 7 = Sunday)
WEEKDAY_KEYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAYS_ZH: tuple[str, ...] = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
WEEKDAYS_EN: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_DAY: dict[str, int] = {}
for _i, (_zh, _en) in enumerate(zip(WEEKDAYS_ZH, WEEKDAYS_EN), start=1):
    _c = _zh[1]
    for _k in (str(_i), _zh, f"星期{_c}", f"礼拜{_c}", _c, _en.lower(), ("monday", "tuesday", "wednesday", "thursday",
                                                                        "friday", "saturday", "sunday")[_i - 1]):
        _DAY[_k] = _i
for _k in ("周天", "星期天", "礼拜天", "天"):
    _DAY[_k] = 7

SCHEDULE_ALIASES: dict[str, tuple[str, ...]] = {
    "station_id": ("站点编号", "站点", "站点编码", "流动站", "流动站编号", "驿站编号", "station"),
    "station_name": ("站点名称", "名称", "流动站名称", "name"),
    "weekday": ("星期", "周几", "服务日", "服务日期", "工作日", "weekday", "weekdays", "day", "days"),
    "start": ("开始时间", "开始", "起始时间", "start", "from", "start_time"),
    "end": ("结束时间", "结束", "截止时间", "end", "to", "end_time"),
    "hours": ("时间", "时段", "服务时间", "服务时段", "time", "hours", "window"),
}

SCHEDULE_COLUMNS = ["station_id", "weekday", "start", "end"]


def weekday_label(day: int, lang: str = "zh") -> str:
    """The name of weekday ``day`` (1 = Monday … 7 = Sunday) in ``lang``."""
    return (WEEKDAYS_ZH if lang == "zh" else WEEKDAYS_EN)[int(day) - 1]


def parse_weekdays(text) -> list[int]:
    """Weekdays as typed: ``"周二、周四"``, ``"1,3,5"``, ``"周一至周五"``, ``"Mon-Fri"`` → ``[1, …]``.

    Raises ValueError naming the part that is not a weekday.
    """
    if text is None:
        raise ValueError("no weekday given")
    if isinstance(text, (int, np.integer)) or (isinstance(text, float) and float(text).is_integer()):
        text = str(int(text))
    s = str(text).strip().lower().replace("星期", "周").replace("礼拜", "周")
    out: list[int] = []
    for part in (p for p in re.split(r"[,，、;；/\s]+", s) if p):
        rng = re.split(r"至|到|~|～|—|–|-", part)
        if len(rng) == 2 and all(rng):
            a, b = (_DAY.get(x) or _DAY.get(x.replace("周", "")) for x in rng)
            if a is None or b is None or a > b:
                raise ValueError(f"{part!r} is not a range of weekdays")
            out.extend(range(a, b + 1))
            continue
        d = _DAY.get(part) or _DAY.get(part.replace("周", ""))
        if d is None:
            raise ValueError(f"{part!r} is not a weekday")
        out.append(d)
    if not out:
        raise ValueError("no weekday given")
    return sorted(set(out))


def parse_time(v) -> str:
    """A time of day as typed (``8:30``, ``08:30:00``, ``8点30``, ``9点``, an Excel time) → ``"08:30"``."""
    if isinstance(v, _dt.datetime):
        v = v.time()
    if isinstance(v, _dt.time):
        return f"{v.hour:02d}:{v.minute:02d}"
    s = str(v).strip().replace("：", ":")
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(?::\d{2})?", s) or re.fullmatch(r"(\d{1,2})点(?:(\d{1,2})分?|半)?", s)
    if not m:
        raise ValueError(f"{v!r} is not a time of day (write 08:30)")
    h = int(m.group(1))
    mi = 30 if s.endswith("半") else int(m.group(2) or 0)
    if not (0 <= h <= 24 and 0 <= mi < 60) or (h == 24 and mi):
        raise ValueError(f"{v!r} is not a time of day (write 08:30)")
    return f"{h:02d}:{mi:02d}"


def _station_lookup(stations) -> tuple[dict[str, str], dict[str, str]]:
    if stations is None or not len(stations):
        return {}, {}
    ids = {str(i): str(i) for i in stations.index}
    if "name" in stations.columns:
        for i, nm in stations["name"].items():
            if isinstance(nm, str):
                ids.setdefault(nm, str(i))
    kinds = {str(i): str(k) for i, k in stations["kind"].items()} if "kind" in stations.columns else {}
    return ids, kinds


def read_schedule(source, *, stations=None, sheet=None) -> pd.DataFrame:
    """Read a mobile-stop schedule (CSV/TXT in UTF-8, UTF-16 or GBK, Excel .xlsx/.xls, or a DataFrame).

    Parameters
    ----------
    stations
        The stations layer (``dataset.stations``): stops may be named by id or name, and unknown
        stops are errors; a stop whose kind is not ``mobile`` gets a warning.

    Returns
    -------
    DataFrame
        ``station_id``, ``weekday`` (1–7), ``start``, ``end`` (``HH:MM``), one row per stop, day
        and window, sorted; ``attrs["problems"]`` holds the warnings.

    Raises
    ------
    ValidationError
        listing every bad row (layer ``schedule``, ``row N``).
    """
    table, problems = read_user_table(source, SCHEDULE_ALIASES, layer="schedule", required=("weekday",), sheet=sheet)
    if not any(p.severity == "error" for p in problems) and not ({"station_id", "station_name"} & set(table.columns)):
        problems.append(Problem("error", "schedule", f"row {table.attrs['header_row']}", f"{table.attrs['where']}: "
                                "缺少站点编号 / the schedule does not name the stops", "请添加一列 站点编号 或 站点名称 / "
                                "add a column 站点编号 (station_id) or 站点名称", "missing_field"))
    if not any(p.severity == "error" for p in problems) and not ({"start", "end"} <= set(table.columns)
                                                                or "hours" in table.columns):
        problems.append(Problem("error", "schedule", f"row {table.attrs['header_row']}", f"{table.attrs['where']}: "
                                "缺少服务时间 / the schedule has no times", "请添加 开始时间 和 结束时间 两列（或一列 时间，"
                                "如 09:00-11:30）/ add columns 开始时间 and 结束时间 (or one column 时间 such as 09:00-11:30)",
                                "missing_field"))
    if any(p.severity == "error" for p in problems):
        raise ValidationError(problems)
    ids, kinds = _station_lookup(stations)
    rows: list[dict] = []
    for rec in table.to_dict("records"):
        where = f"row {rec[ROW]}"
        sid_raw = rec.get("station_id") if rec.get("station_id") is not None else rec.get("station_name")
        sid = None if sid_raw is None else str(sid_raw).strip()
        ok = True
        if not sid:
            problems.append(Problem("error", "schedule", where, "站点为空 / no stop given", "fill the stop's id",
                                    "missing_station"))
            ok = False
        elif ids:
            if sid not in ids:
                problems.append(Problem("error", "schedule", where, f"站点 {sid!r} is not in the stations layer / "
                                        "站点不存在", "use the station_id (or name) of a 流动郁心站 in the stations layer",
                                        "unknown_station"))
                ok = False
            else:
                sid = ids[sid]
                if kinds.get(sid, "mobile") != "mobile":
                    problems.append(Problem("warning", "schedule", where, f"站点 {sid} is a {kinds[sid]}, not a "
                                            "mobile stop (流动郁心站); it is scheduled anyway",
                                            "check the id, or set its kind to mobile", "not_mobile"))
        try:
            days = parse_weekdays(rec.get("weekday"))
        except ValueError as e:
            problems.append(Problem("error", "schedule", where, f"星期 {rec.get('weekday')!r}: {e} / 星期无法识别",
                                    "write 周一…周日 or 1–7 (lists 周二、周四 and ranges 周一至周五 work)", "bad_weekday"))
            ok = False
            days = []
        start = rec.get("start")
        end = rec.get("end")
        if (start is None or end is None) and rec.get("hours") is not None:
            parts = re.split(r"\s*(?:-|~|～|—|–|至|到)\s*", str(rec["hours"]).strip())
            start, end = (parts + [None, None])[:2] if len(parts) == 2 else (rec["hours"], None)
        try:
            if start is None or end is None:
                raise ValueError("start and end are needed")
            s, e_ = parse_time(start), parse_time(end)
            if s >= e_:
                raise ValueError(f"it ends ({e_}) before it starts ({s})")
        except ValueError as e:
            problems.append(Problem("error", "schedule", where, f"时间: {e} / 服务时间无法识别",
                                    "write 开始时间 and 结束时间 as 08:30 and 11:30 (end after start)", "bad_time"))
            ok = False
        if ok:
            rows.extend({"station_id": sid, "weekday": d, "start": s, "end": e_} for d in days)
    if any(p.severity == "error" for p in problems):
        raise ValidationError(problems)
    out = pd.DataFrame(rows, columns=SCHEDULE_COLUMNS).drop_duplicates()
    out = out.sort_values(["station_id", "weekday", "start"], kind="stable").reset_index(drop=True)
    out["weekday"] = out["weekday"].astype(np.int64)
    out.attrs["problems"] = problems
    return out


def schedule_from_stations(stations) -> pd.DataFrame:
    """The schedule kept as columns of the stations layer (星期/weekday, 开始时间/start, 结束时间/end
    or 时间/hours, on the mobile rows); an empty schedule when there are none."""
    if stations is None or not len(stations):
        return pd.DataFrame(columns=SCHEDULE_COLUMNS)
    cols = [c for c in stations.columns if c != stations.geometry.name]
    t = pd.DataFrame(stations[cols]).copy()
    t.insert(0, "station_id", stations.index.astype(str))
    from .checks import _norm_header
    day_keys = {_norm_header(a) for a in ("weekday", *SCHEDULE_ALIASES["weekday"])}
    day_col = next((c for c in cols if _norm_header(c) in day_keys), None)
    if day_col is None:
        return pd.DataFrame(columns=SCHEDULE_COLUMNS)
    t = t[t[day_col].notna()]
    if "kind" in t.columns:
        t = t[t["kind"].astype(str).eq("mobile")]
    if not len(t):
        return pd.DataFrame(columns=SCHEDULE_COLUMNS)
    return read_schedule(t.drop(columns=[c for c in ("kind", "community_id") if c in t.columns]), stations=stations)


@dataclass(eq=False)
class MobileCoverage:
    """Who the mobile stops reach, on which weekdays.

    Attributes
    ----------
    by_building
        Per building (index ``building_id``): ``grid_id`` (with a plan), ``households``,
        ``persons``, one boolean column per weekday (``mon`` … ``sun``), ``days`` (how many
        weekdays), ``weekdays`` (e.g. ``"周二、周四"``), ``stations`` (the stops within reach) and
        ``covered`` (reached on at least one day; so the table can be drawn by
        :func:`gridplan.webmap.make_map` as ``coverage=``).
    by_grid
        Per grid (``None`` without a plan): ``households``, households reached per weekday
        (``mon`` … ``sun``), ``households_any`` and ``pct_any``.
    by_station
        Per scheduled stop: ``name``, ``weekdays``, ``windows`` (e.g. ``"周二 09:00–11:30"``),
        ``buildings`` and ``households`` within reach, ``snap_flag``.
    by_weekday
        Per weekday (1–7): ``stations`` open and ``households`` reached.
    """

    by_building: pd.DataFrame
    by_grid: pd.DataFrame | None
    by_station: pd.DataFrame
    by_weekday: pd.DataFrame
    schedule: pd.DataFrame
    minutes: float
    speed_kmh: float
    walk_m: float
    problems: tuple = field(default=())

    def summary(self) -> dict:
        """The headline figures as a plain dict (for JSON and the CLI)."""
        b = self.by_building
        hh = float(b["households"].sum())
        return {"stations": int(len(self.by_station)), "minutes": self.minutes, "walk_m": round(self.walk_m, 3),
                "households": int(hh), "households_any": int(b.loc[b["covered"], "households"].sum()),
                "by_weekday": {WEEKDAY_KEYS[d - 1]: int(r["households"]) for d, r in self.by_weekday.iterrows()}}


def mobile_coverage(dataset: Dataset, plan: Plan | None = None, *, schedule: pd.DataFrame | None = None,
                    minutes: float = 5.0, speed_kmh: float = 4.0, coverage=None, network=None,
                    max_snap_m: float = 300.0, lang: str = "zh") -> MobileCoverage:
    """Which households the mobile stops reach within ``minutes`` of walking, per weekday.

    Parameters
    ----------
    dataset, plan
        The city (needs roads and the scheduled stations) and optionally its grids.
    schedule
        From :func:`read_schedule` (default: :func:`schedule_from_stations` of the dataset).
    minutes, speed_kmh
        The walk that counts as reached (default 5 minutes at 4 km/h).
    coverage, network, max_snap_m
        Reuse the network and building snaps of a :class:`~gridplan.reach.Coverage`.
    """
    from scipy import sparse

    from .reach import _speed, minutes_to_m, walk_context
    from .stations import pairs_within

    minutes = float(minutes)
    if not minutes > 0:
        raise ValueError(f"minutes must be positive, got {minutes!r}")
    speed = _speed(speed_kmh)
    walk_m = float(minutes_to_m(minutes, speed))
    if schedule is None:
        schedule = schedule_from_stations(dataset.stations)
    sched = pd.DataFrame(schedule)
    if not len(sched):
        raise ValueError("no mobile-stop schedule: give schedule= (gridplan.mobile.read_schedule) or weekday/start/end "
                         "columns on the stations layer")
    st = dataset.stations
    sids = sorted(sched["station_id"].astype(str).unique())
    missing = [s for s in sids if st is None or s not in set(st.index.astype(str))]
    if missing or st is None:
        raise ValueError(f"scheduled station(s) not in the stations layer: {missing[:5]}")
    stn = st.loc[sids]
    net, bsnap = walk_context(dataset, coverage=coverage, network=network, max_snap_m=max_snap_m)
    ssnap = net.snap(stn.geometry, max_snap_m=max_snap_m)
    A = pairs_within(net, ssnap, bsnap, walk_m).astype(np.float64).tocsr()  # stops × buildings
    S = np.zeros((len(sids), 7))
    pos = {s: k for k, s in enumerate(sids)}
    S[[pos[s] for s in sched["station_id"].astype(str)], sched["weekday"].astype(int).to_numpy() - 1] = 1.0
    days = np.asarray((sparse.csr_matrix(A.T) @ S) > 0)  # buildings × 7
    b = dataset.buildings
    names = WEEKDAYS_ZH if lang == "zh" else WEEKDAYS_EN
    sep = "、" if lang == "zh" else ", "
    out = pd.DataFrame(index=pd.Index(b.index.astype(str), name="building_id"))
    if plan is not None:
        out["grid_id"] = plan.assignment.reindex(out.index).to_numpy()
    out["households"] = pd.to_numeric(b["households"], errors="coerce").fillna(0).astype(np.int64).to_numpy()
    out["persons"] = pd.to_numeric(b["persons"], errors="coerce").fillna(0).astype(np.int64).to_numpy()
    for k, key in enumerate(WEEKDAY_KEYS):
        out[key] = days[:, k]
    out["days"] = days.sum(axis=1).astype(np.int64)
    out["weekdays"] = [sep.join(names[k] for k in np.flatnonzero(r)) for r in days]
    AT = sparse.csr_matrix(A.T)
    sid_arr = np.asarray(sids, dtype=object)
    out["stations"] = [",".join(sid_arr[AT.indices[AT.indptr[i]:AT.indptr[i + 1]]]) for i in range(AT.shape[0])]
    out["covered"] = out["days"] > 0
    hh = out["households"].to_numpy(dtype=float)

    by_grid = None
    if plan is not None:
        g = out.groupby("grid_id")
        by_grid = pd.DataFrame({"households": g["households"].sum()})
        for key in WEEKDAY_KEYS:
            by_grid[key] = (out["households"] * out[key]).groupby(out["grid_id"]).sum()
        by_grid["households_any"] = (out["households"] * out["covered"]).groupby(out["grid_id"]).sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            by_grid["pct_any"] = np.where(by_grid["households"] > 0,
                                          100.0 * by_grid["households_any"] / by_grid["households"], np.nan)
        by_grid.index.name = "grid_id"

    reach_b = np.asarray(A.sum(axis=1)).ravel().astype(np.int64)
    reach_h = A @ hh
    flag = np.where(ssnap.far, "far", np.where(ssnap.off_main, "off_main", "ok"))
    rows = []
    for k, s in enumerate(sids):
        mine = sched[sched["station_id"].astype(str) == s]
        dd = sorted(mine["weekday"].astype(int).unique())
        rows.append({"station_id": s, "name": stn["name"].iloc[k] if "name" in stn.columns else s,
                     "weekdays": sep.join(names[d - 1] for d in dd),
                     "windows": ("；" if lang == "zh" else "; ").join(
                         f"{names[int(r.weekday) - 1]} {r.start}–{r.end}" for r in mine.itertuples()),
                     "buildings": int(reach_b[k]), "households": float(reach_h[k]), "snap_flag": flag[k]})
    by_station = pd.DataFrame(rows).set_index("station_id")
    by_weekday = pd.DataFrame({"stations": S.sum(axis=0).astype(np.int64),
                               "households": [int(hh[days[:, k]].sum()) for k in range(7)]},
                              index=pd.Index(range(1, 8), name="weekday"))
    problems = tuple(sched.attrs.get("problems", ()))
    for s in sid_arr[ssnap.far | ssnap.off_main]:
        problems += (Problem("warning", "stations", str(s), "the mobile stop is far from the walking network or "
                             "nearest to a disconnected road", "move the stop onto a connected walkable road",
                             "station_snap"),)
    return MobileCoverage(by_building=out, by_grid=by_grid, by_station=by_station, by_weekday=by_weekday,
                          schedule=sched, minutes=minutes, speed_kmh=speed, walk_m=walk_m, problems=problems)
