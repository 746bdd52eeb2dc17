"""The cheapest schedule of a built multi-period program (planner.optimize.periods): periods apart for each choice of
reserved and owned counts, the counts by break-even and coordinate descent, lower bounds (split, raised by peak
weights) that prove the gap, and the joint program where periods are tied or the gap stays open. Docs: docs/milp.md,
"Solving"."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pyomo.core as pyo

from planner.errors import InfeasibleError, NoSolutionInTimeError, PlanCheckError
from planner.optimize import milp, periods

PERIOD_GAP = 1e-4  # one period alone is small: solved this close to its optimum (bounds that add up over periods)


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


def split_bound(pm: periods.PeriodsModel, tl: float, gap: float, rented: np.ndarray | None = None,
                relaxed: _Decomposed | None = None) -> float:
    """A lower bound on the cost of every schedule: each period at its least cost if reserved and owned chips could
    be had by the hour (at their hourly prices, without the owned count), spot and on-demand as they are. A chip
    committed for the horizon costs at least that in every period, so the sum bounds the optimum; budget and
    change limits, left out, only raise it. With `rented` (per period, a lower bound of its least cost with no
    commitments) the bound is raised by `peak_bound`. `relaxed`: the split relaxation already built
    (`_hourly_commitments`), whose periods then hold its schedule."""
    relaxed = relaxed or _hourly_commitments(pm, tl, gap)
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


def relaxed_usage(relaxed: _Decomposed) -> pd.DataFrame:
    """Chips in use per chip type and period in the split relaxation's schedule (after its `solve`): where chips
    to be had by the hour at the reserved price would go, e.g. past a spot cap in the peak periods."""
    return pd.concat([_usage(one)[0].rename(p) for p, one in enumerate(relaxed.ones)], axis=1)


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


def _status(g: float, gap: float) -> str:
    """The status a schedule's proven gap earns against the asked one."""
    return "optimal" if g <= 1e-6 else ("within-gap" if g <= gap + 1e-12 else "time-limit")


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
            pm.status = milp.SolveStatus(_status(g, gap), st.termination, g, cost, bound, time.perf_counter() - t0)
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
    relaxed = _hourly_commitments(pm, tl, gap) if st.has_solution else None
    bound = split_bound(pm, tl, gap, rented, relaxed) if st.has_solution else -np.inf
    reserved, owned = {}, free_owned
    if st.has_solution and _gap(cost, bound) > gap:
        for _ in range(3):  # the counts that suit the schedule, then the schedule that suits the counts
            r0, o0 = best_commitments(_usage(pm), pm.prices, pm.hours)
            o0 = {**o0, **free_owned}
            c0 = dec.solve(r0, o0, load=True)[0]
            if c0 >= cost * (1 - 1e-9):
                break
            cost, reserved, owned = c0, r0, o0
        def done(c: float) -> bool:
            return _gap(c, bound) <= gap

        reserved, owned = _local_search(dec, reserved, owned, t0 + 0.5 * tl, done)
        # a second start: the counts that suit the relaxation's schedule, which places load where reserved chips
        # would relieve a spot cap or an on-demand peak (the schedules without commitments do not show it)
        current = dec.solve(reserved, owned)[0]  # (cached: the descent priced it)
        if np.isfinite(bound) and not done(current):  # (a finite bound: the relaxation solved)
            r1, o1 = best_commitments(relaxed_usage(relaxed), pm.prices, pm.hours)
            o1 = {**o1, **free_owned}
            if (r1, o1) != (reserved, owned) and dec.solve(r1, o1)[0] < current * (1 - 1e-9):
                reserved, owned = _local_search(dec, r1, o1, t0 + 0.6 * tl, done)
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
    pm.status = milp.SolveStatus(_status(g, gap), st.termination, g, cost, bound, time.perf_counter() - t0)
    return pm


def restricted_start(pm: periods.PeriodsModel, tl: float, gap: float) -> None:
    """A start for the joint program where the periods apart break a tie (change limits, budget): the joint program
    over only the configurations the loaded schedule uses (small, quick), its solution loaded when it has one."""
    used: dict[int, np.ndarray] = {}  # per model: configurations some period of the schedule uses
    for (j, _p), fm in pm.blocks.items():
        used[j] = used.get(j, np.zeros(len(fm.table), bool)) | (milp.counts(fm) > 0)
    for (j, _p), fm in pm.blocks.items():
        milp.allow(fm, used[j])
    periods.solve(pm, time_limit_s=tl, mip_gap=gap, warm_start=True)
    for fm in pm.blocks.values():
        milp.allow(fm, np.ones(len(fm.table), bool))


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
