"""The new MILP families (traffic classes, AFD matching) against brute force on small random instances."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pandas as pd
import pytest

from planner.optimize import milp


def _instance(rng: np.random.Generator, objective: str = "min-cost"):
    classes = ["chat", "code"] if rng.random() < 0.6 else [None]
    modes = [("afd",), ("aggregated", "afd"), ("disaggregated", "afd"), ("aggregated", "disaggregated")][rng.integers(4)]
    roles = {"aggregated": ["aggregated"], "disaggregated": ["prefill", "decode"], "afd": ["prefill", "attention", "ffn"]}
    rows = []
    for cls in classes:
        want = list(dict.fromkeys(r for m in modes for r in roles[m]))
        for role in want:
            for _ in range(1 if (cls is not None or role in ("aggregated", "ffn")) else rng.integers(1, 3)):
                n = int(rng.choice([1, 2, 4]))
                chip = str(rng.choice(["ca", "cb"]))
                level = str(rng.choice(["afd0", "afd1"])) if role in ("attention", "ffn") else ""
                rows.append({
                    "role": role, "chip": chip, "chips_per_instance": n, "class": cls or "default",
                    "eff_capacity_rps": rng.uniform(0.7, 4.0) * n ** 0.8 if role != "ffn" else 0.0,
                    "cost_usd_per_hr": {"ca": 2.0, "cb": 3.1}[chip] * n * rng.uniform(0.9, 1.1),
                    "power_w": 700.0 * n, "nic_gb_s": rng.uniform(0.5, 3.0) * n, "tpot_ms": 20.0,
                    "afd_level": level,
                    "ffn_tokens": (rng.uniform(20, 60) * n if role == "ffn" else rng.uniform(10, 40)) if level else 0.0,
                })
        if "afd" in modes:  # every class with AFD gets an FFN row per level, so both cadences are usable
            for level in ("afd0", "afd1"):
                rows.append({"role": "ffn", "chip": "ca", "chips_per_instance": 2, "class": cls or "default",
                             "eff_capacity_rps": 0.0, "cost_usd_per_hr": 4.1, "power_w": 1400.0, "nic_gb_s": 2.0,
                             "tpot_ms": 20.0, "afd_level": level, "ffn_tokens": rng.uniform(30, 90)})
    t = pd.DataFrame(rows)
    shares = None
    if classes != [None]:
        r = rng.uniform(0.3, 1.0, 2)
        shares = {"chat": float(r[0] / r.sum()), "code": float(r[1] / r.sum())}
        kv = {"chat": float(rng.uniform(0.0, 0.5)), "code": float(rng.uniform(0.0, 0.5))}
    else:
        kv = float(rng.choice([0.0, rng.uniform(0.05, 0.5)]))
    spec = milp.MilpSpec(modes=modes, objective=objective, classes=shares, kv_gb_per_request=kv)
    if objective == "min-cost":
        spec.rate_min = float(rng.uniform(0.5, 3.0))
    else:
        spec.budget_usd_per_hr = float(rng.uniform(8, 24))
    if rng.random() < 0.3:
        spec.inventory = {"ca": int(rng.integers(4, 10))}
    return t, spec


def _served(X, t, spec, cls):
    """Requests/s class `cls` can get from count vectors X (rows), and whether the FFN matching holds."""
    role = t["role"].to_numpy()
    sel_c = t["class"].to_numpy() == (cls or "default")
    eff, nic = t["eff_capacity_rps"].to_numpy(), t["nic_gb_s"].to_numpy()

    def cap(r, col=eff):
        s = sel_c & (role == r)
        return X[:, s] @ col[s]

    kv = spec.kv_gb(cls)
    big = 1e18
    out = np.zeros(len(X))
    if "aggregated" in spec.modes:
        out += cap("aggregated")
    pre = np.minimum(cap("prefill"), cap("prefill", nic) / kv if kv > 0 else big)
    back = np.zeros(len(X))
    if "disaggregated" in spec.modes:
        back += np.minimum(cap("decode"), cap("decode", nic) / kv if kv > 0 else big)
    ok = np.ones(len(X), bool)
    if "afd" in spec.modes:
        back += cap("attention")
        lev, tok = t["afd_level"].to_numpy(), t["ffn_tokens"].to_numpy()
        for level in ("afd0", "afd1"):
            f = sel_c & (role == "ffn") & (lev == level)
            a = sel_c & (role == "attention") & (lev == level)
            ok &= X[:, f] @ tok[f] >= X[:, a] @ tok[a] - 1e-9
    if "disaggregated" in spec.modes or "afd" in spec.modes:
        out += np.minimum(pre, back)
    return out, ok


def _brute(t, spec):
    cost_v = t["cost_usd_per_hr"].to_numpy()
    ub = []
    for r in t.itertuples(index=False):
        u = 3
        if spec.budget_usd_per_hr is not None:
            u = min(u, math.floor(spec.budget_usd_per_hr / r.cost_usd_per_hr))
        ub.append(range(u + 1))
    X = np.array(list(itertools.product(*ub)), float)
    ok = np.ones(len(X), bool)
    lam = np.full(len(X), np.inf)
    for cls in spec.class_names():
        served, good = _served(X, t, spec, cls)
        ok &= good
        share = 1.0 if cls is None else spec.classes[cls]
        lam = np.minimum(lam, served / share)
    cost = X @ cost_v
    if spec.rate_min is not None:
        ok &= lam >= spec.rate_min * (1 - 1e-9)
    if spec.budget_usd_per_hr is not None:
        ok &= cost <= spec.budget_usd_per_hr * (1 + 1e-9)
    chip = t["chip"].to_numpy()
    for k, c in spec.inventory.items():
        ok &= X[:, chip == k] @ t["chips_per_instance"].to_numpy()[chip == k] <= c
    if not ok.any():
        return None, X
    return (float(cost[ok].min()) if spec.objective == "min-cost" else float(lam[ok].max())), X


def _feasible_within_enumeration(t, spec, x) -> bool:
    return all(v <= 3 for v in x)


@pytest.mark.parametrize("seed", range(30))
def test_classes_and_afd_min_cost_match_brute_force(seed):
    t, spec = _instance(np.random.default_rng(1000 + seed))
    if len(t) > 8:
        t = t.iloc[:8]
    expected, _ = _brute(t, spec)
    fm = milp.build(t, spec)
    st = milp.solve(fm, time_limit_s=30, mip_gap=0.0)
    if expected is None:  # nothing within the enumeration: the MILP may only find a larger fleet
        assert st.status == "infeasible" or not _feasible_within_enumeration(t, spec, milp.counts(fm))
        return
    assert st.status == "optimal", st
    x = milp.counts(fm)
    assert float(x @ t["cost_usd_per_hr"].to_numpy()) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("seed", range(12))
def test_classes_and_afd_max_throughput_match_brute_force(seed):
    t, spec = _instance(np.random.default_rng(2000 + seed), objective="max-throughput")
    if len(t) > 8:
        t = t.iloc[:8]
    expected, _ = _brute(t, spec)
    fm = milp.build(t, spec)
    st = milp.solve(fm, time_limit_s=30, mip_gap=0.0)
    assert st.status == "optimal"
    x = milp.counts(fm)
    if _feasible_within_enumeration(t, spec, x):
        assert milp.value(fm, "lam") == pytest.approx(expected or 0.0, rel=1e-6, abs=1e-7)
    else:  # the optimum uses more instances than enumerated: it can only be better
        assert milp.value(fm, "lam") >= (expected or 0.0) * (1 - 1e-6)


def test_class_demand_by_hand():
    """Two classes on dedicated aggregated instances: 3 rps of chat (cap 1/instance, $1) and 1 rps of code
    (cap 0.5/instance, $2): 3 x $1 + 2 x $2 = $7/h; the mix is fixed: lam = 4, chat 3, code 1."""
    t = pd.DataFrame({"role": ["aggregated", "aggregated"], "chip": ["c", "c"], "chips_per_instance": [1, 1],
                      "class": ["chat", "code"], "eff_capacity_rps": [1.0, 0.5], "cost_usd_per_hr": [1.0, 2.0],
                      "power_w": [1.0, 1.0], "nic_gb_s": [1.0, 1.0], "tpot_ms": [10.0, 10.0]})
    spec = milp.MilpSpec(modes=("aggregated",), rate_min=4.0, classes={"chat": 0.75, "code": 0.25})
    fm = milp.build(t, spec)
    assert milp.solve(fm, mip_gap=0.0).status == "optimal"
    assert list(milp.counts(fm)) == [3, 2]
    assert milp.value(fm, "lam_agg__chat") == pytest.approx(3.0) and milp.value(fm, "lam_agg__code") == pytest.approx(1.0)
    assert {"chat-demand-split", "code-demand-split", "chat-aggregated-rate-min"} <= set(fm.constraints)


def test_afd_matching_by_hand():
    """Attention instance: 2 rps, sends 48 tokens per layer cycle; FFN instance: 40 tokens per cycle. 3 rps
    need 2 attention instances (96 tokens) and 3 FFN instances (120 >= 96): 2 x $1 + 3 x $1.5 + prefill."""
    t = pd.DataFrame({"role": ["prefill", "attention", "ffn"], "chip": ["c"] * 3, "chips_per_instance": [1, 1, 1],
                      "eff_capacity_rps": [10.0, 2.0, 0.0], "cost_usd_per_hr": [1.0, 1.0, 1.5], "power_w": 1.0,
                      "nic_gb_s": 1.0, "tpot_ms": 10.0, "afd_level": ["", "afd0", "afd0"], "ffn_tokens": [0.0, 48.0, 40.0]})
    fm = milp.build(t, milp.MilpSpec(modes=("afd",), rate_min=3.0))
    assert milp.solve(fm, mip_gap=0.0).status == "optimal"
    assert list(milp.counts(fm)) == [1, 2, 3]
    assert "afd0-ffn-tokens-min" in fm.constraints and "attention-rate-min" in fm.constraints


# ---------------------------------------------------------------- speculative decoding with a draft pool


def _draft_instance(rng: np.random.Generator, objective: str = "min-cost"):
    """Prefill, plain decode and draft-fed decode rows (levels d0/d1, gamma 1-3) and draft rows."""
    rows = []

    def row(role, n, cap, **kw):
        chip = str(rng.choice(["ca", "cb"]))
        rows.append({"role": role, "chip": chip, "chips_per_instance": n, "eff_capacity_rps": cap,
                     "cost_usd_per_hr": {"ca": 2.0, "cb": 3.1}[chip] * n * rng.uniform(0.9, 1.1), "power_w": 700.0 * n,
                     "nic_gb_s": 10.0 * n, "tpot_ms": 20.0, "spec_tokens": 0, "draft_level": "",
                     "draft_tokens_per_req": 0.0, "draft_tokens_s": 0.0, **kw})

    row("prefill", 1, rng.uniform(1.5, 4.0))
    if rng.random() < 0.5:
        row("decode", int(rng.choice([1, 2])), rng.uniform(0.5, 1.5))
    for _ in range(int(rng.integers(2, 4))):
        g, lev = int(rng.integers(1, 4)), str(rng.choice(["d0", "d1"]))
        row("decode", int(rng.choice([1, 2])), rng.uniform(1.0, 3.0), spec_tokens=g, draft_level=lev,
            draft_tokens_per_req=g * rng.uniform(80, 200))
    for lev in ("d0", "d1"):
        row("draft", 1, 0.0, draft_level=lev, draft_tokens_s=rng.uniform(100, 600))
    t = pd.DataFrame(rows)
    spec = milp.MilpSpec(modes=("disaggregated",), objective=objective)
    if objective == "min-cost":
        spec.rate_min = float(rng.uniform(0.5, 3.0))
    else:
        spec.budget_usd_per_hr = float(rng.uniform(8, 20))
    return t, spec


def _decode_served(X, t):
    """Most requests/s the decode pool carries: plain rows in full, draft-fed groups (level, gamma) within their
    capacity and their level's draft-token supply (a fractional knapsack per level: fewest draft tokens first)."""
    role, lev = t["role"].to_numpy(), t["draft_level"].to_numpy()
    eff, per_req, sup = (t[c].to_numpy() for c in ("eff_capacity_rps", "draft_tokens_per_req", "draft_tokens_s"))
    gam = t["spec_tokens"].to_numpy()
    out = X[:, (role == "decode") & (lev == "")] @ eff[(role == "decode") & (lev == "")]
    for level in ("d0", "d1"):
        supply = X[:, (role == "draft") & (lev == level)] @ sup[(role == "draft") & (lev == level)]
        groups = sorted({(per_req[i], gam[i]) for i in np.flatnonzero((role == "decode") & (lev == level))})
        for d, g in groups:
            s = (role == "decode") & (lev == level) & (gam == g)
            lam = np.minimum(X[:, s] @ eff[s], supply / d)
            out = out + lam
            supply = supply - lam * d
    return out


