"""Demand over time: the requests/s to serve in each period, from a profile or a request trace (`demand:`).

A profile gives a rate per period (one list, or one per traffic class). A trace (planner.inputs.traces) is cut
into periods of `period_hours`; inside each period the arrivals are counted in short windows of `window_s`
and the period's rate is the `percentile` of those windows' rates, so bursts inside a period are planned for
(a period's mean would hide them). With several traffic classes, a single list or a trace is split by the
classes' `arrival_rate_rps` mix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.inputs.scenario import MAX_PERIODS, MIN_RATE_RPS, Demand
from planner.inputs.traces import read_trace


@dataclass(frozen=True)
class DemandTable:
    """Rates per period: `rates` has one row per period and one column per traffic class (requests/s)."""

    rates: pd.DataFrame
    period_hours: float
    source: str  # "profile", "trace <file>: n requests over h hours, p95 of 60 s windows", or "flat"
    trace_lengths: dict | None = None  # mean isl / osl of a trace's requests

    @property
    def periods(self) -> int:
        return len(self.rates)

    @property
    def total_rps(self) -> np.ndarray:
        return self.rates.sum(axis=1).to_numpy(float)


def _mix(class_rates: dict[str, float | None], field: str) -> dict[str, float]:
    if len(class_rates) == 1:
        return {next(iter(class_rates)): 1.0}
    if any(r is None for r in class_rates.values()):
        raise PlannerError("one rate per period for several classes is split by the classes' mix, and a class has "
                           "no arrival_rate_rps", field=field,
                           hint="give arrival_rate_rps on every class, or a profile per class (class -> list)")
    total = sum(class_rates.values())
    return {c: float(r) / total for c, r in class_rates.items()}


def trace_period_rates(arrival_s: np.ndarray, period_s: float, window_s: float, percentile: float) -> np.ndarray:
    """Per period of `period_s`: the `percentile` of the arrival rates counted in windows of `window_s` (only the
    windows that start before the last arrival, so a trace's ragged end does not read as quiet)."""
    span = float(arrival_s[-1]) if len(arrival_s) else 0.0
    n_windows = max(int(math.floor(span / window_s)) + 1, 1)
    counts, _ = np.histogram(arrival_s, bins=n_windows, range=(0.0, n_windows * window_s))
    per_window = counts / window_s
    period_of = np.floor(np.arange(n_windows) * window_s / period_s).astype(np.int64)
    n_periods = int(period_of[-1]) + 1
    return np.array([np.percentile(per_window[period_of == p], percentile) for p in range(n_periods)])


def demand_table(demand: Demand | None, class_rates: dict[str, float | None], *, field: str = "demand",
                 periods: int | None = None, period_hours: float | None = None) -> DemandTable:
    """Rates per period and class. Without a demand, the classes' arrival rates in every one of `periods` periods
    (a flat demand). `class_rates`: class name -> its arrival_rate_rps (None where not given)."""
    names = list(class_rates)
    if demand is None:
        if any(r is None for r in class_rates.values()):
            raise PlannerError("no demand and no arrival_rate_rps", field=field, hint="add a `demand:` block")
        n = periods or 1
        rates = pd.DataFrame({c: np.full(n, float(r)) for c, r in class_rates.items()})
        return DemandTable(rates, period_hours or 24.0 / n, "flat")
    if demand.profile is not None:
        if isinstance(demand.profile, dict):
            if set(demand.profile) != set(names):
                raise PlannerError(f"the profile's classes {sorted(demand.profile)} are not the traffic classes "
                                   f"{names}", field=f"{field}.profile", hint="one list per class, named as in `classes`")
            rates = pd.DataFrame({c: np.asarray(demand.profile[c], float) for c in names})
        else:
            total = np.asarray(demand.profile, float)
            rates = pd.DataFrame({c: total * w for c, w in _mix(class_rates, f"{field}.profile").items()})
        return DemandTable(rates, demand.period_hours, "profile")
    trace = read_trace(str(demand.trace))
    period_s = demand.period_hours * 3600.0
    if demand.window_s > period_s:
        raise PlannerError(f"window_s {demand.window_s:g} is longer than a period ({period_s:g} s)",
                           field=f"{field}.window_s", hint="use a window shorter than period_hours")
    total = trace_period_rates(trace["arrival_s"].to_numpy(float), period_s, demand.window_s, demand.percentile)
    total = total * demand.scale
    if len(total) > MAX_PERIODS:
        raise PlannerError(f"the trace spans {len(total)} periods of {demand.period_hours:g} h (at most {MAX_PERIODS})",
                           field=f"{field}.period_hours", hint="use longer periods or a shorter trace")
    total = np.where(total < MIN_RATE_RPS, 0.0, total)
    if not (total > 0).any():
        raise PlannerError(f"{demand.trace}: no period with a measurable rate", field=f"{field}.trace")
    rates = pd.DataFrame({c: total * w for c, w in _mix(class_rates, f"{field}.trace").items()})
    span_h = float(trace["arrival_s"].iloc[-1]) / 3600.0
    source = (f"trace {Path(str(demand.trace)).name}: {len(trace):,} requests over {span_h:.3g} h, p{demand.percentile:g} of "
              f"{demand.window_s:g} s windows" + (f" x {demand.scale:g}" if demand.scale != 1 else ""))
    lengths = {"isl": float(trace["isl"].mean()), "osl": float(trace["osl"].mean())}
    return DemandTable(rates, demand.period_hours, source, lengths)
