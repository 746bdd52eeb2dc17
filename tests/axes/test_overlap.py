"""Two-batch overlap (planner.axes.overlap) by hand: the overlapped step from the engine's half-batch families,
where it pays and where it costs, which rows get a twin, the scenario key and framework, validation rows that ran
it, and the launch flags against the frameworks' own argument parsers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from planner.analyses.validate import parse_two_batch_overlap, predict_points, read_points
from planner.axes import overlap
from planner.engine.candidates import Candidates
from planner.engine.params import active_params
from planner.engine.roofline import evaluate
from planner.engine.tables import DTYPE_CODE, FRAMEWORK_CODE, ROLE_CODE, ChipTable, ModelTable
from planner.export.launch import sglang_launch, trtllm_launch, vllm_launch
from planner.inputs.chips import load_catalog
from planner.inputs.models import load_model
from planner.inputs.scenario import validate_scenario
from planner.optimize.coefficients import scenario_coefficients
from planner.optimize.solve import solve_scenario

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "exports"


@pytest.fixture(scope="module")
def tables():
    return ModelTable.build([load_model("deepseek-v3")]), ChipTable.build([load_catalog()["h100-sxm"]])


def _cands(**cols) -> Candidates:
    base = dict(model=0, chip=0, tp=1, ep=16, pp=1, dp=16, batch=1024, isl=2048, osl=256, wdtype=DTYPE_CODE["fp8"],
                kvdtype=DTYPE_CODE["fp8"], framework=FRAMEWORK_CODE["sglang"], role=ROLE_CODE["decode"], tbo=1)
    base.update(cols)
    return Candidates.from_columns(**base)


def test_overlapped_step_by_hand(tables):
    """step = host + 2 (max(K, M) + O) with K, M, O the kernels, communication and launch overhead of one
    half-batch as the engine prices it, and the host time the scheduler's for the whole batch; TPOT and the rates follow from the step."""
    mt, ct = tables
    for role, batch in ((ROLE_CODE["decode"], 1024.0), (ROLE_CODE["prefill"], 64.0)):
        c = _cands(role=role, batch=batch)
        full = evaluate(c, mt, ct)
        half = evaluate(_cands(role=role, batch=batch / 2), mt, ct)
        kernels = sum(float(half.family_time_s(f)[0]) for f in ("attn_proj", "attn_core", "ffn", "lm_head"))
        p = active_params()  # the scheduler's time: fixed + per sequence of the full batch on one of 16 ranks
        host = p.host_s_sglang + p.host_s_per_seq_sglang * batch / 16
        want = host + 2 * (max(kernels, float(half.t_comm_s[0])) + float(half.t_overhead_s[0]))
        out = overlap.apply_two_batch_overlap(c, full, mt, ct)
        assert out.step_s[0] == pytest.approx(want, rel=1e-12)
        if role == ROLE_CODE["decode"]:
            assert out.tpot_s[0] == pytest.approx(want) and out.requests_per_s[0] == pytest.approx(batch / (want * 256))
        else:
            assert out.requests_per_s[0] == pytest.approx(batch / want)
            assert out.ttft_s[0] - full.ttft_s[0] == pytest.approx(want - full.step_s[0])
        untouched = overlap.apply_two_batch_overlap(_cands(role=role, batch=batch, tbo=0), full, mt, ct)
        assert untouched.step_s[0] == full.step_s[0]


def test_overlap_pays_where_the_all_to_all_crosses_nodes_and_costs_where_weights_dominate(tables):
    """EP 32 spans four 8-GPU nodes (the all-to-all on the NICs): a 2k-token prefill batch gets faster. A step of
    8 sequences per rank reads its experts' weights twice, one read per micro-batch: it gets slower (the formula;
    the planner makes twins of prefill rows only)."""
    mt, ct = tables
    wide = _cands(role=ROLE_CODE["prefill"], batch=64, ep=32, dp=32)
    w0 = evaluate(wide, mt, ct)
    assert overlap.apply_two_batch_overlap(wide, w0, mt, ct).step_s[0] < 0.8 * w0.step_s[0]
    small = _cands(role=ROLE_CODE["decode"], batch=8 * 8, ep=8, dp=8)
    s0 = evaluate(small, mt, ct)
    assert overlap.apply_two_batch_overlap(small, s0, mt, ct).step_s[0] > s0.step_s[0]


