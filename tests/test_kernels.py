"""Kernel-level predictions use the engine's per-operator formulas (hand-computed checks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner import kernels as K
from planner.chips import load_catalog
from planner.engine import allreduce_s

FIX = Path(__file__).parent / "fixtures" / "validation" / "kernels"


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


def test_decode_attention_reads_the_kv_cache(h100):
    pk, p = K.Peaks.from_chip(h100), params(attn_half_units=2.0)
    df = pd.DataFrame({"batch": [64], "kv_len": [4095], "num_q_heads": [8], "num_kv_heads": [1], "head_dim": [128],
                       "kv_dtype": ["bf16"], "latency_us": [1]})
    kv = 64 * 4095 * 2 * 1 * 128 * 2.0 * (64 + 2.0) / 64  # 64 (sequence, KV head) streams: bandwidth x 64/(64 + 2)
    qo = 64 * 8 * 128 * 2 * 2.0
    assert K.predict_s("attn_decode", df, pk, p)[0] == pytest.approx((kv + qo) / (3.35e12 * 0.8) + 3e-6, rel=1e-9)


def test_allreduce_is_the_engine_alpha_beta(h100):
    pk, p = K.Peaks.from_chip(h100), params()
    df = pd.DataFrame({"num_gpus": [8], "message_bytes": [1 << 24], "latency_us": [1]})
    expect = float(allreduce_s(1 << 24, 8, 450e9 * 0.7, 5e-6))
    assert K.predict_s("allreduce", df, pk, p)[0] == pytest.approx(expect, rel=1e-12)


def test_kernel_errors_on_fixture(h100):
    err = K.kernel_errors(h100, directory=FIX)
    assert set(err["family"]) == set(K.FAMILIES)
    assert np.isfinite(err["median_ape"]).all()
    gemm = err[(err["family"] == "gemm") & (err["subset"] == "dtype=bf16")].iloc[0]
    assert gemm["median_ape"] < 0.25  # the calibrated H100 catalog on real kernels
