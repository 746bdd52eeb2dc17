"""What the framework's KV connector allows between prefill and decode pools (catalogs/frameworks.yaml), as two
lazy constraint families of the fleet program (docs/milp.md): prefill hands its KV only to decode pools of its
own vendor (`add_kv_connector`), and for some models every prefill and decode pool runs one TP size
(`add_pd_same_tp`). Their rows are built inactive; `lazy_broken` says which a loaded solution breaks, and
planner.optimize.milp.solve switches those on and solves again.
"""

from __future__ import annotations

import numpy as np
import pyomo.core as pyo

from planner.optimize.fleet_model import (
    SPARE_BIG_M,
    FleetModel,
    _add,
    _pre,
    _role_idx,
    _serving,
    _step,
    _sum,
    counts,
    path_var,
)


def vendor_key(vendor: str) -> str:
    """A vendor as it appears in row names (`nvidia-prefill-kv_pairs-min`)."""
    return "".join(c if c.isalnum() else "_" for c in vendor.lower())


def row_vendors(fm: FleetModel) -> np.ndarray:
    """Each candidate row's vendor key under the KV connector's vendor rule (spec.kv_vendor; the chip id where the
    map has none)."""
    vendor_of = fm.spec.kv_vendor or {}
    return np.array([vendor_key(vendor_of.get(c, c)) for c in fm.table["chip"].astype(str).to_numpy()])


def add_kv_connector(fm: FleetModel, cls: str | None = None) -> None:
    """What the framework's KV connector pairs (catalogs/frameworks.yaml). Across vendors it pairs nothing (vLLM's
    NIXL handshake requires the same attention backend, which CUDA and ROCm builds do not share), so with chips
    of several vendors the disaggregated requests split into per-vendor flows lam_v, each carried by that vendor's
    prefill and decode pools. Shared pools enter their vendor's rows through their class loads."""
    m, t = fm.m, fm.table
    dis = path_var(m, "disaggregated", cls)
    if not fm.spec.kv_vendor or dis is None:
        return
    eff = t["eff_capacity_rps"].to_numpy()
    vendor = row_vendors(fm)
    rows = {r: _role_idx(fm, r, cls) for r in ("prefill", "decode")}
    shared = {r: [i for i, loads in fm.shared.items() if str(t["role"].iloc[i]) == r and cls in loads]
              for r in rows} if cls is not None else {r: [] for r in rows}
    vendors = sorted(set(vendor[np.concatenate([rows["prefill"], rows["decode"]])])
                     | {vendor[i] for r in shared for i in shared[r]})
    if len(vendors) < 2:
        return
    flows = {}
    for v in vendors:
        var = pyo.Var(domain=pyo.NonNegativeReals)
        m.add_component(f"lam_kv__{cls or ''}__{v}", var)
        flows[v] = var
    fm.kv_flows[cls] = flows
    first = len(fm.constraints)
    _add(fm, f"{_pre(cls)}kv_pairs-vendor-split", "kv_connector", sum(flows.values()), "==", dis)
    for v, flow in flows.items():
        for role, idx in rows.items():
            mine = idx[vendor[idx] == v]
            extra = [fm.shared[i][cls][0] for i in shared[role] if vendor[i] == v]
            lhs = _serving(fm, eff[mine], mine) if len(mine) else None
            lhs = _sum(lhs, *extra) if extra else lhs
            _add(fm, f"{_pre(cls)}{v}-{role}-kv_pairs-min", "kv_connector", lhs if lhs is not None else 0.0, ">=",
                 flow, _step(eff[mine]) if len(mine) else 0.0)
    fm.lazy_rows[("kv_connector", cls)] = list(fm.constraints)[first:]


