"""The optimizer pipeline: scenario -> coefficients -> prune -> MILP -> result (or a diagnosed InfeasibleError).

`solve_scenario` is the one entry point (CLI, batch sweeps, tests). `prepare` and `extract` are shared with
planner.pareto, which re-solves one persistent model.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import milp
from .chips import load_catalog
from .coefficients import CoefficientCache, scenario_coefficients
from .errors import InfeasibleError, PlannerError
from .prune import MODE_ROLES, Pruned, PruneSettings, prune
from .queueing import SCV, wait_quantile_s
from .scenario import Scenario, check_references, require_limits
from .uncertainty import default_margin, error_band

POOL_COLUMNS = [
    "role", "chip", "instances", "chips_per_instance", "tp", "ep", "pp", "dp", "batch", "ttft_ms", "tpot_ms",
    "capacity_rps", "load_rps", "utilization", "max_utilization", "cost_usd_per_hr", "power_kw", "kv_transfer_ms",
]
TIGHT_SLO = 0.05  # an SLO with less headroom than this is reported as tight
QUEUE_TEXT = {
    "md-c": "M/D/c per instance (Erlang C wait probability, deterministic-service tail), Poisson arrivals",
    "erlang-c": "M/M/c per instance (Erlang C), Poisson arrivals",
}


@dataclass
class Prepared:
    """Everything the MILP needs, computed once per scenario (and reused by every Pareto point)."""

    scenario: Scenario
    objective: str
    margin: float
    settings: PruneSettings
    pruned: Pruned
    spec: milp.MilpSpec
    modes: tuple[str, ...]  # modes with candidates left
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    class_scenarios: dict[str, Scenario] | None = None  # several traffic classes (planner.traffic)

    def classes(self) -> dict[str | None, Scenario]:
        """Traffic class -> its single-class scenario ({None: scenario} for one class)."""
        return dict(self.class_scenarios) if self.class_scenarios else {None: self.scenario}

    @property
    def table(self) -> pd.DataFrame:
        return self.pruned.table


@dataclass
class SolveResult:
    """Picklable: a plain-dict summary (the JSON keys), the pools table and the constraint report."""

    summary: dict
    pools: pd.DataFrame
    constraints: pd.DataFrame


# ---------------------------------------------------------------- preparation


def resolve_margin(sc: Scenario, margin: float | None) -> float:
    if margin is not None:
        return float(margin)
    return float(sc.margin) if sc.margin is not None else float(default_margin())


def _settings(sc: Scenario, margin: float, keep_tpot_front: bool) -> PruneSettings:
    return PruneSettings(
        modes=tuple(sc.modes), ttft_slo_ms=sc.slo.ttft_ms, tpot_slo_ms=sc.slo.tpot_ms,
        percentile=sc.slo.ttft_percentile, margin=margin, queueing=sc.queueing.model,
        kv_overlap=sc.kv_transfer.overlap, isl=float(sc.workload.isl), keep_tpot_front=keep_tpot_front,
    )


def _role_empty(t: pd.DataFrame, role: str) -> bool:
    return not (t["role"].astype(str) == role).any()


def _no_candidates_error(sc: Scenario, p: Pruned, margin: float) -> InfeasibleError:
    """Which SLO (or memory) rules out every mode, with the nearest feasible value."""
    d = p.diagnostics
    note = f" (margin {margin:.0%} applied)" if margin else ""
    if len(d.get("chips_without_fit", [])) == len(sc.chips):
        return InfeasibleError(
            f"{sc.model} does not fit on any offered chip with up to {sc.search.max_chips_per_instance} chips per "
            f"instance in {sc.precision.weights}", field="chips",
            hint="offer larger chips, raise search.max_chips_per_instance, or use a smaller precision.weights",
        )
    reasons: list[tuple[str, str, str]] = []  # (field, message, hint)
    for mode in sc.modes:
        roles = MODE_ROLES[mode]
        for r in roles:
            if not _role_empty(p.table, r):
                continue
            if r in ("decode", "aggregated") and sc.slo.tpot_ms is not None:
                best = d.get(f"best_tpot_ms_{r}")
                if best and best[0] > sc.slo.tpot_ms:
                    reasons.append(("slo.tpot_ms", f"no {r} candidate meets slo.tpot_ms={sc.slo.tpot_ms:g}: the lowest "
                                    f"TPOT these chips reach is {best[0]:.3g} ms on {best[1]}{note}",
                                    f"raise slo.tpot_ms to at least {math.ceil(best[0] * 100) / 100:g}, or offer faster chips"))
                    continue
            if r in ("prefill", "aggregated") and sc.slo.ttft_ms is not None:
                best = d.get(f"best_ttft_ms_{r}")
                what = "prefill service + KV transfer" if r == "prefill" else "chunked-prefill TTFT"
                if best:
                    reasons.append(("slo.ttft_ms", f"no {r} candidate meets slo.ttft_ms={sc.slo.ttft_ms:g} at p"
                                    f"{sc.slo.ttft_percentile:g}: the lowest {what} is {best[0]:.3g} ms on {best[1]}{note}, "
                                    "before any queueing", f"raise slo.ttft_ms above {best[0]:.4g}"))
                    continue
            reasons.append(("chips", f"no {r} candidate fits in memory", "offer larger chips"))
    if not reasons:
        reasons.append(("modes", "no mode has candidates", "allow both modes"))
    field_, _, hint = reasons[0]
    msg = "no fleet can meet the SLO: " + "; ".join(dict.fromkeys(m for _, m, _ in reasons))
    return InfeasibleError(msg, field=field_, hint=hint)


def _dtype_notes(sc: Scenario, catalogs) -> list[str]:
    """Chips without the weights dtype offer no candidates: a note, or an error when no chip has it."""
    cat = load_catalog(tuple(str(c) for c in catalogs))
    w = sc.precision.weights
    lacking = [c.id for c in sc.chips if not cat[c.id].supports(w)]
    if len(lacking) == len(sc.chips):
        have = sorted({d for c in sc.chips for d in cat[c.id].peak_tflops})
        raise PlannerError(f"no offered chip supports {w} weights ({', '.join(lacking)})", field="precision.weights",
                           hint=f"use one of {have}, or offer chips with {w}")
    return [f"{c} has no {w} support: not used" for c in lacking]


def prepare(sc: Scenario, *, catalogs=(), margin: float | None = None, cache: CoefficientCache | None = None,
            objective: str | None = None, keep_tpot_front: bool = False) -> Prepared:
    """Coefficients, pruning and the MILP data for a scenario; InfeasibleError when no candidate is left."""
    t0 = time.perf_counter()
    objective = objective or sc.objective
    if objective == "max-throughput":
        require_limits(sc)
    check_references(sc, catalogs)
    notes = _dtype_notes(sc, catalogs)
    m = resolve_margin(sc, margin)
    coeffs = scenario_coefficients(sc, catalogs, cache)
    t1 = time.perf_counter()
    settings = _settings(sc, m, keep_tpot_front)
    p = prune(coeffs, settings)
    if "afd" in sc.modes:  # attention/FFN rows come from planner.afd (their own cadence-wise selection)
        from .afd import afd_table

        extra = afd_table(sc, catalogs, m)
        if len(extra):
            p = Pruned(table=pd.concat([p.table, extra], ignore_index=True), counts=p.counts, diagnostics=p.diagnostics)
            p.counts["kept"].update(extra["role"].value_counts().to_dict())
        else:
            notes.append("mode afd: no attention/FFN pairing meets the TPOT SLO (or the model is dense)")
    t2 = time.perf_counter()
    modes = tuple(mo for mo in sc.modes if not any(_role_empty(p.table, r) for r in MODE_ROLES[mo]))
    if not modes:
        raise _no_candidates_error(sc, p, m)
    roles = [r for mo in modes for r in MODE_ROLES[mo]]
    table = p.table[p.table["role"].astype(str).isin(roles).to_numpy()].reset_index(drop=True)
    p = Pruned(table=table, counts=p.counts, diagnostics=p.diagnostics)
    kv_bytes = float(sc.workload.isl * coeffs["kv_bytes_per_token"].iloc[0]) if len(coeffs) else 0.0
    spec = milp.MilpSpec(
        modes=modes, rate_min=sc.workload.arrival_rate_rps if objective == "min-cost" else None,
        budget_usd_per_hr=sc.budget_usd_per_hr, max_chips=sc.max_chips, max_power_kw=sc.max_power_kw,
        inventory={c.id: c.max_count for c in sc.chips if c.max_count is not None},
        kv_gb_per_request=kv_bytes / 1e9, objective=objective,
    )
    notes += [f"mode {mo} left out: no candidate meets the SLO" for mo in sc.modes if mo not in modes]
    return Prepared(sc, objective, m, settings, p, spec, modes, {"coefficients_s": t1 - t0, "prune_s": t2 - t1}, notes)


# ---------------------------------------------------------------- results


def _limits_text(spec: milp.MilpSpec) -> str:
    parts = []
    if spec.budget_usd_per_hr is not None:
        parts.append(f"budget_usd_per_hr={spec.budget_usd_per_hr:g}")
    if spec.max_chips is not None:
        parts.append(f"max_chips={spec.max_chips}")
    if spec.max_power_kw is not None:
        parts.append(f"max_power_kw={spec.max_power_kw:g}")
    parts += [f"{k} max_count={v}" for k, v in spec.inventory.items()]
    return ", ".join(parts) or "no limits"


ROLE_ORDER = {"prefill": 0, "decode": 1, "aggregated": 2, "attention": 3, "ffn": 4}


def _loads(fm: milp.FleetModel, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Load (requests/s) per candidate row, spread within a (class, role) in proportion to effective
    capacity; for FFN rows the share of their token capacity the attention pool of their cadence uses."""
    t = fm.table
    role = t["role"].astype(str).to_numpy()
    cls_col = t["class"].astype(str).to_numpy() if "class" in t else np.full(len(t), "default")
    eff_pool = t["eff_capacity_rps"].to_numpy() * x
    load = np.zeros(len(t))
    ffn_use = np.zeros(len(t))
    for cls in fm.spec.class_names():
        sel_c = cls_col == (cls if cls is not None else cls_col[0] if len(t) else "")
        if cls is None:
            sel_c = np.ones(len(t), bool)
        v = {p: milp.value(fm, milp.PATHS[p] + ("" if cls is None else f"__{cls}")) for p in milp.PATHS}
        lam = {"prefill": v["disaggregated"] + v["afd"], "decode": v["disaggregated"], "aggregated": v["aggregated"],
               "attention": v["afd"]}
        for r, lr in lam.items():
            sel = sel_c & (role == r)
            tot = eff_pool[sel].sum()
            if tot > 0:
                load[sel] = lr * eff_pool[sel] / tot
        if "afd_level" in t:
            lev = t["afd_level"].astype(str).to_numpy()
            tok = t["ffn_tokens"].to_numpy() * x
            for level in set(lev[sel_c & (role == "ffn")]):
                f = sel_c & (role == "ffn") & (lev == level)
                a = sel_c & (role == "attention") & (lev == level)
                if tok[f].sum() > 0:
                    ffn_use[f] = tok[a].sum() / tok[f].sum()
    return load, ffn_use


