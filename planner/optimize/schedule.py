"""Plans over periods: a scenario with `demand:` (or `models:`) -> the cheapest schedule of every model's pools
over the periods, the chips reserved and owned, and what it saves.

`plan_periods` prepares each model once (coefficients, SLO filters and queueing caps do not depend on the rate:
every instance is fed its own Poisson share), reads the demand per period (planner.inputs.demand), prices every
chip per pricing model (planner.optimize.pricing) and solves one program over all periods and models
(planner.optimize.periods). It then solves the same program twice more for comparison: a static fleet sized for
each model's peak in every period (same pricing models), and the schedule with on-demand chips only.

The cost per token is split between input and output: prefill pools serve input tokens, decode-side pools
(decode, draft, attention, FFN) output tokens, and an aggregated pool's cost is split by the time its
instance would spend on a request's prompt and answer alone (isl / prefill tokens/s vs osl / decode tokens/s).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.core as pyo

from planner.errors import InfeasibleError, NoSolutionInTimeError, PlanCheckError, PlannerError
from planner.inputs.demand import DemandTable, demand_table
from planner.inputs.scenario import MIN_RATE_RPS, Scenario
from planner.optimize import milp, periods
from planner.optimize.coefficients import CoefficientCache
from planner.optimize.pricing import chip_price_table, on_demand_only
from planner.optimize.program import prepare_any
from planner.optimize.results import POOL_COLUMNS, pools_frame

DAYS_PER_MONTH = 365.25 / 12
PERIOD_GAP = 1e-4  # one period alone is small: solved this close to its optimum (bounds that add up over periods)
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


def _usage(pm: periods.PeriodsModel) -> pd.DataFrame:
    """Chips in use per chip type (rows) and period (columns) of the loaded solution."""
    return pd.DataFrame({p: {k: float(pyo.value(periods.chip_usage(pm, k, p))) for k in pm.chips}
                         for p in range(pm.periods)})


def rent_cost(excess: np.ndarray, pr: pd.Series) -> np.ndarray:
    """$/h of renting `excess` chips (per period) the cheapest way: whole on-demand chips and up to the spot count
    of whole spot chips, spot counted at 1 - preemption headroom."""
    excess = np.maximum(np.asarray(excess, float), 0.0)
    c_od = float(pr["on_demand_usd_per_hr"])
    best = c_od * np.ceil(excess - 1e-9)
    if pd.notna(pr["spot_usd_per_hr"]) and pr["spot_max_count"] > 0:
        keep = 1.0 - float(pr["preemption_headroom"])
        spot = np.arange(int(pr["spot_max_count"]) + 1, dtype=float)[:, None]
        d = np.maximum(np.ceil(excess[None, :] - keep * spot - 1e-9), 0.0)
        best = np.min(c_od * d + float(pr["spot_usd_per_hr"]) * spot, axis=0)
    return best


def best_commitments(usage: pd.DataFrame, prices: pd.DataFrame, hours: np.ndarray) -> tuple[dict, dict]:
    """Reserved and owned chips per type that make a given schedule cheapest: per chip type, every reserved count
    R and owned count O up to its peak use, priced exactly (committed chips for the horizon; owned chips' energy
    for the hours they run; the rest rented by `rent_cost`)."""
    H = float(hours.sum())
    reserved, owned = {}, {}
    for k, u in usage.iterrows():
        pr = prices.loc[k]
        use = np.round(u.to_numpy(float))
        peak = int(use.max()) if len(use) else 0
        r_max = peak if pd.notna(pr["reserved_usd_per_hr"]) else 0
        o_max = min(peak, int(pr["owned_max_count"]))
        c_r = float(pr["reserved_usd_per_hr"]) if r_max else 0.0
        best = (np.inf, 0, 0)
        for o in range(o_max + 1):
            for r in range(r_max + 1 - o if r_max else 1):
                run_owned = np.minimum(np.maximum(use - r, 0.0), o)
                cost = (H * (c_r * r + float(pr["owned_fixed_usd_per_hr"]) * o)
                        + float((hours * (float(pr["owned_energy_usd_per_hr"]) * run_owned
                                          + rent_cost(use - r - run_owned, pr))).sum()))
                if cost < best[0] - 1e-9:
                    best = (cost, r, o)
        if best[1]:
            reserved[k] = best[1]
        if best[2]:
            owned[k] = best[2]
    return reserved, owned


class _Decomposed:
    """Every period as its own persistent program (periods.single_period): the cost of a choice of reserved and
    owned chips is the sum of the periods' optima with those counts fixed (periods share nothing else)."""

    def __init__(self, pm: periods.PeriodsModel, tl: float, gap: float):
        self.pm, self.tl, self.gap = pm, tl, min(gap, PERIOD_GAP)
        self.ones = [periods.single_period(pm, p) for p in range(pm.periods)]
        self.cache: dict = {}

    def solve(self, reserved: dict, owned: dict, load: bool = False):
        """(cost over the horizon, worst status); load: also copy the periods' solutions into the full model."""
        key = (tuple(sorted(reserved.items())), tuple(sorted(owned.items())))
        if key in self.cache and not load:
            return self.cache[key]
        total, worst, self.bounds = 0.0, None, []
        order = ["optimal", "within-gap", "time-limit"]
        for p, one in enumerate(self.ones):
            periods.fix_commitments(one, reserved, owned)
            st = periods.solve(one, time_limit_s=self.tl, mip_gap=self.gap)
            if not st.has_solution:
                self.cache[key] = (np.inf, st)
                return self.cache[key]
            total += float(pyo.value(one.m.cost))
            self.bounds.append(st.bound if st.bound is not None and np.isfinite(st.bound) else -np.inf)
            worst = st if worst is None or order.index(st.status) > order.index(worst.status) else worst
            if load:
                periods.copy_period(one, self.pm, p)
        if load:
            for k in self.pm.chips:
                self.pm.m.R[k].set_value(reserved.get(k, 0))
                self.pm.m.O[k].set_value(owned.get(k, 0))
        self.cache[key] = (total, worst)
        return self.cache[key]

    @property
    def bound(self) -> float:
        """The sum of the periods' bounds of the last `solve` that ran."""
        return float(sum(self.bounds))


