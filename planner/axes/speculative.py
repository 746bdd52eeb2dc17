"""Speculative decoding as candidate variants: gamma draft tokens per step, per-token acceptance alpha.

Data flow stays one way: `spec_variants` replicates the decode/aggregated candidates once per gamma (the
optimizer chooses gamma among the rows), the engine evaluates them (verify of 1 + gamma query tokens per
sequence, KV read once per sequence, MTP draft cost as one extra layer per draft token), and
`apply_draft_model` post-processes the engine's outputs for a separate draft model co-located on the
instance (its gamma draft steps and its memory). docs/axes.md derives every term.

- tokens emitted per verify step: 1 + sum_k prod_{j<=k} alpha_j, the expected accepted prefix plus the token
  the verify step always yields (Leviathan et al. 2023), with draft position j accepted at alpha_j =
  alpha * decay^(j-1): constant for a draft model (decay 1, the geometric (1 - alpha^(gamma+1)) / (1 - alpha)),
  falling with the position for MTP, whose module is trained for the next position and reused for the later ones;
- step time: gamma draft steps + one target verify of gamma + 1 tokens per sequence;
- MTP (DeepSeek-V3): the draft is the model's own MTP module (about one decoder layer + the shared LM
  head): the engine's `speculative_step_factor` (1 + gamma/L) and one layer's weights in memory;
- draft model (e.g. llama-3.2-1b for llama-3.1-70b): its decode step at the same batch on the instance's
  chips (largest valid tensor split <= chips per stage), its weights and KV cache in memory.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from planner.engine.candidates import Candidates, concat
from planner.engine.operators import speculative_step_factor
from planner.engine.result import EngineResult
from planner.engine.roofline import evaluate
from planner.engine.tables import DTYPE_BYTES, ROLE_CODE, ModelTable

DEFAULT_ACCEPTANCE = {"mtp": 0.85, "draft": 0.7}
DEFAULT_DECAY = {"mtp": 0.856, "draft": 1.0}
# MTP decay per draft position: DeepSeek-V3's MTP module predicts the next position and is reused
# autoregressively for the later ones, so each later position is accepted less often. 0.856 makes the mean
# acceptance length of the original DeepSeek-V3 MTP module with 7 draft tokens 3.20 at temperature 0, as
# published (nebius/MTP-DeepSeek-V3-0324 model card, "Original MTP", MT-bench/HumanEval/GSM8K), with alpha 0.85
# at the first position: 1.85 / 2.47 / 2.85 / 3.06 tokens per step for 1 / 2 / 3 / 4 draft tokens. A draft model
# runs autoregressively on its own tokens: constant per position (Leviathan et al.'s model).
# DeepSeek-V3 technical report (arXiv 2412.19437, sec. 5.4.3): the second token predicted by MTP is accepted
# 85-90% of the time, giving 1.8x tokens per second. 0.85 is the lower end (documented assumption).
# Draft models: 0.6-0.8 per token for Llama-3.x 1B/8B drafting 70B on chat data (EAGLE/Medusa/SpecBench
# reports); 0.7 as a middle value. Both can be set per workload (workload.speculative_acceptance).


def tokens_per_step(alpha, gamma, decay=1.0):
    """Expected tokens emitted per target verify step with gamma draft tokens, position k accepted (given the
    ones before it) at alpha * decay^(k-1): 1 + sum_{k<=gamma} alpha^k decay^(k(k-1)/2). decay = 1 is
    (1 - alpha^(gamma+1)) / (1 - alpha); gamma = 0 gives 1."""
    alpha, gamma, decay = np.broadcast_arrays(np.asarray(alpha, float), np.asarray(gamma, float),
                                              np.asarray(decay, float))
    out = np.ones(alpha.shape)
    for k in range(1, int(np.max(gamma, initial=0)) + 1):
        out = out + np.where(gamma >= k, alpha**k * decay ** (k * (k - 1) / 2), 0.0)
    return out


def scenario_acceptance(speculative, workload_acceptance: float | None = None) -> tuple[float, float]:
    """(alpha, decay) a scenario plans with: the workload's acceptance, else `speculative.acceptance`, else the
    method's default; `speculative.acceptance_decay`, else the method's default."""
    alpha = workload_acceptance or speculative.acceptance or DEFAULT_ACCEPTANCE[speculative.method]
    decay = DEFAULT_DECAY[speculative.method] if speculative.acceptance_decay is None else speculative.acceptance_decay
    return float(alpha), float(decay)


def spec_variants(c: Candidates, gammas, alpha: float, decay: float = 1.0) -> Candidates:
    """Decode and aggregated rows once per gamma (spec_tokens = gamma, spec_accept = tokens per step with
    acceptance alpha at the first draft position, times decay per later one); prefill rows once, unchanged.
    gamma = 0 is the plain row."""
    gammas = sorted(set(int(g) for g in gammas))
    dec = (c.role == ROLE_CODE["decode"]) | (c.role == ROLE_CODE["aggregated"])
    parts = [c.take(np.flatnonzero(~dec))]
    base = c.take(np.flatnonzero(dec))
    for g in gammas:
        v = replace(base, spec_tokens=np.full(len(base), float(g)),
                    spec_accept=np.full(len(base), float(tokens_per_step(alpha, g, decay))))
        parts.append(v)
    return concat(parts)


def mtp_weight_bytes_per_chip(c: Candidates, mt: ModelTable) -> np.ndarray:
    """Weights of the MTP module held on every chip of the instance when gamma > 0: about one decoder layer
    (attention + one FFN/MoE layer, split like the model's own layers) (DeepSeek-V3's MTP module; the
    embedding and LM head are shared with the main model)."""
    m = c.model
    G = c.tp * c.dp
    moe = mt.experts[m] > 0
    ffn = np.where(moe, mt.experts[m] * mt.expert_params[m] / G + mt.shared_params[m] / c.tp, mt.dense_ffn_params[m] / c.tp)
    return np.where(c.spec_tokens > 0, (mt.attn_params[m] / c.tp + ffn) * DTYPE_BYTES[c.wdtype], 0.0)


def _step_without_mtp(res: EngineResult, c: Candidates, mt: ModelTable) -> np.ndarray:
    """The engine's step with the MTP draft factor removed: the factor multiplies the stage time, whose sum
    over every pipeline stage is the sum of the per-family times."""
    f = speculative_step_factor(c.spec_tokens, mt.layers[c.model])
    return res.step_s - res.kernel_time_s() * (f - 1.0)


def _draft_tp(draft, chips_per_stage: np.ndarray) -> np.ndarray:
    """Largest power-of-two tensor split of the draft model that divides its heads (and KV heads) and is at
    most the chips of one stage."""
    out = np.ones(len(chips_per_stage))
    for tp in (2, 4, 8, 16, 32, 64):
        ok = draft.num_heads % tp == 0 and (draft.num_kv_heads % tp == 0 or tp % draft.num_kv_heads == 0)
        if ok:
            out = np.where(chips_per_stage >= tp, tp, out)
    return out


def apply_draft_model(c: Candidates, res: EngineResult, mt: ModelTable, ct, draft) -> EngineResult:
    """Post-process engine outputs for a co-located draft model (method: draft).

    Rows with gamma > 0: step = target verify step (engine step without its MTP factor) + gamma x the draft's
    decode step at the same batch; memory per chip += the draft's weights + KV at that batch (its own
    tensor split over the chips of one stage). Returns a new result."""
    spec = (c.spec_tokens > 0) & (c.role != ROLE_CODE["prefill"])
    if not spec.any():
        return res
    idx = np.flatnonzero(spec)
    sub = c.take(idx)
    G = sub.tp * sub.dp
    dmt = ModelTable.build([draft])
    dc = Candidates.from_columns(
        role=ROLE_CODE["decode"], model=0, chip=sub.chip, tp=_draft_tp(draft, G), ep=1, pp=1, dp=1,
        batch=sub.batch, isl=sub.isl, osl=sub.osl, wdtype=sub.wdtype, kvdtype=sub.kvdtype, osl_cv=sub.osl_cv,
        framework=sub.framework,
    )
    dres = evaluate(dc, dmt, ct)
    # the draft's steps run inside the target's step (one scheduler pass, one CUDA graph): no framework overhead
    t_draft = dres.step_s - dres.host_s
    verify = _step_without_mtp(res, c, mt)[idx]
    step = verify + sub.spec_tokens * t_draft
    out = res.with_step(idx, step, sub.batch, sub.role, sub.isl, sub.osl, sub.spec_accept)
    is_agg = sub.role == ROLE_CODE["aggregated"]
    ttft = np.array(res.ttft_s, dtype=float, copy=True)
    scale = step / np.maximum(res.step_s[idx], 1e-30)
    ttft[idx] = np.where(is_agg, res.ttft_s[idx] * scale, res.ttft_s[idx])
    # the draft's memory spreads over the chips of one stage (weights / its tp + its KV)
    memory = np.array(res.memory_bytes, dtype=float, copy=True)
    memory[idx] = res.memory_bytes[idx] + dres.memory_bytes * dc.tp / G
    draft_step = np.zeros(len(c))
    draft_step[idx] = t_draft
    return out.replace(ttft_s=ttft, memory_bytes=memory, draft_step_s=draft_step)
