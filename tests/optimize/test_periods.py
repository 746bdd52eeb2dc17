"""Plans over periods: the multi-period program against brute force, and its properties (flat demand = the static
plan, reserved chips only where they pay, more demand never costs less, change limits held, shared inventory)."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyomo.core as pyo
import pytest

from planner.inputs.demand import DemandTable
from planner.optimize import milp, periods
from planner.optimize.pricing import PRICE_COLUMNS
from planner.optimize.schedule_solve import peak_bound, solve_schedule, split_bound

GAP = 1e-9


def synth_unit(name: str, rates: list[float], rows: list[tuple[str, int, float]]) -> periods.Unit:
    """A model whose candidates are aggregated instances (chip, chips per instance, requests/s each)."""
    t = pd.DataFrame({"role": "aggregated", "chip": [r[0] for r in rows], "chips_per_instance": [r[1] for r in rows],
                      "eff_capacity_rps": [r[2] for r in rows], "capacity_rps": [r[2] for r in rows],
                      "cost_usd_per_hr": 0.0, "power_w": [700.0 * r[1] for r in rows], "nic_gb_s": 50.0})
    prep = SimpleNamespace(table=t, spec=milp.MilpSpec(modes=("aggregated",)))
    return periods.Unit(name, prep, DemandTable(pd.DataFrame({"default": rates}), 1.0, "test"))


def synth_prices(chips: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for k, p in chips.items():
        rows.append({"chip": k, "on_demand_usd_per_hr": p["od"], "reserved_usd_per_hr": p.get("res", np.nan),
                     "spot_usd_per_hr": p.get("spot", np.nan), "spot_max_count": p.get("spot_cap", 0.0),
                     "preemption_headroom": p.get("headroom", 0.0), "owned_max_count": p.get("owned", 0.0),
                     "owned_fixed_usd_per_hr": p.get("fixed", 0.0), "owned_energy_usd_per_hr": p.get("energy", 0.0),
                     "max_count": p.get("max", np.inf), "power_kw": 0.7})
    return pd.DataFrame(rows, columns=PRICE_COLUMNS).set_index("chip", drop=False)


def horizon_cost(pm) -> float:
    return float(pyo.value(periods.horizon_cost(pm)))


def counts(pm, j: int = 0) -> np.ndarray:
    return np.array([milp.counts(pm.blocks[(j, p)]) for p in range(pm.periods)])


def tier_cost(excess: int, pr: dict) -> float:
    """Cheapest on-demand + spot chips covering `excess` chips (spot counted at 1 - headroom), per hour."""
    best = pr["od"] * excess
    if "spot" in pr:
        keep = 1 - pr.get("headroom", 0.0)
        for s in range(int(pr.get("spot_cap", 0)) + 1):
            d = max(0, math.ceil(excess - keep * s - 1e-9))
            best = min(best, pr["od"] * d + pr["spot"] * s)
    return best


def brute_force(rows, rates, hours, chips, xmax=6, rmax=12) -> float:
    """min over reserved counts and instance counts per period, by enumeration."""
    H = sum(hours)
    names = list(chips)
    best_period: dict = {}
    fleets = [x for x in itertools.product(range(xmax + 1), repeat=len(rows))]
    usage = [{k: sum(n * xi for (c, n, _e), xi in zip(rows, x, strict=True) if c == k) for k in names} for x in fleets]
    cap = [sum(e * xi for (_c, _n, e), xi in zip(rows, x, strict=True)) for x in fleets]
    best = math.inf
    ranges = [range(rmax + 1) if "res" in chips[k] else range(1) for k in names]
    for R in itertools.product(*ranges):
        total = H * sum(chips[k].get("res", 0.0) * r for k, r in zip(names, R, strict=True))
        for p, rate in enumerate(rates):
            key = (p, R)
            if key not in best_period:
                best_period[key] = min(
                    sum(tier_cost(max(0, u[k] - r), chips[k]) for k, r in zip(names, R, strict=True))
                    for u, c in zip(usage, cap, strict=True) if c >= rate - 1e-9)
            total += hours[p] * best_period[key]
        best = min(best, total)
    return best


CASES = [
    # rows (chip, chips each, rps each), rates per period, hours, prices per chip
    ([("a", 1, 1.0), ("a", 2, 2.3), ("b", 1, 1.5)], [3.0, 1.2], [16.0, 8.0],
     {"a": {"od": 2.0, "res": 1.2}, "b": {"od": 2.8, "res": 1.7}}),
    ([("a", 1, 1.0), ("b", 2, 3.1)], [4.5, 0.5], [6.0, 18.0],
     {"a": {"od": 2.0, "res": 1.5, "spot": 0.9, "spot_cap": 3, "headroom": 0.25}, "b": {"od": 3.0}}),
    ([("a", 2, 1.9), ("b", 1, 1.1)], [2.0, 5.0], [12.0, 12.0],
     {"a": {"od": 2.2, "res": 1.0}, "b": {"od": 2.5, "spot": 1.0, "spot_cap": 2, "headroom": 0.5}}),
]


@pytest.mark.parametrize("rows,rates,hours,chips", CASES)
def test_two_periods_match_brute_force(rows, rates, hours, chips):
    unit = synth_unit("m", rates, rows)
    pm = solve_schedule([unit], synth_prices(chips), np.array(hours), periods.Limits(), 30.0, GAP)
    assert horizon_cost(pm) == pytest.approx(brute_force(rows, rates, hours, chips), rel=1e-9)
    # and the joint program alone (no decomposition) agrees
    joint = periods.build([unit], synth_prices(chips), np.array(hours))
    st = periods.solve(joint, time_limit_s=30, mip_gap=GAP)
    assert st.status == "optimal"
    assert horizon_cost(joint) == pytest.approx(horizon_cost(pm), rel=1e-9)


def test_random_instances_match_brute_force():
    rng = np.random.default_rng(7)
    for _ in range(6):
        rows = [("a", int(rng.integers(1, 3)), float(rng.uniform(0.8, 2.5))),
                ("b", int(rng.integers(1, 3)), float(rng.uniform(0.8, 2.5)))]
        rates = [float(rng.uniform(0.5, 6.0)) for _ in range(2)]
        hours = [float(rng.integers(1, 20)) for _ in range(2)]
        chips = {"a": {"od": float(rng.uniform(1, 3)), "res": float(rng.uniform(0.5, 2.5))},
                 "b": {"od": float(rng.uniform(1, 3))}}
        pm = solve_schedule([synth_unit("m", rates, rows)], synth_prices(chips), np.array(hours), periods.Limits(),
                            30.0, GAP)
        assert horizon_cost(pm) == pytest.approx(brute_force(rows, rates, hours, chips, xmax=7, rmax=14), rel=1e-9)


def test_reserved_only_where_it_pays():
    """Each reserved chip is in use at least reserved/on-demand of the hours: else renting it for those hours is
    cheaper (no spot here, so on-demand is the alternative)."""
    rng = np.random.default_rng(3)
    for _ in range(5):
        rows = [("a", 1, 1.0), ("a", 4, 4.4)]
        rates = list(rng.uniform(0.5, 12.0, size=6))
        hours = np.full(6, 4.0)
        chips = {"a": {"od": 2.0, "res": float(rng.uniform(0.6, 1.9))}}
        pm = solve_schedule([synth_unit("m", rates, rows)], synth_prices(chips), hours, periods.Limits(), 30.0, GAP)
        R = int(round(pyo.value(pm.m.R["a"])))
        use = np.array([pyo.value(periods.chip_usage(pm, "a", p)) for p in range(6)])
        if R > 0:
            hours_used = hours[use >= R - 1e-9].sum()
            assert chips["a"]["od"] * hours_used >= chips["a"]["res"] * hours.sum() - 1e-6
        # one more reserved chip would not pay either
        hours_next = hours[use >= R + 1 - 1e-9].sum()
        assert chips["a"]["od"] * hours_next <= chips["a"]["res"] * hours.sum() + 1e-6


def test_a_short_spike_buys_no_reserved_chip():
    rows = [("a", 1, 1.0)]
    rates = [0.0] * 23 + [8.0]
    pm = solve_schedule([synth_unit("m", rates, rows)], synth_prices({"a": {"od": 2.0, "res": 1.3}}), np.ones(24),
                        periods.Limits(), 30.0, GAP)
    assert int(round(pyo.value(pm.m.R["a"]))) == 0
    assert horizon_cost(pm) == pytest.approx(8 * 2.0)


def test_more_demand_never_costs_less():
    rng = np.random.default_rng(11)
    rows = [("a", 1, 1.0), ("a", 2, 2.3), ("b", 1, 1.5)]
    chips = {"a": {"od": 2.0, "res": 1.2}, "b": {"od": 2.8, "spot": 1.5, "spot_cap": 2, "headroom": 0.2}}
    for _ in range(4):
        rates = list(rng.uniform(0.5, 5.0, size=3))
        hours = np.array([8.0, 8.0, 8.0])
        base = horizon_cost(solve_schedule([synth_unit("m", rates, rows)], synth_prices(chips), hours,
                                           periods.Limits(), 30.0, GAP))
        p = int(rng.integers(0, 3))
        more = list(rates)
        more[p] += float(rng.uniform(0.2, 2.0))
        bigger = horizon_cost(solve_schedule([synth_unit("m", more, rows)], synth_prices(chips), hours,
                                             periods.Limits(), 30.0, GAP))
        assert bigger >= base - 1e-9


def test_owned_chips_without_capex_serve_first():
    rows = [("a", 1, 1.0)]
    chips = {"a": {"od": 2.0, "owned": 3, "energy": 0.1}}
    pm = solve_schedule([synth_unit("m", [5.0, 2.0], rows)], synth_prices(chips), np.array([10.0, 14.0]),
                        periods.Limits(), 30.0, GAP)
    # period 0: 3 owned (energy) + 2 on demand; period 1: 2 owned
    assert horizon_cost(pm) == pytest.approx(10 * (3 * 0.1 + 2 * 2.0) + 14 * (2 * 0.1))


def test_min_hold_and_start_limits_hold():
    rows = [("a", 1, 1.0)]
    rates = [1.0, 6.0, 1.0, 1.0, 5.0, 1.0]
    chips = {"a": {"od": 2.0}}
    hold = solve_schedule([synth_unit("m", rates, rows)], synth_prices(chips), np.ones(6),
                          periods.Limits(min_hold_periods=3), 30.0, GAP)
    x = counts(hold)[:, 0]
    for p in range(6):  # every instance started at p still runs at p+1 and p+2 (cyclic)
        started = max(0, x[p] - x[p - 1])
        assert x[(p + 1) % 6] >= started and x[(p + 2) % 6] >= started
    free = solve_schedule([synth_unit("m", rates, rows)], synth_prices(chips), np.ones(6), periods.Limits(), 30.0, GAP)
    assert horizon_cost(hold) > horizon_cost(free)  # the limit binds and costs something
    starts = solve_schedule([synth_unit("m", rates, rows)], synth_prices(chips), np.ones(6),
                            periods.Limits(max_starts_per_period=2), 30.0, GAP)
    x = counts(starts)[:, 0]
    assert all(max(0, x[p] - x[p - 1]) <= 2 for p in range(6))
    assert all(x[p] >= rates[p] for p in range(6))


def test_models_share_inventory_per_period():
    a = synth_unit("chat", [4.0, 1.0], [("h", 1, 1.0), ("g", 1, 0.9)])
    b = synth_unit("code", [1.0, 4.0], [("h", 1, 1.0), ("g", 1, 0.9)])
    chips = {"h": {"od": 1.0, "max": 5}, "g": {"od": 3.0}}
    pm = solve_schedule([a, b], synth_prices(chips), np.ones(2), periods.Limits(), 30.0, GAP)
    for p in range(2):
        assert pyo.value(periods.chip_usage(pm, "h", p)) <= 5 + 1e-9
    # 5 cheap chips per period serve 5 of the 5 requests/s; the rest on the dear chip: ceil(0 / 0.9) = 0
    assert horizon_cost(pm) == pytest.approx(2 * 5 * 1.0)
    tight = synth_prices({"h": {"od": 1.0, "max": 4}, "g": {"od": 3.0}})
    pm = solve_schedule([a, b], tight, np.ones(2), periods.Limits(), 30.0, GAP)
    assert horizon_cost(pm) == pytest.approx(2 * (4 * 1.0 + 2 * 3.0))  # 1 rps on g needs 2 instances of 0.9


def test_identical_periods_are_merged_exactly():
    rows = [("a", 1, 1.0), ("a", 3, 3.5)]
    chips = {"a": {"od": 2.0, "res": 1.1}}
    rates = [3.0, 7.0, 3.0, 7.0, 3.0]
    merged, hours, index = periods.distinct_periods([synth_unit("m", rates, rows)], np.ones(5))
    assert list(hours) == [3.0, 2.0] and list(index) == [0, 1, 0, 1, 0]
    pm = solve_schedule([synth_unit("m", rates, rows)], synth_prices(chips), np.ones(5), periods.Limits(), 30.0, GAP)
    assert horizon_cost(pm) == pytest.approx(brute_force(rows, rates, [1.0] * 5, chips, xmax=5, rmax=8), rel=1e-9)


@pytest.mark.parametrize("k", [1, 2])
def test_failure_headroom_matches_brute_force(k):
    """N+k: each configuration in use keeps k spare instances; the cheapest such fleet, by enumeration."""
    rows = [("a", 1, 1.0), ("a", 2, 2.3), ("b", 1, 1.6)]
    prices = {"a": 2.0, "b": 2.9}
    rng = np.random.default_rng(k)
    for rate in rng.uniform(0.5, 7.0, size=4):
        unit = synth_unit("m", [float(rate)], rows)
        unit.prep.spec.spare_instances = k
        pm = solve_schedule([unit], synth_prices({c: {"od": v} for c, v in prices.items()}), np.ones(1),
                            periods.Limits(), 30.0, GAP)
        best = math.inf
        for x in itertools.product(range(12), repeat=3):
            if any(0 < xi < k for xi in x):
                continue
            serving = sum(e * (xi - k) for (_c, _n, e), xi in zip(rows, x, strict=True) if xi > 0)
            if serving >= rate - 1e-9:
                best = min(best, sum(prices[c] * n * xi for (c, n, _e), xi in zip(rows, x, strict=True)))
        assert horizon_cost(pm) == pytest.approx(best, rel=1e-9)
        x = counts(pm)[0]
        for i in np.flatnonzero(x):  # any pool may lose k instances and the fleet still carries the rate
            assert sum(e * xi for (_c, _n, e), xi in zip(rows, x, strict=True)) - k * rows[i][2] >= rate - 1e-9


def test_max_pools_matches_brute_force():
    """At most one configuration per role: the cheapest such fleet, by enumeration."""
    rows = [("a", 1, 1.0), ("a", 2, 2.3), ("b", 1, 1.6)]
    prices = {"a": 2.0, "b": 2.9}
    for rate in (2.1, 3.3, 4.05, 5.9):
        unit = synth_unit("m", [rate], rows)
        unit.prep.spec.max_pools = 1
        pm = solve_schedule([unit], synth_prices({c: {"od": v} for c, v in prices.items()}), np.ones(1),
                            periods.Limits(), 30.0, GAP)
        best = min(prices[c] * n * math.ceil(rate / e - 1e-9) for c, n, e in rows)
        assert horizon_cost(pm) == pytest.approx(best, rel=1e-9)
        assert (counts(pm)[0] > 0).sum() == 1


def test_peak_bound_by_hand():
    """One chip, reserved $1/h, on-demand $1.5/h (ratio 1.5); period 0 needs 2 chips, period 1 six, an hour each.
    Split bound: 2 + 6 = 8 (every chip-hour at the reserved price). Rented: 3 + 9. Weights w = (0.5, 1.5): 0.5 x 2 +
    9 = 10, the optimum (reserve 2: 2 x 2 + 1.5 x 4 = 10; reserve 3: 10.5; none: 12)."""
    assert peak_bound(np.array([2.0, 6.0]), np.array([3.0, 9.0]), np.array([1.0, 1.0]), 1.5) == pytest.approx(10.0)
    flat = peak_bound(np.array([4.0, 4.0]), np.array([6.0, 6.0]), np.array([1.0, 1.0]), 1.5)
    assert flat == pytest.approx(8.0)  # a flat demand: reserving everything is optimal, nothing to move


def test_peak_bound_never_exceeds_the_brute_force_optimum():
    """Random instances over three periods with two reservable chips at one discount: the raised bound lies
    between the split bound and the optimum, and the schedule it lets stop early is the optimum."""
    rng = np.random.default_rng(11)
    raised = 0
    for _ in range(8):
        rows = [("a", int(rng.integers(1, 3)), float(rng.uniform(0.8, 2.5))),
                ("b", int(rng.integers(1, 3)), float(rng.uniform(0.8, 2.5)))]
        rates = [float(rng.uniform(0.5, 6.0)) for _ in range(3)]
        hours = [float(rng.integers(1, 20)) for _ in range(3)]
        disc = float(rng.uniform(0.2, 0.6))
        od = {k: float(rng.uniform(1, 3)) for k in "ab"}
        chips = {k: {"od": od[k], "res": od[k] * (1 - disc)} for k in "ab"}
        best = brute_force(rows, rates, hours, chips, xmax=6, rmax=12)
        unit, prices = synth_unit("m", rates, rows), synth_prices(chips)
        pm = periods.build([unit], prices, np.array(hours))
        ones = [periods.single_period(periods.build([unit], prices, np.array(hours)), p) for p in range(3)]
        for one in ones:
            periods.fix_commitments(one, {}, {})
            assert periods.solve(one, time_limit_s=30, mip_gap=GAP).status == "optimal"
        rented = np.array([float(pyo.value(one.m.cost)) for one in ones])
        plain = split_bound(pm, 30.0, GAP)
        lifted = split_bound(pm, 30.0, GAP, rented)
        assert plain - 1e-6 <= lifted <= best * (1 + 1e-6)  # (the period bounds carry the tie-breaks, ~1e-7)
        raised += lifted > plain + 1e-6
        sched = solve_schedule([unit], prices, np.array(hours), periods.Limits(), 30.0, GAP)
        assert horizon_cost(sched) == pytest.approx(best, rel=1e-9)
    assert raised >= 3  # the raised bound is not the split bound in disguise


@pytest.mark.parametrize("chips", [
    {"a": {"od": 2.0, "res": 1.1}, "b": {"od": 2.6, "res": 2.4, "spot": 1.0, "spot_cap": 2, "headroom": 0.25}},
    {"a": {"od": 2.0, "res": 2.5}, "b": {"od": 2.6}},  # reserving never pays
])
def test_a_flat_demand_is_solved_as_one_period_and_proven(chips):
    """Every period alike: one period after merging, where reserving what the split relaxation rents at the
    reserved price is optimal (one_period_schedule); the cost is brute force's and the gap is proven ~0."""
    rows = [("a", 1, 1.0), ("a", 3, 3.5), ("b", 2, 2.7)]
    rates = [5.5] * 4
    pm = solve_schedule([synth_unit("m", rates, rows)], synth_prices(chips), np.full(4, 6.0), periods.Limits(), 30.0,
                        GAP)
    assert horizon_cost(pm) == pytest.approx(brute_force(rows, rates, [6.0] * 4, chips, xmax=5, rmax=8), rel=1e-9)
    assert pm.status.status == "optimal" and pm.status.mip_gap <= 1e-6


