"""Verify a plan by simulation and close the loop (`planner solve --verify`): simulate the chosen fleet with the
serving model (planner.serving.fleet); while a simulated figure breaks its SLO, plan again under a tighter SLO —
the TTFT SLO less the simulated excess, the TPOT SLO scaled by SLO / simulated — which tightens the queueing caps
and the candidates' filters of the pools that broke it, up to `rounds` times. The simulation always scores
against the scenario's own SLOs."""

from __future__ import annotations

from planner.errors import InfeasibleError, PlannerError
from planner.inputs.scenario import Scenario
from planner.optimize.results import SolveResult
from planner.optimize.solve import solve_scenario
from planner.serving.fleet import simulate_fleet

MIN_PLANNING_FRACTION = 0.2  # never plan under less than this share of the user's SLO


def _round(res: SolveResult, sim, planning_slo: dict) -> dict:
    s = sim.summary
    return {"planning_slo": dict(planning_slo), "cost_usd_per_hr": res.summary["cost_usd_per_hr"],
            "num_chips": res.summary["num_chips"], "planned_ttft_ms": res.summary["ttft_ms"],
            "planned_tpot_ms": res.summary["tpot_ms"], "simulated_ttft_ms": s["ttft_ms_at_slo_percentile"],
            "simulated_tpot_ms": s["tpot_ms_p50"], "slo_attainment": s["slo_attainment"],
            "meets_slos": bool(s["meets_ttft_slo"] and s["meets_tpot_slo"])}


def solve_verified(sc: Scenario, *, rounds: int = 3, requests: int = 3000, seed: int = 0, **solve_kw) -> SolveResult:
    """solve_scenario, then the simulate-and-tighten loop; the result's summary gains `verification`."""
    res = solve_scenario(sc, **solve_kw)
    slo = sc.slo
    planning = {"ttft_ms": slo.ttft_ms, "tpot_ms": slo.tpot_ms}
    log, note, chosen = [], "", res
    for k in range(rounds + 1):
        try:
            sim = simulate_fleet(sc, res.pools, requests=requests, seed=seed, catalogs=solve_kw.get("catalogs", ()))
        except PlannerError as exc:
            note = f"not verified: {str(exc).splitlines()[0]}"
            break
        log.append(_round(res, sim, planning))
        chosen = res
        if log[-1]["meets_slos"]:
            break
        if k == rounds:
            note = f"the SLOs still break in simulation after {rounds} tighter plans"
            break
        s = sim.summary
        if slo.ttft_ms is not None and not s["meets_ttft_slo"]:
            excess = s["ttft_ms_at_slo_percentile"] - slo.ttft_ms
            planning["ttft_ms"] = max(planning["ttft_ms"] - excess, MIN_PLANNING_FRACTION * slo.ttft_ms)
        if slo.tpot_ms is not None and not s["meets_tpot_slo"]:
            planning["tpot_ms"] = max(planning["tpot_ms"] * slo.tpot_ms / s["tpot_ms_p50"],
                                      MIN_PLANNING_FRACTION * slo.tpot_ms)
        tighter = sc.model_copy(update={"slo": slo.model_copy(update=planning)})
        try:
            res = solve_scenario(tighter, **solve_kw)
        except InfeasibleError as exc:
            note = (f"no fleet meets the tighter planning SLOs {planning} the simulation asks for: "
                    f"{str(exc).splitlines()[0]}")
            break
    first = log[0] if log else None
    if log and log[-1]["planning_slo"] != {"ttft_ms": slo.ttft_ms, "tpot_ms": slo.tpot_ms}:
        chosen.summary["planning_slo"] = log[-1]["planning_slo"]  # what the chosen fleet was planned under
        chosen.summary["slo"] = {**chosen.summary["slo"], "ttft_ms": slo.ttft_ms, "tpot_ms": slo.tpot_ms}
    chosen.summary["verification"] = {
        "rounds": log, "verified": bool(log and log[-1]["meets_slos"]), "note": note,
        "changed_plan": bool(first and chosen.summary["cost_usd_per_hr"] != first["cost_usd_per_hr"]),
        "extra_cost_usd_per_hr": (chosen.summary["cost_usd_per_hr"] - first["cost_usd_per_hr"]) if first else 0.0,
    }
    return chosen
