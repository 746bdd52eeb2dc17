"""The serving model against closed forms and its own invariants: one client sees one prefill and the batch-1
decode step; a one-slot engine under Poisson arrivals is an M/D/1 queue; every request is served once; the same
seed gives the same run; TTFT never falls as concurrency grows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from planner.inputs.chips import load_catalog
from planner.inputs.models import load_model
from planner.optimize.queueing import wait_quantile_s
from planner.serving.aggregated import simulate_aggregated
from planner.serving.clients import ClosedLoop, Lengths, OpenLoop
from planner.serving.disaggregated import Pools, simulate_disaggregated
from planner.serving.params import SERVING_PARAMS, using_serving_params
from planner.serving.step_times import EngineConfig, StepModel

ISL, OSL = 1024, 64


@pytest.fixture(scope="module")
def cfg() -> EngineConfig:
    cat = load_catalog()
    return EngineConfig(model=load_model("llama-3.1-8b"), chip=cat["h100-sxm"], weights="fp8", kv="fp8",
                        framework="sglang", max_batch=64)


@pytest.fixture(scope="module")
def step(cfg) -> StepModel:
    return StepModel(cfg, ISL, OSL, max_decode=64, max_prefill_tokens=8192)


def test_scalar_and_vectorized_interpolation_agree(step):
    rng = np.random.default_rng(0)
    pts = np.c_[rng.uniform(0, 80, 100), rng.uniform(ISL, ISL + 2 * OSL, 100), rng.uniform(0, 12000, 100)]
    vec = step.iteration_s(pts[:, 0], pts[:, 1], pts[:, 2])
    one = np.array([step.iteration_one_s(*p) for p in pts])
    np.testing.assert_allclose(one, vec, rtol=1e-9)
    assert np.all(np.diff(step.iteration_s(np.arange(1, 64), ISL, 0.0)) >= 0)  # more sequences never faster


def test_one_client_sees_one_prefill_and_the_batch1_decode_step(step):
    sim = simulate_aggregated(step, Lengths(ISL, OSL), ClosedLoop(1))
    r = sim.requests[sim.requests["measured"]]
    prefill = step.iteration_one_s(0, ISL, ISL)
    decode = step.iteration_one_s(1, ISL + OSL / 2, 0.0)
    lat = SERVING_PARAMS.request_s
    assert r["ttft_ms"].to_numpy() == pytest.approx((prefill + lat) * 1e3, rel=1e-9)
    # the answer's decode steps: contexts ISL+1 .. ISL+OSL-1, priced at the stretch's middle context
    assert r["tpot_ms"].to_numpy() == pytest.approx(decode * 1e3, rel=2e-3)


def test_a_one_slot_engine_under_poisson_arrivals_is_md1(cfg):
    """osl = 1 and max_batch 1: each request is one deterministic prefill of S seconds, served in arrival order.
    M/D/1: mean wait rho S / (2 (1 - rho)); the p90 wait from planner.optimize.queueing's M/D/c (c = 1)."""
    one = EngineConfig(**{**cfg.__dict__, "max_batch": 1})
    st = StepModel(one, ISL, 1, max_decode=1, max_prefill_tokens=ISL)
    with using_serving_params(SERVING_PARAMS.replace(request_s=0.0)):
        s = st.iteration_one_s(0, ISL, ISL)
        rho = 0.6
        sim = simulate_aggregated(st, Lengths(ISL, 1), OpenLoop(rate_rps=rho / s, requests=20000), seed=3)
    wait = sim.requests.loc[sim.requests["measured"], "ttft_ms"].to_numpy() / 1e3 - s
    assert wait.mean() == pytest.approx(rho * s / (2 * (1 - rho)), rel=0.06)
    p90 = float(wait_quantile_s(s, 1, rho, 90, scv=0.0))
    assert np.percentile(wait, 90) == pytest.approx(p90, rel=0.12)


@pytest.mark.parametrize("load", [ClosedLoop(16), ClosedLoop(16, start="staggered"), OpenLoop(20.0, requests=400)])
def test_every_request_is_served_once(step, load):
    sim = simulate_aggregated(step, Lengths(ISL, OSL, isl_cv=0.3, osl_cv=0.5), load, seed=1)
    r = sim.requests
    n = load.clients * load.per_client if isinstance(load, ClosedLoop) else load.requests
    assert len(r) == n
    assert np.isfinite(r[["arrival_s", "first_token_s", "end_s"]].to_numpy()).all()
    assert (r["first_token_s"] >= r["arrival_s"]).all() and (r["end_s"] >= r["first_token_s"]).all()
    emitted = (sim.itl_weight).sum() + n  # every decode token was in some iteration; the first from prefill
    assert emitted == pytest.approx(r["osl"].sum() - started_mid_answer(load, r), rel=1e-9)


