"""Grid staff (网格长, 专职网格员, 兼职网格员): the staff list, its assignment to grids, and the checks.

* :func:`read_staff` loads a staff list from CSV/TXT (UTF-8, UTF-16 or GBK) or Excel (.xlsx/.xls; merged
  cells filled) through :func:`gridplan.tables.read_user_table`: one row per person and
  duty with 姓名, 电话, 职务 and a grid code (网格) or a community (社区); Chinese header aliases, a
  title row above the header is skipped. Every bad row is reported at once (row number, problem,
  fix) as a :class:`~gridplan.ValidationError`.
* :class:`StaffAssignment` is the assignment, an immutable value like :class:`~gridplan.Plan`:
  edits (:meth:`~StaffAssignment.assign`, :meth:`~StaffAssignment.unassign`,
  :meth:`~StaffAssignment.follow`) return a new one whose ``parent`` is the old.
* :meth:`StaffAssignment.check` reports grids without exactly one 网格长 and persons leading more
  grids than allowed (default 1).

When the plan changes (:meth:`StaffAssignment.follow`), staff follow their grids:

1. a grid id that is in the new plan and still holds at least one of its old buildings keeps its
   staff (a split keeps the staff in the part that kept the id);
2. otherwise (the grid was renamed, merged away or split into new ids) its staff go to the new grid
   holding the most of its old buildings (ties: the smallest grid id) — after a merge the absorbed
   grid's 网格长 joins the merged grid, and :meth:`~StaffAssignment.check` then reports two leaders;
3. a grid none of whose buildings remain leaves its staff without a grid: they are listed by
   :meth:`~StaffAssignment.without_grid` (with ``previous_grid_id``).

Personal data: staff names are duty information shown on grid signage and stay in exports; phone
numbers are personal and are masked (``138****5678``, :func:`mask_phone`) in every export unless the
user asks for them (``include_personal=True``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from ._errors import PlanError, Problem, ValidationError
from .tables import ROW, read_user_table

#: roles and their Chinese names
ROLES: dict[str, str] = {"leader": "网格长", "full_time": "专职网格员", "part_time": "兼职网格员"}
ROLES_EN: dict[str, str] = {"leader": "grid leader", "full_time": "full-time grid worker",
                            "part_time": "part-time grid worker"}

ROLE_ALIASES: dict[str, str] = {
    **{k: k for k in ROLES}, **{v: k for k, v in ROLES.items()},
    "网格长": "leader", "组长": "leader", "leader": "leader", "gridleader": "leader",
    "专职": "full_time", "专职网格员": "full_time", "专职人员": "full_time", "fulltime": "full_time",
    "兼职": "part_time", "兼职网格员": "part_time", "兼职人员": "part_time", "parttime": "part_time",
    "网格员": "full_time",
}

#: header aliases of a staff list
STAFF_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "名字", "网格员姓名", "人员姓名", "name"),
    "phone": ("电话", "手机", "手机号", "手机号码", "联系电话", "联系方式", "电话号码", "phone", "mobile", "tel"),
    "role": ("职务", "岗位", "角色", "职位", "类别", "人员类别", "身份", "role", "position"),
    "grid_id": ("网格", "网格编码", "网格编号", "网格代码", "所属网格", "网格号", "grid", "grid_code"),
    "community": ("社区", "所属社区", "社区名称", "社区编码", "community", "community_id"),
    "staff_id": ("编号", "工号", "人员编号", "序号编码", "staff_id", "id"),
}

COLUMNS = ["person_id", "name", "phone", "role", "grid_id", "community_id", "previous_grid_id", "source_row"]

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{9,11}$")


# --------------------------------------------------------------------------- phones
def normalise_phone(text) -> str | None:
    """Digits of a phone number as typed (blanks, dashes, ``+86``/``0086`` dropped); ``None`` if empty."""
    if text is None:
        return None
    s = re.sub(r"[\s\-–—()（）]", "", str(text))
    s = re.sub(r"^(\+86|0086)", "", s)
    return s or None


def valid_phone(digits: str | None) -> bool:
    """A Chinese mobile (11 digits starting 13–19) or a landline with area code (0 + 9–11 digits)."""
    return digits is not None and bool(_MOBILE.match(digits) or _LANDLINE.match(digits))


def mask_phone(phone) -> str:
    """A phone number with its middle hidden: ``13812345678`` → ``138****5678`` (at least four digits
    are always hidden; empty input gives ``""``)."""
    d = normalise_phone(phone)
    if not d:
        return ""
    n = len(d)
    if n >= 11:
        return d[:3] + "****" + d[-4:]
    head = max(0, min(3, (n - 4) // 2))
    tail = max(0, min(4, n - 4 - head))
    return d[:head] + "****" + (d[-tail:] if tail else "")


# --------------------------------------------------------------------------- reading
def _community_lookup(dataset) -> dict[str, str]:
    comm = getattr(dataset, "communities", None)
    if comm is None:
        return {}
    out = {str(i): str(i) for i in comm.index}
    if "name" in comm.columns:
        for i, nm in comm["name"].items():
            if nm is not None and nm == nm:
                out.setdefault(str(nm), str(i))
    return out


def read_staff(source, *, dataset=None, sheet=None) -> StaffAssignment:
    """Load a staff list (CSV/TXT in UTF-8, UTF-16 or GBK, or Excel .xlsx/.xls: :func:`gridplan.tables.read_sheets`).

    Columns (Chinese headers accepted, a title row above the header is skipped): 姓名 ``name``
    (required), 职务 ``role`` (网格长 / 专职网格员 / 兼职网格员, required), 电话 ``phone``, 网格
    ``grid_id`` and/or 社区 ``community`` (one of them per row), 编号 ``staff_id`` (optional; else
    a person is identified by phone, then name). One row per person and duty: a person leading two
    grids has two rows.

    Parameters
    ----------
    dataset
        When given, 社区 may be a community name or id and is checked against the communities.

    Raises
    ------
    ValidationError
        listing every problem (layer ``staff``, feature ``row N`` = the row in the file).
    """
    table, problems = read_user_table(source, STAFF_ALIASES, layer="staff", required=("name", "role"), sheet=sheet)
    if any(p.severity == "error" for p in problems):
        raise ValidationError(problems)
    if "grid_id" not in table.columns and "community" not in table.columns:
        raise ValidationError([*problems, Problem(
            "error", "staff", f"row {table.attrs['header_row']}", f"{table.attrs['where']}: 缺少网格或社区列 / the list "
            "has neither a 网格 (grid) nor a 社区 (community) column", "请添加一列 网格（网格编码）或 社区 / add a column "
            "网格 (grid code) or 社区 (community)", "missing_field")])
    comms = _community_lookup(dataset) if dataset is not None else {}
    rows = []
    for rec in table.to_dict("records"):
        where = f"row {rec[ROW]}"
        name = rec.get("name")
        ok = True
        if not isinstance(name, str) or not name.strip():
            problems.append(Problem("error", "staff", where, "姓名为空 / the name is empty",
                                    "fill 姓名 or delete the row", "missing_name"))
            ok = False
        raw_role = rec.get("role")
        role = None
        if raw_role is not None:
            key = re.sub(r"[\s_\-]+", "", str(raw_role)).lower()
            role = ROLE_ALIASES.get(key) or ROLE_ALIASES.get(str(raw_role).strip())
        if role is None:
            problems.append(Problem("error", "staff", where, f"职务 {raw_role!r} is not a known role / 职务无法识别",
                                    "write 网格长, 专职网格员 or 兼职网格员", "bad_role"))
            ok = False
        elif str(raw_role).strip() == "网格员":
            problems.append(Problem("warning", "staff", where, "职务 网格员 was read as 专职网格员",
                                    "write 专职网格员 or 兼职网格员", "role_assumed"))
        raw_phone = rec.get("phone")
        phone = normalise_phone(raw_phone)
        if phone is not None and not valid_phone(phone):
            problems.append(Problem("error", "staff", where, f"电话 {mask_phone(phone)!r} is not a phone number / "
                                    "电话号码格式不正确", "write an 11-digit mobile (13812345678) or a landline with "
                                    "its area code (028-12345678)", "bad_phone"))
            ok = False
        grid = rec.get("grid_id")
        grid = None if grid is None else str(grid).strip() or None
        comm_raw = rec.get("community")
        comm = None
        if comm_raw is not None:
            comm = comms.get(str(comm_raw).strip()) if comms else str(comm_raw).strip()
            if comm is None:
                problems.append(Problem("error", "staff", where, f"社区 {comm_raw!r} is not in the communities layer "
                                        "/ 社区不存在", "write the community's name or code as in the data", "bad_community"))
                ok = False
        if grid is None and comm_raw is None:
            problems.append(Problem("error", "staff", where, "neither 网格 nor 社区 is given / 未填写网格或社区",
                                    "fill the grid code (网格) or at least the community (社区)", "no_place"))
            ok = False
        if not ok:
            continue
        sid = rec.get("staff_id")
        person = str(sid).strip() if sid is not None else (phone or name.strip())
        rows.append({"person_id": person, "name": name.strip(), "phone": phone, "role": role, "grid_id": grid,
                     "community_id": comm, "previous_grid_id": None, "source_row": int(rec[ROW])})
    if any(p.severity == "error" for p in problems):
        raise ValidationError(problems)
    t = pd.DataFrame(rows, columns=COLUMNS)
    dup = t.duplicated(["person_id", "role", "grid_id", "community_id"], keep="first")
    for r in t.loc[dup, "source_row"]:
        problems.append(Problem("warning", "staff", f"row {r}", "repeats an earlier row (same person, duty and place) "
                                "and is ignored / 重复的行", "delete the repeated row", "duplicate_row"))
    return StaffAssignment(t[~dup.to_numpy()], problems=problems, label="loaded")


# --------------------------------------------------------------------------- the assignment
def _clean(table: pd.DataFrame) -> pd.DataFrame:
    t = pd.DataFrame(table).copy()
    for c in COLUMNS:
        if c not in t.columns:
            t[c] = None
    bad = sorted(set(t["role"].dropna()) - set(ROLES))
    if bad:
        raise ValueError(f"unknown role(s) {bad}; roles are {', '.join(ROLES)}")
    if t["name"].isna().any():
        raise ValueError("every staff row needs a name")
    t = pd.DataFrame({c: pd.Series([None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v
                                    for v in t[c]], dtype=object) for c in COLUMNS})
    t["grid_id"] = pd.Series([None if g is None else str(g) for g in t["grid_id"]], dtype=object)
    t["person_id"] = pd.Series([str(p) if p is not None else str(n) for p, n in zip(t["person_id"], t["name"])],
                               dtype=object)
    return t.reset_index(drop=True)


class StaffAssignment:
    """Who serves which grid. Immutable: every edit returns a new assignment (``parent`` is the old).

    ``table`` (a copy) has one row per person and duty: ``person_id``, ``name``, ``phone`` (digits,
    unmasked: mask with :func:`mask_phone` before showing), ``role`` (``leader``/``full_time``/
    ``part_time``), ``grid_id`` (``None``: not assigned to a grid), ``community_id``,
    ``previous_grid_id`` (the grid a :meth:`follow` moved the duty from), ``source_row``.
    ``problems`` are the warnings of :func:`read_staff`.
    """

    __slots__ = ("_table", "problems", "parent", "label")
    _table: pd.DataFrame
    problems: tuple[Problem, ...]
    parent: StaffAssignment | None
    label: str

    def __init__(self, table: pd.DataFrame, *, problems: Iterable[Problem] = (), parent=None, label: str = ""):
        sa = object.__setattr__
        sa(self, "_table", _clean(table))
        sa(self, "problems", tuple(problems))
        sa(self, "parent", parent)
        sa(self, "label", label)

    def __setattr__(self, name, value):
        raise AttributeError("StaffAssignment is immutable; use assign/unassign/follow to get a new one")

    def __delattr__(self, name):
        self.__setattr__(name, None)

    @property
    def table(self) -> pd.DataFrame:
        """The duty table (a copy)."""
        return self._table.copy()

    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        t = self._table
        return (f"StaffAssignment({t['person_id'].nunique()} person(s), {len(t)} duty row(s), "
                f"{t['grid_id'].dropna().nunique()} grid(s), label={self.label!r})")

    def _derive(self, table: pd.DataFrame, label: str) -> StaffAssignment:
        return StaffAssignment(table, problems=self.problems, parent=self, label=label)

    # ------------------------------------------------------------------ queries
    def grid_ids(self) -> list[str]:
        """The grids somebody is assigned to, sorted."""
        return sorted(self._table["grid_id"].dropna().unique().tolist())

    def without_grid(self) -> pd.DataFrame:
        """Duties not assigned to any grid: community-level staff (``reason`` ``community_only``) and
        staff whose grid disappeared in a :meth:`follow` (``grid_gone``, with ``previous_grid_id``)."""
        t = self._table[self._table["grid_id"].isna()].copy()
        t["reason"] = np.where(t["previous_grid_id"].notna(), "grid_gone", "community_only")
        return t

    def grid_staff(self, grid_ids: Iterable[str] | None = None, *, include_personal: bool = False,
                   sep: str = "、") -> pd.DataFrame:
        """Per grid: ``leader`` (name), ``leader_phone`` (masked unless ``include_personal``),
        ``full_time`` and ``part_time`` (names, joined with ``sep``) and ``staff`` (persons).

        Indexed by ``grid_id``: ``grid_ids`` (e.g. the plan's grids, so grids without staff get empty
        cells) or the grids the assignment names.
        """
        t = self._table[self._table["grid_id"].notna()]
        ids = [str(g) for g in grid_ids] if grid_ids is not None else self.grid_ids()
        out = pd.DataFrame(index=pd.Index(ids, name="grid_id"))
        phone = t["phone"].map(lambda p: ("" if p is None else p) if include_personal else mask_phone(p))

        def joined(mask, values):
            s = pd.Series(values[mask].to_numpy(), index=t.loc[mask, "grid_id"].to_numpy())
            return s.groupby(level=0).agg(lambda v: sep.join(dict.fromkeys(x for x in v if x)))

        for col, role in (("leader", "leader"), ("full_time", "full_time"), ("part_time", "part_time")):
            out[col] = joined(t["role"].eq(role), t["name"]).reindex(out.index).fillna("").to_numpy()
        out["leader_phone"] = joined(t["role"].eq("leader"), phone).reindex(out.index).fillna("").to_numpy()
        out["staff"] = t.groupby("grid_id")["person_id"].nunique().reindex(out.index).fillna(0).astype(int).to_numpy()
        return out[["leader", "leader_phone", "full_time", "part_time", "staff"]]

    def check(self, plan, *, max_grids_per_leader: int = 1, lang: str = "zh") -> pd.DataFrame:
        """Violations of the staffing rules, one row each.

        Codes: ``no_leader`` (a grid of the plan without a 网格长), ``several_leaders`` (more than
        one), ``too_many_grids`` (a person leads more than ``max_grids_per_leader`` grids),
        ``unknown_grid`` (a duty names a grid the plan does not have), ``no_grid`` (a duty without a
        grid). Columns: ``code``, ``grid_id``, ``person_id``, ``name``, ``count``, ``message``.
        """
        from .i18n import t as tr

        n_max = int(max_grids_per_leader)
        if n_max < 1:
            raise ValueError("max_grids_per_leader must be at least 1")
        grids = set(plan.grid_ids) if hasattr(plan, "grid_ids") else {str(g) for g in plan}
        t = self._table
        rows: list[tuple] = []
        lead = t[t["role"].eq("leader") & t["grid_id"].notna()]
        per_grid = lead.groupby("grid_id")["person_id"].nunique()
        for g in sorted(grids):
            n = int(per_grid.get(g, 0))
            if n == 0:
                rows.append(("no_leader", g, None, None, 0, tr("staff_no_leader", lang, grid=g)))
            elif n > 1:
                names = "、".join(dict.fromkeys(lead.loc[lead["grid_id"].eq(g), "name"]))
                rows.append(("several_leaders", g, None, names, n, tr("staff_several_leaders", lang, grid=g, n=n,
                                                                       names=names)))
        per_person = lead.groupby("person_id")["grid_id"].nunique()
        for p, n in per_person.items():
            if n > n_max:
                name = lead.loc[lead["person_id"].eq(p), "name"].iloc[0]
                gl = ", ".join(sorted(lead.loc[lead["person_id"].eq(p), "grid_id"].unique()))
                rows.append(("too_many_grids", gl, p, name, int(n), tr("staff_too_many_grids", lang, name=name, n=n,
                                                                        max=n_max, grids=gl)))
        for _, r in t[t["grid_id"].notna() & ~t["grid_id"].isin(grids)].iterrows():
            rows.append(("unknown_grid", r["grid_id"], r["person_id"], r["name"], 1,
                         tr("staff_unknown_grid", lang, name=r["name"], grid=r["grid_id"])))
        for _, r in self.without_grid().iterrows():
            rows.append(("no_grid", r["previous_grid_id"], r["person_id"], r["name"], 0,
                         tr("staff_no_grid_gone" if r["reason"] == "grid_gone" else "staff_no_grid", lang,
                            name=r["name"], grid=r["previous_grid_id"] or "")))
        return pd.DataFrame(rows, columns=["code", "grid_id", "person_id", "name", "count", "message"])

    # ------------------------------------------------------------------ edits
    def assign(self, person_id: str, grid_id: str, *, role: str | None = None, name: str | None = None,
               phone: str | None = None) -> StaffAssignment:
        """Give a person a duty in ``grid_id``: fills the person's duty without a grid if there is one
        (of ``role``, when given), else adds a duty (``role`` required for a new person)."""
        t = self._table.copy()
        person_id, grid_id = str(person_id), str(grid_id)
        mine = t["person_id"].eq(person_id)
        if role is not None and role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        free = mine & t["grid_id"].isna() & (t["role"].eq(role) if role else True)
        if free.any():
            t.loc[free.idxmax(), "grid_id"] = grid_id
        else:
            if not mine.any() and (role is None or name is None):
                raise PlanError(f"unknown person {person_id!r}: give role= and name= to add a new person")
            base = t[mine].iloc[0].to_dict() if mine.any() else {"person_id": person_id, "name": name,
                                                                  "phone": normalise_phone(phone)}
            base.update({"role": role or base.get("role"), "grid_id": grid_id, "previous_grid_id": None,
                         "source_row": None})
            t = pd.concat([t, pd.DataFrame([base])], ignore_index=True)
        return self._derive(t, f"assign {person_id} to {grid_id}")

    def unassign(self, person_id: str, grid_id: str, *, keep: bool = False) -> StaffAssignment:
        """Remove a person's duties in ``grid_id``.

        With ``keep`` a person who has no other duty stays on the list without a grid (one row of
        that duty, ``grid_id`` ``None``, listed by :meth:`without_grid`) instead of leaving it."""
        t = self._table
        hit = (t["person_id"].eq(str(person_id)) & t["grid_id"].eq(str(grid_id))).to_numpy()
        if not hit.any():
            raise PlanError(f"{person_id!r} has no duty in grid {grid_id!r}")
        out = t[~hit]
        if keep and not out["person_id"].eq(str(person_id)).any():
            row = t[hit].iloc[[0]].copy()
            row["grid_id"] = None
            row["previous_grid_id"] = None
            out = pd.concat([out, row], ignore_index=True)
        return self._derive(out, f"unassign {person_id} from {grid_id}")

    def reassign(self, person_id: str, from_grid: str, to_grid: str) -> StaffAssignment:
        """Move a person's duties in ``from_grid`` to ``to_grid`` (same roles). Moving into a grid where
        the person already has that duty leaves one row of it."""
        t = self._table.copy()
        person_id, from_grid, to_grid = str(person_id), str(from_grid), str(to_grid)
        hit = t["person_id"].eq(person_id) & t["grid_id"].eq(from_grid)
        if not hit.any():
            raise PlanError(f"{person_id!r} has no duty in grid {from_grid!r}")
        t.loc[hit, "grid_id"] = to_grid
        t = t[~t.duplicated(["person_id", "role", "grid_id"], keep="first").to_numpy() | t["grid_id"].isna().to_numpy()]
        return self._derive(t, f"move {person_id} from {from_grid} to {to_grid}")

    def persons(self) -> pd.DataFrame:
        """One row per person (index ``person_id``): ``name``, ``role`` (of the first duty; a leader
        first), ``grids`` (the grid ids, comma-separated) and ``duties``."""
        t = self._table
        order = t["role"].map({"leader": 0, "full_time": 1, "part_time": 2}).to_numpy()
        t = t.iloc[np.argsort(order, kind="stable")]
        g = t.groupby("person_id", sort=True)
        out = pd.DataFrame({"name": g["name"].first(), "role": g["role"].first(),
                            "grids": g["grid_id"].agg(lambda v: ",".join(sorted(x for x in v if x is not None))),
                            "duties": g.size()})
        return out

    def follow(self, old_plan, new_plan) -> StaffAssignment:
        """The assignment after the plan changed from ``old_plan`` to ``new_plan`` (rule in the module
        doc). Moved duties remember ``previous_grid_id``; staff left without a grid are listed by
        :meth:`without_grid`."""
        mapping = follow_grids(old_plan, new_plan, self.grid_ids())
        t = self._table.copy()
        has = t["grid_id"].notna().to_numpy()
        old_g = t["grid_id"].to_numpy(dtype=object)
        new_g = np.array([mapping.get(g) if h else None for g, h in zip(old_g, has)], dtype=object)
        moved = has & (new_g != old_g)
        t.loc[moved, "previous_grid_id"] = old_g[moved]
        t["grid_id"] = new_g
        return self._derive(t, "follow the plan")


def follow_grids(old_plan, new_plan, grid_ids: Iterable[str]) -> dict[str, str | None]:
    """Where each of ``grid_ids`` goes when ``old_plan`` becomes ``new_plan`` (``None``: nowhere).

    A grid id of the new plan that still holds one of its old buildings stays; otherwise the new grid
    holding most of its old buildings (ties: the smallest id); ``None`` when none of them remains.
    """
    old = old_plan.assignment
    new = new_plan.assignment
    new_ids = set(new.unique())
    j = pd.DataFrame({"old": old.to_numpy(), "new": new.reindex(old.index).to_numpy()}).dropna()
    counts = j.groupby(["old", "new"]).size()
    out: dict[str, str | None] = {}
    for g in grid_ids:
        g = str(g)
        if g in counts.index.get_level_values(0):
            c = counts.loc[g]
            if g in new_ids and g in c.index:
                out[g] = g
            else:
                c = c.sort_index()
                out[g] = str(c.index[int(np.argmax(c.to_numpy()))])
        else:
            out[g] = g if g in new_ids else None
    return out


def as_staff(staff) -> StaffAssignment | None:
    """A :class:`StaffAssignment` from an assignment, a table with its columns, or a file path."""
    if staff is None or isinstance(staff, StaffAssignment):
        return staff
    if isinstance(staff, pd.DataFrame) and {"name", "role"} <= set(staff.columns) and "person_id" in staff.columns:
        return StaffAssignment(staff)
    return read_staff(staff)


def staff_sheet(staff: StaffAssignment, *, include_personal: bool = False, lang: str = "zh",
                communities: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The staff list for export: one row per duty, phones masked unless ``include_personal``."""
    from .i18n import column
    t = staff.table
    roles = ROLES if lang == "zh" else ROLES_EN
    out = pd.DataFrame({
        column("staff_name", lang): t["name"],
        column("staff_role", lang): t["role"].map(roles),
        column("staff_phone", lang): [("" if p is None else p) if include_personal else mask_phone(p)
                                      for p in t["phone"]],
        column("grid_id", lang): t["grid_id"].fillna(""),
        column("community", lang): [(communities or {}).get(str(c), c) if c is not None else "" for c in t["community_id"]],
    })
    order = np.lexsort((t["role"].map({"leader": 0, "full_time": 1, "part_time": 2}).to_numpy(),
                        t["grid_id"].fillna("\uffff").to_numpy()))
    return out.iloc[order].reset_index(drop=True)
