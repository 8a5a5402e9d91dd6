"""The size rule's arithmetic (gridplan.rule): compliance, distance to it, the bound a single building
breaks, grid counts, and a community judged on the measure it has."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridplan.rule import MODES, Rule

counts = st.floats(0, 5000, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(h=counts, p=counts, mode=st.sampled_from(MODES))
def test_violation_is_zero_exactly_when_the_rule_is_met(h, p, mode):
    r = Rule(mode=mode)
    v = float(r.violation(h, p))
    assert v >= 0
    assert (v == 0) == bool(r.meets(h, p))
    # the scalar version the search uses agrees with the vectorised one
    assert r.violation_fn()(h, p) == pytest.approx(v)


@settings(max_examples=300, deadline=None)
@given(h=counts, p=counts, mode=st.sampled_from(MODES))
def test_a_building_over_the_bound_can_never_be_in_a_compliant_grid(h, p, mode):
    r = Rule(mode=mode)
    if r.over_bound(h, p):
        # adding more buildings only raises both totals
        for extra_h, extra_p in ((0, 0), (10, 30), (400, 1200)):
            assert not r.meets(h + extra_h, p + extra_p)


@settings(max_examples=200, deadline=None)
@given(h=st.integers(0, 20000), p=st.integers(0, 60000), mode=st.sampled_from(MODES))
def test_k_options_are_counts_whose_average_grid_fits(h, p, mode):
    r = Rule(mode=mode)
    for k in r.k_options(h, p):
        avg_h, avg_p = h / k, p / k
        h_ok = r.min_households <= avg_h <= r.max_households
        p_ok = r.min_persons <= avg_p <= r.max_persons
        assert {"households": h_ok, "persons": p_ok, "both": h_ok and p_ok, "either": h_ok or p_ok}[mode]


def test_the_500_to_600_gap_has_no_grid_count():
    r = Rule(mode="households")
    assert r.k_options(550, 0) == []      # 1 grid is too big, 2 grids are too small
    assert r.k_options(600, 0) == [2]
    assert r.k_options(299, 0) == []


def test_effective_rule_uses_the_measure_that_is_present():
    r = Rule()
    assert r.effective(0, 1800).mode == "persons"
    assert r.effective(1800, 0).mode == "households"
    assert r.effective(400, 1100).mode == "either"
    assert r.effective(0, 0).mode == "either"
    for mode in ("households", "persons", "both"):
        assert Rule(mode=mode).effective(0, 1800).mode == mode


def test_a_large_building_without_households_is_over_the_persons_bound():
    r = Rule()
    # under "either", 0 households meet no household range, yet 0 ≤ 500 is not "over" it
    assert not r.over_bound(0, 1600)
    # judged on persons (the measure the community has), 1,600 persons is too many for any grid
    assert r.effective(0, 2700).over_bound(0, 1600)
    assert not r.effective(0, 2700).over_bound(0, 1500)


def test_size_reason_names_the_broken_measure():
    r = Rule()
    assert r.size_reason(0, 600) == "too_few_persons"        # no households: judged on persons
    assert r.size_reason(250, 800) == "too_few_households"
    assert r.size_reason(560, 1600) == "too_many_households"
    assert Rule(mode="persons").size_reason(560, 1600) == "too_many_persons"


def test_bad_rules_are_refused():
    with pytest.raises(ValueError):
        Rule(mode="any")
    with pytest.raises(ValueError):
        Rule(min_households=600, max_households=500)
    assert np.array_equal(Rule().meets(np.array([299, 300, 500, 501]), np.zeros(4)),
                          [False, True, True, False])
