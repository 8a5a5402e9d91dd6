"""The grid engine: cut every community into contiguous grids of 300–500 households (or 1,000–1,500
persons) that keep compounds whole where they can.

How it works, per community:

1. **Exceptions first.** A building too large for any grid (:func:`over_bound`) becomes a grid of
   its own. The rest of the community splits into the connected components of the adjacency graph
   (:mod:`gridplan.adjacency`); a component is normally the whole community, but islands of a
   multi-part community, or pieces cut off by a huge building, are components too. Each component
   is partitioned on its own, so every grid is contiguous by construction. A component whose totals
   admit no compliant partition (:func:`k_options` is empty: fewer than 300 households, or a total
   in the 500–600 gap) becomes one grid; if it touches a too-large building it joins that
   building's grid (already non-compliant) instead.
2. **Units.** Each compound piece that fits under the upper bound is contracted into one unit; a
   larger compound is first cut into the fewest pieces that fit (``ceil(total / upper)``), along
   building lines. Buildings outside compounds are units of their own.
3. **Number of grids.** ``k`` is chosen among the feasible counts ``[ceil(H/500), floor(H/300)]``
   (or the persons range, by mode) with the average grid closest to the middle of the bounds.
4. **Construction.** Weighted k-means centres seed ``k`` regions that grow over the unit graph in
   order of distance, each up to the upper bound.
5. **Improvement.** Boundary moves of single units between neighbouring grids, accepted when they
   lower ``1e6 × bound violation + cut length + inertia`` (the cut counts shared cell boundary in
   metres, four times inside a compound, a quarter along roads) and keep the source grid connected
   (a local search from the unit's neighbours: if they all meet again, the grid stays connected).
6. **Repair.** If a grid still breaks the bounds, the units of the failing grids and their
   neighbours are shattered into buildings and improved again, then (if needed) the whole
   component; another seed and the next ``k`` are tried while time remains. So compounds are split
   only where the rule cannot be met otherwise.

Everything is deterministic for a seed. ``time_limit_s`` bounds the improvement phases; the
construction always completes, so a plan is always returned (every building in one grid).
"""
from __future__ import annotations

import heapq
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ._errors import PlanError
from .adjacency import building_adjacency
from .codes import apply_codes, next_codes, number_grids, reading_order
from .model import Dataset, Plan, Rule
from .tessellate import building_points, community_labels, dataset_cache

log = logging.getLogger(__name__)

#: penalty per household of bound violation (dominates every soft term)
BIG = 1e6

__all__ = ["partition", "reoptimise", "split_grid", "over_bound", "k_options", "violation"]


# ---------------------------------------------------------------------------------------------
# the rule as arithmetic


def _persons_scale(rule: Rule) -> float:
    """Households per person used to put person violations on the household scale."""
    dh = rule.max_households - rule.min_households
    dp = rule.max_persons - rule.min_persons
    if dh > 0 and dp > 0:
        return dh / dp
    return max(rule.max_households, 1) / max(rule.max_persons, 1)


def violation(rule: Rule, households, persons) -> np.ndarray:
    """How far grids of these totals are from meeting the rule (0 when they meet it), in households."""
    h = np.asarray(households, dtype=float)
    p = np.asarray(persons, dtype=float)
    vh = np.maximum(rule.min_households - h, 0) + np.maximum(h - rule.max_households, 0)
    vp = (np.maximum(rule.min_persons - p, 0) + np.maximum(p - rule.max_persons, 0)) * _persons_scale(rule)
    if rule.mode == "households":
        return vh
    if rule.mode == "persons":
        return vp
    if rule.mode == "both":
        return vh + vp
    return np.minimum(vh, vp)


def _viol_fn(rule: Rule):
    lh, uh, lp, up = rule.min_households, rule.max_households, rule.min_persons, rule.max_persons
    s = _persons_scale(rule)
    mode = rule.mode

    def vh(h):
        return lh - h if h < lh else (h - uh if h > uh else 0.0)

    def vp(p):
        return (lp - p if p < lp else (p - up if p > up else 0.0)) * s

    if mode == "households":
        return lambda h, p: vh(h)
    if mode == "persons":
        return lambda h, p: vp(p)
    if mode == "both":
        return lambda h, p: vh(h) + vp(p)
    return lambda h, p: min(vh(h), vp(p))


