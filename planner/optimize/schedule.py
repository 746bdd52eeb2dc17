"""Plans over periods: a scenario with `demand:` (or `models:`) -> the cheapest schedule of every model's pools
over the periods, the chips reserved and owned, and what it saves.

`plan_periods` prepares each model once (coefficients, SLO filters and queueing caps do not depend on the rate:
every instance is fed its own Poisson share), reads the demand per period (planner.inputs.demand), prices every
chip per pricing model (planner.optimize.pricing) and solves one program over all periods and models
(planner.optimize.periods, solved by planner.optimize.schedule_solve). It then solves the same program twice more for comparison: a static fleet sized for
each model's peak in every period (same pricing models), and the schedule with on-demand chips only.

The cost per token is split between input and output: prefill pools serve input tokens, decode-side pools
(decode, draft, attention, FFN) output tokens, and an aggregated pool's cost is split by the time its
instance would spend on a request's prompt and answer alone (isl / prefill tokens/s vs osl / decode tokens/s).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.core as pyo

from planner.errors import InfeasibleError, NoSolutionInTimeError, PlanCheckError, PlannerError
from planner.inputs.demand import DemandTable, demand_table
from planner.inputs.scenario import MIN_RATE_RPS, Scenario
from planner.optimize import forked, milp, periods
from planner.optimize.coefficients import CoefficientCache
from planner.optimize.pricing import chip_price_table, on_demand_only
from planner.optimize.program import prepare_any
from planner.optimize.results import POOL_COLUMNS, pools_frame
from planner.optimize.schedule_solve import solve_schedule

DAYS_PER_MONTH = 365.25 / 12
INPUT_SHARE = {"prefill": 1.0, "decode": 0.0, "draft": 0.0, "attention": 0.0, "ffn": 0.0}


@dataclass
class PeriodPlan:
    """A solved plan over periods: the summary (JSON keys), the schedule (one row per pool and period), the chips
    per pricing model and period, and the demand."""

    summary: dict
    schedule: pd.DataFrame
    tiers: pd.DataFrame
    demand: pd.DataFrame


def _class_rates(sc: Scenario) -> dict[str, float | None]:
    if sc.classes is not None:
        return {c.name: c.arrival_rate_rps for c in sc.classes}
    return {"default": sc.workload.arrival_rate_rps}


def _with_peak_rates(sc: Scenario, d: DemandTable) -> Scenario:
    """The model's scenario with each class's peak rate (preparation needs a rate; each period sets its own)."""
    peak = {c: max(float(d.rates[c].max()), MIN_RATE_RPS) for c in d.rates}
    if sc.classes is not None:
        classes = [c.model_copy(update={"arrival_rate_rps": peak[c.name]}) for c in sc.classes]
        return sc.model_copy(update={"classes": classes, "demand": None})
    return sc.model_copy(update={"workload": sc.workload.model_copy(update={"arrival_rate_rps": peak["default"]}),
                                 "demand": None})


def demand_tables(sc: Scenario) -> dict[str, DemandTable]:
    """Rates per period of every model: the same number and length of periods for all (a model without a demand
    gets its arrival rates in every period)."""
    models = sc.model_scenarios()
    many = sc.models is not None
    field = {name: (f"models[{j}].demand" if many else "demand") for j, (name, _s) in enumerate(models)}
    given = {name: demand_table(msc.demand, _class_rates(msc), field=field[name])
             for name, msc in models if msc.demand is not None}
    shapes = {(d.periods, d.period_hours) for d in given.values()}
    if len(shapes) > 1:
        raise PlannerError("the models' demands have different periods: " + ", ".join(
            f"{n}: {d.periods} x {d.period_hours:g} h" for n, d in given.items()), field=next(iter(field.values())),
            hint="give every model the same number of periods of the same length")
    n, hours = next(iter(shapes)) if shapes else (1, 24.0)
    out = {}
    for name, msc in models:
        out[name] = given.get(name) or demand_table(None, _class_rates(msc), field=field[name], periods=n,
                                                    period_hours=hours)
    return out


def prepare_units(sc: Scenario, *, catalogs=(), margin=None, cache: CoefficientCache | None = None) -> list[periods.Unit]:
    """Every model prepared once at its peak rates, with its demand per period."""
    tables = demand_tables(sc)
    units = []
    for j, (name, msc) in enumerate(sc.model_scenarios()):
        try:
            prep = prepare_any(_with_peak_rates(msc, tables[name]), catalogs=catalogs, margin=margin, cache=cache,
                               objective="min-cost")
        except PlannerError as exc:
            if sc.models is None:
                raise
            raise type(exc)(f"model {name}: {str(exc).splitlines()[0]}", field=f"models[{j}]", hint=exc.hint) from None
        units.append(periods.Unit(name, prep, tables[name]))
    return units


def _input_share(table: pd.DataFrame) -> np.ndarray:
    """Per candidate row: the share of its cost that serves input tokens (see the module docstring)."""
    role = table["role"].astype(str).to_numpy()
    share = np.array([INPUT_SHARE.get(r, np.nan) for r in role])
    agg = role == "aggregated"
    if agg.any():
        isl = table["isl"].to_numpy(float)[agg]
        osl = table["osl"].to_numpy(float)[agg]
        tp = isl / np.maximum(table["prefill_tok_s_per_chip"].to_numpy(float)[agg], 1e-12)
        td = osl / np.maximum(table["decode_tok_s_per_chip"].to_numpy(float)[agg], 1e-12)
        share[agg] = tp / (tp + td)
    return np.nan_to_num(share)


def schedule_frame(pm: periods.PeriodsModel) -> pd.DataFrame:
    """One row per (period, model, pool) with instances > 0: the period's pools with their latencies at that
    period's load."""
    frames = []
    for (j, p), fm in pm.blocks.items():
        x = milp.counts(fm)
        if (x > 0).any():
            frames.append(pools_frame(pm.units[j].prep, fm, x).assign(period=p, model=pm.units[j].name))
    if not frames:
        return pd.DataFrame(columns=["period", "model", *POOL_COLUMNS, "class"])
    out = pd.concat(frames, ignore_index=True)
    first = ["period", "model"]
    return out[first + [c for c in out.columns if c not in first]]


