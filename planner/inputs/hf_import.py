"""Map a Hugging Face `config.json` onto the fields of `planner.inputs.architecture.ModelArch`.

Handled families (by `architectures[0]`, falling back to `model_type` and then to the keys present):

* dense GQA: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, ... (`head_dim` when
  given, else hidden_size / num_attention_heads);
* MixtralForCausalLM: `num_local_experts`, `num_experts_per_tok`; `intermediate_size` is the expert width;
* Qwen2MoeForCausalLM / Qwen3MoeForCausalLM: `num_experts`, `moe_intermediate_size`, optional
  `shared_expert_intermediate_size`, `decoder_sparse_step` / `mlp_only_layers`;
* DeepseekV2/V3ForCausalLM (also Kimi-K2): MLA (`kv_lora_rank`, `q_lora_rank` (null -> 0),
  `qk_rope_head_dim`, `qk_nope_head_dim`, `v_head_dim`), `n_routed_experts`, `n_shared_experts`,
  `moe_intermediate_size`, `first_k_dense_replace`, `moe_layer_freq`;
* GptOssForCausalLM: `num_local_experts`, `experts_per_token` / `num_experts_per_tok`, `layer_types` +
  `sliding_window`;
* Qwen3.5/3.6 and Qwen3-Next (Gated DeltaNet hybrids): `layer_types` (`linear_attention` / `full_attention`) or
  `full_attention_interval`, `linear_num_key_heads`, `linear_num_value_heads`, `linear_key_head_dim`,
  `linear_value_head_dim`, `linear_conv_kernel_dim`, `mamba_ssm_dtype` (the state's dtype), `attn_output_gate`;
* Step3 (text part of Step3VL): `num_attention_groups`, `moe_num_experts`, `moe_top_k`, `share_expert_dim`,
  `moe_layers_enum` (best effort; its low-rank query is not representable and is modelled as full rank).

Anything else is imported best effort from the generic keys. Multimodal configs whose language model sits
under `text_config` are read from there. A missing or malformed required key raises `PlannerError` naming
`config.json.<key>`.

ModelArch only counts dense layers (`moe.first_dense_layers`); every derived quantity depends on the count,
not the position, so configs whose dense layers are not all leading (e.g. `mlp_only_layers: [5]`,
`decoder_sparse_step: 2`, a trailing dense layer in Step3) are imported with the dense-layer count there.
"""

from __future__ import annotations

import math
import re
from typing import Any

from planner.errors import PlannerError
from planner.inputs.quantization import checkpoint_precision

_HINT = (
    "pass the model's own config.json (from its Hugging Face repo), or write a models/<id>.yaml preset "
    "with the shapes by hand (see models/llama-3.1-8b.yaml)"
)

_MLA_ARCHS = {"DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM"}
_MLA_TYPES = {"deepseek_v2", "deepseek_v3", "kimi_k2"}
_QWEN_DENSE_TYPES = {"qwen2", "qwen3"}
_QWEN_MOE_TYPES = {"qwen2_moe", "qwen3_moe", "qwen3_next", "qwen3_5_moe", "qwen3_5_moe_text"}


def _missing(key: str, arch: str, why: str = "missing required key") -> PlannerError:
    return PlannerError(f"{why} {key!r} (architecture {arch})", field=f"config.json.{key}", hint=_HINT)


MAX_COUNT = 2**31 - 1  # widths, layers, heads, vocabulary: far above any model's, within what the engine computes


def _int(cfg: dict, arch: str, *keys: str, default: int | None = None, required: bool = True) -> int | None:
    """First of `keys` present and not null, as an int; `default` when none is; else PlannerError on keys[0].
    Counts are positive; a key whose default is 0 (shared experts, dense-first layers, ...) may be 0."""
    minimum = 0 if default == 0 else 1
    for key in keys:
        val = cfg.get(key)
        if val is None:
            continue
        if (isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val)
                or int(val) != val):
            raise _missing(key, arch, why=f"expected an integer, got {val!r} for key")
        if val < minimum or val > MAX_COUNT:
            raise _missing(key, arch, why=f"expected an integer from {minimum} to {MAX_COUNT:,}, got {val!r} for key")
        return int(val)
    if default is not None or not required:
        return default
    raise _missing(keys[0], arch)


def _sanitize_id(model_id: str) -> str:
    s = re.sub(r"[^a-z0-9.\-_]+", "-", str(model_id).lower())
    s = re.sub(r"^[^a-z0-9]+", "", s)
    return s or "custom"


