"""A plan over periods checked in simulation: every period's pools of every model simulated at that period's rate
with the serving model (planner.serving.fleet), and the SLO attainment reported per period.

Each period is simulated on its own (steady state at its planned rate, Poisson arrivals): the hand-over between
periods (instances starting and draining) is not simulated. Periods with the same pools and rate are simulated
once. Models with several traffic classes are not simulated yet (the fleet simulator takes one class).
"""

from __future__ import annotations

import pandas as pd

from planner.errors import PlannerError
from planner.serving.fleet import simulate_fleet

SIGNATURE = ["role", "chip", "instances", "tp", "ep", "pp", "dp", "batch"]


def verify_schedule(sc, plan, *, requests: int = 1000, seed: int = 0, catalogs=()) -> dict:
    """Per period and model: simulated TTFT at the SLO's percentile, median TPOT and SLO attainment; `holds` when
    every simulated period meets both SLOs. `plan` is a planner.optimize.schedule.PeriodPlan of `sc`."""
    scenarios = dict(sc.model_scenarios())
    sched = plan.schedule
    rows, notes, cache = [], [], {}
    for p in plan.summary["periods"]:
        for model, rate in p["rate_rps_by_model"].items():
            msc = scenarios[model]
            pools = sched[(sched["period"] == p["period"]) & (sched["model"] == model)]
            if rate <= 0 or not len(pools):
                continue
            if msc.classes is not None:
                notes.append(f"{model}: several traffic classes, not simulated")
                break
            key = (model, rate, tuple(map(tuple, pools[SIGNATURE].astype(str).to_numpy())))
            if key not in cache:
                one = msc.model_copy(update={"demand": None, "workload": msc.workload.model_copy(
                    update={"arrival_rate_rps": rate})})
                try:
                    cache[key] = simulate_fleet(one, pools.reset_index(drop=True), requests=requests, seed=seed,
                                                catalogs=catalogs).summary
                except PlannerError as exc:
                    cache[key] = {"error": str(exc).splitlines()[0]}
            s = cache[key]
            if "error" in s:
                notes.append(f"period {p['period']}, {model}: {s['error']}")
                continue
            rows.append({"period": p["period"], "model": model, "rate_rps": rate,
                         "ttft_ms": s["ttft_ms_at_slo_percentile"], "tpot_ms_p50": s["tpot_ms_p50"],
                         "slo_attainment": s["slo_attainment"], "meets_ttft_slo": bool(s["meets_ttft_slo"]),
                         "meets_tpot_slo": bool(s["meets_tpot_slo"]),
                         "planned_ttft_ms": p["ttft_ms"], "planned_tpot_ms": p["tpot_ms"]})
    df = pd.DataFrame(rows)
    failing = sorted({int(r["period"]) for r in rows if not (r["meets_ttft_slo"] and r["meets_tpot_slo"])})
    return {"periods": rows, "holds": bool(rows) and not failing, "failing_periods": failing,
            "min_slo_attainment": float(df["slo_attainment"].min()) if len(df) else None,
            "simulated_periods": int(df["period"].nunique()) if len(df) else 0, "requests_per_period": requests,
            "notes": list(dict.fromkeys(notes)),
            "method": "each period simulated alone at its planned rate (Poisson arrivals, serving model); the "
                      "hand-over between periods is not simulated"}
