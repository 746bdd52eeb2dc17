"""Kernel-level predictions: the engine's per-operator formulas applied to measured single-kernel shapes.

Each measured kernel (a GEMM, a decode or prefill attention call, an all-reduce) is predicted with the same
roofline the engine sums per layer: time = max(FLOPs / (peak · η), bytes / (bandwidth · η_mem)) + a fixed
per-kernel overhead, and the α–β model for collectives. The formulas are the engine's own helpers
(`gemm_efficiency`, `gemm_flops_bytes`, `decode_attention_flops_bytes`, `causal_pairs`, `allreduce_s`), so a
kernel-level error is an error of the engine's physics, not of a separate model.

Data: `validation/kernels_h100/*.csv` (NVIDIA AI Configurator performance database, Apache-2.0; see the
README and NOTICE there). Two nuisance terms are fitted and reported but never written to a catalog: TRT-LLM's
per-tensor fp8 `Linear` quantizes its bf16 activations on the fly inside the timed region (an extra
memory-bound pass over m·k elements plus a fixed launch cost), a harness artefact the engine does not model;
and the fixed latency of an isolated attention kernel (decode, prefill) beyond the generic launch overhead
(split-KV reduction, softmax setup), which the engine folds into its per-layer kernel overhead. One kernel-selection
fact of the benchmarked library is modelled here and not in the engine: TRT-LLM's generic decode kernel for group
sizes q/kv >= 48 (TRT_FALLBACK_Q_PER_KV; one work item per query head, math on CUDA cores at `fallback_attention`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from planner.engine.operators import (
    ACT_BYTES,
    DECODE_ATTN_CTA_SLOTS,
    MOE_EXTRA_KERNELS,
    allreduce_s,
    attention_unit_factor,
    attention_unit_time,
    causal_pairs,
    decode_attention_bw_factor,
    decode_attention_flops_bytes,
    decode_attention_serial_s,
    decode_attention_splits,
    distinct_experts,
    gemm_efficiency,
    gemm_flops_bytes,
    moe_width_factor,
    prefill_attention_units,
)
from planner.engine.params import PARAMS
from planner.engine.tables import BYTES_PER_ELEM
from planner.inputs.chips import Chip
from planner.paths import ROOT

KERNEL_DIR = ROOT / "validation" / "kernels_h100"
SERVING_SHAPES = "kv_len>=1023, q/kv<=16"
FAMILIES: tuple[str, ...] = ("gemm", "attn_decode", "mla_decode", "attn_prefill", "mla_prefill", "moe", "allreduce")
KV_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0}
# TRT-LLM has no XQA (grouped tensor-core) decode kernel for q/kv >= 48: its generic kernel runs one work item per
# (sequence, query head), re-reading the KV from L2 (HBM bytes unchanged), 5-10x slower. A kernel-selection fact of
# the benchmarked library, modelled here for its rows only: the engine assumes a grouped kernel for every group size.
TRT_FALLBACK_Q_PER_KV = 48.0
MLA_LATENT, MLA_ROPE, MLA_V = 512, 64, 512  # DeepSeek MLA absorbed decode: KV = latent + rope; values over latent
MLA_QK, MLA_VH = 192, 128  # DeepSeek MLA context (prefill) attention: q/k head dim nope 128 + rope 64, v head dim 128


# KernelParams fields that are engine constants (planner.engine.params): field -> (EngineParams field, scale from
# the engine's unit to this field's). Their defaults and calibration bounds derive from EngineParams.
ENGINE_FIELDS: dict[str, tuple[str, float]] = {
    "moe_width_half": ("moe_expert_width_half", 1.0),
    "gqa_bf16_unit": ("gqa_bf16_unit_factor", 1.0),
    "attn_half_ctas": ("decode_attn_half_ctas", 1.0),
    "attn_token_ns": ("decode_attn_token_ns", 1.0),
    "attn_split_tokens": ("decode_attn_split_tokens", 1.0),
    "attn_max_splits": ("decode_attn_max_splits", 1.0),
    "prefill_row_keys": ("prefill_attn_row_keys", 1.0),
    "prefill_tile_unit": ("prefill_tile_unit_factor", 1.0),
    "allreduce_oneshot_mb": ("allreduce_oneshot_bytes", 1e-6),
    "allreduce_sharpness": ("allreduce_oneshot_sharpness", 1.0),
    "moe_relative": ("moe_gemm_relative_efficiency", 1.0),
}


@dataclass
class KernelParams:
    """Sustained-efficiency parameters of one chip as the kernel model uses them (Efficiency fields + nuisance)."""

    compute_bf16: float = 0.75
    compute_fp8: float = 0.65
    compute_fp4: float = 0.65  # no fp4 kernels in the H100 data; fitted end to end on chips that have fp4
    gemm_m_half: float = 48.0
    memory: float = 0.80
    attention: float = 0.55
    kernel_overhead_us: float = 2.0
    attention_unit_ns: float = 0.0
    attention_memory: float | None = None  # decode-attention KV-stream bandwidth fraction (None: follows memory)
    scaleup: float = 0.75
    scaleup_latency_us: float = 8.0
    fp8_quant_us: float = 0.0  # nuisance: the TRT-LLM fp8 Linear benchmark's activation-quantization launch
    attn_floor_us: float = 0.0  # nuisance: fixed latency of decode-attention kernels beyond the launch overhead
    xqa_fp8_floor_us: float = 0.0  # nuisance: the same for the fp8-KV grouped-query (XQA) kernel, a lighter one
    fallback_attention: float = 0.0072  # TRT-LLM's q/kv >= 48 fallback kernel: its math rate / bf16 tensor peak
    mla_floor_us: float = 0.0  # nuisance: the same for the MLA decode kernel (a different kernel, its own floor)
    prefill_floor_us: float = 0.0  # nuisance: the same for context (prefill) attention kernels
    mla_prefill_floor_us: float = 0.0  # nuisance: the same for the MLA context-attention kernel
    fp8_block_quant_us: float = 0.0  # nuisance: the block-scaled fp8 Linear's own activation-quantization launch
    moe_relative: float = PARAMS.moe_gemm_relative_efficiency  # grouped/dense GEMM efficiency (chip field; engine default)
    moe_width_half: float = PARAMS.moe_expert_width_half  # engine constant: expert width (columns per rank) at half efficiency
    gqa_bf16_unit: float = PARAMS.gqa_bf16_unit_factor  # engine constant: bf16-KV GQA kernel's cost per work item / MHA's
    attn_half_ctas: float = PARAMS.decode_attn_half_ctas  # engine constant: CTAs at half the sustained KV bandwidth
    attn_token_ns: float = PARAMS.decode_attn_token_ns  # engine constant: one CTA's serial time per KV token
    attn_split_tokens: float = PARAMS.decode_attn_split_tokens  # engine constant: smallest split-KV block (tokens)
    attn_max_splits: float = PARAMS.decode_attn_max_splits  # engine constant: most split-KV blocks per work item
    prefill_row_keys: float = PARAMS.prefill_attn_row_keys  # engine constant: fixed work per query row, in key columns
    prefill_tile_unit: float = PARAMS.prefill_tile_unit_factor  # engine constant: prefill work-item cost / decode work item
    allreduce_oneshot_mb: float = PARAMS.allreduce_oneshot_bytes / 1e6  # engine constant: one-shot/two-shot switch (MB)
    allreduce_sharpness: float = PARAMS.allreduce_oneshot_sharpness  # engine constant: sharpness of that switch
    fixed: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_chip(cls, chip: Chip) -> KernelParams:
        e = chip.efficiency
        return cls(
            compute_bf16=e.compute.get("bf16", 0.75), compute_fp8=e.compute.get("fp8", 0.65),
            compute_fp4=e.compute.get("fp4", 0.65),
            gemm_m_half=e.gemm_m_half, memory=e.memory, attention=e.attention,
            kernel_overhead_us=e.kernel_overhead_us, attention_unit_ns=e.attention_unit_ns,
            attention_memory=e.attention_memory, scaleup=e.scaleup, scaleup_latency_us=e.scaleup_latency_us,
            moe_relative=e.moe_relative or PARAMS.moe_gemm_relative_efficiency,
        )

    def names(self) -> list[str]:
        return [f.name for f in fields(self) if f.name != "fixed"]

    def value(self, name: str) -> float:
        """A parameter's value; attention_memory left blank follows memory."""
        v = getattr(self, name)
        return self.memory if v is None and name == "attention_memory" else v

    def with_values(self, names: list[str], values) -> KernelParams:
        d = {k: v for k, v in asdict(self).items() if k != "fixed"}
        d.update({n: float(v) for n, v in zip(names, values, strict=True)})
        return KernelParams(**d)

    def efficiency_overlay(self, digits: int | None = 4) -> dict:
        """The catalog `efficiency:` fields these parameters set (nuisance terms left out); rounded for YAML."""

        def r(v, d=digits):
            return float(v) if d is None else round(float(v), d)

        return {
            "compute": {"bf16": r(self.compute_bf16), "fp8": r(self.compute_fp8), "fp4": r(self.compute_fp4)},
            "gemm_m_half": r(self.gemm_m_half, None if digits is None else 2),
            "memory": r(self.memory),
            "attention": r(self.attention),
            "kernel_overhead_us": r(self.kernel_overhead_us, None if digits is None else 3),
            "attention_unit_ns": r(self.attention_unit_ns, None if digits is None else 3),
            **({} if self.attention_memory is None else {"attention_memory": r(self.attention_memory)}),
            "moe_relative": r(self.moe_relative),
            "scaleup": r(self.scaleup),
            "scaleup_latency_us": r(self.scaleup_latency_us, None if digits is None else 3),
        }


