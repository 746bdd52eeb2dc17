"""The fleet MILP (Pyomo, solved by HiGHS through appsi_highs): integer instance counts per candidate.

Sets: candidates i (rows of the pruned table), split by role into P (prefill), D (decode), A (aggregated);
chip types k. Data per candidate: effective capacity e_i (requests/s = utilization cap x capacity), chips
n_i, cost c_i ($/h), power w_i (kW), NIC bandwidth b_i (GB/s).

Variables: x_i in Z>=0 (instances), lam >= 0 (requests/s served), lam_agg, lam_dis >= 0 (the split between
the aggregated and the disaggregated path; only for allowed modes).

Constraint families, one function each (docs/milp.md has the math; tests check the two agree). Names
follow `{pool}-{kind}-{bound}`; with several traffic classes every per-class row is prefixed `{class}-`:

    add_demand        fleet-demand-split   lam_agg + lam_dis + lam_afd = lam    (one class)
                      fleet-rate-min       lam >= rate_min                       (epsilon: rate)
    add_class_demand  {class}-demand-split lam_agg_c + lam_dis_c + lam_afd_c = share_c lam   (several classes)
    add_class_sharing {cand}-share-max    sum_c y_ic / e_ic <= x_i   (a pool shared by classes: time-sharing;
                      the y_ic of its classes enter their {class}-{role}-rate-min and -kv_nic-min rows)
    add_rate_matching prefill-rate-min     sum_P e_i x_i >= lam_dis + lam_afd
                      decode-rate-min      sum_D e_i x_i >= lam_dis   (draft-fed rows: + sum_g lam_g instead)
    add_aggregated    aggregated-rate-min  sum_A e_i x_i >= lam_agg
    add_afd_matching  attention-rate-min   sum_Att e_i x_i >= lam_afd
                      {level}-ffn-tokens-min  sum_{F at level} T_i x_i >= sum_{Att at level} B_i x_i
    add_draft_matching {group}-spec-rate-min  sum_{D_g} e_i x_i >= lam_g   (draft-fed decode rows, group g)
                      {level}-draft-tokens-min  sum_{Dr at level} S_i x_i >= sum_{g at level} d_g lam_g
    add_inventory     {chip}-inventory-max sum_{i on k} n_i x_i <= max_count_k
                      fleet-chips-max      sum n_i x_i <= max_chips              (epsilon: chips)
    add_power         fleet-power-max      sum w_i x_i <= max_power_kw           (epsilon: power)
    add_budget        fleet-budget-max     sum c_i x_i <= budget_usd_per_hr      (epsilon: budget)
    add_kv_transfer   prefill-kv_nic-min   sum_P b_i x_i >= kv_gb_per_request (lam_dis + lam_afd)
                      decode-kv_nic-min    sum_D b_i x_i >= kv_gb_per_request lam_dis
    add_kv_connector  kv_pairs-vendor-split   sum_v lam_v = lam_dis   (chips of several vendors: the framework's
                      KV connector pairs prefill and decode of one vendor only)
                      {vendor}-prefill-kv_pairs-min  sum_{P of v} e_i x_i >= lam_v, and the same for decode
    add_pd_same_tp    pd-tp_choice-max     sum_t w_t <= 1, w_t binary (one TP size for every P/D pool, where the
                      connector needs it); cand{i}-pd_tp-max  x_i <= M w_{tp_i}
    add_configurations_used cand{i}-used-max  x_i <= M z_i, z_i binary (a configuration in use; for the two below)
    add_failure_headroom cand{i}-spare-min  x_i >= k z_i        (N+k: the capacity rows above count x_i - k z_i,
                                                                 the instances left after k fail)
    add_pool_limit    {role}-pools-max     sum_{i in role} z_i <= max_pools   (simpler fleets)

Objectives: `cost` (min sum c_i x_i + a tie-break on chips) and `throughput` (max lam - a tie-break on
cost); one is active. Bounds that sweeps change are mutable Params; the model is built once and the
persistent solver is re-run after `set_param` / `set_objective` / `allow`.
"""


from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pyomo.core as pyo  # not pyomo.environ: its plugin registry costs 0.1 s and HiGHS comes through appsi

