"""Design points per second of the roofline engine, end to end from candidate arrays to the coefficient
DataFrame. Usage: python benchmarks/engine_throughput.py [--repeat 5]. Last line: `points_per_s: N`.

The grid: 4 models (dense and MoE) x 8 chips x 3 roles x 2 weight dtypes x every valid TP/EP/PP/DP x
the standard batch grids; best of --repeat runs (the machine may be shared)."""

from __future__ import annotations

import argparse
import time

from planner.engine.candidates import Grid, build_candidates
from planner.engine.roofline import evaluate, to_frame
from planner.engine.tables import ChipTable, ModelTable
from planner.inputs.chips import load_catalog
from planner.inputs.models import load_model

MODELS = ("llama-3.1-8b", "llama-3.1-70b", "qwen3-235b-a22b", "deepseek-v3")
CHIPS = ("h100-sxm", "h200-sxm", "b200", "gb200", "mi300x", "mi355x", "a100-sxm-80gb", "l40s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    cat = load_catalog()
    models = [load_model(m) for m in MODELS]
    chips = [cat[c] for c in CHIPS]
    mt, ct = ModelTable.build(models), ChipTable.build(chips)
    t0 = time.perf_counter()
    cands = build_candidates(models, chips, Grid(weights_dtypes=("bf16", "fp8")))
    t_build = time.perf_counter() - t0
    best_eval = best_total = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = evaluate(cands, mt, ct)
        t1 = time.perf_counter()
        df = to_frame(cands, res, mt, ct)
        t2 = time.perf_counter()
        best_eval, best_total = min(best_eval, t1 - t0), min(best_total, t2 - t0)
    n = len(cands)
    print(f"candidates: {n:,} ({len(MODELS)} models x {len(CHIPS)} chips), fitting: {int(df['fits'].sum()):,}")
    print(f"enumerate_s: {t_build:.3f}")
    print(f"evaluate_s: {best_eval:.3f} ({n / best_eval:,.0f} points/s, engine only)")
    print(f"evaluate+table_s: {best_total:.3f}")
    print(f"points_per_s: {n / best_total:.0f}")


if __name__ == "__main__":
    main()
