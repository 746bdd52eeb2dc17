"""`planner export`: every command it writes is accepted by the target's own argument parser, as read off vLLM 0.34
and SGLang 0.5.23 (tests/fixtures/exports: each option, whether it takes a value, its choices), and says what the
plan says (parallelism, batch, precision, disaggregation, speculation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.cli import main
from planner.export.launch import sglang_launch, vllm_launch
from planner.inputs.scenario import load_scenario
from planner.optimize.solve import solve_scenario
from planner.paths import SCENARIOS_DIR

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "exports"
PARSERS = {"vllm": json.loads((FIXTURES / "vllm_serve_args.json").read_text()),
           "sglang": json.loads((FIXTURES / "sglang_server_args.json").read_text())}
PLANS = ["llama70b-chat", "speculative-mtp", "speculative-draft", "chunked-prefix", "heterogeneous-inventory"]


@pytest.fixture(scope="module")
def plans():
    return {name: solve_scenario(load_scenario(SCENARIOS_DIR / f"{name}.yaml")).summary for name in PLANS}


def parse(argv: list[str], options: dict) -> tuple[dict, list[str]]:
    """argparse's check of option names, values and choices (types aside): options given, positionals left."""
    given, positional, i = {}, [], 0
    while i < len(argv):
        tok = argv[i]
        if tok.startswith("--"):
            assert tok in options, f"{tok} is not an option of the parser"
            opt = options[tok]
            if opt["takes_value"]:
                assert i + 1 < len(argv) and not argv[i + 1].startswith("--"), f"{tok} needs a value"
                value = argv[i + 1]
                if opt["choices"]:
                    assert value in opt["choices"], f"{tok} {value} not in {opt['choices']}"
                given[opt["dest"]] = value
                i += 2
                continue
            given[opt["dest"]] = True
        else:
            positional.append(tok)
        i += 1
    return given, positional


@pytest.mark.parametrize("name", PLANS)
def test_vllm_commands_parse_and_match_the_plan(plans, name):
    plan = plans[name]
    spec = PARSERS["vllm"]
    for launch, pool in zip(vllm_launch(plan), plan["pools"], strict=True):
        assert launch.argv[:2] == ["vllm", "serve"]
        given, positional = parse(launch.argv[2:], spec["options"])
        assert positional == [plan["deployment"]["hf_repo"]]
        assert int(given["tensor_parallel_size"]) == pool["tp"] and int(given["pipeline_parallel_size"]) == pool["pp"]
        assert int(given["data_parallel_size"]) == pool["dp"]
        assert int(given["max_num_seqs"]) * pool["dp"] <= pool["batch"]
        if pool["role"] in ("prefill", "decode"):
            kv = json.loads(given["kv_transfer_config"])
            assert kv["kv_connector"] in spec["kv_connectors"] and kv["kv_role"] in spec["kv_roles"]
        if pool.get("spec_tokens"):
            sc = json.loads(given["speculative_config"])
            assert sc["method"] in spec["speculative_methods"] and sc["num_speculative_tokens"] == pool["spec_tokens"]
        speculating = [p for p in plan["pools"] if p["role"] == "decode" and p.get("spec_tokens")]
        if pool["role"] == "prefill" and speculating:  # NIXL pairs P and D only with the same speculation method
            sc = json.loads(given["speculative_config"])
            dec_argv = vllm_launch(plan)[plan["pools"].index(speculating[0])].argv
            dec = json.loads(parse(dec_argv[2:], spec["options"])[0]["speculative_config"])
            assert sc["method"] == dec["method"] and sc.get("model") == dec.get("model")
        if plan["deployment"]["kv_cache"] == "fp8":
            assert given["kv_cache_dtype"] == "fp8"


@pytest.mark.parametrize("name", PLANS)
def test_sglang_commands_parse_and_match_the_plan(plans, name):
    plan = plans[name]
    for launch, pool in zip(sglang_launch(plan), plan["pools"], strict=True):
        assert launch.argv[:3] == ["python", "-m", "sglang.launch_server"]
        given, positional = parse(launch.argv[3:], PARSERS["sglang"]["options"])
        assert not positional and given["model_path"] == plan["deployment"]["hf_repo"]
        assert int(given["tp_size"]) == pool["tp"] * pool["dp"] and int(given["pp_size"]) == pool["pp"]
        assert int(given["max_running_requests"]) == pool["batch"]
        assert given.get("disaggregation_mode", "null") == (pool["role"] if pool["role"] != "aggregated" else "null")
        if pool["dp"] > 1:
            assert int(given["attn_dp_size"]) == pool["dp"]
        if pool.get("spec_tokens"):
            assert int(given["speculative_num_draft_tokens"]) == pool["spec_tokens"] + 1


