"""Why this architecture: re-solve the same program with each other allowed mode forced alone, and the
scenario without speculative decoding, and report each alternative's cost (or rate) against the chosen
fleet (summary keys `alternatives` and `why`; docs/milp.md, docs/axes.md).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from planner.errors import InfeasibleError
from planner.optimize import milp
from planner.optimize.prepare import Prepared
from planner.optimize.program import prepare_any, solve_prepared
from planner.optimize.prune import MODE_ROLES
from planner.optimize.results import SolveResult


def _variants(prep: Prepared) -> list[tuple[str, tuple[str, ...], np.ndarray]]:
    """(label, modes, row mask) of every architecture the chosen one is compared with: each allowed mode
    alone, and, where speculative rows exist, every mode without speculation."""
    t = prep.table
    role = t["role"].astype(str).to_numpy()
    # draft instances (speculative.placement: pool) feed the P/D decode pool
    return [(mo, (mo,), np.isin(role, MODE_ROLES[mo] + (("draft",) if mo == "disaggregated" else ())))
            for mo in prep.modes] if len(prep.modes) > 1 else []


def explain(prep: Prepared, res: SolveResult, *, time_limit_s: float, mip_gap: float) -> tuple[list[dict], str]:
    """Re-solve with each other architecture forced (the same table and limits, fewer rows; the programs are
    small) and report its cost or rate against the chosen fleet: why this architecture."""
    chosen = res.summary
    key = "cost_usd_per_hr" if prep.objective == "min-cost" else "throughput_rps"
    alts = []
    for label, modes, mask in _variants(prep):
        if not mask.any() or modes == (chosen["mode"],):  # the chosen architecture is not its own alternative
            continue
        t = prep.table[mask].reset_index(drop=True)
        roles = set(t["role"].astype(str))
        if any(not (set(MODE_ROLES[mo]) <= roles) for mo in modes):
            alts.append({"architecture": label, "status": "no candidates", key: None, "delta": None})
            continue
        spec = dataclasses.replace(prep.spec, modes=modes)
        fm = milp.build(t, spec)
        st = milp.solve(fm, time_limit_s=time_limit_s, mip_gap=mip_gap)
        if not st.has_solution or (prep.objective == "max-throughput" and milp.value(fm, "lam") <= 1e-9):
            alts.append({"architecture": label, "status": "infeasible", key: None, "delta": None})
            continue
        x = milp.counts(fm)
        val = float(x @ t["cost_usd_per_hr"].to_numpy()) if key == "cost_usd_per_hr" else milp.value(fm, "lam")
        alts.append({"architecture": label, "status": st.status, key: val, "delta": val - chosen[key],
                     "num_chips": int(x @ t["chips_per_instance"].to_numpy())})
    sc = prep.scenario
    if sc.speculative is not None:  # the same scenario without speculative decoding (its own pruning)
        plain = sc.model_copy(update={"speculative": None})
        try:
            p2 = prepare_any(plain, catalogs=prep.catalogs, margin=prep.margin, objective=prep.objective)
            r2 = solve_prepared(p2, time_limit_s=time_limit_s, mip_gap=mip_gap)
            val = r2.summary[key]
            alts.append({"architecture": f"no speculation ({r2.summary['architecture']})", "status": r2.summary["status"],
                         key: val, "delta": val - chosen[key], "num_chips": r2.summary["num_chips"]})
        except InfeasibleError:
            alts.append({"architecture": "no speculation", "status": "infeasible", key: None, "delta": None})
    unit = "$/h" if key == "cost_usd_per_hr" else "requests/s"
    parts = []
    for a in alts:
        if a["delta"] is None:
            parts.append(f"{a['architecture']}: {a['status']}")
        elif abs(a["delta"]) <= 1e-9 * max(abs(chosen[key]), 1.0):
            parts.append(f"{a['architecture']}: the same {unit}")
        else:
            rel = a["delta"] / chosen[key] if chosen[key] else float("nan")
            word = ("dearer" if a["delta"] > 0 else "cheaper") if key == "cost_usd_per_hr" else ("more" if a["delta"] > 0 else "less")
            parts.append(f"{a['architecture']}: {abs(a['delta']):.4g} {unit} {word} ({rel:+.1%})")
    why = f"chosen: {chosen['architecture']}; alternatives forced: " + "; ".join(parts) if parts else "only one architecture allowed"
    if chosen["status"] != "optimal":  # a time-limited or within-gap answer may be beaten by an alternative
        gap = chosen.get("mip_gap")
        why += (f" (the chosen fleet is not proven optimal: status {chosen['status']}"
                + (f", gap {gap:.1%}" if gap is not None else "") + "; an alternative can come out cheaper)")
    return alts, why
