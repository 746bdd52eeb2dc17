"""One configuration, both phases: what `planner estimate` computes (prefill at a prefill batch, decode at
a decode batch), with the checks that turn bad input into a clear message."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.engine.candidates import Candidates
from planner.engine.roofline import evaluate, op_breakdown, to_frame
from planner.engine.tables import DTYPE_CODE, FRAMEWORK_CODE, GIB, ROLE_CODE, ChipTable, ModelTable
from planner.errors import PlannerError
from planner.inputs.architecture import ModelArch
from planner.inputs.chips import Chip
from planner.optimize.uncertainty import error_band


@dataclass(frozen=True)
class Setting:
    tp: int = 1
    ep: int = 1
    pp: int = 1
    dp: int = 1
    weights: str = "bf16"
    kv: str | None = None
    isl: int = 2048
    osl: int = 256
    batch: int = 1
    prefill_batch: int = 1
    prefix_hit: float = 0.0
    osl_cv: float = 0.0  # coefficient of variation of output lengths (engine.mean_decode_context)
    framework: str = "trtllm"  # serving framework: its host time per iteration (planner.engine.params)


@dataclass
class Estimate:
    summary: dict
    phases: pd.DataFrame  # one row per phase (prefill, decode): the engine's coefficient columns
    breakdown: dict[str, pd.DataFrame]  # per phase: time per operator family and its bound


def _check_parallelism(model: ModelArch, s: Setting) -> None:
    for name in ("tp", "ep", "pp", "dp"):
        v = getattr(s, name)
        if v < 1:
            raise PlannerError(f"must be >= 1, got {v}", field=name)
    if model.num_heads % s.tp:
        ok = [t for t in (1, 2, 4, 8, 16, 32, 64) if model.num_heads % t == 0]
        raise PlannerError(
            f"tp={s.tp} does not divide the {model.num_heads} attention heads of {model.id}",
            field="tp", hint=f"use one of {ok}",
        )
    if model.attention == "gqa" and not (model.num_kv_heads % s.tp == 0 or s.tp % model.num_kv_heads == 0):
        raise PlannerError(
            f"tp={s.tp} neither divides nor is a multiple of the {model.num_kv_heads} KV heads", field="tp"
        )
    if model.is_moe:
        g = s.tp * s.dp
        if model.moe.num_experts % s.ep or g % s.ep:
            raise PlannerError(
                f"ep={s.ep} must divide the {model.moe.num_experts} experts and tp*dp={g}", field="ep",
                hint="choose ep among the divisors of tp*dp (e.g. ep = tp*dp)",
            )
    else:
        if s.ep != 1:
            raise PlannerError(f"{model.id} is a dense model; ep must be 1", field="ep")
        if s.dp != 1:
            raise PlannerError(
                "dp>1 (attention data parallel inside an instance) applies to MoE models", field="dp",
                hint="for a dense model, plan more instances instead",
            )
    if s.pp > model.num_layers:
        raise PlannerError(f"pp={s.pp} exceeds the {model.num_layers} layers", field="pp")


def estimate(model: ModelArch, chip: Chip, s: Setting) -> Estimate:
    """Predict prefill (TTFT at `prefill_batch`) and decode (TPOT at `batch`) for one configuration."""
    _check_parallelism(model, s)
    if not chip.supports(s.weights):
        raise PlannerError(
            f"{chip.id} has no {s.weights} support (peak_tflops lists {sorted(chip.peak_tflops)})",
            field="weights", hint=f"use --weights {next(iter(chip.peak_tflops))}",
        )
    kv = s.kv or ("bf16" if s.weights == "bf16" else "fp8")
    mt, ct = ModelTable.build([model]), ChipTable.build([chip])
    cands = Candidates.from_columns(
        role=[ROLE_CODE["prefill"], ROLE_CODE["decode"]], model=0, chip=0, tp=s.tp, ep=s.ep, pp=s.pp, dp=s.dp,
        batch=[s.prefill_batch, s.batch], isl=s.isl, osl=s.osl, wdtype=DTYPE_CODE[s.weights],
        kvdtype=DTYPE_CODE[kv], prefix_hit=s.prefix_hit, osl_cv=s.osl_cv, framework=FRAMEWORK_CODE[s.framework],
    )
    res = evaluate(cands, mt, ct)
    df = to_frame(cands, res, mt, ct)
    fits = bool(df["fits"].all())
    summary = {
        "model": model.id, "chip": chip.id, "tp": s.tp, "ep": s.ep, "pp": s.pp, "dp": s.dp,
        "chips_per_instance": s.tp * s.dp * s.pp, "weights_dtype": s.weights, "kv_dtype": kv,
        "isl": s.isl, "osl": s.osl, "batch": s.batch, "prefill_batch": s.prefill_batch,
        "prefix_hit_rate": s.prefix_hit, "output_length_cv": s.osl_cv, "framework": s.framework,
        "ttft_ms": float(df["ttft_ms"].iloc[0]),
        "tpot_ms": float(df["tpot_ms"].iloc[1]),
        "tok_s_per_user": 1e3 / float(df["tpot_ms"].iloc[1]),
        "prefill_tok_s_per_chip": float(df["prefill_tok_s_per_chip"].iloc[0]),
        "decode_tok_s_per_chip": float(df["decode_tok_s_per_chip"].iloc[1]),
        "memory_gb_per_chip": float(df["memory_gb_per_chip"].max()),
        "memory_capacity_gb": float(df["memory_capacity_gb"].iloc[0]),
        "weights_gb_per_chip": float(res.weight_bytes[1] / 1e9),
        "kv_cache_gb_per_chip": float(res.kv_bytes[1] / 1e9),
        "fits": fits,
        "fit_reason": str(df["fit_reason"].iloc[int(np.argmax(~df["fits"].to_numpy()))]) if not fits else "fits",
        "cost_usd_per_hr": float(df["cost_usd_per_hr"].iloc[0]),
        "power_kw": float(df["power_w"].iloc[0]) / 1e3,
        # measured/predicted performance over comparable validated rows (planner.optimize.uncertainty; docs/validation.md)
        "error_band": {ph: error_band(ph, chip.id, model.id, is_moe=model.is_moe) for ph in ("prefill", "decode")},
    }
    breakdown = {ph: _with_rest(op_breakdown(res, i), total)
                 for i, (ph, total) in enumerate((("prefill", summary["ttft_ms"]), ("decode", summary["tpot_ms"])))}
    return Estimate(summary=summary, phases=df, breakdown=breakdown)


def _with_rest(b: pd.DataFrame, total_ms: float) -> pd.DataFrame:
    """The operator rows plus what the phase's figure (TTFT, TPOT) holds beyond the kernels: the framework's
    host time per iteration and the pipeline's hand-offs (negative where a long prompt's chunks overlap across
    pipeline stages), so the rows add up to the figure printed."""
    rest = float(total_ms) - float(b["time_ms"].sum())
    return pd.concat([b, pd.DataFrame([{"family": "host, pipeline (hand-offs, chunk overlap)", "time_ms": rest, "bound": "host"}])],
                     ignore_index=True)


def smallest_fitting_tp(model: ModelArch, chip: Chip, s: Setting) -> int | None:
    """The smallest power-of-two TP (same other settings) at which both phases fit, or None."""
    for tp in (1, 2, 4, 8, 16, 32, 64):
        if tp <= s.tp:
            continue
        trial = Setting(**{**s.__dict__, "tp": tp})
        try:
            _check_parallelism(model, trial)
        except PlannerError:
            continue
        if estimate(model, chip, trial).summary["fits"]:
            return tp
    return None


def require_fit(model: ModelArch, chip: Chip, s: Setting, est: Estimate) -> None:
    """Raise a PlannerError (exit 2) saying how much memory is needed and the smallest TP that fits."""
    if est.summary["fits"]:
        return
    gib = 1e9 / GIB  # the summary's decimal GB -> the catalog's (binary) GB
    need, cap = est.summary["memory_gb_per_chip"] * gib, est.summary["memory_capacity_gb"] * gib
    tp = smallest_fitting_tp(model, chip, s)
    hint = (
        f"smallest TP that fits: --tp {tp}" if tp else
        "no TP up to 64 fits on this chip; try a smaller dtype (--weights fp8/fp4), pp>1, or a larger chip"
    )
    raise PlannerError(
        f"{model.id} does not fit on {chip.id} with tp={s.tp} ep={s.ep} pp={s.pp} dp={s.dp}: needs "
        f"{need:.1f} GiB per chip (weights {est.summary['weights_gb_per_chip'] * gib:.1f} GiB + KV cache "
        f"{est.summary['kv_cache_gb_per_chip'] * gib:.1f} GiB + activations) of the {cap:.0f} GiB the catalog "
        f"lists "
        f"({est.summary['fit_reason']})",
        field="memory", hint=hint,
    )
