"""Which chips a serving framework runs (catalogs/frameworks.yaml) and what `deploy.framework: auto` picks: the
optimizer places pools only on chips the plan's framework runs, says which it left out and who runs them, and a
framework that runs none of the chips offered is refused by field."""

from __future__ import annotations

import pytest

from planner.errors import PlannerError
from planner.inputs.frameworks import auto_framework, framework_table, runs_on
from planner.inputs.scenario import validate_scenario
from planner.optimize.solve import solve_scenario

BASE = {"name": "fw", "model": "llama-3.1-8b", "workload": {"arrival_rate_rps": 5, "isl": 1024, "osl": 128},
        "slo": {"ttft_ms": 1000, "tpot_ms": 40}}


def test_the_table_has_a_source_per_framework_and_tensorrt_llm_is_nvidia_only():
    table = framework_table()
    assert set(table) == {"trtllm", "vllm", "sglang"} and all(v["source"] for v in table.values())
    assert runs_on("trtllm", "NVIDIA") and not runs_on("trtllm", "AMD")
    assert all(runs_on(f, "AMD") for f in ("vllm", "sglang")) and runs_on("vllm", "AWS")
    assert not any(runs_on(f, v) for f in table for v in ("Groq", "Cerebras", "d-Matrix"))


@pytest.mark.parametrize("vendors, framework", [
    ({"h100-sxm": "NVIDIA", "b200": "NVIDIA"}, "trtllm"),
    ({"h100-sxm": "NVIDIA", "mi300x": "AMD"}, "vllm"),
    ({"tpu-v6e": "Google", "trainium2": "AWS"}, "vllm"),
    ({"h100-sxm": "NVIDIA", "groq-lpu": "Groq"}, "vllm"),
])
def test_auto_picks_tensorrt_llm_on_nvidia_else_the_framework_that_runs_the_chips(vendors, framework):
    assert auto_framework(vendors)[0] == framework


def test_pools_go_only_on_chips_the_framework_runs():
    mixed = [{"id": "h100-sxm", "price_usd_per_hr": 2.5}, {"id": "mi300x", "price_usd_per_hr": 1.0}]
    auto = solve_scenario(validate_scenario({**BASE, "chips": mixed}))
    assert auto.summary["deployment"]["framework"] == "vllm"
    assert any("framework: vLLM" in n for n in auto.summary["notes"])
    trt = solve_scenario(validate_scenario({**BASE, "chips": mixed, "deploy": {"framework": "trtllm"}}))
    assert set(trt.pools["chip"]) == {"h100-sxm"}  # the cheaper MI300X is not a TensorRT-LLM chip
    assert any("mi300x is not used: TensorRT-LLM does not run it (vLLM and SGLang run it)" in n
               for n in trt.summary["notes"])
    with pytest.raises(PlannerError, match="runs on none of the chips") as err:
        solve_scenario(validate_scenario({**BASE, "chips": [{"id": "mi300x"}], "deploy": {"framework": "trtllm"}}))
    assert err.value.field == "deploy.framework" and "framework: vllm" in err.value.hint


NVFP4 = {**BASE, "model": "nvidia/Qwen3-235B-A22B-NVFP4", "workload": {"arrival_rate_rps": 5, "isl": 2048, "osl": 256},
         "slo": {"ttft_ms": 2000, "tpot_ms": 50}, "chips": [{"id": "h100-sxm"}, {"id": "b200"}]}


@pytest.mark.parametrize("framework, on_hopper", [("trtllm", False), ("sglang", False), ("vllm", True)])
def test_nvfp4_checkpoints_run_weight_only_on_hopper_only_where_the_framework_does(framework, on_hopper):
    """An NVFP4 checkpoint on H100 (no FP4 math): vLLM runs it as 4-bit weights with 16-bit math (the shared
    serving rows hold 69 such runs); TensorRT-LLM (FP4 needs Blackwell) and SGLang are not planned there."""
    from planner.optimize.solve import prepare

    prep = prepare(validate_scenario({**NVFP4, "deploy": {"framework": framework}}))
    chips = set(prep.table["chip"].astype(str))
    assert ("h100-sxm" in chips) == on_hopper and "b200" in chips
    notes = " ".join(prep.notes)
    assert ("does not run NVFP4 checkpoints without 4-bit math" in notes) != on_hopper
    assert ("h100-sxm has no fp4 math: the 4-bit weights run weight-only" in notes) == on_hopper


def test_a_checkpoint_no_offered_chip_runs_under_the_framework_is_refused_by_field():
    with pytest.raises(PlannerError, match="does not run NVFP4 checkpoints") as err:
        solve_scenario(validate_scenario({**NVFP4, "chips": [{"id": "h100-sxm"}], "deploy": {"framework": "trtllm"}}))
    assert err.value.field == "deploy.framework"


def test_mxfp4_checkpoints_run_weight_only_on_hopper_under_every_framework():
    """gpt-oss (MXFP4) on H100 and H200: every framework runs it with 16-bit math."""
    from planner.optimize.solve import prepare

    for framework in ("trtllm", "vllm", "sglang"):
        prep = prepare(validate_scenario({**NVFP4, "model": "openai/gpt-oss-120b", "deploy": {"framework": framework},
                                          "chips": [{"id": "h100-sxm"}, {"id": "h200-sxm"}]}))
        assert set(prep.table["chip"].astype(str)) == {"h100-sxm", "h200-sxm"}, framework
