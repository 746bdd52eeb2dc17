"""The optimizer's queueing caps against the serving model. For aggregated candidates of a small scenario (Llama 3.1
8B fp8 on one H100, batch 8 / 32 / 128): `planner solve`'s utilization cap rho for a p90 TTFT SLO (M/D/c over the
batch's sequence slots) is applied to the simulated engine's own capacity (B slots, each held for a request's
prefill and decode with every slot busy); the M/D/c
prediction of the p90 TTFT at rho (the simulated light-load TTFT + the M/D/c p90 wait) is printed beside the
simulated p90 TTFT under Poisson arrivals at that rate. The planner's own TPOT (its steady-state step, kernels and the
framework's host time per iteration) is printed beside the simulated one.

    python scripts/check_queue_caps.py

Prints a markdown table (docs/serving.md quotes it).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from planner.inputs.chips import load_catalog  # noqa: E402
from planner.inputs.models import load_model  # noqa: E402
from planner.inputs.scenario import validate_scenario  # noqa: E402
from planner.optimize.prepare import prepare  # noqa: E402
from planner.optimize.queueing import SCV, wait_quantile_s  # noqa: E402
from planner.serving.aggregated import simulate_aggregated  # noqa: E402
from planner.serving.clients import ClosedLoop, Lengths, OpenLoop  # noqa: E402
from planner.serving.params import SERVING_PARAMS  # noqa: E402
from planner.serving.step_times import EngineConfig, StepModel  # noqa: E402

ISL, OSL = 1024, 256


def main() -> None:
    warnings.filterwarnings("ignore")
    cat = load_catalog()
    rows = []
    for ttft_slo in (500, 1000, 2000):
        sc = validate_scenario({
            "name": "caps", "model": "llama-3.1-8b", "precision": {"weights": "fp8"}, "modes": ["aggregated"],
            "workload": {"arrival_rate_rps": 10, "isl": ISL, "osl": OSL}, "slo": {"ttft_ms": ttft_slo, "tpot_ms": 60},
            "chips": [{"id": "h100-sxm"}], "search": {"max_chips_per_instance": 1, "pipeline_parallel": [1]},
            "margin": 0.0,
        })
        t = prepare(sc, keep_tpot_front=True, dominance=False).table
        t = t[t["role"].astype(str) == "aggregated"].sort_values("batch")
        for _, r in t[t["batch"].isin([8, 32, 128])].iterrows():
            cfg = EngineConfig(model=load_model("llama-3.1-8b"), chip=cat["h100-sxm"], weights="fp8", kv="fp8",
                               tp=int(r["tp"]), framework="trtllm", max_batch=int(r["batch"]))
            step = StepModel(cfg, ISL, OSL, max_decode=int(r["batch"]), max_prefill_tokens=8192)
            light = simulate_aggregated(step, Lengths(ISL, OSL), OpenLoop(0.02, requests=40), seed=1).summary()
            full = simulate_aggregated(step, Lengths(ISL, OSL), ClosedLoop(int(r["batch"]), start="staggered")).summary()
            hold_s = (full["ttft_ms_p50"] / 1e3 - SERVING_PARAMS.request_s) + (OSL - 1) * full["tpot_ms_p50"] / 1e3
            # a request's time in its sequence slot with every slot busy: the capacity is batch / hold
            rho = float(r["max_utilization"])
            rate = rho * float(r["batch"]) / hold_s
            wait = float(wait_quantile_s(hold_s, float(r["batch"]), rho, 90, SCV["md-c"]))
            sim = simulate_aggregated(step, Lengths(ISL, OSL), OpenLoop(rate, requests=4000), seed=1).summary()
            rows.append({"TTFT SLO (ms)": ttft_slo, "batch": int(r["batch"]), "cap rho": f"{rho:.2f}",
                         "rate (req/s)": f"{rate:.1f}", "light-load TTFT p90": f"{light['ttft_ms_p90']:.0f}",
                         "M/D/c p90 wait": f"{wait * 1e3:.0f}",
                         "M/D/c TTFT p90": f"{light['ttft_ms_p90'] + wait * 1e3:.0f}",
                         "simulated TTFT p90": f"{sim['ttft_ms_p90']:.0f}",
                         "planner TPOT": f"{r['tpot_ms']:.1f}", "simulated TPOT p50": f"{sim['tpot_ms_p50']:.1f}"})
    df = pd.DataFrame(rows)
    cols = list(df.columns)
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" for _ in cols) + "|")
    for row in df.itertuples(index=False):
        print("| " + " | ".join(str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
