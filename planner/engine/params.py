"""The engine's fitted constants: one frozen, typed set, each field with its unit, physical bounds, the data it
was fitted on and the command that fits it.

Chip-specific efficiencies live in the chip catalog (`efficiency:` blocks, with sources); what is here is shared
by every chip. Calibration bounds (planner.analyses.calibrate) and the kernel model's defaults
(planner.analyses.kernels) derive from these fields. A study that varies a constant does it in a scope,
`with using_params(PARAMS.replace(host_s_trtllm=2e-3)): ...`, never by assigning a module global;
the engine reads `active_params()`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from typing import Generic, TypeVar

import numpy as np

from planner.engine.tables import FRAMEWORKS

KERNEL_FIT = "planner calibrate validation/kernels_h100 --chip h100-sxm (benchmarks/kernel_error.py reports the error)"
POINTS_FIT = "scripts/make_validation_doc.py (end-to-end fit over validation/points.csv, docs/validation.md method log)"
HOST_FIT = ("python scripts/fit_serving.py --out validation/serving_fit.json (soft-L1 on log TPOT error of the serving "
            "rows plus the published points of the framework, each data set as one; held out by system, docs/serving.md)")
HOST_DATA = "validation/serving (shared rows) and validation/points.csv"


def fitted(value: float, *, unit: str, bounds: tuple[float, float], data: str, command: str, meaning: str):
    """A dataclass field for a fitted constant, its provenance in the metadata."""
    return field(default=value, metadata={"unit": unit, "bounds": bounds, "data": data, "command": command,
                                          "meaning": meaning})


class FittedConstants:
    """What every frozen set of fitted constants offers: a changed copy, a field's bounds, its provenance."""

    def replace(self, **changes: float):
        return dataclasses.replace(self, **changes)

    @classmethod
    def bounds(cls, name: str) -> tuple[float, float]:
        return cls.__dataclass_fields__[name].metadata["bounds"]

    @classmethod
    def provenance(cls) -> list[dict]:
        """Every fitted constant with its default value, unit, bounds, data and fitting command (for the docs)."""
        return [{"name": f.name, "value": f.default, **f.metadata} for f in fields(cls)]


T = TypeVar("T")


class Scope(Generic[T]):
    """The set of constants in force: the default, or that of the innermost `using` block (thread- and
    task-local, restored on exit). Nothing assigns a module global."""

    def __init__(self, name: str, default: T):
        self._var: ContextVar[T] = ContextVar(name, default=default)

    def active(self) -> T:
        return self._var.get()

    @contextmanager
    def using(self, params: T) -> Iterator[T]:
        token = self._var.set(params)
        try:
            yield params
        finally:
            self._var.reset(token)


