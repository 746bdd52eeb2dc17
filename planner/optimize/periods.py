"""The multi-period program: instances per candidate, model and period; chips bought per pricing model.

Every (model u, period p) is one block: the single-period program of planner.optimize.milp (its candidate table,
rate matching and SLO-filtered candidates, demand = that period's rate and class mix), built without its fleet
rows. The blocks share chips through these families (one function each; docs/milp.md has the math):

    add_chip_supply   {chip}-p{p}-supply-min     r_kp + o_kp + d_kp + (1 - h_k) s_kp >= u_kp
                      {chip}-p{p}-reserved-max  r_kp <= R_k          (R_k integer: reserved for the whole horizon)
                      {chip}-p{p}-owned-max     o_kp <= O_k          (O_k integer <= owned_count)
                      {chip}-p{p}-spot-max      s_kp <= spot_max_count_k
    add_fleet_limits  {chip}-p{p}-inventory-max u_kp <= max_count_k
                      p{p}-chips-max            sum_k u_kp <= max_chips
                      p{p}-power-max            sum w_i x_ip <= max_power_kw
                      fleet-budget-max          cost over the horizon <= budget_usd_per_hr x H
    add_changes       p{p}-starts-max           sum_i a_ip <= max_starts_per_period, a_ip >= x_ip - x_i(p-1)
                      cand{i}-p{p}-hold-min     x_ip >= sum_{q = p-L+1..p} a_iq   (a started instance runs L periods)

u_kp = sum over models and candidates on chip k of chips x instances. The periods are cyclic (the day repeats:
period 0 follows the last). Objective: the cost over the horizon H = sum_p h_p,

    sum_k H (c^res_k R_k + c^own_k O_k) + sum_{k,p} h_p (c^od_k d_kp + c^spot_k s_kp + e_k o_kp),

plus tie-breaks (fewer chips, no more rate than asked) that never change the primary optimum.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.core as pyo

from planner.inputs.demand import DemandTable
from planner.optimize import milp
from planner.optimize.prepare import Prepared

FAMILIES = ("chip_supply", "fleet_limits", "changes")


@dataclass
class Unit:
    """One model's prepared program (its candidate table) and its demand per period."""

    name: str
    prep: Prepared
    demand: DemandTable


@dataclass
class Limits:
    """Fleet limits and change limits of a multi-period plan."""

    budget_usd_per_hr: float | None = None  # on the average over the horizon
    max_chips: int | None = None  # per period
    max_power_kw: float | None = None  # per period
    max_starts_per_period: int | None = None
    min_hold_periods: int = 1


@dataclass
class PeriodsModel:
    """The built program: the Pyomo model, its blocks ((unit index, period) -> FleetModel) and the chip prices."""

    m: pyo.ConcreteModel
    units: list[Unit]
    prices: pd.DataFrame  # planner.optimize.pricing.chip_price_table, only the chips some candidate uses
    hours: np.ndarray  # per period
    limits: Limits
    blocks: dict[tuple[int, int], milp.FleetModel] = field(default_factory=dict)
    constraints: dict[str, milp.Row] = field(default_factory=dict)
    solver: object = None
    status: milp.SolveStatus | None = None  # of the loaded solution (planner.optimize.schedule_solve.solve_schedule)
    usage: dict[tuple[str, int], object] = field(default_factory=dict)  # (chip, period) -> u_kp (chip_usage)

    @property
    def periods(self) -> int:
        return len(self.hours)

    @property
    def chips(self) -> list[str]:
        return list(self.prices.index)


def period_spec(prep: Prepared, rates: pd.Series) -> milp.MilpSpec:
    """The single-period spec of one model in one period: its demand (total and class mix) at that period."""
    total = float(rates.sum())
    classes = prep.spec.classes
    if classes and total > 0:
        classes = {c: float(rates[c]) / total for c in classes}
    return dataclasses.replace(prep.spec, rate_min=total, classes=classes, budget_usd_per_hr=None,
                               max_power_kw=None, objective="min-cost")


def chip_usage(pm: PeriodsModel, chip: str, p: int):
    """u_kp: chips of type `chip` in use in period p, over every model (a linear expression), built once for every
    chip and period the first time one is asked (the blocks' chip columns read once, not per chip and period)."""
    if not pm.usage:
        terms: dict[tuple[str, int], tuple[list, list]] = {(k, q): ([], []) for k in pm.chips for q in range(pm.periods)}
        for (_j, q), fm in pm.blocks.items():
            n = fm.table["chips_per_instance"].to_numpy(float)
            chips = fm.table["chip"].to_numpy().astype(str)
            for k in np.unique(chips):
                idx = np.flatnonzero(chips == k)
                t, c = terms[(str(k), q)]
                t += [fm.m.x[int(i)] for i in idx]
                c += list(n[idx])
        pm.usage.update({key: milp._lin(c, t) for key, (t, c) in terms.items()})
    return pm.usage[(chip, p)]