def _layer_index_set(raw: Any, arch: str, key: str) -> set[int]:
    """A list/tuple of layer indices, or a comma-separated string of them (Step3's `moe_layers_enum`)."""
    if isinstance(raw, str):
        parts = [p for p in raw.replace(" ", "").split(",") if p]
    elif isinstance(raw, (list, tuple)):
        parts = list(raw)
    else:
        raise _missing(key, arch, why=f"expected a list of layer indices, got {raw!r} for key")
    try:
        return {int(p) for p in parts}
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
        raise _missing(key, arch, why=f"expected a list of layer indices, got {raw!r} for key") from None


def _text_config(cfg: dict) -> dict:
    """Multimodal wrappers (Step3VL, Llama4, Gemma3, ...) keep the language model under `text_config`."""
    text = cfg.get("text_config")
    if "hidden_size" not in cfg and isinstance(text, dict):
        merged = {k: v for k, v in cfg.items() if k != "text_config"}
        merged.update(text)
        merged["architectures"] = cfg.get("architectures") or text.get("architectures")
        return merged
    return cfg


def _sliding_window(cfg: dict, arch: str, model_type: str, num_layers: int) -> dict | None:
    chunk = _int(cfg, arch, "attention_chunk_size", required=False)
    if chunk and chunk > 0:  # Llama-4: the RoPE layers attend within 8k-token chunks, every 4th (NoPE) layer globally
        flags = cfg.get("no_rope_layers")
        if isinstance(flags, list) and flags:
            n_chunked = sum(1 for f in flags[:num_layers] if f)
        else:
            interval = max(1, _int(cfg, arch, "no_rope_layer_interval", default=4))
            n_chunked = num_layers - num_layers // interval
        return {"window": chunk, "num_layers": n_chunked, "kind": "chunked"} if n_chunked else None
    window = _int(cfg, arch, "sliding_window", required=False)
    layer_types = cfg.get("layer_types")
    if isinstance(layer_types, list) and layer_types:
        n_windowed = sum(1 for t in layer_types if t == "sliding_attention")
        if n_windowed == 0:
            return None
        if window is None:
            raise _missing("sliding_window", arch, why="layer_types has sliding_attention layers but no")
        return {"window": window, "num_layers": min(n_windowed, num_layers)}
    if window is None or window <= 0 or cfg.get("use_sliding_window") is False:
        return None
    max_pos = _int(cfg, arch, "max_position_embeddings", required=False)
    if max_pos is not None and window >= max_pos:
        return None  # a window as long as the context is no window
    if model_type == "gpt_oss":
        n_windowed = num_layers // 2  # alternates sliding / full, starting with sliding
    elif model_type in _QWEN_DENSE_TYPES | _QWEN_MOE_TYPES:
        # Qwen2/3 with use_sliding_window: layers from max_window_layers on use the window.
        max_window_layers = _int(cfg, arch, "max_window_layers", default=0)
        n_windowed = max(0, num_layers - max_window_layers)
    elif isinstance(cfg.get("sliding_window_pattern"), int) and cfg["sliding_window_pattern"] > 0:
        n_windowed = num_layers - num_layers // cfg["sliding_window_pattern"]  # Gemma3: every Nth is global
    else:
        n_windowed = num_layers  # Mistral-style: every layer windowed
    return {"window": window, "num_layers": n_windowed} if n_windowed > 0 else None