def _local_search(dec: _Decomposed, reserved: dict, owned: dict, deadline: float, done=lambda cost: False
                  ) -> tuple[dict, dict]:
    """Coordinate descent on the reserved and owned counts (steps 4, 2, 1 chips) while it lowers the cost, until
    the deadline or `done(cost)`."""
    pr = dec.pm.prices
    peak = _usage(dec.pm).max(axis=1)  # the chips the schedule uses most are tried first
    chips = sorted(dec.pm.chips, key=lambda k: -float(peak.get(k, 0.0)))
    coords = [("R", k) for k in chips if pd.notna(pr.at[k, "reserved_usd_per_hr"])]
    coords += [("O", k) for k in chips if pr.at[k, "owned_max_count"] > 0 and pr.at[k, "owned_fixed_usd_per_hr"] > 0]
    best = dec.solve(reserved, owned)[0]
    for step in (4, 2, 1):
        improved = True
        while improved and time.perf_counter() < deadline and not done(best):
            improved = False
            for kind, k in coords:
                for delta in (step, -step):
                    r, o = dict(reserved), dict(owned)
                    target = r if kind == "R" else o
                    target[k] = target.get(k, 0) + delta
                    cap = pr.at[k, "owned_max_count"] if kind == "O" else np.inf
                    if target[k] < 0 or target[k] > cap or time.perf_counter() >= deadline:
                        continue
                    cost = dec.solve(r, o)[0]
                    if cost < best * (1 - 1e-9):
                        best, reserved, owned, improved = cost, r, o, True
                        break
    return reserved, owned


def split_bound(pm: periods.PeriodsModel, tl: float, gap: float, rented: np.ndarray | None = None) -> float:
    """A lower bound on the cost of every schedule: each period at its least cost if reserved and owned chips could
    be had by the hour (at their hourly prices, without the owned count), spot and on-demand as they are. A chip
    committed for the horizon costs at least that in every period, so the sum bounds the optimum; budget and
    change limits, left out, only raise it. With `rented` (per period, a lower bound of its least cost with no
    commitments) the bound is raised by `peak_bound`."""
    relaxed = _hourly_commitments(pm, tl, gap)
    cost, st = relaxed.solve({}, {})
    if not st.has_solution:
        return -np.inf
    ratio = reserved_ratio(pm.prices)
    if rented is None or ratio is None:
        return relaxed.bound
    return max(relaxed.bound, peak_bound(np.asarray(relaxed.bounds), np.asarray(rented, float), pm.hours, ratio))