def test_the_relaxation_shows_where_a_commitment_relieves_a_spot_cap():
    """Chip a serves 2 requests/s per chip, chip b 1; a's spot is capped at 2 chips, b's is plentiful at 0.4/h. Without
    commitments the peak (8 requests/s for 16 h) takes a's 2 spot chips and 4 of b's: a is never used past its spot
    cap, so the counts that suit that schedule reserve nothing. The split relaxation, renting a by the hour at the
    reserved 0.65 (0.325 per request/s, under b's spot 0.4), puts 4 chips of a on the peak: the counts that suit
    its schedule reserve 2 of a, which brute force confirms is the optimum (8 x 1.3 + 16 x 2.3 = 47.2 against
    8 x 1.0 + 16 x 2.6 = 49.6 with none)."""
    from planner.optimize.schedule_solve import (
        _Decomposed,
        _hourly_commitments,
        _usage,
        best_commitments,
        relaxed_usage,
    )

    chips = {"a": {"od": 1.0, "res": 0.65, "spot": 0.5, "spot_cap": 2},
             "b": {"od": 1.0, "spot": 0.4, "spot_cap": 20}}
    rows, rates, hours = [("a", 1, 2.0), ("b", 1, 1.0)], [4.0, 8.0], np.array([8.0, 16.0])
    unit, prices = synth_unit("m", rates, rows), synth_prices(chips)
    pm = periods.build([unit], prices, hours)
    dec = _Decomposed(pm, 30.0, GAP)
    none_cost = dec.solve({}, {}, load=True)[0]
    assert best_commitments(_usage(pm), pm.prices, pm.hours)[0] == {}
    relaxed = _hourly_commitments(pm, 30.0, GAP)
    relaxed.solve({}, {})
    reserved = best_commitments(relaxed_usage(relaxed), pm.prices, pm.hours)[0]
    assert reserved == {"a": 2}
    best = brute_force(rows, rates, list(hours), chips, xmax=8, rmax=6)
    assert dec.solve(reserved, {})[0] == pytest.approx(best, rel=1e-6) and best == pytest.approx(47.2)
    assert none_cost == pytest.approx(49.6, rel=1e-6)
    sched = solve_schedule([unit], prices, hours, periods.Limits(), 30.0, GAP)
    assert horizon_cost(sched) == pytest.approx(best, rel=1e-6)