def pools_frame(prep: Prepared, fm: milp.FleetModel, x: np.ndarray) -> pd.DataFrame:
    """One row per candidate with instances > 0; load split within a role in proportion to effective capacity."""
    t = fm.table
    used = x > 0
    role = t["role"].astype(str).to_numpy()
    load, ffn_use = _loads(fm, x)
    cap_pool = t["capacity_rps"].to_numpy() * x
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(cap_pool > 0, load / cap_pool, 0.0)
    util = np.where(role == "ffn", ffn_use, util)
    s = prep.settings
    wait = wait_quantile_s(t["hold_s"].to_numpy(), t["servers"].to_numpy(), np.minimum(util, 1.0), s.percentile,
                           SCV[s.queueing])
    wait = np.where(np.isin(role, ("attention", "ffn")), 0.0, wait)
    ttft = np.where(np.isin(role, ("prefill", "aggregated")),
                    t["ttft_ms"].to_numpy() + t["kv_transfer_ms"].to_numpy() + wait * 1e3, np.nan)
    n = len(t)

    def col(name, default):
        return t[name].to_numpy() if name in t else np.full(n, default)

    df = pd.DataFrame({
        "role": role, "chip": t["chip"].astype(str).to_numpy(), "instances": x,
        "chips_per_instance": t["chips_per_instance"].to_numpy(),
        "tp": t["tp"].to_numpy(), "ep": t["ep"].to_numpy(), "pp": t["pp"].to_numpy(), "dp": t["dp"].to_numpy(),
        "batch": t["batch"].to_numpy().astype(np.int64), "ttft_ms": ttft, "tpot_ms": t["tpot_ms"].to_numpy(),
        "capacity_rps": cap_pool, "load_rps": load, "utilization": util,
        "max_utilization": t["max_utilization"].to_numpy(), "cost_usd_per_hr": t["cost_usd_per_hr"].to_numpy() * x,
        "power_kw": t["power_w"].to_numpy() * x / 1e3, "kv_transfer_ms": t["kv_transfer_ms"].to_numpy(),
        "class": np.asarray(col("class", "default")).astype(str),
        "spec_tokens": np.nan_to_num(np.asarray(col("spec_tokens", 0), float)).astype(np.int64),
        "afd_level": np.asarray(pd.Series(col("afd_level", "")).fillna("").astype(str)),
    })[used]
    df = df.assign(_o=df["role"].map(ROLE_ORDER)).sort_values(["class", "_o", "chip", "chips_per_instance"]).drop(columns="_o")
    return df[POOL_COLUMNS + ["class", "spec_tokens", "afd_level"]].reset_index(drop=True)