def _hourly_commitments(pm: periods.PeriodsModel, tl: float, gap: float) -> _Decomposed:
    """The periods apart, reserved and owned chips to be had by the hour at their hourly prices (the split
    relaxation), with the per-period limits; budget and change limits left out."""
    pr = pm.prices.copy()
    hourly = pr["on_demand_usd_per_hr"].astype(float)
    hourly = np.fmin(hourly, pr["reserved_usd_per_hr"].astype(float))
    owned = pr["owned_max_count"] > 0
    hourly = np.where(owned, np.fmin(hourly, pr["owned_fixed_usd_per_hr"] + pr["owned_energy_usd_per_hr"]), hourly)
    pr = pr.assign(on_demand_usd_per_hr=hourly, reserved_usd_per_hr=np.nan, owned_max_count=0.0)
    lim = periods.Limits(max_chips=pm.limits.max_chips, max_power_kw=pm.limits.max_power_kw)
    return _Decomposed(periods.build(pm.units, pr, pm.hours, lim), tl, gap)


def one_period_schedule(pm: periods.PeriodsModel, tl: float, gap: float) -> tuple[float, float, dict] | None:
    """One period (a flat demand, or every period alike after merging), no owned chips, no budget: a chip reserved
    for the horizon runs every hour of it, so reserving what the split relaxation rents at the reserved price is
    feasible and costs what the relaxation does, which bounds every schedule: optimal up to the period's gap.
    Returns (cost, bound, reserved counts), or None where this does not apply."""
    pr = pm.prices
    if pm.periods != 1 or pm.limits.budget_usd_per_hr is not None or (pr["owned_max_count"] > 0).any():
        return None
    relaxed = _hourly_commitments(pm, tl, gap)
    cost, st = relaxed.solve({}, {}, load=True)
    if not st.has_solution:
        return None
    cheaper = pr["reserved_usd_per_hr"].astype(float) < pr["on_demand_usd_per_hr"].astype(float)
    reserved = {k: int(round(float(relaxed.pm.m.d[k, 0].value or 0.0))) for k in pm.chips if cheaper[k]}
    return cost, relaxed.bound, {k: r for k, r in reserved.items() if r > 0}


def reserved_ratio(prices: pd.DataFrame) -> float | None:
    """On-demand over reserved price, when every chip with a reserved price has the same ratio and no chip is
    owned (the case `peak_bound` applies to); else None."""
    res = prices["reserved_usd_per_hr"].astype(float)
    ratio = (prices["on_demand_usd_per_hr"].astype(float) / res)[res.notna()].to_numpy()
    if not len(ratio) or (prices["owned_max_count"] > 0).any() or np.ptp(ratio) > 1e-9 * ratio.max():
        return None
    return float(ratio[0])


def peak_bound(at_reserved: np.ndarray, rented: np.ndarray, hours: np.ndarray, ratio: float) -> float:
    """A stronger lower bound than the split one, from the same period solves.

    Lagrange multipliers on `reserved used in period p <= R_k` give, for every chip k, weights mu_kp >= 0 with
    sum_p mu_kp <= H c_res_k and mu_kp <= h_p c_od_k; the periods priced at mu_kp / h_p per reserved chip-hour then
    bound the optimum from below. Take mu_kp = h_p w_p c_res_k with one weight w_p per period for every chip
    (sum_p h_p w_p = H, 0 <= w_p <= ratio = c_od / c_res): w_p = 1 is the split bound (`at_reserved`), w_p = ratio
    the periods without commitments (`rented`), w_p = 0 free chips (>= 0). A period's least cost is concave in
    w_p (a minimum of functions linear in it), so the chords through those three points bound it from below; the
    weights are moved, hour by hour, from the periods that lose least by cheaper chips to those that gain most by
    dearer ones (peak periods, whose chips a commitment would leave idle the rest of the day)."""
    S, D, h = (np.asarray(v, float) for v in (at_reserved, rented, hours))
    total = float(S.sum())
    if ratio <= 1.0 or not (np.isfinite(S).all() and np.isfinite(D).all()):
        return total
    give = S / h  # bound lost per hour of weight taken below w_p = 1
    take = (D - S) / ((ratio - 1.0) * h)  # bound gained per hour of weight added above it
    left_give, left_take = h.copy(), (ratio - 1.0) * h
    givers, takers = list(np.argsort(give)), list(np.argsort(-take))
    role: dict[int, str] = {}
    while givers and takers:
        a, b = int(givers[0]), int(takers[0])
        if role.get(a) == "take" or left_give[a] <= 0:
            givers.pop(0)
            continue
        if role.get(b) == "give" or left_take[b] <= 0 or a == b:
            takers.pop(0)
            continue
        if take[b] <= give[a]:
            break
        q = min(left_give[a], left_take[b])
        total += q * (take[b] - give[a])
        left_give[a] -= q
        left_take[b] -= q
        role[a], role[b] = "give", "take"
    return total


def _gap(cost: float, bound: float) -> float:
    return max(cost - bound, 0.0) / max(abs(cost), 1e-9)


