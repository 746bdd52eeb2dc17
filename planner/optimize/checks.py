"""Checks every plan passes before it is printed: integral non-negative counts, chips and cost that add up, pools
within their capacity and queueing caps, and the demand carried. A violation is a bug (PlanCheckError, exit 3),
never an answer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.errors import PlanCheckError

REL_TOL = 1e-6


def plan_violations(summary: dict, pools: pd.DataFrame, rate_min: float | None) -> list[str]:
    """What is wrong with a plan (empty when nothing is)."""
    out: list[str] = []
    n = pools["instances"].to_numpy(float) if len(pools) else np.zeros(0)
    if not np.all(np.isfinite(n)) or np.any(n < 0) or np.any(np.abs(n - np.rint(n)) > 1e-6):
        out.append(f"instance counts must be finite non-negative integers, got {n.tolist()}")
    if len(pools):
        chips = float((pools["instances"] * pools["chips_per_instance"]).sum())
        if abs(chips - float(summary["num_chips"])) > 1e-6:
            out.append(f"num_chips {summary['num_chips']} is not the pools' {chips:g}")
        cost = float(pools["cost_usd_per_hr"].sum())
        if not np.isfinite(summary["cost_usd_per_hr"]) or abs(cost - summary["cost_usd_per_hr"]) > REL_TOL * max(cost, 1.0):
            out.append(f"cost_usd_per_hr {summary['cost_usd_per_hr']} is not the pools' {cost:g}")
        util = pools["utilization"].to_numpy(float)
        cap = pools["max_utilization"].to_numpy(float) if "max_utilization" in pools else np.ones(len(pools))
        cap = np.where(np.isfinite(cap), cap, 1.0)
        over = ~np.isfinite(util) | (util > cap * (1 + REL_TOL) + 1e-9)
        if over.any():
            out.append("pools over their utilization cap: " + ", ".join(
                f"{r} on {c} ({u:.4g} > {m:.4g})" for r, c, u, m in zip(pools["role"][over], pools["chip"][over],
                                                                         util[over], cap[over], strict=True)))
    lam = float(summary.get("throughput_rps") or 0.0)
    if rate_min is not None and not lam >= rate_min * (1 - REL_TOL):
        out.append(f"the fleet carries {lam:g} requests/s, less than the demand {rate_min:g}")
    if rate_min is not None and rate_min > 0 and not (n > 0).any():
        out.append("the fleet has no instance for a positive demand")
    for cls in summary.get("classes") or []:
        want, got = cls.get("arrival_rate_rps"), cls.get("throughput_rps")
        if want is not None and got is not None and rate_min is not None and got < want * (1 - REL_TOL):
            out.append(f"class {cls['class']}: {got:g} requests/s carried, demand {want:g}")
    return out


def check_plan(summary: dict, pools: pd.DataFrame, rate_min: float | None) -> None:
    """Raise PlanCheckError listing every violation."""
    bad = plan_violations(summary, pools, rate_min)
    if bad:
        raise PlanCheckError("the plan failed its checks (a bug, please report it with the scenario): "
                             + "; ".join(bad))