def architecture(pools: pd.DataFrame, rates: dict[str, float], tol: float) -> str:
    """Words for what serves a class: aggregated / P-D disaggregated / AFD, and speculation gamma."""
    names = {"aggregated": "aggregated", "disaggregated": "P/D disaggregated", "afd": "P/D + attention/FFN disaggregated decode"}
    used = [names[p] for p in ("aggregated", "disaggregated", "afd") if rates.get(p, 0.0) > tol]
    text = " + ".join(used) if used else "none"
    g = sorted({int(v) for v in pools.loc[pools["role"].isin(["decode", "aggregated"]), "spec_tokens"] if v > 0})
    if g:
        text += " with speculative decoding gamma=" + "/".join(map(str, g))
    return text


def _mode_of(rates: dict[str, float], tol: float) -> str:
    used = [p for p in ("aggregated", "disaggregated", "afd") if rates.get(p, 0.0) > tol]
    return used[0] if len(used) == 1 else ("mixed" if used else "none")


def pool_error_bands(pools: pd.DataFrame, model_id: str) -> list[dict]:
    """For each (role, chip) in the plan, the band of measured/predicted throughput on comparable validated
    rows (uncertainty.error_band): how far real capacity may sit from the engine's figure."""
    out = []
    for role, chip in pools[["role", "chip"]].drop_duplicates().itertuples(index=False):
        band = error_band(str(role), str(chip), model_id)
        out.append({"role": str(role), "chip": str(chip), **band})
    return out