def over_bound(rule: Rule, households, persons) -> np.ndarray:
    """Whether each building (or compound) is too large to fit in any compliant grid."""
    h = np.asarray(households, dtype=float)
    p = np.asarray(persons, dtype=float)
    hh = h > rule.max_households
    pp = p > rule.max_persons
    if rule.mode == "households":
        return hh
    if rule.mode == "persons":
        return pp
    if rule.mode == "both":
        return hh | pp
    return hh & pp


def _k_range(total: float, lo: float, hi: float) -> range:
    if hi <= 0:
        return range(1, 2) if total <= 0 and lo <= 0 else range(0)
    kmin = max(1, math.ceil(total / hi - 1e-9))
    kmax = math.floor(total / lo + 1e-9) if lo > 0 else kmin
    return range(kmin, kmax + 1)


def k_options(rule: Rule, households: float, persons: float) -> list[int]:
    """The grid counts that can partition these totals into compliant grids, best first.

    "Best" means the average grid is closest to the middle of the bounds. An empty list means the
    totals cannot be cut into compliant grids (too small, or in a gap such as 500–600 households).
    """
    kh = _k_range(households, rule.min_households, rule.max_households)
    kp = _k_range(persons, rule.min_persons, rule.max_persons)
    if rule.mode == "households":
        ks = set(kh)
    elif rule.mode == "persons":
        ks = set(kp)
    elif rule.mode == "both":
        ks = set(kh) & set(kp)
    else:
        ks = set(kh) | set(kp)
    mh = (rule.min_households + rule.max_households) / 2
    mp = (rule.min_persons + rule.max_persons) / 2
    dh = max(rule.max_households - rule.min_households, 1)
    dp = max(rule.max_persons - rule.min_persons, 1)

    def score(k):
        sh = abs(households / k - mh) / dh if k in kh else math.inf
        spp = abs(persons / k - mp) / dp if k in kp else math.inf
        if rule.mode == "both":
            return max(sh, spp)
        if rule.mode == "either" and households <= 0:
            return spp
        return min(sh, spp) if rule.mode == "either" else (sh if rule.mode == "households" else spp)

    return sorted(ks, key=lambda k: (score(k), k))


def _primary(rule: Rule, households: float, persons: float, k: int) -> str:
    """Which measure ('h' or 'p') drives construction for this component and k."""
    if rule.mode == "persons":
        return "p"
    if rule.mode in ("households", "both"):
        return "h"
    if households > 0 and k in _k_range(households, rule.min_households, rule.max_households):
        return "h"
    return "p"


# ---------------------------------------------------------------------------------------------
# per-dataset arrays


@dataclass
class _Ctx:
    ids: pd.Index
    h: np.ndarray
    p: np.ndarray
    comm: np.ndarray
    compound: np.ndarray
    xy: np.ndarray
    A: sp.csr_matrix


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
        return _Ctx(ids=b.index.astype(str), h=num("households"), p=num("persons"), comm=comm,
                    compound=np.asarray(codes, dtype=np.int64), xy=building_points(dataset),
                    A=building_adjacency(dataset))
    return dataset_cache(dataset, "partition_context", compute)


# ---------------------------------------------------------------------------------------------
# the local search on a unit graph