# ---------------------------------------------------------------- constraint families


def add_chip_supply(pm: PeriodsModel) -> None:
    """Chips in use in every period are covered by reserved, owned, on-demand and spot chips (spot counted at
    1 - preemption headroom); reserved and owned counts hold for the whole horizon."""
    m, pr = pm.m, pm.prices
    chips, periods = pm.chips, range(pm.periods)
    def reserved_ub(_m, k):
        if pd.isna(pr.at[k, "reserved_usd_per_hr"]):
            return (0, 0)
        cap = float(pr.at[k, "max_count"])
        return (0, cap if np.isfinite(cap) else None)

    m.R = pyo.Var(chips, domain=pyo.NonNegativeIntegers, bounds=reserved_ub)
    m.O = pyo.Var(chips, domain=pyo.NonNegativeIntegers,
                  bounds=lambda _m, k: (0, min(pr.at[k, "owned_max_count"], pr.at[k, "max_count"])))
    m.r = pyo.Var(chips, periods, domain=pyo.NonNegativeReals)
    m.o = pyo.Var(chips, periods, domain=pyo.NonNegativeReals)
    m.d = pyo.Var(chips, periods, domain=pyo.NonNegativeIntegers)  # whole chips are rented
    m.s = pyo.Var(chips, periods, domain=pyo.NonNegativeIntegers)
    for k in chips:
        keep = 1.0 - float(pr.at[k, "preemption_headroom"])
        cap = float(pr.at[k, "spot_max_count"]) if pr["spot_usd_per_hr"].notna()[k] else 0.0
        for p in periods:
            milp._add(pm, f"{k}-p{p}-supply-min", "chip_supply", m.r[k, p] + m.o[k, p] + m.d[k, p] + keep * m.s[k, p],
                      ">=", chip_usage(pm, k, p))
            milp._add(pm, f"{k}-p{p}-reserved-max", "chip_supply", m.r[k, p], "<=", m.R[k])
            milp._add(pm, f"{k}-p{p}-owned-max", "chip_supply", m.o[k, p], "<=", m.O[k])
            milp._add(pm, f"{k}-p{p}-spot-max", "chip_supply", m.s[k, p], "<=", cap)


def add_fleet_limits(pm: PeriodsModel) -> None:
    """Inventory per chip type, chips and power per period; the budget on the average $/h over the horizon."""
    pr, lim = pm.prices, pm.limits
    for p in range(pm.periods):
        usage = {k: chip_usage(pm, k, p) for k in pm.chips}
        for k in pm.chips:
            if np.isfinite(pr.at[k, "max_count"]):
                milp._add(pm, f"{k}-p{p}-inventory-max", "fleet_limits", usage[k], "<=", float(pr.at[k, "max_count"]))
        if lim.max_chips is not None:
            milp._add(pm, f"p{p}-chips-max", "fleet_limits", sum(usage.values()), "<=", float(lim.max_chips))
        if lim.max_power_kw is not None:
            kw = [milp._lin(fm.table["power_w"].to_numpy(float) / 1e3, milp._vars(fm.m, range(len(fm.table))))
                  for (_j, q), fm in pm.blocks.items() if q == p]
            milp._add(pm, f"p{p}-power-max", "fleet_limits", sum(kw), "<=", float(lim.max_power_kw))
    if lim.budget_usd_per_hr is not None:
        milp._add(pm, "fleet-budget-max", "fleet_limits", horizon_cost(pm), "<=",
                  float(lim.budget_usd_per_hr) * float(pm.hours.sum()))


