"""Dominated multiples (planner.optimize.dominance) by hand: which bounds the exchange argument gives, and that
the optimizer applies them only while the dominating configuration is allowed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.optimize import dominance, milp


def _table(cap_big: float, cost_big: float, chips_big: int = 2) -> pd.DataFrame:
    """Two aggregated configurations of one chip: 1 chip (1 request/s, $1/h) and a larger one."""
    return pd.DataFrame({
        "role": ["aggregated", "aggregated"], "chip": ["c", "c"], "chips_per_instance": [1, chips_big],
        "eff_capacity_rps": [1.0, cap_big], "cost_usd_per_hr": [1.0, cost_big], "power_w": [700.0, 700.0 * chips_big],
        "nic_gb_s": [1.0, float(chips_big)], "tpot_ms": [20.0, 20.0],
    })


def test_two_small_instances_dominated_by_one_twice_the_size():
    """TP2 at 2.5 requests/s for $2/h does what two TP1 at 1 request/s each do: x_TP1 <= 1."""
    fm = milp.build(_table(2.5, 2.0), milp.MilpSpec(modes=("aggregated",), rate_min=7.0))
    assert fm.dominated == [(0, 1, 2)]
    assert fm.m.x[0].ub == 1 and fm.m.x[1].ub is None
    st = milp.solve(fm, mip_gap=0.0)
    assert st.status == "optimal" and milp.counts(fm).tolist() == [0, 3]  # 7.5 requests/s for $6/h


@pytest.mark.parametrize(("cap_big", "cost_big"), [(1.9, 2.0), (2.5, 2.1), (2.0, 2.0)])
def test_no_bound_when_the_larger_serves_less_or_costs_more(cap_big, cost_big):
    """Less capacity, a higher price, or exactly two of the smaller (a tie: six TP1 stay one pool)."""
    fm = milp.build(_table(cap_big, cost_big), milp.MilpSpec(modes=("aggregated",), rate_min=7.0))
    assert fm.dominated == []
    assert fm.m.x[0].ub is None


def test_the_multiple_is_the_smallest_the_rows_allow():
    """A TP4 instance at the cost and chips of four TP1: k = 4 (cost and chips rows), x_TP1 <= 3."""
    spec = milp.MilpSpec(modes=("aggregated",), rate_min=7.0, inventory={"c": 8})
    fm = milp.build(_table(4.2, 4.0, chips_big=4), spec)
    assert fm.dominated == [(0, 1, 4)]
    assert fm.m.x[0].ub == 3


def test_equality_rows_need_an_exact_multiple():
    """An equality row (here written by hand) allows only k = a_j / a_i exactly."""
    rows = [{0: 1.0, 1: 3.0}, {0: 1.0, 1: 3.5}]
    assert dominance.dominated_multiples(rows, np.array([0.0, 1.0]), 2) == [(0, 1, 3)]
    assert dominance.dominated_multiples(rows, np.array([0.0, -1.0]), 2) == []


def test_a_configuration_with_a_row_of_its_own_is_never_dominated():
    """x_1 <= 5 w (a per-pool link): one more x_1 may break it, so nothing is bounded by column 1."""
    rows = [{0: 1.0, 1: 3.0}, {1: 1.0}]
    assert dominance.dominated_multiples(rows, np.array([1.0, -1.0]), 2) == []


def test_bound_lifted_while_the_dominating_configuration_is_not_allowed():
    """A sweep that masks the larger configuration (e.g. its TPOT) must not keep the smaller one bounded."""
    fm = milp.build(_table(2.5, 2.0), milp.MilpSpec(modes=("aggregated",), rate_min=7.0))
    milp.allow(fm, np.array([True, False]))
    assert fm.m.x[0].ub is None and fm.m.x[1].ub == 0
    st = milp.solve(fm, mip_gap=0.0)
    assert st.status == "optimal" and milp.counts(fm).tolist() == [7, 0]
    milp.allow(fm, np.array([True, True]))
    assert fm.m.x[0].ub == 1
