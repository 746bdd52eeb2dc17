"""Filter and prune the coefficient table before the MILP: fit, SLO, queueing caps, dominance.

All steps are vectorized (numpy / pandas group operations), never a Python step per row.

1. Keep candidates that fit in memory and whose role serves an allowed mode.
2. Margin: capacity / (1 + m), latencies x (1 + m) (what the plan assumes).
3. SLO filters: decode and aggregated need TPOT <= slo.tpot_ms; prefill needs service + exposed KV transfer
   <= slo.ttft_ms, aggregated its chunked-prefill TTFT <= slo.ttft_ms.
4. Exact pre-pruning: within (role, chip, chips per instance, queue servers), a candidate with no more
   service time and no less capacity gets at least the same utilization cap, so it dominates.
5. Queueing caps (planner.optimize.queueing): utilization cap rho_max per candidate; effective capacity
   = rho_max x capacity is what the MILP counts.
6. Dominance within role x chip: cost, power, NIC bandwidth and chip count all scale with the chips per
   instance n, so a candidate is dominated by any multiset of others with at most n chips in all and at
   least its effective capacity (and, for the TPOT sweep, no higher TPOT). Exact for the integer program.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner.optimize.queueing import DEFAULT_QUEUEING, SCV, batch_slot_servers, max_utilization
from planner.optimize.uncertainty import NO_MARGIN, Margins

MODE_ROLES = {"aggregated": ("aggregated",), "disaggregated": ("prefill", "decode"), "afd": ("prefill", "attention", "ffn")}
MIN_CAP = 1e-6  # utilization caps below this are treated as "cannot meet the TTFT SLO"


@dataclass(frozen=True)
class PruneSettings:
    modes: tuple[str, ...] = ("aggregated", "disaggregated")
    ttft_slo_ms: float | None = None
    tpot_slo_ms: float | None = None
    percentile: float = 90.0
    margin: Margins = NO_MARGIN
    queueing: str = DEFAULT_QUEUEING
    kv_overlap: bool = False
    isl: float = 2048.0
    keep_tpot_front: bool = False  # keep (n, capacity, TPOT)-efficient candidates (for the TPOT sweep)
    dominance: bool = True  # False keeps dominated candidates (tests check that pruning keeps the optimum)
    pd_same_tp: bool = False  # P/D pools must share one TP size (add_pd_same_tp): dominance only within a TP size


@dataclass
class Pruned:
    table: pd.DataFrame  # the MILP's candidates, one row each (columns: see `prune`)
    counts: dict[str, dict[str, int]]  # stage -> role -> candidates left
    diagnostics: dict = field(default_factory=dict)  # best reachable TPOT/TTFT, chips that fit nothing


def _with_planning_columns(df: pd.DataFrame, s: PruneSettings) -> pd.DataFrame:
    """Margin-adjusted latencies/capacity, KV transfer, queue servers and hold time per candidate."""
    f_cap, f_tpot, f = s.margin.factors(df["chip"].to_numpy())
    role = df["role"].to_numpy().astype(str)
    cap_raw = df["capacity_rps"].to_numpy()
    ttft_raw_s = df["ttft_ms"].to_numpy() / 1e3
    batch = df["batch"].to_numpy()
    is_prefill = role == "prefill"
    bytes_per_req = s.isl * df["kv_bytes_per_token"].to_numpy() + df["state_bytes_per_request"].to_numpy()
    kv_s = np.where(is_prefill, bytes_per_req / (df["nic_gb_s"].to_numpy() * 1e9) * f, 0.0)
    service_s = ttft_raw_s * f
    if s.kv_overlap:  # layer by layer: only the last layer's share, plus what the prefill cannot hide
        exposed = kv_s / df["num_layers"].to_numpy() + np.maximum(kv_s - np.nan_to_num(service_s), 0.0)
    else:
        exposed = kv_s
    exposed = np.where(is_prefill, exposed, 0.0)
    capacity = cap_raw / f_cap
    slots, slot_hold_s = batch_slot_servers(batch, capacity)
    servers = np.where(is_prefill, np.maximum(np.rint(cap_raw * ttft_raw_s), 1.0), slots)
    hold_s = np.where(is_prefill, service_s, slot_hold_s)
    return df.assign(
        capacity_rps=capacity,
        ttft_ms=service_s * 1e3,  # service part of TTFT (no queueing), margin applied
        tpot_ms=df["tpot_ms"].to_numpy() * f_tpot,
        kv_transfer_ms=exposed * 1e3,
        kv_bytes_per_request=bytes_per_req,
        servers=servers,
        hold_s=hold_s,
    )


def _dominated_2d(key: np.ndarray, better_first: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Rows dominated within groups of `key`: sorted by `better_first` ascending, a row is dominated when
    an earlier row of its group has value >= its value. Returns a boolean mask in the input order."""
    if len(key) == 0:
        return np.zeros(0, bool)
    order = np.lexsort((-value, better_first, key))
    k, v = key[order], value[order]
    starts = np.r_[True, k[1:] != k[:-1]]
    group_id = np.cumsum(starts) - 1
    s = pd.Series(v).groupby(group_id).cummax().to_numpy()
    prev = np.r_[-np.inf, s[:-1]]
    prev[starts] = -np.inf
    dom_sorted = prev >= v
    out = np.zeros(len(key), bool)
    out[order] = dom_sorted
    return out


