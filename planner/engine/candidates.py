"""Enumerate candidate instance configurations (role × chip × TP/EP/PP/DP × batch × dtype) as arrays
(`Candidates`, the columns planner.engine.roofline evaluates).

The grid also names the settings of the other axes; planner.axes.evaluate turns candidates into the
coefficient table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from planner.engine.tables import DTYPE_CODE, FRAMEWORK_CODE, ROLE_CODE
from planner.inputs.architecture import ModelArch
from planner.inputs.chips import Chip
from planner.inputs.frameworks import runs_fp4_weight_only, runs_on

DTYPES_BY_CODE = {v: k for k, v in DTYPE_CODE.items()}


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

PREFILL_BATCHES = (1, 2, 4, 8, 16, 32)
# sequences in flight per attention rank; multiplied by dp for DP-attention instances
DECODE_BATCHES_PER_RANK = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
PP_OPTIONS = (1, 2, 4, 8)


@dataclass(frozen=True)
class Grid:
    """What to enumerate. Batches default to the role's standard grid."""

    roles: Sequence[str] = ("prefill", "decode", "aggregated")
    weights_dtypes: Sequence[str] = ("bf16",)
    kv_dtypes: Sequence[str] | None = None  # None: same as weights, never below fp8
    isl: float = 2048
    osl: float = 256
    prefix_hit: float = 0.0
    osl_cv: float = 0.0  # coefficient of variation of the output lengths (engine.mean_decode_context)
    max_chips_per_instance: int = 72
    prefill_batches: Sequence[int] = PREFILL_BATCHES
    decode_batches_per_rank: Sequence[int] = DECODE_BATCHES_PER_RANK
    pp_options: Sequence[int] = PP_OPTIONS
    # the other disaggregation axes (docs/axes.md); defaults leave the table as the engine computes it
    spec_method: str | None = None  # "mtp" | "draft"; None = no speculative decoding
    spec_gammas: Sequence[int] = (0,)  # draft tokens per step enumerated (decode/aggregated rows per gamma)
    spec_alpha: float = 0.85  # acceptance of the first draft position
    spec_decay: float = 1.0  # acceptance factor per later draft position (axes/speculative.py)
    draft_model: str | None = None  # preset id (spec_method "draft")
    spec_placement: str = "colocated"  # or "pool": the draft model in its own pool (planner.axes.draft_pool)
    draft_levels: int = 6  # draft latency levels (placement pool)
    chunk_tokens: int | None = None  # aggregated: tokens per forward per attention rank
    prefix_cache_tokens: int | None = None  # None: hit rate x isl x batch (planner.axes.prefix)
    framework: str = "trtllm"  # serving framework (its host time per iteration; planner.engine.params)
    two_batch_overlap: bool = False  # also price eligible prefill rows as two overlapped micro-batches (axes.overlap)


def dtype_on_chip(weights: str, chip) -> str | None:
    """The weights dtype a chip runs: the one asked for, or 4-bit float weights as weight-only (w4a16) on a chip
    without 4-bit math (NVFP4/MXFP4 checkpoints on Hopper); None when the chip cannot run them."""
    if chip.supports(weights):
        return weights
    if weights == "fp4" and chip.supports("w4a16"):
        return "w4a16"
    return None


def checkpoint_fp4_format(model: ModelArch, weights: str) -> str | None:
    """The 4-bit float format of the model's checkpoint when the weights planned are the checkpoint's fp4 ones
    (mxfp4 or nvfp4); None otherwise (the planner cannot tell which checkpoint a user will quantize)."""
    ckpt = model.checkpoint
    return ckpt.fp4_format if ckpt is not None and ckpt.weights == weights == "fp4" else None


def default_kv_dtype(weights: str) -> str:
    """Planner default: KV cache in the weights dtype (16-bit for weight-only 4-bit), but never below fp8."""
    return "bf16" if weights in ("bf16", "w4a16") else "fp8"


