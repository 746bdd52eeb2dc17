"""Fit a chip's sustained-efficiency parameters to measurements, by least squares, and write a catalog overlay.

Three kinds of measurements:
- kernel level (the format of `validation/kernels_h100/`): every kernel row is predicted with the engine's
  per-operator formulas (planner.analyses.kernels) and the residual is log(predicted / measured);
- end to end (the `validation/points.csv` format): every row is predicted by planner.analyses.validate and the
  residual is the same log ratio;
- serving benchmarks (the `validation/serving` format: TTFT and TPOT at a client concurrency): every row is
  simulated by the serving model (planner.analyses.serving), both metrics enter.

Few parameters with physical meaning are fitted globally (never per row): large-GEMM efficiency per dtype,
the small-m GEMM falloff m_half, memory-bandwidth efficiency, attention efficiency, the per-kernel overhead,
scale-up bandwidth efficiency and latency. Residuals use a soft-L1 (robust) loss so a kernel regime the
roofline does not describe (e.g. a fallback kernel) cannot drag the physical parameters. Families of kernels
get equal weight whatever their row counts.

The solver is a bounded Levenberg–Marquardt in numpy (parameters mapped through a logistic transform onto
their bounds, forward-difference Jacobian), written before scipy joined the dependencies;
scipy.optimize.least_squares is the candidate replacement (a refit of the shipped values goes with it).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from planner.analyses import kernels as K
from planner.analyses.serving import SYSTEM_CHIP, is_serving_file, predict_serving, system_chips
from planner.analyses.serving import Skip as ServingSkip
from planner.analyses.serving import setting_from_row as serving_setting
from planner.analyses.validate import predict_points
from planner.engine.params import EngineParams
from planner.errors import PlannerError
from planner.inputs.chips import Chip, ChipCatalog, math_dtype


def _engine_bounds(name: str) -> tuple[float, float]:
    """Bounds of a kernel-model field that is an engine constant: its EngineParams bounds, in this field's unit."""
    engine_name, scale = K.ENGINE_FIELDS[name]
    lo, hi = EngineParams.bounds(engine_name)
    return lo * scale, hi * scale


# bounds of each fitted parameter (physical ranges, not tuning knobs); those of engine constants come from
# planner.engine.params (EngineParams field metadata)
BOUNDS: dict[str, tuple[float, float]] = {
    "compute_bf16": (0.2, 1.0),
    "compute_fp8": (0.2, 1.0),
    "compute_fp4": (0.1, 1.0),
    "gemm_m_half": (1.0, 2000.0),
    "memory": (0.3, 1.0),
    "attention": (0.1, 1.0),
    "kernel_overhead_us": (0.0, 50.0),
    "scaleup": (0.1, 1.2),
    "scaleup_latency_us": (0.0, 100.0),
    "fp8_quant_us": (0.0, 50.0),
    "attn_floor_us": (0.0, 50.0),
    "mla_floor_us": (0.0, 50.0),
    "prefill_floor_us": (0.0, 50.0),
    "mla_prefill_floor_us": (0.0, 50.0),
    "fp8_block_quant_us": (0.0, 50.0),
    "attention_unit_ns": (0.0, 200.0),
    "attention_memory": (0.3, 1.0),
    "moe_relative": _engine_bounds("moe_relative"),
    "moe_width_half": _engine_bounds("moe_width_half"),
    "gqa_bf16_unit": _engine_bounds("gqa_bf16_unit"),
    "attn_half_ctas": _engine_bounds("attn_half_ctas"),
    "attn_token_ns": _engine_bounds("attn_token_ns"),
    "attn_split_tokens": _engine_bounds("attn_split_tokens"),
    "attn_max_splits": _engine_bounds("attn_max_splits"),
    "xqa_fp8_floor_us": (0.0, 50.0),
    "fallback_attention": (0.0005, 0.5),
    "prefill_row_keys": _engine_bounds("prefill_row_keys"),
    "prefill_tile_unit": _engine_bounds("prefill_tile_unit"),
    "allreduce_oneshot_mb": _engine_bounds("allreduce_oneshot_mb"),
    "allreduce_sharpness": _engine_bounds("allreduce_sharpness"),
}
# which parameters each kernel family informs (a family's rows only enter the fit of the parameters it can see)
KERNEL_PARAMS: tuple[str, ...] = tuple(BOUNDS)  # compute_fp4 only where fp4 GEMMs are measured (fit_kernel_frames)
# harness terms of the kernel benchmarks, fitted and reported but never written to a catalog
NUISANCE: tuple[str, ...] = ("fp8_quant_us", "fp8_block_quant_us", "attn_floor_us", "xqa_fp8_floor_us", "mla_floor_us",
                             "prefill_floor_us", "mla_prefill_floor_us")