@pytest.mark.parametrize("seed", range(16))
def test_draft_pool_matches_brute_force(seed):
    objective = "min-cost" if seed < 11 else "max-throughput"
    t, spec = _draft_instance(np.random.default_rng(3000 + seed), objective)
    n = len(t)
    X = np.array(list(itertools.product(*[range(4 if n <= 7 else 3)] * n)), float)
    served = np.minimum(X[:, t["role"].to_numpy() == "prefill"] @ t["eff_capacity_rps"].to_numpy()[t["role"].to_numpy() == "prefill"],
                        _decode_served(X, t))
    cost = X @ t["cost_usd_per_hr"].to_numpy()
    fm = milp.build(t, spec)
    st = milp.solve(fm, time_limit_s=30, mip_gap=0.0)
    x = milp.counts(fm)
    inside = all(v < (4 if n <= 7 else 3) for v in x)
    if objective == "min-cost":
        ok = served >= spec.rate_min * (1 - 1e-9)
        if not ok.any():
            assert st.status == "infeasible" or not inside
            return
        assert st.status == "optimal"
        assert float(x @ t["cost_usd_per_hr"].to_numpy()) <= cost[ok].min() * (1 + 1e-6)
        if inside:
            assert float(x @ t["cost_usd_per_hr"].to_numpy()) == pytest.approx(cost[ok].min(), rel=1e-6)
    else:
        ok = cost <= spec.budget_usd_per_hr * (1 + 1e-9)
        assert st.status == "optimal"
        best = float(served[ok].max())
        assert milp.value(fm, "lam") >= best * (1 - 1e-6) - 1e-7
        if inside:
            assert milp.value(fm, "lam") == pytest.approx(best, rel=1e-6, abs=1e-7)


