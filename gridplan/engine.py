"""The grid engine: cut every community into contiguous grids of 300–500 households (or 1,000–1,500
persons) that keep compounds whole where they can.

How it works, per community:

1. **Exceptions first.** A building too large for any grid (:func:`over_bound`) becomes a grid of
   its own. The rest of the community splits into the connected components of the adjacency graph
   (:mod:`gridplan.adjacency`); a component is normally the whole community, but the islands of a
   multi-part community, or pieces cut off by a huge building, are components too. Each component
   is partitioned on its own, so every grid is contiguous by construction and no grid ever jumps
   across water. A component whose totals admit no compliant partition (:func:`k_options` is
   empty: fewer than 300 households, or a total in the 500–600 gap) becomes one grid, flagged by
   :mod:`gridplan.metrics` (``community_too_small``, ``community_in_gap``, ``island_too_small``);
   if it touches a too-large building it joins that building's grid (already non-compliant)
   instead of adding a second failing grid.
2. **Units.** Each compound piece that fits under the upper bound is contracted into one unit; a
   larger compound is first cut into the fewest pieces that fit (``ceil(total / upper)``), along
   building lines. Buildings outside compounds are units of their own.
3. **Number of grids.** ``k`` is chosen among the feasible counts ``[ceil(H/500), floor(H/300)]``
   (or the persons range, by mode) with the average grid closest to the middle of the bounds.
4. **Construction.** Weighted k-means++ centres, then a balanced k-means (a power diagram whose
   additive weights are tuned until every grid's load is within 5 % of ``H/k``); each grid keeps its
   heaviest connected piece and stray pieces join a neighbouring grid.
5. **Improvement.** Boundary moves of single units between neighbouring grids, accepted when they
   lower ``penalty × bound violation + cut cost + inertia + Σ P²/A`` (the cut counts shared cell
   boundary in metres, four times inside a compound, a quarter along roads; P and A are the grid
   perimeter and area, so Σ P²/A is 4π/Polsby-Popper summed) and keep the source grid connected
   (a search from the unit's neighbours inside the grid: if they all meet again without it, the
   grid stays connected). The penalty grows 3 → 30 → 10⁶ per household, so shape decides which
   units move to fix the bounds. Passes after the first only revisit units next to a move.
6. **Repair.** If a grid still breaks the bounds, the units of the failing grids and their
   neighbours are shattered into buildings and improved again, then (if needed) the whole
   component; the next ``k`` is tried while time remains. So compounds are split only where the
   rule cannot be met otherwise. :data:`RESTARTS` constructions (seeds) are tried per component
   and the most compact compliant one wins.

Everything is deterministic for a seed. ``time_limit_s`` (CPU seconds) bounds the improvement
phases; the construction always completes, so a plan is always returned (every building in one
grid), and a search cut short never returns something worse than its starting point.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from ._errors import PlanError
from .adjacency import building_adjacency, shared_lengths
from .codes import apply_codes, next_codes, number_grids, reading_order
from .model import Dataset, Plan, Rule
from .model import dataset_cache
from .tessellate import building_cells, building_points, community_labels

log = logging.getLogger(__name__)

def _clock() -> float:
    """The clock time limits are measured on: CPU seconds of this process, so a busy machine
    does not cut the search short (and results stay reproducible) while runs still end."""
    return time.process_time()


#: penalty per household of bound violation (dominates every soft term)
BIG = 1e6
#: schedule of the bound-violation weight in the local search (per household)
PENALTIES = (3.0, 30.0, BIG)
#: the same for the repair passes (which start from an already shaped plan)
REPAIR_PENALTIES = (3.0, 30.0, BIG)
#: constructions tried per component (different seeds); the best shape wins
RESTARTS = 5
#: weight of the inertia (compactness) term relative to the cut length
INERTIA_WEIGHT = 12.0
#: weight of the shape term Σ P²/A (Polsby-Popper) relative to the cut length
SHAPE_WEIGHT = 3.0

__all__ = ["partition", "reoptimise", "split_grid"]


# ---------------------------------------------------------------------------------------------
# per-dataset arrays


@dataclass
class _Graph:
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

    def sub(self, idx: np.ndarray) -> "_Graph":
        return _Graph(A=self.A[idx][:, idx].tocsr(), L=self.L[idx][:, idx].tocsr(), h=self.h[idx],
                      p=self.p[idx], xy=self.xy[idx], area=self.area[idx], perim=self.perim[idx],
                      mass=None if self.mass is None else self.mass[idx])

    def with_mass(self, mass: np.ndarray) -> "_Graph":
        return _Graph(self.A, self.L, self.h, self.p, self.xy, self.area, self.perim, mass)

    def contract(self, unit_of: np.ndarray) -> "_Graph":
        n = len(self.h)
        nu = int(unit_of.max()) + 1
        P = sp.csr_matrix((np.ones(n), (np.arange(n), unit_of)), shape=(n, nu))
        PT = P.T.tocsr()
        UA = (PT @ self.A @ P).tocsr()
        UL = (PT @ self.L @ P).tocsr()
        inner = UL.diagonal()
        UA.setdiag(0)
        UA.eliminate_zeros()
        UA.sort_indices()
        UL.setdiag(0)
        UL.eliminate_zeros()
        UL.sort_indices()
        if not (np.array_equal(UA.indptr, UL.indptr) and np.array_equal(UA.indices, UL.indices)):
            UL = _align(UA, UL)
        m = self.mass if self.mass is not None else np.ones(n)
        um = np.bincount(unit_of, m, minlength=nu)
        safe = np.where(um > 0, um, 1.0)
        uxy = np.column_stack([np.bincount(unit_of, m * self.xy[:, 0], minlength=nu),
                               np.bincount(unit_of, m * self.xy[:, 1], minlength=nu)]) / safe[:, None]
        return _Graph(A=UA, L=UL, h=np.bincount(unit_of, self.h, minlength=nu),
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


@dataclass
class _Ctx:
    ids: pd.Index
    comm: np.ndarray
    compound: np.ndarray
    graph: _Graph

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
        g = _Graph(A=A, L=L, h=num("households"), p=num("persons"), xy=building_points(dataset),
                   area=shapely.area(cells).astype(float), perim=shapely.length(cells).astype(float))
        return _Ctx(ids=b.index.astype(str), comm=comm, compound=np.asarray(codes, dtype=np.int64), graph=g)
    return dataset_cache(dataset, "partition_context", compute)


# ---------------------------------------------------------------------------------------------
# the local search on a unit graph


class _Search:
    """Boundary-move local search over a graph of units with a fixed number of grids.

    Cost = penalty × bound violation + cut cost + ``lam_in`` × inertia + ``lam_pp`` × Σ P²/A
    (P, A: grid perimeter and area; 4π/(P²/A) is the Polsby-Popper score).
    """

    def __init__(self, G: _Graph, labels, k, rule, lam_in, lam_pp):
        self.n = n = len(G)
        A, L = G.A, G.L
        indptr, indices = A.indptr, A.indices
        self.nb = [indices[indptr[i]:indptr[i + 1]].tolist() for i in range(n)]
        self.nw = [A.data[indptr[i]:indptr[i + 1]].tolist() for i in range(n)]
        self.nl = [L.data[indptr[i]:indptr[i + 1]].tolist() for i in range(n)]
        mass = G.mass
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

    @staticmethod
    def _inertia(s2, sx, sy, m):
        return s2 - (sx * sx + sy * sy) / m if m > 0 else 0.0

    @staticmethod
    def _shape(pe, ar):
        return pe * pe / ar if ar > 1.0 else pe * pe

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

    def swap_pass(self, deadline: float) -> int:
        """For each grid that breaks the bounds: exchange one border unit with a neighbouring grid
        (u: n → g and v: g → n) when that lowers the violation and both grids stay connected.
        Fixes the near-misses single moves cannot (a grid 4 persons short, neighbours at the edge)."""
        lab, nb, viol = self.lab, self.nb, self.viol
        done = 0
        for g in range(self.k):
            if self.V[g] <= 0:
                continue
            border = {}
            for u in range(self.n):
                if lab[u] == g:
                    for v in nb[u]:
                        if lab[v] != g:
                            border.setdefault(lab[v], set()).add(v)
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
                cands.sort()
                for new, u, v in cands[:200]:
                    if _clock() > deadline:
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

    def run(self, deadline: float, rng: np.random.Generator, max_rounds: int = 40,
            penalties: tuple[float, ...] = (BIG,)) -> None:
        """Improve until no move helps. ``penalties`` is the schedule of the weight of bound
        violations: small weights first let shape decide which units move to fix the bounds."""
        order = rng.permutation(self.n).tolist()
        pos = {u: i for i, u in enumerate(order)}
        nb = self.nb
        for i, pen in enumerate(penalties):
            last = i == len(penalties) - 1
            # early (shape-led) stages get half the remaining time and few passes, so the final
            # stage always has time to restore the bounds
            stop = deadline if last else _clock() + 0.5 * max(deadline - _clock(), 0.0)
            queue, full = order, True
            for _ in range(max_rounds * 4 if last else 24):
                moved = self._sweep(queue, pen, stop)
                if moved is None:
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

    def _sweep(self, order, pen, deadline) -> list | None:
        """One pass over ``order``; the units moved (None when the deadline passed)."""
        lab, nb, nw, nl = self.lab, self.nb, self.nw, self.nl
        viol = self.viol
        lam, lpp = self.lam_in, self.lam_pp
        H, P, V, AR, PE = self.H, self.P, self.V, self.AR, self.PE
        S2, SX, SY, M = self.S2, self.SX, self.SY, self.M
        moved = []
        tick = 0
        for u in order:
            a = lab[u]
            nbu = nb[u]
            for v in nbu:
                if lab[v] != a:
                    break
            else:
                continue  # interior unit
            if self.size[a] <= 1:
                continue
            wg = {}
            lg = {}
            for v, w, ln in zip(nbu, nw[u], nl[u]):
                g = lab[v]
                if g in wg:
                    wg[g] += w
                    lg[g] += ln
                else:
                    wg[g] = w
                    lg[g] = ln
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
            tick += 1
            if tick & 255 == 0 and _clock() > deadline:
                return None
        return moved if _clock() <= deadline or moved else None


def _construct(G: _Graph, w: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Balanced weighted k-means (a power diagram whose loads are near ``sum(w)/k``), then every
    grid keeps its heaviest connected piece and the other pieces join a neighbouring grid."""
    n = len(w)
    if k >= n:
        return np.arange(n) % max(k, 1)
    lab = _balanced_kmeans(G.xy, G.mass, w, k, seed)
    return _make_connected(G.A, lab, w, k)