def add_changes(pm: PeriodsModel) -> None:
    """Instances started per period (a_ip >= x_ip - x_i(p-1), cyclic) within a cap, and kept for L periods."""
    lim = pm.limits
    if lim.max_starts_per_period is None and lim.min_hold_periods <= 1:
        return
    T = pm.periods
    hold = min(lim.min_hold_periods, T)
    starts: dict[int, list] = {p: [] for p in range(T)}
    for j, u in enumerate(pm.units):
        n = len(u.prep.table)
        a = pyo.Var(range(n), range(T), domain=pyo.NonNegativeReals)
        pm.m.add_component(f"start_u{j}", a)
        for p in range(T):
            cur, prev = pm.blocks[(j, p)].m.x, pm.blocks[(j, (p - 1) % T)].m.x
            for i in range(n):
                pm.m.add_component(f"u{j}-cand{i}-p{p}-start", pyo.Constraint(expr=a[i, p] >= cur[i] - prev[i]))
                if hold > 1:
                    milp._add(pm, f"u{j}-cand{i}-p{p}-hold-min", "changes", cur[i], ">=",
                              sum(a[i, (p - q) % T] for q in range(hold)))
            starts[p] += [a[i, p] for i in range(n)]
    if lim.max_starts_per_period is not None:
        for p in range(T):
            milp._add(pm, f"p{p}-starts-max", "changes", sum(starts[p]), "<=", float(lim.max_starts_per_period))


# ---------------------------------------------------------------- objective


def horizon_cost(pm: PeriodsModel):
    """$ over the horizon: committed chips for every hour, used chips for their period's hours."""
    m, pr, h = pm.m, pm.prices, pm.hours
    H = float(h.sum())
    price = pr.fillna({"reserved_usd_per_hr": 0.0, "spot_usd_per_hr": 0.0})
    out = 0.0
    for k in pm.chips:
        out = out + H * (float(price.at[k, "reserved_usd_per_hr"]) * m.R[k] + float(price.at[k, "owned_fixed_usd_per_hr"]) * m.O[k])
        for p in range(pm.periods):
            out = out + float(h[p]) * (float(price.at[k, "on_demand_usd_per_hr"]) * m.d[k, p]
                                       + float(price.at[k, "spot_usd_per_hr"]) * m.s[k, p]
                                       + float(price.at[k, "owned_energy_usd_per_hr"]) * m.o[k, p])
    return out


def add_objective(pm: PeriodsModel) -> None:
    """Minimize the horizon cost; tie-breaks: fewer chip-hours, no more rate than each period asks for."""
    tie = milp.TIE_CHIPS * float(pm.prices["on_demand_usd_per_hr"].min())
    extra = 0.0
    for (_j, p), fm in pm.blocks.items():
        n = fm.table["chips_per_instance"].to_numpy(float)
        extra = extra + float(pm.hours[p]) * (milp._lin(n, milp._vars(fm.m, range(len(fm.table)))) + fm.m.lam)
    pm.m.cost = pyo.Objective(expr=horizon_cost(pm) + tie * extra, sense=pyo.minimize)


def build(units: list[Unit], prices: pd.DataFrame, hours: np.ndarray, limits: Limits | None = None) -> PeriodsModel:
    """The program for prepared models over periods (see the module docstring)."""
    used = sorted({str(c) for u in units for c in u.prep.table["chip"].astype(str)})
    pm = PeriodsModel(m=pyo.ConcreteModel(name="fleet_periods"), units=units, prices=prices.loc[used],
                      hours=np.asarray(hours, float), limits=limits or Limits())
    for j, u in enumerate(units):
        for p in range(pm.periods):
            blk = pyo.Block(concrete=True)
            pm.m.add_component(f"u{j}_p{p}", blk)
            pm.blocks[(j, p)] = milp.build_block(blk, u.prep.table, period_spec(u.prep, u.demand.rates.iloc[p]),
                                                 fleet_rows=False)
            milp.set_lazy(pm.blocks[(j, p)])  # the KV connector's rows, switched on by milp.solve where broken
    add_chip_supply(pm)
    add_fleet_limits(pm)
    add_changes(pm)
    add_objective(pm)
    milp.add_dominance(pm.m, list(pm.blocks.values()))
    return pm


def fix_commitments(pm: PeriodsModel, reserved: dict[str, int], owned: dict[str, int]) -> None:
    """Fix R_k and O_k (the periods then decouple)."""
    for k in pm.chips:
        pm.m.R[k].fix(int(reserved.get(k, 0)))
        pm.m.O[k].fix(int(owned.get(k, 0)))


def coupled(pm: PeriodsModel) -> bool:
    """Whether periods share anything besides fixed commitments: reserved chips or owned chips with a capex to
    choose, a horizon budget, or change limits."""
    pr, lim = pm.prices, pm.limits
    choose = pr["reserved_usd_per_hr"].notna() | ((pr["owned_max_count"] > 0) & (pr["owned_fixed_usd_per_hr"] > 0))
    return bool(choose.any()) or lim.budget_usd_per_hr is not None or lim.max_starts_per_period is not None \
        or lim.min_hold_periods > 1