@dataclass(frozen=True)
class Peaks:
    """The spec-sheet figures the kernel model divides by (from the chip catalog)."""

    flops_bf16: float  # FLOP/s
    flops_fp8: float
    mem_bw: float  # B/s
    scaleup_bw: float  # B/s per direction
    flops_fp4: float = 0.0  # FLOP/s of 4-bit (NVFP4) math; 0 where the chip has none

    @classmethod
    def from_chip(cls, chip: Chip) -> Peaks:
        return cls(
            flops_bf16=chip.peak_tflops["bf16"] * 1e12,
            flops_fp8=chip.peak_tflops.get("fp8", chip.peak_tflops["bf16"]) * 1e12,
            mem_bw=chip.hbm_tb_s * 1e12,
            scaleup_bw=chip.scaleup_gb_s * 1e9,
            flops_fp4=chip.peak_tflops.get("fp4", chip.peak_tflops.get("fp8", chip.peak_tflops["bf16"])) * 1e12,
        )


def load(family: str, every: int = 1, directory: Path | str | None = None) -> pd.DataFrame:
    """One kernel file as a DataFrame; `every` > 1 keeps every Nth row (a systematic sample, for speed)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown kernel family {family!r}; one of {FAMILIES}")
    df = pd.read_csv(Path(directory or KERNEL_DIR) / f"{family}.csv")
    if family == "allreduce":
        df = df[df["implementation"] == "trtllm_custom"]  # the all-reduce TRT-LLM uses for TP inside a node
    if family == "moe":
        df = df[df["distribution"] == "balanced"]  # the engine assumes uniform routing
    if every > 1:
        df = df.iloc[::every]
    return df.reset_index(drop=True)


def _gemm(df: pd.DataFrame, pk: Peaks, p: KernelParams) -> np.ndarray:
    m, n, k = (df[c].to_numpy(float) for c in ("m", "n", "k"))
    fp8 = df["dtype"].str.startswith("fp8").to_numpy()
    fp4 = df["dtype"].eq("fp4").to_numpy()  # NVFP4: 4-bit weights and activations, one fp8 scale per 16 elements
    wbytes = np.select([fp8, fp4], [1.0, BYTES_PER_ELEM["fp4"]], 2.0)
    act = wbytes  # fp8 / fp4 GEMMs read quantized activations ...
    flops, bytes_ = gemm_flops_bytes(m, n, k, wbytes, act_bytes=0.0)
    bytes_ = bytes_ + m * k * act + m * n * 2.0  # ... and write bf16 outputs
    peak = np.select([fp8, fp4], [pk.flops_fp8, pk.flops_fp4], pk.flops_bf16)
    eff = gemm_efficiency(np.select([fp8, fp4], [p.compute_fp8, p.compute_fp4], p.compute_bf16), m, p.gemm_m_half)
    bw = pk.mem_bw * p.memory
    t = np.maximum(flops / (np.maximum(peak, 1.0) * np.maximum(eff, 1e-9)), bytes_ / bw)
    block = df["dtype"].eq("fp8_block").to_numpy()
    # harness nuisance (module docstring): the activations' quantization, read bf16 and written at 1 or 0.56 bytes
    quant = np.where(fp8 | fp4, (2.0 + act) * m * k / bw, 0.0) + np.where(
        block, p.fp8_block_quant_us, np.where(fp8 | fp4, p.fp8_quant_us, 0.0)) * 1e-6
    return t + quant + p.kernel_overhead_us * 1e-6


def _attention(flops, bytes_, pk: Peaks, p: KernelParams, floor_us, memory: float | None = None, attention=None,
               serial=0.0) -> np.ndarray:
    """Roofline of an attention kernel (math at `attention` x bf16 peak, bytes at `memory` x bandwidth), no faster
    than its serial latency floor, plus the launch overhead and the kernel's own floor."""
    eta = p.attention if attention is None else attention
    t = np.maximum(flops / (pk.flops_bf16 * eta), bytes_ / (pk.mem_bw * (memory or p.memory)))
    return np.maximum(t, serial) + (p.kernel_overhead_us + floor_us) * 1e-6