def _period_rows(pm: periods.PeriodsModel, sched: pd.DataFrame, tiers: pd.DataFrame) -> list[dict]:
    rows = []
    start = np.concatenate([[0.0], np.cumsum(pm.hours)[:-1]])
    keys = ["model", "class", "role", "chip", "instances", "chips_per_instance", "tp", "ep", "pp", "dp", "batch",
            "ttft_ms", "tpot_ms", "utilization"]
    for p in range(pm.periods):
        sp = sched[sched["period"] == p]
        tp = tiers[tiers["period"] == p]
        rates = {u.name: float(u.demand.total_rps[p]) for u in pm.units}
        pools = [{k: (None if isinstance(v, float) and np.isnan(v) else v.item() if hasattr(v, "item") else v)
                  for k, v in rec.items()} for rec in sp[keys].to_dict("records")]
        rows.append({
            "period": p, "start_h": float(start[p]), "hours": float(pm.hours[p]), "rate_rps": sum(rates.values()),
            "rate_rps_by_model": rates, "cost_usd_per_hr": float(tp["cost_usd_per_hr"].sum()),
            "num_chips": int(round((sp["instances"] * sp["chips_per_instance"]).sum())) if len(sp) else 0,
            "chips_by_pricing": {t: float(tp[t].sum()) for t in ("reserved", "owned", "on_demand", "spot")},
            "ttft_ms": float(sp["ttft_ms"].max()) if len(sp) and sp["ttft_ms"].notna().any() else None,
            "tpot_ms": float(sp["tpot_ms"].max()) if len(sp) else None,
            "pools": pools,
        })
    return rows


def _input_shares(pm: periods.PeriodsModel) -> np.ndarray:
    """Per period: the share of the fleet's chip cost (at on-demand prices) that serves input tokens; NaN for a
    period without instances."""
    price = pm.prices["on_demand_usd_per_hr"]
    w_all, w_in = np.zeros(pm.periods), np.zeros(pm.periods)
    for (_j, p), fm in pm.blocks.items():
        t = fm.table
        w = milp.counts(fm) * t["chips_per_instance"].to_numpy(float) * t["chip"].astype(str).map(price).to_numpy(float)
        w_all[p] += w.sum()
        w_in[p] += (w * _input_share(t)).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(w_all > 0, w_in / w_all, np.nan)


