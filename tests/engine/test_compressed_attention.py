"""DeepSeek-V4's compressed attention in the engine, by hand: every layer keeps its last 128 tokens' KV; a CSA layer
also one entry per 4 tokens (a query reads its top-k of them, picked by an indexer that scores every entry), an
HCA layer one per 128 tokens (all read). One KV head of 512 serves as keys and values."""

from __future__ import annotations

import pytest

from planner.engine.tables import DTYPE_CODE
from planner.inputs.chips import load_catalog
from planner.inputs.models import load_model
from tests.engine.one_instance import evaluate_one

FLASH = "deepseek-ai/DeepSeek-V4-Flash"


def _eval(model, role="decode", **kw):
    return evaluate_one(model, "b200", role, **{"tp": 8, "ep": 8, "batch": 32.0, "wdtype": DTYPE_CODE["fp4"], **kw})


@pytest.fixture(scope="module")
def flash():
    return load_model(FLASH)


def test_the_flash_layers_and_cache_by_hand(flash):
    ca = flash.compressed_attention
    assert (flash.num_layers, ca.csa_layers, ca.hca_layers, ca.window, ca.topk) == (43, 21, 20, 128, 512)
    assert (flash.num_kv_heads, flash.head_dim, flash.checkpoint.weights) == (1, 512, "fp4")
    # a token adds, amortized: 21 CSA entries / 4 and 20 HCA entries / 128 of 512 fp8 bytes, and 21 indexer keys / 4
    # of 128 fp8 bytes and a 4-byte scale; the window (128 tokens x 43 layers x 512) is per request
    r = _eval(flash, isl=[1024.0, 64.0])
    assert r.kv_bytes_per_token[0] == pytest.approx(512 * (21 / 4 + 20 / 128) + 21 * 132 / 4)
    assert r.state_bytes_per_request[0] == pytest.approx(128 * 43 * 512)
    assert r.state_bytes_per_request[1] == pytest.approx(64 * 43 * 512)  # a prompt shorter than the window


def test_kv_held_per_sequence_by_hand(flash):
    """KV held at context c per sequence: 43 x (min(c, 128) + c x (21/4 + 20/128) / 43) entries of 512 bytes, plus
    the indexer keys (c/4 x 132 bytes on 21 layers); tp 8 replicates the one KV head on every chip."""
    c, seqs = 65536.0, 8.0
    r = _eval(flash, role="prefill", batch=seqs, isl=c)
    entries = 43 * 128 + c * (21 / 4 + 20 / 128)
    assert r.kv_bytes[0] == pytest.approx(seqs * (entries * 512 + c / 4 * 132 * 21))


def test_decode_reads_a_nearly_constant_context(flash):
    """From 16k to 64k tokens the step grows by the HCA entries and the indexer's scan only: the CSA layers read
    their top 512 entries at both (16k / 4 = 4,096 entries > 512), the window 128 tokens. Against a dense-context
    model of the same shape (every token cached and read), the growth is over 10x smaller."""
    dense = flash.model_copy(update={"compressed_attention": None})

    def growth(model):
        r = _eval(model, isl=[16384.0, 65536.0])
        return r.t_attn_core_s[1] - r.t_attn_core_s[0]
    assert 0 < growth(flash) < growth(dense) / 10


def test_a_long_prompt_attends_its_window_and_entries(flash):
    """A 64k prompt's attention pairs per layer, averaged: window 128, CSA min(32k/4, 512) (21 of 43 layers), HCA
    32k/128 (20 of 43): about 507 keys per query against the dense 32k, so prefill attention is far cheaper."""
    dense = flash.model_copy(update={"compressed_attention": None})
    kw = dict(role="prefill", tp=1, ep=8, dp=8, batch=8.0, isl=65536.0)
    s, d = _eval(flash, **kw).t_attn_core_s[0], _eval(dense, **kw).t_attn_core_s[0]
    assert s < 0.1 * d, (s, d)


def test_a_disaggregated_request_carries_its_window_with_its_entries(flash):
    """P/D transfer of a prompt: its compressed entries and indexer keys (2,768 fp8 bytes and 693 per token) and,
    up to 128 tokens, the window's KV on 43 layers (512 bytes each). From 64 to 128 tokens both grow, from 128 to
    256 only the entries: the two increments are in the ratio (64 x 3,461 + 64 x 22,016) / (128 x 3,461)."""
    import numpy as np

    from planner.serving.disaggregated import Pools
    from planner.serving.step_times import EngineConfig, StepModel

    cfg = EngineConfig(model=flash, chip=load_catalog()["b200"], weights="fp4", kv="fp8", tp=8, ep=8,
                       framework="sglang")
    step = StepModel(cfg, 256, 16, max_decode=1, max_prefill_tokens=256, prefill_only=True)
    t64, t128, t256 = Pools(step, 1, step, 1).kv_transfer_s(np.array([64.0, 128.0, 256.0]))
    per_token = 512 * (21 / 4 + 20 / 128) + 21 * 132 / 4
    assert (t128 - t64) / (t256 - t128) == pytest.approx((64 * per_token + 64 * 43 * 512) / (128 * per_token))
