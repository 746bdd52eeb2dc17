"""Hand-computed physics checks of the roofline engine."""

from __future__ import annotations

import numpy as np
import pytest

from planner.engine.candidates import Candidates, Grid, build_candidates
from planner.engine.operators import (
    ACT_BYTES,
    KERNELS_PER_LAYER,
    allreduce_s,
    distinct_experts,
    group_allreduce_s,
    pipelined_prefill_s,
)
from planner.engine.params import PARAMS
from planner.engine.roofline import MEMORY_RESERVE_FRACTION, evaluate, to_frame
from planner.engine.tables import DTYPE_CODE, ROLE_CODE, ChipTable, ModelTable
from planner.inputs.chips import Chip, load_catalog
from planner.inputs.models import load_model


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def run(model, chip, role="decode", **kw):
    """Evaluate one candidate; returns (raw result of row 0, frame row 0)."""
    cols = dict(tp=1, ep=1, pp=1, dp=1, batch=1, isl=128, osl=2, wdtype=0, kvdtype=0, prefix_hit=0.0)
    cols.update(kw)
    mt, ct = ModelTable.build([model]), ChipTable.build([chip])
    c = Candidates.from_columns(role=ROLE_CODE[role], model=0, chip=0, **cols)
    res = evaluate(c, mt, ct)
    return res.row(0), to_frame(c, res, mt, ct).iloc[0]


def test_batch1_decode_is_weight_read_time(cat):
    """Batch-1 decode of a dense model ≈ weight bytes / sustained bandwidth (+ per-kernel overhead + the
    framework's per-step overhead)."""
    model, chip = load_model("llama-3.1-8b"), cat["h100-sxm"]
    raw, row = run(model, chip, isl=16, osl=2)
    weight_bytes = (model.total_params - model.vocab_size * model.hidden_size) * 2.0  # input embedding not read
    bw = chip.hbm_tb_s * 1e12 * chip.efficiency.memory
    expected = (weight_bytes / bw + model.num_layers * KERNELS_PER_LAYER * chip.efficiency.kernel_overhead_us * 1e-6
                + PARAMS.host_s_trtllm)
    assert raw["tpot_s"] == pytest.approx(expected, rel=0.03)
    t_launch = model.num_layers * KERNELS_PER_LAYER * chip.efficiency.kernel_overhead_us * 1e-6
    assert row["share_memory"] == pytest.approx((weight_bytes / bw) / (weight_bytes / bw + t_launch), rel=0.03)
    assert row["share_memory"] > 0.8  # memory-bound
    # and the memory it holds is the weights (16 GB in bf16) plus a little KV
    assert row["memory_gb_per_chip"] == pytest.approx(model.total_params * 2 / 1e9, rel=0.02)


def test_prefill_gemm_is_compute_bound(cat):
    """A 4k-token prefill: dense GEMM FLOPs = 2·params·tokens at the sustained fp8 rate."""
    model, chip = load_model("llama-3.1-8b"), cat["h100-sxm"]
    isl = 4096
    raw, row = run(model, chip, role="prefill", isl=isl, wdtype=DTYPE_CODE["fp8"], kvdtype=DTYPE_CODE["fp8"])
    layer_params = model.total_params - model.embedding_params
    gemm_flops = 2 * layer_params * isl
    eta = chip.efficiency.compute["fp8"] * isl / (isl + chip.efficiency.gemm_m_half)
    t_gemm = gemm_flops / (chip.peak_tflops["fp8"] * 1e12 * eta)
    # causal pairs s²/2 + s·416 (the kernel's fixed work per query row), 4·hd FLOPs per pair and head, per layer
    attn_flops = model.num_layers * 4 * (isl * isl / 2 + isl * 416.0) * model.num_heads * model.head_dim
    # + a fixed cost per (sequence, head, 128-row query tile): 2.76 decode work items
    tiles = model.num_layers * model.num_heads * isl / 128
    t_attn = (attn_flops / (chip.peak_tflops["bf16"] * 1e12 * chip.efficiency.attention)
              + tiles * 2.76 * chip.efficiency.attention_unit_ns * 1e-9)
    assert raw["t_attn_core_s"] == pytest.approx(t_attn, rel=0.02)
    assert raw["ttft_s"] == pytest.approx(t_gemm + t_attn, rel=0.05)
    assert row["share_compute"] > 0.9