def _prefill(flops, bytes_, units, pk: Peaks, p: KernelParams, floor_us: float) -> np.ndarray:
    """A context-attention kernel: the roofline plus the fixed cost of its (sequence, head, query tile) items."""
    unit_s = p.attention_unit_ns * 1e-9 * p.prefill_tile_unit
    return _attention(flops, bytes_, pk, p, floor_us) + attention_unit_time(units, 1.0, unit_s)


def _attn_decode(df: pd.DataFrame, pk: Peaks, p: KernelParams) -> np.ndarray:
    b, ctx, hq, hkv, hd = (df[c].to_numpy(float) for c in ("batch", "kv_len", "num_q_heads", "num_kv_heads", "head_dim"))
    kb = df["kv_dtype"].map(KV_BYTES).to_numpy(float)
    g = hq / hkv
    flops, bytes_ = decode_attention_flops_bytes(b, ctx, hq, 2.0 * hkv * hd, kb, 2.0 * (hd + hd))
    fallback = g >= TRT_FALLBACK_Q_PER_KV
    units = b * hkv * np.where(fallback, g, 1.0)
    splits = decode_attention_splits(units, ctx, p.attn_split_tokens, p.attn_max_splits, DECODE_ATTN_CTA_SLOTS)
    bytes_ = bytes_ / decode_attention_bw_factor(units * splits, p.attn_half_ctas)  # few CTAs: less bandwidth
    bytes_ = bytes_ + b * hq * hd * 2.0 * 2.0  # + the query in and the output out (bf16)
    serial = decode_attention_serial_s(ctx, splits, p.attn_token_ns * 1e-9)
    unit = p.attention_unit_ns * 1e-9 * np.where((attention_unit_factor(False, g, kb) > 1) & ~fallback, p.gqa_bf16_unit, 1.0)
    xqa_fp8 = (kb < 2) & (g > 1) & ~fallback
    floor_us = np.where(xqa_fp8, p.xqa_fp8_floor_us, p.attn_floor_us)
    eta = np.where(fallback, p.fallback_attention, p.attention)  # the fallback kernel does its math on CUDA cores
    t = _attention(flops, bytes_, pk, p, floor_us, p.value("attention_memory"), eta, serial)
    return t + attention_unit_time(units, 1.0, unit)


