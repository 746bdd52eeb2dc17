"""planner.optimize.results: what a solved program reports adds up, and the architecture in words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.optimize.program import prepare_any, solve_prepared
from planner.optimize.results import POOL_COLUMNS, architecture


def _solved(sc, cache):
    prep = prepare_any(sc, cache=cache)
    return prep, solve_prepared(prep, time_limit_s=30, mip_gap=0.0)


def test_summary_and_pools_add_up(small, cache):
    prep, res = _solved(small(), cache)
    s, pools = res.summary, res.pools
    assert list(pools.columns[: len(POOL_COLUMNS)]) == POOL_COLUMNS
    assert (pools["instances"] > 0).all()
    assert s["cost_usd_per_hr"] == pytest.approx(pools["cost_usd_per_hr"].sum())
    assert s["num_chips"] == int((pools["instances"] * pools["chips_per_instance"]).sum())
    # cost per pool: instances x chips x the scenario's price per chip
    price = pools["chip"].map({"h100-sxm": 2.5, "h200-sxm": 3.5})
    assert np.allclose(pools["cost_usd_per_hr"], pools["instances"] * pools["chips_per_instance"] * price)
    assert s["throughput_rps"] == pytest.approx(6.0)
    # every request is served once: the loads of the pools that take prompts add up to the rate
    takes_prompts = pools["role"].isin(["prefill", "aggregated"])
    assert pools.loc[takes_prompts, "load_rps"].sum() == pytest.approx(6.0, rel=1e-6)
    assert (pools["utilization"] <= pools["max_utilization"] + 1e-9).all()
    assert s["output_tok_s"] == pytest.approx(6.0 * 128)
    assert s["cost_usd_per_mtok"] == pytest.approx(s["cost_usd_per_hr"] / (6.0 * 128 * 3600) * 1e6)
    for k in ("ttft_ms", "tpot_ms"):
        assert s["slo_headroom"][k] == pytest.approx((s["slo"][k] - s[k]) / s["slo"][k])
    assert s["ttft_ms"] <= 1500 * (1 + 1e-9) and s["tpot_ms"] <= 40 * (1 + 1e-9)


def test_architecture_in_words():
    pools = pd.DataFrame({"role": ["prefill", "decode", "draft"], "spec_tokens": [0, 2, 0]})
    text = architecture(pools, {"disaggregated": 3.0, "aggregated": 0.0}, 1e-9)
    assert text == "P/D disaggregated with speculative decoding gamma=2 (draft model in its own pool)"
    both = architecture(pools.iloc[:2].assign(spec_tokens=0), {"aggregated": 1.0, "disaggregated": 2.0}, 1e-9)
    assert both == "aggregated + P/D disaggregated"
    assert architecture(pools.iloc[:0], {}, 1e-9) == "none"
