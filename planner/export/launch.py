"""A plan (the `planner solve --format json` summary) as the server commands a user would write: one `vllm serve`
or `python -m sglang.launch_server` command per pool, with its parallelism, batch limits, token budget, KV-cache
dtype, quantization, speculative decoding and prefill/decode disaggregation settings.

The flags are those of vLLM 0.34 and SGLang 0.5.23; tests/export checks every command against the option tables
read off those releases' own argument parsers (tests/fixtures/exports). TensorRT-LLM (`trtllm-serve`, PyTorch
backend): the click options of tensorrt_llm/commands/serve.py and the LLM-API fields the YAML sets, read off the
source (tests/fixtures/exports/trtllm_serve.json says where). Mappings that are conventions, not facts of
the plan, are written beside the command in `notes` (and in the export's README).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from planner.errors import PlannerError
from planner.inputs.chips import load_catalog
from planner.inputs.frameworks import framework_name, two_batch_overlap

TARGETS = ("vllm", "sglang", "trtllm")
FIRST_PORT = 8000
# checkpoints published in FP8 (no online quantization needed): the DeepSeek-V3 family and Kimi K2
NATIVE_FP8_REPOS = ("deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-R1", "moonshotai/Kimi-K2")


@dataclass
class Launch:
    """One pool: how to start each of its instances."""

    pool: int
    role: str
    chip: str
    instances: int
    chips_per_instance: int
    argv: list[str]
    notes: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # config files the command reads (name -> YAML text)

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


POOL_COUNTS = {"instances": 100_000, "chips_per_instance": 4096, "tp": 1024, "ep": 1024, "pp": 1024, "dp": 1024,
               "batch": 1_000_000}  # upper bounds of a plan's counts: beyond them a plan file is damaged


def without_flags(argv: list[str], flags: set[str]) -> list[str]:
    """argv less the given options and the value each takes (what a wrapper such as Dynamo or a Helm chart
    writes itself)."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in flags:
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def _deployment(plan: dict) -> dict:
    """The plan's deployment block, after checking what the exports read: the model, precisions and lengths, and
    every pool's role, chip and counts (whole numbers within bounds), so a damaged plan file gets a message."""
    dep = plan.get("deployment") if isinstance(plan, dict) else None
    if not isinstance(dep, dict) or not dep:
        raise PlannerError("the plan has no `deployment` block (written by planner solve since 2026-12-07)",
                           field="plan", hint="solve the scenario again: planner solve SCENARIO.yaml --format json")
    pools = plan.get("pools")
    if not isinstance(pools, list) or not pools:
        raise PlannerError("the plan has no pools", field="plan.pools")
    for key in ("hf_repo", "weights", "kv_cache"):
        if not isinstance(dep.get(key), str) or not dep[key]:
            raise PlannerError(f"{key} is missing or not text", field=f"plan.deployment.{key}",
                               hint="solve the scenario again: planner solve SCENARIO.yaml --format json")
    lengths = dep.get("lengths")
    if not isinstance(lengths, dict) or not lengths or not all(
            isinstance(v, dict) and all(isinstance(v.get(k), int) and 0 < v[k] <= 10_000_000 for k in ("isl", "osl"))
            for v in lengths.values()):
        raise PlannerError("lengths must map each class to whole isl and osl token counts", field="plan.deployment.lengths")
    for i, p in enumerate(pools):
        if not isinstance(p, dict) or not isinstance(p.get("role"), str) or not isinstance(p.get("chip"), str):
            raise PlannerError("each pool needs a role and a chip", field=f"plan.pools[{i}]")
        for key, top in POOL_COUNTS.items():
            v = p.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or not 1 <= v <= top or v != int(v):
                raise PlannerError(f"{v!r} is not a whole number from 1 to {top:,}", field=f"plan.pools[{i}].{key}")
        g = p.get("spec_tokens", 0)
        if g is not None and (isinstance(g, bool) or not isinstance(g, (int, float)) or g != g or not 0 <= g <= 64):
            raise PlannerError(f"{g!r} is not a draft length from 0 to 64", field=f"plan.pools[{i}].spec_tokens")
        if not isinstance(p.get("class", "default"), str):
            raise PlannerError("a pool's class is a name", field=f"plan.pools[{i}].class")
    spec = dep.get("speculative")
    if spec is not None and (not isinstance(spec, dict) or spec.get("method") not in ("mtp", "draft")):
        raise PlannerError("speculative must be absent or name its method (mtp or draft)",
                           field="plan.deployment.speculative")
    chunk = dep.get("chunk_tokens")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= 10_000_000):
        raise PlannerError(f"{chunk!r} is not a token count", field="plan.deployment.chunk_tokens")
    for key, kind in (("checkpoint", dict), ("framework", str)):
        if dep.get(key) is not None and not isinstance(dep[key], kind):
            raise PlannerError(f"{key} is not a {'mapping' if kind is dict else 'name'}", field=f"plan.deployment.{key}")
    return dep