def _mla_decode(df: pd.DataFrame, pk: Peaks, p: KernelParams) -> np.ndarray:
    b, ctx, h = (df[c].to_numpy(float) for c in ("batch", "kv_len", "num_heads"))
    kb = df["kv_dtype"].map(KV_BYTES).to_numpy(float)
    kv = MLA_LATENT + MLA_ROPE
    flops, bytes_ = decode_attention_flops_bytes(b, ctx, h, kv, kb, 2.0 * (kv + MLA_V))
    bytes_ = bytes_ + b * h * (kv + MLA_V) * 2.0
    return _attention(flops, bytes_, pk, p, p.mla_floor_us, p.attention_memory) + attention_unit_time(b, 1.0, p.attention_unit_ns * 1e-9)


def _attn_prefill(df: pd.DataFrame, pk: Peaks, p: KernelParams) -> np.ndarray:
    b, s, hq, hkv, hd = (df[c].to_numpy(float) for c in ("batch", "seq_len", "num_q_heads", "num_kv_heads", "head_dim"))
    kb = df["kv_dtype"].map(KV_BYTES).to_numpy(float)
    flops = b * causal_pairs(s, 0.0, p.prefill_row_keys) * 2.0 * (hd + hd) * hq
    bytes_ = b * s * (2.0 * hq * hd * 2.0 + 2.0 * hkv * hd * (2.0 + kb))  # q in, o out; k,v in and written to cache
    return _prefill(flops, bytes_, prefill_attention_units(b, s, hq), pk, p, p.prefill_floor_us)


