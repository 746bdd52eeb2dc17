"""Verify a plan by simulation and close the loop (`planner solve --verify`): simulate the chosen fleet with the
serving model (planner.serving.fleet); while a simulated figure breaks its SLO, plan again under a tighter SLO —
the TTFT the fleet was planned at (or the planning SLO, if lower) less the simulated excess, the TPOT SLO scaled
by SLO / simulated — which tightens the queueing caps and the candidates' filters of the pools that broke it, up
to `rounds` times; a plan for several traffic classes tightens each class that broke its own SLOs. Where the
fleet already plans a TTFT inside the tightened one, a tighter TTFT cannot move it: its aggregated pools hold
requests longer than planned (queueing the plan's M/D/c does not see), so the next plan also takes that much less
capacity per instance (Little's law: the simulated time in system over the planned one, `_time_in_system_ratio`).
The simulation always scores against the scenario's own SLOs."""

from __future__ import annotations

import math

import numpy as np

from planner.errors import InfeasibleError, PlannerError
from planner.inputs.scenario import Scenario
from planner.optimize.prepare import resolve_margin
from planner.optimize.results import SolveResult
from planner.optimize.solve import solve_scenario
from planner.serving.fleet import simulate_fleet

MIN_PLANNING_FRACTION = 0.2  # never plan under less than this share of the user's SLO


def _class_results(sim) -> dict[str, dict]:
    """Each class's simulated figures (one 'default' class for a one-class plan)."""
    s = sim.summary
    return s["classes"] if "classes" in s else {"default": s}


def _user_slos(sc: Scenario) -> dict[str, dict]:
    return {name: {"ttft_ms": one.slo.ttft_ms, "tpot_ms": one.slo.tpot_ms} for name, one in sc.class_scenarios()}


def _with_slos(sc: Scenario, planning: dict[str, dict]) -> Scenario:
    """The scenario planned under these SLOs (per class when it has classes)."""
    if sc.classes is None:
        return sc.model_copy(update={"slo": sc.slo.model_copy(update=planning["default"])})
    return sc.model_copy(update={"classes": [c.model_copy(update={"slo": (c.slo or sc.slo).model_copy(
        update=planning[c.name])}) for c in sc.classes]})


def _flat(planning: dict[str, dict]) -> dict:
    return planning["default"] if list(planning) == ["default"] else planning


def _planned_ttft(res: SolveResult) -> dict[str, float]:
    """The plan's own TTFT per class (at the SLO's percentile, margin included), where it states one."""
    recs = res.summary.get("classes") or [{"class": "default", "ttft_ms": res.summary.get("ttft_ms")}]
    return {r["class"]: float(r["ttft_ms"]) for r in recs
            if r.get("ttft_ms") is not None and math.isfinite(float(r["ttft_ms"]))}


def _time_in_system_ratio(sc: Scenario, res: SolveResult, sim, name: str) -> float:
    """Mean time in system (arrival to last token) of the class's requests served by aggregated pools, simulated
    over planned (each pool's TTFT + (OSL − 1) · TPOT, margins included, weighted by its load); 1 without such
    pools. By Little's law the ratio is how many more requests an instance holds than the plan's queue assumed."""
    pools = res.pools[res.pools["role"].eq("aggregated") & (res.pools["load_rps"] > 0)]
    if sc.classes is not None:
        pools = pools[pools["class"].astype(str).eq(name)]
    req = sim.requests
    mine = req["group"].astype(str).str.contains("aggregated", regex=False).to_numpy()
    if "class" in req:
        mine &= req["class"].astype(str).eq(name).to_numpy()
    if pools.empty or not mine.any():
        return 1.0
    osl = dict(sc.class_scenarios())[name].workload.osl
    load = pools["load_rps"].to_numpy(float)
    planned_s = float(np.average(pools["ttft_ms"].to_numpy(float) / 1e3
                                 + (osl - 1) * pools["tpot_ms"].to_numpy(float) / 1e3, weights=load))
    w = sim.weights[mine] if sim.weights is not None else None
    simulated_s = float(np.average((req["end_s"] - req["arrival_s"]).to_numpy(float)[mine], weights=w))
    return max(simulated_s / planned_s, 1.0)


