"""Infeasibility diagnosis: the limits cannot carry the demand -> an InfeasibleError naming the limit and the
highest rate (or the cheapest fleet) they allow, found by re-solving the same model (docs/milp.md).
"""

from __future__ import annotations

import math

import numpy as np

from planner.errors import InfeasibleError
from planner.optimize import milp
from planner.optimize.prepare import Prepared
from planner.optimize.results import _limits_text


def _max_rate(fm: milp.FleetModel, time_limit_s: float) -> float | None:
    """The highest rate the limits allow (re-solve of the same model, rate floor lifted)."""
    saved_rate, saved_obj = fm.spec.rate_min, fm.spec.objective
    milp.set_param(fm, "rate_min", None)
    milp.set_objective(fm, "max-throughput")
    st = milp.solve(fm, time_limit_s=time_limit_s, mip_gap=1e-6)
    best = milp.value(fm, "lam") if st.has_solution else None
    milp.set_param(fm, "rate_min", saved_rate)
    milp.set_objective(fm, saved_obj)
    return best


def _cheapest_fleet(fm: milp.FleetModel, time_limit_s: float) -> tuple[float, int, float] | None:
    """($/h, chips, kW) of the cheapest fleet serving any positive rate, limits lifted."""
    saved = {p: getattr(fm.spec, p) for p in milp.PARAMS}
    saved_obj, saved_inv = fm.spec.objective, dict(fm.spec.inventory)
    for p in milp.PARAMS:
        milp.set_param(fm, p, None)
    inv = [fm.m.component(f"{k}-inventory-max") for k in saved_inv]
    for c in inv:
        if c is not None:
            c.deactivate()
    for v in fm.m.x.values():
        v.setub(None)
    milp.set_param(fm, "rate_min", 1e-3)  # any complete fleet
    milp.set_objective(fm, "min-cost")
    st = milp.solve(fm, time_limit_s=time_limit_s, mip_gap=1e-6)
    cost = None
    if st.has_solution:
        x = milp.counts(fm)
        t = fm.table
        cost = (float(x @ t["cost_usd_per_hr"].to_numpy()), int(x @ t["chips_per_instance"].to_numpy()),
                float(x @ t["power_w"].to_numpy()) / 1e3)
    milp.allow(fm, np.ones(len(fm.table), bool))  # restores the bounds from the limits
    for c in inv:
        if c is not None:
            c.activate()
    for p, v in saved.items():
        milp.set_param(fm, p, v)
    milp.set_objective(fm, saved_obj)
    return cost


def _connector_rule(prep: Prepared, fm: milp.FleetModel, time_limit_s: float) -> InfeasibleError | None:
    """When lifting one of the KV connector's pairing rules (add_kv_connector, add_pd_same_tp) makes the plan
    feasible, that rule is what binds: an error saying so, and what would make it feasible."""
    from planner.inputs.frameworks import framework_name, kv_connector

    fw = prep.scenario.framework
    conn = f"{framework_name(fw)}'s KV connector ({kv_connector(fw)['name']})"
    t = fm.table
    role = t["role"].astype(str).to_numpy()
    for family in ("pd_same_tp", "kv_connector"):
        rows = [fm.m.component(n) for n, r in fm.constraints.items() if r.family == family]
        if not rows:
            continue
        was = [c.active for c in rows]
        for c in rows:
            c.deactivate()
        st = milp.solve(fm, time_limit_s=time_limit_s, mip_gap=1e-3, lazy=False)
        for c, on in zip(rows, was, strict=True):
            if on:
                c.activate()
        if not st.has_solution or (prep.objective != "min-cost" and milp.value(fm, "lam") <= 1e-9):
            continue  # lifting the rule does not help (max-throughput: nothing is served either way)
        if family == "pd_same_tp":
            tp = t["tp"].astype(int).to_numpy()
            sizes = {r: sorted(set(tp[role == r].tolist())) for r in ("prefill", "decode")}
            return InfeasibleError(
                f"{conn} pairs prefill and decode of this model (linear-attention layers) only at one TP size, and "
                f"no TP size serves the demand in both roles within the SLOs (prefill candidates at TP "
                f"{sizes['prefill']}, decode at TP {sizes['decode']})", field="deploy.framework",
                hint="plan with deploy.framework: sglang (which pairs different TP sizes), allow the aggregated "
                     "mode, or loosen the SLO that removes the other TP sizes")
        return InfeasibleError(
            f"{conn} pairs prefill and decode pools of one vendor only, and no vendor's chips alone carry the "
            "disaggregated demand within the limits", field="chips",
            hint="offer more chips of one vendor, or allow the aggregated mode")
    return None


def diagnose_limits(prep: Prepared, fm: milp.FleetModel, time_limit_s: float) -> InfeasibleError:
    """The limits cannot carry the demand: name them, and the highest rate (or the cheapest fleet) they allow;
    or the KV connector's pairing rule, when lifting it alone makes the plan feasible."""
    rule = _connector_rule(prep, fm, time_limit_s)
    if rule is not None:
        return rule
    limits = _limits_text(prep.spec)
    best = _max_rate(fm, time_limit_s)
    if best is not None and best > 1e-9 and prep.objective == "min-cost":
        return InfeasibleError(
            f"cannot serve {prep.spec.rate_min:g} requests/s within {limits}: the highest rate these "
            f"limits allow under the SLO is {best:.4g} requests/s",
            field="workload.arrival_rate_rps",
            hint=f"lower workload.arrival_rate_rps to <= {math.floor(best * 1000) / 1000:g}, or raise the limits",
        )
    cheapest = _cheapest_fleet(fm, time_limit_s)
    extra = ""
    if cheapest is not None:
        extra = (f": the cheapest fleet that meets the SLO costs ${cheapest[0]:.4g}/h with {cheapest[1]} chips "
                 f"and {cheapest[2]:.3g} kW")
    field_ = "chips"  # inventory, unless the cheapest fleet breaks a fleet-wide limit
    if cheapest is not None:
        spec = prep.spec
        broken = [name for name, limit, need in (
            ("budget_usd_per_hr", spec.budget_usd_per_hr, cheapest[0]), ("max_chips", spec.max_chips, cheapest[1]),
            ("max_power_kw", spec.max_power_kw, cheapest[2])) if limit is not None and need > limit * (1 + 1e-9)]
        field_ = broken[0] if broken else field_
    return InfeasibleError(f"no fleet fits within {limits}{extra}", field=field_,
                           hint="raise the budget or the chip/power limits, or offer cheaper chips")
