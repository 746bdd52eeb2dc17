"""Scenario -> Prepared: coefficients, pruning (planner.optimize.prune) and the MILP data of one scenario.

`prepare` is shared by `planner.optimize.solve` (one solve), `planner.analyses.pareto` (one persistent model, many solves),
`planner.optimize.traffic` (one Prepared per class) and `planner.optimize.alternatives` (re-solves); InfeasibleError when no
candidate is left, naming the SLO or memory limit that rules out every mode.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import pandas as pd

from planner.engine.candidates import checkpoint_fp4_format, dtype_on_chip
from planner.errors import InfeasibleError, PlannerError
from planner.inputs.chips import load_catalog
from planner.inputs.frameworks import (
    framework_name,
    framework_table,
    kv_connector,
    runs_fp4_weight_only,
    runs_on,
    two_batch_overlap,
)
from planner.inputs.models import load_model
from planner.inputs.scenario import Scenario, check_references, require_limits, require_one_period
from planner.optimize import milp
from planner.optimize.axis_rows import afd_table, draft_table
from planner.optimize.coefficients import CoefficientCache, scenario_coefficients
from planner.optimize.prune import MODE_ROLES, Pruned, PruneSettings, prune
from planner.optimize.uncertainty import Margins, planning_margins


@dataclass
class Prepared:
    """Everything the MILP needs, computed once per scenario (and reused by every Pareto point)."""

    scenario: Scenario
    objective: str
    margin: Margins
    settings: PruneSettings
    pruned: Pruned
    spec: milp.MilpSpec
    modes: tuple[str, ...]  # modes with candidates left
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    class_scenarios: dict[str, Scenario] | None = None  # several traffic classes (planner.optimize.traffic)
    catalogs: tuple = ()  # the --catalog overlays it was prepared with (re-solves need them)

    def classes(self) -> dict[str | None, Scenario]:
        """Traffic class -> its single-class scenario ({None: scenario} for one class)."""
        return dict(self.class_scenarios) if self.class_scenarios else {None: self.scenario}

    @property
    def table(self) -> pd.DataFrame:
        return self.pruned.table



def resolve_margin(sc: Scenario, margin: float | Margins | None) -> Margins:
    """The planning margins in force: an explicit one (a fraction for every metric and chip, e.g. `--margin`), else
    the scenario's `margin`, else the held-out margins per metric and chip family (uncertainty.planning_margins)."""
    if isinstance(margin, Margins):
        return margin
    if margin is not None:
        return Margins.uniform(margin, "--margin")
    if sc.margin is not None:
        return Margins.uniform(sc.margin, "scenario margin")
    return planning_margins()


def _settings(sc: Scenario, margin: Margins, keep_tpot_front: bool, pd_same_tp: bool = False) -> PruneSettings:
    return PruneSettings(
        modes=tuple(sc.modes), ttft_slo_ms=sc.slo.ttft_ms, tpot_slo_ms=sc.slo.tpot_ms,
        percentile=sc.slo.ttft_percentile, margin=margin, queueing=sc.queueing.model,
        kv_overlap=sc.kv_transfer.overlap, isl=float(sc.workload.isl), keep_tpot_front=keep_tpot_front,
        pd_same_tp=pd_same_tp,
    )


def _role_empty(t: pd.DataFrame, role: str) -> bool:
    return not (t["role"].astype(str) == role).any()


def _no_candidates_error(sc: Scenario, p: Pruned, margin: Margins) -> InfeasibleError:
    """Which SLO (or memory) rules out every mode, with the nearest feasible value."""
    d = p.diagnostics
    note = f" (margin {margin.text([c.id for c in sc.chips])} applied)" if max(margin.default) > 0 or margin.families else ""
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


