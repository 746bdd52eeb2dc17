"""A plan as an NVIDIA Dynamo `DynamoGraphDeployment` (the Kubernetes custom resource of Dynamo's operator): a
frontend, and one worker service per pool with its replicas (the pool's instances), GPUs per instance, a node
selector per chip type (heterogeneous pools land on their own nodes), and the engine's arguments: the same flags
as the vLLM or SGLang export (checked against those releases' parsers), run by `python3 -m dynamo.vllm` /
`dynamo.sglang` (which take the engine's arguments), with dynamo.vllm's `--disaggregation-mode prefill|decode` on
vLLM P/D workers (SGLang's own flag is already among its arguments).

The service fields are those of the operator's `DynamoComponentDeploymentSharedSpec` (componentType,
subComponentType, replicas, resources.limits.gpu, multinode.nodeCount, extraPodSpec.mainContainer); tests/export
checks every manifest against them (tests/fixtures/exports/dynamo_dgd.json says where they were read).
"""

from __future__ import annotations

from planner.errors import PlannerError
from planner.export.launch import Launch, _deployment, sglang_launch, vllm_launch

BACKENDS = {"vllm": vllm_launch, "sglang": sglang_launch}
IMAGE = "nvcr.io/nvidia/ai-dynamo/{fw}-runtime:SET_YOUR_DYNAMO_RELEASE"
GPUS_PER_NODE = 8
CHIP_LABEL = "planner.io/chip"  # label each node with its chip id: kubectl label node NODE planner.io/chip=h100-sxm
# what the plain server needs and a Dynamo worker does not: its HTTP endpoint (Dynamo's frontend serves it)
_DROP_WITH_VALUE = {"--host", "--port"}


def _engine_args(launch: Launch, backend: str) -> list[str]:
    argv = launch.argv[2:] if backend == "vllm" else launch.argv[3:]  # after `vllm serve` / `python -m sglang...`
    if backend == "vllm":
        argv = ["--model", *argv[:1], *argv[1:]]  # vllm serve's positional model is dynamo.vllm's --model
    out, i = [], 0
    while i < len(argv):
        if argv[i] in _DROP_WITH_VALUE:
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def _name(text: str) -> str:
    return "".join(part.capitalize() for part in text.replace("_", "-").split("-"))


def dynamo_manifest(plan: dict, name: str = "planner-fleet") -> dict:
    """The DynamoGraphDeployment for the plan, as a dict (yaml.safe_dump writes the manifest)."""
    framework = _deployment(plan).get("framework", "trtllm")
    if framework not in BACKENDS:
        raise PlannerError(f"a Dynamo export of a {framework} plan is not supported yet (vllm and sglang are)",
                           field="deploy.framework", hint="plan with deploy: {framework: vllm} or sglang to export "
                           "to Dynamo, or export this plan --to trtllm")
    launches = BACKENDS[framework](plan)
    image = IMAGE.format(fw=framework)
    services: dict = {"Frontend": {"componentType": "frontend", "replicas": 1,
                                   "extraPodSpec": {"mainContainer": {"image": image}}}}
    for launch, pool in zip(launches, plan["pools"], strict=True):
        role = pool["role"]
        args = _engine_args(launch, framework)
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