def _moe(cfg: dict, arch: str, model_type: str, num_layers: int) -> tuple[dict | None, int | None]:
    """The `moe` block (or None) and, where the config's `intermediate_size` is the expert width, the dense
    layers' FFN width (that width, or the one the config names for dense layers)."""
    experts = _int(
        cfg, arch, "n_routed_experts", "num_local_experts", "num_experts", "moe_num_experts", required=False
    )
    if not experts or experts <= 1:
        return None, None

    top_k = _int(cfg, arch, "num_experts_per_tok", "experts_per_token", "moe_top_k", "num_experts_per_token",
                 "top_k_experts")
    n_shared, shared_width = 0, 0
    moe_layers: set[int] | None = None  # None: every layer is MoE
    expert_width_is_intermediate = False
    dense_width = None  # the dense layers' FFN width where a config names it apart (Llama-4: intermediate_size_mlp)

    if "moe_intermediate_size" in cfg and cfg["moe_intermediate_size"] is not None:
        width = _int(cfg, arch, "moe_intermediate_size")
    else:
        # Mixtral / gpt-oss: intermediate_size is the expert width.
        width = _int(cfg, arch, "intermediate_size")
        expert_width_is_intermediate = True

    if "n_shared_experts" in cfg or "first_k_dense_replace" in cfg:  # DeepSeek-V2/V3, Kimi-K2
        # Kimi Linear (Kimi-K3) spells the shared-expert count num_shared_experts
        n_shared = _int(cfg, arch, "n_shared_experts", "num_shared_experts", default=0)
        shared_width = width if n_shared else 0
        first_k = _int(cfg, arch, "first_k_dense_replace", default=0)
        if isinstance(cfg.get("moe_layer_freq"), list):  # one flag per layer (1: MoE)
            flags = cfg["moe_layer_freq"]
            moe_layers = {i for i, f in enumerate(flags[:num_layers]) if f and i >= first_k}
        else:
            freq = max(1, _int(cfg, arch, "moe_layer_freq", default=1))
            moe_layers = {i for i in range(num_layers) if i >= first_k and i % freq == 0}
    elif model_type in _QWEN_MOE_TYPES or "decoder_sparse_step" in cfg or "mlp_only_layers" in cfg:
        shared = _int(cfg, arch, "shared_expert_intermediate_size", default=0)  # Qwen2-MoE has one
        n_shared, shared_width = (1, shared) if shared else (0, 0)
        step = max(1, _int(cfg, arch, "decoder_sparse_step", default=1))
        mlp_only = _layer_index_set(cfg.get("mlp_only_layers") or [], arch, "mlp_only_layers")
        moe_layers = {i for i in range(num_layers) if i not in mlp_only and (i + 1) % step == 0}
    elif "interleave_moe_layer_step" in cfg:  # Llama-4: MoE every k-th layer, a shared expert, wider dense layers
        step = max(1, _int(cfg, arch, "interleave_moe_layer_step", default=1))
        if cfg.get("moe_layers") is not None:
            moe_layers = _layer_index_set(cfg["moe_layers"], arch, "moe_layers") & set(range(num_layers))
        else:
            moe_layers = set(range(step - 1, num_layers, step))
        n_shared, shared_width = 1, width  # Llama4TextMoe: one shared expert of the routed experts' width
        dense_width = _int(cfg, arch, "intermediate_size_mlp", required=False)
    elif cfg.get("enable_moe_block"):  # Gemma-4 MoE: the layer's dense MLP runs beside the experts, like a shared one
        n_shared, shared_width = 1, _int(cfg, arch, "intermediate_size")
    elif "moe_layers_enum" in cfg or "share_expert_dim" in cfg:  # Step3
        shared = _int(cfg, arch, "share_expert_dim", default=0)
        n_shared, shared_width = (1, shared) if shared else (0, 0)
        if cfg.get("moe_layers_enum") is not None:
            moe_layers = _layer_index_set(cfg["moe_layers_enum"], arch, "moe_layers_enum") & set(
                range(num_layers)
            )

    n_moe = num_layers if moe_layers is None else len(moe_layers)
    if n_moe == 0:
        return None, None
    block = {
        "num_experts": experts,
        "top_k": top_k,
        "expert_intermediate_size": width,
        "num_shared_experts": n_shared,
        "shared_intermediate_size": shared_width,
        "first_dense_layers": num_layers - n_moe,
    }
    latent = _int(cfg, arch, "routed_expert_hidden_size", "moe_latent_size", required=False)
    if latent:  # latent MoE (Kimi-K3): the routed experts run on a projection of the hidden state to this width
        block["latent_size"] = latent
    return block, (dense_width or width if expert_width_is_intermediate else None)


# DeepSeek-V4's compressed layer kinds (compressed_attention) and their default compression rates; its other
# layers are `sliding_attention` (the window alone)
_V4_COMPRESSED_KINDS = {"compressed_sparse_attention": 4, "heavily_compressed_attention": 128}
# deepseek_sparse_attention: DSA layers (GLM-5.2), attention over the indexer's top-k tokens (sparse_attention)
_KNOWN_LAYER_KINDS = {"full_attention", "sliding_attention", "linear_attention", "attention",
                      "deepseek_sparse_attention", *_V4_COMPRESSED_KINDS}
