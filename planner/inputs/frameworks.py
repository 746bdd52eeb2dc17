"""Which accelerators each serving framework runs on (catalogs/frameworks.yaml, with sources), and the framework a
scenario's `deploy.framework: auto` resolves to for the chips it offers."""

from __future__ import annotations

from functools import cache

from planner.errors import PlannerError
from planner.inputs.reader import load_yaml
from planner.paths import CATALOG_DIR

AUTO_ORDER = ("trtllm", "vllm", "sglang")  # auto: the first that runs every chip offered (TensorRT-LLM: NVIDIA only)


@cache
def framework_table() -> dict[str, dict]:
    """framework id -> {name, vendors, source}, from catalogs/frameworks.yaml."""
    data = load_yaml(CATALOG_DIR / "frameworks.yaml", field="catalogs/frameworks.yaml")
    if not isinstance(data, dict) or not all(isinstance(v, dict) and isinstance(v.get("vendors"), list)
                                             for v in data.values()):
        raise PlannerError("every framework needs a list of vendors", field="catalogs/frameworks.yaml")
    return data


def framework_name(framework: str) -> str:
    return str(framework_table().get(framework, {}).get("name", framework))


def runs_on(framework: str, vendor: str) -> bool:
    """Whether the framework runs on this vendor's accelerators."""
    return vendor in framework_table().get(framework, {}).get("vendors", ())


def kv_connector(framework: str) -> dict:
    """The framework's KV connector between prefill and decode pools: {name, between_vendors,
    same_tp_for_linear_attention, source}; a framework without an entry pairs anything."""
    entry = framework_table().get(framework, {}).get("kv_connector") or {}
    return {"name": str(entry.get("name", "KV connector")), "between_vendors": bool(entry.get("between_vendors", True)),
            "same_tp_for_linear_attention": bool(entry.get("same_tp_for_linear_attention", False)),
            "source": str(entry.get("source", ""))}


def runs_fp4_weight_only(framework: str, vendor: str, fp4_format: str | None) -> bool:
    """Whether the framework runs a 4-bit float checkpoint of this format as 4-bit weights with 16-bit math on a
    vendor's chips without 4-bit math (`fp4_weight_only`); a format the planner cannot tell (None) passes."""
    if fp4_format is None:
        return True
    allowed = (framework_table().get(framework, {}).get("fp4_weight_only") or {}).get(vendor, ())
    return fp4_format in allowed


def two_batch_overlap(framework: str) -> dict | None:
    """The framework's two-batch overlap (`two_batch_overlap`: {flag, source}), or None where it has none."""
    entry = framework_table().get(framework, {}).get("two_batch_overlap")
    return {"flag": str(entry["flag"]), "source": str(entry.get("source", ""))} if entry else None


def auto_framework(chip_vendors: dict[str, str]) -> tuple[str, str]:
    """(framework, why) for `deploy.framework: auto` given the offered chips' vendors (chip id -> vendor)."""
    vendors = set(chip_vendors.values())
    for fw in AUTO_ORDER:
        if all(runs_on(fw, v) for v in vendors):
            if fw == "trtllm":
                return fw, "TensorRT-LLM: every chip offered is NVIDIA's"
            others = sorted(k for k, v in chip_vendors.items() if not runs_on("trtllm", v))
            return fw, f"{framework_name(fw)}: TensorRT-LLM does not run {', '.join(others)}"
    stacks = sorted(k for k, v in chip_vendors.items() if not runs_on("vllm", v))
    return "vllm", f"vLLM, which runs the most of the chips offered ({', '.join(stacks)}: their vendors' own stacks)"


__all__ = ["AUTO_ORDER", "auto_framework", "framework_name", "framework_table", "kv_connector", "runs_fp4_weight_only", "runs_on",
           "two_batch_overlap"]
