"""`planner solve` and `planner pareto` end to end on the example scenarios (real HiGHS)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from planner.cli import main
from planner.paths import SCENARIOS_DIR

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [
    "llama70b-chat", "long-context-prefill", "decode-heavy", "deepseek-v3-moe", "heterogeneous-inventory",
    "budget-throughput", "eight-chips",
]
SUMMARY_KEYS = {"status", "mip_gap", "cost_usd_per_hr", "num_chips", "throughput_rps", "ttft_ms", "tpot_ms", "power_kw",
                "pools", "mode", "margin", "binding_constraints"}
POOL_KEYS = {"role", "chip", "instances", "chips_per_instance", "tp", "ep", "pp", "dp", "batch", "ttft_ms", "tpot_ms",
             "capacity_rps", "utilization", "cost_usd_per_hr"}


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _scenario(tmp_path: Path, **over) -> Path:
    data = yaml.safe_load((SCENARIOS_DIR / "llama70b-chat.yaml").read_text())
    data.update(over)
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


@pytest.mark.parametrize("name", EXAMPLES)
def test_solve_json_on_examples(name):
    r = run("solve", SCENARIOS_DIR / f"{name}.yaml", "--format", "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert SUMMARY_KEYS <= set(out)
    assert out["status"] in ("optimal", "within-gap")
    assert out["pools"] and all(POOL_KEYS <= set(p) for p in out["pools"])
    assert out["cost_usd_per_hr"] == pytest.approx(sum(p["cost_usd_per_hr"] for p in out["pools"]))
    assert out["num_chips"] == sum(p["instances"] * p["chips_per_instance"] for p in out["pools"])
    sc = yaml.safe_load((SCENARIOS_DIR / f"{name}.yaml").read_text())
    slo = sc.get("slo", {})
    if "tpot_ms" in slo:
        assert out["tpot_ms"] <= slo["tpot_ms"] + 1e-9
    if "ttft_ms" in slo:
        assert out["ttft_ms"] <= slo["ttft_ms"] * (1 + 1e-6)
    if sc.get("objective") == "max-throughput":
        assert out["cost_usd_per_hr"] <= sc["budget_usd_per_hr"] + 1e-6
    else:
        assert out["throughput_rps"] == pytest.approx(sc["workload"]["arrival_rate_rps"])
    for c in sc["chips"]:
        if c.get("max_count") is not None:
            used = sum(p["instances"] * p["chips_per_instance"] for p in out["pools"] if p["chip"] == c["id"])
            assert used <= c["max_count"]


def test_solve_table_says_what_binds():
    r = run("solve", SCENARIOS_DIR / "heterogeneous-inventory.yaml")
    assert r.exit_code == 0, r.output
    assert "binding:" in r.output and "inventory-max" in r.output
    assert "margin" in r.output and "optimal" in r.output


def test_margin_percent_and_objective_override(tmp_path):
    r = run("solve", SCENARIOS_DIR / "llama70b-chat.yaml", "--format", "json", "--margin", "10")
    out = json.loads(r.output)
    assert out["margin"] == {"capacity": 0.1, "tpot": 0.1, "ttft": 0.1, "basis": "--margin"}
    r = run("solve", _scenario(tmp_path, budget_usd_per_hr=40), "--objective", "max-throughput", "--format", "json")
    out = json.loads(r.output)
    assert out["objective"] == "max-throughput" and out["cost_usd_per_hr"] <= 40 + 1e-6


def test_output_length_spread_costs_more(tmp_path):
    """A long-tailed output distribution (cv 1) at the same mean output holds more KV in flight (isl + osl instead
    of isl + osl/2: 5,120 vs 3,072 tokens here), so decode batches shrink and the same traffic costs more."""
    data = yaml.safe_load((SCENARIOS_DIR / "llama70b-chat.yaml").read_text())
    data["workload"].update(isl=1024, osl=4096)
    costs = []
    for cv in (0.0, 1.0):
        data["workload"]["output_length_cv"] = cv
        p = tmp_path / f"cv{cv}.yaml"
        p.write_text(yaml.safe_dump(data, sort_keys=False))
        costs.append(json.loads(run("solve", p, "--format", "json").output)["cost_usd_per_hr"])
    assert costs[1] > 1.1 * costs[0]


def test_infeasible_exit_1_names_the_slo(tmp_path):
    r = run("solve", _scenario(tmp_path, slo={"ttft_ms": 1000, "tpot_ms": 0.5}))
    assert r.exit_code == 1
    assert "slo.tpot_ms" in r.output and "lowest TPOT" in r.output


def test_inventory_infeasible_gives_highest_rate(tmp_path):
    p = _scenario(tmp_path, workload={"arrival_rate_rps": 5000, "isl": 2048, "osl": 256},
                  chips=[{"id": "h100-sxm", "max_count": 16}])
    r = run("solve", p)
    assert r.exit_code == 1 and "highest rate" in r.output and "workload.arrival_rate_rps" in r.output


def test_bad_input_exit_2(tmp_path):
    r = run("solve", _scenario(tmp_path, slo={"tpot": 30}))
    assert r.exit_code == 2 and "tpot_ms" in r.output
    r = run("solve", _scenario(tmp_path), "--objective", "max-throughput")
    assert r.exit_code == 2 and "budget_usd_per_hr" in r.output


def test_pareto_formats():
    sc = SCENARIOS_DIR / "llama70b-chat.yaml"
    r = run("pareto", sc, "--points", "6", "--format", "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    pts = out["points"]
    assert out["sweep"] == "tpot" and 1 <= len(pts) <= 6
    assert all(p["pools"] and p["fleet"] for p in pts)
    xs, ys = [p["tok_s_per_user"] for p in pts], [p["cost_usd_per_mtok"] for p in pts]
    assert xs == sorted(xs) and ys == sorted(ys)
    r = run("pareto", sc, "--points", "4", "--sweep", "throughput", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert rows and {"throughput_rps", "cost_usd_per_hr", "fleet"} <= set(rows[0])
    r = run("pareto", SCENARIOS_DIR / "budget-throughput.yaml", "--points", "4", "--sweep", "budget")
    assert r.exit_code == 0 and "frontier points" in r.output


def test_module_entry_point_end_to_end():
    p = subprocess.run([sys.executable, "-m", "planner", "solve", str(SCENARIOS_DIR / "llama70b-chat.yaml"), "--format",
                        "json"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["status"] == "optimal"


def test_the_entry_point_leaves_fast_with_everything_written_and_the_exit_status_kept(tmp_path):
    """`python -m planner` skips the interpreter's teardown after a command (planner.cli.run): its whole JSON on
    stdout, the files an export writes complete, the exit status of an infeasible plan (1) and of bad input (2)
    with the message on stderr, and `--help` as usual."""
    out = tmp_path / "deploy"

    def planner(*args):
        return subprocess.run([sys.executable, "-m", "planner", *map(str, args)], capture_output=True, text=True,
                              cwd=ROOT, timeout=120)

    p = planner("solve", SCENARIOS_DIR / "llama70b-chat.yaml", "--format", "json", "--export", "vllm",
                "--export-dir", out)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["status"] == "optimal"
    same = tmp_path / "in-process"  # the same export through click's runner, which ends the usual way
    assert run("solve", SCENARIOS_DIR / "llama70b-chat.yaml", "--export", "vllm", "--export-dir", same).exit_code == 0
    def files(folder):  # the plan's JSON less its timings, which differ run to run
        got = {f.relative_to(folder): f.read_bytes() for f in folder.rglob("*") if f.is_file()}
        plan = json.loads(got.pop(Path("plan.json")))
        return got, {k: v for k, v in plan.items() if k not in ("timings_s", "solve_s")}
    assert files(out) == files(same) and files(out)[0]
    p = planner("solve", "--model", "llama-3.1-70b", "--chips", "h100-sxm", "--rate", "10", "--isl", "2048",
                "--osl", "256", "--ttft", "1000", "--tpot", "1")
    assert p.returncode == 1 and "slo.tpot_ms" in p.stderr and "Traceback" not in p.stderr
    p = planner("solve", tmp_path / "missing.yaml")
    assert p.returncode == 2 and p.stderr.startswith("error:") and "Traceback" not in p.stderr
    p = planner("--help")
    assert p.returncode == 0 and "solve" in p.stdout


def test_solve_shared_classes_is_cheaper_than_dedicated(tmp_path):
    """scenarios/traffic-classes-shared.yaml: two low-rate classes; sharing pools is strictly cheaper."""
    r = run("solve", SCENARIOS_DIR / "traffic-classes-shared.yaml", "--format", "json")
    assert r.exit_code == 0, r.output
    shared = json.loads(r.output)
    data = yaml.safe_load((SCENARIOS_DIR / "traffic-classes-shared.yaml").read_text())
    p = tmp_path / "dedicated.yaml"
    p.write_text(yaml.safe_dump({**data, "classes_share_pools": False}, sort_keys=False))
    r = run("solve", p, "--format", "json")
    assert r.exit_code == 0, r.output
    dedicated = json.loads(r.output)
    assert shared["cost_usd_per_hr"] < dedicated["cost_usd_per_hr"] - 1e-6
    assert any("+" in pool["class"] for pool in shared["pools"])
    assert not any("+" in pool["class"] for pool in dedicated["pools"])
    for pool in shared["pools"]:  # a shared pool time-shares: its summed load stays within the strictest cap
        assert pool["utilization"] <= pool["max_utilization"] * (1 + 1e-6)
    for c in shared["classes"]:  # every class within its own SLO, on its own and shared pools
        assert c["throughput_rps"] == pytest.approx(c["arrival_rate_rps"], rel=1e-6)
        assert c["ttft_ms"] <= c["slo"]["ttft_ms"] * (1 + 1e-9) and c["tpot_ms"] <= c["slo"]["tpot_ms"] * (1 + 1e-9)
    assert sum(c["cost_usd_per_hr"] for c in shared["classes"]) == pytest.approx(shared["cost_usd_per_hr"], rel=1e-6)


def test_classes_share_pools_needs_classes(tmp_path):
    r = run("solve", _scenario(tmp_path, classes_share_pools=True))
    assert r.exit_code == 2 and "classes_share_pools" in r.output


def test_solve_speculative_with_catalog_overlay(tmp_path):
    """The 'no speculation' re-solve uses the --catalog overlays too (a chip only the overlay defines)."""
    from planner.inputs.chips import load_catalog

    chip = load_catalog(())["h200-sxm"].model_dump(mode="json", exclude_none=True)
    chip["id"] = "my-h200"
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"chips": [chip]}, sort_keys=False))
    data = yaml.safe_load((SCENARIOS_DIR / "speculative-mtp.yaml").read_text())
    data["chips"] = [{"id": "my-h200", "price_usd_per_hr": 3.5}]
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    r = run("solve", p, "--catalog", overlay, "--format", "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    plain = [a for a in out["alternatives"] if a["architecture"].startswith("no speculation")]
    assert plain and plain[0]["cost_usd_per_hr"] is not None


def test_one_line_solve_equals_the_same_scenario_from_a_file(tmp_path):
    """`planner solve --model ... --chips ...` without a file gives the fleet the equivalent YAML gives."""
    flags = ["--model", "llama-3.1-8b", "--chips", "h100-sxm:2.5,h200-sxm:3.5:4", "--rate", "6", "--isl", "1024",
             "--osl", "128", "--ttft", "1500", "--tpot", "40", "--weights", "fp8", "--margin", "0", "--format", "json"]
    one = run("solve", *flags)
    assert one.exit_code == 0, one.output
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({
        "name": "x", "model": "llama-3.1-8b", "precision": {"weights": "fp8"},
        "workload": {"arrival_rate_rps": 6, "isl": 1024, "osl": 128}, "slo": {"ttft_ms": 1500, "tpot_ms": 40},
        "chips": [{"id": "h100-sxm", "price_usd_per_hr": 2.5}, {"id": "h200-sxm", "price_usd_per_hr": 3.5,
                                                                 "max_count": 4}]}))
    two = run("solve", p, "--margin", "0", "--format", "json")
    a, b = json.loads(one.output), json.loads(two.output)
    assert a["cost_usd_per_hr"] == b["cost_usd_per_hr"] and a["num_chips"] == b["num_chips"]
    assert a["scenario"] == "llama-3.1-8b-cli"
    sg = run("solve", *flags, "--framework", "sglang")  # the one-line form names the framework too
    assert sg.exit_code == 0, sg.output
    assert json.loads(sg.output)["deployment"]["framework"] == "sglang"


def test_one_line_max_throughput_within_the_chip_counts(tmp_path):
    """AI Configurator's default question in one line: the most requests/s 32 H100s serve under the SLOs (no rate);
    the same as the scenario file with max_count 32 and objective max-throughput."""
    flags = ["--model", "llama-3.1-70b", "--chips", "h100-sxm:2.5:32", "--isl", "4000", "--osl", "500", "--ttft",
             "1000", "--tpot", "30", "--weights", "fp8", "--objective", "max-throughput", "--format", "json"]
    r = run("solve", *flags)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["objective"] == "max-throughput" and out["num_chips"] <= 32 and out["throughput_rps"] > 0
    assert out["tpot_ms"] <= 30 + 1e-6
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({
        "name": "x", "model": "llama-3.1-70b", "precision": {"weights": "fp8"}, "objective": "max-throughput",
        "workload": {"isl": 4000, "osl": 500}, "slo": {"ttft_ms": 1000, "tpot_ms": 30},
        "chips": [{"id": "h100-sxm", "price_usd_per_hr": 2.5, "max_count": 32}]}))
    from_file = json.loads(run("solve", p, "--format", "json").output)
    assert from_file["throughput_rps"] == pytest.approx(out["throughput_rps"], rel=1e-9)
    unlimited = run("solve", *[f if f != "h100-sxm:2.5:32" else "h100-sxm:2.5" for f in flags])
    assert unlimited.exit_code == 2 and "max_count" in unlimited.output and "Traceback" not in unlimited.output


@pytest.mark.parametrize("args, field", [
    (["--model", "llama-3.1-8b", "--chips", "h100-sxm:x", "--rate", "1", "--isl", "10", "--osl", "10"], "--chips"),
    (["--model", "llama-3.1-8b", "--chips", "h100-sxm", "--isl", "10", "--osl", "10"], "--rate"),
    (["--model", "llama-3.1-8b"], "scenario"),
    ([str(SCENARIOS_DIR / "llama70b-chat.yaml"), "--isl", "10"], "scenario"),
    (["--model", "nope", "--chips", "h100-sxm", "--rate", "1", "--isl", "10", "--osl", "10"], "model"),
    ([str(SCENARIOS_DIR / "llama70b-chat.yaml"), "--framework", "vllm"], "scenario"),
    (["--model", "nvidia/Qwen3-235B-A22B-NVFP4", "--chips", "h100-sxm", "--framework", "trtllm", "--rate", "1",
      "--isl", "1024", "--osl", "128"], "deploy.framework"),
])
def test_one_line_mistakes_name_the_flag(args, field):
    r = run("solve", *args)
    assert r.exit_code == 2 and f"{field}:" in r.output and "Traceback" not in r.output