def _mla_prefill(df: pd.DataFrame, pk: Peaks, p: KernelParams) -> np.ndarray:
    """DeepSeek MLA context attention (projections excluded): the engine's prefill formula with q/k head dim 192 and v
    head dim 128, as for MLA models in the engine; the compressed KV (latent + rope) is written to the cache."""
    b, s, h = (df[c].to_numpy(float) for c in ("batch", "seq_len", "num_heads"))
    kb = df["kv_dtype"].map(KV_BYTES).to_numpy(float)
    flops = b * causal_pairs(s, 0.0, p.prefill_row_keys) * 2.0 * (MLA_QK + MLA_VH) * h
    bytes_ = b * s * (h * (2 * MLA_QK + 2 * MLA_VH) * 2.0 + (MLA_LATENT + MLA_ROPE) * kb)  # q, k, v in, o out; cache
    return _prefill(flops, bytes_, prefill_attention_units(b, s, h), pk, p, p.mla_prefill_floor_us)


def _moe(df: pd.DataFrame, pk: Peaks, p: KernelParams) -> np.ndarray:
    """Fused MoE on one GPU of an EP x TP group (the engine's MoE block, without dispatch/combine traffic)."""
    n, h, inter, k, e = (df[c].to_numpy(float) for c in ("num_tokens", "hidden_size", "inter_size", "topk", "num_experts"))
    g = df["moe_tp"].to_numpy(float) * df["moe_ep"].to_numpy(float)
    fp8 = df["dtype"].str.startswith("fp8").to_numpy()
    wb = np.where(fp8, 1.0, 2.0)
    p_exp = 3.0 * h * inter
    distinct = distinct_experts(e[0], k[0], n) if len(set(e)) == 1 and len(set(k)) == 1 else np.array(
        [distinct_experts(ei, ki, ni) for ei, ki, ni in zip(e, k, n, strict=True)])
    flops = 2.0 * n * k * p_exp / g
    bytes_ = distinct * p_exp * wb / g + n / g * k * h * ACT_BYTES * 2.0
    m_exp = n * k / np.maximum(distinct, 1e-9)
    peak = np.where(fp8, pk.flops_fp8, pk.flops_bf16)
    width = inter / df["moe_tp"].to_numpy(float)
    eta = np.where(fp8, p.compute_fp8, p.compute_bf16) * p.moe_relative * moe_width_factor(width, p.moe_width_half)
    eff = gemm_efficiency(eta, m_exp, p.gemm_m_half)
    t = np.maximum(flops / (peak * eff), bytes_ / (pk.mem_bw * p.memory))
    return t + (MOE_EXTRA_KERNELS + 3) * p.kernel_overhead_us * 1e-6  # + gate/up, activation, down launches


