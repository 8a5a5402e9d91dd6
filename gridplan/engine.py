"""The grid engine: cut every community into contiguous grids of 300–500 households (or 1,000–1,500
persons), keeping every compound (小区) that fits in a grid whole unless a check proves that the
community cannot meet the rule that way.

How it works, per community (:func:`solve_community`, a pure function of compact arrays):

1. **The rule it is judged by.** The caller passes :meth:`Rule.effective` of the community's
   totals: under "either", a community whose households (or persons) are all zero or absent is
   judged on the measure that is present — here and in :mod:`gridplan.metrics` alike.
2. **Exceptions first.** A building over that rule's upper bound (:meth:`Rule.over_bound`) becomes
   a grid of its own. The rest splits into the connected components of the adjacency graph
   (:mod:`gridplan.adjacency`); each is partitioned on its own, so no grid jumps across water. A
   component whose totals admit no compliant count of grids (:meth:`Rule.k_options` is empty)
   becomes one grid (joining a touching over-bound building's grid if there is one), flagged by
   :mod:`gridplan.metrics`.
3. **Units.** A *fitting* compound (two or more buildings, totals not over the bound) is one unit
   per connected piece and the search never cuts it. Everything else — buildings of compounds too
   large for a grid, buildings outside compounds — is cut into connected *slices* of about half the
   width of the bounds (a balanced k-means per group), which repairs may shatter into buildings.
4. **Local search** (:mod:`gridplan._search`), for up to three feasible grid counts ``k`` (average
   grid closest to the middle of the bounds first): weighted k-means++ centres, a balanced
   k-means (a power diagram tuned until every grid's load is within 5 % of ``H/k``), each grid
   keeping its heaviest connected piece; then boundary moves of single units, accepted when they
   lower ``penalty × bound violation + cut cost + inertia + Σ P²/A`` (the cut counts shared cell
   boundary in metres, four times inside a compound, a quarter along roads; P and A are the grid
   perimeter and area) and keep the source grid connected (a search from the unit's neighbours
   inside the grid). The penalty grows 3 → 30 → 10⁶ per household, so shape decides which units
   move to fix the bounds; exchanges of two units fix near misses. Failing grids get their slices
   shattered (borders first, then neighbours, then all) and the search runs again. Of
   :data:`RESTARTS` constructions the best wins: fewest violations, then fewest fitting compounds
   split, then the most compact.
5. **The compound check** (:mod:`gridplan._packing`), when the search has not met the rule with
   every fitting compound whole. Two sound lower bounds on how many fitting compounds any
   compliant partition of the component must split; the larger is reported as
   ``compounds_split_necessary``:

   * *with contiguity, locally*: a compound too small to be a grid alone must share its grid with
     a connected set of whole compounds and parts of the free regions touching them (a free
     region too small for a grid of its own with a single whole neighbour must join that
     neighbour). Small compounds whose possible sets overlap are checked together (each gets one
     set; sets equal or disjoint); a group that cannot is a proof, and groups whose proofs share
     no compound each need a split;
   * *by counting*: a mixed-integer program (HiGHS) over the fitting compounds (each whole or
     declared split) and a divisible pool of everything else (per class of persons per household)
     finds the fewest splits for *any* number of grids to meet the rule, ignoring contiguity —
     skipped when a quick packing already needs none.

6. **Exact region repair.** When nothing is proven, each connected group of failing grids is
   re-partitioned exactly at unit level, with one ring of neighbouring grids; when that ring has
   too many sets to list, in smaller regions inside it (the group alone, one failing grid with one
   grid next to it, the group with one neighbouring grid); then two rings, then the whole
   component: every connected set of units that meets the rule is listed (ESU enumeration) and a
   set-partitioning program (its linear relaxation, then a depth-first exact cover guided by it)
   picks compact sets covering every unit once. Any number of grids may come out, so two grids
   whose whole compounds only fit together can merge, which the local search (fixed ``k``) cannot
   do.
7. **Cutting what must be cut.** When a split is proven, compounds are cut greedily (the one whose
   cut leaves the fewest stuck compounds and that its neighbours can absorb), the search and the
   region repair run again. If the rule is still broken, the failing grids' borders get shattered,
   fitting compounds included (counted as split but not as necessary), and the region repair runs
   once more from there. Then each cut compound is tried whole again (the grids it lies in, then
   those and their neighbours, then the whole piece, re-partitioned exactly). A final
   building-level polish improves shapes without breaking the rule or cutting another compound.

Same seed, same plan, anywhere: the search is budgeted in deterministic *work units* (unit moves
evaluated, plus listed sets; :data:`WORK_PER_BUILDING` per building of the community), never in
seconds, and the exact programs stop at node limits, so machine load, core count, ``n_jobs`` or the
process a community runs in never change a plan. Each community is solved by
:func:`solve_community`, a module-level pure function of (:class:`CommunityArrays`, rule, seed,
work budget), dispatched by a pluggable executor (:mod:`gridplan._executor`: this process, or a
pool of local processes; anything with the same ``map`` can be plugged in), or on a Dask
cluster (:mod:`gridplan.cluster`: the dataset's compact arrays scattered once, tasks by community). ``time_limit_s`` is
everywhere a wall-clock *safety cap*: it should never fire, and when it (or the work budget) ends a
search early, :attr:`PartitionRun.budget_reached` says so. A search cut short never returns
something worse than its starting point, and a plan is always returned (every building in one
grid).
"""
from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from ._errors import PlanError
from ._executor import PARALLEL_MIN_BUILDINGS, Executor, make_executor
from ._packing import min_splits, partition_region, stuck_compounds, whole_packing_exists
from ._search import BIG, Graph, Work, _balanced_kmeans, improve, lams, make_connected, shape_cost, violations, weights
from ._search import Search as _Search  # noqa: F401  (tests patch the search through the engine)
from .adjacency import building_adjacency, shared_lengths
from .codes import apply_codes, next_codes, number_grids, reading_order
from .model import Dataset, Plan, Rule, dataset_cache
from .tessellate import building_cells, building_points, community_codes, community_labels

log = logging.getLogger(__name__)

#: constructions tried per component in a full partition (different seeds); the best one wins
RESTARTS = 5
#: default work budget per building of a community (unit moves evaluated); generous: a search
#: normally converges long before, so the budget only bounds pathological inputs
WORK_PER_BUILDING = 3000
#: every solve gets at least the budget of this many buildings, however small
WORK_MIN_BUILDINGS = 100
#: the exact region repair's tries around a connected group of failing grids: (region, slice size as
#: a fraction of the search's slices); regions: 0 the group alone, 1 one failing grid of the group
#: and one grid next to it, 2 the group and one neighbouring grid (each of up to
#: REGION_NEIGHBOURS), 3 one ring of neighbouring grids, 4 two rings, 5 every grid. One ring comes
#: first; the smaller regions inside it are tried when it had too many sets to list (a region
#: inside one proven to have no compliant partition is skipped)
REGION_STEPS = ((3, 0.5), (0, 0.5), (1, 0.5), (2, 0.5), (3, 0.25), (0, 0.25), (1, 0.25), (2, 0.25),
                (4, 0.5), (4, 0.25), (5, 0.5), (5, 0.25))
REGION_NEIGHBOURS = 6
#: most units the exact region repair takes on; units lighter than this fraction of the search's
#: slices join a neighbour first
REGION_MAX_UNITS = 150
REGION_TINY = 0.25
#: size of the slices of buildings outside fitting compounds, as a fraction of the bounds' width
SLICE = 0.5
#: the bound-violation weights of the repair passes
REPAIR_PENALTIES = (3.0, 30.0, BIG)
#: compounds tried per cut when choosing which compounds to cut; in the first round all of them,
#: up to CUT_PROOF_MAX (then no single cut enough is a proof of two splits)
CUT_CANDIDATES = 24
CUT_PROOF_MAX = 60
#: work units charged for one run of the compound-counting program
CHECK_WORK = 2000
#: re-partition a compliant piece exactly for shape when it has at most this many units
RESHAPE = True
RESHAPE_MAX_UNITS = 60
RESHAPE_MAX_COLUMNS = 600
#: finish with a building-level shape polish
POLISH = True
#: weights of the inertia and shape terms in the polish, relative to the search's
POLISH_LAM = (1.0, 1.0)
#: default wall-clock safety cap of a full partition (seconds)
TIME_LIMIT_S = 120.0

__all__ = ["partition", "partition_run", "reoptimise", "split_grid", "solve_community", "necessary_splits",
           "community_rules", "over_bound_buildings",
           "CommunityArrays", "CommunityResult", "PartitionRun", "RESTARTS", "WORK_PER_BUILDING",
           "PARALLEL_MIN_BUILDINGS"]

# ``_Search`` (the local search, imported above) stays importable from here for tests that
# disable its connectivity guard


# ---------------------------------------------------------------------------------------------
# per-dataset arrays


