"""Demand over time: profiles, traces binned into periods (closed form), and the scenario checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.errors import PlannerError
from planner.inputs.demand import demand_table, trace_period_rates
from planner.inputs.scenario import Demand, load_scenario, validate_scenario


def test_trace_rates_are_window_percentiles_per_period():
    # period 1 (0-120 s): windows of 60 s with 6 and 0 arrivals; period 2 (120-240 s): 3 and 12 arrivals
    arrivals = np.concatenate([np.linspace(0, 50, 6), np.linspace(125, 170, 3), np.linspace(185, 239, 12)])
    rates = trace_period_rates(arrivals, 120.0, 60.0, 100.0)
    assert rates == pytest.approx([6 / 60, 12 / 60])
    assert trace_period_rates(arrivals, 120.0, 60.0, 50.0) == pytest.approx([3 / 60, 7.5 / 60])


def test_trace_file_demand(tmp_path):
    times = pd.Timestamp("2023-11-16 18:00:00") + pd.to_timedelta(np.arange(0, 7200, 2.0), unit="s")
    f = tmp_path / "t.csv"
    pd.DataFrame({"TIMESTAMP": times.strftime("%Y-%m-%d %H:%M:%S.%f"), "ContextTokens": 100,
                  "GeneratedTokens": 20}).to_csv(f, index=False)
    d = demand_table(Demand(trace=str(f), period_hours=1.0, window_s=60, percentile=95, scale=3),
                     {"default": None})
    assert d.periods == 2 and d.total_rps == pytest.approx([1.5, 1.5])
    assert d.trace_lengths == {"isl": 100.0, "osl": 20.0}


def test_profile_per_class_and_split_by_mix():
    d = demand_table(Demand(profile={"chat": [1.0, 2.0], "code": [3.0, 0.0]}), {"chat": None, "code": None})
    assert d.rates["code"].tolist() == [3.0, 0.0]
    d = demand_table(Demand(profile=[10.0, 20.0]), {"chat": 3.0, "code": 1.0})
    assert d.rates["chat"].tolist() == [7.5, 15.0]
    with pytest.raises(PlannerError, match="profile's classes"):
        demand_table(Demand(profile={"chat": [1.0]}), {"chat": None, "code": None})
    with pytest.raises(PlannerError, match="mix"):
        demand_table(Demand(profile=[1.0]), {"chat": None, "code": 1.0})


def _base(**update):
    sc = load_scenario("scenarios/diurnal-chat.yaml")
    data = sc.model_dump(exclude_none=True)
    data.update(update)
    return data


@pytest.mark.parametrize("update,field", [
    ({"demand": {"profile": [1.0], "trace": "x.csv"}}, "demand"),
    ({"demand": {"profile": []}}, "demand"),
    ({"demand": {"profile": [0.0, 0.0]}}, "demand"),
    ({"demand": {"profile": [-1.0]}}, "demand"),
    ({"demand": {"profile": [1.0], "period_hours": 0}}, "demand.period_hours"),
    ({"objective": "max-throughput", "budget_usd_per_hr": 10.0}, "demand"),
    ({"models": [{"name": "a", "model": "llama-3.1-8b", "workload": {"isl": 1, "osl": 1}}]}, "models"),
])
def test_bad_demand_is_refused_with_its_field(update, field):
    with pytest.raises(PlannerError) as exc:
        validate_scenario(_base(**update))
    assert exc.value.field.startswith(field.split(".")[0])


def test_price_fields_need_their_pricing_model():
    from planner.optimize.pricing import chip_price_table

    data = _base(pricing={}, chips=[{"id": "h100-sxm", "reserved_price_usd_per_hr": 1.0}])
    with pytest.raises(PlannerError) as exc:
        chip_price_table(validate_scenario(data))
    assert exc.value.field == "chips[0].reserved_price_usd_per_hr"
    data = _base(pricing={"spot": {}}, chips=[{"id": "h100-sxm", "owned_count": 4, "capex_usd": 25000.0}])
    prices = chip_price_table(validate_scenario(data))
    assert prices.at["h100-sxm", "owned_fixed_usd_per_hr"] == pytest.approx(25000 / (5 * 8760))
    assert prices.at["h100-sxm", "owned_energy_usd_per_hr"] == pytest.approx(0.7 * 1.3 * 0.10)
    assert prices.at["h100-sxm", "spot_usd_per_hr"] == pytest.approx(0.5 * prices.at["h100-sxm", "on_demand_usd_per_hr"])
