"""Pareto frontiers by the epsilon-constraint method on one persistent MILP (built once, re-solved).

Sweeps (`sweep`):
- tpot (default): cost per million output tokens against tokens/s per user. Epsilon = a TPOT bound; the
  decode and aggregated candidates slower than it are switched off (their upper bound set to 0), and the
  cheapest fleet for the scenario's rate is solved. Bounds run geometrically from the lowest TPOT the
  candidates reach to the SLO (or the slowest candidate).
- throughput: cost against requests/s. Epsilon = the rate floor `rate_min` (a mutable Param), from
  max/N to the highest rate the limits allow (or 4x the scenario's rate without limits).
- budget: requests/s against $/h. Epsilon = the budget Param; objective max-throughput. Budgets run from
  the cheapest complete fleet to the scenario's budget (or 2x the cheapest fleet for its rate).

Every point is an optimal (or gap-reported) MILP solution; the frontier keeps the non-dominated ones. The points
are independent given the model, so with `workers` > 1 they are solved by forked copies of this process
(planner.optimize.forked), each with its own HiGHS instance, taking the points as they come free, the largest
epsilon (the slowest: large fleets near the limits, most candidates) first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.errors import InfeasibleError, PlannerError
from planner.inputs.scenario import Scenario, require_one_period
from planner.optimize import forked, milp
from planner.optimize.checks import frontier_warnings
from planner.optimize.coefficients import CoefficientCache
from planner.optimize.prepare import Prepared, prepare
from planner.optimize.results import extract, fleet_text

SWEEPS = ("tpot", "throughput", "budget")
RATE_FLOOR_RPS = 1e-3  # "serves something": well above the solver's feasibility tolerance
POINT_COLUMNS = [
    "epsilon", "status", "mip_gap", "mode", "throughput_rps", "output_tok_s", "cost_usd_per_hr", "cost_usd_per_mtok",
    "tpot_ms", "tok_s_per_user", "ttft_ms", "num_chips", "power_kw", "tok_s_per_chip", "fleet",
]
AXES = {  # (x: larger is better, y: smaller is better)
    "tpot": ("tok_s_per_user", "cost_usd_per_mtok"),
    "throughput": ("throughput_rps", "cost_usd_per_hr"),
    "budget": ("throughput_rps", "cost_usd_per_hr"),
}


@dataclass
class ParetoResult:
    sweep: str
    points: pd.DataFrame  # frontier points, one row each (with `pools`: the fleet as records)
    all_points: pd.DataFrame  # every epsilon solved, including dominated or infeasible ones
    summary: dict


def _row(prep: Prepared, fm: milp.FleetModel, st: milp.SolveStatus, eps: float) -> dict:
    if not st.has_solution:
        return {"epsilon": eps, "status": st.status, "mip_gap": None, "pools": []}
    res = extract(prep, fm, st, detail=False)
    s = res.summary
    chips = s["num_chips"]
    return {
        "epsilon": eps, "status": s["status"], "mip_gap": s["mip_gap"], "mode": s["mode"],
        "throughput_rps": s["throughput_rps"], "output_tok_s": s["output_tok_s"], "cost_usd_per_hr": s["cost_usd_per_hr"],
        "cost_usd_per_mtok": s["cost_usd_per_mtok"], "tpot_ms": s["tpot_ms"], "tok_s_per_user": s["tok_s_per_user"],
        "ttft_ms": s["ttft_ms"], "num_chips": chips, "power_kw": s["power_kw"],
        "tok_s_per_chip": s["output_tok_s"] / chips if chips else None, "fleet": fleet_text(res.pools),
        "pools": res.pools.to_dict(orient="records"),
    }


def frontier(df: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Non-dominated rows (x larger is better, y smaller is better), sorted by x."""
    ok = df[df["status"].isin(["optimal", "within-gap", "time-limit"])].copy()
    if ok.empty:
        return ok
    yv = ok[y].to_numpy(float)
    order = np.lexsort((yv, -ok[x].to_numpy(float)))  # best x first, then best y
    best = np.inf
    keep = []
    for i in order:  # one pass over the solved points (at most --points)
        if not keep or yv[i] < best - 1e-9 * max(abs(best), 1.0):
            keep.append(i)
            best = yv[i]
    return ok.iloc[keep].sort_values(x).reset_index(drop=True)


