"""Exact checks at compound level (mixed-integer programs solved by HiGHS through ``scipy.optimize.milp``).

Private to :mod:`gridplan.engine`.

:func:`min_splits` — how many compounds that fit in a grid must be split?
    Items are the compounds that fit (each whole, or declared split); everything else (buildings
    of compounds too large for one grid, buildings outside compounds, and the buildings of split
    compounds) is a *pool* that may be divided among the grids in any proportion, households and
    persons independently. The program finds the fewest split compounds such that some number of
    grids meets the rule, ignoring contiguity. Because the pool is divided more freely than
    buildings can be, this is a relaxation of the real problem: when it needs ``n`` splits, every
    compliant partition of the piece splits at least ``n`` fitting compounds (a proof), and when it
    needs none, a compliant partition with every fitting compound whole may still be impossible
    for reasons of contiguity or building granularity (then nothing is proven).

:func:`stuck_compounds` — the same question, locally and with contiguity.
    A fitting compound too small to be a grid alone must share its grid with neighbours: the
    grid holds a connected set of whole compounds and parts of the free regions (connected
    regions of buildings outside fitting compounds) touching them. If no such set can meet the
    rule even when the free regions give any amount between nothing and all they hold, one of the
    compounds involved must be split. Disjoint such groups each need a split of their own.

:func:`partition_region` — an exact re-partition of a few grids: every connected set of units that
    meets the rule is listed (each once, by the ESU enumeration), and a set-partitioning program
    picks the most compact sets that cover the units exactly. Any number of grids may come out, so
    it can merge two grids whose whole compounds only fit together, which the local search (with
    a fixed number of grids) cannot.

The programs stop at a node limit and the enumeration at a count (both deterministic); the
wall-clock deadline is only a safety cap, and the caller is told when it fired.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from .rule import Rule

#: branch-and-bound nodes a check may explore (deterministic stopping rule)
NODE_LIMIT = 300
#: nodes the exact cover of the region re-partition may try
COVER_NODE_LIMIT = 20_000
#: most sets (columns) the region re-partition lists, and partial sets looked at per column
MAX_COLUMNS = 4000
PARTIAL_PER_COLUMN = 15


def _run(c, integrality, bounds, constraints, node_limit: int, deadline: float | None):
    """``scipy.optimize.milp`` stopped by a node limit (deterministic), with what is left before
    ``deadline`` (``time.time()`` seconds) as a safety cap. Returns (result, whether the cap fired)."""
    left = 60.0 if deadline is None else deadline - time.time()
    if left <= 0:
        return None, True
    res = milp(c, integrality=integrality, bounds=bounds, constraints=constraints,
               options={"node_limit": int(node_limit), "time_limit": float(max(left, 0.01)), "presolve": True,
                        "disp": False})
    return res, "time limit" in str(res.message).lower()


@dataclass(frozen=True)
class SplitCheck:
    """The result of :func:`min_splits`.

    ``necessary`` is a proven lower bound on the fitting compounds that any compliant partition
    splits (0 when nothing is proven); ``split`` marks items the best solution found splits (all
    False when none must be split); ``proven`` says whether the program was solved to the end;
    ``grids`` is the number of grids of that solution (0 when none was found); ``timed_out``
    whether the safety cap stopped the program.
    """

    necessary: int
    split: np.ndarray
    proven: bool
    grids: int
    timed_out: bool = False


class _Model:
    """A tiny builder of sparse linear programs."""

    def __init__(self):
        self.n = 0
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.integ: list[int] = []
        self.c: list[float] = []
        self.rows: list[tuple[dict, float, float]] = []

    def var(self, lb=0.0, ub=1.0, integer=True, cost=0.0) -> int:
        self.lb.append(lb)
        self.ub.append(ub)
        self.integ.append(1 if integer else 0)
        self.c.append(cost)
        self.n += 1
        return self.n - 1

    def row(self, coefs: dict, lo: float, hi: float) -> None:
        self.rows.append((coefs, lo, hi))

    def solve(self, node_limit: int, deadline: float | None):
        r, c, v = [], [], []
        lo, hi = [], []
        for i, (coefs, a, b) in enumerate(self.rows):
            for j, x in coefs.items():
                r.append(i)
                c.append(j)
                v.append(x)
            lo.append(a)
            hi.append(b)
        A = sp.csr_matrix((v, (r, c)), shape=(len(self.rows), self.n))
        cons = [LinearConstraint(A, np.array(lo), np.array(hi))] if self.rows else []
        return _run(np.array(self.c), np.array(self.integ), Bounds(self.lb, self.ub), cons, node_limit, deadline)


def _grid_rows(m: _Model, rule: Rule, hterms: dict, pterms: dict, used: int | None, both_cap: tuple[float, float]):
    """Rows making a grid with totals ``hterms``/``pterms`` meet the rule (when ``used`` is 1)."""
    lh, uh, lp, up = (float(rule.min_households), float(rule.max_households), float(rule.min_persons),
                      float(rule.max_persons))
    Mh, Mp = both_cap

    def ge(terms, lo, u):  # Σ terms ≥ lo·u
        row = dict(terms)
        if u is None:
            m.row(row, lo, math.inf)
        else:
            row[u] = row.get(u, 0.0) - lo
            m.row(row, 0.0, math.inf)

    mode = rule.mode
    if mode in ("households", "both"):
        ge(hterms, lh, used)
        m.row(hterms, -math.inf, uh)
    if mode in ("persons", "both"):
        ge(pterms, lp, used)
        m.row(pterms, -math.inf, up)
    if mode == "either":
        z = m.var()  # 1: judged on households, 0: on persons
        if used is not None:
            m.row({z: 1.0, used: -1.0}, -math.inf, 0.0)
        # H ≥ lh·z ; H ≤ uh + Mh(1−z)
        row = dict(hterms)
        row[z] = row.get(z, 0.0) - lh
        m.row(row, 0.0, math.inf)
        row = dict(hterms)
        row[z] = row.get(z, 0.0) + Mh
        m.row(row, -math.inf, uh + Mh)
        # P ≥ lp·(used − z) ; P ≤ up + Mp·z
        row = dict(pterms)
        row[z] = row.get(z, 0.0) + lp
        if used is None:
            m.row(row, lp, math.inf)
        else:
            row[used] = row.get(used, 0.0) - lp
            m.row(row, 0.0, math.inf)
        row = dict(pterms)
        row[z] = row.get(z, 0.0) - Mp
        m.row(row, -math.inf, up)


def _max_grids(rule: Rule, H: float, P: float, n_items: int) -> int:
    """An upper bound on the number of grids any compliant partition of these totals has."""
    kh = math.floor(H / rule.min_households + 1e-9) if rule.min_households > 0 else None
    kp = math.floor(P / rule.min_persons + 1e-9) if rule.min_persons > 0 else None
    fallback = n_items + math.ceil(H / max(rule.max_households, 1)) + math.ceil(P / max(rule.max_persons, 1)) + 1
    kh = fallback if kh is None else kh
    kp = fallback if kp is None else kp
    k = {"households": kh, "persons": kp, "both": min(kh, kp), "either": kh + kp}[rule.mode]
    return max(0, min(k, fallback + n_items))


def _ratio_classes(bh: np.ndarray, bp: np.ndarray, n_classes: int = 4) -> list[tuple[float, float, float, float]]:
    """The pool's buildings in classes of similar persons per household: (H, P, min ratio, max
    ratio) per class; buildings without households form a class of their own (ratio ∞)."""
    out = []
    zero = bh <= 0
    if zero.any() and bp[zero].sum() > 0:
        out.append((0.0, float(bp[zero].sum()), math.inf, math.inf))
    h, p = bh[~zero], bp[~zero]
    if len(h):
        r = p / h
        edges = np.unique(np.quantile(r, np.linspace(0, 1, n_classes + 1)))
        cls = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, max(len(edges) - 2, 0))
        for c in np.unique(cls).tolist():
            m = cls == c
            out.append((float(h[m].sum()), float(p[m].sum()), float(r[m].min()), float(r[m].max())))
    return out


def min_splits(item_h: np.ndarray, item_p: np.ndarray, pool_h: np.ndarray, pool_p: np.ndarray, rule: Rule, *,
               node_limit: int = NODE_LIMIT, deadline: float | None = None) -> SplitCheck:
    """The fewest fitting compounds (items) to split so that the totals can meet the rule (see the
    module doc). ``pool_h``/``pool_p`` are the households and persons of the pool's buildings;
    the pool is divided freely, but each grid's share of a class of buildings with similar persons
    per household keeps that class's range of ratios (a relaxation of dividing whole buildings).
    A split item is divided freely too. ``rule`` is the rule the piece is judged by (already
    :meth:`Rule.effective`)."""
    item_h = np.asarray(item_h, dtype=float)
    item_p = np.asarray(item_p, dtype=float)
    pool_h = np.asarray(pool_h, dtype=float)
    pool_p = np.asarray(pool_p, dtype=float)
    n = len(item_h)
    none = np.zeros(n, dtype=bool)
    H, P = float(item_h.sum() + pool_h.sum()), float(item_p.sum() + pool_p.sum())
    if n == 0:
        return SplitCheck(0, none, True, 0)
    K = _max_grids(rule, H, P, n)
    if K < 1:
        return SplitCheck(0, none, False, 0)
    # largest first, so that "item i goes to a grid ≤ i" breaks the symmetry between grids
    prim = item_h if rule.mode in ("households", "both") or (rule.mode == "either" and H > 0) else item_p
    order = np.lexsort((np.arange(n), -prim))
    m = _Model()
    eps = 0.5 / max(n, 1)
    top = float(max(prim.max(), 1.0))
    s = [m.var(cost=1.0 + eps * float(prim[i]) / top) for i in range(n)]   # split item i (prefer small)
    u = [m.var() for _ in range(K)]                                        # grid g used
    x: dict[tuple[int, int], int] = {}
    for rank, i in enumerate(order.tolist()):
        for g in range(min(rank + 1, K)):
            x[i, g] = m.var()
    # split items: a freely divided pool
    SH, SP = float(item_h.sum()), float(item_p.sum())
    yh = [m.var(0.0, SH, integer=False) for _ in range(K)]
    yp = [m.var(0.0, SP, integer=False) for _ in range(K)]
    classes = _ratio_classes(pool_h, pool_p)
    ch = [[m.var(0.0, c[0], integer=False) for _ in range(K)] for c in classes]
    cp = [[m.var(0.0, c[1], integer=False) for _ in range(K)] for c in classes]
    m.row({u[0]: 1.0}, 1.0, 1.0)
    for g in range(K - 1):
        m.row({u[g]: 1.0, u[g + 1]: -1.0}, 0.0, math.inf)
    for i in range(n):
        row = {x[i, g]: 1.0 for g in range(K) if (i, g) in x}
        row[s[i]] = 1.0
        m.row(row, 1.0, 1.0)
    for (_i, g), v in x.items():
        m.row({v: 1.0, u[g]: -1.0}, -math.inf, 0.0)
    for g in range(K):
        m.row({yh[g]: 1.0, u[g]: -SH}, -math.inf, 0.0)
        m.row({yp[g]: 1.0, u[g]: -SP}, -math.inf, 0.0)
        for j, (Hj, Pj, rlo, rhi) in enumerate(classes):
            m.row({ch[j][g]: 1.0, u[g]: -Hj}, -math.inf, 0.0)
            m.row({cp[j][g]: 1.0, u[g]: -Pj}, -math.inf, 0.0)
            if math.isfinite(rhi):
                m.row({cp[j][g]: 1.0, ch[j][g]: -rhi}, -math.inf, 0.0)
                m.row({cp[j][g]: 1.0, ch[j][g]: -rlo}, 0.0, math.inf)
    row = {yh[g]: 1.0 for g in range(K)}
    for i in range(n):
        row[s[i]] = -float(item_h[i])
    m.row(row, 0.0, 0.0)
    row = {yp[g]: 1.0 for g in range(K)}
    for i in range(n):
        row[s[i]] = -float(item_p[i])
    m.row(row, 0.0, 0.0)
    for j, (Hj, Pj, _, _) in enumerate(classes):
        m.row({ch[j][g]: 1.0 for g in range(K)}, Hj, Hj)
        m.row({cp[j][g]: 1.0 for g in range(K)}, Pj, Pj)
    for g in range(K):
        hterms = {x[i, g]: float(item_h[i]) for i in range(n) if (i, g) in x}
        hterms[yh[g]] = 1.0
        pterms = {x[i, g]: float(item_p[i]) for i in range(n) if (i, g) in x}
        pterms[yp[g]] = 1.0
        for j in range(len(classes)):
            hterms[ch[j][g]] = 1.0
            pterms[cp[j][g]] = 1.0
        _grid_rows(m, rule, hterms, pterms, u[g], (H, P))
    res, timed_out = m.solve(node_limit, deadline)
    if res is None:
        return SplitCheck(0, none, False, 0, True)
    if res.status == 2:  # infeasible even with every compound split: nothing to say about compounds
        return SplitCheck(0, none, True, 0, timed_out)
    bound = getattr(res, "mip_dual_bound", None)
    lb = 0 if bound is None or not np.isfinite(bound) else max(0, math.ceil(bound - 0.5 - 1e-6))
    if res.x is None:
        return SplitCheck(min(lb, n), none, False, 0, timed_out)
    xs = np.round(res.x).astype(int)
    split = np.array([xs[s[i]] == 1 for i in range(n)], dtype=bool)
    grids = int(sum(xs[v] for v in u))
    if res.status == 0:
        return SplitCheck(int(split.sum()), split, True, grids, timed_out)
    return SplitCheck(min(lb, int(split.sum())), split, False, grids, timed_out)


def _fill_bins(a: np.ndarray, pool: float, lo: float, hi: float) -> np.ndarray | None:
    """Loads of bins filled one after another (each opened with the largest item left, then the
    largest items that still fit until it reaches ``lo``), the pool topping up bins left short and
    filling grids of its own, the last items going where they fit; None when that leaves a bin
    outside [lo, hi]."""
    left = sorted(a.tolist(), reverse=True)
    loads: list[float] = []
    while left:
        load = left.pop(0)
        while load < lo:
            j = next((i for i, x in enumerate(left) if load + x <= hi), None)
            if j is None:
                break
            load += left.pop(j)
        loads.append(load)
    arr = np.array(loads)
    short = arr < lo
    # a short bin that cannot be topped up by the pool gives its items to bins with room
    need = float(np.maximum(lo - arr, 0).sum())
    if need > pool + 1e-9:
        order = np.argsort(arr)
        for i in order.tolist():
            if not short[i] or need <= pool + 1e-9:
                continue
            space = hi - arr
            space[i] = -1
            space[short] = -1
            j = int(np.argmax(space))
            if space[j] >= arr[i]:
                arr[j] += arr[i]
                need -= lo - arr[i]
                arr[i] = 0.0
                short[i] = False
        arr = arr[arr > 0]
    need = float(np.maximum(lo - arr, 0).sum())
    room = float(np.maximum(hi - arr, 0).sum())
    if (arr > hi + 1e-9).any() or need > pool + 1e-9:
        return None
    # what the bins cannot take forms grids of pool alone (m of them hold between m·lo and m·hi)
    extra = pool - room
    if extra > 1e-9:
        m = math.ceil(extra / hi - 1e-12)
        if pool - need < m * lo - 1e-9:
            return None
        arr = np.r_[arr, np.zeros(m)]
    return arr


def whole_packing_exists(item_h: np.ndarray, item_p: np.ndarray, pool_h: float, pool_p: float, rule: Rule) -> bool:
    """A quick sufficient test that :func:`min_splits` needs no split: a packing of the items into
    grids (largest first, largest that fits next) with the pool topping them up, meeting the bounds
    of one measure (households or persons, by mode) — or, under "both", of both."""
    item_h = np.asarray(item_h, dtype=float)
    item_p = np.asarray(item_p, dtype=float)
    if rule.mode == "both":
        return False
    checks = {"households": [("h",)], "persons": [("p",)], "either": [("h",), ("p",)]}[rule.mode]
    for (m,) in checks:
        a, q, lo, hi = ((item_h, pool_h, rule.min_households, rule.max_households) if m == "h"
                        else (item_p, pool_p, rule.min_persons, rule.max_persons))
        if hi <= 0:
            continue
        if _fill_bins(a, q, lo, hi) is not None:
            return True
    return False


def _interval_ok_fn(rule: Rule):
    """Whether households in [lh, lh + fh] and persons in [lp, lp + fp] can meet the rule, as a
    plain scalar function of ``(lh, fh, lp, fp)``."""
    lo_h, hi_h, lo_p, hi_p = (float(rule.min_households), float(rule.max_households),
                              float(rule.min_persons), float(rule.max_persons))

    def h_ok(lh, fh):
        return lh <= hi_h and lh + fh >= lo_h

    def p_ok(lp, fp):
        return lp <= hi_p and lp + fp >= lo_p

    return {"households": lambda lh, fh, lp, fp: h_ok(lh, fh),
            "persons": lambda lh, fh, lp, fp: p_ok(lp, fp),
            "both": lambda lh, fh, lp, fp: h_ok(lh, fh) and p_ok(lp, fp)}.get(
        rule.mode, lambda lh, fh, lp, fp: h_ok(lh, fh) or p_ok(lp, fp))


def _past_upper_fn(rule: Rule):
    """Whether totals ``(households, persons)`` already above the upper bound(s) can never meet the
    rule again, as a plain scalar function."""
    uh, up = float(rule.max_households), float(rule.max_persons)
    return {"households": lambda a, b: a > uh, "persons": lambda a, b: b > up,
            "both": lambda a, b: a > uh or b > up}.get(rule.mode, lambda a, b: a > uh and b > up)


def _feasible_sets(u: int, nbrs, h, p, locked, rule: Rule, max_sets: int):
    """The connected sets of locked nodes containing ``u`` that, with any part of the free regions
    touching them, can meet the rule; and every locked node looked at. None when there are too
    many sets to list (then nothing is claimed)."""
    seen: set[frozenset] = set()
    stack = [frozenset([u])]
    involved = {u}
    found = []
    ok, past = _interval_ok_fn(rule), _past_upper_fn(rule)
    while stack:
        S = stack.pop()
        if S in seen:
            continue
        seen.add(S)
        if len(seen) > max_sets:
            return None, involved
        free = {f for v in S for f in nbrs[v] if not locked[f]}
        lh = float(sum(h[v] for v in S))
        lp = float(sum(p[v] for v in S))
        if ok(lh, float(sum(h[f] for f in free)), lp, float(sum(p[f] for f in free))):
            found.append(S)
        if past(lh, lp):
            continue
        reach = {w for v in S for w in nbrs[v] if locked[w]} | {w for f in free for w in nbrs[f] if locked[w]}
        for w in sorted(reach - S):
            involved.add(w)
            stack.append(S | {w})
    return found, involved


def _choose(units: list[int], options: dict, max_steps: int) -> bool | None:
    """Whether every unit can get one of its sets so that chosen sets are equal or disjoint and a
    unit inside another's set gets that same set (backtracking; None when it gives up)."""
    steps = [0]
    units = sorted(units, key=lambda u: (len(options[u]), u))

    def go(i, chosen: dict, used: dict) -> bool | None:
        if i == len(units):
            return True
        u = units[i]
        if u in chosen:
            return go(i + 1, chosen, used)
        for S in options[u]:
            steps[0] += 1
            if steps[0] > max_steps:
                return None
            if any(v in used and used[v] != S for v in S):
                continue
            if any(v in options and v != u and S not in options[v] for v in S):
                continue
            new_used = dict(used)
            new_chosen = dict(chosen)
            for v in S:
                new_used[v] = S
                if v in options:
                    new_chosen[v] = S
            r = go(i + 1, new_chosen, new_used)
            if r is None or r:
                return r
        return False

    return go(0, {}, {})