def test_distinct_experts_low_batch_fix():
    assert distinct_experts(8, 2, 1) == pytest.approx(2.0)
    assert distinct_experts(8, 2, 2) == pytest.approx(8 * (1 - (6 / 8) ** 2))  # 3.5
    assert distinct_experts(256, 8, 10_000) == pytest.approx(256.0)
    assert distinct_experts(4, 4, 1) == 4


def test_moe_decode_reads_only_touched_experts(cat):
    """DeepSeek-V3 decode at batch 1 reads ~8 routed experts per layer, not 256."""
    model, chip = load_model("deepseek-v3"), cat["b200"]
    kw = dict(tp=8, ep=8, wdtype=DTYPE_CODE["fp8"], kvdtype=DTYPE_CODE["fp8"], isl=16)
    raw1, _ = run(model, chip, batch=1, **kw)
    raw256, _ = run(model, chip, batch=256, **kw)
    expert_bytes = model.expert_params * 1.0  # fp8
    per_chip_b1 = distinct_experts(256, 8, 1) * expert_bytes / 8 * model.num_moe_layers
    per_chip_all = 256 * expert_bytes / 8 * model.num_moe_layers
    assert per_chip_b1 / per_chip_all == pytest.approx(8 / 256)
    # batch-256 step reads ~all experts, so its GPU time (step less the framework's per-step overhead) is several
    # times that of batch 1
    assert raw256["tpot_s"] - PARAMS.host_s_trtllm > 3 * (raw1["tpot_s"] - PARAMS.host_s_trtllm)


def test_kv_bytes_per_token_gqa_and_mla(cat):
    llama = load_model("llama-3.1-70b")
    raw, _ = run(llama, cat["h100-sxm"], tp=8)
    assert raw["kv_bytes_per_token"] == 2 * 8 * 128 * 2 * 80  # 2·kv_heads·head_dim·bf16·layers = 327,680
    ds = load_model("deepseek-v3")
    raw, _ = run(ds, cat["b200"], tp=8, ep=8, wdtype=1, kvdtype=1)
    assert raw["kv_bytes_per_token"] == (512 + 64) * 1 * 61  # (kv_lora + rope)·fp8·layers = 35,136


def test_decode_kv_read_scales_with_context(cat):
    """Attention decode time = batch · context · KV bytes per token per layer / bandwidth (memory-bound), the
    bandwidth at the KV stream's own efficiency (`attention_memory`, not the GEMMs' `memory`) scaled by the
    concurrent CTAs n/(n + half), plus the per-work-item cost (bf16 GQA variant)."""
    from planner.engine.operators import DECODE_ATTN_CTA_SLOTS

    model, chip = load_model("llama-3.1-8b"), cat["h100-sxm"]
    b, isl = 64, 8192
    raw, _ = run(model, chip, batch=b, isl=isl, osl=2)
    ctx = isl + 1  # mean decode context isl + osl/2
    kv_read = b * ctx * 2 * 8 * 128 * 2 * model.num_layers
    streams = b * 8  # sequences x KV heads (tp 1): 512 work items > 132 CTA slots, so no split-KV
    assert streams > DECODE_ATTN_CTA_SLOTS
    assert chip.efficiency.attention_memory != chip.efficiency.memory  # the test tells the two apart
    bw = chip.hbm_tb_s * 1e12 * chip.efficiency.attention_memory * streams / (streams + PARAMS.decode_attn_half_ctas)
    assert PARAMS.decode_attn_token_ns * 1e-9 * ctx < kv_read / model.num_layers / bw  # the serial floor does not bind
    units = streams * chip.efficiency.attention_unit_ns * 1e-9 * PARAMS.gqa_bf16_unit_factor * model.num_layers
    assert raw["t_attn_core_s"] == pytest.approx(kv_read / bw + units, rel=0.01)