def vendor_capacity(fm: FleetModel, cls: str | None) -> dict[str, tuple[float, float]]:
    """At the loaded solution, per vendor key: the effective prefill and decode capacity (requests/s) of the
    class's disaggregated pools of that vendor (shared pools through their class loads)."""
    t = fm.table
    eff = t["eff_capacity_rps"].to_numpy()
    vendor = row_vendors(fm)
    role = t["role"].astype(str).to_numpy()
    x = counts(fm).astype(float)
    out: dict[str, list[float]] = {v: [0.0, 0.0] for v in fm.kv_flows.get(cls, {})}
    for k, r in enumerate(("prefill", "decode")):
        idx = _role_idx(fm, r, cls)
        for v in out:
            mine = idx[vendor[idx] == v]
            out[v][k] += float(eff[mine] @ x[mine])
            out[v][k] += sum(float(loads[cls][0].value or 0.0) for i, loads in fm.shared.items()
                             if cls in loads and role[i] == r and vendor[i] == v)
    return {v: (p, d) for v, (p, d) in out.items()}


def vendor_flows(fm: FleetModel, cls: str | None) -> dict[str, float] | None:
    """The disaggregated requests/s each vendor's pools carry at the loaded solution: the program's lam_v where
    its rows are on, else a split the solution allows (each vendor in proportion to what its pools can pair,
    min(prefill, decode)); None without the vendor rule."""
    flows = fm.kv_flows.get(cls)
    if not flows:
        return None
    split = fm.m.component(f"{_pre(cls)}kv_pairs-vendor-split")
    if split is not None and split.active:
        return {v: float(var.value or 0.0) for v, var in flows.items()}
    dis = path_var(fm.m, "disaggregated", cls)
    total = float(dis.value or 0.0) if dis is not None else 0.0
    pairable = {v: min(p, d) for v, (p, d) in vendor_capacity(fm, cls).items()}
    room = sum(pairable.values())
    return {v: total * m / room if room > 0 else 0.0 for v, m in pairable.items()}


def lazy_broken(fm: FleetModel) -> list:
    """Lazy families whose rows are off and that the loaded solution breaks (keys of fm.lazy_rows)."""
    broken = []
    for key, names in fm.lazy_rows.items():
        if not names or fm.m.component(names[0]).active:
            continue
        family, cls = key
        if family == "kv_connector":
            dis = path_var(fm.m, "disaggregated", cls)
            need = float(dis.value or 0.0) if dis is not None else 0.0
            pairable = sum(min(p, d) for p, d in vendor_capacity(fm, cls).values())
            if pairable < need * (1 - 1e-7) - 1e-9:
                broken.append(key)
        elif family == "pd_same_tp":
            t = fm.table
            x = counts(fm)
            pd_rows = t["role"].astype(str).isin(("prefill", "decode")).to_numpy()
            if len(set(t["tp"].astype(int).to_numpy()[pd_rows & (x > 0)].tolist())) > 1:
                broken.append(key)
    return broken


def add_pd_same_tp(fm: FleetModel) -> None:
    """Prefill and decode pools at one tensor-parallel size (vLLM's NIXL connector for models with linear-attention
    or SSM layers: `P TP == D TP`): a binary w_t per TP size among them, at most one chosen, and a pool runs only
    at the chosen size."""
    m, t = fm.m, fm.table
    role = t["role"].astype(str).to_numpy()
    idx = np.flatnonzero(np.isin(role, ("prefill", "decode")))
    if not fm.spec.pd_same_tp or not len(idx):
        return
    tp = t["tp"].astype(int).to_numpy()
    sizes = sorted(set(tp[idx].tolist()))
    w = {}
    for size in sizes:
        var = pyo.Var(domain=pyo.Binary)
        m.add_component(f"pd_tp__{size}", var)
        w[size] = var
    first = len(fm.constraints)
    _add(fm, "pd-tp_choice-max", "pd_same_tp", sum(w.values()), "<=", 1.0, 1.0)
    for i in idx:
        ub = m.x_ub[i] if m.x_ub[i] is not None else SPARE_BIG_M
        _add(fm, f"cand{i}-pd_tp-max", "pd_same_tp", m.x[int(i)], "<=", ub * w[int(tp[i])])
    fm.lazy_rows[("pd_same_tp", None)] = list(fm.constraints)[first:]

