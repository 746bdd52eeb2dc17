"""Simulate a planned fleet under open-loop traffic with the serving model: does the plan keep its promise?

A plan (the pools `planner solve` returns) carries each pool's instances and its load. Requests arrive as a
renewal process at the scenario's rate (Poisson, or bursty with a coefficient of variation); the router spreads
them over a pool's instances at random (Poisson thinning), so one instance per pool, fed its share of the
traffic, stands for the pool. Aggregated pools are simulated engine by engine (planner.serving.aggregated); the
P/D part as one prefill pool and one decode pool with their instance counts (planner.serving.disaggregated).
Requests are simulated per pool in proportion to its load and pooled for the fleet's percentiles.

Plans this does not simulate yet (several P/D pools, attention/FFN pools, draft pools, speculative decoding,
prefix caching, traffic classes) raise PlannerError saying so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.inputs.chips import load_catalog
from planner.inputs.models import load_model
from planner.inputs.scenario import Scenario
from planner.inputs.traces import trace_rate_rps
from planner.serving.aggregated import simulate_aggregated, weighted_quantile
from planner.serving.clients import Lengths, OpenLoop, RecordedLengths, Replay
from planner.serving.disaggregated import Pools, simulate_disaggregated
from planner.serving.params import active_serving_params
from planner.serving.step_times import EngineConfig, StepModel

PERCENTILES = (50, 90, 99)


@dataclass
class FleetSimulation:
    """Per-request results of every simulated pool group and the fleet's summary."""

    requests: pd.DataFrame  # measured requests: group, ttft_ms, tpot_ms, e2e_ms
    groups: pd.DataFrame  # per pool group: rate, instances, percentiles, attainment
    summary: dict


def _config(sc: Scenario, row: pd.Series, catalogs=()) -> EngineConfig:
    chip = load_catalog(tuple(catalogs))[str(row["chip"])]
    return EngineConfig(model=load_model(sc.model), chip=chip, weights=sc.precision.weights, kv=sc.kv_dtype,
                        tp=int(row["tp"]), ep=int(row["ep"]), pp=int(row["pp"]), dp=int(row["dp"]),
                        framework=sc.deploy.framework, max_batch=max(int(row["batch"]), 1),
                        max_tokens=sc.aggregated.chunk_tokens)


def _stats(df: pd.DataFrame, ttft_slo: float | None, tpot_slo: float | None) -> dict:
    return _weighted_stats(df, np.ones(len(df)), ttft_slo, tpot_slo)


def _refuse_unsupported(sc: Scenario, pools: pd.DataFrame, roles: pd.Series) -> None:
    """PlannerError for the plans the serving model does not simulate yet."""
    if sc.classes is not None:
        raise PlannerError("simulating a multi-class plan is not supported yet", field="classes",
                           hint="simulate one class at a time (its own workload)")
    if sc.workload.prefix_hit_rate > 0:
        raise PlannerError("simulating prefix caching is not supported yet (the simulator would prefill every "
                           "prompt in full)", field="workload.prefix_hit_rate")
    unsupported = sorted(set(roles) - {"aggregated", "prefill", "decode"})
    if unsupported or (pools.get("spec_tokens", pd.Series(0, index=pools.index)).fillna(0) > 0).any():
        raise PlannerError(f"simulating {', '.join(unsupported) or 'speculative decoding'} pools is not supported yet",
                           field="pools", hint="the serving model simulates aggregated and P/D pools without speculation")
    if (roles == "prefill").sum() > 1 or (roles == "decode").sum() > 1:
        raise PlannerError("simulating a plan with several prefill or decode pools is not supported yet",
                           field="pools", hint="restrict the scenario to one chip type to get one pool per role")


