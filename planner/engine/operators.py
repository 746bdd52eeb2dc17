"""Cost terms of a layer's operators, as arrays over candidates: GEMM FLOPs and bytes, attention work (decode
split-KV, prefill tiles and causal pairs), MoE routing (experts per rank, remote copies, imbalance, distinct
experts), all-reduce (one-shot, ring, hierarchical), kernel launches per stage, pipelined prefill, the decode
context and the speculative step. planner.engine.roofline sums them for every candidate; planner.analyses.kernels
checks them one by one against measured kernels. docs/physics.md derives each term.
"""

from __future__ import annotations

import numpy as np

from planner.engine.params import active_params
from planner.engine.tables import ModelTable

ACT_BYTES = 2.0  # activations travel and are stored in bf16
KERNELS_PER_LAYER = 8  # norms, QKV, attention, O, gate/up, activation, down, residual
# a linear-attention layer's token mixer: a decode step launches the convolution update and the recurrent kernel
# (in place of attention); a prefill the convolution and the chunked delta-rule scan, six kernels in the FLA
# implementation (local cumsum, K K^T, triangular solve, W/U, inter-chunk states, output)
LIN_DECODE_KERNELS = 2
LIN_SCAN_EXTRA_KERNELS = 5
MLA_EXTRA_KERNELS = 5  # q_a proj, q_a norm, q_b proj, kv_a proj + norm, rope (MLA layers)
MOE_EXTRA_KERNELS = 4  # router GEMM, top-k, permute (dispatch), unpermute (combine) (MoE layers)
SHARED_EXPERT_KERNELS = 3  # gate/up, activation, down of the shared expert(s)
# Decode attention (TRT-LLM on H100): split-KV (flash-decoding) cuts a work item's KV into blocks only while the
# chip has idle CTA slots, one per SM of the H100 (used for every chip). TRT-LLM has no XQA kernel for group sizes
# q/kv >= 48 and falls back to a slow generic one; the engine assumes a grouped kernel exists for every group size,
# as models built on such groups ship one (e.g. Step-3's MFA): planner.analyses.kernels models that fallback for the
# benchmark rows only.
DECODE_ATTN_CTA_SLOTS = 132.0
PREFILL_ATTN_TILE = 128.0  # query rows per prefill-attention work item (sequence, query head, tile)
PREFILL_CHUNK_TOKENS = 8192  # largest prompt chunk per rank and step (TRT-LLM max_num_tokens / vLLM max_num_batched_tokens default 8192)


def kv_elems_per_chip(mt: ModelTable, m, tp):
    """KV-cache elements one token adds per layer on one chip: the MLA latent (replicated over TP ranks), or
    2 x the KV heads this chip holds (at least one, replicated when tp exceeds them) x head_dim; averaged over the
    softmax layers where the windowed layers have a shape of their own (`kv_elems_per_chip_by_kind`)."""
    full, win = kv_elems_per_chip_by_kind(mt, m, tp)
    softmax = np.maximum(mt.layers[m] - mt.lin_layers[m], 1.0)
    return np.where(mt.window_shape[m], ((softmax - mt.window_layers[m]) * full + mt.window_layers[m] * win) / softmax,
                    full)


def kv_elems_per_token_chip(mt: ModelTable, m, tp):
    """KV-cache elements one token adds per layer on one chip, for sizing a cache by tokens: `kv_elems_per_chip`
    times the entries a token adds (DeepSeek-V4 caches compressed entries, fewer than one per token)."""
    return kv_elems_per_chip(mt, m, tp) * mt.entries_per_token[m]


def kv_elems_per_chip_by_kind(mt: ModelTable, m, tp):
    """(full-attention layer, windowed layer) KV elements one token adds on one chip. The two differ only where the
    windowed layers have their own shape (Gemma-4); a full layer whose keys serve as values caches them once."""
    # MLA: the latent, replicated; DeepSeek-V4: its one KV head (keys are values), replicated; else 2 x the KV heads
    full = np.where(mt.is_mla[m] | (mt.ca_window[m] > 0), mt.kv_elems[m],
                    2.0 * np.maximum(mt.kv_heads[m] / tp, 1.0) * mt.head_dim[m])
    own = mt.window_shape[m]
    full = np.where(own, mt.kv_elems[m] / mt.kv_heads[m] * np.maximum(mt.kv_heads[m] / tp, 1.0), full)
    win = np.where(own, 2.0 * np.maximum(mt.kv_heads_win[m] / tp, 1.0) * mt.head_dim_win[m], full)
    return full, win


def experts_per_rank(num_experts, ep):
    """Experts one EP rank holds: ceil(E/ep); when ep does not divide E, redundant copies fill the remainder
    (DeepSeek EPLB / SGLang / TRT-LLM redundant experts), so weights per rank round up."""
    return np.ceil(num_experts / np.asarray(ep, float))