from planner.optimize import dominance
from planner.optimize.fleet_model import (  # noqa: F401 - the program's data and helpers, used through milp.* too
    FAMILIES,
    PARAM_CONSTRAINT,
    PARAMS,
    PATHS,
    ROLE_NAMES,
    SHARED_SEP,
    SPARE_BIG_M,
    TIE_CHIPS,
    TIE_COST,
    FleetModel,
    MilpSpec,
    Row,
    SolveStatus,
    _add,
    _add_shared_loads,
    _lin,
    _plus,
    _pre,
    _role_idx,
    _serving,
    _shared_term,
    _step,
    _str_col,
    _sum,
    _vars,
    counts,
    path_var,
    shared_rows,
)
from planner.optimize.kv_rules import (  # noqa: F401 - families of the program, named in docs/milp.md
    add_kv_connector,
    add_pd_same_tp,
    lazy_broken,
    row_vendors,
    vendor_capacity,
    vendor_flows,
    vendor_key,
)

# ---------------------------------------------------------------- constraint families


def add_demand(fm: FleetModel) -> None:
    """One class: lam = lam_agg + lam_dis + lam_afd. Always: lam >= rate_min (a mutable Param, the rate epsilon)."""
    m = fm.m
    if not fm.spec.classes:
        parts = [path_var(m, p, None) for p in PATHS]
        _add(fm, "fleet-demand-split", "demand", _sum(*parts), "==", m.lam)
    _add(fm, "fleet-rate-min", "demand", m.lam, ">=", m.rate_min)


def add_class_demand(fm: FleetModel) -> None:
    """Several traffic classes: each class's paths carry its fixed share of lam (the class mix)."""
    m = fm.m
    for cls, share in (fm.spec.classes or {}).items():
        parts = [path_var(m, p, cls) for p in PATHS]
        _add(fm, f"{cls}-demand-split", "class_demand", _sum(*parts), "==", float(share) * m.lam)


def add_class_sharing(fm: FleetModel) -> None:
    """Pools shared by traffic classes (`classes_share_pools`): instance i spends the fraction y_ic / e_ic of
    its time on class c; the fractions of its classes fit in its x_i instances. Exact for time-sharing."""
    for i, loads in fm.shared.items():
        _add(fm, f"cand{i}-share-max", "class_sharing", sum(v / e for v, e in loads.values()), "<=",
             _serving(fm, [1.0], [i]))


def draft_level_col(t: pd.DataFrame) -> np.ndarray:
    if "draft_level" not in t:
        return np.full(len(t), "")
    return t["draft_level"].fillna("").astype(str).to_numpy()


def _add_draft_groups(fm: FleetModel, cls: str | None) -> dict:
    """Variables lam_g >= 0: the requests/s carried by each group of draft-fed decode rows of a class (same
    level and draft tokens per request, i.e. the same gamma)."""
    t = fm.table
    lev = draft_level_col(t)
    dec = _role_idx(fm, "decode", cls)
    dec = dec[lev[dec] != ""]
    groups: dict = {}
    if not len(dec):
        return groups
    gam = np.nan_to_num(t["spec_tokens"].to_numpy(float)).astype(int)
    per_req = t["draft_tokens_per_req"].to_numpy()
    for g in sorted({f"{lev[i]}g{gam[i]}" for i in dec}):
        idx = np.array([i for i in dec if f"{lev[i]}g{gam[i]}" == g])
        v = pyo.Var(domain=pyo.NonNegativeReals)
        fm.m.add_component(f"lam_spec__{cls or ''}__{g}", v)
        groups[g] = (v, idx, float(per_req[idx[0]]), str(lev[idx[0]]))
    fm.draft_groups[cls] = groups
    return groups


def add_rate_matching(fm: FleetModel, cls: str | None = None) -> None:
    """Disaggregated path: the prefill pool admits lam_dis (+ lam_afd: AFD decode is fed by the same prefill
    pool) requests/s, the decode pool carries lam_dis (effective capacities; the draft-fed decode rows
    through their groups' lam_g, see add_draft_matching)."""
    m, t = fm.m, fm.table
    eff = t["eff_capacity_rps"].to_numpy()
    need = {"prefill": _sum(path_var(m, "disaggregated", cls), path_var(m, "afd", cls)),
            "decode": _sum(path_var(m, "disaggregated", cls))}
    lev = draft_level_col(t)
    for role in ("prefill", "decode"):
        if role == "decode" and path_var(m, "disaggregated", cls) is None:
            continue
        idx = _role_idx(fm, role, cls)
        lhs = None
        if role == "decode":
            groups = fm.draft_groups.get(cls, {})
            idx = idx[lev[idx] == ""]
            if groups:
                lhs = _serving(fm, eff[idx], idx) + sum(g[0] for g in groups.values())
        lhs = _plus(lhs if lhs is not None else _serving(fm, eff[idx], idx), _shared_term(fm, role, cls))
        _add(fm, f"{_pre(cls)}{role}-rate-min", "rate_matching", lhs, ">=", need[role], _step(eff[idx]))