def solve_schedule(units, prices, hours, limits, tl: float, gap: float) -> periods.PeriodsModel:
    """The cheapest schedule (see the module docstring). Periods share only the reserved and owned counts unless
    a horizon budget or change limits tie them. Each choice of counts is priced by solving the periods apart
    (exact for those counts); the counts start from the break-even rule and move by coordinate descent. The
    lower bound `split_bound` and, where the periods are tied or the gap is still open, one program over all
    periods (started from that schedule) prove how far the schedule may be from the best: the reported gap."""
    t0 = time.perf_counter()
    if limits.max_starts_per_period is None and limits.min_hold_periods <= 1:
        merged, merged_hours, index = periods.distinct_periods(units, hours)
        if len(merged_hours) < len(hours):
            small = solve_schedule(merged, prices, merged_hours, limits, tl, gap)
            pm = periods.build(units, prices, hours, limits)
            for p, q in enumerate(index):
                periods.copy_period(small, pm, p, int(q))
            pm.status = small.status
            return pm
    pm = periods.build(units, prices, hours, limits)
    dec = _Decomposed(pm, tl, gap)
    flat = one_period_schedule(pm, tl, gap)
    if flat is not None:
        _, bound, reserved = flat
        cost, st = dec.solve(reserved, {}, load=True)  # the relaxation's fleet, its rented chips reserved
        if st.has_solution:
            g = _gap(cost, bound)
            status = "optimal" if g <= 1e-6 else ("within-gap" if g <= gap + 1e-12 else "time-limit")
            pm.status = milp.SolveStatus(status, st.termination, g, cost, bound, time.perf_counter() - t0)
            return pm
    free_owned = {k: int(pm.prices.at[k, "owned_max_count"]) for k in pm.chips
                  if pm.prices.at[k, "owned_fixed_usd_per_hr"] == 0}
    cost, st = dec.solve({}, free_owned, load=True)
    rented = np.array(dec.bounds) if st.has_solution and not any(free_owned.values()) else None  # no commitments
    if st.status == "infeasible" or (not st.has_solution and not periods.coupled(pm)):
        _raise_unsolved(st, units, pm.prices, limits, tl)
    if not periods.coupled(pm):  # the periods apart are the whole program
        pm.status = milp.SolveStatus(st.status, st.termination, _gap(cost, dec.bound), cost, dec.bound,
                                     time.perf_counter() - t0)
        return pm
    tied = limits.budget_usd_per_hr is not None or limits.max_starts_per_period is not None \
        or limits.min_hold_periods > 1  # the periods apart may break these: the joint program decides
    bound = split_bound(pm, tl, gap, rented) if st.has_solution else -np.inf
    reserved, owned = {}, free_owned
    if st.has_solution and _gap(cost, bound) > gap:
        for _ in range(3):  # the counts that suit the schedule, then the schedule that suits the counts
            r0, o0 = best_commitments(_usage(pm), pm.prices, pm.hours)
            o0 = {**o0, **free_owned}
            c0 = dec.solve(r0, o0, load=True)[0]
            if c0 >= cost * (1 - 1e-9):
                break
            cost, reserved, owned = c0, r0, o0
        reserved, owned = _local_search(dec, reserved, owned, t0 + 0.5 * tl, lambda c: _gap(c, bound) <= gap)
        cost, st = dec.solve(reserved, owned, load=True)
    if st.has_solution and limits.min_hold_periods > 1:
        hold_repair(pm, limits.min_hold_periods)
    if st.has_solution and tied:
        restricted_start(pm, max(0.4 * (tl - (time.perf_counter() - t0)), 0.1 * tl), gap)
    if tied or _gap(cost, bound) > gap or not st.has_solution:
        left = max(tl - (time.perf_counter() - t0), 0.2 * tl)
        joint = periods.solve(pm, time_limit_s=left, mip_gap=gap, warm_start=st.has_solution)
        if not joint.has_solution and (tied or not st.has_solution):
            _raise_unsolved(joint, units, pm.prices, limits, tl)
        if joint.has_solution:
            cost = float(pyo.value(pm.m.cost))
        if joint.bound is not None and np.isfinite(joint.bound):
            bound = max(bound, joint.bound)
        st = joint if joint.has_solution else st
    g = _gap(cost, bound)
    status = "optimal" if g <= 1e-6 else ("within-gap" if g <= gap + 1e-12 else "time-limit")
    pm.status = milp.SolveStatus(status, st.termination, g, cost, bound, time.perf_counter() - t0)
    return pm