@dataclass
class _Ctx:
    ids: pd.Index
    comm: np.ndarray
    compound: np.ndarray
    graph: Graph

    @property
    def h(self):
        return self.graph.h

    @property
    def p(self):
        return self.graph.p

    @property
    def xy(self):
        return self.graph.xy

    @property
    def A(self):
        return self.graph.A


def _context(dataset: Dataset) -> _Ctx:
    def compute():
        b = dataset.buildings
        n = len(b)

        def num(col):
            if col not in b.columns:
                return np.zeros(n)
            return pd.to_numeric(b[col], errors="coerce").fillna(0).clip(lower=0).to_numpy(dtype=float)

        comm = community_labels(dataset)
        if "compound_id" in b.columns:
            c = b["compound_id"]
            na = c.isna().to_numpy()
            key = [None if m else f"{v}\x00{k}" for m, v, k in zip(na, c.to_numpy(dtype=object), comm)]
            codes, _ = pd.factorize(pd.Series(key, dtype=object), use_na_sentinel=True)
        else:
            codes = np.full(n, -1)
        cells = building_cells(dataset).to_numpy()
        A = building_adjacency(dataset)
        L = shared_lengths(dataset)
        g = Graph(A=A, L=L, h=num("households"), p=num("persons"), xy=building_points(dataset),
                  area=shapely.area(cells).astype(float), perim=shapely.length(cells).astype(float))
        return _Ctx(ids=b.index.astype(str), comm=comm, compound=np.asarray(codes, dtype=np.int64), graph=g)
    return dataset_cache(dataset, "partition_context", compute)


def _community_rule(ctx: _Ctx, rule: Rule, community_id: str) -> Rule:
    """The rule a community is judged by (:meth:`Rule.effective` of its totals)."""
    m = ctx.comm == community_id
    return rule.effective(float(ctx.h[m].sum()), float(ctx.p[m].sum()))


def community_rules(dataset: Dataset, rule: Rule) -> dict[str, Rule]:
    """The rule every community is judged by (:meth:`Rule.effective` of its totals)."""
    ctx = _context(dataset)
    codes, uniq = community_codes(dataset)
    H = np.bincount(codes, ctx.h, minlength=len(uniq))
    P = np.bincount(codes, ctx.p, minlength=len(uniq))
    return {str(c): rule.effective(float(h), float(p)) for c, h, p in zip(uniq, H, P)}


def over_bound_buildings(dataset: Dataset, rule: Rule) -> np.ndarray:
    """Per building: whether it is too large for any grid, under the rule its community is judged
    by (so under "either", a building of 1,600 persons is over the bound in a community without
    households)."""
    def compute():
        ctx = _context(dataset)
        rules = community_rules(dataset, rule)
        out = np.zeros(len(ctx.comm), dtype=bool)
        for c, r in rules.items():
            m = ctx.comm == c
            out[m] = r.over_bound(ctx.h[m], ctx.p[m])
        return out
    return dataset_cache(dataset, f"over_bound:{sorted(rule.as_dict().items())}", compute)


@dataclass(frozen=True)
class CommunityArrays:
    """Everything :func:`solve_community` needs about a set of buildings, as plain arrays (no
    geometry, a few hundred bytes per building, cheap to pickle to another process or machine).

    ``indptr``/``indices`` are the CSR adjacency of the buildings among themselves, ``cut`` the
    cost of cutting each edge and ``shared`` its shared boundary length (m); ``compound`` holds a
    compound code per building (-1: none).
    """

    h: np.ndarray
    p: np.ndarray
    xy: np.ndarray
    area: np.ndarray
    perim: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    cut: np.ndarray
    shared: np.ndarray
    compound: np.ndarray

    @classmethod
    def of(cls, ctx: _Ctx, nodes: np.ndarray) -> CommunityArrays:
        """The arrays of the subgraph on ``nodes`` (one community)."""
        g = ctx.graph.sub(np.asarray(nodes, dtype=np.int64))
        A, L = g.A, g.L
        A.sort_indices()
        L.sort_indices()
        if not (np.array_equal(A.indptr, L.indptr) and np.array_equal(A.indices, L.indices)):
            from ._search import _align
            L = _align(A, L)
        codes = ctx.compound[nodes]
        _, local = np.unique(codes, return_inverse=True)
        local = np.where(codes >= 0, local.ravel() - int((codes < 0).any()), -1)
        return cls(h=g.h.copy(), p=g.p.copy(), xy=g.xy.copy(), area=g.area.copy(), perim=g.perim.copy(),
                   indptr=A.indptr.copy(), indices=A.indices.copy(), cut=A.data.copy(), shared=L.data.copy(),
                   compound=local.astype(np.int64))

    def __len__(self) -> int:
        return len(self.h)

    def graph(self) -> Graph:
        """The arrays as a :class:`Graph` again."""
        n = len(self.h)
        A = sp.csr_matrix((self.cut, self.indices, self.indptr), shape=(n, n))
        L = sp.csr_matrix((self.shared, self.indices, self.indptr), shape=(n, n))
        return Graph(A=A, L=L, h=self.h, p=self.p, xy=self.xy, area=self.area, perim=self.perim)


@dataclass(frozen=True)
class CommunityResult:
    """What :func:`solve_community` returns: a grid index (0..grids-1) per building, and figures.

    ``compounds_split`` counts the fitting compounds (of at least two buildings) the grids cut;
    ``compounds_split_necessary`` how many of those the compound check proved unavoidable;
    ``budget_reached`` whether the work budget or the safety cap ended a search early.
    """

    labels: np.ndarray
    work: int
    budget_reached: bool
    fitting_compounds: int = 0
    compounds_split: int = 0
    compounds_split_necessary: int = 0


# ---------------------------------------------------------------------------------------------
# units: whole fitting compounds, slices of everything else


@dataclass
class _Units:
    unit_of: np.ndarray          # unit index per building
    locked: np.ndarray           # per unit: a whole fitting compound piece of ≥ 2 buildings
    fits: np.ndarray             # per compound code: fits under the bound (and has ≥ 2 buildings)


def _compound_fit(G: Graph, cc: np.ndarray, rule: Rule) -> np.ndarray:
    """Per compound code: whether it fits in a grid and has at least two buildings."""
    valid = cc >= 0
    nc = int(cc.max()) + 1 if valid.any() else 0
    th = np.bincount(cc[valid], G.h[valid], minlength=nc)
    tp = np.bincount(cc[valid], G.p[valid], minlength=nc)
    nb = np.bincount(cc[valid], minlength=nc)
    return ~rule.over_bound(th, tp) & (nb >= 2)


def _slice_size(rule: Rule, prim: str) -> float:
    lo, hi = ((rule.min_households, rule.max_households) if prim == "h" else (rule.min_persons, rule.max_persons))
    return max((hi - lo) * SLICE, hi / 10.0, 1.0)



def _slice_pieces(piece: np.ndarray, free: np.ndarray, xy: np.ndarray, mass: np.ndarray, w: np.ndarray, A,
                  S: float, seed: int, cap: tuple[float, int] | None = None) -> np.ndarray | None:
    """Cut every piece heavier than ``S`` that has a ``free`` building into ``ceil(weight / S)`` connected
    slices (balanced k-means, then made connected on ``A``); pieces of whole compounds stay. Returns
    a unit number per building, numbered 0… in order.

    With ``cap = (min_w, limit)``, returns None as soon as more than ``limit`` units of at least
    ``min_w`` are certain (see :func:`_heavy_pieces`): the caller would have too many units anyway."""
    pw = np.bincount(piece, w)
    unit = piece.astype(np.int64).copy()
    nxt = int(piece.max()) + 1
    Acsr = A.tocsr()
    if cap is not None:
        heavy = _heavy_pieces(piece, free, w, S, cap[0])
        bound = int(heavy.sum())
        if bound > cap[1]:
            return None
    for pc in np.unique(piece[free]).tolist():
        if pw[pc] <= S:
            continue
        members = np.flatnonzero(piece == pc)
        m = min(int(math.ceil(pw[pc] / S)), len(members))
        if m < 2:
            continue
        lab = _balanced_kmeans(xy[members], mass[members], w[members] + 1e-9, m, seed)
        lab = make_connected(Acsr[members][:, members], lab, w[members], m)
        unit[members] = nxt + lab
        nxt += m
        if cap is not None:
            bound += int((np.bincount(lab, w[members], minlength=m) >= cap[0]).sum()) - int(heavy[pc])
            if bound > cap[1]:
                return None
    _, unit = np.unique(unit, return_inverse=True)
    return unit.ravel()


def _heavy_pieces(piece: np.ndarray, free: np.ndarray, w: np.ndarray, S: float, min_w: float) -> np.ndarray:
    """Per piece, a lower bound on its units of at least ``min_w`` once :func:`_slice_pieces` has cut
    it into slices of about ``S`` (0 or 1): a piece that is not sliced is a unit as it is, and a
    sliced piece has a slice at least as heavy as its slices' average. :func:`_merge_tiny` never
    merges such a unit away, so the sum bounds the units a re-partition ends with."""
    pw = np.bincount(piece, w)
    size = np.bincount(piece)
    has_free = np.bincount(piece, free.astype(float), minlength=len(pw)) > 0
    m = np.where(has_free & (pw > S), np.minimum(np.ceil(pw / S), size), 1)
    return np.where(m >= 2, pw / np.maximum(m, 1) >= min_w, pw >= min_w).astype(np.int64)