DECODE_ATTN_CONSTANTS: tuple[str, ...] = ("gqa_bf16_unit", "attn_half_ctas", "attn_token_ns", "attn_split_tokens",
                                          "attn_max_splits")
SOFT_L1_SCALE = 0.2  # residuals (log ratios) beyond ~20% are down-weighted
MAX_STEP = 1.5  # largest move of one parameter per iteration, in logit units
DEBUG = False  # print the cost per Levenberg-Marquardt iteration


@dataclass
class FitResult:
    names: list[str]
    values: np.ndarray
    start: np.ndarray
    cost: float
    iterations: int
    n_residuals: int

    def as_dict(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.names, self.values, strict=True)}


def soft_l1(r: np.ndarray, scale: float = SOFT_L1_SCALE) -> np.ndarray:
    """Residuals transformed so that sum(ρ²) is the soft-L1 loss: quadratic near 0, linear in the tails."""
    z = r / scale
    return np.sign(z) * np.sqrt(2.0 * (np.sqrt(1.0 + z * z) - 1.0)) * scale


def least_squares(fun: Callable[[np.ndarray], np.ndarray], x0: Sequence[float], bounds: Sequence[tuple[float, float]],
                  max_iter: int = 50, tol: float = 1e-7) -> tuple[np.ndarray, float, int]:
    """Minimise ||fun(x)||² within bounds (Levenberg–Marquardt on logistic-transformed parameters)."""
    lo, hi = np.array([b[0] for b in bounds], float), np.array([b[1] for b in bounds], float)

    def to_x(z):
        return lo + (hi - lo) / (1.0 + np.exp(-np.clip(z, -30, 30)))

    p = np.clip((np.asarray(x0, float) - lo) / (hi - lo), 0.02, 0.98)  # start off the bounds: gradients vanish there
    z = np.log(p / (1 - p))
    r = fun(to_x(z))
    cost, lam, it = float(r @ r), 1e-2, 0
    for it in range(1, max_iter + 1):  # noqa: B007
        jac = np.empty((len(r), len(z)))
        for j in range(len(z)):
            dz = np.zeros_like(z)
            dz[j] = 1e-4
            jac[:, j] = (fun(to_x(z + dz)) - r) / 1e-4
        a, g = jac.T @ jac, jac.T @ r
        improved = False
        while lam < 1e10:
            step = np.linalg.solve(a + lam * (np.diag(np.diag(a)) + 1e-12 * np.eye(len(z))), -g)
            step *= min(1.0, MAX_STEP / max(float(np.abs(step).max()), 1e-30))  # trust region in logit space
            r_new = fun(to_x(z + step))
            c_new = float(r_new @ r_new)
            if c_new < cost:
                rel = (cost - c_new) / max(cost, 1e-30)
                z, r, cost, lam, improved = z + step, r_new, c_new, max(lam / 3, 1e-9), True
                break
            lam *= 4
        if DEBUG:
            print(f"it {it} cost {cost:.6g} lam {lam:.3g} improved {improved}")
        if not improved or rel < tol:
            break
    return to_x(z), cost, it


# ---------------------------------------------------------------- kernel level


def _kernel_sets(directory, every: int, families) -> dict[str, pd.DataFrame]:
    return {f: K.load(f, every=every, directory=directory) for f in families}


def fit_kernels(chip: Chip, directory: Path | str | None = None, every: int = 3, families=K.FAMILIES,
                free: Sequence[str] = KERNEL_PARAMS, max_iter: int = 40) -> tuple[K.KernelParams, FitResult]:
    """Fit the kernel-model parameters of `chip` to measured kernel latencies (every Nth row of each file)."""
    sets = _kernel_sets(directory, every, families)
    if not sets or all(len(d) == 0 for d in sets.values()):
        raise PlannerError("no kernel measurements found", field="measurements")
    return fit_kernel_frames(chip, sets, free=free, max_iter=max_iter)


