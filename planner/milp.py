"""The fleet MILP (Pyomo, solved by HiGHS through appsi_highs): integer instance counts per candidate.

Sets: candidates i (rows of the pruned table), split by role into P (prefill), D (decode), A (aggregated);
chip types k. Data per candidate: effective capacity e_i (requests/s = utilization cap x capacity), chips
n_i, cost c_i ($/h), power w_i (kW), NIC bandwidth b_i (GB/s).

Variables: x_i in Z>=0 (instances), lam >= 0 (requests/s served), lam_agg, lam_dis >= 0 (the split between
the aggregated and the disaggregated path; only for allowed modes).

Constraint families, one function each (docs/milp.md has the math; tests check the two agree). Names
follow `{pool}-{kind}-{bound}`:

    add_demand        fleet-demand-split   lam_agg + lam_dis = lam
                      fleet-rate-min       lam >= rate_min                       (epsilon: rate)
    add_rate_matching prefill-rate-min     sum_P e_i x_i >= lam_dis
                      decode-rate-min      sum_D e_i x_i >= lam_dis
    add_aggregated    aggregated-rate-min  sum_A e_i x_i >= lam_agg
    add_inventory     {chip}-inventory-max sum_{i on k} n_i x_i <= max_count_k
                      fleet-chips-max      sum n_i x_i <= max_chips              (epsilon: chips)
    add_power         fleet-power-max      sum w_i x_i <= max_power_kw           (epsilon: power)
    add_budget        fleet-budget-max     sum c_i x_i <= budget_usd_per_hr      (epsilon: budget)
    add_kv_transfer   prefill-kv_nic-min   sum_P b_i x_i >= kv_gb_per_request lam_dis
                      decode-kv_nic-min    sum_D b_i x_i >= kv_gb_per_request lam_dis

Objectives: `cost` (min sum c_i x_i + a tie-break on chips) and `throughput` (max lam - a tie-break on
cost); one is active. Bounds that sweeps change are mutable Params; the model is built once and the
persistent solver is re-run after `set_param` / `set_objective` / `allow`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

# Tie-breaks must never change the primary optimum: chips are worth TIE_CHIPS x the cheapest chip-hour.
TIE_CHIPS = 1e-7
TIE_COST = 1e-7
PARAMS = ("rate_min", "budget_usd_per_hr", "max_chips", "max_power_kw")
PARAM_CONSTRAINT = {
    "rate_min": "fleet-rate-min",
    "budget_usd_per_hr": "fleet-budget-max",
    "max_chips": "fleet-chips-max",
    "max_power_kw": "fleet-power-max",
}
FAMILIES = ("demand", "rate_matching", "aggregated", "inventory", "power", "budget", "kv_transfer")


@dataclass
class MilpSpec:
    """What the program needs besides the candidate table."""

    modes: tuple[str, ...] = ("aggregated", "disaggregated")
    rate_min: float | None = None  # requests/s (min-cost); None = no floor
    budget_usd_per_hr: float | None = None
    max_chips: int | None = None
    max_power_kw: float | None = None
    inventory: dict[str, int] = field(default_factory=dict)  # chip id -> max chips of that type
    kv_gb_per_request: float = 0.0
    objective: str = "min-cost"  # or "max-throughput"


@dataclass
class SolveStatus:
    status: str  # optimal | within-gap | time-limit | infeasible | unbounded | error
    termination: str  # the solver's own word
    mip_gap: float | None  # relative gap of the incumbent (None when there is none)
    objective: float | None
    bound: float | None
    solve_s: float

    @property
    def has_solution(self) -> bool:
        return self.status in ("optimal", "within-gap", "time-limit")


@dataclass
class FleetModel:
    """A built Pyomo model, its candidate table (row i <-> x[i]) and the persistent HiGHS solver."""

    m: pyo.ConcreteModel
    table: pd.DataFrame
    spec: MilpSpec
    constraints: dict[str, Row] = field(default_factory=dict)  # name -> row as written
    solver: object = None


# ---------------------------------------------------------------- helpers


def _lin(coefs, xs) -> LinearExpression:
    return LinearExpression(constant=0.0, linear_coefs=[float(c) for c in coefs], linear_vars=list(xs))


def _vars(m, idx) -> list:
    return [m.x[int(i)] for i in idx]


@dataclass
class Row:
    """A constraint as written: lhs (sense) rhs, with its smallest instance coefficient (integer step)."""

    family: str
    lhs: object
    sense: str  # ">=", "<=", "=="
    rhs: object
    step: float = 0.0


def _add(fm: FleetModel, name: str, family: str, lhs, sense: str, rhs, step: float = 0.0) -> None:
    expr = lhs >= rhs if sense == ">=" else (lhs <= rhs if sense == "<=" else lhs == rhs)
    fm.m.add_component(name, pyo.Constraint(expr=expr))
    fm.constraints[name] = Row(family, lhs, sense, rhs, step)


def _step(coefs: np.ndarray) -> float:
    pos = np.asarray(coefs, float)
    pos = pos[pos > 0]
    return float(pos.min()) if len(pos) else 0.0


def _role_idx(t: pd.DataFrame, role: str) -> np.ndarray:
    return np.flatnonzero(t["role"].astype(str).to_numpy() == role)


# ---------------------------------------------------------------- constraint families


def add_demand(fm: FleetModel) -> None:
    """lam = lam_agg + lam_dis; lam >= rate_min (a mutable Param, the rate epsilon)."""
    m = fm.m
    parts = [v for v in (getattr(m, "lam_agg", None), getattr(m, "lam_dis", None)) if v is not None]
    _add(fm, "fleet-demand-split", "demand", sum(parts), "==", m.lam)
    _add(fm, "fleet-rate-min", "demand", m.lam, ">=", m.rate_min)


def add_rate_matching(fm: FleetModel) -> None:
    """Disaggregated path: prefill and decode pools each serve lam_dis requests/s (effective capacity)."""
    m, t = fm.m, fm.table
    eff = t["eff_capacity_rps"].to_numpy()
    for role in ("prefill", "decode"):
        idx = _role_idx(t, role)
        _add(fm, f"{role}-rate-min", "rate_matching", _lin(eff[idx], _vars(m, idx)), ">=", m.lam_dis, _step(eff[idx]))


def add_aggregated(fm: FleetModel) -> None:
    """Aggregated path: co-located instances serve lam_agg requests/s."""
    m, t = fm.m, fm.table
    idx = _role_idx(t, "aggregated")
    eff = t["eff_capacity_rps"].to_numpy()[idx]
    _add(fm, "aggregated-rate-min", "aggregated", _lin(eff, _vars(m, idx)), ">=", m.lam_agg, _step(eff))


def add_inventory(fm: FleetModel) -> None:
    """Chips of each capped type, and all chips, within their limits."""
    m, t = fm.m, fm.table
    n = t["chips_per_instance"].to_numpy()
    chip = t["chip"].astype(str).to_numpy()
    for k, cap in fm.spec.inventory.items():
        idx = np.flatnonzero(chip == k)
        if len(idx):
            _add(fm, f"{k}-inventory-max", "inventory", _lin(n[idx], _vars(m, idx)), "<=", cap, _step(n[idx]))
    _add(fm, "fleet-chips-max", "inventory", _lin(n, _vars(m, range(len(t)))), "<=", m.max_chips, _step(n))


def add_power(fm: FleetModel) -> None:
    m, t = fm.m, fm.table
    kw = t["power_w"].to_numpy() / 1e3
    _add(fm, "fleet-power-max", "power", _lin(kw, _vars(m, range(len(t)))), "<=", m.max_power_kw, _step(kw))


def add_budget(fm: FleetModel) -> None:
    m, t = fm.m, fm.table
    cost = t["cost_usd_per_hr"].to_numpy()
    _add(fm, "fleet-budget-max", "budget", _lin(cost, _vars(m, range(len(t)))), "<=", m.budget_usd_per_hr, _step(cost))


def add_kv_transfer(fm: FleetModel) -> None:
    """Every disaggregated request moves its prompt's KV cache from a prefill NIC to a decode NIC."""
    m, t = fm.m, fm.table
    nic = t["nic_gb_s"].to_numpy()
    for role, name in (("prefill", "prefill-kv_nic-min"), ("decode", "decode-kv_nic-min")):
        idx = _role_idx(t, role)
        _add(fm, name, "kv_transfer", _lin(nic[idx], _vars(m, idx)), ">=", fm.spec.kv_gb_per_request * m.lam_dis,
             _step(nic[idx]))