def extract(prep: Prepared, fm: milp.FleetModel, st: milp.SolveStatus) -> SolveResult:
    """Summary dict (JSON keys), pools and constraint report of the loaded solution."""
    sc = prep.scenario
    x = milp.counts(fm)
    pools = pools_frame(prep, fm, x)
    cons = milp.constraint_report(fm)
    lam = max(milp.value(fm, "lam"), 0.0)
    tol = 1e-9 * max(lam, 1.0)
    per_class = {}
    totals = dict.fromkeys(milp.PATHS, 0.0)
    for cls, csc in prep.classes().items():
        rates = {p: milp.value(fm, v + ("" if cls is None else f"__{cls}")) for p, v in milp.PATHS.items()}
        rates = {p: (r if r > tol else 0.0) for p, r in rates.items()}
        for p, r in rates.items():
            totals[p] += r
        cp = pools[pools["class"] == (cls or "default")] if cls is not None else pools
        per_class[cls or "default"] = {"rates": rates, "scenario": csc, "pools": cp}
    lam_agg, lam_dis, lam_afd = totals["aggregated"], totals["disaggregated"], totals["afd"]
    mode = _mode_of(totals, tol)
    cost = float(pools["cost_usd_per_hr"].sum())
    ttft = float(pools["ttft_ms"].max()) if pools["ttft_ms"].notna().any() else float("nan")
    tpot = float(pools["tpot_ms"].max()) if pools["tpot_ms"].notna().any() else float("nan")
    headroom: dict[str, float] = {}
    for v in per_class.values():  # the least headroom over the classes, each against its own SLO
        cp, cslo = v["pools"], v["scenario"].slo
        for k, slo in (("ttft_ms", cslo.ttft_ms), ("tpot_ms", cslo.tpot_ms)):
            val = float(cp[k].max()) if cp[k].notna().any() else float("nan")
            if slo is not None and math.isfinite(val):
                headroom[k] = min(headroom.get(k, math.inf), (slo - val) / slo)
    out_tok_s = sum(sum(v["rates"].values()) * v["scenario"].workload.osl for v in per_class.values())
    classes_out = []
    if prep.class_scenarios:
        for name, v in per_class.items():
            cp, csc = v["pools"], v["scenario"]
            c_rate = sum(v["rates"].values())
            c_ttft = float(cp["ttft_ms"].max()) if cp["ttft_ms"].notna().any() else None
            c_tpot = float(cp["tpot_ms"].max()) if cp["tpot_ms"].notna().any() else None
            classes_out.append({
                "class": name, "arrival_rate_rps": csc.workload.arrival_rate_rps, "throughput_rps": c_rate,
                "mode": _mode_of(v["rates"], tol), "architecture": architecture(cp, v["rates"], tol),
                "isl": csc.workload.isl, "osl": csc.workload.osl,
                "cost_usd_per_hr": float(cp["cost_usd_per_hr"].sum()),
                "num_chips": int(cp["instances"].mul(cp["chips_per_instance"]).sum()),
                "ttft_ms": c_ttft, "tpot_ms": c_tpot, "slo": {"ttft_ms": csc.slo.ttft_ms, "tpot_ms": csc.slo.tpot_ms},
            })
    kv_gb = prep.spec.kv_gb_per_request
    summary = {
        "scenario": sc.name, "model": sc.model, "objective": prep.objective,
        "status": st.status, "termination": st.termination, "solve_s": st.solve_s,
        "mip_gap": st.mip_gap if st.mip_gap is None or st.mip_gap > 1e-12 else 0.0,
        "mode": mode, "architecture": architecture(pools, totals, tol), "margin": prep.margin,
        "cost_usd_per_hr": cost, "num_chips": int(pools["instances"].mul(pools["chips_per_instance"]).sum()),
        "throughput_rps": lam, "throughput_aggregated_rps": lam_agg, "throughput_disaggregated_rps": lam_dis,
        "throughput_afd_rps": lam_afd,
        "output_tok_s": out_tok_s,
        "cost_usd_per_mtok": cost / (out_tok_s * 3600) * 1e6 if out_tok_s > 0 else None,
        "ttft_ms": ttft, "ttft_percentile": sc.slo.ttft_percentile, "tpot_ms": tpot,
        "tok_s_per_user": 1e3 / tpot if tpot > 0 else None,
        "power_kw": float(pools["power_kw"].sum()),
        "slo": {"ttft_ms": sc.slo.ttft_ms, "tpot_ms": sc.slo.tpot_ms, "ttft_percentile": sc.slo.ttft_percentile},
        "limits": _limits_text(prep.spec),
        "error_band": pool_error_bands(pools, sc.model),
        "binding_constraints": cons.loc[cons["binding"], "constraint"].tolist(),
        "slo_headroom": headroom,  # fraction of each SLO left at the plan's latencies (margin included)
        "tight_slos": [f"slo.{k}" for k, h in headroom.items() if h < TIGHT_SLO],
        "queueing": QUEUE_TEXT[prep.settings.queueing],
        "kv_transfer": {"gb_per_request": kv_gb, "overlapped": prep.settings.kv_overlap},
        "candidates": prep.pruned.counts,
        "timings_s": {**prep.timings, "solve_s": st.solve_s},
        "notes": list(prep.notes),
        "pools": pools.to_dict(orient="records"),
    }
    if classes_out:
        summary["classes"] = classes_out
    return SolveResult(summary=summary, pools=pools, constraints=cons)


