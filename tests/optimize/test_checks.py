"""Every plan is checked before it is printed; a time-out without a fleet is not called infeasible; arrival rates
a plan cannot be trusted for are refused (issue: bad input gets a clear answer)."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from planner.cli import main
from planner.errors import NoSolutionInTimeError, PlanCheckError
from planner.inputs.scenario import load_scenario
from planner.optimize.checks import check_plan, plan_violations
from planner.optimize.solve import solve_scenario
from planner.paths import SCENARIOS_DIR


def _pools(**over):
    base = {"role": ["prefill", "decode"], "chip": ["h100-sxm", "h100-sxm"], "instances": [1, 2],
            "chips_per_instance": [8, 2], "cost_usd_per_hr": [20.0, 10.0], "utilization": [0.8, 0.7],
            "max_utilization": [0.9, 0.9]}
    return pd.DataFrame({**base, **over})


def test_a_sound_plan_passes_and_each_broken_one_is_named():
    good = {"num_chips": 12, "cost_usd_per_hr": 30.0, "throughput_rps": 20.0}
    assert plan_violations(good, _pools(), 20.0) == []
    assert "integers" in plan_violations(good, _pools(instances=[1.5, 2]), 20.0)[0]
    assert "integers" in plan_violations(good, _pools(instances=[-1, 2]), 20.0)[0]
    assert "num_chips" in plan_violations({**good, "num_chips": 13}, _pools(), 20.0)[0]
    assert "cost_usd_per_hr" in plan_violations({**good, "cost_usd_per_hr": 0.0}, _pools(), 20.0)[0]
    assert "utilization cap" in plan_violations(good, _pools(utilization=[0.95, 0.7]), 20.0)[0]
    assert "demand" in plan_violations({**good, "throughput_rps": 10.0}, _pools(), 20.0)[0]
    assert any("no instance" in v for v in plan_violations({**good, "num_chips": 0, "cost_usd_per_hr": 0.0},
                                                          _pools(instances=[0, 0]), 20.0))
    with pytest.raises(PlanCheckError) as exc:
        check_plan({**good, "throughput_rps": 0.0}, _pools(), 20.0)
    assert exc.value.exit_code == 3 and "bug" in str(exc.value)


def test_every_bundled_plan_passes_its_checks():
    for name in ("llama70b-chat", "traffic-classes", "speculative-draft-pool", "afd-step3", "budget-throughput"):
        res = solve_scenario(load_scenario(SCENARIOS_DIR / f"{name}.yaml"))  # solve_prepared checks, raising
        assert res.summary["status"] in ("optimal", "within-gap", "time-limit")


def test_a_time_out_without_a_fleet_is_not_infeasible(tmp_path):
    sc = load_scenario(SCENARIOS_DIR / "eight-chips.yaml")
    with pytest.raises(NoSolutionInTimeError) as exc:
        solve_scenario(sc, time_limit_s=1e-4)
    assert exc.value.exit_code == 4 and "may be feasible" in str(exc.value)
    out = tmp_path / "tl.csv"
    args = ["batch", str(SCENARIOS_DIR / "eight-chips.yaml"), "--out", str(out), "--time-limit", "0.0001",
            "--workers", "0"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert pd.read_csv(out)["status"].tolist() == ["no-solution-in-time"]
    assert "0 solved now, 1 from earlier runs" in CliRunner().invoke(main, args).output
    r = CliRunner().invoke(main, [*args, "--retry-errors"])  # a time-out is not a final answer: solved again
    assert r.exit_code == 0 and "1 solved now, 0 from earlier runs" in r.output


@pytest.mark.parametrize("rate", [".inf", "nan", "1e20", "9223372036854775808", "1e-7", "0"])
def test_arrival_rates_a_plan_cannot_be_trusted_for_are_refused(tmp_path, rate):
    text = (SCENARIOS_DIR / "llama70b-chat.yaml").read_text()
    data = yaml.safe_load(text)
    p = tmp_path / "s.yaml"
    p.write_text(text.replace(f"arrival_rate_rps: {data['workload']['arrival_rate_rps']}", f"arrival_rate_rps: {rate}"))
    r = CliRunner().invoke(main, ["solve", str(p)])
    assert r.exit_code == 2 and "workload.arrival_rate_rps" in r.output and "Traceback" not in r.output


def test_shared_pools_are_capped_at_a_stated_number_of_classes(tmp_path):
    data = yaml.safe_load((SCENARIOS_DIR / "traffic-classes-shared.yaml").read_text())
    data["classes"] = [{**data["classes"][0], "name": f"c{i}"} for i in range(7)]
    p = tmp_path / "c7.yaml"
    p.write_text(yaml.safe_dump(data))
    r = CliRunner().invoke(main, ["solve", str(p)])
    assert r.exit_code == 2 and "classes_share_pools" in r.output and "at most 6 classes" in r.output


def test_plans_and_frontier_points_at_the_edge_are_flagged():
    from planner.optimize.checks import frontier_warnings, plan_warnings

    diag = {"best_tpot_ms_decode": (7.0, "b200"), "best_tpot_ms_aggregated": (9.0, "h100-sxm")}
    assert plan_warnings(diag, 7.2) and "6.98" not in plan_warnings(diag, 7.2)[0]
    assert "7 ms on b200" in plan_warnings(diag, 7.2)[0]
    assert plan_warnings(diag, 7.5) == [] and plan_warnings(diag, None) == []
    far, lines = frontier_warnings(pd.DataFrame({"num_chips": [10, 12, 40, 101, 3592]}))
    assert far.tolist() == [False, False, False, True, True] and "3,592 chips" in lines[0]
    assert frontier_warnings(pd.DataFrame({"num_chips": [4, 8]}))[1] == []


def test_a_plan_at_the_edge_of_the_chips_says_so(tmp_path):
    """An SLO 2% above the fastest TPOT any candidate reaches (which an impossible SLO's error names) is met,
    with a warning that the plan runs at the edge."""
    p = tmp_path / "s.yaml"
    text = (SCENARIOS_DIR / "llama70b-chat.yaml").read_text()
    p.write_text(text.replace("tpot_ms: 30", "tpot_ms: 1"))
    r = CliRunner().invoke(main, ["solve", str(p)])
    fastest = min(float(v) for v in re.findall(r"the lowest TPOT these chips reach is ([0-9.]+) ms", r.output))
    p.write_text(text.replace("tpot_ms: 30", f"tpot_ms: {1.02 * fastest:.3f}"))
    r = CliRunner().invoke(main, ["solve", str(p)])
    assert r.exit_code == 0 and "warning:" in r.output and "runs at the edge" in r.output
