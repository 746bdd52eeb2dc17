"""Iteration times of one serving engine, from the roofline engine evaluated once over a grid and interpolated.

An iteration of a continuous-batching engine carries D decoding sequences (each with its KV context) and P new
prompt tokens (prefill, whole prompts or chunks). The engine prices such an iteration as its aggregated role with
an explicit composition (`decode_ctx`, `prefill_seqs` columns); here it is evaluated once on a grid
D x context x P (logarithmic in D and P, linear in the context) and interpolated, so a simulation never calls the
engine per step. An iteration's time is the engine's step: its kernels and the framework's host time per iteration
(host_s_*, planner.engine.params), the same the optimizer's coefficient table uses.

Prefill tokens are priced as tokens of prompts of the workload's input length: the attention work of a prompt
summed over its chunks equals that of the whole prompt, so a chunk is priced at the prompt's mean cost per token
(exact over a prompt, approximate per chunk).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from planner.engine.candidates import Candidates
from planner.engine.operators import kv_elems_per_token_chip
from planner.engine.roofline import MEMORY_RESERVE_FRACTION, evaluate
from planner.engine.tables import DTYPE_BYTES, DTYPE_CODE, FRAMEWORK_CODE, ROLE_CODE, ChipTable, ModelTable
from planner.inputs.architecture import ModelArch
from planner.inputs.chips import Chip

# the scheduler each framework runs by default: TensorRT-LLM and vLLM (V1) mix prefill chunks into decode
# iterations under one token budget; SGLang runs waiting prefills first, in iterations of their own
DEFAULT_SCHEDULER = {"trtllm": "mixed", "vllm": "mixed", "sglang": "prefill-first"}
# long prompts are split across iterations (TensorRT-LLM enable_chunked_prefill, vLLM V1 and SGLang defaults): a
# deployment without it and a budget below ISL + batch would serialize prompts, which no measured run shows
DEFAULT_CHUNKED = {"trtllm": True, "vllm": True, "sglang": True}
DEFAULT_MAX_TOKENS = {"trtllm": 8192, "vllm": 8192, "sglang": 8192}  # max_num_tokens / max_num_batched_tokens /
# chunked_prefill_size defaults of the three frameworks


@dataclass(frozen=True)
class EngineConfig:
    """One serving engine (one instance) as deployed: parallelism, dtypes, framework and its scheduler limits."""

    model: ModelArch
    chip: Chip
    weights: str = "bf16"
    kv: str = "bf16"
    tp: int = 1
    ep: int = 1
    pp: int = 1
    dp: int = 1  # attention data-parallel ranks
    framework: str = "trtllm"
    max_batch: int = 256  # most sequences in flight (max_batch_size / max_num_seqs / max_running_requests)
    max_tokens: int | None = None  # token budget per iteration; None: the framework's default
    scheduler: str | None = None  # "mixed" | "prefill-first"; None: the framework's default
    chunked: bool | None = None  # prompts may be split across iterations; None: the framework's default
    spec_tokens: int = 0  # draft tokens per decode step (0: no speculative decoding)
    spec_accept: float = 1.0  # tokens a decoding sequence emits per step on average (1 + its accepted drafts)
    draft_model: str | None = None  # preset id of a co-located draft model; None with spec_tokens > 0: MTP heads
    draft_pool_s: float = 0.0  # draft tokens from a draft pool: seconds each decode iteration waits for them
    prefix_hit: float = 0.0  # share of each prompt served from the prefix cache (not prefilled)
    prefix_cache_tokens: float = 0.0  # tokens of shared prefixes kept resident (they take KV space)

    @property
    def chips(self) -> int:
        return self.tp * self.pp * self.dp

    @property
    def token_budget(self) -> int:
        return int(self.max_tokens or DEFAULT_MAX_TOKENS.get(self.framework, 8192))

    @property
    def rank_token_budget(self) -> int:
        """Prompt tokens one attention-DP rank takes per iteration. Each rank schedules its own sequences: in
        TensorRT-LLM and vLLM the token budget is per rank; SGLang divides its chunked-prefill size among the
        ranks (server_args: chunked_prefill_size // dp_size with DP attention)."""
        if self.framework == "sglang" and self.dp > 1:
            return max(self.token_budget // self.dp, 1)
        return self.token_budget

    def new_tokens(self, isl):
        """Prompt tokens an engine prefills (the rest come from the prefix cache): the engine's s_new."""
        return np.maximum(np.asarray(isl, float) * (1.0 - min(max(self.prefix_hit, 0.0), 0.99)), 1.0)

    def cached_tokens(self, isl) -> np.ndarray:
        """Prompt tokens each request finds in the prefix cache (whole tokens): the prompt less its new tokens."""
        isl = np.asarray(isl, np.int64)
        if self.prefix_hit <= 0:  # no cache: nothing found (as below, without its passes over ~10^7 prompts)
            return np.zeros_like(isl)
        return np.maximum(isl - np.ceil(self.new_tokens(isl)).astype(np.int64), 0)

    @property
    def tokens_per_step(self) -> float:
        """Tokens each decoding sequence emits per iteration (the mean accepted prefix plus the verified token)."""
        return max(float(self.spec_accept), 1.0) if self.spec_tokens > 0 else 1.0

    @property
    def scheduling(self) -> str:
        return self.scheduler or DEFAULT_SCHEDULER.get(self.framework, "mixed")

    @property
    def chunking(self) -> bool:
        return DEFAULT_CHUNKED.get(self.framework, True) if self.chunked is None else self.chunked


def _geometric(top: float, n: int) -> np.ndarray:
    """0 and a geometric ramp from 1 to top (at least 2 points)."""
    top = max(float(top), 2.0)
    return np.unique(np.r_[0.0, np.round(np.geomspace(1.0, top, n), 6)])


class StepModel:
    """Wall time of an iteration (D decoding sequences at context ctx, P prefill tokens): the engine's step
    (kernels plus the framework's host time) interpolated on a grid of its evaluations.

    `prefill_only`: the engine of a disaggregated prefill pool, priced as the optimizer prices its prefill role
    (P tokens are P / isl prompts spread evenly over the attention-DP ranks, as its scheduler assigns them;
    D is ignored), so the simulator and the optimizer's coefficient table agree on a prefill instance."""

    def __init__(self, cfg: EngineConfig, isl: float, osl: float, max_decode: float, max_prefill_tokens: float,
                 n_decode: int = 14, n_ctx: int = 4, n_prefill: int = 14, prefill_only: bool = False):
        self.cfg = cfg
        self.isl = float(isl)
        self.prefill_only = prefill_only
        d = np.array([0.0, 1.0]) if prefill_only else _geometric(max(max_decode, 1.0), n_decode)
        ctx = np.linspace(float(isl), float(isl) + max(float(osl), 1.0), 2 if prefill_only else n_ctx)
        p = _geometric(max(max_prefill_tokens, 1.0), n_prefill)
        if prefill_only:  # whole prompts: the multiples of a prompt's new tokens are on the grid (fixed lengths)
            new = float(cfg.new_tokens(isl))
            p = np.union1d(p, new * np.arange(1, min(int(max_prefill_tokens // max(new, 1.0)), 64) + 1))
        D, X, P = np.meshgrid(d, ctx, p, indexing="ij")
        mt, ct = ModelTable.build([cfg.model]), ChipTable.build([cfg.chip])
        common = dict(model=0, chip=0, tp=cfg.tp, ep=cfg.ep, pp=cfg.pp, dp=cfg.dp, isl=float(isl),
                      osl=max(float(osl), 1.0), wdtype=DTYPE_CODE[cfg.weights], kvdtype=DTYPE_CODE[cfg.kv],
                      framework=FRAMEWORK_CODE[cfg.framework], prefix_hit=float(cfg.prefix_hit))
        per_prompt = float(cfg.new_tokens(isl))  # P counts prompt tokens prefilled (cached ones excluded)
        if prefill_only:
            c = Candidates.from_columns(role=ROLE_CODE["prefill"], batch=P.ravel() / per_prompt, **common)
        else:
            c = Candidates.from_columns(role=ROLE_CODE["aggregated"], batch=D.ravel(), decode_ctx=X.ravel(),
                                        prefill_seqs=P.ravel() / per_prompt, spec_tokens=float(cfg.spec_tokens),
                                        spec_accept=cfg.tokens_per_step, **common)
        res = evaluate(c, mt, ct)  # with spec_tokens: the verify of 1 + gamma tokens and the MTP heads' layers
        if cfg.draft_model and cfg.spec_tokens > 0 and not prefill_only:  # a co-located draft model's steps instead
            from planner.axes.speculative import apply_draft_model
            from planner.inputs.models import load_model

            res = apply_draft_model(c, res, mt, ct, load_model(cfg.draft_model))
        step_s = res.step_s
        if cfg.draft_pool_s > 0 and cfg.spec_tokens > 0 and not prefill_only:
            # drafts from a draft pool (planner.axes.draft_pool): the verify step alone, plus the wait for the drafts
            from planner.axes.speculative import _step_without_mtp

            step_s = _step_without_mtp(res, c, mt) + np.where(D.ravel() > 0, cfg.draft_pool_s, 0.0)
        # weights fit (the rest is the scheduler's)
        small = P.ravel() <= max(float(isl), 1.0) if prefill_only else D.ravel() <= 1
        self.fit_reason = int(res.fit_reason[small].max())
        self.kv_capacity_tokens = self._kv_capacity(res, D.ravel(), P.ravel(), mt, ct)
        work = P.ravel() if prefill_only else D.ravel() + P.ravel()
        step = np.where(work > 0, step_s, 0.0).reshape(D.shape)
        self._axes = (np.log1p(d), ctx, np.log1p(p))
        from scipy.interpolate import RegularGridInterpolator  # 0.3 s to import: only when a simulation runs

        self._interp = RegularGridInterpolator(self._axes, step, bounds_error=False, fill_value=None)
        self._axes_list = [a.tolist() for a in self._axes]
        self._table = step

    @classmethod
    def fixed(cls, cfg: EngineConfig, isl: float, osl: float, step_s: float) -> StepModel:
        """A decode engine whose every iteration takes step_s whatever its batch and context: an attention
        instance of attention/FFN disaggregation, locked to its per-layer cadence (planner.axes.afd: TPOT =
        layers x cadence + LM head + host time), its batch bounded by its slots (cfg.max_batch)."""
        self = cls.__new__(cls)
        self.cfg, self.isl, self.prefill_only, self.fit_reason = cfg, float(isl), False, 0
        self.kv_capacity_tokens = float(cfg.max_batch) * (float(isl) + max(float(osl), 1.0)) * 4  # slots bind
        d = np.array([0.0, 1.0, float(1 << 20)])
        ctx = np.array([float(isl), float(isl) + max(float(osl), 1.0)])
        p = np.array([0.0, 1.0])
        step = np.full((len(d), len(ctx), len(p)), float(step_s))
        step[0] = 0.0  # no sequence, no iteration
        self._axes = (np.log1p(d), ctx, np.log1p(p))
        from scipy.interpolate import RegularGridInterpolator

        self._interp = RegularGridInterpolator(self._axes, step, bounds_error=False, fill_value=None)
        self._axes_list = [a.tolist() for a in self._axes]
        self._table = step
        return self

    def _kv_capacity(self, res, d, p, mt: ModelTable, ct: ChipTable) -> float:
        """KV tokens the engine can hold: usable memory per chip (less the runtime reserve) minus the weights and
        the activations of a full-budget iteration, over the KV bytes one token takes per chip, times the
        attention-DP ranks (each holds its own sequences), less the resident prefix cache."""
        cfg = self.cfg
        usable = (ct.mem_bytes[0] + ct.cold_bytes[0]) * (1 - MEMORY_RESERVE_FRACTION)
        base = float(np.max(res.memory_bytes[d == 0] - res.kv_bytes[d == 0])) if (d == 0).any() else 0.0
        kv_elems = float(kv_elems_per_token_chip(mt, 0, cfg.tp))
        per_token = kv_elems * DTYPE_BYTES[DTYPE_CODE[cfg.kv]] * mt.layers[0] / cfg.pp
        return max(max(usable - base, 0.0) / per_token * cfg.dp - cfg.prefix_cache_tokens, 0.0)

    def iteration_s(self, decode, ctx, prefill_tokens) -> np.ndarray:
        """Wall time of iterations (vectorized): the engine's step, kernels and the framework's host time. Outside
        the grid the interpolation extends linearly."""
        axes = np.broadcast_arrays(np.log1p(np.asarray(decode, float)), np.asarray(ctx, float),
                                   np.log1p(np.asarray(prefill_tokens, float)))
        pts = np.stack([a.ravel() for a in axes], axis=-1)
        return np.maximum(self._interp(pts), 0.0).reshape(axes[0].shape)

    def iteration_one_s(self, decode: float, ctx: float, prefill_tokens: float) -> float:
        """iteration_s for one iteration: the same trilinear interpolation (and linear extension beyond the grid)
        without the per-call cost of the vectorized interpolator, which a simulation's event loop would pay
        once per event (tests check the two agree)."""
        x = (math.log1p(decode), ctx, math.log1p(prefill_tokens))
        idx, w = [], []
        for a, v in zip(self._axes_list, x, strict=True):
            i = min(max(bisect.bisect_right(a, v) - 1, 0), len(a) - 2)
            idx.append(i)
            w.append((v - a[i]) / (a[i + 1] - a[i]))
        (i, j, k), (u, v, s) = idx, w
        c = self._table[i:i + 2, j:j + 2, k:k + 2]
        c = c[0] * (1 - u) + c[1] * u
        c = c[0] * (1 - v) + c[1] * v
        return max(float(c[0] * (1 - s) + c[1] * s), 0.0)
