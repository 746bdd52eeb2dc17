"""The serving framework's host time per iteration: once per step of every role, per framework, shared by the
optimizer's table, `planner estimate`, the points validation and the serving model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from planner.analyses.validate import parse_framework
from planner.axes.evaluate import coefficient_table
from planner.cli import main
from planner.engine.candidates import Candidates, Grid
from planner.engine.params import PARAMS, using_params
from planner.engine.roofline import evaluate
from planner.engine.tables import FRAMEWORK_CODE, FRAMEWORKS, ROLE_CODE, ChipTable, ModelTable
from planner.inputs.chips import load_catalog
from planner.inputs.models import load_model
from planner.paths import SCENARIOS_DIR
from planner.serving.step_times import EngineConfig, StepModel


@pytest.fixture(scope="module")
def tables():
    return ModelTable.build([load_model("llama-3.1-8b")]), ChipTable.build([load_catalog()["h100-sxm"]])


@pytest.mark.parametrize("role", ["prefill", "decode", "aggregated"])
def test_each_framework_adds_its_own_host_time_once_per_step(tables, role):
    mt, ct = tables
    codes = np.array([FRAMEWORK_CODE[f] for f in FRAMEWORKS])
    c = Candidates.from_columns(role=ROLE_CODE[role], model=0, chip=0, tp=1, batch=8, isl=1024, osl=128, wdtype=1,
                                kvdtype=1, framework=codes)
    no_per_seq = {f"host_s_per_seq_{f}": 0.0 for f in FRAMEWORKS}  # the fixed part alone (per sequence: below)
    with using_params(PARAMS.replace(host_s_trtllm=1e-3, host_s_vllm=3e-3, host_s_sglang=7e-3, **no_per_seq)):
        step = evaluate(c, mt, ct).step_s
    # hand-computed: the kernels are the same, so the steps differ by the host times' differences
    np.testing.assert_allclose(step - step[0], [0.0, 2e-3, 6e-3], atol=1e-12)
    with using_params(PARAMS.replace(host_s_trtllm=0.0, host_s_vllm=0.0, host_s_sglang=0.0, **no_per_seq)):
        kernels = evaluate(c, mt, ct).step_s
    np.testing.assert_allclose(step - kernels, [1e-3, 3e-3, 7e-3], rtol=1e-9)


def test_the_serving_model_prices_an_iteration_as_the_engine_step(tables):
    mt, ct = tables
    cat = load_catalog()
    cfg = EngineConfig(model=load_model("llama-3.1-8b"), chip=cat["h100-sxm"], weights="fp8", kv="fp8",
                       framework="sglang", max_batch=16)
    st = StepModel(cfg, 1024, 128, max_decode=16, max_prefill_tokens=1024)
    c = Candidates.from_columns(role=ROLE_CODE["aggregated"], model=0, chip=0, tp=1, batch=16, isl=1024, osl=128,
                                wdtype=1, kvdtype=1, decode_ctx=1024.0, prefill_seqs=0.0,
                                framework=FRAMEWORK_CODE["sglang"])
    assert st.iteration_one_s(16, 1024.0, 0.0) == pytest.approx(float(evaluate(c, mt, ct).step_s[0]), rel=1e-9)


def test_the_scenario_framework_shifts_the_decode_table_by_the_host_time_difference():
    cat = load_catalog()
    grid = dict(roles=("decode",), weights_dtypes=("fp8",), isl=1024, osl=128, pp_options=(1,),
                max_chips_per_instance=2, decode_batches_per_rank=(1, 64))
    tables = {f: coefficient_table([load_model("llama-3.1-8b")], [cat["h100-sxm"]], Grid(**grid, framework=f))
              for f in ("trtllm", "sglang")}
    diff = (tables["sglang"]["tpot_ms"] - tables["trtllm"]["tpot_ms"]).to_numpy()
    seqs = (tables["trtllm"]["batch"] / tables["trtllm"]["dp"]).to_numpy(float)  # sequences per scheduler
    want = (PARAMS.host_s_sglang - PARAMS.host_s_trtllm) + (PARAMS.host_s_per_seq_sglang
                                                            - PARAMS.host_s_per_seq_trtllm) * seqs
    np.testing.assert_allclose(diff, want * 1e3, rtol=1e-6)


def test_estimate_and_solve_take_the_framework(tmp_path):
    runner = CliRunner()
    out = {}
    for f in ("trtllm", "sglang"):
        r = runner.invoke(main, ["estimate", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "--batch", "32",
                                 "--framework", f, "--format", "json"])
        assert r.exit_code == 0, r.output
        out[f] = json.loads(r.output)
    assert out["sglang"]["framework"] == "sglang"
    per_seq = PARAMS.host_s_per_seq_sglang - PARAMS.host_s_per_seq_trtllm  # 32 sequences, one scheduler
    assert out["sglang"]["tpot_ms"] - out["trtllm"]["tpot_ms"] == pytest.approx(
        (PARAMS.host_s_sglang - PARAMS.host_s_trtllm + 32 * per_seq) * 1e3, rel=1e-6)
    data = yaml.safe_load((SCENARIOS_DIR / "llama70b-chat.yaml").read_text())
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**data, "deploy": {"framework": "tgi"}}))
    r = runner.invoke(main, ["solve", str(bad)])
    assert r.exit_code == 2 and "deploy.framework" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("notes, framework", [
    ("x | framework: TensorRT-LLM (MLPerf harness) | y", "trtllm"),
    ("framework: SGLang v0.5.9 (rocm700)", "sglang"),
    ("framework: vLLM 0.10.0, RHEL 9.6", "vllm"),
    ("framework: not stated (PyTorch harness)", "trtllm"),
    ("no framework named", "trtllm"),
])
def test_points_rows_name_their_framework(notes, framework):
    assert parse_framework(notes) == framework


@pytest.mark.parametrize("role, seqs_per_rank", [("decode", 32 / 4), ("prefill", 32 / 4),
                                                 ("aggregated", (32 + 32 / 128) / 4)])
def test_a_scheduler_adds_its_time_per_sequence_for_the_sequences_its_rank_carries(role, seqs_per_rank):
    """Each attention-DP rank's scheduler handles its own share: with 1 ms per iteration and 10 us per sequence, a
    batch of 32 over 4 ranks adds 1 ms + 8 x 10 us (decode: 8 sequences per rank; prefill: 8 prompts; aggregated,
    steady state: 8 decodes and 32/128/4 prompts per rank). Hand-computed from the kernels alone (host times 0)."""
    mt, ct = ModelTable.build([load_model("mixtral-8x7b")]), ChipTable.build([load_catalog()["h100-sxm"]])
    c = Candidates.from_columns(role=ROLE_CODE[role], model=0, chip=0, tp=1, ep=4, dp=4, batch=32, isl=1024, osl=128,
                                wdtype=1, kvdtype=1, framework=FRAMEWORK_CODE["sglang"])
    none = {f"host_s_{f}": 0.0 for f in FRAMEWORKS} | {f"host_s_per_seq_{f}": 0.0 for f in FRAMEWORKS}
    with using_params(PARAMS.replace(**none)):
        kernels = float(evaluate(c, mt, ct).step_s[0])
    with using_params(PARAMS.replace(**(none | {"host_s_sglang": 1e-3, "host_s_per_seq_sglang": 1e-5}))):
        step = float(evaluate(c, mt, ct).step_s[0])
    assert step - kernels == pytest.approx(1e-3 + 1e-5 * seqs_per_rank, rel=1e-9)