class _Search:
    """Boundary-move local search over a graph of units with fixed grid count."""

    def __init__(self, indptr, indices, weights, h, p, xy, mass, labels, k, rule, lam_in):
        self.n = len(h)
        self.nb = [indices[indptr[i]:indptr[i + 1]].tolist() for i in range(self.n)]
        self.nw = [weights[indptr[i]:indptr[i + 1]].tolist() for i in range(self.n)]
        self.h = h.tolist()
        self.p = p.tolist()
        self.x = xy[:, 0].tolist()
        self.y = xy[:, 1].tolist()
        self.m = mass.tolist()
        self.q2 = (mass * (xy[:, 0] ** 2 + xy[:, 1] ** 2)).tolist()
        self.lab = [int(v) for v in labels]
        self.k = k
        self.viol = _viol_fn(rule)
        self.lam_in = lam_in
        H = np.bincount(labels, h, minlength=k)
        P = np.bincount(labels, p, minlength=k)
        M = np.bincount(labels, mass, minlength=k)
        SX = np.bincount(labels, mass * xy[:, 0], minlength=k)
        SY = np.bincount(labels, mass * xy[:, 1], minlength=k)
        S2 = np.bincount(labels, np.asarray(self.q2), minlength=k)
        self.H, self.P, self.M = H.tolist(), P.tolist(), M.tolist()
        self.SX, self.SY, self.S2 = SX.tolist(), SY.tolist(), S2.tolist()
        self.size = np.bincount(labels, minlength=k).tolist()
        self.V = [self.viol(self.H[g], self.P[g]) for g in range(k)]

    def total_violation(self) -> float:
        return float(sum(self.V))

    def _inertia(self, s2, sx, sy, m):
        return s2 - (sx * sx + sy * sy) / m if m > 0 else 0.0

    def _connected_without(self, u: int, g: int) -> bool:
        lab = self.lab
        nb = self.nb
        targets = {v for v in nb[u] if lab[v] == g}
        if len(targets) <= 1:
            return True
        start = next(iter(targets))
        seen = {start, u}
        stack = [start]
        found = 1
        need = len(targets)
        while stack:
            a = stack.pop()
            for v in nb[a]:
                if v not in seen and lab[v] == g:
                    seen.add(v)
                    if v in targets:
                        found += 1
                        if found == need:
                            return True
                    stack.append(v)
        return False

    def _move(self, u, a, b):
        h, p, m, x, y, q2 = self.h[u], self.p[u], self.m[u], self.x[u], self.y[u], self.q2[u]
        self.H[a] -= h; self.P[a] -= p; self.M[a] -= m
        self.SX[a] -= m * x; self.SY[a] -= m * y; self.S2[a] -= q2
        self.H[b] += h; self.P[b] += p; self.M[b] += m
        self.SX[b] += m * x; self.SY[b] += m * y; self.S2[b] += q2
        self.size[a] -= 1
        self.size[b] += 1
        self.V[a] = self.viol(self.H[a], self.P[a])
        self.V[b] = self.viol(self.H[b], self.P[b])
        self.lab[u] = b

    def run(self, deadline: float, rng: np.random.Generator, max_rounds: int = 60,
            frozen: set | None = None) -> None:
        lab, nb, nw = self.lab, self.nb, self.nw
        viol = self.viol
        lam = self.lam_in
        frozen = frozen or set()
        active = [u for u in rng.permutation(self.n).tolist() if u not in frozen]
        for _ in range(max_rounds):
            moved = 0
            for u in active:
                a = lab[u]
                if self.size[a] <= 1:
                    continue
                # cut weight to each neighbouring grid
                wg = {}
                for v, w in zip(nb[u], nw[u]):
                    g = lab[v]
                    wg[g] = wg.get(g, 0.0) + w
                if len(wg) == 1 and a in wg:
                    continue
                hu, pu, mu, xu, yu, q2u = self.h[u], self.p[u], self.m[u], self.x[u], self.y[u], self.q2[u]
                Ha, Pa, Va = self.H[a], self.P[a], self.V[a]
                va_new = viol(Ha - hu, Pa - pu)
                ia_old = self._inertia(self.S2[a], self.SX[a], self.SY[a], self.M[a])
                ia_new = self._inertia(self.S2[a] - q2u, self.SX[a] - mu * xu, self.SY[a] - mu * yu,
                                       self.M[a] - mu)
                w_a = wg.get(a, 0.0)
                best, best_d = -1, -1e-9
                for b, w_b in wg.items():
                    if b == a:
                        continue
                    vb_new = viol(self.H[b] + hu, self.P[b] + pu)
                    d = BIG * (va_new + vb_new - Va - self.V[b]) + (w_a - w_b)
                    ib_old = self._inertia(self.S2[b], self.SX[b], self.SY[b], self.M[b])
                    ib_new = self._inertia(self.S2[b] + q2u, self.SX[b] + mu * xu, self.SY[b] + mu * yu,
                                           self.M[b] + mu)
                    d += lam * (ia_new + ib_new - ia_old - ib_old)
                    if d < best_d:
                        best, best_d = b, d
                if best >= 0 and self._connected_without(u, a):
                    self._move(u, a, best)
                    moved += 1
                if time.monotonic() > deadline:
                    return
            if moved == 0:
                return