def remote_copies(top_k, ep, domain):
    """Copies of one token that leave its chip in an EP dispatch (uniform routing over `ep` ranks).

    Inside one scale-up domain every remote expert gets its own copy: top_k·(ep−1)/ep. Across domains the
    dispatch is hierarchical (DeepEP, NCCL-EP): a token crosses the scale-out network once per remote domain
    holding any of its experts, then fans out over the scale-up links, so the scale-out copies are the expected
    number of distinct remote domains, nodes·(1 − (1 − 1/nodes)^top_k)·(nodes − 1)/nodes."""
    ep = np.asarray(ep, float)
    nodes = np.maximum(ep / max(domain, 1.0), 1.0)
    flat = top_k * (ep - 1) / ep
    hier = nodes * -np.expm1(top_k * np.log1p(-1.0 / np.maximum(nodes, 1.0 + 1e-9))) * (nodes - 1) / nodes
    return np.where(nodes > 1, hier, flat)


def kernels_per_stage(layers, moe_layers, mla: bool, shared_experts: bool):
    """Kernel launches per pipeline stage and step: KERNELS_PER_LAYER per layer, more for MLA and MoE layers."""
    per_layer = KERNELS_PER_LAYER + (MLA_EXTRA_KERNELS if mla else 0)
    per_moe = MOE_EXTRA_KERNELS + (SHARED_EXPERT_KERNELS if shared_experts else 0)
    return layers * per_layer + moe_layers * per_moe


def moe_imbalance(ep):
    """Busiest-rank / mean expert load at expert-parallel degree ep: ep**moe_imbalance_exponent (1 at ep = 1)."""
    return np.power(np.maximum(np.asarray(ep, float), 1.0), active_params().moe_imbalance_exponent)


def attention_dp_busiest_tokens(mean_tokens, prompt_tokens, dp):
    """Prefill tokens on the busiest of dp attention ranks when prompts arrive whole (chunks of at most
    PREFILL_CHUNK_TOKENS): a rank holds a chunk u with probability p = mean/u, so the busiest carries
    u·(1 − (1 − p)^dp) when p < 1, else u·ceil(mean/u). Equals the mean when dp = 1."""
    u = np.minimum(np.maximum(prompt_tokens, 1.0), PREFILL_CHUNK_TOKENS)
    p = np.minimum(mean_tokens / u, 1.0)
    busy = np.where(p < 1.0, u * -np.expm1(dp * np.log1p(-np.minimum(p, 1 - 1e-12))), u * np.ceil(mean_tokens / u))
    return np.where(dp > 1, np.maximum(busy, mean_tokens), mean_tokens)


def linear_attention_work(dec_seqs, prompts, prompt_tokens, flops_per_token, state_bytes, hidden_per_rank):
    """One linear-attention layer's work on one rank: FLOPs of the recurrent decode update (one token per
    sequence), FLOPs of the chunked prefill scan (every prompt token), and bytes: each decoding sequence and
    each prompt reads and writes its state once, every token moves its q, k, v, gate activations."""
    dec_flops = dec_seqs * flops_per_token
    scan_flops = prompts * prompt_tokens * flops_per_token
    bytes_ = 2.0 * (dec_seqs + prompts) * state_bytes + (dec_seqs + prompts * prompt_tokens) * 4 * hidden_per_rank * ACT_BYTES
    return dec_flops, scan_flops, bytes_


def distinct_experts(num_experts, top_k, tokens):
    """Expected distinct experts touched by `tokens` tokens routed top_k of E uniformly:
    E·(1 − (1 − k/E)^T). At batch 1 only k experts' weights are read; at large batch all E."""
    ratio = top_k / num_experts
    if ratio >= 1:
        return num_experts + 0.0 * np.asarray(tokens, float)
    return num_experts * -np.expm1(np.asarray(tokens, float) * np.log1p(-ratio))


