"""A plan as llm-d deployment values: one Helm release of llm-d's `llm-d-modelservice` chart per pool, each with
its role (prefill, decode, or an aggregated pool as decode-only), replicas (the pool's instances), vLLM parallelism
(`parallelism.tensor/data/dataLocal/workers`: an instance wider than a node spans nodes by data parallelism, as a
LeaderWorkerSet), GPUs per pod, a node selector per chip type (heterogeneous pools land on their own nodes), and
the vLLM export's engine arguments less those the chart writes itself (model, port, tensor and data parallel sizes,
served model name; read off the chart's `vllmServeModelCommand`). Every release of a fleet carries the same model
labels, so one InferencePool (llm-d's inference scheduler) routes over all of them; decode pods of a P/D fleet run
the routing sidecar that sends each prompt to a prefill pod first (NIXL KV connector).

Field names and types are those of the chart's values.schema.json (chart v0.4.12, tests/fixtures/exports/
llmd_values.schema.json); tests/export validates every values file against it, merged over the chart's defaults.
"""

from __future__ import annotations

import re

from planner.errors import PlannerError
from planner.export.launch import _deployment, vllm_launch, without_flags

CHART = "llm-d-modelservice/llm-d-modelservice"
REPO_URL = "https://llm-d-incubation.github.io/llm-d-modelservice/"
CHART_VERSION = "v0.4.12"
IMAGE = "ghcr.io/llm-d/llm-d-cuda:SET_YOUR_LLM_D_RELEASE"
GPUS_PER_NODE = 8
CHIP_LABEL = "planner.io/chip"  # as the Dynamo export: kubectl label node NODE planner.io/chip=h100-sxm
# the chart's accelerator types and their device-plugin resources (values.yaml `accelerator.resources`), by vendor
ACCELERATOR = {"NVIDIA": ("nvidia", "nvidia.com/gpu"), "AMD": ("amd", "amd.com/gpu"),
               "Intel": ("intel-gaudi", "habana.ai/gaudi"), "Google": ("google", "google.com/tpu")}
SERVICE_PORT = 8000
# flags the chart's `vllmServeModelCommand` writes from modelArtifacts and parallelism (with their values)
_CHART_WRITES = {"--host", "--port", "--tensor-parallel-size", "--data-parallel-size", "--served-model-name"}


def _parallelism(pool: dict, n: int) -> dict:
    """The chart's parallelism block: TP and DP per instance; data parallel ranks split over nodes (workers)."""
    tp, pp, dp = (int(pool[k]) for k in ("tp", "pp", "dp"))
    per_rank = tp * pp
    chips = per_rank * dp
    if chips <= GPUS_PER_NODE:
        return {"tensor": tp, "data": dp, "dataLocal": dp, "workers": 1}
    if GPUS_PER_NODE % per_rank or dp % (GPUS_PER_NODE // per_rank):
        raise PlannerError(
            f"pool {n} ({pool['chip']}, TP {tp} x PP {pp} x DP {dp}): llm-d's modelservice spans nodes by data "
            f"parallelism only, and a data-parallel rank of {per_rank} GPUs does not tile {GPUS_PER_NODE}-GPU nodes",
            field=f"plan.pools[{n}]", hint="export --to dynamo or --to vllm, or plan with search.max_chips_per_instance: 8")
    local = GPUS_PER_NODE // per_rank
    return {"tensor": tp, "data": dp, "dataLocal": local, "workers": dp // local}


def _release_name(plan: dict, n: int, pool: dict) -> str:
    text = f"{plan['deployment']['model']}-{pool['role']}-{pool['chip']}-{n}".lower()
    return re.sub(r"[^a-z0-9-]+", "-", text).strip("-")[:53]  # a Helm release name: DNS label, at most 53 characters


def llmd_values(plan: dict) -> dict[str, dict]:
    """One values dict per pool, keyed by its Helm release name (yaml.safe_dump writes each values file)."""
    dep = _deployment(plan)
    if dep.get("framework", "trtllm") != "vllm":
        raise PlannerError(f"llm-d runs vLLM workers; this plan was made for {dep.get('framework', 'trtllm')}",
                           field="deploy.framework", hint="plan with deploy: {framework: vllm} to export to llm-d "
                           "(the framework's constraints and host time shape the plan)")
    launches = vllm_launch(plan)
    disaggregated = any(p["role"] == "prefill" for p in plan["pools"])
    labels = {"llm-d.ai/inference-serving": "true", "llm-d.ai/model": re.sub(r"[^a-z0-9-]+", "-", dep["model"].lower())}
    out = {}
    from planner.inputs.chips import load_catalog

    cat = load_catalog()
    for n, (launch, pool) in enumerate(zip(launches, plan["pools"], strict=True)):
        par = _parallelism(pool, n)
        gpus = par["tensor"] * int(pool["pp"]) * par["dataLocal"]
        vendor = cat[pool["chip"]].vendor if pool["chip"] in cat else "NVIDIA"
        if vendor not in ACCELERATOR:
            raise PlannerError(f"pool {n} runs on {pool['chip']} ({vendor}): llm-d's modelservice chart has no "
                               "accelerator type for it", field=f"plan.pools[{n}].chip",
                               hint=f"export --to vllm for launch commands, or plan on {', '.join(ACCELERATOR)} chips")
        acc_type, resource = ACCELERATOR[vendor]
        role = "prefill" if pool["role"] == "prefill" else "decode"
        spec = {
            "create": True, "replicas": int(pool["instances"]), "nodeSelector": {CHIP_LABEL: str(pool["chip"])},
            "parallelism": par,
            "containers": [{
                "name": "vllm", "image": IMAGE, "modelCommand": "vllmServe",
                "args": without_flags(launch.argv[3:], _CHART_WRITES),  # after `vllm serve MODEL`
                "resources": {"limits": {resource: str(gpus)}, "requests": {resource: str(gpus)}},
                "mountModelVolume": True,
            }],
        }
        if vendor != "NVIDIA":  # the llm-d image is built for CUDA: another accelerator needs its own
            spec["containers"][0]["image"] = f"SET_YOUR_LLM_D_IMAGE_FOR_{acc_type.upper().replace('-', '_')}"
        other = "decode" if role == "prefill" else "prefill"
        out[_release_name(plan, n, pool)] = {
            "modelArtifacts": {"name": dep["hf_repo"], "uri": f"hf://{dep['hf_repo']}", "labels": labels,
                               "size": f"{_cache_gib(dep)}Gi", "authSecretName": "llm-d-hf-token"},
            "multinode": par["workers"] > 1, "accelerator": {"type": acc_type},
            "routing": {"servicePort": SERVICE_PORT,
                        "proxy": {"enabled": role == "decode" and disaggregated, "connector": "nixlv2"}},
            role: spec, other: {"create": False},
        }
    return out


def _cache_gib(dep: dict) -> int:
    """Room for the checkpoint download: its parameters at the checkpoint's bytes (16-bit unless the checkpoint is
    quantized), plus 10%."""
    from planner.inputs.models import load_model

    try:
        params = load_model(dep["model"]).total_params
    except PlannerError:
        return 1024
    bytes_per = {"fp8": 1.0, "fp4": 0.5, "w4a16": 0.5}.get((dep.get("checkpoint") or {}).get("weights"), 2.0)
    return int(-(-params * bytes_per * 1.1 // 2**30))


__all__ = ["ACCELERATOR", "CHART", "CHART_VERSION", "CHIP_LABEL", "REPO_URL", "llmd_values"]