def test_export_cli_writes_a_launchable_folder(tmp_path):
    plan_json = tmp_path / "plan.json"
    r = CliRunner().invoke(main, ["solve", str(SCENARIOS_DIR / "llama70b-chat.yaml"), "--format", "json"])
    assert r.exit_code == 0
    plan_json.write_text(r.output)
    for target in ("vllm", "sglang"):
        out = tmp_path / target
        r = CliRunner().invoke(main, ["export", str(plan_json), "--to", target, "--out", str(out)])
        assert r.exit_code == 0, r.output
        script, readme = (out / "launch.sh").read_text(), (out / "README.md").read_text()
        pools = json.loads(plan_json.read_text())["pools"]
        assert script.count("--port") == len(pools) and "prefill" in script and "decode" in script
        assert "--request-rate 20" in readme and "--random-input-len 2048" in readme
    r = CliRunner().invoke(main, ["export", str(SCENARIOS_DIR / "afd-step3.yaml"), "--to", "vllm", "--out",
                                  str(tmp_path / "afd")])
    assert r.exit_code in (0, 2)  # a plan with attention/FFN pools is refused by name, never a traceback
    if r.exit_code == 2:
        assert "not supported yet" in r.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"pools": []}')
    r = CliRunner().invoke(main, ["export", str(bad), "--to", "vllm"])
    assert r.exit_code == 2 and "deployment" in r.output


def test_a_quantized_checkpoint_needs_no_quantization_flag():
    """A plan for a ModelOpt NVFP4 release (by its Hugging Face id, bundled in models/zoo) plans its precision and
    the commands load it as published; a BF16 checkpoint planned at FP8 is quantized online."""
    from planner.inputs.scenario import scenario_from_flags

    for model, flag in (("nvidia/Qwen3-235B-A22B-NVFP4", None), ("Qwen/Qwen3-235B-A22B", "fp8")):
        sc = scenario_from_flags(model, "b200", rate_rps=2.0, isl=2048, osl=256, ttft_ms=3000, tpot_ms=50,
                                 weights=None if flag is None else "fp8")
        plan = solve_scenario(sc).summary
        for launch in vllm_launch(plan):
            given, positional = parse(launch.argv[2:], PARSERS["vllm"]["options"])
            assert positional == [model] and given.get("quantization") == flag, launch.command
        if flag is None:
            assert plan["deployment"]["checkpoint"]["weights"] == "fp4"
            assert any("ships in fp4" in n for n in vllm_launch(plan)[0].notes)


TRTLLM = json.loads((FIXTURES / "trtllm_serve.json").read_text())


def _check_fields(values: dict, allowed: dict, where: str) -> None:
    """Every key of an LLM-API options YAML is a field of TensorRT-LLM's LLM args (nested configs included) and
    every enumerated value one of its literals."""
    for key, value in values.items():
        assert key in allowed, f"{where}: {key} is not an LLM-API field"
        spec = allowed[key]
        if isinstance(spec, dict):
            _check_fields(value, spec, f"{where}.{key}")
        elif isinstance(spec, list):
            assert value in spec, f"{where}.{key}: {value!r} not in {spec}"


@pytest.mark.parametrize("name", PLANS)
def test_trtllm_commands_and_configs_match_its_argument_definitions(plans, name, tmp_path):
    import yaml

    from planner.export.launch import trtllm_launch

    plan = plans[name]
    launches = trtllm_launch(plan)
    servers = [x for x in launches if x.role != "router"]
    assert len(servers) == len(plan["pools"])
    for launch, pool in zip(servers, plan["pools"], strict=True):
        assert launch.argv[0] == "trtllm-serve" and launch.argv[1] == plan["deployment"]["hf_repo"]
        given = {}
        argv, i = launch.argv[2:], 0
        while i < len(argv):
            opt = argv[i]
            assert opt in TRTLLM["serve_options"], f"{opt} is not a trtllm-serve option"
            if TRTLLM["serve_options"][opt]:
                given[opt] = argv[i + 1]
                i += 2
            else:
                given[opt] = True
                i += 1
        assert given["--backend"] in TRTLLM["backend_choices"]
        assert int(given["--tp_size"]) == pool["tp"] * pool["dp"] and int(given["--pp_size"]) == pool["pp"]
        assert int(given["--max_batch_size"]) * pool["dp"] <= pool["batch"]
        options = yaml.safe_load(launch.files[given["--extra_llm_api_options"]])
        _check_fields(options, TRTLLM["llm_api_fields"], given["--extra_llm_api_options"])
        assert options.get("enable_attention_dp", False) == (pool["dp"] > 1)
        if pool.get("spec_tokens"):
            sc = options["speculative_config"]
            assert sc.get("num_nextn_predict_layers", sc.get("max_draft_len")) == pool["spec_tokens"]
    routers = [x for x in launches if x.role == "router"]
    if any(p["role"] == "prefill" for p in plan["pools"]):
        (router,) = routers
        assert router.argv[:2] == ["trtllm-serve", "disaggregated"] and router.argv[2] in TRTLLM["disaggregated_options"]
        cfg = yaml.safe_load(router.files["disagg.yaml"])
        assert set(cfg) <= set(TRTLLM["disagg_config_keys"])
        for section, role in (("context_servers", "prefill"), ("generation_servers", "decode")):
            assert set(cfg[section]) <= set(TRTLLM["disagg_server_keys"])
            n = sum(p["instances"] for p in plan["pools"] if p["role"] == role)
            urls = cfg[section]["urls"]
            assert cfg[section]["num_instances"] == n == len(urls) == len(set(urls))  # one distinct URL each
    else:
        assert not routers
    written = [p.name for p in __import__("planner.export.write", fromlist=["write_export"]).write_export(
        plan, "trtllm", tmp_path)]
    assert all(f in written for x in launches for f in x.files)