def allreduce_traffic(message_bytes, group, one_shot_bytes=None, sharpness=None):
    """Bytes each rank moves per byte all-reduced. Ring / two-shot (reduce-scatter + all-gather): 2(n−1)/n. Inside
    an NVLink domain the framework's custom all-reduce reads every peer's buffer in one shot, (n−1), for small
    messages and switches to two-shot for large ones; the blend weight 1/(1 + (bytes/one_shot_bytes)^sharpness)
    is the measured switch (H100 TRT-LLM custom all-reduce). one_shot_bytes = 0: the ring alone; None (either):
    the fitted allreduce_oneshot_bytes / allreduce_oneshot_sharpness."""
    p = active_params()
    one_shot_bytes = p.allreduce_oneshot_bytes if one_shot_bytes is None else one_shot_bytes
    sharpness = p.allreduce_oneshot_sharpness if sharpness is None else sharpness
    n = np.asarray(group, float)
    two = 2 * (n - 1) / np.maximum(n, 1.0)
    b = np.asarray(message_bytes, float)
    o = np.asarray(one_shot_bytes, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(o > 0, 1.0 / (1.0 + (b / np.where(o > 0, o, 1.0)) ** sharpness), 0.0)
    return two + (n - 1 - two) * s


def allreduce_one_shot_bytes(group, domain):
    """The one-shot/two-shot switch size for an all-reduce over `group` ranks: allreduce_oneshot_bytes inside an
    NVLink domain (the framework's custom all-reduce exists there only), 0 (the ring) across nodes."""
    group, domain = np.asarray(group, float), np.asarray(domain, float)
    return np.where((group <= domain) & (domain > 1), active_params().allreduce_oneshot_bytes, 0.0)


def group_allreduce_s(message_bytes, group, domain, up_bw, up_lat, out_bw, out_lat):
    """All-reduce over `group` chips. Inside one scale-up domain: over its links (allreduce_s, with the one-shot
    switch). Across domains, hierarchically: a reduce-scatter and an all-gather inside each domain over the scale-up
    links (one all-reduce's traffic over the d = min(group, domain) chips there) and, between the m = group / d
    domains, an all-reduce of bytes / d per chip, each chip over its own NIC in parallel (NCCL runs one ring per NIC:
    the d chips of a domain cross at once). A domain of one chip (no scale-up links) is a ring over the NICs."""
    group = np.asarray(group, float)
    domain = np.asarray(domain, float)
    b = np.asarray(message_bytes, float)
    d = np.maximum(np.minimum(group, domain), 1.0)
    m = group / d
    flat = allreduce_s(b, group, np.where(domain > 1, up_bw, out_bw), np.where(domain > 1, up_lat, out_lat),
                       allreduce_one_shot_bytes(group, domain))
    hierarchical = allreduce_s(b, d, up_bw, up_lat) + allreduce_s(b / d, m, out_bw, out_lat)
    return np.where((group > domain) & (domain > 1), hierarchical, flat)


def allreduce_s(message_bytes, group, bw_bytes_s, latency_s, one_shot_bytes=0.0, sharpness=None):
    """All-reduce, α–β model: α + traffic · bytes / bandwidth (0 for a group of one); traffic 2(n−1)/n for a ring,
    blended towards the one-shot (n−1) for small messages inside an NVLink domain (`allreduce_traffic`)."""
    group = np.asarray(group, float)
    traffic = allreduce_traffic(message_bytes, group, one_shot_bytes, sharpness)
    return np.where(group > 1, latency_s + traffic * message_bytes / bw_bytes_s, 0.0)


def gemm_efficiency(eta, m_tokens, m_half):
    """Sustained GEMM fraction of dense peak at m tokens (rows): eta·m/(m + m_half).

    The small-m falloff stands for tiles left idle when few rows feed the SMs; at m = m_half the GEMM
    reaches half of its large-shape efficiency. Fitted on the H100 kernel data (planner calibrate)."""
    return eta * m_tokens / (m_tokens + m_half)


def moe_width_factor(width, width_half=None):
    """Grouped-GEMM efficiency factor of experts `width` intermediate columns wide per rank: w/(w + half)."""
    half = active_params().moe_expert_width_half if width_half is None else width_half
    width = np.asarray(width, float)
    return width / (width + half)


def gemm_flops_bytes(m, n, k, weight_bytes_per_elem, act_bytes=ACT_BYTES):
    """One GEMM y[m,n] = x[m,k]·W[n,k]ᵀ: 2mnk FLOPs; bytes = weights + activations in and out."""
    return 2.0 * m * n * k, n * k * weight_bytes_per_elem + (m * k + m * n) * act_bytes


def decode_attention_flops_bytes(seqs, ctx, q_heads, kv_elems_per_token, kv_bytes, flops_per_ctx_per_head):
    """Decode attention: every sequence reads its whole KV cache (bytes) and scores/values one query per head."""
    return seqs * ctx * q_heads * flops_per_ctx_per_head, seqs * ctx * kv_elems_per_token * kv_bytes


def attention_unit_time(seqs, kv_heads, unit_s):
    """Decode attention's fixed work: one work item (CTA) per (sequence, KV head), each with a setup and a
    softmax/split-KV reduction cost independent of the context; unit_s is that cost amortized over the chip."""
    return seqs * kv_heads * unit_s


def attention_unit_factor(mla: bool, q_per_kv, kv_bytes):
    """Per-work-item cost multiplier of the decode-attention kernel variant: gqa_bf16_unit_factor for a grouped-query
    (q/kv > 1) 16-bit KV cache, 1 for MHA, fp8 KV and MLA."""
    if mla:
        return 1.0 + 0.0 * np.asarray(kv_bytes, float)
    gqa = active_params().gqa_bf16_unit_factor
    return np.where((np.asarray(q_per_kv, float) > 1) & (np.asarray(kv_bytes, float) >= 2), gqa, 1.0)


def decode_attention_splits(units, ctx, split_tokens=None, max_splits=None,
                            slots=DECODE_ATTN_CTA_SLOTS):
    """Split-KV blocks per work item: ctx/split_tokens, at least 1, at most max_splits and no more than the CTA
    slots the other work items leave idle (None: the fitted decode_attn_split_tokens / decode_attn_max_splits)."""
    p = active_params()
    split_tokens = p.decode_attn_split_tokens if split_tokens is None else split_tokens
    max_splits = p.decode_attn_max_splits if max_splits is None else max_splits
    units = np.maximum(np.asarray(units, float), 1e-9)
    return np.clip(np.asarray(ctx, float) / split_tokens, 1.0, np.minimum(max_splits, np.maximum(1.0, slots / units)))


def decode_attention_serial_s(ctx, splits, token_s=None):
    """Latency floor of a decode-attention call: one CTA walks its KV block of ctx/splits tokens serially (token_s
    per token). CTAs beyond the slots run in waves; that throughput limit is the bandwidth term's, and the H100's
    per-token time would wrongly cap faster chips, so waves are not counted here. None: decode_attn_token_ns."""
    token_s = active_params().decode_attn_token_ns * 1e-9 if token_s is None else token_s
    return token_s * np.asarray(ctx, float) / splits


def decode_attention_bw_factor(ctas, half=None):
    """Fraction of the sustained bandwidth a decode-attention KV read reaches with `ctas` concurrent CTAs
    (work items x split-KV blocks): n/(n + half). Few CTAs (batch 1, MQA, short contexts) leave HBM channels idle.
    None: the fitted decode_attn_half_ctas."""
    half = active_params().decode_attn_half_ctas if half is None else half
    ctas = np.asarray(ctas, float)
    return ctas / (ctas + half)


def causal_pairs(s_new, prefix, row_keys=None):
    """(query, key) pairs of a causal prompt of s_new new tokens after a cached prefix, plus the kernel's fixed
    work of row_keys key columns per query row (None: the fitted prefill_attn_row_keys; 0 gives the exact
    s²/2 + s·prefix)."""
    row_keys = active_params().prefill_attn_row_keys if row_keys is None else row_keys
    return s_new * s_new / 2 + s_new * prefix + s_new * row_keys


def prefill_attention_units(seqs, s_new, q_heads, tile=PREFILL_ATTN_TILE):
    """Prefill-attention work items: one per (sequence, query head, query tile)."""
    return seqs * q_heads * np.ceil(np.asarray(s_new, float) / tile)


def pipelined_prefill_s(t_stage, pp, tokens_per_rank, t_p2p, p2p_latency_s, chunk_tokens=PREFILL_CHUNK_TOKENS):
    """First-token time of a prefill batch through pp pipeline stages, its prompts cut into n chunks of at most
    `chunk_tokens` per rank that follow each other through the stages (chunked pipeline parallelism; TensorRT-LLM,
    SGLang and vLLM chunk long prompts by default): (n + pp − 1) chunk-stage times, each 1/n of the batch's stage
    time `t_stage` (exact summed over a prompt, the mean per chunk), plus pp − 1 hand-offs of one chunk's
    activations. n = 1 is the unpipelined pp·t_stage + (pp − 1)·t_p2p; a long prompt tends to t_stage = t_total / pp."""
    pp = np.asarray(pp, float)
    n = np.maximum(np.ceil(np.asarray(tokens_per_rank, float) / chunk_tokens), 1.0)
    p2p_chunk = np.where(pp > 1, p2p_latency_s + (t_p2p - p2p_latency_s) / n, 0.0)
    return (n + pp - 1.0) / n * t_stage + (pp - 1.0) * p2p_chunk


def mean_decode_context(isl, osl, osl_cv=0.0):
    """Mean KV length of the sequences in flight: the prompt plus half the output, length-biased. A request that
    emits L tokens stays in the batch for L steps, so the batch samples requests in proportion to L and their
    generated part averages E[L²]/(2·E[L]) = osl·(1 + cv²)/2 (cv: coefficient of variation of L; output length
    assumed independent of prompt length). Fixed lengths (cv 0) give isl + osl/2; exponential lengths (cv 1),
    isl + osl: the same mean output doubles the generated KV a long-tailed (reasoning) workload holds."""
    return isl + osl * (1.0 + np.square(osl_cv)) / 2.0


def speculative_step_factor(spec_tokens, layers):
    """Draft cost of MTP-style speculation: one extra (average) layer per draft token, as a step-time factor."""
    return 1.0 + np.asarray(spec_tokens, float) / layers