def _round(res: SolveResult, sim, planning: dict[str, dict]) -> dict:
    s = sim.summary
    out = {"planning_slo": _flat({k: dict(v) for k, v in planning.items()}),
           "cost_usd_per_hr": res.summary["cost_usd_per_hr"], "num_chips": res.summary["num_chips"],
           "planned_ttft_ms": res.summary["ttft_ms"], "planned_tpot_ms": res.summary["tpot_ms"],
           "simulated_ttft_ms": s["ttft_ms_at_slo_percentile"], "simulated_tpot_ms": s["tpot_ms_p50"],
           "capacity_margin": res.summary["margin"]["capacity"],
           "slo_attainment": s["slo_attainment"], "meets_slos": bool(s["meets_ttft_slo"] and s["meets_tpot_slo"])}
    if "classes" in s:
        out["classes"] = {n: {"simulated_ttft_ms": c["ttft_ms_at_slo_percentile"], "simulated_tpot_ms": c["tpot_ms_p50"],
                              "meets_slos": bool(c["meets_ttft_slo"] and c["meets_tpot_slo"])}
                          for n, c in s["classes"].items()}
    return out


def solve_verified(sc: Scenario, *, rounds: int = 3, requests: int = 3000, seed: int = 0, **solve_kw) -> SolveResult:
    """solve_scenario, then the simulate-and-tighten loop (each traffic class under its own SLOs); the result's
    summary gains `verification`."""
    res = solve_scenario(sc, **solve_kw)
    user = _user_slos(sc)
    planning = {k: dict(v) for k, v in user.items()}
    rest = {k: v for k, v in solve_kw.items() if k != "margin"}
    margin, factor = solve_kw.get("margin"), 1.0  # the first plan's margins until the simulation asks for less capacity
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
        planned, longer = _planned_ttft(res), 1.0
        for name, c in _class_results(sim).items():
            slo, plan = user[name], planning[name]
            if slo["ttft_ms"] is not None and not c["meets_ttft_slo"]:
                # below what this fleet was planned at, less the excess: a plan well inside its planning SLO
                # would otherwise come back unchanged round after round
                excess = c["ttft_ms_at_slo_percentile"] - slo["ttft_ms"]
                now = min(plan["ttft_ms"], planned.get(name, plan["ttft_ms"]))
                plan["ttft_ms"] = max(now - excess, MIN_PLANNING_FRACTION * slo["ttft_ms"])
                if planned.get(name, math.inf) <= plan["ttft_ms"]:  # a tighter TTFT cannot move this fleet
                    longer = max(longer, _time_in_system_ratio(sc, res, sim, name))
            if slo["tpot_ms"] is not None and not c["meets_tpot_slo"]:
                plan["tpot_ms"] = max(plan["tpot_ms"] * slo["tpot_ms"] / c["tpot_ms_p50"],
                                      MIN_PLANNING_FRACTION * slo["tpot_ms"])
        factor *= longer
        if factor > 1.0:
            margin = resolve_margin(sc, solve_kw.get("margin")).with_capacity_factor(
                factor, f"capacity / {factor:.3f} more (time in system simulated / planned)")
        try:
            res = solve_scenario(_with_slos(sc, planning), **rest, margin=margin)
        except InfeasibleError as exc:
            note = (f"no fleet meets the tighter planning SLOs {_flat(planning)} the simulation asks for: "
                    f"{str(exc).splitlines()[0]}")
            break
    first = log[0] if log else None
    if log and log[-1]["planning_slo"] != _flat(user):
        chosen.summary["planning_slo"] = log[-1]["planning_slo"]  # what the chosen fleet was planned under
        if sc.classes is None:
            slo = sc.slo
            chosen.summary["slo"] = {**chosen.summary["slo"], "ttft_ms": slo.ttft_ms, "tpot_ms": slo.tpot_ms}
        else:  # each class's record shows the user's SLO, not the one it was planned under
            for rec in chosen.summary.get("classes") or []:
                if rec.get("class") in user:
                    rec["slo"] = dict(user[rec["class"]])
    chosen.summary["verification"] = {
        "rounds": log, "verified": bool(log and log[-1]["meets_slos"]), "note": note,
        "changed_plan": bool(first and chosen.summary["cost_usd_per_hr"] != first["cost_usd_per_hr"]),
        "extra_cost_usd_per_hr": (chosen.summary["cost_usd_per_hr"] - first["cost_usd_per_hr"]) if first else 0.0,
    }
    return chosen
