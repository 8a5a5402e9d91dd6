"""The grid engine's inner machinery: unit graphs, the work budget, construction and the local search.

Private to :mod:`gridplan.engine` (which documents the method). Everything here is a pure function
of its arrays and a seed; how long a search runs is counted in deterministic *work units* (unit
moves evaluated, plus the vertices a connectivity check visits), never in seconds, so the same
input gives the same result on any machine, under any load and in any process. A wall-clock
deadline exists only as a safety cap; when it fires, :attr:`Work.capped` records it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .rule import Rule

#: penalty per household of bound violation (dominates every soft term)
BIG = 1e6
#: schedule of the bound-violation weight in the local search (per household)
PENALTIES = (3.0, 30.0, BIG)
#: weight of the inertia (compactness) term relative to the cut length
INERTIA_WEIGHT = 12.0
#: weight of the shape term Σ P²/A (Polsby-Popper) relative to the cut length
SHAPE_WEIGHT = 3.0
#: work units between two looks at the wall clock (the safety cap)
_CLOCK_EVERY = 4096


# ---------------------------------------------------------------------------------------------
# the work budget


class Work:
    """A budget of work units shared by every phase of one solve.

    ``limit`` is the number of units the whole solve may spend; a phase may stop earlier at a
    ``stop`` of its own (an absolute count). ``deadline`` (``time.time()`` seconds) is the
    wall-clock safety cap. :attr:`reached` says whether the budget or the cap ended a search.
    """

    __slots__ = ("used", "limit", "deadline", "reached", "capped", "_next_clock")

    def __init__(self, limit: float, deadline: float | None = None):
        self.used = 0
        self.limit = float(limit)
        self.deadline = deadline
        self.reached = False
        self.capped = False
        self._next_clock = 0  # look at the clock at the first check

    def left(self) -> float:
        return max(self.limit - self.used, 0.0)

    def share(self, fraction: float) -> float:
        """An absolute stop ``fraction`` of the way through what is left."""
        return self.used + fraction * self.left()

    def over(self, stop: float | None = None) -> bool:
        """Whether a phase that may run until ``stop`` (default: the limit) must end now."""
        if self.used >= self.limit:
            self.reached = True
            return True
        if self.capped:
            return True
        if self.used >= self._next_clock:
            self._next_clock = self.used + _CLOCK_EVERY
            if self.deadline is not None and time.time() > self.deadline:
                self.capped = self.reached = True
                return True
        return stop is not None and self.used >= stop


# ---------------------------------------------------------------------------------------------
# unit graphs


@dataclass
class Graph:
    """A graph of units (buildings, or groups of them) with what the search needs per unit.

    ``A`` holds cut costs and ``L`` the plain shared boundary lengths, with the same sparsity;
    ``area``/``perim`` are the area and perimeter of each unit's cells (so a grid's perimeter is
    the sum of its units' perimeters minus twice the boundary they share).
    """

    A: sp.csr_matrix
    L: sp.csr_matrix
    h: np.ndarray
    p: np.ndarray
    xy: np.ndarray
    area: np.ndarray
    perim: np.ndarray
    mass: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.h)

    def sub(self, idx: np.ndarray) -> Graph:
        return Graph(A=self.A[idx][:, idx].tocsr(), L=self.L[idx][:, idx].tocsr(), h=self.h[idx],
                     p=self.p[idx], xy=self.xy[idx], area=self.area[idx], perim=self.perim[idx],
                     mass=None if self.mass is None else self.mass[idx])

    @property
    def required_mass(self) -> np.ndarray:
        """The vertex masses the search needs (set by :meth:`with_mass`)."""
        if self.mass is None:
            raise ValueError("the graph has no vertex masses: use with_mass first")
        return self.mass

    def with_mass(self, mass: np.ndarray) -> Graph:
        return Graph(self.A, self.L, self.h, self.p, self.xy, self.area, self.perim, mass)

    def contract(self, unit_of: np.ndarray) -> Graph:
        """The graph of units ``0..max(unit_of)`` (each unit a set of this graph's vertices)."""
        n = len(self.h)
        nu = int(unit_of.max()) + 1
        P = sp.csr_matrix((np.ones(n), (np.arange(n), unit_of)), shape=(n, nu))
        PT = P.T.tocsr()
        UA = (PT @ self.A @ P).tocsr()
        UL = (PT @ self.L @ P).tocsr()
        inner = UL.diagonal()
        for M in (UA, UL):
            M.setdiag(0)
            M.eliminate_zeros()
            M.sort_indices()
        if not (np.array_equal(UA.indptr, UL.indptr) and np.array_equal(UA.indices, UL.indices)):
            UL = _align(UA, UL)
        m = self.mass if self.mass is not None else np.ones(n)
        um = np.bincount(unit_of, m, minlength=nu)
        safe = np.where(um > 0, um, 1.0)
        uxy = np.column_stack([np.bincount(unit_of, m * self.xy[:, 0], minlength=nu),
                               np.bincount(unit_of, m * self.xy[:, 1], minlength=nu)]) / safe[:, None]
        return Graph(A=UA, L=UL, h=np.bincount(unit_of, self.h, minlength=nu),
                     p=np.bincount(unit_of, self.p, minlength=nu), xy=uxy,
                     area=np.bincount(unit_of, self.area, minlength=nu),
                     perim=np.maximum(np.bincount(unit_of, self.perim, minlength=nu) - inner, 0.0),
                     mass=um if self.mass is not None else None)


def _align(A: sp.csr_matrix, L: sp.csr_matrix) -> sp.csr_matrix:
    """L's values on A's sparsity (missing entries 0)."""
    r, c = A.nonzero()
    vals = np.asarray(L[r, c]).ravel()
    out = sp.csr_matrix((vals, (r, c)), shape=A.shape)
    out.sort_indices()
    return out


def weights(G: Graph, prim: str) -> np.ndarray:
    """The mass of each vertex for centroids and inertia: the primary measure plus 5 % of its
    mean (so empty buildings still have a place)."""
    w = G.h if prim == "h" else G.p
    mean = float(w.mean()) if len(w) else 0.0
    return w + 0.05 * (mean if mean > 0 else 1.0)


def lams(G: Graph, k: int) -> tuple[float, float]:
    """Weights of the inertia and shape terms, scaled to the size of an average grid."""
    if len(G) < 2:
        return 0.0, 0.0
    area = float(G.area.sum())
    if area <= 0:
        span = np.ptp(G.xy, axis=0)
        area = max(float(span[0] * span[1]), 1.0)
    s = math.sqrt(area / k)
    m_avg = float(G.required_mass.sum()) / k
    return INERTIA_WEIGHT / max(m_avg * s, 1e-9), SHAPE_WEIGHT * s / 8.0


def violations(rule: Rule, labels: np.ndarray, h, p, k) -> np.ndarray:
    """Bound violation of every grid (0 when it complies)."""
    return rule.violation(np.bincount(labels, h, minlength=k), np.bincount(labels, p, minlength=k))


def shape_cost(G: Graph, labels: np.ndarray, k: int) -> float:
    """Σ P²/A over the grids (4π / Polsby-Popper summed)."""
    Lc = G.L.tocoo()
    same = labels[Lc.row] == labels[Lc.col]
    inner = np.bincount(labels[Lc.row[same]], Lc.data[same], minlength=k)
    pe = np.bincount(labels, G.perim, minlength=k) - inner
    ar = np.maximum(np.bincount(labels, G.area, minlength=k), 1.0)
    return float((pe ** 2 / ar).sum())


# ---------------------------------------------------------------------------------------------
# the local search on a unit graph


class Search:
    """Boundary-move local search over a graph of units with a fixed number of grids.

    Cost = penalty × bound violation + cut cost + ``lam_in`` × inertia + ``lam_pp`` × Σ P²/A
    (P, A: grid perimeter and area; 4π/(P²/A) is the Polsby-Popper score). A move is only made
    when the source grid stays connected (:meth:`_connected_without`).
    """

    def __init__(self, G: Graph, labels, k, rule, lam_in, lam_pp, work: Work):
        self.n = n = len(G)
        self.work = work
        A, L = G.A, G.L
        indptr, indices = A.indptr, A.indices
        ind = indices.tolist()
        ptr = indptr.tolist()
        ad = A.data.tolist()
        ld = L.data.tolist()
        self.nb = [ind[ptr[i]:ptr[i + 1]] for i in range(n)]
        self.nw = [ad[ptr[i]:ptr[i + 1]] for i in range(n)]
        self.nl = [ld[ptr[i]:ptr[i + 1]] for i in range(n)]
        mass = G.required_mass
        xy = G.xy
        self.h = G.h.tolist()
        self.p = G.p.tolist()
        self.x = xy[:, 0].tolist()
        self.y = xy[:, 1].tolist()
        self.m = mass.tolist()
        self.ar = G.area.tolist()
        self.pe = G.perim.tolist()
        q2 = mass * (xy[:, 0] ** 2 + xy[:, 1] ** 2)
        self.q2 = q2.tolist()
        labels = np.asarray(labels, dtype=np.int64)
        self.lab = labels.tolist()
        self.k = k
        self.viol = rule.violation_fn()
        self.lam_in = lam_in
        self.lam_pp = lam_pp
        bc = lambda v: np.bincount(labels, v, minlength=k).tolist()  # noqa: E731
        self.H, self.P, self.M = bc(G.h), bc(G.p), bc(mass)
        self.SX, self.SY, self.S2 = bc(mass * xy[:, 0]), bc(mass * xy[:, 1]), bc(q2)
        self.AR = bc(G.area)
        # grid perimeter = Σ unit perimeters − 2 × shared length inside the grid
        Lc = L.tocoo()
        same = labels[Lc.row] == labels[Lc.col]
        inner = np.bincount(labels[Lc.row[same]], Lc.data[same], minlength=k)
        self.PE = (np.bincount(labels, G.perim, minlength=k) - inner).tolist()
        self.size = np.bincount(labels, minlength=k).tolist()
        self.V = [self.viol(self.H[g], self.P[g]) for g in range(k)]

    def _connected_without(self, u: int, g: int) -> bool:
        """Whether grid ``g`` stays connected when unit ``u`` leaves it: a search from one of u's
        neighbours in g must reach all the others without passing through u."""
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
        try:
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
        finally:
            self.work.used += len(seen) >> 3

    def _move(self, u, a, b, la, lb):
        h, p, m, x, y, q2 = self.h[u], self.p[u], self.m[u], self.x[u], self.y[u], self.q2[u]
        self.H[a] -= h; self.P[a] -= p; self.M[a] -= m  # noqa: E702
        self.SX[a] -= m * x; self.SY[a] -= m * y; self.S2[a] -= q2  # noqa: E702
        self.H[b] += h; self.P[b] += p; self.M[b] += m  # noqa: E702
        self.SX[b] += m * x; self.SY[b] += m * y; self.S2[b] += q2  # noqa: E702
        self.AR[a] -= self.ar[u]
        self.AR[b] += self.ar[u]
        self.PE[a] += -self.pe[u] + 2 * la
        self.PE[b] += self.pe[u] - 2 * lb
        self.size[a] -= 1
        self.size[b] += 1
        self.V[a] = self.viol(self.H[a], self.P[a])
        self.V[b] = self.viol(self.H[b], self.P[b])
        self.lab[u] = b

    def _grid_connected(self, g: int) -> bool:
        lab, nb = self.lab, self.nb
        members = [u for u in range(self.n) if lab[u] == g]
        self.work.used += self.n >> 3
        if len(members) <= 1:
            return bool(members)
        seen = {members[0]}
        stack = [members[0]]
        while stack:
            a = stack.pop()
            for v in nb[a]:
                if v not in seen and lab[v] == g:
                    seen.add(v)
                    stack.append(v)
        return len(seen) == len(members)

    def swap_pass(self) -> int:
        """For each grid that breaks the bounds: exchange one border unit with a neighbouring grid
        (u: n → g and v: g → n) when that lowers the violation and both grids stay connected.
        Fixes the near-misses single moves cannot (a grid 4 persons short, neighbours at the edge)."""
        lab, nb, viol, work = self.lab, self.nb, self.viol, self.work
        done = 0
        for g in range(self.k):
            if self.V[g] <= 0:
                continue
            border: dict[int, set[int]] = {}
            for u in range(self.n):
                if lab[u] == g:
                    for v in nb[u]:
                        if lab[v] != g:
                            border.setdefault(lab[v], set()).add(v)
            work.used += self.n >> 2
            for n_, outside in sorted(border.items()):
                if self.V[g] <= 0:
                    break
                inside = sorted({u for v in outside for u in nb[v] if lab[u] == g})
                base = self.V[g] + self.V[n_]
                cands = []
                for u in sorted(outside):       # u: n_ → g
                    for v in inside:            # v: g → n_
                        dh = self.h[u] - self.h[v]
                        dp = self.p[u] - self.p[v]
                        new = viol(self.H[g] + dh, self.P[g] + dp) + viol(self.H[n_] - dh, self.P[n_] - dp)
                        if new < base - 1e-9:
                            cands.append((new, u, v))
                work.used += len(outside) * len(inside)
                cands.sort()
                for _new, u, v in cands[:200]:
                    if work.over():
                        return done
                    lab[u], lab[v] = g, n_
                    if self._grid_connected(g) and self._grid_connected(n_):
                        lab[u], lab[v] = n_, g
                        la = sum(ln for w, ln in zip(nb[u], self.nl[u]) if lab[w] == n_)
                        lb = sum(ln for w, ln in zip(nb[u], self.nl[u]) if lab[w] == g)
                        self._move(u, n_, g, la, lb)
                        la = sum(ln for w, ln in zip(nb[v], self.nl[v]) if lab[w] == g)
                        lb = sum(ln for w, ln in zip(nb[v], self.nl[v]) if lab[w] == n_)
                        self._move(v, g, n_, la, lb)
                        done += 1
                        break
                    lab[u], lab[v] = n_, g
        return done

    def run(self, rng: np.random.Generator, max_rounds: int = 40, penalties: tuple[float, ...] = (BIG,),
            stop: float | None = None) -> None:
        """Improve until no move helps (or the work runs out). ``penalties`` is the schedule of the
        weight of bound violations: small weights first let shape decide which units move to fix
        the bounds. ``stop`` is an absolute work count this run may not pass."""
        work = self.work
        stop = work.limit if stop is None else min(stop, work.limit)
        order = rng.permutation(self.n).tolist()
        pos = {u: i for i, u in enumerate(order)}
        nb = self.nb
        for i, pen in enumerate(penalties):
            last = i == len(penalties) - 1
            # early (shape-led) stages get half of what is left and few passes, so the final
            # stage always has work left to restore the bounds
            st = stop if last else work.used + 0.5 * max(stop - work.used, 0.0)
            queue, full = order, True
            for _ in range(max_rounds * 4 if last else 24):
                moved, ended = self._sweep(queue, pen, st)
                if ended:
                    break
                if not moved:
                    if full:
                        break
                    queue, full = order, True  # a full pass confirms the local optimum
                    continue
                dirty = set(moved)
                for u in moved:
                    dirty.update(nb[u])
                queue, full = sorted(dirty, key=pos.__getitem__), False
            if work.over():
                return

    def _sweep(self, order, pen, stop) -> tuple[list, bool]:
        """One pass over ``order``: the units moved, and whether the work ran out."""
        lab, nb, nw, nl = self.lab, self.nb, self.nw, self.nl
        viol = self.viol
        lam, lpp = self.lam_in, self.lam_pp
        H, P, V, AR, PE = self.H, self.P, self.V, self.AR, self.PE
        S2, SX, SY, M = self.S2, self.SX, self.SY, self.M
        work = self.work
        moved: list[int] = []
        check = min(stop, work.limit, work._next_clock)
        for u in order:
            if work.used >= check:
                if work.over(stop):
                    return moved, True
                check = min(stop, work.limit, work._next_clock)
            a = lab[u]
            nbu = nb[u]
            for v in nbu:
                if lab[v] != a:
                    break
            else:
                work.used += 1
                continue  # interior unit
            if self.size[a] <= 1:
                continue
            wg: dict[int, float] = {}
            lg: dict[int, float] = {}
            for v, w, ln in zip(nbu, nw[u], nl[u]):
                g = lab[v]
                if g in wg:
                    wg[g] += w
                    lg[g] += ln
                else:
                    wg[g] = w
                    lg[g] = ln
            work.used += len(wg)
            hu, pu, mu, xu, yu, q2u = self.h[u], self.p[u], self.m[u], self.x[u], self.y[u], self.q2[u]
            aru, peu = self.ar[u], self.pe[u]
            mx, my = mu * xu, mu * yu
            # source grid a after losing u
            Ma2 = M[a] - mu
            ia = (S2[a] - q2u - ((SX[a] - mx) ** 2 + (SY[a] - my) ** 2) / Ma2 if Ma2 > 0 else 0.0) \
                - (S2[a] - (SX[a] ** 2 + SY[a] ** 2) / M[a])
            pa2 = PE[a] - peu + 2 * lg.get(a, 0.0)
            ara2 = AR[a] - aru
            sa = (pa2 * pa2 / ara2 if ara2 > 1.0 else pa2 * pa2) - (PE[a] * PE[a] / AR[a] if AR[a] > 1.0 else PE[a] * PE[a])
            base_a = lam * ia + lpp * sa + pen * (viol(H[a] - hu, P[a] - pu) - V[a]) + wg.get(a, 0.0)
            best, best_d = -1, -1e-9
            for b, w_b in wg.items():
                if b == a:
                    continue
                Mb2 = M[b] + mu
                ib = (S2[b] + q2u - ((SX[b] + mx) ** 2 + (SY[b] + my) ** 2) / Mb2) \
                    - (S2[b] - (SX[b] ** 2 + SY[b] ** 2) / M[b] if M[b] > 0 else S2[b])
                pb2 = PE[b] + peu - 2 * lg[b]
                arb2 = AR[b] + aru
                sb = (pb2 * pb2 / arb2 if arb2 > 1.0 else pb2 * pb2) - (PE[b] * PE[b] / AR[b] if AR[b] > 1.0 else PE[b] * PE[b])
                d = base_a - w_b + pen * (viol(H[b] + hu, P[b] + pu) - V[b]) + lam * ib + lpp * sb
                if d < best_d:
                    best, best_d = b, d
            if best >= 0 and self._connected_without(u, a):
                self._move(u, a, best, lg.get(a, 0.0), lg[best])
                moved.append(u)
        return moved, False


# ---------------------------------------------------------------------------------------------
# construction


def construct(G: Graph, w: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Balanced weighted k-means (a power diagram whose loads are near ``sum(w)/k``), then every
    grid keeps its heaviest connected piece and the other pieces join a neighbouring grid."""
    n = len(w)
    if k >= n:
        return np.arange(n) % max(k, 1)
    lab = _balanced_kmeans(G.xy, G.mass, w, k, seed)
    return make_connected(G.A, lab, w, k)


def _sqdist(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Squared distances (n × k) without a matrix product, so no BLAS threading is involved."""
    return (X[:, None, 0] - C[None, :, 0]) ** 2 + (X[:, None, 1] - C[None, :, 1]) ** 2


def _balanced_kmeans(xy, mass, w, k, seed, outer: int = 6, inner: int = 20) -> np.ndarray:
    X = xy - xy.mean(0)
    C = _kmeans_pp(X, mass, k, np.random.default_rng(seed))
    span = np.ptp(X, axis=0)
    s2 = max(float(span[0] * span[1]), float(span.max()) ** 2 * 0.01, 1.0) / k
    T = max(float(w.sum()) / k, 1e-9)
    b = np.zeros(k)
    lab = np.zeros(len(X), dtype=np.int64)
    prev = None
    for _ in range(outer):
        D0 = _sqdist(X, C)
        moved = False
        for _ in range(inner):
            lab = (D0 - b[None, :]).argmin(1)
            dev = (T - np.bincount(lab, w, minlength=k)) / T
            if np.abs(dev).max() < 0.05:
                break
            b += 0.3 * s2 * dev
            moved = True
        if not moved and prev is not None and np.array_equal(lab, prev):
            # a fixed point: the centres below come out as they went in, so every further round
            # would repeat this one exactly
            break
        prev = lab
        M = np.bincount(lab, mass, minlength=k)
        ok = M > 0
        C[ok] = np.column_stack([np.bincount(lab, mass * X[:, 0], minlength=k),
                                 np.bincount(lab, mass * X[:, 1], minlength=k)])[ok] / M[ok, None]
    # every grid must hold at least one unit
    for g in np.flatnonzero(np.bincount(lab, minlength=k) == 0).tolist():
        counts = np.bincount(lab, minlength=k)
        donor = int(np.argmax(counts))
        members = np.flatnonzero(lab == donor)
        d = ((X[members] - C[g]) ** 2).sum(1)
        lab[members[int(np.argmin(d))]] = g
    return lab.astype(np.int64)


def _kmeans_pp(X: np.ndarray, mass: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Weighted k-means++ seeding followed by a few Lloyd iterations (numpy only)."""
    n = len(X)
    w = np.maximum(mass, 1e-12)
    C = np.empty((k, 2))
    C[0] = X[int(rng.choice(n, p=w / w.sum()))]
    d2 = ((X - C[0]) ** 2).sum(1)
    for j in range(1, k):
        p = w * d2
        tot = p.sum()
        idx = int(rng.choice(n, p=p / tot)) if tot > 0 else int(rng.integers(n))
        C[j] = X[idx]
        d2 = np.minimum(d2, ((X - C[j]) ** 2).sum(1))
    for _ in range(10):
        lab = _sqdist(X, C).argmin(1)
        M = np.bincount(lab, w, minlength=k)
        ok = M > 0
        newC = C.copy()
        newC[ok] = np.column_stack([np.bincount(lab, w * X[:, 0], minlength=k),
                                    np.bincount(lab, w * X[:, 1], minlength=k)])[ok] / M[ok, None]
        if np.allclose(newC, C):
            break
        C = newC
    return C


def make_connected(A: sp.csr_matrix, lab: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """Each grid keeps its heaviest connected piece; the other pieces join a neighbouring grid."""
    n = len(lab)
    Ac = A.tocoo()
    keep = lab[Ac.row] == lab[Ac.col]
    Gm = sp.coo_matrix((np.ones(int(keep.sum())), (Ac.row[keep], Ac.col[keep])), shape=(n, n))
    _, comp = connected_components(Gm, directed=False)
    cw = np.bincount(comp, w + 1e-6)
    first = np.full(int(comp.max()) + 1, -1)
    first[comp[::-1]] = np.arange(n)[::-1]
    best: dict[int, int] = {}
    for c in range(len(first)):
        g = int(lab[first[c]])
        if g not in best or cw[c] > cw[best[g]]:
            best[g] = c
    keepc = np.zeros(len(first), dtype=bool)
    keepc[list(best.values())] = True
    labl = lab.tolist()
    stray = ~keepc[comp]
    for u in np.flatnonzero(stray).tolist():
        labl[u] = -1
    indptr, indices = A.indptr, A.indices
    lab_arr = np.asarray(labl)
    load = np.bincount(lab_arr[lab_arr >= 0], w[lab_arr >= 0], minlength=k).tolist()
    pending = np.flatnonzero(stray).tolist()
    while pending:
        rest = []
        for u in pending:
            nbg = [labl[v] for v in indices[indptr[u]:indptr[u + 1]].tolist() if labl[v] >= 0]
            if nbg:
                g = min(nbg, key=lambda gg: (load[gg], gg))
                labl[u] = g
                load[g] += w[u]
            else:
                rest.append(u)
        if len(rest) == len(pending):  # pragma: no cover - graph not connected
            for u in rest:
                labl[u] = 0
            break
        pending = rest
    return np.asarray(labl, dtype=np.int64)


def improve(G: Graph, k: int, rule: Rule, prim: str, seed: int, work: Work, *, init: np.ndarray | None = None,
            lam: tuple[float, float] | None = None, penalties: tuple[float, ...] = PENALTIES,
            stop: float | None = None) -> np.ndarray:
    """Partition a connected graph of units into k connected grids (labels 0..k-1): construct
    (unless ``init`` is given), then improve with the local search and swaps."""
    n = len(G)
    k = max(1, min(k, n))
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    if G.mass is None:
        G = G.with_mass(weights(G, prim))
    labels = construct(G, G.h if prim == "h" else G.p, k, seed) if init is None else np.asarray(init, dtype=np.int64)
    lam_in, lam_pp = lam if lam is not None else lams(G, k)
    s = Search(G, labels, k, rule, lam_in, lam_pp, work)
    s.run(np.random.default_rng(seed), penalties=penalties, stop=stop)
    for _ in range(3):
        if sum(s.V) <= 0 or work.over(stop) or not s.swap_pass():
            break
        s.run(np.random.default_rng(seed), penalties=(BIG,), stop=stop)
    out = np.asarray(s.lab, dtype=np.int64)
    if work.over(stop):  # cut short: keep whichever of start and result is better
        before = (violations(rule, labels, G.h, G.p, k).sum(), shape_cost(G, labels, k))
        after = (violations(rule, out, G.h, G.p, k).sum(), shape_cost(G, out, k))
        if before < after:
            return labels
    return out