def test_only_expert_and_attention_data_parallel_prefill_rows_get_a_twin(tables):
    """Prefill with EP > 1, DP > 1, TP 1, PP 1; never decode (docs/physics.md: the one decode row that ran it)."""
    mt, ct = tables
    p, d = ROLE_CODE["prefill"], ROLE_CODE["decode"]
    rows = dict(role=[p, d, ROLE_CODE["aggregated"], p, p, p, p], ep=[16, 16, 16, 1, 16, 16, 8],
                dp=[16, 16, 16, 16, 1, 8, 4], tp=[1, 1, 1, 1, 16, 2, 1], pp=[1, 1, 1, 1, 1, 1, 2], tbo=0)
    c = _cands(**{k: np.asarray(v) for k, v in rows.items()})
    assert overlap.eligible(c, mt).tolist() == [True, False, False, False, False, False, False]
    out = overlap.tbo_variants(c, mt)
    assert len(out) == 8 and out.tbo.tolist() == [0] * 7 + [1] and out.role[7] == p
    dense = ModelTable.build([load_model("llama-3.1-70b")])
    assert not overlap.eligible(c, dense).any()


BASE = {"name": "tbo", "model": "deepseek-v3", "precision": {"weights": "fp8", "kv_cache": "fp8"},
        "workload": {"arrival_rate_rps": 40, "isl": 2048, "osl": 512}, "slo": {"ttft_ms": 5000, "tpot_ms": 100},
        "chips": [{"id": "h100-sxm"}], "search": {"max_chips_per_instance": 64}, "modes": ["disaggregated"]}


def _scenario(framework: str, tbo: str | None):
    deploy = {"framework": framework} | ({"two_batch_overlap": tbo} if tbo else {})
    return validate_scenario({**BASE, "deploy": deploy})


def test_the_scenario_key_and_the_framework_decide_which_rows_are_priced_overlapped():
    assert _scenario("sglang", None).deploy.two_batch_overlap == "off"  # opt-in
    assert scenario_coefficients(_scenario("sglang", "auto"))["tbo"].sum() > 0
    assert scenario_coefficients(_scenario("vllm", "auto"))["tbo"].sum() > 0
    for fw, tbo in (("trtllm", "auto"), ("sglang", "off")):  # TensorRT-LLM has no such option here
        assert not scenario_coefficients(_scenario(fw, tbo))["tbo"].any()


def test_a_plan_with_overlap_is_no_dearer_and_its_commands_carry_the_flags():
    off, auto = solve_scenario(_scenario("sglang", "off")), solve_scenario(_scenario("sglang", "auto"))
    assert auto.summary["cost_usd_per_hr"] <= off.summary["cost_usd_per_hr"] + 1e-9
    assert any(n.startswith("relies on two-batch overlap: prefill") for n in auto.summary["notes"])
    assert not any("two-batch overlap" in n for n in off.summary["notes"])
    trt = solve_scenario(_scenario("trtllm", "auto")).summary["notes"]
    assert any("TensorRT-LLM has no such option" in n for n in trt)
    plan = json.loads(json.dumps(auto.summary, default=str))
    pools = plan["pools"]
    assert any(p["tbo"] for p in pools) and not any(p["tbo"] for p in json.loads(json.dumps(off.summary, default=str))["pools"])
    parsers = {t: json.loads((FIXTURES / f).read_text())["options"]
               for t, f in (("vllm", "vllm_serve_args.json"), ("sglang", "sglang_server_args.json"))}
    for launch, pool in zip(sglang_launch(plan), pools, strict=True):
        flags = [a for a in launch.argv if a.startswith("--")]
        assert all(f in parsers["sglang"] for f in flags)
        assert ("--enable-two-batch-overlap" in flags) == bool(pool["tbo"])
        if pool["tbo"]:
            assert launch.argv[launch.argv.index("--moe-a2a-backend") + 1] == "deepep"
    plan["deployment"]["framework"] = "vllm"
    for launch, pool in zip(vllm_launch(plan), pools, strict=True):
        flags = [a for a in launch.argv if a.startswith("--")]
        assert all(f in parsers["vllm"] for f in flags)
        assert ("--enable-dbo" in flags) == bool(pool["tbo"])
        if pool["tbo"]:
            want = {"prefill": "deepep_high_throughput", "decode": "deepep_low_latency"}[pool["role"]]
            assert launch.argv[launch.argv.index("--all2all-backend") + 1] == want
    plan["deployment"]["framework"] = "trtllm"
    notes = [n for launch in trtllm_launch(plan) for n in launch.notes]
    assert any("two-batch overlap" in n for n in notes)


def test_published_rows_that_ran_two_batch_overlap_are_predicted_with_it():
    assert parse_two_batch_overlap("framework: SGLang (DeepEP normal, DeepGEMM, TBO) | source parallelism: EP32")
    assert parse_two_batch_overlap("framework: vLLM 0.11 (dual-batch overlap)")
    assert not parse_two_batch_overlap("framework: SGLang | notes: TBO elsewhere")
    pts = read_points()
    res = predict_points(pts[pts["id"].isin(["SG-P2", "SG-GB2", "SG-D1"])])
    cfg = dict(zip(res["id"], res["config"], strict=True))
    assert cfg["SG-P2"].endswith("tbo") and "tbo" not in cfg["SG-GB2"]
    assert "tbo" not in cfg["SG-D1"]  # decode ran it, but is priced without (docs/physics.md)
