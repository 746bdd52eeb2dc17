"""Speed of the fleet simulation (planner simulate): one simulated hour of a ~100-instance fleet at its planned
load, aggregated and P/D.

    python benchmarks/fleet_speed.py [--hours 1] [--pd-hours 0.05] [--joint-hours 0.005]

Goal (fleet-simulation issue): one simulated hour of a 100-instance fleet in <= 10 s on this machine. An
aggregated pool is simulated as one instance fed its share (random routing makes the instances alike), so its cost
is one instance's hour; the P/D part simulates every prefill and decode engine (the compiled open-loop event loop of
planner/serving/pd_kernel.py; its first run in a fresh checkout also compiles it, ~7 s, cached after), and so does
a load-aware router (least outstanding requests) over the aggregated pool.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from planner.inputs.scenario import validate_scenario  # noqa: E402
from planner.optimize.solve import solve_scenario  # noqa: E402
from planner.serving.fleet import simulate_fleet  # noqa: E402


def scenario(mode: str, rate: float):
    return validate_scenario({
        "name": f"fleet-{mode}", "model": "llama-3.1-8b", "precision": {"weights": "fp8"}, "modes": [mode],
        "workload": {"arrival_rate_rps": rate, "isl": 1024, "osl": 256}, "slo": {"ttft_ms": 1000, "tpot_ms": 40},
        "chips": [{"id": "h100-sxm"}], "search": {"max_chips_per_instance": 1, "pipeline_parallel": [1]},
        "margin": 0.1,
    })


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--pd-hours", type=float, default=1.0,
                    help="simulated hours of the P/D fleet (every engine, compiled: planner/serving/pd_kernel.py)")
    ap.add_argument("--joint-hours", type=float, default=0.005,
                    help="simulated hours of the aggregated fleet behind the least-outstanding router")
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    for mode, rate, hours, router in (("aggregated", 3000.0, a.hours, "random"),
                                      ("disaggregated", 3000.0, a.pd_hours, "random"),
                                      ("aggregated", 3000.0, a.joint_hours, "least-outstanding")):
        res = solve_scenario(scenario(mode, rate))
        n = int(res.pools["instances"].sum())
        requests = int(rate * 3600 * hours)
        t0 = time.perf_counter()
        sim = simulate_fleet(scenario(mode, rate), res.pools, duration_s=3600 * hours, router=router)
        dt = time.perf_counter() - t0
        print(f"{mode:13s} {router:17s} {n:4d} instances, {rate:g} requests/s, {hours:g} h = {requests:,} requests: "
              f"{dt:6.1f} s, {dt / hours:,.0f} s per simulated hour  (simulated p90 TTFT {sim.summary['ttft_ms_p90']:.0f} ms, "
              f"attainment {sim.summary['slo_attainment']:.3f})", flush=True)


if __name__ == "__main__":
    main()