def test_output_length_spread_lengthens_in_flight_context(cat):
    """Variable output lengths: the batch holds a request for L steps, so the generated part of the in-flight
    context averages osl·(1 + cv²)/2 (length-biased). Exponential lengths (cv 1) hold isl + osl; the KV read and
    the resident KV grow by exactly that context ratio (memory-bound decode, no split-KV change)."""
    from planner.engine.operators import mean_decode_context

    assert mean_decode_context(1000, 400) == 1200.0
    assert mean_decode_context(1000, 400, 1.0) == 1400.0
    assert mean_decode_context(1000, 400, 0.5) == pytest.approx(1000 + 400 * 1.25 / 2)
    model, chip = load_model("llama-3.1-8b"), cat["h100-sxm"]
    fixed, _ = run(model, chip, batch=64, isl=8192, osl=4096)
    spread, _ = run(model, chip, batch=64, isl=8192, osl=4096, osl_cv=1.0)
    ratio = (8192 + 4096) / (8192 + 2048)
    assert spread["kv_bytes"] / fixed["kv_bytes"] == pytest.approx(ratio, rel=1e-9)
    # the attention read is the context-proportional part of the attention time (the per-item cost is fixed)
    units = 64 * 8 * chip.efficiency.attention_unit_ns * 1e-9 * PARAMS.gqa_bf16_unit_factor * model.num_layers
    assert (spread["t_attn_core_s"] - units) / (fixed["t_attn_core_s"] - units) == pytest.approx(ratio, rel=1e-6)


def test_decode_attention_serial_floor_at_batch_one(cat):
    """Batch 1, one KV head per chip (llama-3.1-70b, tp 8): the KV is cut into split-KV blocks of
    decode_attn_split_tokens and each CTA walks its block serially; that floor, not bandwidth, sets the time."""

    model, chip = load_model("llama-3.1-70b"), cat["h100-sxm"]
    isl = 8192
    raw, _ = run(model, chip, tp=8, batch=1, isl=isl, osl=2)
    ctx = isl + 1
    splits = ctx / PARAMS.decode_attn_split_tokens  # 11.6 blocks: under the split cap and the 132 CTA slots
    serial = PARAMS.decode_attn_token_ns * 1e-9 * ctx / splits
    bw = chip.hbm_tb_s * 1e12 * chip.efficiency.attention_memory * splits / (splits + PARAMS.decode_attn_half_ctas)
    kv_time = ctx * 2 * 1 * 128 * 2 / bw
    assert serial > kv_time
    unit = chip.efficiency.attention_unit_ns * 1e-9 * 3.36  # 1 work item x the bf16-GQA factor
    per_layer = raw["t_attn_core_s"] / model.num_layers
    assert per_layer == pytest.approx(serial + unit, rel=0.05)


def test_allreduce_time_hand_computed():
    # 8 GPUs, 16 MiB, 450 GB/s, 10 us: 10 us + 2·7/8·16 MiB / 450 GB/s
    t = allreduce_s(16 * 2**20, 8, 450e9, 10e-6)
    assert float(t) == pytest.approx(10e-6 + 1.75 * 16 * 2**20 / 450e9)
    assert float(allreduce_s(1e9, 1, 1e9, 1.0)) == 0.0


def test_allreduce_across_domains_is_hierarchical_by_hand():
    """TP16 over two 8-chip domains, 8 MB: a ring inside each domain (2 us + 2·7/8·8 MB / 400 GB/s = 37 us) plus,
    between the 2 domains, 8 MB / 8 per chip over each chip's NIC (20 us + 2·1/2·1 MB / 40 GB/s = 45 us)."""
    t = float(group_allreduce_s(8e6, 16, 8, 400e9, 2e-6, 40e9, 20e-6))
    assert t == pytest.approx(37e-6 + 45e-6)
    # inside one domain: the scale-up all-reduce (ring here: 8 MB is far above the one-shot switch)
    assert float(group_allreduce_s(8e6, 8, 8, 400e9, 2e-6, 40e9, 20e-6)) == pytest.approx(
        float(allreduce_s(8e6, 8, 400e9, 2e-6, 4.1e6)))
    # no scale-up links (a domain of one chip): one ring over the NICs
    assert float(group_allreduce_s(8e6, 4, 1, 400e9, 2e-6, 40e9, 20e-6)) == pytest.approx(20e-6 + 1.5 * 8e6 / 40e9)


