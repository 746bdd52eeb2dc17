"""Prefix caching: a hit rate h cuts prefill compute (engine: new tokens max(ISL(1 - h), 1), causal
attention over the cached prefix, the cached KV read), and the cache itself takes memory (here).

Capacity assumption (docs/axes.md): each instance that runs prefill (prefill and aggregated roles) keeps
`prefix_cache_tokens` cached-prefix tokens resident in HBM beyond the KV of its sequences in flight; by
default h x ISL x batch, i.e. one idle cached prefix per sequence in flight (a multi-turn or agentic session
waiting for its next turn). A shared system prompt needs far less: set `workload.prefix_cache_tokens`.
The tokens are spread over the instance's attention-DP ranks; their KV is split like the model's KV (GQA
heads over TP, MLA latent replicated). The cache enters the memory fit only (it is not read every step).
"""

from __future__ import annotations

import numpy as np

from planner.engine.candidates import Candidates
from planner.engine.operators import kv_elems_per_token_chip
from planner.engine.result import EngineResult
from planner.engine.roofline import MEMORY_RESERVE_FRACTION
from planner.engine.tables import DTYPE_BYTES, ROLE_CODE, ChipTable, ModelTable

FIT_MEMORY = 7  # engine.FIT_REASONS: "weights + KV cache + activations exceed usable memory per chip"


def cache_tokens(c: Candidates, tokens: float | None) -> np.ndarray:
    """Cached-prefix tokens per instance: the scenario's, else h x ISL x batch; 0 for decode-only roles."""
    holds = (c.role == ROLE_CODE["prefill"]) | (c.role == ROLE_CODE["aggregated"])
    default = np.clip(c.prefix_hit, 0.0, 0.99) * c.isl * c.batch
    t = default if tokens is None else np.full(len(c), float(tokens))
    return np.where(holds & (c.prefix_hit > 0), t, 0.0)


def cache_bytes_per_chip(c: Candidates, mt: ModelTable, tokens: float | None) -> np.ndarray:
    """HBM per chip the prefix cache takes: tokens/dp x KV bytes per token per layer (per chip) x layers/pp."""
    m = c.model
    kv_chip = kv_elems_per_token_chip(mt, m, c.tp)
    return cache_tokens(c, tokens) / c.dp * kv_chip * DTYPE_BYTES[c.kvdtype] * mt.layers[m] / c.pp


def refit(c: Candidates, res: EngineResult, ct: ChipTable, extra_bytes: np.ndarray) -> EngineResult:
    """Add per-chip memory to the engine's need and re-check the fit (reason 7 where it no longer fits)."""
    if not np.any(extra_bytes > 0):
        return res
    need = res.memory_bytes + extra_bytes
    usable = (ct.mem_bytes[c.chip] + ct.cold_bytes[c.chip]) * (1 - MEMORY_RESERVE_FRACTION)
    reason = np.where((res.fit_reason == 0) & (need > usable), FIT_MEMORY, res.fit_reason).astype(np.int8)
    return res.replace(memory_bytes=need, fit_reason=reason)