def parallelism_options(model: ModelArch, chip: Chip, max_chips: int, pp_options=PP_OPTIONS) -> np.ndarray:
    """Valid (tp, ep, pp, dp) rows for one model on one chip; powers of two, heads divisible by tp."""
    pow2 = [1 << i for i in range(8) if (1 << i) <= max_chips]
    rows = []
    for tp in pow2:
        if model.num_heads % tp:
            continue
        if model.attention == "gqa" and not (model.num_kv_heads % tp == 0 or tp % model.num_kv_heads == 0):
            continue
        dps = pow2 if model.is_moe else [1]
        for dp in dps:
            g = tp * dp
            if g > max_chips:
                continue
            eps = [e for e in pow2 if e <= g and g % e == 0 and model.moe.num_experts % e == 0] if model.is_moe else [1]
            for ep in eps:
                for pp in pp_options:
                    if g * pp <= max_chips and pp <= model.num_layers:
                        rows.append((tp, ep, pp, dp))
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def framework_parallelism(par: np.ndarray, framework: str) -> np.ndarray:
    """The (tp, ep, pp, dp) rows a framework can run. TensorRT-LLM's attention data parallelism spans the whole
    tensor-parallel group (`enable_attention_dp`: attention DP size = tp_size), so its attention-DP ranks hold no
    tensor parallelism of their own: tp > 1 with dp > 1 is not a TensorRT-LLM deployment. vLLM (TP inside each DP
    rank) and SGLang (`--tp N --dp M` with M dividing N) run both. vLLM's expert parallelism is all or nothing:
    `--enable-expert-parallel` puts the experts on TP x DP ranks, so its EP is 1 or tp x dp."""
    if not len(par):
        return par
    tp, ep, dp = par[:, 0], par[:, 1], par[:, 3]
    if framework == "trtllm":
        return par[(tp == 1) | (dp == 1)]
    if framework == "vllm":
        return par[(ep == 1) | (ep == tp * dp)]
    return par


def build_candidates(models: Sequence[ModelArch], chips: Sequence[Chip], grid: Grid) -> Candidates:
    """Cross product per (model, chip): parallelism rows × batches × roles × dtypes, as flat arrays."""
    parts: list[Candidates] = []
    kv_for = (lambda w: [default_kv_dtype(w)]) if grid.kv_dtypes is None else (lambda w: list(grid.kv_dtypes))
    for mi, model in enumerate(models):
        for ci, chip in enumerate(chips):
            if not runs_on(grid.framework, chip.vendor):  # the framework does not run this chip (frameworks.yaml)
                continue
            par = framework_parallelism(
                parallelism_options(model, chip, grid.max_chips_per_instance, grid.pp_options), grid.framework)
            if not len(par):
                continue
            for role in grid.roles:
                if role == "prefill":
                    per_row = [np.asarray(grid.prefill_batches, float)] * len(par)
                else:
                    base = np.asarray(grid.decode_batches_per_rank, float)
                    per_row = [base * dp for dp in par[:, 3]]
                counts = np.array([len(b) for b in per_row])
                rep = np.repeat(np.arange(len(par)), counts)
                batch = np.concatenate(per_row)
                for w_asked in grid.weights_dtypes:
                    w = dtype_on_chip(w_asked, chip)
                    if w is None or (w != w_asked and not runs_fp4_weight_only(grid.framework, chip.vendor,
                                                                              checkpoint_fp4_format(model, w_asked))):
                        continue  # no such math, or the framework does not run this checkpoint weight-only here
                    for kv in kv_for(w_asked):
                        parts.append(
                            Candidates.from_columns(
                                role=ROLE_CODE[role], model=mi, chip=ci,
                                tp=par[rep, 0], ep=par[rep, 1], pp=par[rep, 2], dp=par[rep, 3],
                                batch=batch, isl=grid.isl, osl=grid.osl,
                                wdtype=DTYPE_CODE[w], kvdtype=DTYPE_CODE[kv], prefix_hit=grid.prefix_hit,
                                osl_cv=grid.osl_cv, framework=FRAMEWORK_CODE[grid.framework],
                            )
                        )
    if not parts:
        return Candidates.from_columns(role=np.zeros(0), model=0, chip=0, tp=1, batch=1, isl=1, osl=1, wdtype=0, kvdtype=0)
    return concat(parts)


def concat(parts: Sequence[Candidates]) -> Candidates:
    names = Candidates.__dataclass_fields__.keys()
    return Candidates(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names})