def _balanced_kmeans(xy, mass, w, k, seed, outer: int = 6, inner: int = 20) -> np.ndarray:
    X = xy - xy.mean(0)
    C = _kmeans_pp(X, mass, k, np.random.default_rng(seed))
    span = np.ptp(X, axis=0)
    s2 = max(float(span[0] * span[1]), float(span.max()) ** 2 * 0.01, 1.0) / k
    T = max(float(w.sum()) / k, 1e-9)
    b = np.zeros(k)
    x2 = (X ** 2).sum(1)
    lab = np.zeros(len(X), dtype=np.int64)
    for _ in range(outer):
        for _ in range(inner):
            D = x2[:, None] - 2 * X @ C.T + (C ** 2).sum(1)[None, :] - b[None, :]
            lab = D.argmin(1)
            dev = (T - np.bincount(lab, w, minlength=k)) / T
            if np.abs(dev).max() < 0.05:
                break
            b += 0.3 * s2 * dev
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
    x2 = (X ** 2).sum(1)
    for _ in range(10):
        lab = (x2[:, None] - 2 * X @ C.T + (C ** 2).sum(1)[None, :]).argmin(1)
        M = np.bincount(lab, w, minlength=k)
        ok = M > 0
        newC = C.copy()
        newC[ok] = np.column_stack([np.bincount(lab, w * X[:, 0], minlength=k),
                                    np.bincount(lab, w * X[:, 1], minlength=k)])[ok] / M[ok, None]
        if np.allclose(newC, C):
            break
        C = newC
    return C


