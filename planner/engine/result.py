"""The engine's result: one typed record of equal-length arrays (SI units, named in the field), and the one
function that turns a step time into TPOT and rates. The axes (planner.axes) post-process a result by
`replace`-ing fields or by `with_step` on some rows, never by rewriting a dict in place.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

import numpy as np

from planner.engine.tables import ROLE_CODE

OP_FAMILIES: tuple[str, ...] = ("attn_proj", "attn_core", "ffn", "lm_head", "comm", "overhead")


def rates_from_step(step_s, batch, role, isl, osl, accept=1.0):
    """TPOT and rates of instances whose forward step takes `step_s`:

    - prefill: `batch` prompts per step: requests/s = batch / step, prefill tokens/s = requests/s x ISL, no TPOT;
    - decode and aggregated: every one of `batch` sequences emits `accept` tokens per step (1 without speculative
      decoding): TPOT = step / accept, decode tokens/s = batch x accept / step, requests/s = that / OSL; the
      aggregated role also prefills the prompts of the requests it completes (requests/s x ISL).

    Returns (tpot_s, requests_per_s, decode_tok_s, prefill_tok_s)."""
    step = np.asarray(step_s, float)
    role = np.asarray(role)
    is_prefill = role == ROLE_CODE["prefill"]
    accept = np.maximum(np.asarray(accept, float), 1.0)
    osl = np.maximum(np.asarray(osl, float), 1.0)
    decode_tok_s = np.where(is_prefill, 0.0, batch * accept / step)
    requests_per_s = np.where(is_prefill, batch / step, batch * accept / (step * osl))
    tpot_s = np.where(is_prefill, np.nan, step / accept)
    prefill_tok_s = np.where(role == ROLE_CODE["decode"], 0.0, requests_per_s * isl)
    return tpot_s, requests_per_s, decode_tok_s, prefill_tok_s


@dataclass(frozen=True)
class EngineResult:
    """Per-candidate physics, one array per field, in candidate order. Times per forward through all pipeline
    stages unless named per stage; `step_s` includes the per-step framework overhead (decode, aggregated)."""

    chips_per_instance: np.ndarray
    ttft_s: np.ndarray  # prefill: one batch through all stages; aggregated: a prompt's chunked prefill; decode: NaN
    tpot_s: np.ndarray  # time per output token (NaN for prefill)
    step_s: np.ndarray  # one forward step (prefill: one stage's time per batch)
    requests_per_s: np.ndarray
    prefill_tok_s: np.ndarray
    decode_tok_s: np.ndarray
    memory_bytes: np.ndarray  # per chip: weights + KV + activations (+ what the axes add)
    weight_bytes: np.ndarray
    kv_bytes: np.ndarray
    memory_capacity_bytes: np.ndarray
    cold_tier_fraction: np.ndarray
    fit_reason: np.ndarray  # int8 index into roofline.FIT_REASONS (0 = fits)
    share_compute: np.ndarray
    share_memory: np.ndarray
    share_comm: np.ndarray
    share_overhead: np.ndarray
    kv_bytes_per_token: np.ndarray  # whole model, one token
    state_bytes_per_request: np.ndarray  # linear-attention state of one sequence, whole model (0 without)
    t_attn_proj_s: np.ndarray  # per operator family, per forward through all stages
    t_attn_core_s: np.ndarray
    t_ffn_s: np.ndarray
    t_lm_head_s: np.ndarray
    t_comm_s: np.ndarray
    t_overhead_s: np.ndarray
    attn_proj_compute_share: np.ndarray  # share of the family's time that is compute-bound
    attn_core_compute_share: np.ndarray
    ffn_compute_share: np.ndarray
    lm_head_compute_share: np.ndarray
    host_s: np.ndarray  # the framework's host time in one iteration (fixed + per sequence its scheduler carries)
    # set by the axes only (planner.axes): None where the axis is not in use
    draft_step_s: np.ndarray | None = None  # co-located draft model: its kernel time per draft step
    draft_level_idx: np.ndarray | None = None  # draft pool: latency level per row (-1: none)
    draft_tokens_per_req: np.ndarray | None = None  # draft pool: draft tokens per request
    chunk_ok: np.ndarray | None = None  # chunked prefill: the chunk cap can refill the batch
    tpot_chunk_s: np.ndarray | None = None  # chunked prefill: TPOT of a step that carries a full chunk

    def __len__(self) -> int:
        return len(self.step_s)

    def family_time_s(self, family: str) -> np.ndarray:
        """Time of one operator family (OP_FAMILIES) per forward through all stages."""
        return getattr(self, f"t_{family}_s")

    def kernel_time_s(self) -> np.ndarray:
        """The sum over operator families: every stage's work without the per-step framework overhead or the
        pipeline's point-to-point transfers."""
        return sum(self.family_time_s(f) for f in OP_FAMILIES)

    def row(self, i: int) -> dict[str, float]:
        """One candidate's figures as plain floats (fields the axes did not set are left out)."""
        return {f.name: float(v[i]) for f in fields(self) if (v := getattr(self, f.name)) is not None}

    def replace(self, **changes) -> EngineResult:
        return dataclasses.replace(self, **changes)

    def take(self, idx) -> EngineResult:
        """The rows idx (an index array or a mask), every field taken alike."""
        return EngineResult(**{f.name: None if (v := getattr(self, f.name)) is None else v[idx] for f in fields(self)})

    def with_step(self, rows: np.ndarray, step_s: np.ndarray, batch, role, isl, osl, accept) -> EngineResult:
        """A copy with a new step time on `rows` and the TPOT and rates that follow from it (rates_from_step)."""
        tpot, rps, dec, pre = rates_from_step(step_s, batch, role, isl, osl, accept)
        out = {}
        for name, new in (("step_s", step_s), ("tpot_s", tpot), ("requests_per_s", rps), ("decode_tok_s", dec),
                          ("prefill_tok_s", pre)):
            arr = np.array(getattr(self, name), dtype=float, copy=True)
            arr[rows] = new
            out[name] = arr
        return self.replace(**out)

    @classmethod
    def assemble(cls, n: int, parts: list[tuple[np.ndarray | slice, EngineResult]]) -> EngineResult:
        """One result of n rows from parts evaluated on disjoint row sets (index, part)."""
        out = {}
        for f in fields(cls):
            present = [(idx, getattr(p, f.name)) for idx, p in parts if getattr(p, f.name) is not None]
            if not present:
                out[f.name] = None
                continue
            arr = np.empty(n, dtype=np.asarray(present[0][1]).dtype)
            for idx, v in present:
                arr[idx] = v
            out[f.name] = arr
        return cls(**out)
