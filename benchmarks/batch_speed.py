"""Speed of `planner batch` on a 200-scenario sweep. Usage: python benchmarks/batch_speed.py [--workers N].

The sweep: llama-3.1-8b on H100 + H200, 10 rates x 5 TPOT SLOs x 2 H100 prices x 2 H200 prices, so all 200
scenarios share one engine coefficient table (same model, chips, precision and shape; prices are applied after
the engine). Three measurements:

1. in this process (`--workers 0`): per-scenario overhead of the batch machinery = (wall - sum of the
   per-scenario solve times) / scenarios: expansion and keys, journal append + fsync, final table write;
2. the local process pool (`--workers N`, default one per core): scenarios per second end to end,
   pool start-up included;
3. the coefficient cache: one scenario solved with a cold cache vs a warm one.

Last two lines: `scenarios_per_s: N` (pool) and `overhead_ms_per_scenario: M` (in process).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from planner.batch.runner import BatchRun
from planner.inputs.scenario import validate_scenario
from planner.optimize.coefficients import DEFAULT_CACHE, CoefficientCache
from planner.optimize.solve import solve_scenario

BASE = {
    "name": "bench",
    "model": "llama-3.1-8b",
    "precision": {"weights": "fp8"},
    "workload": {"arrival_rate_rps": 10, "isl": 2048, "osl": 256},
    "slo": {"ttft_ms": 1000, "tpot_ms": 30},
    "chips": [{"id": "h100-sxm", "price_usd_per_hr": 2.5, "max_count": 64},
              {"id": "h200-sxm", "price_usd_per_hr": 3.5, "max_count": 64}],
}
SWEEP = {
    "workload.arrival_rate_rps": [1, 2, 4, 8, 12, 16, 24, 32, 48, 64],
    "slo.tpot_ms": [20, 30, 40, 50, 60],
    "chips[h100-sxm].price_usd_per_hr": [2.0, 3.0],
    "chips[h200-sxm].price_usd_per_hr": [3.0, 4.0],
}


def _run(sweep: Path, out: Path, workers: int) -> tuple[float, pd.DataFrame, object]:
    t0 = time.perf_counter()
    summary = BatchRun([str(sweep)], out, workers=workers).run()
    wall = time.perf_counter() - t0
    return wall, pd.read_parquet(out), summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="pool size for the throughput run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sweep = tmp / "sweep.yaml"
        sweep.write_text(yaml.safe_dump({"base": BASE, "sweep": SWEEP}, sort_keys=False))

        # 3. the coefficient cache (before the runs, so the cold number really is cold)
        sc = validate_scenario(BASE)
        t0 = time.perf_counter()
        solve_scenario(sc, cache=CoefficientCache())
        cold_ms = (time.perf_counter() - t0) * 1e3
        warm = CoefficientCache()
        solve_scenario(sc, cache=warm)
        t0 = time.perf_counter()
        solve_scenario(sc, cache=warm)
        warm_ms = (time.perf_counter() - t0) * 1e3

        DEFAULT_CACHE.clear()
        wall_in, df_in, s_in = _run(sweep, tmp / "inline.parquet", 0)
        n = len(df_in)
        solve_sum = float(df_in["solve_s"].sum())
        overhead_ms = (wall_in - solve_sum) / n * 1e3
        wall_pool, df_pool, s_pool = _run(sweep, tmp / "pool.parquet", args.workers)

    statuses = df_pool["status"].value_counts().to_dict()
    print(f"scenarios: {n} (llama-3.1-8b on h100-sxm+h200-sxm; 10 rates x 5 TPOT SLOs x 2 x 2 prices); {statuses}")
    print(f"coefficient cache: first solve {cold_ms:.0f} ms (engine table built), warm {warm_ms:.0f} ms "
          f"({cold_ms / warm_ms:.1f}x); {DEFAULT_CACHE.misses} table(s) built for the {n} in-process scenarios")
    print(f"in process: {wall_in:.2f} s wall, {solve_sum:.2f} s solving ({solve_sum / n * 1e3:.1f} ms/scenario), "
          f"{n / wall_in:.1f} scenarios/s")
    print(f"pool x{args.workers}: {wall_pool:.2f} s wall (pool start included), {s_pool.scenarios_per_s:.1f} scenarios/s "
          f"after start, median solve {df_pool['solve_s'].median() * 1e3:.1f} ms")
    print(f"scenarios_per_s: {n / wall_pool:.1f}")
    print(f"overhead_ms_per_scenario: {overhead_ms:.2f}")


if __name__ == "__main__":
    main()
