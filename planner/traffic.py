"""Traffic classes: several workloads (chat, coding, agentic, ...) with their own ISL/OSL, arrival rate and
SLO, served by one fleet that shares inventory, budget and power.

Formulation (docs/axes.md, docs/milp.md `add_class_demand`): every candidate instance serves one class.
The engine's coefficients and the pruning (SLO filters, queueing caps, dominance) run per class with that
class's lengths and SLO (`solve.prepare` on the class's single-class scenario, cached per shape); the tables
are stacked with a `class` column and one MILP chooses instances for all classes at once: per-class rate
matching, one set of inventory/budget/power rows over every instance. The class mix is fixed: class c gets
share_c = rate_c / sum(rates) of the total rate lam, so min-cost serves every class's rate and
max-throughput scales all classes together. Dedicated instances are exact for the classes' different
lengths and SLOs; a pool shared by classes (at the strictest SLO) would pool queueing and integer rounding,
which is left out: the cost of dedication is at most one instance per class and pool.
"""

from __future__ import annotations

import time

import pandas as pd

from . import milp
from .errors import InfeasibleError, PlannerError
from .prune import Pruned
from .scenario import Scenario, check_references, require_limits


def prepare_classes(sc: Scenario, *, catalogs=(), margin=None, cache=None, objective=None):
    """One Prepared for a multi-class scenario (see the module docstring)."""
    from .prepare import Prepared, prepare, resolve_margin

    t0 = time.perf_counter()
    objective = objective or sc.objective
    if objective == "max-throughput":
        require_limits(sc)
    check_references(sc, catalogs)
    m = resolve_margin(sc, margin)
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
    table = pd.concat(tables, ignore_index=True)
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
        kv_gb_per_request={n: p.spec.kv_gb(None) for n, p in preps.items()}, objective=objective,
        classes={n: r / total for n, r in rates.items()},
    )
    counts = {f"{n}:{stage}": v for n, p in preps.items() for stage, v in p.pruned.counts.items()}
    notes = [f"class {n}: {note}" for n, p in preps.items() for note in p.notes]
    first = next(iter(preps.values()))
    pr = Pruned(table=table, counts=counts, diagnostics={n: p.pruned.diagnostics for n, p in preps.items()})
    return Prepared(sc, objective, m, first.settings, pr, spec, modes,
                    {"coefficients_and_prune_s": time.perf_counter() - t0}, notes,
                    class_scenarios={n: p.scenario for n, p in preps.items()})