# ---------------------------------------------------------------- objectives


def add_objectives(fm: FleetModel) -> None:
    """`cost`: min $/h (+ tie-breaks: fewer chips, no more rate than asked). `throughput`: max lam (- cost)."""
    m, t = fm.m, fm.table
    xs = _vars(m, range(len(t)))
    cost = t["cost_usd_per_hr"].to_numpy()
    n = t["chips_per_instance"].to_numpy()
    cheapest_chip = float(np.min(cost / n)) if len(t) else 1.0
    m.cost = pyo.Objective(expr=_lin(cost + TIE_CHIPS * cheapest_chip * n, xs) + TIE_CHIPS * cheapest_chip * m.lam,
                           sense=pyo.minimize)  # the lam term: serve exactly the rate asked for
    m.throughput = pyo.Objective(expr=m.lam - _lin(TIE_COST * cost, xs), sense=pyo.maximize)


def set_objective(fm: FleetModel, objective: str) -> None:
    on, off = (fm.m.cost, fm.m.throughput) if objective == "min-cost" else (fm.m.throughput, fm.m.cost)
    on.activate()
    off.deactivate()
    fm.spec.objective = objective


def set_param(fm: FleetModel, name: str, value: float | None) -> None:
    """Change an epsilon bound (None lifts it) without rebuilding the model."""
    con = fm.m.component(PARAM_CONSTRAINT[name])
    if value is None or (isinstance(value, float) and math.isinf(value)):
        con.deactivate()
        getattr(fm.m, name).set_value(0.0)
    else:
        getattr(fm.m, name).set_value(float(value))
        con.activate()
    setattr(fm.spec, name, value)


