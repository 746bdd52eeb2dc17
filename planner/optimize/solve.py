"""The optimizer pipeline: scenario -> coefficients -> prune -> MILP -> result (or a diagnosed InfeasibleError).

`solve_scenario` is the one entry point (CLI, batch sweeps, tests). The stages live in their own modules:
`planner.optimize.prepare` (coefficients, pruning, MILP data), `planner.optimize.results` (summary, pools, constraint report),
`planner.optimize.diagnose` (infeasibility messages), `planner.program` (prepare and solve one program),
`planner.optimize.alternatives` (why this architecture). Their public
names are re-exported here for callers of the earlier single module.
"""

from __future__ import annotations

from planner.inputs.scenario import Scenario
from planner.optimize.alternatives import explain
from planner.optimize.coefficients import CoefficientCache
from planner.optimize.diagnose import diagnose_limits
from planner.optimize.prepare import Prepared, prepare, resolve_margin
from planner.optimize.program import prepare_any, solve_prepared
from planner.optimize.results import (
    POOL_COLUMNS,
    QUEUE_TEXT,
    ROLE_ORDER,
    TIGHT_SLO,
    SolveResult,
    architecture,
    extract,
    pool_error_bands,
    pools_frame,
)

__all__ = [
    "POOL_COLUMNS", "QUEUE_TEXT", "ROLE_ORDER", "TIGHT_SLO", "Prepared", "SolveResult", "architecture", "diagnose_limits",
    "explain", "extract", "pool_error_bands", "pools_frame", "prepare", "prepare_any", "resolve_margin",
    "solve_prepared", "solve_scenario",
]


def solve_scenario(sc: Scenario, *, catalogs=(), time_limit_s: float | None = None, mip_gap: float | None = None,
                   margin: float | None = None, cache: CoefficientCache | None = None,
                   objective: str | None = None, alternatives: bool = False, top: int = 1) -> SolveResult:
    """Cheapest fleet (min-cost) or highest rate within the limits (max-throughput) for a scenario.

    margin: fraction (0.1 = 10%) for every metric and chip, or Margins; None takes the scenario's, else
    uncertainty.planning_margins() (per metric and chip family, from held-out error).
    alternatives: also re-solve with every other architecture forced (summary `alternatives` and `why`;
    `planner solve` sets it; batch sweeps leave it off).
    top: also the next best fleets with a different set of configurations, up to `top` in all (summary `top`).
    Raises InfeasibleError (exit 1) naming the SLO or limit that binds and the nearest feasible value,
    PlannerError (exit 2) for bad input.
    """
    prep = prepare_any(sc, catalogs=catalogs, margin=margin, cache=cache, objective=objective)
    tl = time_limit_s if time_limit_s is not None else sc.solver.time_limit_s
    gap = mip_gap if mip_gap is not None else sc.solver.mip_gap
    res = solve_prepared(prep, time_limit_s=tl, mip_gap=gap)
    if alternatives:
        res.summary["alternatives"], res.summary["why"] = explain(prep, res, time_limit_s=tl, mip_gap=gap)
    if top > 1:
        from planner.optimize.top import top_fleets

        res.summary["top"] = top_fleets(prep, res, top, time_limit_s=tl, mip_gap=gap)
    return res