def test_long_prompts_pipeline_their_chunks_through_the_stages(cat):
    """(n + pp − 1)/n stage times plus pp − 1 one-chunk hand-offs, by hand: 4 chunks, 4 stages, 1 s per stage,
    p2p 10 us + 40 us of bytes -> 7/4 s + 3 x (10 + 10) us. One chunk: the unpipelined pp·t + (pp − 1)·p2p."""
    assert float(pipelined_prefill_s(1.0, 4, 4 * 8192, 50e-6, 10e-6)) == pytest.approx(7 / 4 + 3 * 20e-6)
    assert float(pipelined_prefill_s(1.0, 4, 8192, 50e-6, 10e-6)) == pytest.approx(4.0 + 3 * 50e-6)
    assert float(pipelined_prefill_s(1.0, 1, 16 * 8192, 0.0, 0.0)) == pytest.approx(1.0)
    # a 128k-token prompt on Llama 3.1 70B: pp 4 now cuts the first-token time (it used to equal pp 1's)
    mt, ct = ModelTable.build([load_model("llama-3.1-70b")]), ChipTable.build([cat["h100-sxm"]])
    c = Candidates.from_columns(role=ROLE_CODE["prefill"], model=0, chip=0, tp=8, pp=[1, 4, 8], batch=1,
                                isl=131072, osl=1, wdtype=1, kvdtype=1)
    ttft = evaluate(c, mt, ct).ttft_s
    assert ttft[1] < ttft[0] / 3 and ttft[2] < ttft[1]


def test_one_shot_allreduce_traffic():
    """Inside an NVLink domain small messages go one-shot ((n−1)·bytes per rank), large ones two-shot (2(n−1)/n),
    blended by 1/(1 + (bytes/B*)^k); two ranks move the same bytes either way."""
    from planner.engine.operators import allreduce_traffic

    assert float(allreduce_traffic(1e3, 8, 4e6, 2.0)) == pytest.approx(7.0, rel=1e-6)
    assert float(allreduce_traffic(4e6, 8, 4e6, 2.0)) == pytest.approx(1.75 + 5.25 / 2)  # at B*: halfway
    assert float(allreduce_traffic(4e9, 8, 4e6, 2.0)) == pytest.approx(1.75, rel=1e-5)
    assert float(allreduce_traffic(1e5, 2, 4e6, 2.0)) == pytest.approx(1.0)
    assert float(allreduce_traffic(1e3, 8, 0.0)) == pytest.approx(1.75)  # no one-shot: the ring


def test_tp_decode_adds_two_allreduces_per_layer(cat):
    """TP8 decode of a 70B at batch 32: two all-reduces of 32·8192·2 B per layer, each α + traffic·bytes/(bw·η),
    traffic by hand from the one-shot/two-shot blend (B* = 4.1 MB, k = 1.75)."""
    model, chip = load_model("llama-3.1-70b"), cat["h100-sxm"]
    b = 32
    raw, _ = run(model, chip, tp=8, batch=b, isl=1024, osl=2)
    eff = chip.efficiency
    msg = b * model.hidden_size * ACT_BYTES
    traffic = 1.75 + (7.0 - 1.75) / (1.0 + (msg / 4.1e6) ** 1.75)
    one = eff.scaleup_latency_us * 1e-6 + traffic * msg / (chip.scaleup_gb_s * 1e9 * eff.scaleup)
    assert raw["t_comm_s"] == pytest.approx(2 * model.num_layers * one)