def test_draft_matching_by_hand():
    """A gamma-2 decode row (2 rps per instance, $2/h, 300 draft tokens per request) fed by draft instances of
    500 draft tokens/s ($1/h) at level d0: 3 rps need 2 decode instances and 900 draft tokens/s, i.e. 2 draft
    instances: $1 (prefill) + 2 x $2 + 2 x $1 = $7/h, cheaper than 3 plain decode instances ($3/h, 1 rps)."""
    t = pd.DataFrame({
        "role": ["prefill", "decode", "decode", "draft"], "chip": "c", "chips_per_instance": 1,
        "eff_capacity_rps": [5.0, 2.0, 1.0, 0.0], "cost_usd_per_hr": [1.0, 2.0, 3.0, 1.0], "power_w": 1.0, "nic_gb_s": 1.0,
        "tpot_ms": 10.0, "spec_tokens": [0, 2, 0, 0], "draft_level": ["", "d0", "", "d0"],
        "draft_tokens_per_req": [0.0, 300.0, 0.0, 0.0], "draft_tokens_s": [0.0, 0.0, 0.0, 500.0]})
    fm = milp.build(t, milp.MilpSpec(modes=("disaggregated",), rate_min=3.0))
    assert milp.solve(fm, mip_gap=0.0).status == "optimal"
    assert list(milp.counts(fm)) == [1, 2, 0, 2]
    assert {"d0g2-spec-rate-min", "d0-draft-tokens-min", "decode-rate-min"} <= set(fm.constraints)
    # without draft instances the gamma-2 rows carry nothing: 3 plain decode instances
    fm = milp.build(t.iloc[:3], milp.MilpSpec(modes=("disaggregated",), rate_min=3.0))
    assert milp.solve(fm, mip_gap=0.0).status == "optimal"
    assert list(milp.counts(fm)) == [1, 0, 3]


