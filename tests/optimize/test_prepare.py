"""planner.optimize.prepare: the MILP data of one scenario, computed by hand where it can be."""

from __future__ import annotations

import pytest

from planner.errors import InfeasibleError, PlannerError
from planner.optimize.prepare import prepare, resolve_margin
from planner.optimize.prune import MODE_ROLES
from planner.optimize.uncertainty import Margins, planning_margins


def test_margin_precedence(small):
    assert resolve_margin(small(margin=0.2), None) == Margins.uniform(0.2, "scenario margin")
    assert resolve_margin(small(margin=0.2), 0.05) == Margins.uniform(0.05, "--margin")  # explicit beats the scenario's
    sc = small()
    default = resolve_margin(sc.model_copy(update={"margin": None}), None)  # the held-out margins
    assert default == planning_margins() and max(default.default) > 0


def test_min_cost_data(small, cache):
    sc = small()
    p = prepare(sc, cache=cache)
    assert p.objective == "min-cost" and p.spec.rate_min == 6 and p.margin == Margins.uniform(0.0, "scenario margin")
    assert set(p.modes) <= {"aggregated", "disaggregated"} and p.modes
    allowed = {r for m in p.modes for r in MODE_ROLES[m]}
    assert set(p.table["role"].astype(str)) <= allowed
    # KV per request: ISL x 2 (K and V) x 8 KV heads x 128 head dim x 1 byte (fp8) x 32 layers
    assert p.spec.kv_gb_per_request == pytest.approx(1024 * 2 * 8 * 128 * 1 * 32 / 1e9)
    assert (p.table["tpot_ms"].dropna() <= 40 + 1e-9).all()  # the TPOT filter held
    assert p.timings["coefficients_s"] >= 0 and p.timings["prune_s"] >= 0


def test_margin_scales_capacities(small, cache):
    plain = prepare(small(), cache=cache).table
    padded = prepare(small(), cache=cache, margin=0.25).table
    key = ["role", "chip", "tp", "ep", "pp", "dp", "batch"]
    both = plain.merge(padded, on=key, suffixes=("", "_m"))
    assert len(both)
    assert (both["capacity_rps_m"] <= both["capacity_rps"] / 1.25 * (1 + 1e-9)).all()


def test_max_throughput_has_no_rate_floor(small, cache):
    p = prepare(small(objective="max-throughput", max_chips=8), cache=cache)
    assert p.spec.rate_min is None and p.spec.max_chips == 8


def test_unreachable_tpot_names_the_field_and_the_lowest_value(small, cache):
    with pytest.raises(InfeasibleError) as e:
        prepare(small(slo={"ttft_ms": 1500, "tpot_ms": 0.5}), cache=cache)
    assert e.value.field == "slo.tpot_ms" and "raise slo.tpot_ms to at least" in e.value.hint


def test_chips_without_the_dtype_are_noted_or_refused(small, cache):
    sc = small(precision={"weights": "fp8"}, chips=[{"id": "a100-sxm-80gb"}, {"id": "h100-sxm"}])
    p = prepare(sc, cache=cache)
    assert any("a100-sxm-80gb has no fp8 support" in n for n in p.notes)
    assert set(p.table["chip"].astype(str)) == {"h100-sxm"}
    with pytest.raises(PlannerError) as e:
        prepare(small(precision={"weights": "fp8"}, chips=[{"id": "a100-sxm-80gb"}]), cache=cache)
    assert e.value.field == "precision.weights"


def test_four_bit_float_weights_run_weight_only_on_chips_without_four_bit_math(small, cache):
    """An NVFP4/MXFP4 checkpoint on Hopper runs as 4-bit weights with 16-bit math (how gpt-oss is served on H100)."""
    p = prepare(small(precision={"weights": "fp4"}, chips=[{"id": "h100-sxm"}, {"id": "b200"}]), cache=cache)
    assert any("h100-sxm has no fp4 math" in n and "w4a16" in n for n in p.notes)
    dtypes = p.table.groupby(p.table["chip"].astype(str))["weights_dtype"].agg(lambda s: set(s.astype(str)))
    assert dtypes["h100-sxm"] == {"w4a16"} and dtypes["b200"] == {"fp4"}
