"""Attention/FFN disaggregation (AFD) of MoE decode: attention instances (attention weights + KV cache) and
FFN instances (the experts) on separate chips, micro-batches ping-ponging between them every layer
(Step-3 / MegaScale-Infer style). Rows of the coefficient table with roles `attention` and `ffn`; the MILP
pairs them linearly per cadence (`milp.add_afd_matching`). docs/axes.md derives every term.

Per layer and micro-batch (m micro-batches of B/m sequences):
- a: attention time on the attention instance (engine: attention projections + core + TP all-reduce +
  its kernels' launch overhead), at B/m sequences;
- x_d, x_c: dispatch (fp8 when the weights are quantized, else bf16) and combine (bf16) of the hidden
  state, tokens x hidden x bytes over the attention instance's NICs (scale-out; scale-up on rack-scale
  chips whose scale-up domain holds both pools, >= 36 chips), plus the link latency. The attention side is
  sized for an FFN instance inside one node (one copy per token); an FFN instance spanning several nodes
  receives one copy per distinct node holding the token's experts (`ffn_copies`) on its own NICs;
- f: FFN time on the FFN instance for the tokens it receives (engine: MoE experts touched by those tokens
  with the low-batch fix, shared experts, dense-first layers averaged over the layers, launch overhead).
With a per-layer cycle tau: every resource is busy at most tau (m a, m x, m f <= tau) and one
micro-batch's round trip fits (a + x_d + f + x_c <= tau): TPOT = L tau + the LM head (m x one micro-batch's)
+ the framework's host time per iteration (host_s_*, planner.engine.params).
The cadences tau are a geometric grid below the TPOT SLO (`afd.levels`); at each (tau, m) an attention row is
the largest batch that meets them and fits in memory, an FFN row is the most tokens per cycle
(m x T_max, f(T_max) <= tau/m and its NICs' share) it can take.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.engine.candidates import DECODE_BATCHES_PER_RANK, Candidates, parallelism_options
from planner.engine.operators import (
    ACT_BYTES,
    KERNELS_PER_LAYER,
    MLA_EXTRA_KERNELS,
    MOE_EXTRA_KERNELS,
    SHARED_EXPERT_KERNELS,
    experts_per_rank,
    group_allreduce_s,
)
from planner.engine.params import active_params
from planner.engine.roofline import MEMORY_RESERVE_FRACTION, evaluate
from planner.engine.tables import DTYPE_BYTES, DTYPE_CODE, ROLE_CODE, ChipTable, ModelTable

ATTN_KERNELS = 5  # norm, QKV, attention, O, residual (of KERNELS_PER_LAYER = 8)
FFN_KERNELS = KERNELS_PER_LAYER - ATTN_KERNELS  # gate/up, activation, down
RACK_SCALE_DOMAIN = 36  # chips per scale-up domain from which attention and FFN pools share the scale-up fabric
TOKEN_GRID = np.unique(np.round(np.geomspace(1, 1 << 17, 80)))
DEFAULT_TPOT_MS = 100.0  # top cadence without a TPOT SLO


def _link(ct: ChipTable, k: int, chips: np.ndarray):
    """Bandwidth (B/s) and latency (s) of an instance of `chips` chips toward the other pool."""
    if ct.scaleup_domain[k] >= RACK_SCALE_DOMAIN:
        return ct.scaleup_bw[k] * ct.eta_scaleup[k] * chips, ct.scaleup_lat[k]
    return ct.scaleout_bw[k] * ct.eta_scaleout[k] * chips, ct.scaleout_lat[k]


def ffn_copies(top_k: int, ffn_chips, domain: float) -> np.ndarray:
    """Copies of a token sent to an FFN instance: one per distinct scale-up domain (node) of the FFN instance
    holding any of its top_k experts (uniform routing), nodes (1 - (1 - 1/nodes)^top_k); 1 inside one node."""
    nodes = np.maximum(np.asarray(ffn_chips, float) / max(domain, 1.0), 1.0)
    return np.where(nodes > 1, nodes * -np.expm1(top_k * np.log1p(-1.0 / np.maximum(nodes, 1.0 + 1e-9))), 1.0)


def _dispatch_bytes(wdtype: str) -> float:
    return 1.0 if wdtype != "bf16" else ACT_BYTES


def attention_times(model, mt: ModelTable, ct: ChipTable, k: int, par: np.ndarray, seqs: np.ndarray, isl: float,
                    osl: float, wdtype: str, kvdtype: str, osl_cv: float = 0.0) -> dict:
    """Per-layer attention time a, LM-head time per micro-batch, KV and weight bytes per chip, for attention
    instances (par rows tp, ep, pp, dp) holding `seqs` sequences per micro-batch."""
    tp, dp = par[:, 0], par[:, 3]
    c = Candidates.from_columns(role=ROLE_CODE["decode"], model=0, chip=k, tp=tp, ep=1, pp=1, dp=dp, batch=seqs,
                                isl=isl, osl=osl, wdtype=DTYPE_CODE[wdtype], kvdtype=DTYPE_CODE[kvdtype],
                                osl_cv=osl_cv)
    res = evaluate(c, mt, ct)
    L = mt.layers[0]
    t_ar = group_allreduce_s(seqs / dp * model.hidden_size * ACT_BYTES, tp, ct.scaleup_domain[k],
                             ct.scaleup_bw[k] * ct.eta_scaleup[k], ct.scaleup_lat[k],
                             ct.scaleout_bw[k] * ct.eta_scaleout[k], ct.scaleout_lat[k])
    kernels = ATTN_KERNELS + (MLA_EXTRA_KERNELS if model.attention == "mla" else 0)
    a = (res.t_attn_proj_s + res.t_attn_core_s) / L + t_ar + kernels * ct.kernel_overhead[k]
    return {"a": a, "lm": res.t_lm_head_s, "kv_bytes": res.kv_bytes, "fit": res.fit_reason == 0}


def attention_weight_bytes(model, tp: np.ndarray, wdtype: str) -> np.ndarray:
    return (model.num_layers * model.attn_params_per_layer + model.embedding_params) / tp * DTYPE_BYTES[DTYPE_CODE[wdtype]]


def ffn_weight_bytes(model, ep: np.ndarray, wdtype: str) -> np.ndarray:
    """Experts (ceil(E/ep) per chip), shared experts and dense-first FFNs split over the ep chips."""
    moe = model.moe
    per = (model.num_moe_layers * (experts_per_rank(moe.num_experts, ep) * model.expert_params + model.shared_expert_params / ep)
           + model.num_dense_layers * model.dense_ffn_params / ep)
    return per * DTYPE_BYTES[DTYPE_CODE[wdtype]]


def ffn_times(model, mt: ModelTable, ct: ChipTable, k: int, ep: float, tokens: np.ndarray, wdtype: str) -> np.ndarray:
    """Per-layer FFN time (averaged over the layers) on an FFN instance of `ep` chips for `tokens` tokens."""
    c = Candidates.from_columns(role=ROLE_CODE["decode"], model=0, chip=k, tp=1, ep=ep, pp=1, dp=ep, batch=tokens,
                                isl=1, osl=1, wdtype=DTYPE_CODE[wdtype], kvdtype=DTYPE_CODE[wdtype])
    res = evaluate(c, mt, ct)
    L = mt.layers[0]
    kernels = FFN_KERNELS + model.num_moe_layers / L * (
        MOE_EXTRA_KERNELS + (SHARED_EXPERT_KERNELS if model.shared_expert_params > 0 else 0))
    return np.maximum.accumulate(res.t_ffn_s / L + kernels * ct.kernel_overhead[k])


def cadences(tpot_max_s: float, layers: int, levels: int) -> np.ndarray:
    """Per-layer cycles tau: 0.97 TPOT_max / L x 0.9^j, j < levels (the LM head comes on top, checked per row)."""
    return tpot_max_s / layers * 0.97 * 0.9 ** np.arange(levels)


def afd_rows(model, chips, ct: ChipTable, *, wdtype: str, kvdtype: str, isl: float, osl: float,
             tpot_max_s: float | None, micro_batches=(2, 3), levels: int = 8, max_chips: int = 64,
             batches_per_rank=DECODE_BATCHES_PER_RANK, osl_cv: float = 0.0, framework: int = 0) -> pd.DataFrame:
    """Attention and FFN rows (one per chip x split x micro-batches x cadence). Columns: role, chip, tp, ep,
    pp, dp, batch, chips_per_instance, tpot_ms, capacity_rps (attention), ffn_tokens (tokens per layer cycle:
    sent by an attention row, taken by an FFN row), afd_level, micro_batches, cycle_us, a_us, x_us, f_us."""
    if not model.is_moe:
        return pd.DataFrame()
    mt = ModelTable.build([model])
    tpot_max = tpot_max_s if tpot_max_s is not None else DEFAULT_TPOT_MS / 1e3
    L = model.num_layers
    taus = cadences(tpot_max, L, levels)
    rows = []
    for k, chip in enumerate(chips):
        if not chip.supports(wdtype):
            continue
        usable = (ct.mem_bytes[k] + ct.cold_bytes[k]) * (1 - MEMORY_RESERVE_FRACTION)
        par = parallelism_options(model, chip, max_chips, (1,))
        par = par[par[:, 1] == 1] if len(par) else par
        if len(par):
            per_rank = np.asarray(batches_per_rank, float)
            rep = np.repeat(np.arange(len(par)), len(per_rank))
            P = par[rep]
            B = np.tile(per_rank, len(par)) * P[:, 3]
            n_a = P[:, 0] * P[:, 3]
            full = attention_times(model, mt, ct, k, P, B, isl, osl, wdtype, kvdtype, osl_cv)
            mem = attention_weight_bytes(model, P[:, 0], wdtype) + full["kv_bytes"]
            fits = mem <= usable  # not the engine's fit: an attention instance holds no experts
            bw, lat = _link(ct, k, n_a)
            for m in micro_batches:
                mb = B / m
                t = attention_times(model, mt, ct, k, P, mb, isl, osl, wdtype, kvdtype, osl_cv)
                x_d = lat + mb * model.hidden_size * _dispatch_bytes(wdtype) / bw
                x_c = lat + mb * model.hidden_size * ACT_BYTES / bw
                busy = m * np.maximum(t["a"], np.maximum(x_d, x_c))
                for j, tau in enumerate(taus):
                    # the framework's host time once per step, for the sequences each attention rank carries
                    tpot = L * tau + m * t["lm"] + active_params().host_time_s(framework, B / P[:, 3])
                    ok = fits & (busy <= tau) & (t["a"] + x_d + x_c + tau / m <= tau) & (tpot <= tpot_max * (1 + 1e-9))
                    if not ok.any():
                        continue
                    df = pd.DataFrame({"i": np.flatnonzero(ok), "n": n_a[ok], "B": B[ok]})
                    best = df.sort_values("B").groupby("n").tail(1)  # largest batch per instance size
                    for i in best["i"].to_numpy():
                        rows.append({
                            "role": "attention", "chip": chip.id, "tp": int(P[i, 0]), "ep": 1, "pp": 1, "dp": int(P[i, 3]),
                            "batch": float(B[i]), "chips_per_instance": int(n_a[i]), "tpot_ms": tpot[i] * 1e3,
                            "capacity_rps": B[i] / (tpot[i] * osl), "ffn_tokens": float(B[i]),
                            "afd_level": f"afd{j}m{m}", "micro_batches": m, "cycle_us": tau * 1e6,
                            "a_us": t["a"][i] * 1e6, "x_us": (x_d[i] + x_c[i]) * 1e6, "f_us": np.nan,
                            "memory_gb_per_chip": mem[i] / 1e9, "decode_tok_s_per_chip": B[i] / tpot[i] / n_a[i],
                        })
        # FFN instances: ep chips (powers of two inside one scale-up domain), experts must fit
        for ep in (1, 2, 4, 8, 16, 32, 64):
            if ep > max_chips or ep > model.moe.num_experts:
                continue
            copies = float(ffn_copies(model.moe.top_k, ep, ct.scaleup_domain[k]))
            wbytes = float(ffn_weight_bytes(model, np.array([float(ep)]), wdtype)[0])
            act = TOKEN_GRID / ep * (model.hidden_size * 4 + 2 * model.moe.expert_intermediate_size * model.moe.top_k) * ACT_BYTES
            f = ffn_times(model, mt, ct, k, float(ep), TOKEN_GRID, wdtype)
            bw_f, lat_f = _link(ct, k, np.array([float(ep)]))
            x_f = lat_f + copies * TOKEN_GRID * model.hidden_size * (_dispatch_bytes(wdtype) + ACT_BYTES) / bw_f
            okmem = wbytes + act <= usable
            for m in micro_batches:
                for j, tau in enumerate(taus):
                    good = okmem & (f <= tau / m) & (x_f <= tau / m)
                    if not good.any():
                        continue
                    T = float(TOKEN_GRID[np.flatnonzero(good).max()])
                    rows.append({
                        "role": "ffn", "chip": chip.id, "tp": 1, "ep": ep, "pp": 1, "dp": ep, "batch": T * m,
                        "chips_per_instance": ep, "tpot_ms": np.nan, "capacity_rps": 0.0, "ffn_tokens": T * m,
                        "afd_level": f"afd{j}m{m}", "micro_batches": m, "cycle_us": tau * 1e6, "a_us": np.nan,
                        "x_us": np.nan, "f_us": float(np.interp(T, TOKEN_GRID, f)) * 1e6,
                        "memory_gb_per_chip": (wbytes + float(np.interp(T, TOKEN_GRID, act))) / 1e9,
                        "decode_tok_s_per_chip": 0.0,
                    })
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    # a cadence is usable only with both pools present at it
    have = df.groupby("afd_level")["role"].nunique()
    return df[df["afd_level"].map(have).to_numpy() == 2].reset_index(drop=True)


def best_per_chip(df: pd.DataFrame) -> dict | None:
    """Highest decode tokens/s per chip of attention + FFN chips at one cadence (the FFN share fractional:
    B / ffn_tokens FFN instances per attention instance): the published-figure check (Step-3)."""
    best = None
    for level, g in df.groupby("afd_level"):
        att, ffn = g[g["role"] == "attention"], g[g["role"] == "ffn"]
        if att.empty or ffn.empty:
            continue
        tok_s = att["batch"].to_numpy()[:, None] / (att["tpot_ms"].to_numpy()[:, None] / 1e3)
        chips = att["chips_per_instance"].to_numpy()[:, None] + (
            ffn["chips_per_instance"].to_numpy()[None, :] * att["batch"].to_numpy()[:, None] / ffn["ffn_tokens"].to_numpy()[None, :])
        per = tok_s / chips
        i, j = np.unravel_index(int(np.argmax(per)), per.shape)
        if best is None or per[i, j] > best["tok_s_per_chip"]:
            a, f = att.iloc[i], ffn.iloc[j]
            best = {"tok_s_per_chip": float(per[i, j]), "level": level, "attention": a.to_dict(), "ffn": f.to_dict(),
                    "ffn_per_attention": float(a["batch"] / f["ffn_tokens"])}
    return best