def started_mid_answer(load, r) -> float:
    """Tokens a staggered start counts as already generated (its first requests begin mid-answer)."""
    if not isinstance(load, ClosedLoop) or load.start != "staggered":
        return 0.0
    firsts = r.iloc[:: load.per_client]
    progress = np.floor(firsts["osl"].to_numpy() * np.arange(load.clients) / load.clients)
    return float(np.where(progress > 0, progress - 1, 0).sum())


def test_same_seed_same_run(step):
    lengths = Lengths(ISL, OSL, isl_cv=0.5, osl_cv=0.5)
    a = simulate_aggregated(step, lengths, OpenLoop(15.0, requests=300, arrival_cv=2.0), seed=7).requests
    b = simulate_aggregated(step, lengths, OpenLoop(15.0, requests=300, arrival_cv=2.0), seed=7).requests
    c = simulate_aggregated(step, lengths, OpenLoop(15.0, requests=300, arrival_cv=2.0), seed=8).requests
    assert a.equals(b) and not a.equals(c)


def test_ttft_never_falls_as_concurrency_grows(step):
    ttft = [simulate_aggregated(step, Lengths(ISL, OSL), ClosedLoop(c)).summary()["ttft_ms_p50"]
            for c in (1, 2, 4, 8, 16, 32, 64)]
    assert all(b >= a * (1 - 1e-9) for a, b in zip(ttft, ttft[1:], strict=False)), ttft


def test_a_chunk_cap_never_speeds_a_lone_prompt(cfg):
    """One client: a budget below the prompt splits it over iterations, each paying the host time (under load a
    smaller budget can speed the first prompts of a wave, so this holds for a lone prompt only)."""
    ttft = []
    for budget in (8192, 1024, 512, 256):
        c2 = EngineConfig(**{**cfg.__dict__, "max_tokens": budget})
        st = StepModel(c2, ISL, OSL, max_decode=64, max_prefill_tokens=8192)
        ttft.append(simulate_aggregated(st, Lengths(ISL, OSL), ClosedLoop(1)).summary()["ttft_ms_p50"])
    assert ttft[0] == pytest.approx(ttft[1]) and ttft[1] < ttft[2] < ttft[3], ttft


def test_disaggregated_one_client(cfg, step):
    pools = Pools(step, 1, step, 1)
    sim = simulate_disaggregated(pools, Lengths(ISL, OSL), ClosedLoop(1))
    r = sim.requests[sim.requests["measured"]]
    sp = SERVING_PARAMS
    ttft = step.iteration_one_s(0, ISL, ISL) + float(pools.kv_transfer_s(ISL)) + sp.request_s + sp.disagg_handoff_s
    assert r["ttft_ms"].to_numpy() == pytest.approx(ttft * 1e3, rel=1e-9)
    assert r["tpot_ms"].to_numpy() == pytest.approx(step.iteration_one_s(1, ISL + OSL / 2, 0.0) * 1e3, rel=2e-3)
    # KV bytes of one prompt by hand: ISL x 2 (K, V) x 8 KV heads x 128 x 1 byte (fp8) x 32 layers over the NIC
    chip = cfg.chip
    bytes_ = ISL * 2 * 8 * 128 * 1 * 32
    expected = chip.efficiency.scaleout_latency_us * 1e-6 + bytes_ / (chip.scaleout_gb_s * chip.efficiency.scaleout * 1e9)
    assert float(pools.kv_transfer_s(ISL)) == pytest.approx(expected, rel=1e-9)


def test_disaggregated_serves_every_request_once(step):
    pools = Pools(step, 2, step, 3)
    for load in (ClosedLoop(24), OpenLoop(30.0, requests=300)):
        r = simulate_disaggregated(pools, Lengths(ISL, OSL, osl_cv=0.4), load, seed=2).requests
        assert np.isfinite(r[["first_token_s", "end_s"]].to_numpy()).all()
        assert (r["end_s"] >= r["first_token_s"]).all()


def _moe_prefill(dp: int, framework: str) -> EngineConfig:
    cat = load_catalog()
    return EngineConfig(model=load_model("deepseek-v3"), chip=cat["b200"], weights="fp8", kv="fp8", tp=1, ep=dp,
                        dp=dp, framework=framework, max_batch=dp)