def allow(fm: FleetModel, mask: np.ndarray) -> None:
    """Enable only candidates where mask is True (others fixed at zero via their upper bound)."""
    for i, ok in enumerate(np.asarray(mask, bool)):
        fm.m.x[i].setub(fm.m.x_ub[i] if ok else 0)


# ---------------------------------------------------------------- build and solve


def _upper_bounds(t: pd.DataFrame, spec: MilpSpec) -> list[float | None]:
    """Instance-count bounds implied by inventory and max_chips (tighter relaxations, smaller trees)."""
    n = t["chips_per_instance"].to_numpy().astype(float)
    ub = np.full(len(t), np.inf)
    if spec.max_chips is not None:
        ub = np.minimum(ub, np.floor(spec.max_chips / n))
    chip = t["chip"].astype(str).to_numpy()
    for k, cap in spec.inventory.items():
        sel = chip == k
        ub[sel] = np.minimum(ub[sel], np.floor(cap / n[sel]))
    return [None if math.isinf(u) else float(u) for u in ub]


def build(table: pd.DataFrame, spec: MilpSpec) -> FleetModel:
    """The program for a pruned candidate table (see module docstring)."""
    t = table.reset_index(drop=True)
    m = pyo.ConcreteModel(name="fleet")
    fm = FleetModel(m=m, table=t, spec=spec)
    ub = _upper_bounds(t, spec)
    m.x_ub = ub
    m.x = pyo.Var(range(len(t)), domain=pyo.NonNegativeIntegers, bounds=lambda _m, i: (0, ub[i]))
    m.lam = pyo.Var(domain=pyo.NonNegativeReals)
    if "aggregated" in spec.modes:
        m.lam_agg = pyo.Var(domain=pyo.NonNegativeReals)
    if "disaggregated" in spec.modes:
        m.lam_dis = pyo.Var(domain=pyo.NonNegativeReals)
    for p in PARAMS:
        m.add_component(p, pyo.Param(mutable=True, initialize=0.0, within=pyo.Reals))

    add_demand(fm)
    if "disaggregated" in spec.modes:
        add_rate_matching(fm)
        add_kv_transfer(fm)
    if "aggregated" in spec.modes:
        add_aggregated(fm)
    add_inventory(fm)
    add_power(fm)
    add_budget(fm)
    add_objectives(fm)
    for p in PARAMS:
        set_param(fm, p, getattr(spec, p))
    set_objective(fm, spec.objective)
    return fm


