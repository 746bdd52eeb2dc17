"""planner.optimize.traffic: several classes on one fleet. With dedicated instances and no shared limit the
program separates, so the joint optimum is the sum of the classes solved alone (exact, by construction)."""

from __future__ import annotations

import pytest

from planner.errors import InfeasibleError
from planner.optimize.program import prepare_any, solve_prepared
from planner.optimize.traffic import prepare_classes

CLASSES = [
    {"name": "chat", "arrival_rate_rps": 6, "isl": 1024, "osl": 128, "slo": {"ttft_ms": 1500, "tpot_ms": 40}},
    {"name": "long", "arrival_rate_rps": 1, "isl": 8192, "osl": 256, "slo": {"ttft_ms": 4000, "tpot_ms": 60}},
]


def _cost(sc, cache) -> float:
    return solve_prepared(prepare_any(sc, cache=cache), time_limit_s=30, mip_gap=0.0).summary["cost_usd_per_hr"]


def test_joint_plan_is_the_sum_of_the_classes_alone(small, cache):
    joint = small(classes=CLASSES)
    prep = prepare_classes(joint, cache=cache)
    assert set(prep.table["class"]) == {"chat", "long"} and set(prep.classes()) == {"chat", "long"}
    alone = []
    for c in CLASSES:
        w = {"arrival_rate_rps": c["arrival_rate_rps"], "isl": c["isl"], "osl": c["osl"]}
        alone.append(_cost(small(workload=w, slo=c["slo"]), cache))
    res = solve_prepared(prep, time_limit_s=30, mip_gap=0.0)
    assert res.summary["cost_usd_per_hr"] == pytest.approx(sum(alone), rel=1e-9)
    by_class = {c["class"]: c for c in res.summary["classes"]}
    assert by_class["chat"]["throughput_rps"] == pytest.approx(6) and by_class["long"]["throughput_rps"] == pytest.approx(1)
    assert sum(c["cost_usd_per_hr"] for c in by_class.values()) == pytest.approx(res.summary["cost_usd_per_hr"])


def test_a_shared_limit_binds_across_classes(small, cache):
    free = _cost(small(classes=CLASSES), cache)
    chips = [{"id": "h100-sxm", "price_usd_per_hr": 2.5, "max_count": 3},
             {"id": "h200-sxm", "price_usd_per_hr": 3.5}]
    limited = _cost(small(classes=CLASSES, chips=chips), cache)
    assert limited >= free * (1 - 1e-9)


def test_an_infeasible_class_is_named(small, cache):
    bad = [CLASSES[0], {**CLASSES[1], "slo": {"ttft_ms": 4000, "tpot_ms": 0.5}}]
    with pytest.raises(InfeasibleError) as e:
        prepare_classes(small(classes=bad), cache=cache)
    assert e.value.field == "classes[long]" and "class long:" in str(e.value) and "slo.tpot_ms" in e.value.hint
