"""A plan as an NVIDIA Dynamo `DynamoGraphDeployment` (the Kubernetes custom resource of Dynamo's operator): a
frontend, and one worker service per pool with its replicas (the pool's instances), GPUs per instance, a node
selector per chip type (heterogeneous pools land on their own nodes), and the engine's arguments: the same flags
as the vLLM or SGLang export (checked against those releases' parsers), run by `python3 -m dynamo.vllm` /
`dynamo.sglang` (which take the engine's arguments), with dynamo.vllm's `--disaggregation-mode prefill|decode` on
vLLM P/D workers (SGLang's own flag is already among its arguments). TensorRT-LLM workers run `python3 -m
dynamo.trtllm` with its own flags (parallelism, batch, token budget, sequence length, attention DP, memory
fraction, `--disaggregation-mode`) and the rest of the TensorRT-LLM export's LLM-API options (KV-cache dtype,
cache transceiver, overlap scheduler, chunked prefill, speculative decoding) as `--override-engine-args` JSON.

The service fields are those of the operator's `DynamoComponentDeploymentSharedSpec` (componentType,
subComponentType, replicas, resources.limits.gpu, multinode.nodeCount, extraPodSpec.mainContainer); tests/export
checks every manifest against them (tests/fixtures/exports/dynamo_dgd.json says where they were read).
"""

from __future__ import annotations

import json

from planner.errors import PlannerError
from planner.export.launch import (
    Launch,
    _deployment,
    sglang_launch,
    trtllm_launch,
    vllm_launch,
    without_flags,
)

BACKENDS = {"vllm": vllm_launch, "sglang": sglang_launch, "trtllm": trtllm_launch}
IMAGE = "nvcr.io/nvidia/ai-dynamo/{fw}-runtime:SET_YOUR_DYNAMO_RELEASE"
GPUS_PER_NODE = 8
CHIP_LABEL = "planner.io/chip"  # label each node with its chip id: kubectl label node NODE planner.io/chip=h100-sxm
# what the plain server needs and a Dynamo worker does not: its HTTP endpoint (Dynamo's frontend serves it)
_DROP_WITH_VALUE = {"--host", "--port"}


# trtllm-serve's flags as dynamo.trtllm spells them (the rest of its command line is HTTP or the options file)
_TRTLLM_FLAGS = {"--tp_size": "--tensor-parallel-size", "--pp_size": "--pipeline-parallel-size",
                 "--ep_size": "--expert-parallel-size", "--max_batch_size": "--max-batch-size",
                 "--max_num_tokens": "--max-num-tokens", "--max_seq_len": "--max-seq-len"}


def _trtllm_worker_args(launch: Launch, role: str) -> list[str]:
    """dynamo.trtllm's arguments for one TensorRT-LLM pool: its own flags, then the LLM-API options of the
    TensorRT-LLM export (the YAML beside its trtllm-serve command) as --override-engine-args."""
    import yaml

    argv = launch.argv
    args = ["--model", argv[1]]
    for flag, dyn in _TRTLLM_FLAGS.items():
        if flag in argv:
            args += [dyn, argv[argv.index(flag) + 1]]
    options = yaml.safe_load(next(iter(launch.files.values())))
    if options.pop("enable_attention_dp", False):
        args.append("--enable-attention-dp")
    kv = options.get("kv_cache_config", {})
    if "free_gpu_memory_fraction" in kv:
        args += ["--free-gpu-memory-fraction", str(kv.pop("free_gpu_memory_fraction"))]
    if not kv:
        options.pop("kv_cache_config", None)
    if "--enable_chunked_prefill" in argv:
        options["enable_chunked_prefill"] = True
    if role in ("prefill", "decode"):
        args += ["--disaggregation-mode", role]
    if options:
        args += ["--override-engine-args", json.dumps(options, separators=(",", ":"))]
    return args


def _engine_args(launch: Launch, backend: str) -> list[str]:
    argv = launch.argv[2:] if backend == "vllm" else launch.argv[3:]  # after `vllm serve` / `python -m sglang...`
    if backend == "vllm":
        argv = ["--model", *argv[:1], *argv[1:]]  # vllm serve's positional model is dynamo.vllm's --model
    return without_flags(argv, _DROP_WITH_VALUE)


def _name(text: str) -> str:
    return "".join(part.capitalize() for part in text.replace("_", "-").split("-"))


def dynamo_manifest(plan: dict, name: str = "planner-fleet") -> dict:
    """The DynamoGraphDeployment for the plan, as a dict (yaml.safe_dump writes the manifest)."""
    framework = _deployment(plan).get("framework", "trtllm")
    if framework not in BACKENDS:
        raise PlannerError(f"a Dynamo export of a {framework} plan is not supported (vllm, sglang and trtllm are)",
                           field="deploy.framework", hint="plan with deploy: {framework: vllm}, sglang or trtllm")
    launches = [x for x in BACKENDS[framework](plan) if x.role != "router"]  # Dynamo's frontend routes P/D
    image = IMAGE.format(fw=framework)
    services: dict = {"Frontend": {"componentType": "frontend", "replicas": 1,
                                   "extraPodSpec": {"mainContainer": {"image": image}}}}
    for launch, pool in zip(launches, plan["pools"], strict=True):
        role = pool["role"]
        args = _trtllm_worker_args(launch, role) if framework == "trtllm" else _engine_args(launch, framework)
        if role in ("prefill", "decode") and framework == "vllm":  # dynamo.vllm's own flag (SGLang's is its own)
            args += ["--disaggregation-mode", role]
        chips = int(pool["chips_per_instance"])
        nodes = -(-chips // GPUS_PER_NODE)
        worker: dict = {
            "componentType": "worker", "replicas": int(pool["instances"]),
            "resources": {"limits": {"gpu": str(min(chips, GPUS_PER_NODE))}},
            "extraPodSpec": {"nodeSelector": {CHIP_LABEL: str(pool["chip"])},
                             "mainContainer": {"image": image, "command": ["python3", "-m", f"dynamo.{framework}"],
                                               "args": args}},
        }
        if role in ("prefill", "decode"):
            worker["subComponentType"] = role
        if nodes > 1:
            worker["multinode"] = {"nodeCount": nodes}
        services[f"{_name(framework)}{_name(role)}Worker{launch.pool}"] = worker
    return {"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment", "metadata": {"name": name},
            "spec": {"backendFramework": framework, "services": services}}


__all__ = ["dynamo_manifest"]
