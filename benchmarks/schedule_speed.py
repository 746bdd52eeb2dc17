"""Speed of plans over periods (planner.optimize.schedule.plan_periods). Usage: python benchmarks/schedule_speed.py

1. 24 hourly periods over eight chip types (scenarios/eight-chips.yaml with the diurnal profile of
   scenarios/diurnal-chat.yaml scaled to its 40 requests/s peak, reserved and spot pricing). Goal <= 10 s.
2. The same without spot pricing (reserved and on-demand only), for reference.
3. Three models x 24 periods (scenarios/portfolio.yaml). Goal <= 30 s.

Each is timed in-process (preparation + the program + the two comparison programs, which run in a forked process
beside the program as `planner solve` runs them), at the scenario's MIP gap
and time limit; the status and the proven gap are printed beside the time, since a solve that stops at its time
limit is on time but not proven. Benchmarks, not timed tests.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import yaml

from planner.inputs.scenario import load_scenario, validate_scenario
from planner.optimize.schedule import plan_periods

ROOT = Path(__file__).resolve().parent.parent


def eight_chips_day():
    data = yaml.safe_load((ROOT / "scenarios" / "eight-chips.yaml").read_text())
    profile = yaml.safe_load((ROOT / "scenarios" / "diurnal-chat.yaml").read_text())["demand"]["profile"]
    peak = max(profile)
    data["name"] = "eight-chips-day"
    data["workload"].pop("arrival_rate_rps")
    data["demand"] = {"profile": [40.0 * r / peak for r in profile], "period_hours": 1}
    data["pricing"] = {"reserved": {"discount": 0.35}, "spot": {"discount": 0.5, "max_count": 16}}
    data["solver"] = {"time_limit_s": 10, "mip_gap": 0.01}
    return validate_scenario(data)


def reserved_only(sc):
    """The same day with reserved and on-demand chips only (no spot): the case the raised lower bound proves."""
    data = sc.model_dump(exclude_none=True)
    data["name"] = "eight-chips-day-reserved"
    data["pricing"] = {"reserved": {"discount": 0.35}}
    return validate_scenario(data)


def run(name: str, sc, goal_s: float) -> None:
    t0 = time.perf_counter()
    plan = plan_periods(sc, workers=os.cpu_count() or 1)  # as `planner solve` runs it
    dt = time.perf_counter() - t0
    s = plan.summary
    print(f"{name}: {dt:.1f} s (goal <= {goal_s:g} s; main program {s['timings_s']['solve_s']:.1f} s), status "
          f"{s['status']}, gap {100 * (s['mip_gap'] or 0):.2f}%, {s['periods_count']} periods, "
          f"${s['cost_usd_per_day']:,.0f}/day, saves {100 * s['savings']['vs_all_on_demand']:.1f}% vs all on-demand")


def main() -> None:
    warnings.filterwarnings("ignore")
    run("24 periods x 8 chip types", eight_chips_day(), 10)
    run("24 periods x 8 chip types, reserved pricing only", reserved_only(eight_chips_day()), 10)
    run("3 models x 24 periods", load_scenario(ROOT / "scenarios" / "portfolio.yaml"), 30)


if __name__ == "__main__":
    main()