def add_aggregated(fm: FleetModel, cls: str | None = None) -> None:
    """Aggregated path: co-located instances serve lam_agg requests/s."""
    m, t = fm.m, fm.table
    idx = _role_idx(fm, "aggregated", cls)
    eff = t["eff_capacity_rps"].to_numpy()[idx]
    _add(fm, f"{_pre(cls)}aggregated-rate-min", "aggregated",
         _plus(_serving(fm, eff, idx), _shared_term(fm, "aggregated", cls)), ">=",
         path_var(m, "aggregated", cls), _step(eff))


def add_afd_matching(fm: FleetModel, cls: str | None = None) -> None:
    """Attention/FFN disaggregated decode: the attention pool carries lam_afd requests/s; at every per-layer
    cadence (`afd_level`), the FFN instances' token capacity per layer cycle (`ffn_tokens`) covers the tokens
    the attention instances of that cadence send (their batch, `ffn_tokens` of attention rows): the M:N
    pairing of attention and FFN instances, linear."""
    m, t = fm.m, fm.table
    eff = t["eff_capacity_rps"].to_numpy()
    att = _role_idx(fm, "attention", cls)
    _add(fm, f"{_pre(cls)}attention-rate-min", "afd_matching", _serving(fm, eff[att], att), ">=",
         path_var(m, "afd", cls), _step(eff[att]))
    ffn = _role_idx(fm, "ffn", cls)
    tok = t["ffn_tokens"].to_numpy() if "ffn_tokens" in t else np.zeros(len(t))
    lev = t["afd_level"].astype(str).to_numpy() if "afd_level" in t else np.full(len(t), "")
    for level in sorted(set(lev[att]) | set(lev[ffn])):
        a = att[lev[att] == level]
        f = ffn[lev[ffn] == level]
        _add(fm, f"{_pre(cls)}{level}-ffn-tokens-min", "afd_matching", _serving(fm, tok[f], f), ">=",
             _serving(fm, tok[a], a), _step(tok[f]))


def add_draft_matching(fm: FleetModel, cls: str | None = None) -> None:
    """Speculative decoding with a draft pool: each group g of draft-fed decode rows carries lam_g within its
    effective capacity, and at every draft latency level the draft instances' token supply S_i (draft
    tokens/s) covers the draft tokens the groups of that level ask for: d_g (= gamma x OSL / tokens per
    step) x lam_g. Linear; the M:N pairing of draft and target instances is fractional, as for AFD."""
    t = fm.table
    eff = t["eff_capacity_rps"].to_numpy()
    groups = fm.draft_groups.get(cls, {})
    for g, (v, idx, _d, _lev) in groups.items():
        _add(fm, f"{_pre(cls)}{g}-spec-rate-min", "draft_matching", _serving(fm, eff[idx], idx), ">=", v, _step(eff[idx]))
    lev = draft_level_col(t)
    drafts = _role_idx(fm, "draft", cls)
    sup = t["draft_tokens_s"].to_numpy() if "draft_tokens_s" in t else np.zeros(len(t))
    for level in sorted({g[3] for g in groups.values()} | set(lev[drafts])):
        d = drafts[lev[drafts] == level]
        need = _sum(*[gd * v for v, _i, gd, gl in groups.values() if gl == level])
        _add(fm, f"{_pre(cls)}{level}-draft-tokens-min", "draft_matching", _serving(fm, sup[d], d), ">=", need,
             _step(sup[d]))




def add_configurations_used(fm: FleetModel) -> None:
    """z_i = 1 for every configuration in use (x_i <= M z_i), for the families that count configurations."""
    m = fm.m
    for i in range(len(fm.table)):
        ub = m.x_ub[i] if m.x_ub[i] is not None else SPARE_BIG_M
        _add(fm, f"cand{i}-used-max", "configurations_used", m.x[i], "<=", ub * m.z[i])


def add_failure_headroom(fm: FleetModel) -> None:
    """N+k: every configuration in use keeps k spare instances (x_i >= k z_i) that the capacity rows do not count
    (they see x_i - k z_i): each pool still serves its load with k instances lost."""
    m, k = fm.m, fm.spec.spare_instances
    for i in range(len(fm.table)):
        _add(fm, f"cand{i}-spare-min", "failure_headroom", m.x[i], ">=", k * m.z[i])