def _token_costs(pm: periods.PeriodsModel, tiers: pd.DataFrame) -> tuple[float | None, float | None]:
    """$ per million input and output tokens over the horizon (see the module docstring); a period's idle
    committed chips are split like the horizon's average."""
    cost_p = tiers.groupby("period")["cost_usd_per_hr"].sum().reindex(range(pm.periods), fill_value=0.0).to_numpy()
    share = _input_shares(pm)
    h = pm.hours
    fallback = float(np.nansum(share * cost_p * h) / np.sum((cost_p * h)[np.isfinite(share)])) if np.isfinite(share).any() else 0.5
    share = np.where(np.isfinite(share), share, fallback)
    tokens_in = tokens_out = 0.0
    for u in pm.units:
        for name, csc in u.prep.classes().items():
            served = float((u.demand.rates[name if name is not None else "default"].to_numpy(float) * h).sum()) * 3600
            tokens_in += served * csc.workload.isl
            tokens_out += served * csc.workload.osl
    cost_in, cost_out = float((cost_p * h * share).sum()), float((cost_p * h * (1 - share)).sum())
    return (cost_in / tokens_in * 1e6 if tokens_in > 0 else None, cost_out / tokens_out * 1e6 if tokens_out > 0 else None)


def _flat_peak(units: list[periods.Unit]) -> list[periods.Unit]:
    """Every model's demand at its peak in every period (a static fleet sized for the peak)."""
    out = []
    for u in units:
        r = u.demand.rates
        flat = pd.DataFrame({c: np.full(len(r), float(r[c].max())) for c in r})
        out.append(periods.Unit(u.name, u.prep, DemandTable(flat, u.demand.period_hours, "peak")))
    return out


def _cost_per_day(pm: periods.PeriodsModel) -> float:
    return float(pyo.value(periods.horizon_cost(pm))) * 24.0 / float(pm.hours.sum())


def plan_periods(sc: Scenario, *, catalogs=(), time_limit_s: float | None = None, mip_gap: float | None = None,
                 margin=None, cache: CoefficientCache | None = None, compare: bool = True,
                 workers: int = 1) -> PeriodPlan:
    """The cheapest schedule over the scenario's periods (see the module docstring). compare: also price the
    static peak fleet and the all-on-demand schedule (summary `savings`); with workers > 1 they are solved in a
    forked process while this one solves the schedule (the three programs are independent)."""
    t0 = time.perf_counter()
    units = prepare_units(sc, catalogs=catalogs, margin=margin, cache=cache)
    prices = chip_price_table(sc, catalogs)
    hours = np.full(units[0].demand.periods, units[0].demand.period_hours)
    dem = sc.demand if sc.models is None else None
    limits = periods.Limits(budget_usd_per_hr=sc.budget_usd_per_hr, max_chips=sc.max_chips, max_power_kw=sc.max_power_kw,
                            max_starts_per_period=dem.max_starts_per_period if dem else None,
                            min_hold_periods=dem.min_hold_periods if dem else 1)
    tl = time_limit_s if time_limit_s is not None else sc.solver.time_limit_s
    gap = mip_gap if mip_gap is not None else sc.solver.mip_gap
    t1 = time.perf_counter()
    loose = dataclasses.replace(limits, budget_usd_per_hr=None)  # what the budget rules out is what they cost
    comparisons = None
    with contextlib.ExitStack() as stack:
        if compare and workers > 1 and forked.available():
            submit = stack.enter_context(forked.pool(lambda _: _comparisons(units, prices, hours, loose, tl, gap), 1))
            comparisons = submit(None)
        pm = solve_schedule(units, prices, hours, limits, tl, gap)
        t2 = time.perf_counter()
        if compare:
            comparisons = comparisons.result() if comparisons is not None else _comparisons(units, prices, hours, loose,
                                                                                            tl, gap)
    st = pm.status
    tiers = periods.tier_chips(pm)
    sched = schedule_frame(pm)
    per_day = _cost_per_day(pm)
    cin, cout = _token_costs(pm, tiers)
    rows = _period_rows(pm, sched, tiers)
    com = periods.committed(pm)
    reserved = [{"chip": r.chip, "count": int(r.reserved)} for r in com.itertuples() if r.reserved > 0]
    owned = [{"chip": r.chip, "count": int(r.owned)} for r in com.itertuples() if r.owned > 0]
    savings = None
    if comparisons is not None:
        (static, static_status), (on_demand, on_demand_status) = comparisons
        savings = {"static_peak_usd_per_day": static, "all_on_demand_usd_per_day": on_demand,
                   "static_peak_status": static_status, "all_on_demand_status": on_demand_status,
                   "vs_static_peak": None if static is None else 1 - per_day / static,
                   "vs_all_on_demand": None if on_demand is None else 1 - per_day / on_demand}
    term = sc.pricing.reserved.term_months if sc.pricing.reserved else None
    res_price = pm.prices["reserved_usd_per_hr"].fillna(0.0)
    committed_usd = (sum(r["count"] * float(res_price[r["chip"]]) for r in reserved) * 24 * DAYS_PER_MONTH * term
                     if term else 0.0)
    demand = pd.concat([u.demand.rates.add_prefix(f"{u.name}:") for u in units], axis=1)
    demand.insert(0, "hours", hours)
    demand.insert(0, "period", range(len(hours)))
    summary = {
        "scenario": sc.name, "models": [u.name for u in units], "objective": "min-cost",
        "status": st.status, "termination": st.termination,
        "mip_gap": st.mip_gap if st.mip_gap is None or st.mip_gap > 1e-12 else 0.0,
        "periods_count": len(hours), "period_hours": float(hours[0]), "horizon_hours": float(hours.sum()),
        "demand_source": {u.name: u.demand.source for u in units},
        "cost_usd_per_day": per_day, "cost_usd_per_month": per_day * DAYS_PER_MONTH,
        "cost_usd_per_hr_avg": per_day / 24.0,
        "cost_usd_per_mtok_input": cin, "cost_usd_per_mtok_output": cout,
        "reserved": reserved, "owned": owned,
        "reserved_term_months": term, "reserved_commitment_usd": committed_usd,
        "peak_chips": max((r["num_chips"] for r in rows), default=0),
        "savings": savings,
        "periods": rows,
        "margin": units[0].prep.margin.summary([c.id for c in sc.chips]),
        "notes": [f"{u.name}: {n}" if sc.models else n for u in units for n in u.prep.notes]
        + [f"{u.name}: the trace's mean lengths (isl {u.demand.trace_lengths['isl']:.0f}, osl "
           f"{u.demand.trace_lengths['osl']:.0f}) differ from the plan's (isl {w.isl}, osl {w.osl}) by more than 10%"
           for u in units if u.demand.trace_lengths for w in [_mean_lengths(u)]
           if abs(u.demand.trace_lengths["isl"] / w.isl - 1) > 0.1 or abs(u.demand.trace_lengths["osl"] / w.osl - 1) > 0.1],
        "timings_s": {"prepare_s": t1 - t0, "solve_s": t2 - t1, "total_s": time.perf_counter() - t0},
        "approximations": ["chips of one type are counted per pricing model, so one instance may mix reserved and "
                           "on-demand chips", "periods are cyclic (the first follows the last)",
                           "spot preemption is a fixed headroom, not simulated"],
    }
    check_schedule(summary, sched, units)
    return PeriodPlan(summary, sched, tiers, demand)


