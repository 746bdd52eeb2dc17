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


EDGE_FRACTION = 0.05  # an SLO within 5% of the best any candidate reaches: the plan runs at the edge
SCALE_FACTOR = 10.0  # a frontier point with 10x the chips of the smallest point is flagged


def plan_warnings(diagnostics: dict, tpot_slo_ms: float | None) -> list[str]:
    """Plans that are feasible but at the edge of what the offered chips can do (shown, not refused)."""
    out = []
    best = [v for k, v in diagnostics.items() if k.startswith("best_tpot_ms_")]
    if tpot_slo_ms is not None and best:
        fastest, chip = min(best)
        if tpot_slo_ms <= fastest * (1 + EDGE_FRACTION):
            out.append(f"slo.tpot_ms {tpot_slo_ms:g} is within {EDGE_FRACTION:.0%} of the fastest TPOT any candidate "
                       f"reaches ({fastest:.3g} ms on {chip}, margin included): the plan runs at the edge (small "
                       "batches, many chips); a slightly looser TPOT can cost far less")
    return out


def frontier_warnings(points: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Frontier points far outside the scale of the others (more than SCALE_FACTOR x the chips of the smallest
    point): a mask and one line saying where the frontier stops being practical."""
    chips = points["num_chips"].to_numpy(float) if "num_chips" in points else np.zeros(len(points))
    ok = np.isfinite(chips) & (chips > 0)
    if not ok.any():
        return np.zeros(len(points), bool), []
    far = ok & (chips > SCALE_FACTOR * chips[ok].min())
    if not far.any():
        return far, []
    return far, [f"{int(far.sum())} frontier point(s) need more than {SCALE_FACTOR:g}x the chips of the smallest "
                 f"({int(chips[ok].min())}): up to {int(chips[far].max()):,} chips; the frontier is impractical there"]


def check_plan(summary: dict, pools: pd.DataFrame, rate_min: float | None) -> None:
    """Raise PlanCheckError listing every violation."""
    bad = plan_violations(summary, pools, rate_min)
    if bad:
        raise PlanCheckError("the plan failed its checks (a bug, please report it with the scenario): "
                             + "; ".join(bad))
