"""Write an export to a folder: `launch.sh` (every pool's command, instance by instance), `README.md` (how to
launch, route and reproduce the planned load with the framework's own benchmark) and `plan.json`."""

from __future__ import annotations

import json
from pathlib import Path

from planner.errors import PlannerError
from planner.export.dynamo import CHIP_LABEL, dynamo_manifest
from planner.export.launch import LAUNCHERS, TARGETS, Launch
from planner.export.llmd import CHART as LLMD_CHART
from planner.export.llmd import CHART_VERSION as LLMD_CHART_VERSION
from planner.export.llmd import CHIP_LABEL as LLMD_CHIP_LABEL
from planner.export.llmd import REPO_URL as LLMD_REPO_URL
from planner.export.llmd import llmd_values

EXPORT_TARGETS = (*TARGETS, "dynamo", "llm-d")

BENCH = {
    "vllm": "vllm bench serve --model {repo} --dataset-name random --random-input-len {isl} --random-output-len {osl} "
            "--request-rate {rate:g} --num-prompts {n} --port {port}",
    "sglang": "python -m sglang.bench_serving --backend sglang --dataset-name random --random-input-len {isl} "
              "--random-output-len {osl} --request-rate {rate:g} --num-prompts {n} --port {port}",
    "trtllm": "python -m tensorrt_llm.serve.scripts.benchmark_serving --model {repo} --backend openai "
              "--dataset-name random --random-input-len {isl} --random-output-len {osl} --request-rate {rate:g} "
              "--num-prompts {n} --port {port}",
}
ROUTER = {
    "vllm": "vLLM has no built-in P/D router: put a disaggregation proxy in front (vLLM's examples/online_serving/"
            "disaggregated_serving proxy, or llm-d / Dynamo), sending each request to a prefill instance, then to a "
            "decode instance; both use the NIXL KV connector set on their command lines.",
    "sglang": "Route with SGLang's router in P/D mode: `python -m sglang_router.launch_router --pd-disaggregation "
              "--prefill http://PREFILL_HOST:PORT --decode http://DECODE_HOST:PORT --port 8000` (one --prefill / "
              "--decode per instance).",
    "trtllm": "Start the context (prefill) and generation (decode) servers, then `trtllm-serve disaggregated -c "
              "disagg.yaml` on port 8000 (its last block in launch.sh): it sends each request to a context server, "
              "then to a generation server; the KV cache moves through the cache transceiver set in each YAML.",
}
VERSION = {"vllm": "vLLM 0.34", "sglang": "SGLang 0.5.23", "trtllm": "TensorRT-LLM's trtllm-serve (PyTorch backend)"}


def _num(plan: dict, key: str, default: float = 0.0) -> float:
    """A figure of the plan for the README, or `default` when a damaged file holds no finite number there."""
    v = plan.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) < 1e300 else default


def _provenance(plan: dict, target: str) -> str:
    """The README's first sentence up to the model: the command, the plan's cost, GPUs, architecture and load."""
    lengths = next(iter(plan["deployment"]["lengths"].values()))
    return (f"Written by `planner export --to {target}` from a plan of {_num(plan, 'cost_usd_per_hr'):,.2f} $/h, "
            f"{_num(plan, 'num_chips'):.0f}\nGPUs, {str(plan.get('architecture', ''))}, for "
            f"{_num(plan, 'throughput_rps'):g} requests/s of {lengths['isl']} prompt and {lengths['osl']} output\ntokens")


def launch_script(launches: list[Launch]) -> str:
    """launch.sh: one commented block per pool."""
    lines = ["#!/usr/bin/env bash", "# Written by `planner export`: one block per pool; run each command once per "
             "instance, on its own GPUs.", "set -euo pipefail", ""]
    for x in launches:
        if x.role == "router":
            lines += ["# the P/D entry point (after every server is up)"]
            lines += [f"#   note: {n}" for n in x.notes] + [x.command, ""]
            continue
        lines += [f"# pool {x.pool}: {x.instances} x {x.role} on {x.chip}, {x.chips_per_instance} GPU(s) per instance"]
        lines += [f"#   note: {n}" for n in x.notes]
        lines += [x.command, ""]
    return "\n".join(lines)