def test_llama70b_bf16_fit(cat):
    model, chip = load_model("llama-3.1-70b"), cat["h100-sxm"]
    _, row1 = run(model, chip, tp=1)
    _, row2 = run(model, chip, tp=2)
    assert not row1["fits"] and "weights" in row1["fit_reason"]
    assert row2["fits"]
    usable = chip.hbm_gb * 2**30 / 1e9 * (1 - MEMORY_RESERVE_FRACTION)  # catalog GB of HBM are GiB
    assert row1["memory_gb_per_chip"] > usable > row2["memory_gb_per_chip"]
    assert row1["memory_capacity_gb"] == pytest.approx(85.9, abs=0.05)  # 80 GiB in decimal GB


def test_invalid_parallelism_flagged(cat):
    model = load_model("llama-3.1-70b")
    _, row = run(model, cat["h100-sxm"], tp=3)
    assert not row["fits"] and "heads" in row["fit_reason"]
    _, row = run(model, cat["h100-sxm"], tp=8, ep=2)
    assert not row["fits"] and "ep" in row["fit_reason"]
    _, row = run(model, cat["a100-sxm-80gb"], tp=8, wdtype=DTYPE_CODE["fp8"])
    assert not row["fits"] and "dtype" in row["fit_reason"]


def test_two_tier_memory_spills_at_cold_bandwidth():
    """A chip with a small fast tier and a cold tier: a model that spills fits but runs at a blended bandwidth."""
    src = {"ref": "test", "date": "2026-01"}
    base = dict(
        name="t", vendor="t", peak_tflops={"bf16": 1000}, scaleup_gb_s=100, scaleup_domain=8, scaleout_gb_s=50,
        power_w=500, price_usd_per_hr=1.0, sources={k: src for k in ("peak_tflops", "memory", "power", "price")},
    )
    fast_only = Chip(id="fast", memory=[{"name": "hbm", "capacity_gb": 64, "bandwidth_tb_s": 4.0}], **base)
    two_tier = Chip(id="tiered", memory=[{"name": "sram", "capacity_gb": 8, "bandwidth_tb_s": 4.0},
                                         {"name": "lpddr", "capacity_gb": 64, "bandwidth_tb_s": 0.4}], **base)
    model = load_model("llama-3.1-8b")  # 16 GB in bf16: spills ~55% to the cold tier
    raw_f, row_f = run(model, fast_only)
    raw_t, row_t = run(model, two_tier)
    assert row_f["fits"] and row_t["fits"]
    frac = raw_t["cold_tier_fraction"]
    assert 0.4 < frac < 0.7
    ratio = (1 - frac) + frac * 4.0 / 0.4  # time ratio of blended vs all-fast reads (GPU time of the step)
    gpu_t, gpu_f = raw_t["tpot_s"] - PARAMS.host_s_trtllm, raw_f["tpot_s"] - PARAMS.host_s_trtllm
    assert gpu_t / gpu_f == pytest.approx(ratio, rel=0.1)


def test_sliding_window_caps_context():
    model = load_model("gpt-oss-120b")
    cat = load_catalog()
    raw_short, _ = run(model, cat["h100-sxm"], wdtype=1, kvdtype=1, batch=16, isl=64)
    raw_long, _ = run(model, cat["h100-sxm"], wdtype=1, kvdtype=1, batch=16, isl=64_000)
    # only the 18 full-attention layers grow with context: KV held = full layers · ctx + windowed · 128
    per_tok = 2 * 8 * 64 * 1.0
    expected_long = 16 * (18 * (64_000 + 1) + 18 * 128) * per_tok
    assert raw_long["kv_bytes"] == pytest.approx(expected_long, rel=1e-6)
    assert raw_long["kv_bytes"] < 0.51 * 16 * 36 * (64_000 + 1) * per_tok