def _framework_notes(sc: Scenario, cat) -> list[str]:
    """The framework planned for (and why, when `auto` chose it); chips it does not run offer no candidates: a
    note naming the frameworks that do, or an error naming deploy.framework when it runs none of the chips."""
    fw, why = sc.framework_choice()
    name = framework_name(fw)

    def who_runs(chip: str) -> str:
        others = [framework_name(f) for f in framework_table() if f != fw and runs_on(f, cat[chip].vendor)]
        return f"{' and '.join(others)} run it" if others else "its vendor's own serving stack runs it"
    left_out = [c.id for c in sc.chips if not runs_on(fw, cat[c.id].vendor)]
    if len(left_out) == len(sc.chips):
        able = [f for f in framework_table() if any(runs_on(f, cat[c].vendor) for c in left_out)]
        raise PlannerError(f"{name} runs on none of the chips offered ({', '.join(left_out)})", field="deploy.framework",
                           hint=(f"deploy: {{framework: {able[0]}}} runs some of them" if able else
                                 "these chips run on their vendors' own stacks") + " (catalogs/frameworks.yaml)")
    notes = [f"framework: {why}"] if sc.deploy.framework == "auto" and fw != "trtllm" else []
    notes += [f"{c} is not used: {name} does not run it ({who_runs(c)})" for c in left_out]
    if sc.deploy.two_batch_overlap == "auto":
        tbo = two_batch_overlap(fw)
        notes.append(f"two-batch overlap: {name} {tbo['flag']}, priced for prefill candidates with expert and "
                     "attention data parallelism (taken as a perfect overlap; decode without it, docs/physics.md)"
                     if tbo else f"two-batch overlap: {name} has no such option here, so none is priced "
                     "(deploy.two_batch_overlap: auto applies to SGLang and vLLM)")
    return notes


def kv_connector_rules(sc: Scenario, catalogs) -> tuple[dict[str, str] | None, bool, list[str]]:
    """What the framework's KV connector pairs (catalogs/frameworks.yaml): the chip -> vendor map when prefill may
    hand its KV only to decode pools of its own vendor and the chips offered span several vendors (else None),
    whether every P/D pool must share one TP size (models with linear-attention or SSM layers on vLLM), and
    notes saying so."""
    if "disaggregated" not in sc.modes:
        return None, False, []
    fw = sc.framework
    conn = kv_connector(fw)
    cat = load_catalog(tuple(str(c) for c in catalogs))
    vendor = {c.id: cat[c.id].vendor for c in sc.chips if runs_on(fw, cat[c.id].vendor)}
    notes = []
    by_vendor = None
    if not conn["between_vendors"] and len(set(vendor.values())) > 1:
        by_vendor = vendor
        notes.append(f"KV connector ({framework_name(fw)} {conn['name']}): prefill pools hand their KV only to decode "
                     f"pools of the same vendor ({', '.join(sorted(set(vendor.values())))} paired apart)")
    same_tp = bool(conn["same_tp_for_linear_attention"] and sc.model and load_model(str(sc.model)).linear_attention)
    if same_tp:
        notes.append(f"KV connector ({framework_name(fw)} {conn['name']}): the model's linear-attention (SSM) layers "
                     "need prefill and decode at one TP size, so every P/D pool shares it")
    return by_vendor, same_tp, notes


def _dtype_notes(sc: Scenario, catalogs) -> list[str]:
    """Chips without the weights dtype offer no candidates: a note, or an error when no chip has it."""
    cat = load_catalog(tuple(str(c) for c in catalogs))
    w = sc.precision.weights
    lacking = [c.id for c in sc.chips if dtype_on_chip(w, cat[c.id]) is None]
    if len(lacking) == len(sc.chips):
        have = sorted({d for c in sc.chips for d in cat[c.id].peak_tflops})
        raise PlannerError(f"no offered chip supports {w} weights ({', '.join(lacking)})", field="precision.weights",
                           hint=f"use one of {have}, or offer chips with {w}")
    fw = sc.framework
    fmt = checkpoint_fp4_format(load_model(str(sc.model)), w) if sc.model else None
    weight_only = [c.id for c in sc.chips if c.id not in lacking and dtype_on_chip(w, cat[c.id]) != w]
    blocked = [c for c in weight_only if not runs_fp4_weight_only(fw, cat[c].vendor, fmt)]
    if blocked and len(lacking) + len(blocked) == len(sc.chips):
        raise PlannerError(f"{framework_name(fw)} does not run {fmt.upper()} checkpoints on chips without 4-bit math "
                           f"({', '.join(blocked)})", field="deploy.framework",
                           hint="plan another framework (catalogs/frameworks.yaml, fp4_weight_only), another "
                                "checkpoint (precision.weights), or offer chips with fp4 math")
    notes = [f"{c} has no {w} support: not used" for c in lacking] + _framework_notes(sc, cat)
    notes += [f"{c}: {framework_name(fw)} does not run {fmt.upper()} checkpoints without 4-bit math: not used "
              "(catalogs/frameworks.yaml)" for c in blocked]
    notes += [f"{c} has no {w} math: the 4-bit weights run weight-only (w4a16, 16-bit math)" for c in weight_only
              if c not in blocked]
    if sc.model and load_model(str(sc.model)).vision_encoder:
        notes.append("the checkpoint's vision encoder is not modelled: the plan covers its language model")
    if sc.precision.source:
        notes.append(f"precision: weights {w}, KV {sc.kv_dtype}, from {sc.precision.source} (set precision.weights "
                     "to plan another)")
    return notes


