"""The precision a checkpoint ships in, read from its Hugging Face `quantization_config` (config.json) or its
ModelOpt `hf_quant_config.json`: the default weights and KV-cache dtypes of a plan (a scenario's `precision` or
`--weights` overrides them).

Recipes: `fp8` (per-tensor or 128x128 blocks: DeepSeek, Qwen FP8), `mxfp4` (gpt-oss: the experts), ModelOpt
`FP8` / `NVFP4` / `W4A16_*` / `MIXED_PRECISION` (per-layer algorithms), compressed-tensors groups (8-bit float,
4-bit float with 4-bit activations = fp4, 4-bit weights alone = w4a16, INT4 weight-only). The engine prices one
weights dtype per instance: a mixed recipe is planned at the dtype of most of its quantized layers, and says so.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

# ModelOpt quant_algo -> the planner's weights dtype
_MODELOPT = {"FP8": "fp8", "FP8_BLOCK_SCALES": "fp8", "FP8_PB_WO": "fp8", "MXFP8": "fp8", "NVFP4": "fp4",
             "MXFP4": "fp4", "W4A16_NVFP4": "w4a16", "W4A16_AWQ": "w4a16", "W4A16_GPTQ": "w4a16", "W4A8_AWQ": "w4a16",
             "NVFP4_AWQ": "fp4", "INT4_AWQ": "w4a16", "W4A16_MXFP4": "w4a16"}
_KV = {"FP8": "fp8", "NVFP4": "fp4"}


def _dict(x: Any) -> dict:
    """A config's mapping, or an empty one when the value is not a mapping (a damaged or unusual config)."""
    return x if isinstance(x, dict) else {}


def _compressed_tensors(q: dict) -> tuple[str | None, str]:
    dtypes = []
    for g in _dict(q.get("config_groups")).values():
        w = _dict(_dict(g).get("weights"))
        a = _dict(_dict(g).get("input_activations"))
        bits, kind = w.get("num_bits"), str(w.get("type") or "")
        mx = "mxfp4" in str(_dict(g).get("format") or q.get("format") or "").lower()
        if bits == 8 and kind == "float":
            dtypes.append("fp8")
        elif bits == 4:  # 4-bit floats with 4-bit activations (NVFP4), or MXFP4 weights (run as gpt-oss's MXFP4 are)
            dtypes.append("fp4" if kind == "float" and (a.get("num_bits") == 4 or mx) else "w4a16")
    if not dtypes:
        return None, ""
    dtype = Counter(dtypes).most_common(1)[0][0]
    fmt = str(q.get("format") or "")
    return dtype, f"compressed-tensors {fmt}".strip()


def _modelopt(q: dict) -> tuple[str | None, str]:
    algo = str(q.get("quant_algo") or "").upper()
    if algo == "MIXED_PRECISION":
        counts = Counter(str(_dict(v).get("quant_algo") or "").upper() for v in _dict(q.get("quantized_layers")).values())
        known = [(a, n) for a, n in counts.most_common() if a in _MODELOPT]
        if not known:
            return None, "ModelOpt MIXED_PRECISION"
        parts = ", ".join(f"{n} layers {a}" for a, n in known)
        return _MODELOPT[known[0][0]], f"ModelOpt MIXED_PRECISION ({parts}; planned at {known[0][0]})"
    return _MODELOPT.get(algo), f"ModelOpt {algo}" if algo else ""


def checkpoint_precision(config: dict, hf_quant: dict | None = None) -> dict | None:
    """`{weights, kv_cache, recipe}` for a checkpoint, or None when it is not quantized (16-bit). `hf_quant` (the
    checkpoint's hf_quant_config.json) takes precedence over config.json's quantization_config."""
    weights, kv, recipe = None, None, ""
    if isinstance(hf_quant, dict):
        q = hf_quant.get("quantization", hf_quant)
        if isinstance(q, dict):
            weights, recipe = _modelopt(q)
            kv = _KV.get(str(q.get("kv_cache_quant_algo") or "").upper())
            recipe = f"{recipe} (hf_quant_config.json)" if recipe else ""
    q: Any = config.get("quantization_config") or _dict(config.get("text_config")).get("quantization_config")
    if weights is None and isinstance(q, dict):
        method = str(q.get("quant_method") or "").lower()
        if method == "fp8" and str(q.get("quant_algo") or "").upper() != "MIXED_PRECISION":
            blocks = q.get("weight_block_size")
            weights, recipe = "fp8", "fp8 " + (f"{blocks[0]}x{blocks[1]} blocks" if isinstance(blocks, list) and
                                              len(blocks) == 2 else "per tensor")
        elif method == "mxfp4":
            weights, recipe = "fp4", "MXFP4 (the experts; attention, router and embeddings stay 16-bit)"
        elif method == "compressed-tensors":
            weights, recipe = _compressed_tensors(q)
        elif method in ("modelopt", "") or q.get("quant_algo"):
            weights, recipe = _modelopt(q)
        elif method in ("awq", "gptq") and q.get("bits") == 4:
            weights, recipe = "w4a16", f"{method.upper()} 4-bit"
        if weights == "fp8" and str(config.get("expert_dtype") or "").lower() == "fp4":
            # DeepSeek-V4: FP4 experts (ue8m0-scaled, MX), fp8 blocks elsewhere; the experts are most of the bytes
            weights, recipe = "fp4", f"FP4 experts (expert_dtype), the rest {recipe}; planned at MXFP4"
        kv = kv or _KV.get(str(q.get("kv_cache_quant_algo") or q.get("kv_cache_scheme") or "").upper())
        recipe = f"{recipe} (config.json quantization_config)" if recipe else ""
    if weights is None:
        return None
    return {"weights": weights, "kv_cache": kv, "recipe": recipe, "fp4_format": fp4_format(weights, recipe)}


def fp4_format(weights: str, recipe: str) -> str | None:
    """`mxfp4` or `nvfp4` for a checkpoint of 4-bit float weights (what a framework may run weight-only on chips
    without 4-bit math, catalogs/frameworks.yaml); None for other weights. A mixed recipe counts as the format it
    is planned at; compressed-tensors' 4-bit floats with 4-bit activations are NVFP4."""
    if weights != "fp4":
        return None
    planned = re.search(r"planned at (\w+)", recipe)
    text = (planned.group(1) if planned else recipe).upper()
    return "mxfp4" if "MXFP4" in text else "nvfp4"