def test_windowed_layers_with_their_own_shape_gemma4():
    """Gemma-4 31B: 50 sliding-window layers (16 KV heads x 256, window 1,024) and 10 global layers (4 KV heads x
    512, keys serving as values: cached once). KV held and the per-token KV traffic of a prompt by hand, per kind."""
    model = load_model("nvidia/Gemma-4-31B-IT-NVFP4")
    cat = load_catalog()
    isl, batch = 64_000, 4
    raw, _ = run(model, cat["h100-sxm"], wdtype=DTYPE_CODE["fp8"], kvdtype=DTYPE_CODE["fp8"], batch=batch, isl=isl)
    full, win = 4 * 512 * 1, 2 * 16 * 256  # elements per token and layer (fp8: bytes)
    assert raw["kv_bytes"] == pytest.approx(batch * (10 * (isl + 1) * full + 50 * 1024 * win), rel=1e-6)
    assert raw["kv_bytes_per_token"] == pytest.approx(10 * full + 50 * win)
    # decode reads each kind's context once per step: past the window only the global layers' reads grow, and the
    # attention time follows the bytes (less the fixed per-work-item costs both contexts pay)
    short, _ = run(model, cat["h100-sxm"], wdtype=DTYPE_CODE["fp8"], kvdtype=DTYPE_CODE["fp8"], batch=batch, isl=1024)
    bytes_ratio = (10 * (isl + 1) * full + 50 * 1024 * win) / (10 * 1025 * full + 50 * 1024 * win)
    assert 0.75 * bytes_ratio < raw["t_attn_core_s"] / short["t_attn_core_s"] <= bytes_ratio


def test_pipeline_parallel_latency_and_throughput(cat):
    model, chip = load_model("llama-3.1-70b"), cat["h100-sxm"]
    raw1, _ = run(model, chip, tp=4, pp=1, batch=64, isl=1024)
    raw2, row2 = run(model, chip, tp=4, pp=2, batch=64, isl=1024)
    assert row2["chips_per_instance"] == 8
    # pp=2 halves weights per chip; each token still crosses all layers
    assert raw2["weight_bytes"] == pytest.approx(raw1["weight_bytes"] / 2, rel=0.01)
    assert raw2["tpot_s"] > 0.5 * raw1["tpot_s"]


def test_grouped_and_shuffled_inputs_agree(cat):
    """Evaluating candidates in any order gives the same per-row answer (no cross-row leakage)."""
    models = [load_model("llama-3.1-8b"), load_model("qwen3-235b-a22b")]
    chips = [cat["h100-sxm"], cat["mi300x"]]
    cands = build_candidates(models, chips, Grid(weights_dtypes=("bf16", "fp8"), max_chips_per_instance=8))
    mt, ct = ModelTable.build(models), ChipTable.build(chips)
    res = evaluate(cands, mt, ct)
    perm = np.random.default_rng(1).permutation(len(cands))
    res_p = evaluate(cands.take(perm), mt, ct)
    for key in ("tpot_s", "ttft_s", "memory_bytes", "fit_reason", "requests_per_s"):
        np.testing.assert_allclose(np.nan_to_num(getattr(res_p, key)), np.nan_to_num(getattr(res, key)[perm]), rtol=1e-12)


def test_aggregated_steady_state(cat):
    """Aggregated: each step carries B decode tokens and B·ISL/OSL prefill tokens; capacity = B/(TPOT·OSL)."""
    model, chip = load_model("llama-3.1-8b"), cat["h100-sxm"]
    raw, row = run(model, chip, role="aggregated", batch=64, isl=1024, osl=256)
    assert row["capacity_rps"] == pytest.approx(64 / (raw["tpot_s"] * 256))
    assert row["prefill_tok_s_per_chip"] == pytest.approx(row["capacity_rps"] * 1024)
    raw_d, _ = run(model, chip, role="decode", batch=64, isl=1024, osl=256)
    assert raw["tpot_s"] > raw_d["tpot_s"]  # prefill chunks slow the decode step