# Measured on the example scenarios and a 30-point rate sweep (benchmarks/solve_speed.py): these fleet
# programs are small covering knapsacks; HiGHS's RINS/RENS sub-MIPs and root restarts cost more than they
# find (about 1.5x slower with them). Correctness does not depend on them.
HIGHS_OPTIONS = {"mip_heuristic_run_rins": False, "mip_heuristic_run_rens": False, "mip_allow_restart": False}


def _solver():
    from pyomo.contrib.appsi.solvers import Highs

    s = Highs()
    s.config.load_solution = False
    s.config.stream_solver = False
    s.highs_options = dict(HIGHS_OPTIONS)
    return s


def solve(fm: FleetModel, *, time_limit_s: float = 10.0, mip_gap: float = 1e-4) -> SolveStatus:
    """Solve (re-solve) with HiGHS; loads the incumbent into the model when there is one."""
    from pyomo.contrib.appsi.base import TerminationCondition as TC

    if fm.solver is None:
        fm.solver = _solver()
    s = fm.solver
    s.config.time_limit = float(time_limit_s)
    s.config.mip_gap = float(mip_gap)
    t0 = time.perf_counter()
    try:
        res = s.solve(fm.m)
    except Exception as exc:  # noqa: BLE001 - report, never crash into a wrong answer
        return SolveStatus("error", f"{type(exc).__name__}: {exc}", None, None, None, time.perf_counter() - t0)
    dt = time.perf_counter() - t0
    tc = res.termination_condition
    obj, bound = res.best_feasible_objective, res.best_objective_bound
    has = obj is not None and tc not in (TC.infeasible, TC.infeasibleOrUnbounded, TC.unbounded)
    gap = None
    if has:
        res.solution_loader.load_vars()
        if bound is not None and math.isfinite(bound):
            gap = abs(obj - bound) / max(abs(obj), 1e-9)
    if tc == TC.optimal and has:
        status = "optimal" if (gap is not None and gap <= 1e-6) else "within-gap"
    elif has:
        status = "time-limit"
    elif tc in (TC.infeasible, TC.infeasibleOrUnbounded):
        status = "infeasible"
    elif tc == TC.unbounded:
        status = "unbounded"
    else:
        status = "error"
    return SolveStatus(status, str(tc.name), gap, obj, bound, dt)


def counts(fm: FleetModel) -> np.ndarray:
    """Instance counts x_i of the loaded solution (integers)."""
    return np.array([int(round(pyo.value(fm.m.x[i]) or 0.0)) for i in range(len(fm.table))], dtype=np.int64)


def value(fm: FleetModel, name: str) -> float:
    comp = getattr(fm.m, name, None)
    return float(pyo.value(comp) or 0.0) if comp is not None else 0.0


def constraint_report(fm: FleetModel) -> pd.DataFrame:
    """Every active constraint at the loaded solution, as written (lhs, rhs, slack), and whether it binds.

    Binding: an inequality with (relative) zero slack, or a limit (<=) whose slack is smaller than its
    smallest instance coefficient, so that no further instance fits. Rows of an unused path (0 >= 0) and
    equalities are reported but never called binding.
    """
    rows = []
    for name, row in fm.constraints.items():
        if not fm.m.component(name).active:
            continue
        lhs, rhs = float(pyo.value(row.lhs)), float(pyo.value(row.rhs))
        scale = max(abs(lhs), abs(rhs), 1.0)
        lhs, rhs = (0.0 if abs(v) < 1e-9 * scale else v for v in (lhs, rhs))  # solver noise, -0.0
        slack = lhs - rhs if row.sense == ">=" else (rhs - lhs if row.sense == "<=" else abs(lhs - rhs))
        tol = 1e-6 * max(abs(rhs), abs(lhs), 1.0)
        trivial = abs(lhs) <= tol and abs(rhs) <= tol
        binding = row.sense != "==" and not trivial and (
            slack <= tol or (row.sense == "<=" and row.step > 0 and slack < row.step - tol)
        )
        rows.append({"constraint": name, "family": row.family, "lhs": lhs, "sense": row.sense, "rhs": rhs,
                     "slack": slack, "binding": bool(binding)})
    return pd.DataFrame(rows, columns=["constraint", "family", "lhs", "sense", "rhs", "slack", "binding"])
