"""Roofline engine: evaluates arrays of candidate instances at once (numpy, no loop per candidate).

Every operator: time = max(FLOPs / (peak · η), bytes / (bandwidth · η_memory)); communication by the α–β
model; a fixed overhead per kernel launch (launches counted from the layer structure: dense, MLA, MoE). Sums
are per pipeline stage; docs/physics.md derives every term and lists the assumptions (no compute/communication
overlap, uniform MoE routing, steady-state chunked prefill for the aggregated role, decode context at the mean
ISL + OSL/2). The operators' cost terms are planner.engine.operators (checked one by one against measured kernels
by planner.analyses.kernels); the candidates' columns are planner.engine.candidates.Candidates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.engine.candidates import Candidates
from planner.engine.operators import (
    ACT_BYTES,
    LIN_DECODE_KERNELS,
    LIN_SCAN_EXTRA_KERNELS,
    attention_dp_busiest_tokens,
    attention_unit_factor,
    attention_unit_time,
    causal_pairs,
    decode_attention_bw_factor,
    decode_attention_flops_bytes,
    decode_attention_serial_s,
    decode_attention_splits,
    distinct_experts,
    experts_per_rank,
    gemm_efficiency,
    group_allreduce_s,
    kernels_per_stage,
    kv_elems_per_chip,
    kv_elems_per_chip_by_kind,
    linear_attention_work,
    mean_decode_context,
    moe_imbalance,
    moe_width_factor,
    pipelined_prefill_s,
    prefill_attention_units,
    remote_copies,
    speculative_step_factor,
)
from planner.engine.params import active_params
from planner.engine.result import OP_FAMILIES, EngineResult, rates_from_step
from planner.engine.tables import DTYPE_BYTES, DTYPE_CODE, ROLE_CODE, ROLES, ChipTable, ModelTable
from planner.inputs.chips import DTYPES

CHUNK = 1 << 15  # candidates per numpy pass
# The fitted constants (MoE grouped-GEMM efficiency and width, per-step framework overhead, EP imbalance, the
# decode- and prefill-attention kernel facts, the all-reduce switch) are planner.engine.params.EngineParams, each
# with its data and fitting command; the engine reads them through active_params(). The fixed facts follow.
# KV reserved per decoding sequence: "mean" (isl + osl/2, paged KV at steady state, preemption on overflow) or
# "peak" (isl + osl, admission only when the whole sequence fits: TRT-LLM's GUARANTEED_NO_EVICT default).
KV_RESERVATION = "mean"
MEMORY_RESERVE_FRACTION = 0.08  # runtime, allocator fragmentation, CUDA graphs (vLLM/TRT-LLM default 0.9 util)

FIT_REASONS: tuple[str, ...] = (
    "fits",
    "tp must divide the attention heads (and kv heads or be a multiple of them)",
    "ep must divide the chips of a stage (tp*dp) and not exceed the experts; dense models need ep=1",
    "dp>1 (attention data parallel) applies to MoE models; use more instances for a dense model",
    "pp exceeds the number of layers",
    "chip does not support the weights dtype",
    "weights alone exceed usable memory per chip",
    "weights + KV cache + activations exceed usable memory per chip",
)


def evaluate(c: Candidates, mt: ModelTable, ct: ChipTable) -> EngineResult:
    """Physics for every candidate, in SI units (seconds, bytes, tokens/s).

    Candidates are grouped by (model, chip) so model and chip parameters enter as scalars: one numpy
    pass per group, never a Python step per candidate.
    """
    n = len(c)
    if n == 0:
        return _evaluate_group(c, mt, ct, 0, 0, 0)
    key = (c.model.astype(np.int64) * len(ct.ids) + c.chip) * len(ROLES) + c.role
    if (key == key[0]).all() and n <= CHUNK:
        return _evaluate_group(c, mt, ct, int(c.model[0]), int(c.chip[0]), int(c.role[0]))
    grouped = bool((key[1:] >= key[:-1]).all())  # build_candidates emits rows grouped: slice, don't gather
    order = np.arange(n) if grouped else np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    ends = np.r_[starts[1:], n]
    parts = []
    for s, e in zip(starts, ends, strict=True):
        first = order[s]
        m, k, r = int(c.model[first]), int(c.chip[first]), int(c.role[first])
        for lo in range(s, e, CHUNK):  # cache-sized pieces: temporaries stay in L2
            hi = min(lo + CHUNK, e)
            idx = slice(lo, hi) if grouped else order[lo:hi]
            parts.append((idx, _evaluate_group(c.take(idx), mt, ct, m, k, r)))
    return EngineResult.assemble(n, parts)


def _evaluate_group(c: Candidates, mt: ModelTable, ct: ChipTable, m: int, k: int, r: int) -> EngineResult:
    """Physics for candidates that share one model (code m), chip (code k) and role (code r)."""
    params = active_params()
    is_prefill = r == ROLE_CODE["prefill"]
    is_decode = r == ROLE_CODE["decode"]
    is_agg = r == ROLE_CODE["aggregated"]

    tp, ep, pp, dp, B = c.tp, c.ep, c.pp, c.dp, c.batch
    G = tp * dp  # chips per pipeline stage
    chips_per_instance = G * pp

    hidden = mt.hidden[m]
    L = mt.layers[m]
    heads = mt.heads[m]
    kvh = mt.kv_heads[m]
    hd = mt.head_dim[m]
    vhd = mt.v_head_dim[m]
    mla = mt.is_mla[m]
    E = mt.experts[m]
    topk = mt.top_k[m]
    is_moe = E > 0
    vocab = mt.vocab[m]

    wb = DTYPE_BYTES[c.wdtype]
    kb = DTYPE_BYTES[c.kvdtype]
    peak_w = ct.peak_flops[k, c.wdtype]
    dtype_ok = peak_w > 0
    peak_any = ct.peak_flops[k].max()
    peak_w = np.where(dtype_ok, peak_w, peak_any)
    eta_w = ct.eta_compute[k, c.wdtype]
    peak_bf16 = ct.peak_flops[k, 0]
    attn_peak = np.where(peak_bf16 > 0, peak_bf16, peak_any) * ct.eta_attention[k]
    m_half = ct.gemm_m_half[k]
    overhead = ct.kernel_overhead[k]

    # ---------------- token accounting per pipeline stage step
    isl = c.isl
    osl = np.maximum(c.osl, 1.0)
    hit = np.clip(c.prefix_hit, 0.0, 0.99)
    s_new = np.maximum(isl * (1.0 - hit), 1.0)  # new prompt tokens per request
    prefix = isl - s_new  # cached prompt tokens per request
    micro = 1.0 if is_prefill else pp  # decode/aggregated split the batch into pp micro-batches
    dec_seqs = 0.0 * B if is_prefill else B / micro
    # speculative decoding: each sequence verifies 1 + spec_tokens query tokens and emits spec_accept
    q_tok = 1.0 + c.spec_tokens
    accept = np.maximum(c.spec_accept, 1.0)
    # prompts advanced per step: a prefill batch, or (aggregated, steady state) B·accept/osl prompts per step
    pre_seqs = B if is_prefill else (B * accept / osl / micro if is_agg else 0.0 * B)
    if is_agg and not np.isnan(c.prefill_seqs).all():  # an iteration as composed by a scheduler (planner.serving)
        pre_seqs = np.where(np.isnan(c.prefill_seqs), pre_seqs, c.prefill_seqs / micro)
    ctx_dec = mean_decode_context(isl, osl, c.osl_cv)
    if not np.isnan(c.decode_ctx).all():
        ctx_dec = np.where(np.isnan(c.decode_ctx), ctx_dec, c.decode_ctx)
    t_dec = dec_seqs * q_tok
    t_pre = pre_seqs * s_new
    T_stage = t_dec + t_pre
    Tr = T_stage / dp  # tokens per attention rank (mean)
    # attention-DP imbalance (aggregated role): prompts land whole on one rank, so the busiest of dp ranks carries
    # more prefill tokens than the mean; every rank waits for it at the MoE all-to-all (parameter-free, see
    # attention_dp_busiest_tokens). Attention-side operators (projections, attention, dense FFN) use Tr_max.
    Tr_max = (t_dec / dp + attention_dp_busiest_tokens(t_pre / dp, s_new, dp)) if (is_agg and np.any(dp > 1)) else Tr
    ls = L / pp
    ld = mt.dense_layers[m] / pp
    lm = mt.moe_layers[m] / pp

    # ---------------- memory per chip (decided first: a spill to the cold tier slows every read)
    kv_elems_chip = kv_elems_per_chip(mt, m, tp)
    W = mt.window[m]
    frac_win = mt.window_layers[m] / L if W > 0 else 0.0
    frac_lin = mt.lin_layers[m] / L  # linear-attention layers hold no KV and attend over no context
    # windowed layers with a shape of their own (Gemma-4): full and windowed layers priced apart below
    own_win = bool(mt.window_shape[m])
    kv_full_chip, kv_win_chip = kv_elems_per_chip_by_kind(mt, m, tp)
    hd_w = mt.head_dim_win[m]
    lin = mt.lin_layers[m] > 0

    K = mt.dsa_topk[m]  # DeepSeek sparse attention: each query reads its top-K keys (0: dense)
    # DeepSeek-V4: every layer keeps a window of Wc tokens; CSA layers also one entry per r_csa tokens (their top Kc
    # attended), HCA layers one per r_hca (all attended). Its KV unit is an entry of one head (keys are values).
    ca = bool(mt.ca_window[m] > 0)
    Wc, Kc = mt.ca_window[m], mt.ca_topk[m]
    f_csa, f_hca = mt.ca_csa_layers[m] / L, mt.ca_hca_layers[m] / L
    r_csa, r_hca = mt.ca_csa_ratio[m], mt.ca_hca_ratio[m]

    def ctx_held(ctx):
        """KV tokens a sequence holds per layer, averaged over the layers (windowed layers at most W, linear ones
        none; sparse attention still caches every token; V4: its window and its compressed entries)."""
        if ca:
            return np.minimum(ctx, Wc) + (f_csa / r_csa + f_hca / r_hca) * ctx
        return (1 - frac_win - frac_lin) * ctx + frac_win * np.minimum(ctx, W) if W > 0 else (1 - frac_lin) * ctx

    def ctx_eff(ctx):
        """Context each layer attends over, averaged over the layers (windowed layers see at most W tokens,
        linear-attention layers none, sparse-attention layers their top K; V4: its window, the top Kc of a CSA
        layer's entries and all of an HCA layer's)."""
        if ca:
            return np.minimum(ctx, Wc) + f_csa * np.minimum(ctx / r_csa, Kc) + f_hca * ctx / r_hca
        if K <= 0:
            return ctx_held(ctx)
        full = (1 - frac_win - frac_lin) * np.minimum(ctx, K)
        return full + frac_win * np.minimum(ctx, W) if W > 0 else full

    # KV held per sequence: the prompt (prefill), else what the scheduler reserves (KV_RESERVATION)
    kv_ctx_resident = isl if is_prefill else (isl + osl if KV_RESERVATION == "peak" else ctx_dec)
    kv_seqs_resident = (B if is_prefill else (B + B / osl if is_agg else B)) / dp
    if own_win:
        held = ((1 - frac_win - frac_lin) * kv_ctx_resident * kv_full_chip
                + frac_win * np.minimum(kv_ctx_resident, W) * kv_win_chip)
        kv_bytes = kv_seqs_resident * held * kb * ls
    else:
        kv_bytes = kv_seqs_resident * ctx_held(kv_ctx_resident) * kv_elems_chip * kb * ls
    idx_key_bytes = mt.idx_dim[m] + 4.0  # DSA indexer key per token and indexer layer: fp8 and a 4-byte scale
    idx_stage = mt.idx_layers[m] / pp
    idx_ratio = r_csa if ca else 1.0  # tokens per indexer key (V4: one per CSA entry)
    if K > 0 or ca:
        kv_bytes = kv_bytes + kv_seqs_resident * kv_ctx_resident / idx_ratio * idx_key_bytes * idx_stage
    # linear-attention layers: a constant state per sequence, split over the TP ranks by head
    state_seq_chip = mt.lin_state_elems[m] * mt.lin_state_bytes[m] / tp  # bytes per sequence per linear layer
    lin_stage = mt.lin_layers[m] / pp
    if lin:
        kv_bytes = kv_bytes + kv_seqs_resident * state_seq_chip * lin_stage

    inter = mt.dense_inter[m]
    weight_params = (
        ls * mt.attn_params[m] / tp
        + ld * mt.dense_ffn_params[m] / tp
        + lm * (experts_per_rank(E, ep) * ep * mt.expert_params[m] / G + mt.shared_params[m] / tp)
        + mt.embed_params[m] / (tp * pp)
    )
    weight_bytes = weight_params * wb
    logit_rows = (B if is_prefill else dec_seqs) / dp
    act_bytes = Tr * (6 * hidden + 2 * inter / tp) * ACT_BYTES + logit_rows * vocab / tp * 4.0
    need = weight_bytes + kv_bytes + act_bytes
    usable_fast = ct.mem_bytes[k] * (1 - MEMORY_RESERVE_FRACTION)
    usable_cold = ct.cold_bytes[k] * (1 - MEMORY_RESERVE_FRACTION)
    spill = np.maximum(need - usable_fast, 0.0)
    cold_frac = np.minimum(spill / np.maximum(need, 1.0), 1.0) if ct.cold_bytes[k] > 0 else np.zeros(len(c))
    bw_fast = ct.mem_bw[k] * ct.eta_memory[k]
    bw_cold = ct.cold_bw[k] * ct.eta_memory[k]
    bw = 1.0 / ((1 - cold_frac) / bw_fast + cold_frac / bw_cold)

    # ---------------- operators: accumulate per-stage time and what bounds it
    t_compute = np.zeros(len(c))
    t_memory = np.zeros(len(c))
    fam = {}

    def account(name, tc, tm, weight=1.0):
        bound_c = tc >= tm
        t = np.maximum(tc, tm) * weight
        nonlocal t_compute, t_memory
        t_compute = t_compute + np.where(bound_c, t, 0.0)
        t_memory = t_memory + np.where(bound_c, 0.0, t)
        fam[name] = fam.get(name, 0.0) + t
        fam[name + "_c"] = fam.get(name + "_c", 0.0) + np.where(bound_c, t, 0.0)

    def gemm(name, flops, bytes_, m_tokens, weight, eta=eta_w):
        eff = gemm_efficiency(eta, m_tokens, m_half)
        tc, tm = flops / (peak_w * np.maximum(eff, 1e-6)), bytes_ / bw
        account(name, tc, tm, weight)

    # attention projections (QKV + O; MLA down/up projections), every layer
    p_attn = mt.attn_params[m] / tp
    gemm("attn_proj", 2 * Tr_max * p_attn, p_attn * wb + Tr_max * hidden * ACT_BYTES * 2, Tr_max, ls)

    # attention core: decode part reads the KV cache; prefill part is causal over new tokens + prefix
    heads_chip = heads / tp
    dec_r = t_dec / dp  # decode query tokens per attention rank
    ctx_d = ctx_eff(ctx_dec)
    # MLA decode (absorbed): scores over latent+rope, values over the latent
    per_ctx_flops = 2.0 * (mt.kv_elems[m] + mt.kv_lora[m]) if mla else 2.0 * (hd + vhd)
    # each sequence reads its KV once per step, for all of its (1 + spec_tokens) query tokens
    f_att, b_att = decode_attention_flops_bytes(dec_seqs / dp, ctx_d, heads_chip * q_tok, kv_elems_chip, kb, per_ctx_flops)
    kv_heads_chip = 1.0 if mla else np.maximum(kvh / tp, 1.0)
    if own_win:  # full and windowed layers apart: each its context, head size and KV heads
        c_full = (1 - frac_win - frac_lin) * (np.minimum(ctx_dec, K) if K > 0 else ctx_dec)
        c_win = frac_win * np.minimum(ctx_dec, W)
        f_att = dec_seqs / dp * heads_chip * q_tok * (c_full * 2.0 * (hd + vhd) + c_win * 4.0 * hd_w)
        b_att = dec_seqs / dp * (c_full * kv_full_chip + c_win * kv_win_chip) * kb
        kv_heads_chip = ((1 - frac_win - frac_lin) * kv_heads_chip
                         + frac_win * np.maximum(mt.kv_heads_win[m] / tp, 1.0)) / (1 - frac_lin)
    q_per_kv = heads / np.maximum(kvh, 1.0)
    units = dec_seqs / dp * kv_heads_chip  # decode-attention work items (CTAs before split-KV)
    t_serial = 0.0
    if not mla:  # few CTAs do not saturate HBM; each CTA walks its KV block serially (decode_attention_serial_s)
        splits = decode_attention_splits(units, ctx_d)
        b_att = b_att / np.maximum(decode_attention_bw_factor(units * splits), 1e-9)
        t_serial = np.where(dec_seqs > 0, decode_attention_serial_s(ctx_d, splits), 0.0)
    # the KV stream sustains its own bandwidth fraction (eta_attention_memory); expressed as bytes at `bw`
    b_att = b_att * ct.eta_memory[k] / ct.eta_attention_memory[k]
    if not is_decode:
        pre_r = pre_seqs / dp * np.where(Tr > 0, (Tr_max - dec_r) / np.maximum(Tr - dec_r, 1e-9), 1.0)  # busiest rank
        pairs = causal_pairs(s_new, prefix)
        pairs_full = pairs
        if K > 0:  # sparse attention: each new query reads at most K keys
            pairs_full = s_new * np.minimum((s_new + 2 * prefix) / 2, K) + s_new * params.prefill_attn_row_keys
        if ca:  # V4: a query's window, its CSA layer's top Kc entries, its HCA layer's entries (half the keys mean)
            half = (s_new + 2 * prefix) / 2
            pairs = s_new * (np.minimum(half, Wc) + f_csa * np.minimum(half / r_csa, Kc) + f_hca * half / r_hca
                             + params.prefill_attn_row_keys)
        elif W > 0:
            pairs_win = s_new * np.minimum((s_new + 2 * prefix) / 2, W) + s_new * params.prefill_attn_row_keys
            pairs = (1 - frac_win - frac_lin) * pairs_full + frac_win * pairs_win
        else:
            pairs = (1 - frac_lin) * pairs_full
        if own_win:
            f_att = f_att + pre_r * heads_chip * ((1 - frac_win - frac_lin) * pairs_full * 2.0 * (hd + vhd)
                                                  + frac_win * pairs_win * 4.0 * hd_w)
        else:
            f_att = f_att + pre_r * pairs * 2.0 * (hd + vhd) * heads_chip
        pre_units = prefill_attention_units(pre_r, s_new, heads_chip) * (1 - frac_lin)
        if mla:  # a cached prefix is re-expanded from the latent through kv_b (MLA chunk overhead)
            f_att = f_att + 2.0 * pre_r * prefix * mt.kv_lora[m] * heads_chip * (hd - mt.qk_rope[m] + vhd)
        hd_q = ((1 - frac_win - frac_lin) * hd + frac_win * hd_w) / (1 - frac_lin) if own_win else hd
        b_att = b_att + pre_r * (1 - frac_lin) * (s_new * (2 * heads_chip * hd_q * ACT_BYTES + kv_elems_chip * kb)
                                                  + prefix * kv_elems_chip * kb)
    else:
        pre_r, pre_units = 0.0, 0.0
    account("attn_core", f_att / attn_peak, np.maximum(b_att / bw, t_serial), ls)
    if K > 0 or ca:  # the indexer: every query scores every cached token (DSA) or CSA entry (V4), fp8 dot products
        idx_flops_pair = 2.0 * mt.idx_heads[m] * mt.idx_dim[m]
        pre_pairs = causal_pairs(s_new, prefix) / idx_ratio if not is_decode else 0.0
        f_idx = (dec_r * q_tok * ctx_dec / idx_ratio * idx_flops_pair
                 + (pre_r * pre_pairs * idx_flops_pair if not is_decode else 0.0))
        b_idx = (dec_r * ctx_dec + (pre_r * (s_new + prefix) if not is_decode else 0.0)) / idx_ratio * idx_key_bytes
        idx_peak = np.where(ct.peak_flops[k, DTYPE_CODE["fp8"]] > 0, ct.peak_flops[k, DTYPE_CODE["fp8"]], peak_any)
        account("attn_core", f_idx / (idx_peak * ct.eta_attention[k]), b_idx / bw, idx_stage)
    if lin:  # the recurrence of the linear-attention layers, on every linear layer of the stage
        f_dec, f_scan, b_lin = linear_attention_work(dec_r, pre_r, s_new, mt.lin_flops[m] / tp, state_seq_chip,
                                                     hidden / tp)
        scan_peak = np.where(peak_bf16 > 0, peak_bf16, peak_any) * params.linear_scan_efficiency
        account("attn_core", f_dec / attn_peak + f_scan / scan_peak, b_lin / bw, lin_stage)
    # fixed work per decode work item (sequence x KV head on this chip) and per prefill (sequence, head, query tile)
    unit_s = ct.attention_unit[k] * attention_unit_factor(mla, q_per_kv, kb)
    account("attn_core", 0.0, attention_unit_time(units, 1.0, unit_s)
            + attention_unit_time(pre_units, 1.0, ct.attention_unit[k] * params.prefill_tile_unit_factor), ls)

    # dense FFN layers (every layer of a dense model; the first layers of some MoE models)
    if mt.dense_layers[m] > 0:
        p_ffn = mt.dense_ffn_params[m] / tp
        gemm("ffn", 2 * Tr_max * p_ffn, p_ffn * wb + Tr_max * (hidden + inter / tp) * ACT_BYTES * 2, Tr_max, ld)

    if is_moe:  # distinct experts touched by T tokens under uniform routing (the low-batch fix)
        distinct = distinct_experts(E, topk, T_stage)
        p_exp = mt.expert_params[m]
        f_moe = 2 * T_stage * topk * p_exp / G
        b_moe = distinct * p_exp * wb / G + T_stage / G * topk * mt.moe_dim[m] * ACT_BYTES * 2
        m_exp = T_stage * topk / np.maximum(distinct, 1e-9)  # rows per touched expert
        width = mt.expert_width[m] / (G / ep)  # expert intermediate columns per MoE-TP rank
        relative = params.moe_gemm_relative_efficiency if np.isnan(ct.moe_relative[k]) else ct.moe_relative[k]
        eta_moe = eta_w * relative * moe_width_factor(width)
        gemm("ffn", f_moe, b_moe, m_exp, lm * moe_imbalance(ep), eta=eta_moe)
        if mt.shared_params[m] > 0:
            p_sh = mt.shared_params[m] / tp
            gemm("ffn", 2 * Tr_max * p_sh, p_sh * wb, Tr_max, lm)

    # LM head: one logit row per decode token and per finishing prompt; last stage only (avg over pp)
    lm_tokens = (dec_r + pre_r)
    p_lm = vocab * hidden / tp
    gemm("lm_head", 2 * lm_tokens * p_lm, p_lm * wb + lm_tokens * vocab / tp * 4.0, lm_tokens, 1.0 / pp)

    # ---------------- communication (α–β), not overlapped with compute
    dom = ct.scaleup_domain[k]
    up_bw = ct.scaleup_bw[k] * ct.eta_scaleup[k]
    out_bw = ct.scaleout_bw[k] * ct.eta_scaleout[k]

    def link(group):
        inside = (group <= dom) & (dom > 1)
        return np.where(inside, up_bw, out_bw), np.where(inside, ct.scaleup_lat[k], ct.scaleout_lat[k])

    def group_allreduce(message_bytes, group):
        return group_allreduce_s(message_bytes, group, dom, up_bw, ct.scaleup_lat[k], out_bw, ct.scaleout_lat[k])

    ar_bytes = Tr * hidden * ACT_BYTES
    t_ar = group_allreduce(ar_bytes, tp)
    bw_ep, lat_ep = link(ep)
    tok_chip = T_stage / G
    if is_moe:
        # tokens sharded over attention-DP ranks must reach their experts: EP dispatch + combine all-to-all
        # (fp8 dispatch when the weights are quantized, bf16 combine), and an all-gather/reduce-scatter (one
        # all-reduce volume) inside each MoE tensor-parallel group. Without DP attention the tokens are already
        # on every chip and the layer's second TP all-reduce combines the MoE output.
        sharded = dp > 1
        disp_b = np.where((c.wdtype == DTYPE_CODE["fp8"]) | (c.wdtype == DTYPE_CODE["fp4"]), 1.0, ACT_BYTES)
        a2a_bytes = tok_chip * mt.moe_dim[m] * (disp_b + ACT_BYTES) * remote_copies(topk, ep, dom)
        t_a2a = np.where(ep > 1, 2 * lat_ep + a2a_bytes / bw_ep, 0.0)
        moe_tp = G / ep
        t_moe_tp = group_allreduce(T_stage / ep * mt.moe_dim[m] * ACT_BYTES, moe_tp)
        t_moe_comm = np.where(sharded, t_a2a + t_moe_tp, t_ar)
    else:
        t_moe_comm = 0.0
    bw_pp, lat_pp = link(chips_per_instance)
    t_p2p = np.where(pp > 1, lat_pp + Tr * hidden * ACT_BYTES / bw_pp, 0.0)
    # attention output all-reduce every layer; FFN all-reduce on dense layers; MoE traffic on MoE layers
    t_comm_stage = ls * t_ar + ld * t_ar + lm * t_moe_comm
    fam["comm"] = t_comm_stage
    t_overhead = kernels_per_stage(ls, lm, mla, mt.shared_params[m] > 0) * overhead
    if lin:  # a linear layer's mixer launches more kernels than one attention call, more still with prompt tokens
        extra = (LIN_DECODE_KERNELS - 1) + LIN_SCAN_EXTRA_KERNELS * (np.asarray(pre_r) > 0)
        t_overhead = t_overhead + lin_stage * extra * overhead
    fam["overhead"] = t_overhead

    t_stage = t_compute + t_memory + t_comm_stage + t_overhead
    if not is_prefill and np.any(c.spec_tokens > 0):  # MTP draft heads: one extra layer per draft token
        t_stage = t_stage * speculative_step_factor(c.spec_tokens, L)

    # ---------------- per-role latency and throughput
    latency = pp * t_stage + (pp - 1) * t_p2p  # one micro-batch through all stages
    # the framework's host time, once per iteration of any role, plus its scheduler's time per sequence (each
    # attention-DP rank schedules its own share)
    host = params.host_time_s(c.framework, (dec_seqs + pre_seqs) / dp)
    if is_prefill:
        step, ttft = t_stage + host, pipelined_prefill_s(t_stage, pp, Tr, t_p2p, lat_pp) + host
    else:
        step = latency + t_p2p + host  # decode: every sequence advances `accept` tokens per `step`
        # aggregated: a prompt gets the per-step chunk budget until its s_new tokens are in
        ttft = np.maximum(1.0, s_new / np.maximum(t_pre * micro, 1e-9)) * step if is_agg else np.full(len(c), np.nan)
    tpot, seqs_per_s, decode_tok_s, prefill_tok_s = rates_from_step(step, B, r, isl, osl, accept)

    # ---------------- validity and fit
    def divides(d, x):  # d divides x, for float arrays of small integers (cheaper than fmod)
        q = x / d
        return q == np.floor(q)

    div_heads = divides(tp, heads)
    if not mla:
        div_heads &= divides(tp, kvh) | divides(kvh, tp)
    ep_ok = (divides(ep, G) & (ep <= E)) if is_moe else (ep == 1)  # redundant experts fill E % ep
    dp_ok = np.ones(len(c), bool) if is_moe else (dp == 1)
    reason = np.zeros(len(c), dtype=np.int8)
    reason = np.where(reason == 0, np.where(~div_heads, 1, 0), reason)
    reason = np.where(reason == 0, np.where(~ep_ok, 2, 0), reason)
    reason = np.where(reason == 0, np.where(~dp_ok, 3, 0), reason)
    reason = np.where(reason == 0, np.where(pp > L, 4, 0), reason)
    reason = np.where(reason == 0, np.where(~dtype_ok, 5, 0), reason)
    reason = np.where(reason == 0, np.where(weight_bytes > usable_fast + usable_cold, 6, 0), reason)
    reason = np.where(reason == 0, np.where(need > usable_fast + usable_cold, 7, 0), reason).astype(np.int8)

    total = np.maximum(t_stage, 1e-30)
    n = len(c)

    def family_compute_share(f):
        t = np.asarray(fam.get(f, 0.0))
        return np.broadcast_to(np.where(t > 0, fam.get(f + "_c", 0.0) / np.maximum(fam.get(f, 1e-30), 1e-30), 0.0), (n,))

    return EngineResult(
        chips_per_instance=chips_per_instance, ttft_s=ttft, tpot_s=tpot, step_s=step, requests_per_s=seqs_per_s,
        prefill_tok_s=prefill_tok_s, decode_tok_s=decode_tok_s, memory_bytes=need, weight_bytes=weight_bytes,
        kv_bytes=kv_bytes, memory_capacity_bytes=np.full(n, ct.mem_bytes[k] + ct.cold_bytes[k]),
        cold_tier_fraction=cold_frac, fit_reason=reason, share_compute=t_compute / total,
        share_memory=t_memory / total, share_comm=t_comm_stage / total, share_overhead=t_overhead / total,
        kv_bytes_per_token=(((mt.kv_elems[m] * (1 - frac_win - frac_lin) + mt.kv_elems_win[m] * frac_win) * kb * L
                             if own_win else mt.kv_elems[m] * mt.entries_per_token[m] * kb * L * (1 - frac_lin))
                            + (mt.idx_layers[m] * idx_key_bytes / idx_ratio if K > 0 or ca else 0.0) + np.zeros(n)),
        # per request, whatever its length: a linear-attention state; V4's window (the prompt's last Wc tokens)
        state_bytes_per_request=(mt.lin_layers[m] * mt.lin_state_elems[m] * mt.lin_state_bytes[m] + np.zeros(n)
                                 + (np.minimum(isl, Wc) * mt.kv_elems[m] * kb * L if ca else 0.0)),
        **{f"t_{f}_s": np.broadcast_to(fam.get(f, 0.0), (n,)) * pp for f in OP_FAMILIES},
        **{f"{f}_compute_share": family_compute_share(f) for f in ("attn_proj", "attn_core", "ffn", "lm_head")},
        host_s=np.broadcast_to(host, (n,)).astype(float),
    )


def to_frame(c: Candidates, res: EngineResult, mt: ModelTable, ct: ChipTable) -> pd.DataFrame:
    """The coefficient table: one row per candidate, units in column names."""
    chips_n = res.chips_per_instance
    price = ct.price_usd_per_hr[c.chip]
    df = pd.DataFrame(
        {
            "role": pd.Categorical.from_codes(c.role, categories=list(ROLES)),
            "model": pd.Categorical.from_codes(c.model, categories=list(mt.ids)),
            "chip": pd.Categorical.from_codes(c.chip, categories=list(ct.ids)),
            "tp": c.tp.astype(np.int32),
            "ep": c.ep.astype(np.int32),
            "pp": c.pp.astype(np.int32),
            "dp": c.dp.astype(np.int32),
            "batch": c.batch,
            "isl": c.isl,
            "osl": c.osl,
            "weights_dtype": pd.Categorical.from_codes(c.wdtype, categories=list(DTYPES)),
            "kv_dtype": pd.Categorical.from_codes(c.kvdtype, categories=list(DTYPES)),
            "prefix_hit_rate": c.prefix_hit,
            "chips_per_instance": chips_n.astype(np.int32),
            "ttft_ms": res.ttft_s * 1e3,
            "tpot_ms": res.tpot_s * 1e3,
            "capacity_rps": res.requests_per_s,
            "prefill_tok_s_per_chip": res.prefill_tok_s / chips_n,
            "decode_tok_s_per_chip": res.decode_tok_s / chips_n,
            "memory_gb_per_chip": res.memory_bytes / 1e9,
            "memory_capacity_gb": res.memory_capacity_bytes / 1e9,
            "fits": res.fit_reason == 0,
            "fit_reason": pd.Categorical.from_codes(res.fit_reason, categories=list(FIT_REASONS)),
            "share_compute": res.share_compute,
            "share_memory": res.share_memory,
            "share_comm": res.share_comm,
            "share_overhead": res.share_overhead,
            "cost_usd_per_hr": price * chips_n,
            "power_w": ct.power_w[c.chip] * chips_n,
            "kv_bytes_per_token": res.kv_bytes_per_token,
            "state_bytes_per_request": res.state_bytes_per_request,
        }
    )
    return df


def op_breakdown(res: EngineResult, i: int) -> pd.DataFrame:
    """Per operator family time (ms, per forward through all stages) and what bounds it, for row i."""
    rows = []
    for f in OP_FAMILIES:
        t = float(res.family_time_s(f)[i]) * 1e3
        if f in ("comm", "overhead"):
            bound = f if t > 0 else "-"
        else:
            share = float(getattr(res, f"{f}_compute_share")[i])
            bound = "-" if t == 0 else ("compute" if share >= 0.5 else "memory")
        rows.append({"family": f, "time_ms": t, "bound": bound})
    return pd.DataFrame(rows)
