"""`planner export --to llm-d`: every values file, merged over llm-d-modelservice's defaults as Helm merges them, is
valid under the chart's own values.schema.json (chart v0.4.12, tests/fixtures/exports/llmd_modelservice.json says
where it was read), and the vLLM command the chart builds from it (its own flags + our arguments) is accepted by
vLLM 0.34's parser and says what the plan says."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from planner.cli import main
from planner.errors import PlannerError
from planner.export.llmd import ACCELERATOR, llmd_values
from planner.inputs.chips import load_catalog
from planner.paths import SCENARIOS_DIR

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "exports"
CHART = json.loads((FIXTURES / "llmd_modelservice.json").read_text())
VLLM = json.loads((FIXTURES / "vllm_serve_args.json").read_text())


def helm_merge(defaults, override):
    """Helm's values merge: maps merge key by key, everything else (lists included) is replaced."""
    if isinstance(defaults, dict) and isinstance(override, dict):
        out = dict(defaults)
        for k, v in override.items():
            out[k] = helm_merge(defaults.get(k), v) if k in defaults else copy.deepcopy(v)
        return out
    return copy.deepcopy(override)


def chart_command(values: dict, role: str) -> list[str]:
    """The argv of the chart's `vllmServeModelCommand` (templates/_helpers.tpl) for one role's container."""
    spec, par = values[role], values[role]["parallelism"]
    port = values["routing"]["servicePort"] if role == "prefill" or not values["routing"]["proxy"]["enabled"] else 8200
    argv = ["vllm", "serve", values["modelArtifacts"]["uri"].removeprefix("hf://"), "--port", str(port)]
    for flag, v in (("--tensor-parallel-size", par["tensor"]), ("--data-parallel-size", par["data"]),
                    ("--data-parallel-size-local", par["dataLocal"])):
        if v > 1:
            argv += [flag, str(v)]
    return argv + ["--served-model-name", values["modelArtifacts"]["name"], *spec["containers"][0]["args"]]


def vllm_parse(argv: list[str]) -> dict:
    given, i = {}, 3
    while i < len(argv):
        opt = VLLM["options"].get(argv[i])
        assert opt is not None, f"{argv[i]} is not an option of vllm serve"
        if opt["takes_value"]:
            given[opt["dest"]] = argv[i + 1]
            if opt["choices"]:
                assert argv[i + 1] in opt["choices"]
            i += 2
        else:
            given[opt["dest"]] = True
            i += 1
    return given


@pytest.fixture(scope="module")
def plan():
    r = CliRunner().invoke(main, ["solve", str(SCENARIOS_DIR / "llama70b-chat.yaml"), "--format", "json"])
    assert r.exit_code == 0, r.output
    p = json.loads(r.output)
    p["deployment"]["framework"] = "vllm"
    return p


def _check(plan: dict) -> dict:
    releases = llmd_values(plan)
    assert len(releases) == len(plan["pools"])
    for (name, values), pool in zip(releases.items(), plan["pools"], strict=True):
        assert len(name) <= 53 and name.replace("-", "").isalnum() and name == name.lower()
        jsonschema.validate(helm_merge(CHART["defaults"], values), CHART["schema"])
        role = "prefill" if pool["role"] == "prefill" else "decode"
        other = "decode" if role == "prefill" else "prefill"
        assert values[role]["create"] and not values[other]["create"]
        spec, par = values[role], values[role]["parallelism"]
        assert spec["replicas"] == pool["instances"]
        assert par["tensor"] == pool["tp"] and par["data"] == pool["dp"] and par["dataLocal"] * par["workers"] == pool["dp"]
        acc_type, resource = ACCELERATOR[load_catalog()[pool["chip"]].vendor]
        assert values["accelerator"]["type"] == acc_type
        assert resource == CHART["defaults"]["accelerator"]["resources"][acc_type]  # the chart's own resource name
        gpus = int(spec["containers"][0]["resources"]["limits"][resource])
        assert gpus * par["workers"] == pool["chips_per_instance"] and gpus <= 8
        assert values["multinode"] == (par["workers"] > 1)
        assert spec["nodeSelector"] == {"planner.io/chip": pool["chip"]}
        given = vllm_parse(chart_command(values, role))
        assert int(given.get("tensor_parallel_size", 1)) == pool["tp"]
        assert int(given.get("data_parallel_size", 1)) == pool["dp"]
        assert int(given["pipeline_parallel_size"]) == pool["pp"]
        assert int(given["max_num_seqs"]) == max(pool["batch"] // pool["dp"], 1)
        assert ("kv_transfer_config" in given) == (pool["role"] in ("prefill", "decode"))
        assert values["routing"]["proxy"]["enabled"] == (pool["role"] == "decode")
        for flag in CHART["chart_writes_flags"]:  # never twice: the chart writes these itself
            assert flag not in spec["containers"][0]["args"]
    return releases


def test_llmd_values_match_the_charts_schema_and_vllms_parser(plan):
    _check(plan)


def test_amd_pools_get_the_charts_amd_accelerator():
    """decode-heavy offers MI300X only: planned for vLLM (auto), exported with accelerator type amd, amd.com/gpu
    resources and an image to set for ROCm."""
    r = CliRunner().invoke(main, ["solve", str(SCENARIOS_DIR / "decode-heavy.yaml"), "--format", "json"])
    plan = json.loads(r.output)
    assert plan["deployment"]["framework"] == "vllm"
    releases = _check(plan)
    for v in releases.values():
        assert v["accelerator"] == {"type": "amd"}
        assert v["decode"]["containers"][0]["image"].startswith("SET_YOUR_LLM_D_IMAGE_FOR_AMD")


def test_a_wide_data_parallel_pool_spans_nodes_as_a_leader_worker_set(plan):
    wide = copy.deepcopy(plan)
    wide["pools"][1].update(tp=1, pp=1, dp=16, ep=16, chips_per_instance=16, batch=1024)
    releases = _check(wide)
    par = list(releases.values())[1]["decode"]["parallelism"]
    assert (par["dataLocal"], par["workers"]) == (8, 2)
    wide["pools"][1].update(tp=16, dp=1)
    with pytest.raises(PlannerError, match="spans nodes by data parallelism"):
        llmd_values(wide)


def test_llmd_export_cli_and_its_refusals(plan, tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    r = CliRunner().invoke(main, ["export", str(path), "--to", "llm-d", "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    values_files = [n for n in names if n.startswith("values-")]
    assert len(values_files) == len(plan["pools"]) and {"install.sh", "README.md", "plan.json"} <= set(names)
    install = (tmp_path / "out" / "install.sh").read_text()
    assert all(f"-f {n}" in install for n in values_files)
    for n in values_files:
        yaml.safe_load((tmp_path / "out" / n).read_text())
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "--request-rate 20" in readme and "llm-d.ai/model=llama-3-1-70b" in readme
    plan["deployment"]["framework"] = "sglang"
    path.write_text(json.dumps(plan))
    r = CliRunner().invoke(main, ["export", str(path), "--to", "llm-d"])
    assert r.exit_code == 2 and "framework: vllm" in r.output
