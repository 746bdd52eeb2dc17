"""The N best distinct fleets (`planner solve --top N`): after the optimum, the next best fleet that uses a
different set of configurations, and so on. Each candidate gets a binary y_i = [x_i >= 1] (x_i <= U_i y_i,
y_i <= x_i) and each fleet found adds a no-good cut on its set S of configurations,
sum_{i in S} (1 - y_i) + sum_{i not in S} y_i >= 1, so the next solve must drop or add one. U_i is the inventory or
chip bound where there is one, else the instances of candidate i that cost MAX_COST_FACTOR times the optimum
(fleets dearer than that are not offered as alternatives). Every fleet is checked like the optimum."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pyomo.core as pyo

from planner.optimize import milp
from planner.optimize.checks import check_plan
from planner.optimize.prepare import Prepared
from planner.optimize.results import SolveResult, extract, fleet_text

MAX_COST_FACTOR = 10.0


def _bounds(fm: milp.FleetModel, best_cost: float) -> np.ndarray:
    t = fm.table
    ub = np.array([math.inf if u is None else u for u in fm.m.x_ub], float)
    cost = t["cost_usd_per_hr"].to_numpy(float)
    by_cost = np.where(cost > 0, np.floor(MAX_COST_FACTOR * max(best_cost, 1e-9) / np.maximum(cost, 1e-12)), math.inf)
    ub = np.minimum(ub, by_cost)
    return np.where(np.isfinite(ub), np.maximum(ub, 1.0), 1e6)


def top_fleets(prep: Prepared, best: SolveResult, n: int, *, time_limit_s: float, mip_gap: float) -> list[dict]:
    """Up to n fleets, best first (the optimum as found, then the next distinct ones): rank, status, cost,
    requests/s, chips, architecture, fleet, and the difference from the best."""
    key = "cost_usd_per_hr" if prep.objective == "min-cost" else "throughput_rps"
    rows = [_row(1, best, best, key)]
    if n <= 1:
        return rows
    fm = milp.build(prep.table, prep.spec)
    fleets = distinct_fleets(fm, n, best.summary["cost_usd_per_hr"], time_limit_s=time_limit_s, mip_gap=mip_gap)
    next(fleets, None)  # the optimum again (reported as `best`)
    for rank, st in enumerate(fleets, start=2):
        res = extract(prep, fm, st)
        check_plan(res.summary, res.pools, prep.spec.rate_min)
        rows.append(_row(rank, res, best, key))
    return rows


def distinct_fleets(fm: milp.FleetModel, n: int, best_cost: float, *, time_limit_s: float,
                    mip_gap: float) -> Iterator[milp.SolveStatus]:
    """Solve, then up to n - 1 times more, each under a no-good cut on the configurations the last fleet used;
    each status is yielded with its solution loaded in the model (read it before asking for the next)."""
    st = milp.solve(fm, time_limit_s=time_limit_s, mip_gap=mip_gap)
    if not st.has_solution:
        return
    yield st
    m, size = fm.m, len(fm.table)
    milp.allow(fm, np.ones(size, bool), dominance=False)  # the no-good cuts below void the exchange argument
    ub = _bounds(fm, best_cost)
    m.y = pyo.Var(range(size), domain=pyo.Binary)
    m.y_link = pyo.Constraint(range(size), rule=lambda _m, i: _m.x[i] <= float(ub[i]) * _m.y[i])
    m.y_used = pyo.Constraint(range(size), rule=lambda _m, i: _m.y[i] <= _m.x[i])
    m.no_good = pyo.ConstraintList()
    for _ in range(n - 1):
        support = milp.counts(fm) > 0
        m.no_good.add(sum(1 - m.y[i] for i in np.flatnonzero(support))
                      + sum(m.y[i] for i in np.flatnonzero(~support)) >= 1)
        st = milp.solve(fm, time_limit_s=time_limit_s, mip_gap=mip_gap)
        if not st.has_solution:
            return
        yield st


def _row(rank: int, res: SolveResult, best: SolveResult, key: str) -> dict:
    s = res.summary
    return {"rank": rank, "status": s["status"], "cost_usd_per_hr": s["cost_usd_per_hr"],
            "throughput_rps": s["throughput_rps"], "num_chips": s["num_chips"], "architecture": s["architecture"],
            "ttft_ms": s["ttft_ms"], "tpot_ms": s["tpot_ms"], "fleet": fleet_text(res.pools),
            "delta": s[key] - best.summary[key]}