def time_limit_warnings(all_points: pd.DataFrame, time_limit_s: float) -> list[str]:
    """One line when points stopped at the solver's time limit: how many, their largest proven gap, what helps."""
    stopped = all_points[all_points["status"] == "time-limit"]
    if stopped.empty:
        return []
    gap = pd.to_numeric(stopped["mip_gap"], errors="coerce").max()
    worst = f", proven gaps up to {100 * gap:.2g}%" if np.isfinite(gap) else ""
    return [f"{len(stopped)} point(s) stopped at the {time_limit_s:g} s time limit{worst}: raise --time-limit to "
            "prove them, or loosen --mip-gap (e.g. 0.005) for a faster sweep"]


def _solve_points(prep: Prepared, fm: milp.FleetModel, epsilons, set_epsilon: Callable, tl: float, gap: float,
                  workers: int) -> list[dict]:
    """One row per epsilon: set_epsilon(fm, eps) then solve; over `workers` forked processes where there are
    points enough (a point is the same program in whichever process solves it: its cost does not depend on the
    split, though which of several equal-cost fleets HiGHS returns may)."""
    epsilons = [float(e) for e in epsilons]

    def one(i: int) -> dict:
        set_epsilon(fm, epsilons[i])
        return _row(prep, fm, milp.solve(fm, time_limit_s=tl, mip_gap=gap), epsilons[i])

    workers = max(1, min(workers, len(epsilons) // 2))
    if workers == 1 or not forked.available():
        return [one(i) for i in range(len(epsilons))]
    fm.solver = None  # each worker makes its own HiGHS instance
    with forked.pool(one, workers) as submit:
        # the largest epsilon first: in every sweep it allows the most (largest fleets, most candidates) and is
        # the slowest to prove, so the workers take the points as they come free and finish together
        futures = {i: submit(i) for i in reversed(range(len(epsilons)))}
        return [futures[i].result() for i in range(len(epsilons))]


def _tpot_sweep(prep: Prepared, fm: milp.FleetModel, n: int, tl: float, gap: float, workers: int) -> list[dict]:
    t = fm.table
    role = t["role"].astype(str).to_numpy()
    tpot = t["tpot_ms"].to_numpy()
    lo = float(np.nanmin(tpot[~np.isin(role, ("prefill", "ffn"))]))
    hi = prep.scenario.slo.tpot_ms or float(np.nanmax(tpot[~np.isin(role, ("prefill", "ffn"))]))
    bounds = np.geomspace(lo, max(hi, lo), n) if n > 1 else np.array([hi])
    keep = np.isin(role, ("prefill", "ffn", "draft"))  # FFN, draft rows: no TPOT
    rows = _solve_points(prep, fm, bounds, lambda f, eps: milp.allow(f, keep | (tpot <= eps * (1 + 1e-9))), tl, gap,
                         workers)
    milp.allow(fm, np.ones(len(t), bool))
    return rows


def _max_rate(fm: milp.FleetModel, tl: float) -> float | None:
    milp.set_param(fm, "rate_min", None)
    milp.set_objective(fm, "max-throughput")
    st = milp.solve(fm, time_limit_s=tl, mip_gap=1e-6)
    return milp.value(fm, "lam") if st.has_solution else None


def _throughput_sweep(prep: Prepared, fm: milp.FleetModel, n: int, tl: float, gap: float, workers: int) -> list[dict]:
    sc = prep.scenario
    top = _max_rate(fm, tl) if sc.has_limits else None
    if top is None or top <= 0:
        if sc.workload.arrival_rate_rps is None:
            raise PlannerError("the throughput sweep needs a rate or a limit", field="workload.arrival_rate_rps")
        top = 4.0 * sc.workload.arrival_rate_rps
    milp.set_objective(fm, "min-cost")
    return _solve_points(prep, fm, np.linspace(top / n, top, n),
                         lambda f, eps: milp.set_param(f, "rate_min", eps * (1 - 1e-9)), tl, gap, workers)


def _budget_sweep(prep: Prepared, fm: milp.FleetModel, n: int, tl: float, gap: float, workers: int) -> list[dict]:
    sc = prep.scenario
    milp.set_objective(fm, "min-cost")
    milp.set_param(fm, "budget_usd_per_hr", None)
    milp.set_param(fm, "rate_min", RATE_FLOOR_RPS)
    st = milp.solve(fm, time_limit_s=tl, mip_gap=1e-6)
    if not st.has_solution:
        raise InfeasibleError("no fleet meets the SLO within the chip and power limits", field="chips")
    cheapest = float(np.sum(fm.table["cost_usd_per_hr"].to_numpy() * milp.counts(fm)))
    top = sc.budget_usd_per_hr
    if top is None:
        if sc.workload.arrival_rate_rps is None:
            raise PlannerError("the budget sweep needs budget_usd_per_hr or a rate", field="budget_usd_per_hr")
        milp.set_param(fm, "rate_min", sc.workload.arrival_rate_rps)
        st = milp.solve(fm, time_limit_s=tl, mip_gap=gap)
        at_rate = float(np.sum(fm.table["cost_usd_per_hr"].to_numpy() * milp.counts(fm))) if st.has_solution else cheapest
        top = 2.0 * max(at_rate, cheapest)
    milp.set_param(fm, "rate_min", None)
    milp.set_objective(fm, "max-throughput")
    return _solve_points(prep, fm, np.linspace(cheapest, max(top, cheapest), n),
                         lambda f, eps: milp.set_param(f, "budget_usd_per_hr", eps * (1 + 1e-9)), tl, gap, workers)


def pareto(sc: Scenario, *, sweep: str = "tpot", points: int = 20, catalogs=(), margin: float | None = None,
           cache: CoefficientCache | None = None, time_limit_s: float | None = None,
           mip_gap: float | None = None, workers: int = 1) -> ParetoResult:
    """Frontier of `sweep` with `points` epsilon values, on one model built once; the points over `workers`
    processes (module docstring)."""
    require_one_period(sc)
    if sc.classes is not None:
        raise PlannerError("pareto sweeps take one traffic class; solve a multi-class scenario with `planner solve`",
                           field="classes", hint="sweep one class at a time (its own workload:)")
    if sweep not in SWEEPS:
        raise PlannerError(f"unknown sweep {sweep!r}", field="sweep", hint=f"one of {', '.join(SWEEPS)}")
    if points < 1:
        raise PlannerError("needs at least one point", field="points")
    if sweep == "tpot" and sc.workload.arrival_rate_rps is None:
        raise PlannerError("the TPOT sweep prices a fleet for a rate", field="workload.arrival_rate_rps",
                           hint="set workload.arrival_rate_rps, or use --sweep budget")
    t0 = time.perf_counter()
    objective = "min-cost" if sc.workload.arrival_rate_rps is not None else "max-throughput"
    prep = prepare(sc, catalogs=catalogs, margin=margin, cache=cache, objective=objective,
                   keep_tpot_front=(sweep == "tpot"))
    fm = milp.build(prep.table, prep.spec)
    t1 = time.perf_counter()
    tl = time_limit_s if time_limit_s is not None else sc.solver.time_limit_s
    gap = mip_gap if mip_gap is not None else sc.solver.mip_gap
    rows = {"tpot": _tpot_sweep, "throughput": _throughput_sweep, "budget": _budget_sweep}[sweep](prep, fm, points, tl, gap, workers)
    all_points = pd.DataFrame(rows)
    for c in POINT_COLUMNS:
        if c not in all_points:
            all_points[c] = np.nan
    all_points = all_points[[*POINT_COLUMNS, "pools"]]
    x, y = AXES[sweep]
    front = frontier(all_points, x, y)
    if front.empty:
        raise InfeasibleError(f"no point of the {sweep} sweep is feasible", field="chips",
                              hint="`planner solve` on the scenario says which SLO or limit binds")
    far, warnings = frontier_warnings(front)
    warnings = warnings + time_limit_warnings(all_points, tl)
    front = front.assign(impractical=far)
    summary = {
        "warnings": warnings,
        "scenario": sc.name, "model": sc.model, "sweep": sweep, "x": x, "y": y, "points_solved": len(all_points),
        "frontier_points": len(front), "margin": prep.margin.summary([c.id for c in sc.chips]), "candidates": int(len(prep.table)),
        "build_s": t1 - t0, "total_s": time.perf_counter() - t0,
        "statuses": all_points["status"].value_counts().to_dict(),
    }
    return ParetoResult(sweep=sweep, points=front, all_points=all_points, summary=summary)