# ---------------------------------------------------------------- infeasibility


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


def diagnose_limits(prep: Prepared, fm: milp.FleetModel, time_limit_s: float) -> InfeasibleError:
    """The limits cannot carry the demand: name them, and the highest rate (or the cheapest fleet) they allow."""
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


# ---------------------------------------------------------------- entry point


def solve_prepared(prep: Prepared, *, time_limit_s: float, mip_gap: float) -> SolveResult:
    t0 = time.perf_counter()
    fm = milp.build(prep.table, prep.spec)
    prep.timings["build_s"] = time.perf_counter() - t0
    st = milp.solve(fm, time_limit_s=time_limit_s, mip_gap=mip_gap)
    if st.status == "infeasible":
        raise diagnose_limits(prep, fm, time_limit_s)
    if not st.has_solution:
        raise InfeasibleError(
            f"the solver found no fleet (status {st.status}, {st.termination}) within {time_limit_s:g} s",
            field="solver.time_limit_s", hint="raise solver.time_limit_s or loosen solver.mip_gap",
        )
    if prep.objective == "max-throughput" and milp.value(fm, "lam") <= 1e-9:
        raise diagnose_limits(prep, fm, time_limit_s)
    return extract(prep, fm, st)


def solve_scenario(sc: Scenario, *, catalogs=(), time_limit_s: float | None = None, mip_gap: float | None = None,
                   margin: float | None = None, cache: CoefficientCache | None = None,
                   objective: str | None = None, alternatives: bool = False) -> SolveResult:
    """Cheapest fleet (min-cost) or highest rate within the limits (max-throughput) for a scenario.

    margin: fraction (0.1 = 10%); None takes the scenario's, else uncertainty.default_margin().
    alternatives: also re-solve with every other architecture forced (summary `alternatives` and `why`;
    `planner solve` sets it; batch sweeps leave it off).
    Raises InfeasibleError (exit 1) naming the SLO or limit that binds and the nearest feasible value,
    PlannerError (exit 2) for bad input.
    """
    if sc.classes is not None:
        from .traffic import prepare_classes

        prep = prepare_classes(sc, catalogs=catalogs, margin=margin, cache=cache, objective=objective)
    else:
        prep = prepare(sc, catalogs=catalogs, margin=margin, cache=cache, objective=objective)
    tl = time_limit_s if time_limit_s is not None else sc.solver.time_limit_s
    gap = mip_gap if mip_gap is not None else sc.solver.mip_gap
    res = solve_prepared(prep, time_limit_s=tl, mip_gap=gap)
    if alternatives:
        res.summary["alternatives"], res.summary["why"] = explain(prep, res, time_limit_s=tl, mip_gap=gap)
    return res