def _allreduce(df: pd.DataFrame, pk: Peaks, p: KernelParams) -> np.ndarray:
    msg, n = df["message_bytes"].to_numpy(float), df["num_gpus"].to_numpy(float)
    return allreduce_s(msg, n, pk.scaleup_bw * p.scaleup, p.scaleup_latency_us * 1e-6, p.allreduce_oneshot_mb * 1e6,
                       p.allreduce_sharpness)


_PREDICT = {"gemm": _gemm, "attn_decode": _attn_decode, "mla_decode": _mla_decode,
            "attn_prefill": _attn_prefill, "mla_prefill": _mla_prefill, "moe": _moe, "allreduce": _allreduce}


def predict_s(family: str, df: pd.DataFrame, peaks: Peaks, params: KernelParams) -> np.ndarray:
    """Predicted latency (seconds) of every kernel row of one family."""
    return _PREDICT[family](df, peaks, params)


def measured_s(df: pd.DataFrame) -> np.ndarray:
    return df["latency_us"].to_numpy(float) * 1e-6


def error_summary(pred_s: np.ndarray, meas_s: np.ndarray) -> dict:
    """n, median and p90 absolute relative error (fractions), and the median signed log ratio (bias)."""
    ape = np.abs(pred_s / meas_s - 1.0)
    return {
        "n": int(len(ape)),
        "median_ape": float(np.median(ape)),
        "p90_ape": float(np.percentile(ape, 90)),
        "bias": float(np.exp(np.median(np.log(pred_s / meas_s))) - 1.0),
    }


def kernel_errors(chip: Chip, params: KernelParams | None = None, families=FAMILIES, every: int = 1,
                  directory: Path | str | None = None) -> pd.DataFrame:
    """Median / p90 error per kernel family (and per dtype for GEMMs) for one chip's parameters."""
    params = params or KernelParams.from_chip(chip)
    peaks = Peaks.from_chip(chip)
    rows = []
    for fam in families:
        df = load(fam, every=every, directory=directory)
        pred, meas = predict_s(fam, df, peaks, params), measured_s(df)
        rows.append({"family": fam, "subset": "all", **error_summary(pred, meas)})
        key = {"gemm": "dtype", "attn_decode": "kv_dtype", "mla_decode": "kv_dtype", "attn_prefill": "dtype",
               "mla_prefill": "kv_dtype", "moe": "model", "allreduce": "num_gpus"}[fam]
        for val, idx in df.groupby(key).indices.items():
            rows.append({"family": fam, "subset": f"{key}={val}", **error_summary(pred[idx], meas[idx])})
        if fam == "attn_decode":  # the shapes serving runs at: long contexts, group sizes of preset models
            srv = ((df["kv_len"] >= 1023) & (df["num_q_heads"] / df["num_kv_heads"] <= 16)).to_numpy()
            rows.append({"family": fam, "subset": SERVING_SHAPES, **error_summary(pred[srv], meas[srv])})
    return pd.DataFrame(rows)
