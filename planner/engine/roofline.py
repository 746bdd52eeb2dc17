"""Roofline engine: evaluates arrays of candidate instances at once (numpy, no loop per candidate).

Every operator: time = max(FLOPs / (peak · η), bytes / (bandwidth · η_memory)); communication by the α–β
model; a fixed overhead per kernel launch (launches counted from the layer structure: dense, MLA, MoE). Sums
are per pipeline stage; docs/physics.md derives every term and lists the assumptions (no compute/communication
overlap, uniform MoE routing, steady-state chunked prefill for the aggregated role, decode context at the mean
ISL + OSL/2). The per-operator helpers below are shared with planner/analyses/kernels.py, which checks them against
measured kernels.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from planner.engine.params import active_params
from planner.engine.result import OP_FAMILIES, EngineResult, rates_from_step
from planner.engine.tables import DTYPE_BYTES, DTYPE_CODE, ROLE_CODE, ROLES, ChipTable, ModelTable
from planner.inputs.chips import DTYPES

CHUNK = 1 << 15  # candidates per numpy pass
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
# The fitted constants (MoE grouped-GEMM efficiency and width, per-step framework overhead, EP imbalance, the
# decode- and prefill-attention kernel facts, the all-reduce switch) are planner.engine.params.EngineParams, each
# with its data and fitting command; the engine reads them through active_params(). The fixed facts follow.
# KV reserved per decoding sequence: "mean" (isl + osl/2, paged KV at steady state, preemption on overflow) or
# "peak" (isl + osl, admission only when the whole sequence fits: TRT-LLM's GUARANTEED_NO_EVICT default).
KV_RESERVATION = "mean"
MEMORY_RESERVE_FRACTION = 0.08  # runtime, allocator fragmentation, CUDA graphs (vLLM/TRT-LLM default 0.9 util)
# Decode attention (TRT-LLM on H100): split-KV (flash-decoding) cuts a work item's KV into blocks only while the
# chip has idle CTA slots, one per SM of the H100 (used for every chip). TRT-LLM has no XQA kernel for group sizes
# q/kv >= 48 and falls back to a slow generic one; the engine assumes a grouped kernel exists for every group size,
# as models built on such groups ship one (e.g. Step-3's MFA): planner.analyses.kernels models that fallback for the
# benchmark rows only.
DECODE_ATTN_CTA_SLOTS = 132.0
PREFILL_ATTN_TILE = 128.0  # query rows per prefill-attention work item (sequence, query head, tile)
PREFILL_CHUNK_TOKENS = 8192  # largest prompt chunk per rank and step (TRT-LLM max_num_tokens / vLLM max_num_batched_tokens default 8192)

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


@dataclass
class Candidates:
    """Columns of candidate instances; every field a 1-D array of equal length (codes for categories)."""

    role: np.ndarray  # ROLE_CODE
    model: np.ndarray  # index into ModelTable
    chip: np.ndarray  # index into ChipTable
    tp: np.ndarray
    ep: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    batch: np.ndarray  # prefill: sequences per forward; decode/aggregated: sequences in flight
    isl: np.ndarray
    osl: np.ndarray
    wdtype: np.ndarray  # DTYPE_CODE
    kvdtype: np.ndarray
    prefix_hit: np.ndarray  # fraction of input tokens served from a prefix cache
    spec_tokens: np.ndarray  # draft tokens per decode step (MTP/EAGLE); 0 = no speculative decoding
    spec_accept: np.ndarray  # mean tokens emitted per target step incl. the verified one (1 = none)
    osl_cv: np.ndarray  # coefficient of variation of the output lengths (0 = every request emits osl tokens)
    # one iteration as a serving scheduler composes it (planner.serving); NaN = the steady state from isl/osl:
    decode_ctx: np.ndarray  # KV tokens per decoding sequence (NaN: mean_decode_context(isl, osl, osl_cv))
    prefill_seqs: np.ndarray  # aggregated: prompts of isl tokens prefilled in this step (NaN: batch x accept / osl)
    framework: np.ndarray  # FRAMEWORK_CODE of the serving framework (its host time per iteration)
    tbo: np.ndarray  # 1: two micro-batches overlap MoE communication with compute (planner.axes.overlap), 0: not

    @classmethod
    def from_columns(cls, **cols) -> Candidates:
        """Broadcast scalars and arrays to one length; missing optional columns default sensibly."""
        cols.setdefault("prefix_hit", 0.0)
        cols.setdefault("spec_tokens", 0.0)
        cols.setdefault("spec_accept", 1.0)
        cols.setdefault("osl_cv", 0.0)
        cols.setdefault("decode_ctx", np.nan)
        cols.setdefault("prefill_seqs", np.nan)
        cols.setdefault("framework", 0)
        cols.setdefault("tbo", 0)
        cols.setdefault("ep", 1)
        cols.setdefault("pp", 1)
        cols.setdefault("dp", 1)
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in cols]
        if missing:
            raise TypeError(f"missing candidate columns: {missing}")
        arrays = np.broadcast_arrays(*[np.asarray(cols[n]) for n in names])
        kinds = {"role": np.int8, "model": np.int32, "chip": np.int32, "wdtype": np.int8, "kvdtype": np.int8,
                 "framework": np.int8, "tbo": np.int8}
        return cls(**{n: np.ascontiguousarray(a, dtype=kinds.get(n, np.float64)) for n, a in zip(names, arrays, strict=True)})

    def __len__(self) -> int:
        return len(self.role)

    def take(self, idx: np.ndarray) -> Candidates:
        return Candidates(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def kv_elems_per_chip(mt: ModelTable, m, tp):
    """KV-cache elements one token adds per layer on one chip: the MLA latent (replicated over TP ranks), or
    2 x the KV heads this chip holds (at least one, replicated when tp exceeds them) x head_dim."""
    return np.where(mt.is_mla[m], mt.kv_elems[m], 2.0 * np.maximum(mt.kv_heads[m] / tp, 1.0) * mt.head_dim[m])


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
    lin = mt.lin_layers[m] > 0

    K = mt.dsa_topk[m]  # DeepSeek sparse attention: each query reads its top-K keys (0: dense)

    def ctx_held(ctx):
        """KV tokens a sequence holds per layer, averaged over the layers (windowed layers at most W, linear ones
        none; sparse attention still caches every token)."""
        return (1 - frac_win - frac_lin) * ctx + frac_win * np.minimum(ctx, W) if W > 0 else (1 - frac_lin) * ctx

    def ctx_eff(ctx):
        """Context each layer attends over, averaged over the layers (windowed layers see at most W tokens,
        linear-attention layers none, sparse-attention layers their top K)."""
        if K <= 0:
            return ctx_held(ctx)
        full = (1 - frac_win - frac_lin) * np.minimum(ctx, K)
        return full + frac_win * np.minimum(ctx, W) if W > 0 else full

    # KV held per sequence: the prompt (prefill), else what the scheduler reserves (KV_RESERVATION)
    kv_ctx_resident = isl if is_prefill else (isl + osl if KV_RESERVATION == "peak" else ctx_dec)
    kv_seqs_resident = (B if is_prefill else (B + B / osl if is_agg else B)) / dp
    kv_bytes = kv_seqs_resident * ctx_held(kv_ctx_resident) * kv_elems_chip * kb * ls
    idx_key_bytes = mt.idx_dim[m] + 4.0  # DSA indexer key per token and indexer layer: fp8 and a 4-byte scale
    idx_stage = mt.idx_layers[m] / pp
    if K > 0:
        kv_bytes = kv_bytes + kv_seqs_resident * kv_ctx_resident * idx_key_bytes * idx_stage
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
        if W > 0:
            pairs_win = s_new * np.minimum((s_new + 2 * prefix) / 2, W) + s_new * params.prefill_attn_row_keys
            pairs = (1 - frac_win - frac_lin) * pairs_full + frac_win * pairs_win
        else:
            pairs = (1 - frac_lin) * pairs_full
        f_att = f_att + pre_r * pairs * 2.0 * (hd + vhd) * heads_chip
        pre_units = prefill_attention_units(pre_r, s_new, heads_chip) * (1 - frac_lin)
        if mla:  # a cached prefix is re-expanded from the latent through kv_b (MLA chunk overhead)
            f_att = f_att + 2.0 * pre_r * prefix * mt.kv_lora[m] * heads_chip * (hd - mt.qk_rope[m] + vhd)
        b_att = b_att + pre_r * (1 - frac_lin) * (s_new * (2 * heads_chip * hd * ACT_BYTES + kv_elems_chip * kb)
                                                  + prefix * kv_elems_chip * kb)
    else:
        pre_r, pre_units = 0.0, 0.0
    account("attn_core", f_att / attn_peak, np.maximum(b_att / bw, t_serial), ls)
    if K > 0:  # the DSA indexer: every query scores every cached token (fp8 dot products), on the indexer layers
        idx_flops_pair = 2.0 * mt.idx_heads[m] * mt.idx_dim[m]
        pre_pairs = causal_pairs(s_new, prefix) if not is_decode else 0.0
        f_idx = dec_r * q_tok * ctx_dec * idx_flops_pair + (pre_r * pre_pairs * idx_flops_pair if not is_decode else 0.0)
        b_idx = (dec_r * ctx_dec + (pre_r * (s_new + prefix) if not is_decode else 0.0)) * idx_key_bytes
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
        kv_bytes_per_token=(mt.kv_elems[m] * kb * L * (1 - frac_lin)
                            + (mt.idx_layers[m] * (mt.idx_dim[m] + 4.0) if K > 0 else 0.0) + np.zeros(n)),
        state_bytes_per_request=mt.lin_layers[m] * mt.lin_state_elems[m] * mt.lin_state_bytes[m] + np.zeros(n),
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