# ---------------------------------------------------------------- pools shared by traffic classes


def _shared_instance(rng: np.random.Generator):
    """Two classes, dedicated rows per class and role, and one or two rows shared by both (`eff__{class}`)."""
    modes = [("aggregated",), ("disaggregated",), ("aggregated", "disaggregated")][rng.integers(3)]
    roles = [r for m in modes for r in {"aggregated": ["aggregated"], "disaggregated": ["prefill", "decode"]}[m]]
    rows = []

    def row(role, cls, **kw):
        n = int(rng.choice([1, 2]))
        chip = str(rng.choice(["ca", "cb"]))
        rows.append({"role": role, "chip": chip, "chips_per_instance": n, "class": cls,
                     "eff_capacity_rps": rng.uniform(0.5, 3.0) * n ** 0.8,
                     "cost_usd_per_hr": {"ca": 2.0, "cb": 3.1}[chip] * n * rng.uniform(0.9, 1.1),
                     "power_w": 700.0 * n, "nic_gb_s": rng.uniform(0.5, 3.0) * n, "tpot_ms": 20.0, **kw})

    for cls in ("chat", "code"):
        for role in roles:
            if len(roles) == 1 or rng.random() < 0.75:
                row(role, cls)
    for _ in range(int(rng.integers(1, 3))):
        row(str(rng.choice(roles)), "chat+code", shared=True, eff__chat=rng.uniform(0.3, 3.0), eff__code=rng.uniform(0.3, 3.0))
    t = pd.DataFrame(rows)
    t["shared"] = t.get("shared", pd.Series(False, index=t.index)).fillna(False).astype(bool)
    r = rng.uniform(0.3, 1.0, 2)
    spec = milp.MilpSpec(modes=modes, rate_min=float(rng.uniform(0.5, 3.0)),
                         classes={"chat": float(r[0] / r.sum()), "code": float(r[1] / r.sum())},
                         kv_gb_per_request={"chat": float(rng.uniform(0.0, 0.5)), "code": float(rng.uniform(0.0, 0.5))})
    if rng.random() < 0.3:
        spec.inventory = {"ca": int(rng.integers(3, 8))}
    return t, spec


