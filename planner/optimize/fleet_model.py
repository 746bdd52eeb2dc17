"""The fleet program's data and the helpers its constraint families write rows with: the spec (`MilpSpec`), the
built model (`FleetModel`), a solve's status (`SolveStatus`), a row as written (`Row`), and the linear pieces
(instance sums, path variables, shared-pool terms) that planner.optimize.milp and planner.optimize.kv_rules share.
The formulation itself is documented in planner.optimize.milp and docs/milp.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.core as pyo
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
FAMILIES = ("demand", "class_demand", "class_sharing", "rate_matching", "aggregated", "afd_matching", "draft_matching", "inventory",
            "power", "budget", "kv_transfer", "kv_connector", "pd_same_tp", "configurations_used", "failure_headroom",
            "pool_limit")
PATHS = {"aggregated": "lam_agg", "disaggregated": "lam_dis", "afd": "lam_afd"}

SPARE_BIG_M = 10_000  # instances of one configuration, at most, where no inventory or chip cap bounds them
ROLE_NAMES = ("prefill", "decode", "aggregated", "attention", "ffn", "draft")


@dataclass
class MilpSpec:
    """What the program needs besides the candidate table."""

    modes: tuple[str, ...] = ("aggregated", "disaggregated")
    rate_min: float | None = None  # requests/s (min-cost); None = no floor
    budget_usd_per_hr: float | None = None
    max_chips: int | None = None
    max_power_kw: float | None = None
    inventory: dict[str, int] = field(default_factory=dict)  # chip id -> max chips of that type
    kv_gb_per_request: float | dict[str, float] = 0.0  # per class when `classes` is set
    objective: str = "min-cost"  # or "max-throughput"
    classes: dict[str, float] | None = None  # traffic class -> share of lam (table column `class`); None = one class
    spare_instances: int = 0  # failure headroom N+k: every pool in use keeps k instances beyond what it serves
    max_pools: int | None = None  # at most this many distinct configurations per role
    # the framework's KV connector (catalogs/frameworks.yaml): chip id -> vendor where prefill hands its KV only to
    # decode pools of its own vendor (None: any pair); pd_same_tp: every prefill and decode pool at one TP size
    kv_vendor: dict[str, str] | None = None
    pd_same_tp: bool = False

    @property
    def counts_configurations(self) -> bool:
        return bool(self.spare_instances) or self.max_pools is not None

    def class_names(self) -> list[str | None]:
        return [None] if not self.classes else list(self.classes)

    def kv_gb(self, cls: str | None) -> float:
        kv = self.kv_gb_per_request
        return float(kv.get(cls, 0.0)) if isinstance(kv, dict) else float(kv)


@dataclass
class SolveStatus:
    status: str  # optimal | within-gap | time-limit | no-solution-in-time | infeasible | unbounded | error
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
    # draft-fed decode groups per class: group name -> (lam_g variable, row indices, draft tokens/request, level)
    draft_groups: dict = field(default_factory=dict)
    # pools shared by traffic classes: row index -> {class: (y_ic variable, e_ic)} (add_class_sharing)
    shared: dict = field(default_factory=dict)
    # per class, the disaggregated flow of each vendor (add_kv_connector): vendor key -> lam_v variable
    kv_flows: dict = field(default_factory=dict)
    # rows of the families added lazily (LAZY_FAMILIES), by family and class: built inactive, switched on by
    # `solve` when a solution breaks them
    lazy_rows: dict = field(default_factory=dict)
    # (i, j, k): k instances of row i are never needed beside row j (planner.optimize.dominance); `allow` bounds
    # x_i <= k - 1 while j is allowed
    dominated: list = field(default_factory=list)
    str_cols: dict = field(default_factory=dict)  # column name -> its values as strings (`_str_col`)


# ---------------------------------------------------------------- helpers


def _lin(coefs, xs) -> LinearExpression:
    return LinearExpression(constant=0.0, linear_coefs=[float(c) for c in coefs], linear_vars=list(xs))


def _vars(m, idx) -> list:
    return [m.x[int(i)] for i in idx]


def _serving(fm, coefs, idx):
    """sum_i coef_i x_i over rows idx; with failure headroom (N+k), over the serving instances x_i - k z_i."""
    lhs = _lin(coefs, _vars(fm.m, idx))
    k = fm.spec.spare_instances
    if k and len(idx):
        lhs = lhs - _lin([k * float(c) for c in coefs], [fm.m.z[int(i)] for i in idx])
    return lhs


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


def _str_col(fm: FleetModel, name: str) -> np.ndarray:
    """A table column as strings, read once per model (the families ask for `role` and `class` many times)."""
    if name not in fm.str_cols:
        fm.str_cols[name] = fm.table[name].astype(str).to_numpy()
    return fm.str_cols[name]


def _role_idx(fm: FleetModel, role: str, cls: str | None = None) -> np.ndarray:
    sel = _str_col(fm, "role") == role
    if cls is not None:
        sel &= _str_col(fm, "class") == cls
    return np.flatnonzero(sel)


def path_var(m, path: str, cls: str | None):
    """The rate variable of a path (lam_agg, lam_dis, lam_afd) for a class; None when the mode is off."""
    return getattr(m, PATHS[path] + ("" if cls is None else f"__{cls}"), None)


def _pre(cls: str | None) -> str:
    return "" if cls is None else f"{cls}-"


def _sum(*vs):
    vs = [v for v in vs if v is not None]
    return sum(vs) if vs else 0.0


SHARED_SEP = "+"  # the `class` of a shared row: its classes joined, e.g. "chat+coding"


def shared_rows(t: pd.DataFrame) -> np.ndarray:
    """Rows of pools shared by several traffic classes (column `shared`, see planner.optimize.traffic)."""
    if "shared" not in t:
        return np.zeros(0, np.int64)
    return np.flatnonzero(t["shared"].fillna(False).to_numpy(bool))


def _add_shared_loads(fm: FleetModel) -> None:
    """Variables y_ic >= 0: requests/s of class c served by shared row i (its effective capacity for c in
    column `eff__{c}`, the strictest of its classes' utilization caps times its capacity at c's lengths)."""
    t = fm.table
    for i in shared_rows(t):
        loads = {}
        for cls in str(t["class"].iloc[i]).split(SHARED_SEP):
            e = float(t[f"eff__{cls}"].iloc[i])
            v = pyo.Var(domain=pyo.NonNegativeReals)
            fm.m.add_component(f"y__{int(i)}__{cls}", v)
            loads[cls] = (v, e)
        fm.shared[int(i)] = loads


def _shared_term(fm: FleetModel, role: str, cls: str | None, col: str | None = None):
    """Sum over shared rows of `role` serving `cls` of y_ic (col None) or col_i y_ic / e_ic (the row's share
    of its time, e.g. NIC bandwidth); None when there are none."""
    if cls is None or not fm.shared:
        return None
    role_col = _str_col(fm, "role")
    terms = []
    for i, loads in fm.shared.items():
        if role_col[i] != role or cls not in loads:
            continue
        v, e = loads[cls]
        terms.append(v if col is None else (float(fm.table[col].iloc[i]) / e) * v)
    return sum(terms) if terms else None


def _plus(lhs, extra):
    return lhs if extra is None else lhs + extra



def counts(fm: FleetModel) -> np.ndarray:
    """Instance counts x_i of the loaded solution (integers)."""
    return np.array([int(round(pyo.value(fm.m.x[i]) or 0.0)) for i in range(len(fm.table))], dtype=np.int64)