def _mean_lengths(u: periods.Unit):
    """The first traffic class's workload (a trace has one mix of lengths)."""
    return next(iter(u.prep.classes().values())).workload


def _comparisons(units, prices, hours, limits, tl, gap) -> tuple[tuple[float | None, str], tuple[float | None, str]]:
    """(cost per day, status) of the static fleet sized for the peak and of the all-on-demand schedule."""
    return (_cost_or_none(_flat_peak(units), prices, hours, limits, tl / 2, gap),
            _cost_or_none(units, on_demand_only(prices), hours, limits, tl / 2, gap))


def _cost_or_none(units, prices, hours, limits, tl, gap) -> tuple[float | None, str]:
    """Cost per day of a comparison schedule and its status (None, "infeasible" or "no-solution-in-time")."""
    try:
        pm = solve_schedule(units, prices, hours, limits, tl, gap)
        return _cost_per_day(pm), pm.status.status
    except InfeasibleError:
        return None, "infeasible"
    except NoSolutionInTimeError:
        return None, "no-solution-in-time"


def check_schedule(summary: dict, sched: pd.DataFrame, units: list[periods.Unit]) -> None:
    """Every period carries every model's demand with whole instances; a violation is a bug (PlanCheckError)."""
    n = sched["instances"].to_numpy(float)
    if len(n) and (np.any(n < 0) or np.any(np.abs(n - np.rint(n)) > 1e-6)):
        raise PlanCheckError("a schedule with fractional or negative instance counts: a bug")
    for row in summary["periods"]:
        for u in units:
            want = float(u.demand.total_rps[row["period"]])
            sp = sched[(sched["period"] == row["period"]) & (sched["model"] == u.name)]
            have = float(sp.loc[sp["role"].isin(["aggregated", "prefill"]), "capacity_rps"].sum())
            if want > 0 and have < want * (1 - 1e-6):
                raise PlanCheckError(f"period {row['period']}: {u.name} has capacity {have:g} for {want:g} requests/s: a bug")