def _sharing_lp_feasible(t, spec, x) -> bool:
    """The fixed-x LP, written directly for HiGHS (not through planner.optimize.milp): class paths lam_{p,c}, loads
    y_{i,c} of the shared rows; demand, rate, KV-NIC and time-sharing rows. Feasible or not."""
    import highspy

    role, cls_col = t["role"].to_numpy(), t["class"].to_numpy()
    eff, nic = t["eff_capacity_rps"].to_numpy(), t["nic_gb_s"].to_numpy()
    sh = np.flatnonzero(t["shared"].to_numpy(bool))
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    idx: dict = {}

    def var(key):
        idx[key] = len(idx)
        h.addVar(0.0, highspy.kHighsInf)

    paths = [p for p in ("aggregated", "disaggregated") if p in spec.modes]
    for c in spec.classes:
        for p in paths:
            var(("lam", p, c))
        for i in sh:
            var(("y", i, c))

    def add(terms, lo, hi):
        h.addRow(lo, hi, len(terms), np.array([idx[k] for k, _ in terms], np.int32), np.array([v for _, v in terms], float))

    for c, share in spec.classes.items():
        add([(("lam", p, c), 1.0) for p in paths], share * spec.rate_min, share * spec.rate_min)
        for r, path in (("aggregated", "aggregated"), ("prefill", "disaggregated"), ("decode", "disaggregated")):
            if path not in paths:
                continue
            ded = (cls_col == c) & (role == r)
            ys = [i for i in sh if role[i] == r]
            add([(("y", i, c), 1.0) for i in ys] + [(("lam", path, c), -1.0)], -float(x[ded] @ eff[ded]), highspy.kHighsInf)
            if r != "aggregated":
                kv = spec.kv_gb(c)
                add([(("y", i, c), nic[i] / t[f"eff__{c}"].iloc[i]) for i in ys] + [(("lam", path, c), -kv)],
                    -float(x[ded] @ nic[ded]), highspy.kHighsInf)
    for i in sh:
        add([(("y", i, c), 1.0 / t[f"eff__{c}"].iloc[i]) for c in spec.classes], -highspy.kHighsInf, float(x[i]))
    h.run()
    return h.getModelStatus() == highspy.HighsModelStatus.kOptimal


