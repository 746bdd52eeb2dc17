"""The fitted engine constants: frozen, with provenance, varied only in a scope, and the single source that the
calibration bounds and the kernel model's defaults derive from."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from planner.analyses import calibrate, kernels
from planner.engine.candidates import Candidates
from planner.engine.params import PARAMS, EngineParams, active_params, using_params
from planner.engine.roofline import evaluate
from planner.engine.tables import ROLE_CODE, ChipTable, ModelTable
from planner.inputs.chips import load_catalog
from planner.inputs.models import load_model
from planner.inputs.scenario import validate_scenario
from planner.optimize.coefficients import CoefficientCache, CoefficientKey


def test_params_are_frozen_and_every_field_says_where_it_came_from():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PARAMS.host_s_trtllm = 1.0  # type: ignore[misc]
    rows = EngineParams.provenance()
    assert {r["name"] for r in rows} == {f.name for f in dataclasses.fields(EngineParams)}
    for r in rows:
        lo, hi = r["bounds"]
        assert lo <= r["value"] <= hi, r["name"]
        assert r["data"] and r["command"] and r["meaning"] and r["unit"], r["name"]


def _decode_step_s() -> float:
    cat = load_catalog()
    mt, ct = ModelTable.build([load_model("llama-3.1-8b")]), ChipTable.build([cat["h100-sxm"]])
    c = Candidates.from_columns(role=ROLE_CODE["decode"], model=0, chip=0, tp=1, batch=8, isl=1024, osl=128,
                                wdtype=0, kvdtype=0)
    return float(evaluate(c, mt, ct).step_s[0])


def test_using_params_changes_the_engine_only_inside_its_scope():
    base = _decode_step_s()
    with using_params(PARAMS.replace(host_s_trtllm=PARAMS.host_s_trtllm + 1e-3)) as p:
        assert active_params() is p
        assert _decode_step_s() == pytest.approx(base + 1e-3, rel=1e-12)
    assert active_params() is PARAMS and _decode_step_s() == base
    seen = []  # another thread never sees a scope opened here
    with using_params(PARAMS.replace(host_s_trtllm=0.0)):
        t = threading.Thread(target=lambda: seen.append(active_params()))
        t.start()
        t.join()
    assert seen == [PARAMS]


def test_coefficient_tables_are_cached_per_parameter_set():
    sc = validate_scenario({
        "name": "p", "model": "llama-3.1-8b", "workload": {"arrival_rate_rps": 1, "isl": 512, "osl": 64},
        "slo": {"ttft_ms": 2000, "tpot_ms": 100}, "chips": [{"id": "h100-sxm"}],
        "search": {"max_chips_per_instance": 1, "pipeline_parallel": [1]},
    })
    cache = CoefficientCache()
    plain = cache.get(CoefficientKey.of(sc))
    with using_params(PARAMS.replace(host_s_trtllm=0.0)):
        fast = cache.get(CoefficientKey.of(sc))
    assert cache.misses == 2 and len(cache) == 2
    dec = (plain["role"] == "decode").to_numpy()
    assert np.all(fast["tpot_ms"].to_numpy()[dec] < plain["tpot_ms"].to_numpy()[dec])


def test_calibration_bounds_and_kernel_defaults_derive_from_the_params():
    for name, (engine_name, scale) in kernels.ENGINE_FIELDS.items():
        lo, hi = EngineParams.bounds(engine_name)
        assert calibrate.BOUNDS[name] == pytest.approx((lo * scale, hi * scale)), name
        assert getattr(kernels.KernelParams(), name) == pytest.approx(getattr(PARAMS, engine_name) * scale), name
