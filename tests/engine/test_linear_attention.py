"""Linear-attention hybrids (Gated DeltaNet layers beside softmax attention) in the engine, by hand: the KV cache
covers the full-attention layers only, each sequence holds a constant recurrent state, and the decode step's
growth with the context comes from the full-attention layers alone."""

from __future__ import annotations

import numpy as np
import pytest

from planner.inputs.architecture import LinearAttention, ModelArch
from planner.inputs.chips import load_catalog
from tests.engine.one_instance import evaluate_one

GDN = LinearAttention(num_layers=36, num_key_heads=16, num_value_heads=32, key_head_dim=128, value_head_dim=128)
HYBRID = ModelArch(id="hybrid", hidden_size=4096, num_layers=48, num_heads=32, num_kv_heads=4, head_dim=128,
                   intermediate_size=12288, vocab_size=150000, attn_output_gate=True, linear_attention=GDN)


def _full() -> ModelArch:
    return HYBRID.model_copy(update={"id": "full", "linear_attention": None})


def _eval(model, role="decode", **kw):
    return evaluate_one(model, "h100-sxm", role, **kw)


def test_kv_covers_the_full_attention_layers_and_each_sequence_holds_its_state():
    res = _eval(HYBRID, batch=[1.0, 3.0])
    # KV per token: 12 full layers x 2 x 4 KV heads x 128 x 1 byte (fp8)
    assert res.kv_bytes_per_token[0] == pytest.approx(12 * 2 * 4 * 128)
    # state per sequence: 36 layers x (32 x 128 x 128 + (2 x 16 x 128 + 32 x 128) x 3) fp32 elements
    state = 36 * (32 * 128 * 128 + (2 * 16 * 128 + 32 * 128) * 3) * 4
    assert res.state_bytes_per_request[0] == pytest.approx(state)
    assert HYBRID.state_bytes_per_sequence == state
    # two more sequences add two states and two contexts' KV of the full layers (mean decode context 1025)
    grown = res.kv_bytes[1] - res.kv_bytes[0]
    assert grown == pytest.approx(2 * (state + 1025.0 * 12 * 2 * 4 * 128), rel=1e-9)


def test_decode_slows_with_context_only_in_the_full_attention_layers():
    """The step's growth from a 1k to a 32k context: the hybrid's full-attention layers are a quarter of the
    all-attention model's, and the recurrent state costs the same at every context."""
    def growth(model):
        r = _eval(model, batch=64.0, isl=[1024.0, 32768.0])
        return r.tpot_s[1] - r.tpot_s[0]
    ratio = growth(HYBRID) / growth(_full())
    assert ratio == pytest.approx(12 / 48, rel=0.15)


def test_prefill_attention_is_quadratic_only_in_the_full_layers():
    """A prompt twice as long: the hybrid's attention grows by the 12 of 48 full layers' share of the all-attention
    model's growth, plus the 36 linear layers' scan of the extra tokens (6 dk dv FLOPs per token and value head
    at the scan's share of the bf16 peak)."""
    from planner.engine.params import PARAMS

    def core(model, isl):
        return float(_eval(model, role="prefill", isl=isl).t_attn_core_s[0])
    hybrid = core(HYBRID, 32768.0) - core(HYBRID, 16384.0)
    full = core(_full(), 32768.0) - core(_full(), 16384.0)
    chip = load_catalog()["h100-sxm"]
    scan = 36 * 16384 * 6 * 32 * 128 * 128 / (chip.peak_tflops["bf16"] * 1e12 * PARAMS.linear_scan_efficiency)
    assert hybrid == pytest.approx(12 / 48 * full + scan, rel=0.02)


def test_pd_transfer_carries_the_state():
    from planner.serving.disaggregated import Pools
    from planner.serving.step_times import EngineConfig, StepModel

    cfg = EngineConfig(model=HYBRID, chip=load_catalog()["h100-sxm"], weights="fp8", kv="fp8", max_batch=4)
    st = StepModel(cfg, 1024, 16, max_decode=4, max_prefill_tokens=1024)
    pools = Pools(st, 1, st, 1)
    chip = cfg.chip
    bw = chip.scaleout_gb_s * chip.efficiency.scaleout * 1e9
    lat = chip.efficiency.scaleout_latency_us * 1e-6
    expected = lat + (1024 * 12 * 2 * 4 * 128 + HYBRID.state_bytes_per_sequence) / bw
    assert float(pools.kv_transfer_s(1024)) == pytest.approx(expected, rel=1e-9)
    assert np.isfinite(expected)
