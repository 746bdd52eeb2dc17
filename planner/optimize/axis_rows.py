"""Per-scenario pool rows of the axes whose pools the engine table does not hold: attention/FFN rows (AFD,
planner.axes.afd) and draft-model rows (speculative.placement: pool, planner.axes.draft_pool), priced, with the
planning margin applied, in the pruned-table format the MILP reads."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.axes.afd import afd_rows
from planner.axes.draft_pool import draft_rows
from planner.engine.candidates import DECODE_BATCHES_PER_RANK
from planner.engine.tables import FRAMEWORK_CODE, ChipTable
from planner.inputs.chips import load_catalog
from planner.inputs.models import load_model
from planner.inputs.scenario import Scenario
from planner.optimize.coefficients import chip_prices
from planner.optimize.prune import _dominated_by_combinations, _group_key
from planner.optimize.uncertainty import NO_MARGIN, Margins


def afd_table(sc: Scenario, catalogs=(), margin: Margins = NO_MARGIN) -> pd.DataFrame:
    """The AFD rows of a scenario in the pruned-table format the MILP reads (margins applied per row's chip:
    capacities / (1 + capacity margin), TPOT x (1 + TPOT margin); the cadences are chosen under slo.tpot_ms over
    the largest TPOT factor of the offered chips)."""
    model = load_model(sc.model)
    if not model.is_moe:
        return pd.DataFrame()
    cat = load_catalog(tuple(str(p) for p in catalogs))
    chips = [cat[c.id] for c in sc.chips]
    ct = ChipTable.build(chips)
    f_tpot_max = float(np.max(margin.factors([c.id for c in chips])[1]))
    tpot_max = sc.slo.tpot_ms / 1e3 / f_tpot_max if sc.slo.tpot_ms is not None else None
    df = afd_rows(model, chips, ct, wdtype=sc.precision.weights, kvdtype=sc.kv_dtype, isl=sc.workload.isl,
                  osl=sc.workload.osl, tpot_max_s=tpot_max, micro_batches=tuple(sc.afd.micro_batches),
                  levels=sc.afd.levels, max_chips=sc.search.max_chips_per_instance,
                  batches_per_rank=tuple(sc.search.decode_batches_per_rank or DECODE_BATCHES_PER_RANK),
                  osl_cv=sc.workload.output_length_cv, framework=FRAMEWORK_CODE[sc.framework])
    if df.empty:
        return df
    prices = chip_prices(sc, cat)
    n = df["chips_per_instance"].to_numpy().astype(float)
    by_id = {c.id: c for c in chips}
    f_cap, f_tpot, _ = margin.factors(df["chip"].to_numpy())
    cap = df["capacity_rps"].to_numpy() / f_cap
    return df.assign(
        capacity_rps=cap, eff_capacity_rps=cap, max_utilization=1.0, tpot_ms=df["tpot_ms"] * f_tpot, ttft_ms=np.nan,
        kv_transfer_ms=0.0, servers=df["batch"], hold_s=np.where(cap > 0, df["batch"] / np.maximum(cap, 1e-300), 0.0),
        wait_budget_s=0.0, cost_usd_per_hr=[prices[c] for c in df["chip"]] * n,
        power_w=[by_id[c].power_w for c in df["chip"]] * n,
        nic_gb_s=[by_id[c].scaleout_gb_s * by_id[c].efficiency.scaleout for c in df["chip"]] * n,
        spec_tokens=0, fits=True,
    )


def draft_table(sc: Scenario, catalogs=(), margin: Margins = NO_MARGIN) -> pd.DataFrame:
    """The draft rows of a scenario in the pruned-table format the MILP reads (supply / (1 + the capacity margin
    of the row's chip); priced)."""
    cat = load_catalog(tuple(str(p) for p in catalogs))
    chips = [cat[c.id] for c in sc.chips]
    ct = ChipTable.build(chips)
    sp = sc.speculative
    df = draft_rows(load_model(sp.draft_model), chips, ct, sc.precision.weights, sc.kv_dtype, sc.workload.isl,
                    sc.workload.osl, sp.draft_levels,
                    tuple(sc.search.decode_batches_per_rank or DECODE_BATCHES_PER_RANK), sc.workload.output_length_cv,
                    FRAMEWORK_CODE[sc.framework])
    if df.empty:
        return df
    # exact dominance within (level, chip): cost, power and chips scale with the instance's chips
    n = df["chips_per_instance"].to_numpy().astype(float)
    key = _group_key(df["draft_level"].to_numpy(), df["chip"].to_numpy())
    df = df[~_dominated_by_combinations(key, n, df["draft_tokens_s"].to_numpy(), np.zeros(len(df)))]
    df = df.reset_index(drop=True)
    prices = chip_prices(sc, cat)
    by_id = {c.id: c for c in chips}
    n = df["chips_per_instance"].to_numpy().astype(float)
    return df.assign(
        draft_tokens_s=df["draft_tokens_s"] / margin.factors(df["chip"].to_numpy())[0], capacity_rps=0.0, eff_capacity_rps=0.0,
        max_utilization=1.0, tpot_ms=np.nan, ttft_ms=np.nan, kv_transfer_ms=0.0, servers=df["batch"], hold_s=0.0,
        wait_budget_s=0.0, cost_usd_per_hr=[prices[c] for c in df["chip"]] * n,
        power_w=[by_id[c].power_w for c in df["chip"]] * n,
        nic_gb_s=[by_id[c].scaleout_gb_s * by_id[c].efficiency.scaleout for c in df["chip"]] * n,
        spec_tokens=0, fits=True,
    )