def _group_key(*cols: np.ndarray) -> np.ndarray:
    """One int64 code per distinct combination of the columns (mixed radix over factorized codes)."""
    key = np.zeros(len(cols[0]), np.int64)
    for c in cols:
        codes, uniques = pd.factorize(c)
        key = key * max(len(uniques), 1) + codes
    return key


def _dominated_by_combinations(key: np.ndarray, n: np.ndarray, eff: np.ndarray, tpot: np.ndarray) -> np.ndarray:
    """Rows dominated within their group by a multiset of other rows of the group: total chips <= n,
    total effective capacity >= eff, every member's TPOT <= the row's. Within one role x chip, cost, power
    and NIC bandwidth are proportional to chips, so the replacement is never dearer: exact for the MILP.

    Rows are visited by (TPOT, chips, -capacity); `best[s]` is the most capacity the rows visited so far
    reach with at most s chips (unbounded knapsack, updated with binary-split copies, numpy per row).
    """
    out = np.zeros(len(key), bool)
    if len(key) == 0:
        return out
    n_int = np.rint(n).astype(np.int64)
    order = np.lexsort((-eff, n_int, tpot, key))
    bounds = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1], True])
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):  # one group: role x chip
        idx = order[lo:hi]
        size = int(n_int[idx].max())
        best = np.zeros(size + 1)
        for i in idx:  # rows of one group, after pre-pruning: tens
            if best[n_int[i]] >= eff[i] * (1 - 1e-12):
                out[i] = True
                continue
            step, gain = int(n_int[i]), float(eff[i])
            while step <= size:  # copies 1, 2, 4, ... of this row: enough for any multiplicity
                cand = np.r_[np.full(step, -np.inf), best[:-step] + gain]
                best = np.maximum(best, cand)
                step, gain = 2 * step, 2 * gain
            best = np.maximum.accumulate(best)  # at most s chips
    return out


def _tp_group(df: pd.DataFrame, s: PruneSettings) -> list[np.ndarray]:
    """With pd_same_tp, prefill and decode rows of different TP sizes are not interchangeable (the program picks
    one size for all of them), so a row is compared only with rows of its own TP size."""
    if not s.pd_same_tp:
        return []
    pd_role = df["role"].astype(str).isin(("prefill", "decode")).to_numpy()
    return [np.where(pd_role, df["tp"].to_numpy(), 0)]


def _draft_group(df: pd.DataFrame) -> list[np.ndarray]:
    """Rows fed by a draft pool (planner.axes.draft_pool) are compared only within their latency level and draft
    tokens per request: they need draft instances the others do not (the MILP's draft groups)."""
    if "draft_level" not in df:
        return []
    return [df["draft_level"].astype(str).to_numpy(), np.round(df["draft_tokens_per_req"].to_numpy(), 9)]


def _diagnostics(df: pd.DataFrame, s: PruneSettings) -> dict:
    """What the offered chips can reach at best (for infeasibility messages)."""
    out: dict = {}
    fit = df[df["fits"]]
    chips_all = [str(c) for c in df["chip"].cat.categories]
    out["chips_without_fit"] = sorted(set(chips_all) - {str(c) for c in fit["chip"].unique()})
    role = fit["role"].to_numpy().astype(str)
    for r in ("decode", "aggregated"):
        sub = fit[role == r]
        if len(sub):
            i = int(np.argmin(sub["tpot_ms"].to_numpy()))
            out[f"best_tpot_ms_{r}"] = (float(sub["tpot_ms"].iloc[i]), str(sub["chip"].iloc[i]))
    pre = fit[role == "prefill"]
    if len(pre):
        t = pre["ttft_ms"].to_numpy() + pre["kv_transfer_ms"].to_numpy()
        i = int(np.argmin(t))
        out["best_ttft_ms_prefill"] = (float(t[i]), str(pre["chip"].iloc[i]))
    agg = fit[role == "aggregated"]
    if s.tpot_slo_ms is not None:
        agg = agg[agg["tpot_ms"] <= s.tpot_slo_ms]
    if len(agg):
        i = int(np.argmin(agg["ttft_ms"].to_numpy()))
        out["best_ttft_ms_aggregated"] = (float(agg["ttft_ms"].iloc[i]), str(agg["chip"].iloc[i]))
    return out


def _count(df: pd.DataFrame) -> dict[str, int]:
    role = df["role"].to_numpy()
    return {r: int(np.count_nonzero(role == r)) for r in ("prefill", "decode", "aggregated")}


