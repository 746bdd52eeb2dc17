"""The figures of a simulated fleet (planner.serving.fleet): its groups' measured requests weighted back to their
rates, percentiles, SLO attainment and goodput (`assemble`), and the queue over time (`timeline`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.serving.aggregated import weighted_quantile, weighted_quantiles
from planner.serving.params import active_serving_params

PERCENTILES = (50, 90, 99)


@dataclass
class FleetSimulation:
    """Per-request results of every simulated pool group and the fleet's summary."""

    requests: pd.DataFrame  # measured requests: group, ttft_ms, tpot_ms, e2e_ms
    groups: pd.DataFrame  # per pool group: rate, instances, percentiles, attainment, queue means and peaks
    summary: dict
    timeline: pd.DataFrame | None = None  # per group: t_s, waiting (for a first token), in_flight (timeline())
    weights: np.ndarray | None = None  # per request: its group's rate over the group's requests (they sum to the rate)


def stats(df: pd.DataFrame, ttft_slo: float | None, tpot_slo: float | None) -> dict:
    """weighted_stats with every request weighing the same (one group)."""
    return weighted_stats(df, np.ones(len(df)), ttft_slo, tpot_slo)


def assemble(slo, frames: list[pd.DataFrame], groups: list[dict], rate_rps: float, meta: dict) -> FleetSimulation:
    """Simulated groups' measured requests (column `group`: the group's position in `groups`, each group a dict
    with its name, rate_rps and instances) into a FleetSimulation scored against `slo`: percentiles weighted back
    to the groups' rates, SLO attainment, goodput, queue lengths over time."""
    req = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    codes = req["group"].to_numpy()  # the group's position in `groups` (names as categories: ~10^7 rows an hour)
    req["group"] = pd.Categorical.from_codes(codes, categories=[g["group"] for g in groups])
    # each group simulated with requests in proportion to its load: weight them back to the loads exactly
    w = (np.array([g["rate_rps"] for g in groups]) / np.maximum(np.bincount(codes, minlength=len(groups)), 1))[codes]
    fleet = weighted_stats(req, w, slo.ttft_ms, slo.tpot_ms)
    groups_df = pd.DataFrame([{**g, **(stats(req[codes == j], slo.ttft_ms, slo.tpot_ms) if len(groups) > 1 else fleet)}
                              for j, g in enumerate(groups)])
    line = timeline(req)  # queue length over time: its means and peaks per group
    agg = line.groupby("group").agg(waiting_mean=("waiting", "mean"), waiting_max=("waiting", "max"),
                                    in_flight_mean=("in_flight", "mean")) if len(line) else None
    if agg is not None:
        groups_df = groups_df.merge(agg, left_on="group", right_index=True, how="left")
    sp = active_serving_params()
    ok = np.isfinite(req["ttft_ms"].to_numpy(float))
    at_pct = weighted_quantile(req["ttft_ms"].to_numpy(float)[ok], w[ok], slo.ttft_percentile / 100)
    summary = {
        **fleet, "ttft_ms_at_slo_percentile": at_pct, "rate_rps": rate_rps,
        "goodput_rps": rate_rps * fleet["slo_attainment"], "traffic": meta["traffic"],
        "ttft_percentile": slo.ttft_percentile, "slo": {"ttft_ms": slo.ttft_ms, "tpot_ms": slo.tpot_ms},
        "meets_ttft_slo": slo.ttft_ms is None or fleet["ttft_attainment"] >= slo.ttft_percentile / 100,
        "meets_tpot_slo": slo.tpot_ms is None or fleet["tpot_ms_p50"] <= slo.tpot_ms,
        "arrival_cv": meta["arrival_cv"], "router": meta["router"], "seed": meta["seed"],
        "first_token_latency_ms": {"outside_engine": sp.request_s * 1e3, "disaggregated_handoff": sp.disagg_handoff_s * 1e3},
    }
    return FleetSimulation(req, groups_df, summary, line, w)


CLASS_KEYS = ("rate_rps", "goodput_rps", "slo_attainment", "ttft_ms_at_slo_percentile", "ttft_percentile",
              "ttft_ms_p50", "ttft_ms_p90", "ttft_ms_p99", "tpot_ms_p50", "tpot_ms_p90", "tpot_ms_p99", "slo",
              "meets_ttft_slo", "meets_tpot_slo")


def timeline(requests: pd.DataFrame, points: int = 200) -> pd.DataFrame:
    """Requests waiting for their first token and requests in flight over time, per pool group (one instance of an
    aggregated pool, the whole P/D part): counts of arrivals minus first tokens (minus ends) at `points` times over
    the window where every request in the system is a measured one (from the first measured arrival plus the longest
    request's life, to the last measured arrival). Groups simulated apart (several P/D pools) have no timeline."""
    out = []
    for name, g in requests.groupby("group", sort=False, observed=True):
        if not {"arrival_s", "first_token_s", "end_s"} <= set(g.columns):
            continue
        a, f, e = (g[c].to_numpy(float) for c in ("arrival_s", "first_token_s", "end_s"))
        if not (np.isfinite(a).all() and np.isfinite(f).all() and np.isfinite(e).all()) or len(a) < 2:
            continue
        lo, hi = a.min() + float(np.max(e - a)), a.max()
        if not hi > lo:
            continue
        t = np.linspace(lo, hi, points)
        arrived = at_or_before(t, a)
        out.append(pd.DataFrame({"group": name, "t_s": t - t[0], "waiting": arrived - at_or_before(t, f),
                                 "in_flight": arrived - at_or_before(t, e)}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["group", "t_s", "waiting", "in_flight"])


def at_or_before(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    """How many of x are <= each of the sorted times t, without sorting x (an hour is ~10^7 requests)."""
    return np.cumsum(np.bincount(np.searchsorted(t, x, side="left"), minlength=len(t) + 1))[:len(t)]


def weighted_stats(df: pd.DataFrame, w: np.ndarray, ttft_slo, tpot_slo) -> dict:
    """_stats over requests with weights (each pool group's share of the traffic)."""
    out: dict = {"requests": int(len(df))}
    for col in ("ttft_ms", "tpot_ms"):
        v = df[col].to_numpy(float)
        ok = np.isfinite(v)
        for q, x in zip(PERCENTILES, weighted_quantiles(v[ok], w[ok], np.array(PERCENTILES) / 100), strict=True):
            out[f"{col}_p{q}"] = float(x)
    ok_ttft = (df["ttft_ms"] <= ttft_slo).to_numpy() if ttft_slo is not None else np.ones(len(df), bool)
    tp = df["tpot_ms"].to_numpy(float)
    ok_tpot = (np.isnan(tp) | (tp <= tpot_slo)) if tpot_slo is not None else np.ones(len(df), bool)
    tw = max(float(w.sum()), 1e-300)
    out["ttft_attainment"] = float(w[ok_ttft].sum() / tw)
    out["tpot_attainment"] = float(w[ok_tpot].sum() / tw)
    out["slo_attainment"] = float(w[ok_ttft & ok_tpot].sum() / tw)
    return out
