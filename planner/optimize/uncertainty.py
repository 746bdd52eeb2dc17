"""How sure the planner is: error bands and the default planning margin, from measured validation error.

The source is `validation/results.csv`, the per-row output of the last validation run (regenerated with the
docs by `scripts/make_validation_doc.py`). For each predicted row the *performance ratio*
f = measured performance / predicted performance (performance = a throughput, or 1 / a latency) says how the
engine erred: f < 1 means the engine was optimistic.

- `error_band(phase, chip_id, model_id)`: the 10th–90th percentile of f over comparable rows (same phase,
  chip family and model class; widened to fewer criteria when fewer than MIN_ROWS rows match — `basis` says
  which). A throughput prediction T is then likely within [T·lo, T·hi]; a latency L within [L/hi, L/lo].
- `planning_margins()`: the headroom `planner solve` plans with when none is given, per metric (capacity, TPOT,
  TTFT) and chip family: the one-sided p75 of how optimistic the engine was on rows no fit saw (held out by source
  or by system; `validation/margins.csv`), so a plan holds when the engine errs as on three such rows in four.
  A scenario's `margin` or `--margin` sets one value for every metric and chip.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.inputs.models import load_model
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


def model_class(model_ref: str) -> str:
    """'moe' or 'dense' from the model a scenario names (a preset, a zoo id or a config path; one that does not
    load: 'dense')."""
    try:
        return "moe" if load_model(model_ref).is_moe else "dense"
    except PlannerError:
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


def error_band(phase: str, chip_id: str, model_id: str, results: pd.DataFrame | None = None,
               is_moe: bool | None = None) -> dict:
    """Band of measured/predicted performance over comparable validated rows: {lo, hi, median_ape, n, basis}.
    is_moe: the model's class where the caller holds the model (else read from model_id)."""
    fam = chip_family(chip_id)
    cls = model_class(model_id) if is_moe is None else ("moe" if is_moe else "dense")
    if results is None:  # the bundled results: the same few bands for every pool of every plan
        return dict(_bundled_band(phase, fam, cls))
    return _band(results, phase, fam, cls)


@lru_cache(maxsize=256)
def _bundled_band(phase: str, fam: str, cls: str) -> dict:
    return _band(load_results(), phase, fam, cls)


def _band(df: pd.DataFrame, phase: str, fam: str, cls: str) -> dict:
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


MARGINS_FILE = ROOT / "validation" / "margins.csv"
MARGIN_QUANTILE = 0.75  # one-sided: a plan holds when the engine is as optimistic as on three held-out rows in four
MIN_MARGIN_ROWS = 5  # a chip family gets its own margin from at least this many held-out rows
MARGIN_METRICS = ("capacity", "tpot", "ttft")


def optimism(metric: str, measured, predicted):
    """How optimistic the engine was on a row, as a factor (> 1: optimistic): predicted/measured for throughputs
    and per-user speeds, measured/predicted for latencies."""
    return 1.0 / np.asarray(performance_ratio(metric, measured, predicted), float)


def margin_metric(metric: str) -> str | None:
    """Which planning margin a validated metric informs: capacity (throughputs per chip), tpot (TPOT and the
    per-user speed 1/TPOT) or ttft."""
    if metric in ("ttft_ms",):
        return "ttft"
    if metric in ("tpot_ms", "tok_s_per_user"):
        return "tpot"
    return "capacity" if metric in THROUGHPUT_METRICS else None


def margin_table(heldout: pd.DataFrame, quantile: float = MARGIN_QUANTILE) -> pd.DataFrame:
    """Planning margins from held-out rows (columns metric, chip, measured, predicted): per margin metric and chip
    family with at least MIN_MARGIN_ROWS rows, and over all families ('all'), the one-sided `quantile` of the
    optimism factor less one, floored at 0. Columns: margin_metric, chip_family, n, quantile, margin."""
    df = heldout.assign(margin_metric=heldout["metric"].map(margin_metric),
                        chip_family=heldout["chip"].map(chip_family))
    df = df[df["margin_metric"].notna() & (df["measured"] > 0) & (df["predicted"] > 0)]
    df = df.assign(optimism=optimism_column(df))
    rows = []
    for m in MARGIN_METRICS:
        sub = df[df["margin_metric"] == m]
        groups = [("all", sub)] + [(fam, g) for fam, g in sub.groupby("chip_family") if len(g) >= MIN_MARGIN_ROWS]
        for fam, g in groups:
            if len(g) == 0:
                continue
            q = float(np.quantile(g["optimism"], quantile))
            rows.append({"margin_metric": m, "chip_family": fam, "n": len(g), "quantile": quantile,
                         "margin": round(max(q - 1.0, 0.0), 3)})
    return pd.DataFrame(rows, columns=["margin_metric", "chip_family", "n", "quantile", "margin"])


def optimism_column(df: pd.DataFrame) -> np.ndarray:
    """optimism() over a frame's rows (columns metric, measured, predicted)."""
    meas, pred = df["measured"].to_numpy(float), df["predicted"].to_numpy(float)
    return np.where(df["metric"].isin(LATENCY_METRICS).to_numpy(), meas / pred, pred / meas)


