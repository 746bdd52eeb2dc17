"""Aggregated serving with chunked prefill: a per-forward token budget (the chunk) caps the prefill tokens
mixed into each decode step (vLLM `max_num_batched_tokens`, SGLang `chunked_prefill_size`).

The engine's aggregated role is the steady state: every step carries the decode tokens of B sequences
(D = B(1 + gamma)) and, averaged over steps, P = B a / OSL x s_new prefill tokens (a = tokens emitted per
step, s_new the new prompt tokens). That mean step is what the decode sees (its TPOT includes the cost
prefill chunks put on it). With `aggregated.chunk_tokens` = C per attention rank and micro-batch
(cap = C dp pp tokens per step):

- feasible only if D + P <= cap (else the batch cannot be refilled as fast as it drains: infeasible);
- a new prompt gets the spare budget k = cap - D per step: n = max(1, s_new / k) steps, each carrying a
  chunk of min(k, s_new) tokens; such a step costs t_full, the engine's step of the same configuration
  with the D decode tokens and that one chunk (its explicit-composition columns, `prompt_chunk` gives the
  chunk);
- TTFT = n x t_full (+ the MLA overhead below); `tpot_chunk_ms` = t_full / a is the TPOT of a step that
  carries a full chunk (reported, not the SLO, which is on the mean);
- MLA (DeepSeek-style) chunk overhead: every chunk attends to the prompt's earlier chunks, whose KV is
  cached as the compressed latent and must be re-expanded through kv_b (2 kv_lora heads (d_nope + d_v)
  FLOPs per token per layer). Chunk j re-expands j k tokens: s_new (n - 1) / 2 tokens per prompt. The
  engine already counts the re-expansion of a prefix-cache hit; the chunks' share is added here to the
  step (prompts per step x that work) and to the TTFT.
"""

from __future__ import annotations

import numpy as np

from planner.engine.candidates import Candidates
from planner.engine.result import EngineResult
from planner.engine.tables import ROLE_CODE, ChipTable, ModelTable


def mla_chunk_tokens(s_new, k):
    """Latent tokens re-expanded per prompt when s_new new tokens are prefilled in chunks of k:
    sum over chunks j = 0..n-1 of j k = s_new (n - 1) / 2 with n = s_new / k (>= 1)."""
    n = np.maximum(np.asarray(s_new, float) / np.maximum(k, 1e-9), 1.0)
    return np.asarray(s_new, float) * (n - 1.0) / 2.0


def mla_reexpand_s_per_token(c: Candidates, mt: ModelTable, ct: ChipTable) -> np.ndarray:
    """Seconds per re-expanded latent token through all layers, on one attention rank (0 for GQA models)."""
    m, k = c.model, c.chip
    heads_chip = mt.heads[m] / c.tp
    flops = 2.0 * mt.kv_lora[m] * heads_chip * (mt.head_dim[m] - mt.qk_rope[m] + mt.v_head_dim[m]) * mt.layers[m]
    peak_bf16 = ct.peak_flops[k, 0]
    peak = np.where(peak_bf16 > 0, peak_bf16, ct.peak_flops[k].max(axis=-1)) * ct.eta_attention[k]
    return np.where(mt.is_mla[m], flops / peak, 0.0)


def new_prompt_tokens(c: Candidates) -> np.ndarray:
    """Prompt tokens each request prefills (those its prefix-cache hit leaves), at least 1; as the engine counts."""
    return np.maximum(c.isl * (1.0 - np.clip(c.prefix_hit, 0.0, 0.99)), 1.0)


def prompt_chunk(c: Candidates, chunk_tokens: int) -> np.ndarray:
    """Prompt tokens a new prompt gets per step under the cap: min(cap - D, s_new), at least 1 (cap = chunk_tokens
    x dp x pp, D = the decode tokens of the batch)."""
    s_new = new_prompt_tokens(c)
    cap = float(chunk_tokens) * c.dp * c.pp
    return np.minimum(np.maximum(cap - c.batch * (1.0 + c.spec_tokens), 1.0), s_new)


def apply_chunk(c: Candidates, res: EngineResult, step_full_chunk: np.ndarray, chunk_tokens: int | None,
                mt: ModelTable, ct: ChipTable) -> EngineResult:
    """Chunk cap, TTFT and MLA overhead for aggregated rows (others untouched). Sets `chunk_ok` (bool) and
    `tpot_chunk_s`. `step_full_chunk`: the engine step of the same rows carrying their decode tokens and one
    full prompt chunk (`prompt_chunk`)."""
    n = len(c)
    chunk_ok, tpot_chunk = np.ones(n, bool), np.full(n, np.nan)
    agg = c.role == ROLE_CODE["aggregated"]
    if chunk_tokens is None or not agg.any():
        return res.replace(chunk_ok=chunk_ok, tpot_chunk_s=tpot_chunk)
    i = np.flatnonzero(agg)
    sub = c.take(i)
    a = np.maximum(sub.spec_accept, 1.0)
    s_new = new_prompt_tokens(sub)
    D = sub.batch * (1.0 + sub.spec_tokens)
    P = sub.batch * a / np.maximum(sub.osl, 1.0) * s_new
    cap = float(chunk_tokens) * sub.dp * sub.pp
    ok = D + P <= cap
    k = np.maximum(cap - D, 1.0)
    steps = np.maximum(1.0, s_new / k)
    # MLA: the chunks' latent re-expansion (prompts per step, spread over dp ranks and pp stages)
    per_tok = mla_reexpand_s_per_token(sub, mt, ct)
    extra_tokens = mla_chunk_tokens(s_new, k)
    mla_step = (sub.batch * a / np.maximum(sub.osl, 1.0)) * extra_tokens * per_tok / (sub.dp * sub.pp)
    step = res.step_s[i] + mla_step
    t_full = np.maximum(step_full_chunk[i] + mla_step, step)  # a step with a new prompt's chunk is no lighter
    ttft = steps * t_full + extra_tokens * per_tok
    ttft_s = np.array(res.ttft_s, dtype=float, copy=True)
    ttft_s[i] = ttft
    tpot_chunk[i] = t_full / a
    chunk_ok[i] = ok
    out = res.with_step(i, step, sub.batch, sub.role, sub.isl, sub.osl, sub.spec_accept)
    return out.replace(ttft_s=ttft_s, tpot_chunk_s=tpot_chunk, chunk_ok=chunk_ok)