def synthetic_kernels(chip: Chip, params: K.KernelParams, template: dict[str, pd.DataFrame], noise: float = 0.05,
                      seed: int = 0) -> dict[str, pd.DataFrame]:
    """Kernel tables whose latencies the engine's own formulas generated with `params`, times log-normal noise."""
    rng = np.random.default_rng(seed)
    peaks = K.Peaks.from_chip(chip)
    out = {}
    for fam, df in template.items():
        t = K.predict_s(fam, df, peaks, params) * np.exp(rng.normal(0.0, noise, len(df)))
        out[fam] = df.assign(latency_us=t * 1e6)
    return out


def fit_kernel_frames(chip: Chip, sets: dict[str, pd.DataFrame], free: Sequence[str] = KERNEL_PARAMS,
                      max_iter: int = 40) -> tuple[K.KernelParams, FitResult]:
    """Fit on kernel tables in memory ({family: DataFrame}); families get equal weight whatever their sizes."""
    peaks = K.Peaks.from_chip(chip)
    start = K.KernelParams.from_chip(chip)
    has_fp4 = "gemm" in sets and sets["gemm"]["dtype"].eq("fp4").any()
    names = [n for n in free if n in BOUNDS and (n != "compute_fp4" or has_fp4)]  # no data, no fit
    meas = {f: K.measured_s(d) for f, d in sets.items()}
    weights = {f: 1.0 / np.sqrt(max(len(d), 1)) for f, d in sets.items()}

    def residuals(x):
        p = start.with_values(names, x)
        return np.concatenate([weights[f] * soft_l1(np.log(K.predict_s(f, d, peaks, p) / meas[f])) for f, d in sets.items()])

    x0 = [min(max(start.value(n), BOUNDS[n][0] * 1.01 + 1e-3), BOUNDS[n][1] * 0.99) for n in names]
    x, cost, it = least_squares(residuals, x0, [BOUNDS[n] for n in names], max_iter=max_iter)
    return start.with_values(names, x), FitResult(names, x, np.array(x0), cost, it, sum(len(d) for d in sets.values()))


# ---------------------------------------------------------------- end to end (points format)

# end-to-end rows are few and each mixes every effect: fit only the broad parameters by default
POINT_PARAMS: tuple[str, ...] = ("compute_bf16", "compute_fp8", "memory", "kernel_overhead_us")


def apply_params(catalog: ChipCatalog, chip_id: str | Sequence[str], params: K.KernelParams,
                 only: Sequence[str] | None = None) -> ChipCatalog:
    """A catalog whose chip(s) carry `params` as their efficiency block (only the `only` parameters, if given)."""
    for cid in [chip_id] if isinstance(chip_id, str) else chip_id:
        chip = catalog[cid]
        update = _efficiency_update(chip, params, digits=None)
        if only is not None:
            update = _only(chip, update, only)
        catalog = catalog.with_overrides(cid, efficiency=chip.efficiency.model_copy(update=update))
    return catalog


def _only(chip: Chip, update: dict, names: Sequence[str]) -> dict:
    """The part of an efficiency update that the parameters `names` set (the rest keeps the chip's values)."""
    out: dict = {}
    compute = {n.split("_", 1)[1] for n in names if n.startswith("compute_")}
    if compute:
        out["compute"] = {**chip.efficiency.compute, **{k: v for k, v in update["compute"].items() if k in compute}}
    for n in names:
        if not n.startswith("compute_") and n in update:
            out[n] = update[n]
    return out


def _efficiency_update(chip: Chip, params: K.KernelParams, digits: int | None = 4) -> dict:
    ov = params.efficiency_overlay(digits)
    compute = dict(chip.efficiency.compute)
    compute.update({k: v for k, v in ov["compute"].items() if k in chip.peak_tflops})
    return {**ov, "compute": compute}


