"""A small scenario for the optimizer's module tests: Llama 3.1 8B on H100 and H200, one or two chips per
instance, so every solve takes well under a second; and the pruning check shared by the tests that pruning keeps
the optimum."""

from __future__ import annotations

import dataclasses

import pytest

from planner.inputs.scenario import validate_scenario
from planner.optimize import milp
from planner.optimize.coefficients import CoefficientCache, scenario_coefficients
from planner.optimize.prune import prune
from planner.optimize.solve import prepare

SMALL = {
    "name": "small", "model": "llama-3.1-8b", "precision": {"weights": "fp8"},
    "workload": {"arrival_rate_rps": 6, "isl": 1024, "osl": 128},
    "slo": {"ttft_ms": 1500, "tpot_ms": 40},
    "chips": [{"id": "h100-sxm", "price_usd_per_hr": 2.5}, {"id": "h200-sxm", "price_usd_per_hr": 3.5}],
    "search": {"pipeline_parallel": [1], "max_chips_per_instance": 2},
    "solver": {"mip_gap": 0.0},
    "margin": 0.0,
}


@pytest.fixture(scope="session")
def cache() -> CoefficientCache:
    return CoefficientCache()


@pytest.fixture
def small():
    """validate_scenario of SMALL with top-level keys overridden (traffic classes replace its workload and SLO)."""

    def make(**over):
        base = {k: v for k, v in SMALL.items() if not ("classes" in over and k in ("workload", "slo"))}
        return validate_scenario({**base, **over})

    return make


@pytest.fixture
def pruned_and_full():
    """(prepared scenario, its pruned table, every SLO-feasible candidate of the same roles, the proven optimum's
    cost from each table and each solve's status): what dominance pruning is checked with."""

    def run(sc, cache):
        prep = prepare(sc, cache=cache)
        full = prune(scenario_coefficients(sc, cache=cache), dataclasses.replace(prep.settings, dominance=False)).table
        full = full[full["role"].astype(str).isin(prep.table["role"].astype(str).unique())]
        costs, statuses = [], []
        for table in (prep.table, full):
            fm = milp.build(table, dataclasses.replace(prep.spec))
            statuses.append(milp.solve(fm, time_limit_s=60, mip_gap=0.0).status)
            costs.append(float(milp.counts(fm) @ fm.table["cost_usd_per_hr"].to_numpy()))
        return prep, full, costs, statuses

    return run