def _readme(plan: dict, target: str, launches: list[Launch]) -> str:
    dep = plan["deployment"]
    rate = _num(plan, "throughput_rps")
    lengths = next(iter(dep["lengths"].values()))
    front = next((x for x in launches if x.role in ("aggregated", "prefill")), launches[0])
    port = front.argv[front.argv.index("--port") + 1]
    bench = BENCH[target].format(repo=dep["hf_repo"], isl=lengths["isl"], osl=lengths["osl"], rate=rate,
                                 n=max(int(rate * 300), 200), port=8000 if any(x.role == "prefill" for x in launches) else port)
    rows = "\n".join(f"| {x.pool} | {x.role} | {x.chip} | {x.instances} | {x.chips_per_instance} |" for x in launches
                     if x.role != "router")
    pd_text = ROUTER[target] if any(x.role == "prefill" for x in launches) else (
        "Aggregated pools: put any HTTP load balancer in front of the instances.")
    return f"""# {str(plan.get('scenario', 'plan'))}: {target} deployment

{_provenance(plan, target)} (model `{dep['hf_repo']}`, weights {dep['weights']}, KV cache {dep['kv_cache']}).

| pool | role | chip | instances | GPUs each |
|---|---|---|---|---|
{rows}

## Launch

`launch.sh` holds one command per pool: start it once per instance, each on its own GPUs (set
`CUDA_VISIBLE_DEVICES` or the pod's GPU request). Heterogeneous pools run on their own chip type: schedule each
pool's instances on nodes of that type (a node selector per pool in Kubernetes).

{pd_text}

## Reproduce the planned load

```bash
{bench}
```

The plan promises p{_num(plan, 'ttft_percentile', 90):g} TTFT {_num(plan, 'ttft_ms'):,.0f} ms and TPOT
{_num(plan, 'tpot_ms'):.1f} ms at this rate (with the planning margins it was made with).

Flags follow {VERSION[target]}; planner's tests check them against its argument definitions. Notes per pool
are in `launch.sh`{'; each pool reads its YAML of LLM-API options beside it' if target == 'trtllm' else ''}.
"""


def _dynamo_readme(plan: dict, manifest: dict) -> str:
    dep = plan["deployment"]
    rate = _num(plan, "throughput_rps")
    lengths = next(iter(dep["lengths"].values()))
    rows = "\n".join(f"| {k} | {v['componentType']} {v.get('subComponentType', '')} | {v['replicas']} | "
                     f"{v.get('resources', {}).get('limits', {}).get('gpu', '-')} | "
                     f"{v.get('extraPodSpec', {}).get('nodeSelector', {}).get(CHIP_LABEL, '-')} |"
                     for k, v in manifest["spec"]["services"].items())
    from planner.inputs.chips import load_catalog

    cat = load_catalog()
    other = sorted({p["chip"] for p in plan["pools"] if p["chip"] in cat and cat[p["chip"]].vendor != "NVIDIA"})
    vendor_note = (f"\n**Note**: pools on {', '.join(other)} are not NVIDIA GPUs; Dynamo's runtime images target NVIDIA: "
                   "those workers need an image built for their accelerator.\n" if other else "")
    return f"""# {str(plan.get('scenario', 'plan'))}: Dynamo deployment
{vendor_note}
{_provenance(plan, 'dynamo')} (model `{dep['hf_repo']}`, {dep['framework']} workers).

| service | component | replicas | GPUs per node | chip ({CHIP_LABEL}) |
|---|---|---|---|---|
{rows}

## Deploy

1. Set the image tag of your Dynamo release in `dynamo.yaml` (`SET_YOUR_DYNAMO_RELEASE`).
2. Label the nodes of each chip type: `kubectl label node NODE {CHIP_LABEL}=CHIP` (heterogeneous pools are
   scheduled on their chip's nodes by the node selector of their service).
3. `kubectl apply -n NAMESPACE -f dynamo.yaml` (the Dynamo operator must be installed).

## Reproduce the planned load

Against the frontend service (port 8000): `aiperf profile --model {dep['hf_repo']} --url http://FRONTEND:8000
--endpoint-type chat --streaming --synthetic-input-tokens-mean {lengths['isl']} --output-tokens-mean {lengths['osl']}
--request-rate {rate:g} --request-count {max(int(rate * 300), 200)}`.

{_dynamo_args_note(dep['framework'])} The manifest's fields are checked against the operator's
DynamoComponentDeploymentSharedSpec.
"""


def _dynamo_args_note(framework: str) -> str:
    if framework == "trtllm":
        return ("The workers run `python3 -m dynamo.trtllm` with the TensorRT-LLM export's settings: its own flags for "
                "parallelism, batch, token budget and sequence length, the rest of the LLM-API options as "
                "`--override-engine-args` JSON (planner's tests check them against dynamo.trtllm's options). Point "
                "the model at a quantized checkpoint when the plan's weights are FP8 or FP4 (TensorRT-LLM quantizes "
                "offline).")
    return (f"The worker arguments are the {framework} export's (planner's tests check them against that release's "
            "parser).")


def _llmd_install(releases: dict[str, dict]) -> str:
    lines = ["#!/usr/bin/env bash", "# Written by `planner export --to llm-d`: one Helm release of llm-d-modelservice "
             "per pool (see README.md).", "set -euo pipefail", 'NAMESPACE="${NAMESPACE:-llm-d}"',
             f"helm repo add llm-d-modelservice {LLMD_REPO_URL} --force-update"]
    lines += [f"helm upgrade --install {name} {LLMD_CHART} --version {LLMD_CHART_VERSION} -n \"$NAMESPACE\" "
              f"-f values-{name}.yaml" for name in releases]
    return "\n".join(lines) + "\n"