def fit_points(points: pd.DataFrame, catalog: ChipCatalog, chip_id: str | Sequence[str], free: Sequence[str] = POINT_PARAMS,
               max_iter: int = 15) -> tuple[K.KernelParams, FitResult]:
    """Fit a chip's efficiencies to the end-to-end rows measured on it (planner.analyses.validate predicts each row).

    `chip_id` may name several chips of one silicon (B200, GB200, GB300 share a die): the fitted parameters are
    common to them and replace only those fields; every other efficiency keeps each chip's own value."""
    chip_ids = [chip_id] if isinstance(chip_id, str) else list(chip_id)
    rows = points[points["chip"].isin(chip_ids)]
    if rows.empty:
        raise PlannerError(f"no rows measured on {', '.join(chip_ids)} in the points file", field="chip")
    start = K.KernelParams.from_chip(catalog[chip_ids[0]])
    used = set(rows["weights_dtype"])
    names = [n for n in free if n in BOUNDS and not (n.startswith("compute_") and n.split("_", 1)[1] not in used)]

    return _fit_predicted(rows, predict_points, catalog, chip_ids, start, names, max_iter, len(rows))


def _fit_predicted(rows: pd.DataFrame, predict: Callable, catalog: ChipCatalog, chip_ids: list[str],
                   start: K.KernelParams, names: list[str], max_iter: int, n_residuals: int):
    """Least squares of soft-L1 log(predicted/measured) over what `predict(rows, catalog)` returns (a record per
    row and metric; a record it cannot predict counts as a zero residual)."""

    def residuals(x):
        cat = apply_params(catalog, chip_ids, start.with_values(names, x), only=names if len(chip_ids) > 1 else None)
        pred = predict(rows, cat)
        ok = pred["status"] == "ok"
        r = np.log(pred.loc[ok, "predicted"].to_numpy(float) / pred.loc[ok, "measured"].to_numpy(float))
        return soft_l1(np.concatenate([r, np.zeros(len(pred) - len(r))]))

    x0 = [min(max(start.value(n), BOUNDS[n][0] * 1.01 + 1e-3), BOUNDS[n][1] * 0.99) for n in names]
    x, cost, it = least_squares(residuals, x0, [BOUNDS[n] for n in names], max_iter=max_iter)
    return start.with_values(names, x), FitResult(names, x, np.array(x0), cost, it, n_residuals)


def fit_serving(rows: pd.DataFrame, catalog: ChipCatalog, chip_id: str | Sequence[str],
                free: Sequence[str] = POINT_PARAMS, max_iter: int = 15) -> tuple[K.KernelParams, FitResult]:
    """Fit a chip's efficiencies to serving benchmarks measured on it (the validation/serving format: median TTFT
    and TPOT at a client concurrency, as `vllm bench serve`, genai-perf or aiperf report them, converted): every
    row is simulated by the serving model (planner.analyses.serving) and the residuals are log(predicted/measured)
    of both metrics. A handful of rows of one deployment suffices for `memory` and one compute efficiency."""
    chip_ids = [chip_id] if isinstance(chip_id, str) else list(chip_id)
    mine = rows[system_chips(rows["system"], catalog).isin(chip_ids)]
    if mine.empty:
        raise PlannerError(f"no serving rows measured on {', '.join(chip_ids)}", field="chip",
                           hint=f"the rows' systems map to chips as {SYSTEM_CHIP}, else by the catalog's ids")
    start = K.KernelParams.from_chip(catalog[chip_ids[0]])
    used = set()
    for _, row in mine.iterrows():
        try:
            used.add(math_dtype(serving_setting(row, catalog).config.weights))
        except ServingSkip:
            continue
    names = [n for n in free if n in BOUNDS and not (n.startswith("compute_") and n.split("_", 1)[1] not in used)]
    if not names:
        raise PlannerError("nothing to fit: the rows use none of the requested parameters", field="fit")

    return _fit_predicted(mine, predict_serving, catalog, chip_ids, start, names, max_iter, 2 * len(mine))


# ---------------------------------------------------------------- output