@dataclass(frozen=True)
class EngineParams(FittedConstants):
    """Fitted engine constants (SI units unless the name says otherwise)."""

    moe_gemm_relative_efficiency: float = fitted(
        0.49, unit="fraction", bounds=(0.05, 1.0), data="validation/kernels_h100/moe.csv", command=KERNEL_FIT,
        meaning="grouped (MoE) GEMM efficiency relative to a dense GEMM of the same dtype (ragged tiles, scales, "
                "permutation); a chip's efficiency.moe_relative overrides it")
    moe_expert_width_half: float = fitted(
        217.0, unit="columns", bounds=(0.0, 4000.0), data="validation/kernels_h100/moe.csv", command=KERNEL_FIT,
        meaning="expert intermediate width per MoE-TP rank at which grouped GEMMs reach half their efficiency")
    host_s_trtllm: float = fitted(
        1.0e-3, unit="s", bounds=(0.0, 0.01), data=HOST_DATA, command=HOST_FIT,
        meaning="TensorRT-LLM: host time per iteration outside the kernels (scheduling, CUDA-graph replay, sampling, "
                "detokenization), paid once per step of any role")
    host_s_vllm: float = fitted(
        0.25e-3, unit="s", bounds=(0.0, 0.01), data=HOST_DATA, command=HOST_FIT,
        meaning="vLLM: host time per iteration outside the kernels")
    host_s_sglang: float = fitted(
        0.5e-3, unit="s", bounds=(0.0, 0.01), data=HOST_DATA, command=HOST_FIT,
        meaning="SGLang: host time per iteration outside the kernels")
    host_s_per_seq_trtllm: float = fitted(
        1.0e-5, unit="s", bounds=(0.0, 1e-4), data=HOST_DATA, command=HOST_FIT,
        meaning="TensorRT-LLM: host time per iteration for each sequence a scheduler (an attention-DP rank) carries "
                "(its bookkeeping, sampling and detokenization are per request)")
    host_s_per_seq_vllm: float = fitted(
        0.0, unit="s", bounds=(0.0, 1e-4), data=HOST_DATA, command=HOST_FIT,
        meaning="vLLM: host time per iteration for each sequence a scheduler carries")
    host_s_per_seq_sglang: float = fitted(
        3.0e-5, unit="s", bounds=(0.0, 1e-4), data=HOST_DATA, command=HOST_FIT,
        meaning="SGLang: host time per iteration for each sequence a scheduler carries")
    moe_imbalance_exponent: float = fitted(
        0.0, unit="exponent", bounds=(0.0, 0.23), data="validation/points.csv (all rows)", command=POINTS_FIT,
        meaning="busiest EP rank carries ep**x times the mean expert load; the fit returns 0 (EPLB deployments); "
                "bounded above by the H100 kernel data's power-law routing (~ep**0.23)")
    gqa_bf16_unit_factor: float = fitted(
        3.36, unit="ratio", bounds=(1.0, 10.0), data="validation/kernels_h100/attn_decode.csv", command=KERNEL_FIT,
        meaning="cost per (sequence, KV head) work item of the bf16-KV grouped-query decode kernel over the "
                "MHA / fp8-KV (XQA) kernel")
    decode_attn_half_ctas: float = fitted(
        33.4, unit="CTAs", bounds=(0.0, 200.0), data="validation/kernels_h100/attn_decode.csv", command=KERNEL_FIT,
        meaning="concurrent CTAs at which a decode-attention KV read reaches half its sustained bandwidth")
    decode_attn_split_tokens: float = fitted(
        705.0, unit="tokens", bounds=(16.0, 65536.0), data="validation/kernels_h100/attn_decode.csv",
        command=KERNEL_FIT, meaning="smallest split-KV block of a decode-attention work item")
    decode_attn_max_splits: float = fitted(
        30.2, unit="blocks", bounds=(1.0, 256.0), data="validation/kernels_h100/attn_decode.csv", command=KERNEL_FIT,
        meaning="most split-KV blocks per decode-attention work item")
    decode_attn_token_ns: float = fitted(
        8.65, unit="ns", bounds=(0.0, 100.0), data="validation/kernels_h100/attn_decode.csv", command=KERNEL_FIT,
        meaning="one CTA's serial time per KV token (load, QK, softmax, PV): the latency floor of a call")
    prefill_attn_row_keys: float = fitted(
        416.0, unit="key columns", bounds=(0.0, 4096.0), data="validation/kernels_h100/attn_prefill.csv",
        command=KERNEL_FIT, meaning="fixed work per query row of prefill attention beyond its causal keys "
                                    "(diagonal blocks, pipeline fill, epilogue)")
    prefill_tile_unit_factor: float = fitted(
        2.76, unit="decode work items", bounds=(0.0, 20.0), data="validation/kernels_h100/attn_prefill.csv",
        command=KERNEL_FIT, meaning="fixed cost per (sequence, query head, 128-row query tile) of prefill attention")
    allreduce_oneshot_bytes: float = fitted(
        4.1e6, unit="bytes", bounds=(1.0e4, 1.0e9), data="validation/kernels_h100/allreduce.csv", command=KERNEL_FIT,
        meaning="message size around which the NVLink custom all-reduce switches from one-shot to two-shot")
    allreduce_oneshot_sharpness: float = fitted(
        1.75, unit="exponent", bounds=(0.3, 6.0), data="validation/kernels_h100/allreduce.csv", command=KERNEL_FIT,
        meaning="sharpness of that switch: blend weight 1/(1 + (bytes/switch)^sharpness)")

    linear_scan_efficiency: float = fitted(
        0.028, unit="fraction of the bf16 peak", bounds=(0.001, 1.0),
        data="validation/kernels_blackwell b200_sxm gdn_perf (chunk_gated_delta_rule, >= 4096 tokens)",
        command="python scripts/linear_attention_kernels.py",
        meaning="what the chunked gated-delta-rule scan of a linear-attention prefill sustains of the chip's bf16 "
                "peak (6 dk dv FLOPs per token and value head; the Triton scan is sequential over chunks)")

    def host_s(self, framework):
        """Host time per iteration of the framework(s) (FRAMEWORK_CODE codes; arrays broadcast)."""
        per_code = np.array([getattr(self, f"host_s_{f}") for f in FRAMEWORKS])
        return per_code[np.asarray(framework, np.int64)]

    def host_time_s(self, framework, seqs_per_scheduler=0.0):
        """Host time of one iteration: the framework's fixed part plus its scheduler's time for the sequences one
        scheduler (an attention-DP rank) carries (codes and counts; arrays broadcast)."""
        per_seq = np.array([getattr(self, f"host_s_per_seq_{f}") for f in FRAMEWORKS])
        code = np.asarray(framework, np.int64)
        return self.host_s(code) + per_seq[code] * np.asarray(seqs_per_scheduler, float)


PARAMS = EngineParams()
_SCOPE: Scope[EngineParams] = Scope("engine_params", PARAMS)
active_params = _SCOPE.active  # the constants the engine uses now
using_params = _SCOPE.using  # with using_params(PARAMS.replace(...)): evaluate with other constants