def stuck_compounds(nbrs: list[set[int]], h: np.ndarray, p: np.ndarray, locked: np.ndarray, rule: Rule, *,
                    max_sets: int = 300, max_steps: int = 20_000) -> list[tuple[frozenset, frozenset]]:
    """Groups of whole fitting compounds that cannot all stay whole (see the module doc).

    ``nbrs`` is the adjacency of a graph whose nodes are locked pieces (whole fitting compounds)
    and free regions (never adjacent to each other); ``h``/``p`` their totals. A free region too
    small for a grid of its own with a single locked neighbour must lie in that neighbour's grid
    and counts as part of it. A locked node too small to be a grid alone needs a connected set of
    locked nodes that (with any part of the free regions touching them) can meet the rule; nodes
    whose sets overlap are checked together, each getting one set, sets equal or disjoint.
    Returns, per group that cannot: the small nodes of the group and every locked node the proof
    relied on (one of which must be split). Groups whose proofs share no node need a split each.
    """
    h = np.asarray(h, dtype=float).copy()
    p = np.asarray(p, dtype=float).copy()
    locked = np.asarray(locked, dtype=bool).copy()
    nbrs = [set(x) for x in nbrs]
    for f in np.flatnonzero(~locked).tolist():
        ln = [w for w in nbrs[f] if locked[w]]
        if len(ln) == 1 and rule.too_small(h[f], p[f]) and not rule.meets(h[f], p[f]):
            w = ln[0]
            h[w] += h[f]
            p[w] += p[f]
            h[f] = p[f] = 0.0
    small = [u for u in np.flatnonzero(locked).tolist() if not rule.meets(h[u], p[u])]
    options: dict[int, list[frozenset]] = {}
    involved: dict[int, set[int]] = {}
    hl, pl, ll = h.tolist(), p.tolist(), locked.tolist()   # plain lists: scalar access is faster
    for u in small:
        found, near = _feasible_sets(u, nbrs, hl, pl, ll, rule, max_sets)
        involved[u] = near
        if found is not None:
            options[u] = found
    # groups: small nodes whose possible sets share a node (a node with too many sets to list is
    # left out, which only drops constraints)
    small = [u for u in small if u in options]
    parent = {u: u for u in small}

    def root(u):
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    owner: dict[int, int] = {}
    for u in small:
        for v in sorted({v for S in options[u] for v in S} | {u}):
            if v in owner:
                parent[root(u)] = root(owner[v])
            else:
                owner[v] = u
    groups: dict[int, list[int]] = {}
    for u in small:
        groups.setdefault(root(u), []).append(u)
    out = []
    for key in sorted(groups):
        members = groups[key]
        if _choose(members, options, max_steps) is False:
            inv: set[int] = set()
            for u in members:
                inv |= involved[u]
            out.append((frozenset(members), frozenset(inv)))
    return out