def restricted_start(pm: periods.PeriodsModel, tl: float, gap: float) -> None:
    """A start for the joint program where the periods apart break a tie (change limits, budget): the joint program
    over only the configurations the loaded schedule uses (small, quick), its solution loaded when it has one."""
    saved = []
    for (j, _p), fm in pm.blocks.items():
        used = set().union(*[np.flatnonzero(milp.counts(b)) for (jj, _q), b in pm.blocks.items() if jj == j])
        for i in range(len(fm.table)):
            if i not in used:
                saved.append((fm.m.x[i], fm.m.x[i].ub))
                fm.m.x[i].setub(0)
    periods.solve(pm, time_limit_s=tl, mip_gap=gap, warm_start=True)
    for var, ub in saved:
        var.setub(ub)


def hold_repair(pm: periods.PeriodsModel, hold: int) -> None:
    """Make a schedule keep every instance it starts for `hold` periods (a start for the joint program): each
    count becomes the largest of the last `hold` periods' counts (cyclic); the added chips are rented on demand."""
    T = pm.periods
    for j in range(len(pm.units)):
        x = np.array([milp.counts(pm.blocks[(j, p)]) for p in range(T)])  # periods x candidates
        kept = np.max([np.roll(x, q, axis=0) for q in range(min(hold, T))], axis=0)
        for p in range(T):
            for i in np.flatnonzero(kept[p] != x[p]):
                pm.blocks[(j, p)].m.x[int(i)].set_value(int(kept[p, i]), skip_validation=True)
        starts = getattr(pm.m, f"start_u{j}", None)
        if starts is not None:
            for p in range(T):
                for i, a in enumerate(np.maximum(kept[p] - kept[(p - 1) % T], 0)):
                    starts[i, p].set_value(float(a), skip_validation=True)
    for k in pm.chips:
        for p in range(T):
            used = float(pyo.value(periods.chip_usage(pm, k, p)))
            have = sum(float(pyo.value(v[k, p])) for v in (pm.m.r, pm.m.o, pm.m.d)) + \
                (1 - float(pm.prices.at[k, "preemption_headroom"])) * float(pyo.value(pm.m.s[k, p]))
            if used > have + 1e-9:
                pm.m.d[k, p].set_value(int(round(float(pyo.value(pm.m.d[k, p])))) + int(np.ceil(used - have - 1e-9)),
                                       skip_validation=True)


def _raise_unsolved(st, units, prices, limits, tl) -> None:
    if st.status == "infeasible":
        raise InfeasibleError(_infeasible_text(units, prices, limits), field=_infeasible_field(prices, limits),
                              hint="raise the chip counts or limits, offer more chips, or lower the demand's peak")
    if st.status == "no-solution-in-time":
        raise NoSolutionInTimeError(f"the solver found no schedule within {tl:g} s ({st.termination})",
                                    field="solver.time_limit_s", hint="raise solver.time_limit_s (or --time-limit)")
    raise PlanCheckError(f"the solver ended with status {st.status} ({st.termination}) and no schedule: a bug")


def _infeasible_field(prices: pd.DataFrame, limits: periods.Limits) -> str:
    if limits.budget_usd_per_hr is not None:
        return "budget_usd_per_hr"
    if limits.max_starts_per_period is not None or limits.min_hold_periods > 1:
        return "demand.max_starts_per_period"
    return "chips"


def _infeasible_text(units, prices, limits) -> str:
    peak = ", ".join(f"{u.name} {u.demand.total_rps.max():.4g} requests/s" for u in units)
    caps = [f"{k} max_count={int(v)}" for k, v in prices["max_count"].items() if np.isfinite(v)]
    parts = caps + [f"{n}={v:g}" for n, v in (("max_chips", limits.max_chips), ("max_power_kw", limits.max_power_kw),
                                                ("budget_usd_per_hr", limits.budget_usd_per_hr),
                                                ("max_starts_per_period", limits.max_starts_per_period)) if v is not None]
    return f"no schedule meets the peak demand ({peak}) within {', '.join(parts) or 'the limits'}"


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
                 margin=None, cache: CoefficientCache | None = None, compare: bool = True) -> PeriodPlan:
    """The cheapest schedule over the scenario's periods (see the module docstring). compare: also price the
    static peak fleet and the all-on-demand schedule (summary `savings`)."""
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
    pm = solve_schedule(units, prices, hours, limits, tl, gap)
    t2 = time.perf_counter()
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
    if compare:
        loose = dataclasses.replace(limits, budget_usd_per_hr=None)  # what the budget rules out is what they cost
        static, static_status = _cost_or_none(_flat_peak(units), prices, hours, loose, tl / 2, gap)
        on_demand, on_demand_status = _cost_or_none(units, on_demand_only(prices), hours, loose, tl / 2, gap)
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
