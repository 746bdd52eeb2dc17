"""Fitted constants of the serving model: the host (CPU) time a serving framework spends per iteration, outside the
GPU kernels the engine prices. Frozen, with provenance, like planner.engine.params.

Per iteration the framework schedules the batch, launches (or replays) the step's CUDA graph, samples, detokenizes
and streams tokens: a fixed part per iteration and a part per sequence in the iteration,

    overhead_s(framework, seqs) = fixed_s[framework] + per_seq_s x seqs,

and a request's first token carries a fixed latency outside the engine (`request_s`; in disaggregated serving also
`disagg_handoff_s`). That latency is added to the first token and the end of every request; it does not occupy
the engine (so the closed loop's pacing ignores it: a documented approximation).

CUDA graphs keep the fixed part small; the engine's per-kernel launch overheads are priced separately
(`kernel_overhead_us`). The values are fitted on the shared serving benchmarks (validation/serving), held out by
system (docs/validation.md, serving section); `planner calibrate` refits them on a user's own serving benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.engine.params import FittedConstants, Scope, fitted

FRAMEWORKS: tuple[str, ...] = ("trtllm", "vllm", "sglang")
SERVING_FIT = ("python scripts/fit_serving.py --out validation/serving_fit.json (soft-L1 on log(predicted/measured) "
               "TPOT and TTFT over the ../shared serving rows, grid search; 2026-12-07)")


def _fitted(value, *, unit: str, bounds: tuple[float, float], meaning: str):
    return fitted(value, unit=unit, bounds=bounds, data="validation/serving (shared rows)", command=SERVING_FIT,
                  meaning=meaning)


@dataclass(frozen=True)
class ServingParams(FittedConstants):
    """Host time per iteration by framework, and first-token latencies outside the engine (SI units)."""

    fixed_s_trtllm: float = _fitted(0.5e-3, unit="s", bounds=(0.0, 0.01),
                                    meaning="TensorRT-LLM: host time per iteration (scheduler, graph replay, sampling)")
    fixed_s_vllm: float = _fitted(0.25e-3, unit="s", bounds=(0.0, 0.01), meaning="vLLM: host time per iteration")
    fixed_s_sglang: float = _fitted(1.0e-3, unit="s", bounds=(0.0, 0.01), meaning="SGLang: host time per iteration")
    per_seq_s: float = _fitted(0.0, unit="s", bounds=(0.0, 1.0e-4),
                               meaning="host time per sequence in an iteration (sampling, detokenization, bookkeeping)")
    request_s: float = _fitted(0.12, unit="s", bounds=(0.0, 0.5),
                               meaning="latency a request's first token carries outside the engine (HTTP, tokenization, "
                                       "the frontend, streaming back)")
    disagg_handoff_s: float = _fitted(0.42, unit="s", bounds=(0.0, 1.0),
                                      meaning="disaggregated serving: first-token latency of the prefill-to-decode "
                                              "handoff beyond the KV bytes (routing, transfer setup, the decode "
                                              "engine's first step)")

    def overhead_s(self, framework: str, seqs):
        """Host time of an iteration carrying `seqs` sequences (decoding plus prefilling); scalars stay floats."""
        fixed = getattr(self, f"fixed_s_{framework}")
        if isinstance(seqs, (int, float)):
            return fixed + self.per_seq_s * seqs
        return fixed + self.per_seq_s * np.asarray(seqs, float)


SERVING_PARAMS = ServingParams()
_SCOPE: Scope[ServingParams] = Scope("serving_params", SERVING_PARAMS)
active_serving_params = _SCOPE.active  # the serving constants the simulations use now
using_serving_params = _SCOPE.using  # with using_serving_params(SERVING_PARAMS.replace(...)): other constants