@pytest.mark.parametrize("tp", [1, 2])
def test_moe_prefill_gemm_time_by_hand(cat, tp):
    """Compute-bound MoE FFN of a Mixtral prefill (bf16, 8 prompts of 4096 tokens): FLOPs 2·T·k·P_expert per layer
    over peak · η_bf16 · R · w/(w + w_half) · m/(m + m_half), where w is the expert width per MoE-TP rank (14336/tp)
    and m the rows per expert (all 8 experts touched: T·k/8)."""

    model, chip = load_model("mixtral-8x7b"), cat["h100-sxm"]
    B, isl = 8, 4096
    raw, _ = run(model, chip, role="prefill", tp=tp, batch=B, isl=isl)
    T = B * isl
    k, E = model.moe.top_k, model.moe.num_experts
    width = model.moe.expert_intermediate_size / tp
    m = T * k / E
    eff = (chip.efficiency.compute["bf16"] * PARAMS.moe_gemm_relative_efficiency * width / (width + PARAMS.moe_expert_width_half)
           * m / (m + chip.efficiency.gemm_m_half))
    flops = 2 * T * k * model.expert_params / tp * model.num_moe_layers
    assert raw["t_ffn_s"] == pytest.approx(flops / (chip.peak_tflops["bf16"] * 1e12 * eff), rel=1e-6)
    # a chip's own grouped-GEMM efficiency (field moe_relative) replaces the engine's H100 fit
    own = chip.model_copy(update={"efficiency": chip.efficiency.model_copy(update={"moe_relative": 0.25})})
    raw_own, _ = run(model, own, role="prefill", tp=tp, batch=B, isl=isl)
    assert raw_own["t_ffn_s"] == pytest.approx(raw["t_ffn_s"] * PARAMS.moe_gemm_relative_efficiency / 0.25, rel=1e-6)


def test_weight_only_4bit_reads_4bit_weights_and_computes_in_bf16(cat):
    """w4a16 (MXFP4/INT4 weights on a chip without 4-bit math): batch-1 decode FFN time is the weight read at
    0.5 + 1/32 bytes per parameter (memory-bound), and a large prefill runs at the bf16 math rate."""
    from planner.engine.tables import BYTES_PER_ELEM, DTYPE_CODE

    model, chip = load_model("llama-3.1-8b"), cat["h100-sxm"]
    assert chip.supports("w4a16") and not chip.supports("fp4")
    w4, _ = run(model, chip, batch=1, wdtype=DTYPE_CODE["w4a16"], kvdtype=DTYPE_CODE["bf16"])
    b16, _ = run(model, chip, batch=1, wdtype=DTYPE_CODE["bf16"], kvdtype=DTYPE_CODE["bf16"])
    assert w4["t_ffn_s"] / b16["t_ffn_s"] == pytest.approx(BYTES_PER_ELEM["w4a16"] / 2.0, rel=0.02)
    w4p, _ = run(model, chip, role="prefill", batch=8, isl=4096, osl=1, wdtype=DTYPE_CODE["w4a16"], kvdtype=0)
    b16p, _ = run(model, chip, role="prefill", batch=8, isl=4096, osl=1, wdtype=DTYPE_CODE["bf16"], kvdtype=0)
    assert w4p["t_ffn_s"] == pytest.approx(b16p["t_ffn_s"], rel=0.01)  # compute-bound at the same bf16 rate


def test_tensorrt_llm_attention_dp_spans_the_whole_tp_group(cat):
    """TensorRT-LLM's attention DP is the whole tensor-parallel group: no candidate has TP inside its DP ranks;
    vLLM and SGLang run TP inside DP ranks."""
    model = load_model("deepseek-v3")
    both = {}
    for fw in ("trtllm", "vllm", "sglang"):
        c = build_candidates([model], [cat["h200-sxm"]], Grid(roles=("decode",), framework=fw))
        both[fw] = bool(((c.tp > 1) & (c.dp > 1)).any())
        assert (c.dp > 1).any()  # attention DP itself is offered everywhere
    assert both == {"trtllm": False, "vllm": True, "sglang": True}
    vllm = build_candidates([model], [cat["h200-sxm"]], Grid(roles=("decode",), framework="vllm"))
    assert ((vllm.ep == 1) | (vllm.ep == vllm.tp * vllm.dp)).all()  # --enable-expert-parallel: EP = TP x DP
