"""Plans over periods on real scenarios: a flat demand gives the static plan, the summary keys and their sums,
several models, and the trace-driven demand."""

from __future__ import annotations

import pytest

from planner.inputs.scenario import load_scenario, validate_scenario
from planner.optimize.schedule import plan_periods
from planner.optimize.solve import solve_scenario


def _chat(**update):
    sc = load_scenario("scenarios/llama70b-chat.yaml")
    return validate_scenario({**sc.model_dump(exclude_none=True), **update})


def test_flat_demand_gives_the_static_plan():
    static = solve_scenario(_chat())
    plan = plan_periods(_chat(demand={"profile": [20.0, 20.0, 20.0], "period_hours": 8.0}))
    assert plan.summary["cost_usd_per_day"] == pytest.approx(24 * static.summary["cost_usd_per_hr"], rel=1e-6)
    for p in plan.summary["periods"]:
        assert p["cost_usd_per_hr"] == pytest.approx(static.summary["cost_usd_per_hr"], rel=1e-6)
        assert p["num_chips"] == static.summary["num_chips"]
    assert plan.summary["savings"]["vs_static_peak"] == pytest.approx(0.0, abs=1e-9)


def test_summary_keys_and_sums():
    sc = _chat(demand={"profile": [6.0, 20.0, 12.0, 4.0], "period_hours": 6.0},
               pricing={"reserved": {"discount": 0.4}})
    s = plan_periods(sc).summary
    for key in ("cost_usd_per_day", "reserved", "periods", "cost_usd_per_mtok_input", "cost_usd_per_mtok_output"):
        assert key in s
    assert [p["rate_rps"] for p in s["periods"]] == [6.0, 20.0, 12.0, 4.0]
    per_day = sum(p["cost_usd_per_hr"] * p["hours"] for p in s["periods"])
    assert s["cost_usd_per_day"] == pytest.approx(per_day, rel=1e-9)
    for p in s["periods"]:  # every period's fleet serves its rate within its SLOs
        assert p["ttft_ms"] <= 1000 and p["tpot_ms"] <= 30
        assert sum(q["instances"] * q["chips_per_instance"] for q in p["pools"]) == p["num_chips"]
    assert all(r["count"] > 0 for r in s["reserved"])
    # input tokens are 8x the output tokens here and cheaper per token (prefill is compute-bound, batched)
    assert 0 < s["cost_usd_per_mtok_input"] < s["cost_usd_per_mtok_output"]
    assert s["savings"]["vs_all_on_demand"] >= -1e-9 and s["savings"]["vs_static_peak"] >= -1e-9


def test_comparisons_in_a_forked_process_are_those_of_one():
    """With workers > 1 the static-peak and all-on-demand programs run in a forked process beside the schedule:
    the same costs and savings as in one process."""
    sc = _chat(demand={"profile": [6.0, 20.0, 12.0, 4.0], "period_hours": 6.0},
               pricing={"reserved": {"discount": 0.4}}, solver={"mip_gap": 0.0})
    one, two = plan_periods(sc).summary, plan_periods(sc, workers=2).summary
    assert two["cost_usd_per_day"] == pytest.approx(one["cost_usd_per_day"], rel=1e-9)
    for key in ("static_peak_usd_per_day", "all_on_demand_usd_per_day", "vs_static_peak", "vs_all_on_demand"):
        assert two["savings"][key] == pytest.approx(one["savings"][key], rel=1e-9), key
    assert two["savings"]["static_peak_usd_per_day"] > two["cost_usd_per_day"]


def test_two_models_share_the_fleet():
    base = load_scenario("scenarios/llama70b-chat.yaml")
    sc = validate_scenario({
        "name": "two", "chips": [{"id": "h100-sxm", "price_usd_per_hr": 2.5, "max_count": 40}],
        "pricing": {"reserved": {}}, "slo": {"ttft_ms": 2000, "tpot_ms": 40},
        "models": [
            {"name": "big", "model": base.model, "precision": {"weights": "fp8"}, "workload": {"isl": 2048, "osl": 256},
             "demand": {"profile": [10.0, 2.0], "period_hours": 12.0}},
            {"name": "small", "model": "llama-3.1-8b", "workload": {"isl": 1024, "osl": 256},
             "demand": {"profile": [5.0, 30.0], "period_hours": 12.0}},
        ]})
    s = plan_periods(sc).summary
    assert s["models"] == ["big", "small"]
    for p in s["periods"]:
        assert {q["model"] for q in p["pools"]} == {"big", "small"}
        assert p["num_chips"] <= 40
        assert p["rate_rps_by_model"] == {"big": [10.0, 2.0][p["period"]], "small": [5.0, 30.0][p["period"]]}


def test_trace_demand_is_binned_into_periods():
    sc = load_scenario("scenarios/trace-code.yaml")
    s = plan_periods(sc, time_limit_s=5).summary
    assert s["periods_count"] == 12 and s["period_hours"] == pytest.approx(1 / 12)
    assert "8,819 requests" in s["demand_source"]["llama-3.1-70b"]
    assert max(p["rate_rps"] for p in s["periods"]) > 10 * 2.57  # p95 of minutes above 10x the hour's mean


def test_traffic_classes_with_a_profile_each():
    sc = load_scenario("scenarios/traffic-classes.yaml")
    data = sc.model_dump(exclude_none=True)
    data["demand"] = {"profile": {"chat": [12.0, 4.0], "coding": [2.0, 6.0], "agentic": [1.0, 1.0]}, "period_hours": 12}
    for c in data["classes"]:
        c.pop("arrival_rate_rps")
    s = plan_periods(validate_scenario(data)).summary
    assert [p["rate_rps"] for p in s["periods"]] == [15.0, 11.0]
    for p in s["periods"]:
        assert {q["class"] for q in p["pools"]} == {"chat", "coding", "agentic"}
    # each period alone, as a static multi-class plan, costs what the schedule pays in it (on-demand only)
    for p, rates in enumerate(({"chat": 12.0, "coding": 2.0, "agentic": 1.0}, {"chat": 4.0, "coding": 6.0, "agentic": 1.0})):
        static = dict(sc.model_dump(exclude_none=True))
        static["classes"] = [{**c, "arrival_rate_rps": rates[c["name"]]} for c in static["classes"]]
        assert s["periods"][p]["cost_usd_per_hr"] == pytest.approx(
            solve_scenario(validate_scenario(static)).summary["cost_usd_per_hr"], rel=1e-6)
