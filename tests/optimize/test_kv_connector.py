"""What the framework's KV connector pairs, on real scenarios (the program's rows against brute force are in
test_milp.py): a model with linear-attention layers planned for vLLM puts every P/D pool at one TP size, SGLang
does not need to, pruning keeps the optimum under the rule, and a rule that leaves nothing says which it is."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from planner.engine.params import active_params, using_params
from planner.inputs.scenario import validate_scenario
from planner.optimize import milp
from planner.optimize.coefficients import CoefficientCache
from planner.optimize.diagnose import diagnose_limits
from planner.optimize.solve import solve_scenario

CACHE = CoefficientCache()


def _hybrid(framework: str, **over) -> dict:
    sc = {"name": "hybrid-pd", "model": "Qwen/Qwen3.5-122B-A10B", "modes": ["disaggregated"],
          "deploy": {"framework": framework}, "workload": {"arrival_rate_rps": 40, "isl": 4096, "osl": 512},
          "slo": {"ttft_ms": 1500, "tpot_ms": 25}, "chips": [{"id": "h100-sxm"}, {"id": "h200-sxm"}]}
    sc.update(over)
    return sc


def test_vllm_plans_a_linear_attention_model_at_one_tp_size():
    vllm = solve_scenario(validate_scenario(_hybrid("vllm")), cache=CACHE)
    p = active_params()  # SGLang at vLLM's host times, so the KV connector's rule is the only difference
    with using_params(p.replace(host_s_sglang=p.host_s_vllm, host_s_per_seq_sglang=p.host_s_per_seq_vllm)):
        sglang = solve_scenario(validate_scenario(_hybrid("sglang")), cache=CoefficientCache())
    pd_pools = vllm.pools[vllm.pools["role"].isin(["prefill", "decode"])]
    assert pd_pools["tp"].nunique() == 1
    assert any("one TP size" in n for n in vllm.summary["notes"])
    # SGLang pairs different TP sizes: never dearer, and here it uses two of them
    assert sglang.summary["cost_usd_per_hr"] <= vllm.summary["cost_usd_per_hr"] + 1e-9
    assert sglang.pools["tp"].nunique() > 1
    assert not any("one TP size" in n for n in sglang.summary["notes"])


def test_pruning_keeps_the_optimum_under_the_one_tp_rule(pruned_and_full):
    """Dominance pruning compares prefill and decode candidates only within a TP size when the rule applies:
    the plan from the pruned table costs what the unpruned one does."""
    prep, full, costs, statuses = pruned_and_full(validate_scenario(_hybrid("vllm")), CACHE)
    assert prep.settings.pd_same_tp and prep.spec.pd_same_tp
    assert set(full["role"].astype(str)) == {"prefill", "decode"}
    assert len(full) > 2 * len(prep.table)
    assert statuses == ["optimal", "optimal"]
    assert costs[0] == pytest.approx(costs[1], rel=1e-9)


def _synthetic(prefill_tp: int, decode_tp: int, vendors: dict | None, same_tp: bool):
    rows = [{"role": r, "chip": c, "tp": tp, "chips_per_instance": tp, "eff_capacity_rps": 2.0, "capacity_rps": 2.0,
             "cost_usd_per_hr": 2.0 * tp, "power_w": 700.0 * tp, "nic_gb_s": 50.0, "tpot_ms": 20.0}
            for r, tp, c in (("prefill", prefill_tp, "ca"), ("decode", decode_tp, "cb"))]
    spec = milp.MilpSpec(modes=("disaggregated",), rate_min=3.0, kv_vendor=vendors, pd_same_tp=same_tp)
    fm = milp.build(pd.DataFrame(rows), spec)
    prep = SimpleNamespace(scenario=SimpleNamespace(framework="vllm"), spec=spec, objective="min-cost")
    return prep, fm


@pytest.mark.parametrize("rule", ["pd_same_tp", "kv_connector"])
def test_a_connector_rule_that_leaves_no_plan_is_named(rule):
    """Prefill only at TP 1 and decode only at TP 2 under the one-TP rule; or prefill only on one vendor's chip and
    decode only on another's: infeasible, and the diagnosis names the rule, not a limit."""
    prep, fm = (_synthetic(1, 2, None, True) if rule == "pd_same_tp"
                else _synthetic(1, 1, {"ca": "NVIDIA", "cb": "AMD"}, False))
    assert not milp.solve(fm, time_limit_s=5).has_solution
    err = diagnose_limits(prep, fm, 5.0)
    if rule == "pd_same_tp":
        assert err.field == "deploy.framework" and "one TP size" in str(err) and "[1]" in str(err) and "[2]" in str(err)
    else:
        assert err.field == "chips" and "one vendor" in str(err)
    # without the rule the same pools plan
    prep, fm = _synthetic(1, 2, None, False) if rule == "pd_same_tp" else _synthetic(1, 1, None, False)
    assert milp.solve(fm, time_limit_s=5).has_solution
