"""A solved fleet model -> SolveResult: the summary (the JSON keys), the pools table and the constraint report.

`extract` reads the loaded MILP solution: per-pool loads, utilizations and TTFT (queueing included), the
architecture in words, per-class records, SLO headroom, error bands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.inputs.models import hf_repo, load_model
from planner.optimize import milp
from planner.optimize.checks import plan_warnings
from planner.optimize.prepare import Prepared
from planner.optimize.queueing import SCV, wait_quantile_s
from planner.optimize.uncertainty import error_band

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
class SolveResult:
    """Picklable: a plain-dict summary (the JSON keys), the pools table and the constraint report."""

    summary: dict
    pools: pd.DataFrame
    constraints: pd.DataFrame


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


ROLE_ORDER = {"prefill": 0, "decode": 1, "draft": 2, "aggregated": 3, "attention": 4, "ffn": 5}


def _vendor_loads(fm: milp.FleetModel, cls, role: str, sel: np.ndarray, fed: np.ndarray, paths: dict, flows: dict,
                  eff_pool: np.ndarray, load: np.ndarray) -> None:
    """Loads of a role's rows when the KV connector pairs pools by vendor: vendor v's rows carry its flow lam_v
    (prefill: plus its capacity share of the AFD prompts), less what its draft-fed and shared rows already
    carry; within a vendor in proportion to effective capacity."""
    vendor = milp.row_vendors(fm)
    rows = fm.table["role"].astype(str).to_numpy() == role
    total_eff = eff_pool[sel].sum()
    for v, flow in flows.items():
        mine = sel & (vendor == v)
        lv = flow
        if role == "prefill" and total_eff > 0:
            lv += paths["afd"] * eff_pool[mine].sum() / total_eff
        lv -= load[fed & rows & (vendor == v)].sum()  # draft-fed rows, set before
        lv -= sum(float(loads[cls][0].value or 0.0) for i, loads in fm.shared.items()
                  if cls in loads and rows[i] and vendor[i] == v)
        tot = eff_pool[mine].sum()
        if tot > 0:
            load[mine] = max(lv, 0.0) * eff_pool[mine] / tot


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
        groups = fm.draft_groups.get(cls, {})
        fed = np.zeros(len(t), bool)
        for g_var, idx, _d, _lev in groups.values():  # draft-fed decode groups carry their own lam_g
            fed[idx] = True
            tot = eff_pool[idx].sum()
            if tot > 0:
                load[idx] = float(g_var.value or 0.0) * eff_pool[idx] / tot
        lam["decode"] = max(lam["decode"] - sum(float(g[0].value or 0.0) for g in groups.values()), 0.0)
        for i, loads in fm.shared.items():  # pools shared by classes carry their own y_ic
            if cls in loads and role[i] in lam:
                lam[role[i]] = max(lam[role[i]] - float(loads[cls][0].value or 0.0), 0.0)
        flows = milp.vendor_flows(fm, cls)
        for r, lr in lam.items():
            sel = sel_c & (role == r) & ~fed
            if flows and r in ("prefill", "decode"):  # each vendor's pools carry that vendor's flow
                _vendor_loads(fm, cls, r, sel, fed, v, flows, eff_pool, load)
                continue
            tot = eff_pool[sel].sum()
            if tot > 0:
                load[sel] = lr * eff_pool[sel] / tot
        if groups:  # draft instances: the share of their token supply the groups of their level use
            lev = milp.draft_level_col(t)
            sup = t["draft_tokens_s"].to_numpy() * x
            for level in {g[3] for g in groups.values()}:
                d = sel_c & (role == "draft") & (lev == level)
                need = sum(gd * float(v.value or 0.0) for v, _i, gd, gl in groups.values() if gl == level)
                if sup[d].sum() > 0:
                    ffn_use[d] = need / sup[d].sum()
        if "afd_level" in t:
            lev = t["afd_level"].astype(str).to_numpy()
            tok = t["ffn_tokens"].to_numpy() * x
            for level in set(lev[sel_c & (role == "ffn")]):
                f = sel_c & (role == "ffn") & (lev == level)
                a = sel_c & (role == "attention") & (lev == level)
                if tok[f].sum() > 0:
                    ffn_use[f] = tok[a].sum() / tok[f].sum()
    for i, loads in fm.shared.items():
        load[i] = sum(float(v.value or 0.0) for v, _e in loads.values())
    return load, ffn_use


def _shared_columns(prep: Prepared, fm: milp.FleetModel, x: np.ndarray, util: np.ndarray, ttft: np.ndarray,
                    serving: np.ndarray) -> dict:
    """Pools shared by traffic classes: utilization = the share of time busy (sum_c y_ic / capacity_ic / x_i),
    per class c the load, TTFT (that class's service, KV transfer and wait at the pool's utilization), TPOT
    and cost (the pool's cost in proportion to the time it spends on c); the generic TTFT is the worst."""
    t, s = fm.table, prep.settings
    names = list(fm.spec.classes or {})
    out = {f"{k}__{c}": np.full(len(t), np.nan) for c in names for k in ("load_rps", "ttft_ms", "tpot_ms")}
    out.update({f"cost_usd_per_hr__{c}": np.zeros(len(t)) for c in names})
    cost = t["cost_usd_per_hr"].to_numpy() * x
    for i, loads in fm.shared.items():
        if x[i] <= 0:
            continue
        busy = {c: float(v.value or 0.0) / float(t[f"capacity_rps__{c}"].iloc[i]) for c, (v, _e) in loads.items()}
        util[i] = sum(busy.values()) / max(serving[i], 1)
        worst = -np.inf
        for c, (v, _e) in loads.items():
            out[f"load_rps__{c}"][i] = float(v.value or 0.0)
            out[f"tpot_ms__{c}"][i] = float(t[f"tpot_ms__{c}"].iloc[i])
            out[f"cost_usd_per_hr__{c}"][i] = cost[i] * busy[c] / max(sum(busy.values()), 1e-300) if sum(busy.values()) > 0 else cost[i] / len(loads)
            if str(t["role"].iloc[i]) in ("prefill", "aggregated"):
                w = float(wait_quantile_s(t[f"hold_s__{c}"].iloc[i], t[f"servers__{c}"].iloc[i], min(util[i], 1.0),
                                          s.percentile, SCV[s.queueing]))
                out[f"ttft_ms__{c}"][i] = t[f"ttft_ms__{c}"].iloc[i] + t[f"kv_transfer_ms__{c}"].iloc[i] + w * 1e3
                worst = max(worst, out[f"ttft_ms__{c}"][i])
        if np.isfinite(worst):
            ttft[i] = worst
    return out


def fleet_text(pools: pd.DataFrame) -> str:
    """`2x prefill h100-sxm tp4 b8 + 3x decode h200-sxm tp8 b128`."""
    parts = []
    for r in pools.itertuples(index=False):
        par = f"tp{r.tp}" + (f" ep{r.ep}" if r.ep > 1 else "") + (f" pp{r.pp}" if r.pp > 1 else "") + (f" dp{r.dp}" if r.dp > 1 else "")
        parts.append(f"{r.instances}x {r.role} {r.chip} {par} b{r.batch}")
    return " + ".join(parts)


def name_candidate_rows(cons: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Per-candidate constraint rows (`cand12-share-max`) named by their candidate (`share-max: aggregated
    h100-sxm tp2 b64`), so no internal index reaches the user."""
    idx = cons["constraint"].str.extract(r"^cand(\d+)-(.+)$")
    named = idx[0].notna()
    if not named.any():
        return cons
    rows = table.iloc[idx.loc[named, 0].astype(int).to_numpy()]
    label = [f"{rest}: {role} {chip} tp{int(tp)} ep{int(ep)} pp{int(pp)} dp{int(dp)} b{int(b)}"
             for rest, role, chip, tp, ep, pp, dp, b in zip(idx.loc[named, 1], rows["role"].astype(str),
                                                           rows["chip"].astype(str), rows["tp"], rows["ep"], rows["pp"],
                                                           rows["dp"], rows["batch"], strict=True)]
    cons = cons.copy()
    cons.loc[named, "constraint"] = label
    return cons


def pools_frame(prep: Prepared, fm: milp.FleetModel, x: np.ndarray) -> pd.DataFrame:
    """One row per candidate with instances > 0; load split within a role in proportion to effective capacity.
    With failure headroom (N+k) loads, capacities, utilizations and TTFT are those of a pool with k instances lost."""
    t = fm.table
    used = x > 0
    role = t["role"].astype(str).to_numpy()
    serving = np.maximum(x - fm.spec.spare_instances * used, 0)  # N+k: loads and latencies with k instances lost
    load, ffn_use = _loads(fm, serving)
    cap_pool = t["capacity_rps"].to_numpy() * serving
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(cap_pool > 0, load / cap_pool, 0.0)
    util = np.where(np.isin(role, ("ffn", "draft")), ffn_use, util)
    s = prep.settings
    wait = wait_quantile_s(t["hold_s"].to_numpy(), t["servers"].to_numpy(), np.minimum(util, 1.0), s.percentile,
                           SCV[s.queueing])
    wait = np.where(np.isin(role, ("attention", "ffn", "draft")), 0.0, wait)
    ttft = np.where(np.isin(role, ("prefill", "aggregated")),
                    t["ttft_ms"].to_numpy() + t["kv_transfer_ms"].to_numpy() + wait * 1e3, np.nan)
    n = len(t)
    shared_cols = _shared_columns(prep, fm, x, util, ttft, serving) if fm.shared else {}

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
        "tbo": pd.Series(col("tbo", False)).fillna(False).astype(bool).to_numpy(),
        "afd_level": np.asarray(pd.Series(col("afd_level", "")).fillna("").astype(str)),
        "draft_level": milp.draft_level_col(t), **shared_cols,
    })[used]
    df = df.assign(_o=df["role"].map(ROLE_ORDER)).sort_values(["class", "_o", "chip", "chips_per_instance"]).drop(columns="_o")
    return df[POOL_COLUMNS + ["class", "spec_tokens", "tbo", "afd_level", "draft_level", *shared_cols]].reset_index(drop=True)


def architecture(pools: pd.DataFrame, rates: dict[str, float], tol: float) -> str:
    """Words for what serves a class: aggregated / P-D disaggregated / AFD, and speculation gamma."""
    names = {"aggregated": "aggregated", "disaggregated": "P/D disaggregated", "afd": "P/D + attention/FFN disaggregated decode"}
    used = [names[p] for p in ("aggregated", "disaggregated", "afd") if rates.get(p, 0.0) > tol]
    text = " + ".join(used) if used else "none"
    g = sorted({int(v) for v in pools.loc[pools["role"].isin(["decode", "aggregated"]), "spec_tokens"] if v > 0})
    if g:
        text += " with speculative decoding gamma=" + "/".join(map(str, g))
        if (pools["role"] == "draft").any():
            text += " (draft model in its own pool)"
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


def deployment_notes(pools: pd.DataFrame) -> list[str]:
    """What a deployment of the plan relies on: pipeline parallelism, two-batch overlap, and how a P/D fleet scales
    (replica units)."""
    out = []
    pp = pools[pools["pp"] > 1]
    if len(pp):
        out.append("relies on pipeline parallelism: " + ", ".join(
            f"{r.role} {r.chip} pp{r.pp}" for r in pp[["role", "chip", "pp"]].drop_duplicates().itertuples()))
    if "tbo" in pools and pools["tbo"].any():
        out.append("relies on two-batch overlap: " + ", ".join(
            f"{r.role} {r.chip} ep{r.ep} dp{r.dp}" for r in pools[pools["tbo"]][["role", "chip", "ep", "dp"]]
            .drop_duplicates().itertuples()))
    pre, dec = pools[pools["role"] == "prefill"], pools[pools["role"] == "decode"]
    if len(pre) == 1 and len(dec) == 1:
        a, b = int(pre["instances"].iloc[0]), int(dec["instances"].iloc[0])
        g = math.gcd(a, b)
        out.append(f"replica unit: {a // g} prefill + {b // g} decode instance(s), {g} replica(s)")
    return out


def extract(prep: Prepared, fm: milp.FleetModel, st: milp.SolveStatus, *, detail: bool = True) -> SolveResult:
    """Summary dict (JSON keys), pools and constraint report of the loaded solution. detail False (a frontier's
    points, which keep only the fleet and its figures) leaves out the constraint report, error bands, deployment
    notes and the pools' records in the summary."""
    sc = prep.scenario
    x = milp.counts(fm)
    pools = pools_frame(prep, fm, x)
    cons = name_candidate_rows(milp.constraint_report(fm), prep.table) if detail else pd.DataFrame(
        {"constraint": pd.Series(dtype=str), "binding": pd.Series(dtype=bool)})
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
        if cls is not None and f"load_rps__{cls}" in pools:  # shared pools, with this class's figures
            sh = pools[pools["class"].str.split(milp.SHARED_SEP).map(lambda ks, c=cls: len(ks) > 1 and c in ks)]
            sh = sh.assign(ttft_ms=sh[f"ttft_ms__{cls}"], tpot_ms=sh[f"tpot_ms__{cls}"],
                           cost_usd_per_hr=sh[f"cost_usd_per_hr__{cls}"], load_rps=sh[f"load_rps__{cls}"])
            cp = pd.concat([cp, sh], ignore_index=True)
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
        "mode": mode, "architecture": architecture(pools, totals, tol),
        "margin": prep.margin.summary([c.id for c in sc.chips]),
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
        "error_band": pool_error_bands(pools, sc.model) if detail else None,
        "binding_constraints": cons.loc[cons["binding"], "constraint"].tolist(),
        "slo_headroom": headroom,  # fraction of each SLO left at the plan's latencies (margin included)
        "tight_slos": [f"slo.{k}" for k, h in headroom.items() if h < TIGHT_SLO],
        "queueing": QUEUE_TEXT[prep.settings.queueing],
        "kv_transfer": {"gb_per_request": kv_gb, "overlapped": prep.settings.kv_overlap},
        "candidates": prep.pruned.counts,
        "timings_s": {**prep.timings, "solve_s": st.solve_s},
        "notes": list(prep.notes) + ([f"failure headroom N+{prep.spec.spare_instances}: every pool keeps "
                                      f"{prep.spec.spare_instances} spare instance(s); capacities, utilizations and TTFT "
                                      "are those with them lost"] if prep.spec.spare_instances else [])
        + (deployment_notes(pools) if detail else []),
        "warnings": plan_warnings(prep.pruned.diagnostics, sc.slo.tpot_ms),
        "pools": pools.to_dict(orient="records") if detail else [],
    }
    if classes_out:
        summary["classes"] = classes_out
    if detail:
        summary["deployment"] = deployment(prep)
    return SolveResult(summary=summary, pools=pools, constraints=cons)


def deployment(prep: Prepared) -> dict:
    """What an export (planner/export) needs beyond the pools: the model to load, precisions, lengths per class,
    the framework and speculative decoding."""
    sc = prep.scenario
    spec = sc.speculative
    ckpt = load_model(str(sc.model)).checkpoint
    return {
        "model": sc.model, "hf_repo": hf_repo(sc.model), "weights": sc.precision.weights, "kv_cache": sc.kv_dtype,
        "checkpoint": ckpt.model_dump() if ckpt else None,  # the precision the checkpoint ships in
        "framework": sc.framework, "chunk_tokens": sc.aggregated.chunk_tokens,
        "lengths": {name or "default": {"isl": c.workload.isl, "osl": c.workload.osl} for name, c in prep.classes().items()},
        "speculative": None if spec is None else {
            "method": spec.method, "draft_model": spec.draft_model,
            "draft_hf_repo": hf_repo(spec.draft_model) if spec.draft_model else None},
    }