DGD = json.loads((FIXTURES / "dynamo_dgd.json").read_text())


@pytest.mark.parametrize("framework", ["vllm", "sglang"])
@pytest.mark.parametrize("name", ["llama70b-chat", "heterogeneous-inventory", "deepseek-v3-moe"])
def test_dynamo_manifest_matches_the_operators_spec_and_the_engines_parser(name, framework, tmp_path):
    """A DynamoGraphDeployment per plan: every service field is one of the operator's, GPUs per node and node
    counts as the CRD wants, one worker service per pool with the pool's instances as replicas and its chip as
    node selector, and worker arguments the engine's own parser accepts."""
    import yaml

    from planner.export.dynamo import CHIP_LABEL, dynamo_manifest
    from planner.export.write import write_export

    sc = load_scenario(SCENARIOS_DIR / f"{name}.yaml")
    plan = solve_scenario(sc.model_copy(update={"deploy": sc.deploy.model_copy(update={"framework": framework})})).summary
    m = dynamo_manifest(plan)
    assert (m["apiVersion"], m["kind"]) == (DGD["api_version"], DGD["kind"])
    assert m["spec"]["backendFramework"] == framework in DGD["backend_frameworks"]
    services = m["spec"]["services"]
    workers = [v for v in services.values() if v["componentType"] == "worker"]
    assert len(workers) == len(plan["pools"]) and sum(v["componentType"] == "frontend" for v in services.values()) == 1
    for svc, pool in zip(workers, plan["pools"], strict=True):
        assert set(svc) <= set(DGD["service_fields"]) and svc["componentType"] in DGD["component_types"]
        assert svc.get("subComponentType", pool["role"]) == pool["role"]
        assert set(svc["resources"]) <= set(DGD["resource_sections"])
        assert set(svc["resources"]["limits"]) <= set(DGD["resource_item_fields"])
        nodes = svc.get("multinode", {}).get("nodeCount", 1)
        assert nodes == 1 or nodes >= DGD["multinode_min_node_count"]
        assert int(svc["resources"]["limits"]["gpu"]) * nodes >= pool["chips_per_instance"]
        assert svc["replicas"] == pool["instances"]
        assert svc["extraPodSpec"]["nodeSelector"][CHIP_LABEL] == pool["chip"]
        main = svc["extraPodSpec"]["mainContainer"]
        assert main["command"] == ["python3", "-m", f"dynamo.{framework}"]
        args = list(main["args"])
        if framework == "vllm":
            if pool["role"] in ("prefill", "decode"):
                assert args[-2:] == ["--disaggregation-mode", pool["role"]]
                assert args[-1] in DGD["dynamo_vllm_disaggregation_modes"]
                args = args[:-2]
            assert args[0] == "--model"
            args = args[2:]  # dynamo.vllm's --model is vllm serve's positional model
        given, positional = parse(args, PARSERS[framework]["options"])
        assert not positional and "host" not in given and "port" not in given  # the frontend serves HTTP
    files = [p.name for p in write_export(plan, "dynamo", tmp_path)]
    assert files == ["dynamo.yaml", "README.md", "plan.json"]
    assert yaml.safe_load((tmp_path / "dynamo.yaml").read_text()) == m