def simulate_fleet(sc: Scenario, pools: pd.DataFrame, *, requests: int = 4000, arrival_cv: float = 1.0,
                   seed: int = 0, catalogs=(), duration_s: float | None = None,
                   trace: pd.DataFrame | None = None) -> FleetSimulation:
    """Simulate the plan's pools at the scenario's arrival rate; percentiles, SLO attainment and goodput.

    requests: requests simulated over the fleet, split over the pool groups by their load; duration_s instead:
    each group simulated for that long (an aggregated instance's share of the traffic, the P/D pools' all).
    trace: recorded requests (planner.inputs.traces: arrival_s, isl, osl) replayed instead of synthetic
    arrivals: the router sends each to a pool group with the plan's load shares (and an aggregated pool's
    instance at random), so the fleet sees the trace's own rate, bursts and lengths."""
    roles = pools["role"].astype(str)
    _refuse_unsupported(sc, pools, roles)
    wl = sc.workload
    lengths = Lengths(wl.isl, wl.osl, osl_cv=wl.output_length_cv)
    total = float(pools.loc[roles.isin(["aggregated", "prefill"]), "load_rps"].sum())
    if not total > 0:
        raise PlannerError("the plan carries no traffic", field="pools")
    rng = np.random.default_rng(seed)
    share = pools.loc[roles.isin(["aggregated", "prefill"]), "load_rps"] / total  # the router's split
    position = {idx: j for j, idx in enumerate(share.index)}  # pools row -> its group in the split
    group_of = (rng.choice(len(share), size=len(trace), p=share.to_numpy()) if trace is not None else None)
    isl, osl = (float(trace["isl"].mean()), float(trace["osl"].mean())) if trace is not None else (wl.isl, wl.osl)
    scale = trace_rate_rps(trace) / total if trace is not None else 1.0  # loads at the trace's rate

    def load_for(row_index, rate: float, n_inst: int, k: int):
        """The arrivals one simulated engine (or the P/D pools) sees and their lengths."""
        if trace is None:
            return OpenLoop(rate, requests=k, arrival_cv=arrival_cv), lengths
        mine = trace[group_of == position[row_index]]
        if n_inst > 1:  # one of the pool's instances, picked at random per request
            mine = mine[rng.random(len(mine)) < 1.0 / n_inst]
        if len(mine) < 2:
            raise PlannerError("the trace leaves fewer than 2 requests for one of the plan's engines", field="trace",
                               hint="use a longer trace")
        return (Replay(rate, requests=len(mine), times_s=tuple(mine["arrival_s"])),
                RecordedLengths(tuple(mine["isl"]), tuple(mine["osl"])))
    frames, groups = [], []
    for i, (idx, row) in enumerate(pools[roles == "aggregated"].iterrows()):
        load, n = float(row["load_rps"]) * scale, int(row["instances"])
        if load <= 0 or n <= 0:
            continue
        cfg = _config(sc, row, catalogs)
        step = StepModel(cfg, isl, osl, max_decode=cfg.max_batch, max_prefill_tokens=max(cfg.token_budget, isl))
        k = max(int(round(load / n * duration_s if duration_s else requests * load / (total * scale))), 200)
        arrivals, lens = load_for(idx, load / n, n, k)
        sim = simulate_aggregated(step, lens, arrivals, seed=seed + i)
        frames.append(sim.requests[sim.requests["measured"]].assign(group=f"aggregated {row['chip']} x{n}"))
        groups.append({"group": f"aggregated {row['chip']} x{n}", "rate_rps": load, "instances": n})
    if (roles == "prefill").any():
        p, d = pools[roles == "prefill"].iloc[0], pools[roles == "decode"].iloc[0]
        load = float(p["load_rps"]) * scale
        pcfg, dcfg = _config(sc, p, catalogs), _config(sc, d, catalogs)
        pstep = StepModel(pcfg, isl, osl, max_decode=1, max_prefill_tokens=max(isl * pcfg.max_batch, isl))
        dstep = StepModel(dcfg, isl, osl, max_decode=dcfg.max_batch, max_prefill_tokens=1)
        k = max(int(round(load * duration_s if duration_s else requests * load / (total * scale))), 200)
        arrivals, lens = load_for(pools.index[roles == "prefill"][0], load, 1, k)
        sim = simulate_disaggregated(Pools(pstep, int(p["instances"]), dstep, int(d["instances"])), lens,
                                     arrivals, seed=seed + 1000)
        name = f"P/D {p['chip']} x{int(p['instances'])} + {d['chip']} x{int(d['instances'])}"
        frames.append(sim.requests[sim.requests["measured"]].assign(group=name))
        groups.append({"group": name, "rate_rps": load, "instances": int(p["instances"]) + int(d["instances"])})
    req = pd.concat(frames, ignore_index=True)
    slo = sc.slo
    groups_df = pd.DataFrame([{**g, **_stats(req[req["group"] == g["group"]], slo.ttft_ms, slo.tpot_ms)}
                              for g in groups])
    # each group simulated with requests in proportion to its load: weight them back to the loads exactly
    w = req["group"].map({g["group"]: g["rate_rps"] / max((req["group"] == g["group"]).sum(), 1) for g in groups})
    fleet = _weighted_stats(req, w.to_numpy(), slo.ttft_ms, slo.tpot_ms)
    sp = active_serving_params()
    ok = np.isfinite(req["ttft_ms"].to_numpy(float))
    at_pct = weighted_quantile(req["ttft_ms"].to_numpy(float)[ok], w.to_numpy()[ok], slo.ttft_percentile / 100)
    summary = {
        **fleet, "ttft_ms_at_slo_percentile": at_pct, "rate_rps": total * scale,
        "goodput_rps": total * scale * fleet["slo_attainment"], "traffic": "trace" if trace is not None else
        ("poisson" if arrival_cv == 1 else f"renewal, arrival cv {arrival_cv:g}"),
        "ttft_percentile": slo.ttft_percentile, "slo": {"ttft_ms": slo.ttft_ms, "tpot_ms": slo.tpot_ms},
        "meets_ttft_slo": slo.ttft_ms is None or fleet["ttft_attainment"] >= slo.ttft_percentile / 100,
        "meets_tpot_slo": slo.tpot_ms is None or fleet["tpot_ms_p50"] <= slo.tpot_ms,
        "arrival_cv": arrival_cv, "seed": seed,
        "first_token_latency_ms": {"outside_engine": sp.request_s * 1e3, "disaggregated_handoff": sp.disagg_handoff_s * 1e3},
    }
    return FleetSimulation(req, groups_df, summary)


def _weighted_stats(df: pd.DataFrame, w: np.ndarray, ttft_slo, tpot_slo) -> dict:
    """_stats over requests with weights (each pool group's share of the traffic)."""
    out: dict = {"requests": int(len(df))}
    for col in ("ttft_ms", "tpot_ms"):
        v = df[col].to_numpy(float)
        ok = np.isfinite(v)
        for q in PERCENTILES:
            out[f"{col}_p{q}"] = weighted_quantile(v[ok], w[ok], q / 100)
    ok_ttft = (df["ttft_ms"] <= ttft_slo).to_numpy() if ttft_slo is not None else np.ones(len(df), bool)
    tp = df["tpot_ms"].to_numpy(float)
    ok_tpot = (np.isnan(tp) | (tp <= tpot_slo)) if tpot_slo is not None else np.ones(len(df), bool)
    tw = max(float(w.sum()), 1e-300)
    out["ttft_attainment"] = float(w[ok_ttft].sum() / tw)
    out["tpot_attainment"] = float(w[ok_tpot].sum() / tw)
    out["slo_attainment"] = float(w[ok_ttft & ok_tpot].sum() / tw)
    return out