def _make_connected(A: sp.csr_matrix, lab: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
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


# ---------------------------------------------------------------------------------------------
# one connected component of one community


def _weights(G: _Graph, prim: str) -> np.ndarray:
    w = G.h if prim == "h" else G.p
    mean = float(w.mean()) if len(w) else 0.0
    return w + 0.05 * (mean if mean > 0 else 1.0)


def _units(G: _Graph, compound: np.ndarray, prim: str, rule: Rule, seed: int, deadline: float) -> np.ndarray:
    """unit_of: compound pieces that fit are one unit; bigger ones are cut into the fewest pieces
    that fit (``ceil(total / upper)``); buildings outside compounds are units of their own."""
    n = len(G)
    A = G.A.tocoo()
    c = compound
    same = (c[A.row] == c[A.col]) & (c[A.row] >= 0)
    Gm = sp.coo_matrix((np.ones(int(same.sum())), (A.row[same], A.col[same])), shape=(n, n))
    _, piece = connected_components(Gm, directed=False)
    ph = np.bincount(piece, G.h)
    pp = np.bincount(piece, G.p)
    big = np.flatnonzero(rule.over_bound(ph, pp) & (np.bincount(piece) > 1))
    unit_of = piece.copy()
    nxt = int(piece.max()) + 1 if n else 0
    for pc in big.tolist():
        members = np.flatnonzero(piece == pc)
        tot = ph[pc] if prim == "h" else pp[pc]
        hi = rule.max_households if prim == "h" else rule.max_persons
        lo = rule.min_households if prim == "h" else rule.min_persons
        m = min(max(2, math.ceil(tot / max(hi, 1))), len(members))
        lo_c = int(min(lo, tot // m))
        if prim == "h":
            sub_rule = Rule(min_households=lo_c, max_households=hi, min_persons=0, max_persons=10 ** 12,
                            mode="households")
        else:
            sub_rule = Rule(min_households=0, max_households=10 ** 12, min_persons=lo_c, max_persons=hi,
                            mode="persons")
        sub = G.sub(members)
        lab = _solve_graph(sub, m, sub_rule, prim, seed, deadline)
        unit_of[members] = nxt + lab
        nxt += m
    _, unit_of = np.unique(unit_of, return_inverse=True)
    return unit_of.ravel()


def _lams(G: _Graph, k: int) -> tuple[float, float]:
    """Weights of the inertia and shape terms, scaled to the size of an average grid."""
    if len(G) < 2:
        return 0.0, 0.0
    area = float(G.area.sum())
    if area <= 0:
        span = np.ptp(G.xy, axis=0)
        area = max(float(span[0] * span[1]), 1.0)
    s = math.sqrt(area / k)
    m_avg = float(G.mass.sum()) / k
    return INERTIA_WEIGHT / max(m_avg * s, 1e-9), SHAPE_WEIGHT * s / 8.0


def _solve_graph(G: _Graph, k: int, rule: Rule, prim: str, seed: int, deadline: float,
                 init: np.ndarray | None = None, lams: tuple[float, float] | None = None,
                 penalties: tuple[float, ...] | None = None) -> np.ndarray:
    """Partition a connected graph of units into k connected grids (labels 0..k-1)."""
    n = len(G)
    k = max(1, min(k, n))
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    if G.mass is None:
        G = G.with_mass(_weights(G, prim))
    wprim = G.h if prim == "h" else G.p
    labels = _construct(G, wprim, k, seed) if init is None else np.asarray(init, dtype=np.int64)
    lam_in, lam_pp = lams if lams is not None else _lams(G, k)
    s = _Search(G, labels, k, rule, lam_in, lam_pp)
    s.run(deadline, np.random.default_rng(seed), penalties=PENALTIES if penalties is None else penalties)
    for _ in range(3):
        if sum(s.V) <= 0 or not s.swap_pass(deadline):
            break
        s.run(deadline, np.random.default_rng(seed), penalties=(BIG,))
    out = np.asarray(s.lab, dtype=np.int64)
    if _clock() > deadline:  # cut short: keep whichever of start and result is better
        before = (_violations(rule, labels, G.h, G.p, k).sum(), _shape_cost(G, labels, k))
        after = (_violations(rule, out, G.h, G.p, k).sum(), _shape_cost(G, out, k))
        if before < after:
            return labels
    return out


def _violations(rule: Rule, labels: np.ndarray, h, p, k) -> np.ndarray:
    return rule.violation(np.bincount(labels, h, minlength=k), np.bincount(labels, p, minlength=k))


class _Component:
    """One connected component of buildings (local indices 0..n-1)."""

    def __init__(self, ctx: _Ctx, nodes: np.ndarray, rule: Rule):
        self.nodes = nodes
        self.G = ctx.graph.sub(nodes)
        self.compound = ctx.compound[nodes]
        self.H = float(self.G.h.sum())
        self.P = float(self.G.p.sum())


def _solve_component(comp: _Component, ks: list[int], rule: Rule, seed: int, deadline: float,
                     restarts: int | None = None) -> np.ndarray:
    """Labels (0..k-1) of the buildings of one feasible component."""
    n = len(comp.G)
    best = None
    for attempt, k in enumerate(ks[:3]):
        if attempt and _clock() > deadline:
            break
        k = min(k, n)
        prim = rule.primary(comp.H, comp.P, k)
        G = comp.G.with_mass(_weights(comp.G, prim))
        lams = _lams(G, k)
        unit_of = _units(G, comp.compound, prim, rule, seed, deadline)
        U = G.contract(unit_of)
        for trial in range(RESTARTS if restarts is None else max(1, restarts)):
            if trial and _clock() > deadline:
                break
            s = seed + 7919 * trial + 104729 * attempt
            if len(U) >= k:
                labels = _solve_graph(U, k, rule, prim, s, deadline, lams=lams)[unit_of]
            else:
                labels = _solve_graph(G, k, rule, prim, s, deadline, lams=lams)
            v = _violations(rule, labels, G.h, G.p, k)
            if v.sum() > 0:
                labels = _repair(G, labels, unit_of, k, rule, prim, lams, s, deadline)
                v = _violations(rule, labels, G.h, G.p, k)
            score = (float(v.sum()), _shape_cost(G, labels, k))
            if best is None or score < best[0]:
                best = (score, labels)
            if score[0] > 0 and trial >= 1:
                break
        if best[0][0] == 0:
            break
    return best[1]


def _shape_cost(G: _Graph, labels: np.ndarray, k: int) -> float:
    """Σ P²/A over the grids (4π / Polsby-Popper summed)."""
    Lc = G.L.tocoo()
    same = labels[Lc.row] == labels[Lc.col]
    inner = np.bincount(labels[Lc.row[same]], Lc.data[same], minlength=k)
    pe = np.bincount(labels, G.perim, minlength=k) - inner
    ar = np.maximum(np.bincount(labels, G.area, minlength=k), 1.0)
    return float((pe ** 2 / ar).sum())


def _repair(G: _Graph, labels, unit_of, k, rule, prim, lams, seed, deadline) -> np.ndarray:
    """Shatter units into buildings where the bounds fail and improve again: first the units on
    the borders of failing grids, then the failing grids and their neighbours, then everything."""
    for stage in range(3):
        if _clock() > deadline:
            break
        v = _violations(rule, labels, G.h, G.p, k)
        bad = v > 0
        if not bad.any():
            break
        Ac = G.A.tocoo()
        cross = labels[Ac.row] != labels[Ac.col]
        if stage == 0:
            touch = cross & (bad[labels[Ac.row]] | bad[labels[Ac.col]])
            units = np.unique(np.r_[unit_of[Ac.row[touch]], unit_of[Ac.col[touch]]])
            hit = np.isin(unit_of, units)
        elif stage == 1:
            near = bad.copy()
            gr, gc = labels[Ac.row[cross]], labels[Ac.col[cross]]
            near[gc[bad[gr]]] = True
            hit = near[labels]
        else:
            hit = np.ones(len(labels), dtype=bool)
        new_unit = unit_of.copy()
        hb = np.flatnonzero(hit)
        new_unit[hb] = int(unit_of.max()) + 1 + np.arange(len(hb))
        _, new_unit = np.unique(new_unit, return_inverse=True)
        new_unit = new_unit.ravel()
        U = G.contract(new_unit)
        ulab = np.zeros(len(U), dtype=np.int64)
        ulab[new_unit] = labels
        ulab = _solve_graph(U, k, rule, prim, seed, deadline, init=ulab, lams=lams, penalties=REPAIR_PENALTIES)
        labels = ulab[new_unit]
        unit_of = new_unit
    return labels


# ---------------------------------------------------------------------------------------------
# a set of buildings (one community, or what is left of it around locked grids)


def _partition_nodes(ctx: _Ctx, nodes: np.ndarray, rule: Rule, seed: int, deadline: float,
                     restarts: int | None = None) -> list[np.ndarray]:
    """Groups of building indices (each a grid) covering ``nodes`` exactly."""
    nodes = np.sort(np.asarray(nodes, dtype=np.int64))
    if len(nodes) == 0:
        return []
    h, p = ctx.h[nodes], ctx.p[nodes]
    over = rule.over_bound(h, p)
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
        ks = rule.k_options(H, P)
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
        if ks[0] == 1:
            groups.append(cn.tolist())
            continue
        comp = _Component(ctx, cn, rule)
        labels = _solve_component(comp, ks, rule, seed, deadline, restarts)
        for g in np.unique(labels):
            groups.append(cn[labels == g].tolist())
    return [np.asarray(sorted(g), dtype=np.int64) for g in groups]


# ---------------------------------------------------------------------------------------------
# public API


#: with ``n_jobs=None``, datasets with at least this many buildings are partitioned by one worker
#: process per core (smaller ones, such as everything the app edits, stay in this process)
PARALLEL_MIN_BUILDINGS = 20_000

_FORK_CTX: "_Ctx | None" = None


def _community_task(task):
    nodes, rule, seed, budget = task
    return _partition_nodes(_FORK_CTX, nodes, rule, seed, _clock() + budget)


def _workers(n_jobs: int | None, n_buildings: int, n_tasks: int) -> int:
    import multiprocessing as mp
    import os

    if "fork" not in mp.get_all_start_methods():
        return 1
    cores = os.cpu_count() or 1
    if n_jobs is None:
        n_jobs = cores if n_buildings >= PARALLEL_MIN_BUILDINGS else 1
    return max(1, min(int(n_jobs), n_tasks, cores))


def _run_parallel(ctx: _Ctx, tasks: list, workers: int, wall_limit_s: float) -> list | None:
    """Run community tasks in forked worker processes; None if that fails (the caller then runs
    them here). Results do not depend on which worker ran what."""
    import multiprocessing as mp

    global _FORK_CTX
    _FORK_CTX = ctx
    pool = None
    try:
        pool = mp.get_context("fork").Pool(workers)
        order = sorted(range(len(tasks)), key=lambda i: -len(tasks[i][0]))  # largest first
        res = pool.map_async(_community_task, [tasks[i] for i in order], chunksize=1)
        out = res.get(timeout=wall_limit_s)
        results = [None] * len(tasks)
        for i, r in zip(order, out):
            results[i] = r
        return results
    except Exception as e:  # pragma: no cover - environment without working fork
        log.warning("parallel partition failed (%s); running in one process", e)
        return None
    finally:
        _FORK_CTX = None
        if pool is not None:
            pool.terminate()
            pool.join()


def partition(dataset: Dataset, *, rule: Rule | None = None, seed: int = 0, code_width: int = 2,
              time_limit_s: float = 30.0, communities=None, n_jobs: int | None = None) -> Plan:
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
        Budget of the improvement phases in CPU seconds of this process (so a busy machine does
        not change the result); when it runs out, the best plan found so far is returned. The
        per-dataset cells and adjacency graph are built before and not counted.
    communities
        Only partition these community ids; the buildings of every other community form one grid
        per community.
    n_jobs
        Worker processes (communities are independent). Default: one per core for datasets of
        at least :data:`PARALLEL_MIN_BUILDINGS` buildings, else 1. The plan is the same either way.

    Returns
    -------
    Plan
        Every building in exactly one grid; grid ids are community code + serial.
    """
    rule = rule or Rule()
    t0 = _clock()
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
    workers = _workers(n_jobs, len(comm), len(todo))
    if workers > 1:
        # each community gets its share of the budget (times the workers), at least a second
        total = max(remaining, 1)
        tasks = [(np.flatnonzero(comm == c), rule, seed,
                  min(time_limit_s, max(min(1.0, time_limit_s), time_limit_s * workers * weight[c] / total)))
                 for c in todo]
        results = _run_parallel(ctx, tasks, workers, wall_limit_s=4 * time_limit_s + 60)
        if results is not None:
            for c, groups in zip(todo, results):
                for i, g in enumerate(groups):
                    labels[g] = f"{c}#{i}"
            wanted_done = set(todo)
        else:
            wanted_done = set()
    else:
        wanted_done = set()
    for cid in uniq:
        nodes = np.flatnonzero(comm == cid)
        if cid not in wanted:
            labels[nodes] = f"{cid}#0"
            continue
        if cid in wanted_done:
            continue
        now = _clock()
        left = max(t0 + time_limit_s - now, 0.0)
        # a community may use a quarter of what is left (more if it is large); unused time carries on
        budget = left * min(1.0, max(3.0 * weight[cid] / max(remaining, 1), 0.25))
        remaining -= weight[cid]
        groups = _partition_nodes(ctx, nodes, rule, seed, now + budget)
        for i, g in enumerate(groups):
            labels[g] = f"{cid}#{i}"
    a = pd.Series(labels, index=ctx.ids, dtype=object)
    mapping = number_grids(dataset, a, width=code_width)
    plan = Plan(apply_codes(a, mapping), rule=rule, label=f"partition (seed {seed})")
    log.info("partitioned %d buildings into %d grids in %.2f CPU s", len(a), len(mapping), _clock() - t0)
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
        Budget of the improvement in CPU seconds.
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
    groups = _partition_nodes(ctx, nodes, plan.rule, seed, _clock() + time_limit_s, restarts=restarts)
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
    seed
        Seed of the random choices.
    time_limit_s
        Budget of the improvement in CPU seconds.

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
        ks = [k for k in rule.k_options(H, P) if k >= 2]
        parts = ks[0] if ks else 2
    parts = int(parts)
    if parts < 2:
        raise PlanError("a grid is split into at least 2 parts")
    parts = min(parts, len(nodes))
    vals, cnt = np.unique(ctx.comm[nodes].astype(str), return_counts=True)
    cid = vals[int(np.argmax(cnt))]
    groups = _split_nodes(ctx, nodes, parts, rule, seed, _clock() + time_limit_s)
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
        labels = _solve_component(comp, [k], rule, seed, deadline, restarts=1)
        groups.extend(cn[labels == g] for g in np.unique(labels))
    return groups