def add_pool_limit(fm: FleetModel) -> None:
    """Simpler fleets: at most `max_pools` distinct configurations per role (over every traffic class)."""
    role = fm.table["role"].astype(str).to_numpy()
    for r in ROLE_NAMES:
        idx = np.flatnonzero(role == r)
        if len(idx):
            _add(fm, f"{r}-pools-max", "pool_limit", sum(fm.m.z[int(i)] for i in idx), "<=", float(fm.spec.max_pools), 1.0)


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


def add_kv_transfer(fm: FleetModel, cls: str | None = None) -> None:
    """Every disaggregated request moves its prompt's KV cache from a prefill NIC to a decode NIC (AFD
    requests leave the prefill pool the same way; the attention pool's ingress is not constrained)."""
    m, t = fm.m, fm.table
    nic = t["nic_gb_s"].to_numpy()
    kv = fm.spec.kv_gb(cls)
    dis, afd = path_var(m, "disaggregated", cls), path_var(m, "afd", cls)
    for role, rate in (("prefill", _sum(dis, afd)), ("decode", _sum(dis))):
        if role == "decode" and dis is None:
            continue
        idx = _role_idx(fm, role, cls)
        lhs = _plus(_serving(fm, nic[idx], idx), _shared_term(fm, role, cls, "nic_gb_s"))
        _add(fm, f"{_pre(cls)}{role}-kv_nic-min", "kv_transfer", lhs, ">=", kv * rate,
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


def allow(fm: FleetModel, mask: np.ndarray, *, dominance: bool = True) -> None:
    """Enable only candidates where mask is True (others fixed at zero via their upper bound); an allowed
    candidate dominated by an allowed one is bounded by the dominance (`dominance` False: not)."""
    mask = np.asarray(mask, bool)
    ub = [u if ok else 0 for u, ok in zip(fm.m.x_ub, mask, strict=True)]
    if dominance:
        for i, j, k in fm.dominated:
            if mask[i] and mask[j]:
                ub[i] = k - 1 if ub[i] is None else min(ub[i], k - 1)
    for i, u in enumerate(ub):
        fm.m.x[i].setub(u)


def add_dominance(m, fms: list[FleetModel]) -> None:
    """Find the dominated multiples of the fleets `fms` over the whole program m as built (every row and
    objective, those linking the fleets too) and bound them. The instance-count bounds of a dominating
    configuration must be implied by rows of m (inventory, chip cap), as `_upper_bounds` makes them."""
    xs, owner = [], []
    for b, fm in enumerate(fms):
        xs += _vars(fm.m, range(len(fm.table)))
        owner += [(b, i) for i in range(len(fm.table))]
    rows, sense = dominance.coefficient_rows(m, xs)
    for i, j, k in dominance.dominated_multiples(rows, sense, len(xs)):
        (bi, li), (bj, lj) = owner[i], owner[j]
        if bi == bj:
            fms[bi].dominated.append((li, lj, k))
    for fm in fms:
        allow(fm, np.ones(len(fm.table), bool))


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
    """The program for a pruned candidate table (see module docstring). The KV connector's rows
    (LAZY_FAMILIES) start off and `solve` switches them on when a solution breaks them: they rarely bind, and
    always-on they made some sweeps several times slower."""
    fm = build_block(pyo.ConcreteModel(name="fleet"), table, spec)
    set_lazy(fm)
    add_objectives(fm)
    set_objective(fm, spec.objective)
    add_dominance(fm.m, [fm])
    return fm


def build_block(m, table: pd.DataFrame, spec: MilpSpec, *, fleet_rows: bool = True) -> FleetModel:
    """Variables and constraint families of one fleet into `m` (a model, or a Block of a larger program such as
    one period of planner.optimize.periods), without objectives. fleet_rows False leaves out the inventory, chip,
    power and budget rows, for a caller that writes them over several blocks; inventory and max_chips still
    bound the instance counts."""
    t = table.reset_index(drop=True)
    fm = FleetModel(m=m, table=t, spec=spec)
    ub = _upper_bounds(t, spec)
    m.x_ub = ub
    m.x = pyo.Var(range(len(t)), domain=pyo.NonNegativeIntegers, bounds=lambda _m, i: (0, ub[i]))
    m.lam = pyo.Var(domain=pyo.NonNegativeReals)
    if spec.counts_configurations:
        m.z = pyo.Var(range(len(t)), domain=pyo.Binary)
    for cls in spec.class_names():
        for mode, name in PATHS.items():
            if mode in spec.modes:
                m.add_component(name + ("" if cls is None else f"__{cls}"), pyo.Var(domain=pyo.NonNegativeReals))
    for p in PARAMS:
        m.add_component(p, pyo.Param(mutable=True, initialize=0.0, within=pyo.Reals))

    add_demand(fm)
    if spec.counts_configurations:
        add_configurations_used(fm)
    if spec.spare_instances:
        add_failure_headroom(fm)
    if spec.max_pools is not None:
        add_pool_limit(fm)
    if spec.pd_same_tp:
        add_pd_same_tp(fm)
    if spec.classes:
        add_class_demand(fm)
        _add_shared_loads(fm)
        add_class_sharing(fm)
    for cls in spec.class_names():
        if "disaggregated" in spec.modes and _add_draft_groups(fm, cls):
            add_draft_matching(fm, cls)
        if "disaggregated" in spec.modes or "afd" in spec.modes:
            add_rate_matching(fm, cls)
            add_kv_transfer(fm, cls)
            add_kv_connector(fm, cls)
        if "aggregated" in spec.modes:
            add_aggregated(fm, cls)
        if "afd" in spec.modes:
            add_afd_matching(fm, cls)
    if fleet_rows:
        add_inventory(fm)
        add_power(fm)
        add_budget(fm)
    for p in PARAMS:
        if m.component(PARAM_CONSTRAINT[p]) is not None:
            set_param(fm, p, getattr(spec, p))
    return fm


# Measured on the example scenarios and a 30-point rate sweep (benchmarks/solve_speed.py): these fleet
# programs are small covering knapsacks; HiGHS's RINS/RENS sub-MIPs and root restarts cost more than they
# find (about 1.5x slower with them). Correctness does not depend on them. One thread: the branch and bound is
# sequential (the 30-point throughput sweep is as fast), and a process whose HiGHS never started worker threads
# can be forked (planner.optimize.forked: the Pareto sweeps' points, a schedule's comparison programs).
HIGHS_OPTIONS = {"mip_heuristic_run_rins": False, "mip_heuristic_run_rens": False, "mip_allow_restart": False, "threads": 1}


def _solver():
    from pyomo.contrib.appsi.solvers import Highs

    s = Highs()
    s.config.load_solution = False
    s.config.stream_solver = False
    s.highs_options = dict(HIGHS_OPTIONS)
    return s


LAZY_FAMILIES = ("kv_connector", "pd_same_tp")


def set_lazy(fm: FleetModel) -> None:
    """Switch the lazy families' rows off (LAZY_FAMILIES): `solve` switches a family on when a solution breaks it."""
    for names in fm.lazy_rows.values():
        for n in names:
            fm.m.component(n).deactivate()


def solve(fm, *, time_limit_s: float = 10.0, mip_gap: float = 1e-4, lazy: bool = True) -> SolveStatus:
    """Solve (re-solve) with HiGHS a FleetModel, or a program made of them (`blocks`, planner.optimize.periods);
    loads the incumbent into the model when there is one. A solution that breaks a lazy family whose rows are off
    switches them on and solves again (`lazy` False: never, for a caller that sets rows on and off itself)."""
    st = _solve_once(fm, time_limit_s=time_limit_s, mip_gap=mip_gap)
    parts = list(fm.blocks.values()) if hasattr(fm, "blocks") else [fm]
    while lazy and st.has_solution and (broken := [(b, key) for b in parts for key in lazy_broken(b)]):
        for b, key in broken:
            for n in b.lazy_rows[key]:
                b.m.component(n).activate()
        st = _solve_once(fm, time_limit_s=time_limit_s, mip_gap=mip_gap)
    return st


def _solve_once(fm, *, time_limit_s: float, mip_gap: float) -> SolveStatus:
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
    elif tc in (TC.maxTimeLimit, TC.maxIterations):
        status = "no-solution-in-time"  # stopped without an incumbent: says nothing about feasibility
    elif tc in (TC.infeasible, TC.infeasibleOrUnbounded):
        status = "infeasible"
    elif tc == TC.unbounded:
        status = "unbounded"
    else:
        status = "error"
    return SolveStatus(status, str(tc.name), gap, obj, bound, dt)


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
