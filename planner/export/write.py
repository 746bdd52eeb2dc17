"""Write an export to a folder: `launch.sh` (every pool's command, instance by instance), `README.md` (how to
launch, route and reproduce the planned load with the framework's own benchmark) and `plan.json`."""

from __future__ import annotations

import json
from pathlib import Path

from planner.errors import PlannerError
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
    rate = float(plan.get("throughput_rps") or 0.0)
    lengths = next(iter(dep["lengths"].values()))
    front = next((x for x in launches if x.role in ("aggregated", "prefill")), launches[0])
    port = front.argv[front.argv.index("--port") + 1]
    bench = BENCH[target].format(repo=dep["hf_repo"], isl=lengths["isl"], osl=lengths["osl"], rate=rate,
                                 n=max(int(rate * 300), 200), port=8000 if any(x.role == "prefill" for x in launches) else port)
    rows = "\n".join(f"| {x.pool} | {x.role} | {x.chip} | {x.instances} | {x.chips_per_instance} |" for x in launches
                     if x.role != "router")
    pd_text = ROUTER[target] if any(x.role == "prefill" for x in launches) else (
        "Aggregated pools: put any HTTP load balancer in front of the instances.")
    return f"""# {plan.get('scenario', 'plan')}: {target} deployment

Written by `planner export --to {target}` from a plan of {plan.get('cost_usd_per_hr', 0):,.2f} $/h,
{plan.get('num_chips', 0)} GPUs, {plan.get('architecture', '')}, for {rate:g} requests/s of {lengths['isl']} prompt
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

The plan promises p{plan.get('ttft_percentile', 90):g} TTFT {plan.get('ttft_ms', 0):,.0f} ms and TPOT
{plan.get('tpot_ms', 0):.1f} ms at this rate (with the planning margins it was made with).

Flags follow {VERSION[target]}; planner's tests check them against its argument definitions. Notes per pool
are in `launch.sh`{'; each pool reads its YAML of LLM-API options beside it' if target == 'trtllm' else ''}.
"""


def write_export(plan: dict, target: str, out_dir: str | Path) -> list[Path]:
    """The export's files, written to out_dir (created)."""
    if target not in TARGETS:
        raise PlannerError(f"unknown target {target!r}", field="--to", hint=f"one of {', '.join(TARGETS)}")
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