def overlay_yaml(chip: Chip | Sequence[Chip], params: K.KernelParams, source: str, fit: FitResult, note: str = "") -> str:
    """A `--catalog` overlay that sets the chip's efficiency block (and records where it came from).

    Several chips (one silicon fitted together): each gets only the fitted fields; the rest stay its own."""
    chips = [chip] if isinstance(chip, Chip) else list(chip)
    date = _dt.date.today().strftime("%Y-%m")
    entries = []
    for c in chips:
        eff = _efficiency_update(c, params)
        if len(chips) > 1:
            eff = _only(c, eff, fit.names)
        entries.append({"id": c.id, "efficiency": eff, "sources": {"efficiency": {"ref": source, "date": date}}})
    ids = ", ".join(c.id for c in chips)
    header = [
        f"# Calibrated efficiency overlay for {ids}; generated by `planner calibrate`. Use with --catalog.",
        f"# Fitted by least squares (soft-L1 on log(predicted/measured)) on {fit.n_residuals:,} measurements;",
        f"# fitted parameters: {', '.join(fit.names)}.",
    ]
    if set(NUISANCE) & set(fit.names):
        header.append(f"# Nuisance terms (not written to the catalog): fp8 activation quantization {params.fp8_quant_us:.2f} us, "
                      f"fp8 block-scaled {params.fp8_block_quant_us:.2f} us, attention-kernel floors {params.attn_floor_us:.2f} us (decode), "
                      f"{params.xqa_fp8_floor_us:.2f} us (fp8-KV GQA decode), {params.mla_floor_us:.2f} us (MLA decode), "
                      f"{params.prefill_floor_us:.2f} us (prefill), {params.mla_prefill_floor_us:.2f} us (MLA prefill).")
    if "moe_relative" in fit.names:
        header.append(f"# Grouped/dense GEMM efficiency {params.moe_relative:.3f}: written as this chip's moe_relative (chips "
                      f"without one use planner.engine.params moe_gemm_relative_efficiency).")
    if "moe_width_half" in fit.names:
        header.append(f"# Engine constant (planner.engine.params moe_expert_width_half, all chips): expert width at half "
                      f"grouped-GEMM efficiency {params.moe_width_half:.0f} columns.")
    if set(DECODE_ATTN_CONSTANTS) & set(fit.names):
        header.append(f"# Engine constants (planner.engine.params gqa_bf16_unit_factor, decode_attn_*): bf16-KV GQA work-item cost "
                      f"x{params.gqa_bf16_unit:.2f}, CTAs at half KV bandwidth {params.attn_half_ctas:.1f}, serial time per KV "
                      f"token {params.attn_token_ns:.2f} ns, split-KV block >= {params.attn_split_tokens:.0f} tokens, at most "
                      f"{params.attn_max_splits:.1f} blocks.")
    if note:
        header += [f"# {line}" for line in note.splitlines()]
    return "\n".join(header) + "\n" + yaml.safe_dump({"chips": entries}, sort_keys=False, default_flow_style=None)


def detect_format(path: Path) -> str:
    """'serving' for serving benchmarks (TTFT/TPOT at a concurrency), 'points' for an end-to-end file (has
    metric/value), else the kernel family its columns match."""
    if is_serving_file(path):
        return "serving"
    cols = set(pd.read_csv(path, nrows=0).columns)
    if {"metric", "value", "chip"} <= cols:
        return "points"
    signatures = {
        "gemm": {"m", "n", "k", "dtype", "latency_us"},
        "attn_decode": {"batch", "kv_len", "num_q_heads", "num_kv_heads", "head_dim", "kv_dtype", "latency_us"},
        "mla_decode": {"batch", "kv_len", "num_heads", "kv_dtype", "latency_us"},
        "attn_prefill": {"batch", "seq_len", "num_q_heads", "num_kv_heads", "head_dim", "dtype", "latency_us"},
        "mla_prefill": {"batch", "seq_len", "num_heads", "tp_size", "kv_dtype", "latency_us"},
        "moe": {"num_tokens", "hidden_size", "inter_size", "topk", "num_experts", "moe_tp", "moe_ep", "latency_us"},
        "allreduce": {"num_gpus", "message_bytes", "latency_us", "implementation"},
    }
    for fam, sig in signatures.items():
        if sig <= cols and not (fam == "attn_decode" and "window_size" in cols):
            return fam
    raise PlannerError(f"{path}: columns {sorted(cols)} match neither the points format nor a kernel file",
                       field="measurements", hint="see validation/README.md for both formats")