def prune(coeffs: pd.DataFrame, s: PruneSettings) -> Pruned:
    """The MILP's candidate table. Adds columns: ttft_ms (service, with margin), tpot_ms (with margin),
    capacity_rps (per instance, / (1+margin)), kv_transfer_ms (exposed, prefill), servers, hold_s,
    wait_budget_s, max_utilization, eff_capacity_rps (= max_utilization x capacity_rps)."""
    counts = {"engine": _count(coeffs)}
    roles = [r for m in s.modes for r in MODE_ROLES[m]]
    df = coeffs[coeffs["role"].isin(roles).to_numpy()]
    df = _with_planning_columns(df, s)
    diagnostics = _diagnostics(df, s)
    df = df[df["fits"].to_numpy()]
    counts["fits"] = _count(df)

    role = df["role"].to_numpy().astype(str)
    ok = np.ones(len(df), bool)
    if s.tpot_slo_ms is not None:
        ok &= (role == "prefill") | (df["tpot_ms"].to_numpy() <= s.tpot_slo_ms)
    if s.ttft_slo_ms is not None:
        lat = df["ttft_ms"].to_numpy() + df["kv_transfer_ms"].to_numpy()
        ok &= (role == "decode") | (lat <= s.ttft_slo_ms)
    df = df[ok]
    counts["slo"] = _count(df)

    # exact pre-pruning before the (costlier) queueing caps
    n = df["chips_per_instance"].to_numpy()
    key = _group_key(df["role"].cat.codes.to_numpy(), df["chip"].cat.codes.to_numpy(), n, df["servers"].to_numpy(),
                     *_draft_group(df), *_tp_group(df, s))
    if s.dominance:
        dom = _dominated_2d(key, df["hold_s"].to_numpy() + df["kv_transfer_ms"].to_numpy() / 1e3, df["capacity_rps"].to_numpy())
        df = df[~dom]
    counts["prepruned"] = _count(df)

    role = df["role"].to_numpy().astype(str)
    if s.ttft_slo_ms is None:
        budget = np.full(len(df), np.inf)
        cap = np.ones(len(df))
    else:
        lat_s = (df["ttft_ms"].to_numpy() + df["kv_transfer_ms"].to_numpy()) / 1e3
        budget = np.where(role == "decode", 0.0, s.ttft_slo_ms / 1e3 - lat_s)
        cap = max_utilization(df["hold_s"].to_numpy(), budget, s.percentile, df["servers"].to_numpy(), SCV[s.queueing])
    df = df.assign(wait_budget_s=budget, max_utilization=cap, eff_capacity_rps=cap * df["capacity_rps"].to_numpy())
    df = df[df["max_utilization"].to_numpy() > MIN_CAP]
    counts["queueing"] = _count(df)

    gkey = _group_key(df["role"].cat.codes.to_numpy(), df["chip"].cat.codes.to_numpy(), *_draft_group(df),
                      *_tp_group(df, s))
    n = df["chips_per_instance"].to_numpy().astype(float)
    eff = df["eff_capacity_rps"].to_numpy()
    tpot = np.nan_to_num(df["tpot_ms"].to_numpy(), nan=0.0) if s.keep_tpot_front else np.zeros(len(df))
    if s.dominance:
        df = df[~_dominated_by_combinations(gkey, n, eff, tpot)]
    df = df.reset_index(drop=True)
    counts["kept"] = _count(df)
    return Pruned(table=df, counts=counts, diagnostics=diagnostics)


def dominated_vectors(key: np.ndarray, n: np.ndarray, eff: np.ndarray) -> np.ndarray:
    """Rows of pools shared by traffic classes dominated within their group (role x chip x class set):
    row r is dominated by a row r' with n_r = k n_r' (k integer) and k e_r'c >= e_rc for every class c of
    the set (`eff`: rows x classes, the effective capacity per class). k copies of r' cost, draw and carry
    (NIC) exactly what r does and serve any class mix r serves, within the same share of their time, so the
    time-sharing MILP keeps its optimum. Of equal rows the first is kept. Pairwise, vectorized per row."""
    out = np.zeros(len(key), bool)
    n_int = np.rint(n).astype(np.int64)
    eff = np.nan_to_num(np.asarray(eff, float), nan=0.0)
    for g in np.unique(key):
        idx = np.flatnonzero(key == g)
        for r in idx:
            k = n_int[r] // n_int[idx]
            exact = (k >= 1) & (k * n_int[idx] == n_int[r])
            cover = exact & np.all(k[:, None] * eff[idx] >= eff[r] * (1 - 1e-12), axis=1)
            cover &= idx != r
            # mutual dominance means equal rows: the lower index survives
            back = (n_int[idx] == n_int[r]) & np.all(eff[r] >= eff[idx] * (1 - 1e-12), axis=1)
            cover &= ~back | (idx < r)
            out[r] = bool(cover.any())
    return out
