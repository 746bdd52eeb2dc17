"""DeepSeek sparse attention (DSA) in the engine, by hand: the cache keeps every token's latent KV and its indexer
key; a query reads its top-k tokens' KV; the indexer scores every cached token."""

from __future__ import annotations

import pytest

from planner.inputs.models import load_model
from tests.engine.one_instance import evaluate_one

V32 = "deepseek-ai/DeepSeek-V3.2"


def _eval(model, role="decode", **kw):
    return evaluate_one(model, "h200-sxm", role, **{"tp": 8, "ep": 8, "batch": 32.0, **kw})


@pytest.fixture(scope="module")
def models():
    sparse = load_model(V32)
    return sparse, sparse.model_copy(update={"sparse_attention": None})


def test_the_cache_holds_every_tokens_latent_and_indexer_key(models):
    sparse, dense = models
    sa = sparse.sparse_attention
    assert (sa.topk, sa.index_heads, sa.index_head_dim, sa.indexer_layers) == (2048, 64, 128, 61)
    # 61 layers x (512 latent + 64 rope) fp8 bytes, plus 61 indexer keys of 128 fp8 bytes and a 4-byte scale
    assert _eval(sparse).kv_bytes_per_token[0] == pytest.approx(61 * 576 + 61 * 132)
    assert _eval(dense).kv_bytes_per_token[0] == pytest.approx(61 * 576)


def test_beyond_top_k_a_longer_context_costs_the_indexer_only(models):
    """From 16k to 64k tokens of context, the dense model's decode step grows with the whole latent cache read;
    the sparse one's by far less (its attention reads 2,048 tokens at every context; the indexer still scans all
    of them: 132 bytes per token and layer against 576)."""
    sparse, dense = models

    def growth(model):
        r = _eval(model, isl=[16384.0, 65536.0])
        return r.t_attn_core_s[1] - r.t_attn_core_s[0]
    ratio = growth(sparse) / growth(dense)
    assert 0.1 < ratio < 0.5, ratio


def test_short_contexts_attend_as_dense_plus_the_indexer(models):
    sparse, dense = models
    s, d = _eval(sparse, isl=1024.0), _eval(dense, isl=1024.0)
    assert s.t_attn_core_s[0] > d.t_attn_core_s[0]  # the indexer is extra work below top-k
    assert s.t_attn_core_s[0] < 1.5 * d.t_attn_core_s[0]


def test_a_long_prompt_prefills_far_cheaper_than_dense_attention(models):
    """Attention data-parallel (each rank all 128 heads of its own prompts, as DeepSeek deploys): 64k-token prompts
    cost their top-2,048 attention plus the indexer's fp8 scores (64 x 128 per pair against 128 x 640 bf16)."""
    sparse, dense = models
    kw = dict(role="prefill", tp=1, ep=8, dp=8, batch=8.0, isl=65536.0)
    s, d = _eval(sparse, **kw).t_attn_core_s[0], _eval(dense, **kw).t_attn_core_s[0]
    assert s < 0.25 * d, (s, d)


def test_the_indexer_is_replicated_across_tensor_parallel_ranks(models):
    """Under TP the attention heads split and the indexer does not (its scores sum over all heads before top-k), so
    at TP 8 a 64k prompt's sparse attention costs nearly what dense attention does."""
    sparse, dense = models
    kw = dict(role="prefill", batch=1.0, isl=65536.0)
    s, d = _eval(sparse, **kw).t_attn_core_s[0], _eval(dense, **kw).t_attn_core_s[0]
    assert 0.5 * d < s < 1.2 * d, (s, d)
