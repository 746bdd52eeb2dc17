"""Kernel-level error of the engine's per-operator formulas on the measured H100 kernels.

Usage: PYTHONPATH=. python benchmarks/kernel_error.py [--every N] [--catalog catalogs/h100-calibrated.yaml]

Prints median and p90 absolute error per kernel family (GEMM per dtype, decode attention per KV dtype, MLA decode,
prefill attention, MLA prefill, fused MoE, custom all-reduce) for the chip's catalog efficiencies, plus decode attention on
the serving-sized subset (KV length >= 1,023 tokens, q/kv head ratio <= 16). Every row by default (--every 1);
the harness nuisance terms (fp8 activation quantization, attention-kernel floor) are refitted first because they
are not catalog fields. Last lines: `gemm_median_ape: X`, `attn_decode_median_ape: Y`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from planner.analyses import kernels as K
from planner.analyses.calibrate import NUISANCE, fit_kernels
from planner.inputs.chips import load_catalog


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--chip", default="h100-sxm")
    ap.add_argument("--catalog", action="append", default=[])
    args = ap.parse_args()
    t0 = time.perf_counter()
    chip = load_catalog(args.catalog)[args.chip]
    nuis, _ = fit_kernels(chip, every=3, free=NUISANCE)
    names = list(NUISANCE)
    params = K.KernelParams.from_chip(chip).with_values(names, [getattr(nuis, n) for n in names])
    err = K.kernel_errors(chip, params, every=args.every)
    print(f"chip {chip.id}; nuisance: fp8 quantization {params.fp8_quant_us:.2f} us, attention floors {params.attn_floor_us:.2f} us (fp8-KV GQA {params.xqa_fp8_floor_us:.2f}), MLA {params.mla_floor_us:.2f} us")
    print(f"{'family':<14}{'subset':<26}{'n':>8}{'median':>9}{'p90':>9}{'bias':>9}")
    for r in err.itertuples():
        print(f"{r.family:<14}{r.subset:<26}{r.n:>8}{100 * r.median_ape:>8.1f}%{100 * r.p90_ape:>8.1f}%{100 * r.bias:>+8.1f}%")
    g = err[(err["family"] == "gemm") & err["subset"].isin(["dtype=bf16", "dtype=fp8"])]
    a = err[(err["family"] == "attn_decode") & (err["subset"] == "all")].iloc[0]
    print(f"elapsed_s: {time.perf_counter() - t0:.1f}")
    print(f"gemm_median_ape: {float(np.max(g['median_ape'])):.4f} (worst of bf16, fp8 per-tensor)")
    print(f"attn_decode_median_ape: {float(a['median_ape']):.4f}")


if __name__ == "__main__":
    main()