def _grow(indptr, indices, h_prim, xy, mass, k, cap, seed) -> np.ndarray:
    """Capacity-aware region growing from weighted k-means centres."""
    n = len(h_prim)
    if k >= n:
        return np.arange(n) % max(k, 1)
    centers = _kmeans_centers(xy, mass, k, seed)
    lab = np.full(n, -1, dtype=np.int64)
    load = np.zeros(k)
    # seeds: the unit nearest each centre, distinct
    d2 = ((xy[:, None, :] - centers[None, :, :]) ** 2).sum(-1) if n * k <= 4_000_000 else None
    heap = []
    for g in range(k):
        dist = d2[:, g] if d2 is not None else ((xy - centers[g]) ** 2).sum(1)
        order = np.argsort(dist, kind="stable")
        for u in order[:64].tolist() + order[64:].tolist():
            if lab[u] < 0:
                lab[u] = g
                load[g] += h_prim[u]
                break
    cx, cy = centers[:, 0].tolist(), centers[:, 1].tolist()
    X, Y = xy[:, 0].tolist(), xy[:, 1].tolist()
    hp = h_prim.tolist()
    labl = lab.tolist()
    loadl = load.tolist()
    for u in range(n):
        g = labl[u]
        if g >= 0:
            for v in indices[indptr[u]:indptr[u + 1]].tolist():
                if labl[v] < 0:
                    heapq.heappush(heap, ((X[v] - cx[g]) ** 2 + (Y[v] - cy[g]) ** 2, v, g))
    while heap:
        _, u, g = heapq.heappop(heap)
        if labl[u] >= 0 or loadl[g] + hp[u] > cap:
            continue
        labl[u] = g
        loadl[g] += hp[u]
        for v in indices[indptr[u]:indptr[u + 1]].tolist():
            if labl[v] < 0:
                heapq.heappush(heap, ((X[v] - cx[g]) ** 2 + (Y[v] - cy[g]) ** 2, v, g))
    # leftovers: join the lightest neighbouring grid, spreading outwards
    pending = [u for u in range(n) if labl[u] < 0]
    while pending:
        rest = []
        for u in pending:
            nbg = [labl[v] for v in indices[indptr[u]:indptr[u + 1]].tolist() if labl[v] >= 0]
            if nbg:
                g = min(nbg, key=lambda gg: (loadl[gg], gg))
                labl[u] = g
                loadl[g] += hp[u]
            else:
                rest.append(u)
        if len(rest) == len(pending):  # disconnected remainder (should not happen): own grid 0
            for u in rest:
                labl[u] = 0
            break
        pending = rest
    return np.asarray(labl, dtype=np.int64)


def _kmeans_centers(xy, mass, k, seed) -> np.ndarray:
    from sklearn.cluster import KMeans

    w = np.maximum(mass, 1e-9)
    km = KMeans(n_clusters=k, n_init=1, random_state=int(seed) % (2 ** 31), max_iter=50)
    km.fit(xy - xy.mean(0), sample_weight=w)
    return km.cluster_centers_ + xy.mean(0)


# ---------------------------------------------------------------------------------------------
# one connected component of one community


def _contract(A: sp.csr_matrix, unit_of: np.ndarray, nu: int) -> sp.csr_matrix:
    n = A.shape[0]
    P = sp.csr_matrix((np.ones(n), (np.arange(n), unit_of)), shape=(n, nu))
    U = (P.T @ A @ P).tocsr()
    U.setdiag(0)
    U.eliminate_zeros()
    U.sort_indices()
    return U