def _columns(nbrs: list[list[int]], shared: dict, h, p, perim, area, rule: Rule, max_cols: int, stats: dict):
    """Every connected set of nodes that meets the rule (ESU: each set once, from its smallest
    node), with its Σ P²/A; None when there are more than ``max_cols`` sets or partial sets."""
    n = len(h)
    cols: list[tuple[tuple[int, ...], float]] = []
    count = 0
    h, p, perim, area = (np.asarray(x, dtype=float).tolist() for x in (h, p, perim, area))
    viol = rule.violation_fn()     # 0.0 exactly when the rule is met (scalar, fast)
    past = _past_upper_fn(rule)
    limit = PARTIAL_PER_COLUMN * max_cols
    # (set, extension, neighbourhood, households, persons, perimeter, area)
    stack: list[tuple[tuple[int, ...], tuple[int, ...], frozenset[int], float, float, float, float]]
    for v in range(n):
        stack = [((v,), tuple(u for u in nbrs[v] if u > v), frozenset(nbrs[v]) | {v},
                  h[v], p[v], perim[v], area[v])]
        while stack:
            S, ext, nbhd, sh, sp_, pe, ar = stack.pop()
            count += 1
            if count > limit:
                stats["enumerated"] = count
                stats["overflow"] = True
                return None
            if viol(sh, sp_) == 0.0:
                cols.append((S, pe * pe / max(ar, 1.0)))
                if len(cols) > max_cols:
                    stats["enumerated"] = count
                    stats["overflow"] = True
                    return None
            todo = list(ext)
            while todo:
                w = todo.pop()
                nh, np_ = sh + h[w], sp_ + p[w]
                if past(nh, np_):
                    continue
                inner = sum(shared.get((w, x), 0.0) for x in S)
                new_ext = tuple(todo) + tuple(u for u in nbrs[w] if u > v and u not in nbhd)
                stack.append((S + (w,), new_ext, nbhd | set(nbrs[w]), nh, np_, pe + perim[w] - 2 * inner,
                               ar + area[w]))
    stats["enumerated"] = count
    return cols