@dataclass(frozen=True)
class Margins:
    """Planning headroom per metric and chip family: capacities / (1 + capacity), TPOT x (1 + tpot), the service
    part of TTFT and the KV transfer x (1 + ttft). `families` holds (family, capacity, tpot, ttft) rows; a family
    not listed takes `default`."""

    default: tuple[float, float, float] = (0.0, 0.0, 0.0)
    families: tuple[tuple[str, float, float, float], ...] = ()
    basis: str = "none"

    @classmethod
    def uniform(cls, margin: float, basis: str) -> Margins:
        m = float(margin)
        return cls((m, m, m), (), basis)

    @property
    def is_uniform(self) -> bool:
        return not self.families and len(set(self.default)) == 1

    def of_family(self, family: str) -> dict[str, float]:
        for fam, *vals in self.families:
            if fam == family:
                return dict(zip(MARGIN_METRICS, vals, strict=True))
        return dict(zip(MARGIN_METRICS, self.default, strict=True))

    def factors(self, chip_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """1 + margin per row for (capacity, tpot, ttft), from each row's chip."""
        chips = np.asarray(chip_ids).astype(str)
        uniq, inv = np.unique(chips, return_inverse=True)
        table = np.array([[1.0 + self.of_family(chip_family(c))[m] for m in MARGIN_METRICS] for c in uniq]).reshape(-1, 3)
        f = table[inv] if len(chips) else np.ones((0, 3))
        return f[:, 0], f[:, 1], f[:, 2]

    def summary(self, chip_ids) -> dict:
        """The margins in force for these chips: per metric the largest over their families, the basis, and per
        family when they differ."""
        fams = sorted({chip_family(str(c)) for c in chip_ids}) or ["other"]
        per = {f: self.of_family(f) for f in fams}
        out: dict = {m: max(v[m] for v in per.values()) for m in MARGIN_METRICS}
        out["basis"] = self.basis
        if len({tuple(v.values()) for v in per.values()}) > 1:
            out["by_family"] = per
        return out

    def with_capacity_factor(self, factor: float, why: str) -> Margins:
        """The same margins with every capacity divided by `factor` more: (1 + capacity) · factor − 1."""
        def scaled(vals):
            return ((1.0 + vals[0]) * factor - 1.0, *vals[1:])
        return Margins(scaled(self.default), tuple((fam, *scaled(vals)) for fam, *vals in self.families),
                       f"{self.basis}; {why}")

    def text(self, chip_ids=()) -> str:
        """One line: 'capacity 20%, TPOT 12%, TTFT 45% (basis)'."""
        return margin_text(self.summary(chip_ids))


def margin_text(summary: dict) -> str:
    """A plan's margins (Margins.summary) in one line: '10% (--margin)' when one value applies to everything,
    else 'capacity 20%, TPOT 12%, TTFT 45% (basis)' and, per chip family when they differ, 'nvidia-hopper: ...'."""
    vals = [summary[m] for m in MARGIN_METRICS]
    if len(set(vals)) == 1 and "by_family" not in summary:
        return f"{100 * vals[0]:.0f}% ({summary['basis']})"
    def one(d: dict) -> str:
        return f"capacity {100 * d['capacity']:.0f}%, TPOT {100 * d['tpot']:.0f}%, TTFT {100 * d['ttft']:.0f}%"
    if "by_family" in summary:
        return "; ".join(f"{fam}: {one(d)}" for fam, d in summary["by_family"].items()) + f" ({summary['basis']})"
    return f"{one(summary)} ({summary['basis']})"


NO_MARGIN = Margins(basis="none")


@lru_cache(maxsize=4)
def _margins(path: str) -> Margins:
    p = Path(path)
    if not p.exists():
        return Margins.uniform(FALLBACK_MARGIN, "no held-out validation results: fallback")
    df = pd.read_csv(p)
    vals = {(r.margin_metric, r.chip_family): float(r.margin) for r in df.itertuples()}
    q = float(df["quantile"].iloc[0]) if len(df) else MARGIN_QUANTILE
    default = tuple(vals.get((m, "all"), FALLBACK_MARGIN) for m in MARGIN_METRICS)
    fams = sorted({f for (_, f) in vals} - {"all"})
    families = tuple((f, *(vals.get((m, f), default[i]) for i, m in enumerate(MARGIN_METRICS))) for f in fams)
    return Margins(default, families, f"held-out p{100 * q:.0f} of the engine's optimism, {p.name}")


def planning_margins(path: str | Path | None = None) -> Margins:
    """The default planning margins: validation/margins.csv (written by scripts/make_validation_doc.py from rows
    predicted by fits that did not see them: the published points held out by source and the never-fitted held-out
    file for capacity, the serving benchmarks held out by system for TPOT and TTFT)."""
    return _margins(str(path or MARGINS_FILE))


def band_text(band: dict) -> str:
    """One line for tables: 'x0.62–x1.31 of predicted throughput (median error 18%, n=12; phase=decode, ...)'."""
    if band.get("lo") is None:
        return "no comparable validation rows"
    return (f"x{band['lo']:.2f}–x{band['hi']:.2f} of predicted throughput (median error "
            f"{100 * band['median_ape']:.0f}%, n={band['n']}; {band['basis']})")
