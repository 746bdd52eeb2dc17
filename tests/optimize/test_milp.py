"""The fleet MILP against brute force, its properties on real scenarios, diagnosis, docs in step with code.

Real HiGHS everywhere (no solver mocks). Brute force enumerates every integer count vector of small
synthetic coefficient tables.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.analyses import pareto as pareto_mod
from planner.analyses.pareto import pareto
from planner.errors import InfeasibleError, PlannerError
from planner.inputs.scenario import load_scenario, validate_scenario
from planner.optimize import milp
from planner.optimize.coefficients import CoefficientCache, scenario_coefficients
from planner.optimize.prune import prune
from planner.optimize.solve import prepare, solve_scenario

DOCS = Path(__file__).resolve().parents[2] / "docs" / "milp.md"

# ---------------------------------------------------------------- synthetic instances and brute force


def _random_instance(rng: np.random.Generator, objective: str = "min-cost"):
    chips = ["ca", "cb"]
    modes = [("aggregated",), ("disaggregated",), ("aggregated", "disaggregated")][rng.integers(3)]
    roles = [r for m in modes for r in ({"aggregated": ["aggregated"], "disaggregated": ["prefill", "decode"]}[m])]
    price = {"ca": rng.uniform(1, 4), "cb": rng.uniform(1, 4)}
    rows = []
    for role in roles:
        for chip in chips:
            for _ in range(rng.integers(1, 3) if role != "aggregated" else 1):
                n = int(rng.choice([1, 2, 4]))
                rows.append({
                    "role": role, "chip": chip, "chips_per_instance": n,
                    "eff_capacity_rps": rng.uniform(0.7, 4.0) * n ** 0.8,
                    "cost_usd_per_hr": price[chip] * n * rng.uniform(0.9, 1.1),
                    "power_w": 700.0 * n, "nic_gb_s": rng.uniform(0.5, 3.0) * n, "tpot_ms": rng.uniform(5, 50),
                })
    t = pd.DataFrame(rows)
    spec = milp.MilpSpec(modes=modes, objective=objective, kv_gb_per_request=float(rng.choice([0.0, rng.uniform(0.05, 0.8)])))
    lam = float(rng.uniform(1.0, 6.0))
    if objective == "min-cost":
        spec.rate_min = lam
    else:
        spec.budget_usd_per_hr = float(rng.uniform(4, 25))
    if rng.random() < 0.4:
        spec.inventory = {"ca": int(rng.integers(2, 10))}
    if rng.random() < 0.3:
        spec.max_power_kw = float(rng.uniform(2, 10))
    if rng.random() < 0.3 and objective == "min-cost":
        spec.budget_usd_per_hr = float(rng.uniform(5, 40))
    if rng.random() < 0.2:
        spec.max_chips = int(rng.integers(3, 12))
    return t, spec


def _ranges(t: pd.DataFrame, spec: milp.MilpSpec) -> list[range]:
    """Counts worth enumerating: beyond these an instance is never needed (costs are positive)."""
    out = []
    for r in t.itertuples(index=False):
        if spec.rate_min is not None:
            u = math.ceil(spec.rate_min / r.eff_capacity_rps)
            if r.role != "aggregated" and spec.kv_gb_per_request > 0:
                u = max(u, math.ceil(spec.kv_gb_per_request * spec.rate_min / r.nic_gb_s))
        else:
            u = math.floor(spec.budget_usd_per_hr / r.cost_usd_per_hr)
        if r.chip in spec.inventory:
            u = min(u, spec.inventory[r.chip] // r.chips_per_instance)
        if spec.max_chips is not None:
            u = min(u, spec.max_chips // r.chips_per_instance)
        out.append(range(int(u) + 1))
    return out


def _brute_force(t: pd.DataFrame, spec: milp.MilpSpec):
    """(best cost, best rate) over every count vector; None if nothing is feasible."""
    rng = _ranges(t, spec)
    X = np.array(list(itertools.product(*rng)), dtype=float)  # (combos, candidates)
    role = t["role"].to_numpy()
    eff = t["eff_capacity_rps"].to_numpy()
    cap = {r: X[:, role == r] @ eff[role == r] for r in ("prefill", "decode", "aggregated")}
    served = np.zeros(len(X))
    if "aggregated" in spec.modes:
        served += cap["aggregated"]
    if "disaggregated" in spec.modes:
        dis = np.minimum(cap["prefill"], cap["decode"])
        if spec.kv_vendor:  # each vendor's prefill feeds only its own decode
            vendor = t["chip"].map(spec.kv_vendor).to_numpy()
            dis = sum(np.minimum(X[:, (role == "prefill") & (vendor == v)] @ eff[(role == "prefill") & (vendor == v)],
                                 X[:, (role == "decode") & (vendor == v)] @ eff[(role == "decode") & (vendor == v)])
                      for v in set(vendor))
        if spec.kv_gb_per_request > 0:
            nic = t["nic_gb_s"].to_numpy()
            for r in ("prefill", "decode"):
                dis = np.minimum(dis, X[:, role == r] @ nic[role == r] / spec.kv_gb_per_request)
        served += dis
    cost = X @ t["cost_usd_per_hr"].to_numpy()
    chips = X @ t["chips_per_instance"].to_numpy()
    ok = np.ones(len(X), bool)
    if spec.pd_same_tp:  # the P/D pools in use share one TP size
        pd_rows = np.isin(role, ("prefill", "decode"))
        tp = t["tp"].to_numpy()
        sizes = [np.any(X[:, pd_rows & (tp == s)] > 0, axis=1) for s in set(tp[pd_rows])]
        ok &= np.sum(sizes, axis=0) <= 1
    if spec.rate_min is not None:
        ok &= served >= spec.rate_min * (1 - 1e-9)
    if spec.budget_usd_per_hr is not None:
        ok &= cost <= spec.budget_usd_per_hr * (1 + 1e-9)
    if spec.max_power_kw is not None:
        ok &= X @ (t["power_w"].to_numpy() / 1e3) <= spec.max_power_kw * (1 + 1e-9)
    if spec.max_chips is not None:
        ok &= chips <= spec.max_chips
    chip = t["chip"].to_numpy()
    for k, c in spec.inventory.items():
        ok &= X[:, chip == k] @ t["chips_per_instance"].to_numpy()[chip == k] <= c
    if not ok.any():
        return None
    if spec.objective == "min-cost":
        return float(cost[ok].min()), None
    return None, float(served[ok].max())


@pytest.mark.parametrize("seed", range(40))
def test_kv_connector_rules_match_brute_force(seed):
    """Prefill hands its KV only to decode pools of its own vendor (chips of two vendors), and with pd_same_tp
    every P/D pool in use runs one TP size: the program's optimum equals the enumeration's."""
    rng = np.random.default_rng(1000 + seed)
    t, spec = _random_instance(rng)
    spec.modes = ("disaggregated",) if rng.random() < 0.6 else ("aggregated", "disaggregated")
    roles = ["prefill", "decode"] + (["aggregated"] if "aggregated" in spec.modes else [])
    t = t[t["role"].isin(roles)]
    missing = [r for r in roles if r not in set(t["role"])]
    if missing:  # the instance drew no rows of a role the modes need: give it one per chip
        t = pd.concat([t] + [t.iloc[:2].assign(role=r) for r in missing], ignore_index=True)
    t = t.assign(tp=rng.choice([1, 2], size=len(t))).reset_index(drop=True)
    spec.kv_vendor = {"ca": "NVIDIA", "cb": "AMD"}
    spec.pd_same_tp = bool(rng.random() < 0.5)
    expected = _brute_force(t, spec)
    st, cost, lam = _solve_synthetic(t, spec)
    if expected is None:
        assert not st.has_solution
        return
    if spec.objective == "min-cost":
        assert cost == pytest.approx(expected[0], rel=1e-6), (st, spec)
    else:
        assert lam == pytest.approx(expected[1], rel=1e-6)


def test_kv_connector_pairs_nothing_across_vendors_on_a_real_scenario():
    """heterogeneous-inventory (vLLM on H100, B200 and MI300X): each vendor's prefill pools carry exactly the
    load its decode pools carry, and the rule is said in the notes."""
    res = solve_scenario(load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "heterogeneous-inventory.yaml"),
                         cache=CACHE)
    pools = res.pools
    vendor = pools["chip"].map(lambda c: "AMD" if c.startswith("mi") else "NVIDIA")
    for v in ("AMD", "NVIDIA"):
        p = pools.loc[(pools["role"] == "prefill") & (vendor == v), "load_rps"].sum()
        d = pools.loc[(pools["role"] == "decode") & (vendor == v), "load_rps"].sum()
        assert p == pytest.approx(d, rel=1e-6) and p > 0, v
        cap = pools.loc[(pools["role"] == "decode") & (vendor == v), "capacity_rps"].sum()
        assert d <= cap + 1e-9
    assert any("KV connector" in n and "same vendor" in n for n in res.summary["notes"])


def _solve_synthetic(t, spec):
    fm = milp.build(t, spec)
    st = milp.solve(fm, time_limit_s=30, mip_gap=0.0)
    if not st.has_solution:
        return st, None, None
    x = milp.counts(fm)
    return st, float(x @ t["cost_usd_per_hr"].to_numpy()), milp.value(fm, "lam")


@pytest.mark.parametrize("seed", range(60))
def test_min_cost_matches_brute_force(seed):
    t, spec = _random_instance(np.random.default_rng(seed))
    expected = _brute_force(t, spec)
    st, cost, lam = _solve_synthetic(t, spec)
    if expected is None:
        assert st.status == "infeasible"
        return
    assert st.status == "optimal", st
    assert cost == pytest.approx(expected[0], rel=1e-6)
    assert lam >= spec.rate_min * (1 - 1e-6)


@pytest.mark.parametrize("seed", range(100, 125))
def test_max_throughput_matches_brute_force(seed):
    t, spec = _random_instance(np.random.default_rng(seed), objective="max-throughput")
    expected = _brute_force(t, spec)
    st, cost, lam = _solve_synthetic(t, spec)
    assert st.status == "optimal", st
    best = expected[1] if expected else 0.0
    assert lam == pytest.approx(best, rel=1e-6, abs=1e-7)
    assert cost <= spec.budget_usd_per_hr * (1 + 1e-9)


def _ladder_instance(rng: np.random.Generator, objective: str):
    """Instances of 1, 2 and 4 chips with capacity growing faster than the chips (as TP groups do), aggregated on
    two chips or disaggregated on one: most smaller sizes are dominated by a larger one
    (planner.optimize.dominance), some are not. Two ladders of three, so brute force stays small."""
    aggregated = rng.random() < 0.5
    ladders = [("aggregated", "ca"), ("aggregated", "cb")] if aggregated else [("prefill", "ca"), ("decode", "ca")]
    price = {"ca": rng.uniform(1, 3), "cb": rng.uniform(1, 3)}
    rows = []
    for role, chip in ladders:
        base = rng.uniform(1.0, 2.0)
        for n in (1, 2, 4):
            rows.append({"role": role, "chip": chip, "chips_per_instance": n,
                         "eff_capacity_rps": base * n ** rng.uniform(0.9, 1.3), "cost_usd_per_hr": price[chip] * n,
                         "power_w": 700.0 * n, "nic_gb_s": 2.0 * n, "tpot_ms": 20.0})
    spec = milp.MilpSpec(modes=("aggregated",) if aggregated else ("disaggregated",), objective=objective)
    if objective == "min-cost":
        spec.rate_min = float(rng.uniform(2.0, 6.0))
    else:
        spec.budget_usd_per_hr = float(rng.uniform(6, 12))
    spec.inventory = {"ca": int(rng.integers(3, 9))}
    return pd.DataFrame(rows), spec


@pytest.mark.parametrize("seed", range(20))
def test_dominance_bounds_keep_the_optimum(seed):
    """With the dominated multiples bounded, the program still finds the brute-force optimum, both objectives."""
    objective = "min-cost" if seed % 2 == 0 else "max-throughput"
    t, spec = _ladder_instance(np.random.default_rng(seed), objective)
    assert milp.build(t, spec).dominated  # the case under test: some bounds apply
    expected = _brute_force(t, spec)
    st, cost, lam = _solve_synthetic(t, spec)
    if expected is None:
        assert st.status == "infeasible"
    elif objective == "min-cost":
        assert cost == pytest.approx(expected[0], rel=1e-6)
    else:
        assert lam == pytest.approx(expected[1], rel=1e-6, abs=1e-7)


def test_pools_mix_chips():
    """Decode on two chip types at once when the cheaper one runs out."""
    t = pd.DataFrame({
        "role": ["aggregated", "aggregated"], "chip": ["cheap", "dear"], "chips_per_instance": [1, 1],
        "eff_capacity_rps": [1.0, 1.0], "cost_usd_per_hr": [1.0, 2.0], "power_w": [700.0, 700.0],
        "nic_gb_s": [50.0, 50.0], "tpot_ms": [20.0, 20.0],
    })
    spec = milp.MilpSpec(modes=("aggregated",), rate_min=5.0, inventory={"cheap": 3})
    st, cost, _ = _solve_synthetic(t, spec)
    assert st.status == "optimal" and cost == pytest.approx(3 * 1.0 + 2 * 2.0)


def test_non_optimal_is_never_called_optimal():
    rng = np.random.default_rng(7)
    n = 120
    t = pd.DataFrame({
        "role": ["aggregated"] * n, "chip": [f"c{i % 6}" for i in range(n)], "chips_per_instance": rng.integers(1, 9, n),
        "eff_capacity_rps": rng.uniform(3, 50, n), "cost_usd_per_hr": rng.uniform(2, 40, n), "power_w": 700.0,
        "nic_gb_s": 50.0, "tpot_ms": 20.0,
    })
    fm = milp.build(t, milp.MilpSpec(modes=("aggregated",), rate_min=2345.6))
    st = milp.solve(fm, time_limit_s=0.02, mip_gap=0.0)
    assert st.status in ("optimal", "time-limit", "error")
    if st.status == "optimal":
        assert st.mip_gap is not None and st.mip_gap <= 1e-6
    if st.status == "time-limit":
        assert st.termination != "optimal"


# ---------------------------------------------------------------- real scenarios: properties

BASE = {
    "name": "prop", "model": "llama-3.1-70b", "precision": {"weights": "fp8"},
    "workload": {"arrival_rate_rps": 10, "isl": 2048, "osl": 256},
    "slo": {"ttft_ms": 1000, "tpot_ms": 40},
    "chips": [{"id": "h100-sxm"}, {"id": "h200-sxm"}, {"id": "b200"}, {"id": "mi300x"}],
    "search": {"pipeline_parallel": [1], "max_chips_per_instance": 8},
    "solver": {"mip_gap": 0.0},
    "margin": 0.0,
}
CACHE = CoefficientCache()


def _sc(**over):
    d = {**BASE, **over}
    return validate_scenario(d)


def _cost(**over) -> float | None:
    try:
        return solve_scenario(_sc(**over), cache=CACHE).summary["cost_usd_per_hr"]
    except InfeasibleError:
        return None


def test_heterogeneous_never_dearer_than_best_single_chip():
    full = _cost()
    singles = [c for c in (_cost(chips=[ch]) for ch in BASE["chips"]) if c is not None]
    assert singles and full is not None
    assert full <= min(singles) * (1 + 1e-9)


def test_higher_rate_never_cheaper():
    costs = [_cost(workload={**BASE["workload"], "arrival_rate_rps": r}) for r in (1, 3, 10, 25, 60)]
    assert all(c is not None for c in costs)
    assert all(b >= a * (1 - 1e-9) for a, b in zip(costs, costs[1:], strict=False))


def test_tighter_slo_never_cheaper():
    tpot = [_cost(slo={"ttft_ms": 1000, "tpot_ms": v}) for v in (80, 40, 25, 15)]
    ttft = [_cost(slo={"ttft_ms": v, "tpot_ms": 40}) for v in (4000, 1000, 500, 300)]
    for seq in (tpot, ttft):
        feasible = [c for c in seq if c is not None]
        assert len(feasible) >= 3
        assert all(b >= a * (1 - 1e-9) for a, b in zip(feasible, feasible[1:], strict=False))
        assert seq[: len(feasible)] == feasible  # once infeasible, tighter stays infeasible


def test_margin_is_never_cheaper_and_reported():
    a = solve_scenario(_sc(), cache=CACHE, margin=0.0)
    b = solve_scenario(_sc(), cache=CACHE, margin=0.25)
    assert a.summary["margin"]["capacity"] == 0.0 and b.summary["margin"]["tpot"] == 0.25
    assert b.summary["margin"]["basis"] == "--margin"
    assert b.summary["cost_usd_per_hr"] >= a.summary["cost_usd_per_hr"]
    assert _sc(margin=0.25).margin == 0.25  # the scenario key is a fraction too
    c = solve_scenario(_sc(margin=0.25), cache=CACHE)
    assert c.summary["cost_usd_per_hr"] == pytest.approx(b.summary["cost_usd_per_hr"])


def test_result_shape_and_pickle():
    r = solve_scenario(_sc(), cache=CACHE)
    s = r.summary
    for k in ("status", "mip_gap", "cost_usd_per_hr", "num_chips", "throughput_rps", "ttft_ms", "tpot_ms", "power_kw",
              "pools", "mode", "margin", "binding_constraints"):
        assert k in s
    assert s["status"] == "optimal" and s["ttft_ms"] <= 1000 and s["tpot_ms"] <= 40
    assert s["cost_usd_per_hr"] == pytest.approx(r.pools["cost_usd_per_hr"].sum())
    for p in s["pools"]:
        assert set(p) >= {"role", "chip", "instances", "chips_per_instance", "tp", "ep", "pp", "dp", "batch", "ttft_ms",
                          "tpot_ms", "capacity_rps", "utilization", "cost_usd_per_hr"}
        assert p["utilization"] <= p["max_utilization"] + 1e-9
    back = pickle.loads(pickle.dumps(r))
    assert back.summary["cost_usd_per_hr"] == s["cost_usd_per_hr"]
    pd.testing.assert_frame_equal(back.pools, r.pools)


def test_price_applied_after_cache():
    cache = CoefficientCache()
    a = solve_scenario(_sc(chips=[{"id": "h100-sxm", "price_usd_per_hr": 2.0}]), cache=cache)
    b = solve_scenario(_sc(chips=[{"id": "h100-sxm", "price_usd_per_hr": 4.0}]), cache=cache)
    assert cache.misses == 1 and cache.hits == 1
    assert b.summary["cost_usd_per_hr"] == pytest.approx(2 * a.summary["cost_usd_per_hr"])


def test_frontiers_are_monotone(monkeypatch):
    builds = []
    real_build = milp.build
    monkeypatch.setattr(pareto_mod.milp, "build", lambda *a, **k: builds.append(1) or real_build(*a, **k))
    sc = _sc(chips=[{"id": "h100-sxm", "max_count": 64}, {"id": "b200", "max_count": 64}])
    tp = pareto(sc, sweep="tpot", points=8, cache=CACHE)
    assert len(builds) == 1  # one persistent model for every epsilon
    pts = tp.points
    assert len(pts) >= 2
    assert (np.diff(pts["tok_s_per_user"]) > 0).all() and (np.diff(pts["cost_usd_per_mtok"]) > 0).all()
    solved = tp.all_points[tp.all_points["status"] == "optimal"].sort_values("epsilon")
    assert (np.diff(solved["cost_usd_per_hr"]) <= 1e-9).all()  # looser TPOT bound: never dearer
    th = pareto(sc, sweep="throughput", points=5, cache=CACHE)
    assert (np.diff(th.points["cost_usd_per_hr"]) > 0).all() and (np.diff(th.points["throughput_rps"]) > 0).all()
    bu = pareto(_sc(objective="max-throughput", budget_usd_per_hr=60), sweep="budget", points=5, cache=CACHE)
    assert (np.diff(bu.points["throughput_rps"]) > 0).all() and (bu.points["cost_usd_per_hr"] <= 60 + 1e-6).all()


@pytest.mark.parametrize("sweep", ["tpot", "throughput"])
def test_points_over_two_processes_are_the_points_of_one(sweep):
    """The sweep's points solved by two forked workers: every epsilon, status and cost as in one process (each
    point at the proven optimum, mip_gap 0)."""
    sc = _sc(chips=[{"id": "h100-sxm", "max_count": 32}, {"id": "b200", "max_count": 16}])
    one = pareto(sc, sweep=sweep, points=6, cache=CACHE, mip_gap=0.0).all_points
    two = pareto(sc, sweep=sweep, points=6, cache=CACHE, mip_gap=0.0, workers=2).all_points
    assert two["epsilon"].tolist() == one["epsilon"].tolist()
    assert two["status"].tolist() == one["status"].tolist()
    np.testing.assert_allclose(two["cost_usd_per_hr"].to_numpy(float), one["cost_usd_per_hr"].to_numpy(float), rtol=1e-9)


def test_points_stopped_at_the_time_limit_are_named():
    pts = pd.DataFrame({"status": ["optimal", "time-limit", "time-limit", "within-gap"],
                        "mip_gap": [0.0, 0.0012, 0.0017, 1e-4]})
    (line,) = pareto_mod.time_limit_warnings(pts, 10.0)
    assert line.startswith("2 point(s) stopped at the 10 s time limit, proven gaps up to 0.17%")
    assert "--mip-gap" in line and "--time-limit" in line
    assert pareto_mod.time_limit_warnings(pts[pts["status"] != "time-limit"], 10.0) == []


@pytest.mark.parametrize("rate,caps", [(0.7, None), (4.0, None), (13.0, (8, 4)), (31.0, (16, 8))])
def test_pruning_keeps_the_optimum(rate, caps, pruned_and_full):
    """Dominance pruning is exact: the same optimum with every candidate that passes the SLO."""
    chips = [{"id": "h100-sxm"}, {"id": "mi300x"}]
    if caps:
        chips = [{**c, "max_count": m} for c, m in zip(chips, caps, strict=True)]
    sc = _sc(chips=chips, workload={**BASE["workload"], "arrival_rate_rps": rate},
             search={"pipeline_parallel": [1, 2], "max_chips_per_instance": 8})
    prep, full, costs, statuses = pruned_and_full(sc, CACHE)
    assert len(full) > 3 * len(prep.table)
    assert statuses == ["optimal", "optimal"]
    assert costs[0] == pytest.approx(costs[1], rel=1e-9)


def test_tpot_front_pruning_keeps_the_optimum_under_a_tpot_bound():
    sc = _sc(chips=[{"id": "h100-sxm"}, {"id": "b200"}], workload={**BASE["workload"], "arrival_rate_rps": 6.0})
    prep = prepare(sc, cache=CACHE, keep_tpot_front=True)
    full = prune(scenario_coefficients(sc, cache=CACHE), dataclasses.replace(prep.settings, dominance=False)).table
    full = full[full["role"].astype(str).isin(prep.table["role"].astype(str).unique())]
    for bound in (12.0, 20.0, 40.0):
        costs = []
        for table in (prep.table, full):
            fm = milp.build(table, dataclasses.replace(prep.spec))
            t = fm.table
            milp.allow(fm, (t["role"].astype(str) == "prefill").to_numpy() | (t["tpot_ms"].to_numpy() <= bound))
            st = milp.solve(fm, time_limit_s=60, mip_gap=0.0)
            costs.append(float(milp.counts(fm) @ t["cost_usd_per_hr"].to_numpy()) if st.has_solution else None)
        assert costs[0] is not None and costs[0] == pytest.approx(costs[1], rel=1e-9), bound


def test_max_throughput_respects_limits():
    r = solve_scenario(_sc(objective="max-throughput", budget_usd_per_hr=50, max_power_kw=12), cache=CACHE)
    s = r.summary
    assert s["cost_usd_per_hr"] <= 50 + 1e-6 and s["power_kw"] <= 12 + 1e-6 and s["throughput_rps"] > 0
    assert {"fleet-budget-max", "fleet-power-max"} & set(s["binding_constraints"])


# ---------------------------------------------------------------- infeasibility diagnosis


def test_unreachable_tpot_reports_lowest():
    with pytest.raises(InfeasibleError) as e:
        solve_scenario(_sc(slo={"ttft_ms": 1000, "tpot_ms": 0.5}), cache=CACHE)
    assert e.value.exit_code == 1 and e.value.field == "slo.tpot_ms"
    best = float(re.search(r"lowest TPOT these chips reach is ([\d.]+) ms", str(e.value)).group(1))
    assert best > 0.5
    ok = solve_scenario(_sc(slo={"tpot_ms": best * 1.02}), cache=CACHE)  # the nearest feasible value is feasible
    assert ok.summary["tpot_ms"] <= best * 1.02


def test_unreachable_ttft_names_ttft():
    with pytest.raises(InfeasibleError) as e:
        solve_scenario(_sc(slo={"ttft_ms": 5, "tpot_ms": 40}), cache=CACHE)
    assert e.value.field == "slo.ttft_ms" and "lowest" in str(e.value)


def test_inventory_reports_highest_rate():
    chips = [{"id": "h100-sxm", "max_count": 8}, {"id": "b200", "max_count": 4}]
    with pytest.raises(InfeasibleError) as e:
        solve_scenario(_sc(chips=chips, workload={**BASE["workload"], "arrival_rate_rps": 5000}), cache=CACHE)
    assert e.value.field == "workload.arrival_rate_rps"
    best = float(re.search(r"limits allow under the SLO is ([\d.e+]+) requests/s", str(e.value)).group(1))
    ok = solve_scenario(_sc(chips=chips, workload={**BASE["workload"], "arrival_rate_rps": best * 0.999}), cache=CACHE)
    assert ok.summary["num_chips"] <= 12
    with pytest.raises(InfeasibleError):
        solve_scenario(_sc(chips=chips, workload={**BASE["workload"], "arrival_rate_rps": best * 1.01}), cache=CACHE)


def test_budget_below_cheapest_fleet():
    with pytest.raises(InfeasibleError) as e:
        solve_scenario(_sc(objective="max-throughput", budget_usd_per_hr=0.5), cache=CACHE)
    assert "cheapest fleet" in str(e.value) and e.value.field == "budget_usd_per_hr"


def test_max_throughput_needs_a_limit():
    with pytest.raises(PlannerError) as e:
        solve_scenario(_sc(), objective="max-throughput", cache=CACHE)
    assert e.value.exit_code == 2 and not isinstance(e.value, InfeasibleError)


# ---------------------------------------------------------------- docs/milp.md in step with milp.py


def test_docs_name_every_constraint_family_in_code():
    text = DOCS.read_text()
    documented = set(re.findall(r"`(add_[a-z_]+)`", text))
    in_code = {n for n in dir(milp) if n.startswith("add_") and callable(getattr(milp, n))}
    assert documented == in_code, (documented ^ in_code)
    t, spec = _random_instance(np.random.default_rng(1))
    spec.modes, spec.inventory = ("aggregated", "disaggregated", "afd"), {"ca": 4}
    t = pd.concat([t, t.assign(role="prefill"), t.assign(role="decode"), t.assign(role="aggregated"),
                   t.assign(role="attention", afd_level="afd0m2", ffn_tokens=8.0),
                   t.assign(role="ffn", afd_level="afd0m2", ffn_tokens=16.0),
                   t.assign(role="decode", spec_tokens=2, draft_level="d0", draft_tokens_per_req=100.0),
                   t.assign(role="draft", draft_level="d0", draft_tokens_s=500.0)])
    names = set(re.findall(r"`((?:\{[a-z]+\}-)*[a-z{}_]+-[a-z_]+-(?:min|max|split))`", text))
    built = set()
    two = t.assign(**{"class": "chat"})
    two = pd.concat([two, two.assign(**{"class": "code"})])
    shared = t[t["role"].isin(["prefill", "decode", "aggregated"]) & (t["draft_level"].fillna("") == "")
               if "draft_level" in t else t["role"].isin(["prefill", "decode", "aggregated"])]
    shared = shared.assign(**{"class": "chat+code", "shared": True, "eff__chat": shared["eff_capacity_rps"],
                              "eff__code": 0.5 * shared["eff_capacity_rps"]})
    two_shared = pd.concat([two, shared])
    two_spec = dataclasses.replace(spec, classes={"chat": 0.5, "code": 0.5}, kv_gb_per_request={"chat": 0.1, "code": 0.2})
    for table, sp in ((t, spec), (two, two_spec), (two_shared, two_spec)):
        fm = milp.build(table, sp)
        for n in fm.constraints:
            n = n.replace("ca-", "{chip}-")
            n = re.sub(r"^(chat|code)-", "{class}-", n)
            n = re.sub(r"(^|-)afd\d+m\d+-", r"\1{level}-", n)
            n = re.sub(r"(^|-)d\d+g\d+-", r"\1{group}-", n)
            n = re.sub(r"(^|-)d\d+-draft-", r"\1{level}-draft-", n)
            n = re.sub(r"^cand\d+-", "{cand}-", n)
            built.add(n)
        for fam in {r.family for r in fm.constraints.values()}:
            assert f"add_{fam}" in in_code
    spare = milp.build(t, dataclasses.replace(spec, spare_instances=1, max_pools=2))  # N+k and pool-limit rows
    built |= {re.sub(r"^cand\d+-", "cand{i}-", n) for n in spare.constraints
              if n.startswith("cand") or n.endswith("-pools-max")}
    kv = milp.build(t.assign(tp=[1, 2] * (len(t) // 2) + [1] * (len(t) % 2)),
                    dataclasses.replace(spec, kv_vendor={"ca": "NVIDIA", "cb": "AMD"}, pd_same_tp=True))
    built |= {re.sub(r"^cand\d+-", "cand{i}-", re.sub(r"^(nvidia|amd)-", "{vendor}-", n)) for n in kv.constraints
              if milp_family(kv, n) in ("kv_connector", "pd_same_tp")}
    built |= _period_row_names(t, spec)
    # per-class copies of documented rows (`chat-prefill-rate-min`) are documented once, unprefixed
    built = {n[len("{class}-"):] if n.startswith("{class}-") and n[len("{class}-"):] in built | names else n for n in built}
    assert names == built, names ^ built


def milp_family(fm, name: str) -> str:
    return fm.constraints[name].family


def _period_row_names(t: pd.DataFrame, spec) -> set[str]:
    """The constraint names of a plan over periods (planner.optimize.periods) with every limit set, generalized."""
    from types import SimpleNamespace

    from planner.inputs.demand import DemandTable
    from planner.optimize import periods
    from planner.optimize.pricing import PRICE_COLUMNS

    agg = t[t["role"] == "aggregated"].reset_index(drop=True)
    prep = SimpleNamespace(table=agg, spec=dataclasses.replace(spec, modes=("aggregated",), inventory={}))
    unit = periods.Unit("m", prep, DemandTable(pd.DataFrame({"default": [1.0, 2.0]}), 1.0, "test"))
    prices = pd.DataFrame([{"chip": c, "on_demand_usd_per_hr": 2.0, "reserved_usd_per_hr": 1.0, "spot_usd_per_hr": 1.0,
                            "spot_max_count": 4.0, "preemption_headroom": 0.2, "owned_max_count": 2.0,
                            "owned_fixed_usd_per_hr": 0.5, "owned_energy_usd_per_hr": 0.1, "max_count": 50.0,
                            "power_kw": 0.7} for c in sorted(set(agg["chip"].astype(str)))],
                          columns=PRICE_COLUMNS).set_index("chip", drop=False)
    limits = periods.Limits(budget_usd_per_hr=100.0, max_chips=40, max_power_kw=100.0, max_starts_per_period=3,
                            min_hold_periods=2)
    pm = periods.build([unit], prices, np.ones(2), limits)
    out = set()
    for n in pm.constraints:
        n = re.sub(r"^[a-z0-9]+-p\d+-", "{chip}-p{p}-", n) if not n.startswith(("p", "u")) else n
        n = re.sub(r"^p\d+-", "p{p}-", n)
        n = re.sub(r"^u\d+-cand\d+-p\d+-", "u{j}-cand{i}-p{p}-", n)
        out.add(n)
    return {n for n in out if not n.startswith("u{j}")}


def test_default_margins_are_the_held_out_ones_for_the_offered_chips():
    from planner.optimize.uncertainty import MARGIN_METRICS, chip_family, planning_margins

    sc = validate_scenario({k: v for k, v in BASE.items() if k != "margin"})
    got = solve_scenario(sc, cache=CACHE).summary["margin"]
    per_family = [planning_margins().of_family(chip_family(c.id)) for c in sc.chips]
    assert {m: got[m] for m in MARGIN_METRICS} == pytest.approx({m: max(f[m] for f in per_family) for m in MARGIN_METRICS})
    assert "held-out" in got["basis"]


@pytest.mark.parametrize("seed", range(12))
def test_the_best_distinct_fleets_match_brute_force(seed):
    """`--top`: the k-th fleet costs the k-th smallest of the cheapest fleet per set of configurations used
    (brute force over every count vector, grouped by which candidates it uses)."""
    from planner.optimize.top import distinct_fleets

    t, spec = _random_instance(np.random.default_rng(seed))
    spec.budget_usd_per_hr = spec.max_power_kw = spec.max_chips = None  # demand and inventory only
    rng = _ranges(t, spec)
    X = np.array(list(itertools.product(*rng)), dtype=float)
    role = t["role"].to_numpy()
    eff = t["eff_capacity_rps"].to_numpy()
    served = np.zeros(len(X))
    if "aggregated" in spec.modes:
        served += X[:, role == "aggregated"] @ eff[role == "aggregated"]
    if "disaggregated" in spec.modes:
        dis = np.minimum(X[:, role == "prefill"] @ eff[role == "prefill"], X[:, role == "decode"] @ eff[role == "decode"])
        if spec.kv_gb_per_request > 0:
            nic = t["nic_gb_s"].to_numpy()
            for r in ("prefill", "decode"):
                dis = np.minimum(dis, X[:, role == r] @ nic[role == r] / spec.kv_gb_per_request)
        served += dis
    ok = served >= spec.rate_min * (1 - 1e-9)
    chip = t["chip"].to_numpy()
    for k, c in spec.inventory.items():
        ok &= X[:, chip == k] @ t["chips_per_instance"].to_numpy()[chip == k] <= c
    if not ok.any():
        return
    cost = X[ok] @ t["cost_usd_per_hr"].to_numpy()
    support = ["".join("1" if v else "0" for v in r) for r in (X[ok] > 0)]
    per_support = pd.Series(cost).groupby(support).min().sort_values().to_numpy()
    fm = milp.build(t, spec)
    got = []
    for _st in distinct_fleets(fm, 4, float(per_support[0]), time_limit_s=30, mip_gap=0.0):
        got.append(float(milp.counts(fm) @ t["cost_usd_per_hr"].to_numpy()))
    k = min(4, len(per_support))
    assert got[:k] == pytest.approx(list(per_support[:k]), rel=1e-6)