class _Component:
    """Arrays of one connected component (local indices 0..n-1)."""

    def __init__(self, ctx: _Ctx, nodes: np.ndarray, rule: Rule):
        self.nodes = nodes
        self.rule = rule
        self.A = ctx.A[nodes][:, nodes].tocsr()
        self.h = ctx.h[nodes]
        self.p = ctx.p[nodes]
        self.xy = ctx.xy[nodes]
        self.compound = ctx.compound[nodes]
        self.H = float(self.h.sum())
        self.P = float(self.p.sum())

    def weights(self, prim: str) -> np.ndarray:
        w = self.h if prim == "h" else self.p
        eps = 0.05 * (w.mean() if len(w) and w.mean() > 0 else 1.0)
        return w + eps

    # -- units
    def units(self, prim: str, rule: Rule, seed: int, deadline: float) -> np.ndarray:
        """unit_of: compound pieces that fit are one unit; big ones cut into fewest pieces."""
        n = len(self.h)
        A = self.A.tocoo()
        c = self.compound
        same = (c[A.row] == c[A.col]) & (c[A.row] >= 0)
        G = sp.coo_matrix((np.ones(int(same.sum())), (A.row[same], A.col[same])), shape=(n, n))
        _, piece = connected_components(G, directed=False)
        # singletons for buildings outside compounds are already their own component
        ph = np.bincount(piece, self.h)
        pp = np.bincount(piece, self.p)
        big = np.flatnonzero(over_bound(rule, ph, pp) & (np.bincount(piece) > 1))
        unit_of = piece.copy()
        nxt = int(piece.max()) + 1 if n else 0
        for pc in big.tolist():
            members = np.flatnonzero(piece == pc)
            tot = ph[pc] if prim == "h" else pp[pc]
            hi = rule.max_households if prim == "h" else rule.max_persons
            lo = rule.min_households if prim == "h" else rule.min_persons
            m = max(2, math.ceil(tot / max(hi, 1)))
            m = min(m, len(members))
            sub_rule = Rule(min_households=int(min(lo, tot // m)) if prim == "h" else 0, max_households=hi if prim == "h" else 10 ** 12,
                            min_persons=int(min(lo, tot // m)) if prim == "p" else 0, max_persons=hi if prim == "p" else 10 ** 12,
                            mode="households" if prim == "h" else "persons")
            sub = self.A[members][:, members].tocsr()
            lab = _solve_graph(sub, self.h[members], self.p[members], self.xy[members],
                               self.weights(prim)[members], m, sub_rule, prim, seed, deadline)
            unit_of[members] = nxt + lab
            nxt += m
        _, unit_of = np.unique(unit_of, return_inverse=True)
        return unit_of.ravel()


def _lam_inertia(xy: np.ndarray, mass: np.ndarray, k: int) -> float:
    if len(xy) < 2:
        return 0.0
    span = np.ptp(xy, axis=0)
    area = max(float(span[0] * span[1]), float(max(span.max(), 1.0)) ** 2 / max(k, 1) * 0.1, 1.0)
    s = math.sqrt(area / k)
    m_avg = float(mass.sum()) / k
    return 12.0 / max(m_avg * s, 1e-9)


def _solve_graph(A: sp.csr_matrix, h, p, xy, mass, k, rule: Rule, prim: str, seed: int, deadline: float,
                 init: np.ndarray | None = None, lam_in: float | None = None) -> np.ndarray:
    """Partition a connected graph of units into k connected grids (labels 0..k-1)."""
    n = len(h)
    k = max(1, min(k, n))
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    wprim = h if prim == "h" else p
    cap = rule.max_households if prim == "h" else rule.max_persons
    if init is None:
        labels = _grow(A.indptr, A.indices, wprim, xy, mass, k, cap, seed)
    else:
        labels = np.asarray(init, dtype=np.int64)
    if lam_in is None:
        lam_in = _lam_inertia(xy, mass, k)
    s = _Search(A.indptr, A.indices, A.data, h, p, xy, mass, labels, k, rule, lam_in)
    s.run(deadline, np.random.default_rng(seed))
    return np.asarray(s.lab, dtype=np.int64)


def _violations(rule: Rule, labels: np.ndarray, h, p, k) -> np.ndarray:
    return violation(rule, np.bincount(labels, h, minlength=k), np.bincount(labels, p, minlength=k))


def _solve_component(comp: _Component, ks: list[int], rule: Rule, seed: int, deadline: float) -> np.ndarray:
    """Labels (0..k-1) of the buildings of one feasible component."""
    n = len(comp.h)
    best = None
    for attempt, k in enumerate(ks[:3]):
        if attempt and time.monotonic() > deadline:
            break
        k = min(k, n)
        prim = _primary(rule, comp.H, comp.P, k)
        mass = comp.weights(prim)
        lam_in = _lam_inertia(comp.xy, mass, k)
        unit_of = comp.units(prim, rule, seed, deadline)
        nu = int(unit_of.max()) + 1
        for trial in range(2):
            s = seed + 7919 * trial + 104729 * attempt
            if nu >= k:
                U = _contract(comp.A, unit_of, nu)
                uh = np.bincount(unit_of, comp.h, minlength=nu)
                up = np.bincount(unit_of, comp.p, minlength=nu)
                um = np.bincount(unit_of, mass, minlength=nu)
                uxy = np.column_stack([np.bincount(unit_of, mass * comp.xy[:, 0], minlength=nu),
                                       np.bincount(unit_of, mass * comp.xy[:, 1], minlength=nu)]) / um[:, None]
                ulab = _solve_graph(U, uh, up, uxy, um, k, rule, prim, s, deadline, lam_in=lam_in)
                labels = ulab[unit_of]
            else:
                labels = _solve_graph(comp.A, comp.h, comp.p, comp.xy, mass, k, rule, prim, s, deadline,
                                      lam_in=lam_in)
            v = _violations(rule, labels, comp.h, comp.p, k)
            if v.sum() > 0:
                labels = _repair(comp, labels, unit_of, k, rule, prim, mass, lam_in, s, deadline)
                v = _violations(rule, labels, comp.h, comp.p, k)
            score = float(v.sum())
            if best is None or score < best[0]:
                best = (score, labels)
            if score == 0 or time.monotonic() > deadline:
                break
        if best[0] == 0:
            break
    return best[1]


def _repair(comp: _Component, labels, unit_of, k, rule, prim, mass, lam_in, seed, deadline) -> np.ndarray:
    """Shatter the units of failing grids (and their neighbours) into buildings and improve again;
    then, if needed, the whole component."""
    A = comp.A
    for stage in range(2):
        if time.monotonic() > deadline:
            break
        v = _violations(rule, labels, comp.h, comp.p, k)
        bad = np.flatnonzero(v > 0)
        if len(bad) == 0:
            break
        if stage == 0:
            Ac = A.tocoo()
            cross = labels[Ac.row] != labels[Ac.col]
            gpairs = np.column_stack([labels[Ac.row][cross], labels[Ac.col][cross]])
            near = set(bad.tolist())
            for a, b in gpairs.tolist():
                if a in near or b in near:
                    near.add(a)
                    near.add(b)
            hit = np.isin(labels, list(near))
        else:
            hit = np.ones(len(labels), dtype=bool)
        # buildings of hit grids become their own units
        new_unit = unit_of.copy()
        nxt = int(unit_of.max()) + 1
        hb = np.flatnonzero(hit)
        new_unit[hb] = nxt + np.arange(len(hb))
        _, new_unit = np.unique(new_unit, return_inverse=True)
        new_unit = new_unit.ravel()
        nu = int(new_unit.max()) + 1
        U = _contract(A, new_unit, nu)
        uh = np.bincount(new_unit, comp.h, minlength=nu)
        up = np.bincount(new_unit, comp.p, minlength=nu)
        um = np.bincount(new_unit, mass, minlength=nu)
        uxy = np.column_stack([np.bincount(new_unit, mass * comp.xy[:, 0], minlength=nu),
                               np.bincount(new_unit, mass * comp.xy[:, 1], minlength=nu)]) / um[:, None]
        ulab = np.zeros(nu, dtype=np.int64)
        ulab[new_unit] = labels
        ulab = _solve_graph(U, uh, up, uxy, um, k, rule, prim, seed, deadline, init=ulab, lam_in=lam_in)
        labels = ulab[new_unit]
        unit_of = new_unit
    return labels


# ---------------------------------------------------------------------------------------------
# a set of buildings (one community, or what is left of it around locked grids)


def _partition_nodes(ctx: _Ctx, nodes: np.ndarray, rule: Rule, seed: int, deadline: float,
                     k_override: int | None = None) -> list[np.ndarray]:
    """Groups of building indices (each a grid) covering ``nodes`` exactly."""
    nodes = np.sort(np.asarray(nodes, dtype=np.int64))
    if len(nodes) == 0:
        return []
    h, p = ctx.h[nodes], ctx.p[nodes]
    over = over_bound(rule, h, p) & (k_override is None)
    groups: list[list[int]] = [[int(b)] for b in nodes[over]]
    group_of_over = {int(b): i for i, b in enumerate(nodes[over])}
    rest = nodes[~over]
    if len(rest) == 0:
        return [np.asarray(g) for g in groups]
    sub = ctx.A[rest][:, rest]
    ncomp, lab = connected_components(sub, directed=False)
    comps = [rest[lab == c] for c in range(ncomp)]
    comps.sort(key=lambda c: int(c[0]))
    for cn in comps:
        H, P = float(ctx.h[cn].sum()), float(ctx.p[cn].sum())
        if k_override is not None:
            share = (H if H > 0 else P) / max(float(ctx.h[rest].sum()) if H > 0 else float(ctx.p[rest].sum()), 1e-9)
            ks = [max(1, min(len(cn), round(k_override * share)))]
        else:
            ks = k_options(rule, H, P)
        if not ks:
            touch = []
            if group_of_over:
                row = ctx.A[cn]
                touch = sorted(set(row.indices.tolist()) & set(group_of_over))
            if touch:
                groups[group_of_over[touch[0]]].extend(cn.tolist())
            else:
                groups.append(cn.tolist())
            continue
        if ks[0] == 1 and k_override is None:
            groups.append(cn.tolist())
            continue
        comp = _Component(ctx, cn, rule)
        labels = _solve_component(comp, ks, rule, seed, deadline)
        for g in np.unique(labels):
            groups.append(cn[labels == g].tolist())
    return [np.asarray(sorted(g), dtype=np.int64) for g in groups]


# ---------------------------------------------------------------------------------------------
# public API


def partition(dataset: Dataset, *, rule: Rule | None = None, seed: int = 0, code_width: int = 2,
              time_limit_s: float = 30.0, communities=None) -> Plan:
    """Partition every community into grids that meet the size rule.

    Parameters
    ----------
    dataset
        The dataset (buildings with households, persons, compound and community).
    rule
        The size rule (bounds and mode); default 300–500 households or 1,000–1,500 persons.
    seed
        Seed of every random choice; the same seed gives the same plan.
    code_width
        Digits of the grid serial after the community code (2 or 3).
    time_limit_s
        Time budget of the improvement phases (the best plan found so far is returned).
    communities
        Only partition these community ids; the buildings of every other community form one grid
        per community.

    Returns
    -------
    Plan
        Every building in exactly one grid; grid ids are community code + serial.
    """
    rule = rule or Rule()
    t0 = time.monotonic()
    ctx = _context(dataset)
    comm = ctx.comm
    uniq = sorted(pd.unique(comm).tolist())
    wanted = set(uniq) if communities is None else {str(c) for c in communities}
    unknown = wanted - set(uniq)
    if unknown:
        raise PlanError(f"unknown community id(s): {', '.join(sorted(unknown)[:5])}")
    labels = np.empty(len(comm), dtype=object)
    todo = [c for c in uniq if c in wanted]
    weight = {c: int((comm == c).sum()) for c in todo}
    remaining = sum(weight.values())
    for cid in uniq:
        nodes = np.flatnonzero(comm == cid)
        if cid not in wanted:
            labels[nodes] = f"{cid}#0"
            continue
        now = time.monotonic()
        budget = max(t0 + time_limit_s - now, 0.0) * weight[cid] / max(remaining, 1)
        remaining -= weight[cid]
        groups = _partition_nodes(ctx, nodes, rule, seed, now + budget)
        for i, g in enumerate(groups):
            labels[g] = f"{cid}#{i}"
    a = pd.Series(labels, index=ctx.ids, dtype=object)
    mapping = number_grids(dataset, a, width=code_width)
    plan = Plan(apply_codes(a, mapping), rule=rule, label=f"partition (seed {seed})")
    log.info("partitioned %d buildings into %d grids in %.2f s", len(a), len(mapping), time.monotonic() - t0)
    return plan


def _code_width(plan: Plan, community_id: str) -> int:
    ws = [len(g) - len(community_id) for g in plan.assignment.unique()
          if g.startswith(community_id) and g[len(community_id):].isdigit()]
    return max(ws) if ws else 2


def _place_groups(dataset: Dataset, plan: Plan, groups: list[np.ndarray], community_id: str,
                  ctx: _Ctx, reuse: list[str] = ()) -> pd.Series:
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


def reoptimise(dataset: Dataset, plan: Plan, community_id: str, *, keep=None, seed: int = 0,
               time_limit_s: float = 5.0) -> Plan:
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
        Time budget of the improvement.

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
    groups = _partition_nodes(ctx, nodes, plan.rule, seed, time.monotonic() + time_limit_s)
    new = _place_groups(dataset, plan, groups, community_id, ctx, reuse=reuse)
    return plan.with_assignment(new, label=f"re-optimise {community_id}")


def split_grid(dataset: Dataset, plan: Plan, grid_id: str, *, parts: int | None = None, seed: int = 0,
               time_limit_s: float = 5.0) -> Plan:
    """Split one grid into contiguous parts that meet the rule as well as they can.

    Parameters
    ----------
    grid_id
        The grid to split (must not be locked).
    parts
        Number of parts; default: the best feasible count of at least 2 (2 if none is feasible).

    Returns
    -------
    Plan
        A child of ``plan``; the first part in reading order keeps ``grid_id``, the others get new
        serials of the grid's community.
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
    rule = plan.rule
    H, P = float(ctx.h[nodes].sum()), float(ctx.p[nodes].sum())
    if parts is None:
        ks = [k for k in k_options(rule, H, P) if k >= 2]
        parts = ks[0] if ks else 2
    parts = int(parts)
    if parts < 2:
        raise PlanError("a grid is split into at least 2 parts")
    parts = min(parts, len(nodes))
    vals, cnt = np.unique(ctx.comm[nodes].astype(str), return_counts=True)
    cid = vals[int(np.argmax(cnt))]
    groups = _split_nodes(ctx, nodes, parts, rule, seed, time.monotonic() + time_limit_s)
    new = _place_groups(dataset, plan, groups, cid, ctx, reuse=[grid_id])
    return plan.with_assignment(new, label=f"split {grid_id} into {len(groups)}")


def _split_nodes(ctx: _Ctx, nodes: np.ndarray, parts: int, rule: Rule, seed: int, deadline: float):
    sub = ctx.A[nodes][:, nodes]
    ncomp, lab = connected_components(sub, directed=False)
    comps = sorted((nodes[lab == c] for c in range(ncomp)), key=lambda c: int(c[0]))
    if ncomp >= parts:
        # already in pieces: each piece is a part (extra pieces join the smallest part count)
        return comps
    sizes = np.array([len(c) for c in comps], dtype=float)
    alloc = np.ones(ncomp, dtype=int)
    for _ in range(parts - ncomp):
        room = np.array([len(c) for c in comps]) - alloc
        j = int(np.argmax(np.where(room > 0, sizes / alloc, -1)))
        alloc[j] += 1
    groups = []
    for cn, k in zip(comps, alloc.tolist()):
        if k == 1:
            groups.append(cn)
            continue
        comp = _Component(ctx, cn, rule)
        labels = _solve_component(comp, [k], rule, seed, deadline)
        groups.extend(cn[labels == g] for g in np.unique(labels))
    return groups