def test_a_prefill_engine_is_priced_as_the_optimizers_prefill_role():
    """The simulator's prefill pool and the optimizer's coefficient table agree on a prefill instance: P tokens
    are P / isl prompts of the prefill role, spread over the attention-DP ranks."""
    from planner.engine.candidates import Candidates
    from planner.engine.roofline import evaluate
    from planner.engine.tables import DTYPE_CODE, FRAMEWORK_CODE, ROLE_CODE, ChipTable, ModelTable

    isl = 4096
    cfg = _moe_prefill(4, "trtllm")
    st = StepModel(cfg, isl, 256, max_decode=1, max_prefill_tokens=4 * isl, prefill_only=True)
    c = Candidates.from_columns(role=ROLE_CODE["prefill"], model=0, chip=0, tp=1, ep=4, dp=4, batch=[1.0, 4.0],
                                isl=isl, osl=256, wdtype=DTYPE_CODE["fp8"], kvdtype=DTYPE_CODE["fp8"],
                                framework=FRAMEWORK_CODE["trtllm"])
    ref = evaluate(c, ModelTable.build([cfg.model]), ChipTable.build([cfg.chip])).step_s
    got = [st.iteration_one_s(0, isl, isl), st.iteration_one_s(0, isl, 4 * isl)]
    assert got == pytest.approx(list(ref), rel=1e-6)


def test_each_attention_dp_rank_of_a_prefill_engine_takes_its_own_prompt():
    """Four clients, prompts as long as the token budget, a prefill engine of 4 attention-DP ranks: TensorRT-LLM
    budgets per rank, so one iteration prefills all four (the busiest rank's tokens on every rank); SGLang divides
    its chunked-prefill size among the ranks (8192 // 4 per rank), which still takes one prompt per rank."""
    isl, osl = 8192, 16
    for framework in ("trtllm", "sglang"):
        cfg = _moe_prefill(4, framework)
        assert cfg.rank_token_budget == (8192 if framework == "trtllm" else 2048)
        pstep = StepModel(cfg, isl, osl, max_decode=1, max_prefill_tokens=4 * isl, prefill_only=True)
        dstep = StepModel(dataclasses.replace(cfg, max_batch=64), isl, osl, max_decode=8, max_prefill_tokens=1)
        load = ClosedLoop(4, warmup=0, measured_per_client=1)
        with using_serving_params(SERVING_PARAMS.replace(request_s=0.0, disagg_handoff_s=0.0)):
            sim = simulate_disaggregated(Pools(pstep, 1, dstep, 1), Lengths(isl, osl), load)
        one_iteration = pstep.iteration_one_s(0, isl, 4 * isl) + float(Pools(pstep, 1, dstep, 1).kv_transfer_s(isl))
        firsts = sim.requests["first_token_s"].to_numpy()[load.first_requests()]
        assert firsts == pytest.approx([one_iteration] * 4, rel=1e-9), framework
        # one rank's prompt alone is cheaper than four: the ranks share the MoE exchanges, not the work
        assert pstep.iteration_one_s(0, isl, isl) < pstep.iteration_one_s(0, isl, 4 * isl)


@pytest.mark.parametrize("draft", [None, "llama-3.2-1b"])
def test_speculative_decoding_emits_its_accepted_tokens_per_iteration(cfg, draft):
    """MTP heads or a co-located draft model, gamma 2 at 2.2 tokens per step: one client's TPOT is the
    speculative iteration over 2.2 (aggregated and P/D decode alike); the iteration costs more than a plain decode
    step (the verify of 3 tokens per sequence and the draft's work) and the TPOT is lower at batch 1."""
    big = dataclasses.replace(cfg, model=load_model("llama-3.1-70b"), tp=4, framework="trtllm")
    spec = dataclasses.replace(big, spec_tokens=2, spec_accept=2.2, draft_model=draft)
    plain_step = StepModel(big, ISL, OSL, max_decode=64, max_prefill_tokens=8192)
    spec_step = StepModel(spec, ISL, OSL, max_decode=64, max_prefill_tokens=8192)
    mid = ISL + OSL / 2
    assert spec_step.iteration_one_s(1, mid, 0.0) > plain_step.iteration_one_s(1, mid, 0.0)
    agg = simulate_aggregated(spec_step, Lengths(ISL, OSL), ClosedLoop(1)).requests
    agg = agg[agg["measured"]]
    expected = spec_step.iteration_one_s(1, mid, 0.0) / 2.2 * 1e3
    assert agg["tpot_ms"].to_numpy() == pytest.approx(expected, rel=0.03)
    assert agg["tpot_ms"].median() < plain_step.iteration_one_s(1, mid, 0.0) * 1e3
    pd_run = simulate_disaggregated(Pools(plain_step, 1, spec_step, 1), Lengths(ISL, OSL), ClosedLoop(1)).requests
    assert pd_run.loc[pd_run["measured"], "tpot_ms"].to_numpy() == pytest.approx(expected, rel=0.03)
    for frame in (agg, pd_run):  # every answer complete, once
        assert frame["end_s"].notna().all()