def single_period(pm: PeriodsModel, p: int) -> PeriodsModel:
    """Period p alone (same units, prices and per-period limits), for the decomposition."""
    units = [Unit(u.name, u.prep, dataclasses.replace(u.demand, rates=u.demand.rates.iloc[[p]].reset_index(drop=True)))
             for u in pm.units]
    lim = Limits(max_chips=pm.limits.max_chips, max_power_kw=pm.limits.max_power_kw)
    return build(units, pm.prices, pm.hours[p:p + 1], lim)


def copy_period(src: PeriodsModel, dst: PeriodsModel, p: int, p_src: int = 0) -> None:
    """Load period p_src of a solved model into period p of another built on the same units and chips (values)."""
    for j in range(len(src.units)):
        a = list(src.blocks[(j, p_src)].m.component_data_objects(pyo.Var, descend_into=True))
        b = list(dst.blocks[(j, p)].m.component_data_objects(pyo.Var, descend_into=True))
        for va, vb in zip(a, b, strict=True):
            vb.set_value(va.value, skip_validation=True)
    for k in src.chips:
        for v in ("r", "o", "d", "s"):
            getattr(dst.m, v)[k, p].set_value(getattr(src.m, v)[k, p_src].value, skip_validation=True)
        for v in ("R", "O"):
            getattr(dst.m, v)[k].set_value(getattr(src.m, v)[k].value, skip_validation=True)


def distinct_periods(units: list[Unit], hours: np.ndarray) -> tuple[list[Unit], np.ndarray, np.ndarray]:
    """Periods with the same demand (every model, every class) merged into one whose hours are their sum: exact
    when periods share only commitments and horizon totals (no change limits). Returns the merged units, their
    hours and, per original period, the index of its merged period."""
    keys = pd.concat([u.demand.rates.add_prefix(f"{j}:") for j, u in enumerate(units)], axis=1).round(12)
    codes, first = pd.factorize(pd.MultiIndex.from_frame(keys)) if keys.shape[1] > 1 else pd.factorize(keys.iloc[:, 0])
    rows = [int(np.flatnonzero(codes == c)[0]) for c in range(len(first))]
    merged = [Unit(u.name, u.prep, dataclasses.replace(u.demand, rates=u.demand.rates.iloc[rows].reset_index(drop=True)))
              for u in units]
    return merged, np.bincount(codes, weights=np.asarray(hours, float)), codes


def solve(pm: PeriodsModel, *, time_limit_s: float, mip_gap: float, warm_start: bool = False) -> milp.SolveStatus:
    """HiGHS on the whole program (the same solver settings as one period); warm_start: start from the values the
    variables hold."""
    if warm_start:
        if pm.solver is None:
            pm.solver = milp._solver()
        pm.solver.config.warmstart = True
    return milp.solve(pm, time_limit_s=time_limit_s, mip_gap=mip_gap)


def committed(pm: PeriodsModel) -> pd.DataFrame:
    """Reserved and owned chips per chip type of the loaded solution."""
    m = pm.m
    return pd.DataFrame({"chip": pm.chips,
                         "reserved": [int(round(pyo.value(m.R[k]) or 0.0)) for k in pm.chips],
                         "owned": [int(round(pyo.value(m.O[k]) or 0.0)) for k in pm.chips]})


def tier_chips(pm: PeriodsModel) -> pd.DataFrame:
    """Chips per chip type, period and pricing model of the loaded solution, with their $/h in that period."""
    m, pr = pm.m, pm.prices.fillna({"reserved_usd_per_hr": 0.0, "spot_usd_per_hr": 0.0})
    rows = []
    for k in pm.chips:
        res, own = float(pyo.value(m.R[k]) or 0.0), float(pyo.value(m.O[k]) or 0.0)
        for p in range(pm.periods):
            r, o, d, s = (max(float(pyo.value(v[k, p]) or 0.0), 0.0) for v in (m.r, m.o, m.d, m.s))
            cost = (res * pr.at[k, "reserved_usd_per_hr"] + own * pr.at[k, "owned_fixed_usd_per_hr"]
                    + d * pr.at[k, "on_demand_usd_per_hr"] + s * pr.at[k, "spot_usd_per_hr"]
                    + o * pr.at[k, "owned_energy_usd_per_hr"])
            rows.append({"chip": k, "period": p, "reserved": r, "owned": o, "on_demand": d, "spot": s,
                         "reserved_committed": res, "owned_committed": own, "cost_usd_per_hr": float(cost)})
    return pd.DataFrame(rows)