def _brute_shared(t, spec, top: int = 3):
    """Cheapest count vector (each count 0..top) whose fixed-x sharing LP is feasible: vectors in cost order,
    a quick capacity bound first (every shared row given wholly to the class), then the LP."""
    X = np.array(list(itertools.product(*[range(top + 1)] * len(t))), float)
    cost = X @ t["cost_usd_per_hr"].to_numpy()
    role, cls_col = t["role"].to_numpy(), t["class"].to_numpy()
    sh = t["shared"].to_numpy(bool)
    ok = np.ones(len(X), bool)
    for c, share in spec.classes.items():
        def cap(r, c=c):
            ded = (cls_col == c) & (role == r)
            shr = sh & (role == r)
            e = t[f"eff__{c}"].to_numpy(float)
            return X[:, ded] @ t["eff_capacity_rps"].to_numpy()[ded] + X[:, shr] @ np.nan_to_num(e[shr])
        up = np.zeros(len(X))
        if "aggregated" in spec.modes:
            up += cap("aggregated")
        if "disaggregated" in spec.modes:
            up += np.minimum(cap("prefill"), cap("decode"))
        ok &= up >= share * spec.rate_min * (1 - 1e-9)
    chip = t["chip"].to_numpy()
    for k, n_max in spec.inventory.items():
        ok &= X[:, chip == k] @ t["chips_per_instance"].to_numpy()[chip == k] <= n_max
    for j in np.flatnonzero(ok)[np.argsort(cost[ok], kind="stable")]:
        if _sharing_lp_feasible(t, spec, X[j]):
            return float(cost[j])
    return None


@pytest.mark.parametrize("seed", range(20))
def test_class_sharing_min_cost_matches_brute_force(seed):
    t, spec = _shared_instance(np.random.default_rng(4000 + seed))
    top = 3 if len(t) <= 6 else 2
    expected = _brute_shared(t, spec, top)
    fm = milp.build(t, spec)
    st = milp.solve(fm, time_limit_s=30, mip_gap=0.0)
    if expected is None:
        assert st.status == "infeasible" or milp.counts(fm).max() > top
        return
    assert st.status == "optimal", st
    x = milp.counts(fm)
    got = float(x @ t["cost_usd_per_hr"].to_numpy())
    assert got <= expected * (1 + 1e-6)
    if x.max() <= top:
        assert got == pytest.approx(expected, rel=1e-6)
    assert _sharing_lp_feasible(t, spec, x)  # the MILP's fleet passes the independent LP
    assert {f"cand{i}-share-max" for i in np.flatnonzero(t["shared"])} <= set(fm.constraints)
    # sharing is never dearer than dedicated pools only
    ded = t[~t["shared"]].reset_index(drop=True)
    fm0 = milp.build(ded, spec)
    st0 = milp.solve(fm0, time_limit_s=30, mip_gap=0.0)
    if st0.has_solution:
        assert got <= float(milp.counts(fm0) @ ded["cost_usd_per_hr"].to_numpy()) * (1 + 1e-6)


