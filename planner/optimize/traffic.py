"""Traffic classes: several workloads (chat, coding, agentic, ...) with their own ISL/OSL, arrival rate and
SLO, served by one fleet that shares inventory, budget and power.

Formulation (docs/axes.md, docs/milp.md `add_class_demand`): every candidate instance serves one class.
The engine's coefficients and the pruning (SLO filters, queueing caps, dominance) run per class with that
class's lengths and SLO (`solve.prepare` on the class's single-class scenario, cached per shape); the tables
are stacked with a `class` column and one MILP chooses instances for all classes at once: per-class rate
matching, one set of inventory/budget/power rows over every instance. The class mix is fixed: class c gets
share_c = rate_c / sum(rates) of the total rate lam, so min-cost serves every class's rate and
max-throughput scales all classes together. Dedicated instances are exact for the classes' different
lengths and SLOs.

`classes_share_pools: true` adds shared rows (`shared_table`): one configuration (role, chip, parallelism,
batch, dtypes, speculation) that passes the SLO filters of every class of a set K (each at that class's
lengths and SLO) may serve the classes of K by time-sharing: y_ic requests/s of class c, with
sum_c y_ic / e_ic <= x_i (milp.add_class_sharing), e_ic = the strictest of the classes' utilization caps x
its capacity at c's lengths. The dedicated rows stay, so sharing is never dearer. Shared rows are pruned by
capacity-vector dominance (prune.dominated_vectors). Draft-fed, attention and FFN rows are not shared.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pandas as pd

from planner.errors import InfeasibleError, PlannerError
from planner.inputs.scenario import Scenario
from planner.optimize import milp
from planner.optimize.prepare import Prepared, checked_objective_and_margin, prepare
from planner.optimize.prune import Pruned, _group_key, dominated_vectors


def prepare_classes(sc: Scenario, *, catalogs=(), margin=None, cache=None, objective=None):
    """One Prepared for a multi-class scenario (see the module docstring)."""
    t0 = time.perf_counter()
    objective, m = checked_objective_and_margin(sc, catalogs, margin, objective)
    preps = {}
    for name, csc in sc.class_scenarios():
        # each class alone: its coefficients, SLO filters and caps; the fleet-level limits apply in the joint MILP
        one = csc.model_copy(update={"objective": "min-cost", "budget_usd_per_hr": None, "max_chips": None,
                                     "max_power_kw": None})
        try:
            preps[name] = prepare(one, catalogs=catalogs, margin=m, cache=cache, objective="min-cost")
        except InfeasibleError as exc:
            raise InfeasibleError(f"class {name}: {exc}", field=f"classes[{name}]", hint=exc.hint) from None
    tables = []
    for name, p in preps.items():
        tables.append(p.table.assign(**{"class": name}))
    counts_shared = {}
    if sc.classes_share_pools:
        full = {}
        for name, csc in sc.class_scenarios():
            one = csc.model_copy(update={"objective": "min-cost", "budget_usd_per_hr": None, "max_chips": None,
                                         "max_power_kw": None})
            try:
                full[name] = prepare(one, catalogs=catalogs, margin=m, cache=cache, objective="min-cost",
                                     dominance=False).table
            except InfeasibleError:
                continue
        shared, counts_shared = shared_table(full)
        if len(shared):
            tables.append(shared)
    table = pd.concat(tables, ignore_index=True)
    if "shared" in table:
        table["shared"] = table["shared"].fillna(False).astype(bool)
    for col in ("role", "chip"):
        table[col] = table[col].astype(str)
    rates = {c.name: float(c.arrival_rate_rps) for c in sc.classes}
    total = sum(rates.values())
    modes = tuple(dict.fromkeys(mo for p in preps.values() for mo in p.modes))
    if not modes:
        raise PlannerError("no class has candidates", field="classes")
    spec = milp.MilpSpec(
        modes=modes, rate_min=total if objective == "min-cost" else None, budget_usd_per_hr=sc.budget_usd_per_hr,
        max_chips=sc.max_chips, max_power_kw=sc.max_power_kw,
        inventory={c.id: c.max_count for c in sc.chips if c.max_count is not None},
        spare_instances=sc.failure_headroom_instances, max_pools=sc.deploy.max_pools_per_role,
        kv_gb_per_request={n: p.spec.kv_gb(None) for n, p in preps.items()}, objective=objective,
        classes={n: r / total for n, r in rates.items()},
        kv_vendor=next((p.spec.kv_vendor for p in preps.values() if p.spec.kv_vendor), None),
        pd_same_tp=any(p.spec.pd_same_tp for p in preps.values()),
    )
    counts = {f"{n}:{stage}": v for n, p in preps.items() for stage, v in p.pruned.counts.items()}
    counts.update(counts_shared)
    notes = [f"class {n}: {note}" for n, p in preps.items() for note in p.notes]
    first = next(iter(preps.values()))
    pr = Pruned(table=table, counts=counts, diagnostics={n: p.pruned.diagnostics for n, p in preps.items()})
    return Prepared(sc, objective, m, first.settings, pr, spec, modes,
                    {"coefficients_and_prune_s": time.perf_counter() - t0}, notes,
                    class_scenarios={n: p.scenario for n, p in preps.items()}, catalogs=tuple(catalogs))


SHARE_ROLES = ("prefill", "decode", "aggregated")
CONFIG = ("role", "chip", "tp", "ep", "pp", "dp", "batch", "weights_dtype", "kv_dtype", "spec_tokens",
          "chips_per_instance")
PER_CLASS = ("eff_capacity_rps", "capacity_rps", "max_utilization", "ttft_ms", "tpot_ms", "kv_transfer_ms", "hold_s",
             "servers")


def _config_key(t: pd.DataFrame) -> pd.Series:
    cols = [c for c in CONFIG if c in t]
    return t[cols].astype(str).agg("|".join, axis=1)


def shared_table(full: dict[str, pd.DataFrame], *, dominance: bool = True) -> tuple[pd.DataFrame, dict]:
    """Rows of pools shared by every class set K (two classes or more): the configurations in the SLO-feasible
    (un-pruned) table of every class of K. Per class c of K: `eff__{c}` = min_{c' in K} max_utilization_c' x
    capacity_c (the strictest queueing cap), and `ttft_ms__{c}`, `tpot_ms__{c}`, ... (that class's figures);
    the generic columns hold the worst over K. Then capacity-vector dominance within role x chip x K."""
    names = list(full)
    keyed = {}
    for n, t in full.items():
        t = t[t["role"].astype(str).isin(SHARE_ROLES).to_numpy()]
        if "draft_level" in t:
            t = t[t["draft_level"].fillna("").astype(str).to_numpy() == ""]
        t = t.assign(_key=_config_key(t).to_numpy()).drop_duplicates("_key")
        keyed[n] = t.set_index("_key")
    rows = []
    for size in range(2, len(names) + 1):
        for ks in itertools.combinations(names, size):
            common = keyed[ks[0]].index
            for c in ks[1:]:
                common = common.intersection(keyed[c].index)
            if not len(common):
                continue
            base = keyed[ks[0]].loc[common].copy()
            rho = np.min([keyed[c].loc[common, "max_utilization"].to_numpy() for c in ks], axis=0)
            for c in ks:
                sub = keyed[c].loc[common]
                for col in PER_CLASS:
                    base[f"{col}__{c}"] = sub[col].to_numpy()
                base[f"eff__{c}"] = rho * sub["capacity_rps"].to_numpy()
            for col in ("ttft_ms", "tpot_ms", "kv_transfer_ms", "hold_s"):
                base[col] = base[[f"{col}__{c}" for c in ks]].max(axis=1).to_numpy()  # NaN only where all are
            base["max_utilization"] = rho
            base["capacity_rps"] = np.min([base[f"capacity_rps__{c}"].to_numpy() for c in ks], axis=0)
            base["eff_capacity_rps"] = np.min([base[f"eff__{c}"].to_numpy() for c in ks], axis=0)
            base["class"] = milp.SHARED_SEP.join(ks)
            base["shared"] = True
            rows.append(base.reset_index(drop=True))
    if not rows:
        return pd.DataFrame(), {}
    t = pd.concat(rows, ignore_index=True)
    for col in ("role", "chip"):
        t[col] = t[col].astype(str)
    before = t["role"].value_counts().to_dict()
    if dominance:
        eff = np.column_stack([t[f"eff__{c}"].to_numpy(float) if f"eff__{c}" in t else np.zeros(len(t)) for c in names])
        key = _group_key(t["role"].to_numpy(), t["chip"].to_numpy(), t["class"].to_numpy())
        t = t[~dominated_vectors(key, t["chips_per_instance"].to_numpy(), eff)].reset_index(drop=True)
    counts = {"shared:slo": {r: int(v) for r, v in before.items()},
              "shared:kept": {r: int(v) for r, v in t["role"].value_counts().items()}}
    return t, counts
