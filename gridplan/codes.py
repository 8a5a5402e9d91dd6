"""Grid codes: community code + serial, numbered west→east, north→south.

Following the Chinese unit-grid convention (单元网格编码), a grid's code is its community's code
followed by a zero-padded serial (width 2 or 3). Serials run in reading order over the map: the
community's grids are cut into rows from north to south (each row about one grid high) and
numbered west to east within a row.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from .model import Dataset, Plan
from .tessellate import building_points, community_labels

__all__ = ["number_grids", "grid_code", "next_codes", "reading_order", "apply_codes"]

log = logging.getLogger(__name__)

#: prefix used for grids of buildings without a community
NO_COMMUNITY_PREFIX = "X"


def reading_order(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices ordering points north→south in rows, west→east within a row.

    The row height is the side of the average grid: the points' bounding box area divided by the
    number of points, square-rooted.

    Examples
    --------
    >>> reading_order([10, 0, 10, 0], [0, 0, 10, 10]).tolist()   # north-west, north-east, south-west, south-east
    [3, 2, 1, 0]
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    if n <= 1:
        return np.arange(n)
    w = max(x.max() - x.min(), 1e-9)
    hgt = max(y.max() - y.min(), 1e-9)
    band = max(np.sqrt(w * hgt / n), hgt / n, 1e-9)
    row = np.floor((y.max() - y) / band + 1e-9).astype(int)
    return np.lexsort((np.arange(n), x, row))


def _positions(dataset: Dataset, assignment: pd.Series) -> pd.DataFrame:
    b = dataset.buildings
    a = assignment.reindex(b.index.astype(str))
    xy = building_points(dataset)
    comm = community_labels(dataset)
    df = pd.DataFrame({"grid": a.to_numpy(), "x": xy[:, 0], "y": xy[:, 1], "community": comm})
    df = df[df["grid"].notna()]
    pos = df.groupby("grid", sort=True)[["x", "y"]].mean()
    mode = df.groupby(["grid", "community"], sort=True).size().reset_index(name="n")
    mode = mode.sort_values(["grid", "n", "community"], ascending=[True, False, True]).drop_duplicates("grid")
    pos["community"] = mode.set_index("grid")["community"]
    return pos


def grid_code(community_id: str, serial: int, width: int = 2) -> str:
    """``community_id`` followed by the serial, zero-padded to ``width``.

    Examples
    --------
    >>> grid_code("510682001001", 3)
    '51068200100103'
    >>> grid_code("510682001001", 3, width=3)
    '510682001001003'
    """
    prefix = community_id if community_id else NO_COMMUNITY_PREFIX
    return f"{prefix}{serial:0{width}d}"


def number_grids(dataset: Dataset, assignment_or_plan: Plan | pd.Series, *, width: int = 2,
                 keep: Iterable[str] = (), only: Iterable[str] | None = None) -> dict[str, str]:
    """New codes for the grids of a plan, by community and position.

    Parameters
    ----------
    dataset
        The dataset (for building positions and communities).
    assignment_or_plan
        A :class:`~gridplan.model.Plan` or an assignment Series (building_id → grid_id).
    width
        Digits of the serial (2 or 3). A community with more grids than the width allows gets one
        more digit (and a warning in the log).
    keep
        Grid ids that keep their code; their serials are not reused.
    only
        If given, only these grids are renumbered (others keep their code, as with ``keep``).

    Returns
    -------
    dict
        Old grid id → new grid id, for every grid of the plan.
    """
    if width not in (2, 3):
        raise ValueError("the grid code width must be 2 or 3")
    assignment = assignment_or_plan.assignment if isinstance(assignment_or_plan, Plan) else assignment_or_plan
    pos = _positions(dataset, assignment)
    keep = {str(k) for k in keep}
    if only is not None:
        only_set = {str(g) for g in only}
        keep |= {g for g in pos.index if g not in only_set}
    mapping: dict[str, str] = {g: g for g in pos.index if g in keep}
    used = set(mapping.values())
    for cid, grp in pos.groupby("community", sort=True):
        todo = grp[~grp.index.isin(list(keep))]
        if todo.empty:
            continue
        prefix = cid if cid else NO_COMMUNITY_PREFIX
        taken = {_serial(g, prefix) for g in used}
        n_needed = len(todo) + len([t for t in taken if t is not None])
        w = width
        while n_needed > 10 ** w - 1:
            w += 1
        if w != width:
            log.warning("community %s has %d grids: serials widened to %d digits", cid, n_needed, w)
        order = reading_order(todo["x"].to_numpy(), todo["y"].to_numpy())
        serial = 0
        for gi in order:
            serial += 1
            while serial in taken or grid_code(cid, serial, w) in used:
                serial += 1
            code = grid_code(cid, serial, w)
            mapping[todo.index[gi]] = code
            used.add(code)
    return mapping


def _serial(code: str, prefix: str) -> int | None:
    if code.startswith(prefix) and code[len(prefix):].isdigit():
        return int(code[len(prefix):])
    return None


def next_codes(community_id: str, existing: Iterable[str], count: int, width: int = 2) -> list[str]:
    """``count`` unused codes of a community (after the highest serial in use; one digit more when they run out).

    Examples
    --------
    >>> next_codes("510682001001", ["51068200100101", "51068200100104"], 2)
    ['51068200100105', '51068200100106']
    >>> next_codes("510682001001", ["51068200100199"], 1)
    ['510682001001100']
    """
    prefix = community_id if community_id else NO_COMMUNITY_PREFIX
    serials = [s for s in (_serial(str(g), prefix) for g in existing) if s is not None]
    widths = [len(str(g)) - len(prefix) for g in existing if _serial(str(g), prefix) is not None]
    w = max([width, *widths]) if widths else width
    start = max(serials, default=0) + 1
    if start + count - 1 > 10 ** w - 1:
        w += 1
    return [grid_code(community_id, s, w) for s in range(start, start + count)]


def apply_codes(assignment: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """The assignment with grids renamed by ``mapping`` (ids not in it are left alone).

    Examples
    --------
    >>> apply_codes(pd.Series({"B1": "g1", "B2": "g2"}), {"g1": "51068200100101"}).tolist()
    ['51068200100101', 'g2']
    """
    return assignment.map(lambda g: mapping.get(g, g))
