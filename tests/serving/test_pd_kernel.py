"""The compiled open-loop P/D simulation (planner.serving.pd_kernel) against the reference event loop in Python:
the same requests' first-token and end times, the same inter-token latencies, under Poisson and bursty arrivals,
fixed and distributed lengths, several prefill engines with attention-DP ranks batching prompts, prefix caching,
speculative decoding and a replayed trace."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from planner.inputs.chips import load_catalog
from planner.inputs.models import load_model
from planner.serving.clients import Lengths, OpenLoop, RecordedLengths, Replay
from planner.serving.disaggregated import Pools, simulate_disaggregated
from planner.serving.step_times import EngineConfig, StepModel

ISL, OSL = 1024, 128


def _pools(prefill_dp: int = 1, prefill_batch: int = 4, decode_batch: int = 48, prefill_workers: int = 3,
           decode_workers: int = 4, **decode_kw) -> Pools:
    cat = load_catalog()
    model = load_model("llama-3.1-8b")
    p = EngineConfig(model=model, chip=cat["h100-sxm"], weights="fp8", kv="fp8", dp=prefill_dp,
                     max_batch=prefill_batch * prefill_dp, max_tokens=4096, **{k: v for k, v in decode_kw.items()
                                                                               if k.startswith("prefix")})
    d = dataclasses.replace(p, dp=1, max_batch=decode_batch, **decode_kw)
    ps = StepModel(p, ISL, OSL, max_decode=1, max_prefill_tokens=ISL * p.max_batch, prefill_only=True)
    ds = StepModel(d, ISL, OSL, max_decode=decode_batch, max_prefill_tokens=1)
    return Pools(ps, prefill_workers, ds, decode_workers)


def _both(pools: Pools, lengths, load, seed: int = 3):
    ref = simulate_disaggregated(pools, lengths, load, seed=seed, compiled=False)
    fast = simulate_disaggregated(pools, lengths, load, seed=seed)
    return ref, fast


def _assert_same(ref, fast, rel: float = 0.0):
    for col in ("arrival_s", "first_token_s", "end_s", "ttft_ms", "e2e_ms"):
        a, b = ref.requests[col].to_numpy(), fast.requests[col].to_numpy()
        assert np.isfinite(b).all(), col  # every request served
        np.testing.assert_allclose(b, a, rtol=rel, atol=0, err_msg=col)
    # the same iterations (the compiled run lists them engine by engine, the reference in time order)
    np.testing.assert_allclose(np.sort(fast.itl_s), np.sort(ref.itl_s), rtol=max(rel, 1e-15))
    assert fast.itl_weight.sum() == pytest.approx(ref.itl_weight.sum(), rel=max(rel, 1e-12))


@pytest.mark.parametrize("arrival_cv, osl_cv, decode_batch", [(1.0, 0.0, 48), (1.0, 0.5, 48), (2.5, 0.5, 48),
                                                               (1.0, 0.5, 24)])
def test_compiled_equals_reference_under_open_loops(arrival_cv, osl_cv, decode_batch):
    """Poisson and bursty arrivals near the pools' capacity (prompts queue for the prefill engines; at batch 24
    sequences also wait for decode slots), fixed and distributed lengths."""
    pools = _pools(decode_batch=decode_batch)
    ref, fast = _both(pools, Lengths(ISL, OSL, isl_cv=osl_cv, osl_cv=osl_cv), OpenLoop(150.0, requests=3000,
                                                                                          arrival_cv=arrival_cv))
    ttft = ref.requests["ttft_ms"]
    assert ttft.max() - ttft.min() > 50  # prompts did queue
    _assert_same(ref, fast)


def test_compiled_equals_reference_with_attention_dp_batches_and_one_decoder():
    """A prefill engine of 4 attention-DP ranks takes several prompts per iteration; their KV lands on the one
    decode engine together (one event for the batch), which admits them at its next boundary."""
    pools = _pools(prefill_dp=4, prefill_batch=2, prefill_workers=1, decode_workers=1, decode_batch=96)
    ref, fast = _both(pools, Lengths(ISL, OSL), OpenLoop(30.0, requests=1500))
    _assert_same(ref, fast)


def test_compiled_equals_reference_with_prefix_caching_and_speculation():
    """Half of each prompt from the prefix cache; MTP-style speculation emitting 2.3 tokens per iteration (a
    fractional token count: the compiled run counts tokens per engine, the reference per sequence, so the sums
    round differently in the last bits)."""
    pools = _pools(prefix_hit=0.5, spec_tokens=2, spec_accept=2.3)
    ref, fast = _both(pools, Lengths(ISL, OSL, osl_cv=0.3), OpenLoop(45.0, requests=2000))
    _assert_same(ref, fast, rel=1e-9)


def test_compiled_equals_reference_on_a_replayed_trace():
    rng = np.random.default_rng(5)
    n = 1200
    times = tuple(np.cumsum(rng.exponential(1 / 35.0, n)))
    lengths = RecordedLengths(tuple(rng.integers(200, 3000, n)), tuple(rng.integers(2, 400, n)))
    ref, fast = _both(_pools(), lengths, Replay(35.0, requests=n, times_s=times))
    _assert_same(ref, fast)


def test_one_token_answers_end_at_their_first_token():
    pools = _pools()
    ref, fast = _both(pools, Lengths(ISL, 1), OpenLoop(20.0, requests=400))
    r = fast.requests
    assert (r["end_s"] == r["first_token_s"]).all()
    _assert_same(ref, fast)


def test_the_event_guard_stops_a_runaway_simulation():
    with pytest.raises(RuntimeError, match="did not finish"):
        simulate_disaggregated(_pools(), Lengths(ISL, OSL), OpenLoop(20.0, requests=400), max_events=50)