def _max_len(dep: dict, cls: str) -> int:
    lengths = dep["lengths"]
    one = lengths.get(cls) or max(lengths.values(), key=lambda v: v["isl"] + v["osl"])
    return int(one["isl"] + one["osl"])


def _isl(dep: dict, cls: str) -> int:
    lengths = dep["lengths"]
    return int((lengths.get(cls) or max(lengths.values(), key=lambda v: v["isl"]))["isl"])


def _quantization(dep: dict, target: str) -> tuple[str | None, list[str]]:
    """The quantization flag for the weights dtype and what the user must provide."""
    w, repo = dep["weights"], dep["hf_repo"]
    if w == "bf16":
        return None, []
    ckpt = dep.get("checkpoint") or {}
    if ckpt.get("weights") == w or (w == "w4a16" and ckpt.get("weights") == "fp4"):
        return None, [f"{repo} ships in {ckpt['weights']} ({ckpt.get('recipe') or 'its quantization config'}): the "
                      "framework reads it from the checkpoint, no quantization flag"]
    if w == "fp8":
        if repo.startswith(NATIVE_FP8_REPOS):
            return None, [f"{repo} is published in FP8: no quantization flag"]
        return "fp8", ["FP8 weights quantized online from the BF16 checkpoint (or point at an FP8 checkpoint)"]
    if w == "fp4":
        return "modelopt_fp4", ["NVFP4 weights: use an NVFP4 (ModelOpt) checkpoint of the model, e.g. nvidia/...-NVFP4"]
    return None, ["4-bit weights with 16-bit math: use an AWQ or GPTQ checkpoint (the framework detects it)"]


def _speculative(dep: dict, pool: dict, target: str) -> list[str]:
    spec, g = dep.get("speculative"), int(pool.get("spec_tokens") or 0)
    if not spec or g <= 0:
        return []
    if target == "vllm":
        cfg = ({"method": "mtp", "num_speculative_tokens": g} if spec["method"] == "mtp" else
               {"method": "draft_model", "model": spec["draft_hf_repo"], "num_speculative_tokens": g})
        return ["--speculative-config", json.dumps(cfg, separators=(",", ":"))]
    if spec["method"] == "mtp":  # SGLang runs MTP heads through its EAGLE path
        return ["--speculative-algorithm", "EAGLE", "--speculative-num-steps", str(g), "--speculative-eagle-topk", "1",
                "--speculative-num-draft-tokens", str(g + 1)]
    return ["--speculative-algorithm", "STANDALONE", "--speculative-draft-model-path", str(spec["draft_hf_repo"]),
            "--speculative-num-steps", str(g), "--speculative-eagle-topk", "1", "--speculative-num-draft-tokens", str(g + 1)]


# the all-to-all backends the frameworks' expert-parallel guides pair with the overlap on NVIDIA GPUs (DeepEP:
# high-throughput kernels for prefill, low-latency ones for decode)
OVERLAP_ALL2ALL = {"vllm": ("--all2all-backend", {"prefill": "deepep_high_throughput", "decode": "deepep_low_latency"}),
                   "sglang": ("--moe-a2a-backend", {"prefill": "deepep", "decode": "deepep"})}


def _overlap(pool: dict, target: str, notes: list[str]) -> list[str]:
    """Flags of a pool planned with two-batch overlap (planner.axes.overlap): the target's own flag and, on NVIDIA
    GPUs, the DeepEP all-to-all it runs with; a note where the target has none (catalogs/frameworks.yaml)."""
    if not pool.get("tbo") or pool["role"] not in ("prefill", "decode"):
        return []
    entry = two_batch_overlap(target)
    if entry is None:
        notes.append(f"planned with two-batch overlap, which {framework_name(target)} has no option for here: "
                     "expect a slower step than planned")
        return []
    flags = [entry["flag"]]
    option, backend = OVERLAP_ALL2ALL[target]
    if load_catalog()[pool["chip"]].vendor == "NVIDIA":
        flags += [option, backend[pool["role"]]]
    else:
        notes.append(f"two-batch overlap: choose {option} for {pool['chip']} (DeepEP is NVIDIA's)")
    return flags


