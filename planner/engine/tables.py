"""Struct-of-arrays views of models and chips, so the engine can gather per-candidate parameters with
one fancy-index per field instead of a Python loop per candidate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.inputs.architecture import ModelArch
from planner.inputs.chips import DTYPES, Chip, math_dtype

# fp4: NVFP4, one fp8 scale per 16 elements; w4a16: MXFP4/INT4 weights, one 8-bit scale per 32 elements
BYTES_PER_ELEM = {"bf16": 2.0, "fp8": 1.0, "fp4": 0.5 + 1 / 16, "w4a16": 0.5 + 1 / 32}
DTYPE_CODE = {d: i for i, d in enumerate(DTYPES)}
DTYPE_BYTES = np.array([BYTES_PER_ELEM[d] for d in DTYPES])

# Memory capacities in the catalog are vendor "GB", which for HBM/GDDR/SRAM are binary: an "80 GB" H100 has
# 80 GiB (nvidia-smi: 81,559 MiB), an "141 GB" H200 143,771 MiB, a "192 GB" MI300X 192 GiB.
GIB = float(2**30)

# serving frameworks the engine knows the host time of (planner.engine.params host_s_*); trtllm is the default
FRAMEWORKS: tuple[str, ...] = ("trtllm", "vllm", "sglang")
FRAMEWORK_CODE = {f: i for i, f in enumerate(FRAMEWORKS)}

ROLES: tuple[str, ...] = ("prefill", "decode", "aggregated", "attention", "ffn", "draft")
ROLE_CODE = {r: i for i, r in enumerate(ROLES)}


@dataclass(frozen=True)
class ModelTable:
    """One entry per model; every field an array indexed by model code."""

    ids: tuple[str, ...]
    hidden: np.ndarray
    layers: np.ndarray
    dense_layers: np.ndarray
    moe_layers: np.ndarray
    heads: np.ndarray
    kv_heads: np.ndarray
    head_dim: np.ndarray
    is_mla: np.ndarray
    kv_lora: np.ndarray
    qk_rope: np.ndarray
    v_head_dim: np.ndarray
    attn_params: np.ndarray  # per layer
    dense_ffn_params: np.ndarray  # per dense layer
    experts: np.ndarray  # 0 for dense models
    top_k: np.ndarray
    expert_params: np.ndarray
    shared_params: np.ndarray  # per MoE layer, all shared experts
    vocab: np.ndarray
    embed_params: np.ndarray
    kv_elems: np.ndarray  # per token per full-attention layer, whole model (before TP split)
    window: np.ndarray  # sliding window tokens (0 = none)
    window_layers: np.ndarray
    # the windowed layers' own shape (Gemma-4: narrower heads, more KV heads); equal to the full layers' otherwise
    window_shape: np.ndarray  # bool: the windowed layers' shape differs from the full ones'
    kv_elems_win: np.ndarray
    kv_heads_win: np.ndarray
    head_dim_win: np.ndarray
    lin_layers: np.ndarray  # linear-attention layers (hybrids; 0 = none): a recurrent state, no KV cache
    lin_state_elems: np.ndarray  # state elements per sequence per linear layer (whole model, before TP split)
    lin_state_bytes: np.ndarray  # bytes per state element
    lin_flops: np.ndarray  # recurrence FLOPs per token per linear layer
    dense_inter: np.ndarray  # dense FFN width
    expert_width: np.ndarray  # routed expert width (0 for dense models)
    moe_dim: np.ndarray  # width the routed experts see and the all-to-all carries (hidden, or a latent MoE's latent)
    dsa_topk: np.ndarray  # DeepSeek sparse attention: tokens each query attends (0 = dense attention)
    idx_heads: np.ndarray  # indexer heads (DSA; DeepSeek-V4's CSA layers)
    idx_dim: np.ndarray  # indexer head dim
    idx_layers: np.ndarray  # layers that compute the indexer
    # DeepSeek-V4 compressed attention (ca_window 0 = none): a window on every layer, compressed entries beside it
    ca_window: np.ndarray
    ca_csa_layers: np.ndarray  # layers with one entry per ca_csa_ratio tokens, ca_topk of them attended (indexer)
    ca_hca_layers: np.ndarray  # layers with one entry per ca_hca_ratio tokens, all attended
    ca_csa_ratio: np.ndarray
    ca_hca_ratio: np.ndarray
    ca_topk: np.ndarray
    entries_per_token: np.ndarray  # KV entries a token adds per layer, averaged (1; V4: its compressed entries)

    @classmethod
    def build(cls, models: list[ModelArch]) -> ModelTable:
        def arr(f, dtype=float):
            return np.array([f(m) for m in models], dtype=dtype)

        return cls(
            ids=tuple(m.id for m in models),
            hidden=arr(lambda m: m.hidden_size),
            layers=arr(lambda m: m.num_layers),
            dense_layers=arr(lambda m: m.num_dense_layers),
            moe_layers=arr(lambda m: m.num_moe_layers),
            heads=arr(lambda m: m.num_heads),
            kv_heads=arr(lambda m: m.full_attention.num_kv_heads if m.full_attention else m.num_kv_heads),
            head_dim=arr(lambda m: m.full_attention.head_dim if m.full_attention else m.head_dim),
            is_mla=arr(lambda m: m.attention == "mla", bool),
            kv_lora=arr(lambda m: m.mla.kv_lora_rank if m.mla else 0),
            qk_rope=arr(lambda m: m.mla.qk_rope_head_dim if m.mla else 0),
            v_head_dim=arr(lambda m: m.mla.v_head_dim if m.mla else (m.full_attention.head_dim if m.full_attention
                                                                      else m.head_dim)),
            attn_params=arr(lambda m: m.attn_params_per_layer),
            dense_ffn_params=arr(lambda m: m.dense_ffn_params),
            experts=arr(lambda m: m.moe.num_experts if m.moe else 0),
            top_k=arr(lambda m: m.moe.top_k if m.moe else 0),
            expert_params=arr(lambda m: m.expert_params),
            shared_params=arr(lambda m: m.shared_expert_params),
            vocab=arr(lambda m: m.vocab_size),
            embed_params=arr(lambda m: m.embedding_params),
            kv_elems=arr(lambda m: m.kv_elems_per_token_per_full_layer),
            window=arr(lambda m: m.sliding_window.window if m.sliding_window else 0),
            window_layers=arr(lambda m: m.sliding_window.num_layers if m.sliding_window else 0),
            window_shape=arr(lambda m: m.full_attention is not None, bool),
            kv_elems_win=arr(lambda m: m.kv_elems_per_token_per_window_layer),
            kv_heads_win=arr(lambda m: m.num_kv_heads),
            head_dim_win=arr(lambda m: m.head_dim),
            lin_layers=arr(lambda m: m.linear_attention.num_layers if m.linear_attention else 0),
            lin_state_elems=arr(lambda m: m.linear_attention.state_elems_per_layer if m.linear_attention else 0),
            lin_state_bytes=arr(lambda m: m.linear_attention.state_bytes_per_elem if m.linear_attention else 0),
            lin_flops=arr(lambda m: m.linear_attention.flops_per_token_per_layer if m.linear_attention else 0),
            dense_inter=arr(lambda m: m.intermediate_size),
            expert_width=arr(lambda m: m.moe.expert_intermediate_size if m.moe else 0),
            moe_dim=arr(lambda m: m.moe_dim),
            dsa_topk=arr(lambda m: m.sparse_attention.topk if m.sparse_attention else 0),
            idx_heads=arr(lambda m: m.indexer[0]),
            idx_dim=arr(lambda m: m.indexer[1]),
            idx_layers=arr(lambda m: m.indexer[2]),
            ca_window=arr(lambda m: m.compressed_attention.window if m.compressed_attention else 0),
            ca_csa_layers=arr(lambda m: m.compressed_attention.csa_layers if m.compressed_attention else 0),
            ca_hca_layers=arr(lambda m: m.compressed_attention.hca_layers if m.compressed_attention else 0),
            ca_csa_ratio=arr(lambda m: m.compressed_attention.csa_ratio if m.compressed_attention else 1),
            ca_hca_ratio=arr(lambda m: m.compressed_attention.hca_ratio if m.compressed_attention else 1),
            ca_topk=arr(lambda m: m.compressed_attention.topk if m.compressed_attention else 0),
            entries_per_token=arr(lambda m: m.compressed_entries_per_token),
        )


@dataclass(frozen=True)
class ChipTable:
    """One entry per chip; peak FLOP/s per dtype as a (chips, dtypes) matrix (0 = unsupported)."""

    ids: tuple[str, ...]
    peak_flops: np.ndarray  # (n_chips, n_dtypes) FLOP/s
    eta_compute: np.ndarray  # (n_chips, n_dtypes)
    gemm_m_half: np.ndarray
    eta_attention: np.ndarray
    mem_bytes: np.ndarray  # fast tier, bytes
    mem_bw: np.ndarray  # fast tier, B/s
    cold_bytes: np.ndarray  # second tier (0 = none)
    cold_bw: np.ndarray
    eta_memory: np.ndarray
    eta_attention_memory: np.ndarray  # decode-attention KV stream (chip field attention_memory, else memory)
    scaleup_bw: np.ndarray  # B/s per direction
    scaleup_domain: np.ndarray
    scaleout_bw: np.ndarray
    eta_scaleup: np.ndarray
    eta_scaleout: np.ndarray
    scaleup_lat: np.ndarray  # s
    scaleout_lat: np.ndarray
    kernel_overhead: np.ndarray  # s
    attention_unit: np.ndarray  # s per (sequence, KV head) decode-attention work item
    moe_relative: np.ndarray  # grouped/dense GEMM efficiency (chip field moe_relative; NaN = the engine's H100 fit)
    power_w: np.ndarray
    price_usd_per_hr: np.ndarray

    @classmethod
    def build(cls, chips: list[Chip]) -> ChipTable:
        def arr(f):
            return np.array([f(c) for c in chips], dtype=float)

        peak = np.array([[c.peak_tflops.get(math_dtype(d), 0.0) * 1e12 for d in DTYPES] for c in chips], dtype=float)
        eta_c = np.array([[c.efficiency.compute.get(math_dtype(d), 0.65) for d in DTYPES] for c in chips], dtype=float)
        return cls(
            ids=tuple(c.id for c in chips),
            peak_flops=peak,
            eta_compute=eta_c,
            gemm_m_half=arr(lambda c: c.efficiency.gemm_m_half),
            eta_attention=arr(lambda c: c.efficiency.attention),
            mem_bytes=arr(lambda c: c.memory[0].capacity_gb * GIB),
            mem_bw=arr(lambda c: c.memory[0].bandwidth_tb_s * 1e12),
            cold_bytes=arr(lambda c: c.memory[1].capacity_gb * GIB if len(c.memory) > 1 else 0.0),
            cold_bw=arr(lambda c: c.memory[1].bandwidth_tb_s * 1e12 if len(c.memory) > 1 else 1.0),
            eta_memory=arr(lambda c: c.efficiency.memory),
            eta_attention_memory=arr(lambda c: c.efficiency.attention_memory or c.efficiency.memory),
            scaleup_bw=arr(lambda c: c.scaleup_gb_s * 1e9),
            scaleup_domain=arr(lambda c: c.scaleup_domain),
            scaleout_bw=arr(lambda c: c.scaleout_gb_s * 1e9),
            eta_scaleup=arr(lambda c: c.efficiency.scaleup),
            eta_scaleout=arr(lambda c: c.efficiency.scaleout),
            scaleup_lat=arr(lambda c: c.efficiency.scaleup_latency_us * 1e-6),
            scaleout_lat=arr(lambda c: c.efficiency.scaleout_latency_us * 1e-6),
            kernel_overhead=arr(lambda c: c.efficiency.kernel_overhead_us * 1e-6),
            attention_unit=arr(lambda c: c.efficiency.attention_unit_ns * 1e-9),
            moe_relative=arr(lambda c: c.efficiency.moe_relative or np.nan),
            power_w=arr(lambda c: c.power_w),
            price_usd_per_hr=arr(lambda c: c.price_usd_per_hr),
        )