def _llmd_readme(plan: dict, releases: dict[str, dict]) -> str:
    dep = plan["deployment"]
    rate = _num(plan, "throughput_rps")
    lengths = next(iter(dep["lengths"].values()))
    rows = []
    for name, v in releases.items():
        role = "prefill" if v["prefill"].get("create") else "decode"
        spec = v[role]
        par = spec["parallelism"]
        rows.append(f"| {name} | {role} | {spec['replicas']} | TP {par['tensor']} x DP {par['data']} "
                    f"({par['workers']} node{'s' if par['workers'] > 1 else ''}) | "
                    f"{next(iter(spec['containers'][0]['resources']['limits'].values()))} | "
                    f"{spec['nodeSelector'][LLMD_CHIP_LABEL]} |")
    pd = any(v["prefill"].get("create") for v in releases.values())
    routing = ("Decode pods run llm-d's routing sidecar (`routing.proxy`, NIXL connector): with the inference "
               "scheduler's P/D profile it sends each prompt to a prefill pod first, then decodes locally."
               if pd else "Aggregated pools: the inference scheduler balances requests over their pods.")
    labels = next(iter(releases.values()))["modelArtifacts"]["labels"]
    return f"""# {str(plan.get('scenario', 'plan'))}: llm-d deployment

{_provenance(plan, 'llm-d')} (model `{dep['hf_repo']}`, vLLM workers). One Helm release of llm-d's `{LLMD_CHART}` chart
({LLMD_CHART_VERSION}) per pool:

| release | role | replicas | parallelism | GPUs per pod | chip ({LLMD_CHIP_LABEL}) |
|---|---|---|---|---|---|
{chr(10).join(rows)}

## Deploy

1. Install llm-d's gateway and inference scheduler (the llm-d guides' infrastructure and `inferencepool` charts),
   with an InferencePool selecting the pods labelled `{', '.join(f'{k}={v}' for k, v in labels.items())}`:
   every release below carries these labels, so one pool routes over the whole fleet. {routing}
2. Set the image tag of your llm-d release in each values file (`SET_YOUR_LLM_D_RELEASE`; pools on AMD, Intel or
   Google chips name `SET_YOUR_LLM_D_IMAGE_FOR_...`: an llm-d/vLLM image built for that accelerator), and create the secret
   `llm-d-hf-token` (key `HF_TOKEN`) if the model is gated.
3. Label the nodes of each chip type: `kubectl label node NODE {LLMD_CHIP_LABEL}=CHIP` (each pool's pods are scheduled
   on their chip's nodes by its node selector).
4. `NAMESPACE=... ./install.sh` (one `helm upgrade --install` per values file).

## Reproduce the planned load

Against the gateway: `vllm bench serve --model {dep['hf_repo']} --base-url http://GATEWAY --dataset-name random
--random-input-len {lengths['isl']} --random-output-len {lengths['osl']} --request-rate {rate:g} --num-prompts
{max(int(rate * 300), 200)}`.

The values are checked in planner's tests against the chart's values.schema.json (merged over its defaults); the
engine arguments are the vLLM export's (checked against vLLM 0.34's parser) less those the chart writes itself
(model, port, tensor and data parallel sizes, served model name).
"""


def _write(out_dir: str | Path, files: dict[str, str], executable: tuple[str, ...] = ()) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text)
    for name in executable:
        (out / name).chmod(0o755)
    return [out / n for n in files]


def write_export(plan: dict, target: str, out_dir: str | Path) -> list[Path]:
    """The export's files, written to out_dir (created)."""
    import yaml

    if target == "dynamo":
        manifest = dynamo_manifest(plan)
        return _write(out_dir, {"dynamo.yaml": yaml.safe_dump(manifest, sort_keys=False),
                                "README.md": _dynamo_readme(plan, manifest),
                                "plan.json": json.dumps(plan, indent=1, default=str)})
    if target == "llm-d":
        releases = llmd_values(plan)
        files = {f"values-{name}.yaml": yaml.safe_dump(v, sort_keys=False) for name, v in releases.items()}
        files.update({"install.sh": _llmd_install(releases), "README.md": _llmd_readme(plan, releases),
                      "plan.json": json.dumps(plan, indent=1, default=str)})
        return _write(out_dir, files, executable=("install.sh",))
    if target not in TARGETS:
        raise PlannerError(f"unknown target {target!r}", field="--to", hint=f"one of {', '.join(EXPORT_TARGETS)}")
    launches = LAUNCHERS[target](plan)
    files = {"launch.sh": launch_script(launches), "README.md": _readme(plan, target, launches),
             "plan.json": json.dumps(plan, indent=1, default=str)}
    for x in launches:
        files.update(x.files)
    return _write(out_dir, files, executable=("launch.sh",))


__all__ = ["EXPORT_TARGETS", "write_export"]
