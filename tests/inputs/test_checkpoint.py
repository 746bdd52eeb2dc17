"""Checkpoint precision (planner/inputs/quantization.py) and Hugging Face ids (models/zoo, the local HF cache)."""

from __future__ import annotations

import json

import pytest

from planner.errors import PlannerError
from planner.inputs.models import load_model
from planner.inputs.quantization import checkpoint_precision
from planner.inputs.scenario import validate_scenario


@pytest.mark.parametrize("config, hf_quant, expected", [
    ({"quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}}, None, ("fp8", None)),
    ({"quantization_config": {"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn"]}},
     None, ("fp4", None)),
    ({}, {"quantization": {"quant_algo": "NVFP4", "kv_cache_quant_algo": "FP8"}}, ("fp4", "fp8")),
    ({"quantization_config": {"quant_method": "fp8"}}, {"quantization": {"quant_algo": "NVFP4"}}, ("fp4", None)),
    ({}, {"quantization": {"quant_algo": "MIXED_PRECISION", "kv_cache_quant_algo": "FP8", "quantized_layers": {
        "a": {"quant_algo": "W4A16_NVFP4"}, "b": {"quant_algo": "W4A16_NVFP4"}, "c": {"quant_algo": "FP8"}}}},
     ("w4a16", "fp8")),
    ({"quantization_config": {"quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups": {
        "g": {"weights": {"num_bits": 4, "type": "int", "group_size": 32}, "input_activations": None}}}},
     None, ("w4a16", None)),
    ({"quantization_config": {"quant_method": "compressed-tensors", "kv_cache_scheme": "FP8", "config_groups": {
        "g": {"weights": {"num_bits": 8, "type": "float"}, "input_activations": {"num_bits": 8}}}}}, None, ("fp8", "fp8")),
    # Kimi-K3: MXFP4 weights, activations left to the server, as gpt-oss's MXFP4 experts (not INT4 weight-only)
    ({"quantization_config": {"quant_method": "compressed-tensors", "format": "mxfp4-pack-quantized", "config_groups": {
        "g": {"weights": {"num_bits": 4, "type": "float", "group_size": 32}, "input_activations": None}}}},
     None, ("fp4", None)),
    # DeepSeek-V4: FP4 experts beside fp8 blocks, planned at the experts' MXFP4
    ({"expert_dtype": "fp4", "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}},
     None, ("fp4", None)),
])
def test_recipes(config, hf_quant, expected):
    got = checkpoint_precision(config, hf_quant)
    assert (got["weights"], got["kv_cache"]) == expected and got["recipe"]


@pytest.mark.parametrize("config, hf_quant, fmt", [
    ({"quantization_config": {"quant_method": "mxfp4"}}, None, "mxfp4"),
    ({}, {"quantization": {"quant_algo": "NVFP4"}}, "nvfp4"),
    ({}, {"quantization": {"quant_algo": "MXFP4"}}, "mxfp4"),
    ({}, {"quantization": {"quant_algo": "MIXED_PRECISION", "quantized_layers": {  # planned at NVFP4, some MXFP4
        "a": {"quant_algo": "NVFP4"}, "b": {"quant_algo": "NVFP4"}, "c": {"quant_algo": "MXFP4"}}}}, "nvfp4"),
    ({"quantization_config": {"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized", "config_groups": {
        "g": {"weights": {"num_bits": 4, "type": "float"}, "input_activations": {"num_bits": 4}}}}}, None, "nvfp4"),
    ({"quantization_config": {"quant_method": "fp8"}}, None, None),
    ({"quantization_config": {"quant_method": "compressed-tensors", "format": "mxfp4-pack-quantized", "config_groups": {
        "g": {"weights": {"num_bits": 4, "type": "float"}, "input_activations": None}}}}, None, "mxfp4"),
    ({"expert_dtype": "fp4", "quantization_config": {"quant_method": "fp8"}}, None, "mxfp4"),
])
def test_the_fp4_format_of_a_checkpoint(config, hf_quant, fmt):
    """Which 4-bit float format a checkpoint ships (what a framework may run weight-only without FP4 math)."""
    assert checkpoint_precision(config, hf_quant)["fp4_format"] == fmt


def test_unquantized_checkpoints_have_no_recipe():
    assert checkpoint_precision({"torch_dtype": "bfloat16"}) is None


def test_hugging_face_ids_find_a_preset_or_the_bundled_config():
    assert load_model("Qwen/Qwen3.5-397B-A17B").linear_attention is not None  # models/zoo
    gpt = load_model("openai/gpt-oss-120b")  # the preset's architecture, the release's MXFP4 precision
    assert gpt.id == "gpt-oss-120b" and gpt.checkpoint.weights == "fp4"
    assert load_model("nvidia/Qwen3-235B-A22B-NVFP4").checkpoint.kv_cache == "fp8"  # its hf_quant_config.json


def test_hugging_face_ids_from_the_local_cache(tmp_path, monkeypatch):
    snap = tmp_path / "models--acme--tiny-llm" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 512, "vocab_size": 1000}))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    m = load_model("acme/tiny-llm")
    assert m.id == "tiny-llm" and m.num_layers == 2


def test_unknown_hugging_face_ids_say_where_they_looked():
    with pytest.raises(PlannerError) as e:
        load_model("qwen/qwen3.5-397b-a17")
    assert "models/zoo" in str(e.value) and "qwen/qwen3.5-397b-a17b" in str(e.value) and e.value.field == "model"


def _scenario(**kw):
    base = {"name": "t", "model": "Qwen/Qwen3-32B-FP8", "workload": {"arrival_rate_rps": 1.0, "isl": 1024, "osl": 128},
            "slo": {"ttft_ms": 2000, "tpot_ms": 50}, "chips": [{"id": "h100-sxm"}]}
    return validate_scenario({**base, **kw})


def test_a_scenario_plans_the_checkpoints_precision_unless_it_names_one():
    sc = _scenario()
    assert sc.precision.weights == "fp8" and "128x128 blocks" in sc.precision.source
    assert _scenario(precision={"weights": "bf16"}).precision.weights == "bf16"
    assert _scenario(model="llama-3.1-8b").precision.weights == "bf16"  # a preset: its architecture, 16-bit
