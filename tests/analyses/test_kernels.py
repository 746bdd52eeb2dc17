"""Kernel-level predictions use the engine's per-operator formulas (hand-computed checks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.analyses import kernels as K
from planner.engine.operators import allreduce_s
from planner.inputs.chips import load_catalog

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "validation" / "kernels"


@pytest.fixture(scope="module")
def h100():
    return load_catalog()["h100-sxm"]


def params(**kw):
    base = dict(compute_bf16=0.8, compute_fp8=0.6, gemm_m_half=50.0, memory=0.8, attention=0.5,
                kernel_overhead_us=3.0, scaleup=0.7, scaleup_latency_us=5.0, fp8_quant_us=0.0, attn_floor_us=0.0,
                moe_relative=0.3)
    base.update(kw)
    return K.KernelParams(**base)


def test_gemm_compute_and_memory_bound(h100):
    pk, p = K.Peaks.from_chip(h100), params()
    df = pd.DataFrame({"m": [8192, 1], "n": [8192, 8192], "k": [8192, 8192], "dtype": ["bf16", "bf16"], "latency_us": [1, 1]})
    t = K.predict_s("gemm", df, pk, p)
    eff = 0.8 * 8192 / (8192 + 50)
    assert t[0] == pytest.approx(2 * 8192**3 / (989e12 * eff) + 3e-6, rel=1e-9)  # compute bound
    bytes_ = 8192 * 8192 * 2 + 8192 * 2 + 8192 * 2
    assert t[1] == pytest.approx(bytes_ / (3.35e12 * 0.8) + 3e-6, rel=1e-9)  # weight-read bound


def test_fp8_gemm_adds_activation_quantization(h100):
    pk = K.Peaks.from_chip(h100)
    df = pd.DataFrame({"m": [1], "n": [4096], "k": [4096], "dtype": ["fp8"], "latency_us": [1]})
    t0 = K.predict_s("gemm", df, pk, params())[0]
    t1 = K.predict_s("gemm", df, pk, params(fp8_quant_us=7.0))[0]
    assert t1 - t0 == pytest.approx(7e-6, rel=1e-9)


def test_nvfp4_gemm_runs_at_the_fp4_peak_on_4_bit_operands():
    """B200, dtype fp4 (NVFP4): compute-bound at m 8192 on the dense fp4 peak x compute_fp4; weight-read bound at
    m 1 on 0.5 + 1/16 bytes per element (fp8 scale per 16), plus the activations' quantization (read 2 bytes, write
    0.5625) at the memory efficiency and its launch."""
    b200 = load_catalog()["b200"]
    pk, p = K.Peaks.from_chip(b200), params(compute_fp4=0.5, fp8_quant_us=4.0)
    assert pk.flops_fp4 == b200.peak_tflops["fp4"] * 1e12
    df = pd.DataFrame({"m": [8192, 1], "n": [8192, 8192], "k": [8192, 8192], "dtype": ["fp4", "fp4"], "latency_us": [1, 1]})
    t = K.predict_s("gemm", df, pk, p)
    bw = b200.hbm_tb_s * 1e12 * 0.8
    eff = 0.5 * 8192 / (8192 + 50)
    quant = (2.0 + 0.5625) * 8192 * 8192 / bw
    assert t[0] == pytest.approx(2 * 8192**3 / (pk.flops_fp4 * eff) + quant + 4e-6 + 3e-6, rel=1e-9)
    bytes_ = 8192 * 8192 * 0.5625 + 8192 * 0.5625 + 8192 * 2
    assert t[1] == pytest.approx(bytes_ / bw + (2.0 + 0.5625) * 8192 / bw + 4e-6 + 3e-6, rel=1e-9)


def test_decode_attention_reads_the_kv_cache(h100):
    pk, p = K.Peaks.from_chip(h100), params(attn_half_ctas=2.0, attn_token_ns=0.0)
    df = pd.DataFrame({"batch": [64], "kv_len": [4095], "num_q_heads": [8], "num_kv_heads": [1], "head_dim": [128],
                       "kv_dtype": ["bf16"], "latency_us": [1]})
    # 64 (sequence, KV head) work items, split-KV to fill the 132 CTA slots: 132 CTAs, bandwidth x 132/(132 + 2)
    kv = 64 * 4095 * 2 * 1 * 128 * 2.0 * (132 + 2.0) / 132
    qo = 64 * 8 * 128 * 2 * 2.0
    assert K.predict_s("attn_decode", df, pk, p)[0] == pytest.approx((kv + qo) / (3.35e12 * 0.8) + 3e-6, rel=1e-9)


def test_decode_attention_serial_floor_and_fp8_floor(h100):
    """Batch 1: 8191 tokens in min(8191/512, 8) = 8 split-KV blocks, each walked at 10 ns per token: 10.2 us, more
    than the 4.2 MB read takes; the fp8-KV grouped kernel has its own (nuisance) floor."""
    pk = K.Peaks.from_chip(h100)
    p = params(attn_half_ctas=2.0, attn_token_ns=10.0, attn_split_tokens=512.0, attn_max_splits=8.0,
               attn_floor_us=4.0, xqa_fp8_floor_us=1.0)
    df = pd.DataFrame({"batch": [1, 1], "kv_len": [8191, 8191], "num_q_heads": [8, 8], "num_kv_heads": [1, 1],
                       "head_dim": [128, 128], "kv_dtype": ["bf16", "fp8"], "latency_us": [1, 1]})
    t = K.predict_s("attn_decode", df, pk, p)
    assert 8191 * 512 * 1.25 / (3.35e12 * 0.8) < 10e-9 * 8191 / 8
    assert t[0] == pytest.approx(10e-9 * 8191 / 8 + (3.0 + 4.0) * 1e-6, rel=1e-9)
    assert t[1] == pytest.approx(10e-9 * 8191 / 8 + (3.0 + 1.0) * 1e-6, rel=1e-9)


def test_decode_attention_large_group_fallback(h100):
    """TRT-LLM's kernel for q/kv >= 48 runs one work item per query head (no grouped XQA kernel): 64 q heads on
    one KV head cost 64 work items per sequence at the MHA item cost, where 8 q heads cost one bf16-GQA item."""
    pk = K.Peaks.from_chip(h100)
    p = params(attention_unit_ns=10.0, gqa_bf16_unit=3.0, attn_token_ns=0.0)
    df = pd.DataFrame({"batch": [4, 4], "kv_len": [1, 1], "num_q_heads": [64, 8], "num_kv_heads": [1, 1],
                       "head_dim": [128, 128], "kv_dtype": ["bf16", "bf16"], "latency_us": [1, 1]})
    t = K.predict_s("attn_decode", df, pk, p)
    roofline = t - 3e-6 - np.array([4 * 64 * 10e-9, 4 * 3 * 10e-9])
    assert (roofline > 0).all() and (roofline < 0.2e-6).all()  # a 1-token KV: the item costs dominate


def test_allreduce_is_the_engine_alpha_beta(h100):
    pk, p = K.Peaks.from_chip(h100), params()
    df = pd.DataFrame({"num_gpus": [8], "message_bytes": [1 << 24], "latency_us": [1]})
    # 16 MiB on 8 GPUs: traffic 1.75 + 5.25 / (1 + (16.8 MB / 4.1 MB)^1.75), between two-shot and one-shot
    traffic = 1.75 + 5.25 / (1 + ((1 << 24) / 4.1e6) ** 1.75)
    expect = 5e-6 + traffic * (1 << 24) / (450e9 * 0.7)
    assert expect == pytest.approx(float(allreduce_s(1 << 24, 8, 450e9 * 0.7, 5e-6, 4.1e6, 1.75)), rel=1e-12)
    assert K.predict_s("allreduce", df, pk, p)[0] == pytest.approx(expect, rel=1e-12)


def test_kernel_errors_on_fixture(h100):
    err = K.kernel_errors(h100, directory=FIX)
    assert set(err["family"]) == set(K.FAMILIES)
    assert np.isfinite(err["median_ape"]).all()
    gemm = err[(err["family"] == "gemm") & (err["subset"] == "dtype=bf16")].iloc[0]
    assert gemm["median_ape"] < 0.25  # the calibrated H100 catalog on real kernels