# (key, when it is set, why the layers it describes are not modelled): refused with the key named, never imported
# into a shape that would size or price the model wrongly
_UNMODELLED_KEYS = (
    ("hc_mult", "hyper-connections (several residual streams per layer) outside DeepSeek-V4's attention"),
    ("hidden_size_per_layer_input", "per-layer input embeddings (Gemma-3n and the small Gemma-4 models)"),
    ("num_kv_shared_layers", "layers that reuse another layer's KV cache"),
    ("use_double_wide_mlp", "double-width MLPs in some layers"),
)
_STATE_DTYPE_BYTES = {"float32": 4, "fp32": 4, "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2}


def _kimi_delta_attention(cfg: dict, arch: str, num_layers: int) -> dict | None:
    """Kimi Linear hybrids (Kimi-K3): `linear_attn_config` names the KDA layers (1-based) and their heads, which
    are key and value heads alike; the output gate is full rank where `use_full_rank_gate` says so, else it goes
    through a head_dim bottleneck as the decay does."""
    la = cfg["linear_attn_config"]
    key = "linear_attn_config"
    if not isinstance(la, dict):
        raise _missing(key, arch, why=f"expected a mapping, got {la!r} for key")
    layers = _layer_index_set(la.get("kda_layers", []), arch, f"{key}.kda_layers") & set(range(1, num_layers + 1))
    if not layers:
        return None
    heads, dim = _int(la, arch, "num_heads"), _int(la, arch, "head_dim")
    return {"kind": "kda", "num_layers": len(layers), "num_key_heads": heads, "num_value_heads": heads,
            "key_head_dim": dim, "value_head_dim": dim, "conv_kernel": _int(la, arch, "short_conv_kernel_size", default=4),
            "state_bytes_per_elem": 4, "output_gate_rank": 0 if la.get("use_full_rank_gate") else dim}


def _linear_attention(cfg: dict, arch: str, model_type: str, num_layers: int) -> dict | None:
    """Gated DeltaNet hybrids (Qwen3.5/3.6, Qwen3-Next): `layer_types` (or every `full_attention_interval`-th
    layer full) and the `linear_*` head shapes; Kimi Delta Attention hybrids by `linear_attn_config`."""
    if cfg.get("linear_attn_config") is not None:
        return _kimi_delta_attention(cfg, arch, num_layers)
    kinds = cfg.get("layer_types")
    interval = cfg.get("full_attention_interval")
    if isinstance(kinds, list) and kinds:
        n_linear = sum(1 for k in kinds if k == "linear_attention")
    elif "linear_num_value_heads" in cfg and isinstance(interval, int) and interval > 0:
        n_linear = num_layers - num_layers // interval
    else:
        n_linear = 0
    if n_linear == 0:
        return None
    dtype = str(cfg.get("mamba_ssm_dtype") or "float32").lower()
    return {
        "kind": "gated_deltanet",
        "num_layers": n_linear,
        "num_key_heads": _int(cfg, arch, "linear_num_key_heads"),
        "num_value_heads": _int(cfg, arch, "linear_num_value_heads"),
        "key_head_dim": _int(cfg, arch, "linear_key_head_dim"),
        "value_head_dim": _int(cfg, arch, "linear_value_head_dim"),
        "conv_kernel": _int(cfg, arch, "linear_conv_kernel_dim", default=4),
        "state_bytes_per_elem": _STATE_DTYPE_BYTES.get(dtype, 4),
    }


_BLOCK_KINDS = {"M": "mamba", "*": "attention", "E": "moe", "-": "mlp"}


def _nemotron_h(cfg: dict, arch: str, out: dict) -> None:
    """Nemotron-H (Mamba2 hybrids): every block holds one thing, a Mamba2 mixer, an attention mixer, a MoE or an
    MLP (`hybrid_override_pattern` M * E -, or `layers_block_type`); the planner's layers are the mixer blocks,
    its FFN layers the MoE and MLP blocks. relu2 FFNs (two matrices); a latent MoE when `moe_latent_size` is set."""
    pattern = cfg.get("hybrid_override_pattern")
    kinds = ([_BLOCK_KINDS.get(ch, ch) for ch in str(pattern)] if pattern else
             [str(k).lower() for k in cfg.get("layers_block_type") or []])
    unknown = sorted(set(kinds) - set(_BLOCK_KINDS.values()))
    if unknown or not kinds:
        raise PlannerError(f"block kinds {unknown or 'none'} are not modelled",
                           field="config.json.hybrid_override_pattern",
                           hint="Nemotron-H blocks are M (Mamba2), * (attention), E (MoE), - (MLP)")
    n = {k: kinds.count(k) for k in _BLOCK_KINDS.values()}
    if n["attention"] == 0 or n["moe"] + n["mlp"] == 0:
        raise PlannerError("a Nemotron-H pattern without attention or FFN blocks is not modelled",
                           field="config.json.hybrid_override_pattern")
    out["num_layers"] = n["mamba"] + n["attention"]
    out["ffn_layers"] = n["moe"] + n["mlp"]
    out["mlp_gated"] = str(cfg.get("mlp_hidden_act") or "relu2").lower() not in ("relu2", "relu", "gelu")
    out["intermediate_size"] = _int(cfg, arch, "intermediate_size")
    if n["mamba"]:
        dtype = str(cfg.get("mamba_ssm_cache_dtype") or cfg.get("torch_dtype") or "bfloat16").lower()
        out["linear_attention"] = {
            "kind": "mamba2", "num_layers": n["mamba"], "num_key_heads": _int(cfg, arch, "n_groups"),
            "key_head_dim": _int(cfg, arch, "ssm_state_size"), "num_value_heads": _int(cfg, arch, "mamba_num_heads"),
            "value_head_dim": _int(cfg, arch, "mamba_head_dim"),
            "conv_kernel": _int(cfg, arch, "conv_kernel", default=4),
            "state_bytes_per_elem": _STATE_DTYPE_BYTES.get(dtype, 2)}
    if n["moe"]:
        shared = _int(cfg, arch, "moe_shared_expert_intermediate_size", default=0)
        out["moe"] = {"num_experts": _int(cfg, arch, "n_routed_experts"),
                      "top_k": _int(cfg, arch, "num_experts_per_tok"),
                      "expert_intermediate_size": _int(cfg, arch, "moe_intermediate_size"),
                      "num_shared_experts": _int(cfg, arch, "n_shared_experts", default=1) if shared else 0,
                      "shared_intermediate_size": shared, "first_dense_layers": n["mlp"],
                      "latent_size": _int(cfg, arch, "moe_latent_size", required=False)}
    else:
        out.pop("moe", None)
    out["source"] = (f"Hugging Face config.json ({arch}: {n['mamba']} Mamba2, {n['attention']} attention, "
                     f"{n['moe']} MoE, {n['mlp']} MLP blocks)")


def _nas_ffn_width(ffn_mult: float, hidden: int) -> int:
    """A Llama-Nemotron NAS block's FFN width from its `ffn_mult` (DeciLM's rule: 2/3 of mult x hidden, rounded up to
    a multiple of 256; 5.25 on a 8,192 hidden size is Llama-3.1-70B's 28,672)."""
    width = int(2 * ffn_mult * hidden / 3)
    return -(-width // 256) * 256


def _nas_blocks(cfg: dict, arch: str, hidden: int, heads: int) -> dict:
    """Llama-Nemotron NAS (DeciLM `block_configs`, Nemotron-Super/Ultra): every block has an attention (grouped-query,
    `n_heads_in_group` query heads per KV head) or none, and a gated FFN of its own width or none. The planner's layers
    are the attention blocks; its FFN layers the FFN blocks, at their mean width: weights and FLOPs are exact (up to
    rounding the mean to a whole column), only the per-layer GEMM shapes are averaged. Blocks the engine has no
    operator for (attention or FFN replaced by a linear layer, windowed or sink attention, sparsified blocks) are
    refused."""
    blocks = cfg.get("block_configs")
    if not isinstance(blocks, list) or not blocks or not all(isinstance(b, dict) for b in blocks):
        raise _missing("block_configs", arch, why="expected a list of blocks for key")
    groups, widths = set(), []
    for i, b in enumerate(blocks):
        att, ffn = b.get("attention") or {}, b.get("ffn") or {}
        if not isinstance(att, dict) or not isinstance(ffn, dict):
            raise _missing("block_configs", arch, why=f"block {i}: expected 'attention' and 'ffn' mappings in key")
        odd = [f"{part}.{k}" for part, d in (("attention", att), ("ffn", ffn))
               for k in ("replace_with_linear", "sparsify", "window_length", "num_sink_tokens") if d.get(k)]
        if odd:
            raise PlannerError(f"not modelled yet: NAS block {i} has {', '.join(odd)} (a linear stand-in, windowed or "
                               "sparsified block); importing it as a standard block would size or price the model "
                               "wrongly", field="config.json.block_configs",
                               hint="plan a preset or a bundled model of a similar size until these blocks land")
        if not att.get("no_op"):
            group = att.get("n_heads_in_group")
            groups.add(group if isinstance(group, int) and not isinstance(group, bool) else repr(group))
        if not ffn.get("no_op"):
            mult = ffn.get("ffn_mult")
            if isinstance(mult, bool) or not isinstance(mult, (int, float)) or not 0 < mult <= 64:
                raise _missing("block_configs", arch, why=f"block {i}: expected a positive ffn_mult, got {mult!r} in key")
            widths.append(_nas_ffn_width(float(mult), hidden))
    if len(groups) != 1 or not all(isinstance(g, int) and g > 0 and heads % g == 0 for g in groups) or not widths:
        # (no attention block at all is the empty set: refused here too)
        raise PlannerError(f"NAS blocks with query-group sizes {sorted(map(str, groups))} or no FFN are not modelled: "
                           "the engine takes one KV-head count for every attention layer",
                           field="config.json.block_configs", hint="plan a preset of a similar size")
    return {"num_layers": sum(1 for b in blocks if not (b.get("attention") or {}).get("no_op")),
            "ffn_layers": len(widths), "num_kv_heads": heads // groups.pop(),
            "intermediate_size": int(round(sum(widths) / len(widths))),
            "nas_note": f"{len(blocks)} NAS blocks: {len(widths)} FFN widths {min(widths):,}-{max(widths):,}"}


def _is_nemotron_h(cfg: dict) -> bool:
    kinds = cfg.get("layers_block_type")
    return bool(cfg.get("hybrid_override_pattern")) or (
        isinstance(kinds, list) and "mamba" in [str(k).lower() for k in kinds])


def _is_deepseek_v4(cfg: dict) -> bool:
    kinds = cfg.get("layer_types")
    return (cfg.get("compress_ratios") is not None or str(cfg.get("model_type") or "").lower() == "deepseek_v4"
            or (isinstance(kinds, list) and any(k in _V4_COMPRESSED_KINDS for k in kinds if isinstance(k, str))))


def _compressed_attention(cfg: dict, arch: str, num_layers: int) -> dict:
    """DeepSeek-V4: each layer's compression (`compress_ratios`, 0 = window only, per layer and one more for the MTP
    module; or `layer_types` with `compress_rates`), truncated to the layers as Transformers does; the smaller ratio
    is CSA (with the indexer), the larger HCA."""
    ratios = cfg.get("compress_ratios")
    if ratios is not None:
        if not isinstance(ratios, list) or not all(isinstance(r, int) and not isinstance(r, bool) and r >= 0
                                                    for r in ratios):
            raise _missing("compress_ratios", arch, why=f"expected a list of non-negative integers, got {ratios!r} for key")
        per_layer = ratios[:num_layers]
    else:
        rates = cfg.get("compress_rates") if isinstance(cfg.get("compress_rates"), dict) else {}
        kinds = cfg.get("layer_types") if isinstance(cfg.get("layer_types"), list) else []
        per_layer = [_int(rates, arch, k, default=_V4_COMPRESSED_KINDS[k]) if k in _V4_COMPRESSED_KINDS else 0
                     for k in kinds[:num_layers] if isinstance(k, str)]
    nonzero = sorted({r for r in per_layer if r > 0})
    if len(nonzero) != 2:
        raise _missing("compress_ratios", arch, why=f"expected two compression ratios (CSA and HCA), got {nonzero} in")
    csa, hca = nonzero
    return {"window": _int(cfg, arch, "sliding_window"), "csa_layers": per_layer.count(csa), "csa_ratio": csa,
            "hca_layers": per_layer.count(hca), "hca_ratio": hca, "topk": _int(cfg, arch, "index_topk"),
            "index_heads": _int(cfg, arch, "index_n_heads"), "index_head_dim": _int(cfg, arch, "index_head_dim"),
            "q_lora_rank": _int(cfg, arch, "q_lora_rank"), "o_groups": _int(cfg, arch, "o_groups"),
            "o_lora_rank": _int(cfg, arch, "o_lora_rank"), "hc_mult": _int(cfg, arch, "hc_mult", default=1)}


def _refuse_unmodelled(cfg: dict) -> None:
    """Layer kinds the engine does not model yet are refused, never imported as attention (a wrong size)."""
    v4 = _is_deepseek_v4(cfg)
    for key, why in _UNMODELLED_KEYS:
        if cfg.get(key) and not (v4 and key == "hc_mult"):
            raise PlannerError(f"not modelled yet: {why}; importing them as standard layers would size or price the "
                               "model wrongly", field=f"config.json.{key}",
                               hint="plan a preset or a bundled model of a similar size (`planner models --zoo`) "
                                    "until these layers land")
    kinds = cfg.get("layer_types") or []
    kinds = [str(k).lower() for k in kinds] if isinstance(kinds, list) else []
    if any("mamba" in k for k in kinds) and not _is_nemotron_h(cfg):
        raise PlannerError("Mamba layers outside the Nemotron-H block layout are not modelled yet; importing them "
                           "as attention layers would size them wrongly (2-3x)", field="config.json.layer_types",
                           hint="plan a transformer model, or a preset of a similar size, until these layers land")
    unknown = sorted({k for k in kinds if k not in _KNOWN_LAYER_KINDS})
    if unknown:
        raise PlannerError(f"layer kinds {unknown} (layer_types) are not modelled; importing them as attention "
                           "layers could size the model wrongly", field="config.json.layer_types",
                           hint="plan a preset of a similar size until these layers land")


def arch_dict_from_hf(cfg: dict, model_id: str) -> dict:
    """A dict for `ModelArch.model_validate` from a Hugging Face config.json (already parsed)."""
    if not isinstance(cfg, dict):
        raise PlannerError("config.json must hold a JSON object", field="config.json", hint=_HINT)
    vision = isinstance(cfg.get("vision_config"), dict) or "vision_tower" in cfg
    cfg = _text_config(cfg)
    if _is_nemotron_h(cfg) and cfg.get("num_hidden_layers") is None:  # Nemotron-3 Ultra lists its blocks only
        blocks = cfg.get("hybrid_override_pattern") or cfg.get("layers_block_type")
        cfg = {**cfg, "num_hidden_layers": len(blocks)}
    _refuse_unmodelled(cfg)
    archs = cfg.get("architectures") or []
    arch = str(archs[0]) if isinstance(archs, list) and archs else str(cfg.get("model_type") or "unknown")
    model_type = str(cfg.get("model_type") or "").lower()

    hidden = _int(cfg, arch, "hidden_size", "d_model", "n_embd")
    num_layers = _int(cfg, arch, "num_hidden_layers", "n_layer", "num_layers")
    num_heads = _int(cfg, arch, "num_attention_heads", "n_head", "num_heads")
    vocab = _int(cfg, arch, "vocab_size", "padded_vocab_size")
    nas = _nas_blocks(cfg, arch, hidden, num_heads) if cfg.get("block_configs") else None
    if nas:  # the per-block shapes stand in for the config's nulls (intermediate_size, num_key_value_heads)
        cfg = {**cfg, "intermediate_size": nas["intermediate_size"], "num_key_value_heads": nas["num_kv_heads"]}

    out: dict[str, Any] = {
        "id": _sanitize_id(model_id),
        "name": str(cfg.get("_name_or_path") or model_id),
        "hidden_size": hidden,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "vocab_size": vocab,
        # LlamaConfig, MixtralConfig, Qwen*, DeepseekV3Config, GptOssConfig all default to untied.
        "tie_embeddings": bool(cfg.get("tie_word_embeddings", False)),
        "attention_bias": bool(cfg.get("attention_bias", False)) or model_type in {"qwen2", "qwen2_moe"},
        "mtp_layers": _int(cfg, arch, "num_nextn_predict_layers", "mtp_num_hidden_layers", default=0),
        "source": f"Hugging Face config.json ({arch})",
    }

    moe, expert_width_as_intermediate = _moe(cfg, arch, model_type, num_layers)
    if moe:
        out["moe"] = moe
    if expert_width_as_intermediate is not None:
        out["intermediate_size"] = expert_width_as_intermediate
    elif moe and moe["first_dense_layers"] == 0:  # every layer MoE: no dense FFN to size (configs may omit it)
        out["intermediate_size"] = (_int(cfg, arch, "intermediate_size", "ffn_hidden_size", "n_inner", required=False)
                                    or moe["expert_intermediate_size"])
    else:
        out["intermediate_size"] = _int(cfg, arch, "dense_intermediate_size", "intermediate_size", "ffn_hidden_size",
                                        "n_inner")  # MiniMax-M3 names its dense layers' width apart

    is_mla = arch in _MLA_ARCHS or model_type in _MLA_TYPES or cfg.get("kv_lora_rank") is not None
    if is_mla:
        mla = {
            "kv_lora_rank": _int(cfg, arch, "kv_lora_rank"),
            "q_lora_rank": _int(cfg, arch, "q_lora_rank", default=0),
            "qk_rope_head_dim": _int(cfg, arch, "qk_rope_head_dim"),
            "qk_nope_head_dim": _int(cfg, arch, "qk_nope_head_dim"),
            "v_head_dim": _int(cfg, arch, "v_head_dim"),
        }
        out.update(
            attention="mla",
            mla=mla,
            num_kv_heads=num_heads,  # the latent is shared; ModelArch convention
            head_dim=mla["qk_nope_head_dim"] + mla["qk_rope_head_dim"],
        )
    else:
        head_dim = _int(cfg, arch, "head_dim", required=False)
        if head_dim is None:
            if hidden % num_heads:
                raise _missing(
                    "head_dim",
                    arch,
                    why=f"hidden_size {hidden} is not a multiple of num_attention_heads {num_heads}, and no",
                )
            head_dim = hidden // num_heads
        out.update(
            attention="gqa",
            num_kv_heads=_int(
                cfg,
                arch,
                "num_key_value_heads",
                "num_attention_groups",
                "multi_query_group_num",
                "n_head_kv",
                default=num_heads,
            ),
            head_dim=head_dim,
        )

    v4 = _is_deepseek_v4(cfg)
    window = None if v4 else _sliding_window(cfg, arch, model_type, num_layers)  # V4: its window is its own
    if window:
        out["sliding_window"] = window
    if v4:  # DeepSeek-V4: one KV head (keys are values), a window on every layer, compressed entries beside it
        out["compressed_attention"] = _compressed_attention(cfg, arch, num_layers)
    g_dim, g_kv = (_int(cfg, arch, k, required=False) for k in ("global_head_dim", "num_global_key_value_heads"))
    if out["attention"] == "gqa" and (g_dim or g_kv or cfg.get("attention_k_eq_v")):
        # Gemma-4: the full-attention layers have wider heads, fewer KV heads and read values from the keys
        full = {"head_dim": g_dim or out["head_dim"], "num_kv_heads": g_kv or out["num_kv_heads"],
                "values_are_keys": bool(cfg.get("attention_k_eq_v"))}
        if window and window["num_layers"] < num_layers:
            out["full_attention"] = full
        elif not window and not full["values_are_keys"]:  # every layer full: the full shape is the model's
            out.update(head_dim=full["head_dim"], num_kv_heads=full["num_kv_heads"])
        elif not window:
            raise PlannerError("keys serving as values on every layer of a model without windowed layers is not "
                               "modelled yet", field="config.json.attention_k_eq_v",
                               hint="plan a preset of a similar size")
    ckpt = checkpoint_precision(cfg)
    if ckpt:
        out["checkpoint"] = ckpt
    if vision:
        out["vision_encoder"] = True
    topk = None if v4 else _int(cfg, arch, "index_topk", required=False)  # V4's indexer is compressed_attention's
    if topk:  # DeepSeek sparse attention: the indexer's shapes; GLM-5.2 computes it on its `full` indexer layers
        kinds = cfg.get("indexer_types")
        n_index = sum(1 for k in kinds[:num_layers] if k == "full") if isinstance(kinds, list) and kinds else num_layers
        out["sparse_attention"] = {"topk": topk, "index_heads": _int(cfg, arch, "index_n_heads"),
                                   "index_head_dim": _int(cfg, arch, "index_head_dim"),
                                   "indexer_layers": max(n_index, 1)}
    linear = _linear_attention(cfg, arch, model_type, num_layers)
    if linear:
        out["linear_attention"] = linear
    if _is_nemotron_h(cfg):
        _nemotron_h(cfg, arch, out)
    if nas:
        out.update(num_layers=nas["num_layers"], ffn_layers=nas["ffn_layers"])
        out["source"] = f"Hugging Face config.json ({arch}: {nas['nas_note']}, {nas['num_layers']} with attention)"
    # a second query-sized projection gates the attention output (Qwen3-Next always; Qwen3.5 says so)
    if bool(cfg.get("attn_output_gate", model_type.startswith("qwen3_next"))) and out["attention"] == "gqa":
        out["attn_output_gate"] = True
    if out["attention"] == "mla" and cfg.get("mla_use_output_gate"):  # Kimi-K3's gated MLA: sigmoid(W_g x) on its output
        out["attn_output_gate"] = True
    return out
