"""Property-based fuzzing of every input kind (Hypothesis): a damaged scenario, sweep, catalog overlay, model
config, points or serving table is either accepted or refused with a PlannerError (exit 2 in the CLI), never
another exception. The budget here is what CI affords; `python scripts/fuzz_inputs.py` runs the CLI end to end on
thousands of inputs."""

from __future__ import annotations

import json
import random

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.analyses.serving import predict_serving, read_serving
from planner.analyses.validate import predict_points, read_points
from planner.batch.sweep import iter_items
from planner.errors import PlannerError
from planner.inputs.chips import load_catalog
from planner.inputs.models import load_model
from planner.inputs.scenario import check_references, validate_scenario
from planner.paths import SCENARIOS_DIR
from tests.mutate import mutate

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SEEDS = st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 4))
CHAT = yaml.safe_load((SCENARIOS_DIR / "llama70b-chat.yaml").read_text())
CONFIG = {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
          "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
          "max_position_embeddings": 131072, "torch_dtype": "bfloat16"}


def _refused_or_ok(fn, *args):
    try:
        fn(*args)
    except PlannerError:
        pass


@FUZZ
@given(SEEDS)
def test_damaged_scenarios_are_accepted_or_refused(seed):
    doc = mutate(CHAT, random.Random(seed[0]), seed[1])

    def check(d):
        sc = validate_scenario(d, "fuzz")
        check_references(sc)
    _refused_or_ok(check, doc)


@FUZZ
@given(SEEDS)
def test_damaged_sweeps_are_accepted_or_refused(tmp_path, seed):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(CHAT))
    doc = mutate({"base": "base.yaml", "sweep": {"slo.tpot_ms": [20, 40], "workload.isl": [512, 2048]}},
                 random.Random(seed[0]), seed[1])
    p = tmp_path / "sw.yaml"
    p.write_text(yaml.safe_dump(doc) if not isinstance(doc, float) else "1.0")
    _refused_or_ok(lambda: [validate_scenario(it.scenario, "fuzz") for it in iter_items([p]) if it.scenario])


@FUZZ
@given(SEEDS)
def test_damaged_catalog_overlays_are_accepted_or_refused(tmp_path, seed):
    doc = mutate({"chips": [{"id": "h100-sxm", "price_usd_per_hr": 1.9},
                            {"id": "my-chip", "name": "Mine", "vendor": "X", "peak_tflops": {"bf16": 500.0},
                             "memory": [{"name": "HBM", "capacity_gb": 80.0, "bandwidth_tb_s": 2.0}],
                             "scaleup_gb_s": 100.0, "price_usd_per_hr": 2.0}]},
                 random.Random(seed[0]), seed[1])
    p = tmp_path / f"ov-{seed[0]}-{seed[1]}.yaml"  # a new name per example: catalogs are cached by path
    p.write_text(yaml.safe_dump(doc) if not isinstance(doc, float) else "nan")
    _refused_or_ok(load_catalog, (str(p),))


@FUZZ
@given(SEEDS)
def test_damaged_model_configs_are_accepted_or_refused(tmp_path, seed):
    doc = mutate(CONFIG, random.Random(seed[0]), seed[1])
    p = tmp_path / "config.json"
    p.write_text(json.dumps(doc, allow_nan=True))
    _refused_or_ok(load_model, str(p))


ZOO = ["Qwen--Qwen3.5-397B-A17B", "nvidia--NVIDIA-Nemotron-3-Super-120B-A12B-FP8", "deepseek-ai--DeepSeek-V3.2",
       "zai-org--GLM-5.2", "nvidia--Qwen3.6-35B-A3B-NVFP4", "moonshotai--Kimi-K2.5",
       "nvidia--Llama-3_3-Nemotron-Super-49B-v1", "google--gemma-4-26B-A4B", "moonshotai--Kimi-K3", "deepseek-ai--DeepSeek-V4-Flash"]


@FUZZ
@given(SEEDS)
def test_damaged_current_model_configs_and_quantization_recipes_are_accepted_or_refused(tmp_path, seed):
    """Hybrids, sparse attention, latent MoE, NAS blocks, Gemma-4's two attention shapes and checkpoint recipes
    (config.json and hf_quant_config.json) damaged."""
    from planner.paths import ZOO_DIR

    rng = random.Random(seed[0])
    name = ZOO[seed[0] % len(ZOO)]
    folder = tmp_path / f"m{seed[0]}-{seed[1]}"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(mutate(json.loads((ZOO_DIR / f"{name}_config.json").read_text()),
                                                          rng, seed[1]), allow_nan=True, default=str))
    quant = ZOO_DIR / f"{name}_hf_quant_config.json"
    if quant.exists():
        (folder / "hf_quant_config.json").write_text(json.dumps(mutate(json.loads(quant.read_text()), rng, seed[1]),
                                                                allow_nan=True, default=str))
    _refused_or_ok(load_model, str(folder))


@pytest.mark.parametrize("kind", ["points", "serving"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=SEEDS)
def test_damaged_measurement_rows_are_scored_or_skipped(tmp_path, kind, seed):
    from pathlib import Path

    src = (Path("validation/points.csv") if kind == "points"
           else Path(__file__).resolve().parents[1] / "fixtures" / "serving" / "serving_small.csv")
    rng = random.Random(seed[0])
    lines = src.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    row = rng.choice(rows).split(",")
    for _ in range(seed[1]):  # damage cells of one row
        row[rng.randrange(len(row))] = rng.choice(["", "nan", "-1", "0", "TP8", "1e308", "inf", "x" * 50, "int8"])
    p = tmp_path / f"{kind}.csv"
    p.write_text(header + "\n" + ",".join(row) + "\n")
    if kind == "points":
        _refused_or_ok(lambda: predict_points(read_points(p)))
    else:
        _refused_or_ok(lambda: predict_serving(read_serving(p)))