def partition_region(nbrs: list[list[int]], shared: dict, h, p, perim, area, rule: Rule, *,
                     max_cols: int = MAX_COLUMNS, max_nodes: int = COVER_NODE_LIMIT,
                     deadline: float | None = None, stats: dict | None = None) -> list[tuple[int, ...]] | None:
    """A compact partition of a small graph of units into connected sets that each meet the rule
    (see the module doc), as a list of unit tuples; None when there is none (or the graph has too
    many such sets to list, or the search gives up). ``stats`` gets ``infeasible`` when None is a
    proof that there is none, ``overflow`` when there were too many sets to list.

    The linear relaxation of the set-partitioning program (HiGHS) proves most infeasible cases at
    once and ranks the sets; a depth-first exact cover, trying the sets the relaxation likes first
    and stopping at ``max_nodes`` (deterministic), picks the sets.
    """
    stats = {} if stats is None else stats
    n = len(h)
    cols = _columns(nbrs, shared, h, p, perim, area, rule, max_cols, stats)
    if not cols:
        stats["infeasible"] = cols is not None   # nothing meets the rule (None: too many to list)
        return None
    cols_of: list[list[int]] = [[] for _ in range(n)]
    for j, (S, _) in enumerate(cols):
        for u in S:
            cols_of[u].append(j)
    if any(not c for c in cols_of):
        stats["infeasible"] = True
        return None
    r, c = [], []
    for j, (S, _) in enumerate(cols):
        r.extend(S)
        c.extend([j] * len(S))
    A = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, len(cols)))
    cost = np.array([cst for _, cst in cols])
    scale = float(np.median(cost)) or 1.0
    res, timed_out = _run(cost / scale, np.zeros(len(cols)), Bounds(0, 1),
                          [LinearConstraint(A, np.ones(n), np.ones(n))], 1, deadline)
    stats["timed_out"] = timed_out
    if res is None or res.x is None:
        stats["infeasible"] = res is not None and res.status == 2   # the relaxation is infeasible
        return None
    lp = np.round(res.x, 6)
    for u in range(n):
        cols_of[u].sort(key=lambda j: (-lp[j], cost[j], j))
    order = sorted(range(n), key=lambda u: (len(cols_of[u]), u))
    # covered units and every column's units as bit masks (one AND per overlap test)
    mask = [sum(1 << x for x in S) for S, _ in cols]
    bit = [1 << u for u in order]
    covered = [0]
    chosen: list[int] = []
    nodes = [0]

    def go() -> bool | None:
        cov = covered[0]
        u = next((x for x, b in zip(order, bit) if not cov & b), None)
        if u is None:
            return True
        for j in cols_of[u]:
            if cov & mask[j]:
                continue
            nodes[0] += 1
            if nodes[0] > max_nodes:
                return None
            covered[0] = cov | mask[j]
            chosen.append(j)
            r_ = go()
            if r_ is None or r_:
                return r_
            chosen.pop()
            covered[0] = cov
        return False

    found = go()
    stats["enumerated"] = stats.get("enumerated", 0) + nodes[0] * 8
    if not found:
        stats["infeasible"] = found is False    # every cover tried (None: the node limit)
        return None
    return [cols[j][0] for j in chosen]