def _units(G: Graph, cc: np.ndarray, rule: Rule, prim: str, seed: int, cut: frozenset = frozenset()) -> _Units:
    """Fitting compounds (except those in ``cut``) are one unit per connected piece; the other
    buildings are grouped by compound (or as loose buildings) into connected slices of at most
    about :func:`_slice_size`."""
    n = len(G)
    fits = _compound_fit(G, cc, rule)
    safe = np.where(cc >= 0, cc, 0)
    whole = (cc >= 0) & (fits[safe] if len(fits) else False)
    if cut:
        whole &= ~np.isin(cc, np.fromiter(cut, dtype=np.int64))
    A = G.A.tocoo()
    same = (cc[A.row] == cc[A.col]) & (whole[A.row] == whole[A.col])
    Gm = sp.coo_matrix((np.ones(int(same.sum())), (A.row[same], A.col[same])), shape=(n, n))
    _, piece = connected_components(Gm, directed=False)
    w = G.h if prim == "h" else G.p
    mass = G.mass if G.mass is not None else weights(G, prim)
    S = _slice_size(rule, prim)
    sliced = _slice_pieces(piece, ~whole, G.xy, mass, w, G.A, S, seed) if n else None
    unit_of = sliced if sliced is not None else piece.astype(np.int64)   # None only with a cap
    nu = int(unit_of.max()) + 1 if n else 0
    locked = np.zeros(nu, dtype=bool)
    size = np.bincount(unit_of, minlength=nu)
    lk = np.bincount(unit_of, whole.astype(float), minlength=nu) > 0
    locked[lk & (size >= 2)] = True
    return _Units(unit_of=unit_of, locked=locked, fits=fits)


