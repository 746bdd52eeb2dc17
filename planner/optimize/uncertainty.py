"""How sure the planner is: error bands and the default planning margin, from measured validation error.

The source is `validation/results.csv`, the per-row output of the last validation run (regenerated with the
docs by `scripts/make_validation_doc.py`). For each predicted row the *performance ratio*
f = measured performance / predicted performance (performance = a throughput, or 1 / a latency) says how the
engine erred: f < 1 means the engine was optimistic.

- `error_band(phase, chip_id, model_id)`: the 10th–90th percentile of f over comparable rows (same phase,
  chip family and model class; widened to fewer criteria when fewer than MIN_ROWS rows match — `basis` says
  which). A throughput prediction T is then likely within [T·lo, T·hi]; a latency L within [L/hi, L/lo].
- `default_margin()`: the headroom `planner solve` plans with when none is given: the median absolute
  error of the throughput rows, i.e. plans still hold when the engine is optimistic by a typical amount.
  Planners who want more safety pass `--margin` (e.g. the p75 printed in docs/validation.md).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from planner.inputs.models import load_model, preset_ids
from planner.paths import ROOT

RESULTS_FILE = ROOT / "validation" / "results.csv"
MIN_ROWS = 3
BAND_QUANTILES = (0.10, 0.90)
THROUGHPUT_METRICS = ("output_tok_s_per_chip", "input_tok_s_per_chip", "total_tok_s_per_chip", "tok_s_per_user")
LATENCY_METRICS = ("ttft_ms", "tpot_ms")
FALLBACK_MARGIN = 0.25  # used only when no validation results are available

CHIP_FAMILY = {
    "h100-sxm": "nvidia-hopper", "h100-pcie": "nvidia-hopper", "h200-sxm": "nvidia-hopper",
    "h800-sxm": "nvidia-hopper", "h20": "nvidia-hopper",
    "b200": "nvidia-blackwell", "b300": "nvidia-blackwell", "gb200": "nvidia-blackwell",
    "gb300": "nvidia-blackwell", "rtx-pro-6000": "nvidia-blackwell",
    "a100-sxm-80gb": "nvidia-ampere", "l40s": "nvidia-ada",
    "mi300x": "amd-cdna3", "mi325x": "amd-cdna3", "mi355x": "amd-cdna4",
}


def chip_family(chip_id: str) -> str:
    return CHIP_FAMILY.get(chip_id, "other")


def model_class(model_id: str) -> str:
    """'moe' or 'dense' from the model preset (unknown ids: 'dense')."""
    if model_id in preset_ids():
        return "moe" if load_model(model_id).is_moe else "dense"
    return "dense"


def performance_ratio(metric: str, measured, predicted):
    """measured / predicted performance: throughputs as is, latencies inverted (f < 1: engine optimistic)."""
    measured, predicted = np.asarray(measured, float), np.asarray(predicted, float)
    if metric in LATENCY_METRICS:
        return predicted / measured
    return measured / predicted


@lru_cache(maxsize=4)
def _results(path: str) -> pd.DataFrame:
    p = Path(path)
    if not p.exists():
        return pd.DataFrame(columns=["phase", "chip", "model", "metric", "measured", "predicted", "status"])
    df = pd.read_csv(p)
    df = df[df["status"] == "ok"].copy()
    df["f"] = [float(performance_ratio(m, a, b)) for m, a, b in zip(df["metric"], df["measured"], df["predicted"], strict=True)]
    df["chip_family"] = df["chip"].map(chip_family)
    df["model_class"] = df["model"].map(model_class)
    return df


def load_results(path: str | Path | None = None) -> pd.DataFrame:
    return _results(str(path or RESULTS_FILE))


def error_band(phase: str, chip_id: str, model_id: str, results: pd.DataFrame | None = None) -> dict:
    """Band of measured/predicted performance over comparable validated rows: {lo, hi, median_ape, n, basis}."""
    df = load_results() if results is None else results
    fam, cls = chip_family(chip_id), model_class(model_id)
    levels = [
        (f"phase={phase}, chip family={fam}, model class={cls}",
         (df["phase"] == phase) & (df["chip_family"] == fam) & (df["model_class"] == cls)),
        (f"phase={phase}, model class={cls}", (df["phase"] == phase) & (df["model_class"] == cls)),
        (f"chip family={fam}, model class={cls}", (df["chip_family"] == fam) & (df["model_class"] == cls)),
        (f"phase={phase}", df["phase"] == phase),
        ("all validated rows", np.ones(len(df), bool)),
    ]
    for basis, mask in levels:
        sub = df[np.asarray(mask, bool)]
        if len(sub) >= MIN_ROWS or basis == "all validated rows":
            break
    if len(sub) == 0:
        return {"lo": None, "hi": None, "median_ape": None, "n": 0, "basis": "no validation results"}
    f = sub["f"].to_numpy(float)
    lo, hi = np.quantile(f, BAND_QUANTILES)
    ape = np.abs(sub["predicted"].to_numpy(float) / sub["measured"].to_numpy(float) - 1.0)
    return {"lo": float(lo), "hi": float(hi), "median_ape": float(np.median(ape)), "n": int(len(sub)), "basis": basis}


def default_margin(results: pd.DataFrame | None = None) -> float:
    """Planning headroom: the median absolute error of throughput rows in the validation results (rounded up
    to 0.05); FALLBACK_MARGIN when there are none. With the bundled results (branch fidelity5) this is 0.15;
    errors on held-out sources run higher (docs/validation.md), so pass --margin for more safety on new hardware."""
    df = load_results() if results is None else results
    thr = df[df["metric"].isin(THROUGHPUT_METRICS)] if len(df) else df
    if len(thr) == 0:
        return FALLBACK_MARGIN
    ape = np.abs(thr["predicted"].to_numpy(float) / thr["measured"].to_numpy(float) - 1.0)
    return float(np.ceil(np.median(ape) * 20 - 1e-9) / 20)


def band_text(band: dict) -> str:
    """One line for tables: 'x0.62–x1.31 of predicted throughput (median error 18%, n=12; phase=decode, ...)'."""
    if band.get("lo") is None:
        return "no comparable validation rows"
    return (f"x{band['lo']:.2f}–x{band['hi']:.2f} of predicted throughput (median error "
            f"{100 * band['median_ape']:.0f}%, n={band['n']}; {band['basis']})")