# ---------------------------------------------------------------- why this architecture


def _variants(prep: Prepared) -> list[tuple[str, tuple[str, ...], np.ndarray]]:
    """(label, modes, row mask) of every architecture the chosen one is compared with: each allowed mode
    alone, and, where speculative rows exist, every mode without speculation."""
    t = prep.table
    role = t["role"].astype(str).to_numpy()
    return [(mo, (mo,), np.isin(role, MODE_ROLES[mo])) for mo in prep.modes] if len(prep.modes) > 1 else []


def explain(prep: Prepared, res: SolveResult, *, time_limit_s: float, mip_gap: float) -> tuple[list[dict], str]:
    """Re-solve with each other architecture forced (the same table and limits, fewer rows; the programs are
    small) and report its cost or rate against the chosen fleet: why this architecture."""
    import dataclasses

    chosen = res.summary
    key = "cost_usd_per_hr" if prep.objective == "min-cost" else "throughput_rps"
    alts = []
    for label, modes, mask in _variants(prep):
        if not mask.any():
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
            if sc.classes is not None:
                from .traffic import prepare_classes

                p2 = prepare_classes(plain, margin=prep.margin, objective=prep.objective)
            else:
                p2 = prepare(plain, margin=prep.margin, objective=prep.objective)
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
    return alts, why