def _fit_split(labels: np.ndarray, cc: np.ndarray, fits: np.ndarray) -> np.ndarray:
    """The fitting compound codes whose buildings lie in more than one grid."""
    m = cc >= 0
    if not m.any() or not fits.any():
        return np.zeros(0, dtype=np.int64)
    nl = int(labels.max()) + 1
    pairs = np.unique(cc[m].astype(np.int64) * nl + labels[m])  # (compound, grid) pairs, as one key
    parts = np.bincount(pairs // nl, minlength=len(fits))
    return np.flatnonzero((parts > 1) & fits)


@dataclass(frozen=True)
class _CheckResult:
    necessary: int            # proven lower bound on fitting compounds split
    cut: frozenset            # compound codes to cut first
    grids: int                # grid count of the packing found (0: none)


def _super_graph(G: Graph, cc: np.ndarray, whole: np.ndarray):
    """Locked pieces (connected pieces of whole compounds) and free regions (connected regions of
    the other buildings) as one small graph: neighbour sets, totals, locked flags, compound code."""
    n = len(G)
    A = G.A.tocoo()
    same = (whole[A.row] == whole[A.col]) & np.where(whole[A.row], cc[A.row] == cc[A.col], True)
    Gm = sp.coo_matrix((np.ones(int(same.sum())), (A.row[same], A.col[same])), shape=(n, n))
    _, node = connected_components(Gm, directed=False)
    nn = int(node.max()) + 1
    nh = np.bincount(node, G.h, minlength=nn)
    npp = np.bincount(node, G.p, minlength=nn)
    locked = np.bincount(node, whole.astype(float), minlength=nn) > 0
    code_of = np.full(nn, -1, dtype=np.int64)
    code_of[node[whole]] = cc[whole]
    cross = node[A.row] != node[A.col]
    pairs = np.unique(node[A.row[cross]].astype(np.int64) * nn + node[A.col[cross]])
    a_, b_ = pairs // nn, (pairs % nn).tolist()
    cut = np.searchsorted(a_, np.arange(nn + 1)).tolist()
    nbrs = [set(b_[cut[i]:cut[i + 1]]) for i in range(nn)]
    return nbrs, nh, npp, locked, code_of, node


def _stuck(G, cc, rule, whole) -> list[tuple[frozenset, frozenset]]:
    """:func:`stuck_compounds` in compound codes: (small compounds, compounds the proof relied on)."""
    nbrs, nh, npp, locked, code_of, _ = _super_graph(G, cc, whole)
    out = []
    for members, involved in stuck_compounds(nbrs, nh, npp, locked, rule):
        out.append((frozenset(int(code_of[v]) for v in members if code_of[v] >= 0),
                    frozenset(int(code_of[v]) for v in involved if code_of[v] >= 0)))
    return out


def _check(G: Graph, cc: np.ndarray, rule: Rule, fits: np.ndarray, work: Work | None = None) -> _CheckResult:
    """The compound check on a connected piece (see :mod:`gridplan._packing`): the local check with
    contiguity (:func:`stuck_compounds`) and the counting check (:func:`min_splits`, skipped when a
    quick packing shows that no split is needed). The lower bound is the larger of the two; the
    compounds to cut are, per stuck group, the first single compound whose cut frees the group
    (small ones first), and the counting check's choice."""
    nc = len(fits)
    safe = np.where(cc >= 0, cc, 0)
    whole = (cc >= 0) & (fits[safe] if nc else False)
    th = np.bincount(cc[cc >= 0], G.h[cc >= 0], minlength=nc)
    stuck = [(m & set(np.flatnonzero(fits).tolist()), inv & set(np.flatnonzero(fits).tolist()))
             for m, inv in _stuck(G, cc, rule, whole)]
    stuck = [(m, inv) for m, inv in stuck if inv]
    # lower bound: groups whose proofs share no compound
    taken: set[int] = set()
    lb_local = 0
    for _, inv in stuck:
        if not (inv & taken):
            lb_local += 1
            taken |= inv
    cut, single_fix = _choose_cut(G, cc, rule, whole, stuck, th)
    if stuck and not single_fix:
        # every compound the proofs rely on was cut in turn and a group stayed stuck each time; a
        # cut elsewhere leaves the proofs standing: one split is not enough
        lb_local = max(lb_local, 2)
    # counting: fitting compounds as items, everything else the pool
    items = np.flatnonzero(fits)
    tp = np.bincount(cc[cc >= 0], G.p[cc >= 0], minlength=nc)
    ih, ip = th[items], tp[items]
    in_pool = ~whole
    lb_count, grids = 0, 0
    if len(items) and not whole_packing_exists(ih, ip, float(G.h[in_pool].sum()), float(G.p[in_pool].sum()), rule):
        res = min_splits(ih, ip, G.h[in_pool], G.p[in_pool], rule, deadline=None if work is None else work.deadline)
        lb_count, grids = res.necessary, res.grids
        if work is not None:
            work.used += CHECK_WORK
            if res.timed_out:
                work.capped = work.reached = True
        cut |= set(items[res.split].tolist())
    return _CheckResult(max(lb_local, lb_count), frozenset(cut), grids)


def _choose_cut(G, cc, rule, whole, stuck, th) -> tuple[set[int], bool]:
    """Compounds to cut so that fewer compounds stay stuck: greedily the compound whose cut leaves
    the fewest stuck compounds (and that can go somewhere once cut), small ones first on ties. When
    no cut helps, nothing more is cut here (the search's last resort decides).

    Also says whether some single cut leaves nothing stuck: the first round tries every compound
    the proofs rely on (up to :data:`CUT_PROOF_MAX` of them), so False is a proof that one split
    is not enough."""
    cut: set[int] = set()
    left = stuck
    single_fix = True

    def weight(groups):
        return sum(len(m) for m, _ in groups)

    first = True
    while left:
        pool = set().union(*(inv for _, inv in left)) - cut
        cands = sorted(pool, key=lambda c: (th[c], c))
        complete = first and len(cands) <= CUT_PROOF_MAX
        if not complete:
            cands = cands[:CUT_CANDIDATES]
        best_c, best_left = None, None
        any_free = False
        for c in cands:
            w = whole & ~np.isin(cc, np.fromiter(cut | {c}, dtype=np.int64, count=len(cut) + 1))
            rest = _stuck(G, cc, rule, w)
            any_free |= not rest
            if not _absorbable(G, cc, rule, whole, cut | {c}, c):
                continue
            if best_left is None or weight(rest) < weight(best_left):
                best_c, best_left = c, rest
                if not rest and not complete:
                    break
        if first:
            single_fix = any_free or not complete
            first = False
        if best_c is None or weight(best_left) >= weight(left):
            break
        cut.add(best_c)
        left = best_left
    return cut, single_fix


def _absorbable(G, cc, rule, whole, cut: set, c: int) -> bool:
    """Whether compound ``c``, once cut, can go somewhere: the free region it joins is large enough
    for a grid of its own, or its whole neighbours have room for it (in the rule's primary measure)."""
    w = whole & ~np.isin(cc, np.fromiter(cut, dtype=np.int64, count=len(cut)))
    nbrs, nh, npp, locked, code_of, node = _super_graph(G, cc, w)
    r = int(node[int(np.flatnonzero(cc == c)[0])])   # the node of c's first building
    if not rule.too_small(nh[r], npp[r]):
        return True
    prim = rule.primary(float(G.h.sum()), float(G.p.sum()), 2)
    if prim == "h":
        room = sum(max(rule.max_households - nh[v], 0.0) for v in nbrs[r] if locked[v])
        return room >= nh[r]
    room = sum(max(rule.max_persons - npp[v], 0.0) for v in nbrs[r] if locked[v])
    return room >= npp[r]


# ---------------------------------------------------------------------------------------------
# one connected component of buildings


def _shatter(labels, unit_of, hit_units: np.ndarray) -> np.ndarray:
    """unit_of with every building of ``hit_units`` (bool per unit) a unit of its own."""
    hit = hit_units[unit_of]
    new_unit = unit_of.copy()
    hb = np.flatnonzero(hit)
    new_unit[hb] = int(unit_of.max()) + 1 + np.arange(len(hb))
    _, new_unit = np.unique(new_unit, return_inverse=True)
    return new_unit.ravel()


def _repair(G: Graph, labels, unit_of, may: np.ndarray, k, rule, prim, lam, seed, work: Work,
            stop: float) -> tuple[np.ndarray, np.ndarray]:
    """Shatter units (those ``may`` allows, bool per unit) into buildings where the bounds fail
    and improve again: first the units on the borders of failing grids, then the units of failing
    grids and their neighbours, then all of them. Returns labels and the final unit_of."""
    for stage in range(3):
        if work.over(stop):
            break
        v = violations(rule, labels, G.h, G.p, k)
        bad = v > 0
        if not bad.any():
            break
        Ac = G.A.tocoo()
        cross = labels[Ac.row] != labels[Ac.col]
        nu = int(unit_of.max()) + 1
        if stage == 0:
            touch = cross & (bad[labels[Ac.row]] | bad[labels[Ac.col]])
            hit = np.zeros(nu, dtype=bool)
            hit[unit_of[Ac.row[touch]]] = True
            hit[unit_of[Ac.col[touch]]] = True
        elif stage == 1:
            near = bad.copy()
            gr, gc = labels[Ac.row[cross]], labels[Ac.col[cross]]
            near[gc[bad[gr]]] = True
            hit = np.bincount(unit_of, near[labels].astype(float), minlength=nu) > 0
        else:
            hit = np.ones(nu, dtype=bool)
        hit &= may
        if not hit.any():
            continue
        size = np.bincount(unit_of, minlength=nu)
        hit &= size > 1
        if not hit.any():
            continue
        new_unit = _shatter(labels, unit_of, hit)
        # which new units may still be shattered: those that were allowed before
        new_may = np.zeros(int(new_unit.max()) + 1, dtype=bool)
        new_may[new_unit] = may[unit_of]
        U = G.contract(new_unit)
        ulab = np.zeros(len(U), dtype=np.int64)
        ulab[new_unit] = labels
        ulab = improve(U, k, rule, prim, seed, work, init=ulab, lam=lam, penalties=REPAIR_PENALTIES,
                       stop=work.share(0.5) if stage < 2 else stop)
        labels = ulab[new_unit]
        unit_of, may = new_unit, new_may
    return labels, unit_of


@dataclass
class _Best:
    """The best labels seen: overall (fewest violations, then fewest fitting compounds split, then
    the most compact), and among those that split no fitting compound outside ``allowed``."""

    score: tuple = (math.inf,)
    labels: np.ndarray | None = None
    k: int = 0
    whole: dict = field(default_factory=dict)   # frozenset(allowed) → (score, labels)

    def offer(self, score, labels, split=frozenset()):
        if score < self.score:
            self.score, self.labels, self.k = score, labels, int(labels.max()) + 1
        for allowed, (sc, _) in list(self.whole.items()):
            if split <= allowed and score < sc:
                self.whole[allowed] = (score, labels)

    @property
    def found(self) -> np.ndarray:
        """The best labels (asked for only once some were offered)."""
        if self.labels is None:
            raise RuntimeError("no labels were offered")
        return self.labels

    def track(self, allowed: frozenset) -> None:
        """Also keep the best labels that split only compounds in ``allowed``."""
        self.whole.setdefault(allowed, ((math.inf,), None))


def _score(G, labels, rule, cc, fits) -> tuple:
    k = int(labels.max()) + 1
    v = float(violations(rule, labels, G.h, G.p, k).sum())
    return (round(v, 6), len(_fit_split(labels, cc, fits)), shape_cost(G, labels, k))


def _solve_piece(G: Graph, cc: np.ndarray, rule: Rule, ks: list[int], seed: int, work: Work,
                 restarts: int = RESTARTS, fixed_k: bool = False) -> tuple[np.ndarray, int, int, int]:
    """Labels (0..k-1) of one connected component of buildings, with the fitting compounds (of
    ≥ 2 buildings) it holds, how many of them it splits and how many splits are proven necessary.
    With ``fixed_k`` the number of grids is ``ks[0]`` whatever happens (no exact region repair,
    which may change it)."""
    n = len(G)
    H, P = float(G.h.sum()), float(G.p.sum())
    best = _Best()
    best.track(frozenset())
    fits = _compound_fit(G, cc, rule)
    safe = np.where(cc >= 0, cc, 0)
    whole = (cc >= 0) & (fits[safe] if len(fits) else False)

    def offer(labels, what):
        split = frozenset(_fit_split(labels, cc, fits).tolist())
        sc = _score(G, labels, rule, cc, fits)
        log.debug("piece of %d: %s → %s (work %d)", n, what, sc[:2], work.used)
        best.offer(sc, labels, split)

    def attempt(k, cut, trials, seed0):
        prim = rule.primary(H, P, k)
        Gm = G.with_mass(weights(G, prim))
        lam = lams(Gm, k)
        un = _units(Gm, cc, rule, prim, seed0, cut)
        U = Gm.contract(un.unit_of)
        for trial in range(trials):
            if trial and work.over():
                break
            s = seed0 + 7919 * trial
            stop = work.share(1.0 / (trials - trial + 1))
            if len(U) >= k:
                labels = improve(U, k, rule, prim, s, work, lam=lam, stop=stop)[un.unit_of]
                uo = un.unit_of
            else:
                labels = improve(Gm, k, rule, prim, s, work, lam=lam, stop=stop)
                uo = np.arange(n)
            if violations(rule, labels, G.h, G.p, k).sum() > 0:
                may = ~un.locked if len(U) >= k else np.ones(n, dtype=bool)
                labels, _ = _repair(Gm, labels, uo, may, k, rule, prim, lam, s, work, stop=work.share(0.5))
            offer(labels, f"k={k} cut={len(cut)} trial {trial}")
            if violations(rule, labels, G.h, G.p, k).sum() > 0 and trial >= 1:
                break

    def done():
        return best.score[0] == 0 and best.score[1] == 0

    # 1. the local search with whole fitting compounds
    tries = [min(k, n) for k in ks[:3]]
    for a, k in enumerate(tries):
        if a and work.over():
            break
        attempt(k, frozenset(), max(1, restarts), seed + 104729 * a)
        if done():
            break

    def region(allowed: frozenset, what):
        sc, labels = best.whole.get(allowed, ((math.inf,), None))
        if labels is None or fixed_k or work.over() or done():
            return
        if sc[0] == 0:
            return
        locked_b = whole & ~np.isin(cc, np.fromiter(allowed, dtype=np.int64, count=len(allowed)))
        out = _region_repair(G, labels, locked_b, cc, rule, rule.primary(H, P, best.k), seed, work)
        if out is not None:
            offer(out, f"exact region repair ({what})")

    # 2. the compound check; an exact re-partition around the failing grids with compounds whole
    necessary = 0
    chk = None
    if not done() and fits.any() and not work.over():
        chk = _check(G, cc, rule, fits, work)
        log.debug("piece of %d: check → %s", n, chk)
        necessary = chk.necessary
    if necessary == 0:
        region(frozenset(), "whole compounds")
    # 3. cut the compounds the check picked, search again and repair exactly
    if chk is not None and chk.cut and not (best.score[0] == 0 and best.score[1] <= necessary) \
            and not work.over():
        best.track(chk.cut)
        tried = []
        for k in ([chk.grids] if chk.grids in ks else []) + tries:
            if k in tried or work.over() or (best.score[0] == 0 and best.score[1] <= necessary):
                continue
            tried.append(k)
            attempt(min(k, n), chk.cut, 2, seed + 31337 + len(tried))
        if not (best.score[0] == 0 and best.score[1] <= necessary):
            region(chk.cut, "after the check")
    # 4. last resort: cut fitting compounds on the borders of failing grids (not proven necessary)
    if best.score[0] > 0 and not work.over():
        k = best.k
        prim = rule.primary(H, P, k)
        Gm = G.with_mass(weights(G, prim))
        lam = lams(Gm, k)
        uo = _units(Gm, cc, rule, prim, seed).unit_of
        labels, _ = _repair(Gm, best.found, uo, np.ones(int(uo.max()) + 1, dtype=bool), k, rule, prim, lam,
                            seed, work, stop=work.limit)
        offer(labels, "last resort")
        if best.score[0] > 0 and not fixed_k and not work.over():
            # the last resort's grids are closer to the rule: the exact repair again from there,
            # keeping whole the fitting compounds it kept whole
            current = set(_fit_split(best.found, cc, fits).tolist())
            locked_b = whole & ~np.isin(cc, np.fromiter(current, dtype=np.int64, count=len(current)))
            out = _region_repair(G, best.found, locked_b, cc, rule, rule.primary(H, P, best.k), seed, work)
            if out is not None:
                offer(out, "exact region repair after the last resort")
    # 5. fewer cuts: keep each cut compound whole in turn and re-partition exactly the grids it
    # lies in, then those and their neighbours, then the whole piece
    if not fixed_k and best.score[0] == 0 and best.score[1] > necessary:
        current = set(_fit_split(best.found, cc, fits).tolist())
        th = np.bincount(cc[cc >= 0], G.h[cc >= 0], minlength=len(fits))
        Ac = G.A.tocoo()
        for c in sorted(current, key=lambda c: (-th[c], c)):
            if work.over() or len(current) <= necessary:
                break
            keep = current - {c}
            locked_b = whole & ~np.isin(cc, np.fromiter(keep, dtype=np.int64, count=len(keep)))
            labels = best.found
            inside = np.zeros(best.k, dtype=bool)
            inside[np.unique(labels[cc == c])] = True
            cross = labels[Ac.row] != labels[Ac.col]
            ring = inside.copy()
            ring[labels[Ac.col[cross]][inside[labels[Ac.row[cross]]]]] = True
            for grids_in in (inside, ring, np.ones(best.k, dtype=bool)):
                out = _region_solve(G, labels, grids_in, locked_b, cc, rule, rule.primary(H, P, best.k), seed, work,
                                    0.5)
                if out is not None:
                    offer(out, f"keep compound {c} whole")
                    break
            current = set(_fit_split(best.found, cc, fits).tolist())
    # 6. the most compact partition of the whole piece at unit level, when it is small enough
    if RESHAPE and not fixed_k and best.score[0] == 0 and not work.over():
        current = set(_fit_split(best.found, cc, fits).tolist())
        locked_b = whole & ~np.isin(cc, np.fromiter(current, dtype=np.int64, count=len(current)))
        out = _region_solve(G, best.found, np.ones(best.k, dtype=bool), locked_b, cc, rule,
                            rule.primary(H, P, best.k), seed, work, 0.5, max_units=RESHAPE_MAX_UNITS,
                            max_cols=RESHAPE_MAX_COLUMNS)
        if out is not None:
            offer(out, "most compact partition")
    if POLISH and not work.over():
        _polish(G, cc, rule, fits, best, seed, work)
    labels = best.found
    split = len(_fit_split(labels, cc, fits))
    return labels, int(fits.sum()), split, min(split, necessary)


def _polish(G: Graph, cc: np.ndarray, rule: Rule, fits: np.ndarray, best: _Best, seed: int, work: Work) -> None:
    """Improve the shape of the best plan with single buildings: every building outside a whole
    fitting compound becomes a unit of its own and the search runs with bound violations barred
    (so compliance and whole compounds stay as they are)."""
    labels = best.found
    k = best.k
    if k < 2:
        return
    H, P = float(G.h.sum()), float(G.p.sum())
    prim = rule.primary(H, P, k)
    Gm = G.with_mass(weights(G, prim))
    split = set(_fit_split(labels, cc, fits).tolist())
    safe = np.where(cc >= 0, cc, 0)
    keep = (cc >= 0) & (fits[safe] if len(fits) else False) & ~np.isin(cc, np.fromiter(split, dtype=np.int64,
                                                                                        count=len(split)))
    # units: whole compounds by (compound, grid) piece, every other building alone
    key = np.where(keep, cc, -1)
    n = len(G)
    A = Gm.A.tocoo()
    same = keep[A.row] & (key[A.row] == key[A.col]) & (labels[A.row] == labels[A.col])
    M = sp.coo_matrix((np.ones(int(same.sum())), (A.row[same], A.col[same])), shape=(n, n))
    _, unit = connected_components(M, directed=False)
    U = Gm.contract(unit)
    ulab = np.zeros(len(U), dtype=np.int64)
    ulab[unit] = labels
    li, lp = lams(Gm, k)
    ulab = improve(U, k, rule, prim, seed, work, init=ulab, lam=(li * POLISH_LAM[0], lp * POLISH_LAM[1]),
                   penalties=(BIG,))
    out = ulab[unit]
    sc = _score(G, out, rule, cc, fits)
    log.debug("polish: %s → %s", best.score, sc)
    if sc <= best.score:
        best.score, best.labels = sc, out


def _region_repair(G: Graph, labels: np.ndarray, locked_b: np.ndarray, cc: np.ndarray, rule: Rule, prim: str,
                   seed: int, work: Work) -> np.ndarray | None:
    """Re-partition failing grids exactly (:func:`gridplan._packing.partition_region`), with whole
    fitting compounds (``locked_b``: per building) as units and the other buildings in slices.

    Each connected group of failing grids is taken in turn (:data:`REGION_STEPS`): with one ring of
    neighbouring grids; when that ring has too many sets to list, in the smaller regions inside it
    — the group alone (two failing neighbours may only comply merged, which the fixed-``k`` search
    cannot do), one failing grid with one grid next to it, the group with one neighbouring grid
    (those that can give or take the most first); then two rings, every grid; coarse slices before
    fine ones. A region is skipped when a region inside it had too many sets to list at slices no
    finer, or a region around it was proven to have no compliant partition at slices no coarser.
    Every re-partitioned region meets the rule, so each success removes failing grids; returns the
    new labels (any number of grids) once some group was fixed, else None."""
    failed: set[bytes] = set()
    improved = False
    Ac = G.A.tocoo()
    while not work.over():
        k = int(labels.max()) + 1
        viol = violations(rule, labels, G.h, G.p, k)
        bad = viol > 0
        if not bad.any():
            break
        cross = labels[Ac.row] != labels[Ac.col]
        ga, gb = labels[Ac.row[cross]], labels[Ac.col[cross]]
        gadj = sp.csr_matrix((np.ones(len(ga)), (ga, gb)), shape=(k, k))
        badidx = np.flatnonzero(bad)
        _, glab = connected_components(gadj[badidx][:, badidx], directed=False)
        todo = []
        for j in range(int(glab.max()) + 1):
            grp = badidx[glab == j]
            key = np.isin(labels, grp).tobytes()
            if key not in failed:
                todo.append((grp, key))
        if not todo:
            break
        grp, key = todo[0]
        out = _repair_group(G, labels, grp, ga, gb, viol, locked_b, cc, rule, prim, seed, work)
        if out is None:
            failed.add(key)
            continue
        labels, improved = out, True
    return labels if improved else None


def _repair_group(G: Graph, labels: np.ndarray, grp: np.ndarray, ga: np.ndarray, gb: np.ndarray,
                  viol: np.ndarray, locked_b: np.ndarray, cc: np.ndarray, rule: Rule, prim: str, seed: int,
                  work: Work) -> np.ndarray | None:
    """One connected group ``grp`` of failing grids re-partitioned exactly in the smallest region
    around it that works (see :func:`_region_repair`; ``ga``/``gb``: the grids on either side of
    every cut edge; ``viol``: each grid's violation). Returns new labels or None."""
    k = int(labels.max()) + 1
    inner = np.zeros(k, dtype=bool)
    inner[grp] = True
    rings = [inner]
    for _ in range(2):
        grow = rings[-1].copy()
        grow[gb[rings[-1][ga]]] = True
        rings.append(grow)
    w = G.h if prim == "h" else G.p
    tot = np.bincount(labels, w, minlength=k)
    lo, hi = ((rule.min_households, rule.max_households) if prim == "h" else (rule.min_persons, rule.max_persons))

    def partners(members: np.ndarray) -> list[int]:
        # neighbours of ``members``: for grids short of the measure the heaviest first (they can
        # give the most), for grids over it the lightest first
        m = np.zeros(k, dtype=bool)
        m[members] = True
        near = np.zeros(k, dtype=bool)
        near[gb[m[ga]]] = True
        nb = np.flatnonzero(near & ~m)
        short = float(np.clip(lo - tot[members], 0, None).sum()) >= float(np.clip(tot[members] - hi, 0, None).sum())
        return sorted(nb.tolist(), key=lambda g: (-tot[g] if short else tot[g], g))[:REGION_NEIGHBOURS]

    def region_of(grids) -> np.ndarray:
        r = np.zeros(k, dtype=bool)
        r[list(grids)] = True
        return r

    regions: dict[int, list[np.ndarray]] = {0: [inner], 1: [], 2: []}
    if len(grp) > 1:
        for g in sorted(grp.tolist(), key=lambda g: (-viol[g], g)):
            regions[1].extend(region_of([g, n]) for n in partners(np.array([g])))
    regions[2] = [region_of(list(grp) + [n]) for n in partners(grp)]
    regions[3], regions[4], regions[5] = [rings[1]], [rings[2]], [np.ones(k, dtype=bool)]
    tried: set = set()
    overflowed: list[tuple[np.ndarray, float]] = []
    infeasible: list[tuple[np.ndarray, float]] = []
    for step, frac in REGION_STEPS:
        for region in regions[step]:
            key = (region.tobytes(), frac)
            if key in tried:
                continue
            # a region around one with too many sets to list (at slices no finer) has more; a
            # region inside one proven to have no compliant partition (at slices no coarser) has
            # none either, up to how the tiny units merge
            if any(frac <= f and not (m & ~region).any() for m, f in overflowed) or \
                    any(frac >= f and not (region & ~m).any() for m, f in infeasible):
                continue
            tried.add(key)
            if work.over():
                return None
            flags: dict = {}
            out = _region_solve(G, labels, region, locked_b, cc, rule, prim, seed, work, frac, flags=flags)
            if out is not None:
                return out
            if flags.get("overflow"):
                overflowed.append((region, frac))
            elif flags.get("infeasible"):
                infeasible.append((region, frac))
    return None


def _merge_tiny(U: Graph, prim: str, min_w: float) -> np.ndarray | None:
    """A new unit for every unit of ``U``, units lighter than ``min_w`` merged (lightest first)
    into their lightest neighbour; None when nothing is merged."""
    n = len(U)
    w = (U.h if prim == "h" else U.p).astype(float).tolist()
    nb = [set(U.A.indices[U.A.indptr[i]:U.A.indptr[i + 1]].tolist()) for i in range(n)]
    root = list(range(n))

    def find(u):
        while root[u] != u:
            root[u] = root[root[u]]
            u = root[u]
        return u

    done = False
    for u in sorted(range(n), key=lambda i: (w[i], i)):
        r = find(u)
        if w[r] >= min_w or not nb[r]:
            continue
        v = min(nb[r], key=lambda x: (w[x], x))
        root[r] = v
        w[v] += w[r]
        nb[v] |= nb[r]
        nb[v] -= {v, r}
        for x in nb[r]:
            if x != v:
                nb[x].discard(r)
                nb[x].add(v)
        nb[r] = set()
        done = True
    if not done:
        return None
    out = np.array([find(u) for u in range(n)])
    _, out = np.unique(out, return_inverse=True)
    return out.ravel()


def _region_solve(G, labels, region, locked_b, cc, rule, prim, seed, work: Work, frac: float,
                  max_units: int | None = None, max_cols: int | None = None,
                  flags: dict | None = None) -> np.ndarray | None:
    """One exact re-partition of the grids in ``region`` (see :func:`_region_repair`); ``flags``
    gets ``overflow`` when there were too many units or sets to list."""
    B = np.flatnonzero(region[labels])
    sub = G.sub(B)
    n = len(B)
    # units: whole compounds by piece; other buildings by (compound, grid) in slices
    key = np.where(locked_b[B], cc[B], -2 - cc[B])
    lab_b = labels[B]
    A = sub.A.tocoo()
    same = (key[A.row] == key[A.col]) & (locked_b[B][A.row] | (lab_b[A.row] == lab_b[A.col]))
    Gm = sp.coo_matrix((np.ones(int(same.sum())), (A.row[same], A.col[same])), shape=(n, n))
    _, piece = connected_components(Gm, directed=False)
    w = sub.h if prim == "h" else sub.p
    mass = weights(sub, prim)
    S = _slice_size(rule, prim) * frac
    limit = REGION_MAX_UNITS if max_units is None else max_units
    min_w = _slice_size(rule, prim) * REGION_TINY
    unit = _slice_pieces(piece, ~locked_b[B], sub.xy, mass, w, sub.A, S, seed, cap=(min_w, limit))
    if unit is None:  # too many units whatever the rest of the slices
        if flags is not None:
            flags["overflow"] = True
        return None
    U = sub.with_mass(mass).contract(unit)
    # tiny units (a courtyard, a lone house) join their lightest neighbour: they multiply the sets
    # to list without making new partitions possible
    merged = _merge_tiny(U, prim, min_w)
    if merged is not None:
        unit = merged[unit]
        U = sub.with_mass(mass).contract(unit)
    if len(U) > limit:
        if flags is not None:
            flags["overflow"] = True
        return None
    nbrs = [U.A.indices[U.A.indptr[i]:U.A.indptr[i + 1]].tolist() for i in range(len(U))]
    shared = {}
    Lc = U.L.tocoo()
    for a_, b_, v in zip(Lc.row.tolist(), Lc.col.tolist(), Lc.data.tolist()):
        shared[a_, b_] = v
    stats: dict = {}
    kw = {} if max_cols is None else {"max_cols": max_cols}
    sets = partition_region(nbrs, shared, U.h, U.p, U.perim, U.area, rule, deadline=work.deadline, stats=stats, **kw)
    work.used += stats.get("enumerated", 0)
    if stats.get("timed_out"):
        work.capped = work.reached = True
    if flags is not None:
        flags["overflow"] = flags.get("overflow", False) or bool(stats.get("overflow"))
        flags["infeasible"] = bool(stats.get("infeasible"))
    if sets is None:
        return None
    out = labels.copy()
    base = int(labels.max()) + 1
    ulab = np.empty(len(U), dtype=np.int64)
    for j, S_ in enumerate(sets):
        ulab[list(S_)] = base + j
    out[B] = ulab[unit]
    _, out = np.unique(out, return_inverse=True)
    return out.ravel()


# ---------------------------------------------------------------------------------------------
# one community (or what is left of it around kept grids): the unit of distributed work


def solve_community(arrays: CommunityArrays, rule: Rule, seed: int, work: float, *,
                    restarts: int = RESTARTS, deadline: float | None = None) -> CommunityResult:
    """Partition one community's buildings into grids: a pure function of its arguments.

    Parameters
    ----------
    arrays
        The buildings (:class:`CommunityArrays`).
    rule
        The rule the community is judged by (already :meth:`Rule.effective` of its totals).
    seed
        Seed of every random choice.
    work
        Work budget in work units (unit moves evaluated). Components of the community share it in
        proportion to their buildings; what one leaves unused passes to the next.
    restarts
        Constructions tried per component.
    deadline
        Wall-clock safety cap (``time.time()`` seconds); None for none.

    Returns
    -------
    CommunityResult
        A grid index per building (in the order of ``arrays``) and the compound figures.
    """
    n = len(arrays)
    if n == 0:
        return CommunityResult(np.zeros(0, dtype=np.int64), 0, False)
    G = arrays.graph()
    cc = arrays.compound
    over = rule.over_bound(G.h, G.p)
    labels = np.full(n, -1, dtype=np.int64)
    nxt = 0
    over_idx = np.flatnonzero(over)
    for b in over_idx.tolist():
        labels[b] = nxt
        nxt += 1
    rest = np.flatnonzero(~over)
    used = 0
    reached = False
    fit_n = split_n = nec_n = 0
    if len(rest):
        ncomp, lab = connected_components(G.A[rest][:, rest], directed=False)
        comps = sorted((rest[lab == c] for c in range(ncomp)), key=lambda c: int(c[0]))
        remaining_n = len(rest)
        left = float(work)
        for cn in comps:
            H, P = float(G.h[cn].sum()), float(G.p[cn].sum())
            ks = rule.k_options(H, P)
            share = left * len(cn) / max(remaining_n, 1)
            remaining_n -= len(cn)
            if not ks:
                touch = sorted(set(G.A[cn].indices.tolist()) & set(over_idx.tolist()))
                if touch:
                    labels[cn] = labels[touch[0]]
                else:
                    labels[cn] = nxt
                    nxt += 1
                continue
            if ks[0] == 1 or len(cn) == 1:
                labels[cn] = nxt
                nxt += 1
                continue
            w = Work(share, deadline)
            sub = G.sub(cn)
            lab_c, f, s, ne = _solve_piece(sub, cc[cn], rule, ks, seed, w, restarts)
            fit_n, split_n, nec_n = fit_n + f, split_n + s, nec_n + ne
            _, lab_c = np.unique(lab_c, return_inverse=True)
            labels[cn] = nxt + lab_c.ravel()
            nxt += int(lab_c.max()) + 1
            used += w.used
            reached |= w.reached
            left = max(left - w.used, 0.0)
    # compounds the over-bound buildings or infeasible pieces cut are counted too
    fits = _compound_fit(G, cc, rule)
    split_all = len(_fit_split(labels, cc, fits))
    return CommunityResult(labels=labels, work=int(used), budget_reached=bool(reached),
                           fitting_compounds=int(fits.sum()), compounds_split=int(split_all),
                           compounds_split_necessary=int(min(nec_n, split_all)))


def _community_work(n_buildings: int, work_per_building: float) -> float:
    """The work budget of a solve of ``n_buildings`` buildings (every solve counts as at least
    :data:`WORK_MIN_BUILDINGS` buildings)."""
    return float(work_per_building) * max(int(n_buildings), WORK_MIN_BUILDINGS)


# ---------------------------------------------------------------------------------------------
# public API


@dataclass(frozen=True)
class PartitionRun:
    """A partition and how it went.

    Attributes
    ----------
    plan
        The plan (every building in exactly one grid).
    budget_reached
        True when any community's work budget or the wall-clock safety cap ended a search early.
    communities
        One row per partitioned community: ``buildings``, ``grids``, ``work`` (units spent),
        ``budget_reached``, ``fitting_compounds``, ``compounds_split`` (fitting compounds cut),
        ``compounds_split_necessary`` (of those, proven unavoidable by the compound check).
    workers
        Worker processes used (on a Dask cluster: the workers that ran at least one task).
    seconds
        Wall-clock seconds of the call.
    scheduler
        The Dask scheduler's address (``None`` on one machine).
    shipping
        On a Dask cluster, what was sent (:func:`gridplan.cluster.partition_on_cluster`):
        ``bytes_scattered``, ``bytes_per_task`` and the like; ``None`` on one machine.
    """

    plan: Plan
    budget_reached: bool
    communities: pd.DataFrame
    workers: int
    seconds: float
    scheduler: str | None = None
    shipping: dict | None = None


def partition_run(dataset: Dataset, *, rule: Rule | None = None, seed: int = 0, code_width: int = 2,
                  time_limit_s: float = TIME_LIMIT_S, communities=None, n_jobs: int | None = None,
                  work_per_building: float = WORK_PER_BUILDING, executor: Executor | None = None,
                  client=None, scheduler: str | None = None, progress: bool = False) -> PartitionRun:
    """Like :func:`partition`, returning a :class:`PartitionRun` (the plan and how it went).

    With ``client`` (a ``distributed.Client``) or ``scheduler`` (``"tcp://HOST:PORT"`` or
    ``"local[:N]"``) the communities are solved on a Dask cluster (:mod:`gridplan.cluster`; the same
    plan), and :attr:`PartitionRun.shipping` says what was sent; ``progress`` shows a bar there.
    """
    if client is not None or scheduler is not None:
        from .cluster import partition_on_cluster
        return partition_on_cluster(dataset, client=client, scheduler=scheduler, rule=rule, seed=seed,
                                    code_width=code_width, time_limit_s=time_limit_s, communities=communities,
                                    work_per_building=work_per_building, progress=progress)
    rule = rule or Rule()
    t0 = time.perf_counter()
    deadline = time.time() + float(time_limit_s)
    job = _prepare(dataset, rule, communities)
    tasks = [(CommunityArrays.of(job.ctx, job.nodes_of[c]), job.rules[c], int(seed),
              _community_work(len(job.nodes_of[c]), work_per_building), RESTARTS, deadline) for c in job.todo]
    ex = executor if executor is not None else make_executor(n_jobs, int(sum(len(job.nodes_of[c]) for c in job.todo)),
                                                             len(tasks))
    results = ex.map(_solve_task, tasks, sizes=[len(job.nodes_of[c]) for c in job.todo])
    return _assemble(dataset, job, rule, seed, code_width, dict(zip(job.todo, results)), ex.workers, t0)


@dataclass
class _Job:
    """What :func:`partition_run` works out before solving: the communities, the ones to solve
    (``todo``, sorted), their rules and buildings."""

    ctx: _Ctx
    uniq: list
    wanted: set
    todo: list
    rules: dict
    nodes_of: dict


def _prepare(dataset: Dataset, rule: Rule, communities=None) -> _Job:
    ctx = _context(dataset)
    comm = ctx.comm
    uniq = sorted(pd.unique(comm).tolist())
    wanted = set(uniq) if communities is None else {str(c) for c in communities}
    unknown = wanted - set(uniq)
    if unknown:
        raise PlanError(f"unknown community id(s): {', '.join(sorted(unknown)[:5])}")
    todo = [c for c in uniq if c in wanted]
    nodes_of = {c: np.flatnonzero(comm == c) for c in uniq}
    return _Job(ctx=ctx, uniq=uniq, wanted=wanted, todo=todo, rules=community_rules(dataset, rule), nodes_of=nodes_of)


def _assemble(dataset: Dataset, job: _Job, rule: Rule, seed: int, code_width: int,
              results: dict, workers: int, t0: float, **extra) -> PartitionRun:
    """The plan and its table from one :class:`CommunityResult` per community of ``job.todo``."""
    ctx = job.ctx
    labels = np.empty(len(ctx.comm), dtype=object)
    rows = []
    for c in job.todo:
        res = results[c]
        nodes = job.nodes_of[c]
        labels[nodes] = [f"{c}#{i}" for i in res.labels.tolist()]
        rows.append({"community_id": c, "buildings": len(nodes), "grids": int(len(np.unique(res.labels))),
                     "work": res.work, "budget_reached": res.budget_reached,
                     "fitting_compounds": res.fitting_compounds, "compounds_split": res.compounds_split,
                     "compounds_split_necessary": res.compounds_split_necessary})
    for c in job.uniq:
        if c not in job.wanted:
            labels[job.nodes_of[c]] = f"{c}#0"
    a = pd.Series(labels, index=ctx.ids, dtype=object)
    mapping = number_grids(dataset, a, width=code_width)
    plan = Plan(apply_codes(a, mapping), rule=rule, label=f"partition (seed {seed})")
    table = pd.DataFrame(rows, columns=["community_id", "buildings", "grids", "work", "budget_reached",
                                        "fitting_compounds", "compounds_split", "compounds_split_necessary"])
    table = table.set_index("community_id")
    reached = bool(table["budget_reached"].any()) if len(table) else False
    secs = time.perf_counter() - t0
    log.info("partitioned %d buildings into %d grids in %.2f s (%d worker(s)%s)", len(a), len(mapping), secs,
             workers, ", budget reached" if reached else "")
    return PartitionRun(plan=plan, budget_reached=reached, communities=table, workers=workers, seconds=secs, **extra)


def _solve_task(arrays, rule, seed, work, restarts, deadline) -> CommunityResult:
    return solve_community(arrays, rule, seed, work, restarts=restarts, deadline=deadline)


def partition(dataset: Dataset, *, rule: Rule | None = None, seed: int = 0, code_width: int = 2,
              time_limit_s: float = TIME_LIMIT_S, communities=None, n_jobs: int | None = None,
              work_per_building: float = WORK_PER_BUILDING, executor: Executor | None = None,
              client=None, scheduler: str | None = None) -> Plan:
    """Partition every community into grids that meet the size rule.

    Parameters
    ----------
    dataset
        The dataset (buildings with households, persons, compound and community).
    rule
        The size rule (bounds and mode); default 300–500 households or 1,000–1,500 persons.
    seed
        Seed of every random choice; the same seed gives the same plan, whatever ``n_jobs``,
        executor, machine or load.
    code_width
        Digits of the grid serial after the community code (2 or 3).
    time_limit_s
        Wall-clock safety cap in seconds. The search is budgeted in work units, so this should
        never fire; if it does, the best plan found so far is returned and
        :attr:`PartitionRun.budget_reached` is True (and the plan may then depend on timing).
    communities
        Only partition these community ids; the buildings of every other community form one grid
        per community.
    n_jobs
        Worker processes (communities are independent). Default: one per core for datasets of
        at least :data:`PARALLEL_MIN_BUILDINGS` buildings (10,000 where workers can be forked), else 1.
        The plan is the same either way.
    work_per_building
        Work budget per building of a community (unit moves evaluated; a community counts as at
        least :data:`WORK_MIN_BUILDINGS` buildings). The default is generous; lower it to trade
        quality for a bounded time.
    executor
        Where the per-community solves run (anything with ``map(fn, tasks, sizes)``; see
        :mod:`gridplan._executor`); overrides ``n_jobs``.
    client, scheduler
        Solve the communities on a Dask cluster instead (:mod:`gridplan.cluster`): a
        ``distributed.Client``, or a scheduler address ``"tcp://HOST:PORT"`` (a running cluster)
        or ``"local[:N]"`` (a local cluster of N worker processes, started and stopped here). The
        plan is the same, building by building, as on one process.

    Returns
    -------
    Plan
        Every building in exactly one grid; grid ids are community code + serial.
    """
    return partition_run(dataset, rule=rule, seed=seed, code_width=code_width, time_limit_s=time_limit_s,
                         communities=communities, n_jobs=n_jobs, work_per_building=work_per_building,
                         executor=executor, client=client, scheduler=scheduler).plan


def necessary_splits(dataset: Dataset, rule: Rule, communities=None) -> dict[str, int]:
    """Per community: how many fitting compounds the compound check proves any compliant partition
    must split (the sum over the community's connected pieces; see :mod:`gridplan._packing`).

    A property of the data and the rule, not of a plan; cached per dataset and rule.
    """
    ctx = _context(dataset)
    rules = community_rules(dataset, rule)
    uniq = sorted(pd.unique(ctx.comm).tolist())
    wanted = uniq if communities is None else [c for c in uniq if c in {str(x) for x in communities}]
    out = {}
    for c in wanted:
        key = f"necessary_splits:{sorted(rule.as_dict().items())}:{c}"
        out[c] = dataset_cache(dataset, key, functools.partial(_necessary_in, ctx, c, rules[c]))
    return out


def _necessary_in(ctx: _Ctx, community_id: str, rule: Rule) -> int:
    nodes = np.flatnonzero(ctx.comm == community_id)
    arrays = CommunityArrays.of(ctx, nodes)
    G = arrays.graph()
    cc = arrays.compound
    rest = np.flatnonzero(~rule.over_bound(G.h, G.p))
    if len(rest) == 0:
        return 0
    ncomp, lab = connected_components(G.A[rest][:, rest], directed=False)
    total = 0
    for c in range(ncomp):
        cn = rest[lab == c]
        ks = rule.k_options(float(G.h[cn].sum()), float(G.p[cn].sum()))
        if not ks or ks[0] == 1 or len(cn) == 1:
            continue
        sub = G.sub(cn)
        fits = _compound_fit(sub, cc[cn], rule)
        if fits.any():
            total += _check(sub, cc[cn], rule, fits).necessary
    return total


def _code_width(plan: Plan, community_id: str) -> int:
    ws = [len(g) - len(community_id) for g in plan.assignment.unique()
          if g.startswith(community_id) and g[len(community_id):].isdigit()]
    return max(ws) if ws else 2


def _place_groups(dataset: Dataset, plan: Plan, groups: list[np.ndarray], community_id: str,
                  ctx: _Ctx, reuse: Sequence[str] = ()) -> pd.Series:
    """The plan's assignment with ``groups`` as new grids (reusing ``reuse`` ids first)."""
    a = plan.assignment.reindex(ctx.ids).copy()
    if not groups:
        return a
    pos = np.array([ctx.xy[g].mean(0) for g in groups])
    order = reading_order(pos[:, 0], pos[:, 1])
    reuse = list(reuse)
    existing = set(a.unique().tolist()) - set(reuse)
    fresh = next_codes(community_id, existing | set(reuse), max(len(groups) - len(reuse), 0),
                       _code_width(plan, community_id))
    codes = reuse[:len(groups)] + fresh
    vals = a.to_numpy(dtype=object).copy()
    for code, gi in zip(codes, order):
        vals[groups[gi]] = code
    return pd.Series(vals, index=ctx.ids, dtype=object)


def _groups(nodes: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    return [np.sort(nodes[labels == g]) for g in np.unique(labels)]


def reoptimise(dataset: Dataset, plan: Plan, community_id: str, *, keep=None, seed: int = 0,
               time_limit_s: float = 2.0, restarts: int = 2) -> Plan:
    """Re-partition one community around the grids kept as they are.

    Parameters
    ----------
    dataset, plan
        The dataset and the current plan.
    community_id
        The community to re-optimise.
    keep
        Grid ids kept untouched (default: the plan's locked grids).
    seed
        Seed of the random choices.
    time_limit_s
        Wall-clock safety cap in seconds (the search itself is budgeted in work units, so the
        result does not depend on the machine).
    restarts
        Constructions tried per piece (2 keeps a re-solve well under half a second; the full
        partition tries :data:`RESTARTS`).

    Returns
    -------
    Plan
        A child of ``plan``; kept grids and other communities are unchanged. The ids of the
        replaced grids are reused (in reading order), then new serials are added.
    """
    ctx = _context(dataset)
    community_id = str(community_id)
    if community_id not in set(ctx.comm.tolist()):
        raise PlanError(f"unknown community {community_id!r}")
    plan.check_against(ctx.ids)
    keep = set(plan.locked if keep is None else (str(g) for g in keep))
    a = plan.assignment.reindex(ctx.ids)
    in_comm = ctx.comm == community_id
    kept = a.isin(list(keep)).to_numpy()
    nodes = np.flatnonzero(in_comm & ~kept)
    if len(nodes) == 0:
        return plan.with_assignment(plan.assignment, label=f"re-optimise {community_id} (nothing to change)")
    old = sorted(set(a.to_numpy()[nodes].tolist()))
    # replaced grid ids can be reused only if no building outside the re-optimised set keeps them
    outside = set(a.to_numpy()[~(in_comm & ~kept)].tolist())
    reuse = [g for g in old if g not in outside and g not in keep]
    rule = _community_rule(ctx, plan.rule, community_id)
    res = solve_community(CommunityArrays.of(ctx, nodes), rule, seed, _community_work(len(nodes), WORK_PER_BUILDING),
                          restarts=restarts, deadline=time.time() + float(time_limit_s))
    new = _place_groups(dataset, plan, _groups(nodes, res.labels), community_id, ctx, reuse=reuse)
    return plan.with_assignment(new, label=f"re-optimise {community_id}")


def split_grid(dataset: Dataset, plan: Plan, grid_id: str, *, parts: int | None = None, seed: int = 0,
               time_limit_s: float = 5.0) -> Plan:
    """Split one grid into exactly ``parts`` parts that meet the rule as well as they can.

    Parameters
    ----------
    grid_id
        The grid to split (must not be locked).
    parts
        Number of parts; default: the best feasible count of at least 2 (2 if none is feasible).
        Never more parts than the grid has buildings.
    seed
        Seed of the random choices.
    time_limit_s
        Wall-clock safety cap in seconds (the search is budgeted in work units).

    Returns
    -------
    Plan
        A child of ``plan`` with exactly ``min(parts, buildings)`` parts; the first part in
        reading order keeps ``grid_id``, the others get new serials of the grid's community. Each
        part is contiguous, unless the grid already was in more pieces than ``parts`` (then the
        extra pieces join the nearest of the ``parts`` largest pieces).
    """
    ctx = _context(dataset)
    grid_id = str(grid_id)
    a = plan.assignment.reindex(ctx.ids)
    nodes = np.flatnonzero(a.to_numpy() == grid_id)
    if len(nodes) == 0:
        raise PlanError(f"unknown grid {grid_id!r}")
    plan._require_unlocked([grid_id])
    if len(nodes) < 2:
        raise PlanError(f"grid {grid_id} has a single building and cannot be split")
    vals, cnt = np.unique(ctx.comm[nodes].astype(str), return_counts=True)
    cid = vals[int(np.argmax(cnt))]
    rule = _community_rule(ctx, plan.rule, cid)
    H, P = float(ctx.h[nodes].sum()), float(ctx.p[nodes].sum())
    if parts is None:
        ks = [k for k in rule.k_options(H, P) if k >= 2]
        parts = ks[0] if ks else 2
    parts = int(parts)
    if parts < 2:
        raise PlanError("a grid is split into at least 2 parts")
    parts = min(parts, len(nodes))
    work = Work(_community_work(len(nodes), WORK_PER_BUILDING), time.time() + float(time_limit_s))
    groups = _split_nodes(ctx, nodes, parts, rule, seed, work)
    new = _place_groups(dataset, plan, groups, cid, ctx, reuse=[grid_id])
    return plan.with_assignment(new, label=f"split {grid_id} into {len(groups)}")


def _split_nodes(ctx: _Ctx, nodes: np.ndarray, parts: int, rule: Rule, seed: int, work: Work) -> list[np.ndarray]:
    """Exactly ``parts`` groups covering ``nodes``."""
    sub = ctx.A[nodes][:, nodes]
    ncomp, lab = connected_components(sub, directed=False)
    comps = sorted((nodes[lab == c] for c in range(ncomp)), key=lambda c: (-len(c), int(c[0])))
    if ncomp >= parts:
        # already in at least ``parts`` pieces: the largest pieces are the parts, every other piece
        # joins the part whose centre is nearest
        members = [list(c) for c in comps[:parts]]
        centre = np.array([ctx.xy[c].mean(0) for c in comps[:parts]])
        for c in comps[parts:]:
            d = ((centre - ctx.xy[c].mean(0)) ** 2).sum(1)
            members[int(np.argmin(d))].extend(c.tolist())
        return [np.sort(np.asarray(g, dtype=np.int64)) for g in members]
    sizes = np.array([len(c) for c in comps], dtype=float)
    alloc = np.ones(ncomp, dtype=int)
    for _ in range(parts - ncomp):
        room = sizes - alloc
        j = int(np.argmax(np.where(room > 0, sizes / alloc, -1)))
        alloc[j] += 1
    groups = []
    arrays = CommunityArrays.of(ctx, nodes)
    G = arrays.graph()
    pos = {int(b): i for i, b in enumerate(nodes.tolist())}
    for cn, k in zip(comps, alloc.tolist()):
        if k == 1:
            groups.append(np.sort(cn))
            continue
        loc = np.array([pos[int(b)] for b in cn], dtype=np.int64)
        labels, _, _, _ = _solve_piece(G.sub(loc), arrays.compound[loc], rule, [k], seed, work, restarts=1,
                                       fixed_k=True)
        groups.extend(_groups(cn, labels))
    return groups
