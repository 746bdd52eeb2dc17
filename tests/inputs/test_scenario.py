"""Scenario files: validation, field-level errors, did-you-mean, references to chips and models."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest
import yaml

from planner.errors import PlannerError
from planner.inputs.scenario import Scenario, load_scenario, require_limits, validate_scenario
from planner.paths import SCENARIOS_DIR

EXAMPLES = [
    "llama70b-chat", "long-context-prefill", "decode-heavy", "deepseek-v3-moe", "heterogeneous-inventory",
    "budget-throughput", "eight-chips",
]
BASE = {
    "name": "t", "model": "llama-3.1-70b", "workload": {"arrival_rate_rps": 5, "isl": 1024, "osl": 128},
    "chips": [{"id": "h100-sxm"}],
}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hf"


def _err(data) -> PlannerError:
    with pytest.raises(PlannerError) as info:
        validate_scenario(data)
    return info.value


def _write(tmp_path: Path, data, name="s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_load(name):
    sc = load_scenario(SCENARIOS_DIR / f"{name}.yaml")
    assert sc.name == name
    assert sc.chips


def test_examples_cover_the_issue():
    scs = {n: load_scenario(SCENARIOS_DIR / f"{n}.yaml") for n in EXAMPLES}
    assert any(s.model == "deepseek-v3" for s in scs.values())
    assert any(len(s.chips) >= 4 and all(c.max_count is not None for c in s.chips) for s in scs.values())
    assert any(s.objective == "max-throughput" and s.budget_usd_per_hr for s in scs.values())
    assert any(s.workload.isl >= 8 * s.workload.osl for s in scs.values())  # prefill-heavy
    assert any(s.workload.osl >= 4 * s.workload.isl for s in scs.values())  # decode-heavy


def test_defaults():
    sc = validate_scenario(BASE)
    assert sc.modes == ["aggregated", "disaggregated"]
    assert sc.objective == "min-cost"
    assert sc.slo.ttft_percentile == 90
    assert sc.margin is None
    assert sc.precision.weights == "bf16" and sc.kv_dtype == "bf16"
    assert validate_scenario({**BASE, "precision": {"weights": "fp4"}}).kv_dtype == "fp8"


def test_model_validate_roundtrip_and_pickle():
    sc = Scenario.model_validate({**BASE, "slo": {"tpot_ms": 30}})
    assert Scenario.model_validate(sc.model_dump()) == sc
    assert pickle.loads(pickle.dumps(sc)) == sc


def test_unknown_key_did_you_mean():
    e = _err({**BASE, "slo": {"tpot": 30}})
    assert e.field == "slo.tpot" and "tpot_ms" in str(e)
    e = _err({**BASE, "chips": [{"id": "h100-sxm", "maxcount": 4}]})
    assert e.field == "chips[0].maxcount" and "max_count" in str(e)
    e = _err({**BASE, "workload": {**BASE["workload"], "arrival_rate": 3}})
    assert "arrival_rate_rps" in str(e)
    e = _err({**BASE, "objectiv": "min-cost"})
    assert "objective" in str(e)


def test_bad_values_name_the_field():
    e = _err({**BASE, "slo": {"tpot_ms": -1}})
    assert e.field == "slo.tpot_ms" and "greater than 0" in str(e)
    e = _err({**BASE, "modes": ["agg"]})
    assert e.field == "modes[0]" and "disaggregated" in str(e)
    e = _err({**BASE, "objective": "cheapest"})
    assert e.field == "objective"
    e = _err({**BASE, "slo": {"ttft_percentile": 100}})
    assert e.field == "slo.ttft_percentile"
    e = _err({**BASE, "workload": {**BASE["workload"], "output_length_cv": -0.5}})
    assert e.field == "workload.output_length_cv" and "greater than or equal to 0" in str(e)


def test_missing_fields_and_rate():
    e = _err({k: v for k, v in BASE.items() if k != "workload"})
    assert e.field == "workload" and "required" in str(e)
    e = _err({**BASE, "workload": {"isl": 10, "osl": 10}})
    assert e.field == "workload.arrival_rate_rps"
    # max-throughput needs no rate
    validate_scenario({**BASE, "workload": {"isl": 10, "osl": 10}, "objective": "max-throughput", "max_chips": 8})


def test_duplicate_chip():
    e = _err({**BASE, "chips": [{"id": "h100-sxm"}, {"id": "h100-sxm"}]})
    assert e.field == "chips" and "twice" in str(e)


def test_unknown_chip_and_model(tmp_path):
    e = pytest.raises(PlannerError, load_scenario, _write(tmp_path, {**BASE, "chips": [{"id": "h100-sxm"}, {"id": "h100-sx"}]}))
    assert e.value.field == "chips[1].id" and "h100-sxm" in str(e.value)
    e = pytest.raises(PlannerError, load_scenario, _write(tmp_path, {**BASE, "model": "llama-3.1-70"}))
    assert e.value.field == "model" and "llama-3.1-70b" in str(e.value)


def test_unknown_chip_is_fine_with_an_overlay(tmp_path):
    overlay = tmp_path / "extra.yaml"
    from planner.inputs.chips import load_catalog

    entry = load_catalog()["h100-sxm"].model_dump(mode="json")
    entry.update(id="my-chip", name="mine")
    overlay.write_text(yaml.safe_dump({"chips": [entry]}))
    sc = load_scenario(_write(tmp_path, {**BASE, "chips": [{"id": "my-chip"}]}), catalogs=[str(overlay)])
    assert sc.chips[0].id == "my-chip"


def test_model_path_relative_to_scenario(tmp_path):
    shutil.copytree(FIXTURES / "llama-3.1-70b", tmp_path / "my-llama")
    sc = load_scenario(_write(tmp_path, {**BASE, "model": "my-llama/config.json"}))
    assert Path(sc.model).is_absolute() and Path(sc.model).exists()


def test_not_yaml_and_not_found(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: [unclosed")
    with pytest.raises(PlannerError, match="not valid YAML"):
        load_scenario(p)
    with pytest.raises(PlannerError, match="not found"):
        load_scenario(tmp_path / "nope.yaml")
    p.write_text("- just\n- a list\n")
    with pytest.raises(PlannerError, match="mapping"):
        load_scenario(p)


def test_require_limits():
    sc = validate_scenario({**BASE, "objective": "max-throughput"})
    with pytest.raises(PlannerError) as e:
        require_limits(sc)
    assert e.value.exit_code == 2 and "budget_usd_per_hr" in str(e.value)
    require_limits(validate_scenario({**BASE, "objective": "max-throughput", "max_power_kw": 10}))
    require_limits(validate_scenario({**BASE, "chips": [{"id": "h100-sxm", "max_count": 8}]}))
