"""Speed of the optimizer, end to end from the CLI. Usage: python benchmarks/solve_speed.py [--repeat N].

1. `planner solve scenarios/eight-chips.yaml` (cheapest fleet over eight chip types, Llama 3.1 70B):
   wall time of a fresh `python -m planner` process, Python start-up and imports included. Goal <= 2 s on
   a 2-core machine (NVIDIA AI Configurator: 19-60 s for one chip type).
2. `planner pareto scenarios/eight-chips.yaml --points 30` (the default TPOT sweep). Goal <= 10 s.
3. For reference: the CLI start-up alone (`--help`, which imports no command module), the same query
   through the library in a fresh process, the in-process stages of one solve, and the 30-point
   throughput and budget sweeps (harder MILPs: large fleets near the inventory limits).

Benchmarks, not timed tests. The last two lines are `solve_s: X` and `pareto30_s: Y` (medians).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "eight-chips.yaml"


def _wall(args: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return dt, p.stdout


def _median_wall(args: list[str], repeat: int) -> tuple[float, float, str]:
    times, out = [], ""
    for _ in range(repeat):
        dt, out = _wall(args)
        times.append(dt)
    return statistics.median(times), min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-sweeps", action="store_true", help="skip the reference throughput/budget sweeps")
    a = ap.parse_args()

    startup, _, _ = _median_wall(["-m", "planner", "--help"], a.repeat)
    print(f"CLI start-up (python -m planner --help): median {startup:.2f} s")

    solve_med, solve_min, out = _median_wall(["-m", "planner", "solve", str(SCENARIO), "--format", "json"], a.repeat)
    s = json.loads(out)
    t = s["timings_s"]
    kept = sum(s["candidates"]["kept"].values())
    engine = sum(s["candidates"]["engine"].values())
    print(f"solve, 8 chip types, end to end: median {solve_med:.2f} s, best {solve_min:.2f} s  "
          f"(status {s['status']}, ${s['cost_usd_per_hr']:.2f}/h, {s['num_chips']} chips, mode {s['mode']})")
    print(f"  in process: coefficients {t['coefficients_s']:.3f} s ({engine} candidates), prune {t['prune_s']:.3f} s "
          f"({kept} kept), build {t['build_s']:.3f} s, HiGHS {t['solve_s']:.3f} s")

    lib = ("import json, sys; from planner.inputs.scenario import load_scenario; from planner.optimize.solve import solve_scenario; "
           "r = solve_scenario(load_scenario(sys.argv[1])); print(json.dumps(r.summary['status']))")
    lib_med, lib_min, _ = _median_wall(["-c", lib, str(SCENARIO)], a.repeat)
    print(f"  the same query through the library in a fresh process (no CLI command modules): median {lib_med:.2f} s, "
          f"best {lib_min:.2f} s")

    reps = max(1, min(3, a.repeat))
    p_med, p_min, out = _median_wall(["-m", "planner", "pareto", str(SCENARIO), "--points", "30", "--format", "json"], reps)
    p = json.loads(out)
    print(f"pareto, 30 points (tpot sweep), end to end: median {p_med:.2f} s, best {p_min:.2f} s  "
          f"({p['frontier_points']} frontier points, {p['candidates']} candidates, statuses {p['statuses']})")

    if not a.skip_sweeps:
        for sweep in ("throughput", "budget"):
            dt, out = _wall(["-m", "planner", "pareto", str(SCENARIO), "--points", "30", "--sweep", sweep, "--format", "json"])
            q = json.loads(out)
            print(f"pareto, 30 points ({sweep} sweep): {dt:.2f} s  ({q['frontier_points']} frontier points, "
                  f"statuses {q['statuses']})")

    print(f"solve_s: {solve_med:.2f}")
    print(f"pareto30_s: {p_med:.2f}")


if __name__ == "__main__":
    main()