def _token_budget(dep: dict, pool: dict) -> int:
    """Tokens per forward: a prefill instance's batch of prompts; an aggregated one's chunk (8,192 by default)."""
    if pool["role"] == "prefill":
        return int(pool["batch"]) * _isl(dep, pool.get("class", "default"))
    return int(dep.get("chunk_tokens") or 8192)


def vllm_launch(plan: dict) -> list[Launch]:
    dep = _deployment(plan)
    quant, qnotes = _quantization(dep, "vllm")
    out = []
    for n, p in enumerate(plan["pools"]):
        tp, ep, pp, dp = (int(p[k]) for k in ("tp", "ep", "pp", "dp"))
        argv = ["vllm", "serve", dep["hf_repo"], "--host", "0.0.0.0", "--port", str(FIRST_PORT + n),
                "--tensor-parallel-size", str(tp), "--pipeline-parallel-size", str(pp), "--data-parallel-size", str(dp),
                "--max-num-seqs", str(max(int(p["batch"]) // dp, 1)),
                "--max-num-batched-tokens", str(_token_budget(dep, p)), "--max-model-len", str(_max_len(dep, p.get("class", "default")))]
        notes = list(qnotes)
        if ep > 1:
            argv.append("--enable-expert-parallel")
            if ep != tp * dp:
                notes.append(f"the plan's EP {ep} differs from vLLM's expert parallelism (TP x DP = {tp * dp})")
        if dep["kv_cache"] in ("fp8", "fp4"):
            argv += ["--kv-cache-dtype", "fp8"]
        if quant:
            argv += ["--quantization", quant]
        if p["role"] == "aggregated":
            argv.append("--enable-chunked-prefill")
        argv += _overlap(p, "vllm", notes)
        if p["role"] in ("prefill", "decode"):
            argv += ["--kv-transfer-config", json.dumps({"kv_connector": "NixlConnector", "kv_role": "kv_both"},
                                                        separators=(",", ":"))]
        spec_pool = p
        if p["role"] == "prefill":  # NIXL's handshake needs P and D on the same speculation method and draft
            gammas = [int(q.get("spec_tokens") or 0) for q in plan["pools"] if q["role"] == "decode"]
            spec_pool = {**p, "spec_tokens": max(gammas, default=0)}
        argv += _speculative(dep, spec_pool, "vllm")
        out.append(Launch(n, p["role"], p["chip"], int(p["instances"]), int(p["chips_per_instance"]), argv, notes))
    _refuse_roles(out)
    return out


def sglang_launch(plan: dict) -> list[Launch]:
    dep = _deployment(plan)
    quant, qnotes = _quantization(dep, "sglang")
    out = []
    for n, p in enumerate(plan["pools"]):
        tp, ep, pp, dp = (int(p[k]) for k in ("tp", "ep", "pp", "dp"))
        argv = ["python", "-m", "sglang.launch_server", "--model-path", dep["hf_repo"], "--host", "0.0.0.0",
                "--port", str(30000 + n), "--tp-size", str(tp * dp), "--pp-size", str(pp),
                "--max-running-requests", str(int(p["batch"])), "--context-length",
                str(_max_len(dep, p.get("class", "default")))]
        notes = list(qnotes)
        if dp > 1:  # SGLang 0.5.23: --attn-dp-size replaces --dp-size N --enable-dp-attention
            argv += ["--attn-dp-size", str(dp)]
            notes.append(f"data-parallel attention: --tp-size is the instance's GPUs per stage ({tp} x DP {dp})")
        if ep > 1:
            argv += ["--ep-size", str(ep)]
        if p["role"] in ("aggregated", "prefill"):
            argv += ["--chunked-prefill-size", str(_token_budget(dep, p))]
        if dep["kv_cache"] in ("fp8", "fp4"):
            argv += ["--kv-cache-dtype", "fp8_e4m3"]
        if quant:
            argv += ["--quantization", quant]
        argv += _overlap(p, "sglang", notes)
        if p["role"] in ("prefill", "decode"):
            argv += ["--disaggregation-mode", p["role"], "--disaggregation-transfer-backend", "nixl"]
        argv += _speculative(dep, p, "sglang")
        if int(p["chips_per_instance"]) > 8:
            notes.append("an instance spans several nodes: add --nnodes N --node-rank i --dist-init-addr HEAD:PORT on each")
        out.append(Launch(n, p["role"], p["chip"], int(p["instances"]), int(p["chips_per_instance"]), argv, notes))
    _refuse_roles(out)
    return out


TRTLLM_PORT = 8100


def _trtllm_options(dep: dict, pool: dict) -> dict:
    """The extra LLM-API options of one TensorRT-LLM pool (the YAML `--extra_llm_api_options` reads)."""
    opts: dict = {"kv_cache_config": {"free_gpu_memory_fraction": 0.9}}
    if dep["kv_cache"] in ("fp8", "fp4"):
        opts["kv_cache_config"]["dtype"] = "fp8"
    if int(pool["dp"]) > 1:
        opts["enable_attention_dp"] = True
    if pool["role"] in ("prefill", "decode"):
        opts["cache_transceiver_config"] = {"backend": "DEFAULT"}
        opts["disable_overlap_scheduler"] = pool["role"] == "prefill"  # context servers run without the overlap
    spec, g = dep.get("speculative"), int(pool.get("spec_tokens") or 0)
    if spec and g > 0:
        opts["speculative_config"] = ({"decoding_type": "MTP", "num_nextn_predict_layers": g} if spec["method"] == "mtp"
                                      else {"decoding_type": "Draft_Target", "max_draft_len": g,
                                            "speculative_model": spec["draft_hf_repo"]})
    return opts


def trtllm_launch(plan: dict) -> list[Launch]:
    """`trtllm-serve` (PyTorch backend) per pool, each with its extra-options YAML; P/D pools behind
    `trtllm-serve disaggregated -c disagg.yaml` (context and generation servers listed by URL)."""
    import yaml

    dep = _deployment(plan)
    _quant, qnotes = _quantization(dep, "trtllm")
    out, port = [], TRTLLM_PORT
    urls: dict[str, list[str]] = {"prefill": [], "decode": []}
    for n, p in enumerate(plan["pools"]):
        tp, ep, pp, dp = (int(p[k]) for k in ("tp", "ep", "pp", "dp"))
        name = f"pool{n}-{p['role']}.yaml"
        argv = ["trtllm-serve", dep["hf_repo"], "--host", "0.0.0.0", "--port", str(port), "--backend", "pytorch",
                "--tp_size", str(tp * dp), "--pp_size", str(pp), "--ep_size", str(ep),
                "--max_batch_size", str(max(int(p["batch"]) // dp, 1)), "--max_num_tokens", str(_token_budget(dep, p)),
                "--max_seq_len", str(_max_len(dep, p.get("class", "default"))), "--extra_llm_api_options", name]
        online = [q for q in qnotes if "quantized online" in q]  # vLLM/SGLang quantize FP8 online; TensorRT-LLM not
        notes = [q for q in qnotes if q not in online] + (
            ["TensorRT-LLM quantizes offline: point at an FP8 checkpoint of the model (ModelOpt)"] if online else [])
        if dp > 1:
            notes.append(f"attention DP: --tp_size is the instance's GPUs per stage ({tp} x DP {dp}), "
                         "enable_attention_dp in the YAML")
        if p["role"] == "aggregated":
            argv.append("--enable_chunked_prefill")
        _overlap(p, "trtllm", notes)
        if p["role"] in urls:  # one URL per instance (a duplicate URL is refused by the disaggregated server)
            urls[p["role"]] += [f"POOL{n}_HOST{i}:{port}" for i in range(int(p["instances"]))]
        out.append(Launch(n, p["role"], p["chip"], int(p["instances"]), int(p["chips_per_instance"]), argv, notes,
                          {name: yaml.safe_dump(_trtllm_options(dep, p), sort_keys=False)}))
        port += 1
    _refuse_roles(out)
    if urls["prefill"] and urls["decode"]:
        disagg = {"hostname": "0.0.0.0", "port": 8000, "backend": "pytorch",
                  "context_servers": {"num_instances": len(urls["prefill"]), "urls": urls["prefill"]},
                  "generation_servers": {"num_instances": len(urls["decode"]), "urls": urls["decode"]}}
        out.append(Launch(len(out), "router", "-", 1, 0, ["trtllm-serve", "disaggregated", "-c", "disagg.yaml"],
                          ["replace each POOLn_HOSTi with the address of that pool's i-th instance in disagg.yaml"],
                          {"disagg.yaml": yaml.safe_dump(disagg, sort_keys=False)}))
    return out


def _refuse_roles(launches: list[Launch]) -> None:
    other = sorted({x.role for x in launches} - {"aggregated", "prefill", "decode"})
    if other:
        raise PlannerError(f"exporting {', '.join(other)} pools is not supported yet (attention/FFN or draft pools "
                           "have no launch command in these frameworks)", field="plan.pools",
                           hint="plan without modes afd and speculative.placement pool to export")


LAUNCHERS = {"vllm": vllm_launch, "sglang": sglang_launch, "trtllm": trtllm_launch}
