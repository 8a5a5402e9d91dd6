"""The grid size rule and all of its arithmetic, in one place.

A grid complies when its households lie in ``[min_households, max_households]`` and/or its
persons in ``[min_persons, max_persons]``, combined by ``mode`` (SPEC §3):

* ``"either"`` (默认): one of the two ranges is met;
* ``"households"`` / ``"persons"``: only that range counts;
* ``"both"``: both ranges must be met.

Everything that branches on the mode lives here: whether totals comply (:meth:`Rule.meets`), how far
they are from complying (:meth:`Rule.violation`), whether a building is too large for any grid
(:meth:`Rule.over_bound`), which grid counts can cut a community compliantly
(:meth:`Rule.k_options`), which measure drives the construction (:meth:`Rule.primary`) and why a
grid fails (:meth:`Rule.size_reason`). The engine (:mod:`gridplan.engine`), the grid table
(:mod:`gridplan.metrics`) and the editor (:mod:`gridplan.edit`) all ask the rule.

"either" with a missing measure
    When a community's households (or persons) are all zero or absent, "either" is judged on the
    measure that is present (:meth:`Rule.effective`): a community with persons but no households
    is a persons-only community, and a building over the persons bound there is over the bound.

Examples
--------
>>> r = Rule()
>>> bool(r.meets(420, 900)), bool(r.meets(520, 1400)), bool(r.meets(520, 1600))
(True, True, False)
>>> r.k_options(1000, 3000)      # best first: 3 grids of 333 households are nearer the middle than 2 of 500
[3, 2]
>>> r.k_options(550, 0)          # 500–600 households: no compliant count of grids
[]
>>> r.effective(0, 1800).mode    # no households at all: judged on persons
'persons'
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

RuleMode = Literal["either", "households", "persons", "both"]

MODES: tuple[str, ...] = ("either", "households", "persons", "both")

__all__ = ["Rule", "RuleMode", "MODES"]


def _k_range(total: float, lo: float, hi: float) -> range:
    """Grid counts k with ``lo ≤ total/k ≤ hi`` possible (ignoring how the total is divided)."""
    if hi <= 0:
        return range(1, 2) if total <= 0 and lo <= 0 else range(0)
    kmin = max(1, math.ceil(total / hi - 1e-9))
    kmax = math.floor(total / lo + 1e-9) if lo > 0 else kmin
    return range(kmin, kmax + 1)


@dataclass(frozen=True)
class Rule:
    """The grid size rule: households in ``[min_households, max_households]`` and/or persons in
    ``[min_persons, max_persons]``, combined by ``mode`` (see the module doc).

    Examples
    --------
    >>> Rule(mode="both").meets(400, 900)
    np.False_
    >>> Rule(min_households=200, max_households=400).as_dict()["max_households"]
    400
    """

    min_households: int = 300
    max_households: int = 500
    min_persons: int = 1000
    max_persons: int = 1500
    mode: RuleMode = "either"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"unknown rule mode {self.mode!r}; use either, households, persons or both")
        if not (0 <= self.min_households <= self.max_households):
            raise ValueError("the household bounds must satisfy 0 ≤ min ≤ max")
        if not (0 <= self.min_persons <= self.max_persons):
            raise ValueError("the person bounds must satisfy 0 ≤ min ≤ max")

    # ------------------------------------------------------------------ compliance
    def households_ok(self, households):
        """Whether totals lie in the household range (vectorised)."""
        h = np.asarray(households)
        return (h >= self.min_households) & (h <= self.max_households)

    def persons_ok(self, persons):
        """Whether totals lie in the person range (vectorised)."""
        p = np.asarray(persons)
        return (p >= self.min_persons) & (p <= self.max_persons)

    def meets(self, households, persons):
        """Whether a grid of these totals complies (vectorised over arrays)."""
        h_ok, p_ok = self.households_ok(households), self.persons_ok(persons)
        return self._by_mode(h_ok, p_ok, both=lambda: h_ok & p_ok, either=lambda: h_ok | p_ok)

    def _by_mode(self, on_h, on_p, *, both, either):
        """The households result, the persons result, or a combination of both, by mode."""
        if self.mode == "households":
            return on_h
        if self.mode == "persons":
            return on_p
        return both() if self.mode == "both" else either()

    # ------------------------------------------------------------------ distance to compliance
    @property
    def persons_scale(self) -> float:
        """Households per person used to put person violations on the household scale."""
        dh = self.max_households - self.min_households
        dp = self.max_persons - self.min_persons
        if dh > 0 and dp > 0:
            return dh / dp
        return max(self.max_households, 1) / max(self.max_persons, 1)

    def violation(self, households, persons) -> np.ndarray:
        """How far grids of these totals are from complying (0 when they comply), in households."""
        h = np.asarray(households, dtype=float)
        p = np.asarray(persons, dtype=float)
        vh = np.maximum(self.min_households - h, 0) + np.maximum(h - self.max_households, 0)
        vp = (np.maximum(self.min_persons - p, 0) + np.maximum(p - self.max_persons, 0)) * self.persons_scale
        if self.mode == "households":
            return vh
        if self.mode == "persons":
            return vp
        if self.mode == "both":
            return vh + vp
        return np.minimum(vh, vp)

    def violation_fn(self) -> Callable[[float, float], float]:
        """The scalar :meth:`violation` as a plain function of ``(households, persons)`` (the
        local search calls it millions of times)."""
        lh, uh = float(self.min_households), float(self.max_households)
        lp, up = float(self.min_persons), float(self.max_persons)
        s = self.persons_scale
        mode = self.mode
        if mode == "households":
            def f(h, p):
                return lh - h if h < lh else (h - uh if h > uh else 0.0)
        elif mode == "persons":
            def f(h, p):
                return (lp - p) * s if p < lp else ((p - up) * s if p > up else 0.0)
        elif mode == "both":
            def f(h, p):
                return ((lh - h if h < lh else (h - uh if h > uh else 0.0))
                        + ((lp - p) * s if p < lp else ((p - up) * s if p > up else 0.0)))
        else:
            def f(h, p):
                vh = lh - h if h < lh else (h - uh if h > uh else 0.0)
                if vh == 0.0:
                    return 0.0
                vp = (lp - p) * s if p < lp else ((p - up) * s if p > up else 0.0)
                return vp if vp < vh else vh
        return f

    def over_bound(self, households, persons) -> np.ndarray:
        """Whether each building (or compound) is too large to fit in any compliant grid."""
        h = np.asarray(households, dtype=float)
        p = np.asarray(persons, dtype=float)
        hh, pp = h > self.max_households, p > self.max_persons
        # "both" fails as soon as one measure is over; "either" only when both are
        return self._by_mode(hh, pp, both=lambda: hh | pp, either=lambda: hh & pp)

    # ------------------------------------------------------------------ counts of grids
    def k_range(self, measure: str, total: float) -> range:
        """Grid counts that can hold ``total`` of one measure (``"h"`` or ``"p"``) in range."""
        if measure == "h":
            return _k_range(total, self.min_households, self.max_households)
        return _k_range(total, self.min_persons, self.max_persons)

    def k_options(self, households: float, persons: float) -> list[int]:
        """The grid counts that can partition these totals into compliant grids, best first.

        "Best" means the average grid is closest to the middle of the bounds. An empty list means
        the totals cannot be cut into compliant grids (too small, or in a gap such as 500–600
        households).
        """
        kh = self.k_range("h", households)
        kp = self.k_range("p", persons)
        if self.mode == "households":
            ks = set(kh)
        elif self.mode == "persons":
            ks = set(kp)
        elif self.mode == "both":
            ks = set(kh) & set(kp)
        else:
            ks = set(kh) | set(kp)
        mh = (self.min_households + self.max_households) / 2
        mp = (self.min_persons + self.max_persons) / 2
        dh = max(self.max_households - self.min_households, 1)
        dp = max(self.max_persons - self.min_persons, 1)

        def score(k):
            sh = abs(households / k - mh) / dh if k in kh else math.inf
            spp = abs(persons / k - mp) / dp if k in kp else math.inf
            if self.mode == "both":
                return max(sh, spp)
            if self.mode == "either" and households <= 0:
                return spp
            return min(sh, spp) if self.mode == "either" else (sh if self.mode == "households" else spp)

        return sorted(ks, key=lambda k: (score(k), k))

    def primary(self, households: float, persons: float, k: int) -> str:
        """Which measure (``"h"`` or ``"p"``) drives construction for these totals and ``k``."""
        if self.mode == "persons":
            return "p"
        if self.mode in ("households", "both"):
            return "h"
        if households > 0 and k in self.k_range("h", households):
            return "h"
        return "p"

    # ------------------------------------------------------------------ a missing measure
    def effective(self, households: float, persons: float) -> Rule:
        """The rule a community with these totals is judged by.

        In mode "either", a community whose households (or persons) are all zero or absent is
        judged on the measure that is present; every other rule is returned unchanged.
        """
        if self.mode != "either":
            return self
        if households <= 0 < persons:
            return replace(self, mode="persons")
        if persons <= 0 < households:
            return replace(self, mode="households")
        return self

    # ------------------------------------------------------------------ diagnosis
    def size_reason(self, households: float, persons: float) -> str:
        """The reason code of a grid whose totals break the rule (``too_few_households`` …)."""
        h, p = households, persons
        lo_h, hi_h = h < self.min_households, h > self.max_households
        lo_p, hi_p = p < self.min_persons, p > self.max_persons
        use_h = self.mode in ("households", "both") or (self.mode == "either" and h > 0)
        if use_h and (lo_h or hi_h):
            return "too_few_households" if lo_h else "too_many_households"
        if lo_p:
            return "too_few_persons"
        if hi_p:
            return "too_many_persons"
        return "too_few_households" if lo_h else "too_many_households"

    def too_small(self, households: float, persons: float) -> bool:
        """Whether infeasible totals are infeasible for being too small (else: in a gap)."""
        lo_h = households < self.min_households
        lo_p = persons < self.min_persons
        return bool(self._by_mode(lo_h, lo_p, both=lambda: lo_h or lo_p, either=lambda: lo_h and lo_p))

    def as_dict(self) -> dict:
        """The rule as plain JSON-able values."""
        return {
            "min_households": self.min_households,
            "max_households": self.max_households,
            "min_persons": self.min_persons,
            "max_persons": self.max_persons,
            "mode": self.mode,
        }
