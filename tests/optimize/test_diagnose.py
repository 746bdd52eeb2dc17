"""planner.optimize.diagnose: an infeasible program names the limit that binds and the nearest feasible value."""

from __future__ import annotations

import re

import pytest

from planner.optimize import milp
from planner.optimize.diagnose import diagnose_limits
from planner.optimize.prepare import prepare
from planner.optimize.program import prepare_any, solve_prepared


def _program(sc, cache):
    prep = prepare(sc, cache=cache)
    fm = milp.build(prep.table, prep.spec)
    return prep, fm


def test_inventory_too_small_gives_the_highest_rate_it_carries(small, cache):
    chips = [{"id": "h100-sxm", "price_usd_per_hr": 2.5, "max_count": 2}]
    sc = small(chips=chips, workload={"arrival_rate_rps": 500, "isl": 1024, "osl": 128})
    prep, fm = _program(sc, cache)
    assert milp.solve(fm, time_limit_s=30, mip_gap=0.0).status == "infeasible"
    err = diagnose_limits(prep, fm, time_limit_s=30)
    assert err.field == "workload.arrival_rate_rps"
    best = float(re.search(r"allow under the SLO is ([\d.e+]+) requests/s", str(err)).group(1))
    # the stated rate is what max-throughput finds within the same limits
    mt = small(chips=chips, objective="max-throughput")
    res = solve_prepared(prepare_any(mt, cache=cache), time_limit_s=30, mip_gap=0.0)
    assert res.summary["throughput_rps"] == pytest.approx(best, rel=1e-3)


def test_budget_below_one_instance_names_the_budget(small, cache):
    prep, fm = _program(small(objective="max-throughput", budget_usd_per_hr=1.0), cache)
    err = diagnose_limits(prep, fm, time_limit_s=30)
    assert err.field == "budget_usd_per_hr" and "cheapest fleet that meets the SLO costs $2.5/h" in str(err)