def test_class_sharing_by_hand():
    """Chat 0.5 rps and code 0.5 rps; dedicated instances serve 1 rps of their class ($2 each, $4 for both);
    a shared instance serves 1 rps of chat or 2 rps of code by time-sharing ($3): 0.5/1 + 0.5/2 = 0.75 of one
    instance, so one shared instance ($3) is the cheapest fleet."""
    t = pd.DataFrame({"role": "aggregated", "chip": "c", "chips_per_instance": 1, "class": ["chat", "code", "chat+code"],
                      "eff_capacity_rps": [1.0, 1.0, 1.0], "cost_usd_per_hr": [2.0, 2.0, 3.0], "power_w": 1.0,
                      "nic_gb_s": 1.0, "tpot_ms": 10.0, "shared": [False, False, True],
                      "eff__chat": [np.nan, np.nan, 1.0], "eff__code": [np.nan, np.nan, 2.0]})
    spec = milp.MilpSpec(modes=("aggregated",), rate_min=1.0, classes={"chat": 0.5, "code": 0.5})
    fm = milp.build(t, spec)
    assert milp.solve(fm, mip_gap=0.0).status == "optimal"
    assert list(milp.counts(fm)) == [0, 0, 1]
    assert "cand2-share-max" in fm.constraints
    # 1.5 rps of each: one shared instance carries code's 1.5 (0.75 of its time) and 0.25 chat, two dedicated
    # chat instances the rest: $7, cheaper than 3 shared ($9) or 2 shared + 1 chat ($8)
    fm = milp.build(t, dataclasses.replace(spec, rate_min=3.0))
    assert milp.solve(fm, mip_gap=0.0).status == "optimal"
    assert float(milp.counts(fm) @ t["cost_usd_per_hr"].to_numpy()) == pytest.approx(7.0)


@pytest.mark.parametrize("seed", range(15))
def test_shared_vector_dominance_keeps_the_optimum(seed):
    """prune.dominated_vectors on many shared rows of one role x chip: the same optimum as without pruning."""
    from planner.optimize.prune import _group_key, dominated_vectors

    rng = np.random.default_rng(5000 + seed)
    rows = []
    for cls in ("chat", "code"):  # one dedicated row per class (so every instance is feasible)
        rows.append({"role": "aggregated", "chip": "ca", "chips_per_instance": 4, "class": cls, "shared": False,
                     "eff_capacity_rps": rng.uniform(1.0, 3.0), "cost_usd_per_hr": 9.0, "power_w": 1.0, "nic_gb_s": 1.0,
                     "tpot_ms": 10.0})
    for _ in range(int(rng.integers(6, 12))):
        n = int(rng.choice([1, 2, 4]))
        chip = str(rng.choice(["ca", "cb"]))
        base = rng.uniform(0.4, 1.2) * n ** rng.uniform(0.7, 1.1)
        rows.append({"role": "aggregated", "chip": chip, "chips_per_instance": n, "class": "chat+code", "shared": True,
                     "eff__chat": base * rng.uniform(0.5, 1.5), "eff__code": base * rng.uniform(0.5, 1.5),
                     "eff_capacity_rps": base, "cost_usd_per_hr": {"ca": 2.0, "cb": 2.6}[chip] * n, "power_w": 1.0,
                     "nic_gb_s": 1.0, "tpot_ms": 10.0})
    t = pd.DataFrame(rows)
    r = rng.uniform(0.3, 1.0, 2)
    spec = milp.MilpSpec(modes=("aggregated",), rate_min=float(rng.uniform(1.0, 8.0)),
                         classes={"chat": float(r[0] / r.sum()), "code": float(r[1] / r.sum())})
    sh = t[t["shared"]]
    dom = dominated_vectors(_group_key(sh["role"].to_numpy(), sh["chip"].to_numpy(), sh["class"].to_numpy()),
                            sh["chips_per_instance"].to_numpy(), sh[["eff__chat", "eff__code"]].to_numpy())
    pruned = pd.concat([t[~t["shared"]], sh[~dom]], ignore_index=True)
    costs = []
    for table in (t, pruned):
        fm = milp.build(table, spec)
        assert milp.solve(fm, time_limit_s=30, mip_gap=0.0).status == "optimal"
        costs.append(float(milp.counts(fm) @ table["cost_usd_per_hr"].to_numpy()))
    assert costs[1] == pytest.approx(costs[0], rel=1e-9)