@pytest.mark.parametrize("name", ["llama70b-chat", "speculative-mtp", "deepseek-v3-moe"])
def test_dynamo_manifest_of_tensorrt_llm_workers(plans, name):
    """TensorRT-LLM plans run `python3 -m dynamo.trtllm`: every argument is one of its options (read off
    dynamo.trtllm's backend_args.py), the parallelism, batch and token budget are the trtllm export's, P/D pools
    name their disaggregation mode, and --override-engine-args is JSON of TensorRT-LLM LLM-API fields."""
    from planner.export.dynamo import dynamo_manifest
    from planner.export.launch import trtllm_launch

    sc = load_scenario(SCENARIOS_DIR / f"{name}.yaml")
    plan = plans.get(name) or solve_scenario(sc.model_copy(update={"deploy": sc.deploy.model_copy(
        update={"framework": "trtllm"})})).summary  # deepseek-v3-moe offers AMD chips too: auto would pick vLLM
    assert plan["deployment"]["framework"] == "trtllm"
    m = dynamo_manifest(plan)
    assert m["spec"]["backendFramework"] == "trtllm"
    workers = [v for v in m["spec"]["services"].values() if v["componentType"] == "worker"]
    serve = [x for x in trtllm_launch(plan) if x.role != "router"]
    options = DGD["dynamo_trtllm_options"]
    for svc, pool, launch in zip(workers, plan["pools"], serve, strict=True):
        main_c = svc["extraPodSpec"]["mainContainer"]
        assert main_c["command"] == ["python3", "-m", "dynamo.trtllm"]
        args, given, i = main_c["args"], {}, 0
        while i < len(args):
            assert args[i] in options, f"{args[i]} is not an option of dynamo.trtllm"
            if options[args[i]]:
                given[args[i]] = args[i + 1]
                i += 2
            else:
                given[args[i]] = True
                i += 1
        assert given["--model"] == plan["deployment"]["hf_repo"]
        assert int(given["--tensor-parallel-size"]) == pool["tp"] * pool["dp"]  # TP spans the attention-DP ranks
        assert int(given["--pipeline-parallel-size"]) == pool["pp"]
        assert int(given["--max-batch-size"]) == max(pool["batch"] // pool["dp"], 1)
        budget = launch.argv[launch.argv.index("--max_num_tokens") + 1]
        assert given["--max-num-tokens"] == budget
        assert ("--enable-attention-dp" in given) == (pool["dp"] > 1)
        if pool["role"] in ("prefill", "decode"):
            assert given["--disaggregation-mode"] == pool["role"] in DGD["dynamo_trtllm_disaggregation_modes"]
        else:
            assert "--disaggregation-mode" not in given
        extra = json.loads(given.get("--override-engine-args", "{}"))
        assert set(extra) <= set(TRTLLM["llm_api_fields"]) | {"enable_chunked_prefill"}
        if pool["role"] in ("prefill", "decode"):
            assert extra["cache_transceiver_config"] == {"backend": "DEFAULT"}
        if pool.get("spec_tokens"):
            assert extra["speculative_config"]["num_nextn_predict_layers"] == pool["spec_tokens"]


def test_solve_can_export_in_the_same_run(tmp_path):
    out = tmp_path / "dep"
    r = CliRunner().invoke(main, ["solve", str(SCENARIOS_DIR / "llama70b-chat.yaml"), "--export", "trtllm",
                                  "--export-dir", str(out), "--format", "json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert sorted(Path(f).name for f in summary["export"]) == sorted(p.name for p in out.iterdir())
    assert "trtllm-serve disaggregated -c disagg.yaml" in (out / "launch.sh").read_text()
    r = CliRunner().invoke(main, ["solve", str(SCENARIOS_DIR / "diurnal-chat.yaml"), "--export", "vllm",
                                  "--export-dir", str(tmp_path / "day")])
    assert r.exit_code == 2 and "--export" in r.output and not (tmp_path / "day").exists()


@pytest.fixture(scope="module")
def plan_json():
    r = CliRunner().invoke(main, ["solve", str(SCENARIOS_DIR / "llama70b-chat.yaml"), "--format", "json"])
    assert r.exit_code == 0, r.output
    return r.output


@pytest.mark.parametrize("target", ["vllm", "sglang", "trtllm", "dynamo", "llm-d"])
@pytest.mark.parametrize("damage, field", [
    (lambda p: p["pools"][0].update(instances=1e18), "plan.pools[0].instances"),
    (lambda p: p["pools"][0].update(tp="eight"), "plan.pools[0].tp"),
    (lambda p: p["deployment"].update(lengths={"default": {"isl": -5, "osl": 128}}), "plan.deployment.lengths"),
    (lambda p: p["deployment"].pop("hf_repo"), "plan.deployment.hf_repo"),
])
def test_a_damaged_plan_file_is_refused_by_field(plan_json, tmp_path, target, damage, field):
    """A plan file edited by hand or cut short gets exit 2 naming the field, never a traceback (and a huge instance
    count never reaches the URL lists)."""
    plan = json.loads(plan_json)
    plan["deployment"]["framework"] = "vllm" if target in ("dynamo", "llm-d") else plan["deployment"].get("framework")
    damage(plan)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    r = CliRunner().invoke(main, ["export", str(path), "--to", target, "--out", str(tmp_path / "out")])
    assert r.exit_code == 2, r.output
    assert field in r.output and "Traceback" not in r.output
