"""`planner solve --top N`: the best distinct fleets, best first, each with its own set of configurations."""

from __future__ import annotations

import json

from click.testing import CliRunner

from planner.cli import main
from planner.optimize.solve import solve_scenario
from planner.paths import SCENARIOS_DIR


def test_the_best_distinct_fleets_come_in_order_and_differ(small, cache):
    res = solve_scenario(small(), cache=cache, top=5)
    top = res.summary["top"]
    assert top[0]["rank"] == 1 and top[0]["cost_usd_per_hr"] == res.summary["cost_usd_per_hr"]
    assert len(top) == 5
    costs = [t["cost_usd_per_hr"] for t in top]
    assert all(b >= a - 1e-9 for a, b in zip(costs, costs[1:], strict=False))  # never cheaper than the one before
    configs = [frozenset(part.split("x ", 1)[1] for part in t["fleet"].split(" + ")) for t in top]
    assert len(set(configs)) == len(configs)  # each a different set of configurations
    assert all(t["throughput_rps"] >= 6 * (1 - 1e-6) for t in top)  # each carries the demand


def test_top_on_the_command_line():
    r = CliRunner().invoke(main, ["solve", str(SCENARIOS_DIR / "llama70b-chat.yaml"), "--top", "3", "--format", "json"])
    assert r.exit_code == 0, r.output
    top = json.loads(r.output)["top"]
    assert [t["rank"] for t in top] == [1, 2, 3] and top[0]["delta"] == 0