def checked_objective_and_margin(sc: Scenario, catalogs, margin: float | Margins | None,
                                 objective: str | None) -> tuple[str, Margins]:
    """The objective and planning margin in force, after the checks every preparation starts with."""
    require_one_period(sc)
    objective = objective or sc.objective
    if objective == "max-throughput":
        require_limits(sc)
    check_references(sc, catalogs)
    return objective, resolve_margin(sc, margin)


def prepare(sc: Scenario, *, catalogs=(), margin: float | Margins | None = None, cache: CoefficientCache | None = None,
            objective: str | None = None, keep_tpot_front: bool = False, dominance: bool = True) -> Prepared:
    """Coefficients, pruning and the MILP data for a scenario; InfeasibleError when no candidate is left."""
    t0 = time.perf_counter()
    objective, m = checked_objective_and_margin(sc, catalogs, margin, objective)
    notes = _dtype_notes(sc, catalogs)
    coeffs = scenario_coefficients(sc, catalogs, cache)
    t1 = time.perf_counter()
    kv_rules = kv_connector_rules(sc, catalogs)  # (vendor map, one TP size for P/D, notes)
    settings = _settings(sc, m, keep_tpot_front, kv_rules[1])
    if not dominance:  # every SLO-feasible candidate (pools shared by traffic classes prune their own way)
        settings = dataclasses.replace(settings, dominance=False)
    p = prune(coeffs, settings)
    if "afd" in sc.modes:  # attention/FFN rows come from planner.axes.afd (their own cadence-wise selection, planner.optimize.axis_rows)
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
    if "draft_level" in table and (table["draft_level"].astype(str) != "").any():
        drafts = draft_table(sc, catalogs, m)
        if len(drafts):
            table = pd.concat([table, drafts], ignore_index=True)
            p.counts["kept"]["draft"] = len(drafts)
        else:
            notes.append("speculative.placement pool: the draft model fits on no offered chip")
    p = Pruned(table=table, counts=p.counts, diagnostics=p.diagnostics)
    kv_bytes = (float(sc.workload.isl * coeffs["kv_bytes_per_token"].iloc[0] + coeffs["state_bytes_per_request"].iloc[0])
                if len(coeffs) else 0.0)  # the prompt's KV and, for linear-attention hybrids, the state
    kv_vendor, pd_same_tp, kv_notes = kv_rules if "disaggregated" in modes else (None, False, [])
    notes += kv_notes
    spec = milp.MilpSpec(
        modes=modes, rate_min=sc.workload.arrival_rate_rps if objective == "min-cost" else None,
        budget_usd_per_hr=sc.budget_usd_per_hr, max_chips=sc.max_chips, max_power_kw=sc.max_power_kw,
        inventory={c.id: c.max_count for c in sc.chips if c.max_count is not None},
        spare_instances=sc.failure_headroom_instances, max_pools=sc.deploy.max_pools_per_role,
        kv_gb_per_request=kv_bytes / 1e9, objective=objective, kv_vendor=kv_vendor, pd_same_tp=pd_same_tp,
    )
    notes += [f"mode {mo} left out: no candidate meets the SLO" for mo in sc.modes if mo not in modes]
    return Prepared(sc, objective, m, settings, p, spec, modes, {"coefficients_s": t1 - t0, "prune_s": t2 - t1}, notes,
                    catalogs=tuple(catalogs))
