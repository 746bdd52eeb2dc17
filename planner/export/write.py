"""Write an export to a folder: `launch.sh` (every pool's command, instance by instance), `README.md` (how to
launch, route and reproduce the planned load with the framework's own benchmark) and `plan.json`."""

from __future__ import annotations

import json
from pathlib import Path

from planner.errors import PlannerError
from planner.export.dynamo import CHIP_LABEL, dynamo_manifest
from planner.export.launch import LAUNCHERS, TARGETS, Launch

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

Written by `planner export --to {target}` from a plan of {_num(plan, 'cost_usd_per_hr'):,.2f} $/h,
{_num(plan, 'num_chips'):.0f} GPUs, {str(plan.get('architecture', ''))}, for {rate:g} requests/s of {lengths['isl']} prompt
and {lengths['osl']} output tokens (model `{dep['hf_repo']}`, weights {dep['weights']}, KV cache {dep['kv_cache']}).

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
Written by `planner export --to dynamo` from a plan of {_num(plan, 'cost_usd_per_hr'):,.2f} $/h, {_num(plan, 'num_chips'):.0f}
GPUs, {str(plan.get('architecture', ''))}, for {rate:g} requests/s of {lengths['isl']} prompt and {lengths['osl']} output
tokens (model `{dep['hf_repo']}`, {dep['framework']} workers).

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

The worker arguments are the {dep['framework']} export's (planner's tests check them against that release's parser);
the manifest's fields are checked against the operator's DynamoComponentDeploymentSharedSpec.
"""


def write_export(plan: dict, target: str, out_dir: str | Path) -> list[Path]:
    """The export's files, written to out_dir (created)."""
    if target == "dynamo":
        import yaml

        manifest = dynamo_manifest(plan)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = {"dynamo.yaml": yaml.safe_dump(manifest, sort_keys=False), "README.md": _dynamo_readme(plan, manifest),
                 "plan.json": json.dumps(plan, indent=1, default=str)}
        for name, text in files.items():
            (out / name).write_text(text)
        return [out / n for n in files]
    if target not in TARGETS:
        raise PlannerError(f"unknown target {target!r}", field="--to", hint=f"one of {', '.join(TARGETS)}, dynamo")
    launches = LAUNCHERS[target](plan)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"launch.sh": launch_script(launches), "README.md": _readme(plan, target, launches),
             "plan.json": json.dumps(plan, indent=1, default=str)}
    for x in launches:
        files.update(x.files)
    for name, text in files.items():
        (out / name).write_text(text)
    (out / "launch.sh").chmod(0o755)
    return [out / n for n in files]


__all__ = ["write_export"]
