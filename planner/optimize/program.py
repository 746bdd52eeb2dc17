"""One program, prepared and solved: `prepare_any` (one traffic class or several) and `solve_prepared` (build the
MILP, solve it, extract the result or diagnose why there is none). Shared by `planner.optimize.solve` and the
re-solves of `planner.optimize.alternatives`."""

from __future__ import annotations

import time

from planner.errors import NoSolutionInTimeError, PlanCheckError
from planner.inputs.scenario import Scenario
from planner.optimize import milp
from planner.optimize.checks import check_plan
from planner.optimize.diagnose import diagnose_limits
from planner.optimize.prepare import Prepared, prepare
from planner.optimize.results import SolveResult, extract
from planner.optimize.traffic import prepare_classes


def prepare_any(sc: Scenario, **kw) -> Prepared:
    """`prepare`, or `traffic.prepare_classes` for a multi-class scenario."""
    if sc.classes is not None:
        return prepare_classes(sc, **kw)
    return prepare(sc, **kw)


def solve_prepared(prep: Prepared, *, time_limit_s: float, mip_gap: float) -> SolveResult:
    """Build and solve the MILP of a prepared scenario; the checked result, an InfeasibleError that names the limit,
    NoSolutionInTimeError when the time limit ends the search empty-handed, PlanCheckError for a bug."""
    t0 = time.perf_counter()
    fm = milp.build(prep.table, prep.spec)
    prep.timings["build_s"] = time.perf_counter() - t0
    st = milp.solve(fm, time_limit_s=time_limit_s, mip_gap=mip_gap)
    if st.status == "infeasible":
        raise diagnose_limits(prep, fm, time_limit_s)
    if st.status == "no-solution-in-time":
        raise NoSolutionInTimeError(
            f"the solver found no fleet within {time_limit_s:g} s ({st.termination}); the scenario may be feasible",
            field="solver.time_limit_s", hint="raise solver.time_limit_s (or --time-limit) and solve again",
        )
    if not st.has_solution:
        raise PlanCheckError(f"the solver ended with status {st.status} ({st.termination}) and no fleet: a bug, "
                             "please report it with the scenario")
    if prep.objective == "max-throughput" and milp.value(fm, "lam") <= 1e-9:
        raise diagnose_limits(prep, fm, time_limit_s)
    res = extract(prep, fm, st)
    check_plan(res.summary, res.pools, prep.spec.rate_min)
    return res
